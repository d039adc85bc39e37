/* linksort.h — the links sort in bounded memory.
 *
 * Link records (PL_LINK_BYTES, ordered by memcmp over PL_LINK_KEY bytes)
 * are appended to an in-memory run of at most `cap` records. When the run
 * is full it is radix-sorted and spilled to a scratch file (created under
 * the output directory and unlinked at once, so nothing is left behind even
 * if the process dies). Reading back yields all records in sorted order:
 * straight from memory when nothing was spilled, otherwise by a k-way merge
 * of the spilled runs. Both paths give the same records in the same order.
 * Memory: 2 * cap * PL_LINK_BYTES while sorting a run (records + scatter
 * buffer), then the merge's read buffers (`merge_bytes`).
 */
#ifndef PL_LINKSORT_H
#define PL_LINKSORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A link record: key (pid or project pseudonym, 16 bytes), source
 * (big-endian u16), row (big-endian u64), zero padding to 32 bytes, so
 * that memcmp over PL_LINK_KEY bytes is the (key, source, row) order. */
#define PL_LINK_BYTES 32
#define PL_LINK_KEY   26

static inline void pl_link_pack(uint8_t *rec, const uint8_t *key,
                                unsigned source, uint64_t row)
{
    memcpy(rec, key, 16);
    rec[16] = (uint8_t)(source >> 8);
    rec[17] = (uint8_t)source;
    for (int b = 7; b >= 0; b--, row >>= 8)
        rec[18 + b] = (uint8_t)row;
    memset(rec + PL_LINK_KEY, 0, PL_LINK_BYTES - PL_LINK_KEY);
}

static inline unsigned pl_link_source(const uint8_t *rec)
{
    return (unsigned)rec[16] << 8 | rec[17];
}

static inline uint64_t pl_link_row(const uint8_t *rec)
{
    uint64_t v = 0;
    for (int b = 0; b < 8; b++)
        v = v << 8 | rec[18 + b];
    return v;
}

typedef struct pl_linksort {
    uint8_t  *run;              /* current run, cap records */
    uint64_t  n, cap;
    int       fd;               /* spill file, -1 while nothing spilled */
    char      dir[4096];
    uint64_t *run_len;          /* spilled runs, in file order */
    size_t    n_runs;
    uint64_t  total;            /* records added */
    uint64_t  merge_bytes;      /* read buffers for the merge */
    uint64_t  spilled_bytes;
} pl_linksort;

/* dir: where the scratch file goes (only if a run must spill). */
void pl_linksort_init(pl_linksort *s, uint64_t cap, uint64_t merge_bytes,
                      const char *dir);
/* Append n records; spills when the run is full. -1 on I/O error. */
int  pl_linksort_add(pl_linksort *s, const uint8_t *recs, size_t n);
/* Sort the last run (spilled too if earlier runs were). -1 on error. */
int  pl_linksort_finish(pl_linksort *s);
void pl_linksort_free(pl_linksort *s);

/* Sorted read-back, restartable (open again for another pass). */
typedef struct {
    pl_linksort *s;
    uint64_t pos;               /* in-memory case */
    /* merge case: per run a buffer, file offset and records left */
    uint8_t  **buf;
    uint64_t  *bpos, *blen, *foff, *left;
    uint64_t   bufrecs;
    size_t    *heap, nheap;
    int        err;
} pl_linkiter;

int    pl_linkiter_open(pl_linkiter *it, pl_linksort *s);
/* Up to max records into out, in order; 0 at the end. it->err set on an
 * I/O error (returns 0 then). */
size_t pl_linkiter_next(pl_linkiter *it, uint8_t *out, size_t max);
void   pl_linkiter_close(pl_linkiter *it);

/* Sort n records by their first PL_LINK_KEY bytes; tmp holds n records.
 * LSD radix on the pid's first 4 bytes, then equal-prefix groups (mostly
 * one person's records) finished by comparison. */
void pl_radix_sort_links(uint8_t *recs, uint8_t *tmp, size_t n);

#endif
