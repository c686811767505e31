/* libFuzzer target: descriptor validation, plan creation and one small run on the CPU
 * path, with descriptors, input shapes, algorithms and tile variants decoded from the
 * fuzz bytes. Most fields take small values; a byte of 0xF0 or above picks an edge value
 * (0, -1, 2^31, 2^40 + 1, INT64_MAX, ...) instead, so validation sees those too.
 * Every valid layer is queried and planned. Layers whose direct FLOPs exceed
 * FUZZ_MAX_FLOPS, whose tensors exceed FUZZ_MAX_ELEMS, or whose workspace (as
 * convcl_plan_query reports it) exceeds FUZZ_MAX_WORKSPACE, are not run, to keep each
 * input fast; those that run are compared with the reference (host/ref). A solver whose
 * time or memory follows padding or strides rather than these is a finding. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"

#define FUZZ_MAX_FLOPS 1000000
#define FUZZ_MAX_ELEMS 100000
#define FUZZ_MAX_REF_PAD 4096
#define FUZZ_MAX_WORKSPACE ((size_t)16 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct bytes {
  const uint8_t *p;
  size_t left;
} bytes;

static uint8_t next_byte(bytes *b) {
  if (b->left == 0) return 0;
  b->left--;
  return *b->p++;
}

static const int64_t edge_values[16] = {0,
                                        -1,
                                        1,
                                        2,
                                        INT64_MAX,
                                        INT64_MIN,
                                        (int64_t)1 << 31,
                                        ((int64_t)1 << 31) - 1,
                                        (int64_t)1 << 32,
                                        (int64_t)1 << 40,
                                        ((int64_t)1 << 40) + 1,
                                        -((int64_t)1 << 40),
                                        65536,
                                        3037000500, /* its square passes INT64_MAX */
                                        1000003,
                                        -2};

/* lo .. lo + span - 1 for most bytes, an edge value for the top 16. */
static int64_t draw(bytes *b, int64_t lo, int span) {
  const uint8_t v = next_byte(b);
  if (v >= 0xF0) return edge_values[v - 0xF0];
  return lo + v % span;
}

static convcl_context *cpu_context(void) {
  static convcl_context *ctx;
  if (ctx == NULL && convcl_context_create("cpu", &ctx) != CONVCL_OK) abort();
  return ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* Two threads exercise the pool's work split; tuning would time every solver. */
  setenv("CONVCL_NUM_THREADS", "2", 0);
  unsetenv("CONVCL_TUNE");
  cpu_context();
  return 0;
}

static float value_at(size_t i, uint32_t seed) {
  uint32_t h = (uint32_t)i * 2654435761u ^ seed;
  h ^= h >> 15;
  return (float)((int)(h % 33) - 16) / 8.0f; /* exact multiples of 1/8 in [-2, 2] */
}

static float *filled(int64_t count, uint32_t seed, int absolute) {
  float *v = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  if (v == NULL) abort();
  for (int64_t i = 0; i < count; i++) {
    const float x = value_at((size_t)i, seed);
    v[i] = absolute ? fabsf(x) : x;
  }
  return v;
}

static int64_t elems(const convcl_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->dims[i];
  return n;
}

/* The reference pads a copy of the input, so a tiny layer with a huge padding ('same'
 * with a large dilation pads d*(k-1)) would make it allocate gigabytes. */
static int reference_fits(const convcl_conv_desc *d) {
  for (int i = 0; i < d->spatial_dims; i++) {
    int64_t reach;
    if (__builtin_mul_overflow(d->dilation[i], d->kernel[i] - 1, &reach) ||
        reach > FUZZ_MAX_REF_PAD || d->pad_begin[i] > FUZZ_MAX_REF_PAD ||
        d->pad_end[i] > FUZZ_MAX_REF_PAD)
      return 0;
  }
  return 1;
}

/* Runs the plan and checks it against the reference within a bound scaled by the sum of
 * |terms| (the reference on absolute values): 1e-3 of an output's own sum, plus 1e-4 of
 * the largest, since Winograd's transforms mix a whole tile, so an output whose own terms
 * are all zero (in the padding) still carries rounding of its neighbours, about 1e-5 of
 * theirs. Wrong answers miss by far more. */
