/* Descriptor validation, output shapes, parameter counts and FLOPs: every check on a
 * user's convolution happens here, in PyTorch's order and in PyTorch's words. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *const dim_names[3][3] = {
    {"width"}, {"height", "width"}, {"depth", "height", "width"}};

/* Overflow-checked arithmetic on non-negative sizes; the result is clamped so a
 * failed product stays detectable through a chain of calls. */
static int mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }

/* The largest dilated kernel extent or transposed input reach, (I - 1) * s: the sum of
 * one of each and a few values of at most 2^40 cannot overflow. */
#define SPAN_MAX ((int64_t)1 << 61)

static int span_ok(int64_t a, int64_t b, int64_t *r) { return mul_ok(a, b, r) && *r <= SPAN_MAX; }

/* "(8 x 8)", "[8, 8]", "(2, 2)": PyTorch prints sizes in several styles. */
static const char *fmt_dims(char *buf, size_t cap, const int64_t *v, int n, const char *open,
                            const char *sep, const char *close) {
  size_t used = (size_t)snprintf(buf, cap, "%s", open);
  for (int i = 0; i < n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? sep : "", (long long)v[i]);
  if (used < cap) snprintf(buf + used, cap - used, "%s", close);
  return buf;
}

#define TUPLE(buf, v, n) fmt_dims(buf, sizeof buf, v, n, "(", ", ", ")")
#define LIST(buf, v, n) fmt_dims(buf, sizeof buf, v, n, "[", ", ", "]")
#define CROSS(buf, v, n) fmt_dims(buf, sizeof buf, v, n, "(", " x ", ")")

static void module_name(const convcl_conv_desc *d, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%dd", d->transposed ? "ConvTranspose" : "Conv", d->spatial_dims);
}

/* Checks what PyTorch checks when the module is constructed, plus the per-value
 * checks ATen makes on the first forward that need no input. */
