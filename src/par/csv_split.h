/* csv_split.h — one CSV file read by every rank of a communicator, each
 * rank its own whole records (base/csv.h explains the exact, quote-aware
 * split; this file is only its MPI part).
 *
 * Use (every rank):
 *     pl_csv *c = pl_csv_open_all(path, &spec, comm);    // header, each rank
 *     if (!c) ...                                        // NULL on every rank
 *     pl_csv_part part;
 *     if (pl_csv_split(c, comm, &part)) ...              // same verdict on all
 *     while ((n = pl_csv_read(c, &batch)) > 0) ...       // this rank's records
 *     if (!pl_csv_all_ok(c, comm, n == 0)) ...           // error printed once
 * Records in file order are the ranks' records in rank order. A rank's
 * count before parsing: pl_csv_count_records(c, part.start, part.end, &n)
 * (quote parity only, one fast pass); pl_exscan of the counts gives each
 * rank's first global row index (e.g. to write at fixed offsets).
 * Line numbers in errors and in batch.line are those of the whole file.
 */
#ifndef PL_PAR_CSV_SPLIT_H
#define PL_PAR_CSV_SPLIT_H

#include <mpi.h>

#include "base/csv.h"

/* Collective: pl_csv_open on every rank, quiet on ranks > 0 (the header's
 * errors are printed once, by rank 0). The reader, or NULL on every rank
 * when some rank could not open the file; the error printed is rank 0's,
 * or, when rank 0 opened it, the lowest failing rank's (a path missing on
 * one node's own disk would otherwise fail the run without a message). */
pl_csv *pl_csv_open_all(const char *path, const pl_csv_spec *spec,
                        MPI_Comm comm);

/* Collective. Rank r of P gets the records starting in the r-th of P equal
 * byte chunks of the data (moved to record boundaries using the quote
 * parity of the chunks before it: one counting pass, then pl_exscan), and
 * the reader `c` is restricted to them (pl_csv_set_range). *part gets the
 * range and its first line. Returns 0 on every rank, or -1 on every rank
 * when a rank could not read its chunk (the first such rank's error is
 * printed, as by pl_csv_all_ok) or when the ranks did not open the same
 * file (size, data start or modification time differ; the reader is then
 * failed on every rank). */
int pl_csv_split(pl_csv *c, MPI_Comm comm, pl_csv_part *part);

/* Collective: the verdict on every rank's reading (as pl_all_ok): 1 on
 * every rank when `ok` is true everywhere and no rank's reader failed, else
 * 0 everywhere. When readers failed, the error of the lowest such rank is
 * printed, once (pl_csv_report: unless that reader printed it already):
 * readers on ranks > 0 are opened quiet so that the header's errors are
 * printed by rank 0 alone, and their read errors would otherwise never be
 * seen. The lowest failing rank holds the first error in file order, the
 * one a single pass reports; a later rank may fail only because that
 * error (a stray quote) moved its start, and its message is not shown.
 * `c` may be NULL on a rank (no reader: only `ok` counts). */
int pl_csv_all_ok(pl_csv *c, MPI_Comm comm, int ok);

#endif
