/* Injected OpenCL failures (host/opencl/fault.c): for each kind of call (program build,
 * buffer allocation, kernel enqueue, map/read/write, context and queue creation) the
 * test fails the 1st, 2nd, ... such call that plan creation and runs make, until a pass
 * makes no N-th call. Each failure must come back as a status with a message naming the
 * failed call, leave the context usable (the same plan where one was made, and a fresh
 * plan, run right after) and release every OpenCL object: the test holds its own
 * reference to the cl_context, which every buffer, program and queue of convcl's holds
 * too, and a leaked kernel holds its program, so after the convcl context is destroyed
 * that reference must be the last. Host memory leaks are LeakSanitizer's (ASan build).
 * Each layer is walked twice, once as PoCL's CPU device is and once with the device
 * passing for a GPU (GPU tile variants, host runs staged through device tensors).
 * Then context set-up: convcl_context_create("opencl"), an interop context on the
 * test's own cl_context (which builds programs), a wrapped sub-buffer, and "auto"'s
 * fallback to the CPU path.
 *
 *   test_faults   all of it, with CONVCL_CACHE=0 so programs build, but for the layer
 *                 that loads them from a disk cache in a directory of its own
 *
 * Exits 77 (skipped) without an OpenCL device. */
#include "check.h"
#include "convcl_ref.h"
#include "internal.h"
#include "opencl/opencl.h"
#include "testutil.h"

#include "convcl_opencl.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One layer per OpenCL solver (named, so a failed build is not covered by AUTO's next
 * solver), the implicit GEMM's split-K path, an AUTO layer, whose failed builds fall
 * back to the next solver, a tuned one and one whose programs come from the disk cache. */
typedef struct layer {
  const char *name;
  convcl_algo algo;
  int variant; /* -1: the solver's pick */
  int tune;    /* AUTO measures every candidate: a failed one is passed over */
  int cache;   /* programs load from a warm disk cache; one it cannot load is rebuilt */
  convcl_conv_desc desc;
  convcl_shape input, output;
  float *x, *w, *b, *ref;
  size_t nx, ny;
} layer;

enum { LAYER_COUNT = 13 };

static float *random_floats(size_t n, unsigned *state) {
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; v && i < n; i++) {
    *state = *state * 1664525u + 1013904223u;
    v[i] = (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
  }
  return v;
}

/* A 2D layer: c -> k channels, kernel ks, stride s, padding pad, on an n x c x h x w input. */
static void layer_2d(layer *l, const char *name, convcl_algo algo, int variant, int transposed,
                     int64_t n, int64_t c, int64_t k, int64_t h, int64_t w, int64_t ks, int64_t s,
                     int64_t pad, int64_t groups) {
  const int64_t kernel[2] = {ks, ks};
  memset(l, 0, sizeof *l);
  l->name = name;
  l->algo = algo;
  l->variant = variant;
  convcl_conv_desc_init(&l->desc, 2, transposed, c, k, kernel);
  l->desc.groups = groups;
  for (int d = 0; d < 2; d++) {
    l->desc.stride[d] = s;
    l->desc.pad_begin[d] = l->desc.pad_end[d] = pad;
  }
  l->desc.activation = CONVCL_ACTIVATION_RELU;
  l->input = (convcl_shape){4, {n, c, h, w}};
}

static int layer_init(layer *l, unsigned *state) {
  convcl_shape ws;
  if (convcl_conv_output_shape(&l->desc, &l->input, &l->output) != CONVCL_OK ||
      convcl_conv_weight_shape(&l->desc, &ws) != CONVCL_OK)
    return 0;
  l->nx = tu_elems(&l->input);
  l->ny = tu_elems(&l->output);
  l->x = random_floats(l->nx, state);
  l->w = random_floats(tu_elems(&ws), state);
  l->b = l->desc.has_bias ? random_floats((size_t)l->desc.out_channels, state) : NULL;
  l->ref = malloc(l->ny * sizeof *l->ref);
  return l->x && l->w && (l->b || !l->desc.has_bias) && l->ref &&
         convcl_ref_conv(&l->desc, &l->input, l->x, l->w, l->b, l->ref) == CONVCL_OK;
}

