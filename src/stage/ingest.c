/* ingest.c — see ingest.h.
 *
 * Two passes over the identity columns. The count pass only validates: it
 * gives each rank its kept/rejected counts and prefix offsets, so that the
 * output datasets can be created with their final length before any pid
 * exists. The main pass then hashes, exchanges and hands each batch's pids
 * to the writer (linked.c) and the links sort (link.c) at once: nothing is
 * kept per input row. Re-reading and re-validating the identity columns
 * costs a few percent of the run (docs/SCALING.md); keeping a byte per row
 * would make memory grow with the store.
 *
 * Records stay on the rank that read them; only p1 values travel to their
 * owner and pids come back. Buffers that held NIRs or p1 are wiped before
 * they are reused for another purpose or freed.
 */
#include "par/exchange.h"
#include "base/log.h"
#include "stage/nir.h"
#include "stage/pseudonym.h"
#include "stage/ingest.h"
#include "base/mem.h"
#include "base/progress.h"
#include "par/mpi.h"

#include "base/json.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PL_R_COUNT <= 16, "pl_src_state.reasons holds every code");


typedef struct {
    char     *nir, *nir2;
    /* Integer identity columns are read as int64 whatever their width in
     * the store and range-checked here (check_batch): nothing is narrowed
     * before it is checked, so 256 cannot become a birth rank of 0. */
    int64_t  *birth_date, *sex, *birth_rank, *birth_rank2;
    uint8_t  *p1;               /* [valid][32], compacted */
    uint8_t  *keys, *keys2;     /* [valid][33] p1 || rank; keys2 compacted
                                 * over the rows with a second key */
    uint8_t  *has2;             /* [valid] the row has a valid second key */
    uint64_t  also_bad;         /* rows whose second key failed the checks */
    uint8_t  *why;              /* [batch] reject reason, 0 = valid */
    uint8_t  *cand;             /* [batch] candidates of an ambiguous row */
    uint8_t  *vpids;            /* [valid][16] pids in row order */
    uint8_t  *rep, *rep2;       /* [valid][PL_OWNER_REPLY] */
    size_t   *idx, *idx2;
    pl_route_bufs route;        /* grouped keys, permutation, replies */
    uint64_t  batch, batch2;    /* rows; rows of the second identity */
    size_t    nir_size, nir2_size, n2;
} batch_bufs;

static void bufs_alloc(batch_bufs *b, uint64_t batch, size_t nir_size,
                       size_t nir2_size)
{
    /* The second identity's buffers only for a source that has one. */
    uint64_t b2 = nir2_size ? batch : 1;
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->batch2 = b2;
    b->nir_size = nir_size ? nir_size : 16;
    b->nir2_size = nir2_size ? nir2_size : 16;
    b->nir = pl_xmalloc(batch * b->nir_size);
    b->nir2 = pl_xmalloc(b2 * b->nir2_size);
    b->birth_date = pl_xmalloc(batch * sizeof *b->birth_date);
    b->sex = pl_xmalloc(batch * sizeof *b->sex);
    b->birth_rank = pl_xmalloc(batch * sizeof *b->birth_rank);
    b->birth_rank2 = pl_xmalloc(b2 * sizeof *b->birth_rank2);
    b->p1 = pl_xmalloc((batch + b2) * PL_P1_BYTES);
    b->keys = pl_xmalloc(batch * PL_KEY_REC);
    b->keys2 = pl_xmalloc(b2 * PL_KEY_REC * 3);     /* keys, edges */
    b->has2 = pl_xcalloc(batch, 1);
    b->why = pl_xmalloc(batch);
    b->cand = pl_xcalloc(batch, 1);
    b->vpids = pl_xmalloc(batch * PL_PID_BYTES);
    b->rep = pl_xmalloc(batch * PL_OWNER_REPLY);
    b->rep2 = pl_xmalloc(b2 * PL_OWNER_REPLY);
    b->idx = pl_xmalloc(batch * sizeof *b->idx);
    b->idx2 = pl_xmalloc(b2 * sizeof *b->idx2);
}

