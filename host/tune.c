/* Measured choice: with tuning on, AUTO runs every applicable algorithm and tile variant
 * on the problem once, keeps the fastest and records it in the on-disk cache
 * (host/diskcache.c), so later plans for the same problem on the same device read the
 * choice back instead of measuring again.
 *
 * An entry is keyed by the library version, the backend, the device (name, platform,
 * driver, compute units) and every field of the validated problem, and holds text:
 * "algo NAME\nvariant NAME\n" (variant "-" for a solver without tile variants), then
 * one "measured ALGO VARIANT MS" line per candidate, for whoever reads the file. */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each candidate runs once untimed (first-run costs: lazy kernel compiles, page
 * faults), then up to TIMED_RUNS times; its time is their median. Runs are on tensors
 * in the context (enqueue, then wait), so on devices with memory of their own no host
 * transfer is timed: they would cost every candidate the same and drown the
 * differences between kernels. Timed runs stop once they add up to RUN_BUDGET_MS, so
 * huge layers stay bounded, and a candidate already more than SLOWER times the best
 * so far stops early: it cannot win. */
enum { TIMED_RUNS = 5 };
#define RUN_BUDGET_MS 1000.0
#define SLOWER 2.0

static atomic_long measured_runs;

long convcl_tune_measured_runs(void) { return atomic_load(&measured_runs); }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Appends to the string in buf (capacity cap), truncating. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
append(char *buf, size_t cap, const char *fmt, ...) {
  const size_t used = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + used, cap - used, fmt, ap);
  va_end(ap);
}

static void append_dims(char *buf, size_t cap, const char *name, const int64_t v[3]) {
  append(buf, cap, "%s %lld %lld %lld\n", name, (long long)v[0], (long long)v[1], (long long)v[2]);
}

enum { KEY_MAX = 2048 };

static void tune_key(const convcl_context *ctx, const convcl_problem *p, char key[KEY_MAX]) {
  const convcl_device_info *d = &ctx->device;
  key[0] = '\0';
  append(key, KEY_MAX,
         "convcl %s tuning\nbackend %s\ndevice %s\nplatform %s\ndriver %s\ncompute units %d\n"
         "rank %d transposed %d bias %d relu %d mode %d\n"
         "n %lld c %lld k %lld groups %lld\n",
         CONVCL_VERSION, ctx->backend->kind == CONVCL_BACKEND_CPU ? "cpu" : "opencl", d->name,
         d->platform, d->driver, d->compute_units, p->rank, p->transposed, p->has_bias, p->relu,
         (int)p->mode, (long long)p->n, (long long)p->c, (long long)p->k, (long long)p->groups);
  append_dims(key, KEY_MAX, "in", p->in);
  append_dims(key, KEY_MAX, "out", p->out);
  append_dims(key, KEY_MAX, "kernel", p->kernel);
  append_dims(key, KEY_MAX, "stride", p->stride);
  append_dims(key, KEY_MAX, "dilation", p->dilation);
  append_dims(key, KEY_MAX, "pad_begin", p->pad_begin);
  append_dims(key, KEY_MAX, "pad_end", p->pad_end);
  append_dims(key, KEY_MAX, "output_padding", p->output_padding);
}

/* The solver a named algorithm gets for p, as convcl_plan_make chooses it: the first
 * applicable one with that algorithm (a backend may list one twice, with a narrower
 * applicable() first). NULL when none applies. */
static const convcl_solver *solver_for(const convcl_context *ctx, const convcl_problem *p,
                                       convcl_algo algo) {
  const convcl_backend *b = ctx->backend;
  for (size_t i = 0; i < b->solver_count; i++)
    if (b->solvers[i]->algo == algo && b->solvers[i]->applicable(ctx, p)) return b->solvers[i];
  return NULL;
}

static const char *variant_name(const convcl_solver *s, int variant) {
  return s->variant_count > 0 ? s->variant_names[variant] : "-";
}

/* The recorded algorithm and variant (-1 for a solver without variants), when the
 * cache holds an entry for p whose algorithm still applies and whose variant it still
 * has. */
static int lookup(const convcl_context *ctx, const convcl_problem *p, convcl_algo *algo,
                  int *variant) {
  char key[KEY_MAX], algo_name[64], var_name[64];
  size_t len;
  tune_key(ctx, p, key);
  char *data = convcl_diskcache_load(CONVCL_CACHE_TUNING, key, &len);
  if (!data) return 0;
  char *text = realloc(data, len + 1);
  if (!text) {
    free(data);
    return 0;
  }
  text[len] = '\0';
  const int parsed = sscanf(text, "algo %63s variant %63s", algo_name, var_name) == 2;
  free(text);
  if (!parsed || convcl_algo_from_name(algo_name, algo) != CONVCL_OK) return 0;
  const convcl_solver *s = solver_for(ctx, p, *algo);
  if (!s || *algo == CONVCL_ALGO_AUTO) return 0;
  if (s->variant_count == 0) {
    *variant = -1;
    return strcmp(var_name, "-") == 0;
  }
  for (*variant = 0; *variant < s->variant_count; ++*variant)
    if (strcmp(var_name, s->variant_names[*variant]) == 0) return 1;
  return 0;
}

