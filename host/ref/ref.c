/* The reference convolution: the oracle the tests and bench --verify trust.
 *
 * Written for clarity, not speed, and on purpose in formulations other than the
 * product kernels', so that one misreading of the index arithmetic cannot hide in
 * both: a convolution first builds the padded tensor, as PyTorch does for its
 * non-zero padding modes, and then slides the kernel with no padding at all; a
 * transposed convolution scatters every input element through every tap into the
 * output, where the product gathers. The padding is resolved here from the
 * descriptor, not taken from the library, and the output shape that follows from
 * it must agree with convcl_conv_output_shape(). Sums are accumulated in double. */
#include "convcl_ref.h"

#include <stdint.h>
#include <stdlib.h>

/* The problem with three spatial dims, D, H, W: a 1D or 2D problem gets leading
 * dims of size 1 with kernel 1, stride 1, dilation 1 and no padding, so one loop
 * nest serves every rank. */
typedef struct ref_problem {
  int64_t n, c, k, groups;
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3];
  int64_t pad_begin[3], pad_end[3];
} ref_problem;

/* Fills p from desc and checks the output size it implies against the library's.
 * 'same' exists at stride 1 only (PyTorch's rule, which the library enforces): the
 * total padding is d*(k-1), its odd element at the end (SAME, PyTorch's and ONNX's
 * SAME_UPPER) or at the beginning (ONNX's SAME_LOWER). */
static convcl_status resolve(const convcl_conv_desc *desc, const convcl_shape *input,
                             const convcl_shape *output, ref_problem *p) {
  const int rank = desc->spatial_dims;
  const int skip = 3 - rank;
  p->n = input->dims[0];
  p->c = input->dims[1];
  p->k = desc->out_channels;
  p->groups = desc->groups;
  if (output->ndim != rank + 2 || output->dims[0] != p->n || output->dims[1] != p->k)
    return CONVCL_ERROR_INTERNAL;
  for (int i = 0; i < 3; i++) {
    p->in[i] = p->out[i] = p->kernel[i] = p->stride[i] = p->dilation[i] = 1;
    p->pad_begin[i] = p->pad_end[i] = 0;
  }
  int requested = desc->transposed;
  for (int i = 0; i < rank; i++) requested = requested && desc->output_size[i] > 0;
  for (int i = 0; i < rank; i++) {
    const int j = skip + i;
    const int64_t in = input->dims[2 + i], k = desc->kernel[i], s = desc->stride[i];
    const int64_t d = desc->dilation[i], ek = d * (k - 1) + 1;
    int64_t pb = 0, pe = 0, out;
    switch (desc->padding) {
      case CONVCL_PAD_EXPLICIT:
        pb = desc->pad_begin[i];
        pe = desc->pad_end[i];
        break;
      case CONVCL_PAD_VALID:
        break;
      case CONVCL_PAD_SAME:
      case CONVCL_PAD_SAME_LOWER: {
        const int64_t total = ek - 1, small = total / 2, large = total - small;
        pb = desc->padding == CONVCL_PAD_SAME ? small : large;
        pe = total - pb;
        break;
      }
    }
    if (!desc->transposed) {
      out = (in + pb + pe - ek) / s + 1;
    } else {
      /* A requested size sets output_padding to the difference, as PyTorch does. */
      const int64_t base = (in - 1) * s - pb - pe + ek;
      const int64_t output_padding =
          requested ? desc->output_size[i] - base : desc->output_padding[i];
      out = base + output_padding;
    }
    if (out != output->dims[2 + i]) return CONVCL_ERROR_INTERNAL;
    p->in[j] = in;
    p->out[j] = out;
    p->kernel[j] = k;
    p->stride[j] = s;
    p->dilation[j] = d;
    p->pad_begin[j] = pb;
    p->pad_end[j] = pe;
  }
  return CONVCL_OK;
}

/* malloc for count elements of size bytes; NULL when the product does not fit. */
static void *alloc_elems(int64_t count, size_t size) {
  if (count <= 0 || (uint64_t)count > SIZE_MAX / size) return NULL;
  return malloc((size_t)count * size);
}

