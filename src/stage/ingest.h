/* ingest.h — read, validate, stage 1 and the pid exchange, batch by batch.
 *
 * pl_ingest_count: the count pass: validates, hashes and sends every key
 *   (p1 || rank, and a row's second key and their edge) to its owner
 *   (owner.h), then has the owners resolve persons; when some p1 holds
 *   several persons, sources without a rank are read once more to count
 *   their ambiguous rows. Gives each rank's kept/rejected/ambiguous rows
 *   per source and their prefix offsets (r->ss), so that every output
 *   dataset is created with its final length before any pid is written.
 * pl_ingest: the main pass; each batch's pids are handed to every sink of
 *   the table it is given, in table order (the linked.h5 writer, the links
 *   index), so the ingest names none of its consumers.
 * Both collective; -1 on every rank together.
 */
#ifndef PL_STAGE_INGEST_H
#define PL_STAGE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "stage/run.h"

/* A consumer of the ingest's batches: rows [lo, lo+cnt) of this rank's
 * block of source si, their reject reasons (0 = linked, PL_WHY_AMBIGUOUS
 * = ambiguous, candidates in r->batch_cand) and the pids of the linked
 * ones, in row order. Called on every rank for every batch (cnt may
 * be 0); returns this rank's status (the ingest agrees on it). */
typedef struct {
    const char *name;
    int (*batch)(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                 const uint8_t *why, const uint8_t *pids);
} pl_batch_sink;

/* The count pass also refuses (before anything is written):
 *   - a carried payload column whose values look like NIRs (>= 1 % of its
 *     non-empty values, and at least one, pass the NIR checks: nir.h
 *     pl_nir_like), unless the job lists it in allow_nir_like;
 *   - a source rejecting more than options.max_reject_fraction of its rows.
 * Each message names the store, /sources/<source>[/<column>] and counts,
 * never a value. */
int pl_ingest_count(pl_run *r);

/* The run's warnings after the count pass (rank 0's view, identical on
 * every rank): a source whose rows are all rejected (with the count of
 * each reason), a source with columns declared but never written. Each is
 * handed to emit; returns their number. */
size_t pl_ingest_warnings(const pl_run *r,
                          void (*emit)(const char *msg, void *ctx), void *ctx);
/* The same as a JSON array of strings (caller frees), for the audit line. */
char *pl_ingest_warnings_json(const pl_run *r);
int pl_ingest(pl_run *r, const pl_batch_sink *sinks, size_t n_sinks);

#endif
