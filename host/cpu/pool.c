/* A fixed pool of worker threads made once per context; work is handed out by an
 * atomic counter so uneven items balance themselves. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>

struct convcl_pool {
  int threads;
  pthread_t *workers;
  pthread_mutex_t run_lock; /* one parallel loop at a time */
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  uint64_t generation; /* bumped for each loop; workers wait for a change */
  int stopping;
  int busy; /* workers still inside the current loop */
  void (*fn)(void *, int64_t);
  void *arg;
  int64_t count;
  atomic_int_fast64_t next;
};

static void drain(convcl_pool *pool) {
  for (;;) {
    int64_t i = atomic_fetch_add(&pool->next, 1);
    if (i >= pool->count) return;
    pool->fn(pool->arg, i);
  }
}

static void *worker(void *p) {
  convcl_pool *pool = p;
  uint64_t seen = 0;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (pool->generation == seen && !pool->stopping) pthread_cond_wait(&pool->wake, &pool->lock);
    if (pool->stopping) break;
    seen = pool->generation;
    pthread_mutex_unlock(&pool->lock);
    drain(pool);
    pthread_mutex_lock(&pool->lock);
    if (--pool->busy == 0) pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

convcl_status convcl_pool_create(int threads, convcl_pool **pool_out) {
  convcl_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate the thread pool");
  pool->threads = threads < 1 ? 1 : threads;
  pool->workers = calloc((size_t)pool->threads, sizeof *pool->workers);
  if (!pool->workers) {
    free(pool);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate the thread pool");
  }
  pthread_mutex_init(&pool->run_lock, NULL);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
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
  pool->stopping = 1;
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
  if (pool->threads == 1 || count == 1) {
    for (int64_t i = 0; i < count; i++) fn(arg, i);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  pthread_mutex_lock(&pool->lock);
  pool->fn = fn;
  pool->arg = arg;
  pool->count = count;
  atomic_store(&pool->next, 0);
  pool->busy = pool->threads - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  drain(pool);
  pthread_mutex_lock(&pool->lock);
  while (pool->busy > 0) pthread_cond_wait(&pool->done, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  pthread_mutex_unlock(&pool->run_lock);
}
