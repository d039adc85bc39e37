/* produce.c — see produce.h. The driver of the producer's stage 1: every
 * step is collective and agreed (pl_all_ok); only rank 0 holds the
 * private signing key and the platform's public transport key. */
#include "cmd/produce.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/audit.h"
#include "crypto/bloom.h"
#include "crypto/custody.h"
#include "crypto/digest.h"
#include "crypto/keyfile.h"
#include "job/csv_cfg.h"
#include "par/generation.h"
#include "par/h5.h"
#include "par/lock.h"
#include "par/mpi.h"
#include "par/output.h"
#include "stage/nir.h"
#include "stage/produce.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *job, *sign, *sign_pass, *out, *audit, *linkage_secret;
} prod_args;

static int usage(void)
{
    pl_err0("usage: pseudolink produce PRODUCER_JOB.yaml --signing-key PEM "
            "[--signing-passphrase-file FILE] [--out DIR] [--audit FILE] "
            "[--linkage-secret FILE]");
    return 2;
}

static int parse_args(int argc, char **argv, prod_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--signing-key") == 0) a->sign = argv[++i];
        else if (v && strcmp(argv[i], "--signing-passphrase-file") == 0)
            a->sign_pass = argv[++i];
        else if (v && strcmp(argv[i], "--out") == 0) a->out = argv[++i];
        else if (v && strcmp(argv[i], "--audit") == 0) a->audit = argv[++i];
        else if (v && strcmp(argv[i], "--linkage-secret") == 0)
            a->linkage_secret = argv[++i];
        else if (argv[i][0] == '-' || a->job) {
            pl_err0("produce: unexpected argument '%s'", argv[i]);
            return -1;
        } else
            a->job = argv[i];
    }
    if (!a->job || !a->sign) {
        pl_err0("produce: %s", !a->job ? "missing the job file"
                                       : "missing --signing-key PEM (the "
                                         "producer's Ed25519 private key)");
        return -1;
    }
    return 0;
}

typedef struct {
    MPI_Comm comm;
    int rank, size;
    pl_job job;
    pl_hmac_key producer;
    uint8_t producer_fpr[PL_KEY_FPR_BYTES];
    int have_fpr;
    EVP_PKEY *transport, *signing;
    char signer[72], transport_fpr[72];
    pl_generation gen;
    int gen_begun, locked;
    pl_produce_result res;
    char *log;
    uint8_t secret_id[16];
    int have_secret;
} prod;

static int load(prod *p, const prod_args *a)
{
    int ok = 1;
    if (p->rank == 0)
        ok = pl_job_load_producer(&p->job, a->job, 0) == 0;
    if (!pl_root_ok(p->comm, ok))
        return -1;
    if (p->rank != 0)
        ok = pl_job_load_producer(&p->job, a->job, 1) == 0;
    if (!pl_all_ok(p->comm, ok)) {
        pl_err0("%s: the job file differs between nodes", a->job);
        return -1;
    }
    if (a->out) {
        free(p->job.output);
        p->job.output = pl_xstrdup(a->out);
    }
    p->log = a->audit ? pl_xstrdup(a->audit)
           : p->job.audit_log ? pl_xstrdup(p->job.audit_log)
           : pl_xasprintf("%s/audit.log", p->job.output);
    uint8_t key[PL_KEY_BYTES];
    /* No stage-1 key when no source has an identity (a registry sending
     * encodings only: the job's parser requires it otherwise). */
    ok = !p->job.producer_key ||
         pl_key_load(p->job.producer_key, "producer key", key,
                     p->rank != 0) == 0;
    if (ok && p->job.producer_key) {
        pl_hmac_init(&p->producer, key, sizeof key);
        pl_key_fingerprint(key, sizeof key, p->producer_fpr);
        p->have_fpr = 1;
    }
    OPENSSL_cleanse(key, sizeof key);
    if (!pl_all_ok(p->comm, ok))
        return -1;
    /* The linkage secret of encoded fields (keygen FILE: 32 bytes), on the
     * command line only; its identifier goes to the manifest and the
     * audit line, never the secret. */
    if (a->linkage_secret) {
        ok = pl_key_load(a->linkage_secret, "linkage secret", key,
                         p->rank != 0) == 0;
        if (ok) {
            pl_produce_linkage_secret(key, sizeof key);
            ok = pl_bloom_secret_id(key, sizeof key, p->secret_id) == 0;
            p->have_secret = ok;
        }
        OPENSSL_cleanse(key, sizeof key);
        if (!pl_all_ok(p->comm, ok))
            return -1;
    }
    if (p->rank == 0) {
        p->transport = pl_pkey_load_public(PL_PKEY_X25519,
                                           p->job.transport_key, 0);
        p->signing = p->transport
                         ? pl_pkey_load_private(PL_PKEY_ED25519, a->sign,
                                                a->sign_pass)
                         : NULL;
        ok = p->transport && p->signing;
        if (ok) {
            uint8_t f[PL_FPR_BYTES];
            pl_custody_fingerprint(p->signing, f);
            pl_fpr_hex(f, p->signer);
            pl_custody_fingerprint(p->transport, f);
            pl_fpr_hex(f, p->transport_fpr);
        }
    }
    return pl_root_ok(p->comm, ok) ? 0 : -1;
}

