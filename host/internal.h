/* Library-internal types shared by the front end (shape, plan, context) and the backends. */
#ifndef CONVCL_INTERNAL_H
#define CONVCL_INTERNAL_H

#include "convcl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A validated problem. Spatial arrays always hold three dimensions, D, H, W; a 1D or
 * 2D problem fills the leading unused ones with size 1, kernel 1, stride 1,
 * dilation 1 and no padding, so backends only ever see 3D. */
typedef struct convcl_problem {
  int rank; /* spatial dims as the user gave them, 1..3 */
  int transposed;
  int has_bias;
  int relu;                 /* fused ReLU after the bias */
  convcl_padding_mode mode; /* zeros for transposed */
  int64_t n, c, k, groups;  /* batch, in channels, out channels, groups */
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3];
  int64_t pad_begin[3], pad_end[3]; /* resolved: 'same'/'valid' applied */
  int64_t output_padding[3];        /* transposed, resolved from output_size if given */
  int64_t input_elems, output_elems, weight_elems, kernel_elems;
  convcl_shape input_shape, output_shape, weight_shape;
} convcl_problem;

/* host/shape.c: the one place descriptors are validated. */
convcl_status convcl_problem_init(convcl_problem *p, const convcl_conv_desc *desc,
                                  const convcl_shape *input);

/* host/error.c: sets this thread's message and returns status, so call sites read
 * `return convcl_error(CONVCL_ERROR_INVALID_VALUE, "stride ... %d", s);`. */
