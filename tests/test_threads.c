/* Threads: one context shared by THREADS threads, released together by a barrier.
 * Each creates its own plans at the same moment as the others: several layer kinds and
 * named algorithms, so different programs and solvers are asked for at once, and threads
 * in pairs take the same layer in the same order, so they ask the shared program cache
 * for the same program at once. Each then runs every plan of its own many times and
 * checks each output against the FP64 reference computed before the threads started,
 * and against the plan's own first output bit for bit (convcl's results do not depend
 * on the schedule, so a run that differs was disturbed). Each thread also makes a call
 * that fails with a message naming its own values, among the others' successes, and
 * checks that convcl_last_error is its own. Then each runs its plans on device tensors
 * of its own: uploads, enqueues on the context's one queue without waiting, reads back,
 * and must get the host runs' outputs bit for bit. A second phase gives each thread a
 * context of its own, so the same programs build at once with no lock between them and
 * their binaries are stored on disk at once; a new context must then load every entry as
 * it is. A third does the first's work with tuning on, every thread tuning the same
 * layers at once, so the tuning entries on disk are written concurrently; a new context
 * must then read them back without measuring.
 * Each phase has convcl's disk cache in a fresh XDG_CACHE_HOME, set while no thread runs.
 * Built with CONVCL_SANITIZE_THREAD, ThreadSanitizer watches all of it.
 *
 *   test_threads cpu|opencl [RUNS]
 *
 * RUNS (default 10) is how often each thread runs each of its plans. Exits 0 when all
 * pass, 77 when mode is opencl and no OpenCL device opens. */
#include "check.h"
#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { THREADS = 4, LAYERS = 5, MAX_ALGOS = 5, MAX_PLANS = LAYERS * MAX_ALGOS, RUNS = 10 };
/* The tuning phase plans AUTO for the first TUNED layers only: tuning builds and times
 * every candidate, which on PoCL under a sanitizer takes a while. */
enum { TUNED = 2 };

/* The layers every thread plans, each with the algorithms it is planned with (AUTO
 * first, then named ones, which build other programs than AUTO's choice). */
typedef struct layer {
  const char *name;
  convcl_conv_desc desc;
  convcl_shape input, output;
  convcl_algo algos[MAX_ALGOS];
  int algo_count;
  float *x, *w, *b;
  double *want, mag;
  size_t in_elems, out_elems;
} layer;

static layer layers[LAYERS];
/* The device under test, as convcl_context_create takes it. */
static char device_id[32];

static float value(size_t i, unsigned salt) { return (float)((i * 7 + salt) % 13) / 6.0f - 1.0f; }

static void set_pads(convcl_conv_desc *d, int64_t pad) {
  for (int i = 0; i < d->spatial_dims; i++) d->pad_begin[i] = d->pad_end[i] = pad;
}

