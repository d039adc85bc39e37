/* probalink.h — probabilistic linkage of sources without a NIR to the
 * persons of the run (the `linkage:` section, docs/LINKAGE.md).
 *
 * The persons' matching fields come from the rows of `linkage.persons`, a
 * source with an identity; their pids from the ingest (a batch sink). Each
 * source of `linkage.sources` is then linked to them:
 *   1. u from random pairs (seeded sample, blocking.h rule -1);
 *   2. m and λ by EM per blocking rule on a seeded sample of blocks, the
 *      pattern counts summed with MPI_Allreduce (every rank fits the same
 *      model); m per field averaged over the rules that do not block on it;
 *   3. every candidate pair scored (rules OR-ed, a pair counted once);
 *      the pairs at or above the lower threshold are kept;
 *   4. the candidates go to their record's row owner (pl_block); the
 *      one-to-one assignment is the sequential greedy's, best weight
 *      first (ties: row, then person row), computed distributed over the
 *      candidates >= upper (par/assign.h): a linked record gets its
 *      person's pid; a record not linked with candidates (all >= lower) is
 *      listed in /review/<source> (its best 3) and becomes a new person,
 *      as does one without; each rank decides and writes its own rows.
 * Collective functions return a status every rank agrees on (-1 after a
 * message). No name or field value is ever printed.
 */
#ifndef PL_STAGE_PROBALINK_H
#define PL_STAGE_PROBALINK_H

#include <stddef.h>
#include <stdint.h>

#include "stage/run.h"

/* Collective, after pl_store_open and before the ingest: checks every
 * matching column of the persons source and of each source to link
 * (exists, type fits the comparison, same length, not empty), reads the
 * matching fields of this rank's rows and the names' term frequencies.
 * 0 when the job has no linkage. */
int  pl_probalink_prepare(pl_run *r);
/* Batch sink (ingest.h): keeps the pids of the persons source's rows. */
int  pl_probalink_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                        const uint8_t *why, const uint8_t *pids);
/* Collective, after the ingest: fit, score, decide. */
int  pl_probalink_link(pl_run *r);
/* Collective: write /linked/<source>, /review/<source>, /linkage/<source>
 * into the (closed) linked.h5 at `linked`, and linkage_<source>.svg into
 * the run's directory (listed with pl_run_output). */
int  pl_probalink_write(pl_run *r, const char *linked);
/* Rank 0: summary lines. */
void pl_probalink_summary(const pl_run *r);
void pl_probalink_free(pl_run *r);

#endif
