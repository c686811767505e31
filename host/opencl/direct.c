/* OpenCL generic direct solver: kernels/direct.cl for convolutions and the gather form
 * of kernels/transposed.cl for transposed ones. Applicable wherever its int coordinates
 * fit, no workspace. */
#include "opencl/opencl.h"

#include <limits.h>
#include <stdlib.h>

/* Work-items per launch: global sizes past 2^32 fail on some devices, so larger
 * outputs are covered by several launches with a global offset. A multiple of
 * every work-group size the backend picks (powers of two up to 64). */
#define CONVCL_CL_CHUNK ((size_t)1 << 30)

typedef struct direct_plan {
  cl_kernel kernel;
  cl_mem weights, bias;
  size_t total; /* output elements = work-items */
} direct_plan;

/* The kernels do per-dimension arithmetic in int, since 64-bit division and modulo
 * are slow on GPUs; every coordinate they form stays within this reach. Returns the
 * dimension (0..2) whose coordinates leave int, 3 when the channel or kernel counts
 * do, -1 when everything fits. */
static int int_range_failure(const convcl_problem *p) {
  if (p->c > INT_MAX || p->k > INT_MAX || p->kernel_elems > INT_MAX) return 3;
  for (int d = 0; d < 3; ++d) {
    const int64_t fields[] = {p->in[d],       p->out[d],       p->kernel[d], p->stride[d],
                              p->dilation[d], p->pad_begin[d], p->pad_end[d]};
    /* With every field at most INT_MAX neither the sum nor the product overflows. */
    int64_t reach = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && reach <= INT_MAX; ++i)
      reach = fields[i] > INT_MAX ? fields[i] : reach + fields[i];
    if (reach <= INT_MAX) reach += (p->kernel[d] - 1) * p->dilation[d];
    if (reach > INT_MAX) return d;
  }
  return -1;
}

static convcl_status check_int_range(const convcl_problem *p) {
  static const char dim_names[3] = {'D', 'H', 'W'};
  const int d = int_range_failure(p);
  if (d == 3)
    return convcl_error(CONVCL_ERROR_UNSUPPORTED,
                        "OpenCL direct: %lld in channels, %lld out channels and %lld kernel "
                        "elements must each fit in 32 bits",
                        (long long)p->c, (long long)p->k, (long long)p->kernel_elems);
  if (d >= 0)
    return convcl_error(CONVCL_ERROR_UNSUPPORTED,
                        "OpenCL direct: spatial dimension %c (input %lld, output %lld, kernel "
                        "%lld, dilation %lld) exceeds 32-bit coordinates",
                        dim_names[d], (long long)p->in[d], (long long)p->out[d],
                        (long long)p->kernel[d], (long long)p->dilation[d]);
  return CONVCL_OK;
}

/* Any problem whose coordinates fit the kernels' int arithmetic, so queries and AUTO
 * refuse what create() would; a predicate, which leaves the thread's error alone. */
static int direct_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return int_range_failure(p) < 0;
}

static size_t direct_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  (void)p;
  return 0;
}

static void direct_free(direct_plan *st) {
  if (!st) return;
  if (st->kernel) clReleaseKernel(st->kernel);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->bias) clReleaseMemObject(st->bias);
  free(st);
}

/* Binds every argument once: the buffers and sizes are fixed for the plan's life,
 * so enqueue() only binds the tensors and launches. */
static convcl_status set_args(direct_plan *st, const convcl_problem *p) {
  const cl_long total = (cl_long)st->total;
  const cl_int c = (cl_int)p->c, k = (cl_int)p->k, groups = (cl_int)p->groups;
  const cl_int4 in = convcl_cl_dims3(p->in), out = convcl_cl_dims3(p->out),
                ksize = convcl_cl_dims3(p->kernel), stride = convcl_cl_dims3(p->stride),
                dilation = convcl_cl_dims3(p->dilation), pad = convcl_cl_dims3(p->pad_begin);
  const cl_int mode = (cl_int)p->mode, epilogue = convcl_cl_epilogue(p);
  /* Without bias the kernel never reads that argument, but it still needs a valid
   * buffer there: a NULL buffer argument is not portable across implementations. */
  const cl_mem bias = p->has_bias ? st->bias : st->weights;
  /* Arguments 0 and 3, input and output, are bound per run. */
  const convcl_cl_arg args[] = {
      {1, sizeof(cl_mem), &st->weights},
      {2, sizeof(cl_mem), &bias},
      {4, sizeof total, &total},
      {5, sizeof c, &c},
      {6, sizeof k, &k},
      {7, sizeof groups, &groups},
      {8, sizeof in, &in},
      {9, sizeof out, &out},
      {10, sizeof ksize, &ksize},
      {11, sizeof stride, &stride},
      {12, sizeof dilation, &dilation},
      {13, sizeof pad, &pad},
      {14, sizeof epilogue, &epilogue},
      {15, sizeof mode, &mode},
  };
  /* The padding mode comes last since conv_transposed, zeros-padded only, lacks it. */
  const size_t count = sizeof args / sizeof args[0] - (p->transposed ? 1 : 0);
  return convcl_opencl_set_args(st->kernel, args, count);
}

static convcl_status direct_create(convcl_plan *plan, const float *weights, const float *bias) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;

  convcl_status status = check_int_range(p);
  if (status != CONVCL_OK) return status;
  direct_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  st->total = (size_t)p->output_elems;

  status = convcl_opencl_kernel(
      plan->ctx, p->transposed ? CONVCL_CL_PROGRAM_TRANSPOSED : CONVCL_CL_PROGRAM_DIRECT,
      p->transposed ? "conv_transposed" : "conv_direct", &st->kernel);
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
  direct_free(st);
  return status;
}

static convcl_status direct_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                    convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const direct_plan *st = plan->impl;
  convcl_status status = convcl_cl_bind(st->kernel, 0, st->kernel, 3, input, output);
  for (size_t offset = 0; status == CONVCL_OK && offset < st->total; offset += CONVCL_CL_CHUNK) {
    size_t global = st->total - offset < CONVCL_CL_CHUNK ? st->total - offset : CONVCL_CL_CHUNK;
    global = (global + cl->wg - 1) / cl->wg * cl->wg;
    const cl_int err =
        clEnqueueNDRangeKernel(cl->queue, st->kernel, 1, &offset, &global, &cl->wg, 0, NULL, NULL);
    if (err != CL_SUCCESS) status = convcl_cl_fail("clEnqueueNDRangeKernel", err);
  }
  return status;
}

static void direct_destroy(convcl_plan *plan) {
  direct_free(plan->impl);
  plan->impl = NULL;
}

const convcl_solver convcl_opencl_direct_solver = {
    .algo = CONVCL_ALGO_DIRECT,
    .applicable = direct_applicable,
    .workspace = direct_workspace,
    .create = direct_create,
    .enqueue = direct_enqueue,
    .destroy = direct_destroy,
};
