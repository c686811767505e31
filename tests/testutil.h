/* Helpers shared by the numeric tests (test_golden, test_parity): opening the
 * backend under test, NaN poisoning, and printing descriptors and element indices
 * so that a failure names everything needed to reproduce it. */
#ifndef CONVCL_TESTUTIL_H
#define CONVCL_TESTUTIL_H

#include "convcl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The exit status CTest's SKIP_RETURN_CODE counts as skipped. */
#define TU_SKIP 77

static inline size_t tu_elems(const convcl_shape *s) {
  size_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= (size_t)s->dims[i];
  return n;
}

static inline int tu_same_shape(const convcl_shape *a, const convcl_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* Unwritten output elements stay NaN and fail every comparison. */
static inline void tu_poison(float *data, size_t count) {
  for (size_t i = 0; i < count; i++) data[i] = NAN;
}

/* |got - want| with NaN (unwritten or computed) as +inf, so it is always the worst. */
static inline double tu_abs_error(float got, double want) {
  const double e = fabs((double)got - want);
  return isnan(e) ? INFINITY : e;
}

/* Opens the backend that mode names ("cpu" or "opencl"; for "opencl" the device
 * auto picks when that is an OpenCL one, so a GPU machine tests its GPU, else the
 * first OpenCL device of any type). Returns 0, or the exit status the test should
 * end with: TU_SKIP when no OpenCL device can be opened (a CPU-only machine passes
 * honestly), 1 for any other failure. */
static inline int tu_open_context(const char *mode, convcl_context **ctx) {
  convcl_context *picked = NULL;
  if (strcmp(mode, "opencl") == 0 && convcl_context_create("auto", &picked) == CONVCL_OK &&
      convcl_context_backend(picked) != CONVCL_BACKEND_OPENCL) {
    convcl_context_destroy(picked);
    picked = NULL;
  }
  const convcl_status st = picked ? CONVCL_OK : convcl_context_create(mode, &picked);
  *ctx = picked;
  if (st == CONVCL_OK) {
    convcl_device_info info;
    if (convcl_context_device(*ctx, &info) == CONVCL_OK)
      printf("device %s: %s (%s; %s)\n", info.id, info.name, info.platform, info.driver);
    return 0;
  }
  printf("cannot open device '%s': %s: %s\n", mode, convcl_status_string(st), convcl_last_error());
  if (st == CONVCL_ERROR_INVALID_DEVICE && strcmp(mode, "opencl") == 0) {
    printf("no OpenCL device: skipped\n");
    return TU_SKIP;
  }
  return 1;
}

static inline void tu_format_ints(char *buf, size_t cap, const int64_t *v, int n, const char *sep) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used < cap; i++) {
    const int w = snprintf(buf + used, cap - used, "%s%lld", i ? sep : "", (long long)v[i]);
    if (w < 0) return;
    used += (size_t)w;
  }
}

/* "[0, 2, 3, 1]": the coordinates of flat element index in shape. */
static inline void tu_format_index(char *buf, size_t cap, const convcl_shape *shape, size_t index) {
  int64_t coord[CONVCL_MAX_DIMS];
  for (int i = shape->ndim - 1; i >= 0; i--) {
    coord[i] = (int64_t)(index % (size_t)shape->dims[i]);
    index /= (size_t)shape->dims[i];
  }
  char inner[128];
  tu_format_ints(inner, sizeof inner, coord, shape->ndim, ", ");
  snprintf(buf, cap, "[%s]", inner);
}

/* Every field of the descriptor and the input shape, for failure reports. */
static inline void tu_print_desc(FILE *f, const convcl_conv_desc *d, const convcl_shape *input) {
  static const char *const kinds[] = {"explicit", "same", "valid", "same_lower"};
  static const char *const modes[] = {"zeros", "reflect", "replicate", "circular"};
  const int r = d->spatial_dims >= 1 && d->spatial_dims <= 3 ? d->spatial_dims : 3;
  char in[96], k[64], s[64], dl[64], pb[64], pe[64], op[64], os[64];
  tu_format_ints(in, sizeof in, input->dims, input->ndim, "x");
  tu_format_ints(k, sizeof k, d->kernel, r, ",");
  tu_format_ints(s, sizeof s, d->stride, r, ",");
  tu_format_ints(dl, sizeof dl, d->dilation, r, ",");
  tu_format_ints(pb, sizeof pb, d->pad_begin, r, ",");
  tu_format_ints(pe, sizeof pe, d->pad_end, r, ",");
  tu_format_ints(op, sizeof op, d->output_padding, r, ",");
  tu_format_ints(os, sizeof os, d->output_size, r, ",");
  const unsigned kind = (unsigned)d->padding, mode = (unsigned)d->padding_mode;
  fprintf(f,
          "    %s%dd in_channels=%lld out_channels=%lld groups=%lld kernel=(%s) stride=(%s) "
          "dilation=(%s)\n"
          "    padding=%s pad_begin=(%s) pad_end=(%s) padding_mode=%s bias=%d relu=%d "
          "output_padding=(%s) output_size=(%s) input=%s\n",
          d->transposed ? "ConvTranspose" : "Conv", d->spatial_dims, (long long)d->in_channels,
          (long long)d->out_channels, (long long)d->groups, k, s, dl, kind < 4 ? kinds[kind] : "?",
          pb, pe, mode < 4 ? modes[mode] : "?", d->has_bias,
          d->activation == CONVCL_ACTIVATION_RELU, op, os, in);
}

#endif
