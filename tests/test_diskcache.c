/* The on-disk cache. "programs" (the default): OpenCL program binaries appear, are
 * loaded rather than rebuilt, and a truncated, corrupt or foreign entry is rebuilt;
 * CONVCL_CACHE=0, a symlinked or group-writable cache directory mean no caching; exits
 * 77 without an OpenCL device. "tuning": tuning entries of the CPU path, read back
 * without measuring; a truncated, corrupt, foreign (another problem's) entry or one in
 * the program binaries' format is ignored, measured again and rewritten. Every plan's
 * output is checked against the reference, so a wrongly loaded entry fails too. */
#include "check.h"
#include "convcl.h"
#include "convcl_ref.h"
#include "internal.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_ENTRIES = 8 };

typedef struct entries {
  int count;
  char name[MAX_ENTRIES][256];
  ino_t inode[MAX_ENTRIES];
  off_t size[MAX_ENTRIES];
} entries;

static void list_entries(const char *dir, entries *e) {
  memset(e, 0, sizeof *e);
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    if (de->d_name[0] == '.' || e->count == MAX_ENTRIES) continue;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat(path, &st) != 0) continue;
    /* readdir order is arbitrary: keep the list sorted so two listings compare. */
    int i = e->count++;
    while (i > 0 && strcmp(e->name[i - 1], de->d_name) > 0) {
      memcpy(e->name[i], e->name[i - 1], sizeof e->name[i]);
      e->inode[i] = e->inode[i - 1];
      e->size[i] = e->size[i - 1];
      i--;
    }
    snprintf(e->name[i], sizeof e->name[i], "%s", de->d_name);
    e->inode[i] = st.st_ino;
    e->size[i] = st.st_size;
  }
  closedir(d);
}

/* One conv and one transposed plan in a fresh context (so the in-memory cache is
 * empty and programs come from disk or source), tuned or not, each checked against the
 * reference. */
static int run_tuned(const char *mode, int tune) {
  convcl_context *ctx;
  if (tu_open_context(mode, &ctx) != 0) return 0;
  convcl_context_set_tuning(ctx, tune);
  int ok = 1;
  for (int transposed = 0; transposed < 2; transposed++) {
    const int64_t kernel[2] = {3, 3};
    convcl_conv_desc d;
    convcl_conv_desc_init(&d, 2, transposed, 3, 4, kernel);
    d.stride[0] = d.stride[1] = 2;
    d.pad_begin[0] = d.pad_end[0] = d.pad_begin[1] = d.pad_end[1] = 1;
    const convcl_shape in = {4, {2, 3, 7, 6}};
    convcl_shape out;
    float x[2 * 3 * 7 * 6], w[3 * 4 * 9], b[4], y[2 * 4 * 14 * 12], want[2 * 4 * 14 * 12];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)((i * 7 % 13) - 6) / 4;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = (float)((i * 5 % 11) - 5) / 8;
    for (int i = 0; i < 4; i++) b[i] = (float)i - 1.5f;
    convcl_plan *plan = NULL;
    if (convcl_conv_output_shape(&d, &in, &out) != CONVCL_OK ||
        convcl_ref_conv(&d, &in, x, w, b, want) != CONVCL_OK ||
        convcl_plan_create(ctx, &d, &in, w, b, CONVCL_ALGO_AUTO, &plan) != CONVCL_OK) {
      printf("setup failed: %s\n", convcl_last_error());
      ok = 0;
      break;
    }
    const size_t n = tu_elems(&out);
    tu_poison(y, n);
    ok &= convcl_plan_run(plan, x, y) == CONVCL_OK;
    for (size_t i = 0; i < n; i++) ok &= tu_abs_error(y[i], want[i]) <= 1e-5;
    convcl_plan_destroy(plan);
  }
  convcl_context_destroy(ctx);
  return ok;
}

static int run_layers(const char *mode) { return run_tuned(mode, 0); }

static void use_cache_home(const char *home) { setenv("XDG_CACHE_HOME", home, 1); }

static void overwrite(const char *path, const void *data, size_t n, long offset) {
  FILE *f = fopen(path, "r+b");
  if (!f) return;
  fseek(f, offset, SEEK_SET);
  fwrite(data, 1, n, f);
  fclose(f);
}

/* After entry `which` of dir was damaged: a run rebuilds it (a new file), and the next
 * run loads the rebuilt entry rather than rewriting it again. Sizes are not compared:
 * PoCL's binaries grow with the kernels its own cache compiled since. */
static void check_rebuilt(const char *dir, int which, const char *what) {
  entries before, after, again;
  list_entries(dir, &before);
  CHECK(run_layers("opencl"), "run after a %s entry", what);
  list_entries(dir, &after);
  CHECK(after.count == before.count && after.inode[which] != before.inode[which],
        "a %s entry is rebuilt", what);
  CHECK(run_layers("opencl"), "run after rebuilding a %s entry", what);
  list_entries(dir, &again);
  CHECK(again.inode[which] == after.inode[which], "the entry rebuilt after a %s one is loaded",
        what);
}

/* After entry `which` of dir was damaged: a tuned run ignores it (measures again) and
 * rewrites it (a new file), and the next run reads it back without measuring. */
static void check_rewritten(const char *dir, int which, const char *damage, const char *what) {
  entries before, after;
  list_entries(dir, &before);
  const long runs = convcl_tune_measured_runs();
  CHECK(run_tuned("cpu", 1), "tuned run after a %s entry", what);
  CHECK(convcl_tune_measured_runs() > runs, "a %s entry is measured again", what);
  list_entries(dir, &after);
  CHECK(after.count == before.count && after.inode[which] != before.inode[which],
        "a %s entry is rewritten", what);
  const long again = convcl_tune_measured_runs();
  CHECK(run_tuned("cpu", 1), "tuned run after rewriting a %s entry", what);
  CHECK(convcl_tune_measured_runs() == again, "the entry rewritten after %s is read back", damage);
}