static void layer_free(layer *l) {
  free(l->x);
  free(l->w);
  free(l->b);
  free(l->ref);
}

/* Winograd's transforms round more than direct sums; 1e-3 of the largest output holds
 * for F(4x4) on these small channel counts, and the others are far below it. */
static int matches(const layer *l, const float *y) {
  double worst = 0, scale = 1;
  for (size_t i = 0; i < l->ny; i++)
    if (fabs(l->ref[i]) > scale) scale = fabs(l->ref[i]);
  for (size_t i = 0; i < l->ny; i++) {
    const double e = tu_abs_error(y[i], l->ref[i]);
    if (e > worst) worst = e;
  }
  return worst <= 1e-3 * scale;
}

static convcl_status plan_create(convcl_context *ctx, const layer *l, convcl_plan **plan) {
  return l->variant >= 0 ? convcl_plan_create_variant(ctx, &l->desc, &l->input, l->w, l->b, l->algo,
                                                      l->variant, plan)
                         : convcl_plan_create(ctx, &l->desc, &l->input, l->w, l->b, l->algo, plan);
}

/* convcl_plan_run into y, then the same through tensors: upload, enqueue, download. */
static convcl_status run_both(convcl_context *ctx, convcl_plan *plan, const layer *l, float *y,
                              float *y_tensors) {
  convcl_tensor *tx = NULL, *ty = NULL;
  tu_poison(y, l->ny);
  tu_poison(y_tensors, l->ny);
  convcl_status st = convcl_plan_run(plan, l->x, y);
  if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &l->input, &tx);
  if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &l->output, &ty);
  if (st == CONVCL_OK) st = convcl_tensor_upload(tx, l->x);
  if (st == CONVCL_OK) st = convcl_plan_enqueue(plan, tx, ty);
  if (st == CONVCL_OK) st = convcl_tensor_download(ty, y_tensors);
  convcl_tensor_destroy(tx);
  convcl_tensor_destroy(ty);
  return st;
}

/* The message names the failed call; a failed clBuildProgram reads "kernel build failed"
 * with the compiler's first error line, which an injected failure does not have. */
static int names_call(const char *message, const char *call) {
  if (strcmp(call, "clBuildProgram") == 0) return strstr(message, "build failed") != NULL;
  return strstr(message, call) != NULL;
}

/* Removes path and, when it is a directory, everything in it. */
static void remove_tree(const char *path) {
  DIR *dir = opendir(path);
  if (dir) {
    struct dirent *e;
    while ((e = readdir(dir)))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
      }
    closedir(dir);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static cl_uint context_refs(cl_context context) {
  cl_uint refs = 0;
  clGetContextInfo(context, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL);
  return refs;
}

/* Opens "opencl" with faults disarmed and takes a reference to its cl_context. */
static convcl_context *open_opencl(cl_context *context) {
  convcl_context *ctx = NULL;
  cl_command_queue queue;
  if (convcl_context_create("opencl", &ctx) != CONVCL_OK ||
      !(queue = convcl_context_opencl_queue(ctx)) ||
      clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof *context, context, NULL) !=
          CL_SUCCESS ||
      clRetainContext(*context) != CL_SUCCESS) {
    printf("cannot open opencl: %s\n", convcl_last_error());
    convcl_context_destroy(ctx);
    return NULL;
  }
  return ctx;
}

/* Destroys ctx and checks that nothing of it holds its cl_context any more. PoCL drops
 * the references of finished commands' objects from its own threads, a little later:
 * the count may take a moment to settle. */
static void close_opencl(convcl_context *ctx, cl_context context, const char *what) {
  convcl_context_destroy(ctx);
  cl_uint refs = context_refs(context);
  for (int ms = 0; refs > 1 && ms < 5000; ms++) {
    nanosleep(&(struct timespec){0, 1000000}, NULL);
    refs = context_refs(context);
  }
  CHECK(refs == 1,
        "%s: %u references to the cl_context remain, not only the test's: an OpenCL "
        "object leaked",
        what, refs);
  clReleaseContext(context);
}

