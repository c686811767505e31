/* Depthwise convolution (groups == in channels), 1D/2D/3D as 3D: one work-item per VW outputs along W. */

/* Consecutive outputs of one row each work-item computes: neighbours share most of
 * their input reads, which stay in registers or cache. The host sizes the launch with
 * the same value (DEPTHWISE_VW in host/opencl/depthwise.c). */
#ifndef VW
#define VW 8
#endif

/* y[n, oc, o] = bias[oc] + sum over taps t of x[n, oc / (k / c), map(o * stride - pad +
 * t * dilation)] * w[oc, 0, t]. Work-item (i, n) covers outputs [VW * b, VW * b + VW) of
 * row (oc, od, oh) of image n, with i = ((oc * D + od) * H + oh) * blocks + b; per_image
 * (the count of i) fits in int, so the index math is 32-bit. Vectors hold D, H, W in x,
 * y, z. bias is only read when the epilogue adds it (the host binds another buffer
 * otherwise). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
conv_depthwise(__global const float *restrict x, __global const float *restrict w,
               __global const float *restrict bias, __global float *restrict y, const int per_image,
               const int c, const int k, const int4 in_size, const int4 out_size, const int4 ksize,
               const int4 stride, const int4 dilation, const int4 pad, const int epilogue,
               const int mode) {
  int i = (int)get_global_id(0);
  if (i >= per_image) return;

  const int blocks = (out_size.z + VW - 1) / VW;
  const int ow0 = i % blocks * VW;
  i /= blocks;
  const int oh = i % out_size.y;
  i /= out_size.y;
  const int od = i % out_size.x;
  const int oc = i / out_size.x;
  const long n = get_global_id(1);
  const long plane = n * k + oc;
  const int ic = oc / (k / c);

  const __global float *xp = x + (n * c + ic) * ((long)in_size.x * in_size.y * in_size.z);
  const __global float *wk = w + (long)oc * (ksize.x * ksize.y * ksize.z);
  const int iw0 = ow0 * stride.z - pad.z;
  /* Every tap of every output of the block inside the row: no mapping needed. */
  const int inside =
      iw0 >= 0 && iw0 + (VW - 1) * stride.z + (ksize.z - 1) * dilation.z < in_size.z;

  float acc[VW];
  const float b = (epilogue & EPILOGUE_BIAS) ? bias[oc] : 0.0f;
  for (int j = 0; j < VW; ++j) acc[j] = b;
  /* A tap on zero padding adds w * 0: nothing, unless w is Inf or NaN, when PyTorch's
   * sum over the padded input gets NaN. */
  for (int kd = 0; kd < ksize.x; ++kd) {
    const int id = map_coord(od * stride.x - pad.x + kd * dilation.x, in_size.x, mode);
    for (int kh = 0; kh < ksize.y; ++kh) {
      const int ih = map_coord(oh * stride.y - pad.y + kh * dilation.y, in_size.y, mode);
      const __global float *wr = wk + (kd * ksize.y + kh) * ksize.z;
      if (id < 0 || ih < 0) {
        for (int kw = 0; kw < ksize.z; ++kw) {
          const float pad_term = wr[kw] * 0.0f;
#pragma unroll
          for (int j = 0; j < VW; ++j) acc[j] += pad_term;
        }
        continue;
      }
      const __global float *row = xp + ((long)id * in_size.y + ih) * in_size.z;
      if (inside) {
        for (int kw = 0; kw < ksize.z; ++kw) {
          const float wv = wr[kw];
          const __global float *r = row + iw0 + kw * dilation.z;
#pragma unroll
          for (int j = 0; j < VW; ++j) acc[j] += wv * r[j * stride.z];
        }
      } else {
        for (int kw = 0; kw < ksize.z; ++kw) {
          const float wv = wr[kw];
#pragma unroll
          for (int j = 0; j < VW; ++j) {
            const int iw = map_coord(iw0 + j * stride.z + kw * dilation.z, in_size.z, mode);
            acc[j] += iw >= 0 ? wv * row[iw] : wv * 0.0f;
          }
        }
      }
    }
  }
  __global float *yrow = y + ((plane * out_size.x + od) * out_size.y + oh) * out_size.z;
#pragma unroll
  for (int j = 0; j < VW; ++j)
    if (ow0 + j < out_size.z) yrow[ow0 + j] = relu_if(acc[j], epilogue);
}
