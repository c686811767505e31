/* CHECK for the unit tests: counts, and when a check fails says where and why. */
#ifndef CONVCL_TEST_CHECK_H
#define CONVCL_TEST_CHECK_H

#include <stdio.h>

/* A test ends by printing "N passed, M failed" from these counters. */
static int tu_passed, tu_failed;

#define CHECK(cond, ...)                                     \
  do {                                                       \
    if (cond) {                                              \
      tu_passed++;                                           \
    } else {                                                 \
      tu_failed++;                                           \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      printf(__VA_ARGS__);                                   \
      printf("\n");                                          \
    }                                                        \
  } while (0)

#endif
