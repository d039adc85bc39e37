/* lock.c — see lock.h. */
#include "par/lock.h"
#include "base/log.h"
#include "base/secure.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME ".pseudolink.lock"
#define LIVE_WAIT_TENTHS 50

static char *held;              /* path of the lock this process holds */

static char *lock_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof LOCK_NAME + 2;
    char *p = pl_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, LOCK_NAME);
    return p;
}

static int create(const char *path, const char *tag)
{
    char host[256] = "", line[400];
    gethostname(host, sizeof host - 1);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int n = snprintf(line, sizeof line, "%s %ld %lld %s\n", host,
                     (long)getpid(), (long long)time(NULL), tag ? tag : "-");
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e ? e : EIO;
        return -1;
    }
    close(fd);
    return 0;
}

/* 1 stale, 0 live or unknown, 2 live on this host; describes the holder
 * in who, and gives the holder's run tag ("" if the lock has none). */
static int is_stale(const char *path, char *who, size_t wlen, char tag[17])
{
    char buf[400] = "", host[256] = "", me[256] = "", tg[64] = "";
    long pid = 0;
    long long t = 0;
    tag[0] = '\0';
    /* Without blocking and without following a symlink: a FIFO planted as
     * the lock must not hang the run. */
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(who, wlen, "unreadable lock: %s", strerror(errno));
        return 0;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(who, wlen, "the lock is %s; expected a regular file",
                 pl_file_kind(sb.st_mode));
        close(fd);
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(who, wlen, "unreadable lock: %s", strerror(e));
        return 0;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%255s %ld %lld %63s", host, &pid, &t, tg) < 3 ||
        pid <= 0) {
        snprintf(who, wlen, "unreadable lock (a run that is starting?)");
        return 0;
    }
    if (strlen(tg) == 16 && strspn(tg, "0123456789abcdef") == 16)
        memcpy(tag, tg, 17);
    snprintf(who, wlen, "host %s, pid %ld", host, pid);
    gethostname(me, sizeof me - 1);
    if (strcmp(host, me) != 0)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH ? 1 : 2;
}

/* Remove the temporaries a dead run named with its tag: <dir>/.*.tmp-<tag>
 * (files or symlinks; its output directory is par/generation.h's). Only
 * names carrying the dead run's own tag: a user's file that looks like one
 * is left alone. */
static void clean_temporaries(const char *dir, const char *tag)
{
    if (!tag[0])
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    char suffix[32];
    snprintf(suffix, sizeof suffix, ".tmp-%s", tag);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name), s = strlen(suffix);
        if (e->d_name[0] != '.' || n <= s ||
            strcmp(e->d_name + n - s, suffix) != 0)
            continue;
        size_t pn = strlen(dir) + n + 2;
        char *p = pl_xmalloc(pn);
        struct stat sb;
        snprintf(p, pn, "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode))) {
            if (unlink(p) == 0)
                pl_warn("%s: removed the temporary of an unfinished run", p);
            else
                pl_warn("%s: cannot remove the temporary of an unfinished "
                        "run: %s", p, strerror(errno));
        }
        free(p);
    }
    closedir(d);
}

int pl_lock_take(const char *dir, const char *tag)
{
    char *path = lock_path(dir);
    char who[400], dead[17] = "";
    /* A run that just failed may still be tearing down its ranks for a
     * moment after mpirun returned: give a live holder on this host
     * LIVE_WAIT_TENTHS tenths of a second before refusing. */
    int waited = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (create(path, tag) == 0) {
            held = path;
            clean_temporaries(dir, dead);
            return 0;
        }
        if (errno != EEXIST) {
            pl_err("%s: cannot create the output lock: %s", path,
                   strerror(errno));
            break;
        }
        int st = is_stale(path, who, sizeof who, dead);
        if (st == 2 && waited++ < LIVE_WAIT_TENTHS) {
            usleep(100000);
            attempt--;
            continue;
        }
        if (st != 1) {
            pl_err("%s: another run is using the output directory %s (%s); "
                   "if that run is dead, remove the lock file by hand",
                   path, dir, who);
            break;
        }
        pl_warn("%s: removing the stale lock of a dead run (%s)", path, who);
        if (unlink(path) != 0 && errno != ENOENT) {
            pl_err("%s: cannot remove the stale lock: %s", path,
                   strerror(errno));
            break;
        }
    }
    free(path);
    return -1;
}

void pl_lock_release(void)
{
    if (!held)
        return;
    unlink(held);
    free(held);
    held = NULL;
}

int pl_out_lock(const char *dir, const char *tag, MPI_Comm comm)
{
    int rank, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0)
        ok = pl_lock_take(dir, tag) == 0;
    ok = pl_root_ok(comm, ok);
    return ok ? 0 : -1;
}

void pl_out_unlock(MPI_Comm comm)
{
    /* Every rank is past its last write to the directory. */
    MPI_Barrier(comm);
    pl_lock_release();
}
