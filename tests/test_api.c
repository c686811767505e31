/* Unit tests of the public API without numerics: shapes, parameter counts, FLOPs,
 * every validation error (status and PyTorch's words), contexts and plans' argument
 * checks, and that a failing call leaves the caller's output untouched. */
#include "check.h"
#include "convcl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static convcl_shape shape(int ndim, const int64_t *dims) {
  convcl_shape s = {ndim, {0}};
  for (int i = 0; i < ndim; i++) s.dims[i] = dims[i];
  return s;
}
#define SHAPE(...) \
  shape(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})

static convcl_conv_desc conv(int rank, int64_t in, int64_t out, int64_t k) {
  convcl_conv_desc d;
  const int64_t kernel[3] = {k, k, k};
  convcl_conv_desc_init(&d, rank, 0, in, out, kernel);
  return d;
}

static convcl_conv_desc transposed(int rank, int64_t in, int64_t out, int64_t k) {
  convcl_conv_desc d = conv(rank, in, out, k);
  d.transposed = 1;
  return d;
}

static void set_pad(convcl_conv_desc *d, int64_t p) {
  for (int i = 0; i < 3; i++) d->pad_begin[i] = d->pad_end[i] = p;
}

static void set_all(int64_t *v, int64_t x) {
  for (int i = 0; i < 3; i++) v[i] = x;
}

static int same_shape(convcl_shape a, convcl_shape b) {
  if (a.ndim != b.ndim) return 0;
  for (int i = 0; i < a.ndim; i++)
    if (a.dims[i] != b.dims[i]) return 0;
  return 1;
}

static void expect_shape(const char *name, convcl_conv_desc d, convcl_shape in, convcl_shape want) {
  convcl_shape got = {0, {0}};
  convcl_status st = convcl_conv_output_shape(&d, &in, &got);
  CHECK(st == CONVCL_OK && same_shape(got, want),
        "%s: status %d (%s), ndim %d, dims %lld %lld %lld", name, st, convcl_last_error(), got.ndim,
        (long long)got.dims[2], (long long)got.dims[3], (long long)got.dims[4]);
}

/* The message must contain every given fragment, so a check tests the words and
 * the values they name. */
static void expect_error(const char *name, convcl_conv_desc d, convcl_shape in, convcl_status want,
                         const char *frag1, const char *frag2) {
  convcl_shape out = SHAPE(7, 7, 7);
  const convcl_shape untouched = out;
  convcl_status st = convcl_conv_output_shape(&d, &in, &out);
  const char *msg = convcl_last_error();
  CHECK(st == want, "%s: status %d, want %d (%s)", name, st, want, msg);
  CHECK(strstr(msg, frag1) != NULL, "%s: message '%s' lacks '%s'", name, msg, frag1);
  if (frag2) CHECK(strstr(msg, frag2) != NULL, "%s: message '%s' lacks '%s'", name, msg, frag2);
  CHECK(same_shape(out, untouched), "%s: output shape written on failure", name);
}

