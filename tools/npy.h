/* .npy files: little-endian float32, C order, format versions 1.0 to 3.0. */
#ifndef CONVCL_TOOLS_NPY_H
#define CONVCL_TOOLS_NPY_H

#include "convcl.h"

#include <stddef.h>

/* Reads a float32 array of 0 to CONVCL_MAX_DIMS dims. Anything else (another dtype,
 * big-endian, Fortran order, a truncated or malformed file, too many dims) returns
 * non-zero with a message in err. *data is malloc'd; the caller frees it. */
int npy_read(const char *path, convcl_shape *shape, float **data, char *err, size_t errcap);

/* The same on a whole .npy image in memory (len bytes at bytes); name stands for the
 * path in messages. npy_read reads the file and decodes it the same way. */
int npy_read_memory(const void *bytes, size_t len, const char *name, convcl_shape *shape,
                    float **data, char *err, size_t errcap);

/* Writes atomically: a temporary file beside path, then rename, so no half-written
 * file is ever left at path. */
int npy_write(const char *path, const convcl_shape *shape, const float *data, char *err,
              size_t errcap);

#endif
