/* OpenCL implicit-GEMM solver (kernels/igemm.cl): every non-transposed convolution as
 * a tiled GEMM per group, weights packed once at plan time, input tiles gathered by the
 * kernel into local memory, so no im2col buffer. The split-K variants, for GPU layers
 * with too few tiles to fill the device, sum parts of K apart into a workspace that a
 * second kernel adds up. */
#include "opencl/opencl.h"

#include <limits.h>
#include <stdlib.h>

/* A variant of igemm.cl. */
typedef struct igemm_tiles {
  convcl_cl_tiles shape;
  int splitk; /* K in parts (tiled kernels only): igemm_splitk, then igemm_splitk_reduce */
} igemm_tiles;

/* A variant: the tiles of tuple, built into program, with K split or not. */
#define IGEMM_VARIANT(program, tuple, splitk) \
  { CONVCL_CL_TILES(program, tuple), splitk }

/* GPUs: 256 work-items with 4x4 blocks; 8 KB of local memory. */
#define IGEMM_GPU_TILES (0, 64, 64, 16, 4, 4)
/* GPUs on large grids: 256 work-items with 8x8 blocks, twice the reuse of each loaded
 * value; 16 KB of local memory. */
#define IGEMM_LARGE_TILES (0, 128, 128, 16, 8, 8)
/* GPUs: 64 work-items with 8x8 blocks: the 64x64 tiles of IGEMM_GPU_TILES, with half the
 * local-memory loads per multiply-add (4x4 blocks load 8 values for 16 of them). */
#define IGEMM_MID_TILES (0, 64, 64, 16, 8, 8)
/* GPUs: 128 work-items with 8x8 blocks over 128 columns, for layers of 64 out channels
 * whose columns are many. */
#define IGEMM_WIDE_TILES (0, 64, 128, 16, 8, 8)
/* Devices that cannot run 256 work-items per group: 64 work-items, 4 KB. */
#define IGEMM_SMALL_TILES (0, 32, 32, 16, 4, 4)
/* CPU devices: one work-item per group, 8 x 16 register blocks (PoCL's loops reach the
 * FMA peak with them and AVX2 spills little), 128 x 32 tiles in 128-deep slices: tall
 * tiles spread each gathered element of B over more rows. 32 KB of local memory, so
 * the program also builds on GPUs (the backend builds every program when it opens one). */
#define IGEMM_CPU_TILES (1, 128, 32, 128, 8, 16)

const char convcl_cl_igemm_gpu_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_GPU_TILES);
const char convcl_cl_igemm_small_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_SMALL_TILES);
const char convcl_cl_igemm_large_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_LARGE_TILES);
const char convcl_cl_igemm_cpu_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_CPU_TILES);
const char convcl_cl_igemm_mid_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_MID_TILES);
const char convcl_cl_igemm_wide_options[] = CONVCL_CL_TILE_OPTIONS(IGEMM_WIDE_TILES);

static const igemm_tiles gpu_tiles = IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_GPU, IGEMM_GPU_TILES, 0);
static const igemm_tiles small_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_SMALL, IGEMM_SMALL_TILES, 0);
static const igemm_tiles cpu_tiles = IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_CPU, IGEMM_CPU_TILES, 0);
static const igemm_tiles gpu_splitk_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_GPU, IGEMM_GPU_TILES, 1);
static const igemm_tiles small_splitk_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_SMALL, IGEMM_SMALL_TILES, 1);
static const igemm_tiles large_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_LARGE, IGEMM_LARGE_TILES, 0);
static const igemm_tiles mid_tiles = IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_MID, IGEMM_MID_TILES, 0);
static const igemm_tiles mid_splitk_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_MID, IGEMM_MID_TILES, 1);
static const igemm_tiles wide_tiles =
    IGEMM_VARIANT(CONVCL_CL_PROGRAM_IGEMM_WIDE, IGEMM_WIDE_TILES, 0);

/* The solver's tile variants, in the order of variant_names; new ones go last, so the
 * indices that tuning records and benches name keep their meaning. */
