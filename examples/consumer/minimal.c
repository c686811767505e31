/* The README's C example: one Conv2d(1, 2, 3, padding=1) on the default device. Built
 * against an installed convcl by CMakeLists.txt here, and by convcl's own build as a test. */
#include <convcl.h>
#include <stdio.h>

int main(void) {
  const int64_t kernel[2] = {3, 3};
  convcl_conv_desc desc;
  convcl_conv_desc_init(&desc, 2, 0, 1, 2, kernel); /* 2D, not transposed, 1 -> 2 channels */
  desc.pad_begin[0] = desc.pad_end[0] = 1;
  desc.pad_begin[1] = desc.pad_end[1] = 1;

  const convcl_shape input = {4, {1, 1, 4, 4}};
  float x[16], w[2 * 9], b[2] = {0.0f, 1.0f}, y[2 * 16];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  for (int i = 0; i < 18; i++) w[i] = i < 9 ? 1.0f : 0.0f; /* channel 0 sums a 3x3 window */

  convcl_context *ctx = NULL;
  convcl_plan *plan = NULL;
  convcl_status st = convcl_context_create("auto", &ctx);
  if (st == CONVCL_OK) st = convcl_plan_create(ctx, &desc, &input, w, b, CONVCL_ALGO_AUTO, &plan);
  if (st == CONVCL_OK) st = convcl_plan_run(plan, x, y);
  if (st != CONVCL_OK) {
    fprintf(stderr, "convcl: %s: %s\n", convcl_status_string(st), convcl_last_error());
  } else {
    convcl_device_info dev;
    convcl_context_device(ctx, &dev);
    printf("ran %s on %s (%s)\n", convcl_algo_name(convcl_plan_algo(plan)), dev.id, dev.name);
    for (int r = 0; r < 4; r++)
      printf("%5.0f %5.0f %5.0f %5.0f\n", y[r * 4], y[r * 4 + 1], y[r * 4 + 2], y[r * 4 + 3]);
  }
  convcl_plan_destroy(plan);
  convcl_context_destroy(ctx);
  return st == CONVCL_OK ? 0 : 1;
}
