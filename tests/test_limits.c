/* Limits, on shapes whose products cross 2^31 or 2^63, none of them allocated:
 * - the shape functions refuse sizes that overflow int64 (or its byte count) with
 *   CONVCL_ERROR_SIZE_OVERFLOW naming the values, and count past 2^31 exactly;
 * - convcl_plan_query on huge problems, for AUTO and every named algorithm, answers a
 *   solver that can run them or CONVCL_ERROR_ALGO_NOT_APPLICABLE, and on OpenCL only
 *   solvers indexing in 64 bits take problems past INT_MAX elements;
 * - the 32-bit boundary of each OpenCL solver (found by querying, without weights):
 *   where it stops, every element count and coordinate is within INT_MAX, and one
 *   more is refused; 2^31 elements are refused by all, the CPU path takes them;
 * - on OpenCL, tensors and host runs beyond the device's largest allocation fail with
 *   an error naming the bytes and the limit.
 * Usage: test_limits cpu|opencl (exits 77 without an OpenCL device). */
#include "check.h"
#include "convcl.h"
#include "testutil.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define P2(e) ((int64_t)1 << (e))

static int says(const char *text) { return strstr(convcl_last_error(), text) != NULL; }

static convcl_conv_desc desc(int rank, int transposed, int64_t c, int64_t k, int64_t kernel) {
  const int64_t ks[3] = {kernel, kernel, kernel};
  convcl_conv_desc d;
  convcl_conv_desc_init(&d, rank, transposed, c, k, ks);
  return d;
}

static convcl_shape shape3(int64_t n, int64_t c, int64_t w) { return (convcl_shape){3, {n, c, w}}; }
static convcl_shape shape4(int64_t n, int64_t c, int64_t h, int64_t w) {
  return (convcl_shape){4, {n, c, h, w}};
}

/* That st is a size overflow whose message names a (and b, when given). */
static void check_overflow(convcl_status st, const char *what, const char *a, const char *b) {
  CHECK(st == CONVCL_ERROR_SIZE_OVERFLOW, "%s: a size overflow, got %s (%s)", what,
        convcl_status_string(st), convcl_last_error());
  CHECK(says(a) && (!b || says(b)), "%s: the error names %s%s%s: %s", what, a, b ? " and " : "",
        b ? b : "", convcl_last_error());
}

