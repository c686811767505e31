/* OpenCL Winograd solvers F(2x2, 3x3) and F(4x4, 3x3) (kernels/winograd.cl): 2D,
 * 3x3, stride 1, dilation 1, zeros padding. The filters are transformed once, on the
 * host, into the batched GEMM's A (host/opencl/gemm.c); each run transforms a chunk of
 * the input's tiles into a workspace, multiplies per transform point and group, and
 * transforms back with bias and ReLU, chunk after chunk, so the workspace stays bounded.
 * The output transform sums a tile again directly where it comes out non-finite (see
 * kernels/winograd.cl), so the plan keeps the untransformed weights on the device too. */
#include "opencl/opencl.h"

#include <limits.h>
#include <stdlib.h>

/* The workspace the chunks aim for, and the most tiles in one: larger chunks only
 * lengthen the GEMMs' N, which fills every variant's tiles long before 1024 columns.
 * ResNet-50's layers at batch 1 run in one chunk. */
#define WINOGRAD_WORKSPACE_TARGET ((int64_t)64 << 20)
#define WINOGRAD_CHUNK_MAX 1024

/* Chunks are whole multiples of this many tiles, so GEMM rows start aligned. */
#define WINOGRAD_CHUNK_ALIGN 16

typedef struct winograd_plan {
  cl_kernel input_kernel, output_kernel;
  convcl_cl_batched_gemm gemm;
  cl_mem weights, bias, v, m;
  cl_mem raw; /* the untransformed weights, for tiles with non-finite values */
  int64_t tiles, chunk;
} winograd_plan;

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

static int64_t tile_count(const convcl_problem *p, int m) {
  return p->n * ((p->out[1] + m - 1) / m) * ((p->out[2] + m - 1) / m);
}

/* Tiles per chunk: as many as fit the target, at least one aligned group of them, never
 * more than the tiles there are (rounded up to the alignment). */
static int64_t chunk_tiles(const convcl_problem *p, int m) {
  const int64_t t = (int64_t)(m + 2) * (m + 2);
  const int64_t per_tile = t * (p->c + p->k) * (int64_t)sizeof(float);
  int64_t chunk =
      WINOGRAD_WORKSPACE_TARGET / per_tile / WINOGRAD_CHUNK_ALIGN * WINOGRAD_CHUNK_ALIGN;
  if (chunk > WINOGRAD_CHUNK_MAX) chunk = WINOGRAD_CHUNK_MAX;
  if (chunk < WINOGRAD_CHUNK_ALIGN) chunk = WINOGRAD_CHUNK_ALIGN;
  const int64_t all = round_up(tile_count(p, m), WINOGRAD_CHUNK_ALIGN);
  return chunk < all ? chunk : all;
}

static int applicable(const convcl_problem *p, int m) {
  if (p->rank != 2 || p->transposed || p->mode != CONVCL_PADDING_ZEROS) return 0;
  for (int d = 1; d < 3; ++d)
    if (p->kernel[d] != 3 || p->stride[d] != 1 || p->dilation[d] != 1) return 0;
  /* Every offset the kernels form, the workspace's included, fits in int. */
  const int64_t t = (int64_t)(m + 2) * (m + 2), chunk = chunk_tiles(p, m);
  if (p->input_elems > INT_MAX || p->output_elems > INT_MAX || p->weight_elems > INT_MAX ||
      p->c > INT_MAX / t / chunk || p->k > INT_MAX / t / chunk ||
      tile_count(p, m) > INT_MAX - chunk || p->pad_begin[1] > INT_MAX / 4 ||
      p->pad_begin[2] > INT_MAX / 4 || p->out[1] > INT_MAX / 4 || p->out[2] > INT_MAX / 4)
    return 0;
  return convcl_cl_gemm_fits_int(p->k / p->groups, chunk, p->c / p->groups, t * p->groups);
}

static int winograd_2x2_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return applicable(p, 2);
}

static int winograd_4x4_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return applicable(p, 4);
}

/* AUTO prefers Winograd to the implicit GEMM from 32 channels per group up (in and out).
 * On CPU devices F(4x4, 3x3) from 16 tiles: measured on PoCL (2 cores, AVX-512),
 * ResNet-50's stride-1 3x3 layers at batch 1 ran 1.5x to 1.75x faster at 56x56 to 14x14
 * (196 to 16 tiles), and 0.5x at 7x7 (4 tiles), where the transformed filters, four times
 * the weights, are read for too few columns. On GPUs F(4x4) from 128 tiles, else F(2x2):
 * on an H200 (device-resident, bench/results/nvidia-h200_2026-11-26b) both ran those
 * layers 3x to 9x faster than the implicit GEMM; at batch 1 (4 to 196 F(4x4) tiles)
 * F(2x2) was as fast or up to 1.8x faster, at batch 32 (128 to 6272) F(4x4) was 1.25x to
 * 2.2x faster. */