static void bufs_free(batch_bufs *b)
{
    pl_wipe(b->nir, b->batch * b->nir_size);
    pl_wipe(b->nir2, b->batch2 * b->nir2_size);
    pl_wipe(b->p1, (b->batch + b->batch2) * PL_P1_BYTES);
    pl_wipe(b->keys, b->batch * PL_KEY_REC);
    pl_wipe(b->keys2, 3 * b->batch2 * PL_KEY_REC);
    free(b->nir); free(b->nir2); free(b->birth_date); free(b->sex);
    free(b->birth_rank); free(b->birth_rank2); free(b->p1); free(b->keys);
    free(b->keys2); free(b->has2); free(b->why); free(b->cand);
    free(b->vpids); free(b->rep); free(b->rep2); free(b->idx);
    free(b->idx2);
    pl_route_bufs_free(&b->route);
}

static int read_col(pl_run *r, const pl_source *s, hid_t d, const char *col,
                    hid_t mt, uint64_t first, uint64_t cnt, size_t width,
                    void *buf)
{
    char what[PL_NAME_MAX * 2 + 16];
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, col);
    return pl_store_read(&r->store, d, what, mt, first, cnt, width, buf,
                         r->dxpl);
}

/* Read one batch of identity columns; p1 sources read p1 straight in. */
static int read_identity(pl_run *r, const pl_source *s, uint64_t lo,
                         uint64_t cnt, batch_bufs *b)
{
    uint64_t first = s->first + lo;
    const pl_source_cfg *c = s->cfg;
    int rc = 0;
    if (s->birth_rank >= 0)     /* the store's, or from a package */
        rc |= pl_source_rank(&r->store, s, first, cnt, b->birth_rank,
                             r->dxpl);
    if (s->p1 >= 0)             /* the store's, or decrypted from a package */
        return rc | pl_source_read(&r->store, s, NULL, first, cnt, b->p1,
                                   r->dxpl) ? -1 : 0;
    hid_t nir_t = H5Dget_type(s->nir);     /* raw bytes, no conversion */
    rc |= read_col(r, s, s->nir, c->nir, nir_t, first, cnt, 0, b->nir);
    H5Tclose(nir_t);
    rc |= read_col(r, s, s->birth_date, c->birth_date, H5T_NATIVE_INT64,
                   first, cnt, 0, b->birth_date);
    rc |= read_col(r, s, s->sex, c->sex, H5T_NATIVE_INT64, first, cnt, 0,
                   b->sex);
    if (s->also_nir >= 0) {
        nir_t = H5Dget_type(s->also_nir);
        rc |= read_col(r, s, s->also_nir, c->also_nir, nir_t, first, cnt, 0,
                       b->nir2);
        H5Tclose(nir_t);
    }
    if (s->also_birth_rank >= 0)
        rc |= read_col(r, s, s->also_birth_rank, c->also_birth_rank,
                       H5T_NATIVE_INT64, first, cnt, 0, b->birth_rank2);
    return rc ? -1 : 0;
}

static int rank_of(int64_t v)
{
    return v >= 1 && v <= 255 ? (int)v : 0;
}

/* Validate one batch: reasons to b->why, batch positions of the valid
 * rows to b->idx; returns their number. p1 sources carry no identity to
 * check but their rank. A second identity (identity.also) that fails the
 * NIR checks (codes 1-7) or whose rank is out of range is left out: the
 * row keeps its first key (the parent's NIR encodes the parent's birth,
 * so codes 10 and 11 do not apply to it). */
static size_t check_batch(pl_run *r, const pl_source *s, uint64_t cnt,
                          batch_bufs *b)
{
    size_t nv = 0;
    int has_rank = s->birth_rank >= 0;
    if (s->p1 >= 0) {
        for (uint64_t i = 0; i < cnt; i++) {
            b->why[i] = has_rank && !rank_of(b->birth_rank[i])
                            ? PL_R_BIRTH_RANK : 0;
            if (!b->why[i])
                b->idx[nv++] = i;
        }
        return nv;
    }
    double t0 = MPI_Wtime();
    for (uint64_t i = 0; i < cnt; i++) {
        int why = pl_identity_check_i64(
            b->nir + i * b->nir_size, (int)b->nir_size, b->birth_date[i],
            b->sex[i], has_rank, has_rank ? b->birth_rank[i] : 0);
        b->why[i] = (uint8_t)why;
        if (why != PL_OK)
            continue;
        if (s->also_nir >= 0) {
            int has2 = s->also_birth_rank >= 0;
            int w2 = pl_identity_check_i64(
                b->nir2 + i * b->nir2_size, (int)b->nir2_size,
                b->birth_date[i], b->sex[i], has2,
                has2 ? b->birth_rank2[i] : 0);
            b->has2[nv] = w2 == PL_OK || w2 == PL_R_SEX_MISMATCH ||
                          w2 == PL_R_DATE_MISMATCH;
            b->also_bad += !b->has2[nv];
        }
        b->idx[nv++] = i;
    }
    r->t[PL_T_VALIDATE] += MPI_Wtime() - t0;
    return nv;
}

