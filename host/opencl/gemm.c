/* OpenCL batched GEMM (kernels/gemm.cl), shared by the Winograd solvers, and the gemm
 * solver: a convolution with kernel 1, stride 1 and no padding is, per image and group,
 * out[n, g] (K/g x positions) = W[g] (K/g x C/g) * in[n, g] (C/g x positions), so the
 * input is B as it lies and only the weights are packed, once, at plan time. */
#include "opencl/opencl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* GPUs: 64 work-items with 8x8 blocks, 8 KB of local memory. */
#define GEMM_GPU_TILES (0, 64, 64, 16, 8, 8)
/* Small problems and small devices: 64 work-items with 4x4 blocks, 4 KB, four times
 * the work-groups of the large tile. */
#define GEMM_SMALL_TILES (0, 32, 32, 16, 4, 4)
/* CPU devices: one work-item per group, 8 x 16 register blocks (one float16 of B, eight
 * broadcasts of A), 128 x 32 tiles in 128-deep slices, as igemm.cl's blocked variant:
 * 32 KB of local memory, which stays in the core's caches. */
#define GEMM_CPU_TILES (1, 128, 32, 128, 8, 16)

const char convcl_cl_gemm_gpu_options[] = CONVCL_CL_TILE_OPTIONS(GEMM_GPU_TILES);
const char convcl_cl_gemm_small_options[] = CONVCL_CL_TILE_OPTIONS(GEMM_SMALL_TILES);
const char convcl_cl_gemm_cpu_options[] = CONVCL_CL_TILE_OPTIONS(GEMM_CPU_TILES);

/* The variants of gemm.cl, in the order of convcl_cl_gemm_variant_names. */
static const convcl_cl_tiles variants[CONVCL_CL_GEMM_VARIANT_COUNT] = {
    CONVCL_CL_TILES(CONVCL_CL_PROGRAM_GEMM_GPU, GEMM_GPU_TILES),
    CONVCL_CL_TILES(CONVCL_CL_PROGRAM_GEMM_SMALL, GEMM_SMALL_TILES),
    CONVCL_CL_TILES(CONVCL_CL_PROGRAM_GEMM_CPU, GEMM_CPU_TILES),
};

const char *const convcl_cl_gemm_variant_names[CONVCL_CL_GEMM_VARIANT_COUNT] = {
    "tiled_64x64", "tiled_32x32", "blocked_128x32"};

int convcl_cl_gemm_fits_int(int64_t m, int64_t n, int64_t k, int64_t a_count) {
  /* No variant pads M past a multiple of 128 or K past one of 16, and no last tile
   * reaches more than 64 columns past n. */
  const int64_t mpad = convcl_cl_round_up(m, 128), kpad = convcl_cl_round_up(k, 16);
  return m <= INT_MAX / 2 && n <= INT_MAX - 64 && k <= INT_MAX / 2 &&
         a_count <= INT_MAX / mpad / kpad;
}

/* The variants variant -1 tries, best first: the blocked kernel on CPU devices; on
 * others the large tile, unless it would leave fewer work-groups than compute units,
 * then the others. Returns how many. */
static int candidates(const convcl_opencl_state *cl, int64_t m, int64_t n, int64_t batch,
                      int out[CONVCL_CL_GEMM_VARIANT_COUNT]) {
  if (cl->limits.is_cpu) {
    out[0] = 2, out[1] = 1, out[2] = 0;
  } else {
    const int64_t groups = (m + 63) / 64 * ((n + 63) / 64) * batch;
    const int large = groups >= cl->info.compute_units;
    out[0] = large ? 0 : 1, out[1] = large ? 1 : 0, out[2] = 2;
  }
  return CONVCL_CL_GEMM_VARIANT_COUNT;
}

/* The kernel of a variant, when the device and, once compiled, the kernel's own
 * work-group limit (registers can lower it below the device's) let it run. */
