/* Transposed convolution in gather form (no zero insertion): one work-item per output element. */

/* y[n, oc, o] = bias[oc] + sum over ic of oc's group and taps t where
 * q = o + pad - t * dilation is >= 0, divisible by stride, and i = q / stride < in:
 *   x[n, ic, i] * w[ic, oc % (k / groups), t].
 * Weights are [c, k / groups, kd, kh, kw]; out_size already includes output_padding.
 * Vectors hold D, H, W in x, y, z. bias is only read when the epilogue adds it. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
conv_transposed(__global const float *restrict x, __global const float *restrict w,
                __global const float *restrict bias, __global float *restrict y,
                const long total, const int c, const int k, const int groups,
                const int4 in_size, const int4 out_size, const int4 ksize, const int4 stride,
                const int4 dilation, const int4 pad, const int epilogue) {
  const long gid = get_global_id(0);
  if (gid >= total) return;

  long n;
  int oc, od, oh, ow;
  split_index(gid, k, out_size, &n, &oc, &od, &oh, &ow);

  const int cg = c / groups;
  const int kg = k / groups;
  const int g = oc / kg;
  const long in_plane = (long)in_size.x * in_size.y * in_size.z;
  const int kernel_elems = ksize.x * ksize.y * ksize.z;
  const long w_ic_stride = (long)kg * kernel_elems;
  const __global float *xg = x + (n * c + (long)g * cg) * in_plane;
  const __global float *wk = w + ((long)g * cg * kg + (oc - g * kg)) * kernel_elems;

  float acc = (epilogue & EPILOGUE_BIAS) ? bias[oc] : 0.0f;
  /* q only falls as the tap grows, so the first negative q ends each tap loop. */
  for (int kd = 0; kd < ksize.x; ++kd) {
    const int qd = od + pad.x - kd * dilation.x;
    if (qd < 0) break;
    if (qd % stride.x != 0 || qd / stride.x >= in_size.x) continue;
    const int id = qd / stride.x;
    for (int kh = 0; kh < ksize.y; ++kh) {
      const int qh = oh + pad.y - kh * dilation.y;
      if (qh < 0) break;
      if (qh % stride.y != 0 || qh / stride.y >= in_size.y) continue;
      const int ih = qh / stride.y;
      for (int kw = 0; kw < ksize.z; ++kw) {
        const int qw = ow + pad.z - kw * dilation.z;
        if (qw < 0) break;
        if (qw % stride.z != 0 || qw / stride.z >= in_size.z) continue;
        const int iw = qw / stride.z;
        const __global float *xp = xg + ((long)id * in_size.y + ih) * in_size.z + iw;
        const __global float *wp = wk + (kd * ksize.y + kh) * ksize.z + kw;
        for (int ic = 0; ic < cg; ++ic, xp += in_plane, wp += w_ic_stride) acc += *xp * *wp;
      }
    }
  }
  y[gid] = relu_if(acc, epilogue);
}
