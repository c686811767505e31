/* OpenCL backend: device discovery and listing, context state, the program cache. */
#include "opencl/opencl.h"

#include "convcl_opencl.h"

#include <CL/cl_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work-group size the kernels are tuned for; smaller where a device cannot run it. */
#define CONVCL_CL_WG 64

struct convcl_cl_cached_program {
  convcl_cl_program_id id;
  char *options;
  cl_program program;
  convcl_cl_cached_program *next;
};

/* What each program is built from; name is the kernel file that messages cite,
 * options the program's own build options beside the context's. */
static const struct {
  const char *name;
  const char *sources[2];
  const char *options;
} program_sources[CONVCL_CL_PROGRAM_COUNT] = {
    [CONVCL_CL_PROGRAM_DIRECT] = {"direct.cl", {convcl_cl_common, convcl_cl_direct}, ""},
    [CONVCL_CL_PROGRAM_TRANSPOSED] = {"transposed.cl",
                                      {convcl_cl_common, convcl_cl_transposed},
                                      ""},
    [CONVCL_CL_PROGRAM_IGEMM_GPU] = {"igemm.cl",
                                     {convcl_cl_common, convcl_cl_igemm},
                                     convcl_cl_igemm_gpu_options},
    [CONVCL_CL_PROGRAM_IGEMM_SMALL] = {"igemm.cl",
                                       {convcl_cl_common, convcl_cl_igemm},
                                       convcl_cl_igemm_small_options},
    [CONVCL_CL_PROGRAM_IGEMM_LARGE] = {"igemm.cl",
                                       {convcl_cl_common, convcl_cl_igemm},
                                       convcl_cl_igemm_large_options},
    [CONVCL_CL_PROGRAM_IGEMM_CPU] = {"igemm.cl",
                                     {convcl_cl_common, convcl_cl_igemm},
                                     convcl_cl_igemm_cpu_options},
    [CONVCL_CL_PROGRAM_IGEMM_MID] = {"igemm.cl",
                                     {convcl_cl_common, convcl_cl_igemm},
                                     convcl_cl_igemm_mid_options},
    [CONVCL_CL_PROGRAM_IGEMM_WIDE] = {"igemm.cl",
                                      {convcl_cl_common, convcl_cl_igemm},
                                      convcl_cl_igemm_wide_options},
    [CONVCL_CL_PROGRAM_DEPTHWISE] = {"depthwise.cl", {convcl_cl_common, convcl_cl_depthwise}, ""},
    [CONVCL_CL_PROGRAM_GEMM_GPU] = {"gemm.cl",
                                    {convcl_cl_common, convcl_cl_gemm},
                                    convcl_cl_gemm_gpu_options},
    [CONVCL_CL_PROGRAM_GEMM_SMALL] = {"gemm.cl",
                                      {convcl_cl_common, convcl_cl_gemm},
                                      convcl_cl_gemm_small_options},
    [CONVCL_CL_PROGRAM_GEMM_CPU] = {"gemm.cl",
                                    {convcl_cl_common, convcl_cl_gemm},
                                    convcl_cl_gemm_cpu_options},
    [CONVCL_CL_PROGRAM_WINOGRAD_2X2] = {"winograd.cl",
                                        {convcl_cl_common, convcl_cl_winograd},
                                        "-DWINO_M=2"},
    [CONVCL_CL_PROGRAM_WINOGRAD_4X4] = {"winograd.cl",
                                        {convcl_cl_common, convcl_cl_winograd},
                                        "-DWINO_M=4"},
    [CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_GPU] = {"transposed_gemm.cl",
                                               {convcl_cl_common, convcl_cl_transposed_gemm},
                                               convcl_cl_transposed_gemm_gpu_options},
    [CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_SMALL] = {"transposed_gemm.cl",
                                                 {convcl_cl_common, convcl_cl_transposed_gemm},
                                                 convcl_cl_transposed_gemm_small_options},
    [CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_CPU] = {"transposed_gemm.cl",
                                               {convcl_cl_common, convcl_cl_transposed_gemm},
                                               convcl_cl_transposed_gemm_cpu_options},
};