static void test_shapes(void) {
  convcl_conv_desc d = conv(2, 1, 32, 5);
  set_pad(&d, 2);
  expect_shape("seed 28x28", d, SHAPE(1, 1, 28, 28), SHAPE(1, 32, 28, 28));

  d = conv(2, 3, 64, 7);
  set_pad(&d, 3);
  set_all(d.stride, 2);
  expect_shape("resnet conv1", d, SHAPE(2, 3, 224, 224), SHAPE(2, 64, 112, 112));

  d = conv(1, 4, 8, 4);
  d.padding = CONVCL_PAD_SAME;
  set_all(d.dilation, 3);
  expect_shape("1d same even kernel dilated", d, SHAPE(1, 4, 10), SHAPE(1, 8, 10));

  d = conv(3, 2, 2, 3);
  d.padding = CONVCL_PAD_VALID;
  expect_shape("3d valid", d, SHAPE(1, 2, 5, 6, 7), SHAPE(1, 2, 3, 4, 5));

  d = conv(2, 2, 2, 3);
  d.pad_begin[0] = 1, d.pad_end[0] = 0, d.pad_begin[1] = 0, d.pad_end[1] = 2;
  expect_shape("asymmetric pads", d, SHAPE(1, 2, 5, 5), SHAPE(1, 2, 4, 5));

  d = conv(2, 2, 2, 5);
  set_pad(&d, 2);
  expect_shape("kernel larger than input, padded", d, SHAPE(1, 2, 1, 1), SHAPE(1, 2, 1, 1));

  d = transposed(2, 16, 33, 3);
  d.kernel[1] = 5;
  d.stride[0] = 2, d.stride[1] = 1;
  d.pad_begin[0] = d.pad_end[0] = 4, d.pad_begin[1] = d.pad_end[1] = 2;
  d.dilation[0] = 2, d.dilation[1] = 1;
  d.output_padding[0] = 1;
  /* PyTorch: (50-1)*2 - 8 + 2*2 + 1 + 1 = 96; (100-1) - 4 + 4 + 1 = 100. */
  expect_shape("transposed doc example", d, SHAPE(20, 16, 50, 100), SHAPE(20, 33, 96, 100));

  d = transposed(1, 3, 6, 3);
  d.stride[0] = 2;
  d.output_size[0] = 18;
  expect_shape("transposed output_size", d, SHAPE(1, 3, 8), SHAPE(1, 6, 18));

  d = transposed(3, 2, 4, 2);
  set_all(d.stride, 2);
  expect_shape("transposed 3d", d, SHAPE(1, 2, 3, 4, 5), SHAPE(1, 4, 6, 8, 10));
}

