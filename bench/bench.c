/* convcl-bench: every layer of the chosen suites on every chosen device and algorithm,
 * timed the same way each time, beside the baselines of this build. */
#include "baseline.h"
#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "peak.h"
#include "report.h"
#include "suite.h"
#include "timing.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses: a bad command line is told apart from a run that failed. */
enum { BENCH_OK = 0, BENCH_RUNTIME_ERROR = 1, BENCH_USAGE_ERROR = 2 };

static const char usage_text[] =
    "usage: convcl-bench [--suite NAME]... [--layer SPEC --input SHAPE]... [options]\n"
    "\n"
    "Times convcl on layer suites or single layers, on each device and algorithm, beside\n"
    "the baselines compiled into this build (oneDNN on the CPU, CLBlast on OpenCL).\n"
    "\n"
    "workloads (at least one):\n"
    "  --suite NAME       a suite file of " CONVCL_BENCH_SUITES
    "\n"
    "                     (NAME.txt), or the path of any file; repeatable or comma-separated;\n"
    "                     'all' runs every suite there except 'quick'. A line of a suite is\n"
    "                     'name | SPEC | input shape'; '#' starts a comment line.\n"
    "  --layer SPEC --input SHAPE\n"
    "                     one layer as PyTorch writes it, e.g. --layer \"nn.Conv2d(3, 8, 3)\"\n"
    "                     --input 1x3x224x224; repeatable (pairs in order), suite 'cli'\n"
    "  --batch N          replace every input's batch size with N\n"
    "\n"
    "what to measure:\n"
    "  --device D         auto (default: the device 'auto' opens), cpu, opencl, opencl:P:D,\n"
    "                     or all (cpu and every OpenCL device); comma-separated for several.\n"
    "                     cpu:T: the CPU path and the CPU baselines on T threads;\n"
    "                     --device cpu:1,cpu:2 times both thread counts layer by layer in\n"
    "                     one run\n"
    "  --algo A           auto (default), an algorithm's name, or all (every algorithm that\n"
    "                     can run the layer); comma-separated for several\n"
    "  --runs N           timed runs per row (default 10)\n"
    "  --warmup N         untimed runs before them (default 2)\n"
    "  --verify           compare each output with the double-precision reference\n"
    "  --tune             turn tuning on in every context the bench opens: auto rows then\n"
    "                     measure every applicable algorithm and tile variant in the cold\n"
    "                     plan and read the choice back from the disk cache in the warm plan\n"
    "  --resident         time the runs after the first on tensors in the device's memory\n"
    "                     (convcl_plan_enqueue, then convcl_context_finish), with no host\n"
    "                     transfers: what an app that keeps its tensors on the device sees\n"
    "  --no-baselines     skip the baselines\n"
    "\n"
    "output:\n"
    "  --format F         table (default), csv or json\n"
    "  --output FILE      write there instead of stdout; with csv or json the table also\n"
    "                     goes to stderr\n"
    "  --help             this text\n"
    "\n"
    "Each row is a layer on a device with an algorithm, in a fresh context:\n"
    "  plan_cold_ms       the first convcl_plan_create, with convcl's disk cache empty:\n"
    "                     validation, kernel compilation and the weight upload; with --tune\n"
    "                     an auto row also measures every candidate here. OpenCL drivers\n"
    "                     keep compiled kernels in disk caches of their own (PoCL:\n"
    "                     POCL_KERNEL_CACHE=0 turns it off; NVIDIA: CUDA_CACHE_DISABLE=1), so\n"
    "                     after a first run this may not include a full driver compile.\n"
    "  plan_warm_ms       the same plan in another fresh context: kernels (and with --tune the\n"
    "                     tuned choice) load from convcl's disk cache (a private one the\n"
    "                     bench empties; CONVCL_CACHE=0: none, so --tune measures again)\n"
    "  first_ms           the first convcl_plan_run\n"
    "  median_ms, min_ms  over --runs runs after --warmup; each is one blocking\n"
    "                     convcl_plan_run on host buffers, so OpenCL times include the copies\n"
    "                     between host and device (unless --resident)\n"
    "  gflops             direct-convolution FLOPs (2 per multiply-add) / median time; a\n"
    "                     fast algorithm such as Winograd can pass the peak\n"
    "  peak_pct           gflops as a % of the device's peak, measured at start-up with an FMA\n"
    "                     microbenchmark (shown in the table header)\n"
    "  workspace_bytes    the plan's workspace\n"
    "  max_rel_err        with --verify: max|convcl - reference| / max|reference|\n"
    "  baseline, baseline_ms, ratio\n"
    "                     a baseline on the same layer and device kind, its median time, and\n"
    "                     ratio = baseline_ms / median_ms: convcl's speed as a multiple of the\n"
    "                     baseline's (above 1: convcl is faster). CSV and JSON repeat a row\n"
    "                     for each measured baseline.\n"
    "  note               why a row failed, which algorithm auto (or tuning) chose, why a\n"
    "                     baseline has no figure\n"
    "Inputs, weights and biases are uniform in [-1, 1] from a fixed seed.\n"
    "\n"
    "exit status: 0 success, 1 a row or the output failed, 2 bad usage.\n";

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(int status, const char *fmt, ...) {
  va_list ap;
  fputs("convcl-bench: error: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return status;
}

/* ---- Options -------------------------------------------------------------------- */

/* A repeatable option's values, in order. */
typedef struct arg_list {
  const char **items;
  int count;
} arg_list;

typedef struct options {
  arg_list suites, layers, inputs;
  const char *device, *algo, *format, *output, *batch, *runs, *warmup;
  int verify, no_baselines, help, tune, resident;
} options;

enum { OPT_FLAG, OPT_VALUE, OPT_LIST };

/* Accepts "--name value" and "--name=value". A single-valued option may appear once. */
static int parse_options(int argc, char **argv, options *o) {
  static const struct {
    const char *name;
    int kind;
    size_t offset; /* of the int (flag), const char * (value) or arg_list (list) it sets */
  } table[] = {
      {"--suite", OPT_LIST, offsetof(options, suites)},
      {"--layer", OPT_LIST, offsetof(options, layers)},
      {"--input", OPT_LIST, offsetof(options, inputs)},
      {"--device", OPT_VALUE, offsetof(options, device)},
      {"--algo", OPT_VALUE, offsetof(options, algo)},
      {"--format", OPT_VALUE, offsetof(options, format)},
      {"--output", OPT_VALUE, offsetof(options, output)},
      {"--batch", OPT_VALUE, offsetof(options, batch)},
      {"--runs", OPT_VALUE, offsetof(options, runs)},
      {"--warmup", OPT_VALUE, offsetof(options, warmup)},
      {"--verify", OPT_FLAG, offsetof(options, verify)},
      {"--tune", OPT_FLAG, offsetof(options, tune)},
      {"--resident", OPT_FLAG, offsetof(options, resident)},
      {"--no-baselines", OPT_FLAG, offsetof(options, no_baselines)},
      {"--help", OPT_FLAG, offsetof(options, help)},
      {"-h", OPT_FLAG, offsetof(options, help)},
  };
  arg_list *lists[] = {&o->suites, &o->layers, &o->inputs};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    lists[i]->items = calloc((size_t)argc, sizeof *lists[i]->items);
    if (!lists[i]->items) return fail(BENCH_RUNTIME_ERROR, "out of memory");
  }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-')
      return fail(BENCH_USAGE_ERROR, "unexpected argument '%s' (see convcl-bench --help)", arg);
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    size_t k = 0;
    while (k < sizeof table / sizeof table[0] &&
           !(strlen(table[k].name) == len && strncmp(table[k].name, arg, len) == 0))
      k++;
    if (k == sizeof table / sizeof table[0])
      return fail(BENCH_USAGE_ERROR, "unknown option '%.*s' (see convcl-bench --help)", (int)len,
                  arg);
    char *field = (char *)o + table[k].offset;
    if (table[k].kind == OPT_FLAG) {
      if (eq) return fail(BENCH_USAGE_ERROR, "option %s takes no value", table[k].name);
      *(int *)field = 1;
      continue;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
      if (i + 1 >= argc) return fail(BENCH_USAGE_ERROR, "option %s needs a value", table[k].name);
      value = argv[++i];
    }
    if (table[k].kind == OPT_LIST) {
      arg_list *list = (arg_list *)field;
      list->items[list->count++] = value;
    } else if (*(const char **)field) {
      return fail(BENCH_USAGE_ERROR, "option %s given twice", table[k].name);
    } else {
      *(const char **)field = value;
    }
  }
  return BENCH_OK;
}

