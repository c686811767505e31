/* The depthwise flat loops built without ISA flags: the baseline (SSE2 on x86-64, NEON on
 * AArch64), for every processor. */
#define DEPTHWISE_FNS convcl_f32_depthwise_rows__scalar
#include "f32_depthwise_rows.h"
