/* A fixed pool of worker threads made once per context; work is handed out by an
 * atomic counter so uneven items balance themselves.
 * Workers and the caller spin for 1 ms (SPIN_NS) before they sleep: a convolution
 * takes tens of microseconds to a few milliseconds, and waking a sleeping thread costs
 * what its share of the work then waits for: tens of microseconds for a futex on bare
 * metal, hundreds in a VM, whose hypervisor must first reschedule the idle virtual CPU.
 * The next loop usually comes within the spin (a network's next layer), and so does the
 * end of a loop whose last task runs long on the other thread. A 100-microsecond spin
 * let the worker fall asleep there: on this project's 2-core VM, ResNet-50 on 2 threads
 * scaled 0.94x as well as oneDNN (on OpenMP, which spins for milliseconds) in the same
 * runs, and 0.96-0.97x with 1 ms; 4 ms did no better (medians of 6 alternated runs each
 * of convcl-bench --suite resnet50 --device cpu:1,cpu:2). The cost: after its last loop
 * a worker keeps its core busy for 1 ms. A pool with more threads than processors spins
 * 100 microseconds, as a spinning thread there takes the time of one that has work.
 * Denormal numbers: x86 and Arm cores take a microcode assist or trap for each operation
 * on one, which made a ResNet-50 layer with denormal input 150x to 800x slower. Every
 * loop therefore runs with them flushed to zero (MXCSR's FTZ and DAZ, FPCR's FZ), on the
 * workers and, only for the loop's duration, on the caller, whose control register is
 * restored after; the workers take the caller's other settings (rounding) with it. So a
 * denormal input, weight or intermediate counts as 0, and a denormal result becomes 0:
 * each changes an output by less than 2^-126 (1.2e-38) absolute per term. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

/* How long a thread spins before it sleeps, with at most as many threads as processors
 * and with more (see the top); the polls between clock reads (a pause instruction is 10
 * to 150 cycles, depending on the core). */
enum { SPIN_NS = 1000000, SPIN_NS_OVERSUBSCRIBED = 100000, POLLS_PER_CLOCK = 64 };

