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
 * Small sizes fall back to malloc. Freed with free() or pl_free_huge (a
 * block reused from its cache is aligned as it was first given). */
void *pl_xmalloc_huge(size_t n);
void *pl_malloc_huge(size_t n);         /* NULL when out of memory */
void *pl_xcalloc_huge(size_t n);

/* Give a block of n bytes from the functions above back for reuse: a
 * later one of them asked for n/4 to n bytes may get it, resident
 * already (the part past what it asks for is given back to the kernel).
 * Fresh pages are most of what a large allocation costs (on a VM whose
 * host supplies them one fault at a time, about 0.5 GB/s against 20 GB/s
 * to rewrite resident ones), so a stage's big buffers serve the next
 * stage's instead of being unmapped and faulted in again. The caller
 * wipes the block first when it held identifiers, as before free(). A
 * few blocks are kept (beyond, it is freed); a block given out again is
 * an ordinary block (free() or pl_free_huge). Before any allocation of
 * 8 MiB or more through this file that it cannot serve, cached blocks of
 * at least that size are freed: large allocations take the cache's memory
 * rather than adding to it. Smaller allocations and the libraries' own
 * (HDF5, MPI) do not empty it, so while it holds blocks they may add up
 * to its size to the resident set (the stages' small buffers: a few MiB).
 * NULL is ignored. Not thread-safe (the ranks are single-threaded). */
void pl_free_huge(void *p, size_t n);
/* Frees the cached blocks (the end of a run). */
void pl_huge_cache_drop(void);
/* Bytes the cache holds (tests). */
size_t pl_huge_cached(void);

/* Wipe a buffer that held identifiers (p1, NIR) before it is reused or
 * freed: explicit_bzero runs at memset speed, which matters for the
 * multi-megabyte batch buffers; OPENSSL_cleanse stays for key material. */
void pl_wipe(void *p, size_t n);

#endif
