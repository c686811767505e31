/* OpenCL depthwise solver (kernels/depthwise.cl): groups == in_channels, any rank,
 * stride, dilation, pads and padding mode. Each work-item computes a few consecutive
 * outputs of one row, so neighbouring taps share their input reads. No workspace. */
#include "opencl/opencl.h"

#include <limits.h>
#include <stdlib.h>

/* Outputs per work-item along W; depthwise.cl's VW default. */
#define DEPTHWISE_VW 8

typedef struct depthwise_plan {
  cl_kernel kernel;
  cl_mem weights, bias;
  size_t per_image; /* work-items per image: output rows times blocks of VW columns */
} depthwise_plan;

/* The work-items of one image, which the kernel indexes in int. */
static int64_t per_image(const convcl_problem *p) {
  return p->k * p->out[0] * p->out[1] * ((p->out[2] + DEPTHWISE_VW - 1) / DEPTHWISE_VW);
}

/* The kernel forms per-dimension coordinates in int, up to the last block's reach.
 * Returns the dimension (0..2) whose coordinates leave int, 3 when the channel or
 * kernel counts do, -1 when everything fits. */
static int int_range_failure(const convcl_problem *p) {
  if (p->c > INT_MAX || p->k > INT_MAX || p->kernel_elems > INT_MAX) return 3;
  for (int d = 0; d < 3; ++d) {
    /* In double: the fields are validated sizes, far below 2^53. */
    const double reach = ((double)p->out[d] + DEPTHWISE_VW) * (double)p->stride[d] +
                         (double)(p->kernel[d] - 1) * (double)p->dilation[d] +
                         (double)p->pad_begin[d] + (double)p->in[d];
    if (reach > INT_MAX) return d;
  }
  return -1;
}

/* Images too large for 32-bit indexing go to the other solvers (a predicate, which
 * leaves the thread's error alone). */
static int depthwise_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return !p->transposed && p->groups == p->c && per_image(p) <= INT_MAX - 64 &&
         int_range_failure(p) < 0;
}

/* AUTO prefers this solver at multiplier 1, the common depthwise layer: measured on
 * PoCL (CPU), 1.1x the implicit GEMM over the MobileNet-v2 depthwise layers, while
 * already at multiplier 2 the GEMM, whose tiles then fill with the multiplier's
 * channels, is 1.2x faster. */
static int depthwise_preferred(const convcl_context *ctx, const convcl_problem *p) {
  return depthwise_applicable(ctx, p) && p->k == p->c;
}

static size_t depthwise_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  (void)p;
  return 0;
}

static convcl_status check_int_range(const convcl_problem *p) {
  const int d = int_range_failure(p);
  if (d == 3)
    return convcl_error(CONVCL_ERROR_UNSUPPORTED,
                        "OpenCL depthwise: %lld channels, %lld out channels and %lld kernel "
                        "elements must each fit in 32 bits",
                        (long long)p->c, (long long)p->k, (long long)p->kernel_elems);
  if (d >= 0)
    return convcl_error(CONVCL_ERROR_UNSUPPORTED,
                        "OpenCL depthwise: spatial dimension %d (input %lld, output %lld, "
                        "kernel %lld, stride %lld, dilation %lld) exceeds 32-bit coordinates",
                        d, (long long)p->in[d], (long long)p->out[d], (long long)p->kernel[d],
                        (long long)p->stride[d], (long long)p->dilation[d]);
  return CONVCL_OK;
}

static void depthwise_free(depthwise_plan *st) {
  if (!st) return;
  if (st->kernel) clReleaseKernel(st->kernel);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->bias) clReleaseMemObject(st->bias);
  free(st);
}

/* Binds every argument but the input and output, which enqueue() binds: each run may
 * have other tensors. */
