/* OpenCL program binaries in the on-disk cache (host/diskcache.c): the key names
 * everything a binary depends on, and a loaded binary must still build on the device,
 * else the program is built from source. */
#include "opencl/opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void convcl_cl_cache_key(const convcl_opencl_state *cl, const char *const *sources, int count,
                         const char *options, char *key, size_t cap) {
  uint64_t h = CONVCL_HASH_INIT;
  for (int i = 0; i < count; i++) h = convcl_hash(h, sources[i], strlen(sources[i]) + 1);
  snprintf(key, cap,
           "convcl %s\nplatform %s\ndevice %s\nversion %s\ndriver %s\ncompute units %d\n"
           "options %s\nsource %016llx\n",
           CONVCL_VERSION, cl->info.platform, cl->info.name, cl->info.version, cl->info.driver,
           cl->info.compute_units, options, (unsigned long long)h);
}

cl_program convcl_cl_cache_load(const convcl_opencl_state *cl, const char *key,
                                const char *options) {
  size_t len;
  unsigned char *bin = convcl_diskcache_load(CONVCL_CACHE_PROGRAM, key, &len);
  if (!bin) return NULL;
  cl_int err, binary_status;
  const unsigned char *bins[1] = {bin};
  cl_program program =
      clCreateProgramWithBinary(cl->context, 1, &cl->device, &len, bins, &binary_status, &err);
  free(bin);
  if (err != CL_SUCCESS) return NULL;
  if (binary_status != CL_SUCCESS ||
      clBuildProgram(program, 1, &cl->device, options, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(program);
    return NULL;
  }
  return program;
}

void convcl_cl_cache_store(cl_program program, const char *key) {
  size_t len = 0;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS ||
      len == 0)
    return;
  unsigned char *bin = malloc(len);
  unsigned char *bins[1] = {bin};
  if (bin && clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
    convcl_diskcache_store(CONVCL_CACHE_PROGRAM, key, bin, len);
  free(bin);
}
