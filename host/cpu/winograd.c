/* Winograd convolution on the CPU, F(4x4,3x3) and F(2x2,3x3) (Lavin and Gray, 2016):
 * per group, each m x m output tile is A^T [U (.) V] A with U = G g G^T the
 * transformed filters (computed and packed once at plan time) and V = B^T d B the
 * transformed (m + 2) x (m + 2) input patch, so over all tiles the products become
 * alpha^2 independent GEMMs M_xi[K x tiles] = U_xi[K x C] x V_xi[C x tiles]. F(4x4)
 * does 36 multiplies per tile and channel pair where direct convolution does 144.
 * A run cuts the tiles of the whole batch (in raster order, image by image) into
 * blocks; a task takes one block of one group, and when there are fewer blocks than
 * threads also a slice of the output channels: it transforms the block's input into
 * GEMM panels in its own workspace slot, multiplies them with U through the
 * packed-weight GEMM microkernels of host/cpu (tiles as the columns of B or as the
 * rows of A, the two tile variants) into M, and the output transform adds the bias,
 * applies the ReLU and writes NCHW.
 *
 * Non-finite numbers: the transforms mix a whole tile, so one Inf or NaN input pixel
 * makes outputs outside its receptive field non-finite (Inf - Inf in A^T), and one in
 * the weights makes all of U non-finite, where the direct sum that PyTorch computes
 * poisons only the outputs whose own terms hold it. Such data is rare, so the plan keeps
 * an implicit GEMM plan of the same layer (packed weights, 9/16 or 9/36 the size of U)
 * and gives it every run whose weights or input hold a non-finite value. The weights are
 * checked once, at plan time. The input is not scanned (that cost ResNet-50's 56 x 56
 * layer 4 to 6%): an Inf or NaN in it always reaches a Winograd output, as every input
 * pixel is in some output's receptive field and reaches that output through a nonzero
 * coefficient of the transforms (Inf or NaN times nonzero, or times a zero of U, stays
 * non-finite). So the output transforms report an output that is Inf or NaN before the
 * bias (and the ReLU, which would turn -Inf into 0), a few vector operations per tile,
 * and after such a run the implicit GEMM writes the output again. Finite data so large
 * that the transforms overflow takes that way too, and gets the better result. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Channels per transform call, see run_task. */
enum { CHANNEL_CHUNK = 8 };

/* Slot budget (V and M of one task) so a block's transformed data stays in a 2 MB L2
 * while its GEMMs run; C blocks of the GEMM as in igemm.c, so a kc x NR B panel stays
 * in L1; the workspace floor; the padding of V and M rows, see plan_shape. */
enum { SLOT_BYTES = 1024 * 1024, KC_MAX = 256, XI_PAD = 16 };

/* The two ways to lay the GEMMs on the microkernel, the solver's tile variants: tiles
 * as the NR columns of B (each transformed input element feeds NR lanes; M comes out
 * tile-contiguous for the output transform), or tiles as the MR rows of A with the
 * output channels as the NR columns (no padding waste when a layer has few tiles,
 * e.g. 7x7 or 14x14 outputs, where NR = 32 columns of tiles would be mostly empty). */
enum { TILES_AS_COLUMNS, TILES_AS_ROWS };
static const char *const variant_names[] = {"tiles_as_columns", "tiles_as_rows"};

typedef struct wino_shape {
  int layout;                 /* TILES_AS_COLUMNS or TILES_AS_ROWS */
  int square;                 /* tiles as rows through the ISA's square tile (gemm_sq) */
  int m, alpha, xis;          /* output tile side, input tile side, alpha^2 */
  int64_t cg, kg;             /* channels per group, in and out */
  int64_t th, tw, tiles;      /* tile rows and columns per image, tiles of the batch */
  int64_t kc;                 /* C split into equal blocks of at most KC_MAX */
  int64_t tw_panel, kw_panel; /* tiles and output channels per GEMM panel (NR or MR) */
  int64_t kpanels_all;        /* ceil(Kg / kw_panel) */
  int64_t tblock, tblocks;    /* tiles per block (whole panels), blocks */
  int64_t kpanels, kblocks;   /* K panels per task, K slices */
  int64_t units;              /* groups x tblocks x kblocks */
  int64_t whole, split;       /* the first `whole` units are tasks; the rest, `split` each */
  int64_t tasks, slots;       /* whole + split x (units - whole); threads that get a task */
  size_t v_xi, m_xi;          /* floats from one xi to the next in V and M */
  size_t v_floats, m_floats;  /* one slot's V and M */
} wino_shape;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static size_t slot_bytes(const wino_shape *s) {
  return (s->v_floats + s->m_floats) * sizeof(float);
}

