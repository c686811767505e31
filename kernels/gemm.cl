/* Batched SGEMM with a fused bias and ReLU: work-group-tiled for GPUs, one-work-item
 * register-blocked for CPUs. */

/* For each batch index z, split as z1 = z / nb2, z2 = z % nb2:
 *   C[z] (m x n) = A[z] (m x k) * B[z] (k x n), then + bias[z2 * m + row], then ReLU,
 * where each operand of batch z starts at z1 * stride.x + z2 * stride.y floats. So one
 * launch covers (image, group) for a 1x1 convolution and (transform point, group) for
 * Winograd. B and C are row-major with leading dimensions ldb and ldc, read and written
 * with bounds checks at the edges only. A is packed by the host (host/opencl/gemm.c)
 * into panels [mpad / P][kpad][P] of P rows each, zero-padded, so its loads need no
 * checks: P = mpad for the tiled kernel, whose tiles then read contiguous rows of A^T,
 * and P = RM for the blocked one, whose register blocks walk one contiguous panel. The
 * host keeps every offset below INT_MAX, so indices are int.
 *
 * Tunables, which the host sets as build options (-DTM=...):
 *   BLOCKED 0: a work-group computes a TM x TN tile of C in K slices of TK, staged in
 *     local memory with float4 loads; each of its (TN/RN) x (TM/RM) work-items an
 *     RM x RN block with rows ty + i*TY and columns tx + j*TX: strided, so neighbouring
 *     work-items touch neighbouring local and global addresses.
 *   BLOCKED 1: one work-item per work-group, as CPU implementations run best when a
 *     work-item holds its own vectors: it copies a TK x TN slice of B into local memory
 *     (zero-filled past the edges), then runs RM x 16 register blocks over it, columns as
 *     one float16, keeping partial sums of the TM x TN tile in local memory between
 *     slices. */
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
#define RM 8
#endif
#ifndef RN
#define RN 8
#endif

#define GEMM_PARAMS                                                                               \
  const __global float *restrict a, const __global float *restrict b, __global float *restrict c, \
      const __global float *restrict bias, const int m, const int n, const int k, const int kpad, \
      const int mpad, const int ldb, const int ldc, const int nb2, const int2 a_stride,           \
      const int2 b_stride, const int2 c_stride, const int has_bias, const int relu

#if !BLOCKED

/* The epilogue of the tiled kernel's elements; the blocked one does the same on float16s. */
float finish(float v, const __global float *restrict bias, const int row, const int has_bias,
             const int relu) {
  if (has_bias) v += bias[row];
  /* Written so that NaN passes through, as torch.relu keeps it. */
  return relu && v < 0.0f ? 0.0f : v;
}

#define TX (TN / RN)
#define TY (TM / RM)
#define NT (TX * TY)

#if TM % RM != 0 || TN % RN != 0 || TM % 4 != 0 || TN % 4 != 0 || (TK * TM / 4) % NT != 0 || \
    (TK * TN / 4) % NT != 0
#error "gemm.cl: the tile sizes do not divide evenly"
#endif

__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void gemm(GEMM_PARAMS) {
  __local float as[TK * TM], bs[TK * TN];
  const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * TX + tx;
  const int z = get_group_id(2), z1 = z / nb2, z2 = z - z1 * nb2;
  const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const __global float *ag = a + z1 * a_stride.x + z2 * a_stride.y + m0;
  const __global float *bg = b + z1 * b_stride.x + z2 * b_stride.y + n0;
  __global float *cg = c + z1 * c_stride.x + z2 * c_stride.y;
  const __global float *bz = bias + z2 * m;
  const int full_n = n0 + TN <= n;

  float acc[RM][RN];
  for (int i = 0; i < RM; ++i)
    for (int j = 0; j < RN; ++j) acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < kpad; k0 += TK) {
    for (int e = lid; e < TK * TM / 4; e += NT) {
      const int r = e / (TM / 4), q = e % (TM / 4);
      vstore4(vload4(0, ag + (k0 + r) * mpad + 4 * q), 0, as + r * TM + 4 * q);
    }
    for (int e = lid; e < TK * TN / 4; e += NT) {
      const int r = e / (TN / 4), q = e % (TN / 4);
      const __global float *src = bg + (k0 + r) * ldb + 4 * q;
      float4 v = (float4)0.0f;
      if (k0 + r < k) {
        if (full_n) {
          v = vload4(0, src);
        } else {
          const int left = n - n0 - 4 * q;
          v.s0 = left > 0 ? src[0] : 0.0f;
          v.s1 = left > 1 ? src[1] : 0.0f;
          v.s2 = left > 2 ? src[2] : 0.0f;
          v.s3 = left > 3 ? src[3] : 0.0f;
        }
      }
      vstore4(v, 0, bs + r * TN + 4 * q);
    }
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

  for (int i = 0; i < RM; ++i) {
    const int row = m0 + ty + i * TY;
    if (row >= m) break;
    __global float *cr = cg + row * ldc;
    for (int j = 0; j < RN; ++j) {
      const int col = n0 + tx + j * TX;
      if (col < n) cr[col] = finish(acc[i][j], bz, row, has_bias, relu);
    }
  }
}

