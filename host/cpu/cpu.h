/* The CPU backend's own pieces: the thread pool, the ISA dispatch, the microkernels
 * and the solvers. */
#ifndef CONVCL_CPU_H
#define CONVCL_CPU_H

#include "internal.h"

typedef struct convcl_pool convcl_pool;

/* Starts threads - 1 workers; the calling thread is the last one. */
convcl_status convcl_pool_create(int threads, convcl_pool **pool_out);
void convcl_pool_destroy(convcl_pool *pool);
int convcl_pool_threads(const convcl_pool *pool);

/* Runs fn(arg, i) for every i in [0, count) on the pool's threads and the caller,
 * and returns when all are done. Calls from several threads take turns. */
void convcl_pool_for(convcl_pool *pool, int64_t count, void (*fn)(void *arg, int64_t i), void *arg);

/* The pool of a CPU context. */
convcl_pool *convcl_cpu_pool(const convcl_context *ctx);

/* A GEMM microkernel: one MR x NR tile of C from an MR-row panel of A (kc steps of MR
 * values) and an NR-column panel of B (kc steps of NR values):
 *   C[0:m, 0:n] = epilogue((flags & CONVCL_GEMM_ACCUMULATE ? C : bias) + A * B)
 * with C's rows ldc floats apart, 1 <= m <= MR and 1 <= n <= NR. Rows m..MR and
 * columns n..NR are computed and dropped, so panels are zero-padded to full tiles and
 * edges cost no special code.
 * bias is NULL (zero) or holds m values, one per row; it is read only without
 * CONVCL_GEMM_ACCUMULATE, so a K loop split in blocks adds the bias once. With
 * CONVCL_GEMM_RELU the stored values go through x < 0 ? 0 : x (NaN stays NaN, as in
 * torch.relu); a split K loop sets it on its last block only. flags 0 and 1 keep the
 * meaning the old `accumulate` argument had. */
enum { CONVCL_GEMM_ACCUMULATE = 1, CONVCL_GEMM_RELU = 2 };
typedef void (*convcl_f32_gemm_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                   size_t m, size_t n, const float *bias, int flags);

/* The same tile with B read in place, a row-major matrix whose rows are ldb floats
 * apart, instead of a packed panel: only its first n columns are read, so b may point
 * at the last columns of a caller's array. */
typedef void (*convcl_f32_gemm_strided_fn)(size_t kc, const float *a, const float *b, size_t ldb,
                                           float *c, size_t ldc, size_t m, size_t n,
                                           const float *bias, int flags);

/* A stretch of one row of a packed B tile (host/cpu/igemm.c) whose source is regular:
 * len floats from plane[src], plane[src + step], ... (src -1: zeros) to row[dst]; step is
 * negative or 0 where reflect or replicate padding walks back or repeats. */
typedef struct convcl_pack_run {
  int64_t dst, src, step;
  int32_t len;
} convcl_pack_run;

/* Writes one row of a packed B tile: each of the count runs, in order, from one input
 * plane. */
typedef void (*convcl_pack_row_fn)(float *row, const float *plane, const convcl_pack_run *runs,
                                   int64_t count);

/* Winograd F(m x m, 3x3) tile transforms (host/cpu/f32_winograd_transforms.h) over a run
 * of 1..CONVCL_WINOGRAD_LANES tiles side by side in one tile row; alpha = m + 2 and
 * xi = i * alpha + j numbers the alpha x alpha transformed elements.
 * input: for each of `channels` planes of x (plane floats apart, height x width), the
 * patches whose top-left input pixel is (y0 + ..., x0 + m * tile), zeros outside the
 * plane, go through B^T d B; element xi of tile l of channel c lands at
 * v[xi * v_xi + c * v_c + l], plus jump for l >= split (where the run crosses from one
 * GEMM panel to the next). With two_rows, a run of CONVCL_WINOGRAD_LANES tiles spans two
 * tile rows of half that many tiles: lanes from the half on have their patches at
 * (y0 + m + ..., x0 + m * (tile - half)), so short rows fill the vectors.
 * output: for each of `channels` output planes of y, m[xi * m_xi + k * m_k + l * m_l]
 * (tile l, channel k, all CONVCL_WINOGRAD_LANES lanes readable) goes through A^T s A, plus
 * bias[k] (bias may be NULL), then x < 0 ? 0 : x when relu; the m x m tile with its
 * top-left output pixel at (y0, x0 + m * l) is written where it lies inside the plane;
 * it returns nonzero when one of the run's outputs was Inf or NaN before the bias.
 * Index 0 is F(2x2,3x3), index 1 F(4x4,3x3). */
enum { CONVCL_WINOGRAD_LANES = 8 };
typedef void (*convcl_winograd_input_fn)(const float *x, int64_t channels, int64_t plane,
                                         int64_t height, int64_t width, int64_t y0, int64_t x0,
                                         int tiles, int two_rows, int split, float *v, size_t v_c,
                                         size_t v_xi, size_t jump);
