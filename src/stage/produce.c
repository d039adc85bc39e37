/* produce.c — see produce.h.
 *
 * Per source, two passes like run's ingest: the count pass validates and
 * scans the payload columns that could hold a NIR (each rank learns how
 * many rows it will package, so the package's datasets are created with
 * their final length); the main pass validates again, hashes the valid
 * rows, compacts the kept payload columns and hands whole blocks to the
 * package writer. Buffers that held NIRs or p1 are wiped before reuse.
 */
#include "stage/produce.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/bloom.h"
#include "job/encode_cfg.h"
#include "par/mpi.h"
#include "stage/nir.h"
#include "stage/pseudonym.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
    uint64_t B;                 /* rows per input batch */
    size_t   nir_size;
    char    *nir;
    int64_t *bd, *sex, *rank;
    uint8_t *why;
    size_t  *idx;
    uint8_t *rbuf;              /* one payload column's batch */
    size_t   rcap;
} bufs;

static void bufs_alloc(bufs *b, uint64_t B, const pl_export_src *e)
{
    memset(b, 0, sizeof *b);
    b->B = B;
    b->nir_size = e->nir_size ? e->nir_size : 16;
    b->nir = pl_xmalloc(B * b->nir_size);
    b->bd = pl_xmalloc(B * sizeof *b->bd);
    b->sex = pl_xmalloc(B * sizeof *b->sex);
    b->rank = pl_xcalloc(B, sizeof *b->rank);
    b->why = pl_xmalloc(B);
    b->idx = pl_xmalloc(B * sizeof *b->idx);
    size_t m = 32;
    for (size_t c = 0; c < e->ncols; c++)
        if (e->cols[c].size > m)
            m = e->cols[c].size;
    b->rcap = B * m;
    b->rbuf = pl_xmalloc(b->rcap);
}

static void bufs_free(bufs *b)
{
    pl_wipe(b->nir, b->B * b->nir_size);
    pl_wipe(b->rbuf, b->rcap);
    free(b->nir); free(b->bd); free(b->sex); free(b->rank); free(b->why);
    free(b->idx); free(b->rbuf);
}

/* Read and validate one batch; returns the number of valid rows (their
 * batch positions in b->idx), or -1 when the read failed on this rank. */
static long read_check(pl_export *x, size_t si, uint64_t lo, uint64_t cnt,
                       bufs *b)
{
    const pl_export_src *e = &x->src[si];
    if (x->ops->read_identity(x, si, lo, cnt, b->nir, b->bd, b->sex,
                              e->has_rank ? b->rank : NULL) != 0)
        return -1;
    size_t nv = 0;
    if (!e->cfg->nir[0]) {      /* no identity: every row travels */
        for (uint64_t i = 0; i < cnt; i++) {
            b->why[i] = PL_OK;
            b->bd[i] = b->sex[i] = 0;
            b->idx[nv++] = i;
        }
        return (long)nv;
    }
    for (uint64_t i = 0; i < cnt; i++) {
        int why = pl_identity_check_i64(b->nir + i * b->nir_size,
                                        (int)b->nir_size, b->bd[i], b->sex[i],
                                        e->has_rank, b->rank[i]);
        b->why[i] = (uint8_t)why;
        if (why == PL_OK)
            b->idx[nv++] = i;
    }
    return (long)nv;
}

/* Reject report lines of this rank (rows are the export's, 0-based). */
typedef struct { char *s; size_t n, cap; } text;

static void text_add(text *t, const char *src, uint64_t row, int code)
{
    char line[PL_NAME_MAX + 64];
    int k = snprintf(line, sizeof line, "%s,%llu,%d,%s\n", src,
                     (unsigned long long)row, code, pl_reason_name(code));
    if (t->n + (size_t)k + 1 > t->cap) {
        t->cap = (t->cap + (size_t)k + 1) * 2;
        t->s = pl_xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->n, line, (size_t)k);
    t->n += (size_t)k;
}

