/* The on-disk program binary cache: $XDG_CACHE_HOME/convcl (else ~/.cache/convcl).
 *
 * An entry is named by a hash of its key (library version, platform, device, driver,
 * build options and a hash of the sources) and holds the full key text and a
 * checksum, so a truncated, corrupt, foreign or stale entry is detected and rebuilt,
 * never loaded. Entries are written to a temporary file and renamed into place, so
 * readers never see half an entry and concurrent writers both succeed. A cache
 * directory or entry that is a symlink, belongs to another user or is writable by
 * others is not trusted: the cache is then simply not used. CONVCL_CACHE=0 turns it
 * off. Every failure here degrades to building from source; none is an error. */
#include "opencl/opencl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char entry_magic[8] = {'C', 'O', 'N', 'V', 'C', 'L', 'B', '1'};
enum { HEADER_BYTES = 8 + 3 * 8 };

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

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

void convcl_cl_cache_key(const convcl_opencl_state *cl, const char *const *sources, int count,
                         const char *options, char *key, size_t cap) {
  uint64_t h = FNV_INIT;
  for (int i = 0; i < count; i++) h = fnv1a(h, sources[i], strlen(sources[i]) + 1);
  snprintf(key, cap,
           "convcl %s\nplatform %s\ndevice %s\nversion %s\ndriver %s\ncompute units %d\n"
           "options %s\nsource %016llx\n",
           CONVCL_VERSION, cl->info.platform, cl->info.name, cl->info.version, cl->info.driver,
           cl->info.compute_units, options, (unsigned long long)h);
}

static int entry_path(const char *key, char *path, size_t cap) {
  char dir[4096];
  if (!cache_enabled() || !cache_dir(dir, sizeof dir)) return 0;
  const unsigned long long h = fnv1a(FNV_INIT, key, strlen(key));
  return (size_t)snprintf(path, cap, "%s/%016llx.bin", dir, h) < cap;
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

/* The entry's binary when the file is exactly what store wrote for this key. */
static unsigned char *read_entry(const char *path, const char *key, size_t *bin_len) {
  unsigned char *bin = NULL;
  char *stored_key = NULL;
  const size_t key_len = strlen(key);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  unsigned char header[HEADER_BYTES];
  uint64_t lens[3];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) || !read_all(fd, header, sizeof header) ||
      memcmp(header, entry_magic, sizeof entry_magic) != 0)
    goto fail;
  memcpy(lens, header + sizeof entry_magic, sizeof lens);
  if (lens[0] != key_len || lens[1] == 0 || lens[1] > (uint64_t)st.st_size ||
      (uint64_t)st.st_size != HEADER_BYTES + lens[0] + lens[1])
    goto fail;
  stored_key = malloc(key_len);
  bin = malloc(lens[1]);
  if (!stored_key || !bin || !read_all(fd, stored_key, key_len) ||
      memcmp(stored_key, key, key_len) != 0 || !read_all(fd, bin, lens[1]) ||
      fnv1a(fnv1a(FNV_INIT, stored_key, key_len), bin, lens[1]) != lens[2])
    goto fail;
  free(stored_key);
  close(fd);
  *bin_len = lens[1];
  return bin;

fail:
  free(stored_key);
  free(bin);
  close(fd);
  return NULL;
}

cl_program convcl_cl_cache_load(const convcl_opencl_state *cl, const char *key,
                                const char *options) {
  char path[4200];
  size_t len;
  if (!entry_path(key, path, sizeof path)) return NULL;
  unsigned char *bin = read_entry(path, key, &len);
  if (!bin) return NULL;
  cl_int err, binary_status;
  const unsigned char *bins[1] = {bin};
  cl_program program =
      clCreateProgramWithBinary(cl->context, 1, &cl->device, &len, bins, &binary_status, &err);
  free(bin);
  if (err != CL_SUCCESS) return NULL;
  if (binary_status != CL_SUCCESS ||
      clBuildProgram(program, 1, &cl->device, options, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(program);
    return NULL;
  }
  return program;
}

void convcl_cl_cache_store(cl_program program, const char *key) {
  char path[4200], tmp[4300];
  size_t len = 0;
  if (!entry_path(key, path, sizeof path)) return;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS ||
      len == 0)
    return;
  unsigned char *bin = malloc(len);
  unsigned char *bins[1] = {bin};
  if (!bin ||
      clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) {
    free(bin);
    return;
  }
  const size_t key_len = strlen(key);
  unsigned char header[HEADER_BYTES];
  const uint64_t lens[3] = {key_len, len, fnv1a(fnv1a(FNV_INIT, key, key_len), bin, len)};
  memcpy(header, entry_magic, sizeof entry_magic);
  memcpy(header + sizeof entry_magic, lens, sizeof lens);
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd >= 0) {
    const int ok = write_all(fd, header, sizeof header) && write_all(fd, key, key_len) &&
                   write_all(fd, bin, len);
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) unlink(tmp);
  }
  free(bin);
}