const char *convcl_cl_error_name(cl_int err) {
  switch (err) {
#define CONVCL_CL_CASE_(code) \
  case code:                  \
    return #code;
    CONVCL_CL_CASE_(CL_SUCCESS)
    CONVCL_CL_CASE_(CL_DEVICE_NOT_FOUND)
    CONVCL_CL_CASE_(CL_DEVICE_NOT_AVAILABLE)
    CONVCL_CL_CASE_(CL_COMPILER_NOT_AVAILABLE)
    CONVCL_CL_CASE_(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    CONVCL_CL_CASE_(CL_OUT_OF_RESOURCES)
    CONVCL_CL_CASE_(CL_OUT_OF_HOST_MEMORY)
    CONVCL_CL_CASE_(CL_PROFILING_INFO_NOT_AVAILABLE)
    CONVCL_CL_CASE_(CL_MEM_COPY_OVERLAP)
    CONVCL_CL_CASE_(CL_IMAGE_FORMAT_MISMATCH)
    CONVCL_CL_CASE_(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    CONVCL_CL_CASE_(CL_BUILD_PROGRAM_FAILURE)
    CONVCL_CL_CASE_(CL_MAP_FAILURE)
    CONVCL_CL_CASE_(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    CONVCL_CL_CASE_(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    CONVCL_CL_CASE_(CL_COMPILE_PROGRAM_FAILURE)
    CONVCL_CL_CASE_(CL_LINKER_NOT_AVAILABLE)
    CONVCL_CL_CASE_(CL_LINK_PROGRAM_FAILURE)
    CONVCL_CL_CASE_(CL_DEVICE_PARTITION_FAILED)
    CONVCL_CL_CASE_(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    CONVCL_CL_CASE_(CL_INVALID_VALUE)
    CONVCL_CL_CASE_(CL_INVALID_DEVICE_TYPE)
    CONVCL_CL_CASE_(CL_INVALID_PLATFORM)
    CONVCL_CL_CASE_(CL_INVALID_DEVICE)
    CONVCL_CL_CASE_(CL_INVALID_CONTEXT)
    CONVCL_CL_CASE_(CL_INVALID_QUEUE_PROPERTIES)
    CONVCL_CL_CASE_(CL_INVALID_COMMAND_QUEUE)
    CONVCL_CL_CASE_(CL_INVALID_HOST_PTR)
    CONVCL_CL_CASE_(CL_INVALID_MEM_OBJECT)
    CONVCL_CL_CASE_(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    CONVCL_CL_CASE_(CL_INVALID_IMAGE_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_SAMPLER)
    CONVCL_CL_CASE_(CL_INVALID_BINARY)
    CONVCL_CL_CASE_(CL_INVALID_BUILD_OPTIONS)
    CONVCL_CL_CASE_(CL_INVALID_PROGRAM)
    CONVCL_CL_CASE_(CL_INVALID_PROGRAM_EXECUTABLE)
    CONVCL_CL_CASE_(CL_INVALID_KERNEL_NAME)
    CONVCL_CL_CASE_(CL_INVALID_KERNEL_DEFINITION)
    CONVCL_CL_CASE_(CL_INVALID_KERNEL)
    CONVCL_CL_CASE_(CL_INVALID_ARG_INDEX)
    CONVCL_CL_CASE_(CL_INVALID_ARG_VALUE)
    CONVCL_CL_CASE_(CL_INVALID_ARG_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_KERNEL_ARGS)
    CONVCL_CL_CASE_(CL_INVALID_WORK_DIMENSION)
    CONVCL_CL_CASE_(CL_INVALID_WORK_GROUP_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_WORK_ITEM_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_GLOBAL_OFFSET)
    CONVCL_CL_CASE_(CL_INVALID_EVENT_WAIT_LIST)
    CONVCL_CL_CASE_(CL_INVALID_EVENT)
    CONVCL_CL_CASE_(CL_INVALID_OPERATION)
    CONVCL_CL_CASE_(CL_INVALID_GL_OBJECT)
    CONVCL_CL_CASE_(CL_INVALID_BUFFER_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_MIP_LEVEL)
    CONVCL_CL_CASE_(CL_INVALID_GLOBAL_WORK_SIZE)
    CONVCL_CL_CASE_(CL_INVALID_PROPERTY)
    CONVCL_CL_CASE_(CL_INVALID_IMAGE_DESCRIPTOR)
    CONVCL_CL_CASE_(CL_INVALID_COMPILER_OPTIONS)
    CONVCL_CL_CASE_(CL_INVALID_LINKER_OPTIONS)
    CONVCL_CL_CASE_(CL_INVALID_DEVICE_PARTITION_COUNT)
    CONVCL_CL_CASE_(CL_PLATFORM_NOT_FOUND_KHR)
#undef CONVCL_CL_CASE_
  }
  return "CL_UNKNOWN_ERROR";
}

convcl_status convcl_cl_fail(const char *call, cl_int err) {
  convcl_status status = CONVCL_ERROR_DEVICE;
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
      err == CL_OUT_OF_HOST_MEMORY)
    status = CONVCL_ERROR_OUT_OF_MEMORY;
  return convcl_error(status, "%s failed: %s (%d)", call, convcl_cl_error_name(err), (int)err);
}

/* ---- Discovery ------------------------------------------------------------------ */

/* One device, numbered as "opencl:P:D". */
typedef struct cl_entry {
  int p, d;
  cl_platform_id platform;
  cl_device_id device;
} cl_entry;

/* A string property of device (or of platform when device is NULL) into dst; "" when
 * the query fails. Sizes are asked first since a short buffer fails the whole query. */
static void info_string(cl_platform_id platform, cl_device_id device, cl_uint param, char *dst,
                        size_t cap) {
  size_t size = 0;
  dst[0] = '\0';
  cl_int err = device ? clGetDeviceInfo(device, param, 0, NULL, &size)
                      : clGetPlatformInfo(platform, param, 0, NULL, &size);
  if (err != CL_SUCCESS || size == 0) return;
  char *text = malloc(size + 1);
  if (!text) return;
  err = device ? clGetDeviceInfo(device, param, size, text, NULL)
               : clGetPlatformInfo(platform, param, size, text, NULL);
  if (err == CL_SUCCESS) {
    text[size] = '\0';
    convcl_strlcpy(dst, text, cap);
  }
  free(text);
}

static cl_device_type device_type(cl_device_id device) {
  cl_device_type type = 0;
  if (clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS) return 0;
  return type;
}

static const char *type_name(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_GPU) return "gpu";
  if (type & CL_DEVICE_TYPE_CPU) return "cpu";
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  return "other";
}

/* For messages: the device types auto passes over. */
static const char *type_phrase(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_CPU) return "a CPU device";
  if (type & CL_DEVICE_TYPE_CUSTOM) return "a custom device";
  return "a device of unknown type";
}

static void fill_info(const cl_entry *e, convcl_device_info *info) {
  memset(info, 0, sizeof *info);
  snprintf(info->id, sizeof info->id, "opencl:%d:%d", e->p, e->d);
  info_string(NULL, e->device, CL_DEVICE_NAME, info->name, sizeof info->name);
  info_string(e->platform, NULL, CL_PLATFORM_NAME, info->platform, sizeof info->platform);
  convcl_strlcpy(info->type, type_name(device_type(e->device)), sizeof info->type);
  info_string(NULL, e->device, CL_DEVICE_VERSION, info->version, sizeof info->version);
  info_string(NULL, e->device, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
  cl_uint units = 0;
  cl_ulong global_mem = 0, max_alloc = 0;
  if (clGetDeviceInfo(e->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL) ==
      CL_SUCCESS)
    info->compute_units = (int)units;
  if (clGetDeviceInfo(e->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global_mem, &global_mem, NULL) ==
      CL_SUCCESS)
    info->global_mem_bytes = global_mem;
  if (clGetDeviceInfo(e->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                      NULL) == CL_SUCCESS)
    info->max_alloc_bytes = max_alloc;
}

/* PoCL (3.1 at least) initializes its devices in the first clGetDeviceIDs, and lets any
 * other thread that calls in meanwhile through at once (pocl_init_devices returns
 * CL_SUCCESS while its unlocked init_in_progress is set): that thread reads device info
 * still being written, and crashes on a NULL name. So the process's first walk over every
 * platform's devices runs alone, once, before any enumeration of ours proceeds. */
static pthread_once_t runtime_once = PTHREAD_ONCE_INIT;

static void init_runtime(void) {
  cl_uint np = 0, nd;
  cl_platform_id *platforms;
  if (clGetPlatformIDs(0, NULL, &np) != CL_SUCCESS || np == 0 ||
      !(platforms = malloc(np * sizeof *platforms)))
    return;
  if (clGetPlatformIDs(np, platforms, NULL) == CL_SUCCESS)
    for (cl_uint p = 0; p < np; ++p) clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
  free(platforms);
}

/* Every device of every platform, in "opencl:P:D" order, into a malloc'd array.
 * No platform is not a failure: count is 0 and why says what clGetPlatformIDs
 * answered. A platform whose devices cannot be listed contributes none. Fails only
 * for want of memory. */
static convcl_status enumerate(cl_entry **entries_out, int *count_out, int *platforms_out,
                               char *why, size_t why_cap) {
  cl_platform_id *platforms = NULL;
  cl_device_id *devices = NULL;
  cl_entry *entries = NULL;
  int count = 0;
  cl_uint np = 0;
  convcl_status status = CONVCL_OK;

  *entries_out = NULL;
  *count_out = 0;
  *platforms_out = 0;
  why[0] = '\0';
  pthread_once(&runtime_once, init_runtime);
  cl_int err = clGetPlatformIDs(0, NULL, &np);
  if (err != CL_SUCCESS || np == 0) {
    if (err != CL_SUCCESS)
      snprintf(why, why_cap, "no OpenCL platform (clGetPlatformIDs: %s)",
               convcl_cl_error_name(err));
    else
      snprintf(why, why_cap, "no OpenCL platform (clGetPlatformIDs found none)");
    return CONVCL_OK;
  }
  platforms = malloc(np * sizeof *platforms);
  if (!platforms) goto out_of_memory;
  err = clGetPlatformIDs(np, platforms, NULL);
  if (err != CL_SUCCESS) {
    snprintf(why, why_cap, "no OpenCL platform (clGetPlatformIDs: %s)", convcl_cl_error_name(err));
    goto cleanup;
  }
  for (cl_uint p = 0; p < np; ++p) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
      continue;
    cl_device_id *more_devices = realloc(devices, nd * sizeof *devices);
    if (!more_devices) goto out_of_memory;
    devices = more_devices;
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, devices, NULL) != CL_SUCCESS) continue;
    cl_entry *more_entries = realloc(entries, (count + nd) * sizeof *entries);
    if (!more_entries) goto out_of_memory;
    entries = more_entries;
    for (cl_uint d = 0; d < nd; ++d)
      entries[count++] = (cl_entry){(int)p, (int)d, platforms[p], devices[d]};
  }
  *entries_out = entries;
  *count_out = count;
  *platforms_out = (int)np;
  entries = NULL;
  goto cleanup;

out_of_memory:
  status = convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory listing OpenCL devices");
cleanup:
  free(entries);
  free(devices);
  free(platforms);
  return status;
}

int convcl_opencl_list(convcl_device_info *infos, int capacity) {
  cl_entry *entries;
  int count, platforms;
  char why[160];
  if (enumerate(&entries, &count, &platforms, why, sizeof why) != CONVCL_OK) return 0;
  for (int i = 0; i < count && i < capacity; ++i) fill_info(&entries[i], &infos[i]);
  free(entries);
  return count;
}

/* ---- Program cache --------------------------------------------------------------- */

/* A failed CL call on cl's device. The message names the device, since auto may have
 * walked past several, and what was being done when doing is not NULL. */
static convcl_status device_fail(const convcl_opencl_state *cl, const char *doing, const char *call,
                                 cl_int err) {
  convcl_status status = convcl_cl_fail(call, err);
  char what[256];
  convcl_strlcpy(what, convcl_last_error(), sizeof what);
  return convcl_error(status, "'%s' (%s): %s%s%s", cl->info.name, cl->info.id, doing ? doing : "",
                      doing ? ": " : "", what);
}

/* The build log's most telling line: the first that mentions an error (compilers log
 * warnings before it, NVIDIA's among them), else the first non-blank one. */
static const char *log_headline(const char *log, int *len) {
  const char *first = NULL;
  for (const char *line = log; *line;) {
    line += strspn(line, " \t\r\n");
    size_t n = strcspn(line, "\r\n");
    if (n == 0) break;
    if (!first) first = line;
    for (const char *c = line; c + 5 <= line + n; ++c) {
      if (strncmp(c, "error", 5) == 0) {
        *len = (int)n;
        return line;
      }
    }
    line += n;
  }
  *len = first ? (int)strcspn(first, "\r\n") : 0;
  return first ? first : "";
}

/* Builds program id for cl's device. ctx, when given, receives the log of a failed
 * build; open passes NULL since it must leave the context untouched. */
static convcl_status build_program(const convcl_opencl_state *cl, convcl_context *ctx,
                                   convcl_cl_program_id id, cl_program *program_out) {
  const char *name = program_sources[id].name;
  char *log = NULL;
  cl_int err;
  convcl_status status = CONVCL_OK;

  /* clCreateProgramWithSource takes const char **, so not the const table itself. */
  const char *sources[2] = {program_sources[id].sources[0], program_sources[id].sources[1]};
  char options[512], key[CONVCL_CL_CACHE_KEY_MAX];
  snprintf(options, sizeof options, "%s %s", cl->options, program_sources[id].options);
  convcl_cl_cache_key(cl, sources, 2, options, key, sizeof key);
  cl_program program = convcl_cl_cache_load(cl, key, options);
  if (program) {
    *program_out = program;
    return CONVCL_OK;
  }
  program = clCreateProgramWithSource(cl->context, 2, sources, NULL, &err);
  if (err != CL_SUCCESS) return device_fail(cl, name, "clCreateProgramWithSource", err);
  err = clBuildProgram(program, 1, &cl->device, options, NULL, NULL);
  if (err == CL_SUCCESS) {
    convcl_cl_cache_store(program, key);
    *program_out = program;
    return CONVCL_OK;
  }
  if (err != CL_BUILD_PROGRAM_FAILURE && err != CL_COMPILER_NOT_AVAILABLE &&
      err != CL_INVALID_BUILD_OPTIONS) {
    status = device_fail(cl, name, "clBuildProgram", err);
    goto cleanup;
  }

  size_t size = 0;
  if (clGetProgramBuildInfo(program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
          CL_SUCCESS &&
      size > 0 && (log = malloc(size + 1)) != NULL) {
    if (clGetProgramBuildInfo(program, cl->device, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
        CL_SUCCESS)
      size = 0;
    log[size] = '\0';
  }
  /* The whole log goes to the context for convcl_context_build_log, one line of it
   * into the message. */
  int line_len;
  const char *line = log_headline(log ? log : "", &line_len);
  if (line_len == 0) {
    line = convcl_cl_error_name(err);
    line_len = (int)strlen(line);
  }
  if (ctx) convcl_context_set_build_log(ctx, log ? log : "");
  status = convcl_error(CONVCL_ERROR_BUILD_FAILED, "'%s': kernel build failed (%s): %.*s",
                        cl->info.name, name, line_len > 300 ? 300 : line_len, line);

cleanup:
  free(log);
  clReleaseProgram(program);
  return status;
}

/* The cached program (id, cl->options), built now if missing. ctx as for build_program.
 * Builds hold the lock, so threads asking for the same program build it once. */
static convcl_status cached_program(convcl_opencl_state *cl, convcl_context *ctx,
                                    convcl_cl_program_id id, cl_program *program_out) {
  convcl_status status = CONVCL_OK;
  convcl_cl_cached_program *entry = NULL;

  pthread_mutex_lock(&cl->lock);
  for (convcl_cl_cached_program *e = cl->programs; e; e = e->next) {
    if (e->id == id && strcmp(e->options, cl->options) == 0) {
      *program_out = e->program;
      goto cleanup;
    }
  }
  entry = calloc(1, sizeof *entry);
  if (!entry || !(entry->options = strdup(cl->options))) {
    status = convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory caching %s",
                          program_sources[id].name);
    goto cleanup;
  }
  status = build_program(cl, ctx, id, &entry->program);
  if (status != CONVCL_OK) goto cleanup;
  entry->id = id;
  entry->next = cl->programs;
  cl->programs = entry;
  *program_out = entry->program;
  entry = NULL;

cleanup:
  pthread_mutex_unlock(&cl->lock);
  if (entry) free(entry->options);
  free(entry);
  return status;
}

convcl_status convcl_opencl_program(convcl_context *ctx, convcl_cl_program_id id,
                                    cl_program *program) {
  return cached_program(ctx->impl, ctx, id, program);
}

convcl_status convcl_opencl_kernel(convcl_context *ctx, convcl_cl_program_id id, const char *name,
                                   cl_kernel *kernel) {
  cl_program program;
  cl_int err;
  convcl_status status = convcl_opencl_program(ctx, id, &program);
  if (status != CONVCL_OK) return status;
  *kernel = clCreateKernel(program, name, &err);
  if (err != CL_SUCCESS) {
    *kernel = NULL;
    return convcl_cl_fail("clCreateKernel", err);
  }
  return CONVCL_OK;
}

convcl_status convcl_cl_tiles_kernel(convcl_context *ctx, const convcl_cl_tiles *t,
                                     const char *name, cl_kernel *kernel, size_t *kernel_wg) {
  const convcl_opencl_state *cl = ctx->impl;
  cl_kernel k;
  convcl_status status = convcl_opencl_kernel(ctx, t->program, name, &k);
  *kernel = NULL;
  if (status != CONVCL_OK) return status;
  size_t local[3], wg = 0;
  const cl_int err =
      clGetKernelWorkGroupInfo(k, cl->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  if (kernel_wg) *kernel_wg = wg;
  if (err == CL_SUCCESS && wg >= convcl_cl_tiles_local(t, local)) {
    *kernel = k;
    return CONVCL_OK;
  }
  clReleaseKernel(k);
  return err == CL_SUCCESS ? CONVCL_OK : convcl_cl_fail("clGetKernelWorkGroupInfo", err);
}

convcl_status convcl_opencl_set_args(cl_kernel kernel, const convcl_cl_arg *args, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const cl_int err = clSetKernelArg(kernel, args[i].index, args[i].size, args[i].value);
    if (err != CL_SUCCESS) return convcl_cl_fail("clSetKernelArg", err);
  }
  return CONVCL_OK;
}

/* ---- Buffers --------------------------------------------------------------------- */

convcl_status convcl_opencl_buffer(const convcl_opencl_state *cl, const char *what, size_t bytes,
                                   cl_mem_flags flags, cl_mem *buffer) {
  if (bytes > cl->info.max_alloc_bytes)
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "the %s buffer needs %zu bytes, more than the %llu bytes '%s' can "
                        "allocate at once",
                        what, bytes, (unsigned long long)cl->info.max_alloc_bytes, cl->info.name);
  cl_int err;
  *buffer = clCreateBuffer(cl->context, flags, bytes, NULL, &err);
  if (err != CL_SUCCESS) return convcl_cl_fail("clCreateBuffer", err);
  return CONVCL_OK;
}

convcl_status convcl_opencl_upload(const convcl_opencl_state *cl, const char *what,
                                   const void *data, size_t bytes, cl_mem *buffer) {
  cl_mem mem = NULL;
  convcl_status status = convcl_opencl_buffer(cl, what, bytes, CL_MEM_READ_ONLY, &mem);
  if (status != CONVCL_OK) return status;
  /* A blocking write rather than CL_MEM_COPY_HOST_PTR, which takes a non-const pointer. */
  convcl_count_host_transfer();
  cl_int err = clEnqueueWriteBuffer(cl->queue, mem, CL_TRUE, 0, bytes, data, 0, NULL, NULL);
  if (err != CL_SUCCESS) {
    clReleaseMemObject(mem);
    return convcl_cl_fail("clEnqueueWriteBuffer", err);
  }
  *buffer = mem;
  return CONVCL_OK;
}

/* ---- Context --------------------------------------------------------------------- */

static void state_free(convcl_opencl_state *cl) {
  if (!cl) return;
  while (cl->programs) {
    convcl_cl_cached_program *next = cl->programs->next;
    clReleaseProgram(cl->programs->program);
    free(cl->programs->options);
    free(cl->programs);
    cl->programs = next;
  }
  if (cl->queue && !cl->borrowed) clReleaseCommandQueue(cl->queue);
  if (cl->context && !cl->borrowed) clReleaseContext(cl->context);
  pthread_mutex_destroy(&cl->lock);
  free(cl);
}

static void opencl_context_destroy(convcl_context *ctx) {
  state_free(ctx->impl);
  ctx->impl = NULL;
}

static const convcl_solver *const opencl_solvers[] = {&convcl_opencl_depthwise_preferred_solver,
                                                      &convcl_opencl_winograd_4x4_preferred_solver,
                                                      &convcl_opencl_winograd_2x2_preferred_solver,
                                                      &convcl_opencl_igemm_solver,
                                                      &convcl_opencl_depthwise_solver,
                                                      &convcl_opencl_transposed_gemm_solver,
                                                      &convcl_opencl_gemm_solver,
                                                      &convcl_opencl_winograd_4x4_solver,
                                                      &convcl_opencl_winograd_2x2_solver,
                                                      &convcl_opencl_direct_solver};

static const convcl_backend opencl_backend = {
    .kind = CONVCL_BACKEND_OPENCL,
    .solvers = opencl_solvers,
    .solver_count = sizeof opencl_solvers / sizeof opencl_solvers[0],
    .context_destroy = opencl_context_destroy,
    .tensor_alloc = convcl_cl_tensor_alloc,
    .tensor_free = convcl_cl_tensor_free,
    .upload = convcl_cl_upload,
    .download = convcl_cl_download,
    .finish = convcl_cl_finish,
    .run_host = convcl_cl_run_host,
};

/* What the GEMM solvers check their tile variants against (convcl_cl_tiles_fit), read once
 * here rather than at every plan. */
static convcl_status query_limits(convcl_opencl_state *cl) {
  convcl_cl_limits *lim = &cl->limits;
  cl_int err;
  if ((err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof lim->max_wg,
                             &lim->max_wg, NULL)) != CL_SUCCESS)
    return device_fail(cl, NULL, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE)", err);
  if ((err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof lim->item_sizes,
                             lim->item_sizes, NULL)) != CL_SUCCESS)
    return device_fail(cl, NULL, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)", err);
  if ((err = clGetDeviceInfo(cl->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lim->local_mem,
                             &lim->local_mem, NULL)) != CL_SUCCESS)
    return device_fail(cl, NULL, "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)", err);
  lim->is_cpu = (device_type(cl->device) & CL_DEVICE_TYPE_CPU) != 0;
  return CONVCL_OK;
}

