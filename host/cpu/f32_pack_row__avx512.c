/* One row of a packed B tile from its runs, AVX-512F (see convcl_pack_row_fn). Runs are
 * short (an output row of 7 to 56 positions, cut at panel edges; single zeros at
 * padded edges), so each is a few masked vector operations in line, with no call per
 * run: the stride-2 gather of every downsampling layer takes two loads and one
 * two-source permute per 16 outputs. Loads are masked so no float past the run's last
 * source is read. Built with -mavx512f; only called when the CPU has it. */
#include "cpu.h"

#include <immintrin.h>

/* The first n of 16 lanes, n <= 16. */
static __mmask16 first(size_t n) { return (__mmask16)((1u << n) - 1u); }

void convcl_f32_pack_row__avx512(float *row, const float *plane, const convcl_pack_run *runs,
                                 int64_t count) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < count; i++) {
    const convcl_pack_run *u = &runs[i];
    float *d = row + u->dst;
    const float *s = plane + u->src;
    const size_t n = (size_t)u->len;
    size_t e = 0;
    if (u->src < 0) {
      for (; e + 16 <= n; e += 16) _mm512_storeu_ps(d + e, zero);
      if (e < n) _mm512_mask_storeu_ps(d + e, first(n - e), zero);
    } else if (u->step == 1) {
      for (; e + 16 <= n; e += 16) _mm512_storeu_ps(d + e, _mm512_loadu_ps(s + e));
      if (e < n) {
        const __mmask16 m = first(n - e);
        _mm512_mask_storeu_ps(d + e, m, _mm512_maskz_loadu_ps(m, s + e));
      }
    } else if (u->step == 2) {
      for (; e + 16 <= n; e += 16) {
        const __m512 lo = _mm512_loadu_ps(s + 2 * e);
        const __m512 hi = _mm512_maskz_loadu_ps((__mmask16)0x7fff, s + 2 * e + 16);
        _mm512_storeu_ps(d + e, _mm512_permutex2var_ps(lo, even, hi));
      }
      if (e < n) {
        /* The last left outputs read 2 * left - 1 floats. */
        const size_t left = n - e, reads = 2 * left - 1;
        const __mmask16 mlo = reads >= 16 ? (__mmask16)0xffff : first(reads);
        const __mmask16 mhi = reads > 16 ? first(reads - 16) : (__mmask16)0;
        const __m512 lo = _mm512_maskz_loadu_ps(mlo, s + 2 * e);
        const __m512 hi = _mm512_maskz_loadu_ps(mhi, s + 2 * e + 16);
        _mm512_mask_storeu_ps(d + e, first(left), _mm512_permutex2var_ps(lo, even, hi));
      }
    } else {
      for (; e < n; e++) d[e] = s[(int64_t)e * u->step];
    }
  }
}