static void define_layers(void) {
  const int64_t k1[2] = {1, 1}, k3[2] = {3, 3}, k5[1] = {5};
  layer *L = layers;
  L->name = "conv3x3_relu";
  convcl_conv_desc_init(&L->desc, 2, 0, 8, 16, k3);
  set_pads(&L->desc, 1);
  L->desc.activation = CONVCL_ACTIVATION_RELU;
  L->input = (convcl_shape){4, {2, 8, 12, 10}};
  L->algo_count = 5;
  memcpy(L->algos,
         (convcl_algo[]){CONVCL_ALGO_AUTO, CONVCL_ALGO_IMPLICIT_GEMM, CONVCL_ALGO_WINOGRAD_2X2,
                         CONVCL_ALGO_WINOGRAD_4X4, CONVCL_ALGO_DIRECT},
         5 * sizeof(convcl_algo));
  L++;
  L->name = "pointwise";
  convcl_conv_desc_init(&L->desc, 2, 0, 16, 8, k1);
  L->input = (convcl_shape){4, {1, 16, 9, 9}};
  L->algo_count = 3;
  memcpy(L->algos, (convcl_algo[]){CONVCL_ALGO_AUTO, CONVCL_ALGO_GEMM, CONVCL_ALGO_IMPLICIT_GEMM},
         3 * sizeof(convcl_algo));
  L++;
  L->name = "depthwise_s2";
  convcl_conv_desc_init(&L->desc, 2, 0, 8, 8, k3);
  L->desc.groups = 8;
  L->desc.stride[0] = L->desc.stride[1] = 2;
  set_pads(&L->desc, 1);
  L->input = (convcl_shape){4, {1, 8, 11, 11}};
  L->algo_count = 2;
  memcpy(L->algos, (convcl_algo[]){CONVCL_ALGO_AUTO, CONVCL_ALGO_DEPTHWISE},
         2 * sizeof(convcl_algo));
  L++;
  L->name = "tconv_s2";
  convcl_conv_desc_init(&L->desc, 2, 1, 6, 4, k3);
  L->desc.stride[0] = L->desc.stride[1] = 2;
  L->input = (convcl_shape){4, {1, 6, 5, 7}};
  L->algo_count = 3;
  memcpy(L->algos,
         (convcl_algo[]){CONVCL_ALGO_AUTO, CONVCL_ALGO_TRANSPOSED_GEMM, CONVCL_ALGO_DIRECT},
         3 * sizeof(convcl_algo));
  L++;
  L->name = "conv1d_reflect";
  convcl_conv_desc_init(&L->desc, 1, 0, 4, 6, k5);
  set_pads(&L->desc, 2);
  L->desc.padding_mode = CONVCL_PADDING_REFLECT;
  L->input = (convcl_shape){3, {2, 4, 33}};
  L->algo_count = 2;
  memcpy(L->algos, (convcl_algo[]){CONVCL_ALGO_AUTO, CONVCL_ALGO_IMPLICIT_GEMM},
         2 * sizeof(convcl_algo));
}

/* Data and the reference output of every layer, before any thread starts. */
static int make_layers(void) {
  define_layers();
  for (int l = 0; l < LAYERS; l++) {
    layer *L = &layers[l];
    convcl_shape ws;
    if (convcl_conv_output_shape(&L->desc, &L->input, &L->output) != CONVCL_OK ||
        convcl_conv_weight_shape(&L->desc, &ws) != CONVCL_OK)
      return 0;
    L->in_elems = tu_elems(&L->input);
    L->out_elems = tu_elems(&L->output);
    const size_t w_elems = tu_elems(&ws);
    L->x = malloc(L->in_elems * sizeof *L->x);
    L->w = malloc(w_elems * sizeof *L->w);
    L->b = malloc((size_t)L->desc.out_channels * sizeof *L->b);
    L->want = malloc(L->out_elems * sizeof *L->want);
    float *ref_out = malloc(L->out_elems * sizeof *ref_out);
    if (!L->x || !L->w || !L->b || !L->want || !ref_out) {
      free(ref_out);
      return 0;
    }
    for (size_t i = 0; i < L->in_elems; i++) L->x[i] = value(i, 1 + (unsigned)l);
    for (size_t i = 0; i < w_elems; i++) L->w[i] = value(i, 5 + (unsigned)l) / 4;
    for (int64_t i = 0; i < L->desc.out_channels; i++) L->b[i] = value((size_t)i, 3);
    const int ok = convcl_ref_conv(&L->desc, &L->input, L->x, L->w, L->b, ref_out) == CONVCL_OK;
    L->mag = 0;
    for (size_t i = 0; i < L->out_elems; i++) {
      L->want[i] = ref_out[i];
      L->mag = fmax(L->mag, fabs(L->want[i]));
    }
    free(ref_out);
    if (!ok) return 0;
  }
  return 1;
}

static void free_layers(void) {
  for (int l = 0; l < LAYERS; l++) {
    free(layers[l].x), free(layers[l].w), free(layers[l].b), free(layers[l].want);
  }
}

/* One thread's plans, its buffers and what went wrong in it. check.h's counters are
 * not shared with threads: each counts its own failures. */
typedef struct plan_slot {
  int layer;
  convcl_algo algo;
  convcl_plan *plan;
  float *y, *first;
} plan_slot;

