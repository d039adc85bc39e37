/* correspondence.h — the run's encrypted correspondence table.
 *
 * pl_corr_begin (after the owner dictionary is initialised, before ingest):
 *   checks the custodians' public keys, draws the run's data key on rank 0
 *   and shares it in memory; for an incremental run, opens the previous
 *   file's key with the custodians' private keys (rank 0) and preloads
 *   every previous (p1, rank) -> pid into its owner rank's key table, and
 *   joins the keys that shared a pid (they stay one person).
 * pl_corr_write (after ingest and link): every owner rank encrypts its
 *   shard (p1 || rank || pid records sorted by key, AES-256-GCM) and the file
 *   <out>/correspondence.h5 is written in parallel to a temporary, closed
 *   and left for run.c to publish with linked.h5.
 * A job without a `custody` section writes no correspondence file.
 */
#ifndef PL_CORRESPONDENCE_H
#define PL_CORRESPONDENCE_H

#include "crypto/corrfile.h"
#include "par/output.h"
#include "stage/run.h"
#include "crypto/keyset.h"

int  pl_corr_begin(pl_run *r, const pl_keyset *prev_keys);
/* On success f->tmp is NULL when nothing was written (no custody). On
 * failure the temporary is discarded and -1 is returned on every rank. */
int  pl_corr_write(pl_run *r, pl_outfile *f, const char *dir,
                   const char *tag);
void pl_corr_end(pl_run *r);

#endif
