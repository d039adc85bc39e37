/* reveal.c — see reveal.h. The only place where p1 is printed: to the
 * custodians who jointly asked, after the audit record is written. */
#include "cmd/reveal.h"
#include "base/hex.h"
#include "crypto/audit.h"
#include "crypto/digest.h"
#include "crypto/corrfile.h"
#include "job/custody_cfg.h"
#include "crypto/custody.h"
#include "crypto/keyfile.h"
#include "base/log.h"
#include "par/output.h"
#include "par/lock.h"
#include "stage/pseudonym.h"
#include "base/mem.h"
#include "par/h5.h"
#include "base/json.h"
#include "crypto/keyset.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Audit */

/* The output directory a correspondence file belongs to: the directory
 * it is named in, or the parent of a generation directory (current/,
 * .pseudolink-gen-<tag>/, par/generation.h). */
static char *output_dir_of(const char *corr)
{
    char *d = pl_xstrdup(corr);
    char *dir = pl_xstrdup(dirname(d));
    free(d);
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (strcmp(base, "current") == 0 ||
        strncmp(base, ".pseudolink-gen-", 16) == 0) {
        char *e = pl_xstrdup(dir), *up = pl_xstrdup(dirname(e));
        free(e);
        free(dir);
        dir = up;
    }
    return dir;
}

/* The output directory the table really is in: as named (the path the
 * user gave, kept for messages), unless the file is reached through a
 * symlink from elsewhere (~/corr.h5 -> /data/out/correspondence.h5): then
 * the directory of the file it resolves to, whose chain it belongs to. */
static char *table_dir(const char *corr)
{
    char *dir = output_dir_of(corr), *real = realpath(corr, NULL);
    if (!real)
        return dir;
    char *rdir = output_dir_of(real), *ldir = realpath(dir, NULL);
    free(real);
    if (ldir && strcmp(ldir, rdir) == 0) {
        free(ldir);
        free(rdir);
        return dir;
    }
    free(ldir);
    free(dir);
    return rdir;
}

/* By default the output directory's own chain, <dir>/audit.log, where its
 * runs write: one chain per output directory. */
static char *default_audit(const char *corr)
{
    char *dir = table_dir(corr);
    size_t n = strlen(dir) + 16;
    char *p = pl_xmalloc(n);
    snprintf(p, n, "%s/audit.log", strcmp(dir, "/") ? dir : "");
    free(dir);
    return p;
}

/* The log this attempt goes to: --audit, else the default one of `path`.
 * NULL when the table does not exist and neither does the default log:
 * a mistyped --corr names no output directory, and must not leave a new
 * audit.log wherever it points (/, a home directory). The attempt is then
 * not recorded; nothing can be revealed from a file that is not there. */
static char *attempt_audit(const char *opt, const char *corr,
                           const char *path)
{
    if (opt)
        return pl_xstrdup(opt);
    char *p = default_audit(path);
    struct stat sb;
    if (stat(corr, &sb) != 0 && errno == ENOENT && lstat(p, &sb) != 0 &&
        errno == ENOENT) {
        free(p);
        return NULL;
    }
    return p;
}

/* What one custodians' command records: who opened which table, with which
 * custodians, the pids asked for and found (platform pseudonyms, never a
 * p1), the reason given, the outcome. Failures and refusals too. */
typedef struct {
    const char *event, *corr, *reason;
    const pl_corr_file *cf;     /* NULL when it could not be opened */
    const int *used;            /* pl_corr_unlock's: 1 served, 2 presented */
    const char *k1, *k2;
    uint64_t v1, v2;
    const char *pids_json, *found_json;    /* reveal: JSON arrays */
    const char *out_path;       /* rewrap: the new file (digested) */
} audit_event;

static char *custodians_json(const pl_corr_file *cf, const int *used)
{
    char *json = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&json, &len);
    fputc('[', m);
    for (size_t i = 0, k = 0; cf && used && i < cf->cm.n; i++) {
        if (!used[i])
            continue;
        char fpr[72];
        pl_fpr_hex(cf->cm.fpr[i], fpr);
        /* As read from the file, which may have been altered: escaped as
         * messages are (\xNN), so that the line stays UTF-8 JSON. */
        char esc[4 * PL_CUST_NAME_MAX + 8];
        pl_log_escape(cf->cm.name[i], esc, sizeof esc);
        char *name = pl_json_escape(esc);
        pl_log_escape(cf->cm.role[i], esc, sizeof esc);
        char *role = pl_json_escape(esc);
        fprintf(m, "%s{\"name\":\"%s\",\"role\":\"%s\",\"fingerprint\":"
                "\"%s\",\"served\":%s}", k++ ? "," : "", name, role, fpr,
                used[i] == 1 ? "true" : "false");
        free(name);
        free(role);
    }
    fputc(']', m);
    fclose(m);
    return json;
}

