/* .npy reading and atomic writing (NumPy format versions 1.0 to 3.0, float32 only). */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* NumPy itself refuses headers over 10000 bytes by default; this is looser but
 * still keeps a hostile header length from becoming a huge allocation. */
#define NPY_MAX_HEADER (1u << 20)

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
npy_fail(const char *path, char *err, size_t errcap, const char *fmt, ...) {
  char detail[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (err != NULL && errcap > 0)
    snprintf(err, errcap, "%s: %s", path != NULL ? path : "(null)", detail);
  return -1;
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* .npy data is little-endian; on a big-endian host every element is swapped. */
static void swap_bytes32(void *data, size_t count) {
  unsigned char *b = data;
  for (size_t i = 0; i < count; i++, b += 4) {
    unsigned char t0 = b[0], t1 = b[1];
    b[0] = b[3];
    b[1] = b[2];
    b[2] = t1;
    b[3] = t0;
  }
}

/* Elements and bytes of a shape, or -1 when either overflows. */
static int shape_bytes(const int64_t *dims, int ndim, size_t *count_out, size_t *bytes_out) {
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0 || (uint64_t)dims[i] > SIZE_MAX) return -1;
    if (dims[i] != 0 && count > SIZE_MAX / (size_t)dims[i]) return -1;
    count *= (size_t)dims[i];
  }
  if (count > SIZE_MAX / sizeof(float) || count > (size_t)INT64_MAX / sizeof(float)) return -1;
  *count_out = count;
  *bytes_out = count * sizeof(float);
  return 0;
}

/* ---- Header dictionary ------------------------------------------------------------
 * The header is a Python dict literal as numpy writes it:
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * parsed here with exactly the syntax that literal can have. */

typedef struct hdr_cursor {
  const char *p, *end;
} hdr_cursor;

typedef struct npy_header {
  const char *descr; /* into the header text */
  size_t descr_len;
  int fortran_order;
  convcl_shape shape;
  int have_descr, have_fortran, have_shape;
} npy_header;