static void options_free(options *o) {
  free(o->suites.items);
  free(o->layers.items);
  free(o->inputs.items);
}

/* A whole decimal number in [lo, hi]. */
static int parse_count(const char *name, const char *text, long lo, long hi, long *value) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < lo || v > hi)
    return fail(BENCH_USAGE_ERROR, "%s expects a whole number from %ld to %ld, not '%s'", name, lo,
                hi, text);
  *value = v;
  return BENCH_OK;
}

/* ---- The run's state ------------------------------------------------------------- */

typedef struct bench {
  options opt;
  long runs, warmup;
  bench_layers layers;
  bench_device *devices;
  int device_count;
  int want_auto, want_all, want[CONVCL_ALGO_COUNT]; /* --algo */
  const bench_baseline *const *baselines;
  int baseline_count; /* 0 with --no-baselines */
  /* Per layer x device: the baselines of that device's kind, measured once. */
  bench_baseline_result **baseline_results;
  int *baseline_result_counts;
  bench_row *rows; /* room for every row, reserved up front */
  int row_count;
  double *times;
  int progress; /* stderr is a terminal */
  int task, task_count;
} bench;

/* ---- Devices and algorithms ----------------------------------------------------- */

/* Adds info's device once. */
static void add_device(bench *b, const convcl_device_info *info) {
  for (int i = 0; i < b->device_count; i++)
    if (strcmp(b->devices[i].id, info->id) == 0) return;
  bench_device *d = &b->devices[b->device_count++];
  memset(d, 0, sizeof *d);
  snprintf(d->id, sizeof d->id, "%s", info->id);
  snprintf(d->name, sizeof d->name, "%s", info->name);
  d->opencl = strncmp(info->id, "opencl:", 7) == 0;
  d->threads = info->compute_units;
  d->peak_gflops = NAN;
}

