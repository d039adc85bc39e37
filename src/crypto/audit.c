/* audit.c — see audit.h. */
#include "crypto/audit.h"
#include "base/hex.h"
#include "base/json.h"
#include "base/mem.h"
#include "crypto/keyfile.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_CHUNK 65536

/* A growing buffer; each section (top level, counts, inputs, outputs, keys)
 * is kept apart and joined in a fixed order when the line is closed. */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

struct pl_audit_rec {
    buf_t top, counts, inputs, outputs, keys;
    char head[65];              /* SHA-256 of the appended line, hex */
};

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = pl_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void putf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(buf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* "key":"escaped value" with a leading comma when the section is not empty. */
static void field_str(buf_t *b, const char *key, const char *v)
{
    char *k = pl_json_escape(key), *e = v ? pl_json_escape(v) : NULL;
    putf(b, "%s\"", b->len ? "," : "");
    puts_(b, k);
    puts_(b, "\":");
    if (e) {
        puts_(b, "\"");
        puts_(b, e);
        puts_(b, "\"");
    } else {
        puts_(b, "null");
    }
    free(k);
    free(e);
}

static const char *username(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        return pw->pw_name;
    const char *u = getenv("USER");
    return u ? u : "unknown";
}

pl_audit_rec *pl_audit_begin(const char *command)
{
    pl_audit_rec *a = pl_xcalloc(1, sizeof *a);
    char when[32], host[256] = "unknown";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    puts_(&a->top, "\"v\":1");
    field_str(&a->top, "time", when);
    field_str(&a->top, "user", username());
    field_str(&a->top, "host", host);
    field_str(&a->top, "slurm_job_id", getenv("SLURM_JOB_ID"));
    field_str(&a->top, "command", command);
    return a;
}

void pl_audit_str(pl_audit_rec *a, const char *key, const char *value)
{
    field_str(&a->top, key, value);
}

void pl_audit_hex(pl_audit_rec *a, const char *key, const uint8_t *b,
                  size_t n)
{
    char *hex = pl_xmalloc(2 * n + 1);
    pl_hex(b, n, hex);
    field_str(&a->top, key, hex);
    free(hex);
}

void pl_audit_raw(pl_audit_rec *a, const char *key, const char *json)
{
    char *k = pl_json_escape(key);
    putf(&a->top, ",\"");
    puts_(&a->top, k);
    puts_(&a->top, "\":");
    puts_(&a->top, json);
    free(k);
}

void pl_audit_u64(pl_audit_rec *a, const char *name, uint64_t v)
{
    char *k = pl_json_escape(name);
    putf(&a->counts, "%s\"", a->counts.len ? "," : "");
    puts_(&a->counts, k);
    putf(&a->counts, "\":%llu", (unsigned long long)v);
    free(k);
}

static buf_t *list_of(pl_audit_rec *a, const char *list)
{
    return strcmp(list, "inputs") == 0 ? &a->inputs : &a->outputs;
}

void pl_audit_file(pl_audit_rec *a, const char *list, const char *path,
                   const char *name, const uint8_t digest[32], uint64_t size,
                   uint64_t leaf)
{
    buf_t *b = list_of(a, list), o = {0};
    char hex[65];
    /* Absolute, so verify finds it from any working directory; only the
     * directory is resolved (the file may be a stable symlink). */
    char *dir = pl_xstrdup(path), *slash = strrchr(dir, '/'), *abs = NULL;
    const char *base = slash ? slash + 1 : path;
    if (slash) {
        *slash = '\0';
        abs = realpath(dir[0] ? dir : "/", NULL);
    } else {
        abs = realpath(".", NULL);
    }
    char *full = NULL;
    if (abs) {
        full = pl_xmalloc(strlen(abs) + strlen(base) + 2);
        sprintf(full, "%s/%s", strcmp(abs, "/") ? abs : "", base);
    }
    pl_hex(digest, 32, hex);
    field_str(&o, "path", full ? full : path);
    free(full);
    free(abs);
    field_str(&o, "name", name ? name : base);
    free(dir);
    putf(&o, ",\"size\":%llu,\"leaf\":%llu", (unsigned long long)size,
         (unsigned long long)leaf);
    field_str(&o, "merkle_sha256", hex);
    putf(b, "%s{", b->len ? "," : "");
    puts_(b, o.p);
    puts_(b, "}");
    free(o.p);
}

void pl_audit_file_error(pl_audit_rec *a, const char *list, const char *path,
                         const char *why)
{
    buf_t *b = list_of(a, list), o = {0};
    field_str(&o, "path", path);
    field_str(&o, "error", why);
    putf(b, "%s{", b->len ? "," : "");
    puts_(b, o.p);
    puts_(b, "}");
    free(o.p);
}

void pl_audit_key(pl_audit_rec *a, const char *role, const uint8_t *key,
                  size_t n)
{
    uint8_t fpr[PL_KEY_FPR_BYTES];
    char hex[2 * PL_KEY_FPR_BYTES + 1];
    pl_key_fingerprint(key, n, fpr);
    pl_hex(fpr, sizeof fpr, hex);
    field_str(&a->keys, role, hex);
}

void pl_audit_free(pl_audit_rec *a)
{
    if (!a)
        return;
    free(a->top.p);
    free(a->counts.p);
    free(a->inputs.p);
    free(a->outputs.p);
    free(a->keys.p);
    free(a);
}

/* ------------------------------------------------------------------------ */
/* The log file */

/* SHA-256 of the last line of the open log into prev (zeros if empty).
 * Fails if the file does not end with a newline (a torn or edited line). */
static int last_line_hash(int fd, const char *log, uint8_t prev[32])
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        pl_err("%s: cannot stat the audit log: %s", log, strerror(errno));
        return -1;
    }
    memset(prev, 0, 32);
    off_t end = sb.st_size;
    if (end == 0)
        return 0;
    char c;
    if (pread(fd, &c, 1, end - 1) != 1 || c != '\n') {
        pl_err("%s: the audit log does not end with a complete line "
               "(torn write or edited file); check it with 'pseudolink "
               "verify --audit %s' and repair it by hand", log, log);
        return -1;
    }
    /* Find the start of the last line by reading backwards. */
    off_t start = 0, pos = end - 1;
    char *buf = pl_xmalloc(TAIL_CHUNK);
    while (pos > 0) {
        off_t from = pos > TAIL_CHUNK ? pos - TAIL_CHUNK : 0;
        ssize_t got = pread(fd, buf, (size_t)(pos - from), from);
        if (got != pos - from) {
            pl_err("%s: cannot read the audit log: %s", log,
                   got < 0 ? strerror(errno) : "short read");
            free(buf);
            return -1;
        }
        char *nl = memrchr(buf, '\n', (size_t)got);
        if (nl) {
            start = from + (nl - buf) + 1;
            break;
        }
        pos = from;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    int rc = 0;
    for (off_t o = start; o < end - 1 && rc == 0;) {
        size_t want = end - 1 - o < TAIL_CHUNK ? (size_t)(end - 1 - o)
                                               : TAIL_CHUNK;
        ssize_t got = pread(fd, buf, want, o);
        if (got <= 0) {
            pl_err("%s: cannot read the audit log", log);
            rc = -1;
        } else {
            EVP_DigestUpdate(ctx, buf, (size_t)got);
            o += got;
        }
    }
    EVP_DigestFinal_ex(ctx, prev, NULL);
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* Open (creating 0640) and lock the log exclusively; -1 on error. */
static int open_locked(const char *log)
{
    /* Never waited on: a FIFO or device is refused, not opened blocking. */
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
                  0640);
    struct stat sb;
    if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
        pl_err("%s: the audit log is not a regular file", log);
        return -1;
    }
    if (fd < 0) {
        pl_err("%s: cannot open the audit log for append: %s", log,
               strerror(errno));
        return -1;
    }
    /* O_WRONLY cannot pread; reopen read-write would change the mode rules,
     * so the tail is read through a second descriptor under the lock. */
    if (flock(fd, LOCK_EX) != 0) {
        pl_err("%s: cannot lock the audit log: %s", log, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* fsync the directory holding `path`; 0 or -1 with errno. */
static int sync_dir_of(const char *path)
{
    char *c = pl_xstrdup(path);
    int fd = open(dirname(c), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(c);
    if (fd < 0)
        return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int tail_hash(const char *log, uint8_t prev[32])
{
    int rfd = open(log, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (rfd < 0) {
        pl_err("%s: cannot read the audit log: %s", log, strerror(errno));
        return -1;
    }
    int rc = last_line_hash(rfd, log, prev);
    close(rfd);
    return rc;
}

int pl_audit_check(const char *log)
{
    uint8_t prev[32];
    int fd = open_locked(log);
    if (fd < 0)
        return -1;
    int rc = tail_hash(log, prev);
    close(fd);
    return rc;
}

static char *close_line(pl_audit_rec *a, int success, const char *error,
                        const uint8_t prev[32])
{
    buf_t b = {0};
    char hex[65];
    puts_(&b, "{");
    puts_(&b, a->top.p);
    putf(&b, ",\"counts\":{");
    if (a->counts.p)
        puts_(&b, a->counts.p);
    putf(&b, "},\"inputs\":[");
    if (a->inputs.p)
        puts_(&b, a->inputs.p);
    putf(&b, "],\"outputs\":[");
    if (a->outputs.p)
        puts_(&b, a->outputs.p);
    putf(&b, "],\"keys\":{");
    if (a->keys.p)
        puts_(&b, a->keys.p);
    puts_(&b, "}");
    field_str(&b, "outcome", success ? "success" : "failure");
    if (!success)
        field_str(&b, "error", error ? error : "unspecified");
    pl_hex(prev, 32, hex);
    field_str(&b, "prev", hex);
    puts_(&b, "}\n");
    return b.p;
}

const char *pl_audit_head(const pl_audit_rec *a) { return a->head; }

int pl_audit_append(const char *log, pl_audit_rec *a, int success,
                    const char *error)
{
    uint8_t prev[32];
    int fd = open_locked(log);
    if (fd < 0)
        return -1;
    if (tail_hash(log, prev) != 0) {
        close(fd);
        return -1;
    }
    struct stat sb0;
    if (fstat(fd, &sb0) != 0) {
        pl_err("%s: cannot stat the audit log: %s", log, strerror(errno));
        close(fd);
        return -1;
    }
    int first = sb0.st_size == 0;
    char *line = close_line(a, success, error, prev);
    size_t len = strlen(line);
    uint8_t md[32];
    EVP_Digest(line, len - 1, md, NULL, EVP_sha256(), NULL);
    pl_hex(md, 32, a->head);
    /* One write() normally; a short one is continued, so that the reason
     * it stopped (ENOSPC, EFBIG, EDQUOT) is known and reported. */
    size_t done = 0;
    ssize_t w = 0;
    while (done < len && (w = write(fd, line + done, len - done)) > 0)
        done += (size_t)w;
    int err = done < len ? (w < 0 ? errno : EIO) : 0;
    int rc = 0;
    if (done != len) {
        /* A partial line would break the chain for every later line:
         * cut it back (we hold the lock, so nobody appended after us). */
        if (done > 0 && ftruncate(fd, sb0.st_size) != 0)
            pl_err("%s: cannot remove the partial line just written: %s",
                   log, strerror(errno));
        pl_err("%s: cannot append to the audit log: %s", log,
               strerror(err));
        rc = -1;
    } else if (fsync(fd) != 0) {
        pl_err("%s: cannot sync the audit log: %s", log, strerror(errno));
        rc = -1;
    } else if (first && sync_dir_of(log) != 0) {
        /* A new log: its directory entry must be durable too before
         * anything the line records is printed or published. */
        pl_err("%s: cannot sync the directory of the new audit log: %s", log,
               strerror(errno));
        rc = -1;
    }
    free(line);
    if (close(fd) != 0 && rc == 0) {
        pl_err("%s: cannot close the audit log: %s", log, strerror(errno));
        rc = -1;
    }
    return rc;
}