static convcl_status set_args(depthwise_plan *st, const convcl_problem *p) {
  const cl_int items = (cl_int)st->per_image;
  const cl_int c = (cl_int)p->c, k = (cl_int)p->k;
  const cl_int4 in = convcl_cl_dims3(p->in), out = convcl_cl_dims3(p->out),
                ksize = convcl_cl_dims3(p->kernel), stride = convcl_cl_dims3(p->stride),
                dilation = convcl_cl_dims3(p->dilation), pad = convcl_cl_dims3(p->pad_begin);
  const cl_int mode = (cl_int)p->mode, epilogue = convcl_cl_epilogue(p);
  /* A NULL buffer argument is not portable: without bias, bind the weights there. */
  const cl_mem bias = p->has_bias ? st->bias : st->weights;
  const convcl_cl_arg args[] = {
      {1, sizeof(cl_mem), &st->weights},
      {2, sizeof(cl_mem), &bias},
      {4, sizeof items, &items},
      {5, sizeof c, &c},
      {6, sizeof k, &k},
      {7, sizeof in, &in},
      {8, sizeof out, &out},
      {9, sizeof ksize, &ksize},
      {10, sizeof stride, &stride},
      {11, sizeof dilation, &dilation},
      {12, sizeof pad, &pad},
      {13, sizeof epilogue, &epilogue},
      {14, sizeof mode, &mode},
  };
  return convcl_opencl_set_args(st->kernel, args, sizeof args / sizeof args[0]);
}

static convcl_status depthwise_create(convcl_plan *plan, const float *weights, const float *bias) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;

  convcl_status status = check_int_range(p);
  if (status != CONVCL_OK) return status;
  depthwise_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  st->per_image = (size_t)per_image(p);

  status =
      convcl_opencl_kernel(plan->ctx, CONVCL_CL_PROGRAM_DEPTHWISE, "conv_depthwise", &st->kernel);
  if (status != CONVCL_OK) goto cleanup;
  status = convcl_opencl_upload(cl, "weight", weights, (size_t)p->weight_elems * sizeof(float),
                                &st->weights);
  if (status != CONVCL_OK) goto cleanup;
  if (p->has_bias) {
    status = convcl_opencl_upload(cl, "bias", bias, (size_t)p->k * sizeof(float), &st->bias);
    if (status != CONVCL_OK) goto cleanup;
  }
  status = set_args(st, p);
  if (status != CONVCL_OK) goto cleanup;
  plan->impl = st;
  return CONVCL_OK;

cleanup:
  depthwise_free(st);
  return status;
}

static convcl_status depthwise_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                       convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const depthwise_plan *st = plan->impl;
  convcl_status status = convcl_cl_bind(st->kernel, 0, st->kernel, 3, input, output);
  if (status == CONVCL_OK) {
    const size_t global[2] = {(st->per_image + cl->wg - 1) / cl->wg * cl->wg,
                              (size_t)plan->problem.n},
                 local[2] = {cl->wg, 1};
    const cl_int err =
        clEnqueueNDRangeKernel(cl->queue, st->kernel, 2, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) status = convcl_cl_fail("clEnqueueNDRangeKernel", err);
  }
  return status;
}

static void depthwise_destroy(convcl_plan *plan) {
  depthwise_free(plan->impl);
  plan->impl = NULL;
}

/* Two entries of one algorithm, as on the CPU: the backend lists the first ahead of the
 * implicit GEMM, the second after it, so a request by name runs any multiplier. */
const convcl_solver convcl_opencl_depthwise_preferred_solver = {
    .algo = CONVCL_ALGO_DEPTHWISE,
    .applicable = depthwise_preferred,
    .workspace = depthwise_workspace,
    .create = depthwise_create,
    .enqueue = depthwise_enqueue,
    .destroy = depthwise_destroy,
};

const convcl_solver convcl_opencl_depthwise_solver = {
    .algo = CONVCL_ALGO_DEPTHWISE,
    .applicable = depthwise_applicable,
    .workspace = depthwise_workspace,
    .create = depthwise_create,
    .enqueue = depthwise_enqueue,
    .destroy = depthwise_destroy,
};
