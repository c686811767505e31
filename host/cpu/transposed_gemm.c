/* Transposed convolution on the CPU as a GEMM plus col2im. Per image and group
 *   cols[Kg * R, P] = Wt[Kg * R, Cg] x X[Cg, P]
 * with Kg = out channels per group, R the taps, Cg = in channels per group and P the
 * input positions; row (oc, t) of cols then adds into out[oc] at
 *   o = i * stride - pad_begin + t * dilation
 * per spatial dimension, dropping o outside the output. Every product is one the
 * convolution needs: no zero insertion, no stride^2 waste. X is already [Cg, P]
 * row-major, so the GEMM's B is a plain copy into panels; Wt is PyTorch's weight
 * [C, Kg, R] read per group as [Cg, Kg * R], transposed and packed at plan time into
 * the microkernel's MR-row panels.
 * Neighbouring input positions scatter into overlapping outputs, so tasks never split
 * P itself: a task owns (image, group, block of output channels, block of output rows
 * along the outermost dimension that has more than one), runs the GEMM over the input
 * rows that reach its output rows and keeps only what lands there. Each output element
 * is written by one task in a fixed order and results do not depend on the schedule;
 * row blocks, which recompute the few input rows that neighbouring blocks share, are
 * used only where channel blocks alone leave threads idle.
 * Inside a task P goes in chunks of NC columns, so cols stays small.
 * Where P is small (the first layers of a generator: 1x1, 4x4) NR-wide panels of P
 * would be mostly padding, so the GEMM runs swapped, cols^T = X^T x Wt^T, with P
 * along the microkernel's MR rows; the packing is the same with MR and NR exchanged
 * and PyTorch's weight already is Wt^T. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A KC x NR panel of B stays in L1 while the microkernel walks the task's A panels
 * (ROWS_TARGET x KC, 256 KB) from L2; the task's cols tile (ROWS_TARGET x NC) stays in
 * L2 between the GEMM that writes it and the col2im that reads it. */
enum { KC_MAX = 256, NC_MAX = 256, ROWS_TARGET = 256 };

/* Below this many rows per task the GEMM re-packs X for too little work, and below
 * this many output rows per row block the shared input rows cost too much. */
enum { ROWS_MIN = 64, OUT_ROWS_MIN = 8 };

typedef struct blocking {
  int64_t cg, kg, taps, npos; /* per group: C / groups, K / groups, R, P */
  int64_t kc;                 /* Cg split into equal blocks of at most KC_MAX */
  int64_t ocb, oblocks;       /* out channels per task and blocks per group */
  int sdim;                   /* the outermost output dimension larger than 1 (or W) */
  int64_t rblocks;            /* blocks of output rows along sdim */
  int64_t rows;               /* ocb x R rows of cols */
  int swapped;                /* the GEMM computes cols^T: P along MR, rows along NR */
  int64_t wstep, xstep;       /* panel widths of packed Wt and of packed X: MR, NR or NR, MR */
  int64_t wpanels;            /* ceil(rows / wstep) */
  int64_t nc;                 /* positions of one P chunk, whole X panels */
  int64_t tasks;              /* images x groups x oblocks x rblocks */
  int64_t slots;              /* threads that get a task: min(threads, tasks) */
  size_t tile_bytes;          /* one slot's packed X tile; its cols tile follows */
  size_t slot_bytes;
} blocking;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static void set_oblocks(const convcl_problem *p, blocking *b, int64_t ocb) {
  b->oblocks = ceil_div(b->kg, ocb);
  b->ocb = ceil_div(b->kg, b->oblocks); /* as even as whole channels allow */
  b->rows = b->ocb * b->taps;
  b->tasks = p->n * p->groups * b->oblocks * b->rblocks;
}

static void set_slots(int threads, blocking *b) {
  b->wpanels = ceil_div(b->rows, b->wstep);
  b->slots = min64(threads, b->tasks);
  b->tile_bytes = align64((size_t)(b->kc * b->nc) * sizeof(float));
  b->slot_bytes = b->tile_bytes + align64((size_t)(b->rows * b->nc) * sizeof(float));
}

static void plan_blocking(const convcl_problem *p, const convcl_cpu_isa *isa, int threads,
                          blocking *b) {
  b->cg = p->c / p->groups;
  b->kg = p->k / p->groups;
  b->taps = p->kernel_elems;
  b->npos = p->in[0] * p->in[1] * p->in[2];
  b->kc = ceil_div(b->cg, ceil_div(b->cg, KC_MAX));
  /* Blocks of about ROWS_TARGET rows, smaller (down to ROWS_MIN) where images x
   * groups alone leave threads idle, then blocks of output rows for the threads still
   * idle. */
  const int64_t units = p->n * p->groups;
  int64_t ocb = max64(1, ROWS_TARGET / b->taps);
  ocb = min64(ocb, ceil_div(b->kg, min64(b->kg, ceil_div(threads, units))));
  ocb = max64(ocb, min64(b->kg, ceil_div(ROWS_MIN, b->taps)));
  b->sdim = p->out[0] > 1 ? 0 : p->out[1] > 1 ? 1 : 2;
  b->rblocks = 1;
  set_oblocks(p, b, ocb);
  b->rblocks = max64(1, min64(ceil_div(threads, b->tasks), p->out[b->sdim] / OUT_ROWS_MIN));
  set_oblocks(p, b, ocb);
  /* The orientation that multiplies fewer padded rows and columns; on a tie the
   * plain one, whose col2im reads cols row by row. */
  const int64_t mr = isa->mr, nr = isa->nr;
  const int64_t plain = ceil_div(b->rows, mr) * mr * ceil_div(b->npos, nr) * nr;
  const int64_t swapped = ceil_div(b->npos, mr) * mr * ceil_div(b->rows, nr) * nr;
  b->swapped = swapped < plain;
  b->wstep = b->swapped ? nr : mr;
  b->xstep = b->swapped ? mr : nr;
  /* Whole X panels: packing fills the last one to its full width (MR = 6 does not
   * divide NC_MAX). */
  b->nc = min64(NC_MAX / b->xstep, ceil_div(b->npos, b->xstep)) * b->xstep;
  set_slots(threads, b);
  const size_t budget = convcl_cpu_workspace_budget(p);
  /* Over budget: narrower P chunks first (they only cost loop overhead), then fewer
   * channels per task. */
  while ((size_t)b->slots * b->slot_bytes > budget && (b->nc > b->xstep || b->ocb > 1)) {
    if (b->nc > b->xstep)
      b->nc = max64(b->xstep, b->nc / 2 / b->xstep * b->xstep);
    else
      set_oblocks(p, b, b->ocb / 2);
    set_slots(threads, b);
  }
}

typedef struct tg_plan {
  const convcl_cpu_isa *isa;
  blocking blk;
  float *a;            /* packed Wt, see pack_weights */
  float *bias;         /* [k], NULL without bias */
  int64_t *inside[2];  /* per W tap: first and last+1 input column that lands inside */
  unsigned char *work; /* slots x slot_bytes, 64-byte aligned */
} tg_plan;

static int tg_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return p->transposed;
}

static size_t tg_workspace(const convcl_context *ctx, const convcl_problem *p) {
  blocking b;
  plan_blocking(p, convcl_cpu_isa_get(), convcl_pool_threads(convcl_cpu_pool(ctx)), &b);
  return (size_t)b.slots * b.slot_bytes;
}

static void tg_destroy(convcl_plan *plan) {
  tg_plan *tp = plan->impl;
  if (!tp) return;
  for (int i = 0; i < 2; i++) free(tp->inside[i]);
  free(tp->a);
  free(tp->bias);
  free(tp->work);
  free(tp);
  plan->impl = NULL;
}