/* Stage-1 p1 of n rows (batch positions idx) of nir columns `nir` to out
 * (pl_p1_batch: the one stage-1 computation). */
static void hash_rows(pl_run *r, const batch_bufs *b, const char *nir,
                      size_t nir_size, const size_t *idx, size_t n,
                      uint8_t *out)
{
    pl_p1_batch(&r->producer, nir, nir_size, b->birth_date, b->sex, idx, n,
                out);
}

/* Stage 1 and the keys of the valid rows: b->keys (p1 || rank), and
 * b->keys2 for the b->n2 rows with a second identity. */
static void hash_batch(pl_run *r, const pl_source *s, size_t nv,
                       batch_bufs *b)
{
    double t0 = MPI_Wtime();
    int has_rank = s->birth_rank >= 0;
    if (s->p1 < 0)
        hash_rows(r, b, b->nir, b->nir_size, b->idx, nv, b->p1);
    for (size_t k = 0; k < nv; k++) {
        size_t i = b->idx[k];
        uint8_t *key = b->keys + k * PL_KEY_REC;
        memcpy(key, b->p1 + (s->p1 >= 0 ? i : k) * PL_P1_BYTES, PL_P1_BYTES);
        key[PL_P1_BYTES] = has_rank ? (uint8_t)b->birth_rank[i] : 0;
    }
    b->n2 = 0;
    if (s->also_nir >= 0) {
        for (size_t k = 0; k < nv; k++)
            if (b->has2[k])
                b->idx2[b->n2++] = b->idx[k];
        uint8_t *p2 = b->p1 + b->batch * PL_P1_BYTES;
        hash_rows(r, b, b->nir2, b->nir2_size, b->idx2, b->n2, p2);
        for (size_t j = 0; j < b->n2; j++) {
            uint8_t *key = b->keys2 + j * PL_KEY_REC;
            memcpy(key, p2 + j * PL_P1_BYTES, PL_P1_BYTES);
            key[PL_P1_BYTES] = s->also_birth_rank >= 0
                                   ? (uint8_t)b->birth_rank2[b->idx2[j]] : 0;
        }
        pl_wipe(p2, b->n2 * PL_P1_BYTES);
    }
    pl_wipe(b->p1, (s->p1 >= 0 ? b->batch : nv) * PL_P1_BYTES);
    r->t[PL_T_STAGE1] += MPI_Wtime() - t0;
}

/* Opposition (store.h): valid rows whose p1 (or second identity's p1) is
 * on an opposition list get PL_R_OPPOSED and leave the batch before any
 * key reaches its owner — no person, no pid, no output row, no
 * correspondence entry. Returns the rows that stay (b->keys, b->idx,
 * b->has2 and b->keys2 compacted). */
static size_t drop_opposed(const pl_run *r, size_t nv, batch_bufs *b)
{
    if (!r->store.n_opposed)
        return nv;
    size_t m = 0, j = 0, m2 = 0;
    for (size_t k = 0; k < nv; k++) {
        uint8_t *key = b->keys + k * PL_KEY_REC;
        uint8_t *k2 = b->has2[k] ? b->keys2 + j++ * PL_KEY_REC : NULL;
        if (pl_store_opposed(&r->store, key) ||
            (k2 && pl_store_opposed(&r->store, k2))) {
            b->why[b->idx[k]] = PL_R_OPPOSED;
            continue;
        }
        if (m != k) {
            memcpy(b->keys + m * PL_KEY_REC, key, PL_KEY_REC);
            b->idx[m] = b->idx[k];
            b->has2[m] = b->has2[k];
        }
        if (k2) {
            if (m2 != j - 1)
                memcpy(b->keys2 + m2 * PL_KEY_REC, k2, PL_KEY_REC);
            m2++;
        }
        m++;
    }
    pl_wipe(b->keys + m * PL_KEY_REC, (nv - m) * PL_KEY_REC);
    pl_wipe(b->keys2 + m2 * PL_KEY_REC, (b->n2 - m2) * PL_KEY_REC);
    for (size_t k = m; k < nv; k++)
        b->has2[k] = 0;
    b->n2 = m2;
    return m;
}

