/* OpenCL transposed-GEMM solver (kernels/transposed_gemm.cl): a transposed convolution
 * split by output stride phase into stride-1 convolutions, each an implicit GEMM over
 * weights packed per phase at plan time. Every product it forms is one the gather form
 * needs: no inserted zeros, no stride^d waste, no col2im and no workspace. One launch
 * runs every phase of every group.
 * A phase's GEMM multiplies its taps by zeros where an input position falls outside
 * the input, terms that the scatter PyTorch computes does not have: harmless for finite
 * weights, NaN for an Inf or NaN weight. Such weights are rare and checked once here: a
 * plan with them hands its runs to the direct solver's gather kernel, which forms only
 * the true terms. */
#include "opencl/opencl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The tiles of igemm.cl's variants, whose inner loops these kernels share: GPUs, 256
 * work-items with 4x4 blocks; devices that cannot run 256 work-items, 64; CPU devices,
 * one work-item with 8 x 16 register blocks over 128 x 32 tiles in 128-deep slices. */
#define TG_GPU_TILES (0, 64, 64, 16, 4, 4)
#define TG_SMALL_TILES (0, 32, 32, 16, 4, 4)
#define TG_CPU_TILES (1, 128, 32, 128, 8, 16)

const char convcl_cl_transposed_gemm_gpu_options[] = CONVCL_CL_TILE_OPTIONS(TG_GPU_TILES);
const char convcl_cl_transposed_gemm_small_options[] = CONVCL_CL_TILE_OPTIONS(TG_SMALL_TILES);
const char convcl_cl_transposed_gemm_cpu_options[] = CONVCL_CL_TILE_OPTIONS(TG_CPU_TILES);

enum { VARIANT_GPU, VARIANT_SMALL, VARIANT_CPU, VARIANT_COUNT };

/* The variants of transposed_gemm.cl. */
static const convcl_cl_tiles variants[VARIANT_COUNT] = {
    [VARIANT_GPU] = CONVCL_CL_TILES(CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_GPU, TG_GPU_TILES),
    [VARIANT_SMALL] = CONVCL_CL_TILES(CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_SMALL, TG_SMALL_TILES),
    [VARIANT_CPU] = CONVCL_CL_TILES(CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_CPU, TG_CPU_TILES),
};

static const char *const variant_names[VARIANT_COUNT] = {
    [VARIANT_GPU] = "tiled_64x64",
    [VARIANT_SMALL] = "tiled_32x32",
    [VARIANT_CPU] = "blocked_128x32",
};

/* The phase table's row, as transposed_gemm.cl reads it. */
enum { PH_K, PH_A, PH_TAPS, PH_NCOLS, PH_CNT, PH_R = PH_CNT + 3, PHASE_INTS = PH_R + 3 };

/* Grids past this many work-groups in the third dimension (groups here) fail on some
 * GPUs. Phases beyond MAX_PHASES (strides whose product passes 2^16) would make the
 * phase table and the grid large for layers no network has. */
#define MAX_GRID_Z 65535
#define MAX_PHASES 65536

typedef struct tg_plan {
  cl_kernel kernel;
  cl_mem weights, taps, phases, bias;
  size_t global[3], local[3];
  convcl_plan *direct; /* the plan that runs instead for non-finite weights, see the top */
} tg_plan;

/* The taps of one residue r of one dimension: tap t reaches o = stride * j + r from
 * input j + off[i] for the ntaps listed. */
typedef struct residue_taps {
  int64_t count; /* positions j: outputs stride * j + r inside the output */
  int64_t ntaps;
  int64_t *tap, *off; /* point into dim_phases' arrays */
} residue_taps;

/* Every residue of one dimension. A tap reaches one residue at most, so the residues'
 * lists together fit in one array of the kernel's size. */
typedef struct dim_phases {
  residue_taps *res;  /* [stride] */
  int64_t *tap, *off; /* [kernel], residue after residue */
} dim_phases;

static void dim_phases_free(dim_phases *dp) {
  free(dp->res);
  free(dp->tap);
  free(dp->off);
}

/* Lists, per residue of dimension d, the taps whose input can land inside the image
 * for one of the residue's positions; the others only ever read padding, so leaving
 * them out only saves work. Returns 0 when out of memory; dp is freed by the caller
 * either way. */
static int dim_phases_init(const convcl_problem *p, int d, dim_phases *dp) {
  const int64_t s = p->stride[d], kn = p->kernel[d];
  dp->res = calloc((size_t)s, sizeof *dp->res);
  dp->tap = malloc((size_t)kn * sizeof *dp->tap);
  dp->off = malloc((size_t)kn * sizeof *dp->off);
  if (!dp->res || !dp->tap || !dp->off) return 0;
  int64_t used = 0;
  for (int64_t r = 0; r < s; ++r) {
    residue_taps *rt = &dp->res[r];
    rt->count = p->out[d] > r ? (p->out[d] - r + s - 1) / s : 0;
    rt->tap = dp->tap + used;
    rt->off = dp->off + used;
    for (int64_t t = 0; t < kn; ++t) {
      const int64_t q = r + p->pad_begin[d] - t * p->dilation[d];
      if ((q % s + s) % s != 0) continue;
      const int64_t off = q / s; /* exact */
      if (rt->count == 0 || off >= p->in[d] || off + rt->count <= 0) continue;
      rt->tap[rt->ntaps] = t;
      rt->off[rt->ntaps] = off;
      rt->ntaps++;
    }
    used += rt->ntaps;
  }
  return 1;
}

/* The phases and their sizes for one variant. */
typedef struct phase_layout {
  dim_phases dims[3];
  int64_t nphases;
  int64_t max_ncols; /* the largest phase's columns */
  int64_t tap_rows;  /* rows of every phase's tap table together */
  int64_t mpad;      /* out channels per group, padded to whole tiles or panels */
  int64_t a_elems;   /* packed A of every phase and group */
} phase_layout;

static void layout_free(phase_layout *l) {
  for (int d = 0; d < 3; ++d) dim_phases_free(&l->dims[d]);
}

/* Phase ph's residue per dimension, D slowest. */
static void phase_residues(const convcl_problem *p, int64_t ph, int64_t r[3]) {
  r[2] = ph % p->stride[2];
  r[1] = ph / p->stride[2] % p->stride[1];
  r[0] = ph / (p->stride[2] * p->stride[1]);
}

/* Rows of phase r's GEMM (in channels per group x its taps) and of its tap table
 * (whole TK slices for the tiled kernel, which pads with zero rows). */
static void phase_rows(const convcl_problem *p, const convcl_cl_tiles *t, const phase_layout *l,
                       const int64_t r[3], int64_t *ntaps, int64_t *kg, int64_t *krows) {
  *ntaps = l->dims[0].res[r[0]].ntaps * l->dims[1].res[r[1]].ntaps * l->dims[2].res[r[2]].ntaps;
  *kg = p->c / p->groups * *ntaps;
  *krows = convcl_cl_tiles_kpad(t, *kg);
}

static int64_t phase_ncols(const convcl_problem *p, const phase_layout *l, const int64_t r[3]) {
  return p->n * l->dims[0].res[r[0]].count * l->dims[1].res[r[1]].count *
         l->dims[2].res[r[2]].count;
}

static int layout_init(const convcl_problem *p, const convcl_cl_tiles *t, phase_layout *l) {
  memset(l, 0, sizeof *l);
  for (int d = 0; d < 3; ++d)
    if (!dim_phases_init(p, d, &l->dims[d])) {
      layout_free(l);
      return 0;
    }
  l->nphases = p->stride[0] * p->stride[1] * p->stride[2];
  l->mpad = convcl_cl_tiles_mpad(t, p->k / p->groups);
  for (int64_t ph = 0; ph < l->nphases; ++ph) {
    int64_t r[3], ntaps, kg, krows;
    phase_residues(p, ph, r);
    phase_rows(p, t, l, r, &ntaps, &kg, &krows);
    const int64_t ncols = phase_ncols(p, l, r);
    if (ncols > l->max_ncols) l->max_ncols = ncols;
    l->tap_rows += krows;
    l->a_elems += p->groups * krows * l->mpad;
  }
  return 1;
}

/* The columns of the largest phase: residue 0 has the most positions in every
 * dimension. */
static int64_t largest_phase(const convcl_problem *p) {
  int64_t ncols = p->n;
  for (int d = 0; d < 3; ++d) ncols *= (p->out[d] + p->stride[d] - 1) / p->stride[d];
  return ncols;
}

/* The work-groups tiles t launch for p; in double, which no layer overflows. */
static double tiles_groups(const convcl_problem *p, const convcl_cl_tiles *t) {
  const int64_t mg = p->k / p->groups;
  return (double)((largest_phase(p) + t->tn - 1) / t->tn) *
         (double)(p->stride[0] * p->stride[1] * p->stride[2]) * (double)((mg + t->tm - 1) / t->tm) *
         (double)p->groups;
}

