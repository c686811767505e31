/* The on-disk cache. "programs" (the default): OpenCL program binaries appear, are
 * loaded rather than rebuilt, and a truncated, corrupt or foreign entry is rebuilt;
 * CONVCL_CACHE=0, a symlinked or group-writable cache directory mean no caching; exits
 * 77 without an OpenCL device. "tuning": tuning entries of the CPU path, read back
 * without measuring; a truncated, corrupt, foreign (another problem's), stale (another
 * version's) or untrusted (group-writable, another user's, symlinked) entry or one in
 * the program binaries' format is ignored, measured again and rewritten. Every plan's
 * output is checked against the reference, so a wrongly loaded entry fails too.
 * "store": the store itself (convcl_diskcache_store/load), no device needed: damaged,
 * foreign, stale and untrusted entries, untrusted, read-only, missing and uncreatable
 * directories, and processes filling one cache at once. */
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
#include <sys/wait.h>
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

/* ---- "store": the store itself, through convcl_diskcache_store/load ---------------- */

/* What a test stores under key: a length and bytes that depend on the key alone, so
 * every writer of a key writes the same entry and any other bytes are a wrong load. */
static size_t fill(const char *key, unsigned char *buf) {
  const uint64_t h = convcl_hash(CONVCL_HASH_INIT, key, strlen(key));
  const size_t n = 100 + (size_t)(h % 4000);
  for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((h >> (i % 7 * 8)) + i * 31);
  return n;
}

enum { DATA_MAX = 4200 };

static void put(convcl_cache_kind kind, const char *key) {
  unsigned char buf[DATA_MAX];
  convcl_diskcache_store(kind, key, buf, fill(key, buf));
}

/* 1: the entry for key loads, exactly; 0: nothing loads; -1: wrong bytes loaded. */
static int got(convcl_cache_kind kind, const char *key) {
  unsigned char want[DATA_MAX];
  const size_t n = fill(key, want);
  size_t len = 0;
  unsigned char *data = convcl_diskcache_load(kind, key, &len);
  const int r = !data ? 0 : len == n && memcmp(data, want, n) == 0 ? 1 : -1;
  free(data);
  return r;
}

static void entry_file(const char *dir, convcl_cache_kind kind, const char *key, char *path,
                       size_t cap) {
  snprintf(path, cap, "%s/%016llx.%s", dir,
           (unsigned long long)convcl_hash(CONVCL_HASH_INIT, key, strlen(key)),
           kind == CONVCL_CACHE_PROGRAM ? "bin" : "tune");
}

static long file_size(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
  char buf[8192];
  size_t n;
  int ok = in && out;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  if (in) fclose(in);
  if (out) ok &= fclose(out) == 0;
  return ok;
}

static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  for (int ca = 0, cb = 0; same && ca != EOF; same = ca == cb) {
    ca = fgetc(fa);
    cb = fgetc(fb);
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

/* Where text first occurs in the n bytes at buf, or NULL. */
static char *find(char *buf, size_t n, const char *text) {
  const size_t len = strlen(text);
  for (size_t i = 0; i + len <= n; i++)
    if (memcmp(buf + i, text, len) == 0) return buf + i;
  return NULL;
}

/* Rewrites the entry at path as a valid entry for its key with from replaced by to
 * (as long): what another library version stores for the same problem. */
static int restamp(const char *path, const char *from, const char *to) {
  const long size = file_size(path);
  char *buf = size >= 32 ? malloc((size_t)size) : NULL;
  FILE *f = buf ? fopen(path, "rb") : NULL;
  const size_t n = f ? fread(buf, 1, (size_t)size, f) : 0;
  if (f) fclose(f);
  uint64_t lens[3] = {0, 0, 0};
  if (n == (size_t)size && n >= 32) memcpy(lens, buf + 8, sizeof lens);
  char *at = n >= 32 && lens[0] <= n - 32 && lens[1] == n - 32 - lens[0]
                 ? find(buf + 32, (size_t)lens[0], from)
                 : NULL;
  int ok = at && strlen(from) == strlen(to);
  if (ok) {
    memcpy(at, to, strlen(to));
    lens[2] =
        convcl_hash(convcl_hash(CONVCL_HASH_INIT, buf + 32, lens[0]), buf + 32 + lens[0], lens[1]);
    memcpy(buf + 8, lens, sizeof lens);
    f = fopen(path, "wb");
    ok = f && fwrite(buf, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
  }
  free(buf);
  return ok;
}

/* Files in dir whose name contains part. */
static int count_named(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;) n += strstr(de->d_name, part) != NULL;
  closedir(d);
  return n;
}

/* Makes path another user's (nobody's), for the checks that need one: only root can,
 * and not in every container; says so when it cannot. */
static int give_to_nobody(const char *path) {
  if (geteuid() == 0 && chown(path, 65534, 65534) == 0) return 1;
  printf("cannot give %s to another user: that check is skipped\n", path);
  return 0;
}

static const char *const key_a = "convcl " CONVCL_VERSION_STRING "\nkey a\n";
static const char *const key_b = "convcl " CONVCL_VERSION_STRING "\nkey b\n";
/* Key a as another library version made it. */
static const char *const key_a_stale = "convcl 0.0.1\nkey a\n";

/* After key_a's entry was damaged: it does not load, and storing it again makes it load. */
static void check_damage(const char *what) {
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "a %s entry is not loaded", what);
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1, "a %s entry is stored again", what);
}