typedef int (*convcl_winograd_output_fn)(const float *m, size_t m_k, size_t m_l, size_t m_xi,
                                         int64_t channels, const float *bias, int relu, float *y,
                                         int64_t plane, int64_t height, int64_t width, int64_t y0,
                                         int64_t x0, int tiles);
typedef struct convcl_winograd_fns {
  convcl_winograd_input_fn input[2];
  convcl_winograd_output_fn output[2];
} convcl_winograd_fns;
extern const convcl_winograd_fns convcl_f32_winograd_transforms__scalar;
extern const convcl_winograd_fns convcl_f32_winograd_transforms__avx2;
extern const convcl_winograd_fns convcl_f32_winograd_transforms__avx512;
extern const convcl_winograd_fns convcl_f32_winograd_transforms__neon;

/* A block of CONVCL_DEPTHWISE_CHANNELS channels of one image, channel-minor: the padded
 * input tile[(y * wp + x) * CHANNELS + c] and the outputs out[(y * ow + x) * CHANNELS + c]
 * of a whole oh x ow plane; kernel kh x kw with its dilation and stride. */
enum { CONVCL_DEPTHWISE_CHANNELS = 16 };
typedef struct convcl_depthwise_block {
  int64_t kh, kw, dh, dw, sh, sw, oh, ow, wp;
  int relu;
} convcl_depthwise_block;

/* The depthwise solver's loops (host/cpu/f32_depthwise_rows.h): tap adds w * r[f * s]
 * to acc[f] for f in [0, len); dense_3x3 adds a dense 3x3 kernel w at W stride s (1 or
 * 2) over rows of r that lie wt floats apart, both over flat rows; rows_3x3 writes rows
 * output rows of ow floats to out, row y from the tile rows at r + y * sh * wt: the bias,
 * that kernel at W stride sw (1 or 2), then the ReLU where relu is set; channels computes
 * a channel block's outputs from its tile, weights w[(i * kw + j) * CHANNELS + c] and
 * bias[c], then the ReLU where b->relu is set. */
typedef struct convcl_depthwise_fns {
  void (*tap)(float *restrict acc, const float *restrict r, float w, int64_t s, int64_t len);
  void (*dense_3x3)(float *restrict acc, const float *restrict r, const float *restrict w,
                    int64_t wt, int64_t s, int64_t len);
  void (*rows_3x3)(float *restrict out, int64_t ow, int64_t rows, const float *restrict r,
                   int64_t wt, int64_t sh, int64_t sw, const float *restrict w, float bias,
                   int relu);
  void (*channels)(float *restrict out, const float *restrict tile, const float *restrict w,
                   const float *restrict bias, const struct convcl_depthwise_block *b);
} convcl_depthwise_fns;
extern const convcl_depthwise_fns convcl_f32_depthwise_rows__scalar;
extern const convcl_depthwise_fns convcl_f32_depthwise_rows__avx2;
extern const convcl_depthwise_fns convcl_f32_depthwise_rows__avx512;

/* The instruction set the CPU path runs, with its microkernels and their tiles. */
typedef struct convcl_cpu_isa {
  const char *name; /* "avx512", "avx2", "neon", "scalar": what CONVCL_CPU_ISA accepts */
  int mr, nr;
  int fma_per_cycle; /* multiply-adds per cycle and core the microkernel reaches, roughly */
  convcl_f32_gemm_fn gemm;
  /* A second tile, square (sq x sq), for GEMMs with few rows whose B streams from L3 or
   * memory once per run: each vector of B serves sq rows where gemm's serves mr, for half
   * the B bytes per multiply-add. 0 and NULL where the ISA has none. */
  int sq;
  convcl_f32_gemm_fn gemm_sq;
  convcl_f32_gemm_strided_fn gemm_strided;
  convcl_pack_row_fn pack_row;
  const struct convcl_winograd_fns *winograd;
  const struct convcl_depthwise_fns *depthwise;
} convcl_cpu_isa;

/* The best instruction set this processor and OS support, or the one CONVCL_CPU_ISA
 * names when that is supported (a request above what the CPU has is lowered to the best
 * it has; an unknown name is ignored). Chosen once per process. */
const convcl_cpu_isa *convcl_cpu_isa_get(void);

/* Whether the processor is AMD's, for the solver choices whose best differs between the
 * x86 makers' cache designs (host/cpu/gemm.c). */
int convcl_cpu_amd(void);

void convcl_f32_gemm_4x16__scalar(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                  size_t m, size_t n, const float *bias, int flags);
void convcl_f32_gemm_4x16__scalar_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                          float *c, size_t ldc, size_t m, size_t n,
                                          const float *bias, int flags);
void convcl_f32_gemm_6x16__avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                size_t m, size_t n, const float *bias, int flags);
void convcl_f32_gemm_6x16__avx2_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                        float *c, size_t ldc, size_t m, size_t n, const float *bias,
                                        int flags);
