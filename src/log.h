/* log.h — messages, errors and fatal checks.
 *
 * Rule for every message in this program: it names the file, the object and
 * what was expected, and it never contains an identifier (NIR, p1) or key
 * bytes. Errors go to stderr prefixed "pseudolink: error:"; under MPI with
 * more than one rank, errors that only one rank sees carry "[rank N]".
 * Summaries go to stdout from rank 0 only.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdarg.h>
#include <stddef.h>

void pl_log_init(int rank, int size);
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

/* Innermost HDF5 error description of the current error stack ("" if none),
 * for appending to our own message. Clears the stack. */
const char *pl_h5_reason(void);
/* Silence HDF5's own stack dumps: we report errors ourselves. */
void pl_h5_quiet(void);

/* MPI failures are not recoverable: print where and abort every rank. */
#define PL_MPI_CHECK(call)                                                   \
    do {                                                                     \
        int pl_rc_ = (call);                                                 \
        if (pl_rc_ != 0)                                                     \
            pl_mpi_fatal(pl_rc_, #call, __FILE__, __LINE__);                 \
    } while (0)
void pl_mpi_fatal(int rc, const char *what, const char *file, int line)
    __attribute__((noreturn));

/* Out of memory is fatal too; these never return NULL. */
void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t n, size_t size);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);

/* Large tables accessed at random (the owner's dictionary, the links
 * sort): 2 MiB-aligned and marked for transparent huge pages, so that a
 * lookup is one cache miss rather than a cache miss plus a page walk.
 * Small sizes fall back to pl_xmalloc. Freed with free(). */
void *pl_xmalloc_huge(size_t n);
void *pl_malloc_huge(size_t n);         /* NULL when out of memory */
void *pl_xcalloc_huge(size_t n);

/* Wipe a buffer that held identifiers (p1, NIR) before it is reused or
 * freed: explicit_bzero runs at memset speed, which matters for the
 * multi-megabyte batch buffers; OPENSSL_cleanse stays for key material. */
void pl_wipe(void *p, size_t n);

#endif
