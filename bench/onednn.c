/* oneDNN baselines on the CPU engine, FP32 forward inference, timed with the C API.
 *   onednn_nchw:    the primitive runs on plain tensors (PyTorch's NC+spatial data and
 *                   weights), as a caller who keeps PyTorch's layout would use it.
 *   onednn_blocked: oneDNN picks its layouts (format_tag_any); inputs are reordered into
 *                   them before timing, as a framework that keeps blocked tensors would.
 * Only the convolution primitive is timed; reorders, JIT and allocation happen before. */
#include "baseline.h"
#include "timing.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Everything one timed layer holds; zeroed, then filled, then released by layer_destroy
 * whatever the point of failure. */
typedef struct onednn_layer {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  dnnl_primitive_attr_t attr;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  dnnl_memory_t src, weights, bias, dst, scratch; /* in the primitive's layouts */
} onednn_layer;

static void layer_destroy(onednn_layer *l) {
  dnnl_memory_destroy(l->scratch);
  dnnl_memory_destroy(l->dst);
  dnnl_memory_destroy(l->bias);
  dnnl_memory_destroy(l->weights);
  dnnl_memory_destroy(l->src);
  dnnl_primitive_destroy(l->prim);
  dnnl_primitive_desc_destroy(l->pd);
  dnnl_primitive_attr_destroy(l->attr);
  dnnl_stream_destroy(l->stream);
  dnnl_engine_destroy(l->engine);
  memset(l, 0, sizeof *l);
}

/* Non-zero (and the note written) when s is an error. */
static int failed(dnnl_status_t s, const char *what, char *note, size_t cap) {
  if (s == dnnl_success) return 0;
  snprintf(note, cap, "oneDNN %s: dnnl_%s", what, dnnl_status2str(s));
  return 1;
}

/* Row-major strides of dims[0..n). */
static void plain_strides(int n, const dnnl_dim_t *dims, dnnl_dim_t *strides) {
  dnnl_dim_t s = 1;
  for (int i = n - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
}

/* A memory in md filled with bench_fill_uniform(seed); md is in PyTorch's element order, so the
 * data equal what a caller of convcl_ref_conv gets from fill_random with that seed. */
static dnnl_status_t user_memory(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
                                 dnnl_engine_t engine, uint64_t seed) {
  dnnl_status_t s = dnnl_memory_create(mem, md, engine, DNNL_MEMORY_ALLOCATE);
  void *p = NULL;
  if (s == dnnl_success) s = dnnl_memory_get_data_handle(*mem, &p);
  if (s == dnnl_success) bench_fill_uniform(p, dnnl_memory_desc_get_size(md) / sizeof(float), seed);
  return s;
}

/* *out = user's data in the primitive's layout want: user itself (ownership moves) when
 * the layouts agree, else a reorder into a new memory, run here, outside the timing. */
static dnnl_status_t to_layout(dnnl_memory_t *user, const dnnl_memory_desc_t *want,
                               dnnl_engine_t engine, dnnl_stream_t stream, dnnl_memory_t *out) {
  const dnnl_memory_desc_t *have = NULL;
  dnnl_status_t s = dnnl_memory_get_memory_desc(*user, &have);
  if (s != dnnl_success) return s;
  if (dnnl_memory_desc_equal(have, want)) {
    *out = *user;
    *user = NULL;
    return dnnl_success;
  }
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  s = dnnl_memory_create(out, want, engine, DNNL_MEMORY_ALLOCATE);
  if (s == dnnl_success)
    s = dnnl_reorder_primitive_desc_create(&rpd, have, engine, want, engine, NULL);
  if (s == dnnl_success) s = dnnl_primitive_create(&reorder, rpd);
  if (s == dnnl_success) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, *user}, {DNNL_ARG_TO, *out}};
    s = dnnl_primitive_execute(reorder, stream, 2, args);
  }
  if (s == dnnl_success) s = dnnl_stream_wait(stream);
  dnnl_primitive_destroy(reorder);
  dnnl_primitive_desc_destroy(rpd);
  return s;
}

/* Sets up desc on input as oneDNN's convolution (or deconvolution) with random data in
 * place. OUT_OF_SCOPE for what oneDNN cannot express, FAILED with the dnnl status name.
 * The caller releases l with layer_destroy, also after a failure. */