static void test_errors(void) {
  convcl_conv_desc d;
  const convcl_shape x = SHAPE(1, 3, 8, 8);

  d = conv(2, 3, 6, 3), d.groups = 0;
  expect_error("groups 0", d, x, CONVCL_ERROR_INVALID_GROUPS, "groups must be a positive integer",
               "groups=0");
  d = conv(2, 3, 6, 3), d.groups = 2;
  expect_error("groups in", d, x, CONVCL_ERROR_INVALID_GROUPS,
               "Given groups=2, expected in_channels (3) to be divisible by groups", NULL);
  d = conv(2, 4, 6, 3), d.groups = 4;
  expect_error("groups out", d, SHAPE(1, 4, 8, 8), CONVCL_ERROR_INVALID_GROUPS,
               "Given groups=4, expected out_channels (6) to be divisible by groups", NULL);
  d = conv(2, 3, 6, 3), d.padding = CONVCL_PAD_SAME, d.stride[1] = 2;
  expect_error("same strided", d, x, CONVCL_ERROR_INVALID_PADDING,
               "padding='same' is not supported for strided convolutions", "(1, 2)");
  d = conv(2, 3, 6, 3), d.padding_mode = (convcl_padding_mode)9;
  expect_error("bad mode", d, x, CONVCL_ERROR_INVALID_PADDING, "padding_mode must be one of", "9");
  d = conv(2, 3, 6, 3), d.activation = (convcl_activation)7;
  expect_error("bad activation", d, x, CONVCL_ERROR_INVALID_VALUE, "activation must be", "7");
  d = transposed(2, 3, 6, 3), d.padding_mode = CONVCL_PADDING_REFLECT;
  expect_error("transposed mode", d, x, CONVCL_ERROR_INVALID_PADDING,
               "Only \"zeros\" padding mode is supported for ConvTranspose2d", NULL);
  d = transposed(1, 3, 6, 3), d.padding = CONVCL_PAD_SAME;
  expect_error("transposed same", d, SHAPE(1, 3, 8), CONVCL_ERROR_INVALID_PADDING,
               "padding='same' is not supported for ConvTranspose1d", NULL);
  d = conv(2, 3, 6, 3), d.stride[0] = -1;
  expect_error("negative stride", d, x, CONVCL_ERROR_INVALID_VALUE,
               "non-positive stride is not supported", "(-1, 1)");
  d = conv(3, 3, 6, 3), d.stride[2] = 0;
  expect_error("zero stride", d, SHAPE(1, 3, 8, 8, 8), CONVCL_ERROR_INVALID_VALUE,
               "non-positive stride is not supported", "(1, 1, 0)");
  d = conv(2, 3, 6, 3), d.pad_end[1] = -1;
  expect_error("negative padding", d, x, CONVCL_ERROR_INVALID_PADDING,
               "negative padding is not supported", "pad_end=(0, -1)");
  d = conv(2, 3, 6, 3), set_all(d.dilation, 0);
  expect_error("zero dilation", d, x, CONVCL_ERROR_INVALID_VALUE,
               "dilation should be greater than zero, but got [0, 0]", NULL);
  d = conv(2, 3, 6, 0);
  expect_error("zero kernel", d, x, CONVCL_ERROR_INVALID_VALUE,
               "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 0",
               NULL);
  d = conv(2, 0, 6, 3);
  expect_error("zero in", d, x, CONVCL_ERROR_INVALID_VALUE, "in_channels must be positive", "0");
  d = conv(2, 3, -2, 3);
  expect_error("negative out", d, x, CONVCL_ERROR_INVALID_VALUE, "out_channels must be positive",
               "-2");
  d = conv(4, 3, 6, 3);
  expect_error("rank 4", d, x, CONVCL_ERROR_INVALID_VALUE, "spatial_dims must be 1, 2 or 3", "4");
  d = conv(2, 4, 6, 3);
  expect_error("channels", d, x, CONVCL_ERROR_INVALID_SHAPE,
               "Given groups=1, weight of size [6, 4, 3, 3], expected input[1, 3, 8, 8] to have 4 "
               "channels, but got 3 channels instead",
               NULL);
  d = transposed(2, 4, 6, 3);
  expect_error(
      "transposed channels", d, x, CONVCL_ERROR_INVALID_SHAPE,
      "Given transposed=1, weight of size [4, 6, 3, 3], expected input[1, 3, 8, 8] to have 4 "
      "channels, but got 3 channels instead",
      NULL);
  d = conv(2, 3, 6, 9);
  expect_error(
      "kernel too large", d, x, CONVCL_ERROR_INVALID_OUTPUT_SIZE,
      "Calculated padded input size per channel: (8 x 8). Kernel size: (9 x 9). Kernel size "
      "can't be greater than actual input size",
      NULL);
  d = conv(2, 3, 6, 3), set_all(d.dilation, 4);
  expect_error("dilated kernel too large", d, x, CONVCL_ERROR_INVALID_OUTPUT_SIZE,
               "Kernel size: (9 x 9)", NULL);
  d = conv(1, 3, 6, 9);
  expect_error("1d kernel too large", d, SHAPE(1, 3, 8), CONVCL_ERROR_INVALID_OUTPUT_SIZE,
               "Calculated padded input size per channel: (8). Kernel size: (9).", NULL);
  d = conv(2, 3, 6, 3), set_pad(&d, 8), d.padding_mode = CONVCL_PADDING_REFLECT;
  expect_error("reflect pad", d, x, CONVCL_ERROR_INVALID_PADDING,
               "Padding size should be less than the corresponding input dimension, but got: "
               "padding (8, 8) at dimension 2 of input [1, 3, 8, 8]",
               NULL);
  d = conv(2, 3, 6, 3), set_pad(&d, 9), d.padding_mode = CONVCL_PADDING_CIRCULAR;
  expect_error("circular pad", d, x, CONVCL_ERROR_INVALID_PADDING,
               "Padding value causes wrapping around more than once", "(9, 9)");
  d = transposed(2, 3, 6, 3), set_all(d.stride, 2), set_all(d.output_padding, 2);
  expect_error("output padding", d, x, CONVCL_ERROR_INVALID_VALUE,
               "output padding must be smaller than either stride or dilation, but got "
               "output_padding_height: 2 output_padding_width: 2 stride_height: 2 stride_width: 2 "
               "dilation_height: 1 dilation_width: 1",
               NULL);
  d = transposed(2, 3, 6, 3), set_all(d.output_padding, -1);
  expect_error("negative output padding", d, x, CONVCL_ERROR_INVALID_VALUE,
               "negative output_padding is not supported", NULL);
  d = transposed(2, 3, 6, 3), set_pad(&d, 5);
  expect_error(
      "transposed too small", d, x, CONVCL_ERROR_INVALID_OUTPUT_SIZE,
      "Given input size per channel: (8 x 8). Calculated output size per channel: (0 x 0). "
      "Output size is too small",
      NULL);
  d = transposed(2, 3, 6, 3), set_all(d.stride, 2), d.output_size[0] = 30, d.output_size[1] = 30;
  expect_error(
      "output size range", d, x, CONVCL_ERROR_INVALID_OUTPUT_SIZE,
      "requested an output size of [30, 30], but valid sizes range from [17, 17] to [18, 18] "
      "(for an input of [8, 8])",
      NULL);
  d = conv(2, 3, 6, 3), d.output_padding[0] = 1;
  expect_error("output padding on conv", d, x, CONVCL_ERROR_INVALID_VALUE,
               "apply to transposed convolutions only", NULL);
  d = conv(2, 3, 6, 3);
  expect_error("rank mismatch", d, SHAPE(1, 1, 3, 8, 8), CONVCL_ERROR_INVALID_SHAPE,
               "Expected 4D (batched) input to Conv2d, but got input of size: [1, 1, 3, 8, 8]",
               NULL);
  expect_error("zero batch", d, SHAPE(0, 3, 8, 8), CONVCL_ERROR_INVALID_SHAPE,
               "every input size to be positive", "[0, 3, 8, 8]");
  expect_error("negative spatial", d, SHAPE(1, 3, -8, 8), CONVCL_ERROR_INVALID_SHAPE,
               "every input size to be positive", "[1, 3, -8, 8]");
  expect_error("overflowing input", d, SHAPE(1, 3, (int64_t)1 << 31, (int64_t)1 << 31),
               CONVCL_ERROR_SIZE_OVERFLOW, "input of size [1, 3, 2147483648, 2147483648]", NULL);
  d = conv(2, (int64_t)1 << 30, (int64_t)1 << 30, 3);
  expect_error("overflowing weight", d, SHAPE(1, (int64_t)1 << 30, 8, 8),
               CONVCL_ERROR_SIZE_OVERFLOW, "weight of size [1073741824, 1073741824, 3, 3]", NULL);
  d = conv(2, 3, 6, 3), d.stride[0] = INT64_MAX;
  expect_error("huge stride", d, x, CONVCL_ERROR_SIZE_OVERFLOW, "exceeds the supported maximum",
               NULL);

  convcl_shape out;
  CHECK(convcl_conv_output_shape(NULL, &x, &out) == CONVCL_ERROR_NULL_POINTER, "NULL desc");
  d = conv(2, 3, 6, 3);
  CHECK(convcl_conv_output_shape(&d, NULL, &out) == CONVCL_ERROR_NULL_POINTER, "NULL input");
  CHECK(convcl_conv_output_shape(&d, &x, NULL) == CONVCL_ERROR_NULL_POINTER, "NULL output");
}

