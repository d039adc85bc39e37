/* runaudit.c — see runaudit.h. */
#include "stage/runaudit.h"
#include "stage/link.h"
#include "stage/ingest.h"
#include "crypto/audit.h"
#include "crypto/digest.h"
#include "crypto/keyfile.h"
#include "par/lock.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUTS 32

static char *outputs[MAX_OUTPUTS];
static size_t n_outputs;
static int locked;

static char *audit_path(const pl_run *r, const char *opt)
{
    if (opt)
        return pl_xstrdup(opt);
    if (r->job && r->job->audit_log)
        return pl_xstrdup(r->job->audit_log);
    if (r->job && r->job->output) {
        size_t n = strlen(r->job->output) + sizeof "/audit.log";
        char *p = pl_xmalloc(n);
        snprintf(p, n, "%s/audit.log", r->job->output);
        return p;
    }
    return NULL;
}

int pl_run_guard(pl_run *r, const char *audit_opt)
{
    signal(SIGXFSZ, SIG_IGN);
    if (pl_out_lock(r->job->output, r->comm) != 0)
        return -1;
    locked = 1;
    int ok = 1;
    if (r->rank == 0) {
        char *log = audit_path(r, audit_opt);
        ok = pl_audit_check(log) == 0;
        free(log);
    }
    ok = pl_root_ok(r->comm, ok);
    return ok ? 0 : -1;
}

int pl_run_publish(pl_run *r, pl_outfile *f)
{
    char *path = pl_xstrdup(f->final);
    if (pl_out_publish(f, r->comm) != 0) {
        free(path);
        return -1;
    }
    if (n_outputs < MAX_OUTPUTS)
        outputs[n_outputs++] = path;
    else
        free(path);
    return 0;
}

/* Collective: digest `path` (all ranks) and record it under `list`. */
static void record_file(pl_run *r, pl_audit_rec *a, const char *list,
                        const char *path)
{
    uint8_t root[32];
    uint64_t size = 0;
    if (pl_digest_file_mpi(path, PL_DIGEST_LEAF, r->comm, root, &size,
                           r->rank != 0) == 0) {
        if (a)
            pl_audit_file(a, list, path, root, size, PL_DIGEST_LEAF);
    } else if (a) {
        pl_audit_file_error(a, list, path, "cannot read for its digest");
    }
}

static void record_key(pl_audit_rec *a, const char *path, const char *role)
{
    uint8_t key[PL_KEY_BYTES];
    if (path && pl_key_load(path, role, key, 1) == 0)
        pl_audit_key(a, role, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
}

/* Rank 0: the job file's SHA-256, read again (it may not have parsed). */
static void record_job(pl_audit_rec *a, const char *job_path)
{
    FILE *f = fopen(job_path, "rb");
    pl_audit_str(a, "job", job_path);
    if (!f)
        return;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t buf[65536], md[32];
    size_t n;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    pl_audit_hex(a, "job_sha256", md, sizeof md);
}

static void record_counts(pl_run *r, pl_audit_rec *a)
{
    uint64_t read = 0, rej = 0, kept = 0;
    for (size_t i = 0; r->ss && i < r->store.n_src; i++) {
        read += r->store.src[i].nrows;
        rej += r->ss[i].rej_total;
        kept += r->ss[i].kept_total;
    }
    pl_audit_u64(a, "ranks", (uint64_t)r->size);
    pl_audit_u64(a, "sources", r->store.n_src);
    pl_audit_u64(a, "rows", read);
    pl_audit_u64(a, "rejected", rej);
    pl_audit_u64(a, "linked", kept);
    const pl_links_counts *lc = pl_links_count(pl_link_index(r));
    pl_audit_u64(a, "persons", lc->persons_total);
    pl_audit_u64(a, "persons_multi", lc->persons_multi);
    pl_audit_u64(a, "cross_links", lc->links_total);
    char *warnings = pl_ingest_warnings_json(r);    /* "[]" when none */
    pl_audit_raw(a, "warnings", warnings);
    free(warnings);
}

static pl_audit_rec *build(pl_run *r, const char *job_path, int success)
{
    pl_audit_rec *a = pl_audit_begin("run");
    record_job(a, job_path);
    if (r->job && r->job->output) {
        pl_audit_str(a, "mode", r->job->mode == PL_MODE_KEYED ? "keyed"
                                                              : "random");
        pl_audit_str(a, "output_dir", r->job->output);
        record_key(a, r->job->producer_key, "producer");
        if (r->job->mode == PL_MODE_KEYED)
            record_key(a, r->job->platform_key, "platform");
    }
    if (success)
        record_counts(r, a);
    return a;
}

int pl_run_finish(pl_run *r, const char *job_path, const char *audit_opt,
                  int success, int stop_signal)
{
    char *log = audit_path(r, audit_opt);
    int ok = 1;
    /* Every rank knows the same log path and job state: agree anyway. */
    if (pl_all_ok(r->comm, log != NULL)) {
        pl_audit_rec *a = r->rank == 0 ? build(r, job_path, success) : NULL;
        if (r->job && r->job->store)
            record_file(r, a, "inputs", r->job->store);
        for (size_t i = 0; i < n_outputs; i++)
            record_file(r, a, "outputs", outputs[i]);
        if (a) {
            char why[1100];
            if (stop_signal)
                snprintf(why, sizeof why, "stopped by signal %d (%s)",
                         stop_signal, strsignal(stop_signal));
            else
                snprintf(why, sizeof why, "%s", pl_log_first_error()[0]
                         ? pl_log_first_error() : "run failed");
            ok = pl_audit_append(log, a, success, why) == 0;
            pl_audit_free(a);
        }
        ok = pl_root_ok(r->comm, ok);
    }
    free(log);
    for (size_t i = 0; i < n_outputs; i++)
        free(outputs[i]);
    n_outputs = 0;
    if (locked)
        pl_out_unlock(r->comm);
    locked = 0;
    return ok ? 0 : -1;
}
