/* Internal to the OpenCL backend: context state, the program cache, helpers the
 * solvers share, and the embedded kernel sources. */
#ifndef CONVCL_HOST_OPENCL_H
#define CONVCL_HOST_OPENCL_H

#include "internal.h"

#include <CL/cl.h>
#include <stdatomic.h>

/* ---- Fault injection (host/opencl/fault.c), for tests ------------------------------
 * The macros below route the fallible OpenCL calls convcl makes through a check that
 * fails the N-th call of a kind, as the device would: no result, the error code the
 * real call returns for that kind of failure. A function-like macro does not expand
 * inside its own expansion, so the inner name is the real function. Disarmed, the check
 * is one relaxed atomic load. Every file of the backend includes this header before its
 * first OpenCL call. */
typedef enum convcl_fault_kind {
  CONVCL_FAULT_BUILD,   /* clCreateProgramWithSource/Binary, clBuildProgram, clCreateKernel */
  CONVCL_FAULT_ALLOC,   /* clCreateBuffer, clCreateSubBuffer */
  CONVCL_FAULT_ENQUEUE, /* clEnqueueNDRangeKernel */
  CONVCL_FAULT_MAP,     /* clEnqueueRead/WriteBuffer (convcl maps no buffer) */
  CONVCL_FAULT_CONTEXT, /* clCreateContext, clCreateCommandQueue */
  CONVCL_FAULT_KIND_COUNT
} convcl_fault_kind;

/* The n-th call of kind from now fails, once (n 0 disarms); the kind's count restarts.
 * CONVCL_FAULT=kind:N (build, alloc, enqueue, map, context) arms one kind at start-up. */
void convcl_fault_set(convcl_fault_kind kind, long n);
/* Calls of kind seen since it was armed; past n, the walk has passed the last call. */
long convcl_fault_calls(convcl_fault_kind kind);
/* The OpenCL function that failed last, "" before any. */
const char *convcl_fault_last_call(void);
const char *convcl_fault_kind_name(convcl_fault_kind kind);

/* Hidden, so the check reads it directly rather than through the GOT. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
extern _Atomic long convcl_fault_target_[CONVCL_FAULT_KIND_COUNT];
int convcl_fault_fire_(convcl_fault_kind kind, const char *call);
static inline int convcl_fault_hit(convcl_fault_kind kind, const char *call) {
  return atomic_load_explicit(&convcl_fault_target_[kind], memory_order_relaxed) != 0 &&
         convcl_fault_fire_(kind, call);
}
/* A failed object-creating call: *errcode_ret = err, no object. */
static inline void *convcl_fault_null(cl_int *errcode_ret, cl_int err) {
  if (errcode_ret) *errcode_ret = err;
  return NULL;
}

#define CONVCL_FAULT_INT_(kind, call, err, ...) \
  (convcl_fault_hit(kind, #call) ? (cl_int)(err) : call(__VA_ARGS__))
#define CONVCL_FAULT_OBJ_(kind, call, err, e, ...) \
  (convcl_fault_hit(kind, #call) ? convcl_fault_null(e, err) : call(__VA_ARGS__))

#define clCreateProgramWithSource(c, n, s, l, e)                                                   \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_BUILD, clCreateProgramWithSource, CL_OUT_OF_HOST_MEMORY, e, c, n, \
                    s, l, e)
#define clCreateProgramWithBinary(c, n, d, l, b, s, e)                                             \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_BUILD, clCreateProgramWithBinary, CL_OUT_OF_HOST_MEMORY, e, c, n, \
                    d, l, b, s, e)
#define clBuildProgram(...) \
  CONVCL_FAULT_INT_(CONVCL_FAULT_BUILD, clBuildProgram, CL_BUILD_PROGRAM_FAILURE, __VA_ARGS__)
#define clCreateKernel(p, n, e) \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_BUILD, clCreateKernel, CL_OUT_OF_HOST_MEMORY, e, p, n, e)
#define clCreateBuffer(c, f, s, h, e)                                                              \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_ALLOC, clCreateBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, e, c, f, \
                    s, h, e)
#define clCreateSubBuffer(b, f, t, i, e)                                                           \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_ALLOC, clCreateSubBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, e, b, \
                    f, t, i, e)
#define clEnqueueNDRangeKernel(...) \
  CONVCL_FAULT_INT_(CONVCL_FAULT_ENQUEUE, clEnqueueNDRangeKernel, CL_OUT_OF_RESOURCES, __VA_ARGS__)
