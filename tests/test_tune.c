/* Tuning: with tuning on, AUTO measures once and records its choice in a private
 * XDG_CACHE_HOME; a second context reads it back without measuring (the library's
 * count of measured candidate runs does not move); the tuned plan's output matches the
 * reference; a corrupted entry is measured again and rewritten; CONVCL_CACHE=0 still
 * tunes but stores nothing; tuning off never measures; plan_query reports the recorded
 * choice. Usage: test_tune cpu|opencl (opencl exits 77 without a device). */
#include "check.h"
#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { LAYERS = 2 };

/* A 3x3 convolution with fused ReLU (many candidates: direct, implicit GEMM and its
 * tile variants, ...) and a strided transposed one. */
typedef struct layer {
  convcl_conv_desc desc;
  convcl_shape input, output;
  float *x, *w, *b, *y;
  double *want;
  size_t in_elems, out_elems;
} layer;

static layer layers[LAYERS];

static float value(size_t i, unsigned salt) { return (float)((i * 7 + salt) % 13) / 6.0f - 1.0f; }

static int make_layers(void) {
  const int64_t k3[2] = {3, 3};
  convcl_conv_desc_init(&layers[0].desc, 2, 0, 8, 16, k3);
  layers[0].desc.pad_begin[0] = layers[0].desc.pad_end[0] = 1;
  layers[0].desc.pad_begin[1] = layers[0].desc.pad_end[1] = 1;
  layers[0].desc.activation = CONVCL_ACTIVATION_RELU;
  layers[0].input = (convcl_shape){4, {2, 8, 12, 10}};
  convcl_conv_desc_init(&layers[1].desc, 2, 1, 6, 4, k3);
  layers[1].desc.stride[0] = layers[1].desc.stride[1] = 2;
  layers[1].input = (convcl_shape){4, {1, 6, 5, 7}};
  for (int l = 0; l < LAYERS; l++) {
    layer *L = &layers[l];
    convcl_shape ws;
    int64_t params;
    if (convcl_conv_output_shape(&L->desc, &L->input, &L->output) != CONVCL_OK ||
        convcl_conv_weight_shape(&L->desc, &ws) != CONVCL_OK ||
        convcl_conv_param_count(&L->desc, &params) != CONVCL_OK)
      return 0;
    L->in_elems = tu_elems(&L->input);
    L->out_elems = tu_elems(&L->output);
    const size_t w_elems = tu_elems(&ws);
    L->x = malloc(L->in_elems * sizeof *L->x);
    L->w = malloc(w_elems * sizeof *L->w);
    L->b = malloc((size_t)L->desc.out_channels * sizeof *L->b);
    L->y = malloc(L->out_elems * sizeof *L->y);
    L->want = malloc(L->out_elems * sizeof *L->want);
    float *ref_out = malloc(L->out_elems * sizeof *ref_out);
    if (!L->x || !L->w || !L->b || !L->y || !L->want || !ref_out) return 0;
    for (size_t i = 0; i < L->in_elems; i++) L->x[i] = value(i, 1);
    for (size_t i = 0; i < w_elems; i++) L->w[i] = value(i, 5) / 4;
    for (int64_t i = 0; i < L->desc.out_channels; i++) L->b[i] = value((size_t)i, 3);
    const int ok = convcl_ref_conv(&L->desc, &L->input, L->x, L->w, L->b, ref_out) == CONVCL_OK;
    /* The reference convolves only: the fused ReLU is applied after it. */
    const int relu = L->desc.activation == CONVCL_ACTIVATION_RELU;
    for (size_t i = 0; i < L->out_elems; i++) L->want[i] = relu && ref_out[i] < 0 ? 0 : ref_out[i];
    free(ref_out);
    if (!ok) return 0;
  }
  return 1;
}

static void free_layers(void) {
  for (int l = 0; l < LAYERS; l++) {
    free(layers[l].x), free(layers[l].w), free(layers[l].b), free(layers[l].y);
    free(layers[l].want);
  }
}