static void *alloc_aligned(size_t bytes) {
  void *ptr = NULL;
  /* 64 bytes: panels start on cache lines, so vector loads never split one. */
  return posix_memalign(&ptr, 64, bytes ? bytes : 1) == 0 ? ptr : NULL;
}

/* Where packed Wt holds group g, channel block ob, the K block from in channel k0
 * (kc of them) and panel mp: kc steps of wstep rows, the panels of one K block back
 * to back. Every block has room for ocb channels; panels start at its first row. */
static int64_t w_offset(const blocking *b, int64_t g, int64_t ob, int64_t k0, int64_t kc,
                        int64_t mp) {
  return ((g * b->oblocks + ob) * b->cg + k0) * b->wpanels * b->wstep + mp * kc * b->wstep;
}

/* W is PyTorch's [in][out / groups][taps]; row r of a block is channel r / R of the
 * block and tap r % R; rows past the block's channels are zero. */
static void pack_weights(const convcl_problem *p, const tg_plan *tp, const float *w) {
  const blocking *b = &tp->blk;
  const int64_t mr = b->wstep;
  for (int64_t g = 0; g < p->groups; g++)
    for (int64_t ob = 0; ob < b->oblocks; ob++) {
      const int64_t rows = min64(b->ocb, b->kg - ob * b->ocb) * b->taps;
      for (int64_t k0 = 0; k0 < b->cg; k0 += b->kc) {
        const int64_t kc = min64(b->kc, b->cg - k0);
        for (int64_t mp = 0; mp < b->wpanels; mp++) {
          float *dst = tp->a + w_offset(b, g, ob, k0, kc, mp);
          for (int64_t r = 0; r < kc; r++)
            for (int64_t i = 0; i < mr; i++) {
              const int64_t row = mp * mr + i, oc = ob * b->ocb + row / b->taps;
              dst[r * mr + i] =
                  row < rows ? w[((g * b->cg + k0 + r) * b->kg + oc) * b->taps + row % b->taps]
                             : 0.0f;
            }
        }
      }
    }
}

static convcl_status tg_create(convcl_plan *plan, const float *weights, const float *bias) {
  const convcl_problem *p = &plan->problem;
  tg_plan *tp = calloc(1, sizeof *tp);
  if (!tp) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = tp;
  tp->isa = convcl_cpu_isa_get();
  plan_blocking(p, tp->isa, convcl_pool_threads(convcl_cpu_pool(plan->ctx)), &tp->blk);
  const blocking *b = &tp->blk;
  const size_t packed = (size_t)(p->groups * b->oblocks * b->cg * b->wpanels * b->wstep);
  tp->a = alloc_aligned(packed * sizeof(float));
  tp->work = alloc_aligned((size_t)b->slots * b->slot_bytes);
  int ok = tp->a && tp->work;
  if (ok && p->has_bias) ok = (tp->bias = malloc((size_t)p->k * sizeof(float))) != NULL;
  for (int i = 0; i < 2 && ok; i++)
    ok = (tp->inside[i] = malloc((size_t)p->kernel[2] * sizeof(int64_t))) != NULL;
  if (!ok) {
    tg_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "cannot allocate %zu packed weights and a %zu-byte workspace for a CPU "
                        "transposed-GEMM plan",
                        packed, plan->workspace_bytes);
  }
  pack_weights(p, tp, weights);
  if (p->has_bias) memcpy(tp->bias, bias, (size_t)p->k * sizeof(float));
  /* Input columns iw whose W tap t lands inside the output row, so col2im's inner
   * loop needs no test. */
  const int64_t sw = p->stride[2], ow_n = p->out[2];
  for (int64_t t = 0; t < p->kernel[2]; t++) {
    const int64_t off = t * p->dilation[2] - p->pad_begin[2];
    const int64_t lo = off >= 0 ? 0 : ceil_div(-off, sw);
    const int64_t hi = ow_n - off <= 0 ? 0 : min64(ceil_div(ow_n - off, sw), p->in[2]);
    tp->inside[0][t] = min64(lo, hi);
    tp->inside[1][t] = hi;
  }
  return CONVCL_OK;
}

