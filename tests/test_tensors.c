/* Tensors in a context's memory and, with OpenCL, the app-owned objects of
 * include/convcl_opencl.h.
 *
 *   test_tensors cpu|opencl   a three-layer chain on tensors: no host transfer between
 *                             upload and download (convcl_host_transfers counts every
 *                             copy; a host run shows it counting), the same output as
 *                             layer-by-layer host runs, and the argument checks
 *   test_tensors interop      the chain in a cl_context, device and queue the test owns,
 *                             on its own buffers at offsets; convcl releases none of them
 *
 * Exits 77 (skipped) where the mode needs an OpenCL device and there is none. */
#include "check.h"
#include "internal.h"
#include "testutil.h"

#ifdef CONVCL_HAVE_OPENCL
#include "convcl_opencl.h"
#endif

#include <stdlib.h>
#include <string.h>

enum { LAYERS = 3 };

/* Conv2d(3, 8, 3, padding=1) + ReLU -> Conv2d(8, 16, 3, stride=2, padding=1) ->
 * Conv2d(16, 4, 1): a 3x3, a strided and a 1x1 layer, so several solvers run. */
typedef struct chain {
  convcl_conv_desc desc[LAYERS];
  convcl_shape shape[LAYERS + 1]; /* shape[i] enters layer i */
  float *weights[LAYERS], *bias[LAYERS];
  float *input, *host_out; /* the chain's input; layer by layer through host runs */
  convcl_plan *plan[LAYERS];
} chain;

static float *random_floats(size_t n, unsigned *state) {
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; v && i < n; i++) {
    *state = *state * 1664525u + 1013904223u;
    v[i] = (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
  }
  return v;
}

static int chain_init(chain *c, convcl_context *ctx) {
  static const int64_t k3[2] = {3, 3}, k1[2] = {1, 1};
  const int64_t channels[LAYERS + 1] = {3, 8, 16, 4};
  unsigned state = 12345;
  memset(c, 0, sizeof *c);
  c->shape[0] = (convcl_shape){4, {2, 3, 11, 9}};
  for (int i = 0; i < LAYERS; i++) {
    convcl_conv_desc *d = &c->desc[i];
    convcl_conv_desc_init(d, 2, 0, channels[i], channels[i + 1], i == 2 ? k1 : k3);
    if (i < 2) d->pad_begin[0] = d->pad_begin[1] = d->pad_end[0] = d->pad_end[1] = 1;
    if (i == 1) d->stride[0] = d->stride[1] = 2;
    if (i == 0) d->activation = CONVCL_ACTIVATION_RELU;
    convcl_shape w;
    if (convcl_conv_output_shape(d, &c->shape[i], &c->shape[i + 1]) != CONVCL_OK ||
        convcl_conv_weight_shape(d, &w) != CONVCL_OK)
      return 0;
    c->weights[i] = random_floats(tu_elems(&w), &state);
    c->bias[i] = random_floats((size_t)channels[i + 1], &state);
    if (!c->weights[i] || !c->bias[i] ||
        convcl_plan_create(ctx, d, &c->shape[i], c->weights[i], c->bias[i], CONVCL_ALGO_AUTO,
                           &c->plan[i]) != CONVCL_OK) {
      printf("layer %d: %s\n", i, convcl_last_error());
      return 0;
    }
  }
  c->input = random_floats(tu_elems(&c->shape[0]), &state);
  float *in = c->input;
  for (int i = 0; i < LAYERS; i++) {
    float *out = malloc(tu_elems(&c->shape[i + 1]) * sizeof *out);
    const convcl_status st =
        out ? convcl_plan_run(c->plan[i], in, out) : CONVCL_ERROR_OUT_OF_MEMORY;
    if (in != c->input) free(in);
    if (st != CONVCL_OK) {
      free(out);
      printf("host run of layer %d: %s\n", i, convcl_last_error());
      return 0;
    }
    in = out;
  }
  c->host_out = in;
  return 1;
}

static void chain_free(chain *c) {
  for (int i = 0; i < LAYERS; i++) {
    convcl_plan_destroy(c->plan[i]);
    free(c->weights[i]);
    free(c->bias[i]);
  }
  free(c->input);
  free(c->host_out);
}

/* Enqueues the chain on t[0..LAYERS] (t[0] holding the input), waits, and checks that
 * nothing between crossed the host and that the result equals the host runs'. The
 * same plans and kernels ran both ways, so the results must match exactly. */
