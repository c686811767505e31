/* Renders the bench's rows. CSV and JSON carry one line per row and measured baseline
 * (the convcl figures repeated), so each line is self-contained for plotting and
 * spreadsheets; the table shows a row once with every baseline beside it. */
#include "report.h"
#include "json.h"

#include "baseline.h"
#include "spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The stable columns, in order; bench/torch_baseline.py writes the same. */
enum {
  COL_SUITE,
  COL_LAYER,
  COL_SPEC,
  COL_INPUT,
  COL_DEVICE,
  COL_ALGO,
  COL_PLAN_COLD_MS,
  COL_PLAN_WARM_MS,
  COL_FIRST_MS,
  COL_MEDIAN_MS,
  COL_MIN_MS,
  COL_GFLOPS,
  COL_PEAK_PCT,
  COL_WORKSPACE_BYTES,
  COL_MAX_REL_ERR,
  COL_BASELINE,
  COL_BASELINE_MS,
  COL_RATIO,
  COL_NOTE,
  COLUMN_COUNT
};

static const struct {
  const char *name;
  int numeric; /* JSON writes it as a number, or null when empty */
} columns[COLUMN_COUNT] = {
    [COL_SUITE] = {"suite", 0},
    [COL_LAYER] = {"layer", 0},
    [COL_SPEC] = {"spec", 0},
    [COL_INPUT] = {"input", 0},
    [COL_DEVICE] = {"device", 0},
    [COL_ALGO] = {"algo", 0},
    [COL_PLAN_COLD_MS] = {"plan_cold_ms", 1},
    [COL_PLAN_WARM_MS] = {"plan_warm_ms", 1},
    [COL_FIRST_MS] = {"first_ms", 1},
    [COL_MEDIAN_MS] = {"median_ms", 1},
    [COL_MIN_MS] = {"min_ms", 1},
    [COL_GFLOPS] = {"gflops", 1},
    [COL_PEAK_PCT] = {"peak_pct", 1},
    [COL_WORKSPACE_BYTES] = {"workspace_bytes", 1},
    [COL_MAX_REL_ERR] = {"max_rel_err", 1},
    [COL_BASELINE] = {"baseline", 0},
    [COL_BASELINE_MS] = {"baseline_ms", 1},
    [COL_RATIO] = {"ratio", 1},
    [COL_NOTE] = {"note", 0},
};

enum { NUMBER_CAP = 32, NOTE_CAP = 2048 };

/* One output line: every cell as text, "" for an empty one. */
typedef struct line {
  const char *cells[COLUMN_COUNT];
  char input[64];
  char numbers[COLUMN_COUNT][NUMBER_CAP];
  char note[NOTE_CAP];
} line;

/* convcl's speed as a multiple of the baseline's: above 1, convcl is faster. */
static double speed_ratio(double baseline_ms, double convcl_ms) {
  return isfinite(baseline_ms) && isfinite(convcl_ms) && convcl_ms > 0 ? baseline_ms / convcl_ms
                                                                       : NAN;
}

static void append(char *buf, size_t cap, const char *text) {
  size_t len = strlen(buf);
  if (len < cap) snprintf(buf + len, cap - len, "%s%s", len > 0 ? "; " : "", text);
}

/* A number cell of l: "" when v is not finite (not measured). */
static void number_cell(line *l, int column, const char *fmt, double v) {
  if (isfinite(v))
    snprintf(l->numbers[column], NUMBER_CAP, fmt, v);
  else
    l->numbers[column][0] = '\0';
  l->cells[column] = l->numbers[column];
}