static const igemm_tiles *const variants[] = {&gpu_tiles,        &small_tiles,        &cpu_tiles,
                                              &gpu_splitk_tiles, &small_splitk_tiles, &large_tiles,
                                              &mid_tiles,        &mid_splitk_tiles,   &wide_tiles};
static const char *const variant_names[] = {
    "gpu", "small", "cpu", "gpu_splitk", "small_splitk", "large", "mid", "mid_splitk", "wide"};

/* Split K: a grid under SPLITK_FILL work-groups per compute unit leaves the device half
 * idle (ResNet-50's late layers on an H200: 8 to 16 tiles for 132 units), so K is split
 * until it reaches that, when K has SPLITK_MIN_SLICES TK slices or more; each part keeps
 * SPLITK_MIN_PART_SLICES or more, so the partial sums' traffic stays small next to the
 * GEMM, and there are at most SPLITK_MAX_PARTS. The partial outputs may take
 * SPLITK_WORKSPACE_MIN bytes, or a quarter of the input and output's bytes if more. */
enum {
  SPLITK_FILL = 2,
  SPLITK_MIN_SLICES = 8,
  SPLITK_MIN_PART_SLICES = 4,
  SPLITK_MAX_PARTS = 32,
  SPLITK_WORKSPACE_MIN = 16 << 20
};

typedef struct igemm_plan {
  cl_kernel kernel, reduce; /* reduce: split K's second kernel, else NULL */
  cl_mem weights, taps, bias;
  cl_mem partials; /* split K: [parts][batch][k][out positions] */
  size_t global[3], local[3], reduce_global;
} igemm_plan;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Kernel 1 and every read inside the input, at any stride: column j of B is x at the
 * column's own position, so the pointwise kernels need no tap table and no bounds. */
static int pointwise_problem(const convcl_problem *p) {
  for (int d = 0; d < 3; ++d)
    if (p->kernel[d] != 1 || p->pad_begin[d] != 0 || (p->out[d] - 1) * p->stride[d] >= p->in[d])
      return 0;
  return 1;
}

/* Work-groups of an unsplit launch of t's tiles. */
static int64_t tiles_groups(const convcl_problem *p, const igemm_tiles *t) {
  const int64_t ncols = p->n * p->out[0] * p->out[1] * p->out[2], mg = p->k / p->groups;
  return (ncols + t->shape.tn - 1) / t->shape.tn * ((mg + t->shape.tm - 1) / t->shape.tm) *
         p->groups;
}

/* The parts split-K tiles t cut K into (see SPLITK_FILL); forced (the variant was asked
 * for by name), at least 2 where K has 2 slices, so tests exercise the split on small
 * problems. Parts have equal whole slices but the last, which may have fewer. */
static int splitk_parts(const convcl_problem *p, const igemm_tiles *t, int compute_units,
                        int forced) {
  const int64_t slices =
      convcl_cl_tiles_kpad(&t->shape, p->c / p->groups * p->kernel_elems) / t->shape.tk;
  const int64_t groups = tiles_groups(p, t), target = (int64_t)SPLITK_FILL * compute_units;
  int64_t parts = 1;
  if (groups < target && slices >= SPLITK_MIN_SLICES)
    parts = min64(min64((target + groups - 1) / groups, slices / SPLITK_MIN_PART_SLICES),
                  SPLITK_MAX_PARTS);
  if (forced && slices >= 2 && parts < 2) parts = 2;
  /* The workspace bound, and the kernels' int offsets into it. */
  const int64_t io_bytes = (p->input_elems + p->output_elems) * (int64_t)sizeof(float);
  const int64_t cap = io_bytes / 4 > SPLITK_WORKSPACE_MIN ? io_bytes / 4 : SPLITK_WORKSPACE_MIN;
  parts = min64(parts,
                min64(cap / (p->output_elems * (int64_t)sizeof(float)), INT_MAX / p->output_elems));
  if (parts < 1) return 1;
  const int64_t per_part = (slices + parts - 1) / parts;
  return (int)((slices + per_part - 1) / per_part);
}

/* The variants to try on this device, best first; returns how many: variant alone, or
 * for -1 the device's own tiles, then the small ones; on GPUs split K where
 * splitk_parts would split it. */