static void check_chain(const chain *c, convcl_context *ctx, convcl_tensor *const *t,
                        const char *what) {
  const long before = convcl_host_transfers();
  convcl_status st = CONVCL_OK;
  for (int i = 0; i < LAYERS && st == CONVCL_OK; i++)
    st = convcl_plan_enqueue(c->plan[i], t[i], t[i + 1]);
  if (st == CONVCL_OK) st = convcl_context_finish(ctx);
  CHECK(st == CONVCL_OK, "%s: chain: %s", what, convcl_last_error());
  CHECK(convcl_host_transfers() == before, "%s: the chain made %ld host transfers", what,
        convcl_host_transfers() - before);
  const size_t n = tu_elems(&c->shape[LAYERS]);
  float *got = malloc(n * sizeof *got);
  tu_poison(got, n);
  CHECK(convcl_tensor_download(t[LAYERS], got) == CONVCL_OK, "%s: download: %s", what,
        convcl_last_error());
  CHECK(convcl_host_transfers() == before + 1, "%s: a download counts one transfer", what);
  size_t diff = 0;
  for (size_t i = 0; i < n; i++) diff += memcmp(&got[i], &c->host_out[i], sizeof got[i]) != 0;
  CHECK(diff == 0, "%s: %zu of %zu outputs differ from the host runs'", what, diff, n);
  free(got);
}

/* Tensors convcl allocates: the chain, the transfer counter, and every argument check. */
static void test_tensors(convcl_context *ctx, convcl_context *other) {
  chain c;
  if (!chain_init(&c, ctx)) {
    CHECK(0, "cannot build the chain");
    chain_free(&c);
    return;
  }
  convcl_tensor *t[LAYERS + 1] = {NULL};
  for (int i = 0; i <= LAYERS; i++)
    CHECK(convcl_tensor_create(ctx, &c.shape[i], &t[i]) == CONVCL_OK, "create %d: %s", i,
          convcl_last_error());
  if (!t[LAYERS]) goto cleanup;
  convcl_shape s;
  convcl_tensor_shape(t[1], &s);
  CHECK(tu_same_shape(&s, &c.shape[1]), "convcl_tensor_shape");
  const long before = convcl_host_transfers();
  CHECK(convcl_tensor_upload(t[0], c.input) == CONVCL_OK, "upload: %s", convcl_last_error());
  CHECK(convcl_host_transfers() == before + 1, "an upload counts one transfer");
  check_chain(&c, ctx, t, "tensors");
  /* The counter sees a run that does copy through the host. */
  const long host_before = convcl_host_transfers();
  float *out = malloc(tu_elems(&c.shape[1]) * sizeof *out);
  CHECK(convcl_plan_run(c.plan[0], c.input, out) == CONVCL_OK, "host run");
  if (convcl_context_backend(ctx) == CONVCL_BACKEND_OPENCL)
    CHECK(convcl_host_transfers() > host_before, "a host run on OpenCL counts its transfers");
  free(out);

  /* Argument checks: each names what is wrong and changes nothing. */
  CHECK(convcl_plan_enqueue(c.plan[0], t[1], t[2]) == CONVCL_ERROR_INVALID_SHAPE,
        "wrong input shape");
  CHECK(strstr(convcl_last_error(), "2x8x11x9") && strstr(convcl_last_error(), "2x3x11x9"),
        "the message names both shapes: %s", convcl_last_error());
  CHECK(convcl_plan_enqueue(c.plan[0], t[0], t[2]) == CONVCL_ERROR_INVALID_SHAPE,
        "wrong output shape");
  CHECK(convcl_plan_enqueue(c.plan[0], NULL, t[1]) == CONVCL_ERROR_NULL_POINTER, "NULL input");
  CHECK(convcl_plan_enqueue(NULL, t[0], t[1]) == CONVCL_ERROR_NULL_POINTER, "NULL plan");
  convcl_tensor *same = NULL;
  const convcl_shape square = {4, {1, 3, 5, 5}};
  convcl_conv_desc keep;
  const int64_t k1[2] = {1, 1};
  convcl_conv_desc_init(&keep, 2, 0, 3, 3, k1);
  float w[9] = {0}, b[3] = {0};
  convcl_plan *p = NULL;
  CHECK(convcl_plan_create(ctx, &keep, &square, w, b, CONVCL_ALGO_AUTO, &p) == CONVCL_OK, "1x1");
  CHECK(convcl_tensor_create(ctx, &square, &same) == CONVCL_OK, "square");
  CHECK(convcl_plan_enqueue(p, same, same) == CONVCL_ERROR_INVALID_VALUE, "in place");
  CHECK(strstr(convcl_last_error(), "share memory") != NULL, "%s", convcl_last_error());
  convcl_tensor *foreign = NULL;
  CHECK(convcl_tensor_create(other, &square, &foreign) == CONVCL_OK, "other context");
  CHECK(convcl_plan_enqueue(p, foreign, same) == CONVCL_ERROR_INVALID_VALUE, "foreign tensor");
  CHECK(strstr(convcl_last_error(), "another context") != NULL, "%s", convcl_last_error());
  convcl_tensor_destroy(foreign);
  convcl_tensor_destroy(same);
  convcl_plan_destroy(p);

  convcl_tensor *bad = NULL;
  const convcl_shape zero = {4, {1, 0, 5, 5}}, too_many = {6, {1, 1, 1, 1, 1}},
                     huge = {2, {INT64_MAX / 2, 4}};
  CHECK(convcl_tensor_create(ctx, &zero, &bad) == CONVCL_ERROR_INVALID_SHAPE && !bad, "zero dim");
  CHECK(strstr(convcl_last_error(), "dimension 1 is 0") != NULL, "%s", convcl_last_error());
  CHECK(convcl_tensor_create(ctx, &too_many, &bad) == CONVCL_ERROR_INVALID_SHAPE, "6 dims");
  CHECK(convcl_tensor_create(ctx, &huge, &bad) == CONVCL_ERROR_SIZE_OVERFLOW, "overflow");
  CHECK(convcl_tensor_create(ctx, NULL, &bad) == CONVCL_ERROR_NULL_POINTER, "NULL shape");
  CHECK(convcl_tensor_upload(t[0], NULL) == CONVCL_ERROR_NULL_POINTER, "NULL src");
  CHECK(convcl_tensor_download(NULL, c.input) == CONVCL_ERROR_NULL_POINTER, "NULL tensor");
  CHECK(convcl_context_finish(NULL) == CONVCL_ERROR_NULL_POINTER, "NULL context");
  convcl_tensor_destroy(NULL);
cleanup:
  for (int i = 0; i <= LAYERS; i++) convcl_tensor_destroy(t[i]);
  chain_free(&c);
}

