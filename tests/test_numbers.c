/* Non-finite and denormal numbers through every algorithm and tile variant.
 *
 *   test_numbers cpu|opencl
 *
 * NaN and Inf must propagate as PyTorch's do, which is what the reference (host/ref)
 * computes in IEEE double: the direct sum over the padded input, so an output is NaN or
 * Inf exactly when one of its own terms is (Inf * 0 = NaN, zero padding included, as
 * torch's CPU convolutions give; Inf + -Inf = NaN), and torch.relu keeps NaN. Each layer
 * below, with and without a fused ReLU, gets each injection in turn (a NaN, Inf or
 * -Inf next to +Inf input element, an Inf input whose weights are all 0, a NaN or Inf
 * weight, a NaN bias), and every output element of AUTO and of every tile variant of
 * every applicable algorithm must be in the same class as the reference's (NaN, +Inf,
 * -Inf, finite), the finite ones within test_parity's tolerance.
 *
 * Denormals: an input of denormal values must give the reference's result within that
 * tolerance plus an absolute allowance for flushing them to zero, and a run must leave
 * the caller's floating-point control register (MXCSR on x86) as it found it.
 *
 * Exits 0 when all pass, 77 when mode is opencl and no OpenCL device opens. */
#include "expected.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
/* Its control bits (flush to zero, denormals are zero, rounding, exception masks); the
 * low six are sticky exception flags that any NaN-producing operation sets. */
#define MXCSR_CONTROL 0xffc0u
#endif

/* A layer; fields left 0 take the default in brackets: rank [2], batch [1],
 * in_channels [3], out_channels [4], groups [1], size [6], kernel [3], stride [1],
 * dilation [1]. */
typedef struct layer {
  const char *name;
  int rank, transposed, no_bias;
  int64_t batch, in_channels, out_channels, groups;
  int64_t size[3], kernel[3], stride[3], dilation[3];
  int64_t pad_begin[3], pad_end[3], output_padding[3];
  convcl_padding_mode mode;
} layer;

#define ALL(v) \
  { v, v, v }

/* Small, but wide enough to cross the vector lanes and tiles of each algorithm. */
static const layer layers[] = {
    {.name = "conv3x3",
     .in_channels = 5,
     .out_channels = 6,
     .size = {9, 10},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "conv3x3_wide",
     .in_channels = 8,
     .out_channels = 32,
     .size = {10, 34},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .batch = 2},
    {.name = "conv3x3_valid", .in_channels = 4, .out_channels = 5, .size = {8, 9}, .no_bias = 1},
    {.name = "conv3x3_reflect",
     .in_channels = 4,
     .size = {8, 8},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .mode = CONVCL_PADDING_REFLECT},
    {.name = "pointwise",
     .in_channels = 16,
     .out_channels = 24,
     .size = {7, 9},
     .kernel = ALL(1),
     .batch = 2},
    {.name = "pointwise_s2",
     .in_channels = 8,
     .out_channels = 12,
     .size = {9, 9},
     .kernel = ALL(1),
     .stride = ALL(2)},
    {.name = "dilated_strided",
     .size = {11, 11},
     .dilation = ALL(2),
     .stride = ALL(2),
     .pad_begin = ALL(2),
     .pad_end = ALL(2)},
    {.name = "depthwise",
     .in_channels = 8,
     .out_channels = 8,
     .groups = 8,
     .size = {9, 19},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "depthwise_s2_multiplier",
     .in_channels = 4,
     .out_channels = 8,
     .groups = 4,
     .size = {9, 9},
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "depthwise_replicate",
     .in_channels = 6,
     .out_channels = 6,
     .groups = 6,
     .size = {7, 8},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .mode = CONVCL_PADDING_REPLICATE},
    {.name = "grouped_circular",
     .in_channels = 8,
     .out_channels = 8,
     .groups = 2,
     .size = {7, 7},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .mode = CONVCL_PADDING_CIRCULAR},
    {.name = "conv1d_reflect",
     .rank = 1,
     .out_channels = 5,
     .size = {20},
     .kernel = {5},
     .pad_begin = {2},
     .pad_end = {2},
     .mode = CONVCL_PADDING_REFLECT},
    {.name = "conv3d_replicate",
     .rank = 3,
     .in_channels = 2,
     .size = {4, 5, 6},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .mode = CONVCL_PADDING_REPLICATE},
    {.name = "transposed",
     .transposed = 1,
     .in_channels = 4,
     .out_channels = 6,
     .size = {5, 6},
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1)},
    {.name = "transposed_grouped",
     .transposed = 1,
     .in_channels = 4,
     .out_channels = 4,
     .groups = 2,
     .size = {4, 5},
     .kernel = ALL(4),
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "transposed_1d", .rank = 1, .transposed = 1, .size = {9}, .kernel = {3}},
};

