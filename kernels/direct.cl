/* Generic direct convolution, 1D/2D/3D as 3D: one work-item per output element. */

/* y[n, oc, o] = bias[oc] + sum over ic of oc's group and taps t of
 *   x[n, ic, map(o * stride - pad + t * dilation)] * w[oc, ic % (c / groups), t].
 * Vectors hold D, H, W in x, y, z. bias is only read when the epilogue adds it (the host
 * binds another buffer otherwise: a NULL buffer argument is not portable). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
conv_direct(__global const float *restrict x, __global const float *restrict w,
            __global const float *restrict bias, __global float *restrict y, const long total,
            const int c, const int k, const int groups, const int4 in_size, const int4 out_size,
            const int4 ksize, const int4 stride, const int4 dilation, const int4 pad,
            const int epilogue, const int mode) {
  const long gid = get_global_id(0);
  if (gid >= total) return;

  long n;
  int oc, od, oh, ow;
  split_index(gid, k, out_size, &n, &oc, &od, &oh, &ow);

  const int cg = c / groups;
  const int g = oc / (k / groups);
  const long in_plane = (long)in_size.x * in_size.y * in_size.z;
  const int kernel_elems = ksize.x * ksize.y * ksize.z;
  /* The channel loop is innermost so each tap's coordinate mapping is paid once. */
  const __global float *xg = x + (n * c + (long)g * cg) * in_plane;
  const __global float *wk = w + (long)oc * cg * kernel_elems;

  float acc = (epilogue & EPILOGUE_BIAS) ? bias[oc] : 0.0f;
  for (int kd = 0; kd < ksize.x; ++kd) {
    const int id = map_coord(od * stride.x - pad.x + kd * dilation.x, in_size.x, mode);
    for (int kh = 0; kh < ksize.y; ++kh) {
      const int ih = map_coord(oh * stride.y - pad.y + kh * dilation.y, in_size.y, mode);
      for (int kw = 0; kw < ksize.z; ++kw) {
        const int iw = map_coord(ow * stride.z - pad.z + kw * dilation.z, in_size.z, mode);
        const __global float *wp = wk + (kd * ksize.y + kh) * ksize.z + kw;
        if (id < 0 || ih < 0 || iw < 0) {
          /* A tap on zero padding adds w * 0: nothing, unless w is Inf or NaN, when
           * PyTorch's sum over the padded input gets NaN. */
          for (int ic = 0; ic < cg; ++ic, wp += kernel_elems) acc += *wp * 0.0f;
          continue;
        }
        const __global float *xp = xg + ((long)id * in_size.y + ih) * in_size.z + iw;
        for (int ic = 0; ic < cg; ++ic, xp += in_plane, wp += kernel_elems) acc += *xp * *wp;
      }
    }
  }
  y[gid] = relu_if(acc, epilogue);
}
