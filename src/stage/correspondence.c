/* correspondence.c — see correspondence.h; format in
 * docs/CORRESPONDENCE.md. The data key lives in memory only (rank 0 draws
 * it and broadcasts it over MPI); it is wiped at the end of the run. */
#include "stage/correspondence.h"
#include "par/exchange.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "par/mpi.h"
#include "par/h5.h"
#include "crypto/keyset.h"
#include "crypto/gcm.h"
#include "crypto/keyfile.h"
#include "base/hex.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct pl_corr_state {
    int active;
    char platform_fpr[2 * PL_CORR_FPR_HEX + 1];   /* "" unless keyed */
    uint8_t key[PL_CORR_KEY];
};

static int check_public_keys(pl_run *r)
{
    const pl_custody_cfg *cc = &r->job->custody;
    int ok = 1;
    for (size_t i = 0; r->rank == 0 && i < cc->n && ok; i++) {
        EVP_PKEY *k = pl_custody_load_public(cc->c[i].public_key, 0);
        if (!k)
            pl_err("%s: custody.custodians[%zu] ('%s'): unusable public key",
                   r->job->path, i, cc->c[i].name);
        ok = k != NULL;
        EVP_PKEY_free(k);
    }
    ok = pl_root_ok(r->comm, ok);
    return ok ? 0 : -1;
}

/* Rank 0 draws (or opens) a key; every rank gets it. */
static int share_key(pl_run *r, int ok, uint8_t key[PL_CORR_KEY])
{
    ok = pl_root_ok(r->comm, ok);
    if (!ok)
        return -1;
    PL_MPI_CHECK(MPI_Bcast(key, PL_CORR_KEY, MPI_BYTE, 0, r->comm));
    return 0;
}

typedef struct {
    pl_owner *owner;
    const char *path;
    uint64_t n;
} preload_ctx;

static int serve_preload(const uint8_t *recv, size_t n, uint8_t *reply,
                         void *vctx)
{
    (void)reply;
    preload_ctx *c = vctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = recv + i * PL_CORR_REC;
        if (pl_owner_preload(c->owner, e, e + PL_KEY_REC) != 0) {
            pl_err("%s: a key (p1, rank) appears twice with different "
                   "platform pseudonyms (inconsistent correspondence file)",
                   c->path);
            return -1;
        }
    }
    c->n += n;
    return 0;
}

static int cmp_pid_first(const void *a, const void *b)
{
    return memcmp(a, b, PL_PID_BYTES + PL_KEY_REC);
}

/* Keys that shared a pid were one person: they stay joined (an edge from
 * the smallest to each other), whether or not this run's rows join them
 * again. Each record pid || key goes to the owner of its pid. */
static int preload_edges(pl_run *r, const uint8_t *recs, size_t n)
{
    const size_t pr = PL_PID_BYTES + PL_KEY_REC;
    uint8_t *b = pl_xmalloc(n * pr + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(b + i * pr, recs + i * PL_CORR_REC + PL_KEY_REC, PL_PID_BYTES);
        memcpy(b + i * pr + PL_PID_BYTES, recs + i * PL_CORR_REC, PL_KEY_REC);
    }
    uint8_t *mine = NULL;
    uint64_t m = 0;
    int rc = pl_route_gather(r->comm, b, n, pr, r->cap, &mine, &m, NULL);
    pl_wipe(b, n * pr);
    free(b);
    if (rc != 0)
        return -1;
    qsort(mine, m, pr, cmp_pid_first);
    uint8_t *e = pl_xmalloc(m * PL_EDGE_REC + 1);
    size_t ne = 0;
    for (uint64_t g = 0; g < m;) {
        uint64_t h = g + 1;
        for (; h < m && memcmp(mine + g * pr, mine + h * pr,
                               PL_PID_BYTES) == 0; h++) {
            memcpy(e + ne * PL_EDGE_REC, mine + g * pr + PL_PID_BYTES,
                   PL_KEY_REC);
            memcpy(e + ne++ * PL_EDGE_REC + PL_KEY_REC,
                   mine + h * pr + PL_PID_BYTES, PL_KEY_REC);
        }
        g = h;
    }
    rc = pl_route_owned(r->comm, e, ne, PL_EDGE_REC, r->cap,
                        pl_owner_edge_serve, &r->owner, 0, NULL, NULL, NULL);
    pl_wipe(mine, m * pr);
    pl_wipe(e, ne * PL_EDGE_REC);
    free(mine);
    free(e);
    return rc;
}

/* Decrypt this rank's share of the previous shards (round robin), send
 * each record to the owner of its p1. */
