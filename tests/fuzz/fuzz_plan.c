/* libFuzzer target: descriptor validation, plan creation and one small run on the CPU
 * path, with descriptors, input shapes, algorithms and tile variants decoded from the
 * fuzz bytes. Most fields take small values; a byte of 0xF0 or above picks an edge value
 * (0, -1, 2^31, 2^40 + 1, INT64_MAX, ...) instead, so validation sees those too.
 * Layers whose direct FLOPs exceed FUZZ_MAX_FLOPS, whose padded volume exceeds
 * FUZZ_MAX_SWEEP, or whose workspace (as convcl_plan_query reports it) exceeds
 * FUZZ_MAX_WORKSPACE, are validated but not run, to keep each input fast; those that run
 * are compared with the reference (host/ref). */
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
#define FUZZ_MAX_SWEEP ((int64_t)1 << 22)

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

/* How far solvers may sweep: per spatial dim, the larger of the input and output sizes
 * plus both paddings plus the dilated kernel's reach. Fills extent[] and returns 0, or -1
 * when a sum overflows. */
static int sweep_extents(const convcl_conv_desc *d, const convcl_shape *in, const convcl_shape *out,
                         int64_t extent[]) {
  for (int i = 0; i < d->spatial_dims; i++) {
    const int64_t size = in->dims[2 + i] > out->dims[2 + i] ? in->dims[2 + i] : out->dims[2 + i];
    int64_t reach;
    if (__builtin_mul_overflow(d->dilation[i], d->kernel[i] - 1, &reach) ||
        __builtin_add_overflow(size, reach, &extent[i]) ||
        __builtin_add_overflow(extent[i], d->pad_begin[i], &extent[i]) ||
        __builtin_add_overflow(extent[i], d->pad_end[i], &extent[i]))
      return -1;
  }
  return 0;
}

/* Whether every kernel size, stride, dilation and extent is at most 2^20, so that any
 * product of three stays below 2^60. Past that, solver geometry overflows int64: the CPU
 * depthwise solver's get_geometry multiplies the height stride by the padded width rounded
 * up to the width stride (corpus/plan/regress_depthwise_geometry_overflow*), which is issue
 * 7's limits work; until that lands, such layers are validated but neither queried nor
 * planned here. */
static int sizes_fit(const convcl_conv_desc *d, const int64_t extent[]) {
  const int64_t limit = (int64_t)1 << 20;
  for (int i = 0; i < d->spatial_dims; i++)
    if (d->kernel[i] > limit || d->stride[i] > limit || d->dilation[i] > limit || extent[i] > limit)
      return 0;
  return 1;
}

/* Whether N x C x the volume of the extents, each at least its stride, stays within
 * FUZZ_MAX_SWEEP. The CPU depthwise solver's time grows with the padded volume and with
 * the stride, not with the FLOPs: it walks stride-height x padded-width elements per
 * output row, so a 1x1 layer with a height stride of 10^6 over 2^32 rows of padding runs
 * 5 s (corpus/plan/regress_depthwise_stride_padding_slow). Runs are bounded by both. */
static int sweep_fits(const convcl_conv_desc *d, const convcl_shape *in, const convcl_shape *out,
                      const int64_t extent[]) {
  int64_t volume = in->dims[0];
  if (__builtin_mul_overflow(volume, in->dims[1], &volume)) return 0;
  for (int i = 0; i < d->spatial_dims; i++) {
    const int64_t side = extent[i] > d->stride[i] ? extent[i] : d->stride[i];
    if (__builtin_mul_overflow(volume, side, &volume)) return 0;
  }
  if (volume > FUZZ_MAX_SWEEP) return 0;
  if (!d->transposed) return 1;
  /* The CPU direct solver gathers a transposed layer: a table of every output position x
   * kernel tap per dim, and a loop over both, where the FLOPs count input positions (a
   * kernel of 65536 over 3 inputs made a 34 GB table: see
   * corpus/plan/regress_direct_transposed_gather_table). */
  int64_t gather = 1;
  for (int i = 0; i < d->spatial_dims; i++)
    if (__builtin_mul_overflow(gather, out->dims[2 + i], &gather) ||
        __builtin_mul_overflow(gather, d->kernel[i], &gather))
      return 0;
  return gather <= FUZZ_MAX_SWEEP;
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
  int64_t extent[CONVCL_MAX_SPATIAL];
  if (sweep_extents(&d, &in, &out, extent) != 0 || !sizes_fit(&d, extent)) return 0;
  const convcl_status qst = convcl_plan_query(cpu_context(), &d, &in, algo, &chosen, &workspace);
  /* A workspace the query announces as huge is a finding to read, not to allocate:
   * convcl returns OUT_OF_MEMORY there, but ASan and libFuzzer abort first. */
  if (wst != CONVCL_OK || fst != CONVCL_OK || flops > FUZZ_MAX_FLOPS ||
      elems(&in) > FUZZ_MAX_ELEMS || elems(&out) > FUZZ_MAX_ELEMS || elems(&w) > FUZZ_MAX_ELEMS ||
      !sweep_fits(&d, &in, &out, extent) || (qst == CONVCL_OK && workspace > FUZZ_MAX_WORKSPACE))
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
    /* AUTO always finds a solver: direct applies to every valid problem. */
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
