/* The Winograd tile transforms built for AArch64, where NEON is baseline, with its
 * de-interleaving loads for patch rows and interleaving stores for output rows
 * (WINOGRAD_NEON); the scalar table keeps the portable loops. */
#define WINOGRAD_FNS convcl_f32_winograd_transforms__neon
#define WINOGRAD_NEON 1
#include "f32_winograd_transforms.h"
