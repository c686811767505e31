/* Baselines timed beside convcl in the same run: oneDNN on the CPU, CLBlast's convgemm
 * on an OpenCL device. Each is compiled in only when found at build time. */
#ifndef CONVCL_BENCH_BASELINE_H
#define CONVCL_BENCH_BASELINE_H

#include "convcl.h"

#include <stddef.h>

typedef enum baseline_status {
  BASELINE_MEASURED = 0,
  BASELINE_OUT_OF_SCOPE = 1, /* the library cannot express this layer; note says why */
  BASELINE_FAILED = 2        /* it should have run but did not; note says why */
} baseline_status;

typedef struct bench_baseline {
  const char *name; /* stable, for the CSV: "onednn_nchw", "onednn_blocked", "clblast_convgemm" */
  int opencl;       /* 0: compared with convcl's cpu rows; 1: with its OpenCL rows */
  /* Times desc on input (random data, fixed seed) on device ("cpu", "cpu:T" or
   * "opencl:P:D", as convcl numbers devices): warmup untimed runs, then runs timed ones;
   * writes the median and the minimum in milliseconds. Only the convolution is timed:
   * layout reorders and uploads happen before. */
  baseline_status (*time)(const char *device, const convcl_conv_desc *desc,
                          const convcl_shape *input, int warmup, int runs, double *median_ms,
                          double *min_ms, char *note, size_t cap);
} bench_baseline;

/* The baselines, defined where their library is found: bench/onednn.c, bench/clblast.c. */
extern const bench_baseline baseline_onednn_nchw, baseline_onednn_blocked;
extern const bench_baseline baseline_clblast_convgemm;

/* Has the CPU baselines use threads threads (those of the CPU device they are timed
 * beside) in the baseline runs the calling thread makes from now on. */
void baselines_set_threads(int threads);

/* The baselines of this build; count in *count. */
const bench_baseline *const *baselines_list(int *count);

#endif