#define clEnqueueReadBuffer(...) \
  CONVCL_FAULT_INT_(CONVCL_FAULT_MAP, clEnqueueReadBuffer, CL_OUT_OF_RESOURCES, __VA_ARGS__)
#define clEnqueueWriteBuffer(...) \
  CONVCL_FAULT_INT_(CONVCL_FAULT_MAP, clEnqueueWriteBuffer, CL_OUT_OF_RESOURCES, __VA_ARGS__)
#define clCreateContext(p, n, d, f, u, e)                                                        \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_CONTEXT, clCreateContext, CL_OUT_OF_HOST_MEMORY, e, p, n, d, f, \
                    u, e)
#define clCreateCommandQueue(c, d, p, e) \
  CONVCL_FAULT_OBJ_(CONVCL_FAULT_CONTEXT, clCreateCommandQueue, CL_OUT_OF_RESOURCES, e, c, d, p, e)

/* Kernel sources, embedded by cmake/embed_kernels.cmake from kernels/<name>.cl. */
extern const char convcl_cl_common[];
extern const char convcl_cl_direct[];
extern const char convcl_cl_transposed[];
extern const char convcl_cl_igemm[];
extern const char convcl_cl_depthwise[];
extern const char convcl_cl_gemm[];
extern const char convcl_cl_winograd[];
extern const char convcl_cl_transposed_gemm[];
/* host/opencl/igemm.c: the tile-size build options of each igemm.cl variant. */
extern const char convcl_cl_igemm_gpu_options[];
extern const char convcl_cl_igemm_small_options[];
extern const char convcl_cl_igemm_large_options[];
extern const char convcl_cl_igemm_cpu_options[];
extern const char convcl_cl_igemm_mid_options[];
extern const char convcl_cl_igemm_wide_options[];
/* host/opencl/gemm.c: the same for gemm.cl. */
extern const char convcl_cl_gemm_gpu_options[];
extern const char convcl_cl_gemm_small_options[];
extern const char convcl_cl_gemm_cpu_options[];
/* host/opencl/transposed_gemm.c: the same for transposed_gemm.cl. */
extern const char convcl_cl_transposed_gemm_gpu_options[];
extern const char convcl_cl_transposed_gemm_small_options[];
extern const char convcl_cl_transposed_gemm_cpu_options[];

/* The programs the backend builds; each is common.cl followed by one kernel file,
 * built with the context's options and the program's own (a variant's tile sizes). */
typedef enum convcl_cl_program_id {
  CONVCL_CL_PROGRAM_DIRECT,
  CONVCL_CL_PROGRAM_TRANSPOSED,
  CONVCL_CL_PROGRAM_IGEMM_GPU,
  CONVCL_CL_PROGRAM_IGEMM_SMALL,
  CONVCL_CL_PROGRAM_IGEMM_LARGE,
  CONVCL_CL_PROGRAM_IGEMM_CPU,
  CONVCL_CL_PROGRAM_IGEMM_MID,
  CONVCL_CL_PROGRAM_IGEMM_WIDE,
  CONVCL_CL_PROGRAM_DEPTHWISE,
  CONVCL_CL_PROGRAM_GEMM_GPU,
  CONVCL_CL_PROGRAM_GEMM_SMALL,
  CONVCL_CL_PROGRAM_GEMM_CPU,
  CONVCL_CL_PROGRAM_WINOGRAD_2X2,
  CONVCL_CL_PROGRAM_WINOGRAD_4X4,
  CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_GPU,
  CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_SMALL,
  CONVCL_CL_PROGRAM_TRANSPOSED_GEMM_CPU,
  CONVCL_CL_PROGRAM_COUNT
} convcl_cl_program_id;

typedef struct convcl_cl_cached_program convcl_cl_cached_program;

/* What limits the tile variants a device can run; queried once, when the device opens. */
typedef struct convcl_cl_limits {
  int is_cpu;
  size_t max_wg, item_sizes[3];
  cl_ulong local_mem;
} convcl_cl_limits;

