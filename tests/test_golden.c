/* Golden tests: PyTorch's own outputs (tests/golden/, made by gen_golden.py) against
 * the reference, the CPU backend or the OpenCL backend.
 *
 *   test_golden ref|cpu|opencl
 *
 * Each case's spec is repr(module) as PyTorch printed it, so the SPEC parser is
 * tested on real reprs too; the fixture shapes are checked against the library's
 * weight and output shapes. A backend runs every applicable algorithm and AUTO.
 * Exits 0 when all pass, 77 when mode is opencl and no OpenCL device opens. */
#include "convcl.h"
#include "convcl_ref.h"
#include "npy.h"
#include "spec.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The golden output is PyTorch's float64 result rounded once to float32.
 * The reference also sums in double and rounds once, so it may differ from it only
 * by that last rounding: 1e-6 of the largest |output| is about 8 float32 ulps
 * there. A backend sums in float32 over at most a few hundred terms per output
 * (channels/groups * kernel volume here), and float32 accumulation in any order
 * drifts by some n*2^-24 of the sum of |terms| in the worst case, far less on
 * random data; 1e-4 of the largest |output| covers that with margin, while a
 * wrong, missing or doubled tap or bias moves an element by 1e-2 or more. */
#define TOLERANCE_REF 1e-6
#define TOLERANCE_BACKEND 1e-4

typedef struct golden {
  convcl_conv_desc desc;
  convcl_shape input_shape, weight_shape, bias_shape, output_shape;
  float *input, *weight, *bias, *output;
} golden;

static void golden_free(golden *g) {
  free(g->input);
  free(g->weight);
  free(g->bias);
  free(g->output);
}

/* "1,2,0,3": exactly count non-negative integers. */
static int parse_pads(const char *text, int64_t *values, int count) {
  const char *p = text;
  for (int i = 0; i < count; i++) {
    char *end;
    errno = 0;
    const long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0) return -1;
    values[i] = v;
    p = end;
    if (*p != (i + 1 < count ? ',' : '\0')) return -1;
    p++;
  }
  return 0;
}

/* Applies the settings of the extra column (see golden/cases.txt's header). */
static int apply_extra(convcl_conv_desc *d, char *extra, char *err, size_t errcap) {
  if (strcmp(extra, "-") == 0) return 0;
  const int r = d->spatial_dims;
  for (char *save = NULL, *item = strtok_r(extra, " ", &save); item != NULL;
       item = strtok_r(NULL, " ", &save)) {
    char *value = strchr(item, '=');
    if (value == NULL) {
      snprintf(err, errcap, "extra '%s' is not key=value", item);
      return -1;
    }
    *value++ = '\0';
    if (strcmp(item, "output_size") == 0) {
      convcl_shape size;
      if (shape_parse(value, &size, err, errcap) != 0) return -1;
      if (size.ndim != r) {
        snprintf(err, errcap, "output_size=%s has %d dims, want %d", value, size.ndim, r);
        return -1;
      }
      for (int i = 0; i < r; i++) d->output_size[i] = size.dims[i];
    } else if (strcmp(item, "pads") == 0) {
      int64_t pads[2 * CONVCL_MAX_SPATIAL];
      if (parse_pads(value, pads, 2 * r) != 0) {
        snprintf(err, errcap, "pads=%s is not %d non-negative integers", value, 2 * r);
        return -1;
      }
      d->padding = CONVCL_PAD_EXPLICIT;
      for (int i = 0; i < r; i++) {
        d->pad_begin[i] = pads[i];
        d->pad_end[i] = pads[r + i];
      }
    } else if (strcmp(item, "auto_pad") == 0 && strcmp(value, "SAME_LOWER") == 0) {
      d->padding = CONVCL_PAD_SAME_LOWER;
    } else {
      snprintf(err, errcap, "unknown extra setting %s=%s", item, value);
      return -1;
    }
  }
  return 0;
}

static int read_array(const char *name, const char *file, const convcl_shape *want,
                      convcl_shape *shape, float **data, char *err, size_t errcap) {
  char path[512];
  snprintf(path, sizeof path, "%s/golden/%s/%s", CONVCL_TEST_DATA, name, file);
  if (npy_read(path, shape, data, err, errcap) != 0) return -1; /* names the path */
  if (!tu_same_shape(shape, want)) {
    char got_text[96], want_text[96];
    shape_format(shape, got_text, sizeof got_text);
    shape_format(want, want_text, sizeof want_text);
    snprintf(err, errcap, "%s has shape %s, expected %s", path, got_text, want_text);
    return -1;
  }
  return 0;
}

