/* The Winograd tile transforms built for avx512 (flags per file in CMakeLists.txt). */
#define WINOGRAD_FNS convcl_f32_winograd_transforms__avx512
#include "f32_winograd_transforms.h"
