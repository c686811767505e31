/* The CPU GEMM microkernels of the instruction set this process runs (CONVCL_CPU_ISA
 * picks a lower one), against a double-precision product: every tile shape 1..MR x
 * 1..NR (and the square tile's), several depths, each epilogue (bias, accumulate,
 * ReLU). The panels' padding rows and columns hold data, not zeros, and C is fenced,
 * so a kernel that stores outside its m x n tile fails; the in-place entry reads B
 * ending at an unmapped page, so one that reads past column n of B's last row crashes.
 * The tails (the narrow columns, the half tiles, the short row tiles) are code paths of
 * their own that no whole-layer test reaches for every width. */
#define _DEFAULT_SOURCE
#include "check.h"
#include "cpu/cpu.h"
#include "expected.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { MAX_TILE = 32, MAX_KC = 67, LDC = MAX_TILE + 3 };
static const size_t depths[] = {1, 2, 3, 4, 5, 8, 13, MAX_KC};

/* The epilogues: flags, and whether bias is passed. */
static const struct {
  int flags, bias;
} epilogues[] = {{0, 0},
                 {0, 1},
                 {CONVCL_GEMM_ACCUMULATE, 0},
                 {CONVCL_GEMM_RELU, 1},
                 {CONVCL_GEMM_ACCUMULATE | CONVCL_GEMM_RELU, 0}};

static uint64_t rng = 12345;

static const float fence = -1234.5f;

/* B in place for the strided entry: kc rows ldb apart, whose last row's column n - 1 is
 * the last float before an unmapped page. */
typedef struct guarded {
  unsigned char *map;
  size_t map_bytes;
  float *b;
} guarded;

static int guarded_b(size_t kc, size_t ldb, size_t n, guarded *g) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t bytes = ((kc - 1) * ldb + n) * sizeof(float);
  const size_t data_pages = (bytes + page - 1) / page;
  g->map_bytes = (data_pages + 1) * page;
  g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED) return 0;
  if (mprotect(g->map + data_pages * page, page, PROT_NONE) != 0) return 0;
  g->b = (float *)(g->map + data_pages * page) - ((kc - 1) * ldb + n);
  return 1;
}

/* One call of the kernel on an mr x nr tile of which m x n count, checked; strided: B
 * through the in-place entry with ldb floats per row. */
static void check_tile(const char *what, int mr, int nr, convcl_f32_gemm_fn gemm,
                       convcl_f32_gemm_strided_fn strided, size_t kc, size_t m, size_t n, int e) {
  static float a[MAX_KC * MAX_TILE], b[MAX_KC * MAX_TILE], c[MAX_TILE * LDC], c0[MAX_TILE * LDC];
  float bias[MAX_TILE];
  for (size_t i = 0; i < kc * (size_t)mr; i++) a[i] = tu_rng_unit(&rng);
  for (size_t i = 0; i < kc * (size_t)nr; i++) b[i] = tu_rng_unit(&rng);
  for (size_t i = 0; i < (size_t)mr; i++) bias[i] = tu_rng_unit(&rng);
  for (size_t i = 0; i < (size_t)mr * LDC; i++) c0[i] = fence;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) c0[i * LDC + j] = tu_rng_unit(&rng);
  memcpy(c, c0, sizeof c);
  const int flags = epilogues[e].flags;
  const float *bias_arg = epilogues[e].bias ? bias : NULL;
  guarded g = {NULL, 0, NULL};
  if (strided) {
    const size_t ldb = n + 5;
    if (!guarded_b(kc, ldb, n, &g)) {
      CHECK(0, "cannot map a guarded B");
      return;
    }
    for (size_t k = 0; k < kc; k++) memcpy(g.b + k * ldb, b + k * (size_t)nr, n * sizeof(float));
    strided(kc, a, g.b, ldb, c, LDC, m, n, bias_arg, flags);
    munmap(g.map, g.map_bytes);
  } else {
    gemm(kc, a, b, c, LDC, m, n, bias_arg, flags);
  }
  int bad = 0;
  for (size_t i = 0; i < (size_t)mr && !bad; i++)
    for (size_t j = 0; j < LDC && !bad; j++) {
      const float got = c[i * LDC + j];
      if (i >= m || j >= n) {
        if (memcmp(&got, &c0[i * LDC + j], sizeof got) != 0) {
          CHECK(0, "%s kc %zu m %zu n %zu epilogue %d: wrote C[%zu][%zu] outside the tile", what,
                kc, m, n, e, i, j);
          bad = 1;
        }
        continue;
      }
      double want = flags & CONVCL_GEMM_ACCUMULATE ? c0[i * LDC + j] : bias_arg ? bias[i] : 0.0;
      double scale = fabs(want);
      for (size_t k = 0; k < kc; k++) {
        want += (double)a[k * (size_t)mr + i] * b[k * (size_t)nr + j];
        scale += fabs((double)a[k * (size_t)mr + i] * b[k * (size_t)nr + j]);
      }
      if ((flags & CONVCL_GEMM_RELU) && want < 0) want = 0;
      /* The float dot-product bound of tests/expected.h, kc products plus C or bias. */
      if (fabs(got - want) > (double)(kc + 3) * TU_UNIT_ROUNDOFF * scale) {
        CHECK(0, "%s kc %zu m %zu n %zu epilogue %d: C[%zu][%zu] = %.9g, want %.9g", what, kc, m, n,
              e, i, j, got, want);
        bad = 1;
      }
    }
  if (!bad) tu_passed++;
}

static void check_kernel(const char *what, int mr, int nr, convcl_f32_gemm_fn gemm,
                         convcl_f32_gemm_strided_fn strided) {
  const int before = tu_failed;
  for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++)
    for (size_t m = 1; m <= (size_t)mr; m++)
      for (size_t n = 1; n <= (size_t)nr; n++)
        for (int e = 0; e < (int)(sizeof epilogues / sizeof epilogues[0]); e++)
          check_tile(what, mr, nr, gemm, strided, depths[d], m, n, e);
  printf("%s %dx%d: %s\n", what, mr, nr, tu_failed == before ? "ok" : "FAILED");
}

int main(void) {
  const convcl_cpu_isa *isa = convcl_cpu_isa_get();
  printf("isa %s\n", isa->name);
  if (isa->mr > MAX_TILE || isa->nr > MAX_TILE || isa->sq > MAX_TILE) {
    printf("a tile is larger than %d\n", MAX_TILE);
    return 1;
  }
  check_kernel("gemm", isa->mr, isa->nr, isa->gemm, NULL);
  check_kernel("gemm_strided", isa->mr, isa->nr, NULL, isa->gemm_strided);
  if (isa->gemm_sq) check_kernel("gemm_sq", isa->sq, isa->sq, isa->gemm_sq, NULL);
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