static int preload_shards(pl_run *r, pl_corr_file *cf, const uint8_t *key)
{
    uint8_t *all = NULL;
    size_t n = 0;
    int ok = 1;
    for (size_t i = (size_t)r->rank; i < cf->n_shards && ok; i += r->size) {
        uint8_t *pt;
        if (pl_corr_shard(cf, i, key, &pt) != 0) {
            ok = 0;
            break;
        }
        size_t k = (size_t)cf->nrec[i];
        all = pl_xrealloc(all, (n + k) * PL_CORR_REC + 1);
        memcpy(all + n * PL_CORR_REC, pt, k * PL_CORR_REC);
        pl_wipe(pt, k * PL_CORR_REC);
        free(pt);
        n += k;
    }
    int rc = -1;
    if (pl_all_ok(r->comm, ok)) {
        preload_ctx c = {&r->owner, cf->path, 0};
        rc = pl_route_owned(r->comm, all, n, PL_CORR_REC, r->cap,
                            serve_preload, &c, 0, NULL, NULL, NULL);
        uint64_t total = 0;
        PL_MPI_CHECK(MPI_Allreduce(&c.n, &total, 1, MPI_UINT64_T, MPI_SUM,
                                   r->comm));
        if (rc == 0 && total != cf->records) {
            pl_err0("%s: the shards hold %llu records, the file says %llu",
                    cf->path, (unsigned long long)total,
                    (unsigned long long)cf->records);
            rc = -1;
        }
        if (rc == 0)
            rc = preload_edges(r, all, n);
        if (rc == 0)
            pl_info("incremental: %llu keys known from %s",
                    (unsigned long long)total, cf->path);
    }
    if (all)
        pl_wipe(all, n * PL_CORR_REC);
    free(all);
    return rc;
}

/* Rank 0: a keyed incremental run must use the previous run's platform
 * key, unless the job says it was rotated on purpose: otherwise known and
 * new persons would get pseudonyms under two different keys. */
static int check_platform_key(pl_run *r, pl_corr_file *cf)
{
    const pl_job *j = r->job;
    if (j->mode != PL_MODE_KEYED || j->custody.platform_key_rotated)
        return 0;
    char prev[2 * PL_CORR_FPR_HEX + 1];
    int has = pl_corr_platform_fpr(cf, prev);
    if (has < 0)
        return -1;
    if (has == 0) {
        pl_err("%s: previous.correspondence %s does not record the platform "
               "key it was made with (attribute 'platform_key_fpr': a "
               "random-mode run, or an older pseudolink); expected the same "
               "keys.platform as the previous run: if the key changed on "
               "purpose, say so with previous.platform_key_rotated: true",
               j->path, cf->path);
        return -1;
    }
    if (strcmp(prev, r->corr->platform_fpr) != 0) {
        pl_err("%s: keys.platform (%s) is not the platform key of the "
               "previous run (%s records another key's fingerprint); "
               "expected the same key: if it was rotated on purpose, say so "
               "with previous.platform_key_rotated: true", j->path,
               j->platform_key, cf->path);
        return -1;
    }
    return 0;
}