static int candidates(const convcl_opencl_state *cl, const convcl_problem *p, int variant,
                      const igemm_tiles *out[2]) {
  if (variant >= 0) {
    out[0] = variants[variant];
    return 1;
  }
  if (cl->limits.is_cpu) {
    out[0] = &cpu_tiles;
    out[1] = &small_tiles;
    return 2;
  }
  const int units = cl->info.compute_units;
  /* Large tiles where they fill the device once over (batched layers), with 128 out
   * channels per group or more, at stride 1 or read in place: on an H200 at batch 32 they
   * ran ResNet-50's 1x1 stride-1 layers 1.06x to 1.22x faster than the 64x64 ones, but
   * layers of 64 out channels (half of each tile idle) 1.45x to 1.6x slower and strided
   * 3x3 ones up to 1.2x slower (bench/results/nvidia-h200_2026-11-26b); on an H100, tuning
   * took them for every strided 1x1 layer, 1.03x to 1.27x faster than 64x64 tiles, also
   * where they made only 1.6 work-groups per compute unit (bench/results/nvidia-h100_2026-11-26).
   */
  const int unit_stride = p->stride[0] == 1 && p->stride[1] == 1 && p->stride[2] == 1;
  if (p->k / p->groups >= 128 && (unit_stride || pointwise_problem(p)) &&
      tiles_groups(p, &large_tiles) >= units) {
    out[0] = &large_tiles;
    out[1] = &gpu_tiles;
    return 2;
  }
  out[0] = splitk_parts(p, &gpu_splitk_tiles, units, 0) >= 2 ? &gpu_splitk_tiles : &gpu_tiles;
  out[1] = splitk_parts(p, &small_splitk_tiles, units, 0) >= 2 ? &small_splitk_tiles : &small_tiles;
  return 2;
}

/* The kernels do all index arithmetic in int (64-bit math is slow on GPUs and costs
 * vector lanes on CPUs); these bounds keep every int expression they form in range. */
static int fits_int(const convcl_problem *p, const igemm_tiles *t) {
  const int64_t cg = p->c / p->groups, mg = p->k / p->groups;
  if (p->input_elems > INT_MAX || p->output_elems > INT_MAX || p->k > INT_MAX ||
      cg * p->kernel_elems > INT_MAX / 2 || mg > INT_MAX / 2 ||
      p->n * p->out[0] * p->out[1] * p->out[2] > INT_MAX - t->shape.tn)
    return 0;
  const int64_t kpad = convcl_cl_tiles_kpad(&t->shape, cg * p->kernel_elems);
  if (p->groups * kpad * convcl_cl_tiles_mpad(&t->shape, mg) > INT_MAX) return 0;
  for (int d = 0; d < 3; ++d) {
    const int64_t fields[] = {p->in[d],     p->out[d],      p->kernel[d],
                              p->stride[d], p->dilation[d], p->pad_begin[d]};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; ++i)
      if (fields[i] > INT_MAX / 4) return 0;
    /* Both ends of the receptive field, before mapping, and the 2 * size a
     * reflection forms. */
    if (p->out[d] * p->stride[d] + (p->kernel[d] - 1) * p->dilation[d] > INT_MAX / 2 ||
        p->pad_begin[d] > INT_MAX / 2)
      return 0;
  }
  return 1;
}

static int igemm_applicable(const convcl_context *ctx, const convcl_problem *p) {
  const convcl_opencl_state *cl = ctx->impl;
  const igemm_tiles *tries[2];
  if (p->transposed) return 0;
  const int count = candidates(cl, p, -1, tries);
  for (int i = 0; i < count; ++i)
    if (convcl_cl_tiles_fit(&tries[i]->shape, &cl->limits) && fits_int(p, tries[i])) return 1;
  return 0;
}

/* The partial outputs' bytes for tiles t; 0 unless split K. */
static size_t splitk_bytes(const convcl_opencl_state *cl, const convcl_problem *p,
                           const igemm_tiles *t, int forced) {
  if (!t->splitk) return 0;
  return (size_t)splitk_parts(p, t, cl->info.compute_units, forced) * (size_t)p->output_elems *
         sizeof(float);
}

