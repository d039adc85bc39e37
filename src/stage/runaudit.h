/* runaudit.h — what `pseudolink run` does around its stages for
 * reliability and the audit trail (docs/AUDIT.md, docs/RELIABILITY.md):
 *   pl_run_guard   after the output directory exists: ignore SIGXFSZ (a
 *                  file-size limit becomes an EFBIG write error naming the
 *                  file), take the directory lock (par/lock.h), remove what
 *                  dead or superseded runs left (par/generation.h), check
 *                  that the audit log can be appended to, and create the
 *                  run's own output directory, r->gendir, where every
 *                  output is written.
 *   pl_run_output  note a finished output file (its name in r->gendir).
 *   pl_run_publish_set  the whole set at once: digests of the store and of
 *                  every output, MANIFEST, fsync, seal; the audit line is
 *                  appended and fsynced; only then is the set made current
 *                  (one rename). A failed publication gets a second line.
 *   pl_run_finish  whatever happened: a run that did not publish gets its
 *                  failure line, its directory is removed, the lock is
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
int  pl_run_guard(pl_run *r, const char *audit_opt, const char *tag);
void pl_run_output(const char *name);
/* Collective; 0 when the set is published (and `published` lists it), -1
 * when nothing was (the previous set is still current). */
int  pl_run_publish_set(pl_run *r, const char *job_path,
                        const char *audit_opt, int extracts_refused,
                        char *published, size_t plen);
/* The audit chain's head after this run's last line ("" if none). */
const char *pl_run_audit_head(void);
/* Collective; returns -1 if a failure line could not be written. */
int  pl_run_finish(pl_run *r, const char *job_path, const char *audit_opt,
                   int stop_signal);

#endif
