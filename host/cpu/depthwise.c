/* The CPU depthwise solver: groups == in_channels, so each output channel reads one
 * input channel and the work is a stencil per plane, with no channel reduction to
 * block for. A task takes one input channel and a block of output rows (of one
 * output depth): it copies the input rows the block reads into a padded scratch
 * tile, applying the padding mode there, then runs every output channel of that
 * input channel (the multiplier) over the tile. The tile's rows are a multiple of
 * the W stride wide, so the whole block is one flat loop (output f reads tile
 * element f * stride + tap offset) that the compiler vectorizes for the ISA that runs
 * (host/cpu/f32_depthwise_rows.h), however narrow the rows; the few columns between
 * rows are computed, then dropped when the block is copied out. Padding thus costs one
 * copy of a few rows, and edges, modes and tiny widths need no special code. Small 2D
 * planes of multiplier 1 (MobileNet's 7 x 7) go a block of channels at a time instead,
 * channel-minor, so each output is one vector (block_task). */
#include "cpu.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A tile (kernel depth x rows x padded width floats) is kept near this size so it
 * stays in L1/L2 while the multiplier's channels and the taps sweep it. */
#define TILE_BYTES (48 * 1024)
/* Tasks per thread worth aiming for, so the atomic counter can balance them. */
#define TASKS_PER_THREAD 8
/* The largest multiplier (out / in channels) for which AUTO prefers this solver: past
 * it the implicit GEMM, whose tiles then fill with the multiplier's channels, wins
 * (measured: 3.6x faster here at multiplier 2, 0.9x at 8, 0.55x at 16). */
#define AUTO_MAX_MULTIPLIER 4
/* The most flat outputs per output row the solver computes: FLAT_WASTE_MAX per kept
 * output and FLAT_SLACK more (see get_geometry). */
#define FLAT_WASTE_MAX 4
#define FLAT_SLACK 64
/* Dense 3x3 layers (2D) with outputs at least this wide go row by row straight into the
 * output (rows_3x3): no flat accumulator to set to the bias and copy out, which took
 * half of a 112 x 112 layer's time. Measured against the flat loop (MobileNetV2's
 * layers, AVX-512, paired both ways, 1 and 2 threads): 112 wide 1.45-1.75x, 56 wide
 * 1.2-1.45x, 28 wide 0.8-0.9x, as a row of 28 is one vector and a scalar tail where the
 * flat loop's vectors span rows. */
#define DIRECT_MIN_WIDTH 32
/* 2D layers of multiplier 1 with outputs at most BLOCK_MAX_WIDTH wide go
 * CONVCL_DEPTHWISE_CHANNELS planes at a time (block_task) where a block's input and
 * output tiles, whole planes, fit BLOCK_BYTES: each output is one vector of channels,
 * where each plane would cost a task, a tile copy and a copy out around a flat loop of a
 * few vectors (and on 2 threads a claim of a shared slot per plane). Measured against
 * the flat loop (AVX-512, paired both ways): 7 x 7 outputs 1.4-1.5x faster on 1 thread
 * and 1.5-3.7x on 2, 7 x 7 from stride 2 1.3-1.6x and 1.3-2.0x, 4 x 4 2.3-2.5x and 4-6x.
 * Gathering the planes channel-minor and scattering them back are scalar loops, which
 * outweigh that at 14 x 14 outputs (1.3x slower). */
#define BLOCK_MAX_WIDTH 8
#define BLOCK_BYTES (64 * 1024)

typedef struct geometry {
  int64_t wp;        /* padded width read: (OW - 1) * SW + (KW - 1) * DW + 1 */
  int64_t wt;        /* tile row width: wp rounded up to a multiple of SW */
  int64_t pitch;     /* flat outputs per output row: SH * wt / SW >= OW */
  int64_t rows;      /* output rows per block */
  int64_t blocks;    /* blocks per output depth */
  int64_t tile_rows; /* padded rows a block reads */
  size_t tile_elems; /* kernel depth x tile_rows x wt, then slack for the flat loop */
  size_t slot_elems; /* the tile, then rows x pitch flat outputs */
  int blocked;       /* channel blocks instead (see block_task) */
  int64_t cblocks;   /* blocked: channel blocks per image */
  int threads;
} geometry;

