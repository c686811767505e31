/* f32 GEMM microkernel, 8x32 tile, AVX-512F: 16 zmm accumulators (8 rows x 2 vectors),
 * A broadcast from memory, B loaded as two vectors per step. Eight rows divide every
 * usual channel count, and two FMAs per broadcast keep both FMA ports busy while the
 * load ports stay below their limit (measured at the FMA peak on Sapphire Rapids).
 * The accumulators are named variables, not an array, so no compiler has a reason to
 * keep them on the stack. Built with -mavx512f; only called when the CPU has it.
 * Two entry points share one body: B as a packed panel, or B in place with rows ldb
 * apart, read through the column masks so no byte past column n is touched. A tile's
 * last columns, where few, take narrower paths (see tile): a layer's positions rarely
 * fill its last 32-column tile. */
#include "cpu.h"

#include <immintrin.h>

/* The lanes of the vector starting at column lo that hold one of the first n columns. */
static __mmask16 column_mask(size_t n, size_t lo) {
  if (n >= lo + 16) return (__mmask16)0xffff;
  return n > lo ? (__mmask16)((1u << (n - lo)) - 1u) : (__mmask16)0;
}

/* Row i of the tile: C = epilogue((accumulate ? C : bias[i]) + acc), masked to the
 * first n columns. */
static inline __attribute__((always_inline)) void store_row(float *row, __m512 lo, __m512 hi,
                                                            __mmask16 mlo, __mmask16 mhi,
                                                            const float *bias, size_t i,
                                                            int flags) {
  if (flags & CONVCL_GEMM_ACCUMULATE) {
    lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mlo, row));
    hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mhi, row + 16));
  } else if (bias) {
    const __m512 b = _mm512_set1_ps(bias[i]);
    lo = _mm512_add_ps(lo, b);
    hi = _mm512_add_ps(hi, b);
  }
  if (flags & CONVCL_GEMM_RELU) {
    /* Zero the lanes that compare less than 0; NaN compares false and stays. */
    const __m512 zero = _mm512_setzero_ps();
    lo = _mm512_mask_mov_ps(lo, _mm512_cmp_ps_mask(lo, zero, _CMP_LT_OQ), zero);
    hi = _mm512_mask_mov_ps(hi, _mm512_cmp_ps_mask(hi, zero, _CMP_LT_OQ), zero);
  }
  _mm512_mask_storeu_ps(row, mlo, lo);
  _mm512_mask_storeu_ps(row + 16, mhi, hi);
}

/* masked: B is read under the column masks (an edge tile read in place, where full
 * loads could cross the end of the caller's array); masked loads cost an ALU uop on
 * the FMA ports, so full tiles use plain loads. prefetch: B is read in place and the
 * next 32 columns of each row, which the caller multiplies next and no hardware
 * prefetcher sees coming across kc separate rows, are fetched meanwhile. half: n <= 16,
 * so only the low vector of each row is computed, at half the multiply-adds: the last
 * tile of a row of positions is often that narrow (14 x 14 = 6 x 32 + 4 columns). */
#define STEP(i)                                            \
  if (i < rows) {                                          \
    ai = _mm512_set1_ps(a[i]);                             \
    c##i##l = _mm512_fmadd_ps(ai, bl, c##i##l);            \
    if (!half) c##i##h = _mm512_fmadd_ps(ai, bh, c##i##h); \
  }