static void entry_checks(const char *root) {
  char home[600], dir[700], path[1200], other[1200];
  snprintf(home, sizeof home, "%s/store", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  use_cache_home(home);
  unsetenv("CONVCL_CACHE");

  put(CONVCL_CACHE_PROGRAM, key_a);
  put(CONVCL_CACHE_PROGRAM, key_b);
  struct stat st;
  CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
        "the cache directory is made 0700 (mode %o)", (unsigned)st.st_mode & 0777);
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_a, path, sizeof path);
  CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0,
        "an entry is a file only its owner may read or write (mode %o)",
        (unsigned)st.st_mode & 0777);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1 && got(CONVCL_CACHE_PROGRAM, key_b) == 1,
        "entries load back exactly");
  CHECK(got(CONVCL_CACHE_TUNING, key_a) == 0, "another kind's entry is not loaded");
  CHECK(count_named(dir, ".tmp") == 0, "no temporary file is left");

  /* The entry holds the full key it was made for. */
  {
    FILE *f = fopen(path, "rb");
    char buf[8192];
    const size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(find(buf, n, key_a) != NULL, "an entry holds its full key");
  }

  /* Truncated at every boundary of the format. */
  const long size = file_size(path);
  const long cuts[] = {0, 7, 8, 31, 32, 32 + (long)strlen(key_a), size - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    CHECK(truncate(path, cuts[i]) == 0, "truncate");
    check_damage("truncated");
  }
  /* Grown: bytes appended after a valid entry. */
  {
    FILE *f = fopen(path, "ab");
    CHECK(f && fputc('x', f) == 'x' && fclose(f) == 0, "append");
    check_damage("grown");
  }
  /* One flipped byte anywhere: magic, each length, the checksum, the key, the data. */
  const long flips[] = {0,
                        7,
                        8,
                        16,
                        24,
                        31,
                        32,
                        32 + (long)strlen(key_a) - 1,
                        32 + (long)strlen(key_a),
                        size / 2 + 20,
                        size - 1};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    FILE *f = fopen(path, "r+b");
    int c = EOF;
    if (f && fseek(f, flips[i], SEEK_SET) == 0) c = fgetc(f);
    if (c != EOF && fseek(f, flips[i], SEEK_SET) == 0) fputc(c ^ 0x10, f);
    if (f) fclose(f);
    CHECK(c != EOF, "flip byte %ld", flips[i]);
    check_damage("corrupt");
  }
  /* Foreign: key b's valid entry under key a's name. */
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_b, other, sizeof other);
  CHECK(copy_file(other, path), "copy");
  check_damage("foreign");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_b) == 1, "the foreign entry's own key still loads");
  /* Stale: another library version's valid entry for the same key under its name. */
  put(CONVCL_CACHE_PROGRAM, key_a_stale);
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_a_stale, other, sizeof other);
  CHECK(rename(other, path) == 0, "rename");
  check_damage("stale");
  /* Another kind's valid entry under this kind's name. */
  put(CONVCL_CACHE_TUNING, key_a);
  entry_file(dir, CONVCL_CACHE_TUNING, key_a, other, sizeof other);
  CHECK(rename(other, path) == 0, "rename");
  check_damage("other kind's");

  /* Untrusted entries: not read; storing replaces the name, never writes the file. */
  char victim[1200];
  snprintf(victim, sizeof victim, "%s/victim", root);
  CHECK(copy_file(path, victim), "copy");
  CHECK(unlink(path) == 0 && symlink(victim, path) == 0, "symlink entry");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "a symlinked entry (to a valid one) is not read");
  snprintf(other, sizeof other, "%s/victim.orig", root);
  CHECK(copy_file(victim, other), "copy");
  put(CONVCL_CACHE_PROGRAM, key_a_stale); /* different bytes than victim holds */
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "storing replaces a symlinked entry");
  CHECK(same_file(victim, other), "nothing is written through a symlinked entry");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1, "the replaced entry loads");

  const mode_t modes[] = {0620, 0602, 0666};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    CHECK(chmod(path, modes[i]) == 0, "chmod");
    CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "an entry of mode %o is not read",
          (unsigned)modes[i]);
    put(CONVCL_CACHE_PROGRAM, key_a);
    CHECK(lstat(path, &st) == 0 && (st.st_mode & 077) == 0, "it is replaced by a private one");
  }
  CHECK(chmod(path, 0644) == 0 && got(CONVCL_CACHE_PROGRAM, key_a) == 1,
        "an entry others may read but not write is read");
  if (give_to_nobody(path)) {
    CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "an entry owned by another user is not read");
    put(CONVCL_CACHE_PROGRAM, key_a);
    CHECK(lstat(path, &st) == 0 && st.st_uid == geteuid(), "it is replaced by one of ours");
  }
  CHECK(unlink(path) == 0 && mkfifo(path, 0600) == 0, "mkfifo");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "a FIFO entry is not read (and does not hang)");
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1, "a FIFO entry is replaced");
  CHECK(unlink(path) == 0 && mkdir(path, 0700) == 0, "mkdir");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "a directory entry is not read");
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(count_named(dir, ".tmp") == 0, "a failed rename leaves no temporary file");
  rmdir(path);

  setenv("CONVCL_CACHE", "0", 1);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_b) == 0, "CONVCL_CACHE=0 reads nothing");
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(file_size(path) < 0, "CONVCL_CACHE=0 writes nothing");
  unsetenv("CONVCL_CACHE");
}

