/* mem.c — see mem.h. */
#define _DEFAULT_SOURCE 1      /* explicit_bzero */
#include "base/mem.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void default_oom(size_t n)
{
    fprintf(stderr, "pseudolink: [rank %d] fatal: out of memory (%zu bytes)\n",
            pl_log_rank(), n);
    exit(2);
}

static pl_oom_fn oom_hook = default_oom;

void pl_mem_set_oom(pl_oom_fn fn)
{
    oom_hook = fn ? fn : default_oom;
}

static void oom(size_t n) __attribute__((noreturn));
static void oom(size_t n)
{
    oom_hook(n);
    exit(2);                    /* a hook must not return; be sure */
}

#define HUGE_MIN   (8u << 20)
#define HUGE_ALIGN (2u << 20)

/* Blocks given back by pl_free_huge, for the next large request they fit
 * (see mem.h). A handful: the stages' big buffers, not a heap. */
#define CACHE_SLOTS 16
static struct {
    void  *p;
    size_t n;
} cache[CACHE_SLOTS];

/* The smallest cached block of n to 4n bytes, taken out; NULL if none (a
 * block far larger than asked is left for a request its size). The part
 * of it past n (from the next 2 MiB boundary) is given back to the
 * kernel: the new holder's resident size is what it asked for. */
static void *cache_take(size_t n)
{
    size_t best = CACHE_SLOTS;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].p && cache[i].n >= n && cache[i].n / 4 <= n &&
            (best == CACHE_SLOTS || cache[i].n < cache[best].n))
            best = i;
    if (best == CACHE_SLOTS)
        return NULL;
    void *p = cache[best].p;
    uintptr_t a = ((uintptr_t)p + n + HUGE_ALIGN - 1) &
                  ~(uintptr_t)(HUGE_ALIGN - 1),
              e = ((uintptr_t)p + cache[best].n) & ~(uintptr_t)4095;
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_DONTNEED);
    cache[best].p = NULL;
    cache[best].n = 0;
    return p;
}

/* Before a large allocation that the cache cannot serve takes fresh
 * memory: cached blocks of at least its size freed first (the smallest
 * first, the large ones being the costly ones to fault in again), so
 * that the resident size does not grow while the cache holds memory. */
static void cache_room(size_t n)
{
    size_t freed = 0;
    while (freed < n) {
        size_t best = CACHE_SLOTS;
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            if (cache[i].p && (best == CACHE_SLOTS || cache[i].n < cache[best].n))
                best = i;
        if (best == CACHE_SLOTS)
            return;
        freed += cache[best].n;
        free(cache[best].p);
        cache[best].p = NULL;
        cache[best].n = 0;
    }
}

void pl_free_huge(void *p, size_t n)
{
    if (!p)
        return;
    if (n >= HUGE_MIN)
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            if (!cache[i].p) {
                cache[i].p = p;
                cache[i].n = n;
                return;
            }
    free(p);
}

void pl_huge_cache_drop(void)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(cache[i].p);
        cache[i].p = NULL;
        cache[i].n = 0;
    }
}

size_t pl_huge_cached(void)
{
    size_t t = 0;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        t += cache[i].p ? cache[i].n : 0;
    return t;
}

void *pl_xmalloc(size_t n)
{
    if (n >= HUGE_MIN)          /* the cache's memory first (pl_free_huge) */
        cache_room(n);
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *pl_xcalloc(size_t n, size_t size)
{
    if (size && n >= HUGE_MIN / size)
        cache_room(n * size);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *pl_xrealloc(void *p, size_t n)
{
    if (n >= HUGE_MIN)          /* at most n more resident */
        cache_room(n);
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

char *pl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = pl_xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    return p;
}

void pl_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void *pl_malloc_huge(size_t n)
{
    if (n < HUGE_MIN)
        return malloc(n ? n : 1);
    void *c = cache_take(n);
    if (c)
        return c;
    cache_room(n);
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

/* calloc, not malloc + memset: a large block comes from mmap, already
 * zero, and calloc knows it (the memset was a second pass over every page
 * of the linkage's records and the run's large tables); huge pages asked
 * for on its 2 MiB-aligned interior. */
void *pl_xcalloc_huge(size_t n)
{
    if (n >= HUGE_MIN) {        /* a cached block is resident: zero it */
        void *c = cache_take(n);
        if (c)
            return memset(c, 0, n);
        cache_room(n);
    }
    void *p = calloc(1, n ? n : 1);
    if (!p)
        oom(n);
    if (n >= HUGE_MIN) {
        uintptr_t a = ((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1),
                  e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_ALIGN - 1);
        if (e > a)
            (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
    return p;
}