/* Parses one case line and loads its arrays, checking each file's shape against
 * what the library derives from the spec. */
static int load_case(const char *name, const char *spec, const char *input_text, char *extra,
                     golden *g, char *err, size_t errcap) {
  convcl_shape input_want, weight_want, bias_want = {1, {0}}, output_want;
  convcl_status st;
  if (spec_parse(spec, &g->desc, err, errcap) != 0) return -1;
  if (apply_extra(&g->desc, extra, err, errcap) != 0) return -1;
  if (shape_parse(input_text, &input_want, err, errcap) != 0) return -1;
  if ((st = convcl_conv_weight_shape(&g->desc, &weight_want)) != CONVCL_OK ||
      (st = convcl_conv_output_shape(&g->desc, &input_want, &output_want)) != CONVCL_OK) {
    snprintf(err, errcap, "the library rejects the case: %s: %s", convcl_status_string(st),
             convcl_last_error());
    return -1;
  }
  bias_want.dims[0] = g->desc.out_channels;
  if (read_array(name, "input.npy", &input_want, &g->input_shape, &g->input, err, errcap) ||
      read_array(name, "weight.npy", &weight_want, &g->weight_shape, &g->weight, err, errcap) ||
      read_array(name, "output.npy", &output_want, &g->output_shape, &g->output, err, errcap))
    return -1;
  if (g->desc.has_bias &&
      read_array(name, "bias.npy", &bias_want, &g->bias_shape, &g->bias, err, errcap))
    return -1;
  return 0;
}

/* Compares got with the golden output; prints the worst element when it fails. */
static int check(const char *name, const char *what, const golden *g, const float *got,
                 double tolerance) {
  const size_t n = tu_elems(&g->output_shape);
  double scale = 0.0, worst = -1.0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)g->output[i]));
  for (size_t i = 0; i < n; i++) {
    const double e = tu_abs_error(got[i], g->output[i]);
    if (e > worst) {
      worst = e;
      at = i;
    }
  }
  const double limit = tolerance * scale;
  if (worst <= limit) return 0;
  char index[128];
  tu_format_index(index, sizeof index, &g->output_shape, at);
  printf(
      "FAIL %s [%s]: max |got - want| = %.3g at %s (flat %zu): got %.9g, want %.9g; "
      "limit %.3g = %g * max |want| %.6g\n",
      name, what, worst, index, at, (double)got[at], (double)g->output[at], limit, tolerance,
      scale);
  return 1;
}

/* One algorithm on one case: 0 passed, 1 failed (reported), -1 not applicable. */
static int run_algo(convcl_context *ctx, const char *name, convcl_algo algo, const golden *g,
                    float *got) {
  convcl_plan *plan = NULL;
  convcl_status st =
      convcl_plan_create(ctx, &g->desc, &g->input_shape, g->weight, g->bias, algo, &plan);
  if (st == CONVCL_ERROR_ALGO_NOT_APPLICABLE && algo != CONVCL_ALGO_AUTO) return -1;
  if (st != CONVCL_OK) {
    printf("FAIL %s [%s]: plan: %s: %s\n", name, convcl_algo_name(algo), convcl_status_string(st),
           convcl_last_error());
    return 1;
  }
  char what[64];
  snprintf(what, sizeof what, "%s -> %s", convcl_algo_name(algo),
           convcl_algo_name(convcl_plan_algo(plan)));
  convcl_shape plan_shape;
  convcl_plan_output_shape(plan, &plan_shape);
  int result = 1;
  if (!tu_same_shape(&plan_shape, &g->output_shape)) {
    printf("FAIL %s [%s]: the plan's output shape differs from PyTorch's\n", name, what);
  } else {
    tu_poison(got, tu_elems(&g->output_shape));
    st = convcl_plan_run(plan, g->input, got);
    if (st != CONVCL_OK)
      printf("FAIL %s [%s]: run: %s: %s\n", name, what, convcl_status_string(st),
             convcl_last_error());
    else
      result = check(name, what, g, got, TOLERANCE_BACKEND);
  }
  convcl_plan_destroy(plan);
  return result;
}

/* The reference's own contract: it reports what convcl_conv_output_shape reports
 * for a bad descriptor, refuses inconsistent pointers, and writes nothing then. */
