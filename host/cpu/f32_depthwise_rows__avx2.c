/* The depthwise flat loops built for avx2 (flags per file in CMakeLists.txt). */
#define DEPTHWISE_FNS convcl_f32_depthwise_rows__avx2
#include "f32_depthwise_rows.h"