/* Opens e's device in a context and queue of its own, or in the app's context and queue
 * when given; with build, builds the always-applicable programs (direct and transposed),
 * which proves the device can run every convolution and warms the cache. The fast
 * solvers' programs build at their first plan; when one fails to build, AUTO falls back
 * to the next solver. */
static convcl_status state_open(const cl_entry *e, int build, cl_context context,
                                cl_command_queue queue, convcl_opencl_state **cl_out) {
  cl_int err;
  convcl_status status = CONVCL_OK;
  convcl_opencl_state *cl = calloc(1, sizeof *cl);
  if (!cl) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory opening OpenCL");
  if (pthread_mutex_init(&cl->lock, NULL) != 0) {
    free(cl);
    return convcl_error(CONVCL_ERROR_SYSTEM, "pthread_mutex_init failed");
  }
  cl->platform = e->platform;
  cl->device = e->device;
  fill_info(e, &cl->info);

  status = query_limits(cl);
  if (status != CONVCL_OK) goto cleanup;
  cl->wg = CONVCL_CL_WG;
  while (cl->wg > 1 && cl->wg > cl->limits.max_wg) cl->wg /= 2;
  snprintf(cl->options, sizeof cl->options, "-DWG=%zu", cl->wg);

  if (context) {
    cl->context = context;
    cl->queue = queue;
    cl->borrowed = 1;
  } else {
    const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->platform,
                                           0};
    cl->context = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
      status = device_fail(cl, NULL, "clCreateContext", err);
      goto cleanup;
    }
    cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
    if (err != CL_SUCCESS) {
      status = device_fail(cl, NULL, "clCreateCommandQueue", err);
      goto cleanup;
    }
  }
  const convcl_cl_program_id fallback[] = {CONVCL_CL_PROGRAM_DIRECT, CONVCL_CL_PROGRAM_TRANSPOSED};
  for (size_t i = 0; build && i < sizeof fallback / sizeof fallback[0]; ++i) {
    cl_program program;
    status = cached_program(cl, NULL, fallback[i], &program);
    if (status != CONVCL_OK) goto cleanup;
  }
  *cl_out = cl;
  return CONVCL_OK;

