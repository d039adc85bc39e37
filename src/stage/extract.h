/* extract.h — project extracts (docs/EXTRACTS.md).
 *
 * For each project of the job's `extracts:`, in the same MPI run as the
 * linked output: <out>/extracts/<project>.h5 with the layout of linked.h5
 * (linked sources, links, persons), where every pid is replaced by the
 * project pseudonym HMAC-SHA256(project key, pid)[:16], only the granted
 * columns appear, row filters and generalisation are applied, and a /risk
 * group holds the k-anonymity / l-diversity figures (risk.h). An extract
 * whose risk policy is `refuse` and whose figures miss the threshold is
 * never published.
 */
#ifndef PL_EXTRACT_H
#define PL_EXTRACT_H

#include "stage/run.h"

/* After pl_store_open, before pl_ingest_count: check each extract against the
 * store (sources, columns, types, rules) and load the project keys.
 * Collective; returns 0 or -1 on every rank. */
int  pl_extracts_prepare(pl_run *r);
/* After linked.h5 is written and closed (`linked` is its temporary path,
 * whose pids the extracts read back): write every extract to its temporary
 * and evaluate its risk. Collective; on -1 every temporary is removed. */
int  pl_extracts_write(pl_run *r, const char *linked);
/* Remove the refused extracts' files; note the others as outputs of the
 * run's set (stage/runaudit.h). */
int  pl_extracts_seal(pl_run *r);
/* Rank 0 prints the per-extract lines of the summary. */
void pl_extracts_summary(pl_run *r);
/* Number of extracts refused by their risk policy. */
int  pl_extracts_refused(const pl_run *r);
void pl_extracts_release(pl_run *r);

#endif
