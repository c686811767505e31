/* The Winograd F(2x2,3x3) and F(4x4,3x3) tile transforms as plain C over
 * CONVCL_WINOGRAD_LANES tiles at a time, one tile per lane: every loop over l has a
 * constant trip count and no aliasing, so each f32_winograd_transforms__ISA.c that
 * includes this file gets them vectorized for its own ISA flags (one ymm per array row
 * with AVX2 or AVX-512, two xmm with SSE2). The matrices are Lavin and Gray's
 * ("Fast Algorithms for Convolutional Neural Networks", 2016), points 0, +-1 (F2) and
 * 0, +-1, +-2 (F4); they compute a correlation, which is what a convolution layer does.
 * Included once per ISA file; WINOGRAD_FNS names the table that file defines. */
#include "cpu.h"

#include <string.h>

#define LANES CONVCL_WINOGRAD_LANES
#define INLINE static inline __attribute__((always_inline))
/* Patch rows are a few dozen floats: GCC would turn their copy loops back into memcpy
 * calls, which cost more than the copies. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_MEMCPY_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_MEMCPY_CALLS
#endif

/* o[k * os] = (B^T d)[k] for the 6 rows d[k * ds] of F(4x4,3x3). */
INLINE void bt6(const float *restrict d, size_t ds, float *restrict o, size_t os) {
  for (int l = 0; l < LANES; l++) {
    const float d0 = d[l], d1 = d[ds + l], d2 = d[2 * ds + l], d3 = d[3 * ds + l];
    const float d4 = d[4 * ds + l], d5 = d[5 * ds + l];
    o[l] = 4.0f * d0 - 5.0f * d2 + d4;
    o[os + l] = d3 + d4 - 4.0f * (d1 + d2);
    o[2 * os + l] = d4 - d3 + 4.0f * (d1 - d2);
    o[3 * os + l] = d4 - d2 + 2.0f * (d3 - d1);
    o[4 * os + l] = d4 - d2 + 2.0f * (d1 - d3);
    o[5 * os + l] = 4.0f * d1 - 5.0f * d3 + d5;
  }
}

/* F(2x2,3x3): 4 rows. */
INLINE void bt4(const float *restrict d, size_t ds, float *restrict o, size_t os) {
  for (int l = 0; l < LANES; l++) {
    const float d0 = d[l], d1 = d[ds + l], d2 = d[2 * ds + l], d3 = d[3 * ds + l];
    o[l] = d0 - d2;
    o[os + l] = d1 + d2;
    o[2 * os + l] = d2 - d1;
    o[3 * os + l] = d1 - d3;
  }
}

/* o[k * os] = (A^T s)[k], 4 outputs from 6 rows (F4). */
INLINE void at6(const float *restrict s, size_t ss, float *restrict o, size_t os) {
  for (int l = 0; l < LANES; l++) {
    const float s0 = s[l], s1 = s[ss + l], s2 = s[2 * ss + l], s3 = s[3 * ss + l];
    const float s4 = s[4 * ss + l], s5 = s[5 * ss + l];
    const float p12 = s1 + s2, m12 = s1 - s2, p34 = s3 + s4, m34 = s3 - s4;
    o[l] = s0 + p12 + p34;
    o[os + l] = m12 + 2.0f * m34;
    o[2 * os + l] = p12 + 4.0f * p34;
    o[3 * os + l] = m12 + 8.0f * m34 + s5;
  }
}

/* 2 outputs from 4 rows (F2). */
INLINE void at4(const float *restrict s, size_t ss, float *restrict o, size_t os) {
  for (int l = 0; l < LANES; l++) {
    const float s0 = s[l], s1 = s[ss + l], s2 = s[2 * ss + l], s3 = s[3 * ss + l];
    o[l] = s0 + s1 + s2;
    o[os + l] = s1 - s2 - s3;
  }
}

/* Input transform of a run of tiles for F(m x m, 3x3), alpha = m + 2; see
 * convcl_winograd_input_fn. The patch of the run (alpha rows, tiles * m + 2 columns)
 * is copied into a zero-padded buffer, so the transform itself never checks a bound;
 * lanes past the run read zeros or the run's last columns and are never stored. */