/* One line in the output directory's hash-chained audit log (crypto/
 * audit.h), appended and fsynced before anything is printed or written;
 * prints the chain's new head on stderr. */
static int audit_event_append(const char *path, const audit_event *ev,
                              int success, const char *error)
{
    if (!path) {                /* attempt_audit: no table, no log */
        fprintf(stderr, "pseudolink: not audited: %s does not exist, so it "
                "names no output directory (give --audit LOG to record "
                "the attempt anyway)\n", ev->corr);
        if (success)
            pl_err("refusing to go on without an audit record");
        return -1;
    }
    char *json = custodians_json(ev->cf, ev->used);
    char *outdir = table_dir(ev->corr);
    pl_audit_rec *a = pl_audit_begin(ev->event);
    pl_audit_str(a, "event", ev->event);
    pl_audit_str(a, "file", ev->cf ? ev->cf->path : ev->corr);
    pl_audit_str(a, "output_dir", outdir);
    if (ev->cf)
        pl_audit_str(a, "run_id", ev->cf->run_id);
    if (ev->reason)
        pl_audit_str(a, "reason", ev->reason);
    pl_audit_raw(a, "custodians", json);
    if (ev->pids_json)
        pl_audit_raw(a, "pids_requested", ev->pids_json);
    if (ev->found_json)
        pl_audit_raw(a, "pids_found", ev->found_json);
    if (ev->k1)
        pl_audit_u64(a, ev->k1, ev->v1);
    if (ev->k2)
        pl_audit_u64(a, ev->k2, ev->v2);
    if (ev->out_path) {
        uint8_t root[32];
        uint64_t size;
        /* Under its name in the output directory (table_dir), also when
         * reached through a symlink from elsewhere: verify OUTDIR finds it
         * there. */
        char *lex = output_dir_of(ev->corr), *real = NULL, *in_dir = NULL;
        if (strcmp(lex, outdir) != 0 && (real = realpath(ev->corr, NULL))) {
            const char *b = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
            in_dir = pl_xmalloc(strlen(outdir) + strlen(b) + 2);
            sprintf(in_dir, "%s/%s", outdir, b);
        }
        if (pl_digest_file(ev->out_path, PL_DIGEST_LEAF, root, &size) == 0)
            pl_audit_file(a, "outputs", in_dir ? in_dir : ev->corr, NULL,
                          root, size, PL_DIGEST_LEAF);
        free(lex);
        free(real);
        free(in_dir);
    }
    int rc = pl_audit_append(path, a, success, error);
    if (rc == 0)
        fprintf(stderr, "pseudolink: audit %s head %s\n", path,
                pl_audit_head(a));
    pl_audit_free(a);
    free(json);
    free(outdir);
    if (rc != 0)
        pl_err("%s: cannot append to the audit log (refusing to go on "
               "without an audit record)", path);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Common options */

/* --reason TEXT goes into the audit line (JSON) as given: one line of
 * printable UTF-8. NULL when it is, else a copy escaped as messages are
 * (base/log.h: \xNN for a control byte or a byte that is not UTF-8), for
 * the refusal's own audit line; *at is the first such byte (0-based). */
static char *reason_escaped(const char *r, size_t *at)
{
    size_t n = strlen(r), cap = 4 * n + 8;
    char *e = pl_xmalloc(cap);
    pl_log_escape(r, e, cap);
    if (strcmp(e, r) == 0) {
        free(e);
        return NULL;
    }
    size_t i = 0;
    while (r[i] && r[i] == e[i])
        i++;
    *at = i;
    return e;
}

static int reason_refused(const char *cmd, const char *r)
{
    size_t at = 0;
    char *e = reason_escaped(r, &at);
    if (!e)
        return 0;
    free(e);
    pl_err("%s: --reason: expected one line of printable UTF-8 text (a "
           "ticket or request number); byte %zu is a control character "
           "(a newline, a tab, ...) or not UTF-8", cmd, at + 1);
    return 1;
}

typedef struct {
    const char *corr, *audit, *custody, *out, *reason;
    const char *pids;           /* reveal --pids FILE ("-": stdin) */
    int json;                   /* reveal --format json */
    pl_keyset ks;
    char **pos;
    int n_pos;
} cli;

static int parse_cli(int argc, char **argv, cli *c, int allow_pos,
                     const char *usage)
{
    memset(c, 0, sizeof *c);
    c->pos = pl_xcalloc((size_t)argc, sizeof *c->pos);
    for (int i = 1; i < argc; i++) {
        int k = pl_keyset_arg(&c->ks, "--key", "--passphrase-file", argc, argv,
                              &i);
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (k < 0)
            return -1;
        if (k > 0)
            continue;
        if (v && strcmp(argv[i], "--corr") == 0) c->corr = argv[++i];
        else if (v && strcmp(argv[i], "--audit") == 0) c->audit = argv[++i];
        else if (v && strcmp(argv[i], "--custody") == 0)
            c->custody = argv[++i];
        else if (v && strcmp(argv[i], "--out") == 0) c->out = argv[++i];
        else if (v && strcmp(argv[i], "--reason") == 0) c->reason = argv[++i];
        else if (allow_pos && v && strcmp(argv[i], "--pids") == 0) {
            if (c->pids) {
                pl_err("--pids given twice (one list; pids may also be "
                       "arguments)");
                fprintf(stderr, "%s\n", usage);
                return -1;
            }
            c->pids = argv[++i];
        } else if (allow_pos && v && strcmp(argv[i], "--format") == 0) {
            if (strcmp(v, "tsv") != 0 && strcmp(v, "json") != 0) {
                pl_err("--format: expected 'tsv' or 'json'");
                fprintf(stderr, "%s\n", usage);
                return -1;
            }
            c->json = strcmp(argv[++i], "json") == 0;
        } else if (allow_pos && argv[i][0] != '-') c->pos[c->n_pos++] = argv[i];
        else if (!v && (strcmp(argv[i], "--corr") == 0 ||
                        strcmp(argv[i], "--audit") == 0 ||
                        strcmp(argv[i], "--custody") == 0 ||
                        strcmp(argv[i], "--out") == 0 ||
                        strcmp(argv[i], "--reason") == 0 ||
                        (allow_pos && (strcmp(argv[i], "--pids") == 0 ||
                                       strcmp(argv[i], "--format") == 0)))) {
            pl_err("%s: missing its value (the last argument)", argv[i]);
            fprintf(stderr, "%s\n", usage);
            return -1;
        } else {
            pl_err("unexpected argument '%s'", argv[i]);
            fprintf(stderr, "%s\n", usage);
            return -1;
        }
    }
    if (!c->corr) {
        pl_err("missing --corr FILE (the correspondence file)");
        fprintf(stderr, "%s\n", usage);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* reveal */

/* The pids asked for: distinct, in the order first asked (arguments, then
 * the --pids list). `by_pid` holds the same pids sorted by value, each with
 * its place in `pid`: one binary search per record of the table, so a
 * reveal of n pids from a table of R records costs O((R + n) log n). */
typedef struct {
    uint8_t pid[PL_PID_BYTES];
    size_t idx;
} pid_ent;

typedef struct {
    uint8_t (*pid)[PL_PID_BYTES];
    size_t n, cap;
    pid_ent *by_pid;
    size_t bad;                 /* entries that are not pids */
} pidset;

#define BAD_SHOWN 10            /* bad entries named one by one */

static void pidset_add(pidset *ps, const uint8_t pid[PL_PID_BYTES])
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->pid = pl_xrealloc(ps->pid, ps->cap * sizeof *ps->pid);
    }
    memcpy(ps->pid[ps->n++], pid, PL_PID_BYTES);
}

static int ent_cmp(const void *a, const void *b)
{
    const pid_ent *x = a, *y = b;
    int c = memcmp(x->pid, y->pid, PL_PID_BYTES);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int ent_find(const void *key, const void *e)
{
    return memcmp(key, ((const pid_ent *)e)->pid, PL_PID_BYTES);
}

/* Drop repeated pids (the first request stays), build by_pid. */
static void pidset_index(pidset *ps)
{
    size_t m = ps->n, n = 0;
    pid_ent *e = pl_xcalloc(m ? m : 1, sizeof *e);
    char *keep = pl_xcalloc(m ? m : 1, 1);
    size_t *to = pl_xcalloc(m ? m : 1, sizeof *to);
    for (size_t i = 0; i < m; i++) {
        memcpy(e[i].pid, ps->pid[i], PL_PID_BYTES);
        e[i].idx = i;
    }
    qsort(e, m, sizeof *e, ent_cmp);
    for (size_t k = 0; k < m; k++)
        keep[e[k].idx] = k == 0 || memcmp(e[k].pid, e[k - 1].pid,
                                          PL_PID_BYTES) != 0;
    for (size_t i = 0; i < m; i++)
        if (keep[i]) {
            to[i] = n;
            memmove(ps->pid[n++], ps->pid[i], PL_PID_BYTES);
        }
    size_t w = 0;
    for (size_t k = 0; k < m; k++)
        if (keep[e[k].idx]) {
            e[w] = e[k];
            e[w++].idx = to[e[k].idx];
        }
    ps->n = n;
    ps->by_pid = e;
    free(keep);
    free(to);
}

static void pidset_free(pidset *ps)
{
    free(ps->pid);
    free(ps->by_pid);
    memset(ps, 0, sizeof *ps);
}

/* One entry (an argument, or a line stripped of its comment and blanks)
 * that should be a pid. Messages never show the entry: what is not a pid
 * may be an identifier (a p1 or a NIR pasted by mistake). where: "pid
 * argument 3" or "FILE:LINE". 0, or -1 after a message. */
static int parse_pid_entry(pidset *ps, const char *s, size_t len,
                           const char *where, int col)
{
    uint8_t pid[PL_PID_BYTES];
    size_t bad = 0;
    const char *nul = len == 2 * PL_PID_BYTES ? memchr(s, '\0', len) : NULL;
    if (len == 2 * PL_PID_BYTES && !nul &&
        pl_unhex(s, PL_PID_BYTES, pid, &bad) == 0) {
        pidset_add(ps, pid);
        return 0;
    }
    if (nul)                    /* pl_unhex stops at a NUL: say where */
        bad = (size_t)(nul - s);
    if (++ps->bad > BAD_SHOWN)
        return -1;
    if (len != 2 * PL_PID_BYTES)
        pl_err("%s: expected a pid (%d hex digits%s), found %zu "
               "characters (not shown)", where, 2 * PL_PID_BYTES,
               col ? ", one per line" : "", len);
    else
        pl_err("%s%s%.0zu: expected a pid (%d hex digits): character %zu "
               "is not a hex digit (not shown)", where, col ? ":" : "",
               col ? bad + 1 : 0, 2 * PL_PID_BYTES, bad + 1);
    return -1;
}

static int stdin_closed;        /* set by std_fds_closed_stdout */

/* One line of the list, up to its newline or the end: the bytes before a
 * '#' (a comment) are kept, at most LIST_LINE of them; *n is how many
 * there were (more than LIST_LINE: the line is not a pid, and is not held
 * in memory, whatever its length). 0, or -1 at the end of the list. */
#define LIST_LINE 1024

static int list_line(FILE *f, char *buf, size_t *n)
{
    int c, any = 0, comment = 0;
    *n = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        comment |= c == '#';
        if (!comment && (*n)++ < LIST_LINE)
            buf[*n - 1] = (char)c;
    }
    return any ? 0 : -1;
}

/* The --pids list: one pid per line; blank lines, and everything from a
 * '#' to the end of a line, are ignored; "-" is standard input. Every bad
 * line is counted (the first BAD_SHOWN named, by line number); 0 when the
 * whole list was read and every line was a pid or nothing. */
static int read_pid_list(pidset *ps, const char *path)
{
    int std = strcmp(path, "-") == 0;
    const char *name = std ? "standard input" : path;
    if (std && stdin_closed) {
        pl_err("standard input is closed: no pid list to read (--pids -)");
        return -1;
    }
    if (std && isatty(STDIN_FILENO))    /* else it looks like a hang */
        fprintf(stderr, "pseudolink: reading pids from the terminal, one "
                "per line; end with Ctrl-D\n");
    FILE *f = std ? stdin : fopen(path, "r");
    if (!f) {
        pl_err("%s: cannot open the pid list: %s", path, strerror(errno));
        return -1;
    }
    char line[LIST_LINE];
    size_t lineno = 0, bad0 = ps->bad, len;
    errno = 0;
    while (list_line(f, line, &len) == 0) {
        lineno++;
        char where[64 + PATH_MAX];
        snprintf(where, sizeof where, "%s:%zu", name, lineno);
        if (len > LIST_LINE) {
            /* Too long to be a pid, blanks or not: only its length is
             * used (parse_pid_entry reads the bytes of 32 only). */
            parse_pid_entry(ps, line, len, where, 1);
            continue;
        }
        size_t b = 0;
        while (b < len && strchr(" \t\r\n\v\f", line[b]) && line[b])
            b++;
        while (len > b && strchr(" \t\r\n\v\f", line[len - 1]) &&
               line[len - 1])
            len--;
        if (len == b)
            continue;
        parse_pid_entry(ps, line + b, len - b, where, 1);
    }
    int rc = 0;
    if (ferror(f)) {
        pl_err("%s: cannot read the pid list: %s", name,
               errno ? strerror(errno) : "read error");
        rc = -1;
    }
    if (!std)
        fclose(f);
    if (ps->bad > bad0) {
        if (ps->bad - bad0 > BAD_SHOWN)
            pl_err("%s: %zu more lines are not pids (not shown)", name,
                   ps->bad - bad0 - BAD_SHOWN);
        rc = -1;
    }
    return rc;
}

/* Arguments first, then the --pids list. -1 after messages. */
static int collect_pids(const cli *c, pidset *ps)
{
    int rc = 0;
    for (int j = 0; j < c->n_pos; j++) {
        char where[48];
        snprintf(where, sizeof where, "pid argument %d", j + 1);
        if (parse_pid_entry(ps, c->pos[j], strlen(c->pos[j]), where, 0) != 0)
            rc = -1;
    }
    if (ps->bad > BAD_SHOWN)
        pl_err("%zu more pid arguments are not pids (not shown)",
               ps->bad - BAD_SHOWN);
    size_t bad = ps->bad;
    ps->bad = 0;                /* the list counts its own */
    if (c->pids && read_pid_list(ps, c->pids) != 0)
        rc = -1;
    ps->bad += bad;
    pidset_index(ps);
    return rc;
}

/* The keys found for the wanted pids: hit k is pid index idx, key
 * key (p1 || rank; a person has one key per p1 and rank). */
typedef struct {
    size_t idx;
    uint8_t key[PL_KEY_REC];
} hit;

typedef struct {
    hit *h;
    size_t n, cap;
} hits;

static int hit_cmp(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->idx != y->idx)
        return (x->idx > y->idx) - (x->idx < y->idx);
    return memcmp(x->key, y->key, PL_KEY_REC);
}

