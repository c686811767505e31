/* The Winograd tile transforms built for avx2 (flags per file in CMakeLists.txt). */
#define WINOGRAD_FNS convcl_f32_winograd_transforms__avx2
#include "f32_winograd_transforms.h"
