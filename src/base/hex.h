/* hex.h — lower-case hexadecimal, the one encoder and decoder of the
 * program (pids in outputs, digests and fingerprints in the audit log, key
 * files, run tags). Pure functions, no messages. */
#ifndef PL_BASE_HEX_H
#define PL_BASE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of n bytes into out[2n+1] (NUL-terminated). */
void pl_hex(const uint8_t *b, size_t n, char *out);

/* Lower-case hex of 16 bytes (a pid) into out[32], no NUL: SSE2 where the
 * build has it, since every output row carries one. */
void pl_hex16(const uint8_t b[16], char out[32]);

/* Value of one hex digit (either case), -1 for any other character. */
int pl_hexval(int c);

/* 2n hex digits (either case) -> n bytes. Returns -1 at the first
 * character that is not a hex digit, with its offset in *bad (may be
 * NULL); out is then partly written. */
int pl_unhex(const char *s, size_t n, uint8_t *out, size_t *bad);

#endif
