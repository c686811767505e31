/* The README's C example: two layers chained on tensors on the default device,
 * Conv2d(1, 2, 3, padding=1) + ReLU, then Conv2d(2, 1, 1, bias=False). Built against an
 * installed convcl by CMakeLists.txt here, and by convcl's own build as a test. */
#include <convcl.h>
#include <stdio.h>

int main(void) {
  /* The layers, as PyTorch's constructors describe them. */
  const int64_t k3[2] = {3, 3}, k1[2] = {1, 1};
  convcl_conv_desc conv1, conv2;
  convcl_conv_desc_init(&conv1, 2, 0, 1, 2, k3); /* 2D, not transposed, 1 -> 2 channels */
  conv1.pad_begin[0] = conv1.pad_end[0] = conv1.pad_begin[1] = conv1.pad_end[1] = 1;
  conv1.activation = CONVCL_ACTIVATION_RELU;
  convcl_conv_desc_init(&conv2, 2, 0, 2, 1, k1);
  conv2.has_bias = 0;

  /* Weights in PyTorch's layout, conv1 [2][1][3][3] and conv2 [1][2][1][1]: channel 0
   * sums a 3x3 window, channel 1 (negated, then ReLU) is 0, conv2 adds the two. */
  float w1[18], b1[2] = {0.0f, 0.0f}, w2[2] = {1.0f, 1.0f}, x[16], y[16];
  for (int i = 0; i < 18; i++) w1[i] = i < 9 ? 1.0f : -1.0f;
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  const convcl_shape in = {4, {1, 1, 4, 4}}, mid = {4, {1, 2, 4, 4}}, out = {4, {1, 1, 4, 4}};

  /* Load once: the device, one plan per layer (the weights are copied in), and tensors
   * in the device's memory. */
  convcl_context *ctx = NULL;
  convcl_plan *p1 = NULL, *p2 = NULL;
  convcl_tensor *tx = NULL, *th = NULL, *ty = NULL;
  convcl_status st = convcl_context_create("auto", &ctx);
  if (st == CONVCL_OK) st = convcl_plan_create(ctx, &conv1, &in, w1, b1, CONVCL_ALGO_AUTO, &p1);
  if (st == CONVCL_OK) st = convcl_plan_create(ctx, &conv2, &mid, w2, NULL, CONVCL_ALGO_AUTO, &p2);
  if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &in, &tx);
  if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &mid, &th);
  if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &out, &ty);

  /* Per frame: upload, enqueue the layers back to back (nothing crosses the host in
   * between), read back (which waits for them). */
  if (st == CONVCL_OK) st = convcl_tensor_upload(tx, x);
  if (st == CONVCL_OK) st = convcl_plan_enqueue(p1, tx, th);
  if (st == CONVCL_OK) st = convcl_plan_enqueue(p2, th, ty);
  if (st == CONVCL_OK) st = convcl_tensor_download(ty, y);

  if (st != CONVCL_OK) {
    fprintf(stderr, "convcl: %s: %s\n", convcl_status_string(st), convcl_last_error());
  } else {
    convcl_device_info dev;
    convcl_context_device(ctx, &dev);
    printf("ran %s and %s on %s (%s)\n", convcl_algo_name(convcl_plan_algo(p1)),
           convcl_algo_name(convcl_plan_algo(p2)), dev.id, dev.name);
    for (int r = 0; r < 4; r++)
      printf("%5.0f %5.0f %5.0f %5.0f\n", y[r * 4], y[r * 4 + 1], y[r * 4 + 2], y[r * 4 + 3]);
  }
  convcl_tensor_destroy(tx);
  convcl_tensor_destroy(th);
  convcl_tensor_destroy(ty);
  convcl_plan_destroy(p1);
  convcl_plan_destroy(p2);
  convcl_context_destroy(ctx);
  return st == CONVCL_OK ? 0 : 1;
}
