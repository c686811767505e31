/* convcl: the command-line tool. Lists devices, describes a layer given as PyTorch
 * writes it, and runs it on .npy files. */
#include "convcl.h"
#include "json.h"
#include "npy.h"
#include "spec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exit statuses: a bad command line is told apart from a run that failed. */
enum { CLI_OK = 0, CLI_RUNTIME_ERROR = 1, CLI_USAGE_ERROR = 2 };

static const char usage_text[] =
    "usage: convcl <command> [options]\n"
    "\n"
    "PyTorch-exact convolutions on OpenCL devices and on the CPU.\n"
    "\n"
    "commands:\n"
    "  devices                          list the devices; '*' marks the one 'auto' picks\n"
    "  info SPEC --input SHAPE          output shape, parameters, FLOPs, weight shape and\n"
    "       [--device D] [--algo A]     the algorithm each device would use\n"
    "       [--output-size S] [--json]\n"
    "  run SPEC --input x.npy --weight w.npy [--bias b.npy] --output y.npy\n"
    "       [--device D] [--algo A] [--output-size S] [--tune]\n"
    "                                   run the layer on float32 .npy files\n"
    "  help, --help                     this text\n"
    "  --version                        the version\n"
    "\n"
    "SPEC is the layer as PyTorch writes it, quoted for the shell:\n"
    "  \"nn.Conv2d(3, 8, 3, stride=2, padding=1)\"\n"
    "  \"Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\"\n"
    "  \"ConvTranspose2d(16, 33, (3, 5), stride=2, output_padding=1, bias=False)\"\n"
    "As in PyTorch, a layer has a bias unless the SPEC says bias=False; run then needs --bias.\n"
    "\n"
    "SHAPE        N, C, then spatial sizes: 1x3x224x224, 1,3,224,224 or \"(1, 3, 224, 224)\"\n"
    "--device D   auto (default), cpu, cpu:T (the CPU path on T threads), opencl, or\n"
    "             opencl:P:D as 'convcl devices' lists them; the environment variable\n"
    "             CONVCL_DEVICE overrides auto\n"
    "--algo A     auto (default) or an algorithm's name: direct, implicit_gemm,\n"
    "             depthwise, transposed_gemm\n"
    "--output-size S\n"
    "             ConvTranspose only: the spatial output size (e.g. 9x9), as PyTorch's\n"
    "             output_size argument\n"
    "--json       info: one JSON object on stdout\n"
    "--tune       run with --algo auto: time every algorithm and tile variant on this layer\n"
    "             and device once, use the fastest, and remember it in the disk cache for\n"
    "             the next run (as the environment variable CONVCL_TUNE=1 does)\n"
    "\n"
    "Tensors are NumPy .npy files, little-endian float32 in C order; weights in PyTorch's\n"
    "layout ([out, in/groups, k...], transposed [in, out/groups, k...]). A tensor without\n"
    "the batch dimension is run as a batch of one, as PyTorch does.\n"
    "\n"
    "exit status: 0 success, 1 the layer, a file or the device failed, 2 bad usage.\n";

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
report(int status, const char *fmt, ...) {
  va_list ap;
  fputs("convcl: error: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return status;
}

/* ---- Options -------------------------------------------------------------------- */

typedef struct options {
  const char *spec;
  const char *input, *weight, *bias, *output, *device, *algo, *output_size;
  int json, tune;
  int help;
} options;

enum {
  OPT_INPUT = 1u << 0,
  OPT_WEIGHT = 1u << 1,
  OPT_BIAS = 1u << 2,
  OPT_OUTPUT = 1u << 3,
  OPT_DEVICE = 1u << 4,
  OPT_ALGO = 1u << 5,
  OPT_OUTPUT_SIZE = 1u << 6,
  OPT_JSON = 1u << 7,
  OPT_SPEC = 1u << 8, /* the command takes a SPEC argument */
  OPT_TUNE = 1u << 9
};

static const struct {
  const char *name;
  unsigned flag;
  size_t offset; /* of the const char * it sets; unused for --json and --tune */
} option_table[] = {
    {"--input", OPT_INPUT, offsetof(options, input)},
    {"--weight", OPT_WEIGHT, offsetof(options, weight)},
    {"--bias", OPT_BIAS, offsetof(options, bias)},
    {"--output", OPT_OUTPUT, offsetof(options, output)},
    {"--device", OPT_DEVICE, offsetof(options, device)},
    {"--algo", OPT_ALGO, offsetof(options, algo)},
    {"--output-size", OPT_OUTPUT_SIZE, offsetof(options, output_size)},
    {"--json", OPT_JSON, 0},
    {"--tune", OPT_TUNE, 0},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Accepts "--name value" and "--name=value". */
static int parse_options(const char *command, int argc, char **argv, unsigned allowed, options *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      o->help = 1;
      continue;
    }
    if (arg[0] != '-' || arg[1] == '\0') {
      if (!(allowed & OPT_SPEC) || o->spec != NULL)
        return report(CLI_USAGE_ERROR, "unexpected argument '%s' for 'convcl %s'", arg, command);
      o->spec = arg;
      continue;
    }
    const char *eq = strchr(arg, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    size_t k = 0;
    while (k < ARRAY_LEN(option_table) && !(strlen(option_table[k].name) == name_len &&
                                            memcmp(option_table[k].name, arg, name_len) == 0))
      k++;
    if (k == ARRAY_LEN(option_table) || !(allowed & option_table[k].flag))
      return report(CLI_USAGE_ERROR, "unknown option '%.*s' for 'convcl %s' (see convcl --help)",
                    (int)name_len, arg, command);
    if (option_table[k].flag == OPT_JSON || option_table[k].flag == OPT_TUNE) {
      if (eq != NULL) return report(CLI_USAGE_ERROR, "%s takes no value", option_table[k].name);
      *(option_table[k].flag == OPT_JSON ? &o->json : &o->tune) = 1;
      continue;
    }
    const char *value = eq != NULL ? eq + 1 : NULL;
    if (value == NULL) {
      if (i + 1 >= argc)
        return report(CLI_USAGE_ERROR, "option %s needs a value", option_table[k].name);
      value = argv[++i];
    }
    const char **slot = (const char **)((char *)o + option_table[k].offset);
    if (*slot != NULL)
      return report(CLI_USAGE_ERROR, "option %s given twice", option_table[k].name);
    *slot = value;
  }
  return CLI_OK;
}

/* ---- Formatting ----------------------------------------------------------------- */

typedef struct strbuf {
  char *buf;
  size_t cap, len; /* len may pass cap once truncated; buf stays terminated */
} strbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(strbuf *sb, const char *fmt, ...) {
  if (sb->len >= sb->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
  va_end(ap);
  if (n > 0) sb->len += (size_t)n;
}

/* [8, 3, 3, 3], as PyTorch prints sizes in its messages. */
static void format_list(const convcl_shape *s, char *buf, size_t cap) {
  strbuf sb = {buf, cap, 0};
  buf[0] = '\0';
  sb_printf(&sb, "[");
  for (int i = 0; i < s->ndim && i < CONVCL_MAX_DIMS; i++)
    sb_printf(&sb, "%s%" PRId64, i > 0 ? ", " : "", s->dims[i]);
  sb_printf(&sb, "]");
}

static void format_bytes(uint64_t bytes, char *buf, size_t cap) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < ARRAY_LEN(units)) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, cap, "%" PRIu64 " B", bytes);
  else
    snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void format_flops(int64_t flops, char *buf, size_t cap) {
  static const char *const units[] = {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"};
  double v = (double)flops;
  size_t u = 0;
  while (v >= 1000.0 && u + 1 < ARRAY_LEN(units)) {
    v /= 1000.0;
    u++;
  }
  snprintf(buf, cap, "%.3g %s", v, units[u]);
}

static void sb_tuple(strbuf *sb, const int64_t *v, int rank) {
  sb_printf(sb, "(");
  for (int i = 0; i < rank; i++) sb_printf(sb, "%s%" PRId64, i > 0 ? ", " : "", v[i]);
  sb_printf(sb, rank == 1 ? ",)" : ")");
}

static int all_equal(const int64_t *v, int rank, int64_t x) {
  for (int i = 0; i < rank; i++)
    if (v[i] != x) return 0;
  return 1;
}

/* The layer as PyTorch's repr prints it, so the user sees how the SPEC was read. */
static void format_layer(const convcl_conv_desc *d, char *buf, size_t cap) {
  static const char *const mode_names[] = {"zeros", "reflect", "replicate", "circular"};
  strbuf sb = {buf, cap, 0};
  int rank = d->spatial_dims;
  buf[0] = '\0';
  sb_printf(&sb, "%s%dd(%" PRId64 ", %" PRId64 ", kernel_size=",
            d->transposed ? "ConvTranspose" : "Conv", rank, d->in_channels, d->out_channels);
  sb_tuple(&sb, d->kernel, rank);
  sb_printf(&sb, ", stride=");
  sb_tuple(&sb, d->stride, rank);
  if (d->padding == CONVCL_PAD_SAME) {
    sb_printf(&sb, ", padding=same");
  } else if (d->padding == CONVCL_PAD_VALID) {
    sb_printf(&sb, ", padding=valid");
  } else if (!all_equal(d->pad_begin, rank, 0)) {
    sb_printf(&sb, ", padding=");
    sb_tuple(&sb, d->pad_begin, rank);
  }
  if (!all_equal(d->dilation, rank, 1)) {
    sb_printf(&sb, ", dilation=");
    sb_tuple(&sb, d->dilation, rank);
  }
  if (d->transposed && !all_equal(d->output_padding, rank, 0)) {
    sb_printf(&sb, ", output_padding=");
    sb_tuple(&sb, d->output_padding, rank);
  }
  if (d->groups != 1) sb_printf(&sb, ", groups=%" PRId64, d->groups);
  if (!d->has_bias) sb_printf(&sb, ", bias=False");
  if (d->padding_mode != CONVCL_PADDING_ZEROS && (unsigned)d->padding_mode < ARRAY_LEN(mode_names))
    sb_printf(&sb, ", padding_mode=%s", mode_names[d->padding_mode]);
  sb_printf(&sb, ")");
  if (d->activation == CONVCL_ACTIVATION_RELU) sb_printf(&sb, "+relu");
}

static void json_shape(FILE *out, const convcl_shape *s) {
  fputc('[', out);
  for (int i = 0; i < s->ndim && i < CONVCL_MAX_DIMS; i++)
    fprintf(out, "%s%" PRId64, i > 0 ? ", " : "", s->dims[i]);
  fputc(']', out);
}

/* ---- Shared steps --------------------------------------------------------------- */

static int parse_spec(const char *spec, convcl_conv_desc *desc) {
  char err[1024];
  if (spec == NULL) return report(CLI_USAGE_ERROR, "a SPEC is needed, e.g. \"nn.Conv2d(3, 8, 3)\"");
  if (spec_parse(spec, desc, err, sizeof err) != 0) return report(CLI_USAGE_ERROR, "SPEC: %s", err);
  return CLI_OK;
}

/* PyTorch's output_size may also carry the batch and channel dims; only the
 * spatial ones count. */
static int apply_output_size(const char *text, convcl_conv_desc *desc) {
  char err[512];
  convcl_shape s;
  int rank = desc->spatial_dims;
  if (text == NULL) return CLI_OK;
  if (!desc->transposed)
    return report(CLI_USAGE_ERROR, "--output-size applies to ConvTranspose layers only");
  if (shape_parse(text, &s, err, sizeof err) != 0)
    return report(CLI_USAGE_ERROR, "--output-size: %s", err);
  if (s.ndim < rank || s.ndim > rank + 2)
    return report(CLI_USAGE_ERROR, "--output-size needs %d size%s for ConvTranspose%dd, but got %d",
                  rank, rank == 1 ? "" : "s", rank, s.ndim);
  for (int i = 0; i < rank; i++) desc->output_size[i] = s.dims[s.ndim - rank + i];
  return CLI_OK;
}

static int parse_algo(const char *name, convcl_algo *algo) {
  *algo = CONVCL_ALGO_AUTO;
  if (name == NULL) return CLI_OK;
  if (convcl_algo_from_name(name, algo) == CONVCL_OK) return CLI_OK;
  fprintf(stderr, "convcl: error: unknown algorithm '%s'; known:", name);
  for (int i = 0; i < CONVCL_ALGO_COUNT; i++)
    fprintf(stderr, " %s", convcl_algo_name((convcl_algo)i));
  fputc('\n', stderr);
  return CLI_USAGE_ERROR;
}

/* PyTorch runs an input without the batch dimension as a batch of one; the library
 * takes batched shapes only. Returns 1 when in was unbatched. */
static int add_batch(const convcl_conv_desc *desc, const convcl_shape *in, convcl_shape *batched) {
  *batched = *in;
  if (in->ndim != desc->spatial_dims + 1 || in->ndim >= CONVCL_MAX_DIMS) return 0;
  batched->ndim = in->ndim + 1;
  batched->dims[0] = 1;
  memcpy(batched->dims + 1, in->dims, sizeof(int64_t) * (size_t)in->ndim);
  return 1;
}

static void drop_batch(convcl_shape *s) {
  s->ndim--;
  memmove(s->dims, s->dims + 1, sizeof(int64_t) * (size_t)s->ndim);
}

static int list_devices(convcl_device_info **infos_out, int *count_out) {
  int count = 0, capacity;
  convcl_device_info *infos = NULL;
  if (convcl_devices_list(NULL, 0, &count) != CONVCL_OK)
    return report(CLI_RUNTIME_ERROR, "cannot list devices: %s", convcl_last_error());
  capacity = count > 0 ? count : 1;
  infos = calloc((size_t)capacity, sizeof *infos);
  if (infos == NULL) return report(CLI_RUNTIME_ERROR, "out of memory");
  if (convcl_devices_list(infos, capacity, &count) != CONVCL_OK) {
    free(infos);
    return report(CLI_RUNTIME_ERROR, "cannot list devices: %s", convcl_last_error());
  }
  *infos_out = infos;
  *count_out = count < capacity ? count : capacity; /* a device may appear in between */
  return CLI_OK;
}

/* ---- devices -------------------------------------------------------------------- */

static int max_int(int a, int b) { return a > b ? a : b; }

static const char *or_dash(const char *s) { return s[0] != '\0' ? s : "-"; }

static int cmd_devices(void) {
  convcl_device_info *infos = NULL;
  convcl_context *ctx = NULL;
  int count = 0, rc;
  char mem[32];

  rc = list_devices(&infos, &count);
  if (rc != CLI_OK) return rc;
  /* Column widths from the data; empty fields print as '-'. */
  int w_id = 2, w_type = 4, w_name = 4, w_plat = 8, w_ver = 6;
  for (int i = 0; i < count; i++) {
    w_id = max_int(w_id, (int)strlen(infos[i].id));
    w_type = max_int(w_type, (int)strlen(infos[i].type));
    w_name = max_int(w_name, (int)strlen(infos[i].name));
    w_plat = max_int(w_plat, (int)strlen(or_dash(infos[i].platform)));
    w_ver = max_int(w_ver, (int)strlen(or_dash(infos[i].version)));
  }
  printf("  %-*s  %-*s  %-*s  %-*s  %5s  %10s  %-*s  %s\n", w_id, "ID", w_type, "TYPE", w_name,
         "NAME", w_plat, "PLATFORM", "UNITS", "MEMORY", w_ver, "OPENCL", "DRIVER");
  for (int i = 0; i < count; i++) {
    const convcl_device_info *d = &infos[i];
    format_bytes(d->global_mem_bytes, mem, sizeof mem);
    printf("%c %-*s  %-*s  %-*s  %-*s  %5d  %10s  %-*s  %s\n", d->is_auto ? '*' : ' ', w_id, d->id,
           w_type, d->type, w_name, d->name, w_plat, or_dash(d->platform), d->compute_units, mem,
           w_ver, or_dash(d->version), or_dash(d->driver));
  }
  printf("\n* = the device 'auto' picks (CONVCL_DEVICE overrides it)\n");
  if (convcl_context_create("auto", &ctx) != CONVCL_OK) {
    rc = report(CLI_RUNTIME_ERROR, "auto cannot open a device: %s", convcl_last_error());
  } else {
    const char *reason = convcl_context_fallback_reason(ctx);
    if (reason[0] != '\0') printf("auto runs on the CPU path: %s\n", reason);
  }
  convcl_context_destroy(ctx);
  free(infos);
  return rc;
}

/* ---- info ----------------------------------------------------------------------- */

typedef struct device_row {
  const char *id;          /* as asked for */
  int is_auto;             /* from the device list */
  int ok;                  /* opened and queried */
  convcl_device_info info; /* the opened device */
  convcl_algo algo;
  size_t workspace;
  char error[1024];
} device_row;

static void query_device(device_row *row, const convcl_conv_desc *desc, const convcl_shape *input,
                         convcl_algo algo) {
  convcl_context *ctx = NULL;
  if (convcl_context_create(row->id, &ctx) != CONVCL_OK) {
    snprintf(row->error, sizeof row->error, "cannot open: %s", convcl_last_error());
  } else if (convcl_context_device(ctx, &row->info) != CONVCL_OK ||
             convcl_plan_query(ctx, desc, input, algo, &row->algo, &row->workspace) != CONVCL_OK) {
    snprintf(row->error, sizeof row->error, "%s", convcl_last_error());
  } else {
    row->ok = 1;
  }
  convcl_context_destroy(ctx);
}

static void print_info_text(const char *layer, const convcl_shape *in, const convcl_shape *out,
                            const convcl_shape *weight, const convcl_conv_desc *desc,
                            int64_t params, int64_t flops, const device_row *rows, int n_rows) {
  char a[64], b[64];
  shape_format(in, a, sizeof a);
  printf("layer       %s\n", layer);
  printf("input       %s\n", a);
  shape_format(out, a, sizeof a);
  printf("output      %s\n", a);
  shape_format(weight, a, sizeof a);
  printf("weight      %s\n", a);
  if (desc->has_bias)
    printf("bias        %" PRId64 "\n", desc->out_channels);
  else
    printf("bias        none\n");
  printf("parameters  %" PRId64 "\n", params);
  format_flops(flops, a, sizeof a);
  printf("FLOPs       %" PRId64 " (%s)\n", flops, a);
  printf("devices\n");
  int w_id = 2;
  for (int i = 0; i < n_rows; i++) w_id = max_int(w_id, (int)strlen(rows[i].id));
  for (int i = 0; i < n_rows; i++) {
    const device_row *r = &rows[i];
    if (!r->ok) {
      printf("%c %-*s  error: %s\n", r->is_auto ? '*' : ' ', w_id, r->id, r->error);
      continue;
    }
    format_bytes(r->workspace, b, sizeof b);
    printf("%c %-*s  %-8s  workspace %-10s  %s\n", r->is_auto ? '*' : ' ', w_id, r->id,
           convcl_algo_name(r->algo), b, r->info.name);
  }
}

static void print_info_json(const char *spec, const char *layer, const convcl_shape *in,
                            const convcl_shape *out, const convcl_shape *weight,
                            const convcl_conv_desc *desc, int64_t params, int64_t flops,
                            const device_row *rows, int n_rows) {
  printf("{\"spec\": ");
  json_write_string(stdout, spec);
  printf(", \"layer\": ");
  json_write_string(stdout, layer);
  printf(", \"input\": ");
  json_shape(stdout, in);
  printf(", \"output\": ");
  json_shape(stdout, out);
  printf(", \"weight\": ");
  json_shape(stdout, weight);
  if (desc->has_bias)
    printf(", \"bias\": [%" PRId64 "]", desc->out_channels);
  else
    printf(", \"bias\": null");
  printf(", \"parameters\": %" PRId64 ", \"flops\": %" PRId64 ", \"devices\": [", params, flops);
  for (int i = 0; i < n_rows; i++) {
    const device_row *r = &rows[i];
    printf("%s{\"id\": ", i > 0 ? ", " : "");
    json_write_string(stdout, r->id);
    printf(", \"auto\": %s", r->is_auto ? "true" : "false");
    if (r->ok) {
      printf(", \"device\": ");
      json_write_string(stdout, r->info.id);
      printf(", \"name\": ");
      json_write_string(stdout, r->info.name);
      printf(", \"type\": ");
      json_write_string(stdout, r->info.type);
      printf(", \"algo\": ");
      json_write_string(stdout, convcl_algo_name(r->algo));
      printf(", \"workspace_bytes\": %zu}", r->workspace);
    } else {
      printf(", \"error\": ");
      json_write_string(stdout, r->error);
      printf("}");
    }
  }
  printf("]}\n");
}

static int cmd_info(const options *o) {
  convcl_conv_desc desc;
  convcl_shape input, batched, output, weight;
  convcl_algo algo;
  convcl_device_info *infos = NULL;
  device_row *rows = NULL;
  int64_t params = 0, flops = 0;
  int n_rows = 0, rc, unbatched;
  char err[512], layer[1024];

  if ((rc = parse_spec(o->spec, &desc)) != CLI_OK) return rc;
  if (o->input == NULL)
    return report(CLI_USAGE_ERROR, "info needs --input SHAPE, e.g. --input 1x3x224x224");
  if (shape_parse(o->input, &input, err, sizeof err) != 0)
    return report(CLI_USAGE_ERROR, "--input: %s", err);
  if ((rc = apply_output_size(o->output_size, &desc)) != CLI_OK) return rc;
  if ((rc = parse_algo(o->algo, &algo)) != CLI_OK) return rc;
  unbatched = add_batch(&desc, &input, &batched);
  if (convcl_conv_output_shape(&desc, &batched, &output) != CONVCL_OK ||
      convcl_conv_weight_shape(&desc, &weight) != CONVCL_OK ||
      convcl_conv_param_count(&desc, &params) != CONVCL_OK ||
      convcl_conv_flops(&desc, &batched, &flops) != CONVCL_OK)
    return report(CLI_RUNTIME_ERROR, "%s", convcl_last_error());
  if (unbatched) drop_batch(&output);
  format_layer(&desc, layer, sizeof layer);

  if (o->device != NULL) {
    n_rows = 1;
  } else {
    if ((rc = list_devices(&infos, &n_rows)) != CLI_OK) return rc;
  }
  rows = calloc((size_t)(n_rows > 0 ? n_rows : 1), sizeof *rows);
  if (rows == NULL) {
    rc = report(CLI_RUNTIME_ERROR, "out of memory");
    goto cleanup;
  }
  for (int i = 0; i < n_rows; i++) {
    rows[i].id = o->device != NULL ? o->device : infos[i].id;
    rows[i].is_auto = o->device == NULL && infos[i].is_auto;
    query_device(&rows[i], &desc, &batched, algo);
  }
  if (o->json)
    print_info_json(o->spec, layer, &input, &output, &weight, &desc, params, flops, rows, n_rows);
  else
    print_info_text(layer, &input, &output, &weight, &desc, params, flops, rows, n_rows);
  /* Listing every device, one that fails is part of the answer; a device asked
   * for by name that fails is the answer. */
  rc = CLI_OK;
  if (o->device != NULL && !rows[0].ok)
    rc = report(CLI_RUNTIME_ERROR, "device '%s': %s", o->device, rows[0].error);

cleanup:
  free(rows);
  free(infos);
  return rc;
}

/* ---- run ------------------------------------------------------------------------ */

static int same_shape(const convcl_shape *a, const convcl_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmd_run(const options *o) {
  convcl_conv_desc desc;
  convcl_shape in_shape, run_shape, w_shape, want_w, b_shape, out_shape, write_shape;
  convcl_algo algo;
  convcl_context *ctx = NULL;
  convcl_plan *plan = NULL;
  convcl_device_info dev;
  float *x = NULL, *w = NULL, *b = NULL, *y = NULL;
  int rc, unbatched;
  size_t count = 1;
  double t0, elapsed;
  char err[1024], s1[160], s2[160];

  if ((rc = parse_spec(o->spec, &desc)) != CLI_OK) return rc;
  if (o->input == NULL || o->weight == NULL || o->output == NULL)
    return report(CLI_USAGE_ERROR, "run needs --input x.npy, --weight w.npy and --output y.npy");
  if (desc.has_bias && o->bias == NULL)
    return report(
        CLI_USAGE_ERROR,
        "the layer has a bias (PyTorch's default is bias=True): pass --bias b.npy, or write "
        "bias=False in the SPEC");
  if (!desc.has_bias && o->bias != NULL)
    return report(CLI_USAGE_ERROR, "--bias %s given, but the SPEC says bias=False", o->bias);
  if ((rc = apply_output_size(o->output_size, &desc)) != CLI_OK) return rc;
  if ((rc = parse_algo(o->algo, &algo)) != CLI_OK) return rc;

  rc = CLI_RUNTIME_ERROR;
  if (npy_read(o->input, &in_shape, &x, err, sizeof err) != 0) {
    report(rc, "%s", err);
    goto cleanup;
  }
  unbatched = add_batch(&desc, &in_shape, &run_shape);
  if (convcl_conv_output_shape(&desc, &run_shape, &out_shape) != CONVCL_OK) {
    report(rc, "%s: %s", o->input, convcl_last_error());
    goto cleanup;
  }
  if (convcl_conv_weight_shape(&desc, &want_w) != CONVCL_OK) {
    report(rc, "%s", convcl_last_error());
    goto cleanup;
  }
  if (npy_read(o->weight, &w_shape, &w, err, sizeof err) != 0) {
    report(rc, "%s", err);
    goto cleanup;
  }
  if (!same_shape(&w_shape, &want_w)) {
    format_list(&want_w, s1, sizeof s1);
    format_list(&w_shape, s2, sizeof s2);
    report(rc, "weight of shape %s expected, but %s has %s", s1, o->weight, s2);
    goto cleanup;
  }
  if (desc.has_bias) {
    convcl_shape want_b = {1, {desc.out_channels}};
    if (npy_read(o->bias, &b_shape, &b, err, sizeof err) != 0) {
      report(rc, "%s", err);
      goto cleanup;
    }
    if (!same_shape(&b_shape, &want_b)) {
      format_list(&want_b, s1, sizeof s1);
      format_list(&b_shape, s2, sizeof s2);
      report(rc, "bias of shape %s expected, but %s has %s", s1, o->bias, s2);
      goto cleanup;
    }
  }

  if (convcl_context_create(o->device, &ctx) != CONVCL_OK) {
    report(rc, "cannot open device '%s': %s", o->device != NULL ? o->device : "auto",
           convcl_last_error());
    goto cleanup;
  }
  if (o->tune) convcl_context_set_tuning(ctx, 1);
  if (convcl_plan_create(ctx, &desc, &run_shape, w, b, algo, &plan) != CONVCL_OK) {
    report(rc, "%s", convcl_last_error());
    const char *log = convcl_context_build_log(ctx);
    if (log[0] != '\0') fprintf(stderr, "build log:\n%s\n", log);
    goto cleanup;
  }
  convcl_plan_output_shape(plan, &out_shape);
  for (int i = 0; i < out_shape.ndim; i++) {
    if (out_shape.dims[i] < 0 || (uint64_t)out_shape.dims[i] > SIZE_MAX / sizeof(float) / count) {
      report(rc, "the output is too large for this machine");
      goto cleanup;
    }
    count *= (size_t)out_shape.dims[i];
  }
  y = malloc(count > 0 ? count * sizeof(float) : 1);
  if (y == NULL) {
    report(rc, "out of memory for the output (%zu bytes)", count * sizeof(float));
    goto cleanup;
  }
  t0 = seconds_now();
  if (convcl_plan_run(plan, x, y) != CONVCL_OK) {
    report(rc, "%s", convcl_last_error());
    goto cleanup;
  }
  elapsed = seconds_now() - t0;
  write_shape = out_shape;
  if (unbatched) drop_batch(&write_shape);
  if (npy_write(o->output, &write_shape, y, err, sizeof err) != 0) {
    report(rc, "%s", err);
    goto cleanup;
  }
  if (convcl_context_device(ctx, &dev) != CONVCL_OK) {
    report(rc, "%s", convcl_last_error());
    goto cleanup;
  }
  shape_format(&in_shape, s1, sizeof s1);
  shape_format(&write_shape, s2, sizeof s2);
  printf("%s%dd on %s (%s), %s: %s -> %s in %.3f ms, wrote %s\n",
         desc.transposed ? "ConvTranspose" : "Conv", desc.spatial_dims, dev.id, dev.name,
         convcl_algo_name(convcl_plan_algo(plan)), s1, s2, elapsed * 1e3, o->output);
  rc = CLI_OK;

cleanup:
  convcl_plan_destroy(plan);
  convcl_context_destroy(ctx);
  free(y);
  free(b);
  free(w);
  free(x);
  return rc;
}

/* ---- main ----------------------------------------------------------------------- */

static int run_command(const char *cmd, int argc, char **argv) {
  static const struct {
    const char *name;
    unsigned allowed;
  } commands[] = {
      {"devices", 0},
      {"info", OPT_SPEC | OPT_INPUT | OPT_DEVICE | OPT_ALGO | OPT_OUTPUT_SIZE | OPT_JSON},
      {"run", OPT_SPEC | OPT_INPUT | OPT_WEIGHT | OPT_BIAS | OPT_OUTPUT | OPT_DEVICE | OPT_ALGO |
                  OPT_OUTPUT_SIZE | OPT_TUNE},
  };
  options o;
  size_t k = 0;
  while (k < ARRAY_LEN(commands) && strcmp(commands[k].name, cmd) != 0) k++;
  if (k == ARRAY_LEN(commands))
    return report(CLI_USAGE_ERROR, "unknown command '%s' (commands: devices, info, run, help)",
                  cmd);
  int rc = parse_options(cmd, argc, argv, commands[k].allowed, &o);
  if (rc != CLI_OK) return rc;
  if (o.help) {
    fputs(usage_text, stdout);
    return CLI_OK;
  }
  if (k == 0) return cmd_devices();
  return k == 1 ? cmd_info(&o) : cmd_run(&o);
}

int main(int argc, char **argv) {
  int rc;
  if (argc < 2) return report(CLI_USAGE_ERROR, "no command given (see convcl --help)");
  const char *cmd = argv[1];
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(usage_text, stdout);
    rc = CLI_OK;
  } else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("convcl %s\n", CONVCL_VERSION_STRING);
    rc = CLI_OK;
  } else {
    rc = run_command(cmd, argc - 2, argv + 2);
  }
  /* A full disk or a closed stdout must not pass as success. */
  if (fflush(stdout) != 0 || ferror(stdout))
    rc = report(CLI_RUNTIME_ERROR, "cannot write to stdout");
  return rc;
}
