/* SPEC parsing: a PyTorch constructor call or module repr -> convcl_conv_desc. */
#ifndef CONVCL_TOOLS_SPEC_H
#define CONVCL_TOOLS_SPEC_H

#include "convcl.h"

#include <stddef.h>

/* Parses what a PyTorch user already has, e.g.
 *   nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=True, padding_mode='zeros')
 *   torch.nn.ConvTranspose3d(4, 4, (3, 3, 3), output_padding=1)
 *   Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
 *   Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same, groups=2, padding_mode=reflect)
 *   nn.Conv2d(64, 64, 3, padding=1, bias=False)+relu
 * Positional or keyword arguments, ints or tuples, quoted or bare strings, True/False;
 * "+relu" (or "+nn.ReLU()") fuses a ReLU.
 * The descriptor only records what was written; value checks (groups dividing
 * channels, ...) are the library's. On failure returns non-zero and writes a message
 * naming the problem to err (capacity errcap). */
int spec_parse(const char *text, convcl_conv_desc *desc, char *err, size_t errcap);

/* Parses "1x3x224x224" (also "1,3,224,224" and "(1, 3, 224, 224)"): 1 to
 * CONVCL_MAX_DIMS positive integers. */
int shape_parse(const char *text, convcl_shape *shape, char *err, size_t errcap);

/* Writes "1x32x28x28". */
void shape_format(const convcl_shape *shape, char *buf, size_t cap);

#endif