static convcl_status check_desc(const convcl_conv_desc *d) {
  char a[512], b[160], name[32];
  if (!d) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the convolution descriptor is NULL");
  const int r = d->spatial_dims;
  if (r < 1 || r > 3)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "spatial_dims must be 1, 2 or 3, but got %d",
                        r);
  module_name(d, name, sizeof name);
  if (d->transposed != 0 && d->transposed != 1)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "transposed must be 0 or 1, but got %d",
                        d->transposed);
  if (d->in_channels <= 0)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "in_channels must be positive, but got %lld",
                        (long long)d->in_channels);
  if (d->out_channels <= 0)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "out_channels must be positive, but got %lld",
                        (long long)d->out_channels);
  if (d->groups <= 0)
    return convcl_error(CONVCL_ERROR_INVALID_GROUPS,
                        "groups must be a positive integer, but got groups=%lld",
                        (long long)d->groups);
  if (d->in_channels % d->groups)
    return convcl_error(CONVCL_ERROR_INVALID_GROUPS,
                        "Given groups=%lld, expected in_channels (%lld) to be divisible by groups",
                        (long long)d->groups, (long long)d->in_channels);
  if (d->out_channels % d->groups)
    return convcl_error(CONVCL_ERROR_INVALID_GROUPS,
                        "Given groups=%lld, expected out_channels (%lld) to be divisible by groups",
                        (long long)d->groups, (long long)d->out_channels);
  if (d->padding < CONVCL_PAD_EXPLICIT || d->padding > CONVCL_PAD_SAME_LOWER)
    return convcl_error(
        CONVCL_ERROR_INVALID_PADDING,
        "Invalid padding kind %d, should be explicit, 'same', 'valid' or same_lower",
        (int)d->padding);
  if (d->padding_mode < CONVCL_PADDING_ZEROS || d->padding_mode > CONVCL_PADDING_CIRCULAR)
    return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                        "padding_mode must be one of {'zeros', 'reflect', 'replicate', "
                        "'circular'}, but got padding_mode=%d",
                        (int)d->padding_mode);
  if (d->activation != CONVCL_ACTIVATION_NONE && d->activation != CONVCL_ACTIVATION_RELU)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "activation must be CONVCL_ACTIVATION_NONE or CONVCL_ACTIVATION_RELU, but "
                        "got activation=%d",
                        (int)d->activation);
  if (d->transposed && d->padding_mode != CONVCL_PADDING_ZEROS)
    return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                        "Only \"zeros\" padding mode is supported for %s", name);
  const int same = d->padding == CONVCL_PAD_SAME || d->padding == CONVCL_PAD_SAME_LOWER;
  if (d->transposed && same)
    return convcl_error(CONVCL_ERROR_INVALID_PADDING, "padding='same' is not supported for %s",
                        name);
  for (int i = 0; i < r; i++)
    if (d->kernel[i] <= 0) {
      size_t used =
          (size_t)snprintf(a, sizeof a, "kernel size should be greater than zero, but got");
      for (int j = 0; j < r && used < sizeof a; j++)
        used += (size_t)snprintf(a + used, sizeof a - used, " kernel_%s: %lld", dim_names[r - 1][j],
                                 (long long)d->kernel[j]);
      return convcl_error(CONVCL_ERROR_INVALID_VALUE, "%s", a);
    }
  for (int i = 0; i < r; i++)
    if (d->stride[i] <= 0)
      return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                          "non-positive stride is not supported, but got stride=%s",
                          TUPLE(a, d->stride, r));
  for (int i = 0; i < r; i++)
    if (d->dilation[i] <= 0)
      return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                          "dilation should be greater than zero, but got %s",
                          LIST(a, d->dilation, r));
  if (same)
    for (int i = 0; i < r; i++)
      if (d->stride[i] != 1)
        return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                            "padding='same' is not supported for strided convolutions, but got "
                            "stride=%s",
                            TUPLE(a, d->stride, r));
  if (d->padding == CONVCL_PAD_EXPLICIT)
    for (int i = 0; i < r; i++)
      if (d->pad_begin[i] < 0 || d->pad_end[i] < 0)
        return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                            "negative padding is not supported, but got pad_begin=%s pad_end=%s",
                            TUPLE(a, d->pad_begin, r), TUPLE(b, d->pad_end, r));
  int has_output_size = 0;
  for (int i = 0; i < r; i++) has_output_size |= d->output_size[i] != 0;
  if (!d->transposed) {
    for (int i = 0; i < r; i++)
      if (d->output_padding[i] != 0 || d->output_size[i] != 0)
        return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                            "output_padding and output_size apply to transposed convolutions "
                            "only, but %s got output_padding=%s output_size=%s",
                            name, TUPLE(a, d->output_padding, r), TUPLE(b, d->output_size, r));
  } else if (has_output_size) {
    for (int i = 0; i < r; i++)
      if (d->output_size[i] <= 0)
        return convcl_error(CONVCL_ERROR_INVALID_OUTPUT_SIZE,
                            "a requested output size must be positive in every dimension, but "
                            "got %s",
                            LIST(a, d->output_size, r));
  } else {
    for (int i = 0; i < r; i++)
      if (d->output_padding[i] < 0)
        return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                            "negative output_padding is not supported, but got output_padding=%s",
                            TUPLE(a, d->output_padding, r));
    for (int i = 0; i < r; i++)
      if (d->output_padding[i] >= d->stride[i] && d->output_padding[i] >= d->dilation[i]) {
        size_t used = (size_t)snprintf(
            a, sizeof a, "output padding must be smaller than either stride or dilation, but got");
        const char *what[3] = {"output_padding", "stride", "dilation"};
        const int64_t *vals[3] = {d->output_padding, d->stride, d->dilation};
        for (int w = 0; w < 3; w++)
          for (int j = 0; j < r && used < sizeof a; j++)
            used += (size_t)snprintf(a + used, sizeof a - used, " %s_%s: %lld", what[w],
                                     dim_names[r - 1][j], (long long)vals[w][j]);
        return convcl_error(CONVCL_ERROR_INVALID_VALUE, "%s", a);
      }
  }
  /* Every later product is overflow-checked (and kept within SPAN_MAX); these bounds
   * keep sums of single values and such products far from the int64 limit. */
  const int64_t big = (int64_t)1 << 40;
  int64_t scalars[] = {d->in_channels, d->out_channels};
  for (int i = 0; i < 2; i++)
    if (scalars[i] > big)
      return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                          "channel count %lld exceeds the supported maximum 2^40",
                          (long long)scalars[i]);
  for (int i = 0; i < r; i++) {
    const int64_t v[] = {d->kernel[i],  d->stride[i],         d->dilation[i],   d->pad_begin[i],
                         d->pad_end[i], d->output_padding[i], d->output_size[i]};
    for (size_t j = 0; j < sizeof v / sizeof v[0]; j++)
      if (v[j] > big)
        return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                            "%s: a kernel, stride, dilation, padding or output size of %lld "
                            "exceeds the supported maximum 2^40",
                            name, (long long)v[j]);
  }
  return CONVCL_OK;
}

