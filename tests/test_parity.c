/* Parity sweep: every algorithm of a backend (and AUTO) against the reference
 * (host/ref) over named edge cases and a seeded random sweep of valid descriptors.
 *
 *   test_parity cpu|opencl [RANDOM_COUNT [SEED]]
 *
 * Exits 0 when all pass, 77 when mode is opencl and no OpenCL device opens. */
#include "expected.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes stay small so the sweep takes seconds on the CPU and a few minutes on PoCL
 * under the sanitizers; the random sweep's default count and seed: */
#define RANDOM_COUNT 1000
#define RANDOM_SEED 20240601u

/* A test case. Every field left 0 takes the default in brackets, so a named case
 * spells out only what it is about (the NNPACK tester pattern):
 * rank [2], batch [1], in_channels [3], out_channels [4], groups [1], size [6],
 * kernel [3], stride [1], dilation [1]; padding, pads, padding_mode, output_padding
 * and output_size are PyTorch's defaults at 0; no_bias 0 keeps the bias; relu 1 fuses
 * a ReLU. */
typedef struct param {
  const char *name;
  int rank, transposed, no_bias, relu;
  int64_t batch, in_channels, out_channels, groups;
  int64_t size[3], kernel[3], stride[3], dilation[3];
  convcl_padding_kind padding;
  int64_t pad_begin[3], pad_end[3];
  convcl_padding_mode mode;
  int64_t output_padding[3], output_size[3];
} param;

static int64_t or_default(int64_t v, int64_t def) { return v != 0 ? v : def; }

static void make_desc(const param *p, convcl_conv_desc *d, convcl_shape *input) {
  const int rank = p->rank != 0 ? p->rank : 2;
  int64_t kernel[3];
  for (int i = 0; i < 3; i++) kernel[i] = or_default(p->kernel[i], 3);
  convcl_conv_desc_init(d, rank, p->transposed, or_default(p->in_channels, 3),
                        or_default(p->out_channels, 4), kernel);
  d->groups = or_default(p->groups, 1);
  d->padding = p->padding;
  d->padding_mode = p->mode;
  d->has_bias = !p->no_bias;
  d->activation = p->relu ? CONVCL_ACTIVATION_RELU : CONVCL_ACTIVATION_NONE;
  input->ndim = rank + 2;
  input->dims[0] = or_default(p->batch, 1);
  input->dims[1] = d->in_channels;
  for (int i = 0; i < rank; i++) {
    d->stride[i] = or_default(p->stride[i], 1);
    d->dilation[i] = or_default(p->dilation[i], 1);
    d->pad_begin[i] = p->pad_begin[i];
    d->pad_end[i] = p->pad_end[i];
    d->output_padding[i] = p->output_padding[i];
    d->output_size[i] = p->output_size[i];
    input->dims[2 + i] = or_default(p->size[i], 6);
  }
}

#define ALL(v) \
  { v, v, v }