/* The verdict on one scanned column (global counts). */
static int scan_verdict(const pl_export *x, const pl_export_src *e,
                        const pl_export_col *c, const uint64_t n[2],
                        MPI_Comm comm)
{
    (void)x;                    /* e->path names the file */
    uint64_t g[2];
    PL_MPI_CHECK(MPI_Allreduce(n, g, 2, MPI_UINT64_T, MPI_SUM, comm));
    if (!pl_nir_scan_refused(g[0], g[1]))
        return 0;
    pl_err0("%s: /sources/%s/%s: payload column looks like NIRs (%llu of "
            "%llu non-empty values pass the NIR checks): it would travel to "
            "the platform; name it as an identity, drop it, or list it in "
            "sources.%s.allow_nir_like if it may be", e->path, e->cfg->name,
            c->name, (unsigned long long)g[0], (unsigned long long)g[1],
            e->cfg->name);
    return -1;
}

/* Count pass: valid rows of this rank, reject report, per-code counts. */
static int count_source(const pl_job *job, pl_export *x, size_t si,
                        MPI_Comm comm, int payload, uint64_t *valid,
                        text *rej, pl_produce_count *pc)
{
    const pl_export_src *e = &x->src[si];
    uint64_t B = job->batch_rows, reasons[16] = {0}, nvalid = 0;
    bufs b;
    bufs_alloc(&b, e->count < B ? (e->count ? e->count : 1) : B, e);
    /* Every rank iterates the same batches of B rows (lockstep for
     * collective transfers); its buffers hold min(B, its rows). Each
     * batch is read once: identity, then the payload columns that could
     * hold a NIR (export.h: the order a streaming reader relies on). */
    int ok = 1;
    uint64_t (*scan)[2] = pl_xcalloc(e->ncols + 1, sizeof *scan);
    uint64_t nb = pl_batches(comm, e->count, B);
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(e->count, lo, B);
        long nv = read_check(x, si, lo, cnt, &b);
        pl_wipe(b.nir, cnt * b.nir_size);
        int rok = nv >= 0;
        for (size_t c = 0; payload && rok && c < e->ncols; c++) {
            const pl_export_col *col = &e->cols[c];
            if (col->nir_scan == PL_SCAN_NONE)
                continue;
            rok = x->ops->read_column(x, si, c, lo, cnt, b.rbuf) == 0;
            if (rok)
                pl_nir_scan(col->nir_scan, col->size, b.rbuf, cnt,
                            &scan[c][0], &scan[c][1]);
            pl_wipe(b.rbuf, cnt * col->size);   /* it may hold NIRs */
        }
        ok = pl_all_ok(comm, rok);
        if (!ok)
            break;
        nvalid += (uint64_t)nv;
        for (uint64_t i = 0; i < cnt; i++) {
            reasons[b.why[i]]++;
            if (b.why[i])
                text_add(rej, e->cfg->name,
                         x->ops->row_number
                             ? x->ops->row_number(x, si, lo + i)
                             : e->first + lo + i, b.why[i]);
        }
    }
    bufs_free(&b);
    for (size_t c = 0; payload && ok && c < e->ncols; c++)
        if (e->cols[c].nir_scan != PL_SCAN_NONE &&
            scan_verdict(x, e, &e->cols[c], scan[c], comm) != 0)
            ok = 0;
    free(scan);
    if (!ok)
        return -1;
    *valid = nvalid;
    uint64_t loc[2] = {e->count, nvalid}, glob[2];
    PL_MPI_CHECK(MPI_Allreduce(loc, glob, 2, MPI_UINT64_T, MPI_SUM, comm));
    PL_MPI_CHECK(MPI_Allreduce(reasons, pc->reasons, 16, MPI_UINT64_T,
                               MPI_SUM, comm));
    pc->rows = glob[0];
    pc->packaged = glob[1];
    pc->rejected = glob[0] - glob[1];
    if (pc->rows && (double)pc->rejected >
                        job->max_reject_fraction * (double)pc->rows) {
        pl_err0("%s: /sources/%s: %llu of %llu rows rejected, more than "
                "options.max_reject_fraction %g of the job allows "
                "(rejects.csv is not written: nothing is delivered)",
                e->path, e->cfg->name, (unsigned long long)pc->rejected,
                (unsigned long long)pc->rows, job->max_reject_fraction);
        return -1;
    }
    return 0;
}

/* Staging of the package's columns: whole blocks go to the writer after
 * each batch, the rest (< block_rows rows) waits for the next. */
