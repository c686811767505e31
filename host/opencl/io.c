/* OpenCL tensors and how host arrays reach the solvers, which only ever enqueue on
 * tensors: device buffers, the app's own buffers (include/convcl_opencl.h), and for
 * convcl_plan_run the plan's staging tensors, or on CPU devices the caller's arrays
 * wrapped in place (CL_MEM_USE_HOST_PTR), since copies there would only add memory
 * traffic. */
#include "opencl/opencl.h"

#include "convcl_opencl.h"

#include <stdlib.h>

static convcl_opencl_state *state(const convcl_tensor *t) { return t->ctx->impl; }

convcl_status convcl_cl_tensor_alloc(convcl_tensor *t) {
  cl_mem mem;
  const convcl_status st = convcl_opencl_buffer(
      state(t), "tensor", (size_t)t->elems * sizeof(float), CL_MEM_READ_WRITE, &mem);
  if (st == CONVCL_OK) t->buffer = mem;
  return st;
}

void convcl_cl_tensor_free(convcl_tensor *t) {
  /* The app's own buffer stays; a sub-buffer made of it or a buffer of ours goes. */
  if (t->buffer && t->buffer != t->app_buffer) clReleaseMemObject((cl_mem)t->buffer);
}

convcl_status convcl_cl_upload(convcl_tensor *t, const float *src) {
  const cl_int err = clEnqueueWriteBuffer(state(t)->queue, (cl_mem)t->buffer, CL_TRUE, 0,
                                          (size_t)t->elems * sizeof(float), src, 0, NULL, NULL);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clEnqueueWriteBuffer", err);
}

convcl_status convcl_cl_download(const convcl_tensor *t, float *dst) {
  /* Blocking, on the in-order queue: after every run enqueued before it. */
  const cl_int err = clEnqueueReadBuffer(state(t)->queue, (cl_mem)t->buffer, CL_TRUE, 0,
                                         (size_t)t->elems * sizeof(float), dst, 0, NULL, NULL);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clEnqueueReadBuffer", err);
}

convcl_status convcl_cl_finish(convcl_context *ctx) {
  const convcl_opencl_state *cl = ctx->impl;
  const cl_int err = clFinish(cl->queue);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clFinish", err);
}

/* A run on the caller's arrays themselves, for CPU devices: wrapped for the run, the
 * output read back into itself afterwards, which is what makes the results visible. */
static convcl_status run_in_place(convcl_plan *plan, const float *input, float *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;
  convcl_tensor x = {.ctx = plan->ctx, .shape = p->input_shape, .elems = p->input_elems},
                y = {.ctx = plan->ctx, .shape = p->output_shape, .elems = p->output_elems};
  const size_t in_bytes = (size_t)p->input_elems * sizeof(float),
               out_bytes = (size_t)p->output_elems * sizeof(float);
  cl_int err;
  convcl_status st = CONVCL_OK;
  /* CL_MEM_USE_HOST_PTR takes a non-const pointer; the kernels only read input. */
  x.buffer = clCreateBuffer(cl->context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, in_bytes,
                            (void *)input, &err);
  if (err == CL_SUCCESS)
    y.buffer = clCreateBuffer(cl->context, CL_MEM_WRITE_ONLY | CL_MEM_USE_HOST_PTR, out_bytes,
                              output, &err);
  if (err != CL_SUCCESS) st = convcl_cl_fail("clCreateBuffer", err);
  if (st == CONVCL_OK) st = plan->solver->enqueue(plan, &x, &y);
  /* A read into the buffer's own host memory makes the results visible there; the spec
   * defines it once every command on the buffer has finished. Unlike a map, a failed
   * read leaves nothing behind with the runtime. */
  if (st == CONVCL_OK && (err = clFinish(cl->queue)) != CL_SUCCESS)
    st = convcl_cl_fail("clFinish", err);
  if (st == CONVCL_OK) {
    convcl_count_host_transfer();
    err = clEnqueueReadBuffer(cl->queue, (cl_mem)y.buffer, CL_TRUE, 0, out_bytes, output, 0, NULL,
                              NULL);
    if (err != CL_SUCCESS) st = convcl_cl_fail("clEnqueueReadBuffer", err);
  }
  /* Nothing may touch the caller's arrays once we return, whatever failed. */
  clFinish(cl->queue);
  if (x.buffer) clReleaseMemObject((cl_mem)x.buffer);
  if (y.buffer) clReleaseMemObject((cl_mem)y.buffer);
  return st;
}

convcl_status convcl_cl_run_host(convcl_plan *plan, const float *input, float *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  if (cl->limits.is_cpu) return run_in_place(plan, input, output);
  convcl_status st = CONVCL_OK;
  if (!plan->stage[0])
    st = convcl_tensor_create(plan->ctx, &plan->problem.input_shape, &plan->stage[0]);
  if (st == CONVCL_OK && !plan->stage[1])
    st = convcl_tensor_create(plan->ctx, &plan->problem.output_shape, &plan->stage[1]);
  if (st == CONVCL_OK) st = convcl_tensor_upload(plan->stage[0], input);
  if (st == CONVCL_OK) st = plan->solver->enqueue(plan, plan->stage[0], plan->stage[1]);
  if (st == CONVCL_OK) st = convcl_tensor_download(plan->stage[1], output);
  return st;
}