static int resolve_devices(bench *b) {
  int count = 0, status = BENCH_OK;
  if (convcl_devices_list(NULL, 0, &count) != CONVCL_OK)
    return fail(BENCH_RUNTIME_ERROR, "cannot list devices: %s", convcl_last_error());
  convcl_device_info *infos = calloc((size_t)count, sizeof *infos);
  char *list = strdup(b->opt.device ? b->opt.device : "auto");
  /* Room for every device here and one cpu:T per name in the list. */
  size_t names = 1;
  for (const char *c = list; c && *c; c++) names += *c == ',';
  b->devices = calloc((size_t)count + names, sizeof *b->devices);
  if (!infos || !list || !b->devices) {
    status = fail(BENCH_RUNTIME_ERROR, "out of memory");
    goto cleanup;
  }
  if (convcl_devices_list(infos, count, &count) != CONVCL_OK) {
    status = fail(BENCH_RUNTIME_ERROR, "cannot list devices: %s", convcl_last_error());
    goto cleanup;
  }
  char *save = NULL;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int found = 0;
    /* The CPU as convcl opens it: with CONVCL_NUM_THREADS's threads, or cpu:T's, which
     * convcl checks. */
    if (strcmp(tok, "cpu") == 0 || strncmp(tok, "cpu:", 4) == 0) {
      convcl_context *ctx;
      convcl_device_info info;
      if (convcl_context_create(tok, &ctx) != CONVCL_OK) {
        status = fail(BENCH_USAGE_ERROR, "%s", convcl_last_error());
        goto cleanup;
      }
      convcl_context_device(ctx, &info);
      convcl_context_destroy(ctx);
      add_device(b, &info);
      continue;
    }
    for (int i = 0; i < count; i++) {
      const convcl_device_info *info = &infos[i];
      int opencl = strncmp(info->id, "opencl:", 7) == 0;
      if (strcmp(tok, "all") == 0 || strcmp(tok, info->id) == 0 ||
          (strcmp(tok, "auto") == 0 && info->is_auto) ||
          (strcmp(tok, "opencl") == 0 && opencl && !found)) {
        add_device(b, info);
        found = 1;
      }
    }
    /* auto always has a device: the CPU path when nothing was marked. */
    if (!found && strcmp(tok, "auto") == 0) {
      add_device(b, &infos[0]);
      found = 1;
    }
    if (!found) {
      char known[512] = "";
      size_t len = 0;
      for (int i = 0; i < count && len < sizeof known; i++)
        len += (size_t)snprintf(known + len, sizeof known - len, ", %s", infos[i].id);
      status = fail(BENCH_USAGE_ERROR,
                    "unknown device '%s': expected auto, all, opencl, cpu:T or one of the devices "
                    "here (%s)",
                    tok, known + 2);
      goto cleanup;
    }
  }
  if (b->device_count == 0) status = fail(BENCH_USAGE_ERROR, "--device names no device");
cleanup:
  free(infos);
  free(list);
  return status;
}

static int resolve_algos(bench *b) {
  char *list = strdup(b->opt.algo ? b->opt.algo : "auto");
  if (!list) return fail(BENCH_RUNTIME_ERROR, "out of memory");
  char *save = NULL;
  int status = BENCH_OK;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    convcl_algo algo;
    if (strcmp(tok, "all") == 0) {
      b->want_all = 1;
    } else if (convcl_algo_from_name(tok, &algo) == CONVCL_OK) {
      if (algo == CONVCL_ALGO_AUTO)
        b->want_auto = 1;
      else
        b->want[algo] = 1;
    } else {
      char known[256] = "auto, all";
      for (int a = 1; a < CONVCL_ALGO_COUNT; a++) {
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, ", %s", convcl_algo_name((convcl_algo)a));
      }
      status = fail(BENCH_USAGE_ERROR, "unknown algorithm '%s' (expected %s)", tok, known);
      break;
    }
  }
  if (status == BENCH_OK && !b->want_auto && !b->want_all) {
    int any = 0;
    for (int a = 1; a < CONVCL_ALGO_COUNT; a++) any |= b->want[a];
    if (!any) status = fail(BENCH_USAGE_ERROR, "--algo names no algorithm");
  }
  free(list);
  return status;
}

