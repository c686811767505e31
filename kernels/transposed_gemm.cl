/* Transposed convolution as one implicit GEMM per output stride phase (GPU tiles, CPU blocks). */

/* Output o = stride * j + r (per dimension) only receives taps t with
 * (r + pad - t * dilation) divisible by stride, from input i = j + off_t where
 * off_t = (r + pad - t * dilation) / stride. So each phase r = (rd, rh, rw) is a
 * stride-1 convolution of x with its own taps and, per group g,
 *   y[n, g*mg + m, stride*j + r] = bias + sum over kk < K of A[kk][m] * B[kk][(n, j)]
 * with M = out channels per group, N = batch * the phase's positions j, and
 * K = in channels per group * the phase's taps: no inserted zeros, no wasted product.
 * A phase without taps (e.g. stride > kernel at dilation 1, or odd phases at stride
 * and dilation 2) has K = 0 and writes the bias alone, ReLU'd.
 *
 * phases[PHASE_INTS * ph] describes phase ph (the host's table): PH_K rows of A and of
 * the tap table (whole TK slices, zero rows added, for the tiled kernel), PH_A where
 * its packed A starts (group g's at + g * K * mpad), PH_TAPS where its taps start,
 * PH_NCOLS its columns, PH_CNT its positions per dimension D, H, W and PH_R its
 * residue r. A is packed like igemm.cl's: [mpad / P][K][P] panels of P out channels
 * (P = mpad tiled, RM blocked), zero-padded in M. Row kk = tap * cg + c of B reads
 * channel c through taps[kk] = {c * in_plane, or -1 for a zero row; off_d, off_h,
 * off_w}; vectors hold D, H, W in x, y, z. The host bounds
 * every offset to int. The grid is (N tiles of the largest phase x phases, M tiles,
 * groups), phases fastest, so the phases that interleave in one stretch of the output
 * run close together in time; a tile past its phase's columns returns at once, as a
 * whole group.
 *
 * Tunables, set by the host as build options, as in igemm.cl:
 *   BLOCKED 0: a work-group computes a TM x TN tile in K slices of TK, each of its
 *     (TN/RN) x (TM/RM) work-items an RM x RN block with strided rows and columns.
 *   BLOCKED 1: one work-item per work-group gathers a TK x TN slice of B into local
 *     memory and runs RM x 16 register blocks over it, columns as one float16. */
#ifndef BLOCKED
#define BLOCKED 0
#endif
#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef RM
#define RM 4
#endif
#ifndef RN
#define RN 4
#endif

/* The phase table's fields, as host/opencl/transposed_gemm.c writes them. */
#define PHASE_INTS 10
#define PH_K 0
#define PH_A 1
#define PH_TAPS 2
#define PH_NCOLS 3
#define PH_CNT 4
#define PH_R 7

/* B's element in row t for a column at phase position (jd, jh, jw); xb is the
 * column's image and group. */
float tg_load(const __global float *restrict xb, const int4 t, int jd, int jh, int jw,
              const int4 in_size) {
  const int id = jd + t.y, ih = jh + t.z, iw = jw + t.w;
  /* Unsigned compares also reject negative coordinates. */
  if (t.x < 0 || (uint)id >= (uint)in_size.x || (uint)ih >= (uint)in_size.y ||
      (uint)iw >= (uint)in_size.z)
    return 0.0f;
  return xb[t.x + (id * in_size.y + ih) * in_size.z + iw];
}

#define TG_PARAMS                                                                               \
  __global const float *restrict x, __global const float *restrict a,                           \
      __global const int4 *restrict taps, __global const int *restrict phases,                  \
      __global const float *restrict bias, __global float *restrict y, const int nphases,       \
      const int c, const int cg, const int k, const int mg, const int mpad, const int4 in_size, \
      const int4 out_size, const int4 stride, const int epilogue
#define TG_ARGS \
  x, a, taps, phases, bias, y, nphases, c, cg, k, mg, mpad, in_size, out_size, stride, epilogue

#if !BLOCKED

#define TX (TN / RN)
#define TY (TM / RM)
#define NT (TX * TY)

#if TM % RM != 0 || TN % RN != 0 || NT % TN != 0 || (TK * TN) % NT != 0 || TM % 4 != 0 || \
    (TK * TM / 4) % NT != 0
