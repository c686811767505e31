/* A device's FP32 peak as a short FMA microbenchmark measures it, the yardstick for
 * the bench's % of peak. */
#ifndef CONVCL_BENCH_PEAK_H
#define CONVCL_BENCH_PEAK_H

#include <stddef.h>

typedef struct bench_peak {
  double gflops;
  char method[160]; /* how it was measured, for the table and the JSON */
} bench_peak;

/* Measures device ("cpu" or "cpu:T", or "opencl:P:D" numbered as convcl numbers
 * devices) in about 0.2-0.5 s, plus an OpenCL kernel compile. The CPU figure uses
 * threads threads (what the CPU path uses). Returns 0, or -1 with a message in err. */
int peak_measure(const char *device, int threads, bench_peak *peak, char *err, size_t cap);

#endif
