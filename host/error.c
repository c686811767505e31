/* Status strings and the per-thread error message. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *convcl_status_string(convcl_status status) {
  switch (status) {
#define CONVCL_STATUS_CASE_(name, value, text) \
  case CONVCL_##name:                          \
    return text;
    CONVCL_STATUS_MAP(CONVCL_STATUS_CASE_)
#undef CONVCL_STATUS_CASE_
  }
  return "unknown status";
}

const char *convcl_last_error(void) { return last_error; }

convcl_status convcl_error(convcl_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

void convcl_error_clear(void) { last_error[0] = '\0'; }

void convcl_strlcpy(char *dst, const char *src, size_t cap) {
  if (cap == 0) return;
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}
