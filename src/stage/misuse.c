/* misuse.c — see misuse.h. */
#include "stage/misuse.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "crypto/keyfile.h"
#include "job/extract_config.h"
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char *what;                 /* "the store", "keys.producer", ... */
    char *path;
} named;

typedef struct {
    named *v;
    size_t n;
} list;

static void add(list *l, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(list *l, const char *path, const char *fmt, ...)
{
    if (!path)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    l->v = pl_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n].what = pl_xstrdup(what);
    l->v[l->n].path = pl_xstrdup(path);
    l->n++;
}

static void list_free(list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].what);
        free(l->v[i].path);
    }
    free(l->v);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = pl_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int check_paths(const pl_run *r, const char *audit_opt,
                       const pl_keyset *prev)
{
    const pl_job *j = r->job;
    list in = {0}, out = {0};
    add(&in, j->path, "the job file");
    add(&in, j->store, "the store");
    add(&in, j->producer_key, "keys.producer");
    add(&in, j->platform_key, "keys.platform");
    for (size_t i = 0; i < j->n_extracts; i++)
        add(&in, j->extracts[i].key, "extracts.%s.key", j->extracts[i].name);
    for (size_t i = 0; i < j->custody.n; i++)
        add(&in, j->custody.c[i].public_key, "custody.custodians[%zu] "
            "('%s') public key", i, j->custody.c[i].name);
    add(&in, j->custody.previous, "previous.correspondence");
    for (size_t i = 0; i < prev->n_key; i++)
        add(&in, prev->key[i], "--prev-key #%zu", i + 1);
    for (size_t i = 0; i < prev->n_pass; i++)
        add(&in, prev->pass[i], "--prev-passphrase-file #%zu", i + 1);

    const char *o = j->output;
    char *p, *odd_log = NULL;
    int odd_link = 0;
    add(&out, o, "the output directory");
    p = join(o, "linked.h5"); add(&out, p, "linked.h5"); free(p);
    p = join(o, "correspondence.h5"); add(&out, p, "correspondence.h5"); free(p);
    p = join(o, ".pseudolink.lock"); add(&out, p, "the output lock"); free(p);
    char *xdir = join(o, "extracts");
    if (j->n_extracts)
        add(&out, xdir, "the extracts directory");
    for (size_t i = 0; i < j->n_extracts; i++) {
        char name[PL_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.h5", j->extracts[i].name);
        p = join(xdir, name);
        add(&out, p, "extracts/%s", name);
        free(p);
    }
    free(xdir);
    if (audit_opt)
        add(&out, audit_opt, "the audit log (--audit)");
    else if (j->audit_log)
        add(&out, j->audit_log, "the audit log (audit_log)");
    else {
        p = join(o, "audit.log"); add(&out, p, "the audit log");
        /* The default log is the directory's own file: a symlink planted
         * there would have a run append wherever it points (an explicit
         * --audit or audit_log: names a log kept elsewhere). */
        struct stat sb;
        if (lstat(p, &sb) == 0 && !S_ISREG(sb.st_mode))
            odd_log = join(o, "audit.log"), odd_link = S_ISLNK(sb.st_mode);
        free(p);
    }

    int bad = 0;
    for (size_t a = 0; a < out.n; a++)
        for (size_t b = 0; b < in.n; b++)
            if (pl_same_file(out.v[a].path, in.v[b].path)) {
                if (a + 1 == out.n)         /* the audit log is last */
                    bad |= 2;
                pl_err("%s: %s (%s) resolves to an input, %s (%s): refusing "
                       "to start, nothing was written; expected an output "
                       "path that is no input (symlinks and hard links "
                       "count)", j->path, out.v[a].what, out.v[a].path,
                       in.v[b].what, in.v[b].path);
                bad |= 1;
            }
    list_free(&in);
    list_free(&out);
    if (!bad && odd_log) {
        pl_err("%s: the audit log is %s, not a regular file: refusing to "
               "start, nothing was written (name a log kept elsewhere with "
               "--audit or audit_log:)", odd_log,
               odd_link ? "a symlink" : "special");
        bad = 3;
    }
    free(odd_log);
    return bad ? (bad & 2 ? -2 : -1) : 0;
}

static int check_keys(const pl_run *r)
{
    const pl_job *j = r->job;
    list roles = {0};
    add(&roles, j->producer_key, "producer key");
    if (j->mode == PL_MODE_KEYED)
        add(&roles, j->platform_key, "platform key");
    for (size_t i = 0; i < j->n_extracts; i++)
        add(&roles, j->extracts[i].key, "project key of extract '%s'",
            j->extracts[i].name);
    uint8_t (*fpr)[PL_KEY_FPR_BYTES] =
        pl_xcalloc(roles.n ? roles.n : 1, sizeof *fpr);
    int bad = 0;
    for (size_t i = 0; i < roles.n && !bad; i++) {
        uint8_t key[PL_KEY_BYTES];
        if (pl_key_load(roles.v[i].path, roles.v[i].what, key, 0) != 0)
            bad = 1;
        else
            pl_key_fingerprint(key, sizeof key, fpr[i]);
        OPENSSL_cleanse(key, sizeof key);
    }
    for (size_t a = 0; a < roles.n && !bad; a++)
        for (size_t b = a + 1; b < roles.n; b++)
            if (memcmp(fpr[a], fpr[b], PL_KEY_FPR_BYTES) == 0) {
                pl_err("%s: %s (%s) and %s (%s) are the same key: expected "
                       "one key per role (a key given for two roles makes "
                       "pseudonyms of one joinable with the other's, e.g. "
                       "two projects' extracts); generate another with "
                       "pseudolink keygen", j->path, roles.v[a].what,
                       roles.v[a].path, roles.v[b].what, roles.v[b].path);
                bad = 1;
            }
    free(fpr);
    list_free(&roles);
    return bad ? -1 : 0;
}

int pl_misuse_check(pl_run *r, const char *audit_opt, const pl_keyset *prev)
{
    int code = 0;
    if (r->rank == 0) {
        code = check_paths(r, audit_opt, prev);
        if (check_keys(r) != 0 && code == 0)
            code = -1;
    }
    PL_MPI_CHECK(MPI_Bcast(&code, 1, MPI_INT, 0, r->comm));
    return code;
}
