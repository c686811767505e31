/* What the numeric sweeps (test_parity, test_numbers) share: their layer tables'
 * defaults, the seeded data, what they expect of a layer (the FP64 reference output and
 * the error bound of a float32 result against it), and the loop that plans AUTO and
 * every tile variant of every algorithm and hands each plan to the test's own check. */
#ifndef CONVCL_TEST_EXPECTED_H
#define CONVCL_TEST_EXPECTED_H

#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A layer. Every field left 0 takes the default in brackets, so a table entry spells
 * out only what it is about (the NNPACK tester pattern):
 * rank [2], batch [1], in_channels [3], out_channels [4], groups [1], size [6],
 * kernel [3], stride [1], dilation [1]; padding, pads, padding_mode, output_padding
 * and output_size are PyTorch's defaults at 0; no_bias 0 keeps the bias; relu 1 fuses
 * a ReLU. */
typedef struct tu_layer {
  const char *name;
  int rank, transposed, no_bias, relu;
  int64_t batch, in_channels, out_channels, groups;
  int64_t size[3], kernel[3], stride[3], dilation[3];
  convcl_padding_kind padding;
  int64_t pad_begin[3], pad_end[3];
  convcl_padding_mode mode;
  int64_t output_padding[3], output_size[3];
} tu_layer;

static inline int64_t tu_or_default(int64_t v, int64_t def) { return v != 0 ? v : def; }

/* The descriptor and input shape of layer l, its defaults filled in. */
static inline void tu_make_desc(const tu_layer *l, convcl_conv_desc *d, convcl_shape *input) {
  const int rank = l->rank != 0 ? l->rank : 2;
  int64_t kernel[3];
  for (int i = 0; i < 3; i++) kernel[i] = tu_or_default(l->kernel[i], 3);
  convcl_conv_desc_init(d, rank, l->transposed, tu_or_default(l->in_channels, 3),
                        tu_or_default(l->out_channels, 4), kernel);
  d->groups = tu_or_default(l->groups, 1);
  d->padding = l->padding;
  d->padding_mode = l->mode;
  d->has_bias = !l->no_bias;
  d->activation = l->relu ? CONVCL_ACTIVATION_RELU : CONVCL_ACTIVATION_NONE;
  input->ndim = rank + 2;
  input->dims[0] = tu_or_default(l->batch, 1);
  input->dims[1] = d->in_channels;
  for (int i = 0; i < rank; i++) {
    d->stride[i] = tu_or_default(l->stride[i], 1);
    d->dilation[i] = tu_or_default(l->dilation[i], 1);
    d->pad_begin[i] = l->pad_begin[i];
    d->pad_end[i] = l->pad_end[i];
    d->output_padding[i] = l->output_padding[i];
    d->output_size[i] = l->output_size[i];
    input->dims[2 + i] = tu_or_default(l->size[i], 6);
  }
}

/* splitmix64: a fixed, portable sequence for a given seed (the state's start). */
static inline uint64_t tu_rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1) on a 2^-23 grid, so every value is exact in float32. */
static inline float tu_rng_unit(uint64_t *state) {
  return (float)((double)(tu_rng_next(state) >> 40) / (double)(1 << 23) - 1.0);
}

/* Tolerance, per output element: |got - ref| <= (n + 3) * 2^-24 * mag, where n is
 * the number of products summed into an element (channels/groups * kernel volume)
 * and mag = |bias| + sum |x * w| over its terms, computed by running the
 * reference on |x|, |w| and |bias|. This is the standard a priori bound of a float32
 * dot product of n terms plus a bias, gamma_(n+1) = (n+1)u/(1-(n+1)u), in any
 * summation order (with or without FMA), plus the reference's own final rounding u;
 * n stays below a few hundred here so the 1/(1-nu) factor is below 1 + 1e-4 and
 * the +3 covers it. It holds for every algorithm that sums the products themselves
 * (direct, implicit GEMM, depthwise, gather or scatter transposed); transform-based
 * algorithms (Winograd, FFT) round in the transforms and need their own stated
 * bound. A wrong, missing or doubled term moves an element by about mag/n, which
 * is orders of magnitude above this bound; an element with mag 0 must be exact.
 * A fused ReLU (the reference applies it as well) keeps the bound: |relu(a) - relu(b)|
 * <= |a - b|. */
#define TU_UNIT_ROUNDOFF (1.0 / 16777216.0)