typedef struct worker {
  int index, tune, runs;
  int own_context; /* the thread opens its own context on the device under test */
  convcl_context *ctx;
  pthread_barrier_t *start;
  plan_slot slots[MAX_PLANS];
  int slot_count;
  int failures;
  long checked_runs;
} worker;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
fail(worker *w, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  w->failures++;
  printf("FAIL thread %d: %s\n", w->index, msg);
}

/* A call that must fail with this thread's own values in its message while the other
 * threads' calls succeed or fail with theirs: out_channels 101 + 2 * index, which
 * groups 2 does not divide. */
static void own_error(worker *w) {
  convcl_conv_desc d = layers[0].desc;
  d.groups = 2;
  d.out_channels = 101 + 2 * w->index;
  convcl_plan *plan = NULL;
  char want[64];
  snprintf(want, sizeof want, "out_channels (%lld)", (long long)d.out_channels);
  const convcl_status st = convcl_plan_create(w->ctx, &d, &layers[0].input, layers[0].w,
                                              layers[0].b, CONVCL_ALGO_AUTO, &plan);
  if (st != CONVCL_ERROR_INVALID_GROUPS || !strstr(convcl_last_error(), want))
    fail(w, "expected this thread's groups error naming %s, got %s: '%s'", want,
         convcl_status_string(st), convcl_last_error());
  convcl_plan_destroy(plan);
}

/* A call's status: failures recorded with this thread's message; also a success that
 * left a message behind. Returns whether it succeeded. */
static int ok(worker *w, convcl_status st, const char *what, const plan_slot *s) {
  const char *name = s ? layers[s->layer].name : "", *algo = s ? convcl_algo_name(s->algo) : "";
  if (st != CONVCL_OK) {
    fail(w, "%s %s %s: %s: %s", what, name, algo, convcl_status_string(st), convcl_last_error());
    return 0;
  }
  if (convcl_last_error()[0] != '\0')
    fail(w, "%s %s %s succeeded but this thread's last error reads '%s'", what, name, algo,
         convcl_last_error());
  return 1;
}

/* Pairs of threads start on the same layer and take the layers, and each layer's
 * algorithms, in the same order from there: 0 and 1 build the same programs at the same
 * moment as 2 and 3 build others. */
static void create_plans(worker *w) {
  const int first = (w->index / 2) * 2 % LAYERS;
  for (int i = 0; i < LAYERS; i++) {
    const int l = (first + i) % LAYERS;
    const layer *L = &layers[l];
    const int algo_count = w->tune ? 1 : L->algo_count;
    if (w->tune && l >= TUNED) continue;
    for (int a = 0; a < algo_count; a++) {
      plan_slot *s = &w->slots[w->slot_count];
      s->layer = l;
      s->algo = L->algos[a];
      /* With tuning on, a query for AUTO reads the tuning cache that other threads are
       * writing. */
      convcl_algo queried;
      size_t workspace;
      if (ok(w, convcl_plan_query(w->ctx, &L->desc, &L->input, s->algo, &queried, &workspace),
             "query", s) &&
          s->algo != CONVCL_ALGO_AUTO && queried != s->algo)
        fail(w, "query %s %s answered %s", L->name, convcl_algo_name(s->algo),
             convcl_algo_name(queried));
      if (!ok(w, convcl_plan_create(w->ctx, &L->desc, &L->input, L->w, L->b, s->algo, &s->plan),
              "plan", s))
        continue;
      if (s->algo != CONVCL_ALGO_AUTO && convcl_plan_algo(s->plan) != s->algo)
        fail(w, "plan %s asked for %s got %s", L->name, convcl_algo_name(s->algo),
             convcl_algo_name(convcl_plan_algo(s->plan)));
      s->y = malloc(L->out_elems * sizeof *s->y);
      s->first = malloc(L->out_elems * sizeof *s->first);
      if (!s->y || !s->first) {
        fail(w, "out of memory");
        free(s->y), free(s->first);
        convcl_plan_destroy(s->plan);
        continue;
      }
      w->slot_count++;
      if (w->slot_count == 2) own_error(w);
    }
  }
}

