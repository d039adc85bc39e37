/* plan.h — `pseudolink plan --profile NAME JOB.yaml [-o FILE]`.
 *
 * Sizes a Slurm job for a node profile (profile.h) from the row counts of
 * the job's store (read with serial HDF5: plan runs without mpirun) and
 * fills slurm/pseudolink.sbatch. Refuses, with the reason, a job whose
 * memory per rank cannot fit a node.
 */
#ifndef PL_PLAN_H
#define PL_PLAN_H

#include <stdint.h>

/* Memory one rank needs, in bytes, from the code's data structures:
 *   dict      owner's key table: 52 B per slot (key p1 || rank 33 B + pid
 *             16 B + state 2 B + used flag 1 B), slots = next power of
 *             two >= 4/3 x persons owned (load factor <= 0.75), x 1.5
 *             while it grows (old + new table);
 *             rows with two identities add edges (66 B) until the count
 *             pass ends (not counted: most sources have one identity);
 *   ingest    640 B per row of a batch: every buffer sized by the batch
 *             (identity, p1, pids, link records, payload, exchange
 *             receive buffers; the breakdown is in src/budget.c);
 *   link      144 B per kept row: link records 32 B, grouped copy, send
 *             staging, receive buffer, and the sorted vector grown by 1.5x
 *             (4.5 x 32 B) — fed batch by batch during the ingest, so it
 *             adds to the ingest buffers; past memory_per_rank / 2 it
 *             spills to disk, so this is the no-spill upper bound;
 *   base      resident size of an idle rank (MPI, HDF5, libraries).
 * Nothing is kept per input row (run.h).
 * total = base + dict + ingest + link. */
typedef struct {
    uint64_t dict, ingest, link, base, total;
} pl_mem_estimate;

void pl_plan_memory(uint64_t rows_per_rank, uint64_t persons_per_rank,
                    uint64_t batch_rows, uint64_t base_bytes,
                    pl_mem_estimate *m);

/* Subcommand entry: argv after "plan"; returns the exit status. */
int pl_plan_main(int argc, char **argv);

#endif