/* Count pass: every key to its owner, and the edges of rows with two. */
static int send_keys(pl_run *r, const pl_source *s, size_t nv,
                     batch_bufs *b)
{
    pl_route_stats st = {0};
    int rc = pl_route_owned(r->comm, b->keys, nv, PL_KEY_REC, r->cap,
                            pl_owner_add_serve, &r->owner, 0, NULL, &b->route,
                            &st);
    r->exchange_rounds += st.rounds;
    if (rc != 0 || s->also_nir < 0)     /* the same on every rank */
        return rc;
    rc = pl_route_owned(r->comm, b->keys2, b->n2, PL_KEY_REC, r->cap,
                        pl_owner_add_serve, &r->owner, 0, NULL, &b->route,
                        NULL);
    /* Edges keyA || keyB, in the second half of keys2. */
    uint8_t *e = b->keys2 + b->batch * PL_KEY_REC;
    for (size_t k = 0, j = 0; k < nv && rc == 0; k++) {
        if (!b->has2[k])
            continue;
        memcpy(e, b->keys + k * PL_KEY_REC, PL_KEY_REC);
        memcpy(e + PL_KEY_REC, b->keys2 + j++ * PL_KEY_REC, PL_KEY_REC);
        e += PL_EDGE_REC;
    }
    if (rc == 0)
        rc = pl_route_owned(r->comm, b->keys2 + b->batch * PL_KEY_REC, b->n2,
                            PL_EDGE_REC, r->cap, pl_owner_edge_serve,
                            &r->owner, 0, NULL, &b->route, NULL);
    return rc;
}

/* Main pass: keys -> owners -> pids. b->vpids gets the pids of the linked
 * rows in row order; an ambiguous row (its key, and its second key if any,
 * ambiguous) gets why = PL_WHY_AMBIGUOUS and its candidates in b->cand.
 * *amb counts them. */
static int exchange(pl_run *r, const pl_source *s, size_t nv, batch_bufs *b,
                    uint64_t *amb, uint64_t *opp)
{
    pl_route_stats st = {0};
    int rc = pl_route_owned(r->comm, b->keys, nv, PL_KEY_REC, r->cap,
                            pl_owner_serve, &r->owner, PL_OWNER_REPLY, b->rep,
                            &b->route, &st);
    r->exchange_rounds += st.rounds;
    if (rc == 0 && s->also_nir >= 0)
        rc = pl_route_owned(r->comm, b->keys2, b->n2, PL_KEY_REC, r->cap,
                            pl_owner_serve, &r->owner, PL_OWNER_REPLY,
                            b->rep2, &b->route, NULL);
    if (rc != 0)
        return -1;
    size_t m = 0, j = 0;
    int unknown = 0;
    for (size_t k = 0; k < nv; k++) {
        size_t i = b->idx[k];
        const uint8_t *rp = b->rep + k * PL_OWNER_REPLY;
        const uint8_t *r2 = b->has2[k] ? b->rep2 + j++ * PL_OWNER_REPLY : NULL;
        unknown |= rp[0] == PL_OWNER_UNKNOWN ||
                   (r2 && r2[0] == PL_OWNER_UNKNOWN);
        b->cand[i] = 0;
        if (rp[0] && r2 && !r2[0])
            rp = r2;            /* the second key resolves the row */
        if (!rp[0] && rp[PL_OWNER_REPLY - 1]) {
            b->why[i] = PL_R_OPPOSED;   /* its person is opposed */
            (*opp)++;
            continue;
        }
        if (rp[0]) {
            b->why[i] = PL_WHY_AMBIGUOUS;
            b->cand[i] = rp[0];
            (*amb)++;
            continue;
        }
        memcpy(b->vpids + m++ * PL_PID_BYTES, rp + 1, PL_PID_BYTES);
    }
    pl_wipe(b->keys, nv * PL_KEY_REC);
    pl_wipe(b->keys2, b->n2 * PL_KEY_REC);
    if (unknown)
        pl_err("%s: /sources/%s: a key was not seen in the count pass: the "
               "identity columns changed during the run", r->job->store,
               s->cfg->name);
    return unknown ? -1 : 0;
}