/* Walks N over the calls of kind that creating l's plan and running it make, each time
 * in a fresh context, since built programs stay cached in one. gpu_like makes PoCL's CPU
 * device pass for a GPU: the solvers pick their GPU tiles and host runs stage through
 * device tensors instead of wrapping the caller's arrays. Returns the calls walked. */
static long walk(const layer *l, convcl_fault_kind kind, int gpu_like) {
  float *y = malloc(l->ny * sizeof *y), *y2 = malloc(l->ny * sizeof *y2);
  long n = 1;
  setenv("CONVCL_CACHE", l->cache ? "1" : "0", 1);
  if (l->cache) {
    /* Fills the cache, so the walk starts from loading every program. */
    convcl_context *ctx = NULL;
    convcl_plan *plan = NULL;
    CHECK(convcl_context_create("opencl", &ctx) == CONVCL_OK &&
              plan_create(ctx, l, &plan) == CONVCL_OK,
          "%s: %s", l->name, convcl_last_error());
    convcl_plan_destroy(plan);
    convcl_context_destroy(ctx);
  }
  for (;; n++) {
    char what[160];
    snprintf(what, sizeof what, "%s%s, %s fault %ld", l->name, gpu_like ? " (as a GPU)" : "",
             convcl_fault_kind_name(kind), n);
    cl_context context;
    convcl_context *ctx = open_opencl(&context);
    if (!ctx) {
      CHECK(0, "%s: cannot open the context", what);
      break;
    }
    if (gpu_like) ((convcl_opencl_state *)ctx->impl)->limits.is_cpu = 0;
    convcl_context_set_tuning(ctx, l->tune);
    convcl_plan *plan = NULL;
    convcl_fault_set(kind, n);
    convcl_status st = plan_create(ctx, l, &plan);
    const int in_run = st == CONVCL_OK;
    if (st == CONVCL_OK) st = run_both(ctx, plan, l, y, y2);
    const int fired = convcl_fault_calls(kind) >= n;
    char call[64], message[1024];
    convcl_strlcpy(call, convcl_fault_last_call(), sizeof call);
    convcl_strlcpy(message, convcl_last_error(), sizeof message);
    convcl_fault_set(kind, 0);

    if (st == CONVCL_OK) {
      /* Nothing failed, or AUTO built another solver where a build failed, or tuning
       * passed over the candidate that failed, or a cached binary that did not load was
       * built from source (the cache's binaries come first, so any failed build was one). */
      const int build = strcmp(call, "clBuildProgram") == 0;
      CHECK(!fired || l->tune || (l->algo == CONVCL_ALGO_AUTO && build) ||
                (l->cache && (build || strcmp(call, "clCreateProgramWithBinary") == 0)),
            "%s: %s failed, yet the layer ran", what, call);
      CHECK(matches(l, y) && matches(l, y2), "%s: wrong output", what);
    } else {
      CHECK(fired, "%s: failed without an injected failure: %s", what, message);
      CHECK(message[0] != '\0' && names_call(message, call),
            "%s: %s in %s: the message '%s' does not name it", what, call,
            in_run ? "the run" : "plan creation", message);
    }
    /* The context, and a plan whose run failed, run on. */
    if (st != CONVCL_OK && plan) {
      const convcl_status again = run_both(ctx, plan, l, y, y2);
      CHECK(again == CONVCL_OK && matches(l, y) && matches(l, y2),
            "%s: the plan does not run again after %s failed: %s", what, call, convcl_last_error());
    }
    if (st != CONVCL_OK) {
      convcl_plan *fresh = NULL;
      convcl_status again = plan_create(ctx, l, &fresh);
      if (again == CONVCL_OK) again = run_both(ctx, fresh, l, y, y2);
      CHECK(again == CONVCL_OK && matches(l, y) && matches(l, y2),
            "%s: a new plan fails after %s failed: %s", what, call, convcl_last_error());
      convcl_plan_destroy(fresh);
    }
    if (l->cache && n == 1)
      CHECK(strcmp(call, "clCreateProgramWithBinary") == 0,
            "%s: the first build call is %s, not a load from the disk cache", what, call);
    convcl_plan_destroy(plan);
    close_opencl(ctx, context, what);
    if (!fired) break;
  }
  free(y);
  free(y2);
  return n - 1;
}

