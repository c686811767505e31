/* libFuzzer target: the SPEC parser (tools/spec.c) on arbitrary text.
 * An input "SPEC | SHAPE", as in bench/suites, also parses the shape and checks the
 * pair through convcl_conv_output_shape, so parsed descriptors reach validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convcl.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *bar = strchr(text, '|');
  if (bar != NULL) *bar = '\0';

  char err[256], tiny[7];
  convcl_conv_desc desc;
  const int ok = spec_parse(text, &desc, err, sizeof err) == 0;
  /* A short buffer must truncate the same message, never overrun it. */
  const int ok_tiny = spec_parse(text, &desc, tiny, sizeof tiny) == 0;
  if (ok != ok_tiny) abort();
  if (!ok && err[0] == '\0') abort(); /* every failure names its problem */
  if (ok && (desc.spatial_dims < 1 || desc.spatial_dims > 3)) abort();

  convcl_shape shape;
  const char *shape_text = bar != NULL ? bar + 1 : text;
  if (shape_parse(shape_text, &shape, err, sizeof err) == 0) {
    char buf[128], small[5];
    if (shape.ndim < 1 || shape.ndim > CONVCL_MAX_DIMS) abort();
    shape_format(&shape, buf, sizeof buf);
    shape_format(&shape, small, sizeof small);
    if (ok && bar != NULL) {
      convcl_shape out;
      int64_t flops;
      if (convcl_conv_output_shape(&desc, &shape, &out) == CONVCL_OK) {
        /* A valid pair has a FLOP count, unless that count passes int64. */
        const convcl_status st = convcl_conv_flops(&desc, &shape, &flops);
        if (st != CONVCL_OK && st != CONVCL_ERROR_SIZE_OVERFLOW) abort();
      }
    }
  } else if (err[0] == '\0') {
    abort();
  }
  free(text);
  return 0;
}