static baseline_status layer_create(int blocked, const convcl_conv_desc *desc,
                                    const convcl_shape *input, onednn_layer *l, char *note,
                                    size_t cap) {
  static const char *const mode_names[] = {"zeros", "reflect", "replicate", "circular"};
  baseline_status result = BASELINE_FAILED;
  dnnl_memory_t user_src = NULL, user_weights = NULL;
  memset(l, 0, sizeof *l);

  if (desc->padding_mode != CONVCL_PADDING_ZEROS) {
    snprintf(note, cap, "oneDNN has no %s padding",
             (unsigned)desc->padding_mode < 4 ? mode_names[desc->padding_mode] : "non-zero");
    return BASELINE_OUT_OF_SCOPE;
  }
  convcl_shape out;
  if (convcl_conv_output_shape(desc, input, &out) != CONVCL_OK) {
    snprintf(note, cap, "invalid layer: %s", convcl_last_error());
    return BASELINE_FAILED;
  }

  /* oneDNN takes explicit left/right padding, dilation counted from 0, and checks
   * conv: dst = (src + l + r - ek) / s + 1;  deconv: src = (dst + l + r - ek) / s + 1.
   * 'same'/'valid' are resolved as convcl resolves them (host/shape.c). A transposed
   * layer's output_padding extends the output at the end: r = pad_end - output_padding
   * keeps oneDNN's sizes exact, and oneDNN accepts it while r + stride > 0. */
  const int rank = desc->spatial_dims, nd = rank + 2, grouped = desc->groups > 1;
  const int64_t g = desc->groups, cin = desc->in_channels, cout = desc->out_channels;
  dnnl_dims_t strides, dilates, pad_l, pad_r;
  int negative_pad = 0;
  for (int j = 0; j < rank; j++) {
    const int64_t ek = desc->dilation[j] * (desc->kernel[j] - 1) + 1;
    int64_t pb = desc->pad_begin[j], pe = desc->pad_end[j];
    if (desc->padding == CONVCL_PAD_VALID) {
      pb = pe = 0;
    } else if (desc->padding == CONVCL_PAD_SAME || desc->padding == CONVCL_PAD_SAME_LOWER) {
      pb = desc->padding == CONVCL_PAD_SAME ? (ek - 1) / 2 : (ek - 1) - (ek - 1) / 2;
      pe = (ek - 1) - pb;
    }
    strides[j] = desc->stride[j];
    dilates[j] = desc->dilation[j] - 1;
    pad_l[j] = pb;
    pad_r[j] = pe;
    if (desc->transposed) {
      const int64_t min_size = (input->dims[2 + j] - 1) * desc->stride[j] - pb - pe + ek;
      pad_r[j] = pe - (out.dims[2 + j] - min_size);
      negative_pad |= pad_r[j] < 0;
    }
  }

  /* Weights: oneDNN's dims are (g,) out/g, in/g, k... for both directions. PyTorch's
   * conv weights [out, in/g, k...] are exactly that row-major; transposed weights
   * [in, out/g, k...] are the same dims with the out/g and in/g strides swapped. */
  dnnl_dims_t src_dims, dst_dims, w_dims, w_strides, b_dims = {cout};
  int wn = 0;
  if (grouped) w_dims[wn++] = g;
  w_dims[wn++] = cout / g;
  w_dims[wn++] = cin / g;
  for (int j = 0; j < rank; j++) w_dims[wn++] = desc->kernel[j];
  plain_strides(wn, w_dims, w_strides);
  if (desc->transposed) {
    const int o = grouped, i = grouped + 1;
    w_strides[o] = w_strides[i];
    w_strides[i] = w_strides[o] * w_dims[o];
  }
  for (int i = 0; i < nd; i++) {
    src_dims[i] = input->dims[i];
    dst_dims[i] = out.dims[i];
  }
  dnnl_dims_t src_strides, dst_strides;
  plain_strides(nd, src_dims, src_strides);
  plain_strides(nd, dst_dims, dst_strides);

  dnnl_memory_desc_t src_md, w_md, b_md, dst_md, src_any, w_any, dst_any;
  if (failed(dnnl_memory_desc_init_by_strides(&src_md, nd, src_dims, dnnl_f32, src_strides),
             "memory_desc_init", note, cap) ||
      failed(dnnl_memory_desc_init_by_strides(&w_md, wn, w_dims, dnnl_f32, w_strides),
             "memory_desc_init", note, cap) ||
      failed(dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_a), "memory_desc_init",
             note, cap) ||
      failed(dnnl_memory_desc_init_by_strides(&dst_md, nd, dst_dims, dnnl_f32, dst_strides),
             "memory_desc_init", note, cap) ||
      failed(dnnl_memory_desc_init_by_tag(&src_any, nd, src_dims, dnnl_f32, dnnl_format_tag_any),
             "memory_desc_init", note, cap) ||
      failed(dnnl_memory_desc_init_by_tag(&w_any, wn, w_dims, dnnl_f32, dnnl_format_tag_any),
             "memory_desc_init", note, cap) ||
      failed(dnnl_memory_desc_init_by_tag(&dst_any, nd, dst_dims, dnnl_f32, dnnl_format_tag_any),
             "memory_desc_init", note, cap))
    goto cleanup;

  const dnnl_memory_desc_t *want_src = blocked ? &src_any : &src_md;
  const dnnl_memory_desc_t *want_w = blocked ? &w_any : &w_md;
  const dnnl_memory_desc_t *want_dst = blocked ? &dst_any : &dst_md;
  const dnnl_memory_desc_t *want_b = desc->has_bias ? &b_md : NULL;
  /* auto lets oneDNN pick Winograd where it judges it faster; deconvolution has no auto,
   * and direct is what oneDNN's CPU deconvolutions implement. */
  union {
    dnnl_convolution_desc_t conv;
    dnnl_deconvolution_desc_t deconv;
  } op;
  dnnl_status_t s;
  if (desc->transposed)
    s = dnnl_dilated_deconvolution_forward_desc_init(
        &op.deconv, dnnl_forward_inference, dnnl_deconvolution_direct, want_src, want_w, want_b,
        want_dst, strides, dilates, pad_l, pad_r);
  else
    s = dnnl_dilated_convolution_forward_desc_init(&op.conv, dnnl_forward_inference,
                                                   dnnl_convolution_auto, want_src, want_w, want_b,
                                                   want_dst, strides, dilates, pad_l, pad_r);
  if (s == dnnl_invalid_arguments && negative_pad) {
    snprintf(note, cap,
             "oneDNN rejects this output_padding: it needs padding_r = pad_end - "
             "output_padding > -stride");
    result = BASELINE_OUT_OF_SCOPE;
    goto cleanup;
  }
  if (failed(s, desc->transposed ? "deconvolution_desc_init" : "convolution_desc_init", note, cap))
    goto cleanup;

  /* A user scratchpad keeps oneDNN's temporary buffer allocation out of the timed runs. */
  if (failed(dnnl_engine_create(&l->engine, dnnl_cpu, 0), "engine_create", note, cap) ||
      failed(dnnl_stream_create(&l->stream, l->engine, dnnl_stream_default_flags), "stream_create",
             note, cap) ||
      failed(dnnl_primitive_attr_create(&l->attr), "primitive_attr_create", note, cap) ||
      failed(dnnl_primitive_attr_set_scratchpad_mode(l->attr, dnnl_scratchpad_mode_user),
             "set_scratchpad_mode", note, cap) ||
      failed(dnnl_primitive_desc_create(&l->pd, &op, l->attr, l->engine, NULL),
             "primitive_desc_create", note, cap) ||
      failed(dnnl_primitive_create(&l->prim, l->pd), "primitive_create", note, cap))
    goto cleanup;

  const dnnl_memory_desc_t *pd_src = dnnl_primitive_desc_query_md(l->pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *pd_w = dnnl_primitive_desc_query_md(l->pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *pd_dst = dnnl_primitive_desc_query_md(l->pd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *pd_scratch =
      dnnl_primitive_desc_query_md(l->pd, dnnl_query_scratchpad_md, 0);
  if (failed(user_memory(&user_src, &src_md, l->engine, 1), "memory_create", note, cap) ||
      failed(user_memory(&user_weights, &w_md, l->engine, 2), "memory_create", note, cap) ||
      (desc->has_bias &&
       failed(user_memory(&l->bias, &b_md, l->engine, 3), "memory_create", note, cap)) ||
      failed(to_layout(&user_src, pd_src, l->engine, l->stream, &l->src), "reorder", note, cap) ||
      failed(to_layout(&user_weights, pd_w, l->engine, l->stream, &l->weights), "reorder", note,
             cap) ||
      failed(dnnl_memory_create(&l->dst, pd_dst, l->engine, DNNL_MEMORY_ALLOCATE), "memory_create",
             note, cap) ||
      failed(dnnl_memory_create(&l->scratch, pd_scratch, l->engine, DNNL_MEMORY_ALLOCATE),
             "memory_create", note, cap))
    goto cleanup;
  result = BASELINE_MEASURED;

cleanup:
  dnnl_memory_destroy(user_weights);
  dnnl_memory_destroy(user_src);
  return result;
}

static dnnl_status_t layer_run(const onednn_layer *l) {
  dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, l->src},
                             {DNNL_ARG_WEIGHTS, l->weights},
                             {DNNL_ARG_DST, l->dst},
                             {DNNL_ARG_SCRATCHPAD, l->scratch},
                             {DNNL_ARG_BIAS, l->bias}};
  dnnl_status_t s = dnnl_primitive_execute(l->prim, l->stream, l->bias ? 5 : 4, args);
  return s == dnnl_success ? dnnl_stream_wait(l->stream) : s;
}

