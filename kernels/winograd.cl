/* Winograd F(MxM, 3x3) transforms: input tiles into the batched GEMM's B, its C back to NCHW with
 * bias and ReLU. */

/* Lavin and Gray's F(2x2, 3x3) and F(4x4, 3x3) (interpolation points 0, +-1, +-2 and
 * infinity). One launch of each transform covers a chunk of tiles, columns p0 .. p0 +
 * ld - 1 of the flat tile index p = (image * tiles_h + tile row) * tiles_w + tile
 * column; the workspace between them holds, per transform point t = i * A + j, one
 * [channels][ld] matrix: V[t][c][q] = (B^T d B)[i][j] of channel c's tile p0 + q, and
 * after the GEMM with the transformed filters U[t][g] (host/opencl/winograd.c),
 * M[t][k][q], which A^T M A turns into the M x M outputs of that tile. Columns past the
 * last tile are zero in V and ignored in M. The host keeps every offset below INT_MAX. */
#ifndef WINO_M
#define WINO_M 4
#endif
#define WINO_A (WINO_M + 2)
#define WINO_T (WINO_A * WINO_A)

#if WINO_M == 2

/* r = B^T d over one line of the tile, s the stride between its elements. */
void input_line(const float *d, float *r, const int s) {
  r[0] = d[0] - d[2 * s];
  r[s] = d[s] + d[2 * s];
  r[2 * s] = d[2 * s] - d[s];
  r[3 * s] = d[s] - d[3 * s];
}

/* r = A^T m over one line. */
void output_line(const float *m, float *r, const int s) {
  r[0] = m[0] + m[s] + m[2 * s];
  r[s] = m[s] - m[2 * s] - m[3 * s];
}

#elif WINO_M == 4

void input_line(const float *d, float *r, const int s) {
  const float d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  r[0] = fma(4.0f, d0, fma(-5.0f, d2, d4));
  r[s] = fma(-4.0f, d1 + d2, d3 + d4);
  r[2 * s] = fma(4.0f, d1 - d2, d4 - d3);
  r[3 * s] = fma(2.0f, d3 - d1, d4 - d2);
  r[4 * s] = fma(2.0f, d1 - d3, d4 - d2);
  r[5 * s] = fma(4.0f, d1, fma(-5.0f, d3, d5));
}

void output_line(const float *m, float *r, const int s) {
  const float m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
  const float p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
  r[0] = m0 + p12 + p34;
  r[s] = fma(2.0f, d34, d12);
  r[2 * s] = fma(4.0f, p34, p12);
  r[3 * s] = fma(8.0f, d34, d12) + m5;
}

#else
#error "winograd.cl: WINO_M must be 2 or 4"
#endif

/* x: [n][c][in_size.x][in_size.y]; v: [WINO_T][c][ld]. pad is the top and left padding;
 * zeros elsewhere outside the image. */
__kernel void winograd_input(const __global float *restrict x, __global float *restrict v,
                             const int c, const int2 in_size, const int2 pad, const int tiles_w,
                             const int tiles_per_image, const int tiles, const int p0,
                             const int ld) {
  const int q = get_global_id(0), ch = get_global_id(1);
  if (q >= ld) return;
  const int p = p0 + q;
  float d[WINO_T], e[WINO_T];
  /* Loads stay unconditional, at offset 0 where the tap is padding or the column past
   * the last tile, so the work-items of a group run them as one vector gather. */
  const int img = p / tiles_per_image, r = p - img * tiles_per_image;
  const int ih0 = r / tiles_w * WINO_M - pad.x, iw0 = r % tiles_w * WINO_M - pad.y;
  const int live = p < tiles;
  const __global float *xc = x + (live ? (img * c + ch) * in_size.x * in_size.y : 0);
#pragma unroll
  for (int i = 0; i < WINO_A; ++i) {
    const int ih = ih0 + i;
    const int row_ok = live && (uint)ih < (uint)in_size.x;
#pragma unroll
    for (int j = 0; j < WINO_A; ++j) {
      const int iw = iw0 + j;
      const int ok = row_ok && (uint)iw < (uint)in_size.y;
      const float v = xc[ok ? ih * in_size.y + iw : 0];
      d[i * WINO_A + j] = ok ? v : 0.0f;
    }
  }
#pragma unroll
  for (int j = 0; j < WINO_A; ++j) input_line(d + j, e + j, WINO_A); /* columns */
#pragma unroll
  for (int i = 0; i < WINO_A; ++i) input_line(e + i * WINO_A, d + i * WINO_A, 1); /* rows */
  __global float *vq = v + ch * ld + q;
  const int t_stride = c * ld;
#pragma unroll
  for (int t = 0; t < WINO_T; ++t) vq[t * t_stride] = d[t];
}