static void shape_checks(void) {
  convcl_shape out;
  int64_t v;

  /* The input's element count past 2^63. */
  convcl_conv_desc d = desc(1, 0, 1, 1, 1);
  convcl_shape in = shape3(P2(31), 1, P2(32));
  check_overflow(convcl_conv_output_shape(&d, &in, &out), "2^63 input elements", "2147483648",
                 "4294967296");
  /* Its byte count past 2^63: 2^61 floats are refused, one row less is fine. */
  d = desc(3, 0, 1, 1, 1);
  in = (convcl_shape){5, {1, 1, P2(20), P2(20), P2(21)}};
  check_overflow(convcl_conv_output_shape(&d, &in, &out), "2^61 input floats", "2097152", NULL);
  in.dims[4] = P2(21) - 1;
  CHECK(convcl_conv_output_shape(&d, &in, &out) == CONVCL_OK && out.dims[4] == P2(21) - 1,
        "2^61 - 2^40 floats fit: %s", convcl_last_error());
  /* The output's element count past 2^63 from a small input. */
  d = desc(1, 1, 1, P2(40), 1);
  in = shape3(P2(30), 1, 1);
  check_overflow(convcl_conv_output_shape(&d, &in, &out), "2^70 output elements", "1099511627776",
                 "1073741824");
  /* A transposed output extent (I - 1) * s past 2^63: 64-bit overflow before the fix. */
  d = desc(1, 1, 1, 1, 1);
  d.stride[0] = P2(40);
  in = shape3(1, 1, P2(40));
  check_overflow(convcl_conv_output_shape(&d, &in, &out), "(I - 1) * stride", "1099511627775",
                 "1099511627776");
  check_overflow(convcl_conv_flops(&d, &in, &v), "flops of (I - 1) * stride", "1099511627775",
                 NULL);
  /* A dilated kernel extent d * (k - 1) past 2^63. */
  d = desc(1, 0, 1, 1, P2(40));
  d.dilation[0] = P2(40);
  in = shape3(1, 1, 5);
  check_overflow(convcl_conv_output_shape(&d, &in, &out), "dilation * (kernel - 1)",
                 "1099511627776", "1099511627775");
  /* Shapes that fit, FLOPs that do not: 2 * 2^50 outputs * 2^30 weights each. */
  d = desc(1, 0, P2(20), P2(20), P2(10));
  in = shape3(1, P2(20), P2(30));
  CHECK(convcl_conv_output_shape(&d, &in, &out) == CONVCL_OK && out.dims[2] == P2(30) - P2(10) + 1,
        "a 2^50-element layer has a shape: %s", convcl_last_error());
  const int64_t outs = P2(20) * (P2(30) - P2(10) + 1);
  char outs_text[32];
  snprintf(outs_text, sizeof outs_text, "%lld", (long long)outs);
  check_overflow(convcl_conv_flops(&d, &in, &v), "2^81 FLOPs", outs_text, "1073741824");
  /* Weights past 2^63, channels past 2^40. */
  d = desc(3, 0, P2(40), P2(40), 2);
  check_overflow(convcl_conv_param_count(&d, &v), "2^83 weights", "1099511627776", NULL);
  d = desc(2, 0, P2(40) + 1, 1, 1);
  check_overflow(convcl_conv_param_count(&d, &v), "2^40 + 1 channels", "1099511627777", NULL);

  /* Past 2^31, counts are exact (no 32-bit wrap anywhere). */
  d = desc(2, 0, 64, 64, 3);
  d.pad_begin[0] = d.pad_end[0] = d.pad_begin[1] = d.pad_end[1] = 1;
  in = shape4(32, 64, 224, 224);
  CHECK(
      convcl_conv_flops(&d, &in, &v) == CONVCL_OK && v == 2 * (int64_t)32 * 64 * 224 * 224 * 64 * 9,
      "FLOPs past 2^31 exactly: %lld", (long long)v);
  d = desc(2, 0, P2(16), P2(16), 3);
  CHECK(convcl_conv_param_count(&d, &v) == CONVCL_OK && v == P2(32) * 9 + P2(16),
        "parameters past 2^31 exactly: %lld", (long long)v);
  d = desc(1, 1, 1, 1, 1);
  d.stride[0] = P2(20);
  in = shape3(1, 1, P2(20));
  CHECK(convcl_conv_output_shape(&d, &in, &out) == CONVCL_OK &&
            out.dims[2] == (P2(20) - 1) * P2(20) + 1,
        "a transposed extent past 2^31 exactly: %lld", (long long)out.dims[2]);
}

/* The algorithm a query chooses for d on in, or -1 with the refusal checked: only
 * "not applicable", with a message. */
static int query(convcl_context *ctx, const convcl_conv_desc *d, const convcl_shape *in,
                 convcl_algo algo, size_t *workspace) {
  convcl_algo chosen = CONVCL_ALGO_AUTO;
  size_t ws = 0;
  const convcl_status st = convcl_plan_query(ctx, d, in, algo, &chosen, &ws);
  if (workspace) *workspace = ws;
  if (st == CONVCL_OK) {
    CHECK(algo == CONVCL_ALGO_AUTO || chosen == algo, "query for %s chose %s",
          convcl_algo_name(algo), convcl_algo_name(chosen));
    return (int)chosen;
  }
  CHECK(st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && convcl_last_error()[0],
        "query for %s: not applicable or a solver, got %s (%s)", convcl_algo_name(algo),
        convcl_status_string(st), convcl_last_error());
  return -1;
}