/* Tolerance, as test_tune's: 1e-4 of the layer's largest output, room for the least
 * exact algorithm (Winograd F(4x4,3x3)) on these sums of at most 73 terms; test_parity
 * holds each algorithm to its own tighter bound, this test looks for disturbed runs. */
static void check_run(worker *w, plan_slot *s, int run) {
  const layer *L = &layers[s->layer];
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < L->out_elems; i++) {
    const double e = tu_abs_error(s->y[i], L->want[i]);
    if (e > worst) worst = e, at = i;
  }
  if (worst > 1e-4 * L->mag) {
    char where[96];
    tu_format_index(where, sizeof where, &L->output, at);
    fail(w, "%s %s (%s) run %d: max error %g at %s (got %g, want %g), largest output %g", L->name,
         convcl_algo_name(s->algo), convcl_algo_name(convcl_plan_algo(s->plan)), run, worst, where,
         (double)s->y[at], L->want[at], L->mag);
  }
  if (run == 0) {
    memcpy(s->first, s->y, L->out_elems * sizeof *s->y);
  } else if (memcmp(s->first, s->y, L->out_elems * sizeof *s->y) != 0) {
    fail(w, "%s %s (%s) run %d differs from its first run", L->name, convcl_algo_name(s->algo),
         convcl_algo_name(convcl_plan_algo(s->plan)), run);
  }
  w->checked_runs++;
}

/* What every thread may read of a shared context while the others plan and run. */
static void read_context(worker *w) {
  convcl_device_info info;
  int count = 0;
  if (convcl_context_device(w->ctx, &info) != CONVCL_OK || strcmp(info.id, device_id) != 0)
    fail(w, "context device: %s: %s", info.id, convcl_last_error());
  if (convcl_devices_list(NULL, 0, &count) != CONVCL_OK || count < 1)
    fail(w, "devices list: %d devices: %s", count, convcl_last_error());
  if (convcl_context_backend(w->ctx) !=
      (strcmp(device_id, "cpu") == 0 ? CONVCL_BACKEND_CPU : CONVCL_BACKEND_OPENCL))
    fail(w, "context backend");
  if (convcl_context_build_log(w->ctx)[0] != '\0' ||
      convcl_context_fallback_reason(w->ctx)[0] != '\0')
    fail(w, "a build log or fallback reason where no build failed and a device was named");
}

/* Device tensors of this thread's own: every run uploads the inputs, enqueues every plan
 * on the queue the threads share without waiting, then reads each output back. They must
 * equal the host runs' first outputs bit for bit. */
static void run_tensors(worker *w) {
  convcl_tensor *in[LAYERS] = {NULL}, *out[MAX_PLANS] = {NULL};
  int ready = 1;
  for (int l = 0; l < LAYERS; l++)
    ready &= ok(w, convcl_tensor_create(w->ctx, &layers[l].input, &in[l]), "input tensor", NULL);
  for (int i = 0; i < w->slot_count; i++)
    ready &= ok(w, convcl_tensor_create(w->ctx, &layers[w->slots[i].layer].output, &out[i]),
                "output tensor", &w->slots[i]);
  for (int run = 0; ready && run < w->runs; run++) {
    for (int l = 0; l < LAYERS; l++)
      ok(w, convcl_tensor_upload(in[l], layers[l].x), "upload", NULL);
    for (int i = 0; i < w->slot_count; i++) {
      plan_slot *s = &w->slots[i];
      ok(w, convcl_plan_enqueue(s->plan, in[s->layer], out[i]), "enqueue", s);
    }
    /* Every other time, wait for the whole queue first, the other threads' work too. */
    if (run % 2) ok(w, convcl_context_finish(w->ctx), "finish", NULL);
    for (int i = 0; i < w->slot_count; i++) {
      plan_slot *s = &w->slots[i];
      tu_poison(s->y, layers[s->layer].out_elems);
      if (ok(w, convcl_tensor_download(out[i], s->y), "download", s))
        check_run(w, s, w->runs + run);
    }
  }
  for (int l = 0; l < LAYERS; l++) convcl_tensor_destroy(in[l]);
  for (int i = 0; i < w->slot_count; i++) convcl_tensor_destroy(out[i]);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  pthread_barrier_wait(w->start);
  if (w->own_context && !ok(w, convcl_context_create(device_id, &w->ctx), "context", NULL))
    return NULL;
  read_context(w);
  create_plans(w);
  read_context(w);
  for (int run = 0; run < w->runs; run++) {
    for (int i = 0; i < w->slot_count; i++) {
      plan_slot *s = &w->slots[i];
      tu_poison(s->y, layers[s->layer].out_elems);
      if (ok(w, convcl_plan_run(s->plan, layers[s->layer].x, s->y), "run", s)) check_run(w, s, run);
    }
  }
  run_tensors(w);
  for (int i = 0; i < w->slot_count; i++) {
    convcl_plan_destroy(w->slots[i].plan);
    free(w->slots[i].y), free(w->slots[i].first);
  }
  if (w->own_context) convcl_context_destroy(w->ctx);
  return NULL;
}