static int64_t or_default(int64_t v, int64_t def) { return v != 0 ? v : def; }

static void make_desc(const layer *l, int relu, convcl_conv_desc *d, convcl_shape *input) {
  const int rank = l->rank != 0 ? l->rank : 2;
  int64_t kernel[3];
  for (int i = 0; i < 3; i++) kernel[i] = or_default(l->kernel[i], 3);
  convcl_conv_desc_init(d, rank, l->transposed, or_default(l->in_channels, 3),
                        or_default(l->out_channels, 4), kernel);
  d->groups = or_default(l->groups, 1);
  d->padding_mode = l->mode;
  d->has_bias = !l->no_bias;
  d->activation = relu ? CONVCL_ACTIVATION_RELU : CONVCL_ACTIVATION_NONE;
  input->ndim = rank + 2;
  input->dims[0] = or_default(l->batch, 1);
  input->dims[1] = d->in_channels;
  for (int i = 0; i < rank; i++) {
    d->stride[i] = or_default(l->stride[i], 1);
    d->dilation[i] = or_default(l->dilation[i], 1);
    d->pad_begin[i] = l->pad_begin[i];
    d->pad_end[i] = l->pad_end[i];
    d->output_padding[i] = l->output_padding[i];
    input->dims[2 + i] = or_default(l->size[i], 6);
  }
}

typedef enum injection {
  NAN_INPUT,             /* one element inside the input */
  NAN_INPUT_CORNER,      /* the first element: replicated into padding by non-zero modes */
  INF_INPUT,             /* one +Inf inside the input */
  INF_PAIR,              /* -Inf with +Inf beside it (along the last dimension) */
  INF_INPUT_ZERO_WEIGHT, /* +Inf in an input channel whose weights are all 0 */
  NAN_WEIGHT,
  INF_WEIGHT,     /* the first weight: its tap reaches the padding at the top-left border */
  NEG_INF_WEIGHT, /* the last weight */
  NAN_BIAS,
  DENORMAL_INPUT, /* every input element a denormal */
  INJECTION_COUNT
} injection;

static const char *const injection_names[INJECTION_COUNT] = {
    "nan_input",  "nan_input_corner", "inf_input",      "inf_pair", "inf_input_zero_weight",
    "nan_weight", "inf_weight",       "neg_inf_weight", "nan_bias", "denormal_input"};

static uint64_t rng_state = 20261126u;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1) on a 2^-23 grid, as test_parity draws. */
static float rng_unit(void) {
  return (float)((double)(rng_next() >> 40) / (double)(1 << 23) - 1.0);
}

typedef struct problem {
  convcl_conv_desc desc;
  convcl_shape input_shape, output_shape, weight_shape;
  size_t input_elems, weight_elems, output_elems;
  float *input, *weight, *bias;
  float *want, *mag, *got;
  float *plane_mag; /* the largest finite mag of each element's (n, k) plane */
  int64_t terms;
  double absolute; /* allowance for flushed denormals */
} problem;

static void problem_free(problem *pr) {
  free(pr->input);
  free(pr->weight);
  free(pr->bias);
  free(pr->want);
  free(pr->mag);
  free(pr->plane_mag);
  free(pr->got);
}

/* Flat index of input element (n, c, spatial middle) plus offset along the last dim. */
static size_t input_middle(const problem *pr, int64_t n, int64_t c, int64_t offset) {
  const convcl_shape *s = &pr->input_shape;
  size_t i = (size_t)(n * s->dims[1] + c);
  for (int d = 2; d < s->ndim; d++) {
    int64_t at = s->dims[d] / 2;
    if (d == s->ndim - 1) at = at + offset < s->dims[d] ? at + offset : at - 1 + offset;
    i = i * (size_t)s->dims[d] + (size_t)at;
  }
  return i;
}

/* Zeros every weight that input channel 0 meets. */
static void zero_channel0_weights(problem *pr) {
  const convcl_conv_desc *d = &pr->desc;
  const size_t taps =
      pr->weight_elems / (size_t)(pr->weight_shape.dims[0] * pr->weight_shape.dims[1]);
  if (d->transposed) {
    /* [C][K/G][taps]: channel 0's block. */
    memset(pr->weight, 0, (size_t)pr->weight_shape.dims[1] * taps * sizeof(float));
    return;
  }
  /* [K][C/G][taps]: c' = 0 of every output channel of group 0. */
  const int64_t kg = d->out_channels / d->groups;
  for (int64_t k = 0; k < kg; k++)
    memset(pr->weight + (size_t)k * (size_t)pr->weight_shape.dims[1] * taps, 0,
           taps * sizeof(float));
}