static void check_ref_contract(int *passed, int *failed) {
  const int64_t kernel[2] = {3, 3};
  const convcl_shape input_shape = {4, {1, 4, 5, 5}};
  float input[100] = {0}, weight[4 * 4 * 9] = {0}, bias[4] = {0}, output[4 * 9];
  convcl_conv_desc good, bad_groups, no_bias;
  convcl_conv_desc_init(&good, 2, 0, 4, 4, kernel);
  bad_groups = good;
  bad_groups.groups = 3;
  no_bias = good;
  no_bias.has_bias = 0;
  const struct {
    const char *what;
    const convcl_conv_desc *desc;
    const float *input, *bias;
    convcl_status want;
  } cases[] = {
      {"groups not dividing channels", &bad_groups, input, bias, CONVCL_ERROR_INVALID_GROUPS},
      {"NULL input", &good, NULL, bias, CONVCL_ERROR_NULL_POINTER},
      {"has_bias without a bias", &good, input, NULL, CONVCL_ERROR_NULL_POINTER},
      {"a bias without has_bias", &no_bias, input, bias, CONVCL_ERROR_INVALID_VALUE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (size_t j = 0; j < sizeof output / sizeof output[0]; j++) output[j] = 7.0f;
    const convcl_status st =
        convcl_ref_conv(cases[i].desc, &input_shape, cases[i].input, weight, cases[i].bias, output);
    int untouched = 1;
    for (size_t j = 0; j < sizeof output / sizeof output[0]; j++) untouched &= output[j] == 7.0f;
    if (st == cases[i].want && untouched) {
      ++*passed;
    } else {
      printf("FAIL ref contract, %s: status %d (%s), want %d; output %s\n", cases[i].what, st,
             convcl_status_string(st), cases[i].want, untouched ? "untouched" : "written");
      ++*failed;
    }
  }
}

int main(int argc, char **argv) {
  const char *mode = argc == 2 ? argv[1] : "";
  const int ref = strcmp(mode, "ref") == 0;
  if (!ref && strcmp(mode, "cpu") != 0 && strcmp(mode, "opencl") != 0) {
    fprintf(stderr, "usage: %s ref|cpu|opencl\n", argv[0]);
    return 2;
  }
  convcl_context *ctx = NULL;
  if (!ref) {
    const int rc = tu_open_context(mode, &ctx);
    if (rc != 0) return rc;
  }

  char path[1024];
  snprintf(path, sizeof path, "%s/golden/cases.txt", CONVCL_TEST_DATA);
  FILE *list = fopen(path, "r");
  if (list == NULL) {
    printf("FAIL cannot open %s: %s\n", path, strerror(errno));
    convcl_context_destroy(ctx);
    return 1;
  }
  int passed = 0, failed = 0, cases = 0;
  if (ref) check_ref_contract(&passed, &failed);
  char line[2048];
  while (fgets(line, sizeof line, list) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0') continue;
    char *field[4], *save = NULL;
    int nf = 0;
    char *f = strtok_r(line, "\t", &save);
    for (; f != NULL && nf < 4; f = strtok_r(NULL, "\t", &save)) field[nf++] = f;
    if (nf != 4 || f != NULL) {
      printf("FAIL %s: a case line needs 4 TAB-separated fields\n", nf ? field[0] : line);
      failed++;
      continue;
    }
    const char *name = field[0];
    cases++;
    golden g = {0};
    char err[1024];
    if (load_case(name, field[1], field[2], field[3], &g, err, sizeof err) != 0) {
      printf("FAIL %s: %s\n    spec: %s\n", name, err, field[1]);
      failed++;
      golden_free(&g);
      continue;
    }
    float *got = malloc(tu_elems(&g.output_shape) * sizeof *got);
    if (got == NULL) {
      printf("FAIL %s: out of memory\n", name);
      failed++;
    } else if (ref) {
      tu_poison(got, tu_elems(&g.output_shape));
      const convcl_status st =
          convcl_ref_conv(&g.desc, &g.input_shape, g.input, g.weight, g.bias, got);
      if (st != CONVCL_OK)
        printf("FAIL %s [ref]: %s: %s\n", name, convcl_status_string(st), convcl_last_error());
      if (st == CONVCL_OK && check(name, "ref", &g, got, TOLERANCE_REF) == 0)
        passed++;
      else
        failed++;
    } else {
      for (int a = CONVCL_ALGO_AUTO; a < CONVCL_ALGO_COUNT; a++) {
        const int result = run_algo(ctx, name, (convcl_algo)a, &g, got);
        if (result == 0) passed++;
        if (result == 1) failed++;
      }
    }
    free(got);
    golden_free(&g);
  }
  fclose(list);
  convcl_context_destroy(ctx);
  if (cases == 0) {
    printf("FAIL no cases in %s\n", path);
    failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
