/* f32 stride-2 gather, AVX-512F: dst[e] = src[2 * e] for e < n, the copy that packs
 * B for every stride-2 layer. Sixteen outputs from two loads and one two-source
 * permute; loads are masked so no float past src[2 * (n - 1)] is read. Built with
 * -mavx512f; only called when the CPU has it. */
#include "cpu.h"

#include <immintrin.h>

void convcl_f32_pack_s2__avx512(float *dst, const float *src, size_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  size_t e = 0;
  for (; e + 16 <= n; e += 16) {
    const __m512 lo = _mm512_loadu_ps(src + 2 * e);
    const __m512 hi = _mm512_maskz_loadu_ps((__mmask16)0x7fff, src + 2 * e + 16);
    _mm512_storeu_ps(dst + e, _mm512_permutex2var_ps(lo, even, hi));
  }
  if (e < n) {
    /* The last left outputs read 2 * left - 1 floats. */
    const size_t left = n - e, reads = 2 * left - 1;
    const __mmask16 mlo = reads >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << reads) - 1u);
    const __mmask16 mhi = reads > 16 ? (__mmask16)((1u << (reads - 16)) - 1u) : (__mmask16)0;
    const __m512 lo = _mm512_maskz_loadu_ps(mlo, src + 2 * e);
    const __m512 hi = _mm512_maskz_loadu_ps(mhi, src + 2 * e + 16);
    _mm512_mask_storeu_ps(dst + e, (__mmask16)((1u << left) - 1u),
                          _mm512_permutex2var_ps(lo, even, hi));
  }
}