/* The kernels index in int; these bounds keep every expression they form in range,
 * including the coordinates of the masked lanes past the last column, which reach one
 * image further, and the grid's first dimension, N tiles x phases. */
static int fits_int(const convcl_problem *p, const convcl_cl_tiles *t) {
  for (int d = 0; d < 3; ++d)
    if (p->stride[d] > MAX_PHASES) return 0;
  const int64_t nphases = p->stride[0] * p->stride[1] * p->stride[2];
  const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  const int64_t out_plane = p->out[0] * p->out[1] * p->out[2];
  if (nphases > MAX_PHASES || p->groups > MAX_GRID_Z || (p->n + 1) * p->c * in_plane > INT_MAX ||
      (p->n + 1) * p->k * out_plane > INT_MAX || p->n * out_plane > INT_MAX - t->tn)
    return 0;
  if ((largest_phase(p) + t->tn - 1) / t->tn * nphases > INT_MAX) return 0;
  /* Packed A and the tap table hold at most this many rows per group: every phase's
   * taps together are the kernel's, plus a padding slice per phase. */
  const int64_t rows = p->c / p->groups * p->kernel_elems + nphases * t->tk;
  const int64_t mpad = convcl_cl_tiles_mpad(t, p->k / p->groups);
  return rows <= INT_MAX / 4 && p->groups * rows * mpad <= INT_MAX;
}

static int tg_applicable(const convcl_context *ctx, const convcl_problem *p) {
  const convcl_opencl_state *cl = ctx->impl;
  if (!p->transposed) return 0;
  for (int i = 0; i < VARIANT_COUNT; ++i)
    if (convcl_cl_tiles_fit(&variants[i], &cl->limits) && fits_int(p, &variants[i])) return 1;
  return 0;
}

static size_t tg_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  (void)p;
  return 0;
}

static void tg_free(tg_plan *st) {
  if (!st) return;
  if (st->kernel) clReleaseKernel(st->kernel);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->taps) clReleaseMemObject(st->taps);
  if (st->phases) clReleaseMemObject(st->phases);
  if (st->bias) clReleaseMemObject(st->bias);
  convcl_plan_destroy(st->direct);
  free(st);
}

static int all_finite(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* plan->variant, or the device's best that fits: the blocked kernel on CPUs, the
 * large tiles elsewhere, the small ones where those do not fit or would leave compute
 * units idle (small layers, the first of a generator: the small tiles make up to 4x as
 * many work-groups). */
static convcl_status pick_kernel(convcl_plan *plan, const convcl_cl_tiles **tiles,
                                 cl_kernel *kernel) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const int is_cpu = cl->limits.is_cpu;
  int order[2], count = 0;
  if (plan->variant >= 0) {
    order[count++] = plan->variant;
  } else {
    const int few = tiles_groups(&plan->problem, &variants[VARIANT_GPU]) < cl->info.compute_units;
    order[count++] = is_cpu ? VARIANT_CPU : few ? VARIANT_SMALL : VARIANT_GPU;
    order[count++] = is_cpu || !few ? VARIANT_SMALL : VARIANT_GPU;
  }
  for (int i = 0; i < count; ++i) {
    const convcl_cl_tiles *t = &variants[order[i]];
    if (!convcl_cl_tiles_fit(t, &cl->limits) || !fits_int(&plan->problem, t)) continue;
    const convcl_status status =
        convcl_cl_tiles_kernel(plan->ctx, t, "transposed_gemm", kernel, NULL);
    if (status != CONVCL_OK) return status;
    if (*kernel) {
      *tiles = t;
      return CONVCL_OK;
    }
  }
  if (plan->variant >= 0)
    return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                        "OpenCL transposed GEMM: tile variant %s does not fit '%s' or this problem",
                        variant_names[plan->variant], cl->info.name);
  return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                      "OpenCL transposed GEMM: no tile variant fits '%s'", cl->info.name);
}

/* The host's copies of the kernel's three tables, built in one walk over the phases. */
typedef struct tables {
  float *a;      /* [phase][group][mpad / P][krows][P] */
  cl_int *taps;  /* [tap_rows][4] */
  cl_int *phase; /* [nphases][PHASE_INTS] */
} tables;

static void tables_free(tables *tb) {
  free(tb->a);
  free(tb->taps);
  free(tb->phase);
}

