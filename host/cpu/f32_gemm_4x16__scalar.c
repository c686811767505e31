/* f32 GEMM microkernel, 4x16 tile, portable C: the path for CPUs without AVX2 and for
 * other architectures. The inner loops have constant trip counts and no aliasing
 * between acc and the panels, so compilers vectorize them for the baseline ISA
 * (SSE2 on x86-64, NEON on AArch64). */
#include "cpu.h"

#define MR 4
#define NR 16

void convcl_f32_gemm_4x16__scalar(size_t kc, const float *restrict a, const float *restrict b,
                                  float *restrict c, size_t ldc, size_t m, size_t n,
                                  const float *restrict bias, int accumulate) {
  float acc[MR][NR] = {{0.0f}};
  for (size_t k = 0; k < kc; k++) {
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
  for (size_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    const float init = bias ? bias[i] : 0.0f;
    for (size_t j = 0; j < n; j++) row[j] = acc[i][j] + (accumulate ? row[j] : init);
  }
}