/* Packs rows [k0, k0 + kc) and columns [j0, j0 + cols) of X (one image and group,
 * rows npos floats apart) into nr-column panels, which are B's NR-column panels or,
 * swapped, X^T's MR-row panels; the last panel's columns past cols are zero. */
static void pack_b(const float *x, int64_t npos, int64_t nr, int64_t k0, int64_t kc, int64_t j0,
                   int64_t cols, float *dst) {
  for (int64_t r = 0; r < kc; r++) {
    const float *src = x + (k0 + r) * npos + j0;
    for (int64_t j = 0; j < cols; j += nr) {
      float *d = dst + j * kc + r * nr;
      const int64_t len = min64(nr, cols - j);
      memcpy(d, src + j, (size_t)len * sizeof(float));
      if (len < nr) memset(d + len, 0, (size_t)(nr - len) * sizeof(float));
    }
  }
}

/* Adds the cols tile (channels x R taps, row after row rs floats apart; input
 * positions [j0, j0 + cols), cs floats apart) into the output planes of those channels,
 * where the output index lies in [lo, hi) per dimension. Input row
 * by input row: a row whose D or H tap lands outside the output adds nothing; otherwise the W range
 * tp->inside lands inside and adds with the W stride. */
static void col2im(const convcl_problem *p, const tg_plan *tp, const int64_t lo[3],
                   const int64_t hi[3], const float *tile, int64_t rs, int64_t cs, int64_t channels,
                   int64_t j0, int64_t cols, float *out) {
  const int64_t kh_n = p->kernel[1], kw_n = p->kernel[2], taps = p->kernel_elems;
  const int64_t ih_n = p->in[1], iw_n = p->in[2];
  const int64_t od_n = p->out[0], oh_n = p->out[1], ow_n = p->out[2];
  const int64_t sd = p->stride[0], sh = p->stride[1], sw = p->stride[2];
  const int64_t plane = od_n * oh_n * ow_n;
  /* Segment, tap, channel: the index arithmetic is done once for all channels, and
   * one input row touches only a few output rows of each channel. */
  for (int64_t j = j0; j < j0 + cols;) {
    const int64_t id = j / (ih_n * iw_n), ih = j / iw_n % ih_n, iw = j % iw_n;
    const int64_t end = min64(iw_n, iw + j0 + cols - j);
    for (int64_t t = 0; t < taps; t++) {
      const int64_t kd = t / (kh_n * kw_n), kh = t / kw_n % kh_n, kw = t % kw_n;
      const int64_t od = id * sd + kd * p->dilation[0] - p->pad_begin[0];
      const int64_t oh = ih * sh + kh * p->dilation[1] - p->pad_begin[1];
      const int64_t offw = kw * p->dilation[2] - p->pad_begin[2];
      int64_t a = max64(iw, tp->inside[0][kw]), z = min64(end, tp->inside[1][kw]);
      if (lo[2] > 0 || hi[2] < ow_n) {
        a = max64(a, lo[2] - offw <= 0 ? 0 : ceil_div(lo[2] - offw, sw));
        z = min64(z, hi[2] - offw <= 0 ? 0 : ceil_div(hi[2] - offw, sw));
      }
      if (od < lo[0] || od >= hi[0] || oh < lo[1] || oh >= hi[1] || a >= z) continue;
      const int64_t len = z - a;
      const int64_t dst = (od * oh_n + oh) * ow_n + a * sw + offw;
      const float *src = tile + t * rs + ((j - j0) + (a - iw)) * cs;
      for (int64_t oc = 0; oc < channels; oc++) {
        float *d = out + oc * plane + dst;
        const float *c = src + oc * taps * rs;
        if (cs != 1) {
          for (int64_t e = 0; e < len; e++) d[e * sw] += c[e * cs];
        } else if (sw == 1) {
          for (int64_t e = 0; e < len; e++) d[e] += c[e];
        } else if (sw == 2) {
          /* Stride 2 is every upsampling layer; a constant stride vectorizes. */
          for (int64_t e = 0; e < len; e++) d[2 * e] += c[e];
        } else {
          for (int64_t e = 0; e < len; e++) d[e * sw] += c[e];
        }
      }
    }
    j += end - iw;
  }
}