cleanup:
  state_free(cl);
  return status;
}

/* Walks the GPUs and accelerators in order and opens the first whose kernels build.
 * Otherwise the error names each device and why it was passed over. */
atomic_int convcl_cl_auto_any_type;

static convcl_status open_gpu_or_accel(const cl_entry *entries, int count,
                                       convcl_opencl_state **cl_out) {
  char first_failure[512] = "";
  convcl_status first_status = CONVCL_OK;
  int failures = 0;
  const int any_type = atomic_load(&convcl_cl_auto_any_type);
  for (int i = 0; i < count; ++i) {
    if (!any_type &&
        !(device_type(entries[i].device) & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)))
      continue;
    convcl_status status = state_open(&entries[i], 1, NULL, NULL, cl_out);
    if (status == CONVCL_OK) return CONVCL_OK;
    if (failures++ == 0) {
      first_status = status;
      convcl_strlcpy(first_failure, convcl_last_error(), sizeof first_failure);
    }
  }
  if (failures == 1) return convcl_error(first_status, "%s", first_failure);
  if (failures > 1)
    return convcl_error(first_status, "%s (and %d more GPU or accelerator devices failed)",
                        first_failure, failures - 1);

  char why[1024];
  int len = snprintf(why, sizeof why, "no OpenCL GPU or accelerator: %d device%s found", count,
                     count == 1 ? "" : "s");
  for (int i = 0; i < count && len > 0 && (size_t)len < sizeof why; ++i) {
    char name[256];
    info_string(NULL, entries[i].device, CL_DEVICE_NAME, name, sizeof name);
    len += snprintf(why + len, sizeof why - (size_t)len, "%s '%s' is %s", i == 0 ? "," : ";", name,
                    type_phrase(device_type(entries[i].device)));
  }
  return convcl_error(CONVCL_ERROR_INVALID_DEVICE, "%s", why);
}