static int preload(pl_run *r, const pl_keyset *ks)
{
    const char *prev = r->job->custody.previous;
    if (ks->n_key == 0) {
        pl_err0("%s: previous.correspondence names %s, but no custodian key "
                "was given (run --prev-key PEM, for custodians of enough "
                "distinct roles): refusing to start, known persons would "
                "get new platform pseudonyms", r->job->path, prev);
        return -1;
    }
    uint8_t key[PL_CORR_KEY];
    pl_corr_file cf;
    int ok = 1;
    if (r->rank == 0) {
        ok = pl_corr_open(&cf, prev) == 0;
        int opened = ok;
        ok = ok && check_platform_key(r, &cf) == 0;
        ok = ok && pl_corr_unlock(&cf, ks, key, NULL) == 0;
        if (opened && !ok)
            pl_corr_close(&cf);
        if (ok)
            pl_corr_close(&cf);
    }
    if (share_key(r, ok, key) != 0)
        return -1;
    /* The file is read by every rank (serial, read-only). */
    ok = pl_corr_open(&cf, prev) == 0;
    int rc = -1;
    if (pl_all_ok(r->comm, ok))
        rc = preload_shards(r, &cf, key);
    if (ok)
        pl_corr_close(&cf);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int pl_corr_begin(pl_run *r, const pl_keyset *ks)
{
    struct pl_corr_state *st = pl_xcalloc(1, sizeof *st);
    r->corr = st;
    const pl_custody_cfg *cc = &r->job->custody;
    if (!cc->given) {
        if (ks->n_key > 0) {
            pl_err0("--prev-key given, but %s has no previous/custody "
                    "section", r->job->path);
            return -1;
        }
        pl_info("no custody section in %s: no correspondence file is "
                "written", r->job->path);
        return 0;
    }
    if (!cc->previous && ks->n_key > 0) {
        pl_err0("--prev-key given, but %s names no previous.correspondence",
                r->job->path);
        return -1;
    }
    if (check_public_keys(r) != 0)
        return -1;
    if (r->job->mode == PL_MODE_KEYED && r->job->platform_key) {
        uint8_t k[PL_KEY_BYTES], fpr[PL_KEY_FPR_BYTES];
        int kok = pl_key_load(r->job->platform_key, "platform key", k,
                              r->rank != 0) == 0;
        if (kok) {
            pl_key_fingerprint(k, sizeof k, fpr);
            pl_hex(fpr, sizeof fpr, st->platform_fpr);
            st->platform_fpr[2 * PL_CORR_FPR_HEX] = '\0';
        }
        OPENSSL_cleanse(k, sizeof k);
        if (!pl_all_ok(r->comm, kok))
            return -1;
    }
    int ok = r->rank != 0 || RAND_bytes(st->key, sizeof st->key) == 1;
    if (!ok)
        pl_err("OpenSSL's random generator failed (correspondence key)");
    if (share_key(r, ok, st->key) != 0)
        return -1;
    st->active = 1;
    return cc->previous ? preload(r, ks) : 0;
}

void pl_corr_end(pl_run *r)
{
    if (r->corr)
        OPENSSL_cleanse(r->corr, sizeof *r->corr);
    free(r->corr);
    r->corr = NULL;
}

/* ------------------------------------------------------------------------ */
/* Writing */

/* One row of the shard index, gathered to rank 0. */
typedef struct {
    uint64_t nrec, off, len;
    uint8_t nonce[PL_CORR_NONCE], tag[PL_CORR_TAG];
} index_row;

/* This rank's shard: sorted records, encrypted. */
static int encrypt_shard(pl_run *r, const char *tag, uint8_t **ct,
                         index_row *row)
{
    size_t n = pl_owner_count(&r->owner), len = n * PL_CORR_REC;
    uint8_t *pt = pl_xmalloc(len + 1);
    pl_owner_export(&r->owner, pt);
    *ct = pl_xmalloc(len + 16);
    uint8_t aad[PL_CORR_AAD];
    pl_corr_aad(aad, tag, (uint32_t)r->rank, (uint32_t)r->size, n);
    int ok = RAND_bytes(row->nonce, PL_CORR_NONCE) == 1 &&
             pl_gcm_encrypt(r->corr->key, row->nonce, aad, sizeof aad, pt,
                            len, *ct, row->tag) == 0;
    pl_wipe(pt, len);
    free(pt);
    if (!ok)
        pl_err("cannot encrypt the correspondence shard (OpenSSL)");
    row->nrec = n;
    row->len = len;
    return ok ? 0 : -1;
}

/* Rank 0 splits and wraps the key; the others learn the sizes. */
static int custody_meta(pl_run *r, const char *tag, pl_custody_meta *cm)
{
    uint64_t shape[4] = {0};
    int ok = 1;
    if (r->rank == 0) {
        ok = pl_custody_meta_build(cm, &r->job->custody, r->corr->key,
                                   tag) == 0;
        shape[0] = cm->threshold;
        shape[1] = cm->n_roles;
        shape[2] = cm->n;
        shape[3] = cm->wtotal;
    }
    ok = pl_root_ok(r->comm, ok);
    PL_MPI_CHECK(MPI_Bcast(shape, 4, MPI_UINT64_T, 0, r->comm));
    if (ok && r->rank != 0)
        pl_custody_meta_shape(cm, (unsigned)shape[0], shape[1], shape[2],
                              shape[3]);
    return ok ? 0 : -1;
}

static int write_index(pl_run *r, pl_outfile *f, hid_t g,
                       const index_row *rows)
{
    size_t S = (size_t)r->size;
    uint32_t *rk = pl_xcalloc(S, sizeof *rk);
    uint64_t *v = pl_xcalloc(3 * S, sizeof *v);
    uint8_t *nonce = pl_xcalloc(S, PL_CORR_NONCE);
    uint8_t *tg = pl_xcalloc(S, PL_CORR_TAG);
    for (size_t i = 0; rows && i < S; i++) {
        rk[i] = (uint32_t)i;
        v[i] = rows[i].off;
        v[S + i] = rows[i].len;
        v[2 * S + i] = rows[i].nrec;
        memcpy(nonce + i * PL_CORR_NONCE, rows[i].nonce, PL_CORR_NONCE);
        memcpy(tg + i * PL_CORR_TAG, rows[i].tag, PL_CORR_TAG);
    }
    int mine = r->rank == 0;
    int rc = pl_h5_put(g, f->tmp, "rank", H5T_NATIVE_UINT32, S, 0, rk, mine,
                         r->dxpl) ||
             pl_h5_put(g, f->tmp, "offset", H5T_NATIVE_UINT64, S, 0, v,
                         mine, r->dxpl) ||
             pl_h5_put(g, f->tmp, "length", H5T_NATIVE_UINT64, S, 0, v + S,
                         mine, r->dxpl) ||
             pl_h5_put(g, f->tmp, "records", H5T_NATIVE_UINT64, S, 0,
                         v + 2 * S, mine, r->dxpl) ||
             pl_h5_put(g, f->tmp, "nonce", H5T_NATIVE_UINT8, S,
                         PL_CORR_NONCE, nonce, mine, r->dxpl) ||
             pl_h5_put(g, f->tmp, "tag", H5T_NATIVE_UINT8, S, PL_CORR_TAG,
                         tg, mine, r->dxpl) ? -1 : 0;
    free(rk);
    free(v);
    free(nonce);
    free(tg);
    return rc;
}

static int write_file(pl_run *r, pl_outfile *f, const char *tag,
                      const uint8_t *ct, const index_row *row,
                      const index_row *rows, uint64_t ct_total,
                      uint64_t records, const pl_custody_meta *cm)
{
    hid_t root = f->file;
    int ok = pl_attr_str(root, "format", PL_CORR_FORMAT) == 0 &&
             pl_attr_u64(root, "version", PL_CORR_VERSION) == 0 &&
             pl_attr_str(root, "run_id", tag) == 0 &&
             pl_attr_u64(root, "records", records) == 0;
    if (ok && r->corr->platform_fpr[0])
        ok = pl_attr_str(root, "platform_key_fpr", r->corr->platform_fpr) == 0;
    hid_t g = pl_out_group(f, "/shards");
    if (!pl_all_ok(r->comm, ok && g >= 0)) {
        if (g >= 0)
            H5Gclose(g);
        return -1;
    }
    hid_t d = pl_out_dataset(f, g, "ciphertext", H5T_NATIVE_UINT8, ct_total);
    ok = d >= 0 && pl_out_write(f, d, "/shards/ciphertext", H5T_NATIVE_UINT8,
                                row->off, row->len, ct, r->dxpl) == 0;
    if (d >= 0)
        H5Dclose(d);
    ok = ok && write_index(r, f, g, rows) == 0;
    H5Gclose(g);
    ok = ok && pl_custody_meta_write(root, f->tmp, cm, r->rank == 0,
                                     r->dxpl) == 0;
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

int pl_corr_write(pl_run *r, pl_outfile *f, const char *dir, const char *tag)
{
    memset(f, 0, sizeof *f);
    f->file = -1;
    if (!r->corr || !r->corr->active)
        return 0;
    pl_progress_stage("correspondence table", 0, NULL);
    index_row row, *rows = NULL;
    memset(&row, 0, sizeof row);
    uint8_t *ct = NULL;
    uint64_t ct_total = 0, records = 0, roff = 0;
    int ok = encrypt_shard(r, tag, &ct, &row) == 0;
    pl_exscan(r->comm, row.len, &row.off, &ct_total);
    pl_exscan(r->comm, row.nrec, &roff, &records);
    if (r->rank == 0)
        rows = pl_xcalloc((size_t)r->size, sizeof *rows);
    PL_MPI_CHECK(MPI_Gather(&row, sizeof row, MPI_BYTE, rows, sizeof row,
                            MPI_BYTE, 0, r->comm));
    pl_custody_meta cm;
    memset(&cm, 0, sizeof cm);
    int rc = -1;
    if (pl_all_ok(r->comm, ok) && custody_meta(r, tag, &cm) == 0 &&
        pl_out_create(f, dir, PL_CORR_NAME, r->comm) == 0) {
        rc = write_file(r, f, tag, ct, &row, rows, ct_total, records, &cm);
        if (!pl_all_ok(r->comm, rc == 0 && pl_out_close(f) == 0))
            rc = -1;
        if (rc != 0)
            pl_out_discard(f, r->comm);
    }
    pl_custody_meta_free(&cm);
    free(ct);
    free(rows);
    return rc;
}
