/* Pointwise convolution on the CPU as a plain GEMM. With a 1x1x1 kernel, stride 1 and
 * no padding, per image and group
 *   out[M, P] = W[M, Cg] x in[Cg, P]
 * where M = out channels per group, Cg = in channels per group and P the positions,
 * and the input already is B, row-major with rows P floats apart. The microkernel
 * reads it in place (isa->gemm_strided) instead of packing it into panels, which with
 * few output channels to share the copy is a sizeable part of the work; W is packed
 * once at plan time into MR-row panels. No workspace. The bias goes in with the first
 * K block and the fused ReLU with the last, both in the microkernel's store. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Cache blocking: a KC x NR block of B stays in L1 while the microkernel walks up to
 * MC_BYTES of A panels over it from L2. B's rows lie P floats apart, so KC is half of
 * the packed solvers': where P * 4 bytes is a multiple of 256 (56 x 56 positions)
 * every row of the block falls in the same 16 of L1's 64 sets, and 128 rows x 2 lines
 * is what their 12 ways hold beside A. */
enum { KC_MAX = 128, MC_BYTES = 512 * 1024, NC_MIN = 256 };

/* AUTO takes this solver from this many positions on (and see gemm_preferred). */
enum { PREFERRED_MIN_POSITIONS = 256 };

/* Relative costs for choosing the parallel split, in cycles per float: streaming a
 * float of A or of B from L3 or memory. */
#define STREAM_COST 0.25

typedef struct blocking {
  int64_t m, cg, npos;      /* per image and group: M, Cg, P */
  int64_t mpanels, npanels; /* ceil(M / MR), ceil(P / NR) */
  int64_t kc;               /* Cg split into equal blocks of at most KC_MAX */
  int64_t mblocks, nblocks; /* M and P split into this many runs of whole panels */
  int64_t tasks;            /* images x groups x mblocks x nblocks */
} blocking;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Estimated cycles of the slowest thread for a split: every task multiplies its
 * panels and streams its rows of A and its columns of B once. */
static double split_cost(const blocking *b, const convcl_cpu_isa *isa, int threads, int64_t units,
                         int64_t mblocks, int64_t nblocks) {
  const int64_t mp = ceil_div(b->mpanels, mblocks), np = ceil_div(b->npanels, nblocks);
  const int64_t rows = min64(mp * isa->mr, b->m), cols = min64(np * isa->nr, b->npos);
  const double kd = (double)b->cg;
  const double task = (double)(mp * isa->mr) * (double)(np * isa->nr) * kd / isa->fma_per_cycle +
                      ((double)rows + (double)cols) * kd * STREAM_COST;
  return (double)ceil_div(units * mblocks * nblocks, threads) * task;
}

static void plan_blocking(const convcl_problem *p, const convcl_cpu_isa *isa, int threads,
                          blocking *b) {
  b->m = p->k / p->groups;
  b->cg = p->c / p->groups;
  b->npos = p->out[0] * p->out[1] * p->out[2];
  b->mpanels = ceil_div(b->m, isa->mr);
  b->npanels = ceil_div(b->npos, isa->nr);
  b->kc = ceil_div(b->cg, ceil_div(b->cg, KC_MAX));
  /* The cheapest split; on a tie the one with fewer P blocks, then fewer M blocks.
   * P blocks keep at least NC_MIN columns (where P has them) so a task's loop over its
   * B panels outlasts the fetch of the A chunk it reuses. */
  const int64_t units = p->n * p->groups;
  const int64_t nb_max = min64(b->npanels, ceil_div(b->npos, NC_MIN));
  const int64_t mb_max = min64(b->mpanels, 64);
  double best = -1.0;
  for (int64_t nb = 1; nb <= nb_max; nb++)
    for (int64_t mb = 1; mb <= mb_max; mb++) {
      const double cost = split_cost(b, isa, threads, units, mb, nb);
      if (best < 0.0 || cost < best) {
        best = cost;
        b->mblocks = mb;
        b->nblocks = nb;
      }
    }
  b->tasks = units * b->nblocks * b->mblocks;
}

typedef struct gemm_plan {
  const convcl_cpu_isa *isa;
  blocking blk;
  float *a;    /* packed W, see convcl_cpu_pack_a */
  float *bias; /* [k], NULL without bias */
} gemm_plan;