/* The same for the swapped tile where the kernel is wider than the input (a
 * generator's first layers: 1 x 1 or 4 x 4 inputs, 4 x 4 taps): per input position,
 * channel and D and H tap, the W taps lie side by side in a row of cols^T and land
 * dilation apart in one output row, so they add as one run, where col2im's runs along
 * an input row would be shorter. On a 1 x 1 input (512 channels, 4 x 4 taps) col2im
 * spent as long adding the 8192 values one at a time as the GEMM multiplying them. */
static void col2im_swapped(const convcl_problem *p, const int64_t lo[3], const int64_t hi[3],
                           const float *tile, int64_t cs, int64_t channels, int64_t j0,
                           int64_t cols, float *out) {
  const int64_t kd_n = p->kernel[0], kh_n = p->kernel[1], kw_n = p->kernel[2];
  const int64_t ih_n = p->in[1], iw_n = p->in[2], oh_n = p->out[1], ow_n = p->out[2];
  const int64_t plane = p->out[0] * oh_n * ow_n, taps = p->kernel_elems, dw = p->dilation[2];
  for (int64_t j = j0; j < j0 + cols; j++) {
    const int64_t id = j / (ih_n * iw_n), ih = j / iw_n % ih_n, iw = j % iw_n;
    /* W tap kw lands at base + kw * dw: those in [lo[2], hi[2]). */
    const int64_t base = iw * p->stride[2] - p->pad_begin[2];
    const int64_t ka = lo[2] - base <= 0 ? 0 : ceil_div(lo[2] - base, dw);
    const int64_t kz = min64(kw_n, hi[2] - base <= 0 ? 0 : ceil_div(hi[2] - base, dw));
    if (ka >= kz) continue;
    for (int64_t kd = 0; kd < kd_n; kd++) {
      const int64_t od = id * p->stride[0] + kd * p->dilation[0] - p->pad_begin[0];
      if (od < lo[0] || od >= hi[0]) continue;
      for (int64_t kh = 0; kh < kh_n; kh++) {
        const int64_t oh = ih * p->stride[1] + kh * p->dilation[1] - p->pad_begin[1];
        if (oh < lo[1] || oh >= hi[1]) continue;
        const int64_t row = (od * oh_n + oh) * ow_n + base;
        const float *c = tile + (j - j0) * cs + (kd * kh_n + kh) * kw_n;
        for (int64_t oc = 0; oc < channels; oc++) {
          float *d = out + oc * plane;
          const float *src = c + oc * taps;
          for (int64_t kw = ka; kw < kz; kw++) d[row + kw * dw] += src[kw];
        }
      }
    }
  }
}

typedef struct tg_job {
  const convcl_problem *p;
  const tg_plan *tp;
  const float *input;
  float *output;
  atomic_int_fast64_t next; /* the next task to hand out */
} tg_job;

/* The input positions [*j_lo, *j_hi) whose taps can reach output rows [r0, r1) along
 * dimension d: the input rows that do, where the dimensions outside d have one input
 * row (so those positions are one stretch), else all of P. */