/* The variant -1 may build is not known before its kernel is: the most of those it may
 * take. create() then reports what it built. */
static size_t igemm_workspace(const convcl_context *ctx, const convcl_problem *p) {
  const convcl_opencl_state *cl = ctx->impl;
  const igemm_tiles *tries[2];
  size_t most = 0;
  const int count = candidates(cl, p, -1, tries);
  for (int i = 0; i < count; ++i) {
    const size_t bytes = splitk_bytes(cl, p, tries[i], 0);
    if (convcl_cl_tiles_fit(&tries[i]->shape, &cl->limits) && fits_int(p, tries[i]) && bytes > most)
      most = bytes;
  }
  return most;
}

static void igemm_free(igemm_plan *st) {
  if (!st) return;
  if (st->kernel) clReleaseKernel(st->kernel);
  if (st->reduce) clReleaseKernel(st->reduce);
  if (st->partials) clReleaseMemObject(st->partials);
  if (st->weights) clReleaseMemObject(st->weights);
  if (st->taps) clReleaseMemObject(st->taps);
  if (st->bias) clReleaseMemObject(st->bias);
  free(st);
}

/* The first candidate variant (plan->variant, or the device's pick) that fits the
 * device, the problem and, once compiled, the kernel's own work-group limit (registers
 * can lower it below the device's). */
static convcl_status pick_kernel(convcl_plan *plan, int pointwise, const igemm_tiles **tiles,
                                 cl_kernel *kernel) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const igemm_tiles *tries[2];
  const int count = candidates(cl, &plan->problem, plan->variant, tries);
  for (int i = 0; i < count; ++i) {
    if (!convcl_cl_tiles_fit(&tries[i]->shape, &cl->limits) || !fits_int(&plan->problem, tries[i]))
      continue;
    static const char *const names[2][2] = {{"igemm", "igemm_pointwise"},
                                            {"igemm_splitk", "igemm_splitk_pointwise"}};
    const convcl_status status = convcl_cl_tiles_kernel(
        plan->ctx, &tries[i]->shape, names[tries[i]->splitk][pointwise], kernel, NULL);
    if (status != CONVCL_OK) return status;
    if (*kernel) {
      *tiles = tries[i];
      return CONVCL_OK;
    }
  }
  if (plan->variant >= 0)
    return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                        "OpenCL implicit GEMM: tile variant '%s' does not fit this problem on '%s'",
                        variant_names[plan->variant], cl->info.name);
  return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                      "OpenCL implicit GEMM: no tile variant fits '%s'", cl->info.name);
}

/* taps[kk] for kk = c * kernel_elems + (kd, kh, kw), the order of the weights' rows:
 * {c * in_plane, kd * dilation, kh * dilation, kw * dilation}; rows past kg get -1,
 * which the kernel reads as zero. */
static cl_int *make_taps(const convcl_problem *p, int64_t kg, int64_t kpad) {
  const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  cl_int *taps = malloc((size_t)kpad * 4 * sizeof *taps);
  if (!taps) return NULL;
  for (int64_t kk = 0; kk < kpad; ++kk) {
    cl_int *t = taps + 4 * kk;
    if (kk >= kg) {
      t[0] = -1, t[1] = t[2] = t[3] = 0;
      continue;
    }
    const int64_t c = kk / p->kernel_elems, tap = kk % p->kernel_elems;
    const int64_t kw = tap % p->kernel[2], kh = tap / p->kernel[2] % p->kernel[1],
                  kd = tap / (p->kernel[2] * p->kernel[1]);
    t[0] = (cl_int)(c * in_plane);
    t[1] = (cl_int)(kd * p->dilation[0]);
    t[2] = (cl_int)(kh * p->dilation[1]);
    t[3] = (cl_int)(kw * p->dilation[2]);
  }
  return taps;
}

/* Binds every argument but input and output once (split K: the partial outputs in the
 * GEMM kernel's output's place, and the reduce kernel's); enqueue() binds those and launches. */
