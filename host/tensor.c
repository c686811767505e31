/* Tensors: a context's memory for layer inputs and outputs, so chained layers never copy
 * through the host. The backend owns the memory (host/cpu/backend.c, host/opencl/io.c). */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long host_transfers;

void convcl_count_host_transfer(void) { atomic_fetch_add(&host_transfers, 1); }

long convcl_host_transfers(void) { return atomic_load(&host_transfers); }

/* "2x3x4" into buf. */
static const char *shape_text(const convcl_shape *s, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < s->ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, i ? "x%lld" : "%lld", (long long)s->dims[i]);
  return buf;
}

static int same_shape(const convcl_shape *a, const convcl_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* The element count of a valid tensor shape, or an error naming the bad dimension. */
static convcl_status shape_elems(const convcl_shape *shape, int64_t *elems) {
  if (shape->ndim < 1 || shape->ndim > CONVCL_MAX_DIMS)
    return convcl_error(CONVCL_ERROR_INVALID_SHAPE, "a tensor has 1 to %d dimensions, not %d",
                        CONVCL_MAX_DIMS, shape->ndim);
  int64_t n = 1;
  for (int i = 0; i < shape->ndim; i++) {
    const int64_t d = shape->dims[i];
    if (d <= 0)
      return convcl_error(CONVCL_ERROR_INVALID_SHAPE,
                          "tensor dimension %d is %lld: every dimension must be positive", i,
                          (long long)d);
    if (n > INT64_MAX / (int64_t)sizeof(float) / d)
      return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                          "a tensor's byte size overflows at dimension %d (%lld)", i, (long long)d);
    n *= d;
  }
  *elems = n;
  return CONVCL_OK;
}

convcl_status convcl_tensor_init(convcl_context *ctx, const convcl_shape *shape,
                                 convcl_tensor **tensor_out) {
  if (!ctx || !shape || !tensor_out)
    return convcl_error(CONVCL_ERROR_NULL_POINTER,
                        "a tensor needs a context, a shape and an output pointer");
  int64_t elems = 0;
  convcl_status st = shape_elems(shape, &elems);
  if (st != CONVCL_OK) return st;
  if ((uint64_t)elems * sizeof(float) > SIZE_MAX)
    return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW,
                        "a tensor of %lld floats does not fit in memory", (long long)elems);
  convcl_tensor *t = calloc(1, sizeof *t);
  if (!t) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a tensor");
  t->ctx = ctx;
  t->shape = *shape;
  t->elems = elems;
  *tensor_out = t;
  return CONVCL_OK;
}

convcl_status convcl_tensor_create(convcl_context *ctx, const convcl_shape *shape,
                                   convcl_tensor **tensor_out) {
  convcl_tensor *t;
  convcl_status st = convcl_tensor_init(ctx, shape, &t);
  if (st != CONVCL_OK) return st;
  st = ctx->backend->tensor_alloc(t);
  if (st != CONVCL_OK) {
    free(t);
    return st;
  }
  *tensor_out = t;
  convcl_error_clear();
  return CONVCL_OK;
}

void convcl_tensor_destroy(convcl_tensor *tensor) {
  if (!tensor) return;
  tensor->ctx->backend->tensor_free(tensor);
  free(tensor);
}

void convcl_tensor_shape(const convcl_tensor *tensor, convcl_shape *shape) {
  if (tensor && shape) *shape = tensor->shape;
}

convcl_status convcl_tensor_upload(convcl_tensor *tensor, const float *src) {
  if (!tensor || !src)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_tensor_upload: %s is NULL",
                        tensor ? "src" : "tensor");
  convcl_count_host_transfer();
  const convcl_status st = tensor->ctx->backend->upload(tensor, src);
  if (st == CONVCL_OK) convcl_error_clear();
  return st;
}

convcl_status convcl_tensor_download(const convcl_tensor *tensor, float *dst) {
  if (!tensor || !dst)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_tensor_download: %s is NULL",
                        tensor ? "dst" : "tensor");
  convcl_count_host_transfer();
  const convcl_status st = tensor->ctx->backend->download(tensor, dst);
  if (st == CONVCL_OK) convcl_error_clear();
  return st;
}

convcl_status convcl_context_finish(convcl_context *ctx) {
  if (!ctx) return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_context_finish: ctx is NULL");
  const convcl_status st = ctx->backend->finish(ctx);
  if (st == CONVCL_OK) convcl_error_clear();
  return st;
}

convcl_status convcl_tensor_check(const convcl_tensor *t, const convcl_context *ctx,
                                  const convcl_shape *shape, const char *role) {
  char want[96], got[96];
  if (!t) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the %s tensor is NULL", role);
  if (t->ctx != ctx)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "the %s tensor belongs to another context (on %s) than the plan (on %s)",
                        role, t->ctx->device.id, ctx->device.id);
  if (!same_shape(&t->shape, shape))
    return convcl_error(CONVCL_ERROR_INVALID_SHAPE, "the %s tensor is %s, the plan's %s is %s",
                        role, shape_text(&t->shape, got, sizeof got), role,
                        shape_text(shape, want, sizeof want));
  return CONVCL_OK;
}