/* Winograd F(m x m, 3x3) also rounds in its transforms, and those mix the whole
 * (m + 2)^2 input patch of an output tile and amplify it: the rows of |B^T|, |G| and
 * |A^T| sum to at most 2, 1.5 and 3 for F(2x2) and 10, 1 and 19 for F(4x4). So an
 * element's own mag does not bound its error (a corner element that reads mostly
 * padding has a small mag, its tile-mates do not), and the transform errors, a few u
 * times those amplified magnitudes, do not grow with n as the dot-product part does.
 * For these algorithms the bound uses the largest mag of the element's output plane
 * (n, k) and this factor. Measured with uniform [-1, 1) data, the worst ratio of
 * error to the unscaled plane bound was 3.1 (F4) and 0.25 (F2), both at n = 9 (one
 * channel per group) over the named cases and 3000 random ones; on ResNet-50-like
 * layers (C = K = 64..512, 56x56..7x7, pad 1) F(4x4) gave max|err| / max|out| of
 * 6.9e-6..1.1e-5 and at most 39 u * max mag (F(2x2): 3.0e-7..6.0e-7 and 1.1 u * max
 * mag, as implicit GEMM's 0.5..1.5). The factors leave a 5x to 8x margin; OpenCL's
 * kernels, which order the transforms' operations differently, reached 6.1 (F4) and
 * 0.45 (F2) over 3000 random cases each (Cg 1..300), a 2.6x and 4.4x margin. A wrong
 * or missing term still moves an element by about mag / n, far above them. */
static inline double tu_bound_factor(convcl_algo algo) {
  switch (algo) {
    case CONVCL_ALGO_WINOGRAD_2X2:
      return 2.0;
    case CONVCL_ALGO_WINOGRAD_4X4:
      return 16.0;
    default:
      return 1.0;
  }
}

/* Products summed into one output element, at most: channels per group x kernel volume. */
static inline int64_t tu_terms(const convcl_conv_desc *d) {
  int64_t n = d->in_channels / d->groups;
  for (int i = 0; i < d->spatial_dims; i++) n *= d->kernel[i];
  return n;
}

static inline float *tu_abs_copy(const float *v, size_t n) {
  float *r = malloc(n * sizeof *r);
  if (r != NULL)
    for (size_t i = 0; i < n; i++) r[i] = fabsf(v[i]);
  return r;
}

/* The reference output of x, w and b (b NULL without a bias) into want; into mag, each
 * element's magnitude bound (the reference on |x|, |w| and |b|); into plane_mag, the
 * largest finite mag of the element's (n, k) plane. out_elems is output's count. */
static inline convcl_status tu_expect(const convcl_conv_desc *d, const convcl_shape *input,
                                      const convcl_shape *output, const float *x, const float *w,
                                      const float *b, float *want, float *mag, float *plane_mag) {
  convcl_shape weight;
  convcl_status st = convcl_conv_weight_shape(d, &weight);
  if (st != CONVCL_OK) return st;
  const size_t out_elems = tu_elems(output);
  tu_poison(want, out_elems);
  st = convcl_ref_conv(d, input, x, w, b, want);
  if (st != CONVCL_OK) return st;
  float *ax = tu_abs_copy(x, tu_elems(input));
  float *aw = tu_abs_copy(w, tu_elems(&weight));
  float *ab = b ? tu_abs_copy(b, (size_t)d->out_channels) : NULL;
  if (!ax || !aw || (b && !ab))
    st = CONVCL_ERROR_OUT_OF_MEMORY;
  else
    st = convcl_ref_conv(d, input, ax, aw, ab, mag);
  free(ax);
  free(aw);
  free(ab);
  const size_t plane = out_elems / (size_t)(output->dims[0] * output->dims[1]);
  for (size_t p0 = 0; p0 < out_elems; p0 += plane) {
    float top = 0.0f;
    for (size_t i = p0; i < p0 + plane; i++)
      if (isfinite(mag[i]) && mag[i] > top) top = mag[i];
    for (size_t i = p0; i < p0 + plane; i++) plane_mag[i] = top;
  }
  return st;
}

/* A plan for AUTO (variant ignored) or for tile variant `variant` of a named algorithm. */
static inline convcl_status tu_plan_create(convcl_context *ctx, const convcl_conv_desc *d,
                                           const convcl_shape *input, const float *w,
                                           const float *b, convcl_algo algo, int variant,
                                           convcl_plan **plan) {
  return algo == CONVCL_ALGO_AUTO
             ? convcl_plan_create(ctx, d, input, w, b, algo, plan)
             : convcl_plan_create_variant(ctx, d, input, w, b, algo, variant, plan);
}

/* One layer's data and what a run of it must give. */
typedef struct tu_problem {
  convcl_conv_desc desc;
  convcl_shape input_shape, output_shape, weight_shape;
  size_t input_elems, weight_elems, output_elems;
  float *input, *weight, *bias; /* bias NULL without one */
  float *want, *mag, *got;
  float *plane_mag; /* the largest finite mag of each element's (n, k) plane */
  int64_t terms;    /* products summed into one output element, at most */
  double absolute;  /* added to test_numbers' bound: its allowance for flushed denormals */
} tu_problem;

