/* Implicit-GEMM convolution on the CPU. Per image and group the convolution is
 *   out[M, P] = W[M, Kd] x col[Kd, P]
 * with M = out channels per group, P the output positions and Kd = taps x in channels
 * per group, ordered tap-major (kk = tap * Cg + c) so that a run of rows shares one
 * tap and with it the mapping from output positions to input offsets.
 * W is packed once at plan time into MR-row panels; col (im2col) is never built whole:
 * each task packs KC x NC tiles of it into NR-column panels in its own slice of the
 * workspace, straight from the input, and a register-blocked microkernel multiplies
 * panel pairs. Per spatial dimension a gather table maps (output index, tap) to the
 * input index or -1, as in direct.c, so stride, dilation and every padding mode are
 * resolved while packing and the GEMM never sees them. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Cache blocking (BLIS's loops): a KC x NR panel of B (32 KB at NR = 32) stays in L1
 * while the microkernel walks up to MC_BYTES of A panels over it from L2, and the
 * KC x NC tile of B a task packs (at most 256 KB) stays in L2 while it is used. The
 * sizes suit 48 KB of L1 and 1 to 2 MB of L2 per core (Sapphire Rapids, Zen 4). */
enum { KC_MAX = 256, NC_MAX = 256, MC_BYTES = 512 * 1024 };

/* Relative costs for choosing the parallel split, in cycles per float: packing a
 * float of B (a copy or a gather) and streaming a float of A from L3 or memory. */
#define PACK_COST 0.5
#define STREAM_COST 0.25
/* Adding a float of a K slice's partial output into the output, see ksplit. */
#define REDUCE_COST 0.5

/* The most K slices a split takes. */
enum { KSPLIT_MAX = 4 };

/* How a problem is cut into blocks and tasks; computed the same way by workspace()
 * and create() from the problem, the ISA and the thread count. */
typedef struct blocking {
  int64_t m, cg, taps, kdim, npos; /* per image and group: M, C / groups, R, Kd, P */
  int64_t mpanels, npanels;        /* ceil(M / MR), ceil(P / NR) */
  int64_t kc;                      /* Kd split into blocks of at most KC_MAX, see ksplit */
  int64_t mblocks, nblocks;        /* M and P split into this many runs of whole panels */
  int64_t nc;                      /* the most columns of one P block, whole panels */
  /* K split into this many slices of whole K blocks (split-K): where splitting M would
   * pack the same B twice and splitting P stream the same A twice, each slice packs
   * and streams its own share. Slice 0 writes the output, the others their partial
   * sums in the workspace, and a second pass adds those in, in slice order. */
  int64_t ksplit, kslice_blocks;
  int64_t tasks;        /* images x groups x ksplit x nblocks x mblocks */
  int64_t slots;        /* threads that get a task: min(threads, tasks), within budget */
  size_t slot_bytes;    /* one thread's workspace, see slot_parts */
  size_t partial_bytes; /* the partial sums of slices 1.. for all images and groups */
} blocking;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* A slot holds the B tile and the runs of the current tap (at most one per column). */
static void slot_parts(const blocking *b, size_t *tile, size_t *runs) {
  *tile = align64((size_t)(b->kc * b->nc) * sizeof(float));
  *runs = align64((size_t)b->nc * sizeof(convcl_pack_run));
}

/* Estimated cycles of the slowest thread for a split: every task multiplies its
 * panels, streams its rows of A once per K block and packs its columns of B, over its
 * slice of K; then the partial sums of all but the first slice are added in. */
static double split_cost(const blocking *b, const convcl_cpu_isa *isa, int threads, int64_t units,
                         int64_t mblocks, int64_t nblocks, int64_t ksplit, int64_t kc) {
  const int64_t mp = ceil_div(b->mpanels, mblocks), np = ceil_div(b->npanels, nblocks);
  const double kd = (double)(ceil_div(ceil_div(b->kdim, kc), ksplit) * kc);
  const double task = (double)(mp * isa->mr) * (double)(np * isa->nr) * kd / isa->fma_per_cycle +
                      (double)(mp * isa->mr) * kd * STREAM_COST +
                      (double)(np * isa->nr) * kd * PACK_COST;
  const double reduce =
      (double)(units * (ksplit - 1)) * (double)(b->m * b->npos) * REDUCE_COST / threads;
  return (double)ceil_div(units * ksplit * mblocks * nblocks, threads) * task + reduce;
}

