/* Shared head of every convcl program: the work-group size and flat-index splitting. */

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