typedef struct depthwise_plan {
  geometry g;
  const convcl_depthwise_fns *fns; /* the loops of the ISA that runs */
  float *weights;
  float *bias;
  float *scratch; /* threads tiles, one per task running at once */
  atomic_int *slot_busy;
} depthwise_plan;

/* Non-negative int64 arithmetic that saturates to -1 past INT64_MAX (and stays -1). */
static int64_t mul(int64_t a, int64_t b) {
  return a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a) ? -1 : a * b;
}

static int64_t add(int64_t a, int64_t b) {
  return a < 0 || b < 0 || b > INT64_MAX - a ? -1 : a + b;
}

/* The padded input one output reads along dimension d (1: rows, 2: columns). */
static int64_t kernel_span(const convcl_problem *p, int d) {
  return add(mul(p->kernel[d] - 1, p->dilation[d]), 1);
}

/* The task geometry for p; 0 when a size it forms passes int64 or the threads' tiles
 * pass the CPU workspace budget, as extreme strides, dilations or padding make them
 * (a tile row spans the padded width), so the solver does not apply and another one,
 * whose work follows the FLOPs, takes the layer. */
static int get_geometry(const convcl_context *ctx, const convcl_problem *p, geometry *g) {
  g->threads = convcl_pool_threads(convcl_cpu_pool(ctx));
  const int64_t sh = p->stride[1], sw = p->stride[2];
  const int64_t kw_span = kernel_span(p, 2);
  g->wp = add(mul(p->out[2] - 1, sw), kw_span);
  g->wt = mul(add(g->wp, sw - 1) / sw, sw);
  const int64_t sh_wt = mul(sh, g->wt);
  if (g->wp < 0 || g->wt < 0 || sh_wt < 0) return 0;
  g->pitch = sh_wt / sw;
  /* The flat loop computes pitch outputs per output row and keeps OW of them: SH times
   * the row's span over its W stride, plus the kernel's reach. Past FLAT_WASTE_MAX times
   * OW, and FLAT_SLACK more for narrow rows (large H strides, kernels or dilations
   * against few outputs), other solvers, whose work follows the FLOPs, take the layer. */
  if (g->pitch > add(mul(FLAT_WASTE_MAX, p->out[2]), FLAT_SLACK)) return 0;
  const int64_t per_row = add(mul(p->kernel[0], sh_wt), g->pitch);
  if (per_row < 0) return 0;
  int64_t rows = (int64_t)(TILE_BYTES / sizeof(float)) / (per_row > 0 ? per_row : 1);
  /* Enough blocks that every thread has several tasks when planes are few. */
  const int64_t planes = p->n * p->c * p->out[0];
  const int64_t want = (int64_t)g->threads * TASKS_PER_THREAD;
  if (planes > 0 && planes < want) {
    const int64_t split = (want + planes - 1) / planes;
    const int64_t cap = (p->out[1] + split - 1) / split;
    if (cap < rows) rows = cap;
  }
  if (rows < 1) rows = 1;
  if (rows > p->out[1]) rows = p->out[1];
  g->rows = rows;
  g->blocks = (p->out[1] + rows - 1) / rows;
  g->tile_rows = add(mul(rows - 1, sh), kernel_span(p, 1));
  /* The flat loop's last dropped columns read past the last tile row by at most
   * (SH - 1) * wt + (KW - 1) * DW elements. */
  const int64_t tile =
      add(add(mul(mul(p->kernel[0], g->tile_rows), g->wt), mul(sh - 1, g->wt)), kw_span);
  int64_t slot = add(tile, mul(rows, g->pitch));
  g->blocked = 0;
  if (p->rank == 2 && p->k == p->c && p->out[2] <= BLOCK_MAX_WIDTH) {
    const int64_t rows_read = add(mul(p->out[1] - 1, sh), kernel_span(p, 1));
    const int64_t elems =
        mul(add(mul(rows_read, g->wp), mul(p->out[1], p->out[2])), CONVCL_DEPTHWISE_CHANNELS);
    if (elems > 0 && elems <= (int64_t)(BLOCK_BYTES / sizeof(float))) {
      g->blocked = 1;
      g->cblocks = (p->c + CONVCL_DEPTHWISE_CHANNELS - 1) / CONVCL_DEPTHWISE_CHANNELS;
      g->tile_rows = rows_read;
      if (elems > slot) slot = elems;
    }
  }
  const int64_t floats = mul(slot, g->threads);
  if (floats < 0 || (uint64_t)floats > convcl_cpu_workspace_budget(p) / sizeof(float)) return 0;
  g->tile_elems = (size_t)tile;
  g->slot_elems = (size_t)slot;
  return 1;
}

