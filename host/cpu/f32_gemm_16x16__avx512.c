/* f32 GEMM microkernel, 16x16 tile, AVX-512F: 16 zmm accumulators (16 rows x 1 vector),
 * A broadcast from memory, B loaded as one vector per step. The 8x32 kernel loads 128
 * bytes of B per 16 multiply-adds; this one 64. Where B streams from L3 or memory once
 * per run, that halves the bandwidth a step needs: Winograd's tiles-as-rows GEMMs
 * (B = the transformed weights, read once, A = a few tiles), where it measured 1.15 to
 * 1.2x over the 8x32 kernel on 7x7 layers of 256 and 512 channels and 1.38x at 1024
 * (2 threads). The 16 loads of A are broadcasts, which the load ports take beside the
 * FMAs. B is fetched PREFETCH floats ahead: the panels of such a B lie back to back, and
 * the hardware prefetchers alone left the kernel waiting on it (ResNet-50's 7x7 layer
 * 1.05-1.15x faster with it, 1024 channels, whose U comes from memory, 1.6x; 512 to 1024
 * floats ahead measured alike). A prefetch past the end of B is harmless: it never
 * faults. The contract is convcl_f32_gemm_fn's with MR = NR = 16. Built with -mavx512f;
 * only called when the CPU has it. */
#include "cpu.h"

#include <immintrin.h>

enum { PREFETCH = 768 };

#define STEP(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), bv, c##i)

/* Row i: C = epilogue((accumulate ? C : bias[i]) + acc) in the first n columns. */
#define STORE(i)                                                                 \
  if (m > i) {                                                                   \
    float *row = c + i * ldc;                                                    \
    __m512 v = c##i;                                                             \
    if (flags & CONVCL_GEMM_ACCUMULATE)                                          \
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, row));                    \
    else if (bias)                                                               \
      v = _mm512_add_ps(v, _mm512_set1_ps(bias[i]));                             \
    /* Zero the lanes that compare less than 0; NaN compares false and stays. */ \
    if (flags & CONVCL_GEMM_RELU)                                                \
      v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);  \
    _mm512_mask_storeu_ps(row, mask, v);                                         \
  }

void convcl_f32_gemm_16x16__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                   size_t m, size_t n, const float *bias, int flags) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 c0 = zero, c1 = zero, c2 = zero, c3 = zero, c4 = zero, c5 = zero, c6 = zero, c7 = zero;
  __m512 c8 = zero, c9 = zero, c10 = zero, c11 = zero, c12 = zero, c13 = zero, c14 = zero,
         c15 = zero;
  for (size_t k = 0; k < kc; k++) {
    const __m512 bv = _mm512_loadu_ps(b);
    _mm_prefetch((const char *)(b + PREFETCH), _MM_HINT_T0);
    STEP(0);
    STEP(1);
    STEP(2);
    STEP(3);
    STEP(4);
    STEP(5);
    STEP(6);
    STEP(7);
    STEP(8);
    STEP(9);
    STEP(10);
    STEP(11);
    STEP(12);
    STEP(13);
    STEP(14);
    STEP(15);
    a += 16;
    b += 16;
  }
  const __mmask16 mask = (__mmask16)((1u << n) - 1u);
  STORE(0)
  STORE(1)
  STORE(2)
  STORE(3)
  STORE(4)
  STORE(5)
  STORE(6)
  STORE(7)
  STORE(8)
  STORE(9)
  STORE(10)
  STORE(11)
  STORE(12)
  STORE(13)
  STORE(14)
  STORE(15)
}