/* Fills l for row with baseline b (NULL: no baseline figures). */
static void fill_line(line *l, const bench_report *r, const bench_row *row,
                      const bench_baseline_result *b) {
  memset(l, 0, sizeof *l);
  shape_format(&row->layer->input, l->input, sizeof l->input);
  l->cells[COL_SUITE] = row->layer->suite;
  l->cells[COL_LAYER] = row->layer->name;
  l->cells[COL_SPEC] = row->layer->spec;
  l->cells[COL_INPUT] = l->input;
  l->cells[COL_DEVICE] = r->devices[row->device].id;
  l->cells[COL_ALGO] = row->algo;
  number_cell(l, COL_PLAN_COLD_MS, "%.4f", row->plan_cold_ms);
  number_cell(l, COL_PLAN_WARM_MS, "%.4f", row->plan_warm_ms);
  number_cell(l, COL_FIRST_MS, "%.4f", row->first_ms);
  number_cell(l, COL_MEDIAN_MS, "%.4f", row->median_ms);
  number_cell(l, COL_MIN_MS, "%.4f", row->min_ms);
  number_cell(l, COL_GFLOPS, "%.3f", row->gflops);
  number_cell(l, COL_PEAK_PCT, "%.2f", row->peak_pct);
  number_cell(l, COL_WORKSPACE_BYTES, "%.0f",
              row->workspace_bytes >= 0 ? (double)row->workspace_bytes : NAN);
  number_cell(l, COL_MAX_REL_ERR, "%.3e", row->max_rel_err);
  l->cells[COL_BASELINE] = b ? b->name : "";
  number_cell(l, COL_BASELINE_MS, "%.4f", b ? b->median_ms : NAN);
  number_cell(l, COL_RATIO, "%.4f", b ? speed_ratio(b->median_ms, row->median_ms) : NAN);
  /* The row's own note, how this line's baseline ran, then why any baseline has no
   * figure. */
  snprintf(l->note, sizeof l->note, "%s", row->note);
  if (b && b->status == BASELINE_MEASURED && b->note[0]) {
    char text[512];
    snprintf(text, sizeof text, "%s: %s", b->name, b->note);
    append(l->note, sizeof l->note, text);
  }
  for (int i = 0; i < row->baseline_count; i++) {
    const bench_baseline_result *o = &row->baselines[i];
    if (o->status == BASELINE_MEASURED) continue;
    char text[512];
    snprintf(text, sizeof text, "%s %s: %s", o->name,
             o->status == BASELINE_OUT_OF_SCOPE ? "out of scope" : "failed", o->note);
    append(l->note, sizeof l->note, text);
  }
  l->cells[COL_NOTE] = l->note;
}

typedef void (*line_writer)(FILE *out, const line *l, int first);

/* Writes every line: per row, one for each measured baseline, or one without. */
static int write_lines(FILE *out, const bench_report *r, line_writer write) {
  line *l = malloc(sizeof *l);
  int first = 1;
  if (!l) return -1;
  for (int i = 0; i < r->row_count; i++) {
    const bench_row *row = &r->rows[i];
    int measured = 0;
    for (int k = 0; k < row->baseline_count; k++) {
      if (row->baselines[k].status != BASELINE_MEASURED) continue;
      fill_line(l, r, row, &row->baselines[k]);
      write(out, l, first);
      first = 0;
      measured++;
    }
    if (measured == 0) {
      fill_line(l, r, row, NULL);
      write(out, l, first);
      first = 0;
    }
  }
  free(l);
  return 0;
}

/* ---- CSV ------------------------------------------------------------------------- */

/* RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
static void csv_field(FILE *out, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void csv_line(FILE *out, const line *l, int first) {
  (void)first;
  for (int c = 0; c < COLUMN_COUNT; c++) {
    if (c > 0) fputc(',', out);
    csv_field(out, l->cells[c]);
  }
  fputc('\n', out);
}

int report_csv(FILE *out, const bench_report *r) {
  for (int c = 0; c < COLUMN_COUNT; c++) fprintf(out, "%s%s", c > 0 ? "," : "", columns[c].name);
  fputc('\n', out);
  if (write_lines(out, r, csv_line) != 0) return -1;
  return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_number(FILE *out, const char *fmt, double v) {
  if (isfinite(v))
    fprintf(out, fmt, v);
  else
    fputs("null", out);
}

static void json_line(FILE *out, const line *l, int first) {
  fputs(first ? "\n    {" : ",\n    {", out);
  for (int c = 0; c < COLUMN_COUNT; c++) {
    fprintf(out, "%s\"%s\": ", c > 0 ? ", " : "", columns[c].name);
    if (!columns[c].numeric)
      json_write_string(out, l->cells[c]);
    else if (l->cells[c][0] == '\0')
      fputs("null", out);
    else
      fputs(l->cells[c], out);
  }
  fputc('}', out);
}

int report_json(FILE *out, const bench_report *r) {
  fprintf(out, "{\n  \"convcl_version\": \"%s\",\n  \"runs\": %d,\n  \"warmup\": %d,\n",
          CONVCL_VERSION_STRING, r->runs, r->warmup);
  fputs("  \"devices\": [", out);
  for (int i = 0; i < r->device_count; i++) {
    const bench_device *d = &r->devices[i];
    fputs(i > 0 ? ",\n    {\"id\": " : "\n    {\"id\": ", out);
    json_write_string(out, d->id);
    fputs(", \"name\": ", out);
    json_write_string(out, d->name);
    fputs(", \"peak_gflops\": ", out);
    json_number(out, "%.1f", d->peak_gflops);
    fputs(", \"peak_method\": ", out);
    json_write_string(out, d->peak_method);
    fputc('}', out);
  }
  fputs("\n  ],\n  \"rows\": [", out);
  if (write_lines(out, r, json_line) != 0) return -1;
  fputs("\n  ]\n}\n", out);
  return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

/* ---- Table ----------------------------------------------------------------------- */

static int max_int(int a, int b) { return a > b ? a : b; }

