/* The on-disk cache: $XDG_CACHE_HOME/convcl (else ~/.cache/convcl), shared by the
 * OpenCL program binaries and the tuning choices, each kind with its own file suffix
 * and magic so neither ever reads the other's entries.
 *
 * An entry is named by a hash of its key and holds the full key text and a checksum,
 * so a truncated, corrupt, foreign or stale (another library version's: the version is
 * part of every key) entry is detected and ignored (the caller then rebuilds or
 * re-measures and stores it again), never used. Entries are written to a temporary
 * file of a unique name and renamed into place, so readers never see half an entry
 * and concurrent writers, threads or processes, both succeed (the last rename wins;
 * both wrote the same key, so either entry is right). There is no fsync: a crash can
 * leave an entry short or zero-filled, which its length and checksum reject like any
 * other damage, and a flush on every program build would cost more than a rebuild.
 *
 * Trust: the cache directory must be a real directory (not a symlink), owned by this
 * user and writable by nobody else, neither group nor others: anyone who can write an
 * entry can forge its checksum, and a program binary runs on the device, so the bar is
 * the user's own files (a group-writable directory is refused even under per-user
 * groups: convcl made it 0700, so the bits were widened on purpose). The checks are
 * made on the opened directory's descriptor, and every entry is then opened and
 * renamed through it (openat, renameat), so a directory swapped after the check is
 * never used. An entry must likewise be a regular file, not a symlink (O_NOFOLLOW),
 * owned by this user and writable only by it, checked with fstat on the opened file;
 * an untrusted entry is never read, and storing replaces its name with a fresh file
 * instead of writing into it. A read-only, missing or uncreatable directory, or
 * CONVCL_CACHE=0, means no caching (a read-only one is still read); no failure here
 * is ever an error. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct cache_kind_info {
  char magic[8];
  const char *suffix;
} cache_kind_info;

/* Program entries keep the format and names they had before tuning entries existed,
 * so caches already on disk stay valid. */
static const cache_kind_info kinds[] = {
    [CONVCL_CACHE_PROGRAM] = {{'C', 'O', 'N', 'V', 'C', 'L', 'B', '1'}, "bin"},
    [CONVCL_CACHE_TUNING] = {{'C', 'O', 'N', 'V', 'C', 'L', 'T', '1'}, "tune"},
};

/* Magic, then key length, data length and checksum. */
enum { HEADER_BYTES = 8 + 3 * 8 };

/* Entry and temporary file names: "<16 hex>.<suffix>[.<pid>.<n>.tmp]". */
enum { NAME_MAX_BYTES = 96 };

uint64_t convcl_hash(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static int cache_enabled(void) {
  const char *env = getenv("CONVCL_CACHE");
  return !(env && strcmp(env, "0") == 0);
}

/* Ours and writable by nobody else. */
static int trusted(const struct stat *st) {
  return st->st_uid == geteuid() && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The cache directory, opened (created 0700 when missing), or -1 when there is no
 * usable, trusted one. */
static int open_cache_dir(void) {
  if (!cache_enabled()) return -1;
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  char parent[4096], dir[4200];
  if (xdg && xdg[0] == '/')
    snprintf(parent, sizeof parent, "%s", xdg);
  else if (home && home[0] == '/')
    snprintf(parent, sizeof parent, "%s/.cache", home);
  else
    return -1;
  if ((size_t)snprintf(dir, sizeof dir, "%s/convcl", parent) >= sizeof dir) return -1;
  /* Failures surface in the open below: a missing directory, or one we cannot use. */
  mkdir(parent, 0700);
  mkdir(dir, 0700);
  const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || !trusted(&st))) {
    close(fd);
    return -1;
  }
  return fd;
}

static void entry_name(convcl_cache_kind kind, const char *key, char name[NAME_MAX_BYTES]) {
  const unsigned long long h = convcl_hash(CONVCL_HASH_INIT, key, strlen(key));
  snprintf(name, NAME_MAX_BYTES, "%016llx.%s", h, kinds[kind].suffix);
}

static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    p += w;
    n -= (size_t)w;
  }
  return 1;
}

static uint64_t checksum(const char *key, size_t key_len, const void *data, size_t len) {
  return convcl_hash(convcl_hash(CONVCL_HASH_INIT, key, key_len), data, len);
}

/* The entry's data when the open file fd is a trusted entry of kind for key. */
static void *read_entry(int fd, convcl_cache_kind kind, const char *key, size_t *len) {
  const size_t key_len = strlen(key);
  struct stat st;
  unsigned char header[HEADER_BYTES];
  uint64_t lens[3];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !trusted(&st) ||
      !read_all(fd, header, sizeof header) ||
      memcmp(header, kinds[kind].magic, sizeof kinds[kind].magic) != 0)
    return NULL;
  memcpy(lens, header + sizeof kinds[kind].magic, sizeof lens);
  /* Each length alone is below the file size, so the sum cannot wrap. */
  if (lens[0] != key_len || lens[1] == 0 || lens[1] > (uint64_t)st.st_size ||
      (uint64_t)st.st_size != HEADER_BYTES + lens[0] + lens[1])
    return NULL;
  char *stored_key = malloc(key_len ? key_len : 1);
  unsigned char *data = malloc(lens[1]);
  if (!stored_key || !data || !read_all(fd, stored_key, key_len) ||
      memcmp(stored_key, key, key_len) != 0 || !read_all(fd, data, lens[1]) ||
      checksum(stored_key, key_len, data, lens[1]) != lens[2]) {
    free(stored_key);
    free(data);
    return NULL;
  }
  free(stored_key);
  *len = lens[1];
  return data;
}

void *convcl_diskcache_load(convcl_cache_kind kind, const char *key, size_t *len) {
  const int dir = open_cache_dir();
  if (dir < 0) return NULL;
  char name[NAME_MAX_BYTES];
  entry_name(kind, key, name);
  /* O_NONBLOCK: a FIFO in an entry's place must not hang the open; fstat rejects it. */
  const int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  close(dir);
  if (fd < 0) return NULL;
  void *data = read_entry(fd, kind, key, len);
  close(fd);
  return data;
}

void convcl_diskcache_store(convcl_cache_kind kind, const char *key, const void *data, size_t len) {
  static atomic_uint counter;
  if (len == 0) return;
  const int dir = open_cache_dir();
  if (dir < 0) return;
  char name[NAME_MAX_BYTES], tmp[NAME_MAX_BYTES + 48];
  entry_name(kind, key, name);
  /* A name no other writer uses: this process's id and a per-process counter; one left
   * by a crashed process of the same id is skipped. */
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 8; tries++) {
    snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", name, (long)getpid(), atomic_fetch_add(&counter, 1));
    fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    close(dir);
    return;
  }
  const size_t key_len = strlen(key);
  unsigned char header[HEADER_BYTES];
  const uint64_t lens[3] = {key_len, len, checksum(key, key_len, data, len)};
  memcpy(header, kinds[kind].magic, sizeof kinds[kind].magic);
  memcpy(header + sizeof kinds[kind].magic, lens, sizeof lens);
  const int ok = write_all(fd, header, sizeof header) && write_all(fd, key, key_len) &&
                 write_all(fd, data, len);
  if (close(fd) != 0 || !ok || renameat(dir, tmp, dir, name) != 0) unlinkat(dir, tmp, 0);
  close(dir);
}
