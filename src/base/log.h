/* log.h — messages: errors, warnings and the run summary.
 *
 * Rule for every message in this program: it names the file, the object and
 * what was expected, and it never contains an identifier (NIR, p1) or key
 * bytes. Errors go to stderr prefixed "pseudolink: error:"; under MPI with
 * more than one rank, errors that only one rank sees carry "[rank N]".
 * Summaries go to stdout from rank 0 only.
 */
#ifndef PL_BASE_LOG_H
#define PL_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Every message and summary line is printed escaped: bytes below 0x20,
 * 0x7f and bytes that are not valid UTF-8 (or are C1 controls) appear as
 * the text \xNN, so no name or path read from a file can put a control
 * character on a terminal or split a line; so do the bidirectional
 * controls, U+2028/U+2029 and U+FEFF (they reorder or break a displayed
 * line). */
#define PL_LOG_LINE 16384       /* escaped line: 4 x 4095 bytes + 1 fit */
size_t pl_log_escape(const char *in, char *out, size_t n);
/* Is s[0..n) valid UTF-8 without C1 controls (the rule pl_log_escape
 * applies)? 1 or 0. Not for secrets' sake: for text datasets tagged
 * UTF-8. */
int pl_utf8_valid(const void *s, size_t n);

void pl_log_init(int rank, int size);
/* From `run` on: every error and warning line starts with the UTC time
 * (pl_log_time), as the progress lines do (base/progress.h), so stdout and
 * stderr merged in one log read in order. Off by default. */
void pl_log_timestamps(int on);
/* "2026-12-01T11:40:03Z" (20 characters + NUL) for now. */
#define PL_LOG_TIME 21
void pl_log_time(char out[PL_LOG_TIME]);
int  pl_log_rank(void);
int  pl_log_size(void);

/* Error seen by this rank only (prefixed with the rank when size > 1). */
void pl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error every rank reaches identically: printed once, by rank 0. */
void pl_err0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* First error message this process printed ("" if none): the audit
 * record's "error" field. */
const char *pl_log_first_error(void);
/* Informational line on stdout, rank 0 only. */
void pl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