static convcl_status set_args(igemm_plan *st, const convcl_problem *p, int64_t kpad, int64_t mpad,
                              int parts, int64_t kpart) {
  const cl_int ncols = (cl_int)(p->n * p->out[0] * p->out[1] * p->out[2]);
  const cl_int c = (cl_int)p->c, cg = (cl_int)(p->c / p->groups), k = (cl_int)p->k,
               mg = (cl_int)(p->k / p->groups), kpad_i = (cl_int)kpad, mpad_i = (cl_int)mpad;
  const cl_int4 in = convcl_cl_dims3(p->in), out = convcl_cl_dims3(p->out),
                stride = convcl_cl_dims3(p->stride), pad = convcl_cl_dims3(p->pad_begin);
  const cl_int epilogue = convcl_cl_epilogue(p), mode = (cl_int)p->mode;
  /* Unused buffer arguments still need a valid buffer: NULL is not portable. */
  const cl_mem taps = st->taps ? st->taps : st->weights;
  const cl_mem bias = st->bias ? st->bias : st->weights;
  const convcl_cl_arg args[] = {
      {1, sizeof(cl_mem), &st->weights},
      {2, sizeof(cl_mem), &taps},
      {3, sizeof(cl_mem), &bias},
      {5, sizeof ncols, &ncols},
      {6, sizeof c, &c},
      {7, sizeof cg, &cg},
      {8, sizeof k, &k},
      {9, sizeof mg, &mg},
      {10, sizeof kpad_i, &kpad_i},
      {11, sizeof mpad_i, &mpad_i},
      {12, sizeof in, &in},
      {13, sizeof out, &out},
      {14, sizeof stride, &stride},
      {15, sizeof pad, &pad},
      {16, sizeof epilogue, &epilogue},
      {17, sizeof mode, &mode},
  };
  convcl_status status = convcl_opencl_set_args(st->kernel, args, sizeof args / sizeof args[0]);
  if (status != CONVCL_OK || !st->reduce) return status;
  const cl_int kpart_i = (cl_int)kpart, total = (cl_int)p->output_elems, parts_i = parts,
               out_plane = (cl_int)(p->out[0] * p->out[1] * p->out[2]);
  const convcl_cl_arg splitk_args[] = {{4, sizeof(cl_mem), &st->partials},
                                       {18, sizeof kpart_i, &kpart_i}};
  const convcl_cl_arg reduce_args[] = {
      {0, sizeof(cl_mem), &st->partials},
      {1, sizeof(cl_mem), &bias},
      {3, sizeof total, &total},
      {4, sizeof parts_i, &parts_i},
      {5, sizeof k, &k},
      {6, sizeof out_plane, &out_plane},
      {7, sizeof epilogue, &epilogue},
  };
  status = convcl_opencl_set_args(st->kernel, splitk_args, 2);
  if (status == CONVCL_OK)
    status =
        convcl_opencl_set_args(st->reduce, reduce_args, sizeof reduce_args / sizeof reduce_args[0]);
  return status;
}

