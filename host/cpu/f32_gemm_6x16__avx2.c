/* f32 GEMM microkernel, 6x16 tile, AVX2 + FMA: 12 ymm accumulators (6 rows x 2
 * vectors), two B vectors and one broadcast, 15 of the 16 ymm registers. The
 * accumulators are named variables, not an array, so no compiler has a reason to keep
 * them on the stack. Built with -mavx2 -mfma; only called when the CPU has both.
 * Two entry points share one body: B as a packed panel, or B in place with rows ldb
 * apart, read through lane masks so no byte past column n is touched. A tile's last few
 * columns take narrower paths (see tile). */
#include "cpu.h"

#include <immintrin.h>
#include <string.h>

/* Row i of the tile: C = epilogue((accumulate ? C : bias[i]) + acc) over the first n
 * columns. A partial row goes through a full-width copy: AVX2 has no masked store for
 * every n and edge tiles are rare. */
static inline __attribute__((always_inline)) void store_row(float *row, __m256 lo, __m256 hi,
                                                            size_t n, const float *bias, size_t i,
                                                            int flags) {
  float tmp[16];
  float *dst = n == 16 ? row : tmp;
  if (dst == tmp && (flags & CONVCL_GEMM_ACCUMULATE)) memcpy(tmp, row, n * sizeof(float));
  if (flags & CONVCL_GEMM_ACCUMULATE) {
    lo = _mm256_add_ps(lo, _mm256_loadu_ps(dst));
    hi = _mm256_add_ps(hi, _mm256_loadu_ps(dst + 8));
  } else if (bias) {
    const __m256 b = _mm256_set1_ps(bias[i]);
    lo = _mm256_add_ps(lo, b);
    hi = _mm256_add_ps(hi, b);
  }
  if (flags & CONVCL_GEMM_RELU) {
    /* Clear the lanes that compare less than 0; NaN compares false and stays. */
    const __m256 zero = _mm256_setzero_ps();
    lo = _mm256_andnot_ps(_mm256_cmp_ps(lo, zero, _CMP_LT_OQ), lo);
    hi = _mm256_andnot_ps(_mm256_cmp_ps(hi, zero, _CMP_LT_OQ), hi);
  }
  _mm256_storeu_ps(dst, lo);
  _mm256_storeu_ps(dst + 8, hi);
  if (dst == tmp) memcpy(row, tmp, n * sizeof(float));
}

/* The lanes of the vector starting at column lo that hold one of the first n columns,
 * as maskload wants them: all bits set in a lane that is read. */
static __m256i column_mask(size_t n, size_t lo) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const long long left = n > lo ? (long long)(n - lo) : 0;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left > 8 ? 8 : (int)left), lane);
}

/* ldb 16 is the packed panel (plain loads); any other ldb reads B in place under the
 * column masks and prefetches the next 16 columns of each row, which the caller
 * multiplies next. half: n <= 8, so only the low vector of each row is computed, at
 * half the multiply-adds (a layer's last tile of positions is often that narrow:
 * 7 x 7 = 3 x 16 + 1 columns). */
#define STEP(i)                               \
  ai = _mm256_broadcast_ss(a + i);            \
  c##i##l = _mm256_fmadd_ps(ai, bl, c##i##l); \
  if (!half) c##i##h = _mm256_fmadd_ps(ai, bh, c##i##h)

static inline __attribute__((always_inline)) void kernel(size_t kc, const float *a, const float *b,
                                                         size_t ldb, float *c, size_t ldc, size_t m,
                                                         size_t n, const float *bias, int flags,
                                                         int packed, int half) {
  const __m256i mlo = column_mask(n, 0), mhi = column_mask(n, 8);
  __m256 c0l = _mm256_setzero_ps(), c0h = _mm256_setzero_ps();
  __m256 c1l = _mm256_setzero_ps(), c1h = _mm256_setzero_ps();
  __m256 c2l = _mm256_setzero_ps(), c2h = _mm256_setzero_ps();
  __m256 c3l = _mm256_setzero_ps(), c3h = _mm256_setzero_ps();
  __m256 c4l = _mm256_setzero_ps(), c4h = _mm256_setzero_ps();
  __m256 c5l = _mm256_setzero_ps(), c5h = _mm256_setzero_ps();
  for (size_t k = 0; k < kc; k++) {
    __m256 bl, bh = _mm256_setzero_ps();
    if (packed || n == 16) {
      bl = _mm256_loadu_ps(b);
      if (!half) bh = _mm256_loadu_ps(b + 8);
    } else {
      bl = _mm256_maskload_ps(b, mlo);
      if (!half) bh = _mm256_maskload_ps(b + 8, mhi);
    }
    if (!packed) _mm_prefetch((const char *)(b + 16), _MM_HINT_T0);
    /* A, 16 steps ahead, as in f32_gemm_8x32__avx512.c. */
    _mm_prefetch((const char *)(a + 96), _MM_HINT_T0);
    __m256 ai;
    STEP(0);
    STEP(1);
    STEP(2);
    STEP(3);
    STEP(4);
    STEP(5);
    a += 6;
    b += ldb;
  }
  store_row(c, c0l, c0h, n, bias, 0, flags);
  if (m > 1) store_row(c + ldc, c1l, c1h, n, bias, 1, flags);
  if (m > 2) store_row(c + 2 * ldc, c2l, c2h, n, bias, 2, flags);
  if (m > 3) store_row(c + 3 * ldc, c3l, c3h, n, bias, 3, flags);
  if (m > 4) store_row(c + 4 * ldc, c4l, c4h, n, bias, 4, flags);
  if (m > 5) store_row(c + 5 * ldc, c5l, c5h, n, bias, 5, flags);
}

