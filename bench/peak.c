/* Peak FP32 throughput per device, measured rather than looked up so that % of peak
 * means the same on any machine: independent multiply-add chains, enough of them to
 * hide the FMA latency on every pipe, on every thread (CPU) or work-item (OpenCL). */
#include "peak.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CONVCL_HAVE_OPENCL
#include <CL/cl.h>
#endif

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each launch or round runs about this long once calibrated; three of them per kernel
 * keep a device within the 0.2-0.5 s the bench allows for its peak. */
#define PEAK_ROUND_S 0.06
#define PEAK_ROUNDS 3

/* How many times longer the next calibration try should run, from one that took t
 * seconds: toward a full round, but at most 64x a try too short to time reliably. */
static double scale_to_round(double t) { return t > PEAK_ROUND_S / 64 ? PEAK_ROUND_S / t : 64; }

/* ---- CPU ------------------------------------------------------------------------ */

/* 12 chains: two FMA pipes of latency 4 need 8 in flight; 12 leave slack yet, with the
 * two constants, fit AVX2's 16 vector registers without spilling. */
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CHAIN_COUNT 12
/* m < 1 and a small c keep every chain bounded (it converges to c / (1 - m)), so no
 * denormal or infinity slows the loop down. */
#define CHAIN_M 0.9999999f
#define CHAIN_C 1e-7f

typedef float (*fma_loop)(int64_t iters, float seed);

typedef struct cpu_isa {
  const char *name;
  fma_loop loop;
  int lanes; /* floats per chain element */
} cpu_isa;

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

/* ISO C mode turns off FP contraction, so the FMAs are written as intrinsics; the
 * target attributes keep the rest of the program free of -march flags. */
