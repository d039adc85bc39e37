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
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Stage-1 messages are built and hashed this many at a time (a small
 * buffer, wiped after each chunk): the multi-buffer kernels only need 16. */
#define MSG_CHUNK 4096

typedef struct {
    char     *nir;
    /* Integer identity columns are read as int64 whatever their width in
     * the store and range-checked here (check_batch): nothing is narrowed
     * before it is checked, so 256 cannot become a birth rank of 0. */
    int64_t  *birth_date, *sex, *birth_rank;
    uint8_t  *p1;               /* [valid][32], compacted */
    uint8_t  *why;              /* [batch] reject reason, 0 = valid */
    uint8_t  *vpids;            /* [valid][16] pids in row order */
    uint8_t  *msg;              /* [MSG_CHUNK][32] stage-1 messages */
    size_t   *idx;
    pl_route_bufs route;        /* grouped p1, permutation, replies */
    uint64_t  batch;
    size_t    nir_size;
} batch_bufs;

static void bufs_alloc(batch_bufs *b, uint64_t batch, size_t nir_size)
{
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->nir_size = nir_size ? nir_size : 16;
    b->nir = pl_xmalloc(batch * b->nir_size);
    b->birth_date = pl_xmalloc(batch * sizeof *b->birth_date);
    b->sex = pl_xmalloc(batch * sizeof *b->sex);
    b->birth_rank = pl_xmalloc(batch * sizeof *b->birth_rank);
    b->p1 = pl_xmalloc(batch * PL_P1_BYTES);
    b->why = pl_xmalloc(batch);
    b->vpids = pl_xmalloc(batch * PL_PID_BYTES);
    b->msg = pl_xmalloc(MSG_CHUNK * PL_P1_BYTES);
    b->idx = pl_xmalloc(batch * sizeof *b->idx);
}

static void bufs_free(batch_bufs *b)
{
    pl_wipe(b->nir, b->batch * b->nir_size);
    pl_wipe(b->p1, b->batch * PL_P1_BYTES);
    free(b->nir); free(b->birth_date); free(b->sex); free(b->birth_rank);
    free(b->p1); free(b->why); free(b->vpids); free(b->msg); free(b->idx);
    pl_route_bufs_free(&b->route);
}

/* Read one batch of identity columns; p1 sources read p1 straight in. */
static int read_identity(pl_run *r, const pl_source *s, uint64_t lo,
                         uint64_t cnt, batch_bufs *b)
{
    const pl_store *st = &r->store;
    uint64_t first = s->first + lo;
    char what[PL_NAME_MAX * 2 + 16];
    if (s->p1 >= 0) {
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, s->cfg->p1);
        return pl_store_read(st, s->p1, what, H5T_NATIVE_UINT8, first, cnt,
                             PL_P1_BYTES, b->p1, r->dxpl);
    }
    hid_t nir_t = H5Dget_type(s->nir);     /* raw bytes, no conversion */
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, s->cfg->nir);
    int rc = pl_store_read(st, s->nir, what, nir_t, first, cnt, 0, b->nir,
                           r->dxpl);
    H5Tclose(nir_t);
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
             s->cfg->birth_date);
    rc |= pl_store_read(st, s->birth_date, what, H5T_NATIVE_INT64, first, cnt,
                        0, b->birth_date, r->dxpl);
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, s->cfg->sex);
    rc |= pl_store_read(st, s->sex, what, H5T_NATIVE_INT64, first, cnt, 0,
                        b->sex, r->dxpl);
    if (s->birth_rank >= 0) {
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
                 s->cfg->birth_rank);
        rc |= pl_store_read(st, s->birth_rank, what, H5T_NATIVE_INT64, first,
                            cnt, 0, b->birth_rank, r->dxpl);
    }
    return rc ? -1 : 0;
}

/* Validate one batch: reasons to b->why, batch positions of the valid
 * rows to b->idx; returns their number. p1 sources carry no identity to
 * check. */
static size_t check_batch(pl_run *r, const pl_source *s, uint64_t cnt,
                          batch_bufs *b)
{
    size_t nv = 0;
    if (s->p1 >= 0) {
        memset(b->why, 0, cnt);
        for (uint64_t i = 0; i < cnt; i++)
            b->idx[nv++] = i;
        return nv;
    }
    double t0 = MPI_Wtime();
    int has_rank = s->birth_rank >= 0;
    for (uint64_t i = 0; i < cnt; i++) {
        /* Out-of-range values become ones that fail their own check, in
         * the order of the codes: a date outside int32 -> 0 (birth_date),
         * a sex other than 1/2 -> 0 (sex), a rank outside 1..255 -> 0
         * (birth_rank). A uint64 above INT64_MAX was clipped by HDF5 to
         * INT64_MAX on the way in: still out of range. */
        int64_t bd = b->birth_date[i], sx = b->sex[i];
        int br = -1;
        if (has_rank)
            br = b->birth_rank[i] >= 1 && b->birth_rank[i] <= 255
                     ? (int)b->birth_rank[i] : 0;
        int why = pl_identity_check(
            b->nir + i * b->nir_size, (int)b->nir_size,
            bd >= INT32_MIN && bd <= INT32_MAX ? (int32_t)bd : 0,
            sx == 1 || sx == 2 ? (int)sx : 0, br);
        b->why[i] = (uint8_t)why;
        if (why == PL_OK)
            b->idx[nv++] = i;
    }
    r->t[PL_T_VALIDATE] += MPI_Wtime() - t0;
    return nv;
}