static void plan_blocking(const convcl_problem *p, const convcl_cpu_isa *isa, int threads,
                          blocking *b) {
  b->m = p->k / p->groups;
  b->cg = p->c / p->groups;
  b->taps = p->kernel_elems;
  b->kdim = b->cg * b->taps;
  b->npos = p->out[0] * p->out[1] * p->out[2];
  b->mpanels = ceil_div(b->m, isa->mr);
  b->npanels = ceil_div(b->npos, isa->nr);
  /* Every split with P blocks of at most NC_MAX columns; the cheapest wins, on a tie
   * the one with fewer K slices, then fewer P blocks, then fewer M blocks. Splitting P
   * re-streams A per block, splitting M re-packs B per block, splitting K adds a pass
   * over the output, and too few tasks leave threads idle. */
  const int64_t units = p->n * p->groups;
  const int64_t nb_min = ceil_div(b->npanels * isa->nr, NC_MAX);
  const int64_t nb_max = min64(b->npanels, nb_min + 64), mb_max = min64(b->mpanels, 64);
  /* Split-K only where its partial sums fit the workspace budget beside the slots, and
   * with Kd cut into equal blocks of at most KC_MAX that the slices share evenly. */
  const size_t budget = convcl_cpu_workspace_budget(p);
  const size_t per_slice = (size_t)(units * b->m * b->npos) * sizeof(float);
  double best = -1.0;
  for (int64_t ks = 1; ks <= min64(b->kdim, KSPLIT_MAX); ks++) {
    if (ks > 1 && (size_t)(ks - 1) * per_slice > budget / 2) break;
    const int64_t kc = ceil_div(b->kdim, ks * ceil_div(b->kdim, ks * KC_MAX));
    for (int64_t nb = nb_min; nb <= nb_max; nb++)
      for (int64_t mb = 1; mb <= mb_max; mb++) {
        const double cost = split_cost(b, isa, threads, units, mb, nb, ks, kc);
        if (best < 0.0 || cost < best) {
          best = cost;
          b->mblocks = mb;
          b->nblocks = nb;
          b->ksplit = ks;
          b->kc = kc;
        }
      }
  }
  const int64_t kblocks = ceil_div(b->kdim, b->kc);
  b->kslice_blocks = ceil_div(kblocks, b->ksplit);
  b->ksplit = ceil_div(kblocks, b->kslice_blocks);
  b->nc = ceil_div(b->npanels, b->nblocks) * isa->nr;
  b->tasks = units * b->ksplit * b->nblocks * b->mblocks;
  size_t tile, runs;
  slot_parts(b, &tile, &runs);
  b->slot_bytes = tile + runs;
  b->partial_bytes = align64((size_t)(b->ksplit - 1) * per_slice);
  /* Fewer slots than threads where their workspace would pass the budget (many
   * threads): the slots left pull all the tasks. */
  const size_t room = budget - b->partial_bytes;
  b->slots = min64(min64(threads, b->tasks), (int64_t)(room / b->slot_bytes));
  if (b->slots < 1) b->slots = 1;
}

typedef struct igemm_plan {
  const convcl_cpu_isa *isa;
  blocking blk;
  float *a;            /* packed W, see convcl_cpu_pack_a */
  float *bias;         /* [k], NULL without bias */
  int64_t *table[3];   /* [out[i] * kernel[i]]: input index or -1 */
  int64_t *inside[2];  /* per W tap: first and last+1 output column that reads inside */
  unsigned char *work; /* slots x slot_bytes, then partial_bytes, 64-byte aligned */
} igemm_plan;

static int igemm_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return !p->transposed;
}

static size_t igemm_workspace(const convcl_context *ctx, const convcl_problem *p) {
  blocking b;
  plan_blocking(p, convcl_cpu_isa_get(), convcl_pool_threads(convcl_cpu_pool(ctx)), &b);
  return (size_t)b.slots * b.slot_bytes + b.partial_bytes;
}

static void igemm_destroy(convcl_plan *plan) {
  igemm_plan *ip = plan->impl;
  if (!ip) return;
  for (int i = 0; i < 3; i++) free(ip->table[i]);
  for (int i = 0; i < 2; i++) free(ip->inside[i]);
  free(ip->a);
  free(ip->bias);
  free(ip->work);
  free(ip);
  plan->impl = NULL;
}

