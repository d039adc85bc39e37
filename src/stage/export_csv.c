/* export_csv.c — the CSV reader of a producer's export (export.h): one CSV
 * file per source (sources.<name>.csv, job/csv_cfg.h), read with
 * base/csv.h and split between the ranks with par/csv_split.h.
 *
 * Open checks the job against each file's description before any record
 * is read (identity columns of the right type, keep/drop/allow_nir_like
 * naming declared columns, `invalid: reject` only on identity columns),
 * then every rank opens the file, reads the header, takes its own whole
 * records (pl_csv_split) and counts them from quote parity
 * (pl_csv_count_records): pl_exscan gives its first row.
 *
 * Reads stream: one batch of at most options.batch_rows records of the
 * source being read is parsed per read_identity call and serves the
 * read_column calls of the same rows (export.h's call order); lo = 0
 * rewinds to the rank's first record (the second pass). Only one source's
 * batch is held at a time, wiped before it is freed (identity fields).
 *
 * Identity values a lenient column (`invalid: reject`) could not take
 * (bad[] set) are forced to values the identity check rejects with the
 * store's code (empty NIR: nir_length, date 0: birth_date, sex 0: sex,
 * rank 0: birth_rank). Any other parse error (field count, quotes,
 * UTF-8, undeclared or duplicate header, a bad number or date in a payload
 * column) fails the read with base/csv.h's "file:line:col: column 'NAME'"
 * message, never a value.
 */
#include "stage/export.h"
#include "base/csv.h"
#include "base/log.h"
#include "base/mem.h"
#include "job/csv_cfg.h"
#include "par/csv_split.h"
#include "par/mpi.h"

#include <stdlib.h>
#include <string.h>

enum { ID_NIR, ID_BD, ID_SEX, ID_RANK, ID_N };

typedef struct {
    const pl_csv_cfg *cfg;
    pl_csv      *c;
    pl_csv_part  part;
    int          id[ID_N];      /* declared column of each identity, -1 */
    int         *pay;           /* declared column of each payload column */
    pl_csv_batch b;
    int          have_batch;    /* b allocated */
    int          batch_ok;      /* b holds rows [blo, blo + b.n) */
    uint64_t     blo, next;     /* next: first row not yet parsed */
    int          failed;
} csrc;

typedef struct {
    csrc    *s;
    size_t   n;
    uint64_t batch_rows;
    int      rank;              /* readers of ranks > 0 are quiet */
} csvx;

/* A read error: rank 0's reader printed it; the others' are quiet (so
 * that the header's errors print once), so print theirs here. */
static int read_failed(const csvx *h, csrc *s)
{
    s->failed = 1;
    if (h->rank != 0)
        pl_err("%s", pl_csv_error(s->c));
    return -1;
}

static int in_list(char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0)
            return 1;
    return 0;
}

static int is_id(const csrc *s, int j)
{
    for (int k = 0; k < ID_N; k++)
        if (s->id[k] == j)
            return 1;
    return 0;
}

/* The job's source against its csv: section (every rank, same verdict;
 * rank 0 prints). */
