/* Bench workloads: suite files, one layer a line ("name | SPEC | input shape", '#'
 * comment lines and blank lines allowed), and single layers from the command line. */
#ifndef CONVCL_BENCH_SUITE_H
#define CONVCL_BENCH_SUITE_H

#include "convcl.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bench_layer {
  char *suite; /* the file name without ".txt", or "cli" */
  char *name;
  char *spec; /* as written, for the output */
  convcl_conv_desc desc;
  convcl_shape input; /* batched, after --batch */
} bench_layer;

typedef struct bench_suite_file {
  char *name, *path;
} bench_suite_file;

typedef struct bench_layers {
  bench_layer *items;
  int count, cap;
  bench_suite_file *files; /* loaded so far, so a suite named twice runs once */
  int file_count, file_cap;
} bench_layers;

/* Appends the layers of a suite: a path to a file (anything with a '/' or ending in
 * ".txt"), else dir/NAME.txt. Each layer is parsed and checked against its input shape
 * as the library would; the first problem fails the whole file with a message
 * "path:line: ..." in err. "all" is not handled here: see suite_list. Returns 0 on
 * success. */
int suite_load(bench_layers *layers, const char *suite, const char *dir, char *err, size_t cap);

/* The suites in dir (NAME for each NAME.txt) except "quick", sorted, into a malloc'd
 * array of malloc'd strings. */
int suite_list(const char *dir, char ***names, int *count, char *err, size_t cap);
void suite_list_free(char **names, int count);

/* Appends one layer given on the command line, in suite "cli". */
int suite_add_layer(bench_layers *layers, const char *name, const char *spec, const char *shape,
                    char *err, size_t cap);

/* Sets the batch size of every layer (--batch). */
int suite_set_batch(bench_layers *layers, int64_t batch, char *err, size_t cap);

void suite_free(bench_layers *layers);

#endif