static void *alloc_aligned(size_t bytes) {
  void *ptr = NULL;
  /* 64 bytes: panels start on cache lines, so vector loads never split one. */
  return posix_memalign(&ptr, 64, bytes ? bytes : 1) == 0 ? ptr : NULL;
}

void convcl_cpu_pack_a(const float *w, int64_t groups, int64_t m, int64_t cg, int64_t taps,
                       int64_t kc_max, int64_t mr, float *a) {
  const int64_t kdim = cg * taps, mpanels = (m + mr - 1) / mr;
  for (int64_t g = 0; g < groups; g++)
    for (int64_t k0 = 0; k0 < kdim; k0 += kc_max) {
      const int64_t kc = min64(kc_max, kdim - k0);
      for (int64_t mp = 0; mp < mpanels; mp++) {
        float *dst = a + convcl_cpu_a_offset(kdim, mpanels, mr, g, k0, kc, mp);
        for (int64_t r = 0; r < kc; r++) {
          const int64_t tap = (k0 + r) / cg, c = (k0 + r) % cg;
          for (int64_t i = 0; i < mr; i++) {
            const int64_t row = mp * mr + i;
            dst[r * mr + i] = row < m ? w[((g * m + row) * cg + c) * taps + tap] : 0.0f;
          }
        }
      }
    }
}

static int64_t a_offset(const igemm_plan *ip, int64_t g, int64_t k0, int64_t kc, int64_t mp) {
  return convcl_cpu_a_offset(ip->blk.kdim, ip->blk.mpanels, ip->isa->mr, g, k0, kc, mp);
}

static convcl_status igemm_create(convcl_plan *plan, const float *weights, const float *bias) {
  const convcl_problem *p = &plan->problem;
  igemm_plan *ip = calloc(1, sizeof *ip);
  if (!ip) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = ip;
  ip->isa = convcl_cpu_isa_get();
  plan_blocking(p, ip->isa, convcl_pool_threads(convcl_cpu_pool(plan->ctx)), &ip->blk);
  const blocking *b = &ip->blk;
  const size_t packed = (size_t)(p->groups * b->mpanels * b->kdim * ip->isa->mr);
  ip->a = alloc_aligned(packed * sizeof(float));
  ip->work = alloc_aligned((size_t)b->slots * b->slot_bytes + b->partial_bytes);
  int ok = ip->a && ip->work;
  if (ok && p->has_bias) ok = (ip->bias = malloc((size_t)p->k * sizeof(float))) != NULL;
  for (int i = 0; i < 3 && ok; i++)
    ok = (ip->table[i] = malloc((size_t)(p->out[i] * p->kernel[i]) * sizeof(int64_t))) != NULL;
  for (int i = 0; i < 2 && ok; i++)
    ok = (ip->inside[i] = malloc((size_t)p->kernel[2] * sizeof(int64_t))) != NULL;
  if (!ok) {
    igemm_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "cannot allocate %zu packed weights and a %zu-byte workspace for a CPU "
                        "implicit-GEMM plan",
                        packed, plan->workspace_bytes);
  }
  convcl_cpu_pack_a(weights, p->groups, b->m, b->cg, b->taps, b->kc, ip->isa->mr, ip->a);
  if (p->has_bias) memcpy(ip->bias, bias, (size_t)p->k * sizeof(float));
  for (int i = 0; i < 3; i++)
    for (int64_t o = 0; o < p->out[i]; o++)
      for (int64_t t = 0; t < p->kernel[i]; t++)
        ip->table[i][o * p->kernel[i] + t] = convcl_cpu_source_index(
            p->mode, o * p->stride[i] - p->pad_begin[i] + t * p->dilation[i], p->in[i]);
  /* Output columns ow whose W tap t reads ow * stride + offset inside the row, so
   * packing copies them without the table. */
  const int64_t sw = p->stride[2], iw_n = p->in[2];
  for (int64_t t = 0; t < p->kernel[2]; t++) {
    const int64_t off = t * p->dilation[2] - p->pad_begin[2];
    const int64_t hi = iw_n - off <= 0 ? 0 : min64(ceil_div(iw_n - off, sw), p->out[2]);
    const int64_t lo = off >= 0 ? 0 : ceil_div(-off, sw);
    ip->inside[0][t] = min64(lo, hi);
    ip->inside[1][t] = hi;
  }
  return CONVCL_OK;
}