/* The shapes and buffers of pr->desc on pr->input_shape (pr zeroed but for those two),
 * and random data drawn from rng: the input, the weights, then the bias. A test may
 * change the data before tu_problem_expect; tu_problem_free frees pr whatever this
 * returned. */
static inline convcl_status tu_problem_alloc(tu_problem *pr, uint64_t *rng) {
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
  for (size_t i = 0; i < pr->input_elems; i++) pr->input[i] = tu_rng_unit(rng);
  for (size_t i = 0; i < pr->weight_elems; i++) pr->weight[i] = tu_rng_unit(rng);
  for (size_t i = 0; pr->bias && i < k; i++) pr->bias[i] = tu_rng_unit(rng);
  return CONVCL_OK;
}

/* The reference output, magnitudes and plane magnitudes of pr's data. */
static inline convcl_status tu_problem_expect(tu_problem *pr) {
  return tu_expect(&pr->desc, &pr->input_shape, &pr->output_shape, pr->input, pr->weight, pr->bias,
                   pr->want, pr->mag, pr->plane_mag);
}

static inline void tu_problem_free(tu_problem *pr) {
  free(pr->input);
  free(pr->weight);
  free(pr->bias);
  free(pr->want);
  free(pr->mag);
  free(pr->plane_mag);
  free(pr->got);
}

/* A test's report of a failure on pr: name is the layer or case, what the algorithm
 * ("ALGO/V", or "ALGO/V -> PLANNED" once planned); the test prints the details after. */
typedef void (*tu_report_fn)(const char *name, const char *what, const tu_problem *pr);

/* Ends a run of plan on pr that returned st: destroys the plan and returns 0 with *ran
 * the algorithm that ran, or 1 where the run failed (reported). */
static inline int tu_problem_ran(const char *name, const char *what, const tu_problem *pr,
                                 tu_report_fn report, convcl_plan *plan, convcl_status st,
                                 convcl_algo *ran) {
  *ran = convcl_plan_algo(plan);
  convcl_plan_destroy(plan);
  if (st == CONVCL_OK) return 0;
  report(name, what, pr);
  printf("    run: %s: %s\n", convcl_status_string(st), convcl_last_error());
  return 1;
}

/* A test's check of one planned algorithm on pr: runs plan (pr->got poisoned), ends the
 * run with tu_problem_ran and checks pr->got. what names the algorithm for report.
 * Returns 0 passed, 1 failed (reported). */
typedef int (*tu_check_fn)(const char *name, const char *what, convcl_plan *plan, tu_problem *pr);

/* AUTO (variant ignored) or tile variant `variant` of a named algorithm on pr, planned
 * here and checked by check. Returns 0 passed, 1 failed (reported), -1 where the
 * algorithm does not apply or has no such variant. */
static inline int tu_run_one(convcl_context *ctx, const char *name, convcl_algo algo, int variant,
                             tu_problem *pr, tu_report_fn report, tu_check_fn check) {
  convcl_plan *plan = NULL;
  const convcl_status st =
      tu_plan_create(ctx, &pr->desc, &pr->input_shape, pr->weight, pr->bias, algo, variant, &plan);
  if (st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && algo != CONVCL_ALGO_AUTO) return -1;
  char what[64];
  snprintf(what, sizeof what, "%s/%d", convcl_algo_name(algo), variant);
  if (st != CONVCL_OK) {
    report(name, what, pr);
    printf("    plan: %s: %s\n", convcl_status_string(st), convcl_last_error());
    return 1;
  }
  snprintf(what, sizeof what, "%s/%d -> %s", convcl_algo_name(algo), variant,
           convcl_algo_name(convcl_plan_algo(plan)));
  tu_poison(pr->got, pr->output_elems);
  return check(name, what, plan, pr);
}

/* Runs AUTO and every tile variant of every algorithm on pr, adding to the counts. */
static inline void tu_run_all(convcl_context *ctx, const char *name, tu_problem *pr,
                              tu_report_fn report, tu_check_fn check, int *passed, int *failed) {
  for (int a = CONVCL_ALGO_AUTO; a < CONVCL_ALGO_COUNT; a++)
    for (int v = 0;; v++) {
      const int result = tu_run_one(ctx, name, (convcl_algo)a, v, pr, report, check);
      if (result == 0) ++*passed;
      if (result == 1) ++*failed;
      if (result == -1 || a == CONVCL_ALGO_AUTO) break;
    }
}

#endif
