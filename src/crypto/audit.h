/* audit.h — the append-only, hash-chained audit log (docs/AUDIT.md).
 *
 * One JSON object per line, keys in a fixed order:
 *   {"v":1,"time":"2024-05-01T12:00:00Z","user":"...","host":"...",
 *    "slurm_job_id":"123"|null,"command":"run", ...fields added by the
 *    command in call order..., "outcome":"success"|"failure",
 *    "error":"..."(failure only),"prev":"<64 hex>"}
 * "prev" is the SHA-256 of the previous line's bytes (without its newline);
 * 64 zeros on the first line. Appends hold an exclusive flock on the log,
 * use O_APPEND, one write() and fsync(), so concurrent commands serialise.
 *
 * Key fingerprints are HMAC-SHA256(key, "pseudolink key fingerprint v1"),
 * first 16 bytes, hex: never a plain SHA-256 of the key (domain-separated,
 * so the value equals nothing the product or another tool derives from the
 * key; truncated, so it identifies a key without standing in for it). See
 * docs/AUDIT.md for the exact definition and its limits.
 *
 * Usage (rank 0 only; nothing here is collective):
 *   pl_audit_rec *a = pl_audit_begin("reveal");
 *   pl_audit_str(a, "job", path);
 *   pl_audit_file(a, "inputs", path, digest, size, leaf);
 *   pl_audit_key(a, "platform", key, 32);
 *   pl_audit_u64(a, "rows", n);          // under "counts"
 *   rc = pl_audit_append(log, a, ok, ok ? NULL : "why");
 *   pl_audit_free(a);
 */
#ifndef PL_AUDIT_H
#define PL_AUDIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_audit_rec pl_audit_rec;

/* Starts a record with v, time, user, host, slurm_job_id and command. */
pl_audit_rec *pl_audit_begin(const char *command);
/* Top-level string field (JSON-escaped). */
void pl_audit_str(pl_audit_rec *a, const char *key, const char *value);
/* Top-level field holding lower-case hex of n bytes. */
void pl_audit_hex(pl_audit_rec *a, const char *key, const uint8_t *b,
                  size_t n);
/* A count, collected under "counts": {...}. */
void pl_audit_u64(pl_audit_rec *a, const char *name, uint64_t v);
/* A file under "inputs" or "outputs" (list = the key): {"path","name",
 * "size","leaf","merkle_sha256"}. path is made absolute by resolving its
 * directory only (a stable symlink stays itself); name (NULL: the last
 * component of path) is how verify finds it in an output directory, e.g.
 * "extracts/diabetes.h5". */
void pl_audit_file(pl_audit_rec *a, const char *list, const char *path,
                   const char *name, const uint8_t digest[32], uint64_t size,
                   uint64_t leaf);
/* A file whose digest could not be computed: {"path","error"}. */
void pl_audit_file_error(pl_audit_rec *a, const char *list, const char *path,
                         const char *why);
/* A key's fingerprint under "keys": {"<role>": "<32 hex>"}; role names a
 * key or a custodian ("platform", "custodian:alice"). Key bytes are only
 * read, never stored. */
void pl_audit_key(pl_audit_rec *a, const char *role, const uint8_t *key,
                  size_t n);
/* A raw JSON value (an object or array the caller built and escaped). */
void pl_audit_raw(pl_audit_rec *a, const char *key, const char *json);

/* Check, before doing any work, that the log can be appended to: it can be
 * created/opened for append and its last line is complete. 0 or -1 with a
 * message naming the log. */
int pl_audit_check(const char *log);
/* Close the record (outcome, error, prev) and append it. 0 or -1 with a
 * message naming the log. The record stays owned by the caller. */
int pl_audit_append(const char *log, pl_audit_rec *a, int success,
                    const char *error);
void pl_audit_free(pl_audit_rec *a);
/* After a successful append: the new head of the chain, the SHA-256 (hex)
 * of the line just written, which `verify --expect-head` checks. */
const char *pl_audit_head(const pl_audit_rec *a);

#endif