/* ctx->impl of an OpenCL context. */
typedef struct convcl_opencl_state {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue; /* in-order, shared by the context's plans */
  int borrowed;           /* context and queue are the app's (convcl_context_create_opencl) */
  convcl_device_info info;
  convcl_cl_limits limits;
  size_t wg;            /* work-group size every kernel is built and launched with */
  char options[64];     /* build options of every program: the tunables, e.g. "-DWG=64" */
  pthread_mutex_t lock; /* guards programs */
  convcl_cl_cached_program *programs;
} convcl_opencl_state;

/* Tests only: "auto" takes a device of any type, so PoCL's CPU device stands in for a GPU
 * when a test walks failures through auto's device set-up. 0 in every app. */
extern atomic_int convcl_cl_auto_any_type;

/* "CL_OUT_OF_RESOURCES" etc.; "CL_UNKNOWN_ERROR" for codes it does not know. */
const char *convcl_cl_error_name(cl_int err);

/* Reports a failed CL call: allocation failures as CONVCL_ERROR_OUT_OF_MEMORY,
 * everything else as CONVCL_ERROR_DEVICE, the message naming call and code. */
convcl_status convcl_cl_fail(const char *call, cl_int err);

/* The program id built for the context's device with its options, from the cache
 * or built now. The cache owns the program; it lives as long as the context. */
convcl_status convcl_opencl_program(convcl_context *ctx, convcl_cl_program_id id,
                                    cl_program *program);

/* A plan's own cl_kernel (clSetKernelArg is not thread-safe on a shared one) named name
 * in program id, which is built or taken from the cache. */
convcl_status convcl_opencl_kernel(convcl_context *ctx, convcl_cl_program_id id, const char *name,
                                   cl_kernel *kernel);

/* One kernel argument: its index, size and value. */
typedef struct convcl_cl_arg {
  cl_uint index;
  size_t size;
  const void *value;
} convcl_cl_arg;

/* The epilogue flags kernels take (kernels/common.cl): 1 adds the bias, 2 applies ReLU. */
static inline cl_int convcl_cl_epilogue(const convcl_problem *p) {
  return (p->has_bias ? 1 : 0) | (p->relu ? 2 : 0);
}

static inline int64_t convcl_cl_round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* A kernel's int4 argument of three extents; the fourth lane is unused. */
static inline cl_int4 convcl_cl_dims3(const int64_t v[3]) {
  cl_int4 r = {{(cl_int)v[0], (cl_int)v[1], (cl_int)v[2], 0}};
  return r;
}

/* Kernel 1, stride 1, no padding: the input is a GEMM's B as it lies. */
static inline int convcl_cl_pointwise(const convcl_problem *p) {
  for (int d = 0; d < 3; ++d)
    if (p->kernel[d] != 1 || p->stride[d] != 1 || p->pad_begin[d] != 0 || p->pad_end[d] != 0)
      return 0;
  return 1;
}

/* A tile variant of the GEMM kernels (igemm.cl, gemm.cl, transposed_gemm.cl); the fields
 * mirror their tunables. Each solver writes its variants' numbers once, as a tuple
 * (blocked, tm, tn, tk, rm, rn): CONVCL_CL_TILE_OPTIONS(tuple) makes the build options of
 * the variant's program, CONVCL_CL_TILES(program, tuple) the host's copy. The tuple, a macro
 * name, is expanded before the macro it is handed to sees it. */
typedef struct convcl_cl_tiles {
  convcl_cl_program_id program;
  int blocked, tm, tn, tk, rm, rn;
} convcl_cl_tiles;

#define CONVCL_CL_TILE_OPTIONS_(blocked, tm, tn, tk, rm, rn) \
  "-DBLOCKED=" #blocked " -DTM=" #tm " -DTN=" #tn " -DTK=" #tk " -DRM=" #rm " -DRN=" #rn
#define CONVCL_CL_TILE_FIELDS_(blocked, tm, tn, tk, rm, rn) blocked, tm, tn, tk, rm, rn
#define CONVCL_CL_TILE_OPTIONS(tuple) CONVCL_CL_TILE_OPTIONS_ tuple
#define CONVCL_CL_TILES(program, tuple) \
  { program, CONVCL_CL_TILE_FIELDS_ tuple }

/* The work-group shape: (TN/RN) x (TM/RM) when tiled, a single work-item when blocked.
 * Returns its work-items. */
static inline size_t convcl_cl_tiles_local(const convcl_cl_tiles *t, size_t local[3]) {
  local[0] = t->blocked ? 1 : (size_t)(t->tn / t->rn);
  local[1] = t->blocked ? 1 : (size_t)(t->tm / t->rm);
  local[2] = 1;
  return local[0] * local[1];
}

