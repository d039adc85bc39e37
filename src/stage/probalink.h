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

#include "stage/fellegi.h"
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
/* Collective, after the ingest: fit, score, decide; a record linked to an
 * opposed person (whose rows are candidates under stand-in pids) is then
 * marked opposed, and no opposed person is a review candidate. */
int  pl_probalink_link(pl_run *r);
/* The final decisions of linkage.sources[k] for this rank's rows
 * [first, first+count) of its nrows (arrays of count): status 1 linked,
 * 2 review, 3 new, 4 linked to an opposed person (left out of every
 * output, pid zero); match weight (NaN without candidate); pid (16 bytes),
 * the person's or the new person's. Global counts n_link (opposed ones not
 * included), n_review, n_new, n_opposed. Valid after pl_probalink_link,
 * until pl_probalink_free. */
typedef struct {
    uint64_t nrows, first, count;
    const uint8_t *status;
    const double  *weight;
    const uint8_t *pid;
    uint64_t n_link, n_review, n_new, n_opposed;
} pl_probalink_out;
/* Not collective; -1 when there is no such source. */
int  pl_probalink_rows(const pl_run *r, size_t k, pl_probalink_out *out);
/* Collective, after pl_probalink_link and before pl_link_finish: hands
 * each source's final per-row pids to the run's links index (source
 * store.n_src + k, stage/link.h), the opposed records left out, and sets
 * r->lss[k] (kept, opposed: their offsets and totals). 0 without
 * linkage. */
int  pl_probalink_links(pl_run *r);
/* Not collective, after pl_dedup_run (the last reader of the records):
 * the matching records (names, dates) are wiped and released; the
 * decisions stay for the outputs. Their memory serves the outputs'
 * buffers (base/mem.h pl_free_huge). Records are not available after
 * (pl_probalink_source gives Q NULL). */
void pl_probalink_drop_records(pl_run *r);
#define PL_LK_OPPOSED 4         /* the status of a record left out */
/* Collective: write /review/<source> and /linkage/<source> into the
 * (closed) linked.h5 at `linked` (/linked/<source> is stage/linked.c's),
 * and linkage_<source>.svg into the run's directory (listed with
 * pl_run_output). */
int  pl_probalink_write(pl_run *r, const char *linked);
/* Rank 0: summary lines. */
void pl_probalink_summary(const pl_run *r);
void pl_probalink_free(pl_run *r);

/* For stage/dedup.c: the records of a source of linkage.sources or
 * linkage.dedup (this rank's rows [first, first + count) of nrows, side
 * 1; pl_bk_params.dict = dict). linked: the source is also linked to the persons, and after
 * pl_probalink_link status (1 linked, 2 review, 3 new) and pid (16 bytes
 * a row; writable: a cluster's pid replaces it) are set, else NULL.
 * Returns -1 when the source is not one of them. */
typedef struct {
    uint64_t       nrows, first, count;
    const uint8_t *Q;           /* stored records (stage/fellegi.h) */
    const pl_fs_dict *dict;     /* their names' dictionaries */
    int            linked;
    const uint8_t *status;
    uint8_t       *pid;
} pl_probalink_src;
int  pl_probalink_source(pl_run *r, const char *name, pl_probalink_src *out);
/* Collective (stage/dedup.c, before pl_probalink_links): this rank's
 * records of linked source `name` flagged in opp[0..count) are an opposed
 * person's (their cluster holds a record linked to one): status 4, pid
 * wiped, out of the review lists and the counts. 0 (also for a name that
 * is no linked source). */
int  pl_probalink_oppose(pl_run *r, const char *name, const uint8_t *opp);

/* Collective: steps 1-2, the model of records Q (nq here, NQ in all)
 * against the persons P (np here, NP in all; both stored records of this
 * run's dictionaries, stage/fellegi.h), or with self against
 * themselves (pairs of two records of Q, P empty; λ over the NQ (NQ-1)/2
 * pairs): u from random pairs, m and λ by EM per blocking rule.
 * *random_pairs: random pairs compared; t_phase: seconds of u, of EM.
 * Returns 0, or -1 on every rank. */
int  pl_probalink_fit(pl_run *r, const uint8_t *P, uint64_t np, uint64_t NP,
                      const uint8_t *Q, uint64_t nq, uint64_t NQ, int self,
                      pl_fs_model *mo, uint64_t *random_pairs,
                      double t_phase[2]);
/* Collective: /truth/<src>/person of the store (synth stores), all n
 * rows on rank 0 into *out (free()). 1 when read, 0 when absent or not of
 * n rows, -1 on a read error (every rank). */
int  pl_probalink_truth(pl_run *r, const char *src, uint64_t n,
                        uint64_t **out);
/* Collective (stage/dedup.c too): the model `mo` into group g of the
 * reopened linked.h5 `fname`: datasets m, u, weight (float64), field,
 * level (uint16) per (field, level), attributes fields and blocking
 * (docs/LINKAGE.md). 1 when every rank wrote it, else 0 on every rank. */
int  pl_probalink_put_model(pl_run *r, hid_t g, const char *fname,
                            const pl_fs_model *mo);
/* A new person's pid for `row` of `src` (docs/LINKAGE.md 5: keyed, the
 * HMAC of the source and the row; random mode, 16 random bytes). 0 or -1
 * (no random bytes). */
int  pl_probalink_new_pid(pl_run *r, const char *src, uint64_t row,
                          uint8_t pid[16]);
/* Collective: blocking sub-rounds for nrec records on this rank. */
uint64_t pl_probalink_rounds(pl_run *r, uint64_t nrec);

#endif
