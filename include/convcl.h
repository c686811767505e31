/* convcl: PyTorch-exact convolutions on OpenCL devices and on the CPU.
 *
 * Conv1d/2d/3d and ConvTranspose1d/2d/3d forward, FP32, tensors in NC + spatial
 * layout (NCL, NCHW, NCDHW), weights in PyTorch's layout so a state_dict tensor
 * loads as is:  conv [out, in/groups, k...],  transposed [in, out/groups, k...].
 *
 * Usage: describe the layer (convcl_conv_desc_init + fields), open a context on a
 * device, create a plan once (validates, picks an algorithm, compiles kernels,
 * uploads weights), then per input either run it on host arrays (convcl_plan_run) or
 * enqueue it on tensors in the device's memory (convcl_plan_enqueue), chaining layers
 * without host copies; destroy plans and tensors, then the context.
 *
 * Errors: every fallible call returns a convcl_status. The detailed message, naming
 * the offending values in PyTorch's words where PyTorch has them, is kept per thread
 * and read with convcl_last_error(). The library never prints, never exits, and
 * leaves caller buffers untouched when a call fails.
 *
 * Ownership: convcl copies what it is given (descriptors, shapes, weights, bias) before
 * the call returns; the caller's arrays are never kept. Every object convcl_*_create
 * makes is released by its convcl_*_destroy, which accepts NULL.
 *
 * Threads: every function may be called from any thread. A context may be shared by
 * threads: plans and tensors may be created, run and destroyed in it concurrently
 * (kernel builds and the disk caches are shared safely). A plan, and a tensor, is
 * used by one thread at a time. Work in one context is serialised where it shares a
 * resource: program builds, the CPU path's thread pool, the OpenCL queue (a download
 * or convcl_context_finish also waits for other threads' earlier work on it). */
#ifndef CONVCL_H
#define CONVCL_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(CONVCL_SHARED)
#if defined(CONVCL_BUILDING)
#define CONVCL_API __declspec(dllexport)
#else
#define CONVCL_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define CONVCL_API __attribute__((visibility("default")))
#else
#define CONVCL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CONVCL_VERSION_MAJOR 0
#define CONVCL_VERSION_MINOR 1
#define CONVCL_VERSION_PATCH 0
#define CONVCL_VERSION_STRING "0.1.0"

/* ---- Status -------------------------------------------------------------------
 * 0 is success; 1xx the caller passed something invalid; 2xx valid but not
 * supported here; 3xx the device or the system failed. */
#define CONVCL_STATUS_MAP(X)                                                           \
  X(OK, 0, "success")                                                                  \
  X(ERROR_NULL_POINTER, 100, "a required pointer argument is NULL")                    \
  X(ERROR_INVALID_VALUE, 101, "an argument has an invalid value")                      \
  X(ERROR_INVALID_SHAPE, 102, "a tensor shape does not match the convolution")         \
  X(ERROR_INVALID_GROUPS, 103, "groups does not divide the channels")                  \
  X(ERROR_INVALID_PADDING, 104, "invalid padding for this convolution")                \
  X(ERROR_INVALID_OUTPUT_SIZE, 105, "the output size is invalid or empty")             \
  X(ERROR_SIZE_OVERFLOW, 106, "a size product overflows")                              \
  X(ERROR_INVALID_DEVICE, 107, "the device string does not name an available device")  \
  X(ERROR_UNSUPPORTED, 200, "not supported")                                           \
  X(ERROR_ALGO_NOT_APPLICABLE, 201, "the requested algorithm cannot run this problem") \
  X(ERROR_OUT_OF_MEMORY, 300, "out of memory")                                         \
  X(ERROR_DEVICE, 301, "the OpenCL runtime reported an error")                         \
  X(ERROR_BUILD_FAILED, 302, "an OpenCL program failed to build")                      \
  X(ERROR_SYSTEM, 303, "a system call failed")                                         \
  X(ERROR_INTERNAL, 304, "internal error")

typedef enum convcl_status {
#define CONVCL_STATUS_ENUM_(name, value, text) CONVCL_##name = value,
  CONVCL_STATUS_MAP(CONVCL_STATUS_ENUM_)
#undef CONVCL_STATUS_ENUM_
} convcl_status;

/* A fixed description of the status; never NULL, also for unknown values. */
CONVCL_API const char *convcl_status_string(convcl_status status);

/* The detailed message of the last failed call on this thread ("" after a success).
 * Valid until the next convcl call on this thread. Never NULL. */
CONVCL_API const char *convcl_last_error(void);

/* ---- Describing a convolution -------------------------------------------------- */

#define CONVCL_MAX_SPATIAL 3
#define CONVCL_MAX_DIMS (CONVCL_MAX_SPATIAL + 2)