/* Whether the device runs t's work-groups and holds its local memory. */
static inline int convcl_cl_tiles_fit(const convcl_cl_tiles *t, const convcl_cl_limits *lim) {
  size_t local[3];
  const size_t items = convcl_cl_tiles_local(t, local);
  /* Tiled: slices of A and B; blocked: a slice of B and the partial sums. */
  const cl_ulong local_bytes =
      (cl_ulong)(t->blocked ? (t->tk + t->tm) * t->tn : t->tk * (t->tm + t->tn)) * sizeof(float);
  return items <= lim->max_wg && local[0] <= lim->item_sizes[0] && local[1] <= lim->item_sizes[1] &&
         local_bytes <= lim->local_mem;
}

/* Rows of packed A for a K of k: the tiled kernels run whole TK slices; the blocked ones
 * bound their last slice themselves, so padding would only add work. */
static inline int64_t convcl_cl_tiles_kpad(const convcl_cl_tiles *t, int64_t k) {
  return t->blocked ? k : convcl_cl_round_up(k, t->tk);
}

/* Columns of packed A for an M of m: whole RM-row panels for the blocked kernels, whole
 * TM tiles (in one panel) for the tiled ones. */
static inline int64_t convcl_cl_tiles_mpad(const convcl_cl_tiles *t, int64_t m) {
  return convcl_cl_round_up(m, t->blocked ? t->rm : t->tm);
}

/* The kernel named name of t's program, when its own work-group limit (registers can
 * lower it below the device's) runs t's work-groups; else *kernel is NULL and status OK.
 * kernel_wg, unless NULL, receives that limit. */
convcl_status convcl_cl_tiles_kernel(convcl_context *ctx, const convcl_cl_tiles *t,
                                     const char *name, cl_kernel *kernel, size_t *kernel_wg);

/* Sets count arguments of kernel. */
convcl_status convcl_opencl_set_args(cl_kernel kernel, const convcl_cl_arg *args, size_t count);

/* A device buffer of bytes bytes; what names it in the error when it exceeds the
 * device's largest allocation. */
convcl_status convcl_opencl_buffer(const convcl_opencl_state *cl, const char *what, size_t bytes,
                                   cl_mem_flags flags, cl_mem *buffer);

/* Creates a read-only buffer holding a copy of data (bytes bytes). */
convcl_status convcl_opencl_upload(const convcl_opencl_state *cl, const char *what,
                                   const void *data, size_t bytes, cl_mem *buffer);

/* host/opencl/diskcache.c: the program binary cache on disk. The key names everything
 * a binary depends on: library version, platform, device, driver, options, sources. */
enum { CONVCL_CL_CACHE_KEY_MAX = 2048 };
void convcl_cl_cache_key(const convcl_opencl_state *cl, const char *const *sources, int count,
                         const char *options, char *key, size_t cap);
/* A built program from the cache entry for key, or NULL (no entry, or one that is
 * not exactly what store wrote for this key, or a binary the device refuses). */
cl_program convcl_cl_cache_load(const convcl_opencl_state *cl, const char *key,
                                const char *options);
/* Saves program's binary under key; failures only mean no caching. */
void convcl_cl_cache_store(cl_program program, const char *key);

/* host/opencl/io.c: the backend's tensors (convcl_backend's slots) and the run of a plan
 * on host arrays through its solver's enqueue. */
convcl_status convcl_cl_tensor_alloc(convcl_tensor *t);
void convcl_cl_tensor_free(convcl_tensor *t);
convcl_status convcl_cl_upload(convcl_tensor *t, const float *src);
convcl_status convcl_cl_download(const convcl_tensor *t, float *dst);
convcl_status convcl_cl_finish(convcl_context *ctx);
convcl_status convcl_cl_run_host(convcl_plan *plan, const float *input, float *output);
/* Binds input's buffer to argument input_arg of input_kernel, output's to output_arg of
 * output_kernel: what a solver's enqueue does first. */
convcl_status convcl_cl_bind(cl_kernel input_kernel, cl_uint input_arg, cl_kernel output_kernel,
                             cl_uint output_arg, const convcl_tensor *input, convcl_tensor *output);

/* host/opencl/direct.c: generic direct and transposed-gather kernels. */
extern const convcl_solver convcl_opencl_direct_solver;