static convcl_status variant_kernel(convcl_context *ctx, int variant, convcl_cl_batched_gemm *g) {
  const convcl_opencl_state *cl = ctx->impl;
  const convcl_cl_tiles *t = &variants[variant];
  if (!convcl_cl_tiles_fit(t, &cl->limits))
    return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                        "OpenCL GEMM: tile variant %s does not fit '%s'",
                        convcl_cl_gemm_variant_names[variant], cl->info.name);
  size_t kernel_wg = 0, local[3];
  const convcl_status status = convcl_cl_tiles_kernel(ctx, t, "gemm", &g->kernel, &kernel_wg);
  if (status != CONVCL_OK || g->kernel) return status;
  return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                      "OpenCL GEMM: tile variant %s needs %zu work-items, '%s' runs %zu",
                      convcl_cl_gemm_variant_names[variant], convcl_cl_tiles_local(t, local),
                      cl->info.name, kernel_wg);
}

void convcl_cl_gemm_release(convcl_cl_batched_gemm *g) {
  if (g->kernel) clReleaseKernel(g->kernel);
  g->kernel = NULL;
}

convcl_status convcl_cl_gemm_create(convcl_context *ctx, int variant, int64_t m, int64_t n,
                                    int64_t k, int64_t batch, convcl_cl_batched_gemm *g) {
  memset(g, 0, sizeof *g);
  int tries[CONVCL_CL_GEMM_VARIANT_COUNT] = {variant};
  const int count = variant < 0 ? candidates(ctx->impl, m, n, batch, tries) : 1;
  convcl_status status = CONVCL_ERROR_ALGO_NOT_APPLICABLE;
  for (int i = 0; i < count && status == CONVCL_ERROR_ALGO_NOT_APPLICABLE; ++i) {
    variant = tries[i];
    status = variant_kernel(ctx, variant, g);
  }
  if (status != CONVCL_OK) return status;
  const convcl_cl_tiles *t = &variants[variant];
  convcl_cl_tiles_local(t, g->local);
  g->m = m;
  g->n = n;
  g->k = k;
  g->kpad = convcl_cl_tiles_kpad(t, k);
  g->mpad = convcl_cl_tiles_mpad(t, m);
  g->panel = t->blocked ? t->rm : g->mpad;
  g->global[0] = (size_t)((n + t->tn - 1) / t->tn) * g->local[0];
  g->global[1] = (size_t)((m + t->tm - 1) / t->tm) * g->local[1];
  g->global[2] = (size_t)batch;
  return CONVCL_OK;
}

float *convcl_cl_pack_a(const float *a, int64_t count, int64_t m, int64_t k, int64_t kpad,
                        int64_t mpad, int64_t panel) {
  const int64_t size = kpad * mpad;
  float *packed = calloc((size_t)(count * size), sizeof *packed);
  if (!packed) return NULL;
  for (int64_t b = 0; b < count; ++b)
    for (int64_t row = 0; row < m; ++row) {
      const float *src = a + (b * m + row) * k;
      float *dst = packed + b * size + row / panel * kpad * panel + row % panel;
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * panel] = src[kk];
    }
  return packed;
}

convcl_status convcl_cl_gemm_bind(const convcl_cl_batched_gemm *g,
                                  const convcl_cl_gemm_operands *o) {
  const cl_int m = (cl_int)g->m, n = (cl_int)g->n, k = (cl_int)g->k, kpad = (cl_int)g->kpad,
               mpad = (cl_int)g->mpad, ldb = (cl_int)o->ldb, ldc = (cl_int)o->ldc,
               nb2 = (cl_int)o->nb2, has_bias = o->bias != NULL, relu = o->relu;
  const cl_int2 a_stride = {{(cl_int)o->a_stride[0], (cl_int)o->a_stride[1]}},
                b_stride = {{(cl_int)o->b_stride[0], (cl_int)o->b_stride[1]}},
                c_stride = {{(cl_int)o->c_stride[0], (cl_int)o->c_stride[1]}};
  /* A NULL buffer argument is not portable: without bias, bind A there. */
  const cl_mem bias = o->bias ? o->bias : o->a;
  const convcl_cl_arg args[] = {
      {0, sizeof(cl_mem), &o->a},
      {3, sizeof(cl_mem), &bias},
      {4, sizeof m, &m},
      {5, sizeof n, &n},
      {6, sizeof k, &k},
      {7, sizeof kpad, &kpad},
      {8, sizeof mpad, &mpad},
      {9, sizeof ldb, &ldb},
      {10, sizeof ldc, &ldc},
      {11, sizeof nb2, &nb2},
      {12, sizeof a_stride, &a_stride},
      {13, sizeof b_stride, &b_stride},
      {14, sizeof c_stride, &c_stride},
      {15, sizeof has_bias, &has_bias},
      {16, sizeof relu, &relu},
  };
  return convcl_opencl_set_args(g->kernel, args, sizeof args / sizeof args[0]);
}