typedef struct {
    uint8_t **col;              /* [ncols] buffers of cap rows */
    size_t   *size;
    size_t    ncols;
    uint64_t  fill, written, cap;
} staging;

static int stage_flush(pl_pkg_writer *w, int psi, staging *st,
                       uint64_t block_rows, int last)
{
    uint64_t n = last ? st->fill : st->fill / block_rows * block_rows;
    if (n == 0)
        return 0;
    int ok = 1;
    for (size_t c = 0; c < st->ncols && ok; c++)
        ok = pl_pkg_write(w, psi, c, st->written, n, st->col[c]) == 0;
    for (size_t c = 0; c < st->ncols; c++) {
        memmove(st->col[c], st->col[c] + n * st->size[c],
                (st->fill - n) * st->size[c]);
        pl_wipe(st->col[c] + (st->fill - n) * st->size[c],
                n * st->size[c]);
    }
    st->fill -= n;
    st->written += n;
    return ok ? 0 : -1;
}

/* ---- encoded fields (sources.<name>.encode, docs/PRODUCER.md) ---- */

static uint8_t *lk_secret;      /* produce --linkage-secret, wiped at end */
static size_t   lk_secret_len;

void pl_produce_linkage_secret(const uint8_t *secret, size_t len)
{
    if (lk_secret) {
        pl_wipe(lk_secret, lk_secret_len);
        free(lk_secret);
        lk_secret = NULL;
    }
    lk_secret_len = secret ? len : 0;
    if (secret) {
        lk_secret = pl_xmalloc(len);
        memcpy(lk_secret, secret, len);
    }
}

/* Where an encoded field's value comes from. */
enum { FV_COL = 0, FV_BIRTH_DATE, FV_SEX };

typedef struct {
    const pl_encode_cfg *cfg;
    pl_bloom_field f[PL_ENC_MAX_FIELDS];
    pl_bloom_hardening h;
    int      src[PL_ENC_MAX_FIELDS];    /* FV_* */
    size_t   col[PL_ENC_MAX_FIELDS];    /* export column (FV_COL) */
    int      is_int[PL_ENC_MAX_FIELDS];
    uint8_t *val[PL_ENC_MAX_FIELDS];    /* the batch's values (FV_COL) */
    size_t   vbytes[PL_ENC_MAX_FIELDS]; /* allocated size of val[i] */
    char    *text;                      /* one field's text (enc_value) */
    size_t   text_cap;                  /* the widest column + 1, >= 32 */
    size_t   ncols;                     /* encoded columns */
    size_t   words, out_bytes;          /* before / after hardening */
    uint64_t *tmp, *out;
    uint8_t  sid[16];
} encoder;

static void enc_free(encoder *en, uint64_t B)
{
    (void)B;
    if (!en->cfg)
        return;
    for (size_t i = 0; i < en->cfg->n_fields; i++) {
        pl_bloom_field_wipe(&en->f[i]);
        if (en->val[i]) {
            pl_wipe(en->val[i], en->vbytes[i]);
            free(en->val[i]);
        }
    }
    pl_bloom_hardening_free(&en->h);
    if (en->text)
        pl_wipe(en->text, en->text_cap);
    free(en->text);
    if (en->tmp)
        pl_wipe(en->tmp, en->words * 8);
    free(en->tmp);
    free(en->out);
    memset(en, 0, sizeof *en);
}

/* Prepare the encoder of source e (the same on every rank: the checks use
 * the job and the export's column list only). */
