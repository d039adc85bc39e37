/* misuse.h — refusals before a run reads or writes anything (issue 12;
 * docs/RELIABILITY.md, "Keys, inputs and core dumps"):
 *
 *  - an output path (the output directory, linked.h5, correspondence.h5,
 *    extracts/ and extracts/<project>.h5, the audit log, the lock — the
 *    temporaries are written next to their final names) that resolves to an
 *    input (the job file, the store, a key, a custodian key or passphrase
 *    file, the previous correspondence file): same st_dev and st_ino after
 *    following symlinks, so symlinks and hard links are caught;
 *  - one key given for two roles: the producer key, the platform key (keyed
 *    mode) and every project key must have different fingerprints.
 *
 * Rank 0 checks and reports; every rank gets the verdict. */
#ifndef PL_STAGE_MISUSE_H
#define PL_STAGE_MISUSE_H

#include "stage/run.h"
#include "crypto/keyset.h"

/* audit_opt: `run --audit FILE` or NULL; prev: --prev-key/--prev-passphrase-file.
 * Returns 0; -1 after a message; -2 when the audit log itself resolves to
 * an input (the caller then must not append the failure line to it). */
int pl_misuse_check(pl_run *r, const char *audit_opt, const pl_keyset *prev);

#endif
