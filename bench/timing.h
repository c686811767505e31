/* What the bench and its baselines share: the clock, the test data, the statistics. */
#ifndef CONVCL_BENCH_TIMING_H
#define CONVCL_BENCH_TIMING_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
double bench_now_ms(void);

/* Uniform in [-1, 1) from a fixed seed (24 random bits, exactly representable), so
 * every run of the bench and every baseline times the same data. */
void bench_fill_uniform(float *x, size_t n, uint64_t seed);

/* Sorts the runs times in ms and writes their median and minimum. */
void bench_stats(double *ms, int runs, double *median_ms, double *min_ms);

#endif