static int enc_init(encoder *en, const pl_export *x, const pl_export_src *e,
                    uint64_t B)
{
    memset(en, 0, sizeof *en);
    const pl_encode_cfg *c = e->cfg->encode;
    if (!c)
        return 0;
    en->cfg = c;
    if (!lk_secret) {
        pl_err0("%s: sources.%s.encode: the linkage secret is missing "
                "(produce --linkage-secret FILE; never in the job file)",
                x->path, e->cfg->name);
        return -1;
    }
    size_t maxsz = 8;
    for (size_t i = 0; i < c->n_fields; i++) {
        const char *fn = c->fields[i];
        if (strcmp(fn, e->cfg->birth_date) == 0) {
            en->src[i] = FV_BIRTH_DATE;
        } else if (strcmp(fn, e->cfg->sex) == 0) {
            en->src[i] = FV_SEX;
        } else {
            size_t k = 0;
            while (k < e->ncols && strcmp(e->cols[k].name, fn) != 0)
                k++;
            if (k == e->ncols) {
                pl_err0("%s: /sources/%s/%s: sources.%s.encode.fields names "
                        "a column the export does not have (or the job "
                        "drops)", x->path, e->cfg->name, fn, e->cfg->name);
                return -1;
            }
            H5T_class_t cl = H5Tget_class(e->cols[k].mem_type);
            if (cl != H5T_STRING && cl != H5T_INTEGER) {
                pl_err0("%s: /sources/%s/%s: an encoded field must be a "
                        "string or an integer column", x->path,
                        e->cfg->name, fn);
                return -1;
            }
            en->src[i] = FV_COL;
            en->col[i] = k;
            en->is_int[i] = cl == H5T_INTEGER;
            if (e->cols[k].size > maxsz)
                maxsz = e->cols[k].size;
            en->vbytes[i] = B * e->cols[k].size + 1;
            en->val[i] = pl_xmalloc(en->vbytes[i]);
        }
        if (pl_bloom_field_init(&en->f[i], lk_secret, lk_secret_len, fn,
                                c->k[i], c->q, (int)c->pad) != 0)
            return -1;
    }
    en->text_cap = maxsz + 32;          /* a whole string, or an int64 */
    en->text = pl_xmalloc(en->text_cap);
    en->ncols = pl_encode_ncols(c);
    en->words = c->bits / 64;
    if (pl_bloom_hardening_init(&en->h, lk_secret, lk_secret_len, c->bits,
                                c->harden) != 0 ||
        pl_bloom_secret_id(lk_secret, lk_secret_len, en->sid) != 0)
        return -1;
    en->out_bytes = en->h.out_bits / 8;
    en->tmp = pl_xmalloc(en->words * 8);
    en->out = pl_xmalloc(en->out_bytes + 8);
    return 0;
}

/* The manifest entry of encoded column j (package column index col). */
static void enc_manifest(const encoder *en, size_t j, size_t col,
                         pl_pkg_enc *m)
{
    const pl_encode_cfg *c = en->cfg;
    memset(m, 0, sizeof *m);
    m->col = col;
    snprintf(m->version, sizeof m->version, "%s", PL_PKG_ENC_VERSION);
    m->bits = c->bits;
    m->q = c->q;
    m->pad = c->pad;
    m->harden = c->harden;
    snprintf(m->salt, sizeof m->salt, "%s",
             c->salt == PL_ENC_SALT_BIRTH_YEAR ? "birth_year" : "none");
    for (size_t b = 0; b < 16; b++)
        snprintf(m->secret_id + 2 * b, 3, "%02x", en->sid[b]);
    size_t lo = c->clk ? 0 : j, hi = c->clk ? c->n_fields : j + 1;
    for (size_t i = lo; i < hi; i++) {
        snprintf(m->fields[m->nfields].name, PL_PKG_NAME_MAX, "%s",
                 c->fields[i]);
        m->fields[m->nfields++].k = c->k[i];
    }
}

/* The text of field i of batch row r (canonical: strings without trailing
 * spaces and NULs, integers in decimal). Returns its length. */
