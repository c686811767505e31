/* CLBlast baseline: CLBlastSconvgemm (im2col + batched GEMM) on an OpenCL device.
 * Its scope is narrower than convcl's: 2D (1D as 2D with H = 1), groups 1, zeros padding,
 * the same padding on both sides of a dimension, no bias. Data are NCHW in and out,
 * weights [out, in, kh, kw], as in PyTorch. Only the convgemm call is timed; uploads and
 * CLBlast's kernel compilation (its first call) happen before. */
#include "baseline.h"
#include "timing.h"

#include <clblast_c.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One OpenCL context and queue per device, kept for the whole run: CLBlast caches its
 * compiled programs per context, so layers after the first reuse them. The bench calls
 * baselines from one thread, so the cache needs no lock. */
typedef struct device_entry {
  int platform, device;
  cl_context context;
  cl_command_queue queue;
} device_entry;

#define MAX_DEVICES 16
static device_entry devices[MAX_DEVICES];
static int device_count;

static void release_devices(void) {
  /* CLBlast's program cache holds references to the contexts: empty it first. */
  CLBlastClearCache();
  for (int i = 0; i < device_count; i++) {
    clReleaseCommandQueue(devices[i].queue);
    clReleaseContext(devices[i].context);
  }
  device_count = 0;
}

/* The queue of "opencl:P:D" (platforms in clGetPlatformIDs order, devices in
 * clGetDeviceIDs(CL_DEVICE_TYPE_ALL) order, as convcl numbers them); NULL and a note when
 * it cannot be opened. */
static cl_command_queue device_queue(int p, int d, char *note, size_t cap) {
  for (int i = 0; i < device_count; i++)
    if (devices[i].platform == p && devices[i].device == d) return devices[i].queue;
  if (device_count == MAX_DEVICES) {
    snprintf(note, cap, "more than %d OpenCL devices used", MAX_DEVICES);
    return NULL;
  }
  cl_uint np = 0, nd = 0;
  cl_platform_id *platforms = NULL;
  cl_device_id *ids = NULL;
  cl_context context = NULL;
  cl_command_queue queue = NULL;
  cl_int err = clGetPlatformIDs(0, NULL, &np);
  if (err != CL_SUCCESS || p < 0 || (cl_uint)p >= np) {
    snprintf(note, cap, "no OpenCL platform %d (%u found, OpenCL status %d)", p, np, err);
    goto cleanup;
  }
  platforms = malloc(np * sizeof *platforms);
  if (!platforms || (err = clGetPlatformIDs(np, platforms, NULL)) != CL_SUCCESS ||
      (err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd)) != CL_SUCCESS ||
      !(ids = malloc(nd * sizeof *ids)) ||
      (err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL)) != CL_SUCCESS) {
    snprintf(note, cap, "cannot list OpenCL devices of platform %d (OpenCL error %d)", p, err);
    goto cleanup;
  }
  if (d < 0 || (cl_uint)d >= nd) {
    snprintf(note, cap, "no OpenCL device %d:%d (platform %d has %u)", p, d, p, nd);
    goto cleanup;
  }
  const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platforms[p],
                                         0};
  context = clCreateContext(props, 1, &ids[d], NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    snprintf(note, cap, "clCreateContext: OpenCL error %d", err);
    goto cleanup;
  }
  cl_command_queue created = clCreateCommandQueue(context, ids[d], 0, &err);
  if (err != CL_SUCCESS) {
    snprintf(note, cap, "clCreateCommandQueue: OpenCL error %d", err);
    goto cleanup;
  }
  if (device_count == 0) atexit(release_devices);
  devices[device_count++] = (device_entry){p, d, context, created};
  context = NULL;
  queue = created;

cleanup:
  if (context) clReleaseContext(context);
  free(ids);
  free(platforms);
  return queue;
}

