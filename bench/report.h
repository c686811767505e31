/* What convcl-bench measured, and its three renderings: CSV and JSON with stable
 * columns for tools, a table with geometric means for people. */
#ifndef CONVCL_BENCH_REPORT_H
#define CONVCL_BENCH_REPORT_H

#include "suite.h"

#include <stdint.h>
#include <stdio.h>

typedef struct bench_device {
  char id[32]; /* what convcl_context_create opens: "cpu", "cpu:T" or "opencl:P:D" */
  char name[256];
  int opencl;
  int threads;           /* cpu: the threads the CPU path and the CPU baselines use */
  double peak_gflops;    /* NAN when the peak could not be measured */
  char peak_method[256]; /* how it was measured, or why it was not */
} bench_device;

/* One baseline on one layer and device, measured once and shared by the rows of
 * every algorithm. */
typedef struct bench_baseline_result {
  const char *name;
  int status;               /* a baseline_status */
  double median_ms, min_ms; /* when measured */
  char note[256];           /* why not, when not measured */
} bench_baseline_result;

/* One layer on one device with one algorithm. Measurements not taken are NAN
 * (workspace_bytes: -1), and print as empty fields. */
typedef struct bench_row {
  const bench_layer *layer;
  int device; /* index into the report's devices */
  const char *algo;
  int failed;  /* convcl could not plan or run it; note says why */
  int skipped; /* the algorithm named with --algo cannot run this layer: not a failure */
  double plan_cold_ms, plan_warm_ms, first_ms, median_ms, min_ms, gflops, peak_pct;
  int64_t workspace_bytes;
  double max_rel_err;
  const bench_baseline_result *baselines; /* those for this device's kind */
  int baseline_count;
  char note[512];
} bench_row;

typedef struct bench_report {
  const bench_device *devices;
  int device_count;
  const bench_row *rows;
  int row_count;
  const char *const *baseline_names; /* the table's baseline columns */
  int baseline_count;
  int runs, warmup, verify;
  int resident; /* --resident: OpenCL devices with memory of their own ran without copies */
} bench_report;

/* Each returns 0, or -1 when writing failed. */
int report_csv(FILE *out, const bench_report *report);
int report_json(FILE *out, const bench_report *report);
int report_table(FILE *out, const bench_report *report);

#endif
