/* parse.h — sizes and durations as people write them in job files and on
 * command lines. Pure functions; no messages (callers name the file, key
 * or option). */
#ifndef PL_BASE_PARSE_H
#define PL_BASE_PARSE_H

#include <stdint.h>

/* "512MiB", "2G", "1073741824" -> bytes; -1 if malformed or zero. */
int pl_parse_size(const char *s, uint64_t *out);

/* "HH:MM:SS" (hours may exceed 24) -> seconds; -1 if malformed. */
int64_t pl_parse_hms(const char *s);

#endif