static void bufs_for(batch_bufs *b, const pl_run *r, const pl_source *s)
{
    uint64_t B = r->job->batch_rows;
    bufs_alloc(b, s->count < B ? (s->count ? s->count : 1) : B, s->nir_size,
               s->also_nir >= 0 ? s->also_nir_size : 0);
}

/* Read one batch's identity on every rank; the verdict is shared, or the
 * ranks that carry on would wait forever in the next collective. */
static int read_batch(pl_run *r, const pl_source *s, uint64_t lo,
                      uint64_t cnt, batch_bufs *b)
{
    double t0 = MPI_Wtime();
    int ok = read_identity(r, s, lo, cnt, b) == 0;
    r->t[PL_T_READ] += MPI_Wtime() - t0;
    return pl_all_ok(r->comm, ok && !*r->stop);
}

/* The count pass reads a source once per scanned payload column, then its
 * identity: the progress of pass `pass` of `passes` after `k` batches,
 * within the source's `nrows` from `base` (base/progress.h). */
typedef struct { uint64_t base; unsigned pass, passes; } check_pos;

static unsigned check_passes(const pl_source *s)
{
    unsigned n = 1;             /* the identity (its keys go to their owners) */
    for (size_t c = 0; c < s->n_payload; c++)
        n += s->payload[c].nir_scan != PL_SCAN_NONE;
    return n;
}

static void check_progress(const pl_run *r, const pl_source *s,
                           const check_pos *cp, uint64_t k)
{
    uint64_t d = pl_progress_estimate(0, k, r->job->batch_rows, r->size,
                                      s->nrows);
    double in = ((double)cp->pass * (double)s->nrows + (double)d) /
                (cp->passes ? cp->passes : 1);
    pl_progress_set(cp->base + (uint64_t)in);
}

/* A payload column that holds NIRs must not be published in clear (a
 * parent's NIR the job did not name is the common case). Every row is
 * read: a sample could miss a column where only some rows carry one. The
 * threshold (1 % of non-empty values) is far above random 15-digit codes
 * (~0.5 % pass the key by chance, few enough for a large column) and far
 * below a real NIR column (> 90 %); a false alarm costs one line of
 * allow_nir_like, a miss publishes identifiers. lk: a linkage source
 * (its linkage.keep). */
static int scan_payload(pl_run *r, const pl_source *s, check_pos *cp,
                        int lk)
{
    uint64_t B = r->job->batch_rows;
    int refused = 0;
    for (size_t c = 0; c < s->n_payload; c++) {
        const pl_column *col = &s->payload[c];
        if (col->nir_scan == PL_SCAN_NONE)
            continue;
        char what[PL_NAME_MAX * 2 + 16];
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
                 col->name);
        uint64_t nb = pl_batches(r->comm, s->count, B);
        uint64_t bsz = s->count < B ? (s->count ? s->count : 1) : B;
        char *buf = pl_xmalloc(bsz * col->size);
        uint64_t n[2] = {0, 0};         /* hits, non-empty */
        int ok = 1;
        for (uint64_t k = 0; k < nb && ok; k++) {
            uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
            double t0 = MPI_Wtime();
            ok = pl_source_read(&r->store, s, col, s->first + lo, cnt, buf,
                                r->dxpl) == 0;
            r->t[PL_T_READ] += MPI_Wtime() - t0;
            ok = pl_all_ok(r->comm, ok && !*r->stop);
            if (ok)
                pl_nir_scan(col->nir_scan, col->size, buf, cnt, &n[0], &n[1]);
            check_progress(r, s, cp, k + 1);
        }
        cp->pass++;
        pl_wipe(buf, bsz * col->size);  /* it may have held NIRs */
        free(buf);
        if (!ok)
            return -1;
        uint64_t g[2];
        PL_MPI_CHECK(MPI_Allreduce(n, g, 2, MPI_UINT64_T, MPI_SUM, r->comm));
        if (pl_nir_scan_refused(g[0], g[1]) && lk) {
            pl_err0("%s: %s: payload column looks like NIRs (%llu of %llu "
                    "non-empty values pass the NIR checks): it would be "
                    "published in clear; leave it out of linkage.keep.%s",
                    r->store.path, what, (unsigned long long)g[0],
                    (unsigned long long)g[1], s->cfg->name);
            refused = 1;
        } else if (pl_nir_scan_refused(g[0], g[1])) {
            pl_err0("%s: %s: payload column looks like NIRs (%llu of %llu "
                    "non-empty values pass the NIR checks): it would be "
                    "published in clear; name it as an identity, drop it, "
                    "or list it in sources.%s.allow_nir_like if it may be",
                    r->store.path, what, (unsigned long long)g[0],
                    (unsigned long long)g[1], s->cfg->name);
            refused = 1;
        }
    }
    return refused ? -1 : 0;
}