static int guard(prod *p, const char *tag)
{
    if (pl_out_dir(p->job.output, p->comm) != 0 ||
        pl_out_lock(p->job.output, tag, p->comm) != 0)
        return -1;
    p->locked = 1;
    int ok = 1;
    if (p->rank == 0) {
        ok = pl_audit_check(p->log) == 0;
        if (ok)
            pl_gen_clean(p->job.output, NULL, NULL);
    }
    if (!pl_root_ok(p->comm, ok) ||
        pl_gen_begin(&p->gen, p->job.output, tag, p->comm) != 0)
        return -1;
    p->gen_begun = 1;
    return 0;
}

/* The audit line (rank 0): the job, the producer, the keys' fingerprints,
 * the export's and every output's digest, the packages and the counts. */
/* Collective: Merkle digests of the export and of every output, every
 * rank hashing its share of the leaves (crypto/digest.h); the record is
 * rank 0's (a is NULL elsewhere). */
static void record_digests(prod *p, pl_audit_rec *a, const char *const *files,
                           size_t n)
{
    uint8_t root[32];
    uint64_t size;
    /* The export: the HDF5 file, or every source's CSV file. */
    size_t nin = p->job.store[0] ? 1 : p->job.n_sources;
    for (size_t i = 0; i < nin; i++) {
        const char *in = p->job.store[0] ? p->job.store
                                         : p->job.sources[i].csv->file;
        if (pl_digest_file_mpi(in, PL_DIGEST_LEAF, p->comm, root, &size,
                               p->rank != 0) == 0 && a)
            pl_audit_file(a, "inputs", in, NULL, root, size, PL_DIGEST_LEAF);
    }
    /* From the set's own directory, recorded under the stable names a
     * reader uses (<output>/<name>), as run does. */
    char *absout = realpath(p->job.output, NULL);
    for (size_t i = 0; i < n; i++) {
        char *path = pl_xasprintf("%s/%s", p->gen.dir, files[i]);
        char *as = pl_xasprintf("%s/%s", absout ? absout : p->job.output,
                                files[i]);
        if (pl_digest_file_mpi(path, PL_DIGEST_LEAF, p->comm, root, &size,
                               p->rank != 0) == 0 && a)
            pl_audit_file(a, "outputs", as, files[i], root, size,
                          PL_DIGEST_LEAF);
        free(path);
        free(as);
    }
    free(absout);
}