struct convcl_pool {
  int threads;
  int64_t spin_ns;
  pthread_t *workers;
  pthread_mutex_t run_lock; /* one parallel loop at a time */
  pthread_mutex_t lock;     /* with wake and done, for threads that stopped spinning */
  pthread_cond_t wake, done;
  atomic_uint_fast64_t generation; /* bumped for each loop; workers wait for a change */
  atomic_int stopping;
  atomic_int busy; /* workers still inside the current loop */
  void (*fn)(void *, int64_t);
  void *arg;
  uint64_t fp_control; /* the caller's, flushing denormals: what the workers run with */
  int64_t count;
  atomic_int_fast64_t next;
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* This thread's floating-point control register; 0 where no flushing is known. */
static uint64_t fp_control_get(void) {
#if defined(__x86_64__) || defined(__i386__)
  return _mm_getcsr();
#elif defined(__aarch64__)
  uint64_t v;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
  return v;
#else
  return 0;
#endif
}

static void fp_control_set(uint64_t v) {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr((unsigned)v);
#elif defined(__aarch64__)
  __asm__ __volatile__("msr fpcr, %0" : : "r"(v));
#else
  (void)v;
#endif
}

/* v with denormals flushed to zero: MXCSR's FTZ (bit 15) and DAZ (bit 6) on x86, and its
 * exception flags (bits 0..5) cleared, as they are not the caller's to keep; FPCR's FZ
 * (bit 24) on Arm. */
static uint64_t fp_control_flushing(uint64_t v) {
#if defined(__x86_64__) || defined(__i386__)
  return (v | 0x8040u) & ~(uint64_t)0x3f;
#elif defined(__aarch64__)
  return v | (1u << 24);
#else
  return v;
#endif
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Whether the generation moved past seen or the pool is stopping (worker), or every
 * worker is done (caller, seen unused). */
typedef int (*spin_test)(convcl_pool *pool, uint64_t seen);

static int work_came(convcl_pool *pool, uint64_t seen) {
  return atomic_load(&pool->generation) != seen || atomic_load(&pool->stopping);
}

static int workers_done(convcl_pool *pool, uint64_t seen) {
  (void)seen;
  return atomic_load(&pool->busy) == 0;
}

/* Polls test for up to the pool's spin time; returns its last answer. */
static int spin(convcl_pool *pool, spin_test test, uint64_t seen) {
  const int64_t until = now_ns() + pool->spin_ns;
  for (;;) {
    for (int i = 0; i < POLLS_PER_CLOCK; i++) {
      if (test(pool, seen)) return 1;
      cpu_relax();
    }
    if (now_ns() >= until) return test(pool, seen);
  }
}

static void drain(convcl_pool *pool) {
  for (;;) {
    int64_t i = atomic_fetch_add(&pool->next, 1);
    if (i >= pool->count) return;
    pool->fn(pool->arg, i);
  }
}

/* Waits until the generation differs from seen or the pool stops: spinning first,
 * then on the condition variable. Changes are made under the lock, so a sleeper never
 * misses one. */
static void wait_for_work(convcl_pool *pool, uint64_t seen) {
  if (spin(pool, work_came, seen)) return;
  pthread_mutex_lock(&pool->lock);
  while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stopping))
    pthread_cond_wait(&pool->wake, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
}

static void *worker(void *p) {
  convcl_pool *pool = p;
  uint64_t seen = 0;
  for (;;) {
    wait_for_work(pool, seen);
    if (atomic_load(&pool->stopping)) break;
    seen = atomic_load(&pool->generation);
    fp_control_set(pool->fp_control);
    drain(pool);
    if (atomic_fetch_sub(&pool->busy, 1) == 1) {
      pthread_mutex_lock(&pool->lock);
      pthread_cond_signal(&pool->done);
      pthread_mutex_unlock(&pool->lock);
    }
  }
  return NULL;
}

convcl_status convcl_pool_create(int threads, convcl_pool **pool_out) {
  convcl_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate the thread pool");
  pool->threads = threads < 1 ? 1 : threads;
  pool->spin_ns = pool->threads > sysconf(_SC_NPROCESSORS_ONLN) ? SPIN_NS_OVERSUBSCRIBED : SPIN_NS;
  pool->workers = calloc((size_t)pool->threads, sizeof *pool->workers);
  if (!pool->workers) {
    free(pool);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate the thread pool");
  }
  pthread_mutex_init(&pool->run_lock, NULL);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
  atomic_init(&pool->generation, 0);
  atomic_init(&pool->stopping, 0);
  atomic_init(&pool->busy, 0);
  atomic_init(&pool->next, 0);
  for (int i = 0; i < pool->threads - 1; i++)
    if (pthread_create(&pool->workers[i], NULL, worker, pool) != 0) {
      /* Fewer threads still work: the caller runs whatever the workers do not take. */
      pool->threads = i + 1;
      break;
    }
  *pool_out = pool;
  return CONVCL_OK;
}

void convcl_pool_destroy(convcl_pool *pool) {
  if (!pool) return;
  pthread_mutex_lock(&pool->lock);
  atomic_store(&pool->stopping, 1);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->threads - 1; i++) pthread_join(pool->workers[i], NULL);
  pthread_cond_destroy(&pool->done);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  pthread_mutex_destroy(&pool->run_lock);
  free(pool->workers);
  free(pool);
}

int convcl_pool_threads(const convcl_pool *pool) { return pool->threads; }

void convcl_pool_for(convcl_pool *pool, int64_t count, void (*fn)(void *, int64_t), void *arg) {
  if (count <= 0) return;
  const uint64_t caller = fp_control_get(), flushing = fp_control_flushing(caller);
  fp_control_set(flushing);
  if (pool->threads == 1 || count == 1) {
    for (int64_t i = 0; i < count; i++) fn(arg, i);
    fp_control_set(caller);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  pool->fp_control = flushing;
  pool->fn = fn;
  pool->arg = arg;
  pool->count = count;
  atomic_store(&pool->next, 0);
  atomic_store(&pool->busy, pool->threads - 1);
  pthread_mutex_lock(&pool->lock);
  atomic_fetch_add(&pool->generation, 1);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  drain(pool);
  if (!spin(pool, workers_done, 0)) {
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->busy) > 0) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
  }
  pthread_mutex_unlock(&pool->run_lock);
  fp_control_set(caller);
}