/* The row's result for the baseline named name; NULL when it does not apply to the
 * row's device kind (or baselines were off). */
static const bench_baseline_result *find_baseline(const bench_row *row, const char *name) {
  for (int i = 0; i < row->baseline_count; i++)
    if (strcmp(row->baselines[i].name, name) == 0) return &row->baselines[i];
  return NULL;
}

/* The table has room for this many baselines; the build has three. */
#define TABLE_BASELINES 16

/* A table row is assembled first so that the blanks of empty cells at its end can be
 * cut. */
typedef struct text_line {
  char buf[4096];
  size_t len;
} text_line;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
line_printf(text_line *l, const char *fmt, ...) {
  if (l->len >= sizeof l->buf - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
  va_end(ap);
  if (n > 0) l->len += (size_t)n;
  if (l->len > sizeof l->buf - 1) l->len = sizeof l->buf - 1;
}

static void line_end(FILE *out, text_line *l) {
  while (l->len > 0 && l->buf[l->len - 1] == ' ') l->len--;
  l->buf[l->len] = '\0';
  fprintf(out, "%s\n", l->buf);
  l->len = 0;
}

typedef struct table_widths {
  int layer, device, algo;
  int baseline[TABLE_BASELINES];
} table_widths;

static void table_header(FILE *out, const bench_report *r, const table_widths *w) {
  text_line l = {.len = 0};
  line_printf(&l, "%-*s  %-*s  %-*s  %10s  %9s  %6s", w->layer, "layer", w->device, "device",
              w->algo, "algo", "median ms", "GFLOP/s", "%peak");
  if (r->verify) line_printf(&l, "  %9s", "max err");
  for (int b = 0; b < r->baseline_count; b++) {
    char head[96];
    snprintf(head, sizeof head, "%s ms", r->baseline_names[b]);
    line_printf(&l, "  %*s  %6s", w->baseline[b], head, "ratio");
  }
  line_end(out, &l);
}

static void table_row(FILE *out, const bench_report *r, const bench_row *row,
                      const table_widths *w) {
  text_line l = {.len = 0};
  line_printf(&l, "%-*s  %-*s  %-*s", w->layer, row->layer->name, w->device,
              r->devices[row->device].id, w->algo, row->algo);
  if (row->failed || row->skipped) {
    line_printf(&l, "  %s%s", row->failed ? "FAILED: " : "", row->note);
    line_end(out, &l);
    return;
  }
  char peak[16] = "-", err[16] = "-";
  if (isfinite(row->peak_pct)) snprintf(peak, sizeof peak, "%.1f", row->peak_pct);
  if (isfinite(row->max_rel_err)) snprintf(err, sizeof err, "%.1e", row->max_rel_err);
  line_printf(&l, "  %10.3f  %9.2f  %6s", row->median_ms, row->gflops, peak);
  if (r->verify) line_printf(&l, "  %9s", err);
  for (int b = 0; b < r->baseline_count; b++) {
    const bench_baseline_result *res = find_baseline(row, r->baseline_names[b]);
    char ms[32] = "-", ratio[32] = "";
    if (res && res->status == BASELINE_MEASURED) {
      snprintf(ms, sizeof ms, "%.3f", res->median_ms);
      snprintf(ratio, sizeof ratio, "%.2f", speed_ratio(res->median_ms, row->median_ms));
    } else if (res) {
      snprintf(ms, sizeof ms, "%s", res->status == BASELINE_OUT_OF_SCOPE ? "n/a" : "failed");
    }
    line_printf(&l, "  %*s  %6s", w->baseline[b], ms, ratio);
  }
  line_end(out, &l);
}

/* Geometric means of one suite x device x algorithm. */
typedef struct summary_group {
  const char *suite, *algo;
  int device;
  int rows, ran;
  double log_gflops;
  double log_ratio[TABLE_BASELINES];
  int ratios[TABLE_BASELINES];
} summary_group;

static void summarize(FILE *out, const bench_report *r, const table_widths *w) {
  summary_group *groups = calloc((size_t)r->row_count + 1, sizeof *groups);
  int count = 0, suite_width = 5;
  if (!groups) return;
  for (int i = 0; i < r->row_count; i++) {
    const bench_row *row = &r->rows[i];
    int g = 0;
    while (g < count &&
           !(strcmp(groups[g].suite, row->layer->suite) == 0 && groups[g].device == row->device &&
             strcmp(groups[g].algo, row->algo) == 0))
      g++;
    if (g == count) {
      groups[count++] =
          (summary_group){.suite = row->layer->suite, .algo = row->algo, .device = row->device};
      suite_width = max_int(suite_width, (int)strlen(row->layer->suite));
    }
    summary_group *s = &groups[g];
    if (row->skipped) continue;
    s->rows++;
    if (row->failed || !(row->gflops > 0)) continue;
    s->ran++;
    s->log_gflops += log(row->gflops);
    for (int b = 0; b < r->baseline_count; b++) {
      const bench_baseline_result *res = find_baseline(row, r->baseline_names[b]);
      double ratio = res && res->status == BASELINE_MEASURED
                         ? speed_ratio(res->median_ms, row->median_ms)
                         : NAN;
      if (!(ratio > 0) || !isfinite(ratio)) continue;
      s->log_ratio[b] += log(ratio);
      s->ratios[b]++;
    }
  }

  fprintf(out,
          "\ngeometric means over the layers that ran; ratio = baseline time / convcl time "
          "(above 1: convcl is faster)\n");
  fprintf(out, "%-*s  %-*s  %-*s  %7s  %9s  %6s", suite_width, "suite", w->device, "device",
          w->algo, "algo", "layers", "GFLOP/s", "%peak");
  for (int b = 0; b < r->baseline_count; b++) {
    char head[96];
    snprintf(head, sizeof head, "vs %s", r->baseline_names[b]);
    fprintf(out, "  %*s", w->baseline[b] + 8, head);
  }
  fputc('\n', out);
  for (int g = 0; g < count; g++) {
    const summary_group *s = &groups[g];
    char ran[32], gflops[32] = "-", peak[32] = "-";
    snprintf(ran, sizeof ran, "%d/%d", s->ran, s->rows);
    if (s->ran > 0) {
      double mean = exp(s->log_gflops / s->ran);
      snprintf(gflops, sizeof gflops, "%.2f", mean);
      double peak_gflops = r->devices[s->device].peak_gflops;
      if (isfinite(peak_gflops) && peak_gflops > 0)
        snprintf(peak, sizeof peak, "%.1f", 100 * mean / peak_gflops);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %7s  %9s  %6s", suite_width, s->suite, w->device,
            r->devices[s->device].id, w->algo, s->algo, ran, gflops, peak);
    for (int b = 0; b < r->baseline_count; b++) {
      char cell[64] = "-";
      if (s->ratios[b] == s->ran && s->ran > 0)
        snprintf(cell, sizeof cell, "%.3fx", exp(s->log_ratio[b] / s->ratios[b]));
      else if (s->ratios[b] > 0)
        snprintf(cell, sizeof cell, "%.3fx (%d layers)", exp(s->log_ratio[b] / s->ratios[b]),
                 s->ratios[b]);
      fprintf(out, "  %*s", w->baseline[b] + 8, cell);
    }
    fputc('\n', out);
  }
  free(groups);
}

int report_table(FILE *out, const bench_report *report) {
  bench_report clamped = *report;
  const bench_report *r = &clamped;
  if (clamped.baseline_count > TABLE_BASELINES) clamped.baseline_count = TABLE_BASELINES;
  table_widths w = {5, 6, 4, {0}};
  int failed = 0;
  for (int i = 0; i < r->row_count; i++) {
    w.layer = max_int(w.layer, (int)strlen(r->rows[i].layer->name));
    w.algo = max_int(w.algo, (int)strlen(r->rows[i].algo));
    failed += r->rows[i].failed;
  }
  for (int i = 0; i < r->device_count; i++)
    w.device = max_int(w.device, (int)strlen(r->devices[i].id));
  for (int b = 0; b < r->baseline_count; b++)
    w.baseline[b] = max_int(9, (int)strlen(r->baseline_names[b]) + 3);

  fprintf(out, "convcl %s: median of %d run%s after %d warm-up run%s", CONVCL_VERSION_STRING,
          r->runs, r->runs == 1 ? "" : "s", r->warmup, r->warmup == 1 ? "" : "s");
  fprintf(out, "; %s\n",
          r->resident ? "resident: no host<->device copies in the timed runs (see notes)"
                      : "OpenCL times include the host<->device copies");
  for (int i = 0; i < r->device_count; i++) {
    const bench_device *d = &r->devices[i];
    char peak[32] = "peak unknown";
    if (isfinite(d->peak_gflops)) snprintf(peak, sizeof peak, "peak %.1f GFLOP/s", d->peak_gflops);
    fprintf(out, "  %-*s  %s, %s (%s)\n", w.device, d->id, d->name, peak, d->peak_method);
  }
  const char *suite = NULL;
  for (int i = 0; i < r->row_count; i++) {
    const bench_row *row = &r->rows[i];
    if (!suite || strcmp(suite, row->layer->suite) != 0) {
      suite = row->layer->suite;
      fprintf(out, "\n== %s ==\n", suite);
      table_header(out, r, &w);
    }
    table_row(out, r, row, &w);
  }
  if (r->row_count > 0) summarize(out, r, &w);
  if (failed > 0) fprintf(out, "\n%d of %d rows failed\n", failed, r->row_count);
  return fflush(out) != 0 || ferror(out) ? -1 : 0;
}