/* Context set-up: failures in convcl_context_create("opencl") (context and queue), and
 * in convcl_context_create_opencl, which builds the always-applicable programs on the
 * app's context (build), where the app's context must be left as it was given. */
static void walk_setup(long walked[CONVCL_FAULT_KIND_COUNT]) {
  setenv("CONVCL_CACHE", "0", 1);
  for (long n = 1;; n++) {
    convcl_context *ctx = NULL;
    convcl_fault_set(CONVCL_FAULT_CONTEXT, n);
    const convcl_status st = convcl_context_create("opencl", &ctx);
    const int fired = convcl_fault_calls(CONVCL_FAULT_CONTEXT) >= n;
    const char *call = convcl_fault_last_call();
    convcl_fault_set(CONVCL_FAULT_CONTEXT, 0);
    CHECK((st == CONVCL_OK) == !fired, "context fault %ld: status %s", n, convcl_status_string(st));
    if (st != CONVCL_OK)
      CHECK(names_call(convcl_last_error(), call), "context fault %ld: '%s' does not name %s", n,
            convcl_last_error(), call);
    convcl_context_destroy(ctx);
    if (!fired) break;
    walked[CONVCL_FAULT_CONTEXT]++;
  }

  /* The app's objects, as an interop app makes them. */
  cl_context context;
  convcl_context *owner = open_opencl(&context);
  if (!owner) return;
  const convcl_opencl_state *cl = owner->impl;
  const cl_device_id device = cl->device;
  cl_int err;
  cl_command_queue queue = clCreateCommandQueue(context, device, 0, &err);
  CHECK(err == CL_SUCCESS, "clCreateCommandQueue: %d", (int)err);
  if (err != CL_SUCCESS) {
    close_opencl(owner, context, "interop");
    return;
  }
  const cl_uint baseline = context_refs(context);
  for (long n = 1;; n++) {
    convcl_context *ctx = NULL;
    convcl_fault_set(CONVCL_FAULT_BUILD, n);
    const convcl_status st = convcl_context_create_opencl(context, device, queue, &ctx);
    const int fired = convcl_fault_calls(CONVCL_FAULT_BUILD) >= n;
    const char *call = convcl_fault_last_call();
    convcl_fault_set(CONVCL_FAULT_BUILD, 0);
    CHECK((st == CONVCL_OK) == !fired, "interop build fault %ld: status %s", n,
          convcl_status_string(st));
    if (st != CONVCL_OK) {
      CHECK(names_call(convcl_last_error(), call), "interop build fault %ld: '%s' does not name %s",
            n, convcl_last_error(), call);
      CHECK(context_refs(context) == baseline,
            "interop build fault %ld: %u references to the app's context, %u before", n,
            context_refs(context), baseline);
    }
    convcl_context_destroy(ctx);
    if (!fired) break;
    walked[CONVCL_FAULT_BUILD]++;
  }
  CHECK(context_refs(context) == baseline, "interop: %u references to the app's context, %u before",
        context_refs(context), baseline);

  /* A tensor wrapped at an offset is a sub-buffer convcl makes (alloc). */
  cl_uint align_bits = 0;
  clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
  const size_t offset = align_bits / 8 ? align_bits / 8 : 4;
  const convcl_shape shape = {1, {16}};
  cl_mem buffer =
      clCreateBuffer(context, CL_MEM_READ_WRITE, offset + 16 * sizeof(float), NULL, &err);
  CHECK(err == CL_SUCCESS, "clCreateBuffer: %d", (int)err);
  for (long n = 1; err == CL_SUCCESS; n++) {
    convcl_tensor *t = NULL;
    convcl_fault_set(CONVCL_FAULT_ALLOC, n);
    const convcl_status st = convcl_tensor_wrap_opencl(owner, buffer, offset, &shape, &t);
    const int fired = convcl_fault_calls(CONVCL_FAULT_ALLOC) >= n;
    const char *call = convcl_fault_last_call();
    convcl_fault_set(CONVCL_FAULT_ALLOC, 0);
    CHECK((st == CONVCL_OK) == !fired, "wrap alloc fault %ld: status %s", n,
          convcl_status_string(st));
    if (st != CONVCL_OK)
      CHECK(names_call(convcl_last_error(), call), "wrap alloc fault %ld: '%s' does not name %s", n,
            convcl_last_error(), call);
    convcl_tensor_destroy(t);
    if (!fired) break;
    walked[CONVCL_FAULT_ALLOC]++;
  }
  if (err == CL_SUCCESS) clReleaseMemObject(buffer);
  clReleaseCommandQueue(queue);
  close_opencl(owner, context, "interop");
}

