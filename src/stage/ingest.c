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
    char     *nir;
    /* Integer identity columns are read as int64 whatever their width in
     * the store and range-checked here (check_batch): nothing is narrowed
     * before it is checked, so 256 cannot become a birth rank of 0. */
    int64_t  *birth_date, *sex, *birth_rank;
    uint8_t  *p1;               /* [valid][32], compacted */
    uint8_t  *why;              /* [batch] reject reason, 0 = valid */
    uint8_t  *vpids;            /* [valid][16] pids in row order */
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
    b->idx = pl_xmalloc(batch * sizeof *b->idx);
}

static void bufs_free(batch_bufs *b)
{
    pl_wipe(b->nir, b->batch * b->nir_size);
    pl_wipe(b->p1, b->batch * PL_P1_BYTES);
    free(b->nir); free(b->birth_date); free(b->sex); free(b->birth_rank);
    free(b->p1); free(b->why); free(b->vpids); free(b->idx);
    pl_route_bufs_free(&b->route);
}

/* Read one batch of identity columns; p1 sources read p1 straight in. */
static int read_identity(pl_run *r, const pl_source *s, uint64_t lo,
                         uint64_t cnt, batch_bufs *b)
{
    const pl_store *st = &r->store;
    uint64_t first = s->first + lo;
    char what[PL_NAME_MAX * 2 + 16];
    if (s->p1 >= 0)             /* the store's, or decrypted from a package */
        return pl_source_read(st, s, NULL, first, cnt, b->p1, r->dxpl);
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
        int why = pl_identity_check_i64(
            b->nir + i * b->nir_size, (int)b->nir_size, b->birth_date[i],
            b->sex[i], has_rank, has_rank ? b->birth_rank[i] : 0);
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
    pl_p1_batch(&r->producer, b->nir, b->nir_size, b->birth_date, b->sex,
                s->birth_rank >= 0 ? b->birth_rank : NULL, b->idx, nv,
                b->p1);
    r->t[PL_T_STAGE1] += MPI_Wtime() - t0;
}

/* Opposition (store.h): valid rows whose p1 is on an opposition list get
 * PL_R_OPPOSED and leave the batch — no pid, no output row, no
 * correspondence entry. Returns the rows that stay (b->p1 and b->idx
 * compacted). */
static size_t drop_opposed(const pl_run *r, size_t nv, batch_bufs *b)
{
    if (!r->store.n_opposed)
        return nv;
    size_t m = 0;
    for (size_t k = 0; k < nv; k++) {
        const uint8_t *p = b->p1 + k * PL_P1_BYTES;
        if (pl_store_opposed(&r->store, p)) {
            b->why[b->idx[k]] = PL_R_OPPOSED;
            continue;
        }
        if (m != k) {
            memcpy(b->p1 + m * PL_P1_BYTES, p, PL_P1_BYTES);
            b->idx[m] = b->idx[k];
        }
        m++;
    }
    return m;
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

/* The count pass reads a source once per scanned payload column, then its
 * identity: the progress of pass `pass` of `passes` after `k` batches,
 * within the source's `nrows` from `base` (base/progress.h). */
typedef struct { uint64_t base; unsigned pass, passes; } check_pos;

static unsigned check_passes(const pl_source *s)
{
    unsigned n = s->p1 < 0;
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
 * allow_nir_like, a miss publishes identifiers. */
static int scan_payload(pl_run *r, size_t si, check_pos *cp)
{
    const pl_source *s = &r->store.src[si];
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
        if (pl_nir_scan_refused(g[0], g[1])) {
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

static int count_source(pl_run *r, size_t si, uint64_t base)
{
    const pl_source *s = &r->store.src[si];
    pl_src_state *ss = &r->ss[si];
    uint64_t reasons[16] = {0};
    ss->rejected = ss->opposed = 0;
    check_pos cp = {base, 0, check_passes(s)};
    if (scan_payload(r, si, &cp) != 0)
        return -1;
    if (s->p1 < 0 || r->store.n_opposed) {
        uint64_t B = r->job->batch_rows;
        uint64_t nb = pl_batches(r->comm, s->count, B);
        batch_bufs b;
        bufs_for(&b, r, s);
        int ok = 1;
        for (uint64_t k = 0; k < nb && ok; k++) {
            uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
            ok = read_batch(r, s, lo, cnt, &b);
            if (ok) {
                size_t nv = check_batch(r, s, cnt, &b);
                ss->rejected += cnt - nv;
                if (r->store.n_opposed) {
                    hash_batch(r, s, nv, &b);
                    ss->opposed += nv - drop_opposed(r, nv, &b);
                }
                for (uint64_t i = 0; i < cnt; i++)
                    reasons[b.why[i]]++;
            }
            pl_wipe(b.nir, cnt * b.nir_size);
            check_progress(r, s, &cp, k + 1);
        }
        bufs_free(&b);
        if (!ok)
            return -1;
    }
    ss->kept = s->count - ss->rejected - ss->opposed;
    uint64_t ooff;
    pl_exscan(r->comm, ss->opposed, &ooff, &ss->opposed_total);
    pl_exscan(r->comm, ss->kept, &ss->kept_off, &ss->kept_total);
    pl_exscan(r->comm, ss->rejected, &ss->rej_off, &ss->rej_total);
    PL_MPI_CHECK(MPI_Allreduce(reasons, ss->reasons, 16, MPI_UINT64_T,
                               MPI_SUM, r->comm));
    return check_rejects(r, si);
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
    pl_progress_stage("check", all_rows(r), "rows");
    for (size_t si = 0; si < r->store.n_src; si++) {
        if (count_source(r, si, base) != 0)
            return -1;
        base += r->store.src[si].nrows;
        pl_progress_set(base);
    }
    return 0;
}

static int ingest_source(pl_run *r, size_t si, const pl_batch_sink *sinks,
                         size_t n_sinks, uint64_t base)
{
    const pl_source *s = &r->store.src[si];
    uint64_t B = r->job->batch_rows, rejected = 0, opposed = 0;
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
        size_t nk = drop_opposed(r, nv, &b);
        opposed += nv - nk;
        nv = nk;
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
        pl_progress_set(pl_progress_estimate(base, k + 1, B, r->size,
                                             s->nrows));
    }
    bufs_free(&b);
    if (ok && (rejected != r->ss[si].rejected ||
               opposed != r->ss[si].opposed)) {
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
        if (ingest_source(r, si, sinks, n_sinks, base) != 0)
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
