/* convcl's OpenCL interop: run convcl in an app's own OpenCL context and queue, on the
 * app's own buffers.
 *
 * Ownership: convcl never releases an object it did not create. The app keeps its
 * cl_context, cl_device_id, cl_command_queue and cl_mem objects alive for as long as
 * the convcl context and tensors made from them live, and releases them itself
 * afterwards.
 *
 * This header and its functions exist only in a convcl built with OpenCL. It includes
 * <CL/cl.h> for the handle types, with the app's CL_TARGET_OPENCL_VERSION if set. */
#ifndef CONVCL_OPENCL_H
#define CONVCL_OPENCL_H

#include "convcl.h"

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A convcl context on the app's device, context and queue. queue must belong to
 * context and device and execute in order (convcl's runs follow one another on it);
 * convcl enqueues all its work there, so it orders with the app's own work. The
 * program binary cache and tuning behave as for convcl_context_create. Kernels that do
 * not build on the device make this call fail, and its error says why. */
CONVCL_API convcl_status convcl_context_create_opencl(cl_context context, cl_device_id device,
                                                      cl_command_queue queue,
                                                      convcl_context **ctx_out);

/* The queue convcl enqueues on in ctx (the app's, or the one convcl created); NULL for
 * a context on the CPU path. */
CONVCL_API cl_command_queue convcl_context_opencl_queue(const convcl_context *ctx);

/* Wraps the app's buffer as a tensor of shape starting offset_bytes into it: buffer
 * must belong to ctx's OpenCL context and hold offset_bytes plus the shape's bytes;
 * offset_bytes must be a multiple of the device's base address alignment
 * (CL_DEVICE_MEM_BASE_ADDR_ALIGN) when it is not 0. convcl_tensor_destroy releases only
 * what convcl made for the wrapper, never buffer. */
CONVCL_API convcl_status convcl_tensor_wrap_opencl(convcl_context *ctx, cl_mem buffer,
                                                   size_t offset_bytes, const convcl_shape *shape,
                                                   convcl_tensor **tensor_out);

/* The buffer holding an OpenCL tensor's data and the byte offset of its first element
 * in it (for a wrapped tensor, the app's buffer and offset), so the app's own kernels
 * can read and write it. Fails for a tensor on the CPU path. */
CONVCL_API convcl_status convcl_tensor_opencl_buffer(const convcl_tensor *tensor, cl_mem *buffer,
                                                     size_t *offset_bytes);

#ifdef __cplusplus
}
#endif

#endif /* CONVCL_OPENCL_H */