void convcl_conv_desc_init(convcl_conv_desc *desc, int spatial_dims, int transposed,
                           int64_t in_channels, int64_t out_channels, const int64_t *kernel) {
  if (!desc) return;
  memset(desc, 0, sizeof *desc);
  desc->spatial_dims = spatial_dims;
  desc->transposed = transposed;
  desc->in_channels = in_channels;
  desc->out_channels = out_channels;
  desc->groups = 1;
  desc->padding = CONVCL_PAD_EXPLICIT;
  desc->padding_mode = CONVCL_PADDING_ZEROS;
  desc->has_bias = 1;
  for (int i = 0; i < CONVCL_MAX_SPATIAL; i++) {
    desc->stride[i] = 1;
    desc->dilation[i] = 1;
    if (kernel && i < spatial_dims) desc->kernel[i] = kernel[i];
  }
}

static void weight_shape(const convcl_conv_desc *d, convcl_shape *w) {
  w->ndim = d->spatial_dims + 2;
  w->dims[0] = d->transposed ? d->in_channels : d->out_channels;
  w->dims[1] = (d->transposed ? d->out_channels : d->in_channels) / d->groups;
  for (int i = 0; i < d->spatial_dims; i++) w->dims[2 + i] = d->kernel[i];
}

static convcl_status elems(const convcl_shape *s, const char *what, int64_t *count) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++)
    if (!mul_ok(n, s->dims[i], &n) || !mul_ok(n, (int64_t)sizeof(float), &(int64_t){0})) {
      char a[160];
      return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                          "the %s of size %s has too many elements to address", what,
                          LIST(a, s->dims, s->ndim));
    }
  *count = n;
  return CONVCL_OK;
}