INLINE void input_tiles(int m, const float *x, int64_t channels, int64_t plane, int64_t height,
                        int64_t width, int64_t y0, int64_t x0, int tiles, float *v, size_t v_c,
                        size_t v_xi) {
  enum { PW = LANES * 4 + 2 };
  const int alpha = m + 2;
  float patch[6][PW];
  float d[6][6][LANES], t[6][6][LANES];
  memset(patch, 0, sizeof patch);
  const int64_t w = (int64_t)tiles * m + 2;
  const int64_t a = x0 < 0 ? (-x0 < w ? -x0 : w) : 0;
  int64_t b = width - x0 < w ? width - x0 : w;
  if (b < a) b = a;
  for (int64_t c = 0; c < channels; c++, x += plane, v += v_c) {
    for (int i = 0; i < alpha; i++) {
      const int64_t y = y0 + i;
      if (y >= 0 && y < height) {
        const float *src = x + y * width + x0;
        for (int64_t j = a; j < b; j++) patch[i][j] = src[j];
      }
    }
    for (int i = 0; i < alpha; i++)
      for (int j = 0; j < alpha; j++)
        for (int l = 0; l < LANES; l++) d[i][j][l] = patch[i][m * l + j];
    /* Columns first (along i), then rows (along j). */
    for (int j = 0; j < alpha; j++) {
      if (m == 4)
        bt6(&d[0][j][0], 6 * LANES, &t[0][j][0], 6 * LANES);
      else
        bt4(&d[0][j][0], 6 * LANES, &t[0][j][0], 6 * LANES);
    }
    for (int i = 0; i < alpha; i++) {
      if (m == 4)
        bt6(&t[i][0][0], LANES, &d[i][0][0], LANES);
      else
        bt4(&t[i][0][0], LANES, &d[i][0][0], LANES);
    }
    for (int i = 0; i < alpha; i++)
      for (int j = 0; j < alpha; j++) {
        float *dst = v + (size_t)(i * alpha + j) * v_xi;
        if (tiles == LANES)
          for (int l = 0; l < LANES; l++) dst[l] = d[i][j][l];
        else
          for (int l = 0; l < tiles; l++) dst[l] = d[i][j][l];
      }
  }
}

/* Output transform of a run of tiles; see convcl_winograd_output_fn. */
INLINE void output_tiles(int m, const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                         int64_t channels, const float *bias, int relu, float *y, int64_t plane,
                         int64_t height, int64_t width, int64_t y0, int64_t x0, int tiles) {
  const int alpha = m + 2;
  float s[6][6][LANES], t[4][6][LANES], o[4][4][LANES];
  float row[LANES * 4] = {0};
  int64_t cols = width - x0 < (int64_t)tiles * m ? width - x0 : (int64_t)tiles * m;
  for (int64_t k = 0; k < channels; k++, mm += m_k, y += plane) {
    for (int i = 0; i < alpha; i++)
      for (int j = 0; j < alpha; j++) {
        const float *src = mm + (size_t)(i * alpha + j) * m_xi;
        if (m_l == 1)
          for (int l = 0; l < LANES; l++) s[i][j][l] = src[l];
        else
          for (int l = 0; l < LANES; l++) s[i][j][l] = src[l * m_l];
      }
    for (int j = 0; j < alpha; j++) {
      if (m == 4)
        at6(&s[0][j][0], 6 * LANES, &t[0][j][0], 6 * LANES);
      else
        at4(&s[0][j][0], 6 * LANES, &t[0][j][0], 6 * LANES);
    }
    for (int i = 0; i < m; i++) {
      if (m == 4)
        at6(&t[i][0][0], LANES, &o[i][0][0], LANES);
      else
        at4(&t[i][0][0], LANES, &o[i][0][0], LANES);
    }
    const float add = bias ? bias[k] : 0.0f;
    for (int i = 0; i < m; i++) {
      if (y0 + i >= height) break;
      for (int j = 0; j < m; j++)
        for (int l = 0; l < LANES; l++) {
          const float r = o[i][j][l] + add;
          /* torch.relu keeps NaN. */
          row[m * l + j] = relu && r < 0.0f ? 0.0f : r;
        }
      float *dst = y + (y0 + i) * width + x0;
      for (int64_t j = 0; j < cols; j++) dst[j] = row[j];
    }
  }
}

NO_MEMCPY_CALLS static void input_2x2(const float *x, int64_t channels, int64_t plane,
                                      int64_t height, int64_t width, int64_t y0, int64_t x0,
                                      int tiles, float *v, size_t v_c, size_t v_xi) {
  input_tiles(2, x, channels, plane, height, width, y0, x0, tiles, v, v_c, v_xi);
}

NO_MEMCPY_CALLS static void input_4x4(const float *x, int64_t channels, int64_t plane,
                                      int64_t height, int64_t width, int64_t y0, int64_t x0,
                                      int tiles, float *v, size_t v_c, size_t v_xi) {
  input_tiles(4, x, channels, plane, height, width, y0, x0, tiles, v, v_c, v_xi);
}

NO_MEMCPY_CALLS static void output_2x2(const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                                       int64_t channels, const float *bias, int relu, float *y,
                                       int64_t plane, int64_t height, int64_t width, int64_t y0,
                                       int64_t x0, int tiles) {
  output_tiles(2, mm, m_k, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0, tiles);
}

NO_MEMCPY_CALLS static void output_4x4(const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                                       int64_t channels, const float *bias, int relu, float *y,
                                       int64_t plane, int64_t height, int64_t width, int64_t y0,
                                       int64_t x0, int tiles) {
  output_tiles(4, mm, m_k, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0, tiles);
}

const convcl_winograd_fns WINOGRAD_FNS = {
    .input = {input_2x2, input_4x4},
    .output = {output_2x2, output_4x4},
};
