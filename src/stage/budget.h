/* budget.h — memory_per_rank: how the job sizes its buffers.
 *
 * options.memory_per_rank (bytes, or with a K/M/G/T suffix, optionally
 * "iB"/"B": 512MiB, 2G, 1073741824) bounds the buffers whose size the job
 * chooses; default PL_DEFAULT_MEMORY. The plan (docs/SCALING.md):
 *   1/4  read/validate/hash/exchange/write batch: batch_rows = M/4 / 384
 *        bytes per row (identity columns, p1, grouping, link records,
 *        payload buffers, exchange receive buffers), unless
 *        options.batch_rows is given;
 *   1/2  links sort: one in-memory run of M/2 / 64 records (32-byte record
 *        + radix scatter buffer), spilled to the output dir when exceeded;
 *   1/8  read buffers of the k-way merge when the links spilled.
 * Not bounded by it (they grow with the data and are reported in the run
 * summary): the owner's p1 -> pid dictionary and the persons table (per
 * person owned by the rank). Nothing is kept per input row. Plus the fixed overhead of MPI, HDF5 and the
 * binary (measured by `make bench`, documented in docs/SCALING.md).
 */
#ifndef PL_BUDGET_H
#define PL_BUDGET_H

#include <stdint.h>

#include "stage/run.h"

#define PL_DEFAULT_MEMORY (2ull << 30)

/* Collective-free: sets r->job->batch_rows (when not given), r->cap (when
 * exchange_cap is automatic) and the links sort sizes from the budget. */
void pl_budget_apply(pl_run *r);

/* Collective, before pl_budget_apply: refuses a memory_per_rank that the
 * node's physical memory cannot give each of its ranks (error names the
 * job file and the key); a default budget is lowered instead. */
int pl_budget_check(pl_run *r);

/* Collective: peak RSS (max over ranks) and the growth terms, printed by
 * rank 0 as part of the run summary. */
void pl_budget_report(pl_run *r);

#endif
