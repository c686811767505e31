/* The Winograd F(2x2,3x3) and F(4x4,3x3) tile transforms over CONVCL_WINOGRAD_LANES
 * tiles at a time, one tile per lane of a GCC/Clang vector type, so each
 * f32_winograd_transforms__ISA.c that includes this file gets them as straight-line
 * vector code for its own ISA flags (one ymm per value with AVX2 or AVX-512, two xmm
 * with SSE2, NEON elsewhere). With AVX-512 the gathers of a patch row and the scatter
 * of an output row use masked loads and stores and two-source permutes; elsewhere they
 * are scalar loops. The matrices are Lavin and Gray's ("Fast Algorithms for
 * Convolutional Neural Networks", 2016), points 0, +-1 (F2) and 0, +-1, +-2 (F4); they
 * compute a correlation, which is what a convolution layer does.
 * Included once per ISA file; WINOGRAD_FNS names the table that file defines. */
#include "cpu.h"

#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#elif defined(WINOGRAD_NEON)
#include <arm_neon.h>
#endif

#define LANES CONVCL_WINOGRAD_LANES

/* Clang and GCC from 12 have __builtin_shufflevector, older GCC __builtin_shuffle. */
#ifdef __has_builtin
#if __has_builtin(__builtin_shufflevector)
#define HAVE_SHUFFLEVECTOR 1
#endif
#endif
#define INLINE static inline __attribute__((always_inline))

/* Vectors pass by pointer between these helpers, and every helper is inlined anyway:
 * without AVX, a 32-byte vector passed by value would draw notes about its ABI. */
#if defined(__GNUC__) && !defined(__clang__)
/* A partial run stores a few floats per element: GCC would make that loop a memcpy
 * call, which costs more than the copy. */
#define NO_MEMCPY_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_MEMCPY_CALLS
#endif

typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lanes_i __attribute__((vector_size(LANES * sizeof(int32_t))));

INLINE void load(lanes *v, const float *p) { memcpy(v, p, sizeof *v); }

INLINE void store(float *p, const lanes *v) { memcpy(p, v, sizeof *v); }

/* x in every lane of v; exact, -0.0 included, which (lanes){0} + x would make +0.0. */
INLINE void broadcast(lanes *v, float x) {
  for (int l = 0; l < LANES; l++) (*v)[l] = x;
}

/* Lanes [lo, hi) of v to p + lane. */
INLINE void store_lanes(float *p, const lanes *v, int lo, int hi) {
#ifdef __AVX512F__
  const __mmask16 mask = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  _mm512_mask_storeu_ps(p, mask, _mm512_castps256_ps512((__m256)*v));
#else
  for (int l = lo; l < hi; l++) p[l] = (*v)[l];
#endif
}