#else /* BLOCKED */

#if RN != 16 || TM % RM != 0 || TN % RN != 0
#error "gemm.cl: the blocked kernel needs RN = 16 (one float16) dividing TN, and RM dividing TM"
#endif

#define NB (TN / RN)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm(GEMM_PARAMS) {
  __local float bp[TK * TN], cs[TM * TN];
  const int z = get_group_id(2), z1 = z / nb2, z2 = z - z1 * nb2;
  const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const __global float *ag = a + z1 * a_stride.x + z2 * a_stride.y;
  const __global float *bg = b + z1 * b_stride.x + z2 * b_stride.y;
  __global float *cg = c + z1 * c_stride.x + z2 * c_stride.y;
  const __global float *bz = bias + z2 * m;

  for (int k0 = 0; k0 < k; k0 += TK) {
    const int kc = min(TK, k - k0);
    for (int nb = 0; nb < NB && n0 + nb * RN < n; ++nb) {
      const int col = n0 + nb * RN, left = n - col;
      __local float *dst = bp + nb * TK * RN;
      for (int kk = 0; kk < kc; ++kk) {
        const __global float *src = bg + (k0 + kk) * ldb + col;
        float16 v;
        if (left >= RN) {
          v = vload16(0, src);
        } else {
          float lanes[RN];
          for (int j = 0; j < RN; ++j) lanes[j] = j < left ? src[j] : 0.0f;
          v = vload16(0, lanes);
        }
        vstore16(v, 0, dst + kk * RN);
      }
    }

    for (int mb = 0; mb < TM / RM && m0 + mb * RM < m; ++mb) {
      const int row0 = m0 + mb * RM;
      const __global float *ap = ag + row0 * kpad + k0 * RM;
      for (int nb = 0; nb < NB && n0 + nb * RN < n; ++nb) {
        __local float *cp = cs + mb * RM * TN + nb * RN;
        const __local float *bq = bp + nb * TK * RN;
        float16 acc[RM];
#pragma unroll
        for (int i = 0; i < RM; ++i) acc[i] = k0 == 0 ? (float16)0.0f : vload16(0, cp + i * TN);
        for (int kk = 0; kk < kc; ++kk) {
          const float16 bv = vload16(0, bq + kk * RN);
#pragma unroll
          for (int i = 0; i < RM; ++i) acc[i] = fma((float16)ap[kk * RM + i], bv, acc[i]);
        }
        if (k0 + TK < k) {
#pragma unroll
          for (int i = 0; i < RM; ++i) vstore16(acc[i], 0, cp + i * TN);
          continue;
        }
        const int col = n0 + nb * RN, left = n - col;
        for (int i = 0; i < RM && row0 + i < m; ++i) {
          const int row = row0 + i;
          float16 r = acc[i] + (has_bias ? bz[row] : 0.0f);
          if (relu) r = select(r, (float16)0.0f, isless(r, (float16)0.0f));
          __global float *dst = cg + row * ldc + col;
          if (left >= RN) {
            vstore16(r, 0, dst);
          } else {
            float rv[RN];
            vstore16(r, 0, rv);
            for (int j = 0; j < left; ++j) dst[j] = rv[j];
          }
        }
      }
    }
  }
}

#endif /* BLOCKED */
