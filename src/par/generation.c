/* generation.c — see generation.h. */
#include "par/generation.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".pseudolink-run.tmp-"
#define GEN_PREFIX ".pseudolink-gen-"
#define MARKER     "RUN_ID"

static int is_rank0(MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    return rank == 0;
}

/* fsync a file or directory by path; 0 or -1 with errno. */
static int sync_path(const char *p, int dir)
{
    int fd = open(p, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* A name of ours: prefix and 16 hex digits, nothing else (no '/'). */
static int our_name(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0 || strlen(name + pl) != 16)
        return 0;
    for (const char *c = name + pl; *c; c++)
        if (!strchr("0123456789abcdef", *c))
            return 0;
    return 1;
}

/* Our directory: a real directory (not a symlink to one elsewhere) in
 * `out`, owned by us, whose RUN_ID (a regular file, not followed) holds
 * exactly the tag of its name. */
static int ours(const char *out, const char *name, const char *prefix)
{
    if (!our_name(name, prefix))
        return 0;
    size_t pl = strlen(prefix);
    char *dp = pl_xasprintf("%s/%s", out, name), buf[32] = "";
    struct stat sb;
    int ok = lstat(dp, &sb) == 0 && S_ISDIR(sb.st_mode) &&
             sb.st_uid == geteuid();
    int dfd = ok ? open(dp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    free(dp);
    if (dfd < 0)
        return 0;
    int fd = openat(dfd, MARKER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                                 O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return 0;
    ssize_t n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
                sb.st_uid == geteuid() ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return n == 17 && buf[16] == '\n' && strncmp(buf, name + pl, 16) == 0;
}

/* rm -r below an open directory: never follows a symlink (a directory
 * swapped for one is refused, not descended). Closes dfd. */
static int remove_at(int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat sb;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(sb.st_mode)) {
            int c = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY |
                                           O_NOFOLLOW | O_CLOEXEC);
            if (c < 0 || remove_at(c) != 0 ||
                (unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 &&
                 errno != ENOENT))
                rc = -1;
        } else if (unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/* rm -r of a directory we made: `p` itself must be a real directory (a
 * symlink is never followed: it is not ours). */
static int remove_tree(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = remove_at(fd);
    if (rmdir(p) != 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

int pl_gen_begin(pl_generation *g, const char *out, const char *tag,
                 MPI_Comm comm)
{
    memset(g, 0, sizeof *g);
    snprintf(g->tag, sizeof g->tag, "%s", tag);
    g->out = pl_xstrdup(out);
    g->dir = pl_xasprintf("%s/" TMP_PREFIX "%s", out, tag);
    int ok = 1;
    if (is_rank0(comm)) {
        char *m = pl_xasprintf("%s/" MARKER, g->dir);
        int fd = -1;
        if (mkdir(g->dir, 0750) != 0 ||
            (fd = open(m, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0 ||
            dprintf(fd, "%s\n", tag) != 17 || fsync(fd) != 0) {
            pl_err("%s: cannot create the run's output directory: %s",
                   g->dir, strerror(errno));
            ok = 0;
        }
        if (fd >= 0)
            close(fd);
        free(m);
    }
    return pl_root_ok(comm, ok) ? 0 : -1;
}

int pl_gen_seal(pl_generation *g, const char *const *files, size_t n,
                MPI_Comm comm)
{
    int ok = 1;
    if (is_rank0(comm)) {
        /* The data first, then the names: after a crash the set is either
         * complete under its sealed name or still a temporary. */
        for (size_t i = 0; i < n && ok; i++) {
            char *p = pl_xasprintf("%s/%s", g->dir, files[i]);
            if (sync_path(p, 0) != 0) {
                pl_err("%s: cannot flush to disk: %s", p, strerror(errno));
                ok = 0;
            }
            free(p);
        }
        char *x = pl_xasprintf("%s/extracts", g->dir);
        struct stat sb;
        if (ok && stat(x, &sb) == 0 && sync_path(x, 1) != 0) {
            pl_err("%s: cannot flush to disk: %s", x, strerror(errno));
            ok = 0;
        }
        free(x);
        char *sealed = pl_xasprintf("%s/" GEN_PREFIX "%s", g->out, g->tag);
        if (ok && (sync_path(g->dir, 1) != 0 || rename(g->dir, sealed) != 0 ||
                   sync_path(g->out, 1) != 0)) {
            pl_err("%s: cannot seal the run's outputs (rename to %s): %s",
                   g->dir, sealed, strerror(errno));
            ok = 0;
        }
        free(sealed);
    }
    if (!pl_root_ok(comm, ok))
        return -1;
    free(g->dir);
    g->dir = pl_xasprintf("%s/" GEN_PREFIX "%s", g->out, g->tag);
    g->sealed = 1;
    return 0;
}

/* `link` becomes a symlink to `target`, atomically (a temporary symlink
 * renamed over it). */
static int swap_link(const char *out, const char *link, const char *target,
                     const char *tag)
{
    char *tmp = pl_xasprintf("%s/.pseudolink-link.tmp-%s", out, tag);
    char *dst = pl_xasprintf("%s/%s", out, link);
    unlink(tmp);
    int rc = symlink(target, tmp) == 0 && rename(tmp, dst) == 0 ? 0 : -1;
    if (rc != 0) {
        int e = errno;
        pl_err("%s: cannot point it at %s: %s", dst, target, strerror(e));
        unlink(tmp);
        errno = e;
    }
    free(tmp);
    free(dst);
    return rc;
}

/* A stable name: already the right symlink, or made one. An extracts
 * directory of the earlier layout is moved aside, not deleted. */
static int stable_name(const pl_generation *g, const char *name)
{
    char *p = pl_xasprintf("%s/%s", g->out, name);
    char *want = pl_xasprintf(PL_GEN_CURRENT "/%s", name), have[4096];
    ssize_t n = readlink(p, have, sizeof have - 1);
    int rc = 0;
    if (n >= 0) {
        have[n] = '\0';
        if (strcmp(have, want) == 0)
            goto done;
    }
    /* Anything there that is not a symlink (a directory of the earlier
     * layout, or a file of the user's: an export or a store in the output
     * directory under an output's name) is moved aside, never replaced. */
    struct stat sb;
    if (n < 0 && lstat(p, &sb) == 0) {
        char *aside = pl_xasprintf("%s/.pseudolink-old-%s-%s", g->out, name, g->tag);
        if (rename(p, aside) != 0) {
            pl_warn("%s: cannot move the earlier %s aside: %s", p,
                    S_ISDIR(sb.st_mode) ? "directory" : "file",
                    strerror(errno));
            rc = -1;
        } else {
            pl_warn("%s: an earlier %s (not a link into %s/) was there: "
                    "moved to %s", p, S_ISDIR(sb.st_mode) ? "directory"
                    : "file", PL_GEN_CURRENT, aside);
        }
        free(aside);
    }
    if (rc == 0)
        rc = swap_link(g->out, name, want, g->tag);
done:
    free(p);
    free(want);
    return rc;
}

int pl_gen_publish(pl_generation *g, const char *const *names, size_t n,
                   MPI_Comm comm)
{
    int ok = 1;
    if (is_rank0(comm)) {
        char *old = pl_gen_current(g->out);
        const char *base = strrchr(g->dir, '/') + 1;
        ok = swap_link(g->out, PL_GEN_CURRENT, base, g->tag) == 0 &&
             sync_path(g->out, 1) == 0;
        if (ok) {
            for (size_t i = 0; i < n; i++)
                if (stable_name(g, names[i]) != 0)
                    pl_warn("%s/%s: the stable name is not a link into %s/ "
                            "(the set itself is published)", g->out,
                            names[i], PL_GEN_CURRENT);
            sync_path(g->out, 1);
            const char *ob = old ? strrchr(old, '/') + 1 : NULL;
            if (old && strcmp(old, g->dir) != 0 &&
                ours(g->out, ob, GEN_PREFIX) && remove_tree(old) != 0)
                pl_warn("%s: cannot remove the previous generation: %s "
                        "(the next run will)", old, strerror(errno));
        }
        free(old);
    }
    if (!pl_root_ok(comm, ok))
        return -1;
    g->published = 1;
    return 0;
}

void pl_gen_discard(pl_generation *g, MPI_Comm comm)
{
    MPI_Barrier(comm);          /* every rank has closed its files */
    if (is_rank0(comm) && g->dir && !g->published) {
        char *cur = pl_gen_current(g->out);
        if ((!cur || strcmp(cur, g->dir) != 0) && remove_tree(g->dir) != 0)
            pl_warn("%s: cannot remove this run's unpublished outputs: %s "
                    "(the next run will)", g->dir, strerror(errno));
        free(cur);
    }
}

void pl_gen_free(pl_generation *g)
{
    free(g->out);
    free(g->dir);
    memset(g, 0, sizeof *g);
}

/* Only a link to one of our generation directories in <out> itself counts:
 * a `current` planted to point elsewhere (../x, /etc) is never followed,
 * so nothing outside the output directory is ever removed. */
char *pl_gen_current(const char *out)
{
    char *p = pl_xasprintf("%s/" PL_GEN_CURRENT, out), buf[4096];
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    free(p);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    /* Only a generation of this directory, and one of ours: never "..",
     * "/", "." nor another user's directory. */
    if (!our_name(buf, GEN_PREFIX) || !ours(out, buf, GEN_PREFIX))
        return NULL;
    return pl_xasprintf("%s/%s", out, buf);
}

/* When our directory `name` was begun (its RUN_ID's mtime). */
static int begun(const char *out, const char *name, struct timespec *t)
{
    char *m = pl_xasprintf("%s/%s/" MARKER, out, name);
    struct stat sb;
    int rc = lstat(m, &sb);
    free(m);
    if (rc == 0)
        *t = sb.st_mtim;
    return rc;
}

void pl_gen_clean(const char *out,
                  void (*dead)(const char *tag, int sealed, void *ctx),
                  void *ctx)
{
    char *cur = pl_gen_current(out);
    const char *cur_base = cur ? strrchr(cur, '/') + 1 : "";
    /* Runs on a directory are serialised by its lock: a sealed generation
     * begun after the current one never became current (its run died
     * between sealing and the swap); one begun before was superseded. */
    struct timespec ct = {0, 0};
    int have_ct = cur && ours(out, cur_base, GEN_PREFIX) &&
                  begun(out, cur_base, &ct) == 0;
    DIR *d = opendir(out);
    if (!d) {
        free(cur);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        int tmp = ours(out, e->d_name, TMP_PREFIX);
        int gen = !tmp && ours(out, e->d_name, GEN_PREFIX) &&
                  strcmp(e->d_name, cur_base) != 0;
        if (!tmp && !gen)
            continue;
        struct timespec t;
        int never = gen && (!have_ct || (begun(out, e->d_name, &t) == 0 &&
                    (t.tv_sec > ct.tv_sec || (t.tv_sec == ct.tv_sec &&
                                              t.tv_nsec > ct.tv_nsec))));
        char *p = pl_xasprintf("%s/%s", out, e->d_name);
        if (remove_tree(p) == 0) {
            pl_warn("%s: removed the %s", p,
                    tmp ? "temporary of an unfinished run"
                    : never ? "sealed outputs of a run that died before "
                              "publishing them"
                            : "superseded outputs of an earlier run");
            if ((tmp || never) && dead)
                dead(e->d_name + strlen(tmp ? TMP_PREFIX : GEN_PREFIX),
                     never, ctx);
        }
        else
            pl_warn("%s: cannot remove the outputs of an earlier run: %s", p,
                    strerror(errno));
        free(p);
    }
    closedir(d);
    free(cur);
}
