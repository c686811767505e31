#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
static _Alignas(64) atomic_int flag;
static double now(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e9+t.tv_nsec;}
static void pin(int c){cpu_set_t s; CPU_ZERO(&s); CPU_SET(c,&s); pthread_setaffinity_np(pthread_self(),sizeof s,&s);}
enum { N = 200000 };
static void *other(void *a){ (void)a; pin(1); for(int i=0;i<N;i++){ while(atomic_load_explicit(&flag,memory_order_acquire)!=2*i+1); atomic_store_explicit(&flag,2*i+2,memory_order_release);} return NULL; }
int main(void){ pin(0); pthread_t t; pthread_create(&t,NULL,other,NULL);
  double t0=now(); for(int i=0;i<N;i++){ atomic_store_explicit(&flag,2*i+1,memory_order_release); while(atomic_load_explicit(&flag,memory_order_acquire)!=2*i+2); }
  double t1=now(); pthread_join(t,NULL); printf("round trip %.0f ns\n",(t1-t0)/N); }