static void inject(problem *pr, injection what) {
  const int64_t n_last = pr->input_shape.dims[0] - 1, c1 = pr->input_shape.dims[1] > 1 ? 1 : 0;
  switch (what) {
    case NAN_INPUT:
      pr->input[input_middle(pr, n_last, c1, 0)] = NAN;
      break;
    case NAN_INPUT_CORNER:
      pr->input[0] = NAN;
      break;
    case INF_INPUT:
      pr->input[input_middle(pr, 0, 0, 0)] = INFINITY;
      break;
    case INF_PAIR:
      pr->input[input_middle(pr, 0, c1, 0)] = -INFINITY;
      pr->input[input_middle(pr, 0, c1, 1)] = INFINITY;
      break;
    case INF_INPUT_ZERO_WEIGHT:
      zero_channel0_weights(pr);
      pr->input[input_middle(pr, 0, 0, 0)] = INFINITY;
      break;
    case NAN_WEIGHT:
      pr->weight[pr->weight_elems / 2] = NAN;
      break;
    case INF_WEIGHT:
      pr->weight[0] = INFINITY;
      break;
    case NEG_INF_WEIGHT:
      pr->weight[pr->weight_elems - 1] = -INFINITY;
      break;
    case NAN_BIAS:
      pr->bias[pr->desc.out_channels - 1] = NAN;
      break;
    case DENORMAL_INPUT:
      /* Denormals of both signs between 2^-149 and 2^-127. */
      for (size_t i = 0; i < pr->input_elems; i++) pr->input[i] = rng_unit() * 1e-38f;
      /* Each flushed operand or product loses less than FLT_MIN (weights and
       * transform coefficients stay within a few units), in every term. */
      pr->absolute = (double)(pr->terms + 3) * FLT_MIN;
      break;
    case INJECTION_COUNT:
      break;
  }
}

static convcl_status problem_init(problem *pr, injection what) {
  convcl_status st = convcl_conv_weight_shape(&pr->desc, &pr->weight_shape);
  if (st == CONVCL_OK)
    st = convcl_conv_output_shape(&pr->desc, &pr->input_shape, &pr->output_shape);
  if (st != CONVCL_OK) return st;
  const size_t k = (size_t)pr->desc.out_channels;
  pr->input_elems = tu_elems(&pr->input_shape);
  pr->weight_elems = tu_elems(&pr->weight_shape);
  pr->output_elems = tu_elems(&pr->output_shape);
  pr->terms = tu_terms(&pr->desc);
  pr->input = malloc(pr->input_elems * sizeof(float));
  pr->weight = malloc(pr->weight_elems * sizeof(float));
  pr->want = malloc(pr->output_elems * sizeof(float));
  pr->mag = malloc(pr->output_elems * sizeof(float));
  pr->plane_mag = malloc(pr->output_elems * sizeof(float));
  pr->got = malloc(pr->output_elems * sizeof(float));
  if (pr->desc.has_bias) pr->bias = malloc(k * sizeof(float));
  if (!pr->input || !pr->weight || !pr->want || !pr->mag || !pr->plane_mag || !pr->got ||
      (pr->desc.has_bias && !pr->bias))
    return CONVCL_ERROR_OUT_OF_MEMORY;
  for (size_t i = 0; i < pr->input_elems; i++) pr->input[i] = rng_unit();
  for (size_t i = 0; i < pr->weight_elems; i++) pr->weight[i] = rng_unit();
  for (size_t i = 0; pr->bias && i < k; i++) pr->bias[i] = rng_unit();
  inject(pr, what);
  return tu_expect(&pr->desc, &pr->input_shape, &pr->output_shape, pr->input, pr->weight, pr->bias,
                   pr->want, pr->mag, pr->plane_mag);
}

static const char *classify(float v) {
  return isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : "finite";
}

static void report(const char *what, const problem *pr) {
  printf("FAIL %s\n", what);
  tu_print_desc(stdout, &pr->desc, &pr->input_shape);
}

/* One algorithm (AUTO, or a named one's tile variant) on one problem: 0 passed,
 * 1 failed (reported), -1 not applicable (or no such variant). */