/* The threads oneDNN's OpenMP runtime will use (baselines_set_threads set them), for the note;
 * 0 when not an OpenMP build or not found. */
static int omp_threads(void) {
  if (dnnl_version()->cpu_runtime != DNNL_RUNTIME_OMP) return 0;
  void *self = dlopen(NULL, RTLD_NOW);
  if (!self) return 0;
  int (*get)(void) = NULL;
  *(void **)&get = dlsym(self, "omp_get_max_threads");
  const int n = get ? get() : 0;
  dlclose(self);
  return n;
}

static baseline_status onednn_time(int blocked, const char *device, const convcl_conv_desc *desc,
                                   const convcl_shape *input, int warmup, int runs,
                                   double *median_ms, double *min_ms, char *note, size_t cap) {
  if (strncmp(device, "opencl:", 7) == 0) {
    snprintf(note, cap, "oneDNN runs on the CPU only");
    return BASELINE_OUT_OF_SCOPE;
  }
  if (runs < 1) runs = 1;
  double *ms = malloc((size_t)runs * sizeof *ms);
  if (!ms) {
    snprintf(note, cap, "out of memory");
    return BASELINE_FAILED;
  }
  onednn_layer l;
  baseline_status result = layer_create(blocked, desc, input, &l, note, cap);
  if (result != BASELINE_MEASURED) goto cleanup;
  result = BASELINE_FAILED;
  for (int i = 0; i < warmup; i++)
    if (failed(layer_run(&l), "primitive_execute", note, cap)) goto cleanup;
  for (int i = 0; i < runs; i++) {
    const double t0 = bench_now_ms();
    if (failed(layer_run(&l), "primitive_execute", note, cap)) goto cleanup;
    ms[i] = bench_now_ms() - t0;
  }
  bench_stats(ms, runs, median_ms, min_ms);
  const char *impl = "?";
  dnnl_primitive_desc_query(l.pd, dnnl_query_impl_info_str, 0, &impl);
  const int threads = omp_threads();
  const char *wait = getenv("OMP_WAIT_POLICY");
  if (threads > 0)
    snprintf(note, cap, "oneDNN %s, %d thread%s%s%s", impl, threads, threads == 1 ? "" : "s",
             wait ? ", OMP_WAIT_POLICY=" : "", wait ? wait : "");
  else
    snprintf(note, cap, "oneDNN %s", impl);
  result = BASELINE_MEASURED;

cleanup:
  layer_destroy(&l);
  free(ms);
  return result;
}

static baseline_status time_nchw(const char *device, const convcl_conv_desc *desc,
                                 const convcl_shape *input, int warmup, int runs, double *median_ms,
                                 double *min_ms, char *note, size_t cap) {
  return onednn_time(0, device, desc, input, warmup, runs, median_ms, min_ms, note, cap);
}

static baseline_status time_blocked(const char *device, const convcl_conv_desc *desc,
                                    const convcl_shape *input, int warmup, int runs,
                                    double *median_ms, double *min_ms, char *note, size_t cap) {
  return onednn_time(1, device, desc, input, warmup, runs, median_ms, min_ms, note, cap);
}

/* Listed by bench/baselines.c. */
const bench_baseline baseline_onednn_nchw = {"onednn_nchw", 0, time_nchw};
const bench_baseline baseline_onednn_blocked = {"onednn_blocked", 0, time_blocked};
