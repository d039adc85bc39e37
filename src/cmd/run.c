/* run.c — `pseudolink run JOB.yaml [--store FILE] [--out DIR]`.
 *
 * The driver: every step is collective and returns a status that all ranks
 * agree on (pl_all_ok), so a failure on any rank stops every rank at the
 * same point, MPI is finalised, nothing is published and the exit status is
 * non-zero. Only rank 0 speaks for errors every rank sees alike.
 */
#include "cmd/run.h"
#include "cmd/usage.h"
#include "stage/run.h"
#include "stage/linked.h"
#include "stage/link.h"
#include "stage/ingest.h"
#include "base/hex.h"
#include "stage/budget.h"
#include "stage/correspondence.h"
#include "par/exchange.h"
#include "stage/extract.h"
#include "crypto/custody.h"
#include "crypto/keyfile.h"
#include "base/log.h"
#include "base/version.h"
#include "base/progress.h"
#include "par/output.h"
#include "stage/runaudit.h"
#include "crypto/sha256mb.h"
#include "base/mem.h"
#include "par/mpi.h"
#include "par/h5.h"
#include "crypto/keyset.h"
#include "stage/misuse.h"
#include "stage/probalink.h"
#include "stage/dedup.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t stop_flag = 0;
static int audit_is_input;      /* stage/misuse.h: never append to an input */

static void on_signal(int sig)
{
    stop_signal = sig;
    stop_flag = 1;
}

static int usage(void)
{
    pl_err0("usage: pseudolink run JOB.yaml [--store FILE] [--out DIR] "
            "[--prev-key PEM [--prev-passphrase-file FILE]]... [--audit FILE] "
            "[--progress SECONDS] "
            "[--transport-key PEM [--transport-passphrase-file FILE]]");
    return 2;
}

typedef struct {
    const char *job, *store, *out, *audit;
    double progress;            /* s between progress lines, 0 = none */
    const char *transport, *transport_pass;     /* packages (PACKAGE.md) */
    pl_keyset prev;             /* incremental: custodians' private keys */
} run_args;

