/* keyfile.h — 32-byte secret keys stored as 64 hex characters.
 *
 * A key file must be a regular file of mode 0600 or stricter (like ssh, we
 * refuse a key readable by group or others), containing exactly 64 hex
 * digits and an optional trailing newline. It is opened without blocking
 * and checked with fstat before any read (a FIFO, device or socket is
 * refused at once; a symlink to a regular file is followed). A degenerate
 * key — fewer than PL_KEY_MIN_DISTINCT distinct byte values among its 32
 * bytes (all zero, all equal, a short repeated pattern) — is refused; a
 * random key has fewer than 8 distinct values with probability below 2^-120.
 * Key bytes never appear in a message.
 */
#ifndef PL_KEYFILE_H
#define PL_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define PL_KEY_BYTES 32
#define PL_KEY_FPR_BYTES 16
#define PL_KEY_MIN_DISTINCT 8

/* 1 when key has fewer than PL_KEY_MIN_DISTINCT distinct byte values. */
int pl_key_degenerate(const uint8_t key[PL_KEY_BYTES]);

/* Read `path` into key[32]. `what` names the role in messages
 * ("producer key"). Returns 0, or -1 after printing a message (unless quiet). */
int pl_key_load(const char *path, const char *what, uint8_t key[PL_KEY_BYTES],
                int quiet);

/* Write a fresh random key to `path` (must not exist), mode 0600. */
int pl_key_generate(const char *path);

/* A key's fingerprint, as the audit log records it (docs/AUDIT.md):
 * HMAC-SHA256(key, "pseudolink key fingerprint v1"), first 16 bytes —
 * domain-separated and truncated, so it identifies a key without standing
 * in for it. */
void pl_key_fingerprint(const uint8_t *key, size_t n,
                        uint8_t fpr[PL_KEY_FPR_BYTES]);

#endif
