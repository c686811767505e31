/* The depthwise flat loops built for avx512 (flags per file in CMakeLists.txt). */
#define DEPTHWISE_FNS convcl_f32_depthwise_rows__avx512
#include "f32_depthwise_rows.h"
