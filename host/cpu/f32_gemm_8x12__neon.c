/* f32 GEMM microkernel, 8x12 tile, AArch64 NEON: 24 accumulators (8 rows x 3 vectors of
 * 4), the 8 A values of a step in two registers and the 12 B values in three, 29 of the
 * 32 vector registers. FMLA by element multiplies a B vector by one lane of an A
 * register, so A needs no broadcasts and each step is 5 loads for 24 FMLAs (8x8 would
 * be 4 for 16). 8 rows also divide the usual channel counts, where M panels lie.
 * NEON is baseline on AArch64: no per-file flags. Two entry points share one body: B
 * as a packed panel, or B in place with rows ldb apart, read lane by lane on edge tiles
 * so no byte past column n is touched. */
#include "cpu.h"

#include <arm_neon.h>

#define MR 8
#define NR 12
#define INLINE static inline __attribute__((always_inline))

/* The first r values at p (all 4 when r >= 4), zeros after them; nothing past them is
 * read. Lane loads and stores, not copies through memory: a memcpy call would make the
 * compiler save and restore all 24 accumulators around it. */
INLINE float32x4_t load_partial(const float *p, size_t r) {
  if (r >= 4) return vld1q_f32(p);
  float32x4_t v = vdupq_n_f32(0.0f);
  if (r > 0) v = vld1q_lane_f32(p, v, 0);
  if (r > 1) v = vld1q_lane_f32(p + 1, v, 1);
  if (r > 2) v = vld1q_lane_f32(p + 2, v, 2);
  return v;
}

/* The first r lanes of v (all 4 when r >= 4) to p. */
INLINE void store_partial(float *p, float32x4_t v, size_t r) {
  if (r >= 4) {
    vst1q_f32(p, v);
    return;
  }
  if (r > 0) vst1q_lane_f32(p, v, 0);
  if (r > 1) vst1q_lane_f32(p + 1, v, 1);
  if (r > 2) vst1q_lane_f32(p + 2, v, 2);
}

/* Row i of the tile: C = epilogue((accumulate ? C : bias[i]) + acc) over the first n
 * columns. */
INLINE void store_row(float *row, float32x4_t v0, float32x4_t v1, float32x4_t v2, size_t n,
                      const float *bias, size_t i, int flags) {
  const size_t n1 = n > 4 ? n - 4 : 0, n2 = n > 8 ? n - 8 : 0;
  if (flags & CONVCL_GEMM_ACCUMULATE) {
    v0 = vaddq_f32(v0, load_partial(row, n));
    v1 = vaddq_f32(v1, load_partial(row + 4, n1));
    v2 = vaddq_f32(v2, load_partial(row + 8, n2));
  } else if (bias) {
    const float32x4_t b = vdupq_n_f32(bias[i]);
    v0 = vaddq_f32(v0, b);
    v1 = vaddq_f32(v1, b);
    v2 = vaddq_f32(v2, b);
  }
  if (flags & CONVCL_GEMM_RELU) {
    /* Clear the lanes that compare less than 0; NaN compares false and stays. */
    v0 = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v0), vcltzq_f32(v0)));
    v1 = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v1), vcltzq_f32(v1)));
    v2 = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v2), vcltzq_f32(v2)));
  }
  store_partial(row, v0, n);
  store_partial(row + 4, v1, n1);
  store_partial(row + 8, v2, n2);
}

/* Row i of the tile gets A lane l of register a times the three B vectors. */
#define FMA_ROW(i, a, l)                          \
  do {                                            \
    c##i##0 = vfmaq_laneq_f32(c##i##0, b0, a, l); \
    c##i##1 = vfmaq_laneq_f32(c##i##1, b1, a, l); \
    c##i##2 = vfmaq_laneq_f32(c##i##2, b2, a, l); \
  } while (0)

#define ZERO_ROW(i) float32x4_t c##i##0 = vdupq_n_f32(0.0f), c##i##1 = c##i##0, c##i##2 = c##i##0

/* ldb NR is the packed panel (plain loads); any other ldb reads B in place and
 * prefetches the next NR columns of each row, which the caller multiplies next. The
 * accumulators are named variables, not an array, so no compiler has a reason to keep
 * them on the stack. */
INLINE void kernel(size_t kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                   size_t m, size_t n, const float *bias, int flags, int packed) {
  const size_t n1 = n > 4 ? n - 4 : 0, n2 = n > 8 ? n - 8 : 0;
  ZERO_ROW(0);
  ZERO_ROW(1);
  ZERO_ROW(2);
  ZERO_ROW(3);
  ZERO_ROW(4);
  ZERO_ROW(5);
  ZERO_ROW(6);
  ZERO_ROW(7);
  for (size_t k = 0; k < kc; k++) {
    float32x4_t b0, b1, b2;
    if (packed || n == NR) {
      b0 = vld1q_f32(b);
      b1 = vld1q_f32(b + 4);
      b2 = vld1q_f32(b + 8);
    } else {
      b0 = load_partial(b, n);
      b1 = load_partial(b + 4, n1);
      b2 = load_partial(b + 8, n2);
    }
    if (!packed) __builtin_prefetch(b + NR);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    FMA_ROW(0, a0, 0);
    FMA_ROW(1, a0, 1);
    FMA_ROW(2, a0, 2);
    FMA_ROW(3, a0, 3);
    FMA_ROW(4, a1, 0);
    FMA_ROW(5, a1, 1);
    FMA_ROW(6, a1, 2);
    FMA_ROW(7, a1, 3);
    a += MR;
    b += ldb;
  }
  store_row(c, c00, c01, c02, n, bias, 0, flags);
  if (m > 1) store_row(c + ldc, c10, c11, c12, n, bias, 1, flags);
  if (m > 2) store_row(c + 2 * ldc, c20, c21, c22, n, bias, 2, flags);
  if (m > 3) store_row(c + 3 * ldc, c30, c31, c32, n, bias, 3, flags);
  if (m > 4) store_row(c + 4 * ldc, c40, c41, c42, n, bias, 4, flags);
  if (m > 5) store_row(c + 5 * ldc, c50, c51, c52, n, bias, 5, flags);
  if (m > 6) store_row(c + 6 * ldc, c60, c61, c62, n, bias, 6, flags);
  if (m > 7) store_row(c + 7 * ldc, c70, c71, c72, n, bias, 7, flags);
}

void convcl_f32_gemm_8x12__neon(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                size_t m, size_t n, const float *bias, int flags) {
  kernel(kc, a, b, NR, c, ldc, m, n, bias, flags, 1);
}

void convcl_f32_gemm_8x12__neon_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                        float *c, size_t ldc, size_t m, size_t n, const float *bias,
                                        int flags) {
  kernel(kc, a, b, ldb, c, ldc, m, n, bias, flags, 0);
}