/* The most workspace the slots take: the CPU budget less `direct`, the workspace of the
 * implicit GEMM plan for non-finite data beside them. */
static size_t workspace_cap(const convcl_problem *p, size_t direct) {
  const size_t budget = convcl_cpu_workspace_budget(p);
  return direct < budget ? budget - direct : 0;
}

/* Relative costs for choosing how tasks share the work, in cycles per float: streaming
 * a float of U from L3 or memory (as igemm.c streams A) and transforming an element of
 * an input tile (as igemm.c packs B). */
#define STREAM_COST 0.25
#define TRANSFORM_COST 0.5

/* The blocking for `blocks` blocks of tiles and `kblocks` slices of the output channels,
 * both as even as whole panels allow; the other fields are set. */
static void block_shape(const convcl_problem *p, int threads, size_t cap, int64_t blocks,
                        int64_t kblocks, wino_shape *s) {
  s->tblock = ceil_div(ceil_div(s->tiles, s->tw_panel), blocks) * s->tw_panel;
  s->tblocks = ceil_div(s->tiles, s->tblock);
  s->kpanels = ceil_div(s->kpanels_all, kblocks);
  s->kblocks = ceil_div(s->kpanels_all, s->kpanels);
  s->units = p->groups * s->tblocks * s->kblocks;
  /* Units that do not fill the last round (7 blocks on 2 threads) are split further in
   * K, one slice per thread: each slice transforms the block's input again, which costs
   * less than leaving threads idle for a whole unit. */
  const int64_t left = s->units > threads ? s->units % threads : 0;
  s->split = left > 0 ? min64(threads, ceil_div(s->kpanels, 2)) : 1;
  s->whole = s->split > 1 ? s->units - left : s->units;
  s->tasks = s->whole + s->split * (s->units - s->whole);
  /* The transforms touch all xi of a tile at once: a cache line more than the data
   * keeps xi's rows from landing in one L1 set when cg * tblock floats are a multiple
   * of 4 KB (64 channels by 32 tiles: 36 rows in one 12-way set). */
  s->v_xi = (size_t)(s->cg * s->tblock + XI_PAD);
  s->m_xi = (size_t)(s->kpanels * s->kw_panel * s->tblock + XI_PAD);
  s->v_floats = (size_t)s->xis * s->v_xi;
  /* The output transform reads CONVCL_WINOGRAD_LANES tiles from the last run's start. */
  s->m_floats =
      (size_t)s->xis * s->m_xi + (size_t)(CONVCL_WINOGRAD_LANES * s->kpanels * s->kw_panel);
  /* Fewer slots than threads where the workspace would pass its cap. */
  s->slots = min64(threads, s->tasks);
  s->slots = max64(1, min64(s->slots, (int64_t)(cap / slot_bytes(s))));
}

/* Estimated cycles of the slowest thread: a unit multiplies its block of tiles by its
 * slice of U, streams that slice once and transforms its tiles' input; the slices of a
 * split unit each transform it again. The tasks go round the slots, which are fewer than
 * the threads where the workspace cap allows fewer: at 1024 channels and a batch of 8
 * on 14 x 14, F(2x2) fits one slot of whole-K blocks and two of half-K ones, which run
 * 1.9x faster on 2 threads. */
static double shape_cost(const wino_shape *s, const convcl_cpu_isa *isa) {
  const double c = (double)(s->xis * s->cg), k = (double)(s->kpanels * s->kw_panel);
  const double gemm = c * (double)s->tblock * k / isa->fma_per_cycle + c * k * STREAM_COST;
  const double transform = c * (double)s->tblock * TRANSFORM_COST;
  return (double)ceil_div(s->whole, s->slots) * (gemm + transform) +
         (double)ceil_div((s->units - s->whole) * s->split, s->slots) *
             (gemm / (double)s->split + transform);
}