static convcl_status igemm_create(convcl_plan *plan, const float *weights, const float *bias) {
  convcl_opencl_state *cl = plan->ctx->impl;
  const convcl_problem *p = &plan->problem;
  const int pointwise = pointwise_problem(p);
  const igemm_tiles *tiles = NULL;
  float *packed = NULL;
  cl_int *taps = NULL;

  igemm_plan *st = calloc(1, sizeof *st);
  if (!st) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory creating a plan");
  convcl_status status = pick_kernel(plan, pointwise, &tiles, &st->kernel);
  if (status != CONVCL_OK) goto cleanup;

  const int64_t kg = p->c / p->groups * p->kernel_elems, mg = p->k / p->groups;
  const int64_t kpad = convcl_cl_tiles_kpad(&tiles->shape, kg),
                mpad = convcl_cl_tiles_mpad(&tiles->shape, mg);
  const int64_t ncols = p->n * p->out[0] * p->out[1] * p->out[2];
  const int parts =
      tiles->splitk ? splitk_parts(p, tiles, cl->info.compute_units, plan->variant >= 0) : 1;
  const int64_t slices = kpad / tiles->shape.tk,
                kpart = (slices + parts - 1) / parts * tiles->shape.tk;
  plan->workspace_bytes = splitk_bytes(cl, p, tiles, plan->variant >= 0);
  if (tiles->splitk) {
    status =
        convcl_opencl_kernel(plan->ctx, tiles->shape.program, "igemm_splitk_reduce", &st->reduce);
    if (status != CONVCL_OK) goto cleanup;
    status = convcl_opencl_buffer(cl, "split-K partial output", plan->workspace_bytes,
                                  CL_MEM_READ_WRITE, &st->partials);
    if (status != CONVCL_OK) goto cleanup;
    st->reduce_global = (size_t)convcl_cl_round_up(p->output_elems, (int64_t)cl->wg);
  }
  /* The weights [k][kg] are the groups' A matrices: panels of P output channels, each row
   * kk of a panel the weights of one (channel, tap), so the kernels read A as contiguous,
   * aligned, in-bounds floats. */
  packed = convcl_cl_pack_a(weights, p->groups, mg, kg, kpad, mpad,
                            tiles->shape.blocked ? tiles->shape.rm : mpad);
  if (!packed) goto out_of_memory;
  status = convcl_opencl_upload(cl, "packed weight", packed,
                                (size_t)(p->groups * kpad * mpad) * sizeof(float), &st->weights);
  if (status != CONVCL_OK) goto cleanup;
  if (!pointwise) {
    taps = make_taps(p, kg, kpad);
    if (!taps) goto out_of_memory;
    status =
        convcl_opencl_upload(cl, "tap table", taps, (size_t)kpad * 4 * sizeof(cl_int), &st->taps);
    if (status != CONVCL_OK) goto cleanup;
  }
  if (p->has_bias) {
    status = convcl_opencl_upload(cl, "bias", bias, (size_t)p->k * sizeof(float), &st->bias);
    if (status != CONVCL_OK) goto cleanup;
  }
  convcl_cl_tiles_local(&tiles->shape, st->local);
  st->global[0] = (size_t)((ncols + tiles->shape.tn - 1) / tiles->shape.tn) * st->local[0];
  st->global[1] = (size_t)((mg + tiles->shape.tm - 1) / tiles->shape.tm) * st->local[1];
  st->global[2] = (size_t)(p->groups * parts);
  status = set_args(st, p, kpad, mpad, parts, kpart);
  if (status != CONVCL_OK) goto cleanup;
  plan->impl = st;
  st = NULL;
  goto cleanup;

out_of_memory:
  status = convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "out of host memory packing the weights");
cleanup:
  free(packed);
  free(taps);
  igemm_free(st);
  return status;
}

static convcl_status igemm_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                   convcl_tensor *output) {
  const convcl_opencl_state *cl = plan->ctx->impl;
  const igemm_plan *st = plan->impl;
  /* Split K: the GEMM reads the input, the reduce kernel (argument 2) writes the output;
   * the in-order queue runs them one after the other. */
  convcl_status status = convcl_cl_bind(st->kernel, 0, st->reduce ? st->reduce : st->kernel,
                                        st->reduce ? 2 : 4, input, output);
  if (status == CONVCL_OK) {
    cl_int err = clEnqueueNDRangeKernel(cl->queue, st->kernel, 3, NULL, st->global, st->local, 0,
                                        NULL, NULL);
    if (err == CL_SUCCESS && st->reduce)
      err = clEnqueueNDRangeKernel(cl->queue, st->reduce, 1, NULL, &st->reduce_global, &cl->wg, 0,
                                   NULL, NULL);
    if (err != CL_SUCCESS) status = convcl_cl_fail("clEnqueueNDRangeKernel", err);
  }
  return status;
}

static void igemm_destroy(convcl_plan *plan) {
  igemm_free(plan->impl);
  plan->impl = NULL;
}

const convcl_solver convcl_opencl_igemm_solver = {
    .algo = CONVCL_ALGO_IMPLICIT_GEMM,
    .applicable = igemm_applicable,
    .workspace = igemm_workspace,
    .create = igemm_create,
    .enqueue = igemm_enqueue,
    .destroy = igemm_destroy,
    .variant_count = sizeof variants / sizeof variants[0],
    .variant_names = variant_names,
};