int convcl_tune_lookup(const convcl_context *ctx, const convcl_problem *p, convcl_algo *algo) {
  int variant;
  const int found = lookup(ctx, p, algo, &variant);
  convcl_error_clear();
  return found;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One run of plan on tensors, waited for. */
static convcl_status run_once(convcl_plan *plan, const convcl_tensor *x, convcl_tensor *y) {
  convcl_status st = convcl_plan_enqueue(plan, x, y);
  if (st == CONVCL_OK) st = convcl_context_finish(plan->ctx);
  atomic_fetch_add(&measured_runs, 1);
  return st;
}

/* The plan's time per run in ms, as the top of this file says; INFINITY when a run
 * fails. */
static double time_plan(convcl_plan *plan, const convcl_tensor *x, convcl_tensor *y,
                        double best_ms) {
  if (run_once(plan, x, y) != CONVCL_OK) return INFINITY;
  double times[TIMED_RUNS], total = 0;
  int n = 0;
  while (n < TIMED_RUNS) {
    const double t0 = now_ms();
    const convcl_status st = run_once(plan, x, y);
    times[n] = now_ms() - t0;
    if (st != CONVCL_OK) return INFINITY;
    total += times[n++];
    if (total > RUN_BUDGET_MS || times[n - 1] > SLOWER * best_ms) break;
  }
  qsort(times, (size_t)n, sizeof times[0], by_value);
  return times[(n - 1) / 2];
}

/* Measures every candidate on scratch data; returns the fastest plan (NULL when none
 * could be made and run) and writes the entry's text to record. */
static convcl_plan *measure(convcl_context *ctx, const convcl_problem *p, const float *weights,
                            const float *bias, char *record, size_t cap) {
  const convcl_backend *b = ctx->backend;
  float *input = malloc((size_t)p->input_elems * sizeof *input);
  convcl_tensor *x = NULL, *y = NULL;
  convcl_plan *best = NULL;
  double best_ms = INFINITY;
  char lines[4096] = "";
  if (!input || convcl_tensor_create(ctx, &p->input_shape, &x) != CONVCL_OK ||
      convcl_tensor_create(ctx, &p->output_shape, &y) != CONVCL_OK)
    goto cleanup;
  /* Random in [-1, 1): the data's values do not change the work, but denormals or
   * all-zero input could. */
  uint32_t state = 0x2545f491u;
  for (int64_t i = 0; i < p->input_elems; i++) {
    state = state * 1664525u + 1013904223u;
    input[i] = (float)(state >> 8) / (float)(1u << 23) - 1.0f;
  }
  if (convcl_tensor_upload(x, input) != CONVCL_OK) goto cleanup;
  for (size_t i = 0; i < b->solver_count; i++) {
    const convcl_solver *s = b->solvers[i];
    if (solver_for(ctx, p, s->algo) != s) continue;
    for (int v = 0; v < (s->variant_count > 0 ? s->variant_count : 1); v++) {
      convcl_plan *plan;
      if (convcl_plan_make(ctx, p, weights, bias, s->algo, s->variant_count > 0 ? v : -1, &plan) !=
          CONVCL_OK)
        continue;
      const double ms = time_plan(plan, x, y, best_ms);
      append(lines, sizeof lines, "measured %s %s %.4f ms\n", convcl_algo_name(s->algo),
             variant_name(s, v), ms);
      if (ms < best_ms) {
        convcl_plan_destroy(best);
        best = plan;
        best_ms = ms;
        snprintf(record, cap, "algo %s\nvariant %s\n", convcl_algo_name(s->algo),
                 variant_name(s, v));
      } else {
        convcl_plan_destroy(plan);
      }
    }
  }
  append(record, cap, "%s", lines);
cleanup:
  free(input);
  convcl_tensor_destroy(x);
  convcl_tensor_destroy(y);
  return best;
}

convcl_status convcl_tune_plan(convcl_context *ctx, const convcl_problem *p, const float *weights,
                               const float *bias, convcl_plan **plan_out) {
  convcl_algo algo;
  int variant;
  if (lookup(ctx, p, &algo, &variant) &&
      convcl_plan_make(ctx, p, weights, bias, algo, variant, plan_out) == CONVCL_OK)
    return CONVCL_OK;
  char key[KEY_MAX], record[4608] = "";
  convcl_plan *plan = measure(ctx, p, weights, bias, record, sizeof record);
  /* Nothing could be measured (no scratch memory, every candidate failed): the
   * heuristic's plan, or its error. */
  if (!plan) return convcl_plan_make(ctx, p, weights, bias, CONVCL_ALGO_AUTO, -1, plan_out);
  tune_key(ctx, p, key);
  convcl_diskcache_store(CONVCL_CACHE_TUNING, key, record, strlen(record));
  *plan_out = plan;
  convcl_error_clear();
  return CONVCL_OK;
}