static void tuning_checks(const char *root) {
  char home[600], dir[700], path[1000], other[1000];
  snprintf(home, sizeof home, "%s/tuning", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  use_cache_home(home);
  unsetenv("CONVCL_CACHE");

  entries first, again;
  long runs = convcl_tune_measured_runs();
  CHECK(run_tuned("cpu", 1), "cold tuned run");
  CHECK(convcl_tune_measured_runs() > runs, "the cold run measures");
  list_entries(dir, &first);
  CHECK(first.count == 2, "one tuning entry per problem, got %d", first.count);
  for (int i = 0; i < first.count; i++)
    CHECK(strstr(first.name[i], ".tune") != NULL, "tuning entries have their own names: %s",
          first.name[i]);
  runs = convcl_tune_measured_runs();
  CHECK(run_tuned("cpu", 1), "warm tuned run");
  CHECK(convcl_tune_measured_runs() == runs, "a valid entry is read back without measuring");
  list_entries(dir, &again);
  CHECK(again.inode[0] == first.inode[0] && again.inode[1] == first.inode[1],
        "a valid entry is not rewritten");

  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  CHECK(truncate(path, first.size[0] / 2) == 0, "truncate");
  check_rewritten(dir, 0, "truncation", "truncated");

  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  overwrite(path, "\xde\xad", 2, (long)first.size[1] - 3);
  check_rewritten(dir, 1, "corruption", "corrupt");

  /* Another problem's entry under this problem's name. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  snprintf(other, sizeof other, "%s/%s", dir, first.name[1]);
  CHECK(unlink(path) == 0 && link(other, path) == 0, "replace entry");
  check_rewritten(dir, 0, "a foreign entry", "foreign");

  /* The program binaries' magic on a tuning entry: the other namespace, never read. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  overwrite(path, "B", 1, 6);
  check_rewritten(dir, 1, "a program-format entry", "program-format");
}

static void program_checks(const char *root) {
  char home[600], dir[700], path[1000], other[1000];
  snprintf(home, sizeof home, "%s/home", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  use_cache_home(home);
  unsetenv("CONVCL_CACHE");

  entries first, again;
  CHECK(run_layers("opencl"), "cold run");
  list_entries(dir, &first);
  /* At least the conv and the transposed program; a GPU opened through auto also
   * builds its fallback programs at open. */
  CHECK(first.count >= 2, "one entry per program, got %d", first.count);

  CHECK(run_layers("opencl"), "warm run");
  list_entries(dir, &again);
  int reused = again.count == first.count;
  for (int i = 0; i < first.count; i++) reused &= again.inode[i] == first.inode[i];
  CHECK(reused, "a valid entry is loaded, not rewritten");

  /* Truncated: cut the first entry in half. */
  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  CHECK(truncate(path, first.size[0] / 2) == 0, "truncate");
  check_rebuilt(dir, 0, "truncated");

  /* Corrupt: flip bytes inside the binary, keeping the size. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  overwrite(path, "\xde\xad\xbe\xef", 4, (long)first.size[1] - 64);
  check_rebuilt(dir, 1, "corrupt");

  /* Foreign: another program's entry under this program's name. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  snprintf(other, sizeof other, "%s/%s", dir, first.name[1]);
  CHECK(link(other, path) == 0 || (unlink(path) == 0 && link(other, path) == 0), "replace entry");
  CHECK(run_layers("opencl"), "run after a foreign entry");
  list_entries(dir, &again);
  CHECK(again.count == first.count && again.inode[0] != again.inode[1],
        "a foreign entry is rebuilt");

  /* CONVCL_CACHE=0: nothing written. */
  snprintf(home, sizeof home, "%s/off", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  use_cache_home(home);
  setenv("CONVCL_CACHE", "0", 1);
  CHECK(run_layers("opencl"), "run with the cache off");
  list_entries(dir, &again);
  CHECK(again.count == 0, "CONVCL_CACHE=0 writes nothing, found %d", again.count);
  unsetenv("CONVCL_CACHE");

  /* A symlinked cache directory is not trusted. */
  snprintf(home, sizeof home, "%s/link", root);
  snprintf(other, sizeof other, "%s/elsewhere", root);
  mkdir(home, 0700);
  mkdir(other, 0700);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  CHECK(symlink(other, dir) == 0, "symlink");
  use_cache_home(home);
  CHECK(run_layers("opencl"), "run with a symlinked cache directory");
  list_entries(other, &again);
  CHECK(again.count == 0, "nothing written through a symlink, found %d", again.count);

  /* A group-writable cache directory is not trusted. */
  snprintf(home, sizeof home, "%s/shared", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  mkdir(dir, 0700);
  chmod(dir, 0770);
  use_cache_home(home);
  CHECK(run_layers("opencl"), "run with a group-writable cache directory");
  list_entries(dir, &again);
  CHECK(again.count == 0, "nothing written to a group-writable directory, found %d", again.count);
}

int main(int argc, char **argv) {
  const int tuning = argc > 1 && strcmp(argv[1], "tuning") == 0;
  if (!tuning) {
    convcl_context *probe;
    const int rc = tu_open_context("opencl", &probe);
    if (rc != 0) return rc;
    convcl_context_destroy(probe);
  }
  char root[] = "/tmp/convcl-cache-test-XXXXXX";
  if (!mkdtemp(root)) return 1;
  if (tuning)
    tuning_checks(root);
  else
    program_checks(root);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