/* count = a*b*..., 0 when a product overflows. */
static int64_t checked_product(const int64_t *factors, int count) {
  int64_t r = 1;
  for (int i = 0; i < count; i++) {
    if (factors[i] <= 0 || r > INT64_MAX / factors[i]) return 0;
    r *= factors[i];
  }
  return r;
}

/* Where padded position i (counted from the first padding element) reads the input
 * of length size; -1 for zeros. The formulas hold for padding of any width, so a
 * descriptor the library accepts can never index out of bounds here. */
static int64_t source_index(int64_t i, int64_t size, convcl_padding_mode mode) {
  switch (mode) {
    case CONVCL_PADDING_REFLECT: {
      /* Mirrored about the edge elements, which are not repeated: period 2*(size-1). */
      if (size == 1) return 0;
      const int64_t period = 2 * (size - 1);
      int64_t r = i % period;
      if (r < 0) r += period;
      return r < size ? r : period - r;
    }
    case CONVCL_PADDING_REPLICATE:
      return i < 0 ? 0 : i >= size ? size - 1 : i;
    case CONVCL_PADDING_CIRCULAR: {
      int64_t r = i % size;
      return r < 0 ? r + size : r;
    }
    case CONVCL_PADDING_ZEROS:
      break;
  }
  return i >= 0 && i < size ? i : -1;
}

static convcl_status conv_forward(const ref_problem *p, convcl_padding_mode mode,
                                  const float *input, const float *weights, const float *bias,
                                  float *output) {
  const int64_t N = p->n, C = p->c, K = p->k, G = p->groups, Cg = C / G, Kg = K / G;
  const int64_t ID = p->in[0], IH = p->in[1], IW = p->in[2];
  const int64_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
  const int64_t KD = p->kernel[0], KH = p->kernel[1], KW = p->kernel[2];
  const int64_t PD = ID + p->pad_begin[0] + p->pad_end[0];
  const int64_t PH = IH + p->pad_begin[1] + p->pad_end[1];
  const int64_t PW = IW + p->pad_begin[2] + p->pad_end[2];
  const int64_t padded_dims[5] = {N, C, PD, PH, PW};

  float(*xp)[C][PD][PH][PW] = alloc_elems(checked_product(padded_dims, 5), sizeof(float));
  if (xp == NULL) return CONVCL_ERROR_OUT_OF_MEMORY;
  const float(*x)[C][ID][IH][IW] = (const float(*)[C][ID][IH][IW])input;
  const float(*w)[Cg][KD][KH][KW] = (const float(*)[Cg][KD][KH][KW])weights;
  float(*y)[K][OD][OH][OW] = (void *)output;

  /* Each dim maps independently, which is what padding one dim after the other
   * (F.pad) amounts to for all four modes. */
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t pd = 0; pd < PD; pd++)
        for (int64_t ph = 0; ph < PH; ph++)
          for (int64_t pw = 0; pw < PW; pw++) {
            const int64_t sd = source_index(pd - p->pad_begin[0], ID, mode);
            const int64_t sh = source_index(ph - p->pad_begin[1], IH, mode);
            const int64_t sw = source_index(pw - p->pad_begin[2], IW, mode);
            const int inside = sd >= 0 && sh >= 0 && sw >= 0;
            xp[n][c][pd][ph][pw] = inside ? x[n][c][sd][sh][sw] : 0.0f;
          }

  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) {
      const int64_t g = k / Kg;
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++)
          for (int64_t ow = 0; ow < OW; ow++) {
            double acc = bias != NULL ? (double)bias[k] : 0.0;
            for (int64_t c = 0; c < Cg; c++)
              for (int64_t kd = 0; kd < KD; kd++)
                for (int64_t kh = 0; kh < KH; kh++)
                  for (int64_t kw = 0; kw < KW; kw++)
                    acc += (double)w[k][c][kd][kh][kw] *
                           (double)xp[n][g * Cg + c][od * p->stride[0] + kd * p->dilation[0]]
                                     [oh * p->stride[1] + kh * p->dilation[1]]
                                     [ow * p->stride[2] + kw * p->dilation[2]];
            y[n][k][od][oh][ow] = (float)acc;
          }
    }
  free(xp);
  return CONVCL_OK;
}