convcl_status convcl_problem_init(convcl_problem *p, const convcl_conv_desc *d,
                                  const convcl_shape *input) {
  char a[160], b[160], c[160], e[160], name[32];
  convcl_status st = check_desc(d);
  if (st != CONVCL_OK) return st;
  if (!input) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the input shape is NULL");
  const int r = d->spatial_dims;
  module_name(d, name, sizeof name);
  if (input->ndim != r + 2) {
    if (input->ndim < 0 || input->ndim > CONVCL_MAX_DIMS)
      return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                          "Expected %dD (batched) input to %s, but got an input with %d dimensions",
                          r + 2, name, input->ndim);
    return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                        "Expected %dD (batched) input to %s, but got input of size: %s "
                        "(convcl takes batched tensors: give an unbatched input a leading 1)",
                        r + 2, name, LIST(a, input->dims, input->ndim));
  }
  for (int i = 0; i < input->ndim; i++)
    if (input->dims[i] <= 0)
      return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                          "%s expects every input size to be positive, but got input of size: %s",
                          name, LIST(a, input->dims, input->ndim));
  convcl_shape w;
  weight_shape(d, &w);
  if (input->dims[1] != d->in_channels) {
    if (d->transposed)
      return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                          "Given transposed=1, weight of size %s, expected input%s to have %lld "
                          "channels, but got %lld channels instead",
                          LIST(a, w.dims, w.ndim), LIST(b, input->dims, input->ndim),
                          (long long)d->in_channels, (long long)input->dims[1]);
    return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                        "Given groups=%lld, weight of size %s, expected input%s to have %lld "
                        "channels, but got %lld channels instead",
                        (long long)d->groups, LIST(a, w.dims, w.ndim),
                        LIST(b, input->dims, input->ndim), (long long)d->in_channels,
                        (long long)input->dims[1]);
  }
  int64_t in_elems, weight_elems;
  if ((st = elems(input, "input", &in_elems)) != CONVCL_OK) return st;
  if ((st = elems(&w, "weight", &weight_elems)) != CONVCL_OK) return st;
  for (int i = 0; i < r; i++)
    if (input->dims[2 + i] > ((int64_t)1 << 40))
      return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                          "input size %lld exceeds the supported maximum 2^40",
                          (long long)input->dims[2 + i]);

  convcl_problem q;
  memset(&q, 0, sizeof q);
  q.rank = r;
  q.transposed = d->transposed;
  q.has_bias = d->has_bias != 0;
  q.relu = d->activation == CONVCL_ACTIVATION_RELU;
  q.mode = d->padding_mode;
  q.n = input->dims[0];
  q.c = d->in_channels;
  q.k = d->out_channels;
  q.groups = d->groups;
  q.input_shape = *input;
  q.weight_shape = w;
  q.input_elems = in_elems;
  q.weight_elems = weight_elems;
  q.kernel_elems = 1;
  for (int i = 0; i < 3; i++) {
    q.in[i] = q.out[i] = q.kernel[i] = q.stride[i] = q.dilation[i] = 1;
  }
  int64_t ek[3], padded[3], pb[3], pe[3];
  for (int j = 0; j < r; j++) {
    const int i = 3 - r + j;
    q.in[i] = input->dims[2 + j];
    q.kernel[i] = d->kernel[j];
    q.stride[i] = d->stride[j];
    q.dilation[i] = d->dilation[j];
    q.kernel_elems *= d->kernel[j];
    if (!span_ok(d->dilation[j], d->kernel[j] - 1, &ek[j]))
      return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                          "%s: the dilated kernel extent dilation * (kernel - 1) + 1 = %lld * "
                          "%lld + 1 exceeds the supported maximum 2^61",
                          name, (long long)d->dilation[j], (long long)(d->kernel[j] - 1));
    ek[j] += 1;
    if (d->padding == CONVCL_PAD_SAME || d->padding == CONVCL_PAD_SAME_LOWER) {
      const int64_t total = ek[j] - 1;
      const int64_t small = total / 2;
      pb[j] = d->padding == CONVCL_PAD_SAME ? small : total - small;
      pe[j] = total - pb[j];
    } else if (d->padding == CONVCL_PAD_VALID) {
      pb[j] = pe[j] = 0;
    } else {
      pb[j] = d->pad_begin[j];
      pe[j] = d->pad_end[j];
    }
    q.pad_begin[i] = pb[j];
    q.pad_end[i] = pe[j];
    padded[j] = input->dims[2 + j] + pb[j] + pe[j];
  }

  if (q.mode == CONVCL_PADDING_REFLECT)
    for (int j = 0; j < r; j++)
      if (pb[j] >= input->dims[2 + j] || pe[j] >= input->dims[2 + j])
        return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                            "Argument #4: Padding size should be less than the corresponding "
                            "input dimension, but got: padding (%lld, %lld) at dimension %d of "
                            "input %s",
                            (long long)pb[j], (long long)pe[j], 2 + j,
                            LIST(a, input->dims, input->ndim));
  if (q.mode == CONVCL_PADDING_CIRCULAR)
    for (int j = 0; j < r; j++)
      if (pb[j] > input->dims[2 + j] || pe[j] > input->dims[2 + j])
        return convcl_error(CONVCL_ERROR_INVALID_PADDING,
                            "Padding value causes wrapping around more than once: padding (%lld, "
                            "%lld) at dimension %d of input %s",
                            (long long)pb[j], (long long)pe[j], 2 + j,
                            LIST(a, input->dims, input->ndim));

  int64_t out[3];
  if (!d->transposed) {
    for (int j = 0; j < r; j++)
      if (padded[j] < ek[j])
        return convcl_error(CONVCL_ERROR_INVALID_OUTPUT_SIZE,
                            "Calculated padded input size per channel: %s. Kernel size: %s. "
                            "Kernel size can't be greater than actual input size",
                            CROSS(a, padded, r), CROSS(b, ek, r));
    for (int j = 0; j < r; j++) out[j] = (padded[j] - ek[j]) / d->stride[j] + 1;
  } else {
    int64_t min_size[3], max_size[3];
    int has_output_size = 0;
    for (int j = 0; j < r; j++) {
      if (!span_ok(input->dims[2 + j] - 1, d->stride[j], &min_size[j]))
        return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                            "%s: the output extent (input - 1) * stride = %lld * %lld exceeds "
                            "the supported maximum 2^61",
                            name, (long long)(input->dims[2 + j] - 1), (long long)d->stride[j]);
      min_size[j] += ek[j] - pb[j] - pe[j];
      max_size[j] = min_size[j] + d->stride[j] - 1;
      has_output_size |= d->output_size[j] != 0;
    }
    if (has_output_size) {
      for (int j = 0; j < r; j++)
        if (d->output_size[j] < min_size[j] || d->output_size[j] > max_size[j])
          return convcl_error(CONVCL_ERROR_INVALID_OUTPUT_SIZE,
                              "requested an output size of %s, but valid sizes range from %s to "
                              "%s (for an input of %s)",
                              LIST(a, d->output_size, r), LIST(b, min_size, r),
                              LIST(c, max_size, r), LIST(e, input->dims + 2, r));
    }
    for (int j = 0; j < r; j++) {
      const int64_t op = has_output_size ? d->output_size[j] - min_size[j] : d->output_padding[j];
      q.output_padding[3 - r + j] = op;
      out[j] = min_size[j] + op;
    }
    for (int j = 0; j < r; j++)
      if (out[j] <= 0)
        return convcl_error(CONVCL_ERROR_INVALID_OUTPUT_SIZE,
                            "Given input size per channel: %s. Calculated output size per "
                            "channel: %s. Output size is too small",
                            CROSS(a, input->dims + 2, r), CROSS(b, out, r));
  }
  q.output_shape.ndim = r + 2;
  q.output_shape.dims[0] = q.n;
  q.output_shape.dims[1] = q.k;
  for (int j = 0; j < r; j++) {
    q.output_shape.dims[2 + j] = out[j];
    q.out[3 - r + j] = out[j];
  }
  if ((st = elems(&q.output_shape, "output", &q.output_elems)) != CONVCL_OK) return st;
  *p = q;
  return CONVCL_OK;
}