static int depthwise_applicable(const convcl_context *ctx, const convcl_problem *p) {
  geometry g;
  return !p->transposed && p->groups == p->c && get_geometry(ctx, p, &g);
}

static int depthwise_preferred(const convcl_context *ctx, const convcl_problem *p) {
  return depthwise_applicable(ctx, p) && p->k / p->c <= AUTO_MAX_MULTIPLIER;
}

static size_t depthwise_workspace(const convcl_context *ctx, const convcl_problem *p) {
  geometry g;
  if (!get_geometry(ctx, p, &g)) return 0;
  return (size_t)g.threads * g.slot_elems * sizeof(float);
}

static void depthwise_destroy(convcl_plan *plan) {
  depthwise_plan *dp = plan->impl;
  if (!dp) return;
  free(dp->weights);
  free(dp->bias);
  free(dp->scratch);
  free(dp->slot_busy);
  free(dp);
  plan->impl = NULL;
}

static convcl_status depthwise_create(convcl_plan *plan, const float *weights, const float *bias) {
  const convcl_problem *p = &plan->problem;
  depthwise_plan *dp = calloc(1, sizeof *dp);
  if (!dp) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = dp;
  /* applicable() checked that the geometry fits. */
  get_geometry(plan->ctx, p, &dp->g);
  dp->fns = convcl_cpu_isa_get()->depthwise;
  /* Blocked: weights [block][tap][channel] and a bias per channel (zeros without one),
   * channels past the last zero. */
  const int64_t taps = p->kernel_elems;
  const size_t channels =
      dp->g.blocked ? (size_t)(dp->g.cblocks * CONVCL_DEPTHWISE_CHANNELS) : (size_t)p->k;
  const int with_bias = p->has_bias || dp->g.blocked;
  dp->weights = calloc(channels * (size_t)taps, sizeof(float));
  if (with_bias) dp->bias = calloc(channels, sizeof(float));
  /* Zeroed so the slack the dropped columns read holds finite values. */
  dp->scratch = calloc((size_t)dp->g.threads * dp->g.slot_elems, sizeof(float));
  dp->slot_busy = calloc((size_t)dp->g.threads, sizeof *dp->slot_busy);
  if (!dp->weights || (with_bias && !dp->bias) || !dp->scratch || !dp->slot_busy) {
    depthwise_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "cannot allocate %lld weights and %d tiles of %zu floats for a CPU plan",
                        (long long)p->weight_elems, dp->g.threads, dp->g.slot_elems);
  }
  if (dp->g.blocked) {
    enum { C = CONVCL_DEPTHWISE_CHANNELS };
    for (int64_t c = 0; c < p->c; c++) {
      for (int64_t t = 0; t < taps; t++)
        dp->weights[((c / C) * taps + t) * C + c % C] = weights[c * taps + t];
      if (p->has_bias) dp->bias[c] = bias[c];
    }
  } else {
    memcpy(dp->weights, weights, (size_t)p->weight_elems * sizeof(float));
    if (p->has_bias) memcpy(dp->bias, bias, (size_t)p->k * sizeof(float));
  }
  for (int i = 0; i < dp->g.threads; i++) atomic_init(&dp->slot_busy[i], 0);
  return CONVCL_OK;
}

/* Padded row x (of width wp) of the input row src (NULL: a padded row of zeros). */
static void pad_row(float *restrict dst, const float *restrict src, convcl_padding_mode mode,
                    int64_t pad, int64_t width, int64_t wp) {
  if (!src) {
    memset(dst, 0, (size_t)wp * sizeof(float));
    return;
  }
  int64_t begin = pad < wp ? pad : wp, end = pad + width < wp ? pad + width : wp;
  if (end < begin) end = begin;
  for (int64_t x = 0; x < begin; x++) {
    const int64_t iw = convcl_cpu_source_index(mode, x - pad, width);
    dst[x] = iw >= 0 ? src[iw] : 0.0f;
  }
  if (end > begin) memcpy(dst + begin, src + (begin - pad), (size_t)(end - begin) * sizeof(float));
  for (int64_t x = end; x < wp; x++) {
    const int64_t iw = convcl_cpu_source_index(mode, x - pad, width);
    dst[x] = iw >= 0 ? src[iw] : 0.0f;
  }
}

