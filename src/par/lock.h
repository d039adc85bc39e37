/* lock.h — one run at a time per output directory.
 *
 * <dir>/.pseudolink.lock is created with O_CREAT|O_EXCL and holds
 * "host pid start-time tag\n" of rank 0 (tag: the run's, output.h). A second run on the same directory
 * refuses and names the holder. A lock is stale when it names this host and
 * a pid that no longer exists (a run killed with -9, a node reboot on a
 * local disk): it is removed with a warning. A lock from another host is
 * never guessed stale; the message says how to remove it by hand.
 * When a stale lock is removed, the temporaries that dead run named with
 * its tag (<dir>/.<name>.tmp-<tag>) are removed, each with a warning; its
 * output directory is cleaned by par/generation.h's pl_gen_clean.
 */
#ifndef PL_LOCK_H
#define PL_LOCK_H

#include <mpi.h>

/* Collective: rank 0 takes the lock and cleans temporaries; status agreed. */
int  pl_out_lock(const char *dir, const char *tag, MPI_Comm comm);
/* Collective: rank 0 removes the lock if this process took it. */
void pl_out_unlock(MPI_Comm comm);

/* Non-MPI forms (rank 0's work; also used by tests). */
int  pl_lock_take(const char *dir, const char *tag);
void pl_lock_release(void);

#endif
