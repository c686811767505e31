/* The depthwise solver's loops (host/cpu/depthwise.c), which the compiler vectorizes:
 * each f32_depthwise_rows__ISA.c that includes this file gets them for its own ISA
 * flags, 16 lanes with AVX-512 where the baseline x86-64 build has SSE2's 4. With FMA
 * every tap is one fused multiply-add (a rounding fewer per tap; the sums stay within
 * the float dot-product bound the tests hold every solver to). MobileNetV2's depthwise
 * layers with AVX-512 against SSE2 (Zen 4, paired both ways, 1 and 2 threads): 1.3-1.6x
 * on 112 x 112 to 28 x 28 planes, 1.1-1.4x on 14 x 14 and 7 x 7, whose loops are short.
 * Included once per ISA file; DEPTHWISE_FNS names the table that file defines. */
#include "cpu.h"

#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#ifdef __FMA__
#define MADD(a, b, c) __builtin_fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif
/* The same on a block's channel vector: ISO C mode does not contract a * b + c, so the
 * fused form is AVX-512's intrinsic; AVX2 would need the vector split in two. */
#if defined(__AVX512F__)
#define VMADD(a, b, c) ((channel_vec)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#else
#define VMADD(a, b, c) ((a) * (b) + (c))
#endif

/* acc[f] += w * r[f * s], f in [0, len). */
static void flat_tap(float *restrict acc, const float *restrict r, float w, int64_t s,
                     int64_t len) {
  if (s == 1)
    for (int64_t f = 0; f < len; f++) acc[f] = MADD(w, r[f], acc[f]);
  else if (s == 2)
    for (int64_t f = 0; f < len; f++) acc[f] = MADD(w, r[2 * f], acc[f]);
  else
    for (int64_t f = 0; f < len; f++) acc[f] = MADD(w, r[f * s], acc[f]);
}

/* a plus the nine taps of a dense 3x3 kernel w at column i of the rows r0, r1, r2. */
static inline __attribute__((always_inline)) float taps_3x3(const float *restrict r0,
                                                            const float *restrict r1,
                                                            const float *restrict r2, int64_t i,
                                                            const float *restrict w, float a) {
  a = MADD(w[0], r0[i], a);
  a = MADD(w[1], r0[i + 1], a);
  a = MADD(w[2], r0[i + 2], a);
  a = MADD(w[3], r1[i], a);
  a = MADD(w[4], r1[i + 1], a);
  a = MADD(w[5], r1[i + 2], a);
  a = MADD(w[6], r2[i], a);
  a = MADD(w[7], r2[i + 1], a);
  return MADD(w[8], r2[i + 2], a);
}

/* flat_3x3 at a W stride s that is a constant where inlined. */
static inline __attribute__((always_inline)) void flat_3x3_at(float *restrict acc,
                                                              const float *restrict r,
                                                              const float *restrict w, int64_t wt,
                                                              int64_t len, int64_t s) {
  for (int64_t f = 0; f < len; f++) acc[f] = taps_3x3(r, r + wt, r + 2 * wt, s * f, w, acc[f]);
}

/* A dense 3x3 kernel at W stride s (1 or 2) over rows wt apart: nine taps in one
 * pass, the sum in a register. */
static void flat_3x3(float *restrict acc, const float *restrict r, const float *restrict w,
                     int64_t wt, int64_t s, int64_t len) {
  if (s == 1)
    flat_3x3_at(acc, r, w, wt, len, 1);
  else
    flat_3x3_at(acc, r, w, wt, len, 2);
}

/* One output row of a dense 3x3 kernel at W stride s (a constant where inlined) from
 * the tile rows at r, wt apart: bias, the nine taps, then ReLU, stored. */
static inline __attribute__((always_inline)) void row_3x3(float *restrict out, int64_t ow,
                                                          const float *restrict r, int64_t wt,
                                                          const float *restrict w, float bias,
                                                          int relu, int64_t s) {
  for (int64_t f = 0; f < ow; f++) {
    const float a = taps_3x3(r, r + wt, r + 2 * wt, s * f, w, bias);
    out[f] = relu && a < 0.0f ? 0.0f : a;
  }
}

static void rows_3x3(float *restrict out, int64_t ow, int64_t rows, const float *restrict r,
                     int64_t wt, int64_t sh, int64_t sw, const float *restrict w, float bias,
                     int relu) {
  for (int64_t y = 0; y < rows; y++) {
    if (sw == 1)
      row_3x3(out + y * ow, ow, r + y * sh * wt, wt, w, bias, relu, 1);
    else
      row_3x3(out + y * ow, ow, r + y * sh * wt, wt, w, bias, relu, 2);
  }
}

/* A block's channels as one GCC/Clang vector (a zmm with AVX-512, two ymm with AVX2,
 * four xmm with SSE2), moved in and out through memcpy (unaligned vector moves). */
typedef float channel_vec __attribute__((vector_size(CONVCL_DEPTHWISE_CHANNELS * sizeof(float))));
typedef int32_t channel_mask
    __attribute__((vector_size(CONVCL_DEPTHWISE_CHANNELS * sizeof(int32_t))));

/* Each output one vector of the block's channels: a multiply-add per tap (one fused
 * instruction with AVX-512, else a multiply and an add, see VMADD), then x < 0 ? 0 : x
 * lane by lane for the ReLU (NaN stays). */
static void channels(float *restrict out, const float *restrict tile, const float *restrict w,
                     const float *restrict bias, const convcl_depthwise_block *b) {
  enum { C = CONVCL_DEPTHWISE_CHANNELS };
  const channel_vec zero = {0};
  for (int64_t y = 0; y < b->oh; y++)
    for (int64_t x = 0; x < b->ow; x++) {
      channel_vec acc, wv, tv;
      memcpy(&acc, bias, sizeof acc);
      for (int64_t i = 0; i < b->kh; i++) {
        const float *t = tile + ((y * b->sh + i * b->dh) * b->wp + x * b->sw) * C;
        const float *wt = w + i * b->kw * C;
        for (int64_t j = 0; j < b->kw; j++) {
          memcpy(&wv, wt + j * C, sizeof wv);
          memcpy(&tv, t + j * b->dw * C, sizeof tv);
          acc = VMADD(wv, tv, acc);
        }
      }
      if (b->relu) acc = (channel_vec)((channel_mask)acc & ~(acc < zero));
      memcpy(out + (y * b->ow + x) * C, &acc, sizeof acc);
    }
}

const convcl_depthwise_fns DEPTHWISE_FNS = {flat_tap, flat_3x3, rows_3x3, channels};
