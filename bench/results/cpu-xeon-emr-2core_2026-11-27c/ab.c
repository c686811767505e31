/* Paired timing of one ResNet-style layer (batch 1, square kernel, no bias) on the CPU
 * path: two libconvcl.so builds, or one build on two thread counts, loaded side by
 * side and run in turns, BLOCK timed runs each after one untimed run, ROUNDS times.
 * Both sides see the same state of a noisy machine; prints each side's median time of
 * one run and the median, 25th and 75th percentiles of the per-round ratio A/B.
 *   usage: ab LIB_A LIB_B THREADS_A THREADS_B C K H W k stride pad [algo | algo_a/algo_b]
 *   env: ROUNDS (default 100), BLOCK (default 3), GAP_MS (default 0), CONV_GROUPS (default 1)
 * GAP_MS: a busy wait before each side's turn, so the other side's pool threads, which
 * spin 1 ms after their last run, are asleep and leave the cores to this side; 2 or more
 * where both sides run several threads.
 * Build: cc -O2 -I include ab.c -ldl -o ab */
#include "convcl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct side {
  void (*desc_init)(convcl_conv_desc *, int, int, int64_t, int64_t, const int64_t *);
  convcl_status (*context_create)(const char *, convcl_context **);
  convcl_status (*plan_create)(convcl_context *, const convcl_conv_desc *, const convcl_shape *,
                               const float *, const float *, convcl_algo, convcl_plan **);
  convcl_status (*plan_run)(convcl_plan *, const float *, float *);
  convcl_status (*algo_from_name)(const char *, convcl_algo *);
  convcl_plan *plan;
} side;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Two paths load two copies of the library (copy one build to compare it with itself);
 * one path twice gives two contexts of one library. */
static int open_side(side *s, const char *path, int threads, const int64_t *v, const char *algo,
                     const float *weights) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "ab: %s\n", dlerror());
    return 1;
  }
  *(void **)&s->desc_init = dlsym(h, "convcl_conv_desc_init");
  *(void **)&s->context_create = dlsym(h, "convcl_context_create");
  *(void **)&s->plan_create = dlsym(h, "convcl_plan_create");
  *(void **)&s->plan_run = dlsym(h, "convcl_plan_run");
  *(void **)&s->algo_from_name = dlsym(h, "convcl_algo_from_name");
  const int64_t kernel[2] = {v[4], v[4]};
  convcl_conv_desc d;
  s->desc_init(&d, 2, 0, v[0], v[1], kernel);
  d.groups = v[7];
  for (int i = 0; i < 2; i++) {
    d.stride[i] = v[5];
    d.pad_begin[i] = d.pad_end[i] = v[6];
  }
  d.has_bias = 0;
  const convcl_shape shape = {4, {1, v[0], v[2], v[3]}};
  char device[16];
  snprintf(device, sizeof device, "cpu:%d", threads);
  convcl_context *ctx;
  convcl_algo a;
  if (s->algo_from_name(algo, &a) != CONVCL_OK || s->context_create(device, &ctx) != CONVCL_OK ||
      s->plan_create(ctx, &d, &shape, weights, NULL, a, &s->plan) != CONVCL_OK) {
    fprintf(stderr, "ab: cannot plan the layer with %s on %s\n", path, device);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 12 && argc != 13) {
    fprintf(stderr,
            "usage: ab LIB_A LIB_B THREADS_A THREADS_B C K H W k stride pad [algo | a/b]\n");
    return 2;
  }
  /* C K H W k stride pad, then the groups. */
  int64_t v[8];
  for (int i = 0; i < 7; i++) v[i] = atol(argv[5 + i]);
  v[7] = getenv("CONV_GROUPS") ? atol(getenv("CONV_GROUPS")) : 1;
  /* One algorithm for both sides, or side A's and side B's around a slash. */
  char algo_a[64] = "auto", *algo_b = algo_a;
  if (argc == 13) {
    snprintf(algo_a, sizeof algo_a, "%s", argv[12]);
    char *slash = strchr(algo_a, '/');
    if (slash) {
      *slash = '\0';
      algo_b = slash + 1;
    }
  }
  const char *algo[2] = {algo_a, algo_b};
  const int64_t oh = (v[2] + 2 * v[6] - v[4]) / v[5] + 1, ow = (v[3] + 2 * v[6] - v[4]) / v[5] + 1;
  const size_t in_n = (size_t)(v[0] * v[2] * v[3]);
  const size_t w_n = (size_t)(v[1] * v[0] / v[7] * v[4] * v[4]);
  const int rounds = getenv("ROUNDS") ? atoi(getenv("ROUNDS")) : 100;
  const int block = getenv("BLOCK") ? atoi(getenv("BLOCK")) : 3;
  const double gap = getenv("GAP_MS") ? atof(getenv("GAP_MS")) * 1e-3 : 0.0;
  float *in = malloc(in_n * sizeof(float)), *weights = malloc(w_n * sizeof(float));
  float *out = malloc((size_t)(v[1] * oh * ow) * sizeof(float));
  double *t[2] = {malloc((size_t)rounds * sizeof(double)), malloc((size_t)rounds * sizeof(double))};
  double *ratio = malloc((size_t)rounds * sizeof(double));
  if (!in || !weights || !out || !t[0] || !t[1] || !ratio || rounds < 1 || block < 1) return 1;
  for (size_t i = 0; i < in_n; i++) in[i] = (float)(i * 7919 % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < w_n; i++) weights[i] = (float)(i * 104729 % 1000) / 1000.0f - 0.5f;
  side s[2];
  for (int i = 0; i < 2; i++)
    if (open_side(&s[i], argv[1 + i], atoi(argv[3 + i]), v, algo[i], weights)) return 1;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < 2; i++) {
      for (const double until = now() + gap; now() < until;) {
      }
      s[i].plan_run(s[i].plan, in, out);
      const double t0 = now();
      for (int b = 0; b < block; b++) s[i].plan_run(s[i].plan, in, out);
      t[i][r] = (now() - t0) / block;
    }
    ratio[r] = t[0][r] / t[1][r];
  }
  for (int i = 0; i < 2; i++) qsort(t[i], (size_t)rounds, sizeof(double), by_value);
  qsort(ratio, (size_t)rounds, sizeof(double), by_value);
  printf("A %.3f ms  B %.3f ms  A/B %.3f [q25 %.3f q75 %.3f]\n", t[0][rounds / 2] * 1e3,
         t[1][rounds / 2] * 1e3, ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4]);
  return 0;
}