/* The untrusted cache directory home/convcl (make_home's, then made untrusted), holding a
 * valid entry for key_a: neither read nor written. */
static void check_untrusted_dir(const char *home, const char *what) {
  char dir[700], path[1200];
  snprintf(dir, sizeof dir, "%s/convcl", home);
  use_cache_home(home);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "a valid entry in a %s directory is not read", what);
  put(CONVCL_CACHE_PROGRAM, key_b);
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_b, path, sizeof path);
  CHECK(file_size(path) < 0 && count_named(dir, ".tmp") == 0,
        "nothing is written to a %s directory", what);
}

/* home/convcl holding a valid entry for key_a, made in a trusted place first. */
static void make_home(const char *root, const char *name, char *home, size_t cap) {
  char dir[700], path[1200];
  snprintf(home, cap, "%s/%s", root, name);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  use_cache_home(home);
  put(CONVCL_CACHE_PROGRAM, key_a);
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_a, path, sizeof path);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1, "setup %s", name);
}

static void dir_checks(const char *root) {
  char home[600], dir[700], other[700];
  /* A symlink to a directory holding a valid entry. */
  make_home(root, "target", other, sizeof other);
  snprintf(home, sizeof home, "%s/linked", root);
  mkdir(home, 0700);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  strncat(other, "/convcl", sizeof other - strlen(other) - 1);
  CHECK(symlink(other, dir) == 0, "symlink");
  check_untrusted_dir(home, "symlinked");
  CHECK(count_named(other, ".bin") == 1, "nothing is written through a symlinked directory");

  const mode_t modes[] = {0770, 0707, 0730, 0703};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "mode%o", (unsigned)modes[i]);
    make_home(root, name, home, sizeof home);
    snprintf(dir, sizeof dir, "%s/convcl", home);
    CHECK(chmod(dir, modes[i]) == 0, "chmod");
    check_untrusted_dir(home, name);
  }
  make_home(root, "mode755", home, sizeof home);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  CHECK(chmod(dir, 0755) == 0, "chmod");
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 1, "a directory others may read but not write is used");

  make_home(root, "nobody", home, sizeof home);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  if (give_to_nobody(dir)) check_untrusted_dir(home, "another user's");

  /* Missing and uncreatable: no caching, no error, nothing made. */
  snprintf(home, sizeof home, "%s/missing/deeper", root);
  use_cache_home(home);
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "no cache under a missing parent");
  snprintf(dir, sizeof dir, "%s/missing", root);
  CHECK(file_size(dir) < 0, "a missing parent's parents are not made");
  snprintf(home, sizeof home, "%s/victim", root); /* a file */
  use_cache_home(home);
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "no cache under a file");
  use_cache_home("/proc/convcl-no-such-dir");
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "no cache where nothing can be made");
  const char *saved_home = getenv("HOME");
  char saved[1024] = "";
  if (saved_home) snprintf(saved, sizeof saved, "%s", saved_home);
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  put(CONVCL_CACHE_PROGRAM, key_a);
  CHECK(got(CONVCL_CACHE_PROGRAM, key_a) == 0, "no cache without HOME or XDG_CACHE_HOME");
  if (saved_home) setenv("HOME", saved, 1);
}