static int gemm_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  if (p->transposed) return 0;
  for (int i = 0; i < 3; i++)
    if (p->kernel[i] != 1 || p->stride[i] != 1 || p->pad_begin[i] != 0 || p->pad_end[i] != 0)
      return 0;
  return 1;
}

/* Where it measured faster than implicit_gemm (ResNet-50's, MobileNet's and the 3D
 * suite's 1x1 layers at batch 1, AVX-512, each pair timed alternately in one process).
 * On Intel's Emerald Rapids (48 KiB L1, 2 MiB L2): where packing B, which implicit_gemm
 * does once per block of output channels, is a large share of the work beside the
 * multiply-adds: with under 64 output channels (16 and 24: 1.15-1.45x) and with 64
 * input channels over 64 output channels (1.1-1.35x). With more of either, packed panels
 * win or tie (64 -> 256: 1.1x for implicit_gemm at 2 threads, 0.97x at one; 128 -> 512
 * and 256 -> 128: 1.15x): B read in place is re-read from L2 where L1 could not keep its
 * rows. Also from 256 positions on, as the masked edge tile is a large share below.
 * On AMD's Zen 4 (32 KiB L1, 1 MiB L2), paired, the in-place read won or tied on every
 * pointwise layer measured: ResNet-50's twelve stride-1 1x1 layers 0.99-1.10x at one
 * thread and 0.99-1.15x at two (256 -> 64 on 56 x 56 1.09x / 1.1x, 2048 -> 512 on 7 x 7
 * 1.05x / 1.07x), the 3D suite's 128 -> 64 1.1x / 1.2x, and 256 -> 256 and 1024 -> 256 at
 * 1 to 784 positions 1.0-1.1x (1 position: 3x, 4: 1.4x), but for 9 and 25 positions
 * (an edge tile of masked loads: 0.95x). On both, not where rows a multiple of 4 KiB
 * apart all fall in the same L1 sets (WaveNet's 4096 positions: 0.95x at one thread). */
static int gemm_preferred(const convcl_context *ctx, const convcl_problem *p) {
  const int64_t npos = p->out[0] * p->out[1] * p->out[2];
  const int64_t m = p->k / p->groups, cg = p->c / p->groups;
  if (!gemm_applicable(ctx, p) || npos * (int64_t)sizeof(float) % 4096 == 0) return 0;
  return convcl_cpu_amd() || (npos >= PREFERRED_MIN_POSITIONS && (m < 64 || (cg <= 64 && m <= 64)));
}

static size_t gemm_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  (void)p;
  return 0;
}

static void gemm_destroy(convcl_plan *plan) {
  gemm_plan *gp = plan->impl;
  if (!gp) return;
  free(gp->a);
  free(gp->bias);
  free(gp);
  plan->impl = NULL;
}

static int64_t a_offset(const gemm_plan *gp, int64_t g, int64_t k0, int64_t kc, int64_t mp) {
  return convcl_cpu_a_offset(gp->blk.cg, gp->blk.mpanels, gp->isa->mr, g, k0, kc, mp);
}

static convcl_status gemm_create(convcl_plan *plan, const float *weights, const float *bias) {
  const convcl_problem *p = &plan->problem;
  gemm_plan *gp = calloc(1, sizeof *gp);
  if (!gp) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = gp;
  gp->isa = convcl_cpu_isa_get();
  plan_blocking(p, gp->isa, convcl_pool_threads(convcl_cpu_pool(plan->ctx)), &gp->blk);
  const blocking *b = &gp->blk;
  const size_t packed = (size_t)(p->groups * b->mpanels * b->cg * gp->isa->mr);
  /* 64 bytes: panels start on cache lines, so vector loads never split one. */
  void *a = NULL;
  int ok = posix_memalign(&a, 64, packed * sizeof(float)) == 0;
  gp->a = a;
  if (ok && p->has_bias) ok = (gp->bias = malloc((size_t)p->k * sizeof(float))) != NULL;
  if (!ok) {
    gemm_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "cannot allocate %zu packed weights for a CPU GEMM plan", packed);
  }
  convcl_cpu_pack_a(weights, p->groups, b->m, b->cg, 1, b->kc, gp->isa->mr, gp->a);
  if (p->has_bias) memcpy(gp->bias, bias, (size_t)p->k * sizeof(float));
  return CONVCL_OK;
}