static size_t enc_value(const encoder *en, const pl_export_src *e, size_t i,
                        const bufs *b, size_t r, char *out, size_t cap)
{
    int64_t v;
    if (en->src[i] == FV_BIRTH_DATE)
        v = b->bd[r];
    else if (en->src[i] == FV_SEX)
        v = b->sex[r];
    else {
        const pl_export_col *col = &e->cols[en->col[i]];
        const uint8_t *p = en->val[i] + r * col->size;
        if (!en->is_int[i]) {
            size_t l = strnlen((const char *)p, col->size);
            while (l > 0 && p[l - 1] == ' ')
                l--;
            if (l >= cap)
                l = cap - 1;
            memcpy(out, p, l);
            out[l] = '\0';
            return l;
        }
        int sgn = H5Tget_sign(col->mem_type) != H5T_SGN_NONE;
        switch (col->size) {
        case 1: v = sgn ? *(const int8_t *)p : *(const uint8_t *)p; break;
        case 2: { int16_t a; uint16_t u; memcpy(&a, p, 2); memcpy(&u, p, 2);
                  v = sgn ? a : u; break; }
        case 4: { int32_t a; uint32_t u; memcpy(&a, p, 4); memcpy(&u, p, 4);
                  v = sgn ? a : (int64_t)u; break; }
        default: memcpy(&v, p, 8); break;
        }
    }
    int k = snprintf(out, cap, "%lld", (long long)v);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

/* Encode the valid rows of a batch into the staging columns first..
 * first+ncols-1 at row `fill`. -1 (this rank) on a value that is not
 * UTF-8, naming the field and the export row, never the value. */
static int enc_batch(const encoder *en, const pl_export *x, size_t si,
                     const bufs *b, long nv, uint64_t lo, uint8_t **dst,
                     uint64_t fill)
{
    const pl_export_src *e = &x->src[si];
    const pl_encode_cfg *c = en->cfg;
    char *val = en->text;
    int ok = 1;
    for (long i = 0; i < nv && ok; i++) {
        size_t r = b->idx[i];
        uint8_t salt[8];
        size_t saltlen = 0;
        if (c->salt == PL_ENC_SALT_BIRTH_YEAR) {
            long long y = (long long)(b->bd[r] / 10000);
            char t[8];
            snprintf(t, sizeof t, "%04lld", y % 10000);
            memcpy(salt, t, 4);
            saltlen = 4;
        }
        for (size_t j = 0; j < en->ncols && ok; j++) {
            memset(en->tmp, 0, en->words * 8);
            size_t f0 = c->clk ? 0 : j, f1 = c->clk ? c->n_fields : j + 1;
            for (size_t f = f0; f < f1 && ok; f++) {
                size_t l = enc_value(en, e, f, b, r, val, en->text_cap);
                if (pl_bloom_add(&en->f[f], en->tmp, c->bits, val, l, salt,
                                 saltlen) != 0) {
                    pl_err("%s: /sources/%s/%s row %llu: not valid UTF-8 "
                           "(encode.fields)", x->path, e->cfg->name,
                           c->fields[f], (unsigned long long)
                           (x->ops->row_number
                                ? x->ops->row_number(x, si, lo + r)
                                : e->first + lo + r));
                    ok = 0;
                }
                pl_wipe(val, l + 1);
            }
            const uint64_t *res = en->tmp;
            if (c->harden) {
                pl_bloom_harden(&en->h, en->tmp, en->out);
                res = en->out;
            }
            memcpy(dst[j] + (fill + (uint64_t)i) * en->out_bytes, res,
                   en->out_bytes);
        }
    }
    pl_wipe(en->tmp, en->words * 8);
    return ok ? 0 : -1;
}

static int package_source(const pl_job *job, pl_export *x, size_t si,
                          const pl_hmac_key *producer, pl_pkg_writer *w,
                          int payload, uint64_t valid, MPI_Comm comm)
{
    const pl_export_src *e = &x->src[si];
    const pl_encode_cfg *ec = payload ? e->cfg->encode : NULL;
    uint64_t B = job->batch_rows;
    uint64_t Bb = e->count < B ? (e->count ? e->count : 1) : B;
    encoder en;
    memset(&en, 0, sizeof en);
    int ok = 1;
    if (ec)
        ok = enc_init(&en, x, e, Bb) == 0;
    if (!pl_all_ok(comm, ok)) {
        enc_free(&en, Bb);
        return -1;
    }
    /* Package columns: p1, the birth rank beside it when the source has
     * one (it is not hashed into p1: twins share a p1, docs/PACKAGE.md),
     * the payload columns that are not encoded fields (those never leave
     * the producer), then the encodings. */
    size_t *pcol = pl_xcalloc(e->ncols + 1, sizeof *pcol);  /* export c
                                                    -> package column + 1, 0:
                                                    not packaged */
    int has_id = e->cfg->nir[0] != '\0';  /* else no p1 (docs/PACKAGE.md) */
    size_t pc0 = !has_id ? 0 : e->has_rank ? 2 : 1;
    size_t ncols = pc0;
    for (size_t c = 0; payload && c < e->ncols; c++)
        if (!pl_encode_is_field(ec, e->cols[c].name))
            pcol[c] = ++ncols;      /* package column + 1 */
    /* The identity's birth date and sex in clear (encode.clear_identity),
     * for the platform's date/exact comparisons. */
    size_t cid0 = ncols;
    unsigned cid = has_id && ec ? ec->clear_id : 0;
    ncols += (cid & PL_ENC_CLEAR_BIRTH_DATE ? 1 : 0) +
             (cid & PL_ENC_CLEAR_SEX ? 1 : 0);
    size_t enc0 = ncols;
    ncols += en.ncols;
    pl_pkg_col *cols = pl_xcalloc(ncols + 1, sizeof *cols);
    if (has_id) {
        memcpy(cols[0].name, "p1", 3);
        memcpy(cols[0].type, "p1", 3);
        cols[0].size = 32;
    }
    if (has_id && e->has_rank) {
        memcpy(cols[1].name, "birth_rank", 11);
        memcpy(cols[1].type, "u8", 3);
        cols[1].size = 1;
    }
    for (size_t c = 0; payload && c < e->ncols; c++) {
        if (!pcol[c])
            continue;
        size_t pc = pcol[c] - 1;
        memcpy(cols[pc].name, e->cols[c].name, PL_NAME_MAX);
        int reserved = strcmp(cols[pc].name, "p1") == 0 ||
                       (e->has_rank &&
                        strcmp(cols[pc].name, "birth_rank") == 0);
        if (reserved ||
            pl_pkg_type_of(e->cols[c].mem_type, cols[pc].type,
                           &cols[pc].size) != 0) {
            pl_err0("%s: /sources/%s/%s: payload column %s", e->path,
                    e->cfg->name, cols[pc].name,
                    reserved
                        ? "has the name of one of the package's identity "
                          "columns (p1, birth_rank): rename it"
                        : "of a type a package cannot carry");
            ok = 0;
        }
    }
    {
        size_t c = cid0;
        if (cid & PL_ENC_CLEAR_BIRTH_DATE) {
            snprintf(cols[c].name, PL_PKG_NAME_MAX, "%s", e->cfg->birth_date);
            memcpy(cols[c].type, "i32", 4);
            cols[c++].size = 4;
        }
        if (cid & PL_ENC_CLEAR_SEX) {
            snprintf(cols[c].name, PL_PKG_NAME_MAX, "%s", e->cfg->sex);
            memcpy(cols[c].type, "u8", 3);
            cols[c++].size = 1;
        }
        for (size_t k = cid0; k < c; k++)
            for (size_t j = pc0; j < cid0; j++)
                if (strcmp(cols[j].name, cols[k].name) == 0) {
                    pl_err0("%s: /sources/%s/%s: encode.clear_identity "
                            "sends the identity column under its name, "
                            "and a payload column has it too: drop it",
                            e->path, e->cfg->name, cols[k].name);
                    ok = 0;
                }
    }
    for (size_t j = 0; j < en.ncols; j++) {
        char nm[PL_NAME_MAX];
        pl_encode_colname(ec, j, nm);
        for (size_t c = pc0; c < enc0; c++)
            if (strcmp(cols[c].name, nm) == 0) {
                pl_err0("%s: /sources/%s/%s: the encoded column's name is "
                        "a payload column's too: set encode.column or drop "
                        "it", e->path, e->cfg->name, nm);
                ok = 0;
            }
        memcpy(cols[enc0 + j].name, nm, PL_NAME_MAX);
        snprintf(cols[enc0 + j].type, sizeof cols[enc0 + j].type, "b%zu",
                 en.out_bytes);
        cols[enc0 + j].size = en.out_bytes;
    }
    int psi = ok ? pl_pkg_add_source(w, e->cfg->name, valid, cols, ncols)
                 : -1;
    for (size_t j = 0; psi >= 0 && j < en.ncols; j++) {
        pl_pkg_enc m;
        enc_manifest(&en, j, enc0 + j, &m);
        if (pl_pkg_add_encoding(w, psi, &m) != 0)
            psi = -1;
    }
    if (psi < 0) {
        enc_free(&en, Bb);
        free(cols);
        free(pcol);
        return -1;
    }
    bufs b;
    bufs_alloc(&b, Bb, e);
    uint64_t br = job->block_rows ? job->block_rows : PL_PKG_BLOCK_ROWS;
    staging st = {0};
    st.ncols = ncols;
    st.cap = b.B + br;
    st.col = pl_xcalloc(ncols, sizeof *st.col);
    st.size = pl_xcalloc(ncols, sizeof *st.size);
    for (size_t c = 0; c < ncols; c++) {
        st.size[c] = cols[c].size;
        st.col[c] = pl_xmalloc(st.cap * cols[c].size);
    }
    uint64_t nb = pl_batches(comm, e->count, B), packaged = 0;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(e->count, lo, B);
        long nv = read_check(x, si, lo, cnt, &b);
        int rok = nv >= 0;
        if (rok && has_id)
            pl_p1_batch(producer, b.nir, b.nir_size, b.bd, b.sex, b.idx,
                        (size_t)nv, st.col[0] + st.fill * 32);
        for (long i = 0; rok && i < nv && cid; i++) {
            size_t c = cid0;
            size_t r = b.idx[i];
            if (cid & PL_ENC_CLEAR_BIRTH_DATE) {
                int32_t v = (int32_t)b.bd[r];   /* a valid date */
                memcpy(st.col[c++] + (st.fill + (uint64_t)i) * 4, &v, 4);
            }
            if (cid & PL_ENC_CLEAR_SEX)
                st.col[c][st.fill + (uint64_t)i] = (uint8_t)b.sex[r];
        }
        for (long i = 0; rok && has_id && e->has_rank && i < nv; i++)
            st.col[1][st.fill + (uint64_t)i] = (uint8_t)b.rank[b.idx[i]];
        pl_wipe(b.nir, cnt * b.nir_size);
        for (size_t c = 0; payload && c < e->ncols; c++) {
            size_t fi = 0;
            while (ec && fi < ec->n_fields &&
                   !(en.src[fi] == FV_COL && en.col[fi] == c))
                fi++;
            int is_field = ec && fi < ec->n_fields;
            if (!pcol[c] && !is_field)
                continue;
            rok &= x->ops->read_column(x, si, c, lo, cnt, b.rbuf) == 0;
            size_t sz = e->cols[c].size;
            if (rok && is_field)
                memcpy(en.val[fi], b.rbuf, cnt * sz);
            for (long i = 0; rok && pcol[c] && i < nv; i++)
                memcpy(st.col[pcol[c] - 1] + (st.fill + (uint64_t)i) * sz,
                       b.rbuf + b.idx[i] * sz, sz);
            if (is_field)
                pl_wipe(b.rbuf, cnt * sz);
        }
        if (rok && en.ncols)
            rok = enc_batch(&en, x, si, &b, nv, lo, st.col + enc0,
                            st.fill) == 0;
        for (size_t f = 0; ec && f < ec->n_fields; f++)
            if (en.val[f])
                pl_wipe(en.val[f], cnt * e->cols[en.col[f]].size);
        if (rok) {
            st.fill += (uint64_t)nv;
            packaged += (uint64_t)nv;
            rok = stage_flush(w, psi, &st, br, 0) == 0;
        }
        ok = pl_all_ok(comm, rok);
    }
    if (ok && packaged != valid) {
        pl_err("%s: /sources/%s: the export changed during the run (%llu "
               "valid rows, %llu in the count pass)", x->path, e->cfg->name,
               (unsigned long long)packaged, (unsigned long long)valid);
        ok = 0;
    }
    ok = pl_all_ok(comm, ok && stage_flush(w, psi, &st, br, 1) == 0);
    for (size_t c = 0; c < ncols; c++) {
        pl_wipe(st.col[c], st.cap * st.size[c]);
        free(st.col[c]);
    }
    free(st.col);
    free(st.size);
    bufs_free(&b);
    enc_free(&en, Bb);
    free(cols);
    free(pcol);
    return ok ? 0 : -1;
}