static inline __attribute__((always_inline)) void kernel(size_t kc, const float *a, const float *b,
                                                         size_t ldb, float *c, size_t ldc, size_t m,
                                                         size_t n, const float *bias, int flags,
                                                         int masked, int prefetch, int half,
                                                         int rows) {
  const __mmask16 mlo = column_mask(n, 0), mhi = column_mask(n, 16);
  __m512 c0l = _mm512_setzero_ps(), c0h = _mm512_setzero_ps();
  __m512 c1l = _mm512_setzero_ps(), c1h = _mm512_setzero_ps();
  __m512 c2l = _mm512_setzero_ps(), c2h = _mm512_setzero_ps();
  __m512 c3l = _mm512_setzero_ps(), c3h = _mm512_setzero_ps();
  __m512 c4l = _mm512_setzero_ps(), c4h = _mm512_setzero_ps();
  __m512 c5l = _mm512_setzero_ps(), c5h = _mm512_setzero_ps();
  __m512 c6l = _mm512_setzero_ps(), c6h = _mm512_setzero_ps();
  __m512 c7l = _mm512_setzero_ps(), c7h = _mm512_setzero_ps();
  for (size_t k = 0; k < kc; k++) {
    __m512 bl, bh = _mm512_setzero_ps();
    if (masked) {
      bl = _mm512_maskz_loadu_ps(mlo, b);
      if (!half) bh = _mm512_maskz_loadu_ps(mhi, b + 16);
    } else {
      bl = _mm512_loadu_ps(b);
      if (!half) bh = _mm512_loadu_ps(b + 16);
    }
    if (prefetch) {
      _mm_prefetch((const char *)(b + 32), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 48), _MM_HINT_T0);
    }
    /* A, 16 steps ahead: packed A is one stream (see convcl_cpu_pack_a), and where a
     * layer's weights outgrow L2 and few columns share each panel (ResNet-50's 7 x 7
     * layers) it comes from L3 or memory faster than the hardware prefetcher brings
     * it. */
    _mm_prefetch((const char *)(a + 128), _MM_HINT_T0);
    __m512 ai;
    STEP(0);
    STEP(1);
    STEP(2);
    STEP(3);
    STEP(4);
    STEP(5);
    STEP(6);
    STEP(7);
    a += 8;
    b += ldb;
  }
  store_row(c, c0l, c0h, mlo, mhi, bias, 0, flags);
  if (m > 1) store_row(c + ldc, c1l, c1h, mlo, mhi, bias, 1, flags);
  if (m > 2) store_row(c + 2 * ldc, c2l, c2h, mlo, mhi, bias, 2, flags);
  if (m > 3) store_row(c + 3 * ldc, c3l, c3h, mlo, mhi, bias, 3, flags);
  if (m > 4) store_row(c + 4 * ldc, c4l, c4h, mlo, mhi, bias, 4, flags);
  if (m > 5) store_row(c + 5 * ldc, c5l, c5h, mlo, mhi, bias, 5, flags);
  if (m > 6) store_row(c + 6 * ldc, c6l, c6h, mlo, mhi, bias, 6, flags);
  if (m > 7) store_row(c + 7 * ldc, c7l, c7h, mlo, mhi, bias, 7, flags);
}
#undef STEP

/* The tile's last n <= NARROW_MAX columns the other way round: each column is one
 * 8-lane vector over the tile's rows (A's panel rows are contiguous), times a broadcast
 * of B, so n columns cost n 8-lane multiply-adds per step where a 16-lane vector of
 * mostly empty columns costs 8 (ResNet's 7 x 7 outputs: 49 = 32 + 16 + 1 columns).
 * Steps go in groups with an accumulator per step and column, so enough multiply-adds
 * are in flight. The columns go out through a small transpose in memory; nothing past column
 * n of B or C is touched. */
enum { NARROW_MAX = 8 };