static int winograd_channels(const convcl_problem *p) {
  return p->c / p->groups >= 32 && p->k / p->groups >= 32;
}

static int on_cpu_device(const convcl_context *ctx) {
  const convcl_opencl_state *cl = ctx->impl;
  return cl->limits.is_cpu;
}

static int winograd_4x4_preferred(const convcl_context *ctx, const convcl_problem *p) {
  return applicable(p, 4) && winograd_channels(p) &&
         tile_count(p, 4) >= (on_cpu_device(ctx) ? 16 : 128);
}

static int winograd_2x2_preferred(const convcl_context *ctx, const convcl_problem *p) {
  return !on_cpu_device(ctx) && applicable(p, 2) && winograd_channels(p);
}

/* V and M: (m + 2)^2 matrices of channels x chunk and out channels x chunk floats. */
static size_t workspace(const convcl_problem *p, int m) {
  return (size_t)((m + 2) * (m + 2) * (p->c + p->k) * chunk_tiles(p, m)) * sizeof(float);
}

static size_t winograd_2x2_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return workspace(p, 2);
}

static size_t winograd_4x4_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return workspace(p, 4);
}

/* U[t][g] (out channels x channels of group g, row-major) for each transform point t:
 * the GEMMs' A matrices before packing. */
static float *transform_filters(const convcl_problem *p, const float *weights, int m) {
  const int a = m + 2, t_count = a * a;
  const int64_t cg = p->c / p->groups, mg = p->k / p->groups;
  float *u = malloc((size_t)(t_count * p->k * cg) * sizeof *u);
  if (!u) return NULL;
  for (int64_t oc = 0; oc < p->k; ++oc)
    for (int64_t ic = 0; ic < cg; ++ic) {
      double uf[6][6];
      convcl_winograd_filter(m, weights + (oc * cg + ic) * 9, uf);
      const int64_t grp = oc / mg, row = oc % mg;
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < a; ++j) {
          const int64_t t = i * a + j;
          u[((t * p->groups + grp) * mg + row) * cg + ic] = (float)uf[i][j];
        }
    }
  return u;
}

static void winograd_free(winograd_plan *st) {
  if (!st) return;
  if (st->input_kernel) clReleaseKernel(st->input_kernel);
  if (st->output_kernel) clReleaseKernel(st->output_kernel);
  convcl_cl_gemm_release(&st->gemm);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->bias) clReleaseMemObject(st->bias);
  if (st->raw) clReleaseMemObject(st->raw);
  if (st->v) clReleaseMemObject(st->v);
  if (st->m) clReleaseMemObject(st->m);
  free(st);
}

