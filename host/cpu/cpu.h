/* The CPU backend's own pieces: the thread pool and the solvers. */
#ifndef CONVCL_CPU_H
#define CONVCL_CPU_H

#include "internal.h"

typedef struct convcl_pool convcl_pool;

/* Starts threads - 1 workers; the calling thread is the last one. */
convcl_status convcl_pool_create(int threads, convcl_pool **pool_out);
void convcl_pool_destroy(convcl_pool *pool);
int convcl_pool_threads(const convcl_pool *pool);

/* Runs fn(arg, i) for every i in [0, count) on the pool's threads and the caller,
 * and returns when all are done. Calls from several threads take turns. */
void convcl_pool_for(convcl_pool *pool, int64_t count, void (*fn)(void *arg, int64_t i), void *arg);

/* The pool of a CPU context. */
convcl_pool *convcl_cpu_pool(const convcl_context *ctx);

extern const convcl_solver convcl_cpu_direct;

#endif