/* Input element i, through tap t, lands on output position i*stride - pad_begin +
 * t*dilation; the end padding and output_padding only set the output's extent. */
static convcl_status conv_transposed_forward(const ref_problem *p, const float *input,
                                             const float *weights, const float *bias,
                                             float *output) {
  const int64_t N = p->n, C = p->c, K = p->k, G = p->groups, Cg = C / G, Kg = K / G;
  const int64_t ID = p->in[0], IH = p->in[1], IW = p->in[2];
  const int64_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
  const int64_t KD = p->kernel[0], KH = p->kernel[1], KW = p->kernel[2];
  const int64_t out_dims[5] = {N, K, OD, OH, OW};

  double(*acc)[K][OD][OH][OW] = alloc_elems(checked_product(out_dims, 5), sizeof(double));
  if (acc == NULL) return CONVCL_ERROR_OUT_OF_MEMORY;
  const float(*x)[C][ID][IH][IW] = (const float(*)[C][ID][IH][IW])input;
  const float(*w)[Kg][KD][KH][KW] = (const float(*)[Kg][KD][KH][KW])weights;
  float(*y)[K][OD][OH][OW] = (void *)output;

  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++)
          for (int64_t ow = 0; ow < OW; ow++)
            acc[n][k][od][oh][ow] = bias != NULL ? (double)bias[k] : 0.0;

  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t g = c / Cg;
      for (int64_t id = 0; id < ID; id++)
        for (int64_t ih = 0; ih < IH; ih++)
          for (int64_t iw = 0; iw < IW; iw++) {
            const double v = x[n][c][id][ih][iw];
            for (int64_t k = 0; k < Kg; k++)
              for (int64_t kd = 0; kd < KD; kd++) {
                const int64_t od = id * p->stride[0] - p->pad_begin[0] + kd * p->dilation[0];
                if (od < 0 || od >= OD) continue;
                for (int64_t kh = 0; kh < KH; kh++) {
                  const int64_t oh = ih * p->stride[1] - p->pad_begin[1] + kh * p->dilation[1];
                  if (oh < 0 || oh >= OH) continue;
                  for (int64_t kw = 0; kw < KW; kw++) {
                    const int64_t ow = iw * p->stride[2] - p->pad_begin[2] + kw * p->dilation[2];
                    if (ow < 0 || ow >= OW) continue;
                    acc[n][g * Kg + k][od][oh][ow] += v * (double)w[c][k][kd][kh][kw];
                  }
                }
              }
          }
    }

  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++)
          for (int64_t ow = 0; ow < OW; ow++) y[n][k][od][oh][ow] = (float)acc[n][k][od][oh][ow];
  free(acc);
  return CONVCL_OK;
}

convcl_status convcl_ref_conv(const convcl_conv_desc *desc, const convcl_shape *input_shape,
                              const float *input, const float *weights, const float *bias,
                              float *output) {
  convcl_shape output_shape;
  const convcl_status status = convcl_conv_output_shape(desc, input_shape, &output_shape);
  if (status != CONVCL_OK) return status;
  if (input == NULL || weights == NULL || output == NULL) return CONVCL_ERROR_NULL_POINTER;
  if (desc->has_bias && bias == NULL) return CONVCL_ERROR_NULL_POINTER;
  if (!desc->has_bias && bias != NULL) return CONVCL_ERROR_INVALID_VALUE;

  ref_problem p;
  const convcl_status resolved = resolve(desc, input_shape, &output_shape, &p);
  if (resolved != CONVCL_OK) return resolved;
  const convcl_status st = desc->transposed
                               ? conv_transposed_forward(&p, input, weights, bias, output)
                               : conv_forward(&p, desc->padding_mode, input, weights, bias, output);
  if (st != CONVCL_OK || desc->activation != CONVCL_ACTIVATION_RELU) return st;
  /* The activation follows the rounded convolution, as a separate torch.relu would. */
  size_t n = 1;
  for (int i = 0; i < output_shape.ndim; i++) n *= (size_t)output_shape.dims[i];
  for (size_t i = 0; i < n; i++) output[i] = output[i] < 0.0f ? 0.0f : output[i];
  return CONVCL_OK;
}
