/* What the numeric sweeps (test_parity, test_numbers) expect of a layer: the FP64
 * reference output, the error bound of a float32 result against it, and a plan for
 * AUTO or one tile variant of a named algorithm. */
#ifndef CONVCL_TEST_EXPECTED_H
#define CONVCL_TEST_EXPECTED_H

#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif
