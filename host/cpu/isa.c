/* Runtime ISA dispatch for the CPU path: one table entry per instruction set, the
 * best supported one picked once per process. The x86 microkernels are compiled with
 * their own ISA flags (set per file in CMake), so the library itself runs on any
 * x86-64 and only calls them after CPUID says they are safe. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define CONVCL_X86_KERNELS 1
#endif

/* Weakest first; a CPU supports a prefix of the list. */
static const convcl_cpu_isa isas[] = {
    {.name = "scalar",
     /* .mr = */ 4,
     /* .nr = */ 16,
     /* .fma_per_cycle = */ 4,
     .gemm = convcl_f32_gemm_4x16__scalar,
     .gemm_strided = convcl_f32_gemm_4x16__scalar_strided,
     .pack_row = convcl_f32_pack_row__scalar,
     .winograd = &convcl_f32_winograd_transforms__scalar,
     .depthwise = &convcl_f32_depthwise_rows__scalar},
#ifdef CONVCL_X86_KERNELS
    {.name = "avx2",
     /* .mr = */ 6,
     /* .nr = */ 16,
     /* .fma_per_cycle = */ 16,
     .gemm = convcl_f32_gemm_6x16__avx2,
     .gemm_strided = convcl_f32_gemm_6x16__avx2_strided,
     .pack_row = convcl_f32_pack_row__scalar,
     .winograd = &convcl_f32_winograd_transforms__avx2,
     .depthwise = &convcl_f32_depthwise_rows__avx2},
    {.name = "avx512",
     /* .mr = */ 8,
     /* .nr = */ 32,
     /* .fma_per_cycle = */ 32,
     .gemm = convcl_f32_gemm_8x32__avx512,
     .sq = 16,
     .gemm_sq = convcl_f32_gemm_16x16__avx512,
     .gemm_strided = convcl_f32_gemm_8x32__avx512_strided,
     .pack_row = convcl_f32_pack_row__avx512,
     .winograd = &convcl_f32_winograd_transforms__avx512,
     .depthwise = &convcl_f32_depthwise_rows__avx512},
#endif
#if defined(__aarch64__)
    /* NEON is part of the AArch64 baseline: every AArch64 CPU runs this entry. */
    {.name = "neon",
     /* .mr = */ 8,
     /* .nr = */ 12,
     /* .fma_per_cycle = */ 8,
     .gemm = convcl_f32_gemm_8x12__neon,
     .gemm_strided = convcl_f32_gemm_8x12__neon_strided,
     .pack_row = convcl_f32_pack_row__scalar,
     .winograd = &convcl_f32_winograd_transforms__neon,
     .depthwise = &convcl_f32_depthwise_rows__scalar},
#endif
};

static const convcl_cpu_isa *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

/* How many entries of isas this CPU and its OS can run. */
static size_t supported_count(void) {
#ifdef CONVCL_X86_KERNELS
  __builtin_cpu_init();
  /* libgcc and compiler-rt also check that the OS saves the ymm/zmm state (XGETBV). */
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 1;
  if (!__builtin_cpu_supports("avx512f")) return 2;
  return 3;
#elif defined(__aarch64__)
  return 2;
#else
  return 1;
#endif
}

static void choose(void) {
  size_t best = supported_count() - 1;
  const char *want = getenv("CONVCL_CPU_ISA");
  if (want && *want)
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
      if (strcmp(want, isas[i].name) == 0 && i < best) best = i;
  /* A name this build does not know (e.g. avx512 on AArch64) leaves the best. */
  chosen = &isas[best];
}

int convcl_cpu_amd(void) {
#ifdef CONVCL_X86_KERNELS
  __builtin_cpu_init();
  return __builtin_cpu_is("amd");
#else
  return 0;
#endif
}

const convcl_cpu_isa *convcl_cpu_isa_get(void) {
  pthread_once(&chosen_once, choose);
  return chosen;
}