/* Binds every argument but the input, the output and p0, which enqueue() binds. */
static convcl_status set_args(winograd_plan *st, const convcl_problem *p, int m) {
  const int64_t cg = p->c / p->groups, mg = p->k / p->groups;
  const cl_int c = (cl_int)p->c, k = (cl_int)p->k, cg32 = (cl_int)cg, mg32 = (cl_int)mg,
               tiles_w = (cl_int)((p->out[2] + m - 1) / m),
               per_image = (cl_int)((p->out[1] + m - 1) / m) * tiles_w, tiles = (cl_int)st->tiles,
               ld = (cl_int)st->chunk, has_bias = p->has_bias, relu = p->relu;
  const cl_int2 in = {{(cl_int)p->in[1], (cl_int)p->in[2]}},
                pad = {{(cl_int)p->pad_begin[1], (cl_int)p->pad_begin[2]}},
                out = {{(cl_int)p->out[1], (cl_int)p->out[2]}};
  const cl_mem bias = st->bias ? st->bias : st->weights;
  const convcl_cl_arg input_args[] = {
      {1, sizeof(cl_mem), &st->v},   {2, sizeof c, &c},
      {3, sizeof in, &in},           {4, sizeof pad, &pad},
      {5, sizeof tiles_w, &tiles_w}, {6, sizeof per_image, &per_image},
      {7, sizeof tiles, &tiles},     {9, sizeof ld, &ld},
  };
  const convcl_cl_arg output_args[] = {
      {0, sizeof(cl_mem), &st->m},
      {1, sizeof(cl_mem), &bias},
      {3, sizeof k, &k},
      {4, sizeof out, &out},
      {5, sizeof tiles_w, &tiles_w},
      {6, sizeof per_image, &per_image},
      {7, sizeof tiles, &tiles},
      {9, sizeof ld, &ld},
      {10, sizeof has_bias, &has_bias},
      {11, sizeof relu, &relu},
      {13, sizeof(cl_mem), &st->raw},
      {14, sizeof c, &c},
      {15, sizeof cg32, &cg32},
      {16, sizeof mg32, &mg32},
      {17, sizeof in, &in},
      {18, sizeof pad, &pad},
  };
  const convcl_cl_arg gemm_args[] = {{1, sizeof(cl_mem), &st->v}, {2, sizeof(cl_mem), &st->m}};
  const int64_t a_size = st->gemm.kpad * st->gemm.mpad;
  /* Batch z = transform point * groups + group; bias and ReLU wait for the output
   * transform. */
  const convcl_cl_gemm_operands ops = {
      .a = st->weights,
      .ldb = st->chunk,
      .ldc = st->chunk,
      .nb2 = p->groups,
      .a_stride = {p->groups * a_size, a_size},
      .b_stride = {p->c * st->chunk, cg * st->chunk},
      .c_stride = {p->k * st->chunk, mg * st->chunk},
  };
  convcl_status status = convcl_opencl_set_args(st->input_kernel, input_args,
                                                sizeof input_args / sizeof input_args[0]);
  if (status == CONVCL_OK)
    status = convcl_opencl_set_args(st->output_kernel, output_args,
                                    sizeof output_args / sizeof output_args[0]);
  if (status == CONVCL_OK) status = convcl_opencl_set_args(st->gemm.kernel, gemm_args, 2);
  if (status == CONVCL_OK) status = convcl_cl_gemm_bind(&st->gemm, &ops);
  return status;
}

static convcl_status create(convcl_plan *plan, const float *weights, const float *bias, int m,
                            convcl_cl_program_id program) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;
  const int64_t t_count = (m + 2) * (m + 2), cg = p->c / p->groups, mg = p->k / p->groups;
  float *u = NULL, *packed = NULL;

  winograd_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  st->tiles = tile_count(p, m);
  st->chunk = chunk_tiles(p, m);
  convcl_status status =
      convcl_opencl_kernel(plan->ctx, program, "winograd_input", &st->input_kernel);
  if (status == CONVCL_OK)
    status = convcl_opencl_kernel(plan->ctx, program, "winograd_output", &st->output_kernel);
  /* The GEMMs span a whole chunk, or only the tiles there are when fewer: small late
   * layers would otherwise multiply mostly zero columns. */
  if (status == CONVCL_OK)
    status = convcl_cl_gemm_create(plan->ctx, plan->variant, mg,
                                   st->tiles < st->chunk ? st->tiles : st->chunk, cg,
                                   t_count * p->groups, &st->gemm);
  if (status != CONVCL_OK) goto cleanup;

  u = transform_filters(p, weights, m);
  packed = u ? convcl_cl_gemm_pack(&st->gemm, u, t_count * p->groups) : NULL;
  if (!packed) {
    status =
        convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory transforming the weights");
    goto cleanup;
  }
  status = convcl_opencl_upload(
      cl, "transformed weight", packed,
      (size_t)(t_count * p->groups * st->gemm.kpad * st->gemm.mpad) * sizeof(float), &st->weights);
  if (status != CONVCL_OK) goto cleanup;
  if (p->has_bias) {
    status = convcl_opencl_upload(cl, "bias", bias, (size_t)p->k * sizeof(float), &st->bias);
    if (status != CONVCL_OK) goto cleanup;
  }
  status = convcl_opencl_upload(cl, "weight", weights, (size_t)p->weight_elems * sizeof(float),
                                &st->raw);
  if (status != CONVCL_OK) goto cleanup;
  status = convcl_opencl_buffer(cl, "transformed input",
                                (size_t)(t_count * p->c * st->chunk) * sizeof(float),
                                CL_MEM_READ_WRITE, &st->v);
  if (status == CONVCL_OK)
    status = convcl_opencl_buffer(cl, "transformed output",
                                  (size_t)(t_count * p->k * st->chunk) * sizeof(float),
                                  CL_MEM_READ_WRITE, &st->m);
  if (status == CONVCL_OK) status = set_args(st, p, m);
  if (status != CONVCL_OK) goto cleanup;
  plan->impl = st;
  st = NULL;

cleanup:
  free(u);
  free(packed);
  winograd_free(st);
  return status;
}

static convcl_status winograd_2x2_create(convcl_plan *plan, const float *weights,
                                         const float *bias) {
  return create(plan, weights, bias, 2, CONVCL_CL_PROGRAM_WINOGRAD_2X2);
}