typedef enum convcl_padding_mode {
  CONVCL_PADDING_ZEROS = 0,
  CONVCL_PADDING_REFLECT,
  CONVCL_PADDING_REPLICATE,
  CONVCL_PADDING_CIRCULAR
} convcl_padding_mode;

/* What the kernels apply to each output after the bias, in the same pass. */
typedef enum convcl_activation {
  CONVCL_ACTIVATION_NONE = 0,
  CONVCL_ACTIVATION_RELU /* max(x, 0); NaN stays NaN, as torch.relu */
} convcl_activation;

typedef enum convcl_padding_kind {
  CONVCL_PAD_EXPLICIT = 0, /* pad_begin / pad_end as given */
  CONVCL_PAD_SAME,      /* PyTorch 'same' (= ONNX SAME_UPPER at stride 1): extra on the end side */
  CONVCL_PAD_VALID,     /* no padding */
  CONVCL_PAD_SAME_LOWER /* ONNX SAME_LOWER: extra on the begin side */
} convcl_padding_kind;

/* One convolution layer. Per-dimension arrays use the first spatial_dims entries,
 * in PyTorch's order (D, H, W for 3D; H, W for 2D; L for 1D). Fill with
 * convcl_conv_desc_init, then override fields. */
typedef struct convcl_conv_desc {
  int spatial_dims; /* 1, 2 or 3 */
  int transposed;   /* 0: ConvNd, 1: ConvTransposeNd */
  int64_t in_channels;
  int64_t out_channels;
  int64_t groups;
  int64_t kernel[CONVCL_MAX_SPATIAL];
  int64_t stride[CONVCL_MAX_SPATIAL];
  int64_t dilation[CONVCL_MAX_SPATIAL]; /* 1 = dense, as in PyTorch */
  convcl_padding_kind padding;
  int64_t pad_begin[CONVCL_MAX_SPATIAL]; /* PyTorch's padding=p is pad_begin = pad_end = p */
  int64_t pad_end[CONVCL_MAX_SPATIAL];
  convcl_padding_mode padding_mode; /* transposed: zeros only */
  int has_bias;
  /* Transposed only. output_padding as in PyTorch; or a requested output size
   * (all entries > 0) from which output_padding is derived as PyTorch does. */
  int64_t output_padding[CONVCL_MAX_SPATIAL];
  int64_t output_size[CONVCL_MAX_SPATIAL];
  convcl_activation activation; /* fused into the convolution; none by default */
} convcl_conv_desc;

/* Defaults of PyTorch's constructors: stride 1, dilation 1, padding 0 (explicit),
 * groups 1, zeros padding mode, bias on, output_padding 0, no output size, no
 * activation.
 * kernel may be NULL (then kernel sizes stay 0 and must be set). */
CONVCL_API void convcl_conv_desc_init(convcl_conv_desc *desc, int spatial_dims, int transposed,
                                      int64_t in_channels, int64_t out_channels,
                                      const int64_t *kernel);

/* A tensor shape: ndim entries of dims, N, C, then spatial. */
typedef struct convcl_shape {
  int ndim;
  int64_t dims[CONVCL_MAX_DIMS];
} convcl_shape;

/* Checks desc against an input shape exactly as PyTorch would and writes the output
 * shape. Fails with a message naming the bad values. */
CONVCL_API convcl_status convcl_conv_output_shape(const convcl_conv_desc *desc,
                                                  const convcl_shape *input, convcl_shape *output);

/* The weight shape the descriptor expects: conv [out, in/groups, k...],
 * transposed [in, out/groups, k...]. The bias shape is [out_channels]. */
CONVCL_API convcl_status convcl_conv_weight_shape(const convcl_conv_desc *desc,
                                                  convcl_shape *weight);

/* Learnable parameters: in*out*prod(k)/groups + (bias ? out : 0). */
CONVCL_API convcl_status convcl_conv_param_count(const convcl_conv_desc *desc, int64_t *count);

/* Direct-convolution FLOPs (2 per multiply-add) for this input:
 * conv 2*N*out*(in/g)*prod(k)*prod(out spatial); transposed 2*N*in*(out/g)*prod(k)*prod(in
 * spatial). */
CONVCL_API convcl_status convcl_conv_flops(const convcl_conv_desc *desc, const convcl_shape *input,
                                           int64_t *flops);

/* ---- Devices and contexts --------------------------------------------------------- */

typedef enum convcl_backend_kind {
  CONVCL_BACKEND_CPU = 0,
  CONVCL_BACKEND_OPENCL = 1
} convcl_backend_kind;