static void test_counts(void) {
  convcl_conv_desc d = conv(2, 1, 32, 5);
  int64_t n = 0;
  CHECK(convcl_conv_param_count(&d, &n) == CONVCL_OK && n == 832, "seed params %lld", (long long)n);
  d.has_bias = 0;
  CHECK(convcl_conv_param_count(&d, &n) == CONVCL_OK && n == 800, "no bias %lld", (long long)n);
  d = transposed(3, 8, 12, 3), d.groups = 4;
  CHECK(convcl_conv_param_count(&d, &n) == CONVCL_OK && n == 8 * 3 * 27 + 12,
        "transposed grouped %lld", (long long)n);
  d = conv(2, 3, 6, 3), d.groups = 2;
  CHECK(convcl_conv_param_count(&d, &n) == CONVCL_ERROR_INVALID_GROUPS, "bad groups param count");

  convcl_shape w;
  d = conv(3, 8, 12, 3), d.groups = 4, d.kernel[0] = 2;
  CHECK(convcl_conv_weight_shape(&d, &w) == CONVCL_OK && same_shape(w, SHAPE(12, 2, 2, 3, 3)),
        "conv weight shape");
  d.transposed = 1;
  CHECK(convcl_conv_weight_shape(&d, &w) == CONVCL_OK && same_shape(w, SHAPE(8, 3, 2, 3, 3)),
        "transposed weight shape");

  int64_t f = 0;
  d = conv(2, 3, 64, 7), set_pad(&d, 3), set_all(d.stride, 2);
  const convcl_shape img = SHAPE(1, 3, 224, 224);
  CHECK(convcl_conv_flops(&d, &img, &f) == CONVCL_OK && f == 2LL * 64 * 3 * 49 * 112 * 112,
        "conv1 flops %lld", (long long)f);
  d = transposed(2, 8, 4, 3), set_all(d.stride, 2), d.groups = 2;
  const convcl_shape small = SHAPE(2, 8, 5, 6);
  CHECK(convcl_conv_flops(&d, &small, &f) == CONVCL_OK && f == 2LL * 2 * 8 * 2 * 9 * 30,
        "transposed flops %lld", (long long)f);
}