/* Decrypt every shard and look each record's pid up among the wanted:
 * every key of pid j is a hit (sorted by pid asked, then key). */
static int find_pids(pl_corr_file *cf, const uint8_t *key, const pidset *ps,
                     hits *hs, char *found)
{
    for (size_t s = 0; s < cf->n_shards; s++) {
        uint8_t *pt;
        if (pl_corr_shard(cf, s, key, &pt) != 0)
            return -1;
        for (uint64_t i = 0; i < cf->nrec[s]; i++) {
            const uint8_t *e = pt + i * PL_CORR_REC;
            const pid_ent *f = bsearch(e + PL_KEY_REC, ps->by_pid, ps->n,
                                       sizeof *ps->by_pid, ent_find);
            if (f) {
                if (hs->n == hs->cap) {
                    size_t cap = hs->cap ? 2 * hs->cap : 16;
                    hit *nh = pl_xcalloc(cap, sizeof *nh);
                    if (hs->n)
                        memcpy(nh, hs->h, hs->n * sizeof *nh);
                    if (hs->h)
                        OPENSSL_cleanse(hs->h, hs->cap * sizeof *hs->h);
                    free(hs->h);
                    hs->h = nh;
                    hs->cap = cap;
                }
                hs->h[hs->n].idx = f->idx;
                memcpy(hs->h[hs->n++].key, e, PL_KEY_REC);
                found[f->idx] = 1;
            }
        }
        OPENSSL_cleanse(pt, cf->nrec[s] * PL_CORR_REC);
        free(pt);
    }
    if (hs->n)
        qsort(hs->h, hs->n, sizeof *hs->h, hit_cmp);
    return 0;
}

