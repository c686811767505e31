/* Implicit-GEMM convolution: work-group tiles (K split or not) for GPUs, blocks for CPUs. */

/* Per group g, y[n, g*mg + m, p] = bias + sum over kk < kg of A[g][kk][m] * B[kk][(n, p)]:
 * M = out channels per group, N = batch * output positions (one column per pair, so
 * small late layers still fill tiles), K = kg = in channels per group * kernel taps.
 * A is the weights, packed at plan time into [groups][mpad / P][kpad][P]: panels of P
 * rows (P = mpad for the tiled kernel, RM for the blocked one), zero-padded to whole
 * tiles or panels in M and, for the tiled kernel, to whole TK slices in K, so its
 * loads need no bounds checks. B is never stored whole: each K slice of it is gathered
 * from x into local memory.
 *
 * Row kk = c * taps + (kd, kh, kw) of B (PyTorch's weight order) is described by
 * taps[kk] = {c * in_plane, or -1 for K padding; kd, kh, kw times dilation}; vectors
 * hold D, H, W in x, y, z. pointwise kernels (1x1x1, no padding reached, any stride) read
 * B's row c at each column's own position in x's channel plane c and never read taps. The host
 * guarantees that the input, the output and packed A have at most INT_MAX elements, so every offset
 * is an int.
 *
 * Tunables, which the host sets as build options (-DTM=...):
 *   BLOCKED 0: a work-group computes a TM x TN tile of y in K slices of TK, each of its
 *     (TN/RN) x (TM/RM) work-items an RM x RN block with rows ty + i*TY and columns
 *     tx + j*TX: strided, so neighbouring work-items touch neighbouring local and
 *     global addresses (no bank conflicts, coalesced stores).
 *   BLOCKED 1: one work-item per work-group, as CPU implementations run best when a
 *     work-item holds its own vectors: it gathers a TK x TN slice of B, then runs
 *     RM x 16 register blocks over it, columns as one float16. */
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

/* B's element in row t for a column whose receptive field starts at (id0, ih0, iw0)
 * in the image and group whose channel 0 starts at xb. */
float load_tap(const __global float *restrict xb, const int4 t, int id, int ih, int iw,
               const int4 in_size, const int mode) {
  if (t.x < 0) return 0.0f;
  id += t.y;
  ih += t.z;
  iw += t.w;
  if (mode != MODE_ZEROS) {
    id = map_coord(id, in_size.x, mode);
    ih = map_coord(ih, in_size.y, mode);
    iw = map_coord(iw, in_size.z, mode);
  }
  /* Unsigned compares also reject the -1 of zero padding. */
  if ((uint)id >= (uint)in_size.x || (uint)ih >= (uint)in_size.y || (uint)iw >= (uint)in_size.z)
    return 0.0f;
  return xb[t.x + (id * in_size.y + ih) * in_size.z + iw];
}

#define IGEMM_PARAMS                                                                         \
  __global const float *restrict x, __global const float *restrict a,                        \
      __global const int4 *restrict taps, __global const float *restrict bias,               \
      __global float *restrict y, const int ncols, const int c, const int cg, const int k,   \
      const int mg, const int kpad, const int mpad, const int4 in_size, const int4 out_size, \
      const int4 stride, const int4 pad, const int epilogue, const int mode
#define IGEMM_ARGS                                                                                \
  x, a, taps, bias, y, ncols, c, cg, k, mg, kpad, mpad, in_size, out_size, stride, pad, epilogue, \
      mode

#if !BLOCKED

#define TX (TN / RN)
#define TY (TM / RM)
#define NT (TX * TY)

/* Each work-item gathers one fixed column of B (so its coordinates are computed once)
 * and copies whole float4s of A. */
#if TM % RM != 0 || TN % RN != 0 || NT % TN != 0 || (TK * TN) % NT != 0 || TM % 4 != 0 || \
    (TK * TM / 4) % NT != 0
#error "igemm.cl: the tile sizes do not divide evenly"
#endif

/* A work-item's share of slice k: A_PER float4s of A and B_PER elements of its column of
 * B, into registers. */
#define A_PER (TK * TM / 4 / NT)
#define B_PER (TK * TN / NT)

