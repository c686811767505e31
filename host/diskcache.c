/* The on-disk cache: $XDG_CACHE_HOME/convcl (else ~/.cache/convcl), shared by the
 * OpenCL program binaries and the tuning choices, each kind with its own file suffix
 * and magic so neither ever reads the other's entries.
 *
 * An entry is named by a hash of its key and holds the full key text and a checksum,
 * so a truncated, corrupt, foreign or stale entry is detected and ignored (the caller
 * then rebuilds or re-measures and stores it again), never used. Entries are written
 * to a temporary file and renamed into place, so readers never see half an entry and
 * concurrent writers both succeed. A cache directory or entry that is a symlink,
 * belongs to another user or is writable by others is not trusted: the cache is then
 * simply not used. CONVCL_CACHE=0 turns it off. Every failure here degrades to
 * working without the cache; none is an error. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
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

uint64_t convcl_hash(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static int cache_enabled(void) {
  const char *env = getenv("CONVCL_CACHE");
  return !(env && strcmp(env, "0") == 0);
}

/* A directory we may trust: a real directory (not a symlink), ours, and writable by
 * nobody else. */
static int trusted_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Writes the cache directory's path to dir, creating it (0700) when missing. Returns
 * 0 when there is no usable, trusted directory. */
static int cache_dir(char *dir, size_t cap) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  char parent[4096];
  if (xdg && xdg[0] == '/')
    snprintf(parent, sizeof parent, "%s", xdg);
  else if (home && home[0] == '/')
    snprintf(parent, sizeof parent, "%s/.cache", home);
  else
    return 0;
  if ((size_t)snprintf(dir, cap, "%s/convcl", parent) >= cap) return 0;
  if (mkdir(parent, 0700) != 0 && errno != EEXIST) return 0;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return 0;
  return trusted_dir(dir);
}

static int entry_path(convcl_cache_kind kind, const char *key, char *path, size_t cap) {
  char dir[4096];
  if (!cache_enabled() || !cache_dir(dir, sizeof dir)) return 0;
  const unsigned long long h = convcl_hash(CONVCL_HASH_INIT, key, strlen(key));
  return (size_t)snprintf(path, cap, "%s/%016llx.%s", dir, h, kinds[kind].suffix) < cap;
}

static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return 0;
    p += w;
    n -= (size_t)w;
  }
  return 1;
}

static uint64_t checksum(const char *key, size_t key_len, const void *data, size_t len) {
  return convcl_hash(convcl_hash(CONVCL_HASH_INIT, key, key_len), data, len);
}

void *convcl_diskcache_load(convcl_cache_kind kind, const char *key, size_t *len) {
  char path[4200];
  if (!entry_path(kind, key, path, sizeof path)) return NULL;
  unsigned char *data = NULL;
  char *stored_key = NULL;
  const size_t key_len = strlen(key);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  unsigned char header[HEADER_BYTES];
  uint64_t lens[3];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) || !read_all(fd, header, sizeof header) ||
      memcmp(header, kinds[kind].magic, sizeof kinds[kind].magic) != 0)
    goto fail;
  memcpy(lens, header + sizeof kinds[kind].magic, sizeof lens);
  if (lens[0] != key_len || lens[1] == 0 || lens[1] > (uint64_t)st.st_size ||
      (uint64_t)st.st_size != HEADER_BYTES + lens[0] + lens[1])
    goto fail;
  stored_key = malloc(key_len);
  data = malloc(lens[1]);
  if (!stored_key || !data || !read_all(fd, stored_key, key_len) ||
      memcmp(stored_key, key, key_len) != 0 || !read_all(fd, data, lens[1]) ||
      checksum(stored_key, key_len, data, lens[1]) != lens[2])
    goto fail;
  free(stored_key);
  close(fd);
  *len = lens[1];
  return data;

fail:
  free(stored_key);
  free(data);
  close(fd);
  return NULL;
}

void convcl_diskcache_store(convcl_cache_kind kind, const char *key, const void *data, size_t len) {
  char path[4200], tmp[4300];
  if (len == 0 || !entry_path(kind, key, path, sizeof path)) return;
  const size_t key_len = strlen(key);
  unsigned char header[HEADER_BYTES];
  const uint64_t lens[3] = {key_len, len, checksum(key, key_len, data, len)};
  memcpy(header, kinds[kind].magic, sizeof kinds[kind].magic);
  memcpy(header + sizeof kinds[kind].magic, lens, sizeof lens);
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) return;
  const int ok = write_all(fd, header, sizeof header) && write_all(fd, key, key_len) &&
                 write_all(fd, data, len);
  if (close(fd) != 0 || !ok || rename(tmp, path) != 0) unlink(tmp);
}
