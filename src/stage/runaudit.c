/* runaudit.c — see runaudit.h. */
#include "stage/runaudit.h"
#include "stage/pprl_link.h"
#include "stage/link.h"
#include "stage/ingest.h"
#include "crypto/audit.h"
#include "crypto/digest.h"
#include "crypto/keyfile.h"
#include "par/generation.h"
#include "par/lock.h"
#include "base/hex.h"
#include "base/secure.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

#define MAX_OUTPUTS 64

/* The stable names of an output directory (generation.h): links into
 * current/ made at the first publication. */
static const char *const stable[] = {"linked.h5", "correspondence.h5",
                                     "extracts"};

static char *outputs[MAX_OUTPUTS];     /* names relative to the run dir */
static size_t n_outputs;
static int locked, audited;
static pl_generation gen;
static char head[65];

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

/* A run that died before it could write its own failure line (killed,
 * or ended by the close watchdog after a write error): the next run
 * records it when it removes what the dead run left. */
typedef struct {
    const char *log, *out;
} dead_ctx;

static void audit_dead(const char *tag, int sealed, void *ctx)
{
    const dead_ctx *c = ctx;
    /* Sealed: its run line may be in the log; a publish failure line of
     * the same run takes it back (docs/AUDIT.md). */
    pl_audit_rec *a = pl_audit_begin(sealed ? "publish" : "run");
    if (sealed)
        pl_audit_str(a, "output_dir", c->out);
    pl_audit_str(a, "run_id", tag);
    pl_audit_str(a, "found_by", "the next run on this output directory");
    pl_audit_append(c->log, a, 0, sealed
                    ? "the run died after sealing its outputs, before "
                      "publishing them; they never became current and were "
                      "removed"
                    : "the run died before finishing (killed, or "
                      "ended after a write error); its unpublished outputs "
                      "were removed");
    pl_audit_free(a);
}

int pl_run_guard(pl_run *r, const char *audit_opt, const char *tag)
{
    signal(SIGXFSZ, SIG_IGN);
    if (pl_out_lock(r->job->output, tag, r->comm) != 0)
        return -1;
    locked = 1;
    int ok = 1;
    if (r->rank == 0) {
        char *log = audit_path(r, audit_opt);
        ok = pl_audit_check(log) == 0;
        if (ok) {
            dead_ctx c = {log, r->job->output};
            pl_gen_clean(r->job->output, audit_dead, &c);
        }
        free(log);
    }
    if (!pl_root_ok(r->comm, ok) ||
        pl_gen_begin(&gen, r->job->output, tag, r->comm) != 0)
        return -1;
    r->gendir = gen.dir;
    return 0;
}

void pl_run_output(const char *name)
{
    if (n_outputs < MAX_OUTPUTS)
        outputs[n_outputs++] = pl_xstrdup(name);
}