/* Standard output written and flushed? A reveal whose answer was lost
 * (a full disk, a closed pipe, /dev/full) must not exit 0. */
static int stdout_ok(const char *cmd)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        pl_err("%s: cannot write to standard output: %s", cmd,
               errno ? strerror(errno) : "write error");
        clearerr(stdout);
        return 0;
    }
    return 1;
}

/* The answer on stdout: TSV with a header, or JSON Lines; one line per
 * key of each found pid (its p1 and birth rank, empty / null for a key
 * without a rank), in the order asked. The pids not found are named on
 * stderr. */
static int print_found(const cli *c, const pl_corr_file *cf,
                       const pidset *ps, const hits *hs,
                       const char *found, size_t nfound)
{
    int json = c->json;
    if (!json)
        printf("pid\tp1\tbirth_rank\n");
    for (size_t k = 0; k < hs->n; k++) {
        const hit *h = &hs->h[k];
        char pid[2 * PL_PID_BYTES + 1], hex[2 * PL_P1_BYTES + 1], rk[8];
        pl_hex(ps->pid[h->idx], PL_PID_BYTES, pid);
        pl_hex(h->key, PL_P1_BYTES, hex);
        unsigned rank = h->key[PL_P1_BYTES];
        if (rank)
            snprintf(rk, sizeof rk, "%u", rank);
        else
            strcpy(rk, json ? "null" : "");
        printf(json ? "{\"pid\":\"%s\",\"p1\":\"%s\",\"birth_rank\":%s}\n"
                    : "%s\t%s\t%s\n", pid, hex, rk);
        OPENSSL_cleanse(hex, sizeof hex);
    }
    int rc = stdout_ok("reveal") ? 0 : -1;
    if (nfound < ps->n) {
        pl_err("%s: %zu of %zu pids are not in this correspondence file:",
               cf->path, ps->n - nfound, ps->n);
        for (size_t j = 0; j < ps->n; j++)
            if (!found[j]) {
                char pid[2 * PL_PID_BYTES + 1];
                pl_hex(ps->pid[j], PL_PID_BYTES, pid);
                pl_err("%s: pid %s is not in this correspondence file",
                       cf->path, pid);
            }
    }
    return rc;
}