/* host/opencl/igemm.c: implicit GEMM for every non-transposed convolution. */
extern const convcl_solver convcl_opencl_igemm_solver;

/* host/opencl/depthwise.c: groups == in_channels convolutions; the preferred entry is
 * the one AUTO considers first (multiplier 1). */
extern const convcl_solver convcl_opencl_depthwise_preferred_solver;
extern const convcl_solver convcl_opencl_depthwise_solver;

/* host/opencl/gemm.c: batched C[z] = A[z] B[z] (+ bias, ReLU) of kernels/gemm.cl, for the
 * gemm solver and the Winograd solvers. A is packed once by convcl_cl_gemm_pack; B and C
 * are row-major; batch z = z1 * nb2 + z2 starts each operand at z1 * stride[0] + z2 *
 * stride[1] floats and reads bias[z2 * m + row]. Variants, in this order: GPU tile,
 * small tile, CPU register blocks. */
#define CONVCL_CL_GEMM_VARIANT_COUNT 3
extern const char *const convcl_cl_gemm_variant_names[CONVCL_CL_GEMM_VARIANT_COUNT];

typedef struct convcl_cl_batched_gemm {
  cl_kernel kernel;                   /* the caller binds B (argument 1) and C (argument 2) */
  int64_t m, n, k, kpad, mpad, panel; /* packed A: [mpad / panel][kpad][panel] floats */
  size_t global[3], local[3];
} convcl_cl_batched_gemm;

typedef struct convcl_cl_gemm_operands {
  cl_mem a, bias; /* bias NULL: none */
  int64_t ldb, ldc, nb2;
  int64_t a_stride[2], b_stride[2], c_stride[2];
  int relu;
} convcl_cl_gemm_operands;

/* Whether m x n x k GEMMs over a_count A matrices keep every offset of the kernel's, the
 * packed A's included, in int. The caller checks its own B and C. */
int convcl_cl_gemm_fits_int(int64_t m, int64_t n, int64_t k, int64_t a_count);
/* Builds tile variant variant (-1: the device's pick) for batch GEMMs of m x n x k;
 * fails with CONVCL_ERROR_ALGO_NOT_APPLICABLE when the variant cannot run here. */
convcl_status convcl_cl_gemm_create(convcl_context *ctx, int variant, int64_t m, int64_t n,
                                    int64_t k, int64_t batch, convcl_cl_batched_gemm *g);
/* count row-major m x k matrices packed as the GEMM kernels read A: each [mpad / panel]
 * [kpad][panel], zero-padded; malloc'd, NULL when out of memory. */
float *convcl_cl_pack_a(const float *a, int64_t count, int64_t m, int64_t k, int64_t kpad,
                        int64_t mpad, int64_t panel);
/* The same for g. */
static inline float *convcl_cl_gemm_pack(const convcl_cl_batched_gemm *g, const float *a,
                                         int64_t count) {
  return convcl_cl_pack_a(a, count, g->m, g->k, g->kpad, g->mpad, g->panel);
}
/* Binds every argument but B and C. */
convcl_status convcl_cl_gemm_bind(const convcl_cl_batched_gemm *g,
                                  const convcl_cl_gemm_operands *o);
convcl_status convcl_cl_gemm_enqueue(const convcl_opencl_state *cl,
                                     const convcl_cl_batched_gemm *g);
void convcl_cl_gemm_release(convcl_cl_batched_gemm *g);

/* 1x1, stride 1, unpadded convolutions: one GEMM per image and group. */
extern const convcl_solver convcl_opencl_gemm_solver;

/* host/opencl/winograd.c: F(2x2, 3x3) and F(4x4, 3x3); the preferred entries are the ones
 * AUTO considers before the implicit GEMM (the layers and devices where they were faster). */
extern const convcl_solver convcl_opencl_winograd_2x2_solver;
extern const convcl_solver convcl_opencl_winograd_2x2_preferred_solver;
extern const convcl_solver convcl_opencl_winograd_4x4_preferred_solver;
extern const convcl_solver convcl_opencl_winograd_4x4_solver;

/* host/opencl/transposed_gemm.c: transposed convolutions as one implicit GEMM per
 * output stride phase. */
extern const convcl_solver convcl_opencl_transposed_gemm_solver;

#endif /* CONVCL_HOST_OPENCL_H */