#error "transposed_gemm.cl: the tile sizes do not divide evenly"
#endif

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void transposed_gemm(TG_PARAMS) {
  __local float as[TK * TM], bs[TK * TN];
  const int g = get_group_id(2), tile = get_group_id(0) / nphases;
  const __global int *ph = phases + (get_group_id(0) - tile * nphases) * PHASE_INTS;
  const int ncols = ph[PH_NCOLS];
  const int n0 = tile * TN, m0 = get_group_id(1) * TM;
  if (n0 >= ncols) return;
  const int kpad = ph[PH_K];
  const int4 cnt = (int4)(ph[PH_CNT], ph[PH_CNT + 1], ph[PH_CNT + 2], 0);
  const int4 r = (int4)(ph[PH_R], ph[PH_R + 1], ph[PH_R + 2], 0);
  const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * TX + tx;
  const int in_plane = in_size.x * in_size.y * in_size.z;
  const int out_hw = out_size.y * out_size.z, out_plane = out_size.x * out_hw;
  const int cnt_hw = cnt.y * cnt.z, cnt_plane = cnt.x * cnt_hw;

  /* The column of B this work-item gathers: one fixed column, so its coordinates are
   * computed once. */
  const int bcol = lid % TN, brow = lid / TN;
  const int col = n0 + bcol;
  const int col_ok = col < ncols;
  const int img = col_ok ? col / cnt_plane : 0;
  const int p = col_ok ? col - img * cnt_plane : 0;
  const int jd = p / cnt_hw, jh = (p - jd * cnt_hw) / cnt.z, jw = p - jd * cnt_hw - jh * cnt.z;
  const __global float *xb = x + (img * c + g * cg) * in_plane;
  const __global float *ag = a + ph[PH_A] + g * kpad * mpad + m0;
  const __global int4 *tp = taps + ph[PH_TAPS];

  float acc[RM][RN];
  for (int i = 0; i < RM; ++i)
    for (int j = 0; j < RN; ++j) acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < kpad; k0 += TK) {
    for (int e = lid; e < TK * TM / 4; e += NT) {
      const int row = e / (TM / 4), q = e % (TM / 4);
      vstore4(vload4(0, ag + (k0 + row) * mpad + 4 * q), 0, as + row * TM + 4 * q);
    }
    for (int row = brow; row < TK; row += NT / TN)
      bs[row * TN + bcol] = col_ok ? tg_load(xb, tp[k0 + row], jd, jh, jw, in_size) : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);

#pragma unroll
    for (int kk = 0; kk < TK; ++kk) {
      float av[RM], bv[RN];
#pragma unroll
      for (int i = 0; i < RM; ++i) av[i] = as[kk * TM + ty + i * TY];
#pragma unroll
      for (int j = 0; j < RN; ++j) bv[j] = bs[kk * TN + tx + j * TX];
#pragma unroll
      for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int j = 0; j < RN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  for (int j = 0; j < RN; ++j) {
    const int cj = n0 + tx + j * TX;
    if (cj >= ncols) continue;
    const int nj = cj / cnt_plane, pj = cj - nj * cnt_plane;
    const int dj = pj / cnt_hw, hj = (pj - dj * cnt_hw) / cnt.z, wj = pj - dj * cnt_hw - hj * cnt.z;
    __global float *yj = y + (nj * k + g * mg) * out_plane +
                         ((stride.x * dj + r.x) * out_size.y + stride.y * hj + r.y) * out_size.z +
                         stride.z * wj + r.z;
    for (int i = 0; i < RM; ++i) {
      const int m = m0 + ty + i * TY;
      if (m < mg)
        yj[m * out_plane] =
            relu_if(acc[i][j] + ((epilogue & EPILOGUE_BIAS) ? bias[g * mg + m] : 0.0f), epilogue);
    }
  }
}

#else /* BLOCKED */

#if RN != 16 || TM % RM != 0 || TN % RN != 0
#error "transposed_gemm.cl: the blocked kernel needs RN = 16 dividing TN and RM dividing TM"
#endif

#define NB (TN / RN)

/* x[off] where ok, else 0; the loads stay unconditional (at offset 0 where not ok) so
 * the compiler may turn them into one gather. */
float16 gather16(const __global float *restrict x, int16 off, const int16 ok) {
  off = select((int16)0, off, ok);
  const float16 v = (float16)(x[off.s0], x[off.s1], x[off.s2], x[off.s3], x[off.s4], x[off.s5],
                              x[off.s6], x[off.s7], x[off.s8], x[off.s9], x[off.sa], x[off.sb],
                              x[off.sc], x[off.sd], x[off.se], x[off.sf]);
  return select((float16)0.0f, v, ok);
}

/* Wraps lo into [0, size), carrying into hi. */
void carry(int16 *lo, int16 *hi, const int size) {
  for (int16 over = *lo >= size; any(over); over = *lo >= size) {
    *lo = select(*lo, *lo - size, over);
    *hi -= over; /* true is -1 */
  }
}

