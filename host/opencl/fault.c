/* Fault injection (host/opencl/opencl.h): the N-th OpenCL call of a kind, counted from
 * convcl_fault_set or from the first call when CONVCL_FAULT=kind:N is set, fails as the
 * device would have failed it, so tests can walk every error path. */
#include "opencl/opencl.h"

#include <stdlib.h>
#include <string.h>

/* -1 until CONVCL_FAULT is read: the first call of each kind takes the slow path once. */
_Atomic long convcl_fault_target_[CONVCL_FAULT_KIND_COUNT] = {-1, -1, -1, -1, -1};
static _Atomic long calls[CONVCL_FAULT_KIND_COUNT];
static const char *_Atomic last_call;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const char *const kind_names[CONVCL_FAULT_KIND_COUNT] = {
    [CONVCL_FAULT_BUILD] = "build",     [CONVCL_FAULT_ALLOC] = "alloc",
    [CONVCL_FAULT_ENQUEUE] = "enqueue", [CONVCL_FAULT_MAP] = "map",
    [CONVCL_FAULT_CONTEXT] = "context",
};

/* CONVCL_FAULT=kind:N arms one kind; anything else leaves every kind disarmed. */
static void read_env(void) {
  long target[CONVCL_FAULT_KIND_COUNT] = {0};
  const char *env = getenv("CONVCL_FAULT");
  const char *colon = env ? strchr(env, ':') : NULL;
  if (colon) {
    char *end;
    const long n = strtol(colon + 1, &end, 10);
    for (int k = 0; k < CONVCL_FAULT_KIND_COUNT; ++k)
      if (n > 0 && *end == '\0' && strlen(kind_names[k]) == (size_t)(colon - env) &&
          strncmp(env, kind_names[k], (size_t)(colon - env)) == 0)
        target[k] = n;
  }
  for (int k = 0; k < CONVCL_FAULT_KIND_COUNT; ++k) {
    atomic_store(&calls[k], 0);
    atomic_store(&convcl_fault_target_[k], target[k]);
  }
}

int convcl_fault_fire_(convcl_fault_kind kind, const char *call) {
  pthread_once(&env_once, read_env);
  const long target = atomic_load(&convcl_fault_target_[kind]);
  if (target == 0 || atomic_fetch_add(&calls[kind], 1) + 1 != target) return 0;
  atomic_store(&last_call, call);
  return 1;
}

void convcl_fault_set(convcl_fault_kind kind, long n) {
  pthread_once(&env_once, read_env);
  atomic_store(&convcl_fault_target_[kind], 0);
  atomic_store(&calls[kind], 0);
  atomic_store(&last_call, NULL);
  atomic_store(&convcl_fault_target_[kind], n > 0 ? n : 0);
}

long convcl_fault_calls(convcl_fault_kind kind) { return atomic_load(&calls[kind]); }

const char *convcl_fault_last_call(void) {
  const char *call = atomic_load(&last_call);
  return call ? call : "";
}

const char *convcl_fault_kind_name(convcl_fault_kind kind) { return kind_names[kind]; }