static int load_layers(bench *b) {
  char err[2048];
  for (int i = 0; i < b->opt.suites.count; i++) {
    char *list = strdup(b->opt.suites.items[i]);
    if (!list) return fail(BENCH_RUNTIME_ERROR, "out of memory");
    char *save = NULL;
    int status = BENCH_OK;
    for (char *tok = strtok_r(list, ",", &save); tok && status == BENCH_OK;
         tok = strtok_r(NULL, ",", &save)) {
      if (strcmp(tok, "all") != 0) {
        if (suite_load(&b->layers, tok, CONVCL_BENCH_SUITES, err, sizeof err) != 0)
          status = fail(BENCH_USAGE_ERROR, "%s", err);
        continue;
      }
      char **names;
      int count;
      if (suite_list(CONVCL_BENCH_SUITES, &names, &count, err, sizeof err) != 0) {
        status = fail(BENCH_USAGE_ERROR, "%s", err);
        continue;
      }
      for (int k = 0; k < count && status == BENCH_OK; k++)
        if (suite_load(&b->layers, names[k], CONVCL_BENCH_SUITES, err, sizeof err) != 0)
          status = fail(BENCH_USAGE_ERROR, "%s", err);
      suite_list_free(names, count);
    }
    free(list);
    if (status != BENCH_OK) return status;
  }
  if (b->opt.layers.count != b->opt.inputs.count)
    return fail(BENCH_USAGE_ERROR, "each --layer needs its --input: %d --layer but %d --input",
                b->opt.layers.count, b->opt.inputs.count);
  for (int i = 0; i < b->opt.layers.count; i++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d", i + 1);
    if (suite_add_layer(&b->layers, name, b->opt.layers.items[i], b->opt.inputs.items[i], err,
                        sizeof err) != 0)
      return fail(BENCH_USAGE_ERROR, "%s", err);
  }
  if (b->layers.count == 0)
    return fail(BENCH_USAGE_ERROR,
                "nothing to measure: give --suite NAME or --layer SPEC --input SHAPE "
                "(see convcl-bench --help)");
  if (b->opt.batch) {
    long batch;
    if (parse_count("--batch", b->opt.batch, 1, 1 << 20, &batch) != BENCH_OK)
      return BENCH_USAGE_ERROR;
    if (suite_set_batch(&b->layers, batch, err, sizeof err) != 0)
      return fail(BENCH_USAGE_ERROR, "%s", err);
  }
  return BENCH_OK;
}

/* ---- Progress ------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
progress(const bench *b, const char *fmt, ...) {
  if (!b->progress) return;
  va_list ap;
  fprintf(stderr, "\r[%d/%d] ", b->task, b->task_count);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\033[K", stderr); /* clears what a longer previous line left */
  fflush(stderr);
}

/* ---- Data ----------------------------------------------------------------------- */

static size_t shape_elems(const convcl_shape *s) {
  size_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= (size_t)s->dims[i];
  return n;
}

/* One layer's tensors, shared by every device and algorithm; the reference output is
 * computed on the first --verify and kept. */
typedef struct layer_data {
  float *input, *weights, *bias, *output, *ref;
  size_t output_elems;
  double ref_max;
  int64_t flops;
  char error[512]; /* why the layer cannot run at all */
} layer_data;

static void layer_data_free(layer_data *d) {
  free(d->input);
  free(d->weights);
  free(d->bias);
  free(d->output);
  free(d->ref);
}

/* On failure, d->error says why and every row of the layer reports it. */
static void layer_data_init(const bench_layer *l, layer_data *d) {
  convcl_shape out, weight;
  memset(d, 0, sizeof *d);
  if (convcl_conv_output_shape(&l->desc, &l->input, &out) != CONVCL_OK ||
      convcl_conv_weight_shape(&l->desc, &weight) != CONVCL_OK ||
      convcl_conv_flops(&l->desc, &l->input, &d->flops) != CONVCL_OK) {
    snprintf(d->error, sizeof d->error, "%s", convcl_last_error());
    return;
  }
  size_t in_n = shape_elems(&l->input), w_n = shape_elems(&weight);
  d->output_elems = shape_elems(&out);
  /* The library bounds element counts by int64_t; size_t may be narrower. */
  const size_t most = SIZE_MAX / sizeof(float);
  if (in_n > most || w_n > most || d->output_elems > most) {
    snprintf(d->error, sizeof d->error, "the tensors are too large for this machine");
    return;
  }
  d->input = malloc(in_n * sizeof(float));
  d->weights = malloc(w_n * sizeof(float));
  d->output = malloc(d->output_elems * sizeof(float));
  if (l->desc.has_bias) d->bias = malloc((size_t)l->desc.out_channels * sizeof(float));
  if (!d->input || !d->weights || !d->output || (l->desc.has_bias && !d->bias)) {
    snprintf(d->error, sizeof d->error, "out of memory for the tensors (%zu + %zu + %zu floats)",
             in_n, w_n, d->output_elems);
    return;
  }
  bench_fill_uniform(d->input, in_n, 1);
  bench_fill_uniform(d->weights, w_n, 2);
  if (d->bias) bench_fill_uniform(d->bias, (size_t)l->desc.out_channels, 3);
}