#ifdef CONVCL_HAVE_OPENCL
static cl_uint context_refs(cl_context c) {
  cl_uint n = 0;
  clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL);
  return n;
}

static cl_uint queue_refs(cl_command_queue q) {
  cl_uint n = 0;
  clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL);
  return n;
}

static cl_uint buffer_refs(cl_mem m) {
  cl_uint n = 0;
  clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof n, &n, NULL);
  return n;
}

/* The app's own OpenCL objects: a chain on tensors wrapping one buffer at offsets, which
 * convcl reads and writes where the app's kernels would, and leaves alive. */
static int test_interop(void) {
  cl_platform_id platform;
  cl_device_id device;
  cl_uint n = 0;
  if (clGetPlatformIDs(1, &platform, &n) != CL_SUCCESS || n == 0 ||
      clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, &n) != CL_SUCCESS || n == 0) {
    printf("no OpenCL device: skipped\n");
    return TU_SKIP;
  }
  cl_int err;
  cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
  cl_command_queue queue = clCreateCommandQueue(context, device, 0, &err);
  const cl_uint context_before = context_refs(context), queue_before = queue_refs(queue);

  convcl_context *ctx = NULL;
  CHECK(convcl_context_create_opencl(context, device, queue, &ctx) == CONVCL_OK, "adopt: %s",
        convcl_last_error());
  if (!ctx) return 1;
  CHECK(convcl_context_opencl_queue(ctx) == queue, "the app's queue");
  chain c;
  if (!chain_init(&c, ctx)) {
    CHECK(0, "cannot build the chain");
    chain_free(&c);
    convcl_context_destroy(ctx);
    return 1;
  }
  /* Every tensor in one app buffer, each at a multiple of the base address alignment. */
  cl_uint align_bits = 0;
  clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
  const size_t align = align_bits / 8 ? align_bits / 8 : 1;
  size_t offset[LAYERS + 2] = {0};
  for (int i = 0; i <= LAYERS; i++)
    offset[i + 1] = (offset[i] + tu_elems(&c.shape[i]) * sizeof(float) + align) / align * align;
  cl_mem buffer = clCreateBuffer(context, CL_MEM_READ_WRITE, offset[LAYERS + 1], NULL, &err);
  const cl_uint buffer_before = buffer_refs(buffer);
  convcl_tensor *t[LAYERS + 1] = {NULL};
  for (int i = 0; i <= LAYERS; i++)
    CHECK(convcl_tensor_wrap_opencl(ctx, buffer, offset[i], &c.shape[i], &t[i]) == CONVCL_OK,
          "wrap %d at %zu: %s", i, offset[i], convcl_last_error());
  cl_mem got_buffer = NULL;
  size_t got_offset = 0;
  CHECK(convcl_tensor_opencl_buffer(t[2], &got_buffer, &got_offset) == CONVCL_OK &&
            got_buffer == buffer && got_offset == offset[2],
        "the wrapped tensor's buffer and offset");
  /* The app writes the input with its own call on its own queue. */
  CHECK(
      clEnqueueWriteBuffer(queue, buffer, CL_TRUE, offset[0], tu_elems(&c.shape[0]) * sizeof(float),
                           c.input, 0, NULL, NULL) == CL_SUCCESS,
      "app write");
  check_chain(&c, ctx, t, "interop");

  convcl_tensor *bad = NULL;
  if (align > 4)
    CHECK(
        convcl_tensor_wrap_opencl(ctx, buffer, 4, &c.shape[1], &bad) == CONVCL_ERROR_INVALID_VALUE,
        "misaligned offset");
  CHECK(convcl_tensor_wrap_opencl(ctx, buffer, offset[LAYERS], &c.shape[0], &bad) ==
            CONVCL_ERROR_INVALID_SHAPE,
        "past the buffer's end");
  CHECK(strstr(convcl_last_error(), "bytes") != NULL, "%s", convcl_last_error());
  /* Two wraps of one range are one tensor's memory: no run in place. */
  convcl_tensor *alias = NULL;
  CHECK(convcl_tensor_wrap_opencl(ctx, buffer, offset[1], &c.shape[0], &alias) == CONVCL_OK,
        "alias");
  CHECK(convcl_plan_enqueue(c.plan[0], alias, t[1]) == CONVCL_ERROR_INVALID_VALUE,
        "overlapping wraps");
  convcl_tensor_destroy(alias);
  convcl_context *cpu = NULL;
  CHECK(convcl_context_create("cpu", &cpu) == CONVCL_OK, "cpu");
  CHECK(convcl_tensor_wrap_opencl(cpu, buffer, 0, &c.shape[0], &bad) == CONVCL_ERROR_INVALID_VALUE,
        "wrap in a CPU context");
  convcl_tensor *host = NULL;
  CHECK(convcl_tensor_create(cpu, &c.shape[0], &host) == CONVCL_OK, "cpu tensor");
  CHECK(convcl_tensor_opencl_buffer(host, &got_buffer, &got_offset) == CONVCL_ERROR_INVALID_VALUE,
        "a host tensor has no buffer");
  CHECK(convcl_context_opencl_queue(cpu) == NULL, "a CPU context has no queue");
  convcl_tensor_destroy(host);
  convcl_context_destroy(cpu);

  cl_command_queue ooo =
      clCreateCommandQueue(context, device, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
  if (err == CL_SUCCESS) {
    convcl_context *refused = NULL;
    CHECK(convcl_context_create_opencl(context, device, ooo, &refused) ==
                  CONVCL_ERROR_INVALID_VALUE &&
              !refused,
          "an out-of-order queue");
    clReleaseCommandQueue(ooo);
  }

  for (int i = 0; i <= LAYERS; i++) convcl_tensor_destroy(t[i]);
  chain_free(&c);
  convcl_context_destroy(ctx);
  /* convcl released only what it made: the app's buffer is as it was (a sub-buffer left
   * behind would hold it), and once the app releases that buffer (PoCL keeps the queue
   * referenced from a buffer's last command until then), so are its context and queue
   * (a program, kernel or buffer of convcl's left behind would hold the context). */
  CHECK(buffer_refs(buffer) == buffer_before, "buffer references: %u, before %u",
        buffer_refs(buffer), buffer_before);
  clReleaseMemObject(buffer);
  CHECK(context_refs(context) == context_before, "context references: %u, before %u",
        context_refs(context), context_before);
  CHECK(queue_refs(queue) == queue_before, "queue references: %u, before %u", queue_refs(queue),
        queue_before);
  clReleaseCommandQueue(queue);
  clReleaseContext(context);
  return 0;
}
#endif

int main(int argc, char **argv) {
  const char *mode = argc >= 2 ? argv[1] : "";
  if (strcmp(mode, "interop") == 0) {
#ifdef CONVCL_HAVE_OPENCL
    const int skip = test_interop();
    if (skip) return skip;
#else
    printf("built without OpenCL: skipped\n");
    return TU_SKIP;
#endif
  } else if (strcmp(mode, "cpu") == 0 || strcmp(mode, "opencl") == 0) {
    convcl_context *ctx, *other;
    const int status = tu_open_context(mode, &ctx);
    if (status) return status;
    if (convcl_context_create("cpu", &other) != CONVCL_OK) return 1;
    test_tensors(ctx, other);
    convcl_context_destroy(other);
    convcl_context_destroy(ctx);
  } else {
    fprintf(stderr, "usage: %s cpu|opencl|interop\n", argv[0]);
    return 2;
  }
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
