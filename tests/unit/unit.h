/* unit.h — minimal TAP-style checks for the C unit tests.
 * Each check prints "ok - NAME" or "not ok - NAME"; tests/run.sh counts
 * them. main() returns unit_done(), non-zero when any check failed. */
#ifndef PL_UNIT_H
#define PL_UNIT_H

#include <stdio.h>

static int unit_failed_ = 0;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (cond) {                                                          \
            printf("ok - ");                                                 \
        } else {                                                             \
            printf("not ok - ");                                             \
            unit_failed_++;                                                  \
        }                                                                    \
        printf(__VA_ARGS__);                                                 \
        if (!(cond))                                                         \
            printf("  [%s:%d: %s]", __FILE__, __LINE__, #cond);              \
        printf("\n");                                                        \
        fflush(stdout);                                                      \
    } while (0)

static inline int unit_done(void) { return unit_failed_ ? 1 : 0; }

#endif
