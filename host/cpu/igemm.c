/* Implicit-GEMM convolution on the CPU. Per image and group the convolution is
 *   out[M, P] = W[M, Kd] x col[Kd, P]
 * with M = out channels per group, P the output positions and Kd = taps x in channels
 * per group, ordered tap-major (kk = tap * Cg + c) so that a run of rows shares one
 * tap and with it the mapping from output positions to input offsets.
 * W is packed once at plan time into MR-row panels; col (im2col) is never built whole:
 * each thread packs the tiles of it that it needs (see blocking) into NR-column panels
 * in its own slice of the workspace, straight from the input, and a register-blocked
 * microkernel multiplies panel pairs. Per spatial dimension a gather table maps (output index, tap)
 * to the input index or -1, as in direct.c, so stride, dilation and every padding mode are resolved
 * while packing and the GEMM never sees them. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Cache blocking (BLIS's loops): a KC x NR panel of B (32 KB at NR = 32) stays in L1
 * while the microkernel walks a chunk of at most MC_BYTES of A panels over it, and a
 * group's B tile (its K range x at most NC_MAX columns, about TILE_BYTES at most) stays
 * in L2 while its chunks run. The sizes suit 48 KB of L1 and 2 MB of L2 per core
 * (Sapphire Rapids, Zen 4). */
enum { KC_MAX = 256, NC_MAX = 256, MC_BYTES = 512 * 1024, TILE_BYTES = 1024 * 1024 };

/* Relative costs for choosing the blocking, in cycles per float: packing a float of B
 * (a copy or a gather) and streaming a float of A from L3 or memory. */
#define PACK_COST 0.5
#define STREAM_COST 0.25
/* A float of a K slice's partial output: storing it and adding it into the output (see
 * ksplit); or of the output, re-read by a later K phase. */
#define REDUCE_COST 1.0

/* The most K slices a split takes; the chunks a group's output channels are cut into,
 * per thread, where there are few groups. */
enum { KSPLIT_MAX = 4, CHUNKS_PER_THREAD = 4 };

/* How a problem is cut up; computed the same way by workspace() and create() from the
 * problem, the ISA and the thread count.
 * A group is one image and group of the convolution, one block of its positions and
 * one K range: the thread that takes it packs the range's B once into its workspace
 * slot, then multiplies chunks of the output channels' A panels with it, taking the
 * chunks one by one from the group's counter. A thread that runs out of groups joins
 * one whose chunks outlast the packing of its own copy of B, so threads whose cores run
 * at different speeds (a VM's virtual CPUs share their cores with other guests) still
 * finish together, and threads outnumbering the groups share them.
 * K ranges: K is cut into ksplit x kphases ranges of whole K blocks. The ksplit slices
 * run at once: where splitting the output channels would pack the same B twice and
 * splitting the positions stream the same A twice, each slice packs and streams its own
 * share; slice 0 writes the output, the others their partial sums in the workspace, and
 * a last pass adds those in, in slice order. The kphases phases run one after the
 * other, each adding to what the last one wrote, where a whole slice's B tile would
 * pass TILE_BYTES (K over 8192 at NR = 32). */
typedef struct blocking {
  int64_t m, cg, taps, kdim, npos; /* per image and group: M, C / groups, R, Kd, P */
  int64_t mpanels, npanels;        /* ceil(M / MR), ceil(P / NR) */
  int64_t kc;                      /* K blocks: kc rows each, the last may be shorter */
  int64_t range_blocks;            /* K blocks per K range */
  int64_t ksplit, kphases;         /* K ranges: slices x phases; range q * ksplit + s */
  int64_t nblocks, nc;             /* P split into runs of whole panels, nc columns at most */
  int64_t mchunks;                 /* a group's M panels split into this many chunks */
  int64_t groups;                  /* per phase: images x groups x ksplit x nblocks */
  int64_t help_min;                /* chunks left that make joining a group pay */
  int64_t slots;                   /* threads that get work: at most threads, within budget */
  size_t slot_bytes;               /* one thread's workspace, see slot_parts */
  size_t partial_bytes;            /* the partial sums of slices 1.. of all images, groups */
} blocking;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* K blocks a slot's B tile holds: those of a group's K range where later chunks read
 * them again, else one at a time (each packed into lines the last one left in cache). */
static int64_t tile_blocks(const blocking *b) { return b->mchunks > 1 ? b->range_blocks : 1; }

/* A slot holds the B tile and the runs of the current tap (at most one per column). */
static void slot_parts(const blocking *b, size_t *tile, size_t *runs) {
  *tile = align64((size_t)(tile_blocks(b) * b->kc * b->nc) * sizeof(float));
  *runs = align64((size_t)b->nc * sizeof(convcl_pack_run));
}