static int check_source(const pl_job *job, const pl_source_cfg *sc,
                        csrc *s, pl_export_src *e)
{
    const pl_csv_cfg *cfg = sc->csv;
    const char *jp = job->path;
    const char *idcol[ID_N] = {sc->nir, sc->birth_date, sc->sex,
                               sc->birth_rank};
    static const char *const idkey[ID_N] = {"nir", "birth_date", "sex",
                                            "birth_rank"};
    for (int k = 0; k < ID_N; k++) {
        s->id[k] = -1;
        if (!idcol[k][0])
            continue;
        int j = pl_csv_cfg_find(cfg, idcol[k]);
        if (j < 0) {
            pl_err0("%s: sources.%s.identity.%s: column '%s' is not one of "
                    "sources.%s.csv.columns (their 'as' names)", jp,
                    sc->name, idkey[k], idcol[k], sc->name);
            return -1;
        }
        const pl_csv_col *c = &cfg->spec_cols[j];
        const char *want = NULL;
        if (k == ID_NIR && !(c->type == PL_CSV_STR &&
                             (c->len == 15 || c->len == 16)))
            want = "type string with length 15 (or 16)";
        else if (k == ID_BD && !(c->type == PL_CSV_DATE ||
                                 (c->type >= PL_CSV_I8 &&
                                  c->type <= PL_CSV_U64)))
            want = "type date (or an integer YYYYMMDD)";
        else if ((k == ID_SEX || k == ID_RANK) &&
                 !(c->type >= PL_CSV_I8 && c->type <= PL_CSV_U64))
            want = "an integer type";
        if (want) {
            pl_err0("%s:%d:%d: sources.%s.csv.columns.%s: the %s identity "
                    "column needs %s, not %s", jp, cfg->cols[j].line,
                    cfg->cols[j].col, sc->name, cfg->cols[j].header,
                    idkey[k], want, pl_csv_type_name(c->type));
            return -1;
        }
        s->id[k] = j;
    }
    if (s->id[ID_NIR] >= 0)
        e->nir_size = cfg->spec_cols[s->id[ID_NIR]].len;
    e->has_rank = s->id[ID_RANK] >= 0;
    /* keep / drop / allow_nir_like name declared, stored, non-identity
     * columns (a typo would drop, keep or allow nothing). */
    char *const *lists[] = {sc->keep, sc->drop, sc->allow_nir};
    size_t nl[] = {sc->n_keep, sc->n_drop, sc->n_allow_nir};
    static const char *const ln[] = {"keep", "drop", "allow_nir_like"};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < nl[l]; i++) {
            int j = pl_csv_cfg_find(cfg, lists[l][i]);
            if (j < 0 || cfg->spec_cols[j].type == PL_CSV_SKIP) {
                pl_err0("%s: sources.%s.%s: column '%s' %s", jp, sc->name,
                        ln[l], lists[l][i],
                        j < 0 ? "is not one of sources.<name>.csv.columns "
                                "(their 'as' names)"
                              : "is declared type skip (never stored)");
                return -1;
            }
        }
    /* Payload: keep in its order, else every stored non-identity column
     * not dropped, in the job file's order. */
    s->pay = pl_xcalloc(cfg->ncols + 1, sizeof *s->pay);
    e->cols = pl_xcalloc(cfg->ncols + 1, sizeof *e->cols);
    size_t nwant = sc->keep_given ? sc->n_keep : cfg->ncols;
    for (size_t i = 0; i < nwant; i++) {
        int j = sc->keep_given ? pl_csv_cfg_find(cfg, sc->keep[i]) : (int)i;
        const pl_csv_col *c = &cfg->spec_cols[j];
        if (!sc->keep_given &&
            (c->type == PL_CSV_SKIP || is_id(s, j) ||
             in_list(sc->drop, sc->n_drop, cfg->cols[j].name)))
            continue;
        if (is_id(s, j)) {
            pl_err0("%s: sources.%s.keep: column '%s' is an identity "
                    "column: identity columns never travel", jp, sc->name,
                    cfg->cols[j].name);
            return -1;
        }
        if (c->lenient) {
            pl_err0("%s:%d:%d: sources.%s.csv.columns.%s: 'invalid: "
                    "reject' is for identity columns (a bad payload value "
                    "has no reject code): remove it, or drop the column",
                    jp, cfg->cols[j].line, cfg->cols[j].col, sc->name,
                    cfg->cols[j].header);
            return -1;
        }
        pl_export_col *o = &e->cols[e->ncols];
        snprintf(o->name, sizeof o->name, "%s", cfg->cols[j].name);
        int sgn = 1, cls = 0;
        switch (c->type) {
        case PL_CSV_I8:  o->mem_type = H5Tcopy(H5T_NATIVE_INT8); break;
        case PL_CSV_I16: o->mem_type = H5Tcopy(H5T_NATIVE_INT16); break;
        case PL_CSV_I32: o->mem_type = H5Tcopy(H5T_NATIVE_INT32); break;
        case PL_CSV_I64: o->mem_type = H5Tcopy(H5T_NATIVE_INT64); break;
        case PL_CSV_U8:  o->mem_type = H5Tcopy(H5T_NATIVE_UINT8); sgn = 0; break;
        case PL_CSV_U16: o->mem_type = H5Tcopy(H5T_NATIVE_UINT16); sgn = 0; break;
        case PL_CSV_U32: o->mem_type = H5Tcopy(H5T_NATIVE_UINT32); sgn = 0; break;
        case PL_CSV_U64: o->mem_type = H5Tcopy(H5T_NATIVE_UINT64); sgn = 0; break;
        case PL_CSV_DATE: o->mem_type = H5Tcopy(H5T_NATIVE_INT32); break;
        default:                                        /* string */
            o->mem_type = H5Tcopy(H5T_C_S1);
            H5Tset_size(o->mem_type, c->len);
            H5Tset_strpad(o->mem_type, H5T_STR_NULLPAD);
            H5Tset_cset(o->mem_type, H5T_CSET_UTF8);
            cls = 2;
            break;
        }
        o->size = pl_csv_width(c);
        o->nir_scan = pl_scan_kind_of(cls, o->size, sgn);
        if (in_list(sc->allow_nir, sc->n_allow_nir, o->name))
            o->nir_scan = PL_SCAN_NONE;
        s->pay[e->ncols++] = j;
    }
    return 0;
}