/* Collective: digest `path` (all ranks) and record it under `list`. */
static int record_file(pl_run *r, pl_audit_rec *a, const char *list,
                       const char *path, const char *as, const char *name,
                       uint8_t root[32], uint64_t *size)
{
    if (pl_digest_file_mpi(path, PL_DIGEST_LEAF, r->comm, root, size,
                           r->rank != 0) == 0) {
        if (a)
            pl_audit_file(a, list, as ? as : path, name, root, *size,
                          PL_DIGEST_LEAF);
        return 0;
    }
    if (a)
        pl_audit_file_error(a, list, path, "cannot read for its digest");
    return -1;
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
    uint64_t read = 0, rej = 0, kept = 0, amb = 0;
    for (size_t i = 0; r->ss && i < r->store.n_src; i++) {
        read += r->store.src[i].nrows;
        rej += r->ss[i].rej_total;
        kept += r->ss[i].kept_total;
        amb += r->ss[i].amb_total;
    }
    pl_audit_u64(a, "ranks", (uint64_t)r->size);
    pl_audit_u64(a, "sources", r->store.n_src);
    pl_audit_u64(a, "rows", read);
    pl_audit_u64(a, "rejected", rej);
    pl_audit_u64(a, "linked", kept);
    if (r->store.n_opposed || r->job->n_opposition) {
        uint64_t opp = 0;
        for (size_t i = 0; r->ss && i < r->store.n_src; i++)
            opp += r->ss[i].opposed_total;
        for (size_t k = 0; r->lss && k < r->store.n_lsrc; k++)
            opp += r->lss[k].opposed_total;     /* linkage records */
        pl_audit_u64(a, "opposition_persons", r->store.n_opposed);
        pl_audit_u64(a, "opposition_records", opp);
    }
    pl_audit_u64(a, "ambiguous", amb);
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
    if (pl_core_dumps_allowed())
        pl_audit_str(a, "core_dumps", "allowed (PSEUDOLINK_ALLOW_CORE_DUMPS)");
    if (r->job && r->job->output) {
        pl_audit_str(a, "mode", r->job->mode == PL_MODE_KEYED ? "keyed"
                                                              : "random");
        pl_audit_str(a, "output_dir", r->job->output);
        record_key(a, r->job->producer_key, "producer");
        if (r->job->mode == PL_MODE_KEYED)
            record_key(a, r->job->platform_key, "platform");
        /* A job that computes stage 1 itself held NIRs (DESIGN.md). */
        int identified = 0;
        for (size_t i = 0; i < r->job->n_sources; i++)
            identified |= !r->job->sources[i].has_p1;
        pl_audit_str(a, "identified_data", identified
                     ? "held: this run read NIRs and computed stage 1 "
                       "(the producer's stage, on the platform)"
                     : "none: every source came pseudonymised (p1)");
        if (r->store.packages_json) {
            char *j = pl_xasprintf("[%s]", r->store.packages_json);
            pl_audit_raw(a, "packages", j);
            free(j);
        }
        /* Linkage on encodings: their parameters (never the secret). */
        char *enc = NULL;
        for (size_t f = 0; r->job->linkage &&
                           f < r->job->linkage->n_fields; f++) {
            char *e = pl_pprl_params_json(r, f);
            if (!e)
                continue;
            char *n = pl_xasprintf("%s%s%s", enc ? enc : "", enc ? "," : "",
                                   e);
            free(e);
            free(enc);
            enc = n;
        }
        if (enc) {
            char *j = pl_xasprintf("[%s]", enc);
            pl_audit_raw(a, "linkage_encodings", j);
            free(j);
            free(enc);
        }
    }
    if (success)
        record_counts(r, a);
    return a;
}

static void why_failed(char *why, size_t n, int stop_signal)
{
    /* cmd/run.c's report of a stop names the stage and how far it got. */
    if (stop_signal &&
        strncmp(pl_log_first_error(), "stopped by signal", 17) != 0)
        snprintf(why, n, "stopped by signal %d (%s)", stop_signal,
                 strsignal(stop_signal));
    else
        snprintf(why, n, "%s", pl_log_first_error()[0]
                 ? pl_log_first_error() : "run failed");
}

/* Rank 0: <run dir>/MANIFEST (docs/AUDIT.md): every file of the set with
 * its size and Merkle digest. */