static int run_algo(convcl_context *ctx, const char *name, convcl_algo algo, int variant,
                    problem *pr) {
  convcl_plan *plan = NULL;
  convcl_status st =
      tu_plan_create(ctx, &pr->desc, &pr->input_shape, pr->weight, pr->bias, algo, variant, &plan);
  if (st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && algo != CONVCL_ALGO_AUTO) return -1;
  char what[256];
  snprintf(what, sizeof what, "%s %s/%d", name, convcl_algo_name(algo), variant);
  if (st != CONVCL_OK) {
    report(what, pr);
    printf("    plan: %s: %s\n", convcl_status_string(st), convcl_last_error());
    return 1;
  }
  snprintf(what, sizeof what, "%s %s/%d -> %s", name, convcl_algo_name(algo), variant,
           convcl_algo_name(convcl_plan_algo(plan)));
  tu_poison(pr->got, pr->output_elems);
  int failed = 0;
#ifdef HAVE_MXCSR
  /* The caller's own settings, whatever they are, come back unchanged. */
  const unsigned caller = _mm_getcsr();
#endif
  st = convcl_plan_run(plan, pr->input, pr->got);
#ifdef HAVE_MXCSR
  if ((_mm_getcsr() & MXCSR_CONTROL) != (caller & MXCSR_CONTROL)) {
    report(what, pr);
    printf("    MXCSR 0x%x before the run, 0x%x after\n", caller, _mm_getcsr());
    _mm_setcsr(caller);
    failed = 1;
  }
#endif
  const convcl_algo ran = convcl_plan_algo(plan);
  convcl_plan_destroy(plan);
  if (st != CONVCL_OK) {
    report(what, pr);
    printf("    run: %s: %s\n", convcl_status_string(st), convcl_last_error());
    return 1;
  }
  const double alg = tu_bound_factor(ran);
  const double factor = alg * (double)(pr->terms + 3) * TU_UNIT_ROUNDOFF;
  const float *mag = alg > 1.0 ? pr->plane_mag : pr->mag;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < pr->output_elems; i++) {
    const float got = pr->got[i], want = pr->want[i];
    const int same_class =
        isfinite(want) ? isfinite(got) : (isnan(want) ? isnan(got) : got == want);
    const int ok = same_class && (!isfinite(want) ||
                                  tu_abs_error(got, want) <= factor * mag[i] + alg * pr->absolute);
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return failed;
  char index[128];
  tu_format_index(index, sizeof index, &pr->output_shape, first);
  report(what, pr);
  printf("    %zu of %zu elements off; first at %s: got %.9g (%s), ref %.9g (%s), mag %.6g\n", bad,
         pr->output_elems, index, (double)pr->got[first], classify(pr->got[first]),
         (double)pr->want[first], classify(pr->want[first]), (double)mag[first]);
  return 1;
}

int main(int argc, char **argv) {
  const char *mode = argc >= 2 ? argv[1] : "";
  if (argc != 2 || (strcmp(mode, "cpu") != 0 && strcmp(mode, "opencl") != 0)) {
    fprintf(stderr, "usage: %s cpu|opencl\n", argv[0]);
    return 2;
  }
  convcl_context *ctx = NULL;
  const int rc = tu_open_context(mode, &ctx);
  if (rc != 0) return rc;
#ifdef HAVE_MXCSR
  /* Flush-to-zero and denormals-are-zero off, as a C program starts. */
  const unsigned initial = _mm_getcsr();
#endif

  int passed = 0, failed = 0;
  for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++)
    for (int relu = 0; relu <= 1; relu++)
      for (int w = 0; w < INJECTION_COUNT; w++) {
        problem pr;
        memset(&pr, 0, sizeof pr);
        make_desc(&layers[l], relu, &pr.desc, &pr.input_shape);
        if (w == NAN_BIAS && !pr.desc.has_bias) continue;
        char name[160];
        snprintf(name, sizeof name, "%s relu=%d %s", layers[l].name, relu, injection_names[w]);
        const convcl_status st = problem_init(&pr, (injection)w);
        if (st != CONVCL_OK) {
          report(name, &pr);
          printf("    reference: %s: %s\n", convcl_status_string(st), convcl_last_error());
          failed++;
          problem_free(&pr);
          continue;
        }
        for (int a = CONVCL_ALGO_AUTO; a < CONVCL_ALGO_COUNT; a++)
          for (int v = 0;; v++) {
            const int result = run_algo(ctx, name, (convcl_algo)a, v, &pr);
            if (result == 0) passed++;
            if (result == 1) failed++;
            if (result == -1 || a == CONVCL_ALGO_AUTO) break;
          }
#ifdef HAVE_MXCSR
        /* Once with the caller flushing denormals itself: that must survive a run too. */
        if (w == DENORMAL_INPUT && relu == 0) {
          _mm_setcsr(initial | 0x8040);
          const int result = run_algo(ctx, name, CONVCL_ALGO_AUTO, 0, &pr);
          _mm_setcsr(initial);
          if (result == 0) passed++;
          if (result == 1) failed++;
        }
#endif
        problem_free(&pr);
      }
  convcl_context_destroy(ctx);
  printf("%d passed, %d failed (each = one layer, injection and algorithm variant)\n", passed,
         failed);
  return failed ? 1 : 0;
}