__attribute__((target("avx512f"))) static float fma_loop_avx512(int64_t iters, float seed) {
  const __m512 m = _mm512_set1_ps(CHAIN_M), c = _mm512_set1_ps(CHAIN_C);
#define DECLARE(i) __m512 a##i = _mm512_set1_ps(seed + (float)(i));
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define ADD(i) s = _mm512_add_ps(s, a##i);
  CHAINS(DECLARE)
  for (int64_t i = 0; i < iters; i++) {
    CHAINS(STEP)
  }
  __m512 s = _mm512_setzero_ps();
  CHAINS(ADD)
  float lanes[16], sum = 0;
  _mm512_storeu_ps(lanes, s);
  for (int i = 0; i < 16; i++) sum += lanes[i];
  return sum;
#undef DECLARE
#undef STEP
#undef ADD
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(int64_t iters, float seed) {
  const __m256 m = _mm256_set1_ps(CHAIN_M), c = _mm256_set1_ps(CHAIN_C);
#define DECLARE(i) __m256 a##i = _mm256_set1_ps(seed + (float)(i));
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
#define ADD(i) s = _mm256_add_ps(s, a##i);
  CHAINS(DECLARE)
  for (int64_t i = 0; i < iters; i++) {
    CHAINS(STEP)
  }
  __m256 s = _mm256_setzero_ps();
  CHAINS(ADD)
  float lanes[8], sum = 0;
  _mm256_storeu_ps(lanes, s);
  for (int i = 0; i < 8; i++) sum += lanes[i];
  return sum;
#undef DECLARE
#undef STEP
#undef ADD
}
#endif

/* Whatever the compiler makes of plain C: a multiply and an add, 2 FLOPs, per step. */
static float fma_loop_scalar(int64_t iters, float seed) {
#define DECLARE(i) float a##i = seed + (float)(i);
#define STEP(i) a##i = a##i * CHAIN_M + CHAIN_C;
#define ADD(i) s += a##i;
  CHAINS(DECLARE)
  for (int64_t i = 0; i < iters; i++) {
    CHAINS(STEP)
  }
  float s = 0;
  CHAINS(ADD)
  return s;
#undef DECLARE
#undef STEP
#undef ADD
}

static cpu_isa cpu_pick(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return (cpu_isa){"AVX-512 FMA", fma_loop_avx512, 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return (cpu_isa){"AVX2 FMA", fma_loop_avx2, 8};
#endif
  return (cpu_isa){"scalar C multiply-add", fma_loop_scalar, 1};
}

typedef struct cpu_round {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int go;
  fma_loop loop;
  int64_t iters;
} cpu_round;

typedef struct cpu_worker {
  cpu_round *round;
  float result; /* stored where the compiler cannot prove it unread, so the loop stays */
} cpu_worker;

static void *cpu_worker_main(void *arg) {
  cpu_worker *w = arg;
  cpu_round *r = w->round;
  pthread_mutex_lock(&r->lock);
  while (!r->go) pthread_cond_wait(&r->cond, &r->lock);
  pthread_mutex_unlock(&r->lock);
  w->result = r->loop(r->iters, 1.0f);
  return NULL;
}

/* One round on threads threads started together; its wall time in *seconds. */
static int cpu_run_round(fma_loop loop, int threads, int64_t iters, double *seconds, char *err,
                         size_t cap) {
  cpu_round r = {.go = 0, .loop = loop, .iters = iters};
  pthread_t *ids = calloc((size_t)threads, sizeof *ids);
  cpu_worker *workers = calloc((size_t)threads, sizeof *workers);
  int started = 0, status = 0;
  if (!ids || !workers) {
    free(ids);
    free(workers);
    snprintf(err, cap, "out of memory");
    return -1;
  }
  pthread_mutex_init(&r.lock, NULL);
  pthread_cond_init(&r.cond, NULL);
  for (; started < threads; started++) {
    workers[started].round = &r;
    if (pthread_create(&ids[started], NULL, cpu_worker_main, &workers[started]) != 0) {
      snprintf(err, cap, "cannot start thread %d of %d", started + 1, threads);
      status = -1;
      break;
    }
  }
  /* Threads are created before the clock starts: only the loops are timed. */
  pthread_mutex_lock(&r.lock);
  r.go = 1;
  double t0 = now_seconds();
  pthread_cond_broadcast(&r.cond);
  pthread_mutex_unlock(&r.lock);
  for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
  *seconds = now_seconds() - t0;
  pthread_cond_destroy(&r.cond);
  pthread_mutex_destroy(&r.lock);
  free(ids);
  free(workers);
  return status;
}

static int peak_cpu(int threads, bench_peak *peak, char *err, size_t cap) {
  cpu_isa isa = cpu_pick();
  int64_t iters = 1 << 12;
  double t = 0, best = 0;
  if (threads < 1) threads = 1;
  /* Grow the round until it is long enough to time, then size it to PEAK_ROUND_S. */
  for (;;) {
    if (cpu_run_round(isa.loop, threads, iters, &t, err, cap) != 0) return -1;
    if (t >= PEAK_ROUND_S / 4 || iters > ((int64_t)1 << 40)) break;
    iters = (int64_t)((double)iters * scale_to_round(t));
  }
  iters = (int64_t)((double)iters * PEAK_ROUND_S / t) + 1;
  for (int r = 0; r < PEAK_ROUNDS; r++) {
    if (cpu_run_round(isa.loop, threads, iters, &t, err, cap) != 0) return -1;
    if (best == 0 || t < best) best = t;
  }
  double flops = 2.0 * isa.lanes * CHAIN_COUNT * (double)iters * threads;
  peak->gflops = flops / best * 1e-9;
  snprintf(peak->method, sizeof peak->method,
           "%s loop, %d independent chains on each of %d thread%s, best of %d", isa.name,
           CHAIN_COUNT, threads, threads == 1 ? "" : "s", PEAK_ROUNDS);
  return 0;
}

/* ---- OpenCL --------------------------------------------------------------------- */

#ifdef CONVCL_HAVE_OPENCL

/* The same chains at three vector widths. A GPU splits vectors into scalars and wants
 * many independent chains in few registers (float4 x 16); a CPU runtime such as PoCL
 * maps a vector onto its SIMD registers and needs it as wide as they are (float8 for
 * AVX2, float16 for AVX-512), with 12 chains to cover two FMA pipes. The fastest
 * counts. The chains are named variables, not an array: PoCL keeps an array in
 * memory and runs 2.4x slower. MULADD is fma where the device has it in hardware
 * (PoCL's mad is an unfused multiply and add, half the rate), else mad. */
static const char peak_source[] =
    "#define CH12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)\n"
    "#define CH16(X) CH12(X) X(12) X(13) X(14) X(15)\n"
    "#define DECLARE(i) T a##i = x + (T)(i);\n"
    "#define STEP(i) a##i = MULADD(a##i, mv, cv);\n"
    "#define ADD(i) s += a##i;\n"
    "#define PEAK(NAME, W, CHAINS) \\\n"
    "__kernel void NAME(__global float *out, float m, float c, int iters) { \\\n"
    "  typedef float##W T; \\\n"
    "  const T x = (T)((float)get_global_id(0) * 1e-9f), mv = (T)(m), cv = (T)(c); \\\n"
    "  CHAINS(DECLARE) \\\n"
    "  for (int i = 0; i < iters; i++) { CHAINS(STEP) } \\\n"
    "  T s = (T)(0.0f); \\\n"
    "  CHAINS(ADD) \\\n"
    "  vstore##W(s, get_global_id(0), out); \\\n"
    "}\n"
    "PEAK(peak4, 4, CH16)\n"
    "PEAK(peak8, 8, CH12)\n"
    "PEAK(peak16, 16, CH12)\n";

static const struct {
  const char *name;
  int width, chains;
} peak_kernels[] = {{"peak4", 4, 16}, {"peak8", 8, 12}, {"peak16", 16, 12}};

#define PEAK_KERNEL_COUNT (int)(sizeof peak_kernels / sizeof peak_kernels[0])

typedef struct cl_peak {
  cl_context context;
  cl_command_queue queue;
  cl_program program;
  cl_mem out;
  size_t global;
  int fma; /* the device has hardware FMA: the kernels use fma(), else mad() */
} cl_peak;

static int cl_fail(char *err, size_t cap, const char *call, cl_int code) {
  snprintf(err, cap, "%s failed (%d)", call, (int)code);
  return -1;
}

/* Platform p, device d in the order convcl numbers them (clGetPlatformIDs, then
 * clGetDeviceIDs with CL_DEVICE_TYPE_ALL). */
static int cl_find(int p, int d, cl_platform_id *platform, cl_device_id *device, char *err,
                   size_t cap) {
  cl_uint np = 0, nd = 0;
  cl_int e = clGetPlatformIDs(0, NULL, &np);
  if (e != CL_SUCCESS || (cl_uint)p >= np) {
    snprintf(err, cap, "no OpenCL platform %d", p);
    return -1;
  }
  cl_platform_id *platforms = calloc(np, sizeof *platforms);
  if (!platforms) return snprintf(err, cap, "out of memory"), -1;
  e = clGetPlatformIDs(np, platforms, NULL);
  *platform = platforms[p];
  free(platforms);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clGetPlatformIDs", e);
  e = clGetDeviceIDs(*platform, CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
  if (e != CL_SUCCESS || (cl_uint)d >= nd) {
    snprintf(err, cap, "no OpenCL device %d on platform %d", d, p);
    return -1;
  }
  cl_device_id *devices = calloc(nd, sizeof *devices);
  if (!devices) return snprintf(err, cap, "out of memory"), -1;
  e = clGetDeviceIDs(*platform, CL_DEVICE_TYPE_ALL, nd, devices, NULL);
  *device = devices[d];
  free(devices);
  return e == CL_SUCCESS ? 0 : cl_fail(err, cap, "clGetDeviceIDs", e);
}

static int cl_setup(cl_platform_id platform, cl_device_id device, cl_peak *s, char *err,
                    size_t cap) {
  cl_int e;
  cl_uint units = 1;
  clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
  /* 2048 work-items per compute unit fill a GPU's schedulers; a CPU runtime runs
   * them as loops, where the count only has to keep every core busy. */
  s->global = (size_t)(units > 0 ? units : 1) * 2048;
  const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
  s->context = clCreateContext(props, 1, &device, NULL, NULL, &e);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clCreateContext", e);
  s->queue = clCreateCommandQueue(s->context, device, 0, &e);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clCreateCommandQueue", e);
  s->out = clCreateBuffer(s->context, CL_MEM_WRITE_ONLY, s->global * 16 * sizeof(float), NULL, &e);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clCreateBuffer", e);
  const char *src = peak_source;
  s->program = clCreateProgramWithSource(s->context, 1, &src, NULL, &e);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clCreateProgramWithSource", e);
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  s->fma = (fp & CL_FP_FMA) != 0;
  e = clBuildProgram(s->program, 1, &device, s->fma ? "-DMULADD=fma" : "-DMULADD=mad", NULL, NULL);
  if (e != CL_SUCCESS) {
    char log[4096] = "";
    size_t size = 0;
    clGetProgramBuildInfo(s->program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    if (size > 0 && size <= sizeof log)
      clGetProgramBuildInfo(s->program, device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
    log[sizeof log - 1] = '\0';
    const char *line = strstr(log, "error");
    line = line ? line : log;
    snprintf(err, cap, "building the peak kernel failed (%d): %.*s", (int)e,
             (int)strcspn(line, "\n"), line);
    return -1;
  }
  return 0;
}

/* One launch of kernel with iters iterations; its wall time, to clFinish, in *seconds. */
static int cl_launch(cl_peak *s, cl_kernel kernel, cl_int iters, double *seconds, char *err,
                     size_t cap) {
  cl_int e = clSetKernelArg(kernel, 3, sizeof iters, &iters);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clSetKernelArg", e);
  double t0 = now_seconds();
  e = clEnqueueNDRangeKernel(s->queue, kernel, 1, NULL, &s->global, NULL, 0, NULL, NULL);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clEnqueueNDRangeKernel", e);
  e = clFinish(s->queue);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clFinish", e);
  *seconds = now_seconds() - t0;
  return 0;
}

static double cl_kernel_flops(const cl_peak *s, int k, cl_int iters) {
  return 2.0 * peak_kernels[k].width * peak_kernels[k].chains * (double)iters * (double)s->global;
}

/* Compiles kernel k, launches it once untimed (PoCL builds its work-group function on
 * the first launch), then grows the launch until it is long enough to time: *iters is
 * then the count for a PEAK_ROUND_S launch, *gflops a first estimate. */
static int cl_calibrate(cl_peak *s, int k, cl_kernel *kernel_out, cl_int *iters_out, double *gflops,
                        char *err, size_t cap) {
  cl_int e;
  cl_kernel kernel = clCreateKernel(s->program, peak_kernels[k].name, &e);
  if (e != CL_SUCCESS) return cl_fail(err, cap, "clCreateKernel", e);
  const cl_float m = CHAIN_M, c = CHAIN_C;
  if ((e = clSetKernelArg(kernel, 0, sizeof s->out, &s->out)) != CL_SUCCESS ||
      (e = clSetKernelArg(kernel, 1, sizeof m, &m)) != CL_SUCCESS ||
      (e = clSetKernelArg(kernel, 2, sizeof c, &c)) != CL_SUCCESS) {
    clReleaseKernel(kernel);
    return cl_fail(err, cap, "clSetKernelArg", e);
  }
  double iters = 16, t = 0;
  if (cl_launch(s, kernel, 1, &t, err, cap) != 0) goto fail;
  for (;;) {
    if (cl_launch(s, kernel, (cl_int)iters, &t, err, cap) != 0) goto fail;
    if (t >= PEAK_ROUND_S / 4 || iters * scale_to_round(t) > 1 << 26) break;
    iters *= scale_to_round(t);
  }
  *gflops = cl_kernel_flops(s, k, (cl_int)iters) / t * 1e-9;
  iters = iters * PEAK_ROUND_S / t + 1;
  *iters_out = iters > 1 << 26 ? 1 << 26 : (cl_int)iters;
  *kernel_out = kernel;
  return 0;
fail:
  clReleaseKernel(kernel);
  return -1;
}

/* Every width is calibrated; only the fastest gets the PEAK_ROUNDS full launches, which
 * keeps a device near the time budget. */
static int peak_opencl(int p, int d, bench_peak *peak, char *err, size_t cap) {
  cl_platform_id platform;
  cl_device_id device;
  cl_peak s = {0};
  cl_kernel kernel = NULL;
  cl_int iters = 0;
  int status = -1, best = -1;
  double best_gflops = 0, t = 0, best_t = 0;
  if (cl_find(p, d, &platform, &device, err, cap) != 0) return -1;
  if (cl_setup(platform, device, &s, err, cap) != 0) goto cleanup;
  for (int k = 0; k < PEAK_KERNEL_COUNT; k++) {
    cl_kernel candidate;
    cl_int candidate_iters;
    double gflops;
    if (cl_calibrate(&s, k, &candidate, &candidate_iters, &gflops, err, cap) != 0) goto cleanup;
    if (best >= 0 && gflops <= best_gflops) {
      clReleaseKernel(candidate);
      continue;
    }
    if (kernel) clReleaseKernel(kernel);
    kernel = candidate;
    iters = candidate_iters;
    best = k;
    best_gflops = gflops;
  }
  for (int r = 0; r < PEAK_ROUNDS; r++) {
    if (cl_launch(&s, kernel, iters, &t, err, cap) != 0) goto cleanup;
    if (r == 0 || t < best_t) best_t = t;
  }
  peak->gflops = cl_kernel_flops(&s, best, iters) / best_t * 1e-9;
  snprintf(peak->method, sizeof peak->method,
           "OpenCL %s chains over %zu work-items, fastest of float4x16/float8x12/float16x12 "
           "(float%d won), best of %d",
           s.fma ? "fma" : "mad", s.global, peak_kernels[best].width, PEAK_ROUNDS);
  status = 0;
cleanup:
  if (kernel) clReleaseKernel(kernel);
  if (s.program) clReleaseProgram(s.program);
  if (s.out) clReleaseMemObject(s.out);
  if (s.queue) clReleaseCommandQueue(s.queue);
  if (s.context) clReleaseContext(s.context);
  return status;
}
#endif

int peak_measure(const char *device, int threads, bench_peak *peak, char *err, size_t cap) {
  memset(peak, 0, sizeof *peak);
  if (strcmp(device, "cpu") == 0 || strncmp(device, "cpu:", 4) == 0)
    return peak_cpu(threads, peak, err, cap);
  int p, d;
  char end;
  if (sscanf(device, "opencl:%d:%d%c", &p, &d, &end) != 2 || p < 0 || d < 0) {
    snprintf(err, cap, "cannot measure the peak of device '%s'", device);
    return -1;
  }
#ifdef CONVCL_HAVE_OPENCL
  return peak_opencl(p, d, peak, err, cap);
#else
  snprintf(err, cap, "this convcl-bench was built without OpenCL");
  return -1;
#endif
}
