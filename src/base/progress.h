/* progress.h — what a run is doing, for the operator watching its log.
 *
 * Rank 0 prints (on the other ranks every call does nothing), on stdout,
 * one line at a time, each flushed at once, so a pipe, a file or a Slurm
 * log shows them while the run goes on:
 *
 *   2026-12-01T11:40:03Z stage ingest: 10000000 rows
 *   2026-12-01T11:40:13Z progress ingest: 4200000 of 10000000 rows
 *       (42.0 %), 420000 rows/s, ETA 14 s          (one line in the log)
 *
 * No MPI and nothing collective: the stages pass rank 0's estimate of the
 * global count. Every rank walks its balanced block (par/mpi.h pl_block)
 * batch by batch in lockstep with the others (each batch ends in a
 * collective the stage has anyway), so after k batches of B rows about
 * min(k * B * ranks, total) rows are done everywhere (pl_progress_estimate).
 * A progress line is printed when `interval` seconds have passed since the
 * last one (checked with the monotonic clock at each call, a few ns).
 */
#ifndef PL_BASE_PROGRESS_H
#define PL_BASE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* Seconds between progress lines; 0 turns them off (the stage lines and
 * the summary stay). */
void pl_progress_init(double interval_s);

/* A new stage starts: prints "TIME stage NAME: TOTAL UNIT" (or just
 * "TIME stage NAME" when total is 0, not counted). `unit` e.g. "rows". */
void pl_progress_stage(const char *name, uint64_t total, const char *unit);

/* `done` of the stage's total are done (global estimate). */
void pl_progress_set(uint64_t done);

/* base + min(batches * batch_rows * ranks, part): the global rows done
 * after `batches` batches of a part of `part` rows spread over `ranks`. */
uint64_t pl_progress_estimate(uint64_t base, uint64_t batches,
                              uint64_t batch_rows, int ranks, uint64_t part);

/* Where the run is: "stage ingest, 1200000 of 5000000 rows (24.0 %), 12 s
 * into it" (or "before the first stage"). For a stopped run's report. */
void pl_progress_where(char *out, size_t n);

/* A timestamped line on stdout, rank 0 only ("TIME " + text, escaped as
 * base/log.h does). */
void pl_progress_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