/* A depthwise layer whose strides are so large that the CPU depthwise solver's tile
 * geometry (height stride x tile row width, itself rounded up to the width stride) passes
 * int64 although the layer is small: the solver must decline it (it wrapped before; the
 * fuzzer found it), and AUTO and a run take another solver that gets it right. */
static void depthwise_stride_checks(convcl_context *ctx) {
  convcl_conv_desc d = desc(2, 0, 2, 2, 1);
  d.groups = 2;
  d.stride[0] = d.stride[1] = P2(40);
  const convcl_shape in = shape4(1, 2, 3, 5);
  CHECK(query(ctx, &d, &in, CONVCL_ALGO_DEPTHWISE, NULL) < 0, "depthwise declines strides of 2^40");
  const float w[2] = {2.0f, -3.0f}, b[2] = {0.5f, 0.25f};
  float x[30], y[2] = {0, 0};
  for (int i = 0; i < 30; i++) x[i] = (float)i;
  convcl_plan *plan = NULL;
  convcl_status st = convcl_plan_create(ctx, &d, &in, w, b, CONVCL_ALGO_AUTO, &plan);
  if (st == CONVCL_OK) st = convcl_plan_run(plan, x, y);
  /* One output per channel, at the origin: x[0] * 2 + 0.5 and x[15] * -3 + 0.25. The
   * OpenCL kernels' 32-bit coordinates cannot hold such strides: a clear refusal there. */
  if (convcl_context_backend(ctx) == CONVCL_BACKEND_OPENCL && !plan)
    CHECK(st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && convcl_last_error()[0],
          "OpenCL on 2^40 strides: %s", convcl_status_string(st));
  else
    CHECK(st == CONVCL_OK && y[0] == 0.5f && y[1] == -44.75f, "auto on 2^40 strides: %s (%g %g) %s",
          convcl_status_string(st), y[0], y[1],
          plan ? convcl_algo_name(convcl_plan_algo(plan)) : "");
  convcl_plan_destroy(plan);
}

static int64_t elems(const convcl_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->dims[i];
  return n;
}

typedef struct huge_case {
  const char *name;
  convcl_conv_desc d;
  convcl_shape in;
} huge_case;

/* Every algorithm on problems past 2^31 elements (up to 2^60): a solver or a
 * refusal. The CPU path indexes in 64 bits: AUTO always has one. On OpenCL, only the
 * direct solver (64-bit element indices, chunked launches) and the depthwise one (int
 * within an image, 64-bit across images) may take them. */