static void plan_shape(const convcl_problem *p, int m, int layout, const convcl_cpu_isa *isa,
                       int threads, size_t cap, wino_shape *s) {
  s->layout = layout;
  s->m = m;
  s->alpha = m + 2;
  s->xis = s->alpha * s->alpha;
  s->cg = p->c / p->groups;
  s->kg = p->k / p->groups;
  s->th = ceil_div(p->out[1], m);
  s->tw = ceil_div(p->out[2], m);
  s->tiles = p->n * s->th * s->tw;
  /* Tiles as rows stream U as B, so each vector of U serves as many tiles as the tile has
   * rows: the square tile, where there is one and more than MR tiles to fill it. */
  s->square = layout == TILES_AS_ROWS && isa->gemm_sq && s->tiles > isa->mr;
  s->tw_panel = s->square ? isa->sq : layout == TILES_AS_ROWS ? isa->mr : isa->nr;
  s->kw_panel = s->square ? isa->sq : layout == TILES_AS_ROWS ? isa->nr : isa->mr;
  s->kc = ceil_div(s->cg, ceil_div(s->cg, KC_MAX));
  s->kpanels_all = ceil_div(s->kg, s->kw_panel);
  /* The most whole panels of tiles within the slot budget, then blocks as even as whole
   * panels allow, and at least one task per thread where the tiles allow it. */
  const int64_t per_tile = s->xis * (s->cg + s->kg) * (int64_t)sizeof(float);
  const int64_t tpanels = ceil_div(s->tiles, s->tw_panel);
  const int64_t fit = max64(1, SLOT_BYTES / (per_tile * s->tw_panel));
  const int64_t fewest = ceil_div(tpanels, fit);
  int64_t blocks = fewest;
  /* A few tasks per thread balance only in whole rounds. */
  if (p->groups * blocks < 4 * threads) {
    const int64_t rounds = ceil_div(p->groups * blocks, threads);
    blocks = min64(tpanels, ceil_div(rounds * threads, p->groups));
  }
  block_shape(p, threads, cap, blocks, 1, s);
  /* Too few tile blocks for the threads: split the output channels too; each slice
   * transforms the block's input again, a cost of 1/K of its GEMM. */
  if (p->groups * s->tblocks < threads)
    block_shape(p, threads, cap, blocks, ceil_div(threads, p->groups * s->tblocks), s);
  /* Each block of tiles streams its slice of U once, all of U when K is not split, and
   * U is 16/9 (F2) or 4 (F4) times the weights. With few tiles and many channels
   * (ResNet-50's 7x7 layer: 16 tiles, 16.8 MB of U) that stream costs more than the
   * GEMM, and the fewest blocks with the output channels split among the threads
   * instead run faster. */
  double cost = shape_cost(s, isa);
  for (int64_t kb = 1; kb <= min64(s->kpanels_all, 4 * threads); kb++) {
    wino_shape alt = *s;
    block_shape(p, threads, cap, fewest, kb, &alt);
    const double alt_cost = shape_cost(&alt, isa);
    if (alt_cost < cost) {
      cost = alt_cost;
      *s = alt;
    }
  }
}

typedef struct wino_plan {
  const convcl_cpu_isa *isa;
  convcl_winograd_input_fn input;
  convcl_winograd_output_fn output;
  wino_shape s;
  float *u;            /* packed U, see u_offset */
  float *bias;         /* [k], NULL without bias */
  unsigned char *work; /* slots x slot_bytes, 64-byte aligned, zeroed once */
  convcl_plan *direct; /* the implicit GEMM plan for non-finite data, see the top */
  int weights_finite;
} wino_plan;

static int wino_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return !p->transposed && p->rank == 2 && p->mode == CONVCL_PADDING_ZEROS && p->kernel[1] == 3 &&
         p->kernel[2] == 3 && p->stride[1] == 1 && p->stride[2] == 1 && p->dilation[1] == 1 &&
         p->dilation[2] == 1;
}