/* The K ranges, chunks and work estimates of one candidate blocking; see split_cost. */
typedef struct candidate {
  int64_t ksplit, kphases, kc, range_blocks, nblocks, groups, mchunks;
  double pack, work; /* cycles of one group: packing its B, and its chunks all together */
} candidate;

/* Fills c for ksplit slices and nblocks position blocks: enough phases that a range's
 * B tile stays within TILE_BYTES, K blocks of at most KC_MAX shared evenly by the
 * ranges, and with several threads chunks enough for CHUNKS_PER_THREAD per thread; a
 * chunk holds at most MC_BYTES of A per K block. */
static void candidate_fill(const blocking *b, const convcl_cpu_isa *isa, int threads, int64_t units,
                           int64_t ksplit, int64_t nblocks, candidate *c) {
  const int64_t nc = ceil_div(b->npanels, nblocks) * isa->nr;
  const int64_t rows_max = max64(1, TILE_BYTES / (nc * (int64_t)sizeof(float)));
  c->ksplit = ksplit;
  c->nblocks = nblocks;
  c->kphases = ceil_div(ceil_div(b->kdim, ksplit), rows_max);
  const int64_t ranges = ksplit * c->kphases;
  c->range_blocks = ceil_div(b->kdim, ranges * KC_MAX);
  c->kc = ceil_div(b->kdim, ranges * c->range_blocks);
  c->groups = units * ksplit * nblocks;
  const int64_t mc_max = max64(1, MC_BYTES / (c->kc * isa->mr * (int64_t)sizeof(float)));
  const int64_t share = threads > 1 ? ceil_div(CHUNKS_PER_THREAD * threads, c->groups) : 1;
  c->mchunks = min64(b->mpanels, max64(ceil_div(b->mpanels, mc_max), share));
  const double krows = (double)(c->range_blocks * c->kc), rows = (double)(b->mpanels * isa->mr);
  c->pack = (double)nc * krows * PACK_COST;
  c->work = rows * (double)nc * krows / isa->fma_per_cycle + rows * krows * STREAM_COST;
}

/* Estimated cycles of the slowest thread: the groups' chunks shared evenly (the chunks
 * keep the threads within a fraction of a group of each other), and as many B packs as
 * a thread has groups (at least one, its own or one it joins); per phase. Then the
 * partial sums of all but the first slice, and the later phases' re-reads of the sums. */