static void input_range(const convcl_problem *p, const blocking *b, int d, int64_t r0, int64_t r1,
                        int64_t *j_lo, int64_t *j_hi) {
  int64_t inner = 1, outer = 1;
  for (int i = d + 1; i < 3; i++) inner *= p->in[i];
  for (int i = 0; i < d; i++) outer *= p->in[i];
  *j_lo = 0;
  *j_hi = b->npos;
  if (outer != 1) return;
  const int64_t s = p->stride[d], reach = (p->kernel[d] - 1) * p->dilation[d];
  const int64_t first = r0 + p->pad_begin[d] - reach;
  const int64_t lo = first <= 0 ? 0 : ceil_div(first, s);
  const int64_t hi = min64(p->in[d], (r1 - 1 + p->pad_begin[d]) / s + 1);
  *j_lo = lo * inner;
  *j_hi = max64(lo, hi) * inner;
}

/* The end of the output rows along dimension d that are final once input rows
 * [0, in_rows) along d have been added (INT64_MAX: every input row; the result
 * INT64_MAX: all of them are). Where an input dimension before d is larger than 1,
 * positions do not come in row order and nothing is final before the end. */
static int64_t final_rows(const convcl_problem *p, int d, int64_t in_rows) {
  for (int i = 0; i < d; i++)
    if (p->in[i] != 1) return in_rows == INT64_MAX ? INT64_MAX : INT64_MIN;
  if (in_rows >= p->in[d]) return INT64_MAX;
  /* Input row i reaches output rows up to i * stride - pad_begin + (k - 1) * dilation,
   * and row o at the latest from input row (o + pad_begin) / stride. */
  return in_rows * p->stride[d] - p->pad_begin[d];
}

/* The fused ReLU on output rows [r0, r1) along sdim of channels planes, inner floats a
 * row; torch.relu keeps NaN, so only values below 0 change. */
static void relu_rows(float *out, int64_t channels, int64_t plane, int64_t inner, int64_t r0,
                      int64_t r1) {
  for (int64_t oc = 0; oc < channels; oc++) {
    float *o = out + oc * plane;
    for (int64_t i = r0 * inner; i < r1 * inner; i++) o[i] = o[i] < 0.0f ? 0.0f : o[i];
  }
}

/* One task: one block of output rows of one block of output channels of one image and
 * group, set to the bias and then, P chunk by P chunk, the GEMM over all input channels
 * and its col2im. */
