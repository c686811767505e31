/* How a plan's input and output reach its kernel, shared by the OpenCL solvers. */
#include "opencl/opencl.h"

#include <string.h>

void convcl_cl_io_release(convcl_cl_io *io) {
  if (io->input) clReleaseMemObject(io->input);
  if (io->output) clReleaseMemObject(io->output);
  io->input = io->output = NULL;
}

convcl_status convcl_cl_io_create(const convcl_opencl_state *cl, const convcl_problem *p,
                                  convcl_cl_io *io) {
  memset(io, 0, sizeof *io);
  io->zero_copy = cl->limits.is_cpu;
  io->input_bytes = (size_t)p->input_elems * sizeof(float);
  io->output_bytes = (size_t)p->output_elems * sizeof(float);
  if (io->zero_copy) return CONVCL_OK;
  convcl_status status =
      convcl_opencl_buffer(cl, "input", io->input_bytes, CL_MEM_READ_ONLY, &io->input);
  if (status == CONVCL_OK)
    status = convcl_opencl_buffer(cl, "output", io->output_bytes, CL_MEM_WRITE_ONLY, &io->output);
  if (status != CONVCL_OK) convcl_cl_io_release(io);
  return status;
}

convcl_status convcl_cl_io_begin(const convcl_opencl_state *cl, const convcl_cl_io *io,
                                 cl_kernel kernel, cl_uint input_arg, cl_uint output_arg,
                                 const float *input, float *output, convcl_cl_run *run) {
  return convcl_cl_io_begin_kernels(cl, io, kernel, input_arg, kernel, output_arg, input, output,
                                    run);
}

convcl_status convcl_cl_io_begin_kernels(const convcl_opencl_state *cl, const convcl_cl_io *io,
                                         cl_kernel input_kernel, cl_uint input_arg,
                                         cl_kernel output_kernel, cl_uint output_arg,
                                         const float *input, float *output, convcl_cl_run *run) {
  cl_int err;
  run->input = io->input;
  run->output = io->output;
  if (io->zero_copy && (!input || !output))
    return convcl_error(CONVCL_ERROR_UNSUPPORTED,
                        "device %s runs on the caller's memory in place: every run is resident",
                        cl->info.id);
  if (io->zero_copy) {
    /* CL_MEM_USE_HOST_PTR takes a non-const pointer; the kernel only reads input. */
    run->input = clCreateBuffer(cl->context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR,
                                io->input_bytes, (void *)input, &err);
    if (err != CL_SUCCESS) {
      run->input = run->output = NULL;
      return convcl_cl_fail("clCreateBuffer", err);
    }
    run->output = clCreateBuffer(cl->context, CL_MEM_WRITE_ONLY | CL_MEM_USE_HOST_PTR,
                                 io->output_bytes, output, &err);
    if (err != CL_SUCCESS) {
      run->output = NULL;
      return convcl_cl_fail("clCreateBuffer", err);
    }
  } else if (input) {
    err = clEnqueueWriteBuffer(cl->queue, io->input, CL_TRUE, 0, io->input_bytes, input, 0, NULL,
                               NULL);
    if (err != CL_SUCCESS) return convcl_cl_fail("clEnqueueWriteBuffer", err);
  }
  if ((err = clSetKernelArg(input_kernel, input_arg, sizeof run->input, &run->input)) !=
          CL_SUCCESS ||
      (err = clSetKernelArg(output_kernel, output_arg, sizeof run->output, &run->output)) !=
          CL_SUCCESS)
    return convcl_cl_fail("clSetKernelArg", err);
  return CONVCL_OK;
}

convcl_status convcl_cl_io_end(const convcl_opencl_state *cl, const convcl_cl_io *io,
                               convcl_cl_run *run, convcl_status status, float *output) {
  cl_int err;
  if (status == CONVCL_OK && io->zero_copy) {
    /* Mapping is what makes the results visible in the wrapped array. */
    void *mapped = clEnqueueMapBuffer(cl->queue, run->output, CL_TRUE, CL_MAP_READ, 0,
                                      io->output_bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS)
      status = convcl_cl_fail("clEnqueueMapBuffer", err);
    else if ((err = clEnqueueUnmapMemObject(cl->queue, run->output, mapped, 0, NULL, NULL)) !=
             CL_SUCCESS)
      status = convcl_cl_fail("clEnqueueUnmapMemObject", err);
  } else if (status == CONVCL_OK && output) {
    err = clEnqueueReadBuffer(cl->queue, io->output, CL_TRUE, 0, io->output_bytes, output, 0, NULL,
                              NULL);
    if (err != CL_SUCCESS) status = convcl_cl_fail("clEnqueueReadBuffer", err);
  } else if (status == CONVCL_OK && (err = clFinish(cl->queue)) != CL_SUCCESS) {
    status = convcl_cl_fail("clFinish", err);
  }
  if (io->zero_copy) {
    /* Nothing may touch the caller's arrays once we return, whatever failed. */
    clFinish(cl->queue);
    if (run->input) clReleaseMemObject(run->input);
    if (run->output) clReleaseMemObject(run->output);
    run->input = run->output = NULL;
  }
  return status;
}