static convcl_status open_index(const cl_entry *entries, int count, int platforms, int platform,
                                int device, convcl_opencl_state **cl_out) {
  int in_platform = 0;
  for (int i = 0; i < count; ++i) {
    if (entries[i].p != platform) continue;
    if (entries[i].d == device) return state_open(&entries[i], 0, NULL, NULL, cl_out);
    ++in_platform;
  }
  if (platform < 0 || platform >= platforms)
    return convcl_error(CONVCL_ERROR_INVALID_DEVICE,
                        "no OpenCL device opencl:%d:%d: there %s %d OpenCL platform%s (0 to %d)",
                        platform, device, platforms == 1 ? "is" : "are", platforms,
                        platforms == 1 ? "" : "s", platforms - 1);
  return convcl_error(CONVCL_ERROR_INVALID_DEVICE,
                      "no OpenCL device opencl:%d:%d: platform %d has %d device%s", platform,
                      device, platform, in_platform, in_platform == 1 ? "" : "s");
}

convcl_status convcl_opencl_open(convcl_context *ctx, convcl_opencl_pick pick, int platform,
                                 int device) {
  cl_entry *entries;
  int count, platforms;
  char why[160];
  convcl_opencl_state *cl = NULL;

  convcl_status status = enumerate(&entries, &count, &platforms, why, sizeof why);
  if (status != CONVCL_OK) return status;
  if (platforms == 0) {
    status = pick == CONVCL_OPENCL_PICK_INDEX
                 ? convcl_error(CONVCL_ERROR_INVALID_DEVICE, "no OpenCL device opencl:%d:%d: %s",
                                platform, device, why)
                 : convcl_error(CONVCL_ERROR_INVALID_DEVICE, "%s", why);
  } else if (pick == CONVCL_OPENCL_PICK_GPU_OR_ACCEL) {
    status = open_gpu_or_accel(entries, count, &cl);
  } else if (pick == CONVCL_OPENCL_PICK_INDEX) {
    status = open_index(entries, count, platforms, platform, device, &cl);
  } else if (count == 0) {
    status =
        convcl_error(CONVCL_ERROR_INVALID_DEVICE, "no OpenCL device: %d platform%s but no devices",
                     platforms, platforms == 1 ? "" : "s");
  } else {
    status = state_open(&entries[0], 0, NULL, NULL, &cl);
  }
  free(entries);
  if (status != CONVCL_OK) return status;

  ctx->backend = &opencl_backend;
  ctx->device = cl->info;
  ctx->impl = cl;
  return CONVCL_OK;
}