static double split_cost(const blocking *b, const candidate *c, int threads, int64_t units) {
  const double phase =
      (double)c->groups * c->work / threads + (double)ceil_div(c->groups, threads) * c->pack;
  const double sums = (double)(units * b->m * b->npos) * REDUCE_COST / threads;
  return (double)c->kphases * phase + (double)(c->ksplit - 1 + c->kphases - 1) * sums;
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
   * the one with fewer K slices, then fewer P blocks. Splitting P re-streams A per
   * block, a thread joining a group re-packs its B, splitting K adds a pass over the
   * output. Split-K only where its partial sums fit the workspace budget beside the
   * slots. */
  const int64_t units = p->n * p->groups;
  const int64_t nb_min = ceil_div(b->npanels * isa->nr, NC_MAX);
  const int64_t nb_max = min64(b->npanels, nb_min + 64);
  const size_t budget = convcl_cpu_workspace_budget(p);
  const size_t per_slice = (size_t)(units * b->m * b->npos) * sizeof(float);
  candidate best = {0};
  double best_cost = -1.0;
  for (int64_t ks = 1; ks <= min64(b->kdim, KSPLIT_MAX); ks++) {
    if (ks > 1 && (size_t)(ks - 1) * per_slice > budget / 2) break;
    for (int64_t nb = nb_min; nb <= nb_max; nb++) {
      candidate c;
      candidate_fill(b, isa, threads, units, ks, nb, &c);
      const double cost = split_cost(b, &c, threads, units);
      if (best_cost < 0.0 || cost < best_cost) {
        best_cost = cost;
        best = c;
      }
    }
  }
  b->kc = best.kc;
  b->range_blocks = best.range_blocks;
  b->nblocks = best.nblocks;
  b->nc = ceil_div(b->npanels, b->nblocks) * isa->nr;
  b->mchunks = best.mchunks;
  /* Rounding K up to whole blocks can leave fewer ranges than asked for (the last
   * ones, in the last phase, empty): fewer slices where there is one phase. */
  const int64_t ranges = ceil_div(b->kdim, b->range_blocks * b->kc);
  b->ksplit = min64(best.ksplit, ranges);
  b->kphases = ceil_div(ranges, b->ksplit);
  b->groups = units * b->ksplit * b->nblocks;
  b->help_min = max64(1, (int64_t)(2.0 * best.pack * (double)b->mchunks / best.work) + 1);
  size_t tile, runs;
  slot_parts(b, &tile, &runs);
  b->slot_bytes = tile + runs;
  b->partial_bytes = align64((size_t)(b->ksplit - 1) * per_slice);
  /* Fewer slots than threads where their workspace would pass the budget (many
   * threads): the slots left do all the work. */
  const size_t room = budget - b->partial_bytes;
  b->slots = min64(min64(threads, b->groups * b->mchunks), (int64_t)(room / b->slot_bytes));
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
  /* Per group of a phase, its next chunk; reset by each run (a plan runs on one thread
   * at a time). */
  atomic_int_fast64_t *next_chunk;
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
  free(ip->next_chunk);
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
  ip->next_chunk = malloc((size_t)b->groups * sizeof *ip->next_chunk);
  int ok = ip->a && ip->work && ip->next_chunk;
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
  for (int64_t g = 0; g < b->groups; g++) atomic_init(&ip->next_chunk[g], 0);
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

typedef struct igemm_job {
  const convcl_problem *p;
  const igemm_plan *ip;
  const float *input;
  float *output;
  float *partial;           /* split-K: slices 1.. x images x groups, M x P floats each */
  int64_t phase;            /* the K phase the current pass runs */
  atomic_int_fast64_t next; /* the next group (or item of the reduce pass) to hand out */
} igemm_job;

/* Where one group of the current phase lies: its image and group of the convolution
 * (unit), K slice, K rows and output columns. */
typedef struct group_at {
  int64_t unit, g, n, si;
  int64_t k_begin, k_end; /* k_begin >= k_end: an empty range (see plan_blocking), whose
                           * chunks do nothing but still count, so no thread joins it */
  int64_t n0, n1, j0, j1; /* panels and columns */
} group_at;

static group_at locate(const igemm_job *job, int64_t group) {
  const blocking *b = &job->ip->blk;
  const int64_t nr = job->ip->isa->nr;
  group_at at;
  const int64_t ni = group % b->nblocks, rest = group / b->nblocks;
  at.si = rest % b->ksplit;
  at.unit = rest / b->ksplit;
  at.g = at.unit % job->p->groups;
  at.n = at.unit / job->p->groups;
  const int64_t range = job->phase * b->ksplit + at.si, rows = b->range_blocks * b->kc;
  at.k_begin = range * rows;
  at.k_end = min64(b->kdim, at.k_begin + rows);
  convcl_cpu_block_range(b->npanels, b->nblocks, ni, &at.n0, &at.n1);
  at.j0 = at.n0 * nr;
  at.j1 = min64(at.n1 * nr, b->npos);
  return at;
}

/* One chunk of a group: its A panels over the group's K range and columns, with B from
 * the slot's tile; with runs (the group's first chunk on this thread) each K block of
 * B is packed into the tile first, where it is still in cache when the chunk's GEMMs
 * read it. Every output element is written by one chunk, whose thread adds its terms
 * in a fixed order, so results do not depend on the schedule. */
static void run_chunk(const igemm_job *job, const group_at *at, int64_t chunk, float *tile,
                      convcl_pack_run *runs) {
  const convcl_problem *p = job->p;
  const igemm_plan *ip = job->ip;
  const blocking *b = &ip->blk;
  const int64_t mr = ip->isa->mr, nr = ip->isa->nr;
  int64_t m0, m1;
  convcl_cpu_block_range(b->mpanels, b->mchunks, chunk, &m0, &m1);
  const float *x = job->input + (at->n * p->c + at->g * b->cg) * p->in[0] * p->in[1] * p->in[2];
  /* Slice 0 writes the output with the bias; the others their partial sums. */
  float *out = at->si == 0
                   ? job->output + (at->n * p->k + at->g * b->m) * b->npos
                   : job->partial + ((at->si - 1) * p->n * p->groups + at->unit) * b->m * b->npos;
  const float *bias = ip->bias && at->si == 0 ? ip->bias + at->g * b->m : NULL;
  for (int64_t k0 = at->k_begin, i = 0; k0 < at->k_end; k0 += b->kc, i++) {
    const int64_t kc = min64(b->kc, at->k_end - k0);
    float *bk = tile + i % tile_blocks(b) * b->kc * b->nc;
    if (runs) pack_b(p, ip, x, k0, kc, at->j0, at->j1 - at->j0, bk, runs);
    /* The bias goes in with the first K block, the ReLU with the last (after the
     * partial sums are added, where K is split). */
    const int flags = (k0 > at->k_begin || job->phase > 0 ? CONVCL_GEMM_ACCUMULATE : 0) |
                      (p->relu && b->ksplit == 1 && k0 + kc == b->kdim ? CONVCL_GEMM_RELU : 0);
    /* B panel by B panel (each stays in L1) over the chunk's A panels. */
    for (int64_t jp = at->n0; jp < at->n1; jp++) {
      const int64_t col = jp * nr;
      const float *bp = bk + (jp - at->n0) * kc * nr;
      for (int64_t mp = m0; mp < m1; mp++) {
        const int64_t row = mp * mr;
        ip->isa->gemm((size_t)kc, ip->a + a_offset(ip, at->g, k0, kc, mp), bp,
                      out + row * b->npos + col, (size_t)b->npos, (size_t)min64(mr, b->m - row),
                      (size_t)min64(nr, at->j1 - col), bias ? bias + row : NULL, flags);
      }
    }
  }
}

/* Runs a group's chunks until the group's counter runs out, packing its B with the
 * first one this thread gets (none: no packing). */
static void work_on(const igemm_job *job, int64_t group, float *tile, convcl_pack_run *runs) {
  const group_at at = locate(job, group);
  const int64_t chunks = job->ip->blk.mchunks;
  for (int64_t c, first = 1; (c = atomic_fetch_add(&job->ip->next_chunk[group], 1)) < chunks;
       first = 0)
    run_chunk(job, &at, c, tile, first ? runs : NULL);
}

/* One call per workspace slot: takes groups until none are left, then joins the group
 * with the most chunks left while that many make packing its B again pay. */
static void run_groups(void *arg, int64_t slot) {
  igemm_job *job = arg;
  const blocking *b = &job->ip->blk;
  size_t tile_bytes, runs_bytes;
  slot_parts(b, &tile_bytes, &runs_bytes);
  unsigned char *work = job->ip->work + (size_t)slot * b->slot_bytes;
  float *tile = (float *)work;
  convcl_pack_run *runs = (convcl_pack_run *)(work + tile_bytes);
  for (int64_t g; (g = atomic_fetch_add(&job->next, 1)) < b->groups;) work_on(job, g, tile, runs);
  if (b->mchunks <= b->help_min) return;
  for (;;) {
    int64_t most = -1, most_left = b->help_min - 1;
    for (int64_t g = 0; g < b->groups; g++) {
      const int64_t left = b->mchunks - atomic_load(&job->ip->next_chunk[g]);
      if (left > most_left) {
        most = g;
        most_left = left;
      }
    }
    if (most < 0) return;
    work_on(job, most, tile, runs);
  }
}

/* Rows per item of the split-K pass that adds the partial sums in. */
enum { REDUCE_ROWS = 8 };

/* Adds the partial sums of slices 1.. into REDUCE_ROWS output rows of one image and
 * group, in slice order, then applies the ReLU. One call per slot; each pulls items
 * until none are left. */
static void run_reduce(void *arg, int64_t slot) {
  igemm_job *job = arg;
  (void)slot;
  const convcl_problem *p = job->p;
  const blocking *b = &job->ip->blk;
  const int64_t row_items = ceil_div(b->m, REDUCE_ROWS), items = p->n * p->groups * row_items;
  for (int64_t i; (i = atomic_fetch_add(&job->next, 1)) < items;) {
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
}

static convcl_status igemm_run(convcl_plan *plan, const float *input, float *output) {
  const convcl_problem *p = &plan->problem;
  const igemm_plan *ip = plan->impl;
  const blocking *b = &ip->blk;
  igemm_job job = {.p = p, .ip = ip, .input = input, .output = output};
  job.partial = (float *)(ip->work + (size_t)b->slots * b->slot_bytes);
  atomic_init(&job.next, 0);
  convcl_pool *pool = convcl_cpu_pool(plan->ctx);
  for (job.phase = 0; job.phase < b->kphases; job.phase++) {
    atomic_store(&job.next, 0);
    for (int64_t g = 0; g < b->groups; g++) atomic_store(&ip->next_chunk[g], 0);
    convcl_pool_for(pool, b->slots, run_groups, &job);
  }
  if (b->ksplit > 1) {
    atomic_store(&job.next, 0);
    convcl_pool_for(pool, min64(b->slots, p->n * p->groups * ceil_div(b->m, REDUCE_ROWS)),
                    run_reduce, &job);
  }
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