/* "nir_length 40, birth_rank 10" */
static void reasons_text(const pl_src_state *ss, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int c = 1; c < PL_R_COUNT && o < n; c++)
        if (ss->reasons[c])
            o += (size_t)snprintf(out + o, n - o, "%s%s %llu", o ? ", " : "",
                                  pl_reason_name(c),
                                  (unsigned long long)ss->reasons[c]);
}

/* options.max_reject_fraction: more rejected rows than that is an error. */
static int check_rejects(pl_run *r, size_t si)
{
    const pl_source *s = &r->store.src[si];
    const pl_src_state *ss = &r->ss[si];
    double max = r->job->max_reject_fraction;
    if (s->nrows == 0 || (double)ss->rej_total <= max * (double)s->nrows)
        return 0;
    char why[512];
    reasons_text(ss, why, sizeof why);
    pl_err0("%s: /sources/%s: %llu of %llu rows rejected (%s), more than "
            "options.max_reject_fraction %g of the job allows",
            r->store.path, s->cfg->name, (unsigned long long)ss->rej_total,
            (unsigned long long)s->nrows, why, max);
    return -1;
}

/* The count pass of one source: validation, stage 1 and every key to its
 * owner (pl_owner_add_serve); reject and opposition counts. */
static int count_source(pl_run *r, size_t si, uint64_t base)
{
    const pl_source *s = &r->store.src[si];
    pl_src_state *ss = &r->ss[si];
    uint64_t reasons[16] = {0};
    ss->rejected = ss->opposed = 0;
    check_pos cp = {base, 0, check_passes(s)};
    if (scan_payload(r, s, &cp, 0) != 0)
        return -1;
    uint64_t B = r->job->batch_rows;
    uint64_t nb = pl_batches(r->comm, s->count, B);
    batch_bufs b;
    bufs_for(&b, r, s);
    int ok = 1;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
        ok = read_batch(r, s, lo, cnt, &b);
        if (!ok)
            break;
        size_t nv = check_batch(r, s, cnt, &b);
        ss->rejected += cnt - nv;
        hash_batch(r, s, nv, &b);
        pl_wipe(b.nir, cnt * b.nir_size);
        pl_wipe(b.nir2, (s->also_nir >= 0 ? cnt : 0) * b.nir2_size);
        /* The keys of opposed rows reach their owners too: their person
         * is opposed as a whole, also its keys that only other rows give
         * (pl_owner_resolve). */
        double t0 = MPI_Wtime();
        ok = send_keys(r, s, nv, &b) == 0;
        r->t[PL_T_EXCHANGE] += MPI_Wtime() - t0;
        size_t nk = drop_opposed(r, nv, &b);
        ss->opposed += nv - nk;
        nv = nk;
        for (uint64_t i = 0; i < cnt; i++)
            reasons[b.why[i]]++;
        check_progress(r, s, &cp, k + 1);
    }
    ss->also_bad = b.also_bad;
    bufs_free(&b);
    if (!ok)
        return -1;
    uint64_t ooff;
    pl_exscan(r->comm, ss->opposed, &ooff, &ss->opposed_total);
    PL_MPI_CHECK(MPI_Allreduce(&ss->also_bad, &ss->also_bad_total, 1,
                               MPI_UINT64_T, MPI_SUM, r->comm));
    PL_MPI_CHECK(MPI_Allreduce(reasons, ss->reasons, 16, MPI_UINT64_T,
                               MPI_SUM, r->comm));
    return 0;
}

