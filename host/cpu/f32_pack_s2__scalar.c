/* f32 stride-2 gather, portable C: dst[e] = src[2 * e] for e < n. The constant stride
 * lets compilers vectorize it with shuffles for the baseline ISA. */
#include "cpu.h"

void convcl_f32_pack_s2__scalar(float *restrict dst, const float *restrict src, size_t n) {
  for (size_t e = 0; e < n; e++) dst[e] = src[2 * e];
}