#define CLBLAST_STATUS_NAME(code) \
  { code, #code }
static const char *status_name(CLBlastStatusCode s) {
  static const struct {
    CLBlastStatusCode code;
    const char *name;
  } names[] = {
      CLBLAST_STATUS_NAME(CLBlastOpenCLCompilerNotAvailable),
      CLBLAST_STATUS_NAME(CLBlastTempBufferAllocFailure),
      CLBLAST_STATUS_NAME(CLBlastOpenCLOutOfResources),
      CLBLAST_STATUS_NAME(CLBlastOpenCLOutOfHostMemory),
      CLBLAST_STATUS_NAME(CLBlastOpenCLBuildProgramFailure),
      CLBLAST_STATUS_NAME(CLBlastInvalidValue),
      CLBLAST_STATUS_NAME(CLBlastInvalidCommandQueue),
      CLBLAST_STATUS_NAME(CLBlastInvalidMemObject),
      CLBLAST_STATUS_NAME(CLBlastInvalidBinary),
      CLBLAST_STATUS_NAME(CLBlastInvalidBuildOptions),
      CLBLAST_STATUS_NAME(CLBlastInvalidProgram),
      CLBLAST_STATUS_NAME(CLBlastInvalidProgramExecutable),
      CLBLAST_STATUS_NAME(CLBlastInvalidKernelName),
      CLBLAST_STATUS_NAME(CLBlastInvalidKernelDefinition),
      CLBLAST_STATUS_NAME(CLBlastInvalidKernel),
      CLBLAST_STATUS_NAME(CLBlastInvalidArgIndex),
      CLBLAST_STATUS_NAME(CLBlastInvalidArgValue),
      CLBLAST_STATUS_NAME(CLBlastInvalidArgSize),
      CLBLAST_STATUS_NAME(CLBlastInvalidKernelArgs),
      CLBLAST_STATUS_NAME(CLBlastInvalidLocalNumDimensions),
      CLBLAST_STATUS_NAME(CLBlastInvalidLocalThreadsTotal),
      CLBLAST_STATUS_NAME(CLBlastInvalidLocalThreadsDim),
      CLBLAST_STATUS_NAME(CLBlastInvalidGlobalOffset),
      CLBLAST_STATUS_NAME(CLBlastInvalidEventWaitList),
      CLBLAST_STATUS_NAME(CLBlastInvalidEvent),
      CLBLAST_STATUS_NAME(CLBlastInvalidOperation),
      CLBLAST_STATUS_NAME(CLBlastInvalidBufferSize),
      CLBLAST_STATUS_NAME(CLBlastInvalidGlobalWorkSize),
      CLBLAST_STATUS_NAME(CLBlastNotImplemented),
      CLBLAST_STATUS_NAME(CLBlastInvalidMatrixA),
      CLBLAST_STATUS_NAME(CLBlastInvalidMatrixB),
      CLBLAST_STATUS_NAME(CLBlastInvalidMatrixC),
      CLBLAST_STATUS_NAME(CLBlastInvalidDimension),
      CLBLAST_STATUS_NAME(CLBlastInvalidLeadDimA),
      CLBLAST_STATUS_NAME(CLBlastInvalidLeadDimB),
      CLBLAST_STATUS_NAME(CLBlastInvalidLeadDimC),
      CLBLAST_STATUS_NAME(CLBlastInsufficientMemoryA),
      CLBLAST_STATUS_NAME(CLBlastInsufficientMemoryB),
      CLBLAST_STATUS_NAME(CLBlastInsufficientMemoryC),
      CLBLAST_STATUS_NAME(CLBlastInsufficientMemoryTemp),
      CLBLAST_STATUS_NAME(CLBlastInvalidBatchCount),
      CLBLAST_STATUS_NAME(CLBlastInvalidLocalMemUsage),
      CLBLAST_STATUS_NAME(CLBlastDatabaseError),
      CLBLAST_STATUS_NAME(CLBlastUnknownError),
      CLBLAST_STATUS_NAME(CLBlastUnexpectedError),
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].code == s) return names[i].name;
  return "unknown status";
}

/* One layer's convgemm arguments and buffers. */
typedef struct clblast_layer {
  cl_command_queue queue; /* borrowed from the device cache */
  cl_mem im, kernel, result;
  size_t channels, height, width, kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation_h,
      dilation_w, num_kernels, batch;
} clblast_layer;

