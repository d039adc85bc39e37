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

/* By default the output directory's own chain, <dir>/audit.log, where its
 * runs write: one chain per output directory. */
static char *default_audit(const char *corr)
{
    char *dir = output_dir_of(corr);
    size_t n = strlen(dir) + 16;
    char *p = pl_xmalloc(n);
    snprintf(p, n, "%s/audit.log", dir);
    free(dir);
    return p;
}

/* What one custodians' command records: who opened which table, with which
 * custodians, the pids asked for and found (platform pseudonyms, never a
 * p1), the reason given, the outcome. Failures and refusals too. */
typedef struct {
    const char *event, *corr, *reason;
    const pl_corr_file *cf;     /* NULL when it could not be opened */
    const int *used;
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
        char *name = pl_json_escape(cf->cm.name[i]);
        char *role = pl_json_escape(cf->cm.role[i]);
        fprintf(m, "%s{\"name\":\"%s\",\"role\":\"%s\",\"fingerprint\":"
                "\"%s\"}", k++ ? "," : "", name, role, fpr);
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
    char *json = custodians_json(ev->cf, ev->used);
    char *outdir = output_dir_of(ev->corr);
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
        if (pl_digest_file(ev->out_path, PL_DIGEST_LEAF, root, &size) == 0)
            pl_audit_file(a, "outputs", ev->corr, NULL, root, size,
                          PL_DIGEST_LEAF);
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

typedef struct {
    const char *corr, *audit, *custody, *out, *reason;
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
        else if (allow_pos && argv[i][0] != '-') c->pos[c->n_pos++] = argv[i];
        else {
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

static int parse_pid(const char *s, uint8_t pid[PL_PID_BYTES])
{
    if (strlen(s) != 2 * PL_PID_BYTES)
        return -1;
    return pl_unhex(s, PL_PID_BYTES, pid, NULL);
}

/* The keys found for the wanted pids: hit k is pid index who[k], key
 * keys + k * PL_KEY_REC (a person has one key per p1 and rank). */
typedef struct {
    int *who;
    uint8_t *keys;
    size_t n, cap;
} hits;

/* Scan every shard for the wanted pids. */
static int find_pids(pl_corr_file *cf, const uint8_t *key, const uint8_t *pids,
                     int n, hits *h, int *found)
{
    for (size_t s = 0; s < cf->n_shards; s++) {
        uint8_t *pt;
        if (pl_corr_shard(cf, s, key, &pt) != 0)
            return -1;
        for (uint64_t i = 0; i < cf->nrec[s]; i++) {
            const uint8_t *e = pt + i * PL_CORR_REC;
            for (int j = 0; j < n; j++)
                if (memcmp(e + PL_KEY_REC, pids + j * PL_PID_BYTES,
                           PL_PID_BYTES) == 0) {
                    if (h->n == h->cap) {
                        h->cap = h->cap ? 2 * h->cap : 16;
                        h->who = pl_xrealloc(h->who, h->cap * sizeof *h->who);
                        h->keys = pl_xrealloc(h->keys, h->cap * PL_KEY_REC);
                    }
                    h->who[h->n] = j;
                    memcpy(h->keys + h->n++ * PL_KEY_REC, e, PL_KEY_REC);
                    found[j] = 1;
                }
        }
        OPENSSL_cleanse(pt, cf->nrec[s] * PL_CORR_REC);
        free(pt);
    }
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

static int print_found(const cli *c, const pl_corr_file *cf, const hits *h,
                       const int *found)
{
    for (int j = 0; j < c->n_pos; j++) {
        if (!found[j]) {
            pl_err("%s: pid %s is not in this correspondence file", cf->path,
                   c->pos[j]);
            continue;
        }
        for (size_t k = 0; k < h->n; k++) {
            if (h->who[k] != j)
                continue;
            const uint8_t *key = h->keys + k * PL_KEY_REC;
            char hex[2 * PL_P1_BYTES + 1];
            pl_hex(key, PL_P1_BYTES, hex);
            if (key[PL_P1_BYTES])
                printf("%s %s %u\n", c->pos[j], hex, key[PL_P1_BYTES]);
            else
                printf("%s %s\n", c->pos[j], hex);
            OPENSSL_cleanse(hex, sizeof hex);
        }
    }
    return stdout_ok("reveal") ? 0 : -1;
}

/* ["pid", ...] of the arguments (all of them, or those found). */
static char *pids_json(const cli *c, const int *found)
{
    char *json = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&json, &len);
    fputc('[', m);
    for (int j = 0, k = 0; j < c->n_pos; j++)
        if (!found || found[j]) {
            char *e = pl_json_escape(c->pos[j]);
            fprintf(m, "%s\"%s\"", k++ ? "," : "", e);
            free(e);
        }
    fputc(']', m);
    fclose(m);
    return json;
}

static int reveal(cli *c, pl_corr_file *cf, const char *audit)
{
    int n = c->n_pos, rc = -1, nfound = 0;
    uint8_t *pids = pl_xcalloc((size_t)n, PL_PID_BYTES);
    hits h = {NULL, NULL, 0, 0};
    int *found = pl_xcalloc((size_t)n, sizeof *found);
    int *used = pl_xcalloc(cf->cm.n, sizeof *used);
    uint8_t key[PL_CORR_KEY];
    audit_event ev = {"reveal", c->corr, c->reason, cf, used, "pids_requested",
                      "pids_found", (uint64_t)n, 0, NULL, NULL, NULL};
    for (int j = 0; j < n; j++)
        if (parse_pid(c->pos[j], pids + j * PL_PID_BYTES) != 0) {
            pl_err("argument %d is not a pid (expected 32 hex digits)",
                   j + 1);
            audit_event_append(audit, &ev, 0, pl_log_first_error());
            goto out;
        }
    char *req = pids_json(c, NULL);
    ev.pids_json = req;
    if (pl_corr_unlock(cf, &c->ks, key, used) != 0 ||
        find_pids(cf, key, pids, n, &h, found) != 0) {
        OPENSSL_cleanse(key, sizeof key);
        /* A refusal (keys of too few roles, a wrong key) is recorded. */
        audit_event_append(audit, &ev, 0, pl_log_first_error());
        free(req);
        goto out;
    }
    OPENSSL_cleanse(key, sizeof key);
    for (int j = 0; j < n; j++)
        nfound += found[j];
    char *fnd = pids_json(c, found), why[96];
    ev.found_json = fnd;
    ev.v2 = (uint64_t)nfound;
    snprintf(why, sizeof why, "%d of %d pids are not in this table",
             n - nfound, n);
    rc = audit_event_append(audit, &ev, nfound == n, nfound == n ? NULL : why);
    free(req);
    free(fnd);
    if (rc == 0) {
        rc = print_found(c, cf, &h, found);
        rc = rc == 0 && nfound == n ? 0 : -1;
    }
out:
    if (h.keys)
        OPENSSL_cleanse(h.keys, h.cap * PL_KEY_REC);
    free(h.keys);
    free(h.who);
    free(pids);
    free(found);
    free(used);
    return rc;
}

int pl_reveal_main(int argc, char **argv)
{
    static const char *usage =
        "usage: pseudolink reveal --corr FILE --key PEM [--key PEM]... "
        "[--passphrase-file FILE]... [--audit FILE] [--reason TEXT] PID...";
    cli c;
    pl_h5_quiet();
    if (parse_cli(argc, argv, &c, 1, usage) != 0) {
        free(c.pos);
        return 2;
    }
    /* The log first: every attempt from here on is recorded. */
    char *audit = c.audit ? pl_xstrdup(c.audit) : default_audit(c.corr);
    int rc = 2;
    pl_corr_file cf;
    audit_event ev = {"reveal", c.corr, c.reason, NULL, NULL, "pids_requested",
                      NULL, (uint64_t)c.n_pos, 0, NULL, NULL, NULL};
    if (c.n_pos == 0) {
        pl_err("reveal: no pid given");
    } else if (pl_corr_open(&cf, c.corr) == 0) {
        rc = reveal(&c, &cf, audit) == 0 ? 0 : 1;
        pl_corr_close(&cf);
    } else {
        audit_event_append(audit, &ev, 0, pl_log_first_error());
        rc = 1;
    }
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
    char *od = output_dir_of(final), *cur = pl_xmalloc(strlen(od) + 16);
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
    if (parse_cli(argc, argv, &c, 0, usage) != 0 || !c.custody) {
        if (c.corr && !c.custody)
            pl_err("rewrap: missing --custody NEW.yaml (the new custodians)");
        free(c.pos);
        return 2;
    }
    char *audit = c.audit ? pl_xstrdup(c.audit)
                          : default_audit(c.out ? c.out : c.corr);
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