/* Collects the runs of one tap, in column order. */
typedef struct run_list {
  convcl_pack_run *runs; /* dst: offsets in a packed row, so runs never cross a panel */
  int64_t count;
  int64_t nr, kc; /* panel width and rows of the tile the runs address */
} run_list;

/* Extends the last run by len columns from src with stride step if they continue it
 * with one stride; returns 0 (and changes nothing) if they do not. */
static int extend_run(convcl_pack_run *last, int64_t src, int64_t len, int64_t step) {
  const int64_t s = last->len > 1 ? last->step : src - last->src;
  if (src != last->src + last->len * s || (len > 1 && step != s)) return 0;
  last->step = s;
  last->len += (int32_t)len;
  return 1;
}

/* Appends len columns from col on whose source is src, src + step, ... (src -1:
 * zeros), split at panel boundaries and merged into the previous run where they
 * continue it, so contiguous stretches of consecutive output rows become one copy.
 * Calls come in column order without gaps. */
static void add_run(run_list *l, int64_t col, int64_t len, int64_t src, int64_t step) {
  while (len > 0) {
    const int64_t lane = col % l->nr, take = min64(len, l->nr - lane);
    convcl_pack_run *last = lane != 0 && l->count > 0 ? &l->runs[l->count - 1] : NULL;
    if (last && src < 0 && last->src < 0) {
      last->len += (int32_t)take;
    } else if (!(last && src >= 0 && last->src >= 0 && extend_run(last, src, take, step))) {
      l->runs[l->count++] = (convcl_pack_run){col / l->nr * l->kc * l->nr + lane,
                                              src < 0 ? -1 : src, step, (int32_t)take};
    }
    col += take;
    len -= take;
    if (src >= 0) src += take * step;
  }
}

/* The runs of one tap over columns [j0, j0 + cols) of a tile with kc rows, the last
 * panel's columns past cols included as zeros. Output row by output row: a row whose
 * D or H tap reads padding is zeros; otherwise the W range that reads inside the input
 * row (ip->inside) is one run with the W stride, and the few columns at either edge
 * go through the W table, which folds in the padding mode. */
static void tap_runs(const convcl_problem *p, const igemm_plan *ip, int64_t tap, int64_t j0,
                     int64_t cols, run_list *l) {
  const int64_t kd_n = p->kernel[0], kh_n = p->kernel[1], kw_n = p->kernel[2];
  const int64_t oh_n = p->out[1], ow_n = p->out[2], ih_n = p->in[1], iw_n = p->in[2];
  const int64_t kd = tap / (kh_n * kw_n), kh = tap / kw_n % kh_n, kw = tap % kw_n;
  const int64_t sw = p->stride[2], off = kw * p->dilation[2] - p->pad_begin[2];
  const int64_t lo = ip->inside[0][kw], hi = ip->inside[1][kw];
  const int64_t *tw = ip->table[2] + kw;
  int64_t od = j0 / (oh_n * ow_n), oh = j0 / ow_n % oh_n, ow = j0 % ow_n;
  l->count = 0;
  for (int64_t col = 0; col < cols;) {
    const int64_t seg = min64(ow_n - ow, cols - col), end = ow + seg;
    const int64_t id = ip->table[0][od * kd_n + kd], ih = ip->table[1][oh * kh_n + kh];
    if (id < 0 || ih < 0) {
      add_run(l, col, seg, -1, 0);
    } else {
      const int64_t row = (id * ih_n + ih) * iw_n;
      const int64_t a = lo < ow ? ow : lo > end ? end : lo, z = hi > end ? end : hi < a ? a : hi;
      for (int64_t w = ow; w < a; w++)
        add_run(l, col + w - ow, 1, tw[w * kw_n] < 0 ? -1 : row + tw[w * kw_n], 0);
      add_run(l, col + a - ow, z - a, row + a * sw + off, sw);
      for (int64_t w = z; w < end; w++)
        add_run(l, col + w - ow, 1, tw[w * kw_n] < 0 ? -1 : row + tw[w * kw_n], 0);
    }
    col += seg;
    ow = 0;
    if (++oh == oh_n) oh = 0, od++;
  }
  add_run(l, cols, ceil_div(cols, l->nr) * l->nr - cols, -1, 0);
}

