/* secure.h — process hardening and careful opening of secret inputs.
 *
 * No core dumps: a rank's memory holds NIRs, first pseudonyms and the
 * p1 -> pid pairs in clear, so every command that reads a key or a record
 * calls pl_no_core_dumps() before it does: RLIMIT_CORE 0 (soft and hard)
 * and prctl(PR_SET_DUMPABLE, 0) (no core even through a core_pattern pipe,
 * no ptrace attach or /proc/PID/mem read by an unprivileged process of the
 * same user). An operator debugging a crash on a store with no real data
 * sets PSEUDOLINK_ALLOW_CORE_DUMPS=1: a warning is printed and
 * pl_core_dumps_allowed() reports it (docs/RELIABILITY.md).
 *
 * Secret files (keys, custodians' private keys, passphrase files) are
 * opened with pl_open_regular(): O_NONBLOCK, then fstat, so a FIFO, a
 * device, a socket or a directory is refused at once and never waited on
 * or read from. A symlink to a regular file is followed (key directories
 * are legitimately symlinked); the file it resolves to is what is checked.
 */
#ifndef PL_BASE_SECURE_H
#define PL_BASE_SECURE_H

#include <sys/stat.h>

#define PL_ALLOW_CORE_ENV "PSEUDOLINK_ALLOW_CORE_DUMPS"

/* Returns 0 (no core dumps), 1 (allowed on purpose, warned), or -1 after a
 * message naming the system's reason. `cmd` names the command. */
int pl_no_core_dumps(const char *cmd);
/* 1 when core dumps were allowed by PSEUDOLINK_ALLOW_CORE_DUMPS=1. */
int pl_core_dumps_allowed(void);

/* "a FIFO", "a character device", ... for messages. */
const char *pl_file_kind(mode_t mode);

/* Open `path` read-only without blocking and check, on the descriptor, that
 * it is a regular file. `what` names the object ("producer key"). On
 * success returns the descriptor (blocking again) and fills *st if non-NULL;
 * on failure returns -1 after a message naming the path, the object, what
 * was expected and the system's reason (none when quiet). */
int pl_open_regular(const char *path, const char *what, struct stat *st,
                    int quiet);

/* 1 when paths a and b name the same file (same st_dev and st_ino after
 * following symlinks: a symlink or a hard link to b is b), 0 when not or
 * when either does not exist. */
int pl_same_file(const char *a, const char *b);

#endif