size_t pl_ingest_warnings(const pl_run *r,
                          void (*emit)(const char *msg, void *ctx), void *ctx)
{
    size_t n = 0;
    char msg[1024], why[512];
    for (size_t si = 0; r->ss && si < r->store.n_src; si++) {
        const pl_source *s = &r->store.src[si];
        const pl_src_state *ss = &r->ss[si];
        if (s->n_unwritten) {
            snprintf(msg, sizeof msg, "%s: /sources/%s: %zu column%s "
                     "declared but never written (no storage allocated, "
                     "read as fill values), first '%s'", r->store.path,
                     s->cfg->name, s->n_unwritten,
                     s->n_unwritten > 1 ? "s" : "", s->unwritten);
            emit(msg, ctx);
            n++;
        }
        if (ss->also_bad_total) {
            snprintf(msg, sizeof msg, "%s: /sources/%s: %llu row%s kept by "
                     "their first identity, whose second identity "
                     "(identity.also) fails the NIR checks: not joined by it",
                     r->store.path, s->cfg->name,
                     (unsigned long long)ss->also_bad_total,
                     ss->also_bad_total > 1 ? "s" : "");
            emit(msg, ctx);
            n++;
        }
        if (s->nrows > 0 && ss->rej_total == s->nrows) {
            reasons_text(ss, why, sizeof why);
            snprintf(msg, sizeof msg, "%s: /sources/%s: all %llu rows "
                     "rejected (%s): nothing of this source is linked",
                     r->store.path, s->cfg->name,
                     (unsigned long long)s->nrows, why);
            emit(msg, ctx);
            n++;
        }
    }
    return n;
}

typedef struct { char *json; size_t len; } jarray;

static void add_json(const char *msg, void *ctx)
{
    jarray *j = ctx;
    char clean[PL_LOG_LINE];
    pl_log_escape(msg, clean, sizeof clean);   /* valid UTF-8, no controls */
    char *e = pl_json_escape(clean);
    size_t add = strlen(e) + 4;
    j->json = pl_xrealloc(j->json, j->len + add + 2);
    j->len += (size_t)snprintf(j->json + j->len, add + 2, "%s\"%s\"",
                               j->len > 1 ? "," : "", e);
    free(e);
}

char *pl_ingest_warnings_json(const pl_run *r)
{
    jarray j = {pl_xstrdup("["), 1};
    pl_ingest_warnings(r, add_json, &j);
    j.json = pl_xrealloc(j.json, j.len + 2);
    memcpy(j.json + j.len, "]", 2);
    return j.json;
}

static int ingest_source(pl_run *r, size_t si, const pl_batch_sink *sinks,
                         size_t n_sinks, int count_only, uint64_t base);

/* Rows of every source (global), for the progress lines. */
static uint64_t all_rows(const pl_run *r)
{
    uint64_t n = 0;
    for (size_t si = 0; si < r->store.n_src; si++)
        n += r->store.src[si].nrows;
    return n;
}

int pl_ingest_count(pl_run *r)
{
    uint64_t base = 0;
    r->owner.opp = r->store.opposed;
    r->owner.n_opp = r->store.n_opposed;
    pl_progress_stage("check", all_rows(r), "rows");
    for (size_t si = 0; si < r->store.n_src; si++) {
        if (count_source(r, si, base) != 0)
            return -1;
        base += r->store.src[si].nrows;
        pl_progress_set(base);
    }
    /* The kept columns of the linkage sources (linkage.keep) too. */
    for (size_t k = 0; k < r->store.n_lsrc; k++) {
        check_pos cp = {base, 0, check_passes(&r->store.lsrc[k])};
        if (scan_payload(r, &r->store.lsrc[k], &cp, 1) != 0)
            return -1;
    }
    double t0 = MPI_Wtime();
    if (pl_owner_resolve(&r->owner, r->comm) != 0)
        return -1;
    r->t[PL_T_EXCHANGE] += MPI_Wtime() - t0;
    uint64_t amb = 0, opl = 0;
    PL_MPI_CHECK(MPI_Allreduce(&r->owner.ambiguous_keys, &amb, 1,
                               MPI_UINT64_T, MPI_SUM, r->comm));
    PL_MPI_CHECK(MPI_Allreduce(&r->owner.opposed_linked, &opl, 1,
                               MPI_UINT64_T, MPI_SUM, r->comm));
    for (size_t si = 0; si < r->store.n_src; si++) {
        const pl_source *s = &r->store.src[si];
        pl_src_state *ss = &r->ss[si];
        ss->ambiguous = 0;
        /* Only rows without a rank can be ambiguous, and only when some p1
         * holds several persons: then their source is read once more to
         * count them (the datasets are sized before any pid is written). */
        /* So are all sources when an opposed person has keys not on a
         * list (other rows of it are left out too). */
        if (((amb > 0 && s->birth_rank < 0) || opl > 0) &&
            ingest_source(r, si, NULL, 0, 1, 0) != 0)
            return -1;
        uint64_t ooff;
        pl_exscan(r->comm, ss->opposed, &ooff, &ss->opposed_total);
        ss->kept = s->count - ss->rejected - ss->ambiguous - ss->opposed;
        pl_exscan(r->comm, ss->kept, &ss->kept_off, &ss->kept_total);
        pl_exscan(r->comm, ss->rejected, &ss->rej_off, &ss->rej_total);
        pl_exscan(r->comm, ss->ambiguous, &ss->amb_off, &ss->amb_total);
        if (check_rejects(r, si) != 0)
            return -1;
    }
    return 0;
}