/* o = the M x M outputs at (oh0, ow0) of out channel ch summed directly, over the
 * zero-padded input, as PyTorch sums them: wherever a tap meets padding, it adds w * 0. */
void direct_tile(const __global float *x, const __global float *w, const int c, const int cg,
                 const int kg, const int2 in_size, const int2 pad, const int img, const int ch,
                 const int oh0, const int ow0, float *o) {
  const __global float *xg = x + (img * c + ch / kg * cg) * in_size.x * in_size.y;
  const __global float *wk = w + ch * cg * 9;
  for (int i = 0; i < WINO_M; ++i)
    for (int j = 0; j < WINO_M; ++j) {
      float acc = 0.0f;
      for (int ic = 0; ic < cg; ++ic)
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) {
            const int ih = oh0 + i - pad.x + r, iw = ow0 + j - pad.y + s;
            const int ok = (uint)ih < (uint)in_size.x && (uint)iw < (uint)in_size.y;
            const float v = ok ? xg[(ic * in_size.x + ih) * in_size.y + iw] : 0.0f;
            acc = fma(wk[ic * 9 + r * 3 + s], v, acc);
          }
      o[i * WINO_M + j] = acc;
    }
}

/* m: [WINO_T][k][ld]; y: [n][k][out_size.x][out_size.y]; x and w: the input and the
 * untransformed weights [k][cg][3][3], c input channels, cg and kg in and out channels
 * per group, in_size and pad as for winograd_input.
 * Non-finite numbers: the transforms mix a whole tile, so one Inf or NaN input pixel
 * makes outputs outside its receptive field NaN (Inf - Inf in A^T), and a non-finite
 * weight spreads over all of U. Each affected output is itself non-finite here, before
 * the bias and ReLU (an input or weight that the direct sum of an output meets reaches
 * it through a nonzero coefficient of the transforms, and Inf or NaN times nonzero, or
 * times a zero of U, stays non-finite), so a tile whose outputs are not all finite is
 * summed again directly, which gives the exact IEEE propagation of PyTorch. Finite data
 * costs one test per tile. */
__kernel void winograd_output(const __global float *restrict m, const __global float *restrict bias,
                              __global float *restrict y, const int k, const int2 out_size,
                              const int tiles_w, const int tiles_per_image, const int tiles,
                              const int p0, const int ld, const int has_bias, const int relu,
                              const __global float *restrict x, const __global float *restrict w,
                              const int c, const int cg, const int kg, const int2 in_size,
                              const int2 pad) {
  const int q = get_global_id(0), ch = get_global_id(1);
  const int p = p0 + q;
  if (q >= ld || p >= tiles) return;
  float s[WINO_T], u[WINO_A * WINO_M], o[WINO_M * WINO_M];
  const __global float *mq = m + ch * ld + q;
  const int t_stride = k * ld;
#pragma unroll
  for (int t = 0; t < WINO_T; ++t) s[t] = mq[t * t_stride];
#pragma unroll
  for (int j = 0; j < WINO_A; ++j) output_line(s + j, u + j, WINO_A); /* columns */
#pragma unroll
  for (int i = 0; i < WINO_M; ++i) output_line(u + i * WINO_A, o + i * WINO_M, 1); /* rows */

  const int img = p / tiles_per_image, r = p - img * tiles_per_image;
  const int oh0 = r / tiles_w * WINO_M, ow0 = r % tiles_w * WINO_M;
  /* x * 0 is NaN exactly when x is Inf or NaN. */
  float poison = 0.0f;
#pragma unroll
  for (int t = 0; t < WINO_M * WINO_M; ++t) poison += o[t] * 0.0f;
  if (poison != poison) direct_tile(x, w, c, cg, kg, in_size, pad, img, ch, oh0, ow0, o);
  const float b = has_bias ? bias[ch] : 0.0f;
  __global float *yc = y + (img * k + ch) * out_size.x * out_size.y;
  /* Fixed trip counts with a test per store, so the work-items of a group run the
   * stores as masked vector scatters. */
#pragma unroll
  for (int i = 0; i < WINO_M; ++i)
#pragma unroll
    for (int j = 0; j < WINO_M; ++j) {
      const float val = o[i * WINO_M + j] + b;
      /* Written so that NaN passes through, as torch.relu keeps it. */
      if (oh0 + i < out_size.x && ow0 + j < out_size.y)
        yc[(oh0 + i) * out_size.y + ow0 + j] = relu && val < 0.0f ? 0.0f : val;
    }
}
