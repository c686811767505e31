/* Bench workloads: suite files and command-line layers, parsed and checked up front so
 * a typo fails in a second, not after an hour of measuring. */
#include "suite.h"

#include "spec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

static int grow(void **items, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int cap2 = *cap > 0 ? *cap * 2 : 16;
  while (cap2 < need) cap2 *= 2;
  void *more = realloc(*items, (size_t)cap2 * size);
  if (!more) return -1;
  *items = more;
  *cap = cap2;
  return 0;
}

/* where prefixes every message and names the layer ("file:line: layer 'x'"). */
static int add_layer(bench_layers *layers, const char *suite, const char *name, const char *spec,
                     const char *shape_text, const char *where, char *err, size_t cap) {
  char detail[1024];
  bench_layer l;
  memset(&l, 0, sizeof l);
  if (spec_parse(spec, &l.desc, detail, sizeof detail) != 0) {
    snprintf(err, cap, "%s: SPEC: %s", where, detail);
    return -1;
  }
  if (shape_parse(shape_text, &l.input, detail, sizeof detail) != 0) {
    snprintf(err, cap, "%s: input shape: %s", where, detail);
    return -1;
  }
  /* As PyTorch (and the convcl CLI) do, an input without the batch dimension is a batch
   * of one. */
  if (l.input.ndim == l.desc.spatial_dims + 1 && l.input.ndim < CONVCL_MAX_DIMS) {
    memmove(l.input.dims + 1, l.input.dims, sizeof(int64_t) * (size_t)l.input.ndim);
    l.input.dims[0] = 1;
    l.input.ndim++;
  }
  convcl_shape output;
  if (convcl_conv_output_shape(&l.desc, &l.input, &output) != CONVCL_OK) {
    snprintf(err, cap, "%s: %s", where, convcl_last_error());
    return -1;
  }
  for (int i = 0; i < layers->count; i++) {
    if (strcmp(layers->items[i].suite, suite) == 0 && strcmp(layers->items[i].name, name) == 0) {
      snprintf(err, cap, "%s: the name appears twice in suite '%s'", where, suite);
      return -1;
    }
  }
  if (grow((void **)&layers->items, &layers->cap, layers->count + 1, sizeof l) != 0) goto oom;
  l.suite = strdup(suite);
  l.name = strdup(name);
  l.spec = strdup(spec);
  if (!l.suite || !l.name || !l.spec) {
    free(l.suite);
    free(l.name);
    free(l.spec);
    goto oom;
  }
  layers->items[layers->count++] = l;
  return 0;
oom:
  snprintf(err, cap, "%s: out of memory", where);
  return -1;
}

int suite_add_layer(bench_layers *layers, const char *name, const char *spec, const char *shape,
                    char *err, size_t cap) {
  char where[96];
  snprintf(where, sizeof where, "--layer %s", name);
  return add_layer(layers, "cli", name, spec, shape, where, err, cap);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void suite_list_free(char **names, int count) {
  for (int i = 0; i < count; i++) free(names[i]);
  free(names);
}

int suite_list(const char *dir, char ***names_out, int *count_out, char *err, size_t cap) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, cap, "cannot open the suite directory %s: %s", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  int count = 0, names_cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n <= 4 || e->d_name[0] == '.' || strcmp(e->d_name + n - 4, ".txt") != 0) continue;
    if (strcmp(e->d_name, "quick.txt") == 0) continue; /* a smoke test, not a workload */
    char *name = strdup(e->d_name);
    if (!name || grow((void **)&names, &names_cap, count + 1, sizeof *names) != 0) {
      free(name);
      closedir(d);
      suite_list_free(names, count);
      snprintf(err, cap, "out of memory listing %s", dir);
      return -1;
    }
    name[n - 4] = '\0';
    names[count++] = name;
  }
  closedir(d);
  if (count > 0) qsort(names, (size_t)count, sizeof *names, compare_names);
  *names_out = names;
  *count_out = count;
  return 0;
}

/* Tells a mistyped suite name what the choices are. */
static void unknown_suite(const char *suite, const char *dir, const char *path, char *err,
                          size_t cap) {
  char choices[1024] = "", detail[256];
  char **names;
  int count;
  if (suite_list(dir, &names, &count, detail, sizeof detail) == 0) {
    size_t len = 0;
    for (int i = 0; i < count && len < sizeof choices; i++) {
      int n = snprintf(choices + len, sizeof choices - len, ", %s", names[i]);
      if (n < 0) break;
      len += (size_t)n;
    }
    suite_list_free(names, count);
  }
  snprintf(err, cap, "unknown suite '%s': no file %s (suites: all, quick%s)", suite, path, choices);
}

/* Whether the suite is already loaded (1), new (0), or clashes with another file of
 * the same name (-1). */