static void test_status_and_algo(void) {
  CHECK(strcmp(convcl_status_string(CONVCL_OK), "success") == 0, "OK string");
  CHECK(convcl_status_string((convcl_status)12345) != NULL, "unknown status string");
  CHECK(strcmp(convcl_status_string((convcl_status)12345), "unknown status") == 0, "unknown text");
  convcl_algo a;
  CHECK(convcl_algo_from_name("direct", &a) == CONVCL_OK && a == CONVCL_ALGO_DIRECT, "direct name");
  CHECK(convcl_algo_from_name("winograd9", &a) == CONVCL_ERROR_INVALID_VALUE &&
            strstr(convcl_last_error(), "winograd9"),
        "unknown algo name");
  CHECK(strcmp(convcl_algo_name((convcl_algo)99), "unknown") == 0, "algo name out of range");
  for (int i = 0; i < CONVCL_ALGO_COUNT; i++)
    CHECK(convcl_algo_from_name(convcl_algo_name((convcl_algo)i), &a) == CONVCL_OK && (int)a == i,
          "every algorithm's name parses back");
}

static void test_contexts_and_plans(void) {
  convcl_context *ctx = NULL;
  CHECK(convcl_context_create("gpu7", &ctx) == CONVCL_ERROR_INVALID_DEVICE &&
            strstr(convcl_last_error(), "gpu7"),
        "unknown device: %s", convcl_last_error());
  CHECK(convcl_context_create("opencl:x:1", &ctx) == CONVCL_ERROR_INVALID_DEVICE, "bad index");
  CHECK(convcl_context_create("opencl:999:0", &ctx) == CONVCL_ERROR_INVALID_DEVICE,
        "missing platform");
  CHECK(convcl_context_create("cpu", NULL) == CONVCL_ERROR_NULL_POINTER, "NULL ctx out");
  convcl_context_destroy(NULL);
  convcl_plan_destroy(NULL);

  convcl_device_info infos[16];
  int count = 0;
  CHECK(convcl_devices_list(infos, 16, &count) == CONVCL_OK && count >= 1 &&
            strcmp(infos[0].id, "cpu") == 0 && infos[0].compute_units >= 1,
        "device list");
  int autos = 0;
  for (int i = 0; i < count && i < 16; i++) autos += infos[i].is_auto;
  CHECK(autos == 1, "exactly one auto device, got %d", autos);
  CHECK(convcl_devices_list(NULL, 0, &count) == CONVCL_OK && count >= 1, "count only");

  if (convcl_context_create("cpu", &ctx) != CONVCL_OK) {
    CHECK(0, "cpu context: %s", convcl_last_error());
    return;
  }
  CHECK(convcl_context_backend(ctx) == CONVCL_BACKEND_CPU, "cpu backend");
  CHECK(strcmp(convcl_context_fallback_reason(ctx), "") == 0,
        "named device has no fallback reason");

  convcl_conv_desc d = conv(2, 2, 3, 3);
  const convcl_shape x = SHAPE(1, 2, 4, 4);
  float w[3 * 2 * 9], b[3], in[32], out[3 * 2 * 2];
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = 0.5f;
  for (size_t i = 0; i < 32; i++) in[i] = 1.0f;
  for (int i = 0; i < 3; i++) b[i] = (float)i;
  convcl_plan *plan = NULL;
  CHECK(convcl_plan_create(ctx, &d, &x, w, NULL, CONVCL_ALGO_AUTO, &plan) ==
                CONVCL_ERROR_NULL_POINTER &&
            strstr(convcl_last_error(), "has_bias=1"),
        "missing bias");
  d.has_bias = 0;
  CHECK(
      convcl_plan_create(ctx, &d, &x, w, b, CONVCL_ALGO_AUTO, &plan) == CONVCL_ERROR_INVALID_VALUE,
      "unexpected bias");
  CHECK(convcl_plan_create(ctx, &d, &x, NULL, NULL, CONVCL_ALGO_AUTO, &plan) ==
            CONVCL_ERROR_NULL_POINTER,
        "NULL weights");
  CHECK(convcl_plan_create(ctx, &d, &x, w, NULL, (convcl_algo)77, &plan) ==
            CONVCL_ERROR_INVALID_VALUE,
        "bad algo value");
  CHECK(plan == NULL, "no plan on failure");
  d.has_bias = 1;
  convcl_algo chosen = CONVCL_ALGO_AUTO;
  size_t ws = 1;
  CHECK(convcl_plan_query(ctx, &d, &x, CONVCL_ALGO_AUTO, &chosen, &ws) == CONVCL_OK &&
            chosen != CONVCL_ALGO_AUTO,
        "query");
  convcl_conv_desc t = transposed(2, 2, 3, 3);
  convcl_algo for_transposed = CONVCL_ALGO_AUTO;
  CHECK(convcl_plan_query(ctx, &t, &x, CONVCL_ALGO_DIRECT, &for_transposed, NULL) == CONVCL_OK &&
            for_transposed == CONVCL_ALGO_DIRECT,
        "direct runs transposed");
  CHECK(convcl_plan_query(ctx, &t, &x, CONVCL_ALGO_IMPLICIT_GEMM, &for_transposed, NULL) ==
                CONVCL_ERROR_ALGO_NOT_APPLICABLE &&
            strstr(convcl_last_error(), "implicit_gemm"),
        "implicit_gemm does not run transposed: %s", convcl_last_error());
  if (convcl_plan_create(ctx, &d, &x, w, b, CONVCL_ALGO_AUTO, &plan) != CONVCL_OK) {
    CHECK(0, "plan: %s", convcl_last_error());
  } else {
    for (int i = 0; i < 12; i++) out[i] = NAN;
    CHECK(convcl_plan_run(plan, in, NULL) == CONVCL_ERROR_NULL_POINTER, "NULL output");
    CHECK(isnan(out[0]), "output untouched on failure");
    CHECK(convcl_plan_run(plan, in, out) == CONVCL_OK, "run");
    /* Every output sums 2 channels x 9 taps of 1 * 0.5, plus the channel's bias. */
    for (int i = 0; i < 12; i++) CHECK(out[i] == 9.0f + (float)(i / 4), "out[%d] = %g", i, out[i]);
    convcl_shape os;
    convcl_plan_output_shape(plan, &os);
    CHECK(same_shape(os, SHAPE(1, 3, 2, 2)), "plan output shape");
    CHECK(convcl_plan_algo(plan) == chosen, "plan algo is the query's");
    convcl_plan_destroy(plan);
  }
  convcl_context_destroy(ctx);
}