/* Fills phase ph's rows: kk = (td, th, tw) * cg + c, the taps of each dimension's
 * residue in their order, so A's row kk holds w[g*cg + c, m, tap] for its tap. Tap-major,
 * so that runs of rows differ only in their channel and the CPU kernel checks bounds
 * once per run. Rows past kg (the tiled kernel's zero slice padding) stay zero in A and
 * read -1 in taps. */
static void fill_phase(const convcl_problem *p, const convcl_cl_tiles *t, const phase_layout *l,
                       const float *weights, int64_t ph, int64_t *a_at, int64_t *tap_at,
                       tables *tb) {
  int64_t r[3], ntaps, kg, krows;
  phase_residues(p, ph, r);
  phase_rows(p, t, l, r, &ntaps, &kg, &krows);
  const residue_taps *rd = &l->dims[0].res[r[0]], *rh = &l->dims[1].res[r[1]],
                     *rw = &l->dims[2].res[r[2]];
  const int64_t cg = p->c / p->groups, mg = p->k / p->groups;
  const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  const int64_t panel = t->blocked ? t->rm : l->mpad;

  cl_int *row = tb->phase + ph * PHASE_INTS;
  row[PH_K] = (cl_int)krows;
  row[PH_A] = (cl_int)*a_at;
  row[PH_TAPS] = (cl_int)*tap_at;
  row[PH_NCOLS] = (cl_int)phase_ncols(p, l, r);
  row[PH_CNT] = (cl_int)rd->count;
  row[PH_CNT + 1] = (cl_int)rh->count;
  row[PH_CNT + 2] = (cl_int)rw->count;
  for (int d = 0; d < 3; ++d) row[PH_R + d] = (cl_int)r[d];

  for (int64_t kk = 0; kk < krows; ++kk) {
    cl_int *tap = tb->taps + 4 * (*tap_at + kk);
    if (kk >= kg) {
      tap[0] = -1, tap[1] = tap[2] = tap[3] = 0;
      continue;
    }
    const int64_t ti = kk / cg, c = kk % cg;
    const int64_t iw = ti % rw->ntaps, ih = ti / rw->ntaps % rh->ntaps,
                  id = ti / (rw->ntaps * rh->ntaps);
    tap[0] = (cl_int)(c * in_plane);
    tap[1] = (cl_int)rd->off[id];
    tap[2] = (cl_int)rh->off[ih];
    tap[3] = (cl_int)rw->off[iw];
    const int64_t w_tap = (rd->tap[id] * p->kernel[1] + rh->tap[ih]) * p->kernel[2] + rw->tap[iw];
    for (int64_t g = 0; g < p->groups; ++g) {
      const float *src = weights + (g * cg + c) * mg * p->kernel_elems + w_tap;
      float *dst = tb->a + *a_at + g * krows * l->mpad + kk * panel;
      for (int64_t m = 0; m < mg; ++m)
        dst[m / panel * krows * panel + m % panel] = src[m * p->kernel_elems];
    }
  }
  *a_at += p->groups * krows * l->mpad;
  *tap_at += krows;
}

/* Binds every argument but input and output once; enqueue() binds those and launches. */
static convcl_status set_args(tg_plan *st, const convcl_problem *p, const phase_layout *l) {
  const cl_int nphases = (cl_int)l->nphases, c = (cl_int)p->c, cg = (cl_int)(p->c / p->groups),
               k = (cl_int)p->k, mg = (cl_int)(p->k / p->groups), mpad = (cl_int)l->mpad;
  const cl_int4 in = convcl_cl_dims3(p->in), out = convcl_cl_dims3(p->out),
                stride = convcl_cl_dims3(p->stride);
  const cl_int epilogue = convcl_cl_epilogue(p);
  /* Unused buffer arguments still need a valid buffer: NULL is not portable. */
  const cl_mem bias = st->bias ? st->bias : st->phases;
  const convcl_cl_arg args[] = {
      {1, sizeof(cl_mem), &st->weights},
      {2, sizeof(cl_mem), &st->taps},
      {3, sizeof(cl_mem), &st->phases},
      {4, sizeof(cl_mem), &bias},
      {6, sizeof nphases, &nphases},
      {7, sizeof c, &c},
      {8, sizeof cg, &cg},
      {9, sizeof k, &k},
      {10, sizeof mg, &mg},
      {11, sizeof mpad, &mpad},
      {12, sizeof in, &in},
      {13, sizeof out, &out},
      {14, sizeof stride, &stride},
      {15, sizeof epilogue, &epilogue},
  };
  return convcl_opencl_set_args(st->kernel, args, sizeof args / sizeof args[0]);
}