/* Where AUTO takes Winograd ahead of the implicit GEMM, from ResNet-like layers measured
 * on this machine (AVX-512, 2 cores). The transforms cost per channel what the GEMM
 * costs per channel pair, so both channel counts must be large: at 16 F(2x2) still
 * wins, F(4x4) needs 32. A run of tiles stays in one tile row, so F(4x4) wants at
 * least 7 tiles (28 outputs) per row and column: on 14x14 its runs fill half the
 * vector lanes and at 64 channels F(2x2) wins, 2x over the implicit GEMM (at 128 they
 * tie, and from 192 F(4x4) wins, see wino_4x4_preferred). The transformed weights
 * are 16/9 (F2) or 4 (F4) times the weights and every run streams them, so with few
 * tiles to reuse them the run is bound by memory: F(2x2) on 7x7 (16 tiles, as GEMM
 * rows, the output channels split among the threads) wins 1.4-1.5x at 512 channels each
 * way and 1.2-1.3x at 1024, and wins 1.5x at 32 tiles; at 4 tiles (4x4 outputs) it
 * loses. */
static int wino_4x4_preferred(const convcl_context *ctx, const convcl_problem *p) {
  const int64_t cg = p->c / p->groups, kg = p->k / p->groups;
  const int64_t rows = ceil_div(p->out[1], 4), cols = ceil_div(p->out[2], 4);
  const int64_t tiles2 = ceil_div(p->out[1], 2) * ceil_div(p->out[2], 2);
  if (!wino_applicable(ctx, p) || cg < 32 || kg < 32) return 0;
  if (p->out[1] >= 28 && p->out[2] >= 28) return 1;
  /* Smaller outputs, from 3 tiles a side, where the GEMMs outweigh the transforms' half
   * empty lanes (192 channels and more) and F(4x4) pads to whole tiles little enough to
   * multiply at most 3/4 of F(2x2)'s elements: 14x14 at 192 to 1024 channels 1.3-1.5x
   * over F(2x2) (16 tiles through the square tile), 12x12 and 20x20 1.3-1.4x; 16x16
   * ties; 10x10 (3 tiles a side, 9/16 of them padding) loses 0.87x, as do 7x7 outputs
   * (2 tiles a side) with several images. */
  return cg >= 192 && kg >= 192 && rows >= 3 && cols >= 3 &&
         36 * rows * cols * 4 <= 3 * 16 * tiles2;
}

static int wino_2x2_preferred(const convcl_context *ctx, const convcl_problem *p) {
  const int64_t cg = p->c / p->groups, kg = p->k / p->groups;
  const int64_t tiles = p->n * ceil_div(p->out[1], 2) * ceil_div(p->out[2], 2);
  return wino_applicable(ctx, p) && cg >= 16 && kg >= 16 &&
         (tiles >= 32 || (tiles >= 16 && cg * kg <= 1024 * 1024));
}

/* The variant a plan gets when it does not ask for one.
 * Tiles as rows up to half an NR panel of tiles: measured on this machine (AVX-512,
 * NR 32, one thread), tiles as rows take 0.75x the time of columns at 16 tiles
 * (ResNet-50's 7x7 layer through F(2x2)) and about half at 4; at 49 tiles (14x14
 * through F(2x2)) they tie and at 196 (56x56 through F(4x4)) columns win by 5 to 10%,
 * their runs of tiles being longer and their output transform simpler. */
static int pick_layout(const convcl_problem *p, int m, const convcl_cpu_isa *isa, int threads,
                       size_t cap, wino_shape *s) {
  const int64_t tiles = p->n * ceil_div(p->out[1], m) * ceil_div(p->out[2], m);
  if (2 * tiles <= isa->nr) return TILES_AS_ROWS;
  /* One slot of tiles as columns holds all C channels of NR tiles: past the cap (a few
   * thousand channels), rows need a quarter of that. */
  plan_shape(p, m, TILES_AS_COLUMNS, isa, threads, cap, s);
  return slot_bytes(s) <= cap ? TILES_AS_COLUMNS : TILES_AS_ROWS;
}

/* The workspace of the variant a plan without one gets, with the implicit GEMM plan's
 * for non-finite data; create() puts the one of the variant it builds in the plan. */
