/* sort.h — in-place sort of fixed-size elements by a 64-bit prefix key,
 * for the large sorts of the linkage (persons by pid, candidates by row)
 * where qsort's comparator calls and element copies dominated.
 *
 * key(e) must be consistent with cmp: key(a) < key(b) implies
 * cmp(a, b) < 0. Elements are radix-sorted by key (stable), then every
 * run of equal keys by cmp (stable), then gathered in their order into a
 * copy and copied back. The result is the order of a stable sort by cmp:
 * for a total order (no two elements equal under cmp), the order qsort
 * gives. Uses 32 bytes an element of scratch, and for elements of more
 * than 16 bytes n * size more during the last step (all wiped before they
 * are freed: keys and elements may be parts of identifiers). Never fails
 * (allocation failure is fatal, base/mem.h). No MPI.
 */
#ifndef PL_BASE_SORT_H
#define PL_BASE_SORT_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*pl_sort_key_fn)(const void *elem);

void pl_sort_keyed(void *base, size_t n, size_t size, pl_sort_key_fn key,
                   int (*cmp)(const void *, const void *));

/* Big-endian 64-bit load: a key that orders as memcmp of those 8 bytes. */
static inline uint64_t pl_sort_be64(const void *p)
{
    uint64_t x;
    __builtin_memcpy(&x, p, 8);
    return __builtin_bswap64(x);
}

#endif