/* The products of the first rows rows of one RM-row panel of A (left of them real
 * channels) with one block of 16 columns (cols of them real) over one K slice. Partial
 * sums wait in cp between slices; the last slice adds the bias, applies the ReLU and
 * stores. rows is a constant at every call, so each call is its own register block. */
static inline __attribute__((always_inline)) void panel_block(
    const __global float *restrict ap, const __local float *restrict bq, __local float *restrict cp,
    const int k0, const int kc, const int kg, const int left, const int16 cy, const int dense_y,
    const int cols, const __global float *restrict bias, __global float *restrict ym,
    const int out_plane, const int epilogue, const int rows) {
  float16 acc[RM];
#pragma unroll
  for (int i = 0; i < rows; ++i) acc[i] = k0 == 0 ? (float16)0.0f : vload16(0, cp + i * TN);
  for (int kk = 0; kk < kc; ++kk) {
    const float16 b = vload16(0, bq + kk * RN);
#pragma unroll
    for (int i = 0; i < rows; ++i) acc[i] = fma((float16)ap[kk * RM + i], b, acc[i]);
  }
  if (k0 + TK < kg) {
#pragma unroll
    for (int i = 0; i < rows; ++i) vstore16(acc[i], 0, cp + i * TN);
    return;
  }
  int yo[RN];
  vstore16(cy, 0, yo);
  for (int i = 0; i < rows && i < left; ++i, ym += out_plane) {
    float16 v = acc[i] + ((epilogue & EPILOGUE_BIAS) ? bias[i] : 0.0f);
    if (epilogue & EPILOGUE_RELU) v = select(v, (float16)(0.0f), v < (float16)(0.0f));
    if (dense_y) {
      vstore16(v, 0, ym + yo[0]);
    } else {
      float vs[RN];
      vstore16(v, 0, vs);
      for (int j = 0; j < RN && j < cols; ++j) ym[yo[j]] = vs[j];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void transposed_gemm(TG_PARAMS) {
  __local float bp[TK * TN], cs[TM * TN];
  const int g = get_group_id(2), tile = get_group_id(0) / nphases;
  const __global int *ph = phases + (get_group_id(0) - tile * nphases) * PHASE_INTS;
  const int ncols = ph[PH_NCOLS];
  const int n0 = tile * TN, m0 = get_group_id(1) * TM;
  if (n0 >= ncols) return;
  const int kg = ph[PH_K];
  const int4 cnt = (int4)(ph[PH_CNT], ph[PH_CNT + 1], ph[PH_CNT + 2], 0);
  const int in_plane = in_size.x * in_size.y * in_size.z;
  const int out_hw = out_size.y * out_size.z, out_plane = out_size.x * out_hw;
  const int cnt_hw = cnt.y * cnt.z, cnt_plane = cnt.x * cnt_hw;
  const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

  /* Per block of 16 columns: each column's image and group in x (cbase), its position
   * (cjd, cjh, cjw) and output offset (cy); whether all 16 lie in one row of the
   * phase, so their inputs are consecutive (the phase is a stride-1 convolution), and
   * whether their outputs are consecutive too (stride 1 along W). */
  int16 cbase[NB], cjd[NB], cjh[NB], cjw[NB], cok[NB], cy[NB];
  int one_row[NB], dense_y[NB];
  for (int nb = 0; nb < NB; ++nb) {
    /* Lane 0's coordinates by division, the others' by carrying from it: per-lane
     * integer division would cost more than a small phase's whole GEMM. */
    const int c0 = n0 + nb * RN;
    const int img0 = c0 / cnt_plane, p0 = c0 - img0 * cnt_plane;
    const int jd0 = p0 / cnt_hw, jh0 = (p0 - jd0 * cnt_hw) / cnt.z;
    int16 jw = p0 - jd0 * cnt_hw - jh0 * cnt.z + lane, jh = jh0, jd = jd0, img = img0;
    carry(&jw, &jh, cnt.z);
    carry(&jh, &jd, cnt.y);
    carry(&jd, &img, cnt.x);
    cjd[nb] = jd;
    cjh[nb] = jh;
    cjw[nb] = jw;
    cbase[nb] = (img * c + g * cg) * in_plane;
    cy[nb] = img * k * out_plane +
             ((stride.x * jd + ph[PH_R]) * out_size.y + stride.y * jh + ph[PH_R + 1]) * out_size.z +
             stride.z * jw + ph[PH_R + 2];
    cok[nb] = c0 + lane < ncols;
    one_row[nb] = all(cok[nb]) && img.s0 == img.sf && jd.s0 == jd.sf && jh.s0 == jh.sf;
    dense_y[nb] = one_row[nb] && stride.z == 1;
  }

  const __global float *ag = a + ph[PH_A] + g * kg * mpad;
  const __global int4 *tp = taps + ph[PH_TAPS];
  /* At least one slice, so that a phase without taps still writes its bias. */
  for (int k0 = 0; k0 == 0 || k0 < kg; k0 += TK) {
    const int kc = min(TK, kg - k0);
    for (int nb = 0; nb < NB && n0 + nb * RN < ncols; ++nb) {
      __local float *dst = bp + nb * TK * RN;
      if (one_row[nb]) {
        /* One input row per row of B. Rows are tap-major, so a run of them shares a
         * tap and steps through the channels: bounds are checked once per run, for
         * the row and its ends. Small M leaves the gather as much work as the
         * products. */
        const int d0 = cjd[nb].s0, h0 = cjh[nb].s0, w0 = cjw[nb].s0, base = cbase[nb].s0;
        for (int kk = 0; kk < kc;) {
          const int4 t = tp[k0 + kk];
          const int run = min(cg - (k0 + kk) % cg, kc - kk);
          const int id = d0 + t.y, ih = h0 + t.z, iw = w0 + t.w;
          __local float *out = dst + kk * RN;
          kk += run;
          if (t.x < 0 || (uint)id >= (uint)in_size.x || (uint)ih >= (uint)in_size.y ||
              iw >= in_size.z || iw + RN <= 0) {
            for (int r = 0; r < run; ++r) vstore16((float16)0.0f, 0, out + r * RN);
            continue;
          }
          const int at = base + t.x + (id * in_size.y + ih) * in_size.z + iw;
          if (iw >= 0 && iw + RN <= in_size.z) {
            for (int r = 0; r < run; ++r)
              vstore16(vload16(0, x + at + r * in_plane), 0, out + r * RN);
          } else {
            const int16 ok = (lane + iw >= 0) & (lane + iw < in_size.z);
            for (int r = 0; r < run; ++r)
              vstore16(gather16(x, at + r * in_plane + lane, ok), 0, out + r * RN);
          }
        }
        continue;
      }
      for (int kk = 0; kk < kc;) {
        const int4 t = tp[k0 + kk];
        const int run = min(cg - (k0 + kk) % cg, kc - kk);
        const int16 id = cjd[nb] + t.y, ih = cjh[nb] + t.z, iw = cjw[nb] + t.w;
        const int16 ok = cok[nb] & (t.x >= 0 ? (int16)-1 : (int16)0) &
                         (as_uint16(id) < (uint)in_size.x) & (as_uint16(ih) < (uint)in_size.y) &
                         (as_uint16(iw) < (uint)in_size.z);
        const int16 off = cbase[nb] + t.x + (id * in_size.y + ih) * in_size.z + iw;
        __local float *out = dst + kk * RN;
        kk += run;
        for (int r = 0; r < run; ++r)
          vstore16(gather16(x, off + r * in_plane, ok), 0, out + r * RN);
      }
    }

    for (int mb = 0; mb < TM / RM && m0 + mb * RM < mg; ++mb) {
      const int m = m0 + mb * RM, left = mg - m;
      const __global float *ap = ag + m * kg + k0 * RM;
      for (int nb = 0; nb < NB && n0 + nb * RN < ncols; ++nb) {
        __local float *cp = cs + mb * RM * TN + nb * RN;
        const __local float *bq = bp + nb * TK * RN;
        const int cols = ncols - n0 - nb * RN;
        __global float *ym = y + (g * mg + m) * out_plane;
        const __global float *bm = bias + g * mg + m;
        /* A last panel of a few rows (the 3 channels of an RGB output) runs a narrower
         * register block rather than products of padding. */
        if (left > RM / 2)
          panel_block(ap, bq, cp, k0, kc, kg, left, cy[nb], dense_y[nb], cols, bm, ym, out_plane,
                      epilogue, RM);
        else if (left > RM / 4)
          panel_block(ap, bq, cp, k0, kc, kg, left, cy[nb], dense_y[nb], cols, bm, ym, out_plane,
                      epilogue, RM / 2);
        else
          panel_block(ap, bq, cp, k0, kc, kg, left, cy[nb], dense_y[nb], cols, bm, ym, out_plane,
                      epilogue, RM / 4);
      }
    }
  }
}

#endif /* BLOCKED */
