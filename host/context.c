/* Contexts: device selection (auto, cpu, opencl, opencl:P:D) and the device list. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "opencl:P:D" strictly: two non-negative decimal integers, nothing else. */
static int parse_indexed(const char *s, int *platform, int *device) {
  char *end;
  if (strncmp(s, "opencl:", 7) != 0) return 0;
  s += 7;
  if (*s < '0' || *s > '9') return 0;
  long p = strtol(s, &end, 10);
  if (*end != ':' || p > 1000000) return 0;
  s = end + 1;
  if (*s < '0' || *s > '9') return 0;
  long d = strtol(s, &end, 10);
  if (*end != '\0' || d > 1000000) return 0;
  *platform = (int)p;
  *device = (int)d;
  return 1;
}

static convcl_status open_opencl(convcl_context *ctx, convcl_opencl_pick pick, int platform,
                                 int device) {
#ifdef CONVCL_HAVE_OPENCL
  return convcl_opencl_open(ctx, pick, platform, device);
#else
  (void)ctx, (void)pick, (void)platform, (void)device;
  return convcl_error(CONVCL_ERROR_INVALID_DEVICE,
                      "this convcl was built without OpenCL (no OpenCL headers or ICD loader at "
                      "configure time)");
#endif
}

static convcl_status open_device(convcl_context *ctx, const char *device) {
  int platform, index;
  if (strcmp(device, "auto") == 0) {
    convcl_status st = open_opencl(ctx, CONVCL_OPENCL_PICK_GPU_OR_ACCEL, 0, 0);
    if (st == CONVCL_OK) return st;
    snprintf(ctx->fallback_reason, sizeof ctx->fallback_reason, "%s", convcl_last_error());
    return convcl_cpu_open(ctx, 0);
  }
  if (strcmp(device, "cpu") == 0) return convcl_cpu_open(ctx, 0);
  if (strncmp(device, "cpu:", 4) == 0) {
    const int threads = convcl_cpu_parse_threads(device + 4);
    if (threads < 0)
      return convcl_error(CONVCL_ERROR_INVALID_DEVICE,
                          "device '%s': the CPU path's thread count must be a whole number "
                          "from 1 to %d",
                          device, CONVCL_CPU_MAX_THREADS);
    return convcl_cpu_open(ctx, threads);
  }
  if (strcmp(device, "opencl") == 0) return open_opencl(ctx, CONVCL_OPENCL_PICK_ANY, 0, 0);
  if (parse_indexed(device, &platform, &index))
    return open_opencl(ctx, CONVCL_OPENCL_PICK_INDEX, platform, index);
  return convcl_error(CONVCL_ERROR_INVALID_DEVICE,
                      "unknown device '%s': expected auto, cpu, cpu:T, opencl or opencl:P:D",
                      device);
}

convcl_context *convcl_context_alloc(void) {
  convcl_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a context");
    return NULL;
  }
  if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
    free(ctx);
    convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "pthread_mutex_init failed for a new context");
    return NULL;
  }
  const char *tune = getenv("CONVCL_TUNE");
  ctx->tune = tune && strcmp(tune, "1") == 0;
  return ctx;
}

convcl_status convcl_context_create(const char *device, convcl_context **ctx_out) {
  if (!ctx_out)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "the context output pointer is NULL");
  if (!device || strcmp(device, "auto") == 0) {
    const char *env = getenv("CONVCL_DEVICE");
    device = env && *env ? env : "auto";
  }
  convcl_context *ctx = convcl_context_alloc();
  if (!ctx) return CONVCL_ERROR_OUT_OF_MEMORY;
  convcl_status st = open_device(ctx, device);
  if (st != CONVCL_OK) {
    convcl_context_destroy(ctx);
    return st;
  }
  *ctx_out = ctx;
  convcl_error_clear();
  return CONVCL_OK;
}

void convcl_context_destroy(convcl_context *ctx) {
  if (!ctx) return;
  if (ctx->backend && ctx->backend->context_destroy) ctx->backend->context_destroy(ctx);
  free(ctx->build_log);
  pthread_mutex_destroy(&ctx->lock);
  free(ctx);
}

convcl_backend_kind convcl_context_backend(const convcl_context *ctx) {
  return ctx ? ctx->backend->kind : CONVCL_BACKEND_CPU;
}

convcl_status convcl_context_device(const convcl_context *ctx, convcl_device_info *info) {
  if (!ctx || !info)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_context_device: %s is NULL",
                        ctx ? "info" : "ctx");
  *info = ctx->device;
  return CONVCL_OK;
}

const char *convcl_context_fallback_reason(const convcl_context *ctx) {
  return ctx ? ctx->fallback_reason : "";
}

convcl_status convcl_context_set_tuning(convcl_context *ctx, int enable) {
  if (!ctx)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_context_set_tuning: ctx is NULL");
  ctx->tune = enable != 0;
  return CONVCL_OK;
}

const char *convcl_context_build_log(const convcl_context *ctx) {
  if (!ctx) return "";
  /* Another thread's failed build may be replacing the log: the lock makes this read of
   * the pointer see either the old log or the new one whole. The mutex is the context's
   * own guard, not part of what const promises. */
  pthread_mutex_t *lock = (pthread_mutex_t *)&ctx->lock;
  pthread_mutex_lock(lock);
  const char *log = ctx->build_log;
  pthread_mutex_unlock(lock);
  return log ? log : "";
}

void convcl_context_set_build_log(convcl_context *ctx, const char *log) {
  char *copy = log ? strdup(log) : NULL;
  pthread_mutex_lock(&ctx->lock);
  free(ctx->build_log);
  ctx->build_log = copy;
  pthread_mutex_unlock(&ctx->lock);
}

convcl_status convcl_devices_list(convcl_device_info *infos, int capacity, int *count) {
  if (!count) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the count pointer is NULL");
  if (capacity < 0 || (capacity > 0 && !infos))
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "infos must hold capacity (%d) entries and capacity must not be negative",
                        capacity);
  convcl_device_info cpu;
  memset(&cpu, 0, sizeof cpu);
  convcl_cpu_device_info(&cpu);
  if (capacity > 0) infos[0] = cpu;
  int total = 1;
#ifdef CONVCL_HAVE_OPENCL
  total += convcl_opencl_list(capacity > 1 ? infos + 1 : NULL, capacity > 1 ? capacity - 1 : 0);
#endif
  /* Mark what auto really picks (CONVCL_DEVICE included) by opening it; where that is
   * "cpu:T", the CPU's entry shows it. */
  convcl_context *ctx;
  if (convcl_context_create("auto", &ctx) == CONVCL_OK) {
    if (capacity > 0 && ctx->backend->kind == CONVCL_BACKEND_CPU) infos[0] = ctx->device;
    for (int i = 0; i < total && i < capacity; i++)
      infos[i].is_auto = strcmp(infos[i].id, ctx->device.id) == 0;
    convcl_context_destroy(ctx);
  }
  *count = total;
  convcl_error_clear();
  return CONVCL_OK;
}