static void huge_checks(convcl_context *ctx, int opencl) {
  huge_case cases[8];
  int count = 0;
  cases[count] =
      (huge_case){"3x3 conv, 2^32 elements", desc(2, 0, 64, 64, 3), shape4(64, 64, 1024, 1024)};
  for (int i = 0; i < 2; i++) cases[count].d.pad_begin[i] = cases[count].d.pad_end[i] = 1;
  count++;
  cases[count++] =
      (huge_case){"1x1 conv, 2^32 elements", desc(2, 0, 1024, 1024, 1), shape4(16, 1024, 512, 512)};
  cases[count] = (huge_case){"3x3 depthwise, 2^32 elements", desc(2, 0, 1024, 1024, 3),
                             shape4(64, 1024, 256, 256)};
  cases[count].d.groups = 1024;
  for (int i = 0; i < 2; i++) cases[count].d.pad_begin[i] = cases[count].d.pad_end[i] = 1;
  count++;
  cases[count] = (huge_case){"3x3 stride-2 transposed, 2^32 outputs", desc(2, 1, 256, 256, 3),
                             shape4(16, 256, 512, 512)};
  cases[count].d.stride[0] = cases[count].d.stride[1] = 2;
  cases[count].d.output_padding[0] = cases[count].d.output_padding[1] = 1;
  for (int i = 0; i < 2; i++) cases[count].d.pad_begin[i] = cases[count].d.pad_end[i] = 1;
  count++;
  cases[count++] = (huge_case){"1D conv, 2^40 elements", desc(1, 0, 1, 1, 3), shape3(1, 1, P2(40))};
  cases[count] = (huge_case){"3x3 conv, 2^58 elements", desc(2, 0, 8, 8, 3),
                             shape4(P2(16), 8, P2(20), P2(19))};
  for (int i = 0; i < 2; i++) cases[count].d.pad_begin[i] = cases[count].d.pad_end[i] = 1;
  count++;
  cases[count] = (huge_case){"3x3 stride-2 transposed, 2^60 outputs", desc(2, 1, 8, 8, 3),
                             shape4(P2(16), 8, P2(18), P2(17))};
  cases[count].d.stride[0] = cases[count].d.stride[1] = 2;
  cases[count].d.output_padding[0] = cases[count].d.output_padding[1] = 1;
  for (int i = 0; i < 2; i++) cases[count].d.pad_begin[i] = cases[count].d.pad_end[i] = 1;
  count++;
  cases[count++] =
      (huge_case){"1x1 conv, 2^40 weights", desc(2, 0, P2(20), P2(20), 1), shape4(1, P2(20), 1, 1)};
  for (int i = 0; i < count; i++) {
    const huge_case *h = &cases[i];
    convcl_shape out;
    CHECK(convcl_conv_output_shape(&h->d, &h->in, &out) == CONVCL_OK, "%s: shape: %s", h->name,
          convcl_last_error());
    const int64_t most = elems(&h->in) > elems(&out) ? elems(&h->in) : elems(&out);
    for (int a = 0; a < CONVCL_ALGO_COUNT; a++) {
      size_t ws = 0;
      const int chosen = query(ctx, &h->d, &h->in, (convcl_algo)a, &ws);
      printf("  %-40s %-16s -> %-16s workspace %zu\n", h->name, convcl_algo_name((convcl_algo)a),
             chosen < 0 ? "not applicable" : convcl_algo_name((convcl_algo)chosen), ws);
      /* A wrapped size would come out near 2^64. */
      CHECK(ws < ((size_t)1 << 62), "%s, %s: workspace %zu", h->name,
            convcl_algo_name((convcl_algo)a), ws);
      if (!opencl && a == CONVCL_ALGO_AUTO)
        CHECK(chosen >= 0, "%s: the CPU path takes any size", h->name);
      if (opencl && most > INT_MAX)
        CHECK(chosen < 0 || chosen == CONVCL_ALGO_DIRECT ||
                  (chosen == CONVCL_ALGO_DEPTHWISE && most / h->in.dims[0] <= INT_MAX),
              "%s: only 64-bit indexing takes %lld elements on OpenCL, not %s", h->name,
              (long long)most, convcl_algo_name((convcl_algo)chosen));
    }
  }
}

typedef struct family {
  const char *name;
  int64_t max; /* the largest size tried */
  void (*make)(int64_t s, convcl_conv_desc *d, convcl_shape *in);
} family;

/* 1D, one channel, kernel 1: s elements in and out. */
static void make_row(int64_t s, convcl_conv_desc *d, convcl_shape *in) {
  *d = desc(1, 0, 1, 1, 1);
  *in = shape3(1, 1, s);
}

/* 2D 3x3 'same' over an s-wide single row. */
static void make_row3x3(int64_t s, convcl_conv_desc *d, convcl_shape *in) {
  *d = desc(2, 0, 1, 1, 3);
  d->pad_begin[0] = d->pad_end[0] = d->pad_begin[1] = d->pad_end[1] = 1;
  *in = shape4(1, 1, 1, s);
}

/* s channels into 1, one position: s elements of input and weights. */
static void make_channels(int64_t s, convcl_conv_desc *d, convcl_shape *in) {
  *d = desc(1, 0, s, 1, 1);
  *in = shape3(1, s, 1);
}