static int csv_open(pl_export *x, const char *path, const pl_job *job,
                    MPI_Comm comm)
{
    (void)path;
    int rank;
    MPI_Comm_rank(comm, &rank);
    csvx *h = pl_xcalloc(1, sizeof *h);
    x->impl = h;
    h->rank = rank;
    h->batch_rows = job->batch_rows ? job->batch_rows : 1048576;
    h->n = job->n_sources;
    h->s = pl_xcalloc(h->n + 1, sizeof *h->s);
    x->nsrc = h->n;
    x->src = pl_xcalloc(x->nsrc + 1, sizeof *x->src);
    for (size_t i = 0; i < h->n; i++) {
        const pl_source_cfg *sc = &job->sources[i];
        csrc *s = &h->s[i];
        pl_export_src *e = &x->src[i];
        e->cfg = sc;
        e->path = sc->csv ? sc->csv->file : job->path;
        s->cfg = sc->csv;
        if (!sc->csv) {
            pl_err0("%s: sources.%s: no csv section", job->path, sc->name);
            return -1;
        }
        if (check_source(job, sc, s, e) != 0)
            return -1;
    }
    /* Every check passed: open the files (each rank its header), split. */
    for (size_t i = 0; i < h->n; i++) {
        csrc *s = &h->s[i];
        pl_export_src *e = &x->src[i];
        /* A rank that cannot open the file (a path missing on one node's
         * disk) says why, once (par/csv_split.h). */
        s->c = pl_csv_open_all(s->cfg->file, &s->cfg->spec, comm);
        if (!s->c)
            return -1;
        if (pl_csv_split(s->c, comm, &s->part) != 0)
            return -1;
        uint64_t n = 0;
        int ok = pl_csv_count_records(s->c, s->part.start, s->part.end,
                                      &n) == 0;
        if (!ok)
            read_failed(h, s);
        if (!pl_all_ok(comm, ok))
            return -1;
        e->count = n;
        pl_exscan(comm, n, &e->first, &e->nrows);
    }
    return 0;
}

static void drop_batch(csrc *s)
{
    if (s->have_batch)
        pl_csv_batch_free(&s->b);       /* wipes */
    s->have_batch = s->batch_ok = 0;
}

/* Parse the batch of rows [lo, lo + cnt) of source si on this rank. */
static int load_batch(csvx *h, size_t si, uint64_t lo, uint64_t cnt)
{
    csrc *s = &h->s[si];
    for (size_t k = 0; k < h->n; k++)
        if (k != si)
            drop_batch(&h->s[k]);
    if (s->failed)
        return -1;
    s->batch_ok = 0;
    if (cnt == 0)
        return 0;
    if (lo == 0 && s->next != 0) {              /* the next pass */
        if (pl_csv_set_range(s->c, s->part.start, s->part.end,
                             s->part.line) != 0)
            return read_failed(h, s);
        s->next = 0;
    }
    if (lo != s->next) {
        pl_err("%s: internal: rows read out of order (%llu, expected %llu)",
               s->cfg->file, (unsigned long long)lo,
               (unsigned long long)s->next);
        s->failed = 1;
        return -1;
    }
    if (!s->have_batch || s->b.cap < cnt) {
        drop_batch(s);
        pl_csv_batch_init(&s->b, s->c, (size_t)cnt);   /* the first is
                                                         the largest */
        s->have_batch = 1;
    }
    size_t cap = s->b.cap;
    s->b.cap = (size_t)cnt;                     /* exactly this batch */
    int64_t n = pl_csv_read(s->c, &s->b);
    s->b.cap = cap;
    if (n < 0)
        return read_failed(h, s);
    if ((uint64_t)n != cnt) {
        pl_err("%s: %llu records where the split counted %llu (the file "
               "changed during the run?)", s->cfg->file,
               (unsigned long long)(lo + (uint64_t)n),
               (unsigned long long)(lo + cnt));
        s->failed = 1;
        return -1;
    }
    s->blo = lo;
    s->next = lo + cnt;
    s->batch_ok = 1;
    return 0;
}