/* Runs THREADS workers on ctx, or each on a context of its own when ctx is NULL;
 * returns their failures. */
static int run_threads(convcl_context *ctx, int tune, int runs, const char *phase) {
  worker workers[THREADS];
  pthread_t ids[THREADS];
  pthread_barrier_t start;
  int started = 0, failures = 0;
  long checked = 0;
  pthread_barrier_init(&start, NULL, THREADS);
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (worker){
        .index = t, .tune = tune, .runs = runs, .own_context = !ctx, .ctx = ctx, .start = &start};
    if (pthread_create(&ids[t], NULL, worker_main, &workers[t]) != 0) break;
    started++;
  }
  /* A thread that did not start would leave the others at the barrier forever. */
  if (started < THREADS) {
    printf("pthread_create failed after %d threads\n", started);
    abort();
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(ids[t], NULL);
    failures += workers[t].failures;
    checked += workers[t].checked_runs;
    CHECK(workers[t].slot_count > 0, "%s: thread %d made plans", phase, t);
  }
  pthread_barrier_destroy(&start);
  printf("%s: %d threads, %ld runs checked, %d failures\n", phase, THREADS, checked, failures);
  return failures;
}

/* The program binaries in a cache directory, by name, with their inodes: an entry that
 * is rewritten gets a new one. */
enum { MAX_BINS = 64 };
typedef struct bins {
  int count;
  char name[MAX_BINS][64];
  ino_t inode[MAX_BINS];
} bins;

static void list_bins(const char *dir, bins *b) {
  memset(b, 0, sizeof *b);
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *de; (de = readdir(d)) != NULL && b->count < MAX_BINS;) {
    const size_t n = strlen(de->d_name);
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (n < 5 || strcmp(de->d_name + n - 4, ".bin") != 0 || stat(path, &st) != 0) continue;
    /* readdir's order is arbitrary: keep the list sorted so two listings compare. */
    int i = b->count++;
    for (; i > 0 && strcmp(b->name[i - 1], de->d_name) > 0; i--) {
      memcpy(b->name[i], b->name[i - 1], sizeof b->name[i]);
      b->inode[i] = b->inode[i - 1];
    }
    snprintf(b->name[i], sizeof b->name[i], "%s", de->d_name);
    b->inode[i] = st.st_ino;
  }
  closedir(d);
}