/* The threads and the implicit GEMM workspace (which depends on them) of a new context
 * opened on device with CONVCL_NUM_THREADS=env. */
static void cpu_threads(const char *device, const char *env, int *threads, size_t *workspace) {
  *threads = 0;
  *workspace = 0;
  setenv("CONVCL_NUM_THREADS", env, 1);
  convcl_context *ctx;
  if (convcl_context_create(device, &ctx) != CONVCL_OK) {
    CHECK(0, "%s: %s", device, convcl_last_error());
    return;
  }
  convcl_device_info info;
  convcl_context_device(ctx, &info);
  CHECK(strcmp(info.id, device) == 0 && convcl_context_backend(ctx) == CONVCL_BACKEND_CPU,
        "%s opens the CPU path and names itself so: id '%s'", device, info.id);
  *threads = info.compute_units;
  convcl_conv_desc d = conv(2, 8, 8, 3);
  set_pad(&d, 1);
  const convcl_shape x = SHAPE(1, 8, 32, 32);
  convcl_algo chosen;
  CHECK(convcl_plan_query(ctx, &d, &x, CONVCL_ALGO_IMPLICIT_GEMM, &chosen, workspace) == CONVCL_OK,
        "%s: query: %s", device, convcl_last_error());
  convcl_context_destroy(ctx);
}

