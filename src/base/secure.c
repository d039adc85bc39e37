/* secure.c — see secure.h. */
#include "base/secure.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int allowed;

int pl_core_dumps_allowed(void) { return allowed; }

int pl_no_core_dumps(const char *cmd)
{
    const char *env = getenv(PL_ALLOW_CORE_ENV);
    if (env && strcmp(env, "1") == 0) {
        allowed = 1;
        pl_warn("%s: %s=1: core dumps are ALLOWED; a core file holds NIRs, "
                "first pseudonyms and keys in clear; use this only on a "
                "store with no real data", cmd, PL_ALLOW_CORE_ENV);
        return 1;
    }
    if (env && *env && strcmp(env, "0") != 0) {
        pl_err("%s: %s='%s': expected 1 (allow core dumps) or 0", cmd,
               PL_ALLOW_CORE_ENV, env);
        return -1;
    }
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        pl_err("%s: cannot set the core file size limit to 0: %s", cmd,
               strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        pl_err("%s: cannot mark the process not dumpable "
               "(prctl PR_SET_DUMPABLE 0): %s", cmd, strerror(errno));
        return -1;
    }
    return 0;
}

const char *pl_file_kind(mode_t m)
{
    if (S_ISREG(m))  return "a regular file";
    if (S_ISDIR(m))  return "a directory";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISCHR(m))  return "a character device";
    if (S_ISBLK(m))  return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

int pl_open_regular(const char *path, const char *what, struct stat *st,
                    int quiet)
{
    struct stat s;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (!quiet)
            pl_err("%s: cannot open %s: %s", path, what, strerror(errno));
        return -1;
    }
    if (fstat(fd, &s) != 0) {
        if (!quiet)
            pl_err("%s: cannot stat %s: %s", path, what, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(s.st_mode)) {
        if (!quiet)
            pl_err("%s: %s is %s; expected a regular file", path, what,
                   pl_file_kind(s.st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        if (!quiet)
            pl_err("%s: cannot set %s's descriptor blocking: %s", path,
                   what, strerror(errno));
        close(fd);
        return -1;
    }
    if (st)
        *st = s;
    return fd;
}

int pl_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