/* Packs rows [k0, k0 + kc) and columns [j0, j0 + cols) of col for one image and group
 * (x: its first input channel) into NR-column panels at dst; the last panel's columns
 * past cols are zero. */
static void pack_b(const convcl_problem *p, const igemm_plan *ip, const float *x, int64_t k0,
                   int64_t kc, int64_t j0, int64_t cols, float *dst, convcl_pack_run *runs) {
  const int64_t cg = ip->blk.cg, nr = ip->isa->nr;
  const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  run_list l = {runs, 0, nr, kc};
  int64_t tap = -1;
  for (int64_t r = 0; r < kc; r++) {
    const int64_t kk = k0 + r;
    if (kk / cg != tap) {
      tap = kk / cg;
      tap_runs(p, ip, tap, j0, cols, &l);
    }
    ip->isa->pack_row(dst + r * nr, x + kk % cg * in_plane, runs, l.count);
  }
}

typedef struct igemm_job igemm_job;
struct igemm_job {
  const convcl_problem *p;
  const igemm_plan *ip;
  const float *input;
  float *output;
  float *partial; /* split-K: slices 1.. x images x groups, M x P floats each */
  void (*item)(const igemm_job *job, int64_t i, unsigned char *slot);
  int64_t count;            /* items of the current pass */
  atomic_int_fast64_t next; /* the next item to hand out */
};

/* First and one-past-last panel of block i when count panels go to blocks as evenly
 * as whole panels allow. */
static void block_range(int64_t count, int64_t blocks, int64_t i, int64_t *first, int64_t *end) {
  const int64_t base = count / blocks, extra = count % blocks;
  *first = i * base + (i < extra ? i : extra);
  *end = *first + base + (i < extra);
}

/* One task: the K loop over one slice of K for one block of output channels x
 * positions of one image and group, so every output element is written by one thread
 * in a fixed order and results do not depend on the schedule. */
static void run_task(const igemm_job *job, int64_t task, unsigned char *slot) {
  const convcl_problem *p = job->p;
  const igemm_plan *ip = job->ip;
  const blocking *b = &ip->blk;
  const int64_t mr = ip->isa->mr, nr = ip->isa->nr;
  int64_t rest = task;
  const int64_t mi = rest % b->mblocks;
  rest /= b->mblocks;
  const int64_t ni = rest % b->nblocks;
  rest /= b->nblocks;
  const int64_t si = rest % b->ksplit, unit = rest / b->ksplit;
  const int64_t g = unit % p->groups, n = unit / p->groups;
  int64_t m0, m1, n0, n1;
  block_range(b->mpanels, b->mblocks, mi, &m0, &m1);
  block_range(b->npanels, b->nblocks, ni, &n0, &n1);
  const int64_t j0 = n0 * nr, j1 = min64(n1 * nr, b->npos);
  const int64_t k_begin = si * b->kslice_blocks * b->kc;
  const int64_t k_end = min64(b->kdim, k_begin + b->kslice_blocks * b->kc);
  const float *x = job->input + (n * p->c + g * b->cg) * p->in[0] * p->in[1] * p->in[2];
  /* Slice 0 writes the output with the bias; the others their partial sums. */
  float *out = si == 0 ? job->output + (n * p->k + g * b->m) * b->npos
                       : job->partial + ((si - 1) * p->n * p->groups + unit) * b->m * b->npos;
  const float *bias = ip->bias && si == 0 ? ip->bias + g * b->m : NULL;
  size_t tile_bytes, runs_bytes;
  slot_parts(b, &tile_bytes, &runs_bytes);
  float *tile = (float *)slot;
  convcl_pack_run *runs = (convcl_pack_run *)(slot + tile_bytes);
  for (int64_t k0 = k_begin; k0 < k_end; k0 += b->kc) {
    const int64_t kc = min64(b->kc, k_end - k0);
    /* The bias goes in with the first K block, the ReLU with the last (after the
     * partial sums are added, where K is split). */
    const int flags = (k0 > k_begin ? CONVCL_GEMM_ACCUMULATE : 0) |
                      (p->relu && b->ksplit == 1 && k0 + kc == b->kdim ? CONVCL_GEMM_RELU : 0);
    pack_b(p, ip, x, k0, kc, j0, j1 - j0, tile, runs);
    /* B panel by B panel (each stays in L1) over a chunk of A panels that stays in L2. */
    const int64_t chunk = MC_BYTES / (int64_t)(kc * mr * sizeof(float)) + 1;
    for (int64_t c0 = m0; c0 < m1; c0 += chunk)
      for (int64_t jp = n0; jp < n1; jp++) {
        const int64_t col = jp * nr;
        const float *bp = tile + (jp - n0) * kc * nr;
        for (int64_t mp = c0; mp < min64(m1, c0 + chunk); mp++) {
          const int64_t row = mp * mr;
          ip->isa->gemm((size_t)kc, ip->a + a_offset(ip, g, k0, kc, mp), bp,
                        out + row * b->npos + col, (size_t)b->npos, (size_t)min64(mr, b->m - row),
                        (size_t)min64(nr, j1 - col), bias ? bias + row : NULL, flags);
        }
      }
  }
}