/* Stage 1 for the valid rows of a nir source: p1 (compacted) to b->p1. */
static void hash_batch(pl_run *r, const pl_source *s, size_t nv,
                       batch_bufs *b)
{
    if (s->p1 >= 0)
        return;
    double t0 = MPI_Wtime();
    int has_rank = s->birth_rank >= 0;
    /* Messages first (in b->msg, wiped after), then one batch call per
     * chunk: the HMAC padding is laid out once per call, not per record. */
    for (size_t k0 = 0; k0 < nv; k0 += MSG_CHUNK) {
        size_t m = nv - k0 < MSG_CHUNK ? nv - k0 : MSG_CHUNK, mlen = 0;
        for (size_t k = 0; k < m; k++) {
            size_t i = b->idx[k0 + k];
            /* Valid rows only: every value passed its range check. */
            mlen = pl_p1_message(b->msg + k * PL_P1_BYTES,
                                 b->nir + i * b->nir_size,
                                 (int32_t)b->birth_date[i], (int)b->sex[i],
                                 has_rank ? (int)b->birth_rank[i] : -1);
        }
        pl_hmac_batch(&r->producer, b->msg, mlen, PL_P1_BYTES, m,
                      b->p1 + k0 * PL_P1_BYTES, PL_P1_BYTES, PL_P1_BYTES);
        pl_wipe(b->msg, m * PL_P1_BYTES);
    }
    r->t[PL_T_STAGE1] += MPI_Wtime() - t0;
}

/* p1 -> owner -> pid; b->vpids gets the pids in row order. */
static int exchange(pl_run *r, size_t nv, batch_bufs *b)
{
    pl_route_stats st = {0};
    int rc = pl_route_owned(r->comm, b->p1, nv, PL_P1_BYTES, r->cap,
                            pl_owner_serve, &r->owner, PL_PID_BYTES, b->vpids,
                            &b->route, &st);
    r->exchange_rounds += st.rounds;
    return rc;
}

static void bufs_for(batch_bufs *b, const pl_run *r, const pl_source *s)
{
    uint64_t B = r->job->batch_rows;
    bufs_alloc(b, s->count < B ? (s->count ? s->count : 1) : B, s->nir_size);
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

static int count_source(pl_run *r, size_t si)
{
    const pl_source *s = &r->store.src[si];
    pl_src_state *ss = &r->ss[si];
    ss->rejected = 0;
    if (s->p1 < 0) {
        uint64_t B = r->job->batch_rows;
        uint64_t nb = pl_batches(r->comm, s->count, B);
        batch_bufs b;
        bufs_for(&b, r, s);
        int ok = 1;
        for (uint64_t k = 0; k < nb && ok; k++) {
            uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
            ok = read_batch(r, s, lo, cnt, &b);
            if (ok)
                ss->rejected += cnt - check_batch(r, s, cnt, &b);
            pl_wipe(b.nir, cnt * b.nir_size);
        }
        bufs_free(&b);
        if (!ok)
            return -1;
    }
    ss->kept = s->count - ss->rejected;
    pl_exscan(r->comm, ss->kept, &ss->kept_off, &ss->kept_total);
    pl_exscan(r->comm, ss->rejected, &ss->rej_off, &ss->rej_total);
    return 0;
}

int pl_ingest_count(pl_run *r)
{
    for (size_t si = 0; si < r->store.n_src; si++)
        if (count_source(r, si) != 0)
            return -1;
    return 0;
}

static int ingest_source(pl_run *r, size_t si, const pl_batch_sink *sinks,
                         size_t n_sinks)
{
    const pl_source *s = &r->store.src[si];
    uint64_t B = r->job->batch_rows, rejected = 0;
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
        double t0 = MPI_Wtime();
        ok = exchange(r, nv, &b) == 0;
        r->t[PL_T_EXCHANGE] += MPI_Wtime() - t0;
        if (!ok)
            break;
        /* Every sink sees every batch (some are collective), whatever
         * the others said; then the ranks agree. */
        int sok = 1;
        for (size_t k = 0; k < n_sinks; k++)
            sok &= sinks[k].batch(r, si, lo, cnt, b.why, b.vpids) == 0;
        ok = pl_all_ok(r->comm, sok);
    }
    bufs_free(&b);
    if (ok && rejected != r->ss[si].rejected) {
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
    for (size_t si = 0; si < r->store.n_src; si++)
        if (ingest_source(r, si, sinks, n_sinks) != 0)
            return -1;
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
