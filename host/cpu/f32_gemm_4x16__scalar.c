/* f32 GEMM microkernel, 4x16 tile, portable C: the path for CPUs without AVX2 and for
 * other architectures. The inner loops have constant trip counts and no aliasing
 * between acc and the panels, so compilers vectorize them for the baseline ISA
 * (SSE2 on x86-64, NEON on AArch64). The strided entry reads B in place, rows ldb
 * apart, through a zero-padded copy of each row's first n columns. */
#include "cpu.h"

#include <string.h>

#define MR 4
#define NR 16

static void store(float acc[MR][NR], float *restrict c, size_t ldc, size_t m, size_t n,
                  const float *restrict bias, int flags) {
  for (size_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    const float init = bias ? bias[i] : 0.0f;
    for (size_t j = 0; j < n; j++) {
      const float v = acc[i][j] + (flags & CONVCL_GEMM_ACCUMULATE ? row[j] : init);
      /* torch.relu keeps NaN: only values that compare below 0 become 0. */
      row[j] = flags & CONVCL_GEMM_RELU && v < 0.0f ? 0.0f : v;
    }
  }
}

void convcl_f32_gemm_4x16__scalar(size_t kc, const float *restrict a, const float *restrict b,
                                  float *restrict c, size_t ldc, size_t m, size_t n,
                                  const float *restrict bias, int flags) {
  float acc[MR][NR] = {{0.0f}};
  for (size_t k = 0; k < kc; k++) {
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
  store(acc, c, ldc, m, n, bias, flags);
}

void convcl_f32_gemm_4x16__scalar_strided(size_t kc, const float *restrict a,
                                          const float *restrict b, size_t ldb, float *restrict c,
                                          size_t ldc, size_t m, size_t n,
                                          const float *restrict bias, int flags) {
  float acc[MR][NR] = {{0.0f}};
  float row[NR] = {0.0f};
  for (size_t k = 0; k < kc; k++) {
    memcpy(row, b, n * sizeof(float));
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * row[j];
    a += MR;
    b += ldb;
  }
  store(acc, c, ldc, m, n, bias, flags);
}
