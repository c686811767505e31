/* libFuzzer target: the .npy reader (tools/npy.c) on arbitrary bytes, through
 * npy_read_memory, which decodes exactly as npy_read does after reading the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convcl.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  convcl_shape shape;
  float *values = NULL;
  if (npy_read_memory(data, size, "fuzz.npy", &shape, &values, err, sizeof err) != 0) {
    if (values != NULL || err[0] == '\0') abort();
    return 0;
  }
  if (values == NULL || shape.ndim < 0 || shape.ndim > CONVCL_MAX_DIMS) abort();
  size_t count = 1;
  for (int i = 0; i < shape.ndim; i++) {
    if (shape.dims[i] < 0) abort();
    count *= (size_t)shape.dims[i];
  }
  /* Every element must lie inside the input: a whole array of the header's shape. */
  if (count * sizeof(float) > size) abort();
  volatile float sink = 0;
  for (size_t i = 0; i < count; i++) sink += values[i];
  (void)sink;
  free(values);
  return 0;
}
