/* Shared head of every convcl program: work-group size, index splitting, padding modes. */

/* Work-group size. The host passes -DWG=n and launches with the same n. */
#ifndef WG
#define WG 64
#endif

/* Splits the flat index i of an [N, channels, D, H, W] tensor into its coordinates.
 * size holds D, H, W in x, y, z. The batch stays 64-bit; per-dimension coordinates
 * fit in int (the host checks), and int keeps the tap loops free of 64-bit math. */
void split_index(long i, int channels, int4 size, long *n, int *ch, int *d, int *h, int *w) {
  *w = (int)(i % size.z);
  i /= size.z;
  *h = (int)(i % size.y);
  i /= size.y;
  *d = (int)(i % size.x);
  i /= size.x;
  *ch = (int)(i % channels);
  *n = i / channels;
}

/* The epilogue flags every kernel takes (convcl_cl_epilogue on the host): bit 0 adds
 * the bias, bit 1 applies ReLU after it. */
#define EPILOGUE_BIAS 1
#define EPILOGUE_RELU 2

/* ReLU when the flags ask for it; NaN stays NaN, as in torch.relu. */
float relu_if(float v, int epilogue) { return (epilogue & EPILOGUE_RELU) && v < 0.0f ? 0.0f : v; }

/* convcl_padding_mode's values. */
#define MODE_ZEROS 0
#define MODE_REFLECT 1
#define MODE_REPLICATE 2
#define MODE_CIRCULAR 3

/* Maps coordinate i of the padded input back into [0, size), or to -1 where the
 * padding is zeros. PyTorch bounds the padding (reflect < size, circular <= size),
 * so one reflection suffices; circular uses a true modulo all the same. */
int map_coord(int i, int size, int mode) {
  if (i >= 0 && i < size) return i;
  switch (mode) {
  case MODE_REFLECT:
    return i < 0 ? -i : 2 * (size - 1) - i;
  case MODE_REPLICATE:
    return clamp(i, 0, size - 1);
  case MODE_CIRCULAR:
    return (i % size + size) % size;
  case MODE_ZEROS:
  default:
    return -1;
  }
}
