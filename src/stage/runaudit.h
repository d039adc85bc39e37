/* runaudit.h — what `pseudolink run` does around its stages for
 * reliability and the audit trail (docs/AUDIT.md):
 *   pl_run_guard   after the output directory exists: ignore SIGXFSZ (a
 *                  file-size limit becomes an EFBIG write error naming the
 *                  file), take the directory lock (lock.h), check that the
 *                  audit log can be appended to.
 *   pl_run_publish publish an output file (par/output.h) and note it for
 *                  the audit line (digested at the end).
 *   pl_run_finish  whatever happened: digest the store and the outputs in
 *                  parallel, rank 0 appends one audit line, the lock is
 *                  released.
 * The audit log is --audit FILE, else the job's audit_log, else
 * <output>/audit.log; a job file that cannot be parsed is only recorded
 * when --audit is given.
 */
#ifndef PL_RUNAUDIT_H
#define PL_RUNAUDIT_H

#include "par/output.h"
#include "stage/run.h"

/* Collective; status agreed by every rank. */
int  pl_run_guard(pl_run *r, const char *audit_opt);
/* Collective: pl_out_publish, and on success the file goes into the run's
 * audit line (every rank keeps the same list: digests are collective). */
int  pl_run_publish(pl_run *r, pl_outfile *f);
/* Collective; returns -1 if the audit line could not be written. */
int  pl_run_finish(pl_run *r, const char *job_path, const char *audit_opt,
                   int success, int stop_signal);

#endif