static convcl_status winograd_4x4_create(convcl_plan *plan, const float *weights,
                                         const float *bias) {
  return create(plan, weights, bias, 4, CONVCL_CL_PROGRAM_WINOGRAD_4X4);
}

/* Launches one transform kernel over the chunk's columns and rows channels. */
static convcl_status enqueue_transform(const convcl_opencl_state *cl, cl_kernel kernel,
                                       int64_t chunk, int64_t channels) {
  const size_t global[2] = {(size_t)round_up(chunk, (int64_t)cl->wg), (size_t)channels},
               local[2] = {cl->wg, 1};
  const cl_int err =
      clEnqueueNDRangeKernel(cl->queue, kernel, 2, NULL, global, local, 0, NULL, NULL);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clEnqueueNDRangeKernel", err);
}

static convcl_status winograd_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                      convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const winograd_plan *st = plan->impl;
  const convcl_problem *p = &plan->problem;
  convcl_status status = convcl_cl_bind(st->input_kernel, 0, st->output_kernel, 2, input, output);
  const cl_mem x = input->buffer;
  cl_int bind_err;
  if (status == CONVCL_OK &&
      (bind_err = clSetKernelArg(st->output_kernel, 12, sizeof x, &x)) != CL_SUCCESS)
    status = convcl_cl_fail("clSetKernelArg", bind_err);
  /* The queue is in order, so a chunk's transforms and GEMM see the previous chunk's
   * finished; p0 is captured at each enqueue. */
  for (int64_t p0 = 0; status == CONVCL_OK && p0 < st->tiles; p0 += st->chunk) {
    const cl_int first = (cl_int)p0;
    cl_int err;
    if ((err = clSetKernelArg(st->input_kernel, 8, sizeof first, &first)) != CL_SUCCESS ||
        (err = clSetKernelArg(st->output_kernel, 8, sizeof first, &first)) != CL_SUCCESS) {
      status = convcl_cl_fail("clSetKernelArg", err);
      break;
    }
    status = enqueue_transform(cl, st->input_kernel, st->chunk, p->c);
    if (status == CONVCL_OK) status = convcl_cl_gemm_enqueue(cl, &st->gemm);
    if (status == CONVCL_OK) status = enqueue_transform(cl, st->output_kernel, st->chunk, p->k);
  }
  return status;
}

static void winograd_destroy(convcl_plan *plan) {
  winograd_free(plan->impl);
  plan->impl = NULL;
}

const convcl_solver convcl_opencl_winograd_2x2_solver = {
    .algo = CONVCL_ALGO_WINOGRAD_2X2,
    .applicable = winograd_2x2_applicable,
    .workspace = winograd_2x2_workspace,
    .create = winograd_2x2_create,
    .enqueue = winograd_enqueue,
    .destroy = winograd_destroy,
    .variant_count = CONVCL_CL_GEMM_VARIANT_COUNT,
    .variant_names = convcl_cl_gemm_variant_names,
};

const convcl_solver convcl_opencl_winograd_2x2_preferred_solver = {
    .algo = CONVCL_ALGO_WINOGRAD_2X2,
    .applicable = winograd_2x2_preferred,
    .workspace = winograd_2x2_workspace,
    .create = winograd_2x2_create,
    .enqueue = winograd_enqueue,
    .destroy = winograd_destroy,
    .variant_count = CONVCL_CL_GEMM_VARIANT_COUNT,
    .variant_names = convcl_cl_gemm_variant_names,
};

const convcl_solver convcl_opencl_winograd_4x4_preferred_solver = {
    .algo = CONVCL_ALGO_WINOGRAD_4X4,
    .applicable = winograd_4x4_preferred,
    .workspace = winograd_4x4_workspace,
    .create = winograd_4x4_create,
    .enqueue = winograd_enqueue,
    .destroy = winograd_destroy,
    .variant_count = CONVCL_CL_GEMM_VARIANT_COUNT,
    .variant_names = convcl_cl_gemm_variant_names,
};

const convcl_solver convcl_opencl_winograd_4x4_solver = {
    .algo = CONVCL_ALGO_WINOGRAD_4X4,
    .applicable = winograd_4x4_applicable,
    .workspace = winograd_4x4_workspace,
    .create = winograd_4x4_create,
    .enqueue = winograd_enqueue,
    .destroy = winograd_destroy,
    .variant_count = CONVCL_CL_GEMM_VARIANT_COUNT,
    .variant_names = convcl_cl_gemm_variant_names,
};