static int write_manifest(const char *dir, const char *tag, char **names,
                          uint8_t (*roots)[32], const uint64_t *sizes,
                          size_t n)
{
    size_t pn = strlen(dir) + sizeof "/MANIFEST";
    char *p = pl_xmalloc(pn);
    snprintf(p, pn, "%s/MANIFEST", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL;
    if (ok) {
        fprintf(f, "pseudolink-manifest 1\nrun %s\nleaf %llu\n", tag,
                (unsigned long long)PL_DIGEST_LEAF);
        for (size_t i = 0; i < n; i++) {
            char hex[65];
            pl_hex(roots[i], 32, hex);
            fprintf(f, "file %s %llu %s\n", hex, (unsigned long long)sizes[i],
                    names[i]);
        }
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok &= fclose(f) == 0;
    }
    if (!ok)
        pl_err("%s: cannot write the manifest: %s", p, strerror(errno));
    free(p);
    return ok ? 0 : -1;
}

int pl_run_publish_set(pl_run *r, const char *job_path, const char *audit_opt,
                       int extracts_refused, char *published, size_t plen)
{
    const char *out = r->job->output;
    char *log = audit_path(r, audit_opt);
    char *absout = realpath(out, NULL);
    pl_audit_rec *a = r->rank == 0 ? build(r, job_path, 1) : NULL;
    uint8_t root[32], (*roots)[32] = pl_xcalloc(n_outputs + 1, 32);
    uint64_t size, *sizes = pl_xcalloc(n_outputs + 1, sizeof *sizes);
    int ok = 1;
    if (a) {
        pl_audit_str(a, "run_id", gen.tag);
        pl_audit_u64(a, "extracts_refused", (uint64_t)extracts_refused);
    }
    if (r->job->store[0])
        record_file(r, a, "inputs", r->job->store, NULL, NULL, root, &size);
    for (size_t i = 0; i < r->store.n_pkgs; i++)
        record_file(r, a, "inputs", r->store.pkgs[i].path, NULL, NULL, root,
                    &size);
    /* Digests of the set, from the run's own directory; recorded under
     * the stable names a reader uses (<out>/linked.h5, ...). */
    for (size_t i = 0; i < n_outputs && ok; i++) {
        size_t n1 = strlen(gen.dir) + strlen(outputs[i]) + 2;
        size_t n2 = strlen(absout ? absout : out) + strlen(outputs[i]) + 2;
        char *in = pl_xmalloc(n1), *as = pl_xmalloc(n2);
        snprintf(in, n1, "%s/%s", gen.dir, outputs[i]);
        snprintf(as, n2, "%s/%s", absout ? absout : out, outputs[i]);
        ok = record_file(r, a, "outputs", in, as, outputs[i], roots[i],
                         &sizes[i]) == 0;
        free(in);
        free(as);
    }
    free(absout);
    ok = pl_all_ok(r->comm, ok);
    if (ok && r->rank == 0)
        ok = write_manifest(gen.dir, gen.tag, outputs, roots, sizes,
                            n_outputs) == 0;
    ok = pl_root_ok(r->comm, ok);
    free(roots);
    free(sizes);
    const char **files = pl_xcalloc(n_outputs + 1, sizeof *files);
    for (size_t i = 0; i < n_outputs; i++)
        files[i] = outputs[i];
    files[n_outputs] = "MANIFEST";
    ok = ok && pl_gen_seal(&gen, files, n_outputs + 1, r->comm) == 0;
    free(files);
    /* The audit line is durable before anything is published: without it,
     * nothing is. */
    if (ok && a)
        ok = pl_audit_append(log, a, 1, NULL) == 0;
    ok = pl_root_ok(r->comm, ok);
    if (ok) {
        audited = 1;
        if (a)
            snprintf(head, sizeof head, "%s", pl_audit_head(a));
        if (pl_gen_publish(&gen, stable, sizeof stable / sizeof *stable,
                           r->comm) != 0) {
            /* The line says what was produced; this one says it did not
             * become current. */
            if (a) {
                pl_audit_rec *b = pl_audit_begin("publish");
                pl_audit_str(b, "output_dir", out);
                pl_audit_str(b, "run_id", gen.tag);
                if (pl_audit_append(log, b, 0, pl_log_first_error()) == 0)
                    snprintf(head, sizeof head, "%s", pl_audit_head(b));
                pl_audit_free(b);
            }
            ok = 0;
        }
    }
    if (ok) {
        size_t o = 0;
        published[0] = '\0';
        for (size_t i = 0; i < n_outputs && o < plen; i++)
            o += (size_t)snprintf(published + o, plen - o, "%s%s/%s",
                                  i ? ", " : "", out, outputs[i]);
    }
    if (a)
        pl_audit_free(a);
    free(log);
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

const char *pl_run_audit_head(void) { return head; }

int pl_run_finish(pl_run *r, const char *job_path, const char *audit_opt,
                  int stop_signal)
{
    char *log = audit_path(r, audit_opt);
    int ok = 1;
    /* What an unpublished run wrote goes first (on a full file system the
     * failure line needs the room). */
    char run_id[17] = "";
    if (gen.out) {
        snprintf(run_id, sizeof run_id, "%s", gen.tag);
        if (!gen.published)
            pl_gen_discard(&gen, r->comm);
        pl_gen_free(&gen);
        r->gendir = NULL;
    }
    /* A run that did not publish: its failure line (the inputs' digest, no
     * outputs). Every rank knows the same log path: agree anyway. */
    if (!audited && pl_all_ok(r->comm, log != NULL)) {
        pl_audit_rec *a = r->rank == 0 ? build(r, job_path, 0) : NULL;
        uint8_t root[32];
        uint64_t size;
        if (a && run_id[0])
            pl_audit_str(a, "run_id", run_id);
        if (r->job && r->job->store && r->job->store[0])
            record_file(r, a, "inputs", r->job->store, NULL, NULL, root,
                        &size);
        if (a) {
            char why[1100];
            why_failed(why, sizeof why, stop_signal);
            ok = pl_audit_append(log, a, 0, why) == 0;
            if (ok)
                snprintf(head, sizeof head, "%s", pl_audit_head(a));
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