static int layer_reference(const bench_layer *l, layer_data *d, char *err, size_t cap) {
  if (d->ref) return 0;
  d->ref = malloc(d->output_elems * sizeof(float));
  if (!d->ref) {
    snprintf(err, cap, "out of memory for the reference output");
    return -1;
  }
  if (convcl_ref_conv(&l->desc, &l->input, d->input, d->weights, d->bias, d->ref) != CONVCL_OK) {
    snprintf(err, cap, "the reference failed: %s", convcl_last_error());
    free(d->ref);
    d->ref = NULL;
    return -1;
  }
  d->ref_max = 0;
  for (size_t i = 0; i < d->output_elems; i++)
    if (fabs(d->ref[i]) > d->ref_max) d->ref_max = fabs(d->ref[i]);
  return 0;
}

/* max|out - ref| / max|ref|; infinite when the output holds a NaN or an infinity
 * (including elements the run never wrote, which start as NaN). */
static double max_rel_err(const layer_data *d) {
  double worst = 0;
  for (size_t i = 0; i < d->output_elems; i++) {
    double e = fabs((double)d->output[i] - d->ref[i]);
    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
  }
  return worst / (d->ref_max > 0 ? d->ref_max : 1);
}

/* ---- Measuring ------------------------------------------------------------------- */