static inline void load_slice(const __global float *restrict ag, const int mpad,
                              const __global float *restrict xb, const __global int4 *restrict taps,
                              const int k, const int lid, const int brow, const int col_ok,
                              const int pointwise, const int cg, const int in_plane, const int id0,
                              const int ih0, const int iw0, const int4 in_size, const int mode,
                              float4 *ar, float *br) {
#pragma unroll
  for (int u = 0; u < A_PER; ++u) {
    const int e = lid + u * NT, r = e / (TM / 4), q = e % (TM / 4);
    ar[u] = vload4(0, ag + (k + r) * mpad + 4 * q);
  }
#pragma unroll
  for (int u = 0; u < B_PER; ++u) {
    const int kk = k + brow + u * (NT / TN);
    float v = 0.0f;
    if (col_ok)
      v = pointwise ? (kk < cg ? xb[kk * in_plane] : 0.0f)
                    : load_tap(xb, taps[kk], id0, ih0, iw0, in_size, mode);
    br[u] = v;
  }
}

/* Sums slices [kbegin, kend) of group g's K into its tile of y. Each slice's loads are
 * issued into registers before the previous slice's multiply-adds, so their latency
 * (long for gathers) hides behind them; local memory holds one slice. pointwise is a
 * constant at each call, so the compiler builds two specialized copies. */
static inline void tiled_body(IGEMM_PARAMS, __local float *restrict as, __local float *restrict bs,
                              const int pointwise, const int g, const int kbegin, const int kend) {
  const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * TX + tx;
  const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const int in_plane = in_size.x * in_size.y * in_size.z;
  const int out_hw = out_size.y * out_size.z, out_plane = out_size.x * out_hw;

  /* The column of B this work-item gathers, and where its receptive field starts. */
  const int bcol = lid % TN, brow = lid / TN;
  const int col = n0 + bcol;
  const int col_ok = col < ncols;
  const int img = col_ok ? col / out_plane : 0;
  const int p = col_ok ? col - img * out_plane : 0;
  const int od = p / out_hw, oh = (p - od * out_hw) / out_size.z;
  const int ow = p - od * out_hw - oh * out_size.z;
  const int id0 = od * stride.x - pad.x, ih0 = oh * stride.y - pad.y, iw0 = ow * stride.z - pad.z;
  const __global float *xb = x + (img * c + g * cg) * in_plane +
                             (pointwise ? (id0 * in_size.y + ih0) * in_size.z + iw0 : 0);
  const __global float *ag = a + g * kpad * mpad + m0;

  float acc[RM][RN];
  for (int i = 0; i < RM; ++i)
    for (int j = 0; j < RN; ++j) acc[i][j] = 0.0f;

  float4 ar[A_PER];
  float br[B_PER];
  if (kbegin < kend)
    load_slice(ag, mpad, xb, taps, kbegin, lid, brow, col_ok, pointwise, cg, in_plane, id0, ih0,
               iw0, in_size, mode, ar, br);
  for (int k0 = kbegin; k0 < kend; k0 += TK) {
#pragma unroll
    for (int u = 0; u < A_PER; ++u) {
      const int e = lid + u * NT, r = e / (TM / 4), q = e % (TM / 4);
      vstore4(ar[u], 0, as + r * TM + 4 * q);
    }
#pragma unroll
    for (int u = 0; u < B_PER; ++u) bs[(brow + u * (NT / TN)) * TN + bcol] = br[u];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (k0 + TK < kend)
      load_slice(ag, mpad, xb, taps, k0 + TK, lid, brow, col_ok, pointwise, cg, in_plane, id0, ih0,
                 iw0, in_size, mode, ar, br);

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
    const int nj = cj / out_plane;
    __global float *yj = y + (nj * k + g * mg) * out_plane + (cj - nj * out_plane);
    for (int i = 0; i < RM; ++i) {
      const int m = m0 + ty + i * TY;
      if (m < mg)
        yj[m * out_plane] =
            relu_if(acc[i][j] + ((epilogue & EPILOGUE_BIAS) ? bias[g * mg + m] : 0.0f), epilogue);
    }
  }
}

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void igemm(IGEMM_PARAMS) {
  __local float as[TK * TM], bs[TK * TN];
  tiled_body(IGEMM_ARGS, as, bs, 0, get_group_id(2), 0, kpad);
}

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void igemm_pointwise(IGEMM_PARAMS) {
  __local float as[TK * TM], bs[TK * TN];
  tiled_body(IGEMM_ARGS, as, bs, 1, get_group_id(2), 0, kpad);
}

/* Split K, for layers whose tiles alone leave most compute units idle: work-group
 * z = part * groups + g sums slices [part * kpart, (part + 1) * kpart) of group g's K
 * into part's own copy of y (y holds them all, [parts][batch][k][out positions]),
 * without bias or ReLU; igemm_splitk_reduce adds the parts up. The host keeps
 * parts * batch * k * out positions within int. */
