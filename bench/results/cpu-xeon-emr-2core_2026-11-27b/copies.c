/* One ResNet-style layer (batch 1, square kernel, no bias) on the CPU path with T
 * threads, run back to back for D seconds from wall-clock time START, so that copies
 * started apart overlap; prints the median time of one run in ms.
 * usage: copies START D T C K H W k stride pad
 * copies.sh runs it alone on each core, as two copies at once and on 2 threads. */
#include "convcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: copies START D T C K H W k stride pad\n");
    return 2;
  }
  const double start = atof(argv[1]), seconds = atof(argv[2]);
  const int threads = atoi(argv[3]);
  const int64_t c = atol(argv[4]), k = atol(argv[5]), h = atol(argv[6]), w = atol(argv[7]);
  const int64_t r = atol(argv[8]), stride = atol(argv[9]), pad = atol(argv[10]);
  const int64_t kernel[2] = {r, r};
  convcl_conv_desc d;
  convcl_conv_desc_init(&d, 2, 0, c, k, kernel);
  for (int i = 0; i < 2; i++) {
    d.stride[i] = stride;
    d.pad_begin[i] = d.pad_end[i] = pad;
  }
  d.has_bias = 0;
  const convcl_shape in_shape = {4, {1, c, h, w}};
  float *in = malloc((size_t)(c * h * w) * sizeof(float));
  float *weights = malloc((size_t)(k * c * r * r) * sizeof(float));
  float *out = malloc((size_t)(k * h * w) * sizeof(float));
  const int cap = 100000;
  double *times = malloc((size_t)cap * sizeof(double));
  if (!in || !weights || !out || !times) return 1;
  for (int64_t i = 0; i < c * h * w; i++) in[i] = (float)(i * 7919 % 1000) / 1000.0f - 0.5f;
  for (int64_t i = 0; i < k * c * r * r; i++)
    weights[i] = (float)(i * 104729 % 1000) / 1000.0f - 0.5f;
  char device[16];
  snprintf(device, sizeof device, "cpu:%d", threads);
  convcl_context *ctx;
  convcl_plan *plan;
  if (convcl_context_create(device, &ctx) != CONVCL_OK ||
      convcl_plan_create(ctx, &d, &in_shape, weights, NULL, CONVCL_ALGO_AUTO, &plan) != CONVCL_OK) {
    fprintf(stderr, "copies: %s\n", convcl_last_error());
    return 1;
  }
  for (int i = 0; i < 3; i++) convcl_plan_run(plan, in, out);
  while (now() < start) continue;
  int n = 0;
  for (const double end = start + seconds; now() < end && n < cap; n++) {
    const double t0 = now();
    convcl_plan_run(plan, in, out);
    times[n] = now() - t0;
  }
  qsort(times, (size_t)n, sizeof *times, by_value);
  printf("%.4f\n", times[n / 2] * 1e3);
  convcl_plan_destroy(plan);
  convcl_context_destroy(ctx);
  return 0;
}
