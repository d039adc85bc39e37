/* log.c — see log.h. */
#define _DEFAULT_SOURCE 1      /* explicit_bzero */
#include "log.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int log_rank = 0, log_size = 1;
static char first_error[1024];  /* for the audit record (audit.h) */

static void keep_first(const char *msg)
{
    if (first_error[0] == '\0')
        snprintf(first_error, sizeof first_error, "%.1000s", msg);
}

const char *pl_log_first_error(void) { return first_error; }

void pl_log_init(int rank, int size)
{
    log_rank = rank;
    log_size = size;
}

int pl_log_rank(void) { return log_rank; }
int pl_log_size(void) { return log_size; }

static void vemit(FILE *f, const char *kind, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (kind[0] == 'e')
        keep_first(buf);
    if (log_size > 1)
        fprintf(f, "pseudolink: [rank %d] %s%s\n", log_rank, kind, buf);
    else
        fprintf(f, "pseudolink: %s%s\n", kind, buf);
    fflush(f);
}

void pl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(stderr, "error: ", fmt, ap);
    va_end(ap);
}

void pl_err0(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    keep_first(buf);
    fprintf(stderr, "pseudolink: error: %s\n", buf);
    fflush(stderr);
}

void pl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(stderr, "warning: ", fmt, ap);
    va_end(ap);
}

void pl_info(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static char h5_reason_buf[256];

static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    (void)data;
    /* The walk goes inward-out; keep the innermost (first) description. */
    if (h5_reason_buf[0] == '\0' && e->desc && e->desc[0]) {
        snprintf(h5_reason_buf, sizeof h5_reason_buf, "%s", e->desc);
    }
    return 0;
}

const char *pl_h5_reason(void)
{
    h5_reason_buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk, NULL);
    H5Eclear2(H5E_DEFAULT);
    return h5_reason_buf;
}

void pl_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void pl_mpi_fatal(int rc, const char *what, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "pseudolink: [rank %d] fatal: %s failed at %s:%d: %s\n",
            log_rank, what, file, line, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

static void oom(size_t n) __attribute__((noreturn));
static void oom(size_t n)
{
    fprintf(stderr, "pseudolink: [rank %d] fatal: out of memory (%zu bytes)\n",
            log_rank, n);
    int init = 0;
    MPI_Initialized(&init);
    if (init)
        MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

void *pl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *pl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *pl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *pl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = pl_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void pl_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

#define HUGE_MIN   (8u << 20)
#define HUGE_ALIGN (2u << 20)

void *pl_malloc_huge(size_t n)
{
    if (n < HUGE_MIN)
        return malloc(n ? n : 1);
    size_t m = (n + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_ALIGN, m) != 0)
        return NULL;
    (void)madvise(p, m, MADV_HUGEPAGE);  /* advice only: fine if refused */
    return p;
}

void *pl_xmalloc_huge(size_t n)
{
    void *p = pl_malloc_huge(n);
    if (!p)
        oom(n);
    return p;
}

void *pl_xcalloc_huge(size_t n)
{
    void *p = pl_xmalloc_huge(n);
    memset(p, 0, n ? n : 1);
    return p;
}
