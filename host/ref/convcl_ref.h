/* The reference convolution: naive, written for clarity, double accumulation.
 * The oracle for tests and bench --verify; never on the product path. */
#ifndef CONVCL_REF_H
#define CONVCL_REF_H

#include "convcl.h"

/* Computes the convolution (or transposed convolution) of desc on input, whose
 * shape is given, into output (the shape convcl_conv_output_shape gives), then
 * desc->activation.
 * Validates through convcl_conv_output_shape first and returns its status.
 * bias must be non-NULL exactly when desc->has_bias. */
convcl_status convcl_ref_conv(const convcl_conv_desc *desc, const convcl_shape *input_shape,
                              const float *input, const float *weights, const float *bias,
                              float *output);

#endif