/* A read-only cache directory: read, never written, no error. As root, whom file modes
 * do not stop, the checks run in a child that became nobody (exiting SKIPPED where it
 * cannot). */
enum { SKIPPED = 3 };
static void readonly_checks(const char *root) {
  char home[600], dir[700], path[1200];
  make_home(root, "readonly", home, sizeof home);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  entry_file(dir, CONVCL_CACHE_PROGRAM, key_a, path, sizeof path);
  const int as_root = geteuid() == 0;
  if (as_root) {
    /* nobody must reach it: the root and home on the way, the directory and entry its. */
    CHECK(chmod(root, 0755) == 0 && chmod(home, 0755) == 0, "chmod");
    if (!give_to_nobody(dir) || !give_to_nobody(path)) return;
  }
  CHECK(chmod(dir, 0555) == 0, "chmod 0555");
  fflush(stdout);
  const pid_t pid = as_root ? fork() : 0;
  if (pid == 0) {
    if (as_root && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(SKIPPED);
    int bad = 0;
    bad += got(CONVCL_CACHE_PROGRAM, key_a) != 1;
    put(CONVCL_CACHE_PROGRAM, key_b);
    bad += got(CONVCL_CACHE_PROGRAM, key_b) != 0;
    bad += count_named(dir, ".tmp") != 0;
    /* End to end: a tuned plan measures, cannot store, and still runs right. */
    bad += !run_tuned("cpu", 1);
    bad += count_named(dir, ".tune") != 0;
    if (as_root) _exit(bad ? 1 : 0);
    CHECK(bad == 0, "a read-only directory is read, not written, and plans work");
  } else {
    int status = 0;
    const int waited = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status);
    if (waited && WEXITSTATUS(status) == SKIPPED)
      printf("cannot become another user: the read-only directory check is skipped\n");
    else
      CHECK(waited && WEXITSTATUS(status) == 0,
            "a read-only directory is read, not written, and plans work (as nobody: status %d)",
            status);
  }
  chmod(dir, 0700);
}

/* Processes filling one cache at once: every load is nothing or exactly the bytes
 * stored, and every store of every process ends in a loadable entry. */
enum { WRITERS = 6, ROUNDS = 300, SHARED_KEYS = 4 };