/* Rows per item of the split-K pass that adds the partial sums in. */
enum { REDUCE_ROWS = 8 };

/* Adds the partial sums of slices 1.. into REDUCE_ROWS output rows of one image and
 * group, in slice order, then applies the ReLU. */
static void run_reduce(const igemm_job *job, int64_t i, unsigned char *slot) {
  (void)slot;
  const convcl_problem *p = job->p;
  const blocking *b = &job->ip->blk;
  const int64_t row_items = ceil_div(b->m, REDUCE_ROWS);
  const int64_t unit = i / row_items, r0 = i % row_items * REDUCE_ROWS;
  const int64_t g = unit % p->groups, n = unit / p->groups;
  const int64_t len = (min64(b->m, r0 + REDUCE_ROWS) - r0) * b->npos;
  float *out = job->output + (n * p->k + g * b->m + r0) * b->npos;
  for (int64_t si = 1; si < b->ksplit; si++) {
    const float *part =
        job->partial + ((si - 1) * p->n * p->groups + unit) * b->m * b->npos + r0 * b->npos;
    for (int64_t e = 0; e < len; e++) out[e] += part[e];
  }
  if (p->relu)
    for (int64_t e = 0; e < len; e++) out[e] = convcl_cpu_relu(out[e]);
}

/* One call per workspace slot; each slot pulls items until none are left. */
static void run_slot(void *arg, int64_t slot) {
  igemm_job *job = arg;
  unsigned char *work = job->ip->work + (size_t)slot * job->ip->blk.slot_bytes;
  for (;;) {
    const int64_t i = atomic_fetch_add(&job->next, 1);
    if (i >= job->count) return;
    job->item(job, i, work);
  }
}

/* One pass over count items on the pool. */
static void run_pass(convcl_pool *pool, igemm_job *job, int64_t slots,
                     void (*item)(const igemm_job *, int64_t, unsigned char *), int64_t count) {
  job->item = item;
  job->count = count;
  atomic_store(&job->next, 0);
  convcl_pool_for(pool, min64(slots, count), run_slot, job);
}

static convcl_status igemm_run(convcl_plan *plan, const float *input, float *output) {
  const igemm_plan *ip = plan->impl;
  const blocking *b = &ip->blk;
  igemm_job job = {.p = &plan->problem, .ip = ip, .input = input, .output = output};
  job.partial = (float *)(ip->work + (size_t)b->slots * b->slot_bytes);
  atomic_init(&job.next, 0);
  convcl_pool *pool = convcl_cpu_pool(plan->ctx);
  run_pass(pool, &job, b->slots, run_task, b->tasks);
  if (b->ksplit > 1)
    run_pass(pool, &job, b->slots, run_reduce,
             plan->problem.n * plan->problem.groups * ceil_div(b->m, REDUCE_ROWS));
  return CONVCL_OK;
}

const convcl_solver convcl_cpu_implicit_gemm = {
    .algo = CONVCL_ALGO_IMPLICIT_GEMM,
    .applicable = igemm_applicable,
    .workspace = igemm_workspace,
    .create = igemm_create,
    .run = igemm_run,
    .destroy = igemm_destroy,
};