/* Creates a buffer of bytes bytes from data; an empty table still gets a one-element
 * buffer, since OpenCL has no empty buffers and the kernel never reads it then. */
static convcl_status upload_table(const convcl_opencl_state *cl, const char *what, const void *data,
                                  size_t bytes, cl_mem *buffer) {
  static const cl_int4 none = {{-1, 0, 0, 0}};
  return bytes ? convcl_opencl_upload(cl, what, data, bytes, buffer)
               : convcl_opencl_upload(cl, what, &none, sizeof none, buffer);
}

static convcl_status tg_create(convcl_plan *plan, const float *weights, const float *bias) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;
  const convcl_cl_tiles *tiles = NULL;
  phase_layout layout;
  tables tb = {NULL, NULL, NULL};
  int have_layout = 0;

  tg_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  if (!all_finite(weights, p->weight_elems)) {
    const convcl_status status =
        convcl_plan_make(plan->ctx, p, weights, bias, CONVCL_ALGO_DIRECT, -1, &st->direct);
    if (status == CONVCL_OK)
      plan->impl = st;
    else
      tg_free(st);
    return status;
  }
  convcl_status status = pick_kernel(plan, &tiles, &st->kernel);
  if (status != CONVCL_OK) goto cleanup;
  if (!(have_layout = layout_init(p, tiles, &layout))) goto out_of_memory;

  tb.a = calloc((size_t)layout.a_elems + 1, sizeof *tb.a);
  tb.taps = malloc(((size_t)layout.tap_rows + 1) * 4 * sizeof *tb.taps);
  tb.phase = malloc((size_t)layout.nphases * PHASE_INTS * sizeof *tb.phase);
  if (!tb.a || !tb.taps || !tb.phase) goto out_of_memory;
  int64_t a_at = 0, tap_at = 0;
  for (int64_t ph = 0; ph < layout.nphases; ++ph)
    fill_phase(p, tiles, &layout, weights, ph, &a_at, &tap_at, &tb);

  status =
      upload_table(cl, "packed weight", tb.a, (size_t)layout.a_elems * sizeof *tb.a, &st->weights);
  if (status == CONVCL_OK)
    status = upload_table(cl, "tap table", tb.taps, (size_t)layout.tap_rows * 4 * sizeof *tb.taps,
                          &st->taps);
  if (status == CONVCL_OK)
    status =
        convcl_opencl_upload(cl, "phase table", tb.phase,
                             (size_t)layout.nphases * PHASE_INTS * sizeof *tb.phase, &st->phases);
  if (status == CONVCL_OK && p->has_bias)
    status = convcl_opencl_upload(cl, "bias", bias, (size_t)p->k * sizeof(float), &st->bias);
  if (status != CONVCL_OK) goto cleanup;

  convcl_cl_tiles_local(tiles, st->local);
  st->global[0] =
      (size_t)((layout.max_ncols + tiles->tn - 1) / tiles->tn * layout.nphases) * st->local[0];
  st->global[1] = (size_t)((p->k / p->groups + tiles->tm - 1) / tiles->tm) * st->local[1];
  st->global[2] = (size_t)p->groups;
  status = set_args(st, p, &layout);
  if (status != CONVCL_OK) goto cleanup;
  plan->impl = st;
  st = NULL;
  goto cleanup;

out_of_memory:
  status = convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory packing the weights");
cleanup:
  if (have_layout) layout_free(&layout);
  tables_free(&tb);
  tg_free(st);
  return status;
}

static convcl_status tg_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const tg_plan *st = plan->impl;
  if (st->direct) return st->direct->solver->enqueue(st->direct, input, output);
  convcl_status status = convcl_cl_bind(st->kernel, 0, st->kernel, 5, input, output);
  if (status == CONVCL_OK) {
    const cl_int err = clEnqueueNDRangeKernel(cl->queue, st->kernel, 3, NULL, st->global, st->local,
                                              0, NULL, NULL);
    if (err != CL_SUCCESS) status = convcl_cl_fail("clEnqueueNDRangeKernel", err);
  }
  return status;
}

static void tg_destroy(convcl_plan *plan) {
  tg_free(plan->impl);
  plan->impl = NULL;
}

const convcl_solver convcl_opencl_transposed_gemm_solver = {
    .algo = CONVCL_ALGO_TRANSPOSED_GEMM,
    .applicable = tg_applicable,
    .workspace = tg_workspace,
    .create = tg_create,
    .enqueue = tg_enqueue,
    .destroy = tg_destroy,
    .variant_count = VARIANT_COUNT,
    .variant_names = variant_names,
};