typedef struct convcl_device_info {
  char id[32];        /* "cpu", "cpu:T" or "opencl:P:D": what convcl_context_create accepts */
  char name[256];     /* device name */
  char platform[128]; /* OpenCL platform name; "" for cpu */
  char type[16];      /* "cpu", "gpu", "accelerator", "other" */
  char version[128];  /* OpenCL version string; "" for cpu */
  char driver[128];   /* driver version; for cpu the library version and instruction set */
  int compute_units;  /* for cpu: the threads the CPU path uses */
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  int is_auto; /* 1 on the device "auto" picks */
} convcl_device_info;

/* Lists the CPU path and every OpenCL device. Writes at most capacity entries to
 * infos (which may be NULL when capacity is 0) and the total to count. The CPU path
 * is always entry 0: "cpu", or "cpu:T" where CONVCL_DEVICE has auto open that. Missing
 * OpenCL (no ICD, no platform) is not an error. */
CONVCL_API convcl_status convcl_devices_list(convcl_device_info *infos, int capacity, int *count);

typedef struct convcl_context convcl_context;

/* Opens a device. device: NULL or "auto" (the first OpenCL GPU or accelerator whose
 * kernels build, else the CPU path; the environment variable CONVCL_DEVICE overrides
 * auto), "cpu" (on CONVCL_NUM_THREADS threads, else one per online processor; an
 * invalid CONVCL_NUM_THREADS is CONVCL_ERROR_INVALID_VALUE), "cpu:T" (the CPU path on T
 * threads, 1 to 1024, whatever CONVCL_NUM_THREADS says), "opencl" (the first OpenCL
 * device of any type), "opencl:P:D" (platform P, device D, as convcl_devices_list numbers
 * them). A named device that cannot be opened is an error; auto never fails for want of
 * OpenCL. */
CONVCL_API convcl_status convcl_context_create(const char *device, convcl_context **ctx_out);

/* Releases the context. Plans and tensors made in it must be destroyed first, and no
 * other thread may be using it. NULL is a no-op. */
CONVCL_API void convcl_context_destroy(convcl_context *ctx);

CONVCL_API convcl_backend_kind convcl_context_backend(const convcl_context *ctx);

/* Fills info for the context's device. */
CONVCL_API convcl_status convcl_context_device(const convcl_context *ctx, convcl_device_info *info);

/* Why auto did not pick an OpenCL device ("" when it did, or when a device was
 * named). Never NULL; valid while the context lives. */
CONVCL_API const char *convcl_context_fallback_reason(const convcl_context *ctx);

/* The build log of the last OpenCL program that failed to build in this context
 * ("" if none). Never NULL; valid until the next plan creation in the context, by any
 * thread. */
CONVCL_API const char *convcl_context_build_log(const convcl_context *ctx);

/* Measured choice. With tuning on, creating a plan with algo AUTO times every
 * applicable algorithm and tile variant on this problem once, keeps the fastest and
 * remembers it on disk ($XDG_CACHE_HOME/convcl, else ~/.cache/convcl), keyed by the
 * device, its driver and compute units, the library version and the problem; later
 * plans for the same problem on the same device read the choice back. With tuning off
 * (the default, unless the environment variable CONVCL_TUNE=1 was set when the
 * context was created) a heuristic chooses without measuring. */
CONVCL_API convcl_status convcl_context_set_tuning(convcl_context *ctx, int enable);

/* ---- Tensors ---------------------------------------------------------------------
 * An FP32 tensor in a context's memory: device memory on an OpenCL device (including
 * an OpenCL CPU device), host memory on the CPU path, in NC + spatial layout. Layers
 * chained through tensors never copy through the host. A tensor is used by one thread
 * at a time, and must be destroyed before its context. */

typedef struct convcl_tensor convcl_tensor;

/* A new tensor of shape (1 to CONVCL_MAX_DIMS dims, each > 0) in ctx; its contents
 * are undefined until uploaded or written by a run. */
CONVCL_API convcl_status convcl_tensor_create(convcl_context *ctx, const convcl_shape *shape,
                                              convcl_tensor **tensor_out);

/* Releases the tensor's memory (never memory the app wrapped, see convcl_opencl.h).
 * Work enqueued on it must have finished. NULL is a no-op. */
CONVCL_API void convcl_tensor_destroy(convcl_tensor *tensor);

CONVCL_API void convcl_tensor_shape(const convcl_tensor *tensor, convcl_shape *shape);

/* Copies src (the tensor's element count of floats) into the tensor, after the work
 * already enqueued in its context; returns when src may be reused. */
CONVCL_API convcl_status convcl_tensor_upload(convcl_tensor *tensor, const float *src);

/* Waits for the work enqueued in the tensor's context, then copies the tensor into
 * dst (its element count of floats). */