/* A free scratch slot, marked busy; the task frees it (slot_busy) when done. At most
 * threads tasks run at once, so one always exists. */
static int claim_slot(depthwise_plan *dp) {
  int slot = 0;
  while (atomic_exchange(&dp->slot_busy[slot], 1)) slot = (slot + 1) % dp->g.threads;
  return slot;
}

typedef struct depthwise_job {
  const convcl_problem *p;
  depthwise_plan *dp;
  const float *input;
  float *output;
} depthwise_job;

/* Task = (n, input channel, output depth, block of output rows). */
static void depthwise_task(void *arg, int64_t task) {
  const depthwise_job *job = arg;
  const convcl_problem *p = job->p;
  depthwise_plan *dp = job->dp;
  const geometry *g = &dp->g;
  const int64_t blk = task % g->blocks, od = task / g->blocks % p->out[0];
  const int64_t plane = task / g->blocks / p->out[0]; /* n * c + ic */
  const int64_t mult = p->k / p->c, ic = plane % p->c, n = plane / p->c;
  const int64_t oh0 = blk * g->rows;
  const int64_t rows = p->out[1] - oh0 < g->rows ? p->out[1] - oh0 : g->rows;
  const int64_t kd_n = p->kernel[0], kh_n = p->kernel[1], kw_n = p->kernel[2];
  const int64_t sh = p->stride[1], sw = p->stride[2], dh = p->dilation[1], dw = p->dilation[2];
  const int64_t ow_n = p->out[2], plane_out = p->out[0] * p->out[1] * ow_n;

  const int slot = claim_slot(dp);
  float *tile = dp->scratch + (size_t)slot * g->slot_elems;

  const float *x = job->input + plane * p->in[0] * p->in[1] * p->in[2];
  const int64_t rows_read = (rows - 1) * sh + (kh_n - 1) * dh + 1;
  /* A zero-padded depth slice is filled with zeros too: it only occurs at the depth
   * borders of 3D problems, and uniform loops are worth more than skipping it. */
  for (int64_t kd = 0; kd < kd_n; kd++) {
    const int64_t id = convcl_cpu_source_index(
        p->mode, od * p->stride[0] - p->pad_begin[0] + kd * p->dilation[0], p->in[0]);
    for (int64_t r = 0; r < rows_read; r++) {
      const int64_t ih = convcl_cpu_source_index(p->mode, oh0 * sh + r - p->pad_begin[1], p->in[1]);
      float *dst = tile + (kd * g->tile_rows + r) * g->wt;
      pad_row(dst, id >= 0 && ih >= 0 ? x + (id * p->in[1] + ih) * p->in[2] : NULL, p->mode,
              p->pad_begin[2], p->in[2], g->wp);
      memset(dst + g->wp, 0, (size_t)(g->wt - g->wp) * sizeof(float));
    }
  }

  float *acc = tile + g->tile_elems;
  const int64_t len = rows * g->pitch;
  const int dense_3x3 = kh_n == 3 && kw_n == 3 && dh == 1 && dw == 1 && sw <= 2;
  const convcl_depthwise_fns *fns = dp->fns;
  for (int64_t j = 0; j < mult; j++) {
    const int64_t oc = ic * mult + j;
    const float *w = dp->weights + oc * p->kernel_elems;
    const float b = p->has_bias ? dp->bias[oc] : 0.0f;
    float *out = job->output + (n * p->k + oc) * plane_out + (od * p->out[1] + oh0) * ow_n;
    if (dense_3x3 && kd_n == 1 && ow_n >= DIRECT_MIN_WIDTH) {
      fns->rows_3x3(out, ow_n, rows, tile, g->wt, sh, sw, w, b, p->relu);
      continue;
    }
    for (int64_t f = 0; f < len; f++) acc[f] = b;
    for (int64_t kd = 0; kd < kd_n; kd++) {
      const float *slice = tile + kd * g->tile_rows * g->wt;
      const float *wd = w + kd * kh_n * kw_n;
      if (dense_3x3) {
        fns->dense_3x3(acc, slice, wd, g->wt, sw, len);
        continue;
      }
      for (int64_t kh = 0; kh < kh_n; kh++)
        for (int64_t kw = 0; kw < kw_n; kw++)
          fns->tap(acc, slice + kh * dh * g->wt + kw * dw, wd[kh * kw_n + kw], sw, len);
    }
    for (int64_t oh = 0; oh < rows; oh++) {
      const float *src = acc + oh * g->pitch;
      float *dst = out + oh * ow_n;
      if (p->relu)
        for (int64_t ow = 0; ow < ow_n; ow++) dst[ow] = convcl_cpu_relu(src[ow]);
      else
        memcpy(dst, src, (size_t)ow_n * sizeof(float));
    }
  }
  atomic_store(&dp->slot_busy[slot], 0);
}