static size_t workspace_for(const convcl_context *ctx, const convcl_problem *p, int m) {
  const convcl_cpu_isa *isa = convcl_cpu_isa_get();
  const int threads = convcl_pool_threads(convcl_cpu_pool(ctx));
  const size_t direct = convcl_cpu_implicit_gemm.workspace(ctx, p);
  const size_t cap = workspace_cap(p, direct);
  wino_shape s;
  plan_shape(p, m, pick_layout(p, m, isa, threads, cap, &s), isa, threads, cap, &s);
  return (size_t)s.slots * slot_bytes(&s) + direct;
}

static size_t wino_workspace_4x4(const convcl_context *ctx, const convcl_problem *p) {
  return workspace_for(ctx, p, 4);
}

static size_t wino_workspace_2x2(const convcl_context *ctx, const convcl_problem *p) {
  return workspace_for(ctx, p, 2);
}

static void wino_destroy(convcl_plan *plan) {
  wino_plan *wp = plan->impl;
  if (!wp) return;
  free(wp->u);
  free(wp->bias);
  free(wp->work);
  convcl_plan_destroy(wp->direct);
  free(wp);
  plan->impl = NULL;
}

static void *alloc_aligned(size_t bytes) {
  void *ptr = NULL;
  return posix_memalign(&ptr, 64, bytes ? bytes : 1) == 0 ? ptr : NULL;
}

/* Where packed U holds group g, element xi, the C block from channel c0 (kc channels)
 * and K panel kp: kc steps of kw_panel output channels, as igemm.c packs W. One
 * layout serves as A panels (MR wide) and as B panels (NR wide). */
static size_t u_offset(const wino_shape *s, int64_t g, int64_t xi, int64_t c0, int64_t kc,
                       int64_t kp) {
  const int64_t kw = s->kw_panel;
  return (size_t)(((g * s->xis + xi) * s->cg + c0) * s->kpanels_all * kw + kp * kc * kw);
}

/* U = G g G^T in double, rounded once, packed; rows past Kg are zero. */
static void pack_filters(const convcl_problem *p, const wino_plan *wp, const float *w) {
  const wino_shape *s = &wp->s;
  const int64_t kw = s->kw_panel;
  const int alpha = s->alpha;
  for (int64_t g = 0; g < p->groups; g++)
    for (int64_t kk = 0; kk < s->kpanels_all * kw; kk++)
      for (int64_t c = 0; c < s->cg; c++) {
        const int64_t kp = kk / kw, lane = kk % kw;
        const int64_t c0 = c / s->kc * s->kc, kc = min64(s->kc, s->cg - c0);
        double u[6][6] = {{0}};
        if (kk < s->kg) convcl_winograd_filter(s->m, w + ((g * s->kg + kk) * s->cg + c) * 9, u);
        for (int xi = 0; xi < s->xis; xi++)
          wp->u[u_offset(s, g, xi, c0, kc, kp) + (size_t)((c - c0) * kw + lane)] =
              (float)u[xi / alpha][xi % alpha];
      }
}

/* Whether no float of n is Inf or NaN (all exponent bits set). */
static int all_finite(const float *x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, x + i, sizeof b);
    bad |= (b & 0x7f800000u) == 0x7f800000u;
  }
  return !bad;
}