convcl_status convcl_context_create_opencl(cl_context context, cl_device_id device,
                                           cl_command_queue queue, convcl_context **ctx_out) {
  if (!context || !device || !queue || !ctx_out)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_context_create_opencl: %s is NULL",
                        !context  ? "context"
                        : !device ? "device"
                        : !queue  ? "queue"
                                  : "ctx_out");
  cl_context queue_context = NULL;
  cl_device_id queue_device = NULL;
  cl_command_queue_properties props = 0;
  cl_platform_id platform = NULL;
  cl_int err;
  if ((err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context, &queue_context,
                                   NULL)) != CL_SUCCESS ||
      (err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device,
                                   NULL)) != CL_SUCCESS ||
      (err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL)) !=
          CL_SUCCESS)
    return convcl_cl_fail("clGetCommandQueueInfo", err);
  if ((err = clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL)) !=
      CL_SUCCESS)
    return convcl_cl_fail("clGetDeviceInfo(CL_DEVICE_PLATFORM)", err);
  if (queue_context != context || queue_device != device)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "the command queue belongs to another %s than the one given",
                        queue_context != context ? "OpenCL context" : "device");
  if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "the command queue executes out of order: convcl's kernels follow one "
                        "another on an in-order queue");
  /* The device's "opencl:P:D" name, as convcl_devices_list shows it. */
  cl_entry *entries, e = {-1, -1, platform, device};
  int count, platforms;
  char why[160];
  convcl_status status = enumerate(&entries, &count, &platforms, why, sizeof why);
  if (status != CONVCL_OK) return status;
  for (int i = 0; i < count; ++i)
    if (entries[i].device == device) e = entries[i];
  free(entries);
  convcl_context *ctx = convcl_context_alloc();
  if (!ctx) return CONVCL_ERROR_OUT_OF_MEMORY;
  convcl_opencl_state *cl = NULL;
  status = state_open(&e, 1, context, queue, &cl);
  if (status != CONVCL_OK) {
    convcl_context_destroy(ctx);
    return status;
  }
  if (e.p < 0) convcl_strlcpy(cl->info.id, "opencl:app", sizeof cl->info.id);
  ctx->backend = &opencl_backend;
  ctx->device = cl->info;
  ctx->impl = cl;
  *ctx_out = ctx;
  convcl_error_clear();
  return CONVCL_OK;
}
