/* The Winograd tile transforms built for AArch64, where NEON is baseline. */
#define WINOGRAD_FNS convcl_f32_winograd_transforms__neon
#include "f32_winograd_transforms.h"