static convcl_status wino_create(convcl_plan *plan, const float *weights, const float *bias,
                                 int m) {
  const convcl_problem *p = &plan->problem;
  wino_plan *wp = calloc(1, sizeof *wp);
  if (!wp) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = wp;
  wp->isa = convcl_cpu_isa_get();
  wp->input = wp->isa->winograd->input[m == 4];
  wp->output = wp->isa->winograd->output[m == 4];
  const int threads = convcl_pool_threads(convcl_cpu_pool(plan->ctx));
  const size_t cap = workspace_cap(p, convcl_cpu_implicit_gemm.workspace(plan->ctx, p));
  const int layout =
      plan->variant >= 0 ? plan->variant : pick_layout(p, m, wp->isa, threads, cap, &wp->s);
  plan_shape(p, m, layout, wp->isa, threads, cap, &wp->s);
  const wino_shape *s = &wp->s;
  const size_t packed = (size_t)(p->groups * s->xis * s->cg * s->kpanels_all * s->kw_panel);
  const size_t work = (size_t)s->slots * slot_bytes(s);
  plan->workspace_bytes = work;
  wp->u = alloc_aligned(packed * sizeof(float));
  wp->work = alloc_aligned(work);
  int ok = wp->u && wp->work;
  if (ok && p->has_bias) ok = (wp->bias = malloc((size_t)p->k * sizeof(float))) != NULL;
  if (!ok) {
    wino_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "cannot allocate %zu transformed weights and a %zu-byte workspace for a "
                        "CPU Winograd plan",
                        packed, work);
  }
  /* Panel columns past a block's last tile and M lanes past its last run are read and
   * their results dropped; zeros keep them finite. */
  memset(wp->work, 0, work);
  pack_filters(p, wp, weights);
  if (p->has_bias) memcpy(wp->bias, bias, (size_t)p->k * sizeof(float));
  wp->weights_finite = all_finite(weights, (size_t)p->weight_elems);
  const convcl_status st =
      convcl_plan_make(plan->ctx, p, weights, bias, CONVCL_ALGO_IMPLICIT_GEMM, -1, &wp->direct);
  if (st != CONVCL_OK) {
    wino_destroy(plan);
    return st;
  }
  plan->workspace_bytes += wp->direct->workspace_bytes;
  return CONVCL_OK;
}

static convcl_status wino_create_4x4(convcl_plan *plan, const float *weights, const float *bias) {
  return wino_create(plan, weights, bias, 4);
}

static convcl_status wino_create_2x2(convcl_plan *plan, const float *weights, const float *bias) {
  return wino_create(plan, weights, bias, 2);
}

typedef struct wino_job {
  const convcl_problem *p;
  const wino_plan *wp;
  const float *input;
  float *output;
  atomic_int_fast64_t next; /* the next task to hand out */
  atomic_int nonfinite;     /* a task's output transform met Inf or NaN */
} wino_job;

/* A run of tiles from global tile t: in one tile row of one image, at most
 * CONVCL_WINOGRAD_LANES of them, none at or past t1 and, when split is nonzero, all in
 * one split-wide panel of the block that starts at tile base. With two_rows, where tile
 * rows are half the lanes long (14x14 outputs through F(4x4), 7x7 through F(2x2)), a run
 * of a whole row takes the image's next row too, under the same limits, and the input
 * transform fills its vectors (convcl_winograd_input_fn): ResNet-50's 14x14 3x3 layer
 * (256 channels) ran 1.06x faster on one thread and 1.1x on two, where each thread
 * transforms all of the input; its 7x7 layer (512 channels, F(2x2)) spends too little
 * in the transform to gain. */
typedef struct tile_run {
  int64_t n, ty, tx, local; /* image, tile row and column, index in the block */
  int len, two_rows;
} tile_run;

static tile_run run_at(const wino_shape *s, int64_t t, int64_t t1, int64_t base, int64_t split,
                       int two_rows) {
  tile_run r = {t / (s->th * s->tw), t / s->tw % s->th, t % s->tw, t - base, 0, 0};
  int64_t len = min64(min64(s->tw - r.tx, t1 - t), CONVCL_WINOGRAD_LANES);
  if (split) len = min64(len, split - r.local % split);
  r.two_rows = two_rows && 2 * s->tw == CONVCL_WINOGRAD_LANES && len == s->tw && r.ty + 1 < s->th &&
               t + 2 * s->tw <= t1 && (!split || r.local % split + 2 * s->tw <= split);
  r.len = (int)(r.two_rows ? 2 * len : len);
  return r;
}