static void layer_destroy(clblast_layer *l) {
  if (l->result) clReleaseMemObject(l->result);
  if (l->kernel) clReleaseMemObject(l->kernel);
  if (l->im) clReleaseMemObject(l->im);
  memset(l, 0, sizeof *l);
}

/* A device buffer of n floats holding bench_fill_uniform(seed), or only allocated (seed 0). */
static cl_mem device_buffer(cl_command_queue queue, size_t n, uint64_t seed, char *note,
                            size_t cap) {
  cl_context context = NULL;
  cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof context, &context, NULL);
  cl_mem mem = err == CL_SUCCESS
                   ? clCreateBuffer(context, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err)
                   : NULL;
  if (err != CL_SUCCESS) {
    snprintf(note, cap, "clCreateBuffer of %zu bytes: OpenCL error %d", n * sizeof(float), err);
    return NULL;
  }
  if (seed == 0) return mem;
  float *host = malloc(n * sizeof *host);
  if (!host) {
    snprintf(note, cap, "out of memory");
    clReleaseMemObject(mem);
    return NULL;
  }
  bench_fill_uniform(host, n, seed);
  err = clEnqueueWriteBuffer(queue, mem, CL_TRUE, 0, n * sizeof *host, host, 0, NULL, NULL);
  free(host);
  if (err != CL_SUCCESS) {
    snprintf(note, cap, "clEnqueueWriteBuffer: OpenCL error %d", err);
    clReleaseMemObject(mem);
    return NULL;
  }
  return mem;
}

/* Checks desc against convgemm's scope and fills l with uploaded random data.
 * The caller releases l with layer_destroy, also after a failure. */
static baseline_status layer_create(const char *device, const convcl_conv_desc *desc,
                                    const convcl_shape *input, clblast_layer *l, char *note,
                                    size_t cap) {
  memset(l, 0, sizeof *l);
  int p = -1, d = -1, end = 0;
  if (sscanf(device, "opencl:%d:%d%n", &p, &d, &end) != 2 || device[end] != '\0') {
    snprintf(note, cap, "CLBlast runs on OpenCL devices only (\"opencl:P:D\")");
    return BASELINE_OUT_OF_SCOPE;
  }
  convcl_shape out;
  if (convcl_conv_output_shape(desc, input, &out) != CONVCL_OK) {
    snprintf(note, cap, "invalid layer: %s", convcl_last_error());
    return BASELINE_FAILED;
  }
  const char *why = NULL;
  if (desc->transposed)
    why = "CLBlast convgemm has no transposed convolution";
  else if (desc->spatial_dims > 2)
    why = "CLBlast convgemm is 2D only";
  else if (desc->groups != 1)
    why = "CLBlast convgemm has no groups";
  else if (desc->padding_mode != CONVCL_PADDING_ZEROS)
    why = "CLBlast convgemm pads with zeros only";
  /* convgemm takes one pad per dimension for both sides; 'same' with an even effective
   * kernel pads one more at the end. */
  for (int j = 0; j < desc->spatial_dims && !why; j++) {
    const int64_t total = desc->dilation[j] * (desc->kernel[j] - 1);
    const int same = desc->padding == CONVCL_PAD_SAME || desc->padding == CONVCL_PAD_SAME_LOWER;
    if (same ? total % 2 != 0
             : desc->padding == CONVCL_PAD_EXPLICIT && desc->pad_begin[j] != desc->pad_end[j])
      why = "CLBlast convgemm pads both sides of a dimension equally";
  }
  if (why) {
    snprintf(note, cap, "%s", why);
    return BASELINE_OUT_OF_SCOPE;
  }

  /* A 1D layer is 2D with H = 1; PyTorch's per-dimension order puts W last. */
  const int two_d = desc->spatial_dims == 2, w = two_d ? 1 : 0;
  size_t pad[2] = {0, 0};
  for (int j = 0; j < desc->spatial_dims; j++) {
    if (desc->padding == CONVCL_PAD_EXPLICIT)
      pad[j] = (size_t)desc->pad_begin[j];
    else if (desc->padding != CONVCL_PAD_VALID) /* 'same': symmetric here, checked above */
      pad[j] = (size_t)(desc->dilation[j] * (desc->kernel[j] - 1) / 2);
  }
  l->batch = (size_t)input->dims[0];
  l->channels = (size_t)desc->in_channels;
  l->num_kernels = (size_t)desc->out_channels;
  l->height = two_d ? (size_t)input->dims[2] : 1;
  l->width = (size_t)input->dims[2 + w];
  l->kernel_h = two_d ? (size_t)desc->kernel[0] : 1;
  l->kernel_w = (size_t)desc->kernel[w];
  l->pad_h = two_d ? pad[0] : 0;
  l->pad_w = pad[w];
  l->stride_h = two_d ? (size_t)desc->stride[0] : 1;
  l->stride_w = (size_t)desc->stride[w];
  l->dilation_h = two_d ? (size_t)desc->dilation[0] : 1;
  l->dilation_w = (size_t)desc->dilation[w];

  size_t out_elems = 1;
  for (int i = 0; i < out.ndim; i++) out_elems *= (size_t)out.dims[i];
  const size_t im_elems = l->batch * l->channels * l->height * l->width;
  const size_t kernel_elems = l->num_kernels * l->channels * l->kernel_h * l->kernel_w;
  if (!(l->queue = device_queue(p, d, note, cap)) ||
      !(l->im = device_buffer(l->queue, im_elems, 1, note, cap)) ||
      !(l->kernel = device_buffer(l->queue, kernel_elems, 2, note, cap)) ||
      !(l->result = device_buffer(l->queue, out_elems, 0, note, cap)))
    return BASELINE_FAILED;
  return BASELINE_MEASURED;
}