convcl_status convcl_conv_output_shape(const convcl_conv_desc *desc, const convcl_shape *input,
                                       convcl_shape *output) {
  convcl_problem p;
  if (!output) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the output shape pointer is NULL");
  convcl_status st = convcl_problem_init(&p, desc, input);
  if (st != CONVCL_OK) return st;
  *output = p.output_shape;
  convcl_error_clear();
  return CONVCL_OK;
}

convcl_status convcl_conv_weight_shape(const convcl_conv_desc *desc, convcl_shape *weight) {
  if (!weight) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the weight shape pointer is NULL");
  convcl_status st = check_desc(desc);
  if (st != CONVCL_OK) return st;
  weight_shape(desc, weight);
  convcl_error_clear();
  return CONVCL_OK;
}

convcl_status convcl_conv_param_count(const convcl_conv_desc *desc, int64_t *count) {
  if (!count) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the count pointer is NULL");
  convcl_status st = check_desc(desc);
  if (st != CONVCL_OK) return st;
  convcl_shape w;
  int64_t n = 0;
  weight_shape(desc, &w);
  if ((st = elems(&w, "weight", &n)) != CONVCL_OK) return st;
  *count = n + (desc->has_bias ? desc->out_channels : 0);
  convcl_error_clear();
  return CONVCL_OK;
}

convcl_status convcl_conv_flops(const convcl_conv_desc *desc, const convcl_shape *input,
                                int64_t *flops) {
  if (!flops) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the flops pointer is NULL");
  convcl_problem p;
  convcl_status st = convcl_problem_init(&p, desc, input);
  if (st != CONVCL_OK) return st;
  /* Each output (conv) or input (transposed) element takes one multiply-add per
   * weight of its group: 2 * elements * (weights / out or in channels). */
  const int64_t per_weight = p.weight_elems / (p.transposed ? p.c : p.k);
  const int64_t elements = p.transposed ? p.input_elems : p.output_elems;
  int64_t f;
  if (!mul_ok(elements, per_weight, &f) || !mul_ok(f, 2, &f))
    return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                        "the FLOP count of this %dD %s, 2 * %lld %s elements * %lld weights "
                        "each, overflows int64",
                        p.rank, p.transposed ? "transposed convolution" : "convolution",
                        (long long)elements, p.transposed ? "input" : "output",
                        (long long)per_weight);
  *flops = f;
  convcl_error_clear();
  return CONVCL_OK;
}