/* ["pid", ...]: every pid asked for, or (found != NULL) those found. */
static char *pids_json(const pidset *ps, const char *found)
{
    char *json = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&json, &len);
    fputc('[', m);
    for (size_t j = 0, k = 0; j < ps->n; j++)
        if (!found || found[j]) {
            char hex[2 * PL_PID_BYTES + 1];
            pl_hex(ps->pid[j], PL_PID_BYTES, hex);
            fprintf(m, "%s\"%s\"", k++ ? "," : "", hex);
        }
    fputc(']', m);
    fclose(m);
    return json;
}

/* Open the key, look the pids up, audit, print. ev is the caller's
 * record (pids_requested filled). 0 when every pid was found and
 * printed. */
static int reveal(cli *c, pl_corr_file *cf, const pidset *ps,
                  audit_event *ev, const char *audit)
{
    size_t n = ps->n, nfound = 0;
    int rc = -1;
    hits hs = {NULL, 0, 0};
    char *found = pl_xcalloc(n, 1);
    int *used = pl_xcalloc(cf->cm.n, sizeof *used);
    uint8_t key[PL_CORR_KEY];
    ev->cf = cf;
    ev->used = used;
    if (pl_corr_unlock(cf, &c->ks, key, used) != 0 ||
        find_pids(cf, key, ps, &hs, found) != 0) {
        OPENSSL_cleanse(key, sizeof key);
        /* A refusal (keys of too few roles, a wrong key) is recorded. */
        audit_event_append(audit, ev, 0, pl_log_first_error());
        goto out;
    }
    OPENSSL_cleanse(key, sizeof key);
    for (size_t j = 0; j < n; j++)
        nfound += (size_t)found[j];
    char *fnd = pids_json(ps, found), why[96];
    ev->found_json = fnd;
    ev->v2 = (uint64_t)nfound;
    snprintf(why, sizeof why, "%zu of %zu pids are not in this table",
             n - nfound, n);
    /* Durable (fsynced) before the first p1 is printed. */
    rc = audit_event_append(audit, ev, nfound == n, nfound == n ? NULL : why);
    free(fnd);
    ev->found_json = NULL;
    if (rc == 0) {
        rc = print_found(c, cf, ps, &hs, found, nfound);
        rc = rc == 0 && nfound == n ? 0 : -1;
    }
out:
    if (hs.h)
        OPENSSL_cleanse(hs.h, hs.cap * sizeof *hs.h);
    free(hs.h);
    free(found);
    free(used);
    ev->cf = NULL;
    ev->used = NULL;
    return rc;
}

