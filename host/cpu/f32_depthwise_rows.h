/* The depthwise solver's flat loops (host/cpu/depthwise.c), which the compiler
 * vectorizes: each f32_depthwise_rows__ISA.c that includes this file gets them for its
 * own ISA flags, 16 lanes with AVX-512 where the baseline x86-64 build has SSE2's 4.
 * With FMA every tap is one fused multiply-add (a rounding fewer per tap; the sums stay
 * within the float dot-product bound the tests hold every solver to). MobileNetV2's
 * depthwise layers with AVX-512 against SSE2 (Zen 4, paired both ways, 1 and 2
 * threads): 1.3-1.6x on 112 x 112 to 28 x 28 planes, 1.1-1.4x on 14 x 14 and 7 x 7,
 * whose loops are short.
 * Included once per ISA file; DEPTHWISE_FNS names the table that file defines. */
#include "cpu.h"

#ifdef __FMA__
#define MADD(a, b, c) __builtin_fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
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

/* A dense 3x3 kernel at W stride s (1 or 2) over rows wt apart: nine taps in one
 * pass, the sum in a register. */
static void flat_3x3(float *restrict acc, const float *restrict r, const float *restrict w,
                     int64_t wt, int64_t s, int64_t len) {
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6],
              w7 = w[7], w8 = w[8];
  const float *restrict r0 = r, *restrict r1 = r + wt, *restrict r2 = r + 2 * wt;
  if (s == 1) {
    for (int64_t f = 0; f < len; f++) {
      float a = acc[f];
      a = MADD(w0, r0[f], a);
      a = MADD(w1, r0[f + 1], a);
      a = MADD(w2, r0[f + 2], a);
      a = MADD(w3, r1[f], a);
      a = MADD(w4, r1[f + 1], a);
      a = MADD(w5, r1[f + 2], a);
      a = MADD(w6, r2[f], a);
      a = MADD(w7, r2[f + 1], a);
      acc[f] = MADD(w8, r2[f + 2], a);
    }
  } else {
    for (int64_t f = 0; f < len; f++) {
      const int64_t i = 2 * f;
      float a = acc[f];
      a = MADD(w0, r0[i], a);
      a = MADD(w1, r0[i + 1], a);
      a = MADD(w2, r0[i + 2], a);
      a = MADD(w3, r1[i], a);
      a = MADD(w4, r1[i + 1], a);
      a = MADD(w5, r1[i + 2], a);
      a = MADD(w6, r2[i], a);
      a = MADD(w7, r2[i + 1], a);
      acc[f] = MADD(w8, r2[i + 2], a);
    }
  }
}

/* One output row of a dense 3x3 kernel at W stride s (a constant where inlined) from
 * the tile rows r0, r1, r2: bias, the nine taps, then ReLU, stored. */
static inline __attribute__((always_inline)) void row_3x3(
    float *restrict out, int64_t ow, const float *restrict r0, const float *restrict r1,
    const float *restrict r2, const float *restrict w, float bias, int relu, int64_t s) {
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6],
              w7 = w[7], w8 = w[8];
  for (int64_t f = 0; f < ow; f++) {
    const int64_t i = s * f;
    float a = MADD(w0, r0[i], bias);
    a = MADD(w1, r0[i + 1], a);
    a = MADD(w2, r0[i + 2], a);
    a = MADD(w3, r1[i], a);
    a = MADD(w4, r1[i + 1], a);
    a = MADD(w5, r1[i + 2], a);
    a = MADD(w6, r2[i], a);
    a = MADD(w7, r2[i + 1], a);
    a = MADD(w8, r2[i + 2], a);
    out[f] = relu && a < 0.0f ? 0.0f : a;
  }
}

static void rows_3x3(float *restrict out, int64_t ow, int64_t rows, const float *restrict r,
                     int64_t wt, int64_t sh, int64_t sw, const float *restrict w, float bias,
                     int relu) {
  for (int64_t y = 0; y < rows; y++) {
    const float *r0 = r + y * sh * wt;
    if (sw == 1)
      row_3x3(out + y * ow, ow, r0, r0 + wt, r0 + 2 * wt, w, bias, relu, 1);
    else
      row_3x3(out + y * ow, ow, r0, r0 + wt, r0 + 2 * wt, w, bias, relu, 2);
  }
}

const convcl_depthwise_fns DEPTHWISE_FNS = {flat_tap, flat_3x3, rows_3x3};