/* "cpu:T" is the CPU path as CONVCL_NUM_THREADS=T makes it, whatever the variable says;
 * an invalid CONVCL_NUM_THREADS is an error, not all the cores. */
static void test_cpu_threads(void) {
  const char *env = getenv("CONVCL_NUM_THREADS");
  char *saved = env ? strdup(env) : NULL;
  int t1, t3, env1, env3;
  size_t ws1, ws3, ws_env1, ws_env3;
  cpu_threads("cpu:1", "2", &t1, &ws1);
  cpu_threads("cpu:3", "2", &t3, &ws3);
  cpu_threads("cpu", "1", &env1, &ws_env1);
  cpu_threads("cpu", "3", &env3, &ws_env3);
  CHECK(t1 == 1 && t3 == 3 && env1 == 1 && env3 == 3,
        "threads: cpu:1 %d, cpu:3 %d, CONVCL_NUM_THREADS=1 %d, =3 %d", t1, t3, env1, env3);
  CHECK(ws1 == ws_env1 && ws3 == ws_env3 && ws1 != ws3,
        "workspace: cpu:1 %zu, cpu:3 %zu, CONVCL_NUM_THREADS=1 %zu, =3 %zu", ws1, ws3, ws_env1,
        ws_env3);
  /* A count that is not one is refused where it would be used, and names itself. */
  const char *bad_env[] = {"0", "four", "2x", "1025", "-3"};
  for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
    setenv("CONVCL_NUM_THREADS", bad_env[i], 1);
    convcl_context *ctx = NULL;
    CHECK(convcl_context_create("cpu", &ctx) == CONVCL_ERROR_INVALID_VALUE &&
              strstr(convcl_last_error(), bad_env[i]) && ctx == NULL,
          "CONVCL_NUM_THREADS=%s refused, naming it: %s", bad_env[i], convcl_last_error());
    CHECK(convcl_context_create("cpu:2", &ctx) == CONVCL_OK, "cpu:2 does not read it: %s",
          convcl_last_error());
    convcl_context_destroy(ctx);
  }
  if (saved)
    setenv("CONVCL_NUM_THREADS", saved, 1);
  else
    unsetenv("CONVCL_NUM_THREADS");
  free(saved);
  const char *bad[] = {"cpu:0", "cpu:1025", "cpu:-1", "cpu:2x", "cpu:", "cpu:+2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    convcl_context *ctx = NULL;
    CHECK(convcl_context_create(bad[i], &ctx) == CONVCL_ERROR_INVALID_DEVICE &&
              strstr(convcl_last_error(), bad[i]) && ctx == NULL,
          "%s refused, naming it: %s", bad[i], convcl_last_error());
  }
}

int main(void) {
  test_shapes();
  test_errors();
  test_counts();
  test_status_and_algo();
  test_contexts_and_plans();
  test_cpu_threads();
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