/* A batch of s 4 x 4 images, 3x3 'same': 16 s elements in and out. */
static void make_batch(int64_t s, convcl_conv_desc *d, convcl_shape *in) {
  *d = desc(2, 0, 1, 1, 3);
  d->pad_begin[0] = d->pad_end[0] = d->pad_begin[1] = d->pad_end[1] = 1;
  *in = shape4(s, 1, 4, 4);
}

/* Transposed, stride 2: s inputs, 2 s outputs. */
static void make_transposed(int64_t s, convcl_conv_desc *d, convcl_shape *in) {
  *d = desc(1, 1, 1, 1, 2);
  d->stride[0] = 2;
  *in = shape3(1, 1, s);
}

static int accepts(convcl_context *ctx, const family *f, convcl_algo algo, int64_t s) {
  convcl_conv_desc d;
  convcl_shape in;
  f->make(s, &d, &in);
  return query(ctx, &d, &in, algo, NULL) >= 0;
}

/* Each OpenCL solver's 32-bit boundary in each family, by bisection on queries: where
 * it stops taking sizes, the problem's element counts and coordinates are all within
 * INT_MAX, and one size more is refused. 2^31 elements: every OpenCL algorithm and
 * AUTO refuse, the CPU path takes them, as it does INT_MAX. */
static void boundary_checks(convcl_context *ctx, int opencl) {
  const family families[] = {
      {"1D row, kernel 1", P2(31), make_row},
      {"3x3 over one row", P2(31), make_row3x3},
      {"channels", P2(31), make_channels},
      {"batch of 4x4 images", P2(28), make_batch},
      {"transposed stride 2", P2(31), make_transposed},
  };
  convcl_conv_desc d;
  convcl_shape in, out;
  make_row(INT_MAX, &d, &in);
  const int at_max = query(ctx, &d, &in, CONVCL_ALGO_AUTO, NULL);
  make_row((int64_t)INT_MAX + 1, &d, &in);
  const int past_max = query(ctx, &d, &in, CONVCL_ALGO_AUTO, NULL);
  if (!opencl) {
    CHECK(at_max >= 0 && past_max >= 0, "the CPU path takes INT_MAX and INT_MAX + 1 elements");
  } else {
    CHECK(past_max < 0, "OpenCL refuses INT_MAX + 1 elements");
    for (int a = 1; a < CONVCL_ALGO_COUNT; a++)
      CHECK(query(ctx, &d, &in, (convcl_algo)a, NULL) < 0, "OpenCL %s refuses INT_MAX + 1 elements",
            convcl_algo_name((convcl_algo)a));
  }
  if (!opencl) return;
  /* The direct solver counts channels in int: exactly INT_MAX of them (INT_MAX input
   * elements and weights) fit, one more does not. */
  const family channels = {"channels", P2(31), make_channels};
  CHECK(accepts(ctx, &channels, CONVCL_ALGO_DIRECT, INT_MAX), "direct takes INT_MAX channels");
  CHECK(!accepts(ctx, &channels, CONVCL_ALGO_DIRECT, (int64_t)INT_MAX + 1),
        "direct refuses INT_MAX + 1 channels");
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (int a = 1; a < CONVCL_ALGO_COUNT; a++) {
      const convcl_algo algo = (convcl_algo)a;
      if (!accepts(ctx, &families[f], algo, 1) ||
          (algo == CONVCL_ALGO_DEPTHWISE && families[f].make == make_channels))
        continue; /* not this solver's kind of layer (depthwise: groups == channels) */
      /* The direct solver's element indices are 64-bit, only its coordinates are int;
       * the depthwise solver's are int within one image. */
      const int per_image = algo == CONVCL_ALGO_DEPTHWISE,
                coordinates_only = algo == CONVCL_ALGO_DIRECT;
      if ((per_image || coordinates_only) && families[f].make == make_batch) {
        CHECK(accepts(ctx, &families[f], algo, families[f].max),
              "%s: %s takes 2^32 elements in small images", families[f].name,
              convcl_algo_name(algo));
        continue;
      }
      CHECK(!accepts(ctx, &families[f], algo, families[f].max), "%s: %s takes %lld",
            families[f].name, convcl_algo_name(algo), (long long)families[f].max);
      int64_t lo = 1, hi = families[f].max; /* lo is taken, hi is not */
      while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (accepts(ctx, &families[f], algo, mid))
          lo = mid;
        else
          hi = mid;
      }
      families[f].make(lo, &d, &in);
      CHECK(convcl_conv_output_shape(&d, &in, &out) == CONVCL_OK, "shape");
      const convcl_shape *shapes[2] = {&in, &out};
      int64_t most = 0;
      for (int s = 0; s < 2; s++) {
        const int64_t counted = coordinates_only ? 0
                                : per_image      ? elems(shapes[s]) / shapes[s]->dims[0]
                                                 : elems(shapes[s]);
        most = counted > most ? counted : most;
        for (int i = 0; i < shapes[s]->ndim; i++)
          most = shapes[s]->dims[i] > most ? shapes[s]->dims[i] : most;
      }
      printf("  %-24s %-16s takes sizes up to %lld (%lld elements or coordinates at most)\n",
             families[f].name, convcl_algo_name(algo), (long long)lo, (long long)most);
      CHECK(most <= INT_MAX, "%s: %s at its largest size %lld has %lld > INT_MAX", families[f].name,
            convcl_algo_name(algo), (long long)lo, (long long)most);
    }
}