static const param named_cases[] = {
    {.name = "plain"},
    {.name = "kernel_larger_than_input_padded",
     .size = {3, 2},
     .kernel = ALL(5),
     .pad_begin = ALL(2),
     .pad_end = ALL(2)},
    {.name = "one_pixel_input", .size = ALL(1), .pad_begin = ALL(1), .pad_end = ALL(1)},
    {.name = "one_pixel_input_pointwise", .size = ALL(1), .kernel = ALL(1), .batch = 2},
    {.name = "asymmetric_pads", .size = {7, 5}, .pad_begin = {1, 0}, .pad_end = {0, 2}},
    {.name = "asymmetric_pads_strided",
     .size = {9, 8},
     .stride = {2, 3},
     .pad_begin = {2, 1},
     .pad_end = {0, 3}},
    {.name = "same_even_kernel", .padding = CONVCL_PAD_SAME, .kernel = {4, 2}, .size = {7, 6}},
    {.name = "same_dilated",
     .padding = CONVCL_PAD_SAME,
     .kernel = {2, 3},
     .dilation = {3, 2},
     .size = {8, 7}},
    {.name = "same_lower", .padding = CONVCL_PAD_SAME_LOWER, .kernel = {4, 3}, .dilation = {1, 2}},
    {.name = "valid", .padding = CONVCL_PAD_VALID, .kernel = {3, 5}, .size = {8, 9}},
    {.name = "stride_gt_kernel", .kernel = ALL(2), .stride = ALL(3), .size = ALL(9)},
    {.name = "stride_2", .stride = ALL(2), .pad_begin = ALL(1), .pad_end = ALL(1), .size = {9, 8}},
    {.name = "pad_eq_kernel_minus_1", .pad_begin = ALL(2), .pad_end = ALL(2)},
    {.name = "dilation_gt_1",
     .dilation = ALL(2),
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {9, 8}},
    {.name = "dilated_kernel_spans_input", .dilation = ALL(3), .size = ALL(7)},
    {.name = "batch_gt_1", .batch = 3, .size = {5, 4}},
    {.name = "groups_2",
     .in_channels = 6,
     .out_channels = 4,
     .groups = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "groups_eq_channels",
     .in_channels = 4,
     .out_channels = 4,
     .groups = 4,
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "depthwise_multiplier_2",
     .in_channels = 4,
     .out_channels = 8,
     .groups = 4,
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "depthwise_stride_2",
     .in_channels = 5,
     .out_channels = 5,
     .groups = 5,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {9, 7}},
    /* The depthwise solvers: padded tiles and flat loops on the CPU (3x3 at stride 1
     * and 2 have their own loops), a few outputs per work-item along W in OpenCL with
     * a fast path where a block's taps are all inside the row. */
    {.name = "depthwise_3x3_s1_p1_odd_width",
     .in_channels = 3,
     .out_channels = 3,
     .groups = 3,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {9, 37}},
    {.name = "depthwise_3x3_s2_p1_odd",
     .in_channels = 4,
     .out_channels = 4,
     .groups = 4,
     .batch = 2,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {11, 13}},
    {.name = "depthwise_5x5_s2_multiplier_3_no_bias",
     .no_bias = 1,
     .in_channels = 2,
     .out_channels = 6,
     .groups = 2,
     .kernel = ALL(5),
     .stride = ALL(2),
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {12, 19}},
    {.name = "depthwise_stride_3_asymmetric",
     .in_channels = 3,
     .out_channels = 6,
     .groups = 3,
     .stride = {3, 3},
     .pad_begin = {2, 0},
     .pad_end = {0, 2},
     .size = {10, 17}},
    {.name = "depthwise_dilation_2",
     .in_channels = 3,
     .out_channels = 3,
     .groups = 3,
     .dilation = ALL(2),
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {9, 10}},
    {.name = "depthwise_reflect_multiplier_2",
     .mode = CONVCL_PADDING_REFLECT,
     .in_channels = 3,
     .out_channels = 6,
     .groups = 3,
     .pad_begin = {1, 2},
     .pad_end = {2, 1},
     .size = {7, 9}},
    {.name = "depthwise_replicate_stride_2",
     .mode = CONVCL_PADDING_REPLICATE,
     .in_channels = 2,
     .out_channels = 2,
     .groups = 2,
     .stride = ALL(2),
     .pad_begin = ALL(3),
     .pad_end = ALL(1),
     .size = {6, 7}},
    {.name = "depthwise_circular_same",
     .mode = CONVCL_PADDING_CIRCULAR,
     .padding = CONVCL_PAD_SAME,
     .in_channels = 3,
     .out_channels = 3,
     .groups = 3,
     .kernel = ALL(4),
     .size = {5, 6}},
    {.name = "depthwise_kernel_larger_than_input",
     .in_channels = 2,
     .out_channels = 4,
     .groups = 2,
     .kernel = ALL(5),
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {3, 2}},
    {.name = "depthwise_one_column",
     .in_channels = 2,
     .out_channels = 2,
     .groups = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {5, 1}},
    /* Tall planes: the CPU solver splits the rows into several tile blocks. */
    {.name = "depthwise_tall_blocks",
     .in_channels = 2,
     .out_channels = 2,
     .groups = 2,
     .stride = {2, 1},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {301, 45}},
    {.name = "depthwise_1d_reflect_strided",
     .rank = 1,
     .mode = CONVCL_PADDING_REFLECT,
     .in_channels = 4,
     .out_channels = 8,
     .groups = 4,
     .kernel = {3},
     .stride = {2},
     .pad_begin = {2},
     .pad_end = {1},
     .size = {21}},
    {.name = "depthwise_3d_stride_dilation_reflect",
     .rank = 3,
     .mode = CONVCL_PADDING_REFLECT,
     .in_channels = 2,
     .out_channels = 4,
     .groups = 2,
     .stride = {2, 1, 2},
     .dilation = {1, 2, 1},
     .pad_begin = {1, 2, 1},
     .pad_end = {1, 2, 1},
     .size = {5, 6, 7}},
    {.name = "pointwise", .in_channels = 7, .out_channels = 5, .kernel = ALL(1)},
    {.name = "pointwise_stride_2", .kernel = ALL(1), .stride = ALL(2), .size = {7, 6}},
    {.name = "no_bias", .no_bias = 1},
    {.name = "many_channels_odd",
     .in_channels = 17,
     .out_channels = 19,
     .size = {9, 11},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "odd_large_spatial",
     .in_channels = 2,
     .out_channels = 3,
     .size = {23, 17},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "non_square_kernel", .kernel = {1, 5}, .size = {4, 9}, .pad_end = {0, 4}},
    {.name = "reflect", .mode = CONVCL_PADDING_REFLECT, .pad_begin = {1, 2}, .pad_end = {1, 2}},
    {.name = "reflect_pad_eq_input_minus_1",
     .mode = CONVCL_PADDING_REFLECT,
     .size = {3, 4},
     .pad_begin = {2, 3},
     .pad_end = {2, 3}},
    {.name = "reflect_same_even",
     .mode = CONVCL_PADDING_REFLECT,
     .padding = CONVCL_PAD_SAME,
     .kernel = ALL(4)},
    {.name = "replicate",
     .mode = CONVCL_PADDING_REPLICATE,
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {4, 5}},
    {.name = "replicate_pad_gt_input",
     .mode = CONVCL_PADDING_REPLICATE,
     .size = {2, 1},
     .pad_begin = {3, 4},
     .pad_end = {4, 3}},
    {.name = "circular",
     .mode = CONVCL_PADDING_CIRCULAR,
     .pad_begin = {2, 1},
     .pad_end = {2, 1},
     .size = {5, 4}},
    {.name = "circular_pad_eq_input",
     .mode = CONVCL_PADDING_CIRCULAR,
     .size = {3, 2},
     .pad_begin = {3, 2},
     .pad_end = {3, 2}},
    {.name = "circular_asymmetric_strided",
     .mode = CONVCL_PADDING_CIRCULAR,
     .stride = ALL(2),
     .pad_begin = {0, 2},
     .pad_end = {2, 1},
     .size = {6, 5}},
    {.name = "conv1d", .rank = 1, .size = {20}},
    {.name = "conv1d_stride_dilation",
     .rank = 1,
     .size = {23},
     .stride = {2},
     .dilation = {3},
     .pad_begin = {3},
     .pad_end = {1}},
    {.name = "conv1d_reflect",
     .rank = 1,
     .mode = CONVCL_PADDING_REFLECT,
     .kernel = {5},
     .pad_begin = {2},
     .pad_end = {2},
     .size = {8}},
    {.name = "conv1d_circular_same",
     .rank = 1,
     .mode = CONVCL_PADDING_CIRCULAR,
     .padding = CONVCL_PAD_SAME,
     .kernel = {4},
     .size = {5}},
    {.name = "conv1d_depthwise",
     .rank = 1,
     .in_channels = 6,
     .out_channels = 12,
     .groups = 6,
     .pad_begin = {1},
     .pad_end = {1},
     .size = {11}},
    {.name = "conv1d_one_pixel",
     .rank = 1,
     .size = {1},
     .kernel = {3},
     .pad_begin = {1},
     .pad_end = {1}},
    {.name = "conv3d", .rank = 3, .size = ALL(5)},
    {.name = "conv3d_stride_pad",
     .rank = 3,
     .stride = {1, 2, 2},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {4, 6, 5}},
    {.name = "conv3d_asymmetric_pads",
     .rank = 3,
     .kernel = ALL(2),
     .pad_begin = {1, 0, 2},
     .pad_end = {0, 1, 1},
     .size = {3, 3, 4}},
    {.name = "conv3d_dilation",
     .rank = 3,
     .dilation = {2, 1, 2},
     .pad_begin = {2, 1, 2},
     .pad_end = {2, 1, 2},
     .size = {5, 4, 5}},
    {.name = "conv3d_replicate",
     .rank = 3,
     .mode = CONVCL_PADDING_REPLICATE,
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .size = {2, 3, 3}},
    {.name = "conv3d_reflect",
     .rank = 3,
     .mode = CONVCL_PADDING_REFLECT,
     .pad_begin = {1, 2, 1},
     .pad_end = {1, 2, 1},
     .size = {3, 4, 4}},
    {.name = "conv3d_circular",
     .rank = 3,
     .mode = CONVCL_PADDING_CIRCULAR,
     .pad_begin = {1, 1, 2},
     .pad_end = {1, 1, 2},
     .size = {3, 3, 4}},
    {.name = "conv3d_depthwise",
     .rank = 3,
     .in_channels = 3,
     .out_channels = 6,
     .groups = 3,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {4, 3, 4}},
    {.name = "conv3d_kernel_larger_than_input",
     .rank = 3,
     .size = {1, 2, 2},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    /* Large enough for the CPU implicit GEMM's several K blocks (C/groups x taps above
     * 256) and position blocks, with channels and positions that no tile size divides. */
    {.name = "tiles_uneven",
     .in_channels = 70,
     .out_channels = 37,
     .size = {19, 23},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "tiles_uneven_no_bias_strided",
     .no_bias = 1,
     .in_channels = 45,
     .out_channels = 29,
     .stride = {2, 1},
     .dilation = {1, 2},
     .size = {33, 27},
     .pad_begin = {1, 2},
     .pad_end = {0, 1}},
    {.name = "tiles_grouped",
     .in_channels = 3 * 41,
     .out_channels = 3 * 11,
     .groups = 3,
     .batch = 2,
     .size = {13, 17},
     .pad_begin = ALL(1),
     .pad_end = ALL(1)},
    {.name = "tiles_pointwise",
     .in_channels = 300,
     .out_channels = 19,
     .kernel = ALL(1),
     .size = {17, 19}},
    /* The CPU gemm solver (1x1, stride 1, unpadded: the input read in place): groups,
     * batches, K blocks (C/groups above 128), positions and channels no tile divides,
     * the ReLU in its last K block's store. */
    {.name = "pointwise_groups_batch_2",
     .in_channels = 12,
     .out_channels = 9,
     .groups = 3,
     .batch = 2,
     .kernel = ALL(1),
     .size = {5, 7}},
    {.name = "pointwise_odd_relu",
     .relu = 1,
     .in_channels = 37,
     .out_channels = 19,
     .kernel = ALL(1),
     .size = {13, 11}},
    {.name = "pointwise_deep_relu_no_bias_batch_2",
     .relu = 1,
     .no_bias = 1,
     .batch = 2,
     .in_channels = 300,
     .out_channels = 70,
     .kernel = ALL(1),
     .size = {9, 9}},
    {.name = "pointwise_grouped_deep_relu",
     .relu = 1,
     .in_channels = 2 * 140,
     .out_channels = 2 * 33,
     .groups = 2,
     .kernel = ALL(1),
     .size = {6, 5}},
    {.name = "pointwise_1d_batch_3",
     .rank = 1,
     .batch = 3,
     .in_channels = 9,
     .out_channels = 33,
     .kernel = {1},
     .size = {77}},
    {.name = "pointwise_3d_relu",
     .rank = 3,
     .relu = 1,
     .in_channels = 5,
     .out_channels = 11,
     .kernel = ALL(1),
     .size = {3, 4, 5}},
    /* Strided 1x1 layers (ResNet's downsampling shortcuts), which the OpenCL implicit GEMM
     * reads in place without a tap table: batches, columns past a tile, and an end pad
     * that no output reaches (7 + 1 at stride 2) beside one that an output does (6 + 1). */
    {.name = "pointwise_stride_2_batch_3_deep",
     .batch = 3,
     .in_channels = 70,
     .out_channels = 33,
     .kernel = ALL(1),
     .stride = ALL(2),
     .size = {15, 13}},
    {.name = "pointwise_stride_2_end_pad_unread",
     .batch = 2,
     .in_channels = 6,
     .out_channels = 5,
     .kernel = ALL(1),
     .stride = ALL(2),
     .pad_end = ALL(1),
     .size = {7, 7}},
    {.name = "pointwise_stride_2_end_pad_read",
     .in_channels = 6,
     .out_channels = 5,
     .kernel = ALL(1),
     .stride = ALL(2),
     .pad_end = ALL(1),
     .size = {6, 6}},
    {.name = "pointwise_3d_stride_3_relu",
     .rank = 3,
     .relu = 1,
     .in_channels = 4,
     .out_channels = 9,
     .kernel = ALL(1),
     .stride = {1, 3, 2},
     .size = {3, 8, 9}},
    /* Small outputs (7 x 7, 14 x 14 and 1 x N positions, as in ResNet's last stages), where
     * the CPU implicit GEMM may put positions along the microkernel's rows. */
    {.name = "small_output_7x7_relu",
     .relu = 1,
     .in_channels = 64,
     .out_channels = 40,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {7, 7}},
    {.name = "small_output_14x14_strided",
     .in_channels = 24,
     .out_channels = 72,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {27, 28}},
    {.name = "small_output_7x7_pointwise_deep_relu",
     .relu = 1,
     .in_channels = 600,
     .out_channels = 48,
     .kernel = ALL(1),
     .size = {7, 7}},
    {.name = "small_output_7x7_grouped_batch_2",
     .batch = 2,
     .in_channels = 2 * 30,
     .out_channels = 2 * 35,
     .groups = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {7, 7}},
    /* More output channels than positions: on 2 or more threads the CPU implicit GEMM
     * splits the output channels, each task packing the same B (several K blocks). */
    {.name = "small_output_channel_split_relu",
     .relu = 1,
     .in_channels = 256,
     .out_channels = 256,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {7, 7}},
    /* Few positions and output channels over a deep K: on 2 or more threads the CPU
     * implicit GEMM splits K, adds the slices' partial sums in a second pass, and only
     * then applies the ReLU. */
    {.name = "small_output_split_k_relu",
     .relu = 1,
     .in_channels = 512,
     .out_channels = 16,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {14, 14}},
    {.name = "small_output_one_row_relu",
     .relu = 1,
     .in_channels = 40,
     .out_channels = 100,
     .kernel = {1, 3},
     .size = {1, 9}},
    /* The CPU transposed GEMM's ReLU goes on output rows as they become final, across
     * several chunks of input positions (more than 256 of them). */
    {.name = "transposed_relu_rows_final_in_chunks",
     .transposed = 1,
     .relu = 1,
     .in_channels = 6,
     .out_channels = 5,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {40, 13}},
    {.name = "transposed_relu_dilated_1d",
     .transposed = 1,
     .relu = 1,
     .rank = 1,
     .in_channels = 3,
     .out_channels = 4,
     .kernel = {4},
     .dilation = {3},
     .pad_begin = {2},
     .pad_end = {2},
     .size = {600}},
    {.name = "tiles_pointwise_strided_padded",
     .in_channels = 270,
     .out_channels = 13,
     .kernel = ALL(1),
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {15, 21}},
    {.name = "tiles_reflect",
     .mode = CONVCL_PADDING_REFLECT,
     .in_channels = 31,
     .out_channels = 17,
     .kernel = {5, 3},
     .pad_begin = {2, 1},
     .pad_end = {2, 1},
     .size = {11, 29}},
    {.name = "tiles_circular_strided",
     .mode = CONVCL_PADDING_CIRCULAR,
     .in_channels = 33,
     .out_channels = 10,
     .stride = ALL(2),
     .pad_begin = {1, 2},
     .pad_end = {2, 1},
     .size = {16, 31}},
    {.name = "tiles_3d",
     .rank = 3,
     .in_channels = 20,
     .out_channels = 11,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {6, 9, 11}},
    {.name = "tiles_3d_replicate_strided",
     .rank = 3,
     .mode = CONVCL_PADDING_REPLICATE,
     .in_channels = 12,
     .out_channels = 9,
     .stride = {1, 2, 2},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {5, 12, 13}},
    {.name = "tiles_1d_long",
     .rank = 1,
     .in_channels = 60,
     .out_channels = 13,
     .kernel = {5},
     .dilation = {2},
     .pad_begin = {4},
     .pad_end = {4},
     .size = {1000}},
    {.name = "tiles_1d_long_depthwise",
     .rank = 1,
     .in_channels = 9,
     .out_channels = 18,
     .groups = 9,
     .kernel = {4},
     .stride = {3},
     .size = {777}},
    /* The OpenCL implicit GEMM's tile edges: out channels past one tile (64 rows on
     * GPUs, 128 on CPUs) and not a multiple of the register blocks, 16-column blocks
     * that straddle images (batch with small planes) or output rows, several K slices. */
    {.name = "igemm_pointwise_deep_batch",
     .in_channels = 520,
     .out_channels = 140,
     .kernel = ALL(1),
     .batch = 3,
     .size = {7, 7}},
    {.name = "igemm_wide_rows",
     .in_channels = 5,
     .out_channels = 9,
     .batch = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {4, 53}},
    {.name = "igemm_grouped_uneven",
     .in_channels = 2 * 40,
     .out_channels = 2 * 70,
     .groups = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {9, 10}},
    {.name = "igemm_3d_batch_strided",
     .rank = 3,
     .in_channels = 7,
     .out_channels = 66,
     .batch = 2,
     .stride = ALL(2),
     .dilation = {1, 1, 2},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {5, 7, 9}},
    {.name = "igemm_1d_pointwise_long",
     .rank = 1,
     .in_channels = 33,
     .out_channels = 17,
     .kernel = {1},
     .batch = 2,
     .size = {2000}},
    /* The OpenCL implicit GEMM's split-K variants: a long K (16 to 54 slices of 16) and
     * one or two tiles of output, so even 2 compute units split K: here into 2 parts,
     * then 4 with a shorter last one, then 4 in the pointwise kernel. */
    {.name = "igemm_splitk_grouped_s2_relu",
     .relu = 1,
     .in_channels = 96,
     .out_channels = 24,
     .groups = 2,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = ALL(7)},
    {.name = "igemm_splitk_batch_2_reflect_relu",
     .relu = 1,
     .batch = 2,
     .in_channels = 96,
     .out_channels = 24,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .mode = CONVCL_PADDING_REFLECT,
     .size = ALL(7)},
    {.name = "igemm_splitk_pointwise_no_bias",
     .no_bias = 1,
     .in_channels = 256,
     .out_channels = 40,
     .kernel = ALL(1),
     .size = ALL(3)},
    {.name = "transposed", .transposed = 1, .size = {4, 5}},
    {.name = "transposed_stride_2_output_padding",
     .transposed = 1,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {4, 3}},
    {.name = "transposed_output_padding_lt_dilation",
     .transposed = 1,
     .dilation = ALL(3),
     .output_padding = {2, 1},
     .size = {4, 3}},
    {.name = "transposed_requested_output_size",
     .transposed = 1,
     .stride = {2, 3},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_size = {8, 14},
     .size = {4, 5}},
    {.name = "transposed_asymmetric_pads",
     .transposed = 1,
     .stride = ALL(2),
     .pad_begin = {0, 2},
     .pad_end = {1, 0},
     .size = {3, 4}},
    {.name = "transposed_pad_crops",
     .transposed = 1,
     .kernel = ALL(5),
     .pad_begin = ALL(3),
     .pad_end = ALL(3),
     .size = {3, 4}},
    {.name = "transposed_stride_gt_kernel",
     .transposed = 1,
     .kernel = ALL(2),
     .stride = ALL(3),
     .output_padding = {2, 1},
     .size = {3, 3}},
    {.name = "transposed_groups",
     .transposed = 1,
     .in_channels = 4,
     .out_channels = 6,
     .groups = 2,
     .stride = ALL(2),
     .size = {3, 3}},
    {.name = "transposed_groups_eq_channels",
     .transposed = 1,
     .in_channels = 3,
     .out_channels = 3,
     .groups = 3,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {4, 4}},
    {.name = "transposed_batch_no_bias",
     .transposed = 1,
     .batch = 3,
     .no_bias = 1,
     .stride = ALL(2),
     .output_padding = ALL(1),
     .size = {3, 2}},
    {.name = "transposed_one_pixel", .transposed = 1, .size = ALL(1)},
    {.name = "transposed_valid", .transposed = 1, .padding = CONVCL_PAD_VALID, .kernel = {2, 4}},
    {.name = "transposed_1d",
     .transposed = 1,
     .rank = 1,
     .stride = {3},
     .pad_begin = {1},
     .pad_end = {1},
     .output_padding = {2},
     .kernel = {4},
     .size = {5}},
    {.name = "transposed_1d_requested_output_size",
     .transposed = 1,
     .rank = 1,
     .stride = {3},
     .dilation = {2},
     .output_size = {15},
     .size = {4}},
    {.name = "transposed_3d",
     .transposed = 1,
     .rank = 3,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = {1, 0, 1},
     .size = {2, 3, 2}},
    {.name = "transposed_3d_requested_output_size",
     .transposed = 1,
     .rank = 3,
     .stride = {2, 1, 3},
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_size = {4, 3, 6},
     .size = {2, 3, 2}},
    {.name = "transposed_3d_groups_dilation",
     .transposed = 1,
     .rank = 3,
     .in_channels = 4,
     .out_channels = 4,
     .groups = 2,
     .kernel = ALL(2),
     .dilation = ALL(2),
     .size = {2, 3, 2}},
    /* transposed_gemm: GEMM plus col2im, per layer type and across its blocking. */
    {.name = "tgemm_dcgan_k4_s2_p1",
     .transposed = 1,
     .in_channels = 16,
     .out_channels = 8,
     .kernel = ALL(4),
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = ALL(8)},
    {.name = "tgemm_k3_s2_p1_output_padding_1",
     .transposed = 1,
     .in_channels = 8,
     .out_channels = 5,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {7, 6}},
    {.name = "tgemm_k2_s2",
     .transposed = 1,
     .in_channels = 8,
     .out_channels = 6,
     .kernel = ALL(2),
     .stride = ALL(2),
     .size = ALL(5)},
    {.name = "tgemm_dilation_2_output_padding",
     .transposed = 1,
     .stride = ALL(2),
     .dilation = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {5, 4}},
    {.name = "tgemm_groups",
     .transposed = 1,
     .in_channels = 6,
     .out_channels = 9,
     .groups = 3,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {5, 4}},
    {.name = "tgemm_1d",
     .transposed = 1,
     .rank = 1,
     .in_channels = 5,
     .out_channels = 7,
     .kernel = {5},
     .stride = {4},
     .pad_begin = {2},
     .pad_end = {2},
     .output_padding = {3},
     .size = {40}},
    {.name = "tgemm_3d",
     .transposed = 1,
     .rank = 3,
     .in_channels = 4,
     .out_channels = 6,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = {1, 0, 1},
     .size = {3, 4, 5}},
    {.name = "tgemm_asymmetric_pads",
     .transposed = 1,
     .in_channels = 5,
     .kernel = ALL(4),
     .stride = ALL(3),
     .pad_begin = {2, 0},
     .pad_end = {0, 3},
     .size = {4, 5}},
    {.name = "tgemm_batch_2",
     .transposed = 1,
     .batch = 2,
     .no_bias = 1,
     .in_channels = 6,
     .out_channels = 5,
     .kernel = ALL(4),
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {4, 6}},
    /* 300 in channels: two K blocks; 40 out channels x 9 taps: two channel blocks;
     * 300 positions: two P chunks, the first ending inside an input row. */
    {.name = "tgemm_blocking",
     .transposed = 1,
     .in_channels = 300,
     .out_channels = 40,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {20, 15}},
    /* One output channel: one channel block, so threads split the output rows (D,
     * then H) and each block recomputes the input rows it shares with its neighbours. */
    {.name = "tgemm_row_blocks_3d",
     .transposed = 1,
     .rank = 3,
     .in_channels = 4,
     .out_channels = 1,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {9, 3, 4}},
    {.name = "tgemm_row_blocks_2d_dilated",
     .transposed = 1,
     .out_channels = 1,
     .stride = ALL(3),
     .dilation = ALL(2),
     .pad_begin = {2, 1},
     .pad_end = {0, 2},
     .output_padding = ALL(1),
     .size = {12, 5}},
    {.name = "tgemm_1d_long_chunks",
     .transposed = 1,
     .rank = 1,
     .in_channels = 3,
     .out_channels = 2,
     .kernel = {4},
     .stride = {2},
     .pad_begin = {1},
     .pad_end = {1},
     .size = {1000}},
    /* OpenCL transposed_gemm: one implicit GEMM per output stride phase. Channels of 16
     * and more fill several M and N tiles and K slices of every tile variant. */
    {.name = "tphase_s2_k3_output_padding_relu",
     .transposed = 1,
     .relu = 1,
     .in_channels = 16,
     .out_channels = 20,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {7, 6}},
    {.name = "tphase_s3_kernel_4x5",
     .transposed = 1,
     .in_channels = 17,
     .out_channels = 18,
     .kernel = {4, 5},
     .stride = ALL(3),
     .pad_begin = {2, 1},
     .pad_end = {2, 1},
     .output_padding = {2, 0},
     .size = {5, 6}},
    /* Stride 3, dilation 2: each phase takes every third tap, shifted. */
    {.name = "tphase_s3_dilation_2",
     .transposed = 1,
     .in_channels = 16,
     .out_channels = 16,
     .kernel = ALL(4),
     .stride = ALL(3),
     .dilation = ALL(2),
     .pad_begin = ALL(2),
     .pad_end = ALL(2),
     .output_padding = ALL(1),
     .size = {6, 5}},
    /* Stride 2 < dilation 3. */
    {.name = "tphase_s2_dilation_3_relu",
     .transposed = 1,
     .relu = 1,
     .in_channels = 16,
     .out_channels = 24,
     .stride = ALL(2),
     .dilation = ALL(3),
     .pad_begin = {1, 3},
     .pad_end = {1, 3},
     .output_padding = {2, 1},
     .size = {5, 7}},
    /* Stride and dilation 2 share a factor: odd phases have no taps and write only the
     * bias, ReLU'd; with no bias, zeros. */
    {.name = "tphase_empty_phases_bias_relu",
     .transposed = 1,
     .relu = 1,
     .in_channels = 16,
     .out_channels = 16,
     .stride = ALL(2),
     .dilation = ALL(2),
     .output_padding = ALL(1),
     .size = ALL(5)},
    {.name = "tphase_empty_phases_no_bias",
     .transposed = 1,
     .no_bias = 1,
     .in_channels = 16,
     .out_channels = 16,
     .kernel = ALL(2),
     .stride = ALL(4),
     .output_padding = ALL(3),
     .size = ALL(4)},
    {.name = "tphase_groups",
     .transposed = 1,
     .in_channels = 32,
     .out_channels = 48,
     .groups = 2,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = ALL(1),
     .size = {6, 7}},
    {.name = "tphase_1d_batch_2_relu",
     .transposed = 1,
     .rank = 1,
     .batch = 2,
     .relu = 1,
     .in_channels = 32,
     .out_channels = 16,
     .kernel = {5},
     .stride = {3},
     .pad_begin = {1},
     .pad_end = {1},
     .output_padding = {2},
     .size = {50}},
    {.name = "tphase_3d_batch_2",
     .transposed = 1,
     .rank = 3,
     .batch = 2,
     .in_channels = 16,
     .out_channels = 16,
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .output_padding = {1, 0, 1},
     .size = {3, 4, 5}},
    {.name = "tphase_3d_requested_output_size",
     .transposed = 1,
     .rank = 3,
     .in_channels = 16,
     .out_channels = 8,
     .kernel = {2, 3, 4},
     .stride = {3, 2, 2},
     .pad_begin = {0, 1, 1},
     .pad_end = {0, 1, 1},
     .output_size = {8, 8, 10},
     .size = {3, 4, 5}},
    /* 40 in channels x 4 taps: two K slices of the blocked kernel; 136 out channels:
     * two or more M tiles; 2 x 144 columns per phase: several N tiles, one crossing
     * images. */
    {.name = "tphase_tiles_batch_2",
     .transposed = 1,
     .batch = 2,
     .in_channels = 40,
     .out_channels = 136,
     .kernel = ALL(4),
     .stride = ALL(2),
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {12, 12}},
    /* The OpenCL gemm solver (1x1, stride 1, unpadded): channels and positions that no
     * tile divides, more than one M tile (128 rows) and K slice (128 deep). */
    {.name = "gemm_1x1_tiles_batch_2_relu",
     .relu = 1,
     .batch = 2,
     .in_channels = 150,
     .out_channels = 133,
     .kernel = ALL(1),
     .size = {9, 15}},
    {.name = "gemm_1x1_groups_batch_2_no_bias",
     .no_bias = 1,
     .batch = 2,
     .in_channels = 2 * 19,
     .out_channels = 2 * 21,
     .groups = 2,
     .kernel = ALL(1),
     .size = {7, 9}},
    {.name = "gemm_1x1_groups_eq_channels",
     .in_channels = 8,
     .out_channels = 16,
     .groups = 8,
     .kernel = ALL(1),
     .size = {5, 3}},
    {.name = "gemm_1x1_1d_relu",
     .rank = 1,
     .relu = 1,
     .in_channels = 20,
     .out_channels = 24,
     .kernel = ALL(1),
     .size = {50}},
    {.name = "gemm_1x1_3d",
     .rank = 3,
     .in_channels = 17,
     .out_channels = 5,
     .kernel = ALL(1),
     .size = {3, 4, 5}},
    /* Winograd F(2x2, 3x3) and F(4x4, 3x3): output sizes that neither tile divides,
     * every padding the 3x3 stride-1 layer can have, at least 16 channels. */
    {.name = "wino_pad_1_odd_batch_2_relu",
     .relu = 1,
     .batch = 2,
     .in_channels = 16,
     .out_channels = 20,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {13, 11}},
    {.name = "wino_pad_0", .in_channels = 33, .out_channels = 17, .size = {10, 15}},
    {.name = "wino_asymmetric_pads",
     .in_channels = 16,
     .out_channels = 16,
     .pad_begin = {2, 0},
     .pad_end = {0, 1},
     .size = {9, 7}},
    {.name = "wino_same_no_bias",
     .no_bias = 1,
     .padding = CONVCL_PAD_SAME,
     .in_channels = 24,
     .out_channels = 18,
     .size = {7, 9}},
    {.name = "wino_groups_batch_2_relu",
     .relu = 1,
     .batch = 2,
     .in_channels = 32,
     .out_channels = 48,
     .groups = 2,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {6, 10}},
    {.name = "wino_tiny_output", .in_channels = 16, .out_channels = 16, .size = {3, 4}},
    /* More than 128 channels each way: several GEMM tiles and K slices. */
    {.name = "wino_channels_130_140",
     .in_channels = 130,
     .out_channels = 140,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {9, 9}},
    /* Over 1024 tiles: the run goes chunk by chunk through the workspace. */
    {.name = "wino_several_chunks",
     .batch = 4,
     .in_channels = 3,
     .out_channels = 5,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {70, 62}},
    /* The CPU solver: tiles of the batch in several blocks of whole panels, tile rows
     * that cross panel boundaries, C past its 256-channel GEMM block, and layers so small
     * that tiles go in the GEMM's rows (fewer tiles than half an NR panel). */
    {.name = "wino_cpu_tile_blocks_relu",
     .relu = 1,
     .batch = 2,
     .in_channels = 48,
     .out_channels = 40,
     .pad_begin = {1, 0},
     .pad_end = {1, 2},
     .size = {45, 61}},
    {.name = "wino_cpu_channels_over_gemm_block",
     .in_channels = 260,
     .out_channels = 9,
     .pad_begin = ALL(1),
     .pad_end = ALL(1),
     .size = {5, 9}},
    {.name = "wino_cpu_tiles_as_rows_groups",
     .in_channels = 64,
     .out_channels = 66,
     .groups = 2,
     .padding = CONVCL_PAD_SAME,
     .size = {5, 5}},
};

/* splitmix64: a fixed, portable sequence for a given seed. */
static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rng_int(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

static int rng_percent(int p) { return rng_int(0, 99) < p; }

/* Uniform in [-1, 1) on a 2^-23 grid, so every value is exact in float32. */
static float rng_unit(void) {
  return (float)((double)(rng_next() >> 40) / (double)(1 << 23) - 1.0);
}

/* A random descriptor, small enough to keep the sweep fast; it may be invalid
 * (the caller skips those the library rejects, as PyTorch would). */
static void random_param(param *p) {
  memset(p, 0, sizeof *p);
  p->rank = (int)rng_int(1, 3);
  p->transposed = rng_percent(30);
  p->batch = rng_percent(20) ? 2 : 1;
  p->groups = rng_int(1, 3);
  /* Mostly few channels; sometimes enough to fill vector lanes and tiles unevenly. */
  const int64_t max_per_group = rng_percent(15) ? 12 : 4;
  p->in_channels = p->groups * rng_int(1, max_per_group);
  p->out_channels = p->groups * rng_int(1, max_per_group);
  if (rng_percent(15)) { /* depthwise */
    p->groups = p->in_channels = rng_int(2, 6);
    p->out_channels = p->groups * rng_int(1, 2);
  }
  p->no_bias = rng_percent(25);
  p->relu = rng_percent(25);
  const int large = rng_percent(20);
  const int64_t max_size = p->rank == 1   ? (large ? 70 : 24)
                           : p->rank == 2 ? (large ? 20 : 11)
                                          : (large ? 8 : 5);
  const int64_t max_kernel = p->rank == 3 ? 3 : 5;
  const int symmetric = rng_percent(50);
  for (int i = 0; i < p->rank; i++) {
    p->size[i] = rng_int(1, max_size);
    p->kernel[i] = rng_int(1, max_kernel);
    p->stride[i] = rng_percent(50) ? 1 : rng_int(2, 3);
    p->dilation[i] = rng_percent(60) ? 1 : rng_int(2, 3);
    p->pad_begin[i] = rng_int(0, 3);
    p->pad_end[i] = symmetric ? p->pad_begin[i] : rng_int(0, 3);
  }
  const int kind = (int)rng_int(0, 99);
  if (p->transposed) {
    p->padding = kind < 85 ? CONVCL_PAD_EXPLICIT : CONVCL_PAD_VALID;
    const int requested = rng_percent(25);
    for (int i = 0; i < p->rank; i++) {
      const int64_t s = p->stride[i], d = p->dilation[i], max_op = (s > d ? s : d) - 1;
      const int64_t smallest =
          (p->size[i] - 1) * s - p->pad_begin[i] - p->pad_end[i] + d * (p->kernel[i] - 1) + 1;
      if (requested) /* may come out non-positive: then the library must reject it */
        p->output_size[i] = smallest + rng_int(0, s - 1);
      else if (rng_percent(50))
        p->output_padding[i] = rng_int(0, max_op);
    }
  } else {
    p->padding = kind < 55   ? CONVCL_PAD_EXPLICIT
                 : kind < 70 ? CONVCL_PAD_SAME
                 : kind < 85 ? CONVCL_PAD_VALID
                             : CONVCL_PAD_SAME_LOWER;
    if (p->padding == CONVCL_PAD_SAME || p->padding == CONVCL_PAD_SAME_LOWER)
      for (int i = 0; i < p->rank; i++) p->stride[i] = 1; /* 'same' is stride 1 only */
    const int mode = (int)rng_int(0, 99);
    p->mode = mode < 55   ? CONVCL_PADDING_ZEROS
              : mode < 70 ? CONVCL_PADDING_REFLECT
              : mode < 85 ? CONVCL_PADDING_REPLICATE
                          : CONVCL_PADDING_CIRCULAR;
  }
}

typedef struct problem {
  convcl_conv_desc desc;
  convcl_shape input_shape, output_shape;
  size_t input_elems, weight_elems, output_elems;
  float *input, *weight, *bias; /* bias NULL without one */
  float *want, *mag, *got;
  float *plane_mag; /* the largest mag of each element's (n, k) plane */
  int64_t terms;    /* products summed into one output element, at most */
} problem;

static void problem_free(problem *pr) {
  free(pr->input);
  free(pr->weight);
  free(pr->bias);
  free(pr->want);
  free(pr->mag);
  free(pr->plane_mag);
  free(pr->got);
}

static void fill_random(float *v, size_t n) {
  for (size_t i = 0; i < n; i++) v[i] = rng_unit();
}

/* Random data, the reference output and the per-element magnitude bound. */
static convcl_status problem_init(problem *pr) {
  convcl_shape weight_shape;
  convcl_status st = convcl_conv_weight_shape(&pr->desc, &weight_shape);
  if (st != CONVCL_OK) return st;
  const int64_t out_channels = pr->desc.out_channels;
  pr->input_elems = tu_elems(&pr->input_shape);
  pr->weight_elems = tu_elems(&weight_shape);
  pr->output_elems = tu_elems(&pr->output_shape);
  pr->terms = tu_terms(&pr->desc);
  pr->input = malloc(pr->input_elems * sizeof(float));
  pr->weight = malloc(pr->weight_elems * sizeof(float));
  pr->want = malloc(pr->output_elems * sizeof(float));
  pr->mag = malloc(pr->output_elems * sizeof(float));
  pr->plane_mag = malloc(pr->output_elems * sizeof(float));
  pr->got = malloc(pr->output_elems * sizeof(float));
  if (pr->desc.has_bias) pr->bias = malloc((size_t)out_channels * sizeof(float));
  if (!pr->input || !pr->weight || !pr->want || !pr->mag || !pr->plane_mag || !pr->got ||
      (pr->desc.has_bias && !pr->bias))
    return CONVCL_ERROR_OUT_OF_MEMORY;
  fill_random(pr->input, pr->input_elems);
  fill_random(pr->weight, pr->weight_elems);
  if (pr->bias) fill_random(pr->bias, (size_t)out_channels);
  return tu_expect(&pr->desc, &pr->input_shape, &pr->output_shape, pr->input, pr->weight, pr->bias,
                   pr->want, pr->mag, pr->plane_mag);
}

static void report(const char *name, const char *what, const problem *pr) {
  printf("FAIL %s [%s]\n", name, what);
  tu_print_desc(stdout, &pr->desc, &pr->input_shape);
}

/* One algorithm on one problem: AUTO, or a named algorithm's tile variant (0, 1, ...).
 * 0 passed, 1 failed (reported), -1 not applicable (or no such variant). */
static int run_algo(convcl_context *ctx, const char *name, convcl_algo algo, int variant,
                    problem *pr) {
  convcl_plan *plan = NULL;
  convcl_status st =
      tu_plan_create(ctx, &pr->desc, &pr->input_shape, pr->weight, pr->bias, algo, variant, &plan);
  if (st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && algo != CONVCL_ALGO_AUTO) return -1;
  char what[64];
  snprintf(what, sizeof what, "%s/%d", convcl_algo_name(algo), variant);
  if (st != CONVCL_OK) {
    report(name, what, pr);
    printf("    plan: %s: %s\n", convcl_status_string(st), convcl_last_error());
    return 1;
  }
  snprintf(what, sizeof what, "%s/%d -> %s", convcl_algo_name(algo), variant,
           convcl_algo_name(convcl_plan_algo(plan)));
  tu_poison(pr->got, pr->output_elems);
  st = convcl_plan_run(plan, pr->input, pr->got);
  const convcl_algo ran = convcl_plan_algo(plan);
  convcl_plan_destroy(plan);
  if (st != CONVCL_OK) {
    report(name, what, pr);
    printf("    run: %s: %s\n", convcl_status_string(st), convcl_last_error());
    return 1;
  }
  const double alg = tu_bound_factor(ran);
  const double factor = alg * (double)(pr->terms + 3) * TU_UNIT_ROUNDOFF;
  const float *mag = alg > 1.0 ? pr->plane_mag : pr->mag;
  size_t worst = 0, bad = 0;
  double worst_excess = -INFINITY;
  for (size_t i = 0; i < pr->output_elems; i++) {
    const double err = tu_abs_error(pr->got[i], pr->want[i]);
    const double excess = err - factor * mag[i];
    if (excess > 0.0) bad++;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (bad == 0) return 0;
  char index[128];
  tu_format_index(index, sizeof index, &pr->output_shape, worst);
  report(name, what, pr);
  printf(
      "    %zu of %zu elements off; worst at %s (flat %zu): got %.9g, ref %.9g, "
      "|diff| %.3g > tolerance %.3g = %g * (%lld + 3) * 2^-24 * mag %.6g\n",
      bad, pr->output_elems, index, worst, (double)pr->got[worst], (double)pr->want[worst],
      tu_abs_error(pr->got[worst], pr->want[worst]), factor * mag[worst], alg, (long long)pr->terms,
      (double)mag[worst]);
  return 1;
}

/* Runs one descriptor on AUTO and every tile variant of every algorithm, adding to the
 * counts. */
static void run_case(convcl_context *ctx, const char *name, const convcl_conv_desc *desc,
                     const convcl_shape *input, const convcl_shape *output, int *passed,
                     int *failed) {
  problem pr;
  memset(&pr, 0, sizeof pr);
  pr.desc = *desc;
  pr.input_shape = *input;
  pr.output_shape = *output;
  const convcl_status st = problem_init(&pr);
  if (st != CONVCL_OK) {
    report(name, "ref", &pr);
    printf("    reference: %s: %s\n", convcl_status_string(st), convcl_last_error());
    ++*failed;
  } else {
    for (int a = CONVCL_ALGO_AUTO; a < CONVCL_ALGO_COUNT; a++)
      for (int v = 0;; v++) {
        const int result = run_algo(ctx, name, (convcl_algo)a, v, &pr);
        if (result == 0) ++*passed;
        if (result == 1) ++*failed;
        if (result == -1 || a == CONVCL_ALGO_AUTO) break;
      }
  }
  problem_free(&pr);
}

int main(int argc, char **argv) {
  const char *mode = argc >= 2 ? argv[1] : "";
  if (argc > 4 || (strcmp(mode, "cpu") != 0 && strcmp(mode, "opencl") != 0)) {
    fprintf(stderr, "usage: %s cpu|opencl [RANDOM_COUNT [SEED]]\n", argv[0]);
    return 2;
  }
  const long random_count = argc >= 3 ? strtol(argv[2], NULL, 10) : RANDOM_COUNT;
  rng_state = argc >= 4 ? strtoull(argv[3], NULL, 10) : RANDOM_SEED;
  convcl_context *ctx = NULL;
  const int rc = tu_open_context(mode, &ctx);
  if (rc != 0) return rc;

  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof named_cases / sizeof named_cases[0]; i++) {
    convcl_conv_desc desc;
    convcl_shape input, output;
    make_desc(&named_cases[i], &desc, &input);
    /* A named case the library rejects is a mistake in the case or in the library. */
    const convcl_status st = convcl_conv_output_shape(&desc, &input, &output);
    if (st != CONVCL_OK) {
      printf("FAIL %s: rejected: %s: %s\n", named_cases[i].name, convcl_status_string(st),
             convcl_last_error());
      tu_print_desc(stdout, &desc, &input);
      failed++;
      continue;
    }
    run_case(ctx, named_cases[i].name, &desc, &input, &output, &passed, &failed);
  }
  const int named_failed = failed;

  /* Draws until random_count descriptors were valid; rejection is common (reflect
   * needs pad < size, kernels may not fit), but not so common that a sweep should
   * need more than a hundred draws per valid one. */
  long valid = 0, drawn = 0;
  while (valid < random_count) {
    if (drawn > 100 * random_count + 1000) {
      printf("FAIL random: only %ld of %ld draws were valid descriptors\n", valid, drawn);
      failed++;
      break;
    }
    param p;
    convcl_conv_desc desc;
    convcl_shape input, output;
    drawn++;
    random_param(&p);
    make_desc(&p, &desc, &input);
    if (convcl_conv_output_shape(&desc, &input, &output) != CONVCL_OK) continue;
    char name[64];
    snprintf(name, sizeof name, "random #%ld", valid);
    valid++;
    run_case(ctx, name, &desc, &input, &output, &passed, &failed);
  }
  convcl_context_destroy(ctx);
  printf(
      "%zu named cases (%d failed runs), %ld random descriptors from %ld draws; "
      "each run = one case on one algorithm\n",
      sizeof named_cases / sizeof named_cases[0], named_failed, valid, drawn);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
