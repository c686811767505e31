/* Time of one AVX-512 8x32 (or AVX2 6x16) microkernel call per tile width n, kc = 128,
 * all rows, A and B in L1: the narrow-column and half-tile paths against the whole tile.
 * Best of 20 repeats of 20000 calls. From the repository root, with R this folder:
 *   cc -O2 -mavx512f -mavx2 -mfma -I include -I host R/tails.c \
 *     host/cpu/f32_gemm_8x32__avx512.c -o tails
 *   cc -O2 -mavx2 -mfma -DAVX2 -I include -I host R/tails.c host/cpu/f32_gemm_6x16__avx2.c \
 *     -o tails
 * tails-*-before.txt: 2ab5145's kernels; tails-*-after.txt: the narrow columns' loops
 * unrolled (their accumulators in registers). */
#include "cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef AVX2
#define GEMM convcl_f32_gemm_6x16__avx2
enum { MR = 6, NR = 16 };
#else
#define GEMM convcl_f32_gemm_8x32__avx512
enum { MR = 8, NR = 32 };
#endif
enum { KC = 128 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  static float a[KC * MR], b[KC * NR], c[MR * NR];
  for (int i = 0; i < KC * MR; i++) a[i] = 1e-3f * (float)(i % 7);
  for (int i = 0; i < KC * NR; i++) b[i] = 1e-3f * (float)(i % 5);
  for (size_t n = 1; n <= NR; n++) {
    double best = 1e9;
    for (int r = 0; r < 20; r++) {
      const double t0 = now();
      for (int i = 0; i < 20000; i++) GEMM(KC, a, b, c, NR, MR, n, NULL, 0);
      const double t = now() - t0;
      best = t < best ? t : best;
    }
    printf("n %2zu  %6.1f ns\n", n, best / 20000 * 1e9);
  }
  return 0;
}