static void hdr_skip_space(hdr_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hdr_eat(hdr_cursor *c, char ch) {
  hdr_skip_space(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

static int hdr_word(hdr_cursor *c, const char *word) {
  size_t n = strlen(word);
  hdr_skip_space(c);
  if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
    c->p += n;
    return 1;
  }
  return 0;
}

static int hdr_string(hdr_cursor *c, const char **s, size_t *len) {
  hdr_skip_space(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
  char q = *c->p++;
  const char *start = c->p;
  while (c->p < c->end && *c->p != q) c->p++;
  if (c->p >= c->end) return -1;
  *s = start;
  *len = (size_t)(c->p - start);
  c->p++;
  return 0;
}

static int hdr_shape(hdr_cursor *c, convcl_shape *shape, const char *path, char *err,
                     size_t errcap) {
  int n = 0;
  if (!hdr_eat(c, '('))
    return npy_fail(path, err, errcap, "malformed header: 'shape' is not a tuple");
  while (!hdr_eat(c, ')')) {
    uint64_t v = 0;
    hdr_skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
      return npy_fail(path, err, errcap,
                      "malformed header: 'shape' holds something other than sizes");
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
      unsigned d = (unsigned)(*c->p - '0');
      if (v > ((uint64_t)INT64_MAX - d) / 10)
        return npy_fail(path, err, errcap, "a size in the header's shape overflows");
      v = v * 10 + d;
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs in old files */
    if (n >= CONVCL_MAX_DIMS)
      return npy_fail(path, err, errcap, "more than %d dimensions: convcl reads at most %d",
                      CONVCL_MAX_DIMS, CONVCL_MAX_DIMS);
    shape->dims[n++] = (int64_t)v;
    if (!hdr_eat(c, ',')) {
      if (!hdr_eat(c, ')'))
        return npy_fail(path, err, errcap, "malformed header: bad 'shape' tuple");
      break;
    }
  }
  shape->ndim = n;
  return 0;
}

static int parse_header(const char *text, size_t len, npy_header *h, const char *path, char *err,
                        size_t errcap) {
  hdr_cursor c = {text, text + len};
  memset(h, 0, sizeof *h);
  if (!hdr_eat(&c, '{')) return npy_fail(path, err, errcap, "malformed header: no dictionary");
  while (!hdr_eat(&c, '}')) {
    const char *key;
    size_t key_len;
    if (hdr_string(&c, &key, &key_len) != 0 || !hdr_eat(&c, ':'))
      return npy_fail(path, err, errcap, "malformed header: expected 'key': value");
    if (key_len == 5 && memcmp(key, "descr", 5) == 0 && !h->have_descr) {
      hdr_skip_space(&c);
      if (c.p < c.end && *c.p == '[')
        return npy_fail(path, err, errcap,
                        "structured dtypes are not supported: convcl reads little-endian float32 "
                        "('<f4')");
      if (hdr_string(&c, &h->descr, &h->descr_len) != 0)
        return npy_fail(path, err, errcap, "malformed header: 'descr' is not a string");
      h->have_descr = 1;
    } else if (key_len == 13 && memcmp(key, "fortran_order", 13) == 0 && !h->have_fortran) {
      if (hdr_word(&c, "True"))
        h->fortran_order = 1;
      else if (!hdr_word(&c, "False"))
        return npy_fail(path, err, errcap,
                        "malformed header: 'fortran_order' is not True or False");
      h->have_fortran = 1;
    } else if (key_len == 5 && memcmp(key, "shape", 5) == 0 && !h->have_shape) {
      if (hdr_shape(&c, &h->shape, path, err, errcap) != 0) return -1;
      h->have_shape = 1;
    } else {
      return npy_fail(path, err, errcap, "malformed header: unexpected or repeated key '%.*s'",
                      (int)(key_len > 40 ? 40 : key_len), key);
    }
    if (!hdr_eat(&c, ',')) {
      if (!hdr_eat(&c, '}'))
        return npy_fail(path, err, errcap, "malformed header: expected ',' or '}'");
      break;
    }
  }
  hdr_skip_space(&c);
  if (c.p != c.end)
    return npy_fail(path, err, errcap, "malformed header: text after the dictionary");
  if (!h->have_descr || !h->have_fortran || !h->have_shape)
    return npy_fail(path, err, errcap,
                    "malformed header: it needs 'descr', 'fortran_order' and 'shape'");
  return 0;
}

static int descr_supported(const npy_header *h) {
  if (h->descr_len != 3) return 0;
  if (memcmp(h->descr, "<f4", 3) == 0) return 1;
  return memcmp(h->descr, "=f4", 3) == 0 && host_is_little_endian();
}

/* Fortran order is only a different layout when two or more dims exceed 1. */
static int layout_is_c_order(const npy_header *h) {
  int big = 0;
  for (int i = 0; i < h->shape.ndim; i++) big += h->shape.dims[i] > 1;
  return !h->fortran_order || big <= 1;
}

/* Checks a whole .npy image and finds its array: everything npy_read and
 * npy_read_memory accept goes through here, so fuzzing this covers both. */
static int npy_decode(const unsigned char *bytes, size_t len, const char *name, convcl_shape *shape,
                      size_t *data_offset, size_t *count, char *err, size_t errcap) {
  npy_header h;
  size_t bytes_needed = 0, header_len, prefix_len;
  if (len < 8 || memcmp(bytes, npy_magic, sizeof npy_magic) != 0)
    return npy_fail(name, err, errcap, "not a .npy file (it does not start with \\x93NUMPY)");
  if ((bytes[6] < 1 || bytes[6] > 3) || bytes[7] != 0)
    return npy_fail(name, err, errcap,
                    ".npy format version %u.%u is not supported (1.0 to 3.0 are)", bytes[6],
                    bytes[7]);
  prefix_len = bytes[6] == 1 ? 10 : 12;
  if (len < prefix_len) return npy_fail(name, err, errcap, "truncated header");
  if (bytes[6] == 1)
    header_len = (size_t)bytes[8] | (size_t)bytes[9] << 8;
  else
    header_len = (size_t)bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 |
                 (size_t)bytes[11] << 24;
  if (header_len > NPY_MAX_HEADER)
    return npy_fail(name, err, errcap, "header of %zu bytes is too large", header_len);
  if (len - prefix_len < header_len) return npy_fail(name, err, errcap, "truncated header");
  if (parse_header((const char *)bytes + prefix_len, header_len, &h, name, err, errcap) != 0)
    return -1;
  if (!descr_supported(&h))
    return npy_fail(name, err, errcap,
                    "dtype '%.*s' is not supported: convcl reads little-endian float32 ('<f4')",
                    (int)(h.descr_len > 40 ? 40 : h.descr_len), h.descr);
  if (!layout_is_c_order(&h))
    return npy_fail(
        name, err, errcap,
        "fortran_order is True: convcl reads C-order arrays (save np.ascontiguousarray(x))");
  if (shape_bytes(h.shape.dims, h.shape.ndim, count, &bytes_needed) != 0)
    return npy_fail(name, err, errcap, "the header's shape is too large");
  const size_t offset = prefix_len + header_len, data_have = len - offset;
  if (data_have < bytes_needed)
    return npy_fail(name, err, errcap,
                    "truncated: the shape needs %zu bytes of data, but the file holds %zu",
                    bytes_needed, data_have);
  if (data_have > bytes_needed)
    return npy_fail(name, err, errcap, "%zu bytes of unexpected data after the array",
                    data_have - bytes_needed);
  *shape = h.shape;
  *data_offset = offset;
  return 0;
}

int npy_read_memory(const void *bytes, size_t len, const char *name, convcl_shape *shape,
                    float **data, char *err, size_t errcap) {
  size_t offset = 0, count = 0;
  convcl_shape s;
  if (err != NULL && errcap > 0) err[0] = '\0';
  if (bytes == NULL || shape == NULL || data == NULL)
    return npy_fail(name, err, errcap, "no data given");
  if (npy_decode(bytes, len, name, &s, &offset, &count, err, errcap) != 0) return -1;
  float *values = malloc(count > 0 ? count * sizeof(float) : 1);
  if (values == NULL)
    return npy_fail(name, err, errcap, "out of memory for %zu bytes", count * sizeof(float));
  memcpy(values, (const unsigned char *)bytes + offset, count * sizeof(float));
  if (!host_is_little_endian()) swap_bytes32(values, count);
  *shape = s;
  *data = values;
  return 0;
}

/* Reads all of f into a malloc'd buffer; size_hint (the size of a regular file) makes
 * that one read instead of a doubling series. */
static int read_all(FILE *f, size_t size_hint, unsigned char **buf_out, size_t *len_out) {
  size_t cap = size_hint + 1, len = 0;
  unsigned char *buf = malloc(cap);
  if (buf == NULL) return -1;
  for (;;) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) break;
    if (cap > SIZE_MAX / 2) {
      free(buf);
      return -1;
    }
    unsigned char *grown = realloc(buf, cap * 2);
    if (grown == NULL) {
      free(buf);
      return -1;
    }
    buf = grown;
    cap *= 2;
  }
  if (ferror(f)) {
    free(buf);
    return -1;
  }
  *buf_out = buf;
  *len_out = len;
  return 0;
}

int npy_read(const char *path, convcl_shape *shape, float **data, char *err, size_t errcap) {
  FILE *f = NULL;
  unsigned char *buf = NULL;
  struct stat st;
  convcl_shape s;
  size_t len = 0, offset = 0, count = 0;
  int rc = -1;

  if (err != NULL && errcap > 0) err[0] = '\0';
  if (path == NULL || shape == NULL || data == NULL)
    return npy_fail(path, err, errcap, "no file given");
  f = fopen(path, "rb");
  if (f == NULL) {
    npy_fail(path, err, errcap, "%s", strerror(errno));
    goto cleanup;
  }
  if (fstat(fileno(f), &st) != 0) {
    npy_fail(path, err, errcap, "%s", strerror(errno));
    goto cleanup;
  }
  if (S_ISDIR(st.st_mode)) {
    npy_fail(path, err, errcap, "is a directory, not a .npy file");
    goto cleanup;
  }
  /* The file's own size bounds the allocation, so a forged shape cannot ask for more. */
  const size_t hint =
      S_ISREG(st.st_mode) && (uint64_t)st.st_size < SIZE_MAX / 2 ? (size_t)st.st_size : 4096;
  if (read_all(f, hint, &buf, &len) != 0) {
    npy_fail(path, err, errcap, "read error or out of memory");
    goto cleanup;
  }
  if (npy_decode(buf, len, path, &s, &offset, &count, err, errcap) != 0) goto cleanup;
  /* The array moves to the front of the buffer it was read into: no second copy. */
  memmove(buf, buf + offset, count * sizeof(float));
  if (!host_is_little_endian()) swap_bytes32(buf, count);
  *shape = s;
  *data = (float *)buf;
  buf = NULL;
  rc = 0;

cleanup:
  free(buf);
  if (f != NULL) fclose(f);
  return rc;
}

/* ---- Writing -------------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len) {
  const unsigned char *b = buf;
  while (len > 0) {
    /* Bounded chunks: some systems reject single writes of 2 GiB or more. */
    size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
    ssize_t n = write(fd, b, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

static int write_data(int fd, const float *data, size_t count) {
  if (host_is_little_endian()) return write_all(fd, data, count * sizeof(float));
  uint32_t chunk[1024];
  for (size_t i = 0; i < count;) {
    size_t n = count - i < 1024 ? count - i : 1024;
    memcpy(chunk, data + i, n * sizeof(float));
    swap_bytes32(chunk, n);
    if (write_all(fd, chunk, n * sizeof(float)) != 0) return -1;
    i += n;
  }
  return 0;
}

/* Version 1.0 header: magic, version, length, the dict padded with spaces and a
 * final newline so the data starts at a multiple of 64 bytes. Returns the length,
 * or 0 when it would not fit cap (it always does for at most 5 dims). */
static size_t format_header(const convcl_shape *shape, char *buf, size_t cap) {
  size_t len = 10;
  int n = snprintf(buf + len, cap - len, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  if (n < 0 || (size_t)n >= cap - len) return 0;
  len += (size_t)n;
  for (int i = 0; i < shape->ndim; i++) {
    n = snprintf(buf + len, cap - len, "%s%" PRId64, i > 0 ? ", " : "", shape->dims[i]);
    if (n < 0 || (size_t)n >= cap - len) return 0;
    len += (size_t)n;
  }
  n = snprintf(buf + len, cap - len, "%s), }", shape->ndim == 1 ? "," : "");
  if (n < 0 || (size_t)n >= cap - len) return 0;
  len += (size_t)n;
  size_t total = (len + 1 + 63) / 64 * 64;
  if (total > cap || total - 10 > 0xffff) return 0;
  memset(buf + len, ' ', total - 1 - len);
  buf[total - 1] = '\n';
  memcpy(buf, npy_magic, sizeof npy_magic);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (char)((total - 10) & 0xff);
  buf[9] = (char)((total - 10) >> 8);
  return total;
}

int npy_write(const char *path, const convcl_shape *shape, const float *data, char *err,
              size_t errcap) {
  char header[320];
  char *tmp = NULL;
  int fd = -1, rc = -1, close_rc;
  size_t count = 0, bytes = 0, header_len;

  if (err != NULL && errcap > 0) err[0] = '\0';
  if (path == NULL || shape == NULL) return npy_fail(path, err, errcap, "no file given");
  if (shape->ndim < 0 || shape->ndim > CONVCL_MAX_DIMS)
    return npy_fail(path, err, errcap, "cannot write %d dimensions", shape->ndim);
  if (shape_bytes(shape->dims, shape->ndim, &count, &bytes) != 0)
    return npy_fail(path, err, errcap, "invalid or too large shape");
  if (data == NULL && count > 0) return npy_fail(path, err, errcap, "no data given");
  header_len = format_header(shape, header, sizeof header);
  if (header_len == 0) return npy_fail(path, err, errcap, "header does not fit");

  size_t tmp_cap = strlen(path) + 64;
  tmp = malloc(tmp_cap);
  if (tmp == NULL) return npy_fail(path, err, errcap, "out of memory");
  /* O_EXCL with a fresh name per try: never clobbers another writer's temporary,
   * and mode 0666 lets the umask decide the final permissions as for any file. */
  for (unsigned attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, tmp_cap, "%s.tmp-%ld-%u", path, (long)getpid(), attempt);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    npy_fail(path, err, errcap, "cannot create a temporary file beside it: %s", strerror(errno));
    free(tmp);
    return -1;
  }
  if (write_all(fd, header, header_len) != 0 || write_data(fd, data, count) != 0) {
    npy_fail(path, err, errcap, "write failed: %s", strerror(errno));
    goto cleanup;
  }
  if (fsync(fd) != 0) {
    npy_fail(path, err, errcap, "fsync failed: %s", strerror(errno));
    goto cleanup;
  }
  close_rc = close(fd);
  fd = -1;
  if (close_rc != 0) {
    npy_fail(path, err, errcap, "close failed: %s", strerror(errno));
    goto cleanup;
  }
  if (rename(tmp, path) != 0) {
    npy_fail(path, err, errcap, "cannot replace it: %s", strerror(errno));
    goto cleanup;
  }
  rc = 0;

cleanup:
  if (fd >= 0) close(fd);
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}
