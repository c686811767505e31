/* The CPU backend: native C, no OpenCL runtime needed; a thread pool per context. */
#include "cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In order of preference: AUTO takes the first applicable one. The Winograd and gemm
 * entries ahead of implicit_gemm apply only where they win (host/cpu/winograd.c,
 * host/cpu/gemm.c). */
static const convcl_solver *const cpu_solvers[] = {&convcl_cpu_depthwise_preferred,
                                                   &convcl_cpu_winograd_4x4_preferred,
                                                   &convcl_cpu_winograd_2x2_preferred,
                                                   &convcl_cpu_gemm_preferred,
                                                   &convcl_cpu_implicit_gemm,
                                                   &convcl_cpu_gemm,
                                                   &convcl_cpu_depthwise,
                                                   &convcl_cpu_transposed_gemm,
                                                   &convcl_cpu_winograd_4x4,
                                                   &convcl_cpu_winograd_2x2,
                                                   &convcl_cpu_direct};

static void cpu_context_destroy(convcl_context *ctx) { convcl_pool_destroy(ctx->impl); }

/* Tensors are host memory, aligned for the widest vector loads; runs finish before they
 * return, so there is never anything to wait for. */
enum { TENSOR_ALIGN = 64 };

static convcl_status tensor_alloc(convcl_tensor *t) {
  const size_t bytes = (size_t)t->elems * sizeof(float);
  if (bytes > SIZE_MAX - TENSOR_ALIGN)
    return convcl_error(CONVCL_ERROR_SIZE_OVERFLOW, "a tensor of %zu bytes is too large", bytes);
  t->host = aligned_alloc(TENSOR_ALIGN, (bytes + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN);
  if (!t->host)
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory for a tensor of %zu bytes",
                        bytes);
  return CONVCL_OK;
}

static void tensor_free(convcl_tensor *t) { free(t->host); }

static convcl_status upload(convcl_tensor *t, const float *src) {
  memcpy(t->host, src, (size_t)t->elems * sizeof(float));
  return CONVCL_OK;
}

static convcl_status download(const convcl_tensor *t, float *dst) {
  memcpy(dst, t->host, (size_t)t->elems * sizeof(float));
  return CONVCL_OK;
}

static convcl_status finish(convcl_context *ctx) {
  (void)ctx;
  return CONVCL_OK;
}

static const convcl_backend cpu_backend = {
    .kind = CONVCL_BACKEND_CPU,
    .solvers = cpu_solvers,
    .solver_count = sizeof cpu_solvers / sizeof cpu_solvers[0],
    .context_destroy = cpu_context_destroy,
    .tensor_alloc = tensor_alloc,
    .tensor_free = tensor_free,
    .upload = upload,
    .download = download,
    .finish = finish,
};

convcl_pool *convcl_cpu_pool(const convcl_context *ctx) { return ctx->impl; }

int convcl_cpu_parse_threads(const char *s) {
  if (*s < '0' || *s > '9') return -1;
  char *end;
  long n = strtol(s, &end, 10);
  return *end == '\0' && n >= 1 && n <= CONVCL_CPU_MAX_THREADS ? (int)n : -1;
}

/* CONVCL_NUM_THREADS's count: 0 where it is unset or empty, -1 where it is not a
 * thread count. */
static int env_threads(void) {
  const char *env = getenv("CONVCL_NUM_THREADS");
  return env && *env ? convcl_cpu_parse_threads(env) : 0;
}

/* CONVCL_NUM_THREADS's count where it is valid, else the online processors. */
static int thread_count(void) {
  const int env = env_threads();
  if (env > 0) return env;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 && n <= CONVCL_CPU_MAX_THREADS ? (int)n : 1;
}

/* The processor's marketing name from /proc/cpuinfo where there is one. */
static void cpu_name(char *buf, size_t cap) {
  convcl_strlcpy(buf, "CPU", cap);
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    const char *colon = strchr(line, ':');
    if (!colon) continue;
    colon++;
    while (*colon == ' ' || *colon == '\t') colon++;
    convcl_strlcpy(buf, colon, cap);
    buf[strcspn(buf, "\n")] = '\0';
    break;
  }
  fclose(f);
}

void convcl_cpu_device_info(convcl_device_info *info) {
  memset(info, 0, sizeof *info);
  convcl_strlcpy(info->id, "cpu", sizeof info->id);
  convcl_strlcpy(info->type, "cpu", sizeof info->type);
  cpu_name(info->name, sizeof info->name);
  info->compute_units = thread_count();
  /* The microkernels' instruction set stands where OpenCL devices show their driver. */
  snprintf(info->driver, sizeof info->driver, "convcl %s, %s", CONVCL_VERSION,
           convcl_cpu_isa_get()->name);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) info->global_mem_bytes = (uint64_t)pages * (uint64_t)page;
  info->max_alloc_bytes = info->global_mem_bytes;
}

convcl_status convcl_cpu_open(convcl_context *ctx, int threads) {
  convcl_pool *pool;
  convcl_device_info info;
  convcl_cpu_device_info(&info);
  if (threads > 0) {
    snprintf(info.id, sizeof info.id, "cpu:%d", threads);
    info.compute_units = threads;
  } else if (env_threads() < 0) {
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "CONVCL_NUM_THREADS is '%s': expected a whole number from 1 to %d",
                        getenv("CONVCL_NUM_THREADS"), CONVCL_CPU_MAX_THREADS);
  }
  convcl_status st = convcl_pool_create(info.compute_units, &pool);
  if (st != CONVCL_OK) return st;
  info.compute_units = convcl_pool_threads(pool);
  ctx->device = info;
  ctx->backend = &cpu_backend;
  ctx->impl = pool;
  return CONVCL_OK;
}
