/* ingest.h — read, validate, stage 1 and the pid exchange, batch by batch.
 *
 * pl_ingest_count: the count pass, which only validates: each rank's
 *   kept/rejected rows per source and their prefix offsets (r->ss), so that
 *   every output dataset is created with its final length before any pid
 *   exists.
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
 * block of source si, their reject reasons (0 = valid) and the pids of the
 * valid ones, in row order. Called on every rank for every batch (cnt may
 * be 0); returns this rank's status (the ingest agrees on it). */
typedef struct {
    const char *name;
    int (*batch)(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                 const uint8_t *why, const uint8_t *pids);
} pl_batch_sink;

int pl_ingest_count(pl_run *r);
int pl_ingest(pl_run *r, const pl_batch_sink *sinks, size_t n_sinks);

#endif