static void run_and_compare(convcl_plan *plan, const convcl_conv_desc *desc, const convcl_shape *in,
                            const convcl_shape *out, const convcl_shape *w) {
  const int64_t ni = elems(in), no = elems(out), nw = elems(w);
  float *x = filled(ni, 1, 0), *wt = filled(nw, 2, 0), *bias = filled(desc->out_channels, 3, 0);
  float *ax = filled(ni, 1, 1), *aw = filled(nw, 2, 1), *ab = filled(desc->out_channels, 3, 1);
  float *y = filled(no, 4, 0), *ref = filled(no, 5, 0), *bound = filled(no, 6, 0);
  convcl_plan *p = NULL;
  if (convcl_plan_create(cpu_context(), desc, in, wt, desc->has_bias ? bias : NULL,
                         convcl_plan_algo(plan), &p) != CONVCL_OK)
    abort(); /* the algorithm the first plan took must also build for its own name */
  convcl_plan_destroy(p);
  if (convcl_plan_run(plan, x, y) != CONVCL_OK) abort();
  if (!reference_fits(desc)) goto done;
  convcl_conv_desc plain = *desc;
  plain.activation = CONVCL_ACTIVATION_NONE;
  if (convcl_ref_conv(desc, in, x, wt, desc->has_bias ? bias : NULL, ref) != CONVCL_OK ||
      convcl_ref_conv(&plain, in, ax, aw, desc->has_bias ? ab : NULL, bound) != CONVCL_OK)
    abort();
  float largest = 0;
  for (int64_t i = 0; i < no; i++) largest = fmaxf(largest, bound[i]);
  for (int64_t i = 0; i < no; i++)
    if (!(fabsf(y[i] - ref[i]) <= 1e-3f * bound[i] + 1e-4f * largest)) abort();
done:
  free(x);
  free(wt);
  free(bias);
  free(ax);
  free(aw);
  free(ab);
  free(y);
  free(ref);
  free(bound);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bytes b = {data, size};
  convcl_conv_desc d;
  const int rank = (int)draw(&b, 1, 3);
  const int transposed = (int)draw(&b, 0, 2);
  const int64_t in_c = draw(&b, 1, 8), out_c = draw(&b, 1, 8);
  convcl_conv_desc_init(&d, rank, transposed, in_c, out_c, NULL);
  d.groups = draw(&b, 1, 4);
  for (int i = 0; i < CONVCL_MAX_SPATIAL; i++) {
    d.kernel[i] = draw(&b, 1, 5);
    d.stride[i] = draw(&b, 1, 3);
    d.dilation[i] = draw(&b, 1, 3);
    d.pad_begin[i] = draw(&b, 0, 4);
    d.pad_end[i] = next_byte(&b) & 1 ? d.pad_begin[i] : draw(&b, 0, 4);
    d.output_padding[i] = draw(&b, 0, 2);
  }
  d.padding = (convcl_padding_kind)draw(&b, 0, 4);
  d.padding_mode = (convcl_padding_mode)draw(&b, 0, 4);
  d.has_bias = (int)draw(&b, 0, 2);
  d.activation = (convcl_activation)draw(&b, 0, 2);
  if (next_byte(&b) == 0xFF)
    for (int i = 0; i < CONVCL_MAX_SPATIAL; i++) d.output_size[i] = draw(&b, 0, 24);

  convcl_shape in = {.ndim = (int)draw(&b, (int64_t)rank + 2, 1)};
  in.dims[0] = draw(&b, 1, 2);
  in.dims[1] = next_byte(&b) < 0xF0 ? d.in_channels : draw(&b, 1, 8);
  for (int i = 2; i < CONVCL_MAX_DIMS; i++) in.dims[i] = draw(&b, 1, 12);
  const uint8_t algo_byte = next_byte(&b);
  const convcl_algo algo = algo_byte < 0xF0 ? (convcl_algo)(algo_byte % CONVCL_ALGO_COUNT)
                                            : (convcl_algo)edge_values[algo_byte - 0xF0];
  const int variant = (int)draw(&b, -1, 5);

  convcl_shape out, w;
  int64_t params, flops;
  const convcl_status st = convcl_conv_output_shape(&d, &in, &out);
  if (st != CONVCL_OK && convcl_last_error()[0] == '\0') abort();
  const convcl_status wst = convcl_conv_weight_shape(&d, &w);
  convcl_conv_param_count(&d, &params);
  const convcl_status fst = convcl_conv_flops(&d, &in, &flops);
  convcl_algo chosen;
  size_t workspace;
  if (st != CONVCL_OK) {
    /* A plan query accepts only what validation accepts. */
    if (convcl_plan_query(cpu_context(), &d, &in, algo, &chosen, &workspace) == CONVCL_OK) abort();
    return 0;
  }
  const convcl_status qst = convcl_plan_query(cpu_context(), &d, &in, algo, &chosen, &workspace);
  /* A workspace the query announces as huge is a finding to read, not to allocate:
   * convcl returns OUT_OF_MEMORY there, but ASan and libFuzzer abort first. */
  if (wst != CONVCL_OK || fst != CONVCL_OK || flops > FUZZ_MAX_FLOPS ||
      elems(&in) > FUZZ_MAX_ELEMS || elems(&out) > FUZZ_MAX_ELEMS || elems(&w) > FUZZ_MAX_ELEMS ||
      (qst == CONVCL_OK && workspace > FUZZ_MAX_WORKSPACE))
    return 0;

  float *weights = filled(elems(&w), 2, 0), *bias = filled(d.out_channels, 3, 0);
  convcl_plan *plan = NULL;
  const convcl_status pst =
      variant < 0 ? convcl_plan_create(cpu_context(), &d, &in, weights, d.has_bias ? bias : NULL,
                                       algo, &plan)
                  : convcl_plan_create_variant(cpu_context(), &d, &in, weights,
                                               d.has_bias ? bias : NULL, algo, variant, &plan);
  free(weights);
  free(bias);
  if (pst != CONVCL_OK) {
    if (plan != NULL || convcl_last_error()[0] == '\0') abort();
    /* AUTO always finds a solver on the CPU path: the implicit GEMM takes every
     * convolution, the transposed GEMM every transposed one. */
    if (algo == CONVCL_ALGO_AUTO && variant < 0) abort();
    return 0;
  }
  if (qst != CONVCL_OK || (variant < 0 && chosen != convcl_plan_algo(plan))) abort();
  convcl_shape plan_out;
  convcl_plan_output_shape(plan, &plan_out);
  if (plan_out.ndim != out.ndim) abort();
  for (int i = 0; i < out.ndim; i++)
    if (plan_out.dims[i] != out.dims[i]) abort();
  run_and_compare(plan, &d, &in, &out, &w);
  convcl_plan_destroy(plan);
  return 0;
}