/* Returns nonzero when an output came out Inf or NaN before the bias, see the top. */
static int run_task(const wino_job *job, int64_t task, float *v, float *mbuf) {
  const convcl_problem *p = job->p;
  const wino_plan *wp = job->wp;
  const wino_shape *s = &wp->s;
  const int64_t tw = s->tw_panel, kw = s->kw_panel;
  const int64_t unit = task < s->whole ? task : s->whole + (task - s->whole) / s->split;
  const int64_t kb = unit % s->kblocks, tb = unit / s->kblocks % s->tblocks;
  const int64_t g = unit / (s->kblocks * s->tblocks);
  int64_t kp0 = kb * s->kpanels, kp1 = min64(kp0 + s->kpanels, s->kpanels_all);
  if (task >= s->whole) {
    int64_t first, end;
    convcl_cpu_block_range(kp1 - kp0, s->split, (task - s->whole) % s->split, &first, &end);
    kp1 = kp0 + end;
    kp0 += first;
  }
  const int64_t t0 = tb * s->tblock, t1 = min64(t0 + s->tblock, s->tiles), count = t1 - t0;
  const int64_t ih = p->in[1], iw = p->in[2], oh = p->out[1], ow = p->out[2];
  const int64_t m = s->m;
  const size_t v_xi = s->v_xi, m_xi = s->m_xi;

  /* V: per xi, panels of tw tiles, each C steps of tw values. A run writes part of a
   * cache line per element; all runs go over a few channels at a time, so the other
   * runs fill the same lines while they are still in L1. A run may cross into the next
   * panel, once: runs stay in one panel where panels are narrower than a run. */
  const int64_t narrow = tw < CONVCL_WINOGRAD_LANES ? tw : 0;
  for (int64_t c0 = 0; c0 < s->cg; c0 += CHANNEL_CHUNK)
    for (tile_run r = run_at(s, t0, t1, t0, narrow, 1); r.len > 0;
         r = run_at(s, t0 + r.local + r.len, t1, t0, narrow, 1)) {
      const float *x = job->input + (r.n * p->c + g * s->cg + c0) * ih * iw;
      float *dst = v + (r.local / tw * s->cg + c0) * tw + r.local % tw;
      wp->input(x, min64(CHANNEL_CHUNK, s->cg - c0), ih * iw, ih, iw, r.ty * m - p->pad_begin[1],
                r.tx * m - p->pad_begin[2], r.len, r.two_rows, (int)(tw - r.local % tw), dst,
                (size_t)tw, v_xi, (size_t)((s->cg - 1) * tw));
    }

  /* M: per xi, [k][tile] (tiles as columns) or [tile][k] (tiles as rows), ldm apart. */
  const int64_t k0 = kp0 * kw, k1 = min64(kp1 * kw, s->kg);
  const int rows = s->layout == TILES_AS_ROWS;
  const size_t ldm = (size_t)(rows ? (kp1 - kp0) * kw : s->tblock);
  const int64_t tpanels = ceil_div(count, tw);
  const convcl_f32_gemm_fn rows_gemm = s->square ? wp->isa->gemm_sq : wp->isa->gemm;
  for (int64_t xi = 0; xi < s->xis; xi++)
    for (int64_t c0 = 0; c0 < s->cg; c0 += s->kc) {
      const int64_t kc = min64(s->kc, s->cg - c0);
      const float *vx = v + (size_t)xi * v_xi + (size_t)(c0 * tw);
      float *mx = mbuf + (size_t)xi * m_xi;
      /* The B panel stays in L1 while the A panels stream over it. */
      if (rows)
        for (int64_t kp = kp0; kp < kp1; kp++)
          for (int64_t tp = 0; tp < tpanels; tp++)
            rows_gemm((size_t)kc, vx + (size_t)(tp * s->cg * tw),
                      wp->u + u_offset(s, g, xi, c0, kc, kp),
                      mx + (size_t)(tp * tw) * ldm + (size_t)((kp - kp0) * kw), ldm,
                      (size_t)min64(tw, count - tp * tw), (size_t)min64(kw, s->kg - kp * kw), NULL,
                      c0 > 0);
      else
        for (int64_t tp = 0; tp < tpanels; tp++)
          for (int64_t kp = kp0; kp < kp1; kp++)
            wp->isa->gemm((size_t)kc, wp->u + u_offset(s, g, xi, c0, kc, kp),
                          vx + (size_t)(tp * s->cg * tw),
                          mx + (size_t)((kp - kp0) * kw) * ldm + (size_t)(tp * tw), ldm,
                          (size_t)min64(kw, s->kg - kp * kw), (size_t)min64(tw, count - tp * tw),
                          NULL, c0 > 0);
    }

  /* Likewise a few output channels at a time. */
  int nonfinite = 0;
  for (int64_t kk = k0; kk < k1; kk += CHANNEL_CHUNK)
    for (tile_run r = run_at(s, t0, t1, t0, 0, 0); r.len > 0;
         r = run_at(s, t0 + r.local + r.len, t1, t0, 0, 0)) {
      float *y = job->output + ((r.n * p->k + g * s->kg + kk) * oh + r.ty * m) * ow;
      const size_t at = rows ? (size_t)r.local * ldm + (size_t)(kk - k0)
                             : (size_t)(kk - k0) * ldm + (size_t)r.local;
      nonfinite |=
          wp->output(mbuf + at, rows ? 1 : ldm, rows ? ldm : 1, m_xi, min64(CHANNEL_CHUNK, k1 - kk),
                     wp->bias ? wp->bias + g * s->kg + kk : NULL, p->relu, y, oh * ow,
                     oh - r.ty * m, ow, 0, r.tx * m, r.len);
    }
  return nonfinite;
}

/* One call per workspace slot; each slot pulls tasks until none are left. Every output
 * element is written by one task in a fixed order, so results do not depend on the
 * schedule. */
static void run_slot(void *arg, int64_t slot) {
  wino_job *job = arg;
  const wino_shape *s = &job->wp->s;
  float *v = (float *)(job->wp->work + (size_t)slot * slot_bytes(s));
  float *mbuf = v + s->v_floats;
  for (;;) {
    const int64_t task = atomic_fetch_add(&job->next, 1);
    if (task >= s->tasks) return;
    if (run_task(job, task, v, mbuf))
      atomic_store_explicit(&job->nonfinite, 1, memory_order_relaxed);
  }
}

static convcl_status wino_run(convcl_plan *plan, const float *input, float *output) {
  const wino_plan *wp = plan->impl;
  if (!wp->weights_finite) return wp->direct->solver->run(wp->direct, input, output);
  wino_job job = {.p = &plan->problem, .wp = wp, .input = input, .output = output};
  atomic_init(&job.next, 0);
  atomic_init(&job.nonfinite, 0);
  convcl_pool_for(convcl_cpu_pool(plan->ctx), wp->s.slots, run_slot, &job);
  if (atomic_load(&job.nonfinite)) return wp->direct->solver->run(wp->direct, input, output);
  return CONVCL_OK;
}

/* Two entries per algorithm, as for depthwise: the preferred ones ahead of the implicit
 * GEMM for AUTO, the others after it for requests by name. */
const convcl_solver convcl_cpu_winograd_4x4_preferred = {
    .algo = CONVCL_ALGO_WINOGRAD_4X4,
    .applicable = wino_4x4_preferred,
    .workspace = wino_workspace_4x4,
    .create = wino_create_4x4,
    .run = wino_run,
    .destroy = wino_destroy,
    .variant_count = 2,
    .variant_names = variant_names,
};

const convcl_solver convcl_cpu_winograd_2x2_preferred = {
    .algo = CONVCL_ALGO_WINOGRAD_2X2,
    .applicable = wino_2x2_preferred,
    .workspace = wino_workspace_2x2,
    .create = wino_create_2x2,
    .run = wino_run,
    .destroy = wino_destroy,
    .variant_count = 2,
    .variant_names = variant_names,
};

const convcl_solver convcl_cpu_winograd_4x4 = {
    .algo = CONVCL_ALGO_WINOGRAD_4X4,
    .applicable = wino_applicable,
    .workspace = wino_workspace_4x4,
    .create = wino_create_4x4,
    .run = wino_run,
    .destroy = wino_destroy,
    .variant_count = 2,
    .variant_names = variant_names,
};

const convcl_solver convcl_cpu_winograd_2x2 = {
    .algo = CONVCL_ALGO_WINOGRAD_2X2,
    .applicable = wino_applicable,
    .workspace = wino_workspace_2x2,
    .create = wino_create_2x2,
    .run = wino_run,
    .destroy = wino_destroy,
    .variant_count = 2,
    .variant_names = variant_names,
};
