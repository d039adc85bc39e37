/* link.h — cross-link indexes and the persons table on top of them.
 *
 * An index holds link records (key, source, row; stage/linksort.h) routed
 * to the rank owning their key (pl_owner_of on the key), which sorts them
 * in bounded memory: concatenated in rank order, the ranks' runs form one
 * globally sorted index, so this is the only global sort of a run and it
 * needs a single exchange. All links of one key land on one rank, so the
 * persons table (one row per key, per-source record counts) is a local
 * group-by. The run's index is keyed by pid; each extract has its own,
 * keyed by the project pseudonym (stage/extract.h).
 *
 * Every function taking a communicator is collective; statuses are shared
 * by every rank.
 */
#ifndef PL_STAGE_LINK_H
#define PL_STAGE_LINK_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "par/exchange.h"
#include "stage/linksort.h"
#include "stage/run.h"

typedef struct pl_links pl_links;

typedef struct {
    uint64_t n_links, links_off, links_total;   /* this rank, offset, all */
    uint64_t n_persons, persons_off, persons_total, persons_multi;
    uint64_t spilled;           /* bytes this rank's sort spilled */
} pl_links_counts;

/* An empty index of n_sources sources: runs of `run` records, `merge`
 * bytes of merge buffers, spill files under `dir` (only when a run must
 * spill), persons built `chunk` records at a time. Not collective. */
pl_links *pl_links_new(size_t n_sources, uint64_t run, uint64_t merge,
                       const char *dir, uint64_t chunk);
void      pl_links_free(pl_links *l);

/* Route n link records (pl_link_pack) to the owners of their keys, which
 * add them to their sort. Every rank calls it the same number of times. */
int pl_links_add(pl_links *l, MPI_Comm comm, const uint8_t *recs, size_t n,
                 uint64_t cap, pl_route_stats *stats);
/* After the last add: sort, count, build the persons table. */
int pl_links_finish(pl_links *l, MPI_Comm comm);

const pl_links_counts *pl_links_count(const pl_links *l);
/* The sorted links of this rank (open again for another pass). */
int pl_links_iter(pl_links *l, pl_linkiter *it);
/* This rank's persons: keys [n_persons][16] and counts
 * [n_persons][n_sources], in key order. */
const uint8_t  *pl_links_person_keys(const pl_links *l);
const uint32_t *pl_links_person_counts(const pl_links *l);

/* The run's index, fed by the ingest (a pl_batch_sink, stage/ingest.h):
 * the valid rows of rows [lo, lo+cnt) of source si with their pids. Its
 * sources are the store's, then linkage.sources (store.lsrc). */
void pl_link_begin(pl_run *r);
int  pl_link_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                   const uint8_t *why, const uint8_t *pids);
/* Rows [first, first+n) of source si of the index (a linkage source is
 * store.n_src + k) with their pids [n][16], a row whose skip[i] is set
 * left out (skip may be NULL), before pl_link_finish. Collective (in
 * batches of batch_rows); the status is shared by every rank. */
int  pl_link_rows(pl_run *r, size_t si, uint64_t first, uint64_t n,
                  const uint8_t *pids, const uint8_t *skip);
int  pl_link_finish(pl_run *r);
/* The run's index (NULL before pl_link_begin). */
pl_links *pl_link_index(const pl_run *r);
void pl_link_free(pl_run *r);

#endif