static inline __attribute__((always_inline)) void narrow(size_t kc, const float *a, const float *b,
                                                         size_t ldb, float *c, size_t ldc, size_t m,
                                                         size_t n, const float *bias, int flags) {
  /* Accumulators per column, one per step of a group: 2 x n chains of multiply-adds,
   * and at least 8 where there are 1 or 2 columns; 8 columns take one each, as 16
   * accumulators with A and B would pass the 16 ymm registers that AVX-512F without VL
   * can name (spilled, 1.3x slower on Zen 4). Every loop over them is unrolled (GCC 12
   * at -O2 kept them in a stack array, a load and a store per multiply-add: 1 to 8
   * columns ran 1.9 to 2.8x slower on Zen 4). */
  enum { GROUP_MAX = 4 };
  const size_t group = n <= 2 ? 4 : n < 8 ? 2 : 1;
  __m256 acc[GROUP_MAX][NARROW_MAX];
#pragma GCC unroll 4
  for (size_t s = 0; s < group; s++)
#pragma GCC unroll 8
    for (size_t j = 0; j < n; j++) acc[s][j] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + group <= kc; k += group)
#pragma GCC unroll 4
    for (size_t s = 0; s < group; s++) {
      const __m256 as = _mm256_loadu_ps(a + 8 * (k + s));
#pragma GCC unroll 8
      for (size_t j = 0; j < n; j++)
        acc[s][j] = _mm256_fmadd_ps(as, _mm256_set1_ps(b[(k + s) * ldb + j]), acc[s][j]);
    }
  for (; k < kc; k++) {
    const __m256 a0 = _mm256_loadu_ps(a + 8 * k);
#pragma GCC unroll 8
    for (size_t j = 0; j < n; j++)
      acc[0][j] = _mm256_fmadd_ps(a0, _mm256_set1_ps(b[k * ldb + j]), acc[0][j]);
  }
#pragma GCC unroll 4
  for (size_t s = 1; s < group; s++)
#pragma GCC unroll 8
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
    NARROW_CASE(5)
    NARROW_CASE(6)
    NARROW_CASE(7)
    NARROW_CASE(8)
#undef NARROW_CASE
  }
}

/* One call: n > 24 columns as a whole tile, 9 to 16 as the low vector, and where the
 * rest is narrow, the first 16 as the low vector and the rest as narrow columns.
 * in_place: B read in place (masked where a vector would pass column n). rows: the
 * kernel computes only the first rows rows (m <= rows). */
static inline __attribute__((always_inline)) void tile(size_t kc, const float *a, const float *b,
                                                       size_t ldb, float *c, size_t ldc, size_t m,
                                                       size_t n, const float *bias, int flags,
                                                       int in_place, int rows) {
  if (n > 16 + NARROW_MAX) {
    if (in_place && n == 32)
      kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, 0, 1, 0, rows);
    else
      kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, in_place, 0, 0, rows);
  } else if (n > 16) {
    kernel(kc, a, b, ldb, c, ldc, m, 16, bias, flags, 0, 0, 1, rows);
    narrow_columns(kc, a, b + 16, ldb, c + 16, ldc, m, n - 16, bias, flags);
  } else if (n > NARROW_MAX) {
    kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, in_place && n < 16, 0, 1, rows);
  } else {
    narrow_columns(kc, a, b, ldb, c, ldc, m, n, bias, flags);
  }
}

void convcl_f32_gemm_8x32__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                  size_t m, size_t n, const float *bias, int flags) {
  /* Tiles of 1 to 4 rows skip the empty rows' multiply-adds: a product with one row of
   * A is bound by streaming B, which 8 rows' worth of multiply-adds would throttle
   * (a transposed convolution of a 1 x 1 input, such as a generator's first layer,
   * runs its positions as the rows, see host/cpu/transposed_gemm.c). */
  if (m == 1)
    tile(kc, a, b, 32, c, ldc, m, n, bias, flags, 0, 1);
  else if (m <= 4)
    tile(kc, a, b, 32, c, ldc, m, n, bias, flags, 0, 4);
  else
    tile(kc, a, b, 32, c, ldc, m, n, bias, flags, 0, 8);
}

void convcl_f32_gemm_8x32__avx512_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                          float *c, size_t ldc, size_t m, size_t n,
                                          const float *bias, int flags) {
  tile(kc, a, b, ldb, c, ldc, m, n, bias, flags, 1, 8);
}