/* How many entries with this suffix dir holds. */
static int count_entries(const char *dir, const char *suffix) {
  int count = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    const size_t n = strlen(de->d_name), s = strlen(suffix);
    if (n > s && strcmp(de->d_name + n - s, suffix) == 0) count++;
  }
  closedir(d);
  return count;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "cpu";
  const int runs = argc > 2 ? atoi(argv[2]) : RUNS;
  if (runs < 1) {
    printf("usage: test_threads cpu|opencl [RUNS >= 1]\n");
    return 1;
  }
  convcl_context *ctx;
  const int rc = tu_open_context(mode, &ctx);
  if (rc != 0) return rc;
  convcl_device_info info;
  convcl_context_device(ctx, &info);
  convcl_context_destroy(ctx);
  /* tu_open_context may have reached OpenCL through auto; open that same device. */
  snprintf(device_id, sizeof device_id, "%s", info.id);
  mode = device_id;
  if (!make_layers()) {
    printf("setup failed: %s\n", convcl_last_error());
    return 1;
  }

  /* setenv is not thread-safe: every variable is set while this is the only thread. */
  char root[] = "/tmp/convcl-threads-test-XXXXXX";
  if (!mkdtemp(root)) return 1;
  char home[600], dir[700];
  snprintf(home, sizeof home, "%s/plain", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  setenv("XDG_CACHE_HOME", home, 1);
  unsetenv("CONVCL_CACHE");
  unsetenv("CONVCL_TUNE");

  CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK, "context: %s", convcl_last_error());
  CHECK(run_threads(ctx, 0, runs, "plans") == 0, "plans in threads");
  convcl_context_destroy(ctx);
  if (strncmp(mode, "opencl", 6) == 0)
    CHECK(count_entries(dir, ".bin") > 0, "program binaries written to %s", dir);

  /* A context per thread, into a fresh cache: the threads build the same programs at
   * once in different contexts, which no lock orders, and store the same binaries on
   * disk at once. Then a new context makes every plan again: each entry they wrote must
   * load as it is, none be rewritten (a damaged one would be rebuilt and replaced). */
  snprintf(home, sizeof home, "%s/contexts", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  setenv("XDG_CACHE_HOME", home, 1);
  CHECK(run_threads(NULL, 0, runs, "own contexts") == 0, "a context per thread");
  if (strncmp(mode, "opencl", 6) == 0) {
    bins written, after;
    list_bins(dir, &written);
    CHECK(written.count > 0, "program binaries written to %s", dir);
    CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK, "context: %s", convcl_last_error());
    for (int l = 0; l < LAYERS; l++)
      for (int a = 0; a < layers[l].algo_count; a++) {
        convcl_plan *plan = NULL;
        CHECK(convcl_plan_create(ctx, &layers[l].desc, &layers[l].input, layers[l].w, layers[l].b,
                                 layers[l].algos[a], &plan) == CONVCL_OK,
              "plan %s %s from the cache: %s", layers[l].name, convcl_algo_name(layers[l].algos[a]),
              convcl_last_error());
        convcl_plan_destroy(plan);
      }
    convcl_context_destroy(ctx);
    list_bins(dir, &after);
    CHECK(after.count == written.count &&
              memcmp(after.name, written.name, sizeof after.name) == 0 &&
              memcmp(after.inode, written.inode, sizeof after.inode) == 0,
          "the binaries written concurrently load as they are: %d entries, then %d, or one "
          "was rewritten",
          written.count, after.count);
  }

  /* Tuning: every thread tunes the same layers at once into a fresh cache. */
  snprintf(home, sizeof home, "%s/tune", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  setenv("XDG_CACHE_HOME", home, 1);
  CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK, "context: %s", convcl_last_error());
  convcl_context_set_tuning(ctx, 1);
  const long measured = convcl_tune_measured_runs();
  CHECK(run_threads(ctx, 1, runs, "tuned plans") == 0, "tuned plans in threads");
  CHECK(convcl_tune_measured_runs() > measured, "tuning measured");
  convcl_context_destroy(ctx);
  CHECK(count_entries(dir, ".tune") == TUNED, "one tuning entry per layer, got %d",
        count_entries(dir, ".tune"));

  /* The entries written concurrently are whole: a new context reads them back. */
  CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK, "context: %s", convcl_last_error());
  convcl_context_set_tuning(ctx, 1);
  const long before = convcl_tune_measured_runs();
  for (int l = 0; l < TUNED; l++) {
    convcl_plan *plan = NULL;
    CHECK(convcl_plan_create(ctx, &layers[l].desc, &layers[l].input, layers[l].w, layers[l].b,
                             CONVCL_ALGO_AUTO, &plan) == CONVCL_OK,
          "tuned plan %s read back: %s", layers[l].name, convcl_last_error());
    convcl_plan_destroy(plan);
  }
  CHECK(convcl_tune_measured_runs() == before, "entries read back without measuring, ran %ld",
        convcl_tune_measured_runs() - before);
  convcl_context_destroy(ctx);

  free_layers();
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