/* --progress SECONDS: a number >= 0 (0 turns the progress lines off). */
static int parse_progress(const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0) || x > 86400) {
        pl_err0("run: --progress expects seconds between 0 and 86400 (0 "
                "turns the progress lines off), got '%s'", v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    a->progress = 10;
    for (int i = 1; i < argc; i++) {
        int k = pl_keyset_arg(&a->prev, "--prev-key", "--prev-passphrase-file",
                              argc, argv, &i);
        if (k < 0)
            return -1;
        if (k > 0)
            continue;
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            a->store = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            a->out = argv[++i];
        else if (strcmp(argv[i], "--audit") == 0 && i + 1 < argc)
            a->audit = argv[++i];
        else if (strcmp(argv[i], "--transport-key") == 0 && i + 1 < argc)
            a->transport = argv[++i];
        else if (strcmp(argv[i], "--transport-passphrase-file") == 0 &&
                 i + 1 < argc)
            a->transport_pass = argv[++i];
        else if (strcmp(argv[i], "--progress") == 0 && i + 1 < argc) {
            if (parse_progress(argv[++i], &a->progress) != 0)
                return -1;
        } else if (i + 1 == argc && (strcmp(argv[i], "--store") == 0 ||
                                     strcmp(argv[i], "--out") == 0 ||
                                     strcmp(argv[i], "--audit") == 0 ||
                                     strcmp(argv[i], "--progress") == 0)) {
            pl_err0("run: %s needs a value", argv[i]);
            return -1;
        } else if (argv[i][0] == '-' || a->job) {
            pl_err0("run: unexpected argument '%s'", argv[i]);
            return -1;
        } else
            a->job = argv[i];
    }
    if (!a->job) {
        pl_err0("run: missing the job file");
        return -1;
    }
    return 0;
}

/* Rank 0 parses and reports; the others parse silently once it is known
 * to be valid (the file is the same on every node). */
static int load_job(pl_run *r, const run_args *a)
{
    int ok = 1;
    if (r->rank == 0)
        ok = pl_job_load(r->job, a->job, 0) == 0;
    ok = pl_root_ok(r->comm, ok);
    if (!ok)
        return -1;
    if (r->rank != 0)
        ok = pl_job_load(r->job, a->job, 1) == 0;
    if (!pl_all_ok(r->comm, ok)) {
        pl_err0("%s: the job file differs between nodes", a->job);
        return -1;
    }
    if (a->store) {
        free(r->job->store);
        r->job->store = pl_xstrdup(a->store);
    }
    if (a->out) {
        free(r->job->output);
        r->job->output = pl_xstrdup(a->out);
    }
    for (size_t i = 0; i < r->job->n_sources; i++)
        if (strcmp(r->job->sources[i].name, "pid") == 0) {
            pl_err0("%s: sources.pid: a source cannot be named 'pid' (the "
                    "persons table has a 'pid' column)", a->job);
            return -1;
        }
    return 0;
}

static int load_keys(pl_run *r)
{
    uint8_t key[PL_KEY_BYTES];
    int quiet = r->rank != 0, ok = 1;
    if (r->job->producer_key) {
        ok = pl_key_load(r->job->producer_key, "producer key", key, quiet) == 0;
        if (ok)
            pl_hmac_init(&r->producer, key, sizeof key);
    }
    if (ok && r->job->platform_key && r->job->mode == PL_MODE_KEYED) {
        ok = pl_key_load(r->job->platform_key, "platform key", key, quiet) == 0;
        if (ok)
            pl_hmac_init(&r->platform, key, sizeof key);
    }
    OPENSSL_cleanse(key, sizeof key);
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

/* A job that reads packages: rank 0 opens the producers' public signing
 * keys and the platform's transport private key (crypto/package.h); the
 * data keys they unwrap reach the other ranks in memory only. */
typedef struct {
    pl_pkg_signer *signers;
    size_t n;
    EVP_PKEY *transport;
} pkg_keys;

static pkg_keys pkeys;

static void pkg_keys_free(void)
{
    for (size_t i = 0; i < pkeys.n; i++)
        EVP_PKEY_free(pkeys.signers[i].key);
    free(pkeys.signers);
    EVP_PKEY_free(pkeys.transport);
    memset(&pkeys, 0, sizeof pkeys);
}

static int load_pkg_keys(pl_run *r, const run_args *a, pl_pkg_keys *out)
{
    const pl_job *j = r->job;
    int needed = j->n_opposition > 0;
    for (size_t i = 0; i < j->n_sources; i++)
        needed |= j->sources[i].package != NULL;
    memset(out, 0, sizeof *out);
    if (!needed)
        return 0;
    int ok = 1;
    pkeys.signers = pl_xcalloc(j->n_producers + 1, sizeof *pkeys.signers);
    pkeys.n = j->n_producers;
    for (size_t i = 0; i < j->n_producers; i++)
        pkeys.signers[i].name = j->producers[i].name;
    if (r->rank == 0) {
        if (!a->transport) {
            pl_err("run: the job reads transfer packages: give the "
                   "platform's transport private key with --transport-key "
                   "PEM [--transport-passphrase-file FILE]");
            ok = 0;
        }
        for (size_t i = 0; ok && i < j->n_producers; i++)
            ok = (pkeys.signers[i].key = pl_pkey_load_public(
                      PL_PKEY_ED25519, j->producers[i].signing_key, 0)) != NULL;
        if (ok)
            ok = (pkeys.transport = pl_pkey_load_private(
                      PL_PKEY_X25519, a->transport, a->transport_pass)) != NULL;
    }
    out->trusted = pkeys.signers;
    out->ntrusted = pkeys.n;
    out->transport = pkeys.transport;
    return pl_root_ok(r->comm, ok) ? 0 : -1;
}

static void make_tag(pl_run *r, char tag[17])
{
    uint8_t b[8] = {0};
    if (r->rank == 0 && RAND_bytes(b, sizeof b) != 1)
        memcpy(b, &(uint64_t){(uint64_t)getpid()}, sizeof b);
    PL_MPI_CHECK(MPI_Bcast(b, sizeof b, MPI_BYTE, 0, r->comm));
    pl_hex(b, sizeof b, tag);
}

static void summary_warning(const char *msg, void *ctx)
{
    (void)ctx;
    pl_info("warning: %s", msg);
}

static void summary(pl_run *r, double total_s, const char *published)
{
    double t[PL_T_COUNT];
    PL_MPI_CHECK(MPI_Reduce(r->t, t, PL_T_COUNT, MPI_DOUBLE, MPI_MAX, 0,
                            r->comm));
    if (r->rank != 0)
        return;
    uint64_t read = 0, rej = 0, kept = 0;
    pl_info("sha256 kernel %s (%zu lanes)", pl_sha256mb_active()->name,
            pl_sha256mb_active()->lanes);
    pl_info("%-24s %14s %12s %14s", "source", "rows", "rejected", "linked");
    for (size_t i = 0; i < r->store.n_src; i++) {
        const pl_source *s = &r->store.src[i];
        pl_info("%-24s %14llu %12llu %14llu", s->cfg->name,
                (unsigned long long)s->nrows,
                (unsigned long long)r->ss[i].rej_total,
                (unsigned long long)r->ss[i].kept_total);
        read += s->nrows;
        rej += r->ss[i].rej_total;
        kept += r->ss[i].kept_total;
    }
    pl_info("%-24s %14llu %12llu %14llu", "total", (unsigned long long)read,
            (unsigned long long)rej, (unsigned long long)kept);
    uint64_t amb = 0;
    for (size_t i = 0; i < r->store.n_src; i++)
        amb += r->ss[i].amb_total;
    if (amb) {
        /* Not linked, never guessed: listed in /ambiguous/<source>. */
        pl_info("ambiguous (a key of several persons, no rank) %llu:",
                (unsigned long long)amb);
        for (size_t i = 0; i < r->store.n_src; i++)
            if (r->ss[i].amb_total)
                pl_info("  %-22s %14llu", r->store.src[i].cfg->name,
                        (unsigned long long)r->ss[i].amb_total);
    }
    pl_ingest_warnings(r, summary_warning, NULL);
    if (r->job->n_opposition) {
        uint64_t opp = 0;
        for (size_t i = 0; i < r->store.n_src; i++)
            opp += r->ss[i].opposed_total;
        for (size_t k = 0; k < r->store.n_lsrc; k++)
            opp += r->lss[k].opposed_total;     /* linked to such a person */
        pl_info("opposition: %llu persons listed, %llu records left out "
                "(no pid, no output row, no correspondence entry)",
                (unsigned long long)r->store.n_opposed,
                (unsigned long long)opp);
    }
    for (size_t i = 0; i < r->store.n_pkgs; i++)
        pl_info("package %s: id %s, created %s, producer %s, signature "
                "verified (signer %s), digest %s", r->store.pkgs[i].path,
                r->store.pkgs[i].id_hex, r->store.pkgs[i].created,
                r->store.pkgs[i].producer, r->store.pkgs[i].signer,
                r->store.pkgs[i].digest);
    const pl_links_counts *lc = pl_links_count(pl_link_index(r));
    pl_info("persons %llu, in 2+ sources %llu, cross-links %llu",
            (unsigned long long)lc->persons_total,
            (unsigned long long)lc->persons_multi,
            (unsigned long long)lc->links_total);
    if (r->owner.cc_rounds > 1)
        pl_info("key graph: persons joined over several keys in %llu "
                "rounds of label propagation",
                (unsigned long long)r->owner.cc_rounds);
    static const char *names[PL_T_COUNT] = {"read", "validate", "stage1",
                                            "exchange", "link", "write"};
    pl_info("%-24s %10s %16s", "stage (slowest rank)", "seconds",
            "records/s");
    for (int i = 0; i < PL_T_COUNT; i++)
        pl_info("%-24s %10.3f %16.0f", names[i], t[i],
                t[i] > 0 ? (double)read / t[i] : 0.0);
    pl_info("%-24s %10.3f %16.0f", "total", total_s,
            total_s > 0 ? (double)read / total_s : 0.0);
    pl_info("published: %s", published);
    pl_extracts_summary(r);
    pl_probalink_summary(r);
    pl_dedup_summary(r);
}

static void run_free(pl_run *r)
{
    free(r->ss);
    free(r->lss);
    pl_extracts_release(r);
    pl_dedup_free(r);
    pl_probalink_free(r);
    pl_linked_abort(r);
    pl_link_free(r);
    pl_owner_free(&r->owner);
    pl_route_release();
    pl_huge_cache_drop();
    pl_corr_end(r);
    pl_hmac_key_wipe(&r->producer);
    pl_hmac_key_wipe(&r->platform);
    pl_store_close(&r->store);
    pkg_keys_free();
    if (r->dxpl > 0)
        H5Pclose(r->dxpl);
    pl_job_free(r->job);
}

/* The stages, in order; each returns a status every rank agrees on. */
static int run_job(pl_run *r, const run_args *a, char *published,
                   size_t plen)
{
    pl_progress_init(a->progress);
    if (load_job(r, a) != 0)
        return -1;
    const pl_job *j = r->job;
    char every[64] = "no progress lines";
    if (a->progress > 0)
        snprintf(every, sizeof every, "progress every %g s", a->progress);
    pl_progress_say("pseudolink %s (%s) run started: job %s, store %s, "
                    "output %s, %d rank%s, mode %s, %s", pl_version(),
                    pl_git_commit(), j->path,
                    j->store[0] ? j->store : "(none: packages only)",
                    j->output, r->size,
                    r->size > 1 ? "s" : "",
                    j->mode == PL_MODE_KEYED ? "keyed" : "random", every);
    pl_progress_stage("prepare", 0, NULL);
    int m = pl_misuse_check(r, a->audit, &a->prev);    /* stage/misuse.h */
    if (m == -2)
        audit_is_input = 1;
    if (m != 0 || load_keys(r) != 0)
        return -1;
    r->cap = r->job->exchange_cap;
    if (pl_budget_check(r) != 0)
        return -1;
    pl_budget_apply(r);
    r->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(r->dxpl, r->job->io == PL_IO_COLLECTIVE
                                  ? H5FD_MPIO_COLLECTIVE
                                  : H5FD_MPIO_INDEPENDENT);
    char tag[17];
    make_tag(r, tag);
    if (pl_out_dir(r->job->output, r->comm) != 0 ||
        pl_run_guard(r, a->audit, tag) != 0)
        return -1;
    pl_pkg_keys keys;
    if (load_pkg_keys(r, a, &keys) != 0 ||
        !pl_all_ok(r->comm, pl_store_open(&r->store, r->job->store, r->job,
                                          &keys, r->comm) == 0))
        return -1;
    r->ss = pl_xcalloc(r->store.n_src, sizeof *r->ss);
    r->lss = pl_xcalloc(r->store.n_lsrc + 1, sizeof *r->lss);
    pl_owner_init(&r->owner, r->job->mode, &r->platform, r->cap);
    if (pl_corr_begin(r, &a->prev) != 0 || pl_extracts_prepare(r) != 0 ||
        pl_probalink_prepare(r) != 0 || pl_ingest_count(r) != 0)
        return -1;
    if (pl_linked_begin(r) != 0) {
        pl_linked_abort(r);
        return -1;
    }
    pl_link_begin(r);
    /* Each batch's pids go to the linked.h5 writer, the links index and
     * the linkage (the persons' pids, stage/probalink.h). */
    static const pl_batch_sink sinks[] = {{"linked.h5", pl_linked_batch},
                                          {"links", pl_link_batch},
                                          {"linkage", pl_probalink_batch}};
    if (pl_ingest(r, sinks, sizeof sinks / sizeof *sinks) != 0 ||
        !pl_all_ok(r->comm, !*r->stop)) {
        pl_linked_abort(r);
        return -1;
    }
    uint64_t links = 0;
    for (size_t i = 0; i < r->store.n_src; i++)
        links += r->ss[i].kept_total;
    pl_progress_stage("link (sort, merge, persons)", links, "links");
    /* The linkage decides first (and deduplication rewrites the pids of
     * its clusters): its records join the index with their final pids
     * (stage/probalink.h), then the one sort. */
    if (pl_probalink_link(r) != 0 || pl_dedup_run(r) != 0) {
        pl_linked_abort(r);
        return -1;
    }
    /* the names are no longer needed: wiped now, and their memory
     * serves the sort's and the outputs' buffers */
    pl_probalink_drop_records(r);
    if (pl_probalink_links(r) != 0 || pl_link_finish(r) != 0) {
        pl_linked_abort(r);
        return -1;
    }
    double t0 = MPI_Wtime();
    /* Every output is written into the run's own directory (r->gendir);
     * the whole set becomes current at once, or none of it does. */
    /* corr is discarded too when the linkage's outputs fail before
     * pl_corr_write has set it: nothing to discard then */
    pl_outfile linked, corr = {NULL, NULL, -1};
    pl_progress_stage("write linked.h5 (/links, /persons)", links, "links");
    if (pl_linked_end(r, &linked) != 0) {
        pl_linked_abort(r);
        return -1;
    }
    if (pl_probalink_write(r, linked.tmp) != 0 ||
        pl_dedup_write(r, linked.tmp) != 0 ||
        pl_corr_write(r, &corr, r->gendir, tag) != 0 ||
        pl_extracts_write(r, linked.tmp) != 0) {
        pl_out_discard(&linked, r->comm);
        pl_out_discard(&corr, r->comm);
        return -1;
    }
    pl_run_output("linked.h5");
    if (corr.tmp)
        pl_run_output(PL_CORR_NAME);
    pl_out_free(&linked);
    pl_out_free(&corr);
    pl_extracts_seal(r);
    /* Last chance to stop: after this point the run is published. */
    if (!pl_all_ok(r->comm, !*r->stop))
        return -1;
    pl_progress_stage("publish", 0, NULL);
    if (pl_run_publish_set(r, a->job, a->audit, pl_extracts_refused(r),
                           published, plen) != 0)
        return -1;
    r->t[PL_T_WRITE] += MPI_Wtime() - t0;
    return 0;
}

int pl_run_main(int argc, char **argv)
{
    signal(SIGXFSZ, SIG_IGN);   /* a file-size limit: EFBIG, not death */
    MPI_Init(&argc, &argv);
    double t_start = MPI_Wtime();
    pl_run r;
    pl_job job;
    memset(&r, 0, sizeof r);
    memset(&job, 0, sizeof job);
    r.comm = MPI_COMM_WORLD;
    r.job = &job;
    r.stop = &stop_flag;
    r.dxpl = -1;
    r.store.file = -1;
    MPI_Comm_rank(r.comm, &r.rank);
    MPI_Comm_size(r.comm, &r.size);
    pl_mpi_setup(r.comm);
    pl_h5_quiet();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    /* From here on every line of the run's log carries the UTC time
     * (base/log.h, base/progress.h). */
    pl_log_timestamps(1);
    run_args a;
    char published[4096] = "";
    int rc, sig = 0;
    if (parse_args(argc, argv, &a) != 0) {
        usage();
        rc = 2;
    } else {
        int failed = run_job(&r, &a, published, sizeof published) != 0;
        /* The signal as any rank caught it (one rank alone may have: a
         * kill of its pid), so the report and the audit line name it. */
        sig = stop_signal;
        PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &sig, 1, MPI_INT, MPI_MAX,
                                   r.comm));
        if (failed) {
            char where[512];
            pl_progress_where(where, sizeof where);
            if (sig)
                pl_err0("stopped by signal %d (%s) in %s, %.0f s after the "
                        "start: nothing was published", sig, strsignal(sig),
                        where, MPI_Wtime() - t_start);
            else
                pl_err0("run failed in %s: nothing was published", where);
            rc = 1;
        } else {
            /* A stop that came after the last check (during publish): the
             * set is published, the run completes; say so, not nothing. */
            if (sig && r.rank == 0)
                pl_warn("signal %d (%s) came during publish, after the last "
                        "point a run can stop: the run was published and "
                        "completes", sig, strsignal(sig));
            summary(&r, MPI_Wtime() - t_start, published);
            pl_budget_report(&r);
            rc = pl_extracts_refused(&r) ? 3 : 0;   /* docs/EXTRACTS.md */
        }
    }
    if (a.job && !audit_is_input &&
        pl_run_finish(&r, a.job, a.audit, sig) != 0)
        rc = 1;
    if (r.rank == 0 && pl_run_audit_head()[0])
        printf("audit head: %s\n", pl_run_audit_head());
    pl_progress_say("finished after %.1f s: exit status %d, %s",
                    MPI_Wtime() - t_start, rc, pl_exit_meaning(rc));
    fflush(stdout);
    run_free(&r);
    /* A file whose close failed after a write error would crash HDF5's
     * shutdown inside MPI_Finalize: every rank then leaves together,
     * everything said and recorded, without it. */
    if (!pl_all_ok(r.comm, !pl_out_broken())) {
        fflush(stderr);
        MPI_Barrier(r.comm);
        _exit(rc ? rc : 1);
    }
    MPI_Finalize();
    return rc;
}
