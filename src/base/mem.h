/* mem.h — memory: allocation that never returns NULL, huge pages for large
 * randomly accessed tables, and wiping of identifier buffers.
 *
 * Out of memory is fatal: the pl_x* functions call the out-of-memory hook,
 * which prints one line and ends the process. A layer above may replace
 * the hook (par/mpi.c makes it abort every rank of the job, as redis plugs
 * its handler into zmalloc); the hook must not return.
 */
#ifndef PL_BASE_MEM_H
#define PL_BASE_MEM_H

#include <stddef.h>

typedef void (*pl_oom_fn)(size_t bytes);
/* NULL restores the default (message, exit status 2). */
void pl_mem_set_oom(pl_oom_fn fn);

void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t n, size_t size);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);
/* printf into a new string (paths built from parts); never NULL. */
char *pl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Large tables accessed at random (the owner's dictionary, the links
 * sort): 2 MiB-aligned and marked for transparent huge pages, so that a
 * lookup is one cache miss rather than a cache miss plus a page walk.
 * Small sizes fall back to malloc. Freed with free(). */
void *pl_xmalloc_huge(size_t n);
void *pl_malloc_huge(size_t n);         /* NULL when out of memory */
void *pl_xcalloc_huge(size_t n);

/* Wipe a buffer that held identifiers (p1, NIR) before it is reused or
 * freed: explicit_bzero runs at memset speed, which matters for the
 * multi-megabyte batch buffers; OPENSSL_cleanse stays for key material. */
void pl_wipe(void *p, size_t n);

#endif