static int is_opposition(const pl_job *job, const char *name)
{
    for (size_t i = 0; i < job->n_opposition; i++)
        if (strcmp(job->opposition[i], name) == 0)
            return 1;
    return 0;
}

/* Rank 0 writes every rank's reject lines, in rank order, as one file. */
static int write_rejects(const char *dir, text *rej, MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int n = (int)rej->n;
    int *counts = pl_xcalloc((size_t)size, sizeof *counts);
    int *displ = pl_xcalloc((size_t)size, sizeof *displ);
    PL_MPI_CHECK(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, comm));
    size_t total = 0;
    for (int r = 0; rank == 0 && r < size; r++) {
        displ[r] = (int)total;
        total += (size_t)counts[r];
    }
    char *all = rank == 0 ? pl_xmalloc(total + 1) : NULL;
    PL_MPI_CHECK(MPI_Gatherv(rej->s, n, MPI_CHAR, all, counts, displ,
                             MPI_CHAR, 0, comm));
    int ok = 1;
    if (rank == 0) {
        char *path = pl_xasprintf("%s/rejects.csv", dir);
        FILE *f = fopen(path, "wx");
        if (f)
            fchmod(fileno(f), 0640);    /* as the packages (output.h) */
        ok = f && fputs("source,row,code,reason\n", f) >= 0 &&
             fwrite(all, 1, total, f) == total;
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok)
            pl_err("%s: cannot write the reject report: %s", path,
                   strerror(errno));
        free(path);
    }
    free(all);
    free(counts);
    free(displ);
    return pl_root_ok(comm, ok) ? 0 : -1;
}