typedef struct gemm_job {
  const convcl_problem *p;
  const gemm_plan *gp;
  const float *input;
  float *output;
  atomic_int_fast64_t next; /* the next task to hand out */
} gemm_job;

/* One task: the whole K loop for one block of output channels x positions of one
 * image and group, so every output element is written by one thread in a fixed order
 * and results do not depend on the schedule. */
static void run_task(const gemm_job *job, int64_t task) {
  const convcl_problem *p = job->p;
  const gemm_plan *gp = job->gp;
  const blocking *b = &gp->blk;
  const int64_t mr = gp->isa->mr, nr = gp->isa->nr, npos = b->npos;
  const int64_t mi = task % b->mblocks, ni = task / b->mblocks % b->nblocks;
  const int64_t g = task / b->mblocks / b->nblocks % p->groups;
  const int64_t n = task / b->mblocks / b->nblocks / p->groups;
  int64_t m0, m1, n0, n1;
  convcl_cpu_block_range(b->mpanels, b->mblocks, mi, &m0, &m1);
  convcl_cpu_block_range(b->npanels, b->nblocks, ni, &n0, &n1);
  const float *x = job->input + (n * p->c + g * b->cg) * npos;
  float *out = job->output + (n * p->k + g * b->m) * npos;
  const float *bias = gp->bias ? gp->bias + g * b->m : NULL;
  for (int64_t k0 = 0; k0 < b->cg; k0 += b->kc) {
    const int64_t kc = min64(b->kc, b->cg - k0);
    const int flags = (k0 > 0 ? CONVCL_GEMM_ACCUMULATE : 0) |
                      (p->relu && k0 + kc == b->cg ? CONVCL_GEMM_RELU : 0);
    /* B block by B block (each stays in L1) over a chunk of A panels that stays in L2. */
    const int64_t chunk = MC_BYTES / (int64_t)(kc * mr * sizeof(float)) + 1;
    for (int64_t c0 = m0; c0 < m1; c0 += chunk)
      for (int64_t jp = n0; jp < n1; jp++) {
        const int64_t col = jp * nr, cols = min64(nr, npos - col);
        for (int64_t mp = c0; mp < min64(m1, c0 + chunk); mp++) {
          const int64_t row = mp * mr;
          gp->isa->gemm_strided((size_t)kc, gp->a + a_offset(gp, g, k0, kc, mp),
                                x + k0 * npos + col, (size_t)npos, out + row * npos + col,
                                (size_t)npos, (size_t)min64(mr, b->m - row), (size_t)cols,
                                bias ? bias + row : NULL, flags);
        }
      }
  }
}

/* One call per thread; each pulls tasks until none are left. */
static void run_worker(void *arg, int64_t worker) {
  gemm_job *job = arg;
  (void)worker;
  for (;;) {
    const int64_t task = atomic_fetch_add(&job->next, 1);
    if (task >= job->gp->blk.tasks) return;
    run_task(job, task);
  }
}

static convcl_status gemm_run(convcl_plan *plan, const float *input, float *output) {
  gemm_job job = {.p = &plan->problem, .gp = plan->impl, .input = input, .output = output};
  atomic_init(&job.next, 0);
  convcl_pool *pool = convcl_cpu_pool(plan->ctx);
  const int64_t threads = convcl_pool_threads(pool), tasks = job.gp->blk.tasks;
  convcl_pool_for(pool, threads < tasks ? threads : tasks, run_worker, &job);
  return CONVCL_OK;
}

/* Two entries, as for depthwise: the preferred one ahead of implicit_gemm for AUTO,
 * the other for every pointwise problem. */
const convcl_solver convcl_cpu_gemm_preferred = {
    .algo = CONVCL_ALGO_GEMM,
    .applicable = gemm_preferred,
    .workspace = gemm_workspace,
    .create = gemm_create,
    .run = gemm_run,
    .destroy = gemm_destroy,
};

const convcl_solver convcl_cpu_gemm = {
    .algo = CONVCL_ALGO_GEMM,
    .applicable = gemm_applicable,
    .workspace = gemm_workspace,
    .create = gemm_create,
    .run = gemm_run,
    .destroy = gemm_destroy,
};
