/* One row of a packed B tile from its runs, portable C (see convcl_pack_row_fn). The
 * constant strides let compilers vectorize the copies for the baseline ISA. */
#include "cpu.h"

#include <string.h>

void convcl_f32_pack_row__scalar(float *restrict row, const float *restrict plane,
                                 const convcl_pack_run *runs, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    const convcl_pack_run *u = &runs[i];
    float *d = row + u->dst;
    const float *s = plane + u->src;
    if (u->src < 0) {
      memset(d, 0, (size_t)u->len * sizeof(float));
    } else if (u->step == 1 && u->len <= 8) {
      /* Small outputs (7 x 7) and padded edges make runs this short, where a call to
       * memcpy would cost more than the copy. */
      for (int32_t e = 0; e < u->len; e++) d[e] = s[e];
    } else if (u->step == 1) {
      memcpy(d, s, (size_t)u->len * sizeof(float));
    } else if (u->step == 2) {
      for (int32_t e = 0; e < u->len; e++) d[e] = s[2 * e];
    } else {
      for (int32_t e = 0; e < u->len; e++) d[e] = s[e * u->step];
    }
  }
}