/* One package: the sources with (opp = 0) or without payload. */
static int one_package(const pl_job *job, pl_export *x, int opp,
                       const pl_hmac_key *producer, EVP_PKEY *transport,
                       EVP_PKEY *signing, const char *dir, MPI_Comm comm,
                       const uint64_t *valid, char *file, char *id)
{
    snprintf(file, PL_NAME_MAX + 32, "%s%s.pkg.h5", job->package_name,
             opp ? ".opposition" : "");
    char *path = pl_xasprintf("%s/%s", dir, file);
    pl_pkg_writer *w = pl_pkg_create(path, opp ? "opposition" : "data",
                                      job->producer_name, job->block_rows,
                                      transport, signing, comm);
    free(path);
    if (!w)
        return -1;
    for (size_t si = 0; si < x->nsrc; si++) {
        if (is_opposition(job, x->src[si].cfg->name) != opp)
            continue;
        if (package_source(job, x, si, producer, w, !opp, valid[si],
                           comm) != 0) {
            pl_pkg_abort(w);
            return -1;
        }
    }
    return pl_pkg_finish(w, id);
}

int pl_produce(const pl_job *job, pl_export *x, const pl_hmac_key *producer,
               EVP_PKEY *transport, EVP_PKEY *signing, const char *dir,
               MPI_Comm comm, pl_produce_result *res)
{
    double t0 = MPI_Wtime();
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    res->src = pl_xcalloc(x->nsrc, sizeof *res->src);
    uint64_t *valid = pl_xcalloc(x->nsrc, sizeof *valid);
    text rej = {0};
    int ok = 1;
    for (size_t si = 0; si < x->nsrc && ok; si++) {
        int opp = is_opposition(job, x->src[si].cfg->name);
        ok = count_source(job, x, si, comm, !opp, &valid[si], &rej,
                          &res->src[si]) == 0;
        res->has_opp |= opp;
        res->has_data |= !opp;
    }
    ok = ok && write_rejects(dir, &rej, comm) == 0;
    free(rej.s);
    if (ok && res->has_data)
        ok = one_package(job, x, 0, producer, transport, signing, dir, comm,
                         valid, res->data_file, res->data_id) == 0;
    if (ok && res->has_opp)
        ok = one_package(job, x, 1, producer, transport, signing, dir, comm,
                         valid, res->opp_file, res->opp_id) == 0;
    free(valid);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double t[2] = {MPI_Wtime() - t0, (double)(c1.tv_sec - c0.tv_sec) +
                                         1e-9 * (double)(c1.tv_nsec -
                                                         c0.tv_nsec)};
    double m[2];
    PL_MPI_CHECK(MPI_Allreduce(t, m, 2, MPI_DOUBLE, MPI_MAX, comm));
    res->seconds = m[0];
    res->cpu_seconds = m[1];
    return ok ? 0 : -1;
}