static inline void splitk_body(IGEMM_PARAMS, const int kpart, __local float *restrict as,
                               __local float *restrict bs, const int pointwise) {
  const int groups = k / mg, part = get_group_id(2) / groups;
  const int kbegin = part * kpart;
  tiled_body(x, a, taps, bias, y + part * ncols * k, ncols, c, cg, k, mg, kpad, mpad, in_size,
             out_size, stride, pad, 0, mode, as, bs, pointwise, get_group_id(2) - part * groups,
             kbegin, min(kbegin + kpart, kpad));
}

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void igemm_splitk(IGEMM_PARAMS,
                                                                            const int kpart) {
  __local float as[TK * TM], bs[TK * TN];
  splitk_body(IGEMM_ARGS, kpart, as, bs, 0);
}

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void igemm_splitk_pointwise(
    IGEMM_PARAMS, const int kpart) {
  __local float as[TK * TM], bs[TK * TN];
  splitk_body(IGEMM_ARGS, kpart, as, bs, 1);
}

/* Split K's second pass, one work-item per element of y (total of them): the parts'
 * sum, in part order, then the bias and ReLU. Reads of each part are coalesced. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void igemm_splitk_reduce(
    __global const float *restrict parts_y, __global const float *restrict bias,
    __global float *restrict y, const int total, const int parts, const int k, const int out_plane,
    const int epilogue) {
  const int i = get_global_id(0);
  if (i >= total) return;
  float sum = parts_y[i];
  for (int part = 1; part < parts; ++part) sum += parts_y[part * total + i];
  if (epilogue & EPILOGUE_BIAS) sum += bias[i / out_plane % k];
  y[i] = relu_if(sum, epilogue);
}

#else /* BLOCKED */

#if RN != 16 || TM % RM != 0 || TN % RN != 0
#error "igemm.cl: the blocked kernel needs RN = 16 (one float16) dividing TN, and RM dividing TM"
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