void convcl_f32_gemm_8x32__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                  size_t m, size_t n, const float *bias, int flags);
void convcl_f32_gemm_8x32__avx512_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                          float *c, size_t ldc, size_t m, size_t n,
                                          const float *bias, int flags);
void convcl_f32_gemm_16x16__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                   size_t m, size_t n, const float *bias, int flags);

void convcl_f32_gemm_8x12__neon(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                size_t m, size_t n, const float *bias, int flags);
void convcl_f32_gemm_8x12__neon_strided(size_t kc, const float *a, const float *b, size_t ldb,
                                        float *c, size_t ldc, size_t m, size_t n, const float *bias,
                                        int flags);

void convcl_f32_pack_row__scalar(float *row, const float *plane, const convcl_pack_run *runs,
                                 int64_t count);
void convcl_f32_pack_row__avx512(float *row, const float *plane, const convcl_pack_run *runs,
                                 int64_t count);

/* host/cpu/gemm.c: pointwise (1x1, stride 1, unpadded) convolutions as one GEMM per image
 * and group with the input as B in place; for AUTO where that is faster, and for all. */
extern const convcl_solver convcl_cpu_gemm_preferred;
extern const convcl_solver convcl_cpu_gemm;
/* Where A packed by convcl_cpu_pack_a holds group g, the K block from row k0 (kc rows)
 * and M panel mp. */
static inline int64_t convcl_cpu_a_offset(int64_t kdim, int64_t mpanels, int64_t mr, int64_t g,
                                          int64_t k0, int64_t kc, int64_t mp) {
  return (g * kdim + k0) * mpanels * mr + mp * kc * mr;
}

/* First and one-past-last of block i when count items (panels, rows) go to blocks as
 * evenly as whole items allow: the first count % blocks blocks take one more. */
static inline void convcl_cpu_block_range(int64_t count, int64_t blocks, int64_t i, int64_t *first,
                                          int64_t *end) {
  const int64_t base = count / blocks, extra = count % blocks;
  *first = i * base + (i < extra ? i : extra);
  *end = *first + base + (i < extra);
}

/* host/cpu/igemm.c: packs weights [groups * m][cg][taps] (PyTorch's) as the
 * microkernels' A. Per group, K = cg x taps rows, tap-major (row k is tap k / cg, channel
 * k % cg), in blocks of kc_max rows (the last may be shorter); in each block the
 * ceil(m / mr) panels of mr rows, kc steps each, back to back, so the microkernel reads
 * A as one stream. Rows past m are zero. */
void convcl_cpu_pack_a(const float *w, int64_t groups, int64_t m, int64_t cg, int64_t taps,
                       int64_t kc_max, int64_t mr, float *a);

extern const convcl_solver convcl_cpu_implicit_gemm;
/* PyTorch pads first, then convolves; mapping a padded coordinate back to the input
 * gives the same values without the copy. Validation guarantees one wrap at most. */
static inline int64_t convcl_cpu_source_index(convcl_padding_mode mode, int64_t x, int64_t size) {
  if (x >= 0 && x < size) return x;
  switch (mode) {
    case CONVCL_PADDING_REFLECT:
      return x < 0 ? -x : 2 * (size - 1) - x;
    case CONVCL_PADDING_REPLICATE:
      return x < 0 ? 0 : size - 1;
    case CONVCL_PADDING_CIRCULAR:
      return x < 0 ? x + size : x - size;
    case CONVCL_PADDING_ZEROS:
      break;
  }
  return -1;
}

/* The fused ReLU; NaN stays NaN, as in torch.relu. */
static inline float convcl_cpu_relu(float v) { return v < 0.0f ? 0.0f : v; }

/* The most workspace a CPU plan may hold, all threads together: 16 MiB, or a quarter of
 * the input and output bytes when that is more (issue 5's bound). Solvers block their
 * work to stay within it, or decline layers where they cannot. */
static inline size_t convcl_cpu_workspace_budget(const convcl_problem *p) {
  const size_t io = (size_t)(p->input_elems + p->output_elems) * sizeof(float);
  return io / 4 > ((size_t)16 << 20) ? io / 4 : ((size_t)16 << 20);
}

extern const convcl_solver convcl_cpu_direct;
extern const convcl_solver convcl_cpu_transposed_gemm;
/* host/cpu/depthwise.c: depthwise for AUTO (small multipliers) and for every multiplier. */
extern const convcl_solver convcl_cpu_depthwise_preferred;
extern const convcl_solver convcl_cpu_depthwise;
/* host/cpu/winograd.c: 2D 3x3 stride-1 convolutions through Winograd F(4x4,3x3) and
 * F(2x2,3x3), for AUTO where they win and for every such layer. */
extern const convcl_solver convcl_cpu_winograd_4x4_preferred;
extern const convcl_solver convcl_cpu_winograd_2x2_preferred;
extern const convcl_solver convcl_cpu_winograd_4x4;
extern const convcl_solver convcl_cpu_winograd_2x2;

#endif