/* Task = (n, block of CONVCL_DEPTHWISE_CHANNELS channels), whole planes: the block's
 * padded input gathered channel-minor (the padding mode applied there), the outputs
 * computed as vectors of channels, then each channel's plane written out. */
static void block_task(void *arg, int64_t task) {
  enum { C = CONVCL_DEPTHWISE_CHANNELS };
  const depthwise_job *job = arg;
  const convcl_problem *p = job->p;
  depthwise_plan *dp = job->dp;
  const geometry *g = &dp->g;
  const int64_t n = task / g->cblocks, c0 = task % g->cblocks * C;
  const int64_t count = p->c - c0 < C ? p->c - c0 : C;
  const int64_t ih_n = p->in[1], iw_n = p->in[2], plane_in = ih_n * iw_n;
  const int64_t plane_out = p->out[1] * p->out[2];

  const int slot = claim_slot(dp);
  float *tile = dp->scratch + (size_t)slot * g->slot_elems;
  float *outs = tile + g->tile_rows * g->wp * C;

  const float *x = job->input + (n * p->c + c0) * plane_in;
  for (int64_t r = 0; r < g->tile_rows; r++) {
    const int64_t ih = convcl_cpu_source_index(p->mode, r - p->pad_begin[1], ih_n);
    for (int64_t col = 0; col < g->wp; col++) {
      const int64_t iw = convcl_cpu_source_index(p->mode, col - p->pad_begin[2], iw_n);
      float *d = tile + (r * g->wp + col) * C;
      for (int64_t c = 0; c < C; c++)
        d[c] = c < count && ih >= 0 && iw >= 0 ? x[c * plane_in + ih * iw_n + iw] : 0.0f;
    }
  }
  const convcl_depthwise_block b = {p->kernel[1], p->kernel[2], p->dilation[1], p->dilation[2],
                                    p->stride[1], p->stride[2], p->out[1],      p->out[2],
                                    g->wp,        p->relu};
  dp->fns->channels(outs, tile, dp->weights + c0 * p->kernel_elems, dp->bias + c0, &b);
  float *y = job->output + (n * p->k + c0) * plane_out;
  for (int64_t c = 0; c < count; c++)
    for (int64_t i = 0; i < plane_out; i++) y[c * plane_out + i] = outs[i * C + c];
  atomic_store(&dp->slot_busy[slot], 0);
}

static convcl_status depthwise_run(convcl_plan *plan, const float *input, float *output) {
  depthwise_plan *dp = plan->impl;
  depthwise_job job = {&plan->problem, dp, input, output};
  const convcl_problem *p = &plan->problem;
  convcl_pool *pool = convcl_cpu_pool(plan->ctx);
  if (dp->g.blocked)
    convcl_pool_for(pool, p->n * dp->g.cblocks, block_task, &job);
  else
    convcl_pool_for(pool, p->n * p->c * p->out[0] * dp->g.blocks, depthwise_task, &job);
  return CONVCL_OK;
}

/* Two entries of one algorithm: the backend lists the first ahead of the implicit GEMM
 * and the second after it, so AUTO takes depthwise only where it wins, and a request
 * for depthwise by name runs whatever the multiplier. */
const convcl_solver convcl_cpu_depthwise_preferred = {
    .algo = CONVCL_ALGO_DEPTHWISE,
    .applicable = depthwise_preferred,
    .workspace = depthwise_workspace,
    .create = depthwise_create,
    .run = depthwise_run,
    .destroy = depthwise_destroy,
};

const convcl_solver convcl_cpu_depthwise = {
    .algo = CONVCL_ALGO_DEPTHWISE,
    .applicable = depthwise_applicable,
    .workspace = depthwise_workspace,
    .create = depthwise_create,
    .run = depthwise_run,
    .destroy = depthwise_destroy,
};