/* Plans every layer in a fresh context (tuning as given), runs it and checks it against
 * the reference; writes the algorithm each plan got. The tolerance, 1e-4 of the largest
 * output, leaves room for the least exact candidate a tuner may pick (Winograd
 * F(4x4,3x3) rounds most) on these small sums of about 70 terms. */
static int run_layers(const char *mode, int tune, convcl_algo chosen[LAYERS]) {
  convcl_context *ctx;
  if (convcl_context_create(mode, &ctx) != CONVCL_OK) return 0;
  if (convcl_context_set_tuning(ctx, tune) != CONVCL_OK) return 0;
  int ok = 1;
  for (int l = 0; l < LAYERS && ok; l++) {
    layer *L = &layers[l];
    convcl_plan *plan;
    if (convcl_plan_create(ctx, &L->desc, &L->input, L->w, L->b, CONVCL_ALGO_AUTO, &plan) !=
        CONVCL_OK) {
      printf("plan %d: %s\n", l, convcl_last_error());
      ok = 0;
      break;
    }
    chosen[l] = convcl_plan_algo(plan);
    tu_poison(L->y, L->out_elems);
    ok &= convcl_plan_run(plan, L->x, L->y) == CONVCL_OK;
    double mag = 0, worst = 0;
    for (size_t i = 0; i < L->out_elems; i++) {
      mag = fmax(mag, fabs(L->want[i]));
      worst = fmax(worst, tu_abs_error(L->y[i], L->want[i]));
    }
    CHECK(worst <= 1e-4 * mag, "layer %d (%s): max error %g, largest output %g", l,
          convcl_algo_name(chosen[l]), worst, mag);
    convcl_plan_destroy(plan);
  }
  convcl_context_destroy(ctx);
  return ok;
}