/* The main pass (or, count_only, the count of ambiguous rows). */
static int ingest_source(pl_run *r, size_t si, const pl_batch_sink *sinks,
                         size_t n_sinks, int count_only, uint64_t base)
{
    const pl_source *s = &r->store.src[si];
    uint64_t B = r->job->batch_rows, rejected = 0, amb = 0, opposed = 0;
    batch_bufs b;
    bufs_for(&b, r, s);
    uint64_t nb = pl_batches(r->comm, s->count, B);
    int ok = 1;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B;
        uint64_t cnt = pl_batch_count(s->count, lo, B);
        if (!(ok = read_batch(r, s, lo, cnt, &b)))
            break;
        size_t nv = check_batch(r, s, cnt, &b);
        rejected += cnt - nv;
        hash_batch(r, s, nv, &b);
        pl_wipe(b.nir, cnt * b.nir_size);
        pl_wipe(b.nir2, (s->also_nir >= 0 ? cnt : 0) * b.nir2_size);
        size_t nk = drop_opposed(r, nv, &b);
        opposed += nv - nk;
        nv = nk;
        double t0 = MPI_Wtime();
        ok = pl_all_ok(r->comm, exchange(r, s, nv, &b, &amb, &opposed) == 0);
        r->t[PL_T_EXCHANGE] += MPI_Wtime() - t0;
        if (!ok || count_only)
            continue;
        /* Every sink sees every batch (some are collective), whatever
         * the others said; then the ranks agree. */
        r->batch_cand = b.cand;
        int sok = 1;
        for (size_t k = 0; k < n_sinks; k++)
            sok &= sinks[k].batch(r, si, lo, cnt, b.why, b.vpids) == 0;
        r->batch_cand = NULL;
        ok = pl_all_ok(r->comm, sok);
        pl_progress_set(pl_progress_estimate(base, k + 1, B, r->size,
                                             s->nrows));
    }
    bufs_free(&b);
    if (count_only) {
        r->ss[si].ambiguous = amb;
        r->ss[si].opposed = opposed;
    }
    if (ok && (rejected != r->ss[si].rejected ||
               opposed != r->ss[si].opposed ||
               (!count_only && amb != r->ss[si].ambiguous))) {
        pl_err("%s: /sources/%s: the identity columns changed during the "
               "run (%llu rows rejected, %llu in the count pass)",
               r->job->store, s->cfg->name, (unsigned long long)rejected,
               (unsigned long long)r->ss[si].rejected);
        ok = 0;
    }
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

int pl_ingest(pl_run *r, const pl_batch_sink *sinks, size_t n_sinks)
{
    uint64_t base = 0;
    pl_progress_stage("ingest", all_rows(r), "rows");
    for (size_t si = 0; si < r->store.n_src; si++) {
        if (ingest_source(r, si, sinks, n_sinks, 0, base) != 0)
            return -1;
        base += r->store.src[si].nrows;
        pl_progress_set(base);
    }
    if (r->job->mode == PL_MODE_RANDOM) {
        int64_t dups = pl_owner_duplicates(&r->owner, r->comm);
        if (dups != 0) {
            /* 2^-128 per pair: this is a CSPRNG failure, not bad luck. */
            pl_err0("random mode: %lld platform pseudonyms were drawn twice; "
                    "refusing to link (check the system's random source)",
                    (long long)dups);
            return -1;
        }
    }
    return 0;
}