#undef STEP

/* The tile's last n <= NARROW_MAX columns the other way round: each column is one vector
 * over the tile's 6 rows (A's panel rows are contiguous; the 2 lanes past them are
 * masked off), times a broadcast of B, so n columns cost n multiply-adds per step where
 * the low vector costs 6 (7 x 7 outputs: 49 = 3 x 16 + 1 columns). Steps go in groups
 * with an accumulator per step and column, so enough multiply-adds are in flight: 4
 * steps, 2 for 4 columns, whose 16 accumulators with A and B would pass the 16 ymm
 * registers. Every loop over them is unrolled, so they stay in registers (GCC 12 at -O2
 * kept them in a stack array: 1 to 4 columns ran 1.9 to 2.3x slower on Zen 4). Nothing
 * past column n of B or C, or past the panel's last row of A, is touched. */
enum { NARROW_MAX = 4, GROUP_MAX = 4 };

static inline __attribute__((always_inline)) void narrow(size_t kc, const float *a, const float *b,
                                                         size_t ldb, float *c, size_t ldc, size_t m,
                                                         size_t n, const float *bias, int flags) {
  const __m256i rows = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  const size_t group = n < 4 ? 4 : 2;
  __m256 acc[GROUP_MAX][NARROW_MAX];
#pragma GCC unroll 4
  for (size_t s = 0; s < group; s++)
#pragma GCC unroll 4
    for (size_t j = 0; j < n; j++) acc[s][j] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + group <= kc; k += group)
#pragma GCC unroll 4
    for (size_t s = 0; s < group; s++) {
      const __m256 as = _mm256_maskload_ps(a + 6 * (k + s), rows);
#pragma GCC unroll 4
      for (size_t j = 0; j < n; j++)
        acc[s][j] = _mm256_fmadd_ps(as, _mm256_broadcast_ss(b + (k + s) * ldb + j), acc[s][j]);
    }
  for (; k < kc; k++) {
    const __m256 a0 = _mm256_maskload_ps(a + 6 * k, rows);
#pragma GCC unroll 4
    for (size_t j = 0; j < n; j++)
      acc[0][j] = _mm256_fmadd_ps(a0, _mm256_broadcast_ss(b + k * ldb + j), acc[0][j]);
  }
#pragma GCC unroll 4
  for (size_t s = 1; s < group; s++)
#pragma GCC unroll 4
    for (size_t j = 0; j < n; j++) acc[0][j] = _mm256_add_ps(acc[0][j], acc[s][j]);
  float col[NARROW_MAX][8];
  for (size_t j = 0; j < n; j++) _mm256_storeu_ps(col[j], acc[0][j]);
  for (size_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    for (size_t j = 0; j < n; j++) {
      float v = col[j][i];
      if (flags & CONVCL_GEMM_ACCUMULATE)
        v += row[j];
      else if (bias)
        v += bias[i];
      row[j] = flags & CONVCL_GEMM_RELU ? convcl_cpu_relu(v) : v;
    }
  }
}

/* narrow with n as a constant, so its loops unroll and the accumulators stay in
 * registers. */
static void narrow_columns(size_t kc, const float *a, const float *b, size_t ldb, float *c,
                           size_t ldc, size_t m, size_t n, const float *bias, int flags) {
  switch (n) {
#define NARROW_CASE(n)                                \
  case n:                                             \
    narrow(kc, a, b, ldb, c, ldc, m, n, bias, flags); \
    break;
    NARROW_CASE(1)
    NARROW_CASE(2)
    NARROW_CASE(3)
    NARROW_CASE(4)
#undef NARROW_CASE
  }
}

/* One call: up to NARROW_MAX columns as narrow columns, up to 8 as the low vector, more
 * as the whole tile. */
static inline __attribute__((always_inline)) void tile(size_t kc, const float *a, const float *b,
                                                       size_t ldb, float *c, size_t ldc, size_t m,
                                                       size_t n, const float *bias, int flags,
                                                       int packed) {
  if (n <= NARROW_MAX)
    narrow_columns(kc, a, b, ldb, c, ldc, m, n, bias, flags);
  else if (n <= 8)
    kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, packed, 1);
  else
    kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, packed, 0);
}

void convcl_f32_gemm_6x16__avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                size_t m, size_t n, const float *bias, int flags) {
  tile(kc, a, b, 16, c, ldc, m, n, bias, flags, 1);
}

void convcl_f32_gemm_6x16__avx2_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                        float *c, size_t ldc, size_t m, size_t n, const float *bias,
                                        int flags) {
  tile(kc, a, b, ldb, c, ldc, m, n, bias, flags, 0);
}