convcl_status convcl_error(convcl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void convcl_error_clear(void);

/* Copies src into dst (capacity cap), always NUL-terminated, truncating. */
void convcl_strlcpy(char *dst, const char *src, size_t cap);

typedef struct convcl_plan convcl_plan;
typedef struct convcl_context convcl_context;

typedef struct convcl_tensor convcl_tensor;

/* One algorithm of one backend. create() stores its state in plan->impl; it may use
 * plan->problem, plan->ctx and plan->variant. Optional slots are NULL (or 0). A solver
 * with tile variants names them in variant_names; create() builds plan->variant, or
 * its own pick for the problem when plan->variant is -1. A solver has one of run and
 * enqueue: the CPU path's run on host arrays (a tensor there is one), the OpenCL ones
 * enqueue on tensors (a host run goes through the backend's run_host). */
typedef struct convcl_solver {
  convcl_algo algo;
  int (*applicable)(const convcl_context *ctx, const convcl_problem *p);
  size_t (*workspace)(const convcl_context *ctx, const convcl_problem *p);
  convcl_status (*create)(convcl_plan *plan, const float *weights, const float *bias);
  convcl_status (*run)(convcl_plan *plan, const float *input, float *output);
  convcl_status (*enqueue)(convcl_plan *plan, const convcl_tensor *input, convcl_tensor *output);
  void (*destroy)(convcl_plan *plan);
  int variant_count;
  const char *const *variant_names;
} convcl_solver;

/* A backend: its solvers in order of preference (the heuristic takes the first
 * applicable one), how to release its context state, and its tensors' memory: made
 * for t->elems floats (t->host or t->buffer), released, copied in and out, and waited
 * for. Backends whose solvers enqueue also run plans on host arrays (run_host). */
typedef struct convcl_backend {
  convcl_backend_kind kind;
  const convcl_solver *const *solvers;
  size_t solver_count;
  void (*context_destroy)(convcl_context *ctx);
  convcl_status (*tensor_alloc)(convcl_tensor *t);
  void (*tensor_free)(convcl_tensor *t);
  convcl_status (*upload)(convcl_tensor *t, const float *src);
  convcl_status (*download)(const convcl_tensor *t, float *dst);
  convcl_status (*finish)(convcl_context *ctx);
  convcl_status (*run_host)(convcl_plan *plan, const float *input, float *output);
} convcl_backend;

struct convcl_context {
  const convcl_backend *backend;
  convcl_device_info device;
  char fallback_reason[512];
  pthread_mutex_t lock; /* guards build_log */
  char *build_log;      /* malloc'd, NULL when none */
  atomic_int tune;      /* AUTO measures (convcl_context_set_tuning, from any thread) */
  void *impl;           /* the backend's state */
};

struct convcl_plan {
  convcl_context *ctx;
  const convcl_solver *solver;
  convcl_problem problem;
  int variant; /* the solver's tile variant; -1: its own pick */
  size_t workspace_bytes;
  void *impl;              /* the solver's state */
  convcl_tensor *stage[2]; /* run_host's device copies of input and output, made at first use */
};

/* A tensor (include/convcl.h). On the CPU path host holds the data; on OpenCL, buffer is
 * the cl_mem kernels bind, the data from its byte 0: convcl's own buffer, the app's
 * buffer itself (wrapped at offset 0), or a sub-buffer convcl made of it. */
struct convcl_tensor {
  convcl_context *ctx;
  convcl_shape shape;
  int64_t elems;
  float *host;
  void *buffer;
  void *app_buffer;  /* wrapped: the app's cl_mem, never released by convcl */
  size_t app_offset; /* wrapped: where the data starts in app_buffer, in bytes */
};

/* host/tensor.c: every copy between the app's memory and a tensor or a device buffer
 * (uploads, downloads, the staging of host runs, weights at plan time) counts one;
 * tests read the total to prove that chained runs copy nothing. */
void convcl_count_host_transfer(void);
long convcl_host_transfers(void);
/* A tensor struct for shape in ctx, validated, without memory (the caller attaches it). */
convcl_status convcl_tensor_init(convcl_context *ctx, const convcl_shape *shape,
                                 convcl_tensor **tensor_out);
/* Checks that a tensor may be a plan's input or output: in its context, of shape. */
convcl_status convcl_tensor_check(const convcl_tensor *t, const convcl_context *ctx,
                                  const convcl_shape *shape, const char *role);

/* host/context.c: a context with no device yet (backend NULL), which
 * convcl_context_destroy releases; NULL when out of memory (the error is set). */
convcl_context *convcl_context_alloc(void);

/* host/cpu/: always present. The CPU path runs on 1 to CONVCL_CPU_MAX_THREADS threads. */
enum { CONVCL_CPU_MAX_THREADS = 1024 };
/* s as a thread count: decimal digits only, 1 to CONVCL_CPU_MAX_THREADS; else -1. */
int convcl_cpu_parse_threads(const char *s);
/* threads: the pool's size ("cpu:T"), or 0 for convcl_cpu_device_info's count. */
convcl_status convcl_cpu_open(convcl_context *ctx, int threads);
/* Describes the CPU path: the processor's name, the threads it uses
 * (CONVCL_NUM_THREADS, else the online processors) and the memory. convcl_cpu_open
 * refuses an invalid CONVCL_NUM_THREADS, which this describes as unset. */
void convcl_cpu_device_info(convcl_device_info *info);

/* host/opencl/: present when built with OpenCL (CONVCL_HAVE_OPENCL). */
typedef enum convcl_opencl_pick {
  CONVCL_OPENCL_PICK_GPU_OR_ACCEL, /* auto: first GPU/accelerator whose kernels build */
  CONVCL_OPENCL_PICK_ANY,          /* "opencl": first device of any type */
  CONVCL_OPENCL_PICK_INDEX         /* "opencl:P:D" */
} convcl_opencl_pick;

/* Opens an OpenCL device into ctx (sets backend, device, impl). On failure returns
 * a status with the reason in convcl_last_error() and leaves ctx as it was. */
convcl_status convcl_opencl_open(convcl_context *ctx, convcl_opencl_pick pick, int platform,
                                 int device);
/* Appends every OpenCL device to infos (at most capacity), returns how many exist.
 * Sets nothing and returns 0 when OpenCL is unavailable. */
int convcl_opencl_list(convcl_device_info *infos, int capacity);

/* host/plan.c, for tests and tuning: convcl_plan_create with a named algorithm, building
 * tile variant `variant` (0 .. its solver's variant_count - 1; 0 alone for a solver without
 * variants). Past the last variant it fails with CONVCL_ERROR_ALGO_NOT_APPLICABLE. */
convcl_status convcl_plan_create_variant(convcl_context *ctx, const convcl_conv_desc *desc,
                                         const convcl_shape *input, const float *weights,
                                         const float *bias, convcl_algo algo, int variant,
                                         convcl_plan **plan_out);

/* host/plan.c: a plan for the validated problem p (bias checked against it): what
 * convcl_plan_create and convcl_plan_create_variant build after validating, without
 * tuning; variant -1 lets the solver pick. */
convcl_status convcl_plan_make(convcl_context *ctx, const convcl_problem *p, const float *weights,
                               const float *bias, convcl_algo algo, int variant,
                               convcl_plan **plan_out);

/* host/diskcache.c: keyed, checksummed entries in $XDG_CACHE_HOME/convcl (else
 * ~/.cache/convcl), one namespace per kind. Disabled by CONVCL_CACHE=0; untrusted
 * directories and entries are skipped; every failure just means no caching. */
typedef enum convcl_cache_kind {
  CONVCL_CACHE_PROGRAM, /* OpenCL program binaries, <hash>.bin */
  CONVCL_CACHE_TUNING   /* tuning choices, <hash>.tune */
} convcl_cache_kind;
#define CONVCL_HASH_INIT 0xcbf29ce484222325ull
/* FNV-1a: continues hash h over n bytes of data. */
uint64_t convcl_hash(uint64_t h, const void *data, size_t n);
/* The data stored under key (malloc'd, *len bytes, never empty), or NULL when there is
 * no entry, or one that is not exactly what store wrote for this kind and key. */
void *convcl_diskcache_load(convcl_cache_kind kind, const char *key, size_t *len);
/* Saves len bytes of data under key, atomically replacing any entry there. */
void convcl_diskcache_store(convcl_cache_kind kind, const char *key, const void *data, size_t len);

/* host/tune.c: measured choice for AUTO when ctx->tune is set. */
/* The plan for p whose algorithm and tile variant were measured fastest on this device:
 * read from the tuning cache, else measured now (every applicable algorithm and tile
 * variant, run on scratch data) and stored. */
convcl_status convcl_tune_plan(convcl_context *ctx, const convcl_problem *p, const float *weights,
                               const float *bias, convcl_plan **plan_out);
/* The algorithm the tuning cache records for p, when it holds a usable entry. */
int convcl_tune_lookup(const convcl_context *ctx, const convcl_problem *p, convcl_algo *algo);
/* Candidate plan runs made to measure since the process started (tests check that a
 * cached choice is read back without measuring). */
long convcl_tune_measured_runs(void);

/* host/winograd_filter.c: the filter transform U = G f G^T of Winograd F(m x m, 3x3),
 * m = 2 or 4, for one 3x3 filter f (row-major) into the leading (m + 2) x (m + 2) of u.
 * It is formed in double, so the caller rounds it once when storing it: 1/6, 1/12 and
 * 1/24 are inexact in binary. */
void convcl_winograd_filter(int m, const float *f, double u[6][6]);

/* Replaces the context's build log with a copy of log (NULL clears it). */
void convcl_context_set_build_log(convcl_context *ctx, const char *log);

#endif /* CONVCL_INTERNAL_H */