convcl_status convcl_cl_gemm_enqueue(const convcl_opencl_state *cl,
                                     const convcl_cl_batched_gemm *g) {
  const cl_int err =
      clEnqueueNDRangeKernel(cl->queue, g->kernel, 3, NULL, g->global, g->local, 0, NULL, NULL);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clEnqueueNDRangeKernel", err);
}

/* ---- The gemm solver -------------------------------------------------------------- */

typedef struct gemm_plan {
  convcl_cl_batched_gemm gemm;
  cl_mem weights, bias;
} gemm_plan;

static int64_t positions(const convcl_problem *p) { return p->in[0] * p->in[1] * p->in[2]; }

static int gemm_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  if (p->transposed || !convcl_cl_pointwise(p)) return 0;
  return p->input_elems <= INT_MAX && p->output_elems <= INT_MAX && p->n * p->groups <= INT_MAX &&
         convcl_cl_gemm_fits_int(p->k / p->groups, positions(p), p->c / p->groups, p->groups);
}

static size_t gemm_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  (void)p;
  return 0;
}

static void gemm_free(gemm_plan *st) {
  if (!st) return;
  convcl_cl_gemm_release(&st->gemm);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->bias) clReleaseMemObject(st->bias);
  free(st);
}

static convcl_status gemm_create(convcl_plan *plan, const float *weights, const float *bias) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;
  const int64_t cg = p->c / p->groups, mg = p->k / p->groups, hw = positions(p);
  float *packed = NULL;

  gemm_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  convcl_status status =
      convcl_cl_gemm_create(plan->ctx, plan->variant, mg, hw, cg, p->n * p->groups, &st->gemm);
  if (status != CONVCL_OK) goto cleanup;
  /* The weights [k][cg] are the groups' A matrices, row-major, one after the other. */
  packed = convcl_cl_gemm_pack(&st->gemm, weights, p->groups);
  if (!packed) {
    status = convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory packing the weights");
    goto cleanup;
  }
  const int64_t a_size = st->gemm.kpad * st->gemm.mpad;
  status = convcl_opencl_upload(cl, "packed weight", packed,
                                (size_t)(p->groups * a_size) * sizeof(float), &st->weights);
  if (status != CONVCL_OK) goto cleanup;
  if (p->has_bias) {
    status = convcl_opencl_upload(cl, "bias", bias, (size_t)p->k * sizeof(float), &st->bias);
    if (status != CONVCL_OK) goto cleanup;
  }
  /* Batch z = image * groups + group. */
  const convcl_cl_gemm_operands ops = {
      .a = st->weights,
      .bias = st->bias,
      .ldb = hw,
      .ldc = hw,
      .nb2 = p->groups,
      .a_stride = {0, a_size},
      .b_stride = {p->c * hw, cg * hw},
      .c_stride = {p->k * hw, mg * hw},
      .relu = p->relu,
  };
  status = convcl_cl_gemm_bind(&st->gemm, &ops);
  if (status != CONVCL_OK) goto cleanup;
  plan->impl = st;
  st = NULL;

cleanup:
  free(packed);
  gemm_free(st);
  return status;
}

static convcl_status gemm_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                  convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const gemm_plan *st = plan->impl;
  convcl_status status = convcl_cl_bind(st->gemm.kernel, 1, st->gemm.kernel, 2, input, output);
  if (status == CONVCL_OK) status = convcl_cl_gemm_enqueue(cl, &st->gemm);
  return status;
}

static void gemm_destroy(convcl_plan *plan) {
  gemm_free(plan->impl);
  plan->impl = NULL;
}

const convcl_solver convcl_opencl_gemm_solver = {
    .algo = CONVCL_ALGO_GEMM,
    .applicable = gemm_applicable,
    .workspace = gemm_workspace,
    .create = gemm_create,
    .enqueue = gemm_enqueue,
    .destroy = gemm_destroy,
    .variant_count = CONVCL_CL_GEMM_VARIANT_COUNT,
    .variant_names = convcl_cl_gemm_variant_names,
};