CONVCL_API convcl_status convcl_tensor_download(const convcl_tensor *tensor, float *dst);

/* Waits until every run enqueued in the context has finished; reports a device error
 * that happened while they ran. */
CONVCL_API convcl_status convcl_context_finish(convcl_context *ctx);

/* ---- Plans ----------------------------------------------------------------------- */

typedef enum convcl_algo {
  CONVCL_ALGO_AUTO = 0,
  CONVCL_ALGO_DIRECT,        /* generic direct (gather form for transposed); applicable where its
                               index tables fit the CPU workspace budget, or its coordinates 32
                               bits (OpenCL) */
  CONVCL_ALGO_IMPLICIT_GEMM, /* convolution as a tiled GEMM over packed weights, no im2col buffer */
  CONVCL_ALGO_DEPTHWISE,     /* groups == in_channels: one filter per channel, vectorized along W */
  CONVCL_ALGO_TRANSPOSED_GEMM, /* transposed as GEMMs over packed weights, no zero insertion */
  CONVCL_ALGO_GEMM,            /* 1x1, stride 1, no padding: one GEMM per group, input as is */
  CONVCL_ALGO_WINOGRAD_2X2,    /* Winograd F(2x2,3x3): 2D 3x3, stride 1, dilation 1, zeros pad */
  CONVCL_ALGO_WINOGRAD_4X4     /* Winograd F(4x4,3x3): as above, fewer multiplies, more rounding */
} convcl_algo;

#define CONVCL_ALGO_COUNT 8

/* "auto", "direct", ...; "unknown" for values outside the enum. Never NULL. */
CONVCL_API const char *convcl_algo_name(convcl_algo algo);
/* Parses a name as convcl_algo_name writes it. */
CONVCL_API convcl_status convcl_algo_from_name(const char *name, convcl_algo *algo);

typedef struct convcl_plan convcl_plan;

/* Which algorithm a plan would use and the workspace it would hold, without
 * weights and without compiling anything. */
CONVCL_API convcl_status convcl_plan_query(convcl_context *ctx, const convcl_conv_desc *desc,
                                           const convcl_shape *input, convcl_algo algo,
                                           convcl_algo *chosen, size_t *workspace_bytes);

/* Validates desc against input, picks the algorithm (algo = AUTO, or the one asked
 * for, which must be applicable), builds kernels and copies (and transforms) the
 * weights and bias, so the caller may free them afterwards. bias must be non-NULL
 * exactly when desc->has_bias. weights holds the convcl_conv_weight_shape elements.
 * Blocking: a kernel build missing from the disk cache takes from milliseconds to
 * seconds, and with tuning on, a first plan for a problem measures the candidates.
 * Fails with CONVCL_ERROR_ALGO_NOT_APPLICABLE for an algorithm that cannot run the
 * problem, CONVCL_ERROR_BUILD_FAILED (convcl_context_build_log) when its kernels do
 * not build, CONVCL_ERROR_OUT_OF_MEMORY when the weights or workspace do not fit. */
CONVCL_API convcl_status convcl_plan_create(convcl_context *ctx, const convcl_conv_desc *desc,
                                            const convcl_shape *input, const float *weights,
                                            const float *bias, convcl_algo algo,
                                            convcl_plan **plan_out);

/* Runs the plan on host buffers: input holds the plan's input shape, output receives
 * the output shape; the call returns when output is written. Blocking. On an OpenCL
 * device with memory of its own, the data is copied in and out through device copies
 * the plan makes at its first run and keeps; on the CPU path and OpenCL CPU devices,
 * the kernels work on the arrays in place. */
CONVCL_API convcl_status convcl_plan_run(convcl_plan *plan, const float *input, float *output);

/* Runs the plan on tensors of its context (see Tensors above): input's shape must be
 * the plan's input shape, output's its output shape, and they must be different
 * tensors. On an OpenCL device the work is enqueued on the context's in-order queue and
 * the call returns without waiting and without any host transfer, so the next layer
 * may be enqueued at once on this output; convcl_context_finish or
 * convcl_tensor_download waits for it. On the CPU path the run is done when the call
 * returns. Errors found when enqueuing are returned here; errors of the device while
 * running, by the call that waits. */
CONVCL_API convcl_status convcl_plan_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                             convcl_tensor *output);

/* NULL is a no-op. */
CONVCL_API void convcl_plan_destroy(convcl_plan *plan);

CONVCL_API convcl_algo convcl_plan_algo(const convcl_plan *plan);
CONVCL_API size_t convcl_plan_workspace_size(const convcl_plan *plan);
CONVCL_API void convcl_plan_output_shape(const convcl_plan *plan, convcl_shape *output);

#ifdef __cplusplus
}
#endif

#endif /* CONVCL_H */