/* "auto" opens the first GPU or accelerator whose programs build, else the CPU path
 * with the reason. Walking N over that device's set-up (context, queue, the programs it
 * builds), each failure must fall back the same way, the reason naming the failed call.
 * Where auto finds no GPU (PoCL's CPU device here) it makes none of those calls: the
 * fallback and its reason are checked, and that the injected fault never fires. Run once
 * as it is and once with auto taking any device type (PoCL then stands in for a GPU). */
static void check_auto(void) {
  static const convcl_fault_kind kinds[] = {CONVCL_FAULT_CONTEXT, CONVCL_FAULT_BUILD};
  convcl_context *ctx = NULL;
  if (convcl_context_create("auto", &ctx) != CONVCL_OK) {
    CHECK(0, "auto: %s", convcl_last_error());
    return;
  }
  const int gpu = convcl_context_backend(ctx) == CONVCL_BACKEND_OPENCL;
  printf("auto opens %s: %s\n", gpu ? "an OpenCL device" : "the CPU path",
         gpu ? ctx->device.id : convcl_context_fallback_reason(ctx));
  convcl_context_destroy(ctx);
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    for (long n = 1;; n++) {
      convcl_fault_set(kinds[i], n);
      const convcl_status st = convcl_context_create("auto", &ctx);
      const int fired = convcl_fault_calls(kinds[i]) >= n;
      char call[64];
      convcl_strlcpy(call, convcl_fault_last_call(), sizeof call);
      convcl_fault_set(kinds[i], 0);
      CHECK(st == CONVCL_OK, "auto with %s fault %ld: %s", convcl_fault_kind_name(kinds[i]), n,
            convcl_last_error());
      if (st != CONVCL_OK) break;
      const char *reason = convcl_context_fallback_reason(ctx);
      if (!gpu) {
        CHECK(!fired && convcl_context_backend(ctx) == CONVCL_BACKEND_CPU && reason[0],
              "auto without a GPU, %s fault %ld: fired %d, reason '%s'",
              convcl_fault_kind_name(kinds[i]), n, fired, reason);
      } else if (fired) {
        /* The failed device is passed over: the CPU path says why, or another GPU opened. */
        CHECK(convcl_context_backend(ctx) == CONVCL_BACKEND_OPENCL || names_call(reason, call),
              "auto, %s failed: the fallback reason '%s' does not name it", call, reason);
        printf("auto, %s failed: %s\n", call,
               convcl_context_backend(ctx) == CONVCL_BACKEND_OPENCL ? ctx->device.id : reason);
      }
      convcl_context_destroy(ctx);
      if (!fired) break;
    }
}