/* Past the device's largest allocation: a tensor, and a host run of a plan whose input
 * would need one (its arrays are never touched: a dummy stands in for them). */
static void alloc_checks(convcl_context *ctx) {
  convcl_device_info info;
  CHECK(convcl_context_device(ctx, &info) == CONVCL_OK, "device");
  const int64_t floats = (int64_t)(info.max_alloc_bytes / sizeof(float)) + 1;
  char bytes[32], limit[32];
  snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)floats * sizeof(float));
  snprintf(limit, sizeof limit, "%llu", (unsigned long long)info.max_alloc_bytes);
  printf("  largest allocation %s bytes\n", limit);

  const convcl_shape big = shape3(1, 1, floats);
  convcl_tensor *t = NULL;
  const convcl_status st = convcl_tensor_create(ctx, &big, &t);
  CHECK(st == CONVCL_ERROR_OUT_OF_MEMORY && !t, "a tensor past the largest allocation: %s",
        convcl_status_string(st));
  CHECK(says(bytes) && says(limit), "the error names %s bytes and the limit %s: %s", bytes, limit,
        convcl_last_error());

  convcl_conv_desc d;
  convcl_shape in;
  make_row(floats, &d, &in);
  const float w = 1, b = 0;
  convcl_plan *plan = NULL;
  /* Refused up front: such a plan could never run. */
  const convcl_status made = convcl_plan_create(ctx, &d, &in, &w, &b, CONVCL_ALGO_AUTO, &plan);
  CHECK(made == CONVCL_ERROR_OUT_OF_MEMORY && !plan && says(bytes) && says(limit),
        "a plan whose input passes the largest allocation: %s: %s", convcl_status_string(made),
        convcl_last_error());
  convcl_plan_destroy(plan);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "cpu";
  const int opencl = strcmp(mode, "opencl") == 0;
  convcl_context *ctx;
  const int rc = tu_open_context(mode, &ctx);
  if (rc != 0) return rc;
  shape_checks();
  huge_checks(ctx, opencl);
  depthwise_stride_checks(ctx);
  boundary_checks(ctx, opencl);
  if (opencl) alloc_checks(ctx);
  convcl_context_destroy(ctx);
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
