/* f32 GEMM microkernel, 6x16 tile, AVX2 + FMA: 12 ymm accumulators (6 rows x 2
 * vectors), two B vectors and one broadcast, 15 of the 16 ymm registers. The
 * accumulators are named variables, not an array, so no compiler has a reason to keep
 * them on the stack. Built with -mavx2 -mfma; only called when the CPU has both. */
#include "cpu.h"

#include <immintrin.h>
#include <string.h>

/* Row i of the tile: C = (accumulate ? C : bias[i]) + acc over the first n columns.
 * A partial row goes through a full-width copy: AVX2 has no masked store for every n
 * and edge tiles are rare. */
static void store_row(float *row, __m256 lo, __m256 hi, size_t n, const float *bias, size_t i,
                      int accumulate) {
  float tmp[16];
  float *dst = n == 16 ? row : tmp;
  if (dst == tmp && accumulate) memcpy(tmp, row, n * sizeof(float));
  if (accumulate) {
    lo = _mm256_add_ps(lo, _mm256_loadu_ps(dst));
    hi = _mm256_add_ps(hi, _mm256_loadu_ps(dst + 8));
  } else if (bias) {
    const __m256 b = _mm256_set1_ps(bias[i]);
    lo = _mm256_add_ps(lo, b);
    hi = _mm256_add_ps(hi, b);
  }
  _mm256_storeu_ps(dst, lo);
  _mm256_storeu_ps(dst + 8, hi);
  if (dst == tmp) memcpy(row, tmp, n * sizeof(float));
}

void convcl_f32_gemm_6x16__avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                size_t m, size_t n, const float *bias, int accumulate) {
  __m256 c0l = _mm256_setzero_ps(), c0h = _mm256_setzero_ps();
  __m256 c1l = _mm256_setzero_ps(), c1h = _mm256_setzero_ps();
  __m256 c2l = _mm256_setzero_ps(), c2h = _mm256_setzero_ps();
  __m256 c3l = _mm256_setzero_ps(), c3h = _mm256_setzero_ps();
  __m256 c4l = _mm256_setzero_ps(), c4h = _mm256_setzero_ps();
  __m256 c5l = _mm256_setzero_ps(), c5h = _mm256_setzero_ps();
  for (size_t k = 0; k < kc; k++) {
    const __m256 bl = _mm256_loadu_ps(b), bh = _mm256_loadu_ps(b + 8);
    __m256 ai;
    ai = _mm256_broadcast_ss(a);
    c0l = _mm256_fmadd_ps(ai, bl, c0l);
    c0h = _mm256_fmadd_ps(ai, bh, c0h);
    ai = _mm256_broadcast_ss(a + 1);
    c1l = _mm256_fmadd_ps(ai, bl, c1l);
    c1h = _mm256_fmadd_ps(ai, bh, c1h);
    ai = _mm256_broadcast_ss(a + 2);
    c2l = _mm256_fmadd_ps(ai, bl, c2l);
    c2h = _mm256_fmadd_ps(ai, bh, c2h);
    ai = _mm256_broadcast_ss(a + 3);
    c3l = _mm256_fmadd_ps(ai, bl, c3l);
    c3h = _mm256_fmadd_ps(ai, bh, c3h);
    ai = _mm256_broadcast_ss(a + 4);
    c4l = _mm256_fmadd_ps(ai, bl, c4l);
    c4h = _mm256_fmadd_ps(ai, bh, c4h);
    ai = _mm256_broadcast_ss(a + 5);
    c5l = _mm256_fmadd_ps(ai, bl, c5l);
    c5h = _mm256_fmadd_ps(ai, bh, c5h);
    a += 6;
    b += 16;
  }
  store_row(c, c0l, c0h, n, bias, 0, accumulate);
  if (m > 1) store_row(c + ldc, c1l, c1h, n, bias, 1, accumulate);
  if (m > 2) store_row(c + 2 * ldc, c2l, c2h, n, bias, 2, accumulate);
  if (m > 3) store_row(c + 3 * ldc, c3l, c3h, n, bias, 3, accumulate);
  if (m > 4) store_row(c + 4 * ldc, c4l, c4h, n, bias, 4, accumulate);
  if (m > 5) store_row(c + 5 * ldc, c5l, c5h, n, bias, 5, accumulate);
}