convcl_status convcl_cl_bind(cl_kernel input_kernel, cl_uint input_arg, cl_kernel output_kernel,
                             cl_uint output_arg, const convcl_tensor *input,
                             convcl_tensor *output) {
  const cl_mem x = input->buffer, y = output->buffer;
  cl_int err;
  if ((err = clSetKernelArg(input_kernel, input_arg, sizeof x, &x)) != CL_SUCCESS ||
      (err = clSetKernelArg(output_kernel, output_arg, sizeof y, &y)) != CL_SUCCESS)
    return convcl_cl_fail("clSetKernelArg", err);
  return CONVCL_OK;
}

/* ---- Interop (include/convcl_opencl.h) ------------------------------------------- */

cl_command_queue convcl_context_opencl_queue(const convcl_context *ctx) {
  if (!ctx || ctx->backend->kind != CONVCL_BACKEND_OPENCL) return NULL;
  const convcl_opencl_state *cl = ctx->impl;
  return cl->queue;
}

convcl_status convcl_tensor_wrap_opencl(convcl_context *ctx, cl_mem buffer, size_t offset_bytes,
                                        const convcl_shape *shape, convcl_tensor **tensor_out) {
  if (!buffer || !tensor_out)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_tensor_wrap_opencl: %s is NULL",
                        buffer ? "tensor_out" : "buffer");
  if (ctx && ctx->backend->kind != CONVCL_BACKEND_OPENCL)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "cannot wrap an OpenCL buffer in a context on %s, which is not OpenCL",
                        ctx->device.id);
  convcl_tensor *t;
  convcl_status st = convcl_tensor_init(ctx, shape, &t);
  if (st != CONVCL_OK) return st;
  const convcl_opencl_state *cl = ctx->impl;
  const size_t bytes = (size_t)t->elems * sizeof(float);
  cl_context owner = NULL;
  size_t size = 0;
  cl_uint align_bits = 0;
  cl_int err;
  if ((err = clGetMemObjectInfo(buffer, CL_MEM_CONTEXT, sizeof owner, &owner, NULL)) !=
          CL_SUCCESS ||
      (err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof size, &size, NULL)) != CL_SUCCESS ||
      (err = clGetDeviceInfo(cl->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                             &align_bits, NULL)) != CL_SUCCESS) {
    st = convcl_cl_fail("clGetMemObjectInfo", err);
  } else if (owner != cl->context) {
    st = convcl_error(CONVCL_ERROR_INVALID_VALUE,
                      "the buffer belongs to another OpenCL context than the convcl context's");
  } else if (offset_bytes > size || size - offset_bytes < bytes) {
    st = convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                      "the buffer holds %zu bytes; a tensor of %lld floats at offset %zu needs %zu",
                      size, (long long)t->elems, offset_bytes,
                      offset_bytes > SIZE_MAX - bytes ? SIZE_MAX : offset_bytes + bytes);
  } else if (offset_bytes % (align_bits / 8 ? align_bits / 8 : 1) != 0) {
    st = convcl_error(CONVCL_ERROR_INVALID_VALUE,
                      "offset %zu is not a multiple of %u bytes, the base address alignment of "
                      "'%s' (CL_DEVICE_MEM_BASE_ADDR_ALIGN)",
                      offset_bytes, align_bits / 8, cl->info.name);
  } else if (offset_bytes == 0) {
    t->buffer = buffer;
  } else {
    const cl_buffer_region region = {offset_bytes, bytes};
    t->buffer = clCreateSubBuffer(buffer, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS) st = convcl_cl_fail("clCreateSubBuffer", err);
  }
  if (st != CONVCL_OK) {
    free(t);
    return st;
  }
  t->app_buffer = buffer;
  t->app_offset = offset_bytes;
  *tensor_out = t;
  convcl_error_clear();
  return CONVCL_OK;
}

convcl_status convcl_tensor_opencl_buffer(const convcl_tensor *tensor, cl_mem *buffer,
                                          size_t *offset_bytes) {
  if (!tensor || !buffer || !offset_bytes)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_tensor_opencl_buffer: NULL argument");
  if (tensor->ctx->backend->kind != CONVCL_BACKEND_OPENCL)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "the tensor is in host memory on %s: it has no OpenCL buffer",
                        tensor->ctx->device.id);
  *buffer = tensor->app_buffer ? tensor->app_buffer : tensor->buffer;
  *offset_bytes = tensor->app_offset;
  convcl_error_clear();
  return CONVCL_OK;
}
