/* The baselines compiled into this build, and their thread setup. */
#include "baseline.h"

#include <stddef.h>

#ifdef CONVCL_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.h>

#include <dlfcn.h>
#endif

static const bench_baseline *const baselines[] = {
#ifdef CONVCL_BENCH_ONEDNN
    &baseline_onednn_nchw, &baseline_onednn_blocked,
#endif
#ifdef CONVCL_BENCH_CLBLAST
    &baseline_clblast_convgemm,
#endif
    NULL};

void baselines_set_threads(int threads) {
#ifdef CONVCL_BENCH_ONEDNN
  /* oneDNN runs on OpenMP here. libgomp reads OMP_NUM_THREADS once, when it is loaded
   * with the program, so setting the variable now would be too late; the runtime's own
   * call takes effect for the parallel regions this (the calling) thread opens. The
   * symbol is looked up rather than linked so the bench needs no OpenMP flags. */
  if (threads > 0 && dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP) {
    void *self = dlopen(NULL, RTLD_NOW);
    if (self) {
      void (*set)(int) = NULL;
      *(void **)&set = dlsym(self, "omp_set_num_threads");
      if (set) set(threads);
      dlclose(self);
    }
  }
#else
  (void)threads;
#endif
}

const bench_baseline *const *baselines_list(int *count) {
  *count = (int)(sizeof baselines / sizeof baselines[0]) - 1;
  return baselines;
}