static int seen_suite(const bench_layers *layers, const char *name, const char *path, char *err,
                      size_t cap) {
  for (int i = 0; i < layers->file_count; i++) {
    if (strcmp(layers->files[i].name, name) != 0) continue;
    if (strcmp(layers->files[i].path, path) == 0) return 1;
    snprintf(err, cap, "two suites are named '%s': %s and %s", name, layers->files[i].path, path);
    return -1;
  }
  return 0;
}

static int parse_file(bench_layers *layers, FILE *f, const char *name, const char *path, char *err,
                      size_t cap) {
  char *line = NULL;
  size_t line_cap = 0;
  int lineno = 0, added = 0, status = -1;
  while (getline(&line, &line_cap, f) >= 0) {
    char where[1200];
    lineno++;
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    char *text = trim(line);
    if (*text == '\0' || *text == '#') continue;
    int fields = 1;
    for (const char *c = text; *c; c++) fields += *c == '|';
    if (fields != 3) {
      snprintf(err, cap, "%s: expected 'name | SPEC | input shape', found %d field%s", where,
               fields, fields == 1 ? "" : "s");
      goto cleanup;
    }
    char *bar1 = strchr(text, '|'), *bar2 = strchr(bar1 + 1, '|');
    *bar1 = *bar2 = '\0';
    char *layer = trim(text), *spec = trim(bar1 + 1), *shape = trim(bar2 + 1);
    if (*layer == '\0') {
      snprintf(err, cap, "%s: the layer name is empty", where);
      goto cleanup;
    }
    size_t len = strlen(where);
    snprintf(where + len, sizeof where - len, ": layer '%s'", layer);
    if (add_layer(layers, name, layer, spec, shape, where, err, cap) != 0) goto cleanup;
    added++;
  }
  if (ferror(f)) {
    snprintf(err, cap, "%s: read error after line %d", path, lineno);
  } else if (added == 0) {
    snprintf(err, cap, "%s: no layers (lines 'name | SPEC | input shape')", path);
  } else {
    status = 0;
  }
cleanup:
  free(line);
  return status;
}

int suite_load(bench_layers *layers, const char *suite, const char *dir, char *err, size_t cap) {
  size_t n = strlen(suite);
  int is_path = strchr(suite, '/') != NULL || (n > 4 && strcmp(suite + n - 4, ".txt") == 0);
  char *path = NULL, *name = NULL;
  FILE *f = NULL;
  int status = -1;

  if (n == 0) {
    snprintf(err, cap, "an empty suite name");
    return -1;
  }
  if (is_path) {
    path = strdup(suite);
    const char *base = strrchr(suite, '/') ? strrchr(suite, '/') + 1 : suite;
    name = strdup(base);
    if (name && strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".txt") == 0)
      name[strlen(name) - 4] = '\0';
  } else {
    size_t len = strlen(dir) + n + 6;
    path = malloc(len);
    if (path) snprintf(path, len, "%s/%s.txt", dir, suite);
    name = strdup(suite);
  }
  if (!path || !name) {
    snprintf(err, cap, "out of memory");
    goto cleanup;
  }
  int seen = seen_suite(layers, name, path, err, cap);
  if (seen != 0) {
    status = seen > 0 ? 0 : -1;
    goto cleanup;
  }
  f = fopen(path, "r");
  if (!f) {
    if (!is_path && errno == ENOENT)
      unknown_suite(suite, dir, path, err, cap);
    else
      snprintf(err, cap, "cannot open suite %s: %s", path, strerror(errno));
    goto cleanup;
  }
  if (parse_file(layers, f, name, path, err, cap) != 0) goto cleanup;
  if (grow((void **)&layers->files, &layers->file_cap, layers->file_count + 1,
           sizeof *layers->files) != 0) {
    snprintf(err, cap, "out of memory");
    goto cleanup;
  }
  layers->files[layers->file_count++] = (bench_suite_file){name, path};
  name = path = NULL;
  status = 0;
cleanup:
  if (f) fclose(f);
  free(name);
  free(path);
  return status;
}

int suite_set_batch(bench_layers *layers, int64_t batch, char *err, size_t cap) {
  for (int i = 0; i < layers->count; i++) {
    bench_layer *l = &layers->items[i];
    convcl_shape input = l->input, output;
    input.dims[0] = batch;
    if (convcl_conv_output_shape(&l->desc, &input, &output) != CONVCL_OK) {
      snprintf(err, cap, "--batch %lld: layer '%s': %s", (long long)batch, l->name,
               convcl_last_error());
      return -1;
    }
    l->input = input;
  }
  return 0;
}

void suite_free(bench_layers *layers) {
  for (int i = 0; i < layers->count; i++) {
    free(layers->items[i].suite);
    free(layers->items[i].name);
    free(layers->items[i].spec);
  }
  for (int i = 0; i < layers->file_count; i++) {
    free(layers->files[i].name);
    free(layers->files[i].path);
  }
  free(layers->items);
  free(layers->files);
  memset(layers, 0, sizeof *layers);
}