static bench_row *new_row(bench *b, const bench_layer *l, int device, const char *algo) {
  bench_row *row = &b->rows[b->row_count++];
  memset(row, 0, sizeof *row);
  row->layer = l;
  row->device = device;
  row->algo = algo;
  row->plan_cold_ms = row->plan_warm_ms = row->first_ms = row->median_ms = row->min_ms = NAN;
  row->gflops = row->peak_pct = row->max_rel_err = NAN;
  row->workspace_bytes = -1;
  return row;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
row_fail(bench_row *row, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(row->note, sizeof row->note, fmt, ap);
  va_end(ap);
  row->failed = 1;
}

/* The baselines of the row's device kind on its layer, timed the first time a layer
 * and device pair needs them. */
static void attach_baselines(bench *b, int layer, bench_row *row) {
  int slot = layer * b->device_count + row->device;
  const bench_device *dev = &b->devices[row->device];
  if (!b->baseline_results[slot]) {
    bench_baseline_result *res = calloc((size_t)b->baseline_count + 1, sizeof *res);
    if (!res) return;
    int n = 0;
    for (int i = 0; i < b->baseline_count; i++) {
      const bench_baseline *bl = b->baselines[i];
      if (bl->opencl != dev->opencl) continue;
      progress(b, "%s/%s on %s: baseline %s", row->layer->suite, row->layer->name, dev->id,
               bl->name);
      if (!dev->opencl) baselines_set_threads(dev->threads);
      bench_baseline_result *r = &res[n++];
      r->name = bl->name;
      r->median_ms = r->min_ms = NAN;
      r->status = bl->time(dev->id, &row->layer->desc, &row->layer->input, (int)b->warmup,
                           (int)b->runs, &r->median_ms, &r->min_ms, r->note, sizeof r->note);
    }
    b->baseline_results[slot] = res;
    b->baseline_result_counts[slot] = n;
  }
  row->baselines = b->baseline_results[slot];
  row->baseline_count = b->baseline_result_counts[slot];
}

/* The bench's own program cache directory (XDG_CACHE_HOME for convcl), emptied before
 * each cold plan so that plan compiles, and kept for the warm plan, which then loads
 * from disk as an application's next start would. Empty when CONVCL_CACHE=0. A driver
 * that keeps its cache under XDG_CACHE_HOME too (PoCL) starts each bench run cold. */
static char cache_home[64];

static void cache_clear(void) {
  char dir[128], path[512];
  snprintf(dir, sizeof dir, "%s/convcl", cache_home);
  DIR *d = cache_home[0] ? opendir(dir) : NULL;
  if (!d) return;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
}

static void cache_setup(void) {
  const char *off = getenv("CONVCL_CACHE");
  if (off && strcmp(off, "0") == 0) return;
  snprintf(cache_home, sizeof cache_home, "/tmp/convcl-bench-XXXXXX");
  if (!mkdtemp(cache_home) || setenv("XDG_CACHE_HOME", cache_home, 1) != 0) cache_home[0] = '\0';
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

/* Removes the whole directory: OpenCL drivers that honour XDG_CACHE_HOME (PoCL) put
 * their own caches beside convcl's. */
static void cache_remove(void) {
  if (cache_home[0]) nftw(cache_home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A run after the first: on host arrays, or with --resident on the tensors x and y that
 * stay in the context's memory, waited for. */
static convcl_status timed_run(convcl_context *ctx, convcl_plan *plan, const convcl_tensor *x,
                               convcl_tensor *y, layer_data *data) {
  if (!x) return convcl_plan_run(plan, data->input, data->output);
  const convcl_status st = convcl_plan_enqueue(plan, x, y);
  return st == CONVCL_OK ? convcl_context_finish(ctx) : st;
}

/* The bench times each layer's baselines right after convcl's row and convcl's next
 * row right after them. oneDNN's OpenMP threads spin for some milliseconds after each
 * primitive before they sleep (libgomp's default), and on a machine with few cores
 * they took those cores from convcl's timed runs. So before its warm-up runs a convcl
 * row first waits QUIESCE_MS, busy, for them to sleep: busy, as a core left idle for
 * that long comes back slower (sleeping instead cost both libraries' timings). On this
 * project's 2-core machine that made convcl's ResNet-50 times 0.92x and oneDNN's
 * 0.96x what they were without the wait (medians of 8 alternated suite runs). */
enum { QUIESCE_MS = 40 };

static void quiesce(void) {
  const double until = bench_now_ms() + QUIESCE_MS;
  while (bench_now_ms() < until) {
  }
}

/* One row: a cold plan in a fresh context with an empty disk cache (it compiles), a warm
 * plan in another fresh context (it loads the binaries the cold plan left on disk), then
 * the first run, the warm-up and the timed runs. */
static void measure(bench *b, int layer, layer_data *data, int device, convcl_algo algo) {
  const bench_layer *l = &b->layers.items[layer];
  const bench_device *dev = &b->devices[device];
  bench_row *row = new_row(b, l, device, convcl_algo_name(algo));
  convcl_context *ctx = NULL;
  convcl_plan *plan = NULL;
  convcl_tensor *x = NULL, *y = NULL;
  progress(b, "%s/%s on %s (%s): plan", l->suite, l->name, dev->id, row->algo);
  if (convcl_context_create(dev->id, &ctx) != CONVCL_OK) {
    row_fail(row, "cannot open %s: %s", dev->id, convcl_last_error());
    return;
  }
  if (b->opt.tune) convcl_context_set_tuning(ctx, 1);
  cache_clear();
  for (int pass = 0; pass < 2; pass++) {
    convcl_plan_destroy(plan);
    plan = NULL;
    if (pass == 1) {
      convcl_context_destroy(ctx);
      ctx = NULL;
      if (convcl_context_create(dev->id, &ctx) != CONVCL_OK) {
        row_fail(row, "cannot open %s: %s", dev->id, convcl_last_error());
        goto cleanup;
      }
      if (b->opt.tune) convcl_context_set_tuning(ctx, 1);
    }
    double t0 = bench_now_ms();
    convcl_status st =
        convcl_plan_create(ctx, &l->desc, &l->input, data->weights, data->bias, algo, &plan);
    double t = bench_now_ms() - t0;
    if (st != CONVCL_OK) {
      if (st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && algo != CONVCL_ALGO_AUTO) {
        row->skipped = 1;
        snprintf(row->note, sizeof row->note, "not applicable: %s", convcl_last_error());
      } else {
        row_fail(row, "plan: %s", convcl_last_error());
      }
      goto cleanup;
    }
    *(pass == 0 ? &row->plan_cold_ms : &row->plan_warm_ms) = t;
  }
  row->workspace_bytes = (int64_t)convcl_plan_workspace_size(plan);
  if (algo == CONVCL_ALGO_AUTO)
    snprintf(row->note, sizeof row->note, "%s chose %s%s%s", b->opt.tune ? "tuning" : "auto",
             convcl_algo_name(convcl_plan_algo(plan)), plan->variant >= 0 ? " " : "",
             plan->variant >= 0 ? plan->solver->variant_names[plan->variant] : "");

  /* Poisoned, so that elements no run writes show up in --verify. */
  for (size_t i = 0; i < data->output_elems; i++) data->output[i] = NAN;
  progress(b, "%s/%s on %s (%s): run", l->suite, l->name, dev->id, row->algo);
  double t0 = bench_now_ms();
  convcl_status st = convcl_plan_run(plan, data->input, data->output);
  if (st == CONVCL_OK) row->first_ms = bench_now_ms() - t0;
  if (st == CONVCL_OK && b->opt.resident) {
    st = convcl_tensor_create(ctx, &l->input, &x);
    convcl_shape out;
    convcl_plan_output_shape(plan, &out);
    if (st == CONVCL_OK) st = convcl_tensor_create(ctx, &out, &y);
    if (st == CONVCL_OK) st = convcl_tensor_upload(x, data->input);
    strncat(row->note, row->note[0] ? "; resident" : "resident",
            sizeof row->note - strlen(row->note) - 1);
  }
  if (b->baseline_count > 0) quiesce();
  for (long i = 0; st == CONVCL_OK && i < b->warmup; i++) st = timed_run(ctx, plan, x, y, data);
  for (long i = 0; st == CONVCL_OK && i < b->runs; i++) {
    t0 = bench_now_ms();
    st = timed_run(ctx, plan, x, y, data);
    b->times[i] = bench_now_ms() - t0;
  }
  /* What --verify checks is then the resident runs' output. */
  if (st == CONVCL_OK && y) st = convcl_tensor_download(y, data->output);
  if (st != CONVCL_OK) {
    row_fail(row, "run: %s", convcl_last_error());
    goto cleanup;
  }
  bench_stats(b->times, (int)b->runs, &row->median_ms, &row->min_ms);
  row->gflops = (double)data->flops / (row->median_ms * 1e6);
  row->peak_pct = 100 * row->gflops / dev->peak_gflops;

  if (b->opt.verify) {
    char err[256];
    progress(b, "%s/%s on %s (%s): verify", l->suite, l->name, dev->id, row->algo);
    if (layer_reference(l, data, err, sizeof err) != 0) {
      row_fail(row, "%s", err);
      goto cleanup;
    }
    row->max_rel_err = max_rel_err(data);
    if (!isfinite(row->max_rel_err)) {
      row_fail(row, "the output holds NaN or infinity (or elements left unwritten)");
      goto cleanup;
    }
  }
cleanup:
  convcl_tensor_destroy(x);
  convcl_tensor_destroy(y);
  convcl_plan_destroy(plan);
  convcl_context_destroy(ctx);
  /* After the context is gone, so its threads cannot compete with the baseline's. */
  if (!row->failed && !row->skipped && b->baseline_count > 0) attach_baselines(b, layer, row);
}

/* The algorithms to run on a device: auto and those named, and with 'all' every one
 * that plan_query says can run the layer. A layer or device that cannot run at all
 * still gets its rows, failed. */
static void measure_device(bench *b, int layer, layer_data *data, int device) {
  const bench_layer *l = &b->layers.items[layer];
  int run[CONVCL_ALGO_COUNT];
  run[CONVCL_ALGO_AUTO] = b->want_auto;
  for (int a = 1; a < CONVCL_ALGO_COUNT; a++) run[a] = b->want[a];
  if (b->want_all && data->error[0]) {
    row_fail(new_row(b, l, device, "all"), "%s", data->error);
  } else if (b->want_all) {
    convcl_context *ctx;
    if (convcl_context_create(b->devices[device].id, &ctx) != CONVCL_OK) {
      row_fail(new_row(b, l, device, "all"), "cannot open %s: %s", b->devices[device].id,
               convcl_last_error());
    } else {
      for (int a = 1; a < CONVCL_ALGO_COUNT; a++) {
        convcl_algo chosen;
        if (convcl_plan_query(ctx, &l->desc, &l->input, (convcl_algo)a, &chosen, NULL) !=
            CONVCL_ERROR_ALGO_NOT_APPLICABLE)
          run[a] = 1;
      }
      convcl_context_destroy(ctx);
    }
  }
  for (int a = 0; a < CONVCL_ALGO_COUNT; a++) {
    if (!run[a]) continue;
    if (data->error[0])
      row_fail(new_row(b, l, device, convcl_algo_name((convcl_algo)a)), "%s", data->error);
    else
      measure(b, layer, data, device, (convcl_algo)a);
  }
}

/* ---- Output ---------------------------------------------------------------------- */

/* A temporary file beside the output, renamed into place once complete, so a failed
 * or interrupted run never leaves half a CSV under the real name. */
typedef struct output_file {
  FILE *f;
  char *tmp;
} output_file;

static int output_open(const char *path, output_file *o) {
  size_t len = strlen(path) + 16;
  o->tmp = malloc(len);
  if (!o->tmp) return fail(BENCH_RUNTIME_ERROR, "out of memory");
  snprintf(o->tmp, len, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(o->tmp);
  /* mkstemp makes the file private; the output gets the permissions of any new file. */
  mode_t mask = umask(0);
  umask(mask);
  if (fd >= 0) fchmod(fd, 0666 & ~mask);
  if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
    int status = fail(BENCH_RUNTIME_ERROR, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      remove(o->tmp);
    }
    free(o->tmp);
    o->tmp = NULL;
    return status;
  }
  return BENCH_OK;
}

/* Closes, and renames into place when ok; otherwise removes the temporary file. */
static int output_close(const char *path, output_file *o, int ok) {
  int status = BENCH_OK;
  if (fclose(o->f) != 0 && ok) {
    status = fail(BENCH_RUNTIME_ERROR, "cannot write %s: %s", path, strerror(errno));
    ok = 0;
  }
  if (ok && rename(o->tmp, path) != 0) {
    status = fail(BENCH_RUNTIME_ERROR, "cannot write %s: %s", path, strerror(errno));
    ok = 0;
  }
  if (!ok) remove(o->tmp);
  free(o->tmp);
  return status;
}

static int write_report(const bench *b, const char *format, output_file *file) {
  const char *names[64];
  int name_count = 0;
  for (int i = 0; i < b->baseline_count && name_count < 64; i++) {
    int used = 0;
    for (int d = 0; d < b->device_count; d++)
      used |= b->baselines[i]->opencl == b->devices[d].opencl;
    if (used) names[name_count++] = b->baselines[i]->name;
  }
  bench_report report = {.devices = b->devices,
                         .device_count = b->device_count,
                         .rows = b->rows,
                         .row_count = b->row_count,
                         .baseline_names = names,
                         .baseline_count = name_count,
                         .runs = (int)b->runs,
                         .warmup = (int)b->warmup,
                         .resident = b->opt.resident,
                         .verify = b->opt.verify};
  FILE *out = file->f ? file->f : stdout;
  int bad = strcmp(format, "csv") == 0    ? report_csv(out, &report)
            : strcmp(format, "json") == 0 ? report_json(out, &report)
                                          : report_table(out, &report);
  int status = BENCH_OK;
  if (file->f) {
    status = output_close(b->opt.output, file, !bad);
    file->f = NULL;
    if (strcmp(format, "table") != 0) report_table(stderr, &report);
  } else if (bad) {
    status = fail(BENCH_RUNTIME_ERROR, "cannot write the report to stdout");
  }
  return status;
}

/* ---- Main ------------------------------------------------------------------------ */

static void bench_free(bench *b) {
  if (b->baseline_results)
    for (int i = 0; i < b->layers.count * b->device_count; i++) free(b->baseline_results[i]);
  free(b->baseline_results);
  free(b->baseline_result_counts);
  free(b->rows);
  free(b->times);
  free(b->devices);
  suite_free(&b->layers);
  options_free(&b->opt);
}

static int run(bench *b, output_file *file, int argc, char **argv) {
  int st = parse_options(argc, argv, &b->opt);
  if (st != BENCH_OK) return st;
  if (b->opt.help) {
    fputs(usage_text, stdout);
    return BENCH_OK;
  }
  const char *format = b->opt.format ? b->opt.format : "table";
  if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
    return fail(BENCH_USAGE_ERROR, "unknown format '%s' (expected table, csv or json)", format);
  b->runs = 10;
  b->warmup = 2;
  if ((b->opt.runs && parse_count("--runs", b->opt.runs, 1, 100000, &b->runs) != BENCH_OK) ||
      (b->opt.warmup && parse_count("--warmup", b->opt.warmup, 0, 100000, &b->warmup) != BENCH_OK))
    return BENCH_USAGE_ERROR;
  if ((st = load_layers(b)) != BENCH_OK || (st = resolve_algos(b)) != BENCH_OK) return st;
  if (!b->opt.no_baselines) b->baselines = baselines_list(&b->baseline_count);
  if ((st = resolve_devices(b)) != BENCH_OK) return st;

  /* A layer and device get at most one row per algorithm (auto included), and one
   * for 'all' when the algorithms could not be listed. */
  size_t slots = (size_t)b->layers.count * (size_t)b->device_count;
  b->rows = calloc(slots * (CONVCL_ALGO_COUNT + 1), sizeof *b->rows);
  b->baseline_results = calloc(slots, sizeof *b->baseline_results);
  b->baseline_result_counts = calloc(slots, sizeof *b->baseline_result_counts);
  b->times = calloc((size_t)b->runs, sizeof *b->times);
  if (!b->rows || !b->baseline_results || !b->baseline_result_counts || !b->times)
    return fail(BENCH_RUNTIME_ERROR, "out of memory");
  /* Opened before hours of measuring, so a bad path fails now. */
  if (b->opt.output && (st = output_open(b->opt.output, file)) != BENCH_OK) return st;
  b->progress = isatty(STDERR_FILENO);
  b->task_count = b->layers.count * b->device_count;

  for (int d = 0; d < b->device_count; d++) {
    bench_device *dev = &b->devices[d];
    char err[200];
    bench_peak peak;
    progress(b, "measuring the peak of %s", dev->id);
    if (peak_measure(dev->id, dev->threads, &peak, err, sizeof err) == 0) {
      dev->peak_gflops = peak.gflops;
      snprintf(dev->peak_method, sizeof dev->peak_method, "%s", peak.method);
    } else {
      snprintf(dev->peak_method, sizeof dev->peak_method, "not measured: %s", err);
    }
  }

  for (int i = 0; i < b->layers.count; i++) {
    layer_data data;
    layer_data_init(&b->layers.items[i], &data);
    for (int d = 0; d < b->device_count; d++) {
      b->task++;
      measure_device(b, i, &data, d);
    }
    layer_data_free(&data);
  }
  if (b->progress) fputs("\r\033[K", stderr);

  if ((st = write_report(b, format, file)) != BENCH_OK) return st;
  int failed = 0;
  for (int i = 0; i < b->row_count; i++) failed += b->rows[i].failed;
  if (failed > 0)
    return fail(BENCH_RUNTIME_ERROR, "%d of %d rows failed (their note says why)", failed,
                b->row_count);
  return BENCH_OK;
}

int main(int argc, char **argv) {
  bench b;
  output_file file = {NULL, NULL};
  memset(&b, 0, sizeof b);
  cache_setup();
  int status = run(&b, &file, argc, argv);
  cache_remove();
  if (file.f) output_close(b.opt.output, &file, 0);
  bench_free(&b);
  return status;
}
