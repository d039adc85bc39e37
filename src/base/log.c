/* log.c — see log.h. */
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
