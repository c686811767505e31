/* The Winograd tile transforms built for scalar (flags per file in CMakeLists.txt). */
#define WINOGRAD_FNS convcl_f32_winograd_transforms__scalar
#include "f32_winograd_transforms.h"