/* Column j of the batch, row i, as int64 (an integer or date column). */
static int64_t get_i64(const pl_csv_batch *b, const pl_csv_col *c, int j,
                       size_t i)
{
    const void *p = (const uint8_t *)b->col[j] + i * b->width[j];
    switch (c->type) {
    case PL_CSV_I8:  return *(const int8_t *)p;
    case PL_CSV_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case PL_CSV_I32: case PL_CSV_DATE: { int32_t v; memcpy(&v, p, 4); return v; }
    case PL_CSV_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case PL_CSV_U8:  return *(const uint8_t *)p;
    case PL_CSV_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case PL_CSV_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case PL_CSV_U64: {
        uint64_t v;
        memcpy(&v, p, 8);               /* out of int64: refused anyway */
        return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
    }
    default: return 0;
    }
}

static int csv_read_identity(pl_export *x, size_t si, uint64_t lo,
                             uint64_t cnt, char *nir, int64_t *bd,
                             int64_t *sex, int64_t *rank)
{
    csvx *h = x->impl;
    if (load_batch(h, si, lo, cnt) != 0)
        return -1;
    csrc *s = &h->s[si];
    const pl_csv_batch *b = &s->b;
    const pl_csv_col *cols = s->cfg->spec_cols;
    size_t ns = x->src[si].nir_size;
    int64_t *out[ID_N] = {NULL, bd, sex, rank};
    for (int k = 0; k < ID_N; k++) {
        int j = s->id[k];
        if (j < 0 || cnt == 0)
            continue;
        if (k == ID_NIR) {
            memcpy(nir, b->col[j], cnt * ns);
            for (uint64_t i = 0; b->bad[j] && i < cnt; i++)
                if (b->bad[j][i])
                    memset(nir + i * ns, 0, ns);        /* nir_length */
            continue;
        }
        if (!out[k])
            continue;
        for (uint64_t i = 0; i < cnt; i++)
            out[k][i] = b->bad[j] && b->bad[j][i]
                            ? 0 : get_i64(b, &cols[j], j, (size_t)i);
    }
    return 0;
}

static int csv_read_column(pl_export *x, size_t si, size_t ci, uint64_t lo,
                           uint64_t cnt, void *buf)
{
    csvx *h = x->impl;
    csrc *s = &h->s[si];
    if (cnt == 0)
        return s->failed ? -1 : 0;
    if (!s->batch_ok || lo != s->blo || s->b.n != cnt)
        return -1;      /* read_identity failed (reported) or misuse */
    int j = s->pay[ci];
    memcpy(buf, s->b.col[j], cnt * s->b.width[j]);
    return 0;
}

static uint64_t csv_row_number(const pl_export *x, size_t si, uint64_t row)
{
    const csvx *h = x->impl;
    const csrc *s = &h->s[si];
    if (s->batch_ok && row >= s->blo && row < s->blo + s->b.n)
        return s->b.line[row - s->blo];
    return 0;
}

static void csv_close(pl_export *x)
{
    csvx *h = x->impl;
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        csrc *s = &h->s[i];
        drop_batch(s);
        pl_csv_close(s->c);
        free(s->pay);
    }
    for (size_t i = 0; x->src && i < x->nsrc; i++)
        for (size_t c = 0; c < x->src[i].ncols; c++)
            H5Tclose(x->src[i].cols[c].mem_type);
    free(h->s);
    free(h);
    x->impl = NULL;
}

const pl_export_ops pl_export_csv = {
    "csv", csv_open, csv_read_identity, csv_read_column, csv_row_number,
    csv_close,
};
