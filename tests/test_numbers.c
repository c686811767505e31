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

#define ALL(v) \
  { v, v, v }

/* Small, but wide enough to cross the vector lanes and tiles of each algorithm. */
static const tu_layer layers[] = {
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

/* The data's seed: every run draws the same values. */
static uint64_t rng_state = 20261126u;

/* Flat index of input element (n, c, spatial middle) plus offset along the last dim. */
static size_t input_middle(const tu_problem *pr, int64_t n, int64_t c, int64_t offset) {
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
static void zero_channel0_weights(tu_problem *pr) {
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

static void inject(tu_problem *pr, injection what) {
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
      for (size_t i = 0; i < pr->input_elems; i++) pr->input[i] = tu_rng_unit(&rng_state) * 1e-38f;
      /* Each flushed operand or product loses less than FLT_MIN (weights and
       * transform coefficients stay within a few units), in every term. */
      pr->absolute = (double)(pr->terms + 3) * FLT_MIN;
      break;
    case INJECTION_COUNT:
      break;
  }
}

/* Random data with one injection, and what a run of it must give. */
static convcl_status problem_init(tu_problem *pr, injection what) {
  const convcl_status st = tu_problem_alloc(pr, &rng_state);
  if (st != CONVCL_OK) return st;
  inject(pr, what);
  return tu_problem_expect(pr);
}

static const char *classify(float v) {
  return isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : "finite";
}

static void report(const char *name, const char *what, const tu_problem *pr) {
  printf("FAIL %s %s\n", name, what);
  tu_print_desc(stdout, &pr->desc, &pr->input_shape);
}

/* One planned algorithm on one problem (a tu_check_fn): every output element in the
 * reference's class, the finite ones within the bound, and the caller's MXCSR as it was. */
static int check(const char *name, const char *what, convcl_plan *plan, tu_problem *pr) {
  int failed = 0;
#ifdef HAVE_MXCSR
  /* The caller's own settings, whatever they are, come back unchanged. */
  const unsigned caller = _mm_getcsr();
#endif
  const convcl_status st = convcl_plan_run(plan, pr->input, pr->got);
#ifdef HAVE_MXCSR
  if ((_mm_getcsr() & MXCSR_CONTROL) != (caller & MXCSR_CONTROL)) {
    report(name, what, pr);
    printf("    MXCSR 0x%x before the run, 0x%x after\n", caller, _mm_getcsr());
    _mm_setcsr(caller);
    failed = 1;
  }
#endif
  convcl_algo ran;
  if (tu_problem_ran(name, what, pr, report, plan, st, &ran)) return 1;
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
  report(name, what, pr);
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
        tu_problem pr;
        memset(&pr, 0, sizeof pr);
        tu_layer with_relu = layers[l];
        with_relu.relu = relu;
        tu_make_desc(&with_relu, &pr.desc, &pr.input_shape);
        if (w == NAN_BIAS && !pr.desc.has_bias) continue;
        char name[160];
        snprintf(name, sizeof name, "%s relu=%d %s", layers[l].name, relu, injection_names[w]);
        const convcl_status st = problem_init(&pr, (injection)w);
        if (st != CONVCL_OK) {
          printf("FAIL %s\n", name);
          tu_print_desc(stdout, &pr.desc, &pr.input_shape);
          printf("    reference: %s: %s\n", convcl_status_string(st), convcl_last_error());
          failed++;
          tu_problem_free(&pr);
          continue;
        }
        tu_run_all(ctx, name, &pr, report, check, &passed, &failed);
#ifdef HAVE_MXCSR
        /* Once with the caller flushing denormals itself: that must survive a run too. */
        if (w == DENORMAL_INPUT && relu == 0) {
          _mm_setcsr(initial | 0x8040);
          const int result = tu_run_one(ctx, name, CONVCL_ALGO_AUTO, 0, &pr, report, check);
          _mm_setcsr(initial);
          if (result == 0) passed++;
          if (result == 1) failed++;
        }
#endif
        tu_problem_free(&pr);
      }
  convcl_context_destroy(ctx);
  printf("%d passed, %d failed (each = one layer, injection and algorithm variant)\n", passed,
         failed);
  return failed ? 1 : 0;
}