/* How many tuning entries dir holds; the name and inode of the last one seen. */
static int tune_entries(const char *dir, char *name, size_t cap, ino_t *inode) {
  int count = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    const size_t n = strlen(de->d_name);
    if (n < 5 || strcmp(de->d_name + n - 5, ".tune") != 0) continue;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat(path, &st) != 0) continue;
    count++;
    if (name) snprintf(name, cap, "%s", de->d_name);
    if (inode) *inode = st.st_ino;
  }
  closedir(d);
  return count;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "cpu";
  convcl_context *probe;
  const int rc = tu_open_context(mode, &probe);
  if (rc != 0) return rc;
  convcl_device_info info;
  convcl_context_device(probe, &info);
  convcl_context_destroy(probe);
  /* tu_open_context may have reached OpenCL through auto; open that same device. */
  mode = info.id;
  if (!make_layers()) {
    printf("setup failed: %s\n", convcl_last_error());
    return 1;
  }

  char root[] = "/tmp/convcl-tune-test-XXXXXX";
  if (!mkdtemp(root)) return 1;
  char home[600], dir[700], name[256], path[1000];
  snprintf(home, sizeof home, "%s/home", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  setenv("XDG_CACHE_HOME", home, 1);
  unsetenv("CONVCL_CACHE");
  convcl_algo first[LAYERS], again[LAYERS], plain[LAYERS];

  /* Tuning off: the heuristic, nothing measured, nothing stored. */
  long runs = convcl_tune_measured_runs();
  CHECK(run_layers(mode, 0, plain), "untuned run");
  CHECK(convcl_tune_measured_runs() == runs, "tuning off measures nothing");
  CHECK(tune_entries(dir, NULL, 0, NULL) == 0, "tuning off stores nothing");

  /* Before any entry exists, plan_query with tuning on reports the heuristic's choice. */
  convcl_context *ctx;
  convcl_algo queried;
  CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK, "context");
  convcl_context_set_tuning(ctx, 1);
  CHECK(convcl_plan_query(ctx, &layers[0].desc, &layers[0].input, CONVCL_ALGO_AUTO, &queried,
                          NULL) == CONVCL_OK &&
            queried == plain[0],
        "query without an entry: %s, heuristic %s", convcl_algo_name(queried),
        convcl_algo_name(plain[0]));

  /* Cold: measures, stores one entry per layer. */
  runs = convcl_tune_measured_runs();
  CHECK(run_layers(mode, 1, first), "tuned cold run");
  const long cold_runs = convcl_tune_measured_runs() - runs;
  CHECK(cold_runs >= 2 * LAYERS, "every layer measured at least one candidate twice, ran %ld",
        cold_runs);
  CHECK(tune_entries(dir, NULL, 0, NULL) == LAYERS, "one entry per layer, got %d",
        tune_entries(dir, NULL, 0, NULL));
  printf("%s: tuned %s, %s (heuristic %s, %s) in %ld measured runs\n", mode,
         convcl_algo_name(first[0]), convcl_algo_name(first[1]), convcl_algo_name(plain[0]),
         convcl_algo_name(plain[1]), cold_runs);
  CHECK(convcl_plan_query(ctx, &layers[0].desc, &layers[0].input, CONVCL_ALGO_AUTO, &queried,
                          NULL) == CONVCL_OK &&
            queried == first[0],
        "query reports the recorded choice: %s, tuned %s", convcl_algo_name(queried),
        convcl_algo_name(first[0]));
  convcl_context_destroy(ctx);

  /* Warm: a fresh context reads the choices back without measuring. */
  runs = convcl_tune_measured_runs();
  CHECK(run_layers(mode, 1, again), "tuned warm run");
  CHECK(convcl_tune_measured_runs() == runs, "a recorded choice is not measured again, ran %ld",
        convcl_tune_measured_runs() - runs);
  CHECK(again[0] == first[0] && again[1] == first[1], "the recorded choice is used");

  /* CONVCL_TUNE=1 turns tuning on for new contexts, and they read the same entries. */
  setenv("CONVCL_TUNE", "1", 1);
  CHECK(convcl_context_create(mode, &ctx) == CONVCL_OK && ctx->tune, "CONVCL_TUNE=1");
  convcl_context_destroy(ctx);
  unsetenv("CONVCL_TUNE");

  /* Corrupted: one entry's bytes flipped; that layer is measured again and its entry
   * rewritten (a new file renamed into place), after which it is read back again. */
  ino_t before;
  struct stat st;
  tune_entries(dir, name, sizeof name, &before);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r+b");
  CHECK(f != NULL, "open entry");
  if (f) {
    fseek(f, -3, SEEK_END);
    fwrite("\xde\xad", 1, 2, f);
    fclose(f);
  }
  runs = convcl_tune_measured_runs();
  CHECK(run_layers(mode, 1, again), "run after corruption");
  CHECK(convcl_tune_measured_runs() > runs, "a corrupt entry is measured again");
  CHECK(tune_entries(dir, NULL, 0, NULL) == LAYERS && stat(path, &st) == 0 && st.st_ino != before,
        "a corrupt entry is rewritten");
  runs = convcl_tune_measured_runs();
  CHECK(run_layers(mode, 1, again), "run after rewriting");
  CHECK(convcl_tune_measured_runs() == runs, "the rewritten entry is read back");

  /* CONVCL_CACHE=0: tuning still measures, every time, and stores nothing. */
  snprintf(home, sizeof home, "%s/off", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  setenv("XDG_CACHE_HOME", home, 1);
  setenv("CONVCL_CACHE", "0", 1);
  for (int pass = 0; pass < 2; pass++) {
    runs = convcl_tune_measured_runs();
    CHECK(run_layers(mode, 1, again), "tuned run with the cache off");
    CHECK(convcl_tune_measured_runs() > runs, "CONVCL_CACHE=0 still tunes (pass %d)", pass);
  }
  CHECK(tune_entries(dir, NULL, 0, NULL) == 0, "CONVCL_CACHE=0 stores nothing");
  unsetenv("CONVCL_CACHE");

  free_layers();
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