/* B^T r for 6 values (F4), in place. */
INLINE void bt6(lanes r[6]) {
  const lanes d0 = r[0], d1 = r[1], d2 = r[2], d3 = r[3], d4 = r[4], d5 = r[5];
  r[0] = 4.0f * d0 - 5.0f * d2 + d4;
  r[1] = d3 + d4 - 4.0f * (d1 + d2);
  r[2] = d4 - d3 + 4.0f * (d1 - d2);
  r[3] = d4 - d2 + 2.0f * (d3 - d1);
  r[4] = d4 - d2 + 2.0f * (d1 - d3);
  r[5] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* B^T r for 4 values (F2), in place. */
INLINE void bt4(lanes r[4]) {
  const lanes d0 = r[0], d1 = r[1], d2 = r[2], d3 = r[3];
  r[0] = d0 - d2;
  r[1] = d1 + d2;
  r[2] = d2 - d1;
  r[3] = d1 - d3;
}

/* A^T s: 4 values from 6 (F4) into o. */
INLINE void at6(const lanes s[6], lanes o[4]) {
  const lanes p12 = s[1] + s[2], m12 = s[1] - s[2], p34 = s[3] + s[4], m34 = s[3] - s[4];
  o[0] = s[0] + p12 + p34;
  o[1] = m12 + 2.0f * m34;
  o[2] = p12 + 4.0f * p34;
  o[3] = m12 + 8.0f * m34 + s[5];
}

/* A^T s: 2 values from 4 (F2) into o. */
INLINE void at4(const lanes s[4], lanes o[2]) {
  o[0] = s[0] + s[1] + s[2];
  o[1] = s[1] - s[2] - s[3];
}

#ifdef __AVX512F__
/* The lanes of a 16-float vector at column off that hold a column in [a, b). */
static inline __mmask16 range_mask(int64_t a, int64_t b, int64_t off) {
  const int64_t lo = a - off < 0 ? 0 : a - off, hi = b - off > 16 ? 16 : b - off;
  return hi <= lo ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* Indices m * l + j of lanes l = 0..7 (the upper 8 lanes are not used). */
static inline __m512i stride_index(int m, int j) {
  const __m512i l = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 7, 6, 5, 4, 3, 2, 1, 0);
  return _mm512_add_epi32(_mm512_mullo_epi32(l, _mm512_set1_epi32(m)), _mm512_set1_epi32(j));
}

static inline lanes low_half(__m512 v) { return (lanes)_mm512_castps512_ps256(v); }

/* Two 8-float vectors side by side in one (AVX512F alone, no DQ). */
static inline __m512 join(lanes lo, lanes hi) {
  const __m512d l = _mm512_castps_pd(_mm512_castps256_ps512((__m256)lo));
  return _mm512_castpd_ps(_mm512_insertf64x4(l, _mm256_castps_pd((__m256)hi), 1));
}
#endif

#if defined(WINOGRAD_NEON)
/* Two NEON registers side by side as one 8-lane vector, and half h of one. */
INLINE void join_q(lanes *v, float32x4_t lo, float32x4_t hi) {
  memcpy(v, &lo, sizeof lo);
  memcpy((char *)v + sizeof lo, &hi, sizeof hi);
}

INLINE float32x4_t half_q(const lanes *v, int h) { return vld1q_f32((const float *)v + 4 * h); }

/* d[j] of load_row from all 8m + 2 columns at src: the de-interleaving loads take
 * columns j < m of every lane, and column m + j of lane l is column j of lane l + 1. */
INLINE void load_row_full(int m, const float *src, lanes d[6]) {
  float32x4_t c[4][2];
  if (m == 4) {
    const float32x4x4_t lo = vld4q_f32(src), hi = vld4q_f32(src + 16);
    for (int j = 0; j < 4; j++) c[j][0] = lo.val[j], c[j][1] = hi.val[j];
  } else {
    const float32x4x2_t lo = vld2q_f32(src), hi = vld2q_f32(src + 8);
    for (int j = 0; j < 2; j++) c[j][0] = lo.val[j], c[j][1] = hi.val[j];
  }
  for (int j = 0; j < m; j++) join_q(&d[j], c[j][0], c[j][1]);
  for (int j = 0; j < 2; j++)
    join_q(&d[m + j], vextq_f32(c[j][0], c[j][1], 1),
           vextq_f32(c[j][1], vdupq_n_f32(src[8 * m + j]), 1));
}
#endif

/* d[j] lane l = src[m * l + j] for the m + 2 columns j of each lane's patch, zero
 * outside columns [a, b). With AVX-512, masked loads (they do not fault on masked-off
 * lanes) and two-source permutes replace the strided scalar loads. */
INLINE void load_row(int m, const float *src, int64_t a, int64_t b, lanes d[6]) {
#ifdef __AVX512F__
  const __m512 r0 = _mm512_maskz_loadu_ps(range_mask(a, b, 0), src);
  const __m512 r1 = _mm512_maskz_loadu_ps(range_mask(a, b, 16), src + 16);
  if (m == 4) {
    const __m512 s0 = _mm512_maskz_loadu_ps(range_mask(a, b, 4), src + 4);
    const __m512 s1 = _mm512_maskz_loadu_ps(range_mask(a, b, 20), src + 20);
    for (int j = 0; j < 4; j++) d[j] = low_half(_mm512_permutex2var_ps(r0, stride_index(4, j), r1));
    for (int j = 0; j < 2; j++)
      d[4 + j] = low_half(_mm512_permutex2var_ps(s0, stride_index(4, j), s1));
  } else {
    for (int j = 0; j < 4; j++) d[j] = low_half(_mm512_permutex2var_ps(r0, stride_index(2, j), r1));
  }
#elif defined(WINOGRAD_NEON)
  /* Columns outside [a, b) go through a zeroed copy: nothing there may be read. */
  const int64_t w = 8 * m + 2;
  if (a == 0 && b == w) {
    load_row_full(m, src, d);
  } else {
    float row[8 * 4 + 2] = {0};
    if (b > a) memcpy(row + a, src + a, (size_t)(b - a) * sizeof(float));
    load_row_full(m, row, d);
  }
#else
  for (int j = 0; j < m + 2; j++) {
    float v[LANES];
    for (int l = 0; l < LANES; l++) {
      const int64_t col = (int64_t)m * l + j;
      v[l] = col >= a && col < b ? src[col] : 0.0f;
    }
    load(&d[j], v);
  }
#endif
}

/* dst[m * l + j] = o[j] lane l for the first cols columns. */
INLINE void store_row(int m, const lanes o[4], float *dst, int64_t cols) {
#ifdef __AVX512F__
  const __m512 o01 = join(o[0], o[1]);
  if (m == 4) {
    const __m512 o23 = join(o[2], o[3]);
    const __m512i lo = _mm512_set_epi32(27, 19, 11, 3, 26, 18, 10, 2, 25, 17, 9, 1, 24, 16, 8, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    _mm512_mask_storeu_ps(dst, range_mask(0, cols, 0), _mm512_permutex2var_ps(o01, lo, o23));
    _mm512_mask_storeu_ps(dst + 16, range_mask(0, cols, 16), _mm512_permutex2var_ps(o01, hi, o23));
  } else {
    const __m512i idx = _mm512_set_epi32(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    _mm512_mask_storeu_ps(dst, range_mask(0, cols, 0), _mm512_permutexvar_ps(idx, o01));
  }
#elif defined(WINOGRAD_NEON)
  /* The interleaving stores write 4 (or 2) lanes of every o[j] at once. */
  float tmp[8 * 4];
  float *out = cols == 8 * m ? dst : tmp;
  for (int h = 0; h < 2; h++)
    if (m == 4) {
      const float32x4x4_t q = {
          {half_q(&o[0], h), half_q(&o[1], h), half_q(&o[2], h), half_q(&o[3], h)}};
      vst4q_f32(out + 16 * h, q);
    } else {
      const float32x4x2_t q = {{half_q(&o[0], h), half_q(&o[1], h)}};
      vst2q_f32(out + 8 * h, q);
    }
  if (out == tmp)
    for (int64_t c = 0; c < cols; c++) dst[c] = tmp[c];
#else
  for (int64_t c = 0; c < cols; c++) dst[c] = o[c % m][c / m];
#endif
}

/* The low half of a's lanes, then the low half of b's, into a. */
_Static_assert(LANES == 8, "low_halves shuffles 8 lanes");
INLINE void low_halves(lanes *a, const lanes *b) {
#ifdef HAVE_SHUFFLEVECTOR
  *a = __builtin_shufflevector(*a, *b, 0, 1, 2, 3, 8, 9, 10, 11);
#else
  *a = __builtin_shuffle(*a, *b, (lanes_i){0, 1, 2, 3, 8, 9, 10, 11});
#endif
}

/* load_row's d for patch row y, all zeros outside the plane. */
INLINE void load_patch_row(int m, const float *x, int64_t height, int64_t width, int64_t y,
                           int64_t x0, int64_t a, int64_t b, lanes d[6]) {
  if (y >= 0 && y < height)
    load_row(m, x + y * width + x0, a, b, d);
  else
    for (int j = 0; j < m + 2; j++) d[j] = (lanes){0};
}

/* Input transform of a run of tiles for F(m x m, 3x3), alpha = m + 2; see
 * convcl_winograd_input_fn. Lanes past the run read zeros or the run's last columns and
 * are never stored. */
INLINE void input_tiles(int m, const float *x, int64_t channels, int64_t plane, int64_t height,
                        int64_t width, int64_t y0, int64_t x0, int tiles, int two_rows, int split,
                        float *v, size_t v_c, size_t v_xi, size_t jump) {
  const int alpha = m + 2;
  const int64_t w = (int64_t)(two_rows ? LANES / 2 : tiles) * m + 2;
  const int64_t a = x0 < 0 ? (-x0 < w ? -x0 : w) : 0;
  int64_t b = width - x0 < w ? width - x0 : w;
  if (b < a) b = a;
  for (int64_t c = 0; c < channels; c++, x += plane, v += v_c) {
    lanes d[6][6], col[6];
    for (int i = 0; i < alpha; i++) {
      load_patch_row(m, x, height, width, y0 + i, x0, a, b, d[i]);
      if (two_rows) {
        lanes next[6];
        load_patch_row(m, x, height, width, y0 + m + i, x0, a, b, next);
        for (int j = 0; j < alpha; j++) low_halves(&d[i][j], &next[j]);
      }
    }
    /* Columns first (along i), then rows (along j). */
    for (int j = 0; j < alpha; j++) {
      for (int i = 0; i < alpha; i++) col[i] = d[i][j];
      if (m == 4)
        bt6(col);
      else
        bt4(col);
      for (int i = 0; i < alpha; i++) d[i][j] = col[i];
    }
    for (int i = 0; i < alpha; i++) {
      if (m == 4)
        bt6(d[i]);
      else
        bt4(d[i]);
      for (int j = 0; j < alpha; j++) {
        float *dst = v + (size_t)(i * alpha + j) * v_xi;
        if (tiles == LANES && split >= LANES) {
          store(dst, &d[i][j]);
        } else {
          store_lanes(dst, &d[i][j], 0, split < tiles ? split : tiles);
          if (split < tiles) store_lanes(dst + jump, &d[i][j], split, tiles);
        }
      }
    }
  }
}

/* Whether one of the first n lanes of poison is NaN. */
INLINE int any_nan(const lanes *poison, int n) {
  int bad = 0;
  for (int l = 0; l < n; l++) bad |= (*poison)[l] != (*poison)[l];
  return bad;
}

/* o = A^T s A, the m x m output of one tile per lane, plus add, then ReLU where relu.
 * Adds o * 0 before the bias to poison: NaN in a lane where one of its outputs is Inf or
 * NaN (see host/cpu/winograd.c), which the ReLU would otherwise hide as 0. */
INLINE void output_transform(int m, lanes s[6][6], const lanes *add, int relu, lanes o[4][4],
                             lanes *poison) {
  const int alpha = m + 2;
  lanes t[4][6], col[6], out[4];
  for (int j = 0; j < alpha; j++) {
    for (int i = 0; i < alpha; i++) col[i] = s[i][j];
    if (m == 4)
      at6(col, out);
    else
      at4(col, out);
    for (int i = 0; i < m; i++) t[i][j] = out[i];
  }
  for (int i = 0; i < m; i++) {
    if (m == 4)
      at6(t[i], o[i]);
    else
      at4(t[i], o[i]);
    for (int j = 0; j < m; j++) {
      *poison += o[i][j] * 0.0f;
      const lanes r = o[i][j] + *add;
      /* torch.relu keeps NaN: only lanes that compare below zero become zero. */
      o[i][j] = relu ? (lanes)((lanes_i)r & ~(lanes_i)(r < 0.0f)) : r;
    }
  }
}

/* Output transform of a run of tiles; see convcl_winograd_output_fn. Lanes past the run
 * may hold another task's stale values, so only the run's own are checked. */
INLINE int output_tiles(int m, const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                        int64_t channels, const float *bias, int relu, float *y, int64_t plane,
                        int64_t height, int64_t width, int64_t y0, int64_t x0, int tiles) {
  const int alpha = m + 2;
  const int64_t cols = width - x0 < (int64_t)tiles * m ? width - x0 : (int64_t)tiles * m;
  lanes poison = {0};
  for (int64_t k = 0; k < channels; k++, mm += m_k, y += plane) {
    lanes s[6][6], o[4][4], add;
    for (int i = 0; i < alpha; i++)
      for (int j = 0; j < alpha; j++) {
        const float *src = mm + (size_t)(i * alpha + j) * m_xi;
        if (m_l == 1) {
          load(&s[i][j], src);
        } else {
          for (int l = 0; l < LANES; l++) s[i][j][l] = src[l * m_l];
        }
      }
    broadcast(&add, bias ? bias[k] : 0.0f);
    output_transform(m, s, &add, relu, o, &poison);
    for (int i = 0; i < m && y0 + i < height; i++)
      store_row(m, o[i], y + (y0 + i) * width + x0, cols);
  }
  return any_nan(&poison, tiles);
}

#ifdef __AVX512F__
/* r[l] = lane l of the eight inputs, in order (the usual unpack, shuffle, permute). */
static inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
#endif

/* One output tile per channel lane: o[i][j] lane l goes to d[l * plane + i * width + j]
 * for the first rows x cols of the tile and the first nl lanes. With AVX-512 the tile
 * is transposed into channel-major rows and written with masked 4-float stores. */
INLINE void store_channels(int m, lanes o[4][4], float *d, int64_t plane, int64_t width, int rows,
                           int cols, int nl) {
#ifdef __AVX512F__
  const __mmask8 mask = (__mmask8)((1u << cols) - 1u);
  __m256 r[8];
  if (m == 4) {
    for (int half = 0; half < 2 && 2 * half < rows; half++) {
      for (int i = 0; i < 8; i++) r[i] = (__m256)o[2 * half + i / 4][i % 4];
      transpose8(r);
      for (int l = 0; l < nl; l++) {
        float *row = d + l * plane + 2 * half * width;
        _mm_mask_storeu_ps(row, mask, _mm256_castps256_ps128(r[l]));
        if (2 * half + 1 < rows)
          _mm_mask_storeu_ps(row + width, mask, _mm256_extractf128_ps(r[l], 1));
      }
    }
  } else {
    for (int i = 0; i < 8; i++) r[i] = i < 4 ? (__m256)o[i / 2][i % 2] : _mm256_setzero_ps();
    transpose8(r);
    for (int l = 0; l < nl; l++) {
      const __m128 q = _mm256_castps256_ps128(r[l]);
      _mm_mask_storeu_ps(d + l * plane, mask, q);
      if (rows > 1) _mm_mask_storeu_ps(d + l * plane + width, mask, _mm_movehl_ps(q, q));
    }
  }
#else
  (void)m; /* rows and cols already say it */
  for (int l = 0; l < nl; l++)
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < cols; j++) d[l * plane + i * width + j] = o[i][j][l];
#endif
}

/* The output transform with the lanes over channels, for M laid out [xi][tile][k]
 * (channels contiguous, tiles m_l apart), where lanes over tiles would gather. Lanes past
 * the last channel are not checked, as in output_tiles. */
INLINE int output_channels(int m, const float *mm, size_t m_l, size_t m_xi, int64_t channels,
                           const float *bias, int relu, float *y, int64_t plane, int64_t height,
                           int64_t width, int64_t y0, int64_t x0, int tiles) {
  const int alpha = m + 2;
  const int rows = height - y0 < m ? (int)(height - y0) : m;
  int bad = 0;
  for (int t = 0; t < tiles; t++) {
    const int64_t tx = x0 + (int64_t)t * m;
    const int cols = width - tx < m ? (int)(width - tx) : m;
    for (int64_t k = 0; k < channels; k += LANES) {
      const int nl = channels - k < LANES ? (int)(channels - k) : LANES;
      lanes s[6][6], o[4][4], add = {0}, poison = {0};
      for (int i = 0; i < alpha; i++)
        for (int j = 0; j < alpha; j++)
          load(&s[i][j], mm + (size_t)(i * alpha + j) * m_xi + (size_t)t * m_l + (size_t)k);
      if (bias) {
        float b[LANES] = {0};
        for (int l = 0; l < nl; l++) b[l] = bias[k + l];
        load(&add, b);
      }
      output_transform(m, s, &add, relu, o, &poison);
      bad |= any_nan(&poison, nl);
      store_channels(m, o, y + k * plane + y0 * width + tx, plane, width, rows, cols, nl);
    }
  }
  return bad;
}

NO_MEMCPY_CALLS static void input_2x2(const float *x, int64_t channels, int64_t plane,
                                      int64_t height, int64_t width, int64_t y0, int64_t x0,
                                      int tiles, int two_rows, int split, float *v, size_t v_c,
                                      size_t v_xi, size_t jump) {
  input_tiles(2, x, channels, plane, height, width, y0, x0, tiles, two_rows, split, v, v_c, v_xi,
              jump);
}

NO_MEMCPY_CALLS static void input_4x4(const float *x, int64_t channels, int64_t plane,
                                      int64_t height, int64_t width, int64_t y0, int64_t x0,
                                      int tiles, int two_rows, int split, float *v, size_t v_c,
                                      size_t v_xi, size_t jump) {
  input_tiles(4, x, channels, plane, height, width, y0, x0, tiles, two_rows, split, v, v_c, v_xi,
              jump);
}

NO_MEMCPY_CALLS static int output_2x2(const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                                      int64_t channels, const float *bias, int relu, float *y,
                                      int64_t plane, int64_t height, int64_t width, int64_t y0,
                                      int64_t x0, int tiles) {
  if (m_k == 1 && m_l != 1)
    return output_channels(2, mm, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0,
                           tiles);
  return output_tiles(2, mm, m_k, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0,
                      tiles);
}

NO_MEMCPY_CALLS static int output_4x4(const float *mm, size_t m_k, size_t m_l, size_t m_xi,
                                      int64_t channels, const float *bias, int relu, float *y,
                                      int64_t plane, int64_t height, int64_t width, int64_t y0,
                                      int64_t x0, int tiles) {
  if (m_k == 1 && m_l != 1)
    return output_channels(4, mm, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0,
                           tiles);
  return output_tiles(4, mm, m_k, m_l, m_xi, channels, bias, relu, y, plane, height, width, y0, x0,
                      tiles);
}

const convcl_winograd_fns WINOGRAD_FNS = {
    .input = {input_2x2, input_4x4},
    .output = {output_2x2, output_4x4},
};