static inline void blocked_body(IGEMM_PARAMS, __local float *restrict bp,
                                __local float *restrict cs, const int pointwise) {
  const int g = get_group_id(2);
  const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const int in_plane = in_size.x * in_size.y * in_size.z;
  const int out_hw = out_size.y * out_size.z, out_plane = out_size.x * out_hw;
  const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

  /* Per block of 16 columns: where each column's receptive field starts (cbase: its
   * image and group in x, plus its position when pointwise) and its output offset;
   * whether all 16 are in one image (so their outputs are consecutive) and, further,
   * in one output row at stride 1 (so their inputs are consecutive too). Pointwise at
   * stride 1, one image is enough for that. */
  const int unit_stride = stride.x == 1 && stride.y == 1 && stride.z == 1;
  int16 cbase[NB], cid0[NB], cih0[NB], ciw0[NB], cok[NB], cy[NB];
  int one_image[NB], one_row[NB];
  for (int nb = 0; nb < NB; ++nb) {
    /* Lane 0's coordinates by division, the other lanes' by carrying from it: per-lane
     * integer division would cost more than a small layer's whole GEMM. Lanes past
     * ncols get coordinates too, but only ever masked. */
    const int c0 = n0 + nb * RN;
    const int img0 = c0 / out_plane, p0 = c0 - img0 * out_plane;
    const int od0 = p0 / out_hw, oh0 = (p0 - od0 * out_hw) / out_size.z;
    int16 ow = p0 - od0 * out_hw - oh0 * out_size.z + lane, oh = oh0, od = od0, img = img0;
    carry(&ow, &oh, out_size.z);
    carry(&oh, &od, out_size.y);
    carry(&od, &img, out_size.x);
    const int16 p = (od * out_size.y + oh) * out_size.z + ow;
    cid0[nb] = od * stride.x - pad.x;
    cih0[nb] = oh * stride.y - pad.y;
    ciw0[nb] = ow * stride.z - pad.z;
    cbase[nb] = (img * c + g * cg) * in_plane +
                (pointwise ? (cid0[nb] * in_size.y + cih0[nb]) * in_size.z + ciw0[nb] : 0);
    cy[nb] = img * k * out_plane + p;
    cok[nb] = c0 + lane < ncols;
    one_image[nb] = all(cok[nb]) && img.s0 == img.sf;
    one_row[nb] = one_image[nb] && od.s0 == od.sf && oh.s0 == oh.sf && stride.z == 1;
  }

  const __global float *ag = a + g * kpad * mpad;
  for (int k0 = 0; k0 < kpad; k0 += TK) {
    const int kc = min(TK, kpad - k0);
    for (int nb = 0; nb < NB && n0 + nb * RN < ncols; ++nb) {
      __local float *dst = bp + nb * TK * RN;
      for (int kk = 0; kk < kc; ++kk) {
        float16 v;
        if (pointwise) {
          const int ch = k0 + kk;
          if (ch >= cg)
            v = (float16)0.0f;
          else if (one_image[nb] && unit_stride)
            v = vload16(0, x + cbase[nb].s0 + ch * in_plane);
          else
            v = gather16(x, cbase[nb] + ch * in_plane, cok[nb]);
        } else if (mode == MODE_ZEROS) {
          const int4 t = taps[k0 + kk];
          const int16 id = cid0[nb] + t.y, ih = cih0[nb] + t.z, iw = ciw0[nb] + t.w;
          const int16 ok = cok[nb] & (t.x >= 0 ? (int16)-1 : (int16)0) &
                           (as_uint16(id) < (uint)in_size.x) & (as_uint16(ih) < (uint)in_size.y) &
                           (as_uint16(iw) < (uint)in_size.z);
          const int16 off = cbase[nb] + t.x + (id * in_size.y + ih) * in_size.z + iw;
          v = one_row[nb] && all(ok) ? vload16(0, x + off.s0) : gather16(x, off, ok);
        } else {
          float lanes[RN];
          const int4 t = taps[k0 + kk];
          int b[RN], d0[RN], h0[RN], w0[RN], okl[RN];
          vstore16(cbase[nb], 0, b);
          vstore16(cid0[nb], 0, d0);
          vstore16(cih0[nb], 0, h0);
          vstore16(ciw0[nb], 0, w0);
          vstore16(cok[nb], 0, okl);
          for (int j = 0; j < RN; ++j)
            lanes[j] = okl[j] ? load_tap(x + b[j], t, d0[j], h0[j], w0[j], in_size, mode) : 0.0f;
          v = vload16(0, lanes);
        }
        vstore16(v, 0, dst + kk * RN);
      }
    }

    for (int mb = 0; mb < TM / RM && m0 + mb * RM < mg; ++mb) {
      const __global float *ap = ag + (m0 + mb * RM) * kpad + k0 * RM;
      for (int nb = 0; nb < NB && n0 + nb * RN < ncols; ++nb) {
        __local float *cp = cs + mb * RM * TN + nb * RN;
        const __local float *bq = bp + nb * TK * RN;
        float16 acc[RM];
#pragma unroll
        for (int i = 0; i < RM; ++i) acc[i] = k0 == 0 ? (float16)0.0f : vload16(0, cp + i * TN);
        for (int kk = 0; kk < kc; ++kk) {
          const float16 b = vload16(0, bq + kk * RN);
#pragma unroll
          for (int i = 0; i < RM; ++i) acc[i] = fma((float16)ap[kk * RM + i], b, acc[i]);
        }
        if (k0 + TK < kpad) {
#pragma unroll
          for (int i = 0; i < RM; ++i) vstore16(acc[i], 0, cp + i * TN);
          continue;
        }
        int yo[RN];
        vstore16(cy[nb], 0, yo);
        for (int i = 0; i < RM; ++i) {
          const int m = m0 + mb * RM + i;
          if (m >= mg) break;
          float16 r = acc[i] + ((epilogue & EPILOGUE_BIAS) ? bias[g * mg + m] : 0.0f);
          if (epilogue & EPILOGUE_RELU) r = select(r, (float16)(0.0f), r < (float16)(0.0f));
          __global float *ym = y + (g * mg + m) * out_plane;
          if (one_image[nb]) {
            vstore16(r, 0, ym + yo[0]);
          } else {
            float rv[RN];
            vstore16(r, 0, rv);
            for (int j = 0; j < RN && n0 + nb * RN + j < ncols; ++j) ym[yo[j]] = rv[j];
          }
        }
      }
    }
  }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void igemm(IGEMM_PARAMS) {
  __local float bp[TK * TN], cs[TM * TN];
  blocked_body(IGEMM_ARGS, bp, cs, 0);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void igemm_pointwise(IGEMM_PARAMS) {
  __local float bp[TK * TN], cs[TM * TN];
  blocked_body(IGEMM_ARGS, bp, cs, 1);
}

#endif /* BLOCKED */