/* One convolution, finished on the device when this returns. */
static CLBlastStatusCode layer_run(clblast_layer *l) {
  CLBlastStatusCode s = CLBlastSconvgemm(
      CLBlastKernelModeCrossCorrelation, l->channels, l->height, l->width, l->kernel_h, l->kernel_w,
      l->pad_h, l->pad_w, l->stride_h, l->stride_w, l->dilation_h, l->dilation_w, l->num_kernels,
      l->batch, l->im, 0, l->kernel, 0, l->result, 0, &l->queue, NULL);
  if (s != CLBlastSuccess) return s;
  /* CLBlast's status codes take OpenCL's values for OpenCL's errors. */
  return (CLBlastStatusCode)clFinish(l->queue);
}

static baseline_status clblast_time(const char *device, const convcl_conv_desc *desc,
                                    const convcl_shape *input, int warmup, int runs,
                                    double *median_ms, double *min_ms, char *note, size_t cap) {
  if (runs < 1) runs = 1;
  /* The first call builds CLBlast's kernels for this device, which is no part of a
   * convolution's time: it is always a warm-up. */
  if (warmup < 1) warmup = 1;
  double *ms = malloc((size_t)runs * sizeof *ms);
  if (!ms) {
    snprintf(note, cap, "out of memory");
    return BASELINE_FAILED;
  }
  clblast_layer l;
  baseline_status result = layer_create(device, desc, input, &l, note, cap);
  if (result != BASELINE_MEASURED) goto cleanup;
  result = BASELINE_FAILED;
  CLBlastStatusCode s = CLBlastSuccess;
  for (int i = 0; i < warmup && s == CLBlastSuccess; i++) s = layer_run(&l);
  for (int i = 0; i < runs && s == CLBlastSuccess; i++) {
    const double t0 = bench_now_ms();
    s = layer_run(&l);
    ms[i] = bench_now_ms() - t0;
  }
  if (s != CLBlastSuccess) {
    snprintf(note, cap, "CLBlastSconvgemm: status %d (%s)", (int)s, status_name(s));
    goto cleanup;
  }
  bench_stats(ms, runs, median_ms, min_ms);
  snprintf(note, cap, "CLBlast convgemm (im2col + GEMM)%s",
           desc->has_bias ? ", bias not applied" : "");
  result = BASELINE_MEASURED;

cleanup:
  layer_destroy(&l);
  free(ms);
  return result;
}

/* Listed by bench/baselines.c. */
const bench_baseline baseline_clblast_convgemm = {"clblast_convgemm", 1, clblast_time};