/* Standard input, output and error open? A closed one is replaced by
 * /dev/null so that no file this command opens (the audit log, a table)
 * takes its number and receives what is meant for it. Returns 1 when
 * standard output was closed; stdin_closed is set for read_pid_list. */
static int std_fds_closed_stdout(void)
{
    int out_closed = 0;
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            out_closed |= fd == 1;
            stdin_closed |= fd == 0;
            int n = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    return out_closed;
}

int pl_reveal_main(int argc, char **argv)
{
    static const char *usage =
        "usage: pseudolink reveal --corr FILE --key PEM [--key PEM]... "
        "[--passphrase-file FILE]... --reason TEXT [--pids FILE|-] "
        "[--format tsv|json] [--audit FILE] [PID...]";
    cli c;
    pl_h5_quiet();
    if (std_fds_closed_stdout()) {
        /* Nothing to print the answer to: refused before any p1 exists
         * (an audit line would record a reveal that nobody received). */
        pl_err("reveal: standard output is closed (the answer would be "
               "lost); nothing done");
        return 2;
    }
    if (parse_cli(argc, argv, &c, 1, usage) != 0) {
        free(c.pos);
        return 2;
    }
    if (c.n_pos == 0 && !c.pids) {
        pl_err("reveal: no pid given (PID arguments or --pids FILE, '-' for "
               "standard input)");
        fprintf(stderr, "%s\n", usage);
        free(c.pos);
        return 2;
    }
    /* From here on (the table and the pids are named) every attempt is
     * recorded, refusals included. */
    char *audit = attempt_audit(c.audit, c.corr, c.corr);
    int rc = 1;
    pl_corr_file cf;
    pidset ps;
    memset(&ps, 0, sizeof ps);
    audit_event ev = {"reveal", c.corr, c.reason, NULL, NULL,
                      "pids_requested", "pids_found", 0, 0, NULL, NULL, NULL};
    int bad = collect_pids(&c, &ps);
    char *req = pids_json(&ps, NULL);
    ev.pids_json = req;
    ev.v1 = (uint64_t)ps.n;
    if (bad != 0) {
        audit_event_append(audit, &ev, 0, pl_log_first_error());
    } else if (!c.reason || !c.reason[strspn(c.reason, " \t")]) {
        pl_err("reveal: --reason TEXT is required (the ticket or request "
               "this reveal answers; it is recorded in the audit log)");
        fprintf(stderr, "%s\n", usage);
        audit_event_append(audit, &ev, 0, pl_log_first_error());
        rc = 2;
    } else if (reason_refused("reveal", c.reason)) {
        size_t at;
        char *esc = reason_escaped(c.reason, &at);
        fprintf(stderr, "%s\n", usage);
        ev.reason = esc;        /* recorded escaped: the log stays JSON */
        audit_event_append(audit, &ev, 0, pl_log_first_error());
        free(esc);
        rc = 2;
    } else if (ps.n == 0) {
        pl_err("%s: no pid in the list (only blank lines and comments)",
               strcmp(c.pids, "-") == 0 ? "standard input" : c.pids);
        audit_event_append(audit, &ev, 0, pl_log_first_error());
    } else if (pl_corr_open(&cf, c.corr) == 0) {
        rc = reveal(&c, &cf, &ps, &ev, audit) == 0 ? 0 : 1;
        pl_corr_close(&cf);
    } else {
        audit_event_append(audit, &ev, 0, pl_log_first_error());
    }
    free(req);
    pidset_free(&ps);
    free(audit);
    free(c.pos);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* rewrap */

static int copy_root_attrs(const pl_corr_file *cf, hid_t out, const char *tmp)
{
    int rc = pl_attr_str(out, "format", PL_CORR_FORMAT) ||
             pl_attr_u64(out, "version", PL_CORR_VERSION) ||
             pl_attr_str(out, "run_id", cf->run_id) ||
             pl_attr_u64(out, "records", cf->records);
    /* The platform key a keyed run used travels with the file (an
     * incremental run compares it; docs/CORRESPONDENCE.md). */
    char fpr[2 * PL_CORR_FPR_HEX + 1];
    int has = rc == 0 ? pl_corr_platform_fpr(cf, fpr) : 0;
    if (has < 0 || (has > 0 && pl_attr_str(out, "platform_key_fpr", fpr)))
        rc = -1;
    /* The shards are copied as they are: ciphertext, nonces and tags. */
    if (rc == 0 && H5Ocopy(cf->file, "shards", out, "shards", H5P_DEFAULT,
                           H5P_DEFAULT) < 0)
        rc = -1;
    if (rc != 0)
        pl_err("%s: cannot copy the shards: %s", tmp, pl_h5_reason());
    return rc ? -1 : 0;
}

/* The rewrapped file is written next to the one it replaces (through a
 * stable symlink of an output directory: into its generation, so the
 * link stays a link), then audited, then renamed into place. */
static int write_rewrapped(pl_corr_file *cf, const pl_custody_meta *cm,
                           const char *final, const char *audit,
                           audit_event *ev)
{
    /* In an output directory of generations: hold its lock, so that no
     * run publishes a new set (and removes the generation written into)
     * between this audit line and the rename. */
    struct stat sb;
    char *od = table_dir(final), *cur = pl_xmalloc(strlen(od) + 16);
    snprintf(cur, strlen(od) + 16, "%s/current", od);
    int locked = 0;
    if (lstat(cur, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        char tag[17];
        snprintf(tag, sizeof tag, "%016lx", (unsigned long)getpid());
        if (pl_lock_take(od, tag) != 0) {
            free(od);
            free(cur);
            audit_event_append(audit, ev, 0, pl_log_first_error());
            return -1;
        }
        locked = 1;
    }
    free(od);
    free(cur);
    char *real = realpath(final, NULL);
    const char *target = real && lstat(final, &sb) == 0 && S_ISLNK(sb.st_mode)
                             ? real : final;
    size_t n = strlen(target) + 32;
    char *tmp = pl_xmalloc(n);
    snprintf(tmp, n, "%s.tmp-%ld", target, (long)getpid());
    mode_t old = umask(027);
    hid_t out = H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    umask(old);
    int rc = -1;
    if (out < 0) {
        pl_err("%s: cannot create: %s", tmp, pl_h5_reason());
        audit_event_append(audit, ev, 0, pl_log_first_error());
    } else {
        rc = copy_root_attrs(cf, out, tmp);
        rc = rc ? rc : pl_custody_meta_write(out, tmp, cm, 1, H5P_DEFAULT);
        if (H5Fclose(out) < 0)
            rc = -1;
        /* Audit first: a rewrap that cannot be recorded does not happen. */
        ev->out_path = tmp;
        if (audit_event_append(audit, ev, rc == 0,
                               rc == 0 ? NULL : pl_log_first_error()) != 0)
            rc = -1;
        if (rc == 0 && rename(tmp, target) != 0) {
            pl_err("%s: cannot publish (rename from %s): %s", target, tmp,
                   strerror(errno));
            rc = -1;
        }
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    free(real);
    if (locked)
        pl_lock_release();
    return rc;
}

static int rewrap(cli *c, pl_corr_file *cf, const char *audit)
{
    pl_custody_cfg cc;
    pl_custody_meta cm;
    memset(&cm, 0, sizeof cm);
    int *used = pl_xcalloc(cf->cm.n, sizeof *used);
    audit_event ev = {"rewrap", c->out ? c->out : c->corr, c->reason, cf, used,
                      NULL, NULL, 0, 0, NULL, NULL, NULL};
    if (pl_custody_cfg_load(c->custody, &cc) != 0) {
        audit_event_append(audit, &ev, 0, pl_log_first_error());
        free(used);
        return -1;
    }
    ev.k1 = "new_custodians";
    ev.v1 = cc.n;
    ev.k2 = "new_threshold";
    ev.v2 = cc.threshold;
    uint8_t key[PL_CORR_KEY];
    int rc = pl_corr_unlock(cf, &c->ks, key, used);
    if (rc == 0) {
        rc = pl_custody_meta_build(&cm, &cc, key, cf->run_id);
        OPENSSL_cleanse(key, sizeof key);
    }
    if (rc != 0)
        audit_event_append(audit, &ev, 0, pl_log_first_error());
    else
        rc = write_rewrapped(cf, &cm, c->out ? c->out : c->corr, audit, &ev);
    if (rc == 0)
        printf("rewrapped %s to %zu custodians (threshold %u): %s\n",
               cf->path, cc.n, cc.threshold, c->out ? c->out : c->corr);
    pl_custody_meta_free(&cm);
    pl_custody_cfg_free(&cc);
    free(used);
    return rc;
}

int pl_rewrap_main(int argc, char **argv)
{
    static const char *usage =
        "usage: pseudolink rewrap --corr FILE --key PEM [--key PEM]... "
        "[--passphrase-file FILE]... --custody NEW.yaml [--out FILE] "
        "[--audit FILE] [--reason TEXT]";
    cli c;
    pl_h5_quiet();
    std_fds_closed_stdout();
    if (parse_cli(argc, argv, &c, 0, usage) != 0 || !c.custody) {
        if (c.corr && !c.custody)
            pl_err("rewrap: missing --custody NEW.yaml (the new custodians)");
        free(c.pos);
        return 2;
    }
    if (c.reason && reason_refused("rewrap", c.reason)) {
        free(c.pos);
        return 2;
    }
    char *audit = attempt_audit(c.audit, c.corr, c.out ? c.out : c.corr);
    pl_corr_file cf;
    int rc = 1;
    if (pl_corr_open(&cf, c.corr) == 0) {
        rc = rewrap(&c, &cf, audit) == 0 ? 0 : 1;
        pl_corr_close(&cf);
    } else {
        audit_event ev = {"rewrap", c.out ? c.out : c.corr, c.reason, NULL,
                          NULL, NULL, NULL, 0, 0, NULL, NULL, NULL};
        audit_event_append(audit, &ev, 0, pl_log_first_error());
    }
    free(audit);
    free(c.pos);
    if (!stdout_ok("rewrap"))
        rc = 1;
    return rc;
}