static void run_task(const tg_job *job, int64_t task, unsigned char *slot) {
  const convcl_problem *p = job->p;
  const tg_plan *tp = job->tp;
  const blocking *b = &tp->blk;
  const int64_t mr = tp->isa->mr, nr = tp->isa->nr;
  const int64_t rb = task % b->rblocks, ob = task / b->rblocks % b->oblocks;
  const int64_t g = task / b->rblocks / b->oblocks % p->groups;
  const int64_t n = task / b->rblocks / b->oblocks / p->groups;
  const int64_t oc0 = g * b->kg + ob * b->ocb, channels = min64(b->ocb, b->kg - ob * b->ocb);
  const int64_t rows = channels * b->taps, plane = p->out[0] * p->out[1] * p->out[2];
  const float *x = job->input + (n * p->c + g * b->cg) * b->npos;
  float *out = job->output + (n * p->k + oc0) * plane;
  /* The dimensions outside sdim have one output row, so the owned rows are one
   * stretch of each plane. */
  int64_t lo[3] = {0, 0, 0}, hi[3] = {p->out[0], p->out[1], p->out[2]}, inner = 1;
  convcl_cpu_block_range(p->out[b->sdim], b->rblocks, rb, &lo[b->sdim], &hi[b->sdim]);
  for (int i = b->sdim + 1; i < 3; i++) inner *= p->out[i];
  for (int64_t oc = 0; oc < channels; oc++) {
    const float v = tp->bias ? tp->bias[oc0 + oc] : 0.0f;
    float *o = out + oc * plane;
    for (int64_t i = lo[b->sdim] * inner; i < hi[b->sdim] * inner; i++) o[i] = v;
  }
  int64_t j_lo, j_hi, in_inner = 1, relu_from = lo[b->sdim];
  input_range(p, b, b->sdim, lo[b->sdim], hi[b->sdim], &j_lo, &j_hi);
  for (int i = b->sdim + 1; i < 3; i++) in_inner *= p->in[i];
  float *tile = (float *)slot;
  float *cols = (float *)(slot + b->tile_bytes);
  for (int64_t j0 = j_lo; j0 < j_hi; j0 += b->nc) {
    const int64_t ncols = min64(b->nc, j_hi - j0);
    for (int64_t k0 = 0; k0 < b->cg; k0 += b->kc) {
      const int64_t kc = min64(b->kc, b->cg - k0);
      pack_b(x, b->npos, b->xstep, k0, kc, j0, ncols, tile);
      /* A B panel stays in L1 while the A panels stream over it from L2. */
      if (!b->swapped) {
        for (int64_t jp = 0; jp * nr < ncols; jp++)
          for (int64_t mp = 0; mp * mr < rows; mp++)
            tp->isa->gemm((size_t)kc, tp->a + w_offset(b, g, ob, k0, kc, mp), tile + jp * kc * nr,
                          cols + mp * mr * b->nc + jp * nr, (size_t)b->nc,
                          (size_t)min64(mr, rows - mp * mr), (size_t)min64(nr, ncols - jp * nr),
                          NULL, k0 > 0);
      } else {
        for (int64_t wp = 0; wp * nr < rows; wp++)
          for (int64_t xp = 0; xp * mr < ncols; xp++)
            tp->isa->gemm((size_t)kc, tile + xp * kc * mr, tp->a + w_offset(b, g, ob, k0, kc, wp),
                          cols + xp * mr * b->rows + wp * nr, (size_t)b->rows,
                          (size_t)min64(mr, ncols - xp * mr), (size_t)min64(nr, rows - wp * nr),
                          NULL, k0 > 0);
      }
    }
    if (!b->swapped)
      col2im(p, tp, lo, hi, cols, b->nc, 1, channels, j0, ncols, out);
    else if (p->kernel[2] > p->in[2])
      col2im_swapped(p, lo, hi, cols, b->rows, channels, j0, ncols, out);
    else
      col2im(p, tp, lo, hi, cols, 1, b->rows, channels, j0, ncols, out);
    /* The ReLU goes on rows as they become final, while col2im has left them in cache. */
    if (p->relu) {
      const int64_t last = j0 + ncols >= j_hi ? INT64_MAX : (j0 + ncols) / in_inner;
      const int64_t end = max64(relu_from, min64(hi[b->sdim], final_rows(p, b->sdim, last)));
      relu_rows(out, channels, plane, inner, relu_from, end);
      relu_from = end;
    }
  }
  if (p->relu) relu_rows(out, channels, plane, inner, relu_from, hi[b->sdim]);
}

/* One call per workspace slot; each slot pulls tasks until none are left. */
static void run_slot(void *arg, int64_t slot) {
  tg_job *job = arg;
  unsigned char *work = job->tp->work + (size_t)slot * job->tp->blk.slot_bytes;
  for (;;) {
    const int64_t task = atomic_fetch_add(&job->next, 1);
    if (task >= job->tp->blk.tasks) return;
    run_task(job, task, work);
  }
}

static convcl_status tg_run(convcl_plan *plan, const float *input, float *output) {
  tg_job job = {.p = &plan->problem, .tp = plan->impl, .input = input, .output = output};
  atomic_init(&job.next, 0);
  const tg_plan *tp = plan->impl;
  convcl_pool_for(convcl_cpu_pool(plan->ctx), tp->blk.slots, run_slot, &job);
  return CONVCL_OK;
}

const convcl_solver convcl_cpu_transposed_gemm = {
    .algo = CONVCL_ALGO_TRANSPOSED_GEMM,
    .applicable = tg_applicable,
    .workspace = tg_workspace,
    .create = tg_create,
    .run = tg_run,
    .destroy = tg_destroy,
};