static pl_audit_rec *audit_rec(prod *p, const char *job_path)
{
    pl_audit_rec *a = pl_audit_begin("produce");
    pl_audit_str(a, "job", job_path);
    pl_audit_hex(a, "job_sha256", p->job.sha256, 32);
    pl_audit_str(a, "producer", p->job.producer_name);
    pl_audit_str(a, "package", p->job.package_name);
    pl_audit_str(a, "signer", p->signer);
    pl_audit_str(a, "transport", p->transport_fpr);
    if (p->res.has_data)
        pl_audit_str(a, "data_package_id", p->res.data_id);
    if (p->res.has_opp)
        pl_audit_str(a, "opposition_package_id", p->res.opp_id);
    /* The producer holds identified data: it says so. */
    pl_audit_str(a, "identified_data", p->job.producer_key
                     ? "held (stage 1 at the producer)"
                     : "held (names encoded at the producer)");
    if (p->have_fpr)   /* as "keys" fingerprints are made (audit.h) */
        pl_audit_hex(a, "producer_key_fingerprint", p->producer_fpr,
                     sizeof p->producer_fpr);
    uint64_t rows = 0, rej = 0, pk = 0;
    for (size_t i = 0; p->res.src && i < p->job.n_sources; i++) {
        rows += p->res.src[i].rows;
        rej += p->res.src[i].rejected;
        pk += p->res.src[i].packaged;
    }
    pl_audit_u64(a, "rows", rows);
    pl_audit_u64(a, "rejected", rej);
    pl_audit_u64(a, "packaged", pk);
    if (p->have_secret)         /* the secret's identifier, never it */
        pl_audit_hex(a, "linkage_secret_id", p->secret_id,
                     sizeof p->secret_id);
    return a;
}

static int produce_job(prod *p, const prod_args *a)
{
    if (load(p, a) != 0)
        return -1;
    uint8_t b[8] = {0};
    char tag[17];
    if (p->rank == 0 && RAND_bytes(b, sizeof b) != 1)
        memcpy(b, &(uint64_t){(uint64_t)getpid()}, sizeof b);
    PL_MPI_CHECK(MPI_Bcast(b, sizeof b, MPI_BYTE, 0, p->comm));
    pl_hex(b, sizeof b, tag);
    if (guard(p, tag) != 0)
        return -1;
    pl_export x;
    int ok = pl_all_ok(p->comm, pl_export_open(&x, p->job.store, &p->job,
                                               p->comm) == 0);
    if (ok)
        ok = pl_produce(&p->job, &x, &p->producer, p->transport, p->signing,
                        p->gen.dir, p->comm, &p->res) == 0;
    pl_export_close(&x);
    if (!ok)
        return -1;
    const char *files[3];
    size_t n = 0;
    files[n++] = "rejects.csv";
    if (p->res.has_data)
        files[n++] = p->res.data_file;
    if (p->res.has_opp)
        files[n++] = p->res.opp_file;
    if (pl_gen_seal(&p->gen, files, n, p->comm) != 0)
        return -1;
    /* The audit line is durable before the set is made current. */
    pl_audit_rec *r = p->rank == 0 ? audit_rec(p, a->job) : NULL;
    record_digests(p, r, files, n);
    ok = 1;
    if (r) {
        ok = pl_audit_append(p->log, r, 1, NULL) == 0;
        pl_audit_free(r);
    }
    if (!pl_root_ok(p->comm, ok))
        return -1;
    return pl_gen_publish(&p->gen, files, n, p->comm);
}