static int writer(int id) {
  int bad = 0;
  unsigned seed = 12345u + (unsigned)id;
  char key[64];
  for (int r = 0; r < ROUNDS; r++) {
    seed = seed * 1103515245u + 12345u;
    const int shared = (seed >> 8) % 3 != 0;
    const int which = (int)((seed >> 12) % (shared ? SHARED_KEYS : 3));
    snprintf(key, sizeof key, shared ? "shared %d" : "own %d %d", which, id);
    const convcl_cache_kind kind = (seed >> 20) & 1 ? CONVCL_CACHE_TUNING : CONVCL_CACHE_PROGRAM;
    if ((seed >> 16) & 1) put(kind, key);
    bad += got(kind, key) < 0;
  }
  /* After this process's own store, its entry is there (no other writer has that key). */
  snprintf(key, sizeof key, "own final %d", id);
  put(CONVCL_CACHE_PROGRAM, key);
  bad += got(CONVCL_CACHE_PROGRAM, key) != 1;
  return bad;
}

static void concurrency_checks(const char *root) {
  char home[600], dir[700], key[64];
  snprintf(home, sizeof home, "%s/concurrent", root);
  snprintf(dir, sizeof dir, "%s/convcl", home);
  mkdir(home, 0700);
  use_cache_home(home);
  fflush(stdout);
  pid_t pids[WRITERS];
  for (int i = 0; i < WRITERS; i++)
    if ((pids[i] = fork()) == 0) _exit(writer(i) ? 1 : 0);
  for (int i = 0; i < WRITERS; i++) {
    int status = 0;
    CHECK(pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0,
          "writer %d: every load was nothing or the right bytes (status %d)", i, status);
  }
  for (int i = 0; i < SHARED_KEYS; i++) {
    snprintf(key, sizeof key, "shared %d", i);
    CHECK(got(CONVCL_CACHE_PROGRAM, key) != -1 && got(CONVCL_CACHE_TUNING, key) != -1,
          "shared key %d holds the right bytes", i);
  }
  for (int i = 0; i < WRITERS; i++) {
    snprintf(key, sizeof key, "own final %d", i);
    CHECK(got(CONVCL_CACHE_PROGRAM, key) == 1, "writer %d's last entry is there", i);
  }
  CHECK(count_named(dir, ".tmp") == 0, "no temporary file is left");
}

static void store_checks(const char *root) {
  entry_checks(root);
  dir_checks(root);
  readonly_checks(root);
  concurrency_checks(root);
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

  /* Another library version's entry for the same problem, valid in every other way. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  CHECK(restamp(path, "convcl " CONVCL_VERSION_STRING " tuning", "convcl 0.0.0 tuning"), "restamp");
  check_rewritten(dir, 0, "a stale entry", "stale");

  /* Untrusted entries: writable by the group, another user's, a symlink to a valid one. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  CHECK(chmod(path, 0660) == 0, "chmod");
  check_rewritten(dir, 1, "a group-writable entry", "group-writable");
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[0]);
  if (give_to_nobody(path)) check_rewritten(dir, 0, "another user's entry", "another user's");
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  snprintf(other, sizeof other, "%s/tuning-victim", root);
  char saved[1000];
  snprintf(saved, sizeof saved, "%s/tuning-victim.orig", root);
  CHECK(copy_file(path, other) && copy_file(path, saved) && unlink(path) == 0 &&
            symlink(other, path) == 0,
        "symlink entry");
  check_rewritten(dir, 1, "a symlinked entry", "symlinked");
  CHECK(same_file(other, saved), "nothing is written through a symlinked entry");
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

  /* Stale: the entry as another library version would have written it for the same
   * program, valid in every other way. */
  list_entries(dir, &first);
  snprintf(path, sizeof path, "%s/%s", dir, first.name[1]);
  CHECK(restamp(path, "convcl " CONVCL_VERSION_STRING "\n", "convcl 0.0.0\n"), "restamp");
  check_rebuilt(dir, 1, "stale");

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
  const char *mode = argc > 1 ? argv[1] : "programs";
  const int tuning = strcmp(mode, "tuning") == 0, store = strcmp(mode, "store") == 0;
  if (!tuning && !store) {
    convcl_context *probe;
    const int rc = tu_open_context("opencl", &probe);
    if (rc != 0) return rc;
    convcl_context_destroy(probe);
  }
  char root[] = "/tmp/convcl-cache-test-XXXXXX";
  if (!mkdtemp(root)) return 1;
  if (store)
    store_checks(root);
  else if (tuning)
    tuning_checks(root);
  else
    program_checks(root);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
  printf("%d passed, %d failed\n", tu_passed, tu_failed);
  return tu_failed ? 1 : 0;
}