int main(void) {
  /* Programs build in every fresh context rather than load from the disk cache, but for
   * the layer that tests the cache: its own, in a directory of the test's. */
  setenv("CONVCL_CACHE", "0", 1);
  char cache_dir[] = "/tmp/convcl-faults-XXXXXX";
  if (!mkdtemp(cache_dir)) {
    printf("mkdtemp failed\n");
    return 1;
  }
  setenv("XDG_CACHE_HOME", cache_dir, 1);
  convcl_context *probe = NULL;
  const int skip = tu_open_context("opencl", &probe);
  convcl_context_destroy(probe);
  if (skip) return skip;

  layer layers[LAYER_COUNT];
  layer_2d(&layers[0], "direct", CONVCL_ALGO_DIRECT, -1, 0, 2, 3, 4, 7, 6, 3, 1, 1, 1);
  layer_2d(&layers[1], "direct transposed", CONVCL_ALGO_DIRECT, -1, 1, 1, 4, 3, 5, 4, 3, 2, 1, 1);
  layer_2d(&layers[2], "implicit_gemm", CONVCL_ALGO_IMPLICIT_GEMM, -1, 0, 1, 8, 8, 6, 6, 3, 1, 1,
           1);
  /* 8 channels x 9 taps: 5 slices of 16, so the forced split makes 2 or more parts. */
  layer_2d(&layers[3], "implicit_gemm gpu_splitk", CONVCL_ALGO_IMPLICIT_GEMM, 3, 0, 1, 8, 8, 6, 6,
           3, 1, 1, 1);
  layer_2d(&layers[4], "gemm", CONVCL_ALGO_GEMM, -1, 0, 2, 8, 16, 5, 5, 1, 1, 0, 1);
  layer_2d(&layers[5], "depthwise", CONVCL_ALGO_DEPTHWISE, -1, 0, 1, 8, 8, 9, 7, 3, 1, 1, 8);
  layer_2d(&layers[6], "transposed_gemm", CONVCL_ALGO_TRANSPOSED_GEMM, -1, 1, 1, 8, 4, 5, 5, 3, 2,
           1, 1);
  layer_2d(&layers[7], "winograd_2x2", CONVCL_ALGO_WINOGRAD_2X2, -1, 0, 1, 4, 4, 6, 6, 3, 1, 1, 1);
  layer_2d(&layers[8], "winograd_4x4", CONVCL_ALGO_WINOGRAD_4X4, -1, 0, 1, 4, 4, 8, 8, 3, 1, 1, 1);
  layer_2d(&layers[9], "implicit_gemm no bias", CONVCL_ALGO_IMPLICIT_GEMM, -1, 0, 1, 4, 4, 5, 5, 3,
           2, 1, 1);
  layers[9].desc.has_bias = 0;
  /* AUTO prefers Winograd F(4x4) here (32 channels, 16 tiles); a failed build falls back. */
  layer_2d(&layers[10], "auto", CONVCL_ALGO_AUTO, -1, 0, 1, 32, 32, 16, 16, 3, 1, 1, 1);
  /* Tuned: every implicit GEMM tile variant and the direct solver, each built and run. */
  layer_2d(&layers[11], "auto tuned", CONVCL_ALGO_AUTO, -1, 0, 1, 4, 4, 6, 6, 3, 2, 1, 1);
  layers[11].tune = 1;
  layer_2d(&layers[12], "direct, disk cache", CONVCL_ALGO_DIRECT, -1, 0, 2, 3, 4, 7, 6, 3, 1, 1, 1);
  layers[12].cache = 1;
  unsigned state = 7;
  for (int i = 0; i < LAYER_COUNT; i++) {
    if (!layer_init(&layers[i], &state)) {
      printf("cannot set up layer %s\n", layers[i].name);
      return 1;
    }
  }

  long walked[CONVCL_FAULT_KIND_COUNT] = {0};
  for (int k = 0; k < CONVCL_FAULT_KIND_COUNT; k++) {
    if (k == CONVCL_FAULT_CONTEXT) continue; /* plans and runs create no context */
    for (int gpu_like = 0; gpu_like < 2; gpu_like++)
      for (int i = 0; i < LAYER_COUNT; i++) {
        /* Tuning takes its minutes once: its walk repeats every candidate's build and runs. */
        if (gpu_like && layers[i].tune) continue;
        /* The cache changes only how programs are made. */
        if ((gpu_like || k != CONVCL_FAULT_BUILD) && layers[i].cache) continue;
        const long calls = walk(&layers[i], (convcl_fault_kind)k, gpu_like);
        printf("%-8s %-26s %-9s %ld calls\n", convcl_fault_kind_name((convcl_fault_kind)k),
               layers[i].name, gpu_like ? "as a GPU" : "", calls);
        fflush(stdout);
        walked[k] += calls;
      }
  }
  walk_setup(walked);
  check_auto();
  convcl_cl_auto_any_type = 1;
  check_auto();
  convcl_cl_auto_any_type = 0;
  for (int k = 0; k < CONVCL_FAULT_KIND_COUNT; k++)
    printf("%s: %ld calls failed in turn\n", convcl_fault_kind_name((convcl_fault_kind)k),
           walked[k]);
  for (int i = 0; i < LAYER_COUNT; i++) layer_free(&layers[i]);
  remove_tree(cache_dir);
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