static void summary(const prod *p)
{
    if (p->rank != 0)
        return;
    pl_info("pseudolink produce: job %s, producer %s, export %s%s, %d "
            "rank%s", p->job.path, p->job.producer_name,
            p->job.store[0] ? p->job.store : p->job.sources[0].csv->file,
            p->job.store[0] || p->job.n_sources == 1 ? "" : ", ... (CSV)",
            p->size, p->size > 1 ? "s" : "");
    pl_info("%-24s %14s %12s %14s", "source", "rows", "rejected",
            "packaged");
    uint64_t rows = 0;
    for (size_t i = 0; i < p->job.n_sources; i++) {
        const pl_produce_count *c = &p->res.src[i];
        pl_info("%-24s %14llu %12llu %14llu", p->job.sources[i].name,
                (unsigned long long)c->rows, (unsigned long long)c->rejected,
                (unsigned long long)c->packaged);
        rows += c->rows;
    }
    for (size_t i = 0; i < p->job.n_sources; i++) {
        const pl_produce_count *c = &p->res.src[i];
        if (c->rows && !c->packaged)
            pl_info("warning: %s: /sources/%s: all %llu rows rejected "
                    "(rejects.csv): nothing of this source is delivered",
                    p->job.store[0] ? p->job.store
                                    : p->job.sources[i].csv->file,
                    p->job.sources[i].name,
                    (unsigned long long)c->rows);
    }
    if (p->res.has_data)
        pl_info("package %s/%s (id %s)", p->job.output, p->res.data_file,
                p->res.data_id);
    if (p->res.has_opp)
        pl_info("opposition package %s/%s (id %s)", p->job.output,
                p->res.opp_file, p->res.opp_id);
    pl_info("reject report %s/rejects.csv", p->job.output);
    pl_info("signed by %s, for transport key %s", p->signer,
            p->transport_fpr);
    pl_info("%.3f s, %.0f rows/s", p->res.seconds,
            p->res.seconds > 0 ? (double)rows / p->res.seconds : 0.0);
    pl_info("cpu %.3f s on the busiest rank, %.0f rows per CPU second per "
            "rank", p->res.cpu_seconds, p->res.cpu_seconds > 0
                ? (double)rows / p->size / p->res.cpu_seconds : 0.0);
}

int pl_produce_main(int argc, char **argv)
{
    signal(SIGXFSZ, SIG_IGN);
    MPI_Init(&argc, &argv);
    prod p;
    memset(&p, 0, sizeof p);
    p.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(p.comm, &p.rank);
    MPI_Comm_size(p.comm, &p.size);
    pl_mpi_setup(p.comm);
    pl_h5_quiet();
    prod_args a;
    int rc = 0;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "-h") == 0)) {
        if (p.rank == 0)
            printf("usage: pseudolink produce PRODUCER_JOB.yaml --signing-key "
                   "PEM [--signing-passphrase-file FILE] [--out DIR] "
                   "[--audit FILE]\nSee docs/PRODUCER.md.\n");
    } else if (parse_args(argc, argv, &a) != 0) {
        rc = usage();
    } else if (produce_job(&p, &a) != 0) {
        pl_err0("produce failed: nothing was published");
        rc = 1;
        if (p.gen_begun && p.rank == 0 && p.log) {
            pl_audit_rec *r = pl_audit_begin("produce");
            pl_audit_str(r, "job", a.job);
            pl_audit_append(p.log, r, 0, pl_log_first_error());
            pl_audit_free(r);
        }
    } else {
        summary(&p);
    }
    if (p.gen_begun) {
        if (rc != 0)
            pl_gen_discard(&p.gen, p.comm);
        pl_gen_free(&p.gen);
    }
    if (p.locked)
        pl_out_unlock(p.comm);
    free(p.res.src);
    free(p.log);
    pl_hmac_key_wipe(&p.producer);
    EVP_PKEY_free(p.transport);
    EVP_PKEY_free(p.signing);
    pl_job_free(&p.job);
    pl_produce_linkage_secret(NULL, 0);
    fflush(stdout);
    /* A package whose close failed after a write error (a full disk)
     * would crash HDF5's shutdown inside MPI_Finalize (as for run). */
    if (!pl_all_ok(p.comm, !pl_out_broken())) {
        fflush(stderr);
        MPI_Barrier(p.comm);
        _exit(rc ? rc : 1);
    }
    MPI_Finalize();
    return rc;
}
