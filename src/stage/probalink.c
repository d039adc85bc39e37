/* probalink.c — see probalink.h. */
#include "stage/probalink.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/sort.h"
#include "base/strsim.h"
#include "crypto/hmac.h"
#include "job/linkage_config.h"
#include "par/assign.h"
#include "par/exchange.h"
#include "par/h5.h"
#include "par/mpi.h"
#include "par/output.h"
#include "stage/blocking.h"
#include "stage/budget.h"
#include "stage/fellegi.h"
#include "stage/link.h"
#include "stage/nir.h"
#include "stage/pprl_link.h"
#include "stage/runaudit.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TF_BITS 20
#define HIST_LO (-40.0)
#define HIST_BINS 100           /* 1 unit of weight each */
#define TRAIN_RECORDS 50000     /* records to link per EM sample */
#define RANDOM_RECORDS 100000   /* records per side for random pairs */
#define MAX_REVIEW 3            /* candidates listed per record */

enum { ST_LINK = 1, ST_REVIEW = 2, ST_NEW = 3, ST_OPPOSED = PL_LK_OPPOSED };

/* This process's CPU seconds (the bench tells CPU from waiting with it). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    uint64_t q, p;              /* rows */
    uint8_t  pid[16];
    double   w;
} cand;

typedef struct {
    char      name[PL_NAME_MAX];
    int       dedup_only;       /* in linkage.dedup only: read, not linked */
    uint64_t  nrows, first, count;
    uint8_t  *Q;                /* count records */
    /* results */
    pl_fs_model mo;
    uint64_t  pairs, dups, capped_blocks, capped_pairs, random_pairs;
    uint64_t  split_blocks;
    uint64_t  hist[HIST_BINS];
    uint64_t  hist_pq[HIST_BINS];   /* sum of P(match), 2^-32 units: exact */
    double    hist_p[HIST_BINS], est_matches;
    uint64_t  n_link, n_review, n_new, n_opposed;
    double    est_precision, est_recall;
    int       has_truth;
    double    t_precision, t_recall, t_f1;
    uint64_t  t_tp, t_fp, t_pos;
    /* this rank's rows: status, weight, linked pid */
    uint8_t  *status;
    double   *weight;
    uint8_t  *pid;
    /* this rank's rows' review lists, by row */
    cand     *review;
    uint64_t  n_rev;
    double    seconds, cpu;
    double    t_phase[5];   /* u, em, score, decide, pids (rank 0) */
    uint64_t  as_edges, as_rounds;  /* assignment: candidates >= upper */
} qsrc;

struct pl_probalink_state {
    const pl_linkage_cfg *c;
    size_t    rs, srs, psi;     /* routed, stored record (fellegi.h) */
    /* the name fields' values on this rank, every source's (fellegi.h) */
    pl_fs_dict dict[PL_LK_MAX_FIELDS];
    uint64_t  n_read;           /* records read on this rank, all sources */
    uint64_t  p_first, p_count;
    double    t_prepare, cpu_prepare;
    uint8_t  *P;                /* p_count records (all rows) */
    uint8_t  *p_ok;             /* row got a pid */
    uint8_t  *opp;              /* stand-in pids of opposed persons' rows */
    uint64_t  n_opp;
    qsrc     *q;
    size_t    nq;
};

/* ------------------------------------------------------------------------
 * Columns */

typedef struct {
    hid_t    d;
    int      is_str;
    size_t   size;
    uint64_t n;
    /* A package source's column (docs/PACKAGE.md): its source, column
     * index, bytes per row and whether its integers are signed. */
    const pl_source *src;
    size_t   pkg_col, raw;
    int      sgn;
} col_t;

static const char *cmp_name(const pl_lk_field *f)
{
    return f->kind == PL_CMP_NAME ? "name" : f->kind == PL_CMP_DATE ? "date"
           : f->kind == PL_CMP_EXACT ? "exact" : "number";
}

/* A clear matching column of a package source: a package column of type
 * s<N> (name, exact) or an integer type (date, number, exact). */
static int open_pkg_col(pl_run *r, const pl_source *s, const char *src,
                        const pl_lk_field *f, col_t *out)
{
    const pl_pkg_src *ps = &s->pkg->src[s->pkg_si];
    size_t ci = 0;
    while (ci < ps->ncols && strcmp(ps->cols[ci].name, f->column) != 0)
        ci++;
    if (ci == ps->ncols) {
        pl_err0("%s:%d:%d: linkage.fields.%s: %s: package source '%s' has "
                "no column '%s' (the field compares it)", r->job->path,
                f->line, f->col, f->name, s->pkg->path, src, f->column);
        return -1;
    }
    const char *t = ps->cols[ci].type;
    int is_str = t[0] == 's', is_int = t[0] == 'i' || t[0] == 'u';
    int ok = (f->kind == PL_CMP_NAME && is_str) ||
             (f->kind == PL_CMP_EXACT && (is_str || is_int)) ||
             ((f->kind == PL_CMP_DATE || f->kind == PL_CMP_NUMBER) &&
              is_int);
    if (!ok) {
        pl_err0("%s:%d:%d: linkage.fields.%s (compare: %s): %s: package "
                "source '%s' column '%s' is of type %s, expected %s",
                r->job->path, f->line, f->col, f->name, cmp_name(f),
                s->pkg->path, src, f->column, t, t[0] == 'b'
                    ? "a clear column (an encoding is compared with "
                      "compare: dice)"
                    : f->kind == PL_CMP_NAME ? "a string (s<N>)"
                    : f->kind == PL_CMP_EXACT ? "a string or an integer"
                    : "an integer (YYYYMMDD for a date)");
        return -1;
    }
    if (ps->rows == 0) {
        pl_err0("%s:%d:%d: linkage.fields.%s: %s: package source '%s' "
                "column '%s': a comparison on an empty column (0 rows)",
                r->job->path, f->line, f->col, f->name, s->pkg->path, src,
                f->column);
        return -1;
    }
    out->src = s;
    out->pkg_col = ci;
    out->raw = ps->cols[ci].size;
    out->sgn = t[0] == 'i';
    out->is_str = is_str;
    out->size = is_str ? ps->cols[ci].size : 8;
    out->n = ps->rows;
    return 0;
}

/* Rows [first, first+n) of a package column into buf: strings as they
 * are, integers widened to int64 (in place, back to front). */
static int read_pkg_col(pl_run *r, const col_t *c, uint64_t first,
                        uint64_t n, uint8_t *buf)
{
    pl_column col;
    memset(&col, 0, sizeof col);
    col.pkg_col = c->pkg_col;
    col.size = c->raw;
    if (pl_source_read(&r->store, c->src, &col, first, n, buf, r->dxpl) != 0)
        return -1;
    for (uint64_t i = n; !c->is_str && i-- > 0;) {
        const uint8_t *p = buf + i * c->raw;
        int64_t v = 0;
        switch (c->raw) {
        case 1: v = c->sgn ? (int8_t)p[0] : p[0]; break;
        case 2: { int16_t a; uint16_t u; memcpy(&a, p, 2); memcpy(&u, p, 2);
                  v = c->sgn ? a : u; break; }
        case 4: { int32_t a; uint32_t u; memcpy(&a, p, 4); memcpy(&u, p, 4);
                  v = c->sgn ? a : (int64_t)u; break; }
        default: { uint64_t u; memcpy(&u, p, 8);
                   v = c->sgn || u <= INT64_MAX ? (int64_t)u : INT64_MAX; }
        }
        memcpy(buf + i * 8, &v, 8);
    }
    return 0;
}

static int open_col(pl_run *r, const char *src, const pl_lk_field *f,
                    col_t *out)
{
    char path[PL_NAME_MAX * 2 + 16];
    snprintf(path, sizeof path, "/sources/%s/%s", src, f->column);
    memset(out, 0, sizeof *out);
    out->d = -1;
    const pl_source *ps = pl_store_find(&r->store, src);
    if (ps && ps->pkg)
        return open_pkg_col(r, ps, src, f, out);
    htri_t ex = H5Lexists(r->store.file, "/sources", H5P_DEFAULT);
    char gp[PL_NAME_MAX + 16];
    snprintf(gp, sizeof gp, "/sources/%s", src);
    if (ex > 0)
        ex = H5Lexists(r->store.file, gp, H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(r->store.file, path, H5P_DEFAULT);
    if (ex <= 0) {
        pl_err0("%s:%d:%d: linkage.fields.%s: %s: %s: no such dataset (the "
                "field compares column '%s')", r->job->path, f->line, f->col,
                f->name, r->store.path, path, f->column);
        return -1;
    }
    hid_t d = H5Dopen2(r->store.file, path, H5P_DEFAULT);
    if (d < 0) {
        pl_err0("%s: %s: cannot open: %s", r->store.path, path,
                pl_h5_reason());
        return -1;
    }
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    H5T_class_t cl = H5Tget_class(t);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[2] = {0, 0};
    if (nd == 1)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    int vlen = cl == H5T_STRING && H5Tis_variable_str(t) > 0;
    out->size = H5Tget_size(t);
    H5Tclose(t);
    H5Sclose(sp);
    const char *want = f->kind == PL_CMP_NAME ? "a fixed-length string"
                       : f->kind == PL_CMP_EXACT
                           ? "a fixed-length string or an integer"
                           : "an integer (YYYYMMDD for a date)";
    int ok = nd == 1 && !vlen &&
             ((f->kind == PL_CMP_NAME && cl == H5T_STRING) ||
              (f->kind == PL_CMP_EXACT &&
               (cl == H5T_STRING || cl == H5T_INTEGER)) ||
              ((f->kind == PL_CMP_DATE || f->kind == PL_CMP_NUMBER) &&
               cl == H5T_INTEGER));
    if (!ok) {
        pl_err0("%s:%d:%d: linkage.fields.%s (compare: %s): %s: %s: "
                "expected a 1-D dataset of %s", r->job->path, f->line,
                f->col, f->name,
                f->kind == PL_CMP_NAME ? "name" : f->kind == PL_CMP_DATE
                ? "date" : f->kind == PL_CMP_EXACT ? "exact" : "number",
                r->store.path, path, want);
        H5Dclose(d);
        return -1;
    }
    if (dims[0] == 0) {
        pl_err0("%s:%d:%d: linkage.fields.%s: %s: %s: a comparison on an "
                "empty column (0 rows)", r->job->path, f->line, f->col,
                f->name, r->store.path, path);
        H5Dclose(d);
        return -1;
    }
    out->d = d;
    out->is_str = cl == H5T_STRING;
    out->n = dims[0];
    return 0;
}

/* Read rows [first, first+count) of every matching column of `src` into
 * records (side 0/1). Sets *nrows to the column length. */
/* A name's slot from its stored value: normalised (pl_name_norm), cut
 * at PL_FS_STR bytes, with its phonetic key. Names repeat (a few thousand
 * first names carry most records), so the last value seen in each slot
 * of a direct-mapped table of raw values (at most 32 bytes) is
 * kept with its result: most values are normalised and encoded once.
 * Returns the normalised length (0: missing). */
#define MEMO_BITS 18     /* 20 MiB: most of a field's distinct values */
#define MEMO_SLOTS (1u << MEMO_BITS)
/* rows a read (read_records); a test build may make it small:
 * make CC='mpicc -DLK_READ_CHUNK=1000' */
#ifndef LK_READ_CHUNK
#define LK_READ_CHUNK (1u << 20)
#endif
typedef struct {
    uint8_t  raw[32];           /* the stored value, zero-padded */
    char     norm[PL_FS_STR];
    uint32_t ph, cell;
    uint32_t id;                /* its dictionary index in field idf */
    uint8_t  len, used, idf;
} name_memo;

/* A normalised name's term-frequency sketch cell (term_freqs), computed
 * once a distinct value in read_records and kept in the value's tf slot
 * until its count replaces it. */
static uint32_t tf_cell(const char *norm, size_t l)
{
    return (uint32_t)(pl_hash64(norm, l, 7) & ((1u << TF_BITS) - 1));
}

/* The dictionary index (d, field f) of stored value s (sz bytes) into
 * *id; returns the normalised length (0: missing). */
static size_t name_id(name_memo *memo, const char *s, size_t sz, int tf,
                      pl_fs_dict *d, size_t f, uint32_t *id)
{
    name_memo *m = NULL;
    uint8_t raw[32];
    pl_fs_name nm;
    memset(&nm, 0, sizeof nm);
    if (sz <= sizeof raw) {
        memset(raw, 0, sizeof raw);
        memcpy(raw, s, sz);
        uint64_t w[4];
        memcpy(w, raw, sizeof w);
        uint64_t h = w[0] * 0x9e3779b97f4a7c15ull ^
                     w[1] * 0xc2b2ae3d27d4eb4full ^
                     w[2] * 0x165667b19e3779f9ull ^
                     w[3] * 0xd6e8feb86659fd93ull;
        m = &memo[(h ^ h >> 29) * 0xbf58476d1ce4e5b9ull >> (64 - MEMO_BITS)];
        if (m->used && memcmp(m->raw, raw, sizeof raw) == 0) {
            pl_wipe(raw, sizeof raw);
            if (m->idf == f) {  /* this field's value seen before */
                *id = m->id;
                return m->len;
            }
            memcpy(nm.s, m->norm, m->len);
            nm.ph = m->ph;
            if (tf)
                memcpy(&nm.tf, &m->cell, 4);
            *id = m->id = pl_fs_dict_add(d, &nm);
            m->idf = (uint8_t)f;
            pl_wipe(&nm, sizeof nm);
            return m->len;
        }
    }
    char tmp[PL_FS_STR + 1];
    size_t l = pl_name_norm(s, sz, tmp, sizeof tmp);
    memcpy(nm.s, tmp, l);
    nm.ph = pl_fs_phonetic(tmp, l);
    /* strnlen(nm->s) in term_freqs was l: a normalised name has no NUL */
    uint32_t cell = tf_cell(tmp, strnlen(tmp, l));
    if (tf)
        memcpy(&nm.tf, &cell, 4);
    *id = pl_fs_dict_add(d, &nm);
    if (m) {
        memcpy(m->raw, raw, sizeof raw);
        memcpy(m->norm, tmp, l);
        memset(m->norm + l, 0, PL_FS_STR - l);
        m->len = (uint8_t)l;
        m->ph = nm.ph;
        m->cell = cell;
        m->id = *id;
        m->idf = (uint8_t)f;
        m->used = 1;
    }
    pl_wipe(raw, sizeof raw);
    pl_wipe(tmp, sizeof tmp);
    pl_wipe(&nm, sizeof nm);
    return l;
}

static int read_records(pl_run *r, const char *src, int side, int own_block,
                        uint64_t *nrows, uint64_t *first, uint64_t *count,
                        uint8_t **out, uint64_t *present)
{
    const pl_linkage_cfg *c = r->job->linkage;
    struct pl_probalink_state *st = r->probalink;
    pl_fs_layout L;                     /* stored records (fellegi.h) */
    pl_fs_layout_of(c, &L);
    size_t rs = L.srs;
    col_t cols[PL_LK_MAX_FIELDS];
    pl_pprl_col enc[PL_LK_MAX_FIELDS];      /* compare: dice fields */
    int ok = 1;
    size_t nopen = 0;
    for (size_t f = 0; f < c->n_fields && ok; f++) {
        enc[f].d = -1;
        if (c->fields[f].kind == PL_CMP_DICE) {
            ok = pl_pprl_open(r, src, &c->fields[f], &enc[f]) == 0;
            memset(&cols[f], 0, sizeof cols[f]);
            cols[f].d = -1;
            cols[f].n = enc[f].n;
            cols[f].size = enc[f].bytes;
            cols[f].is_str = 0;
        } else
            ok = open_col(r, src, &c->fields[f], &cols[f]) == 0;
        if (ok)
            nopen++;
        if (ok && f > 0 && cols[f].n != cols[0].n) {
            const pl_source *sp = pl_store_find(&r->store, src);
            pl_err0("%s: /sources/%s: matching columns '%s' and '%s' differ "
                    "in length (%llu and %llu rows)",
                    sp && sp->pkg ? sp->pkg->path : r->store.path, src,
                    c->fields[0].column, c->fields[f].column,
                    (unsigned long long)cols[0].n,
                    (unsigned long long)cols[f].n);
            ok = 0;
        }
    }
    if (!ok) {
        for (size_t f = 0; f < nopen; f++) {
            if (cols[f].d >= 0)
                H5Dclose(cols[f].d);
            pl_pprl_close(&enc[f]);
        }
        return -1;
    }
    *nrows = cols[0].n;
    if (own_block)
        pl_block(*nrows, r->rank, r->size, first, count);
    else if (*first + *count > *nrows) {
        pl_err0("%s: /sources/%s: matching columns have %llu rows, the "
                "source %llu", r->store.path, src,
                (unsigned long long)*nrows,
                (unsigned long long)(*first + *count));
        ok = 0;
    }
    uint64_t n = ok ? *count : 0;
    /* the names' indices (pl_fs_dict_add): every source's records of the
     * rank share the dictionaries */
    if (n >= UINT32_MAX - 1 - st->n_read) {
        pl_err("%s: /sources/%s: %llu rows on this rank after %llu of the "
               "other sources; the linkage takes fewer than 2^32 records a "
               "rank: run more ranks", r->store.path, src,
               (unsigned long long)n, (unsigned long long)st->n_read);
        ok = 0;
        n = 0;
    }
    st->n_read += n;
    uint8_t *recs = pl_xcalloc_huge(n * rs + 1);
    for (uint64_t i = 0; i < n; i++) {
        pl_fs_hdr *h = (pl_fs_hdr *)(recs + i * rs);
        h->id = *first + i;
        h->side = (uint8_t)side;
    }
    size_t maxsz = 8;
    for (size_t f = 0; f < c->n_fields; f++)
        if (cols[f].size > maxsz)
            maxsz = cols[f].size;
    /* a column is read LK_READ_CHUNK rows at a time into one buffer, the
     * same for every column and source (32 MiB for 32-byte names), rather
     * than a column-long buffer of fresh pages each time: at 5 M rows a
     * rank that was 160 MB a name column faulted in to be read once, and
     * fresh pages are the slow part on a VM. Every rank makes the same
     * number of reads (collective transfers). */
    uint64_t nmax = n;
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &nmax, 1, MPI_UINT64_T,
                               MPI_MAX, r->comm));
    uint64_t nchunk = (nmax + LK_READ_CHUNK - 1) / LK_READ_CHUNK;
    uint64_t bn = n < LK_READ_CHUNK ? n : LK_READ_CHUNK;
    uint8_t *buf = pl_xmalloc_huge(bn * maxsz + 1);
    name_memo *memo = pl_xcalloc(MEMO_SLOTS, sizeof *memo);
    for (size_t f = 0; f < c->n_fields; f++) {
        const pl_lk_field *fd = &c->fields[f];
        char what[PL_NAME_MAX * 2 + 16];
        snprintf(what, sizeof what, "/sources/%s/%s", src, fd->column);
        hid_t mt = -1;
        if (fd->kind != PL_CMP_DICE && cols[f].is_str && !cols[f].src) {
            mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, cols[f].size);
            H5Tset_strpad(mt, H5T_STR_NULLPAD);
        }
        for (uint64_t ch = 0; ch < nchunk; ch++) {
            uint64_t c0 = ch * LK_READ_CHUNK < n ? ch * LK_READ_CHUNK : n;
            uint64_t cn = n - c0 < LK_READ_CHUNK ? n - c0 : LK_READ_CHUNK;
            uint64_t at = ok ? *first + c0 : 0;
            if (fd->kind == PL_CMP_DICE) {  /* filters as they are */
                ok &= pl_pprl_read(r, &enc[f], at, cn, buf) == 0;
                size_t off = L.soff[f], nw = fd->bytes / 8;
                for (uint64_t k = 0; k < cn && ok; k++) {
                    uint8_t *rec = recs + (c0 + k) * rs;
                    memcpy(rec + off, buf + k * fd->bytes, fd->bytes);
                    uint64_t w[1];
                    int any = 0;
                    for (size_t j = 0; j < nw && !any; j++) {
                        memcpy(w, rec + off + 8 * j, 8);
                        any = w[0] != 0;
                    }
                    if (!any)
                        ((pl_fs_hdr *)rec)->missing |= 1u << f;
                    else
                        present[f]++;
                }
                pl_wipe(buf, cn * fd->bytes);
                continue;
            }
            if (cols[f].src)                /* a package column */
                ok &= read_pkg_col(r, &cols[f], at, cn, buf) == 0;
            else
                ok &= pl_store_read(&r->store, cols[f].d, what,
                                    cols[f].is_str ? mt : H5T_NATIVE_INT64,
                                    at, cn, 0, buf, r->dxpl) == 0;
            size_t sz = cols[f].is_str ? cols[f].size : 8;
            size_t off = L.soff[f];
            for (uint64_t k = 0; k < cn && ok; k++) {
                uint8_t *rec = recs + (c0 + k) * rs;
                pl_fs_hdr *h = (pl_fs_hdr *)rec;
                uint8_t *v = rec + off;
                const char *s = (const char *)buf + k * sz;
                int miss = 0;
                if (fd->kind == PL_CMP_NAME) {
                    uint32_t id;
                    miss = name_id(memo, s, sz, fd->tf, &st->dict[f], f,
                                   &id) == 0;
                    memcpy(v, &id, 4);
                    memcpy(v + PL_FS_ID_PH, &st->dict[f].v[id].ph, 4);
                    st->dict[f].occ[id] += !miss;   /* term_freqs */
                } else if (cols[f].is_str) {
                    size_t l = strnlen(s, sz);
                    while (l > 0 && s[l - 1] == ' ')
                        l--;
                    if (l <= PL_FS_SMALL) {
                        memcpy(v, s, l);
                    } else {
                        uint64_t hh = pl_hash64(s, l, 0);
                        memcpy(v, &hh, 8);
                    }
                    miss = l == 0;
                } else {
                    int64_t x;
                    memcpy(&x, s, 8);
                    memcpy(v, &x, 8);
                    miss = fd->kind != PL_CMP_NUMBER && x <= 0;
                }
                if (miss)
                    h->missing |= 1u << f;
                else
                    present[f]++;
            }
            pl_wipe(buf, cn * sz);
        }
        if (mt >= 0)
            H5Tclose(mt);
    }
    free(buf);
    pl_wipe(memo, MEMO_SLOTS * sizeof *memo);   /* names */
    free(memo);
    for (size_t f = 0; f < c->n_fields; f++) {
        if (cols[f].d >= 0)
            H5Dclose(cols[f].d);
        pl_pprl_close(&enc[f]);
    }
    *out = recs;
    return ok ? 0 : -1;
}

/* Term frequencies of the name fields with tf on: a count sketch of 2^20
 * cells per field summed over every rank and source. */
/* One pass of term_freqs over the distinct values of the name fields
 * tf[0..ntf) (fellegi.h's dictionaries: each value with the number of
 * records carrying it, occ): count (all == NULL: each value's sketch
 * cell, kept in its tf slot by read_records, counted occ times in cnt,
 * tot[t] values seen) or share (the cell's count over all[t], in place
 * of the cell). A value no present record carries (missing: "") keeps
 * its cell, never read. The same counts and shares as a pass over every
 * record, each value once. */
static void tf_pass(struct pl_probalink_state *s, const size_t *tf,
                    size_t ntf, size_t M, uint32_t *cnt, uint64_t *tot,
                    const uint64_t *all)
{
    for (size_t t = 0; t < ntf; t++) {
        pl_fs_dict *d = &s->dict[tf[t]];
        for (size_t i = 0; i < d->n; i++) {
            if (d->occ[i] == 0)
                continue;
            pl_fs_name *v = &d->v[i];
            uint32_t cell;
            memcpy(&cell, &v->tf, 4);   /* read_records' tf_cell */
            if (all) {
                v->tf = (float)((double)cnt[t * M + cell] /
                                (double)(all[t] ? all[t] : 1));
                continue;
            }
            cnt[t * M + (cell & (M - 1))] += d->occ[i];
            tot[t] += d->occ[i];
        }
    }
}

static void term_freqs(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    const pl_linkage_cfg *c = s->c;
    size_t M = (size_t)1 << TF_BITS;
    size_t tf[PL_LK_MAX_FIELDS], ntf = 0;
    for (size_t f = 0; f < c->n_fields; f++)
        if (c->fields[f].kind == PL_CMP_NAME && c->fields[f].tf)
            tf[ntf++] = f;
    if (ntf == 0)
        return;
    /* one sketch a field: the counts over every field's distinct values,
     * then their shares (tf_pass) */
    uint32_t *cnt = pl_xcalloc_huge(ntf * M * sizeof *cnt);
    uint64_t tot[PL_LK_MAX_FIELDS] = {0}, all[PL_LK_MAX_FIELDS] = {0};
    tf_pass(s, tf, ntf, M, cnt, tot, NULL);
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, cnt, (int)(ntf * M),
                               MPI_UINT32_T, MPI_SUM, r->comm));
    PL_MPI_CHECK(MPI_Allreduce(tot, all, (int)ntf, MPI_UINT64_T, MPI_SUM,
                               r->comm));
    tf_pass(s, tf, ntf, M, cnt, NULL, all);
    free(cnt);
}

/* linkage.dedup: each source is a group /sources/<name> of the store. */
static int dedup_check(pl_run *r)
{
    const pl_linkage_cfg *c = r->job->linkage;
    for (size_t k = 0; k < c->n_dedup; k++) {
        char gp[PL_NAME_MAX + 16];
        snprintf(gp, sizeof gp, "/sources/%s", c->dedup[k]);
        htri_t ex = H5Lexists(r->store.file, "/sources", H5P_DEFAULT);
        if (ex > 0)
            ex = H5Lexists(r->store.file, gp, H5P_DEFAULT);
        if (ex <= 0) {
            pl_err0("%s:%d:%d: linkage.dedup[%zu]: %s: %s: no such source "
                    "in the store (linkage.dedup lists sources of the store "
                    "without an identity)", r->job->path, c->dedup_at[2 * k],
                    c->dedup_at[2 * k + 1], k, r->store.path, gp);
            return -1;
        }
    }
    return 0;
}

int pl_probalink_prepare(pl_run *r)
{
    const pl_linkage_cfg *c = r->job->linkage;
    if (!c)
        return 0;
    struct pl_probalink_state *s = pl_xcalloc(1, sizeof *s);
    r->probalink = s;
    double t0 = MPI_Wtime(), c0 = cpu_now();
    s->c = c;
    if (pl_pprl_prepare(r) != 0)        /* sets the dice fields' widths */
        return -1;
    s->rs = pl_fs_recsize(c);
    pl_fs_layout L;
    pl_fs_layout_of(c, &L);
    s->srs = L.srs;
    s->psi = c->persons_index;
    const pl_source *ps = &r->store.src[s->psi];
    s->p_first = ps->first;
    s->p_count = ps->count;
    uint64_t present[PL_LK_MAX_FIELDS] = {0}, all[PL_LK_MAX_FIELDS];
    uint64_t nrows;
    int rc = read_records(r, c->persons, 0, 0, &nrows, &s->p_first,
                          &s->p_count, &s->P, present);
    if (!pl_all_ok(r->comm, rc == 0))
        return -1;
    s->p_ok = pl_xcalloc(s->p_count + 1, 1);
    PL_MPI_CHECK(MPI_Allreduce(present, all, (int)c->n_fields, MPI_UINT64_T,
                               MPI_SUM, r->comm));
    if (dedup_check(r) != 0)
        return -1;
    s->q = pl_xcalloc(c->n_sources + c->n_dedup, sizeof *s->q);
    s->nq = c->n_sources;
    for (size_t k = 0; k < c->n_dedup; k++) {   /* dedup only: read too */
        int also = 0;
        for (size_t j = 0; j < c->n_sources; j++)
            also |= strcmp(c->sources[j], c->dedup[k]) == 0;
        if (!also) {
            snprintf(s->q[s->nq].name, sizeof s->q->name, "%s",
                     c->dedup[k]);
            s->q[s->nq++].dedup_only = 1;
        }
    }
    for (size_t k = 0; k < s->nq; k++) {
        qsrc *q = &s->q[k];
        if (!q->dedup_only)
            snprintf(q->name, sizeof q->name, "%s", c->sources[k]);
        uint64_t pq[PL_LK_MAX_FIELDS] = {0}, aq[PL_LK_MAX_FIELDS];
        rc = read_records(r, q->name, 1, 1, &q->nrows, &q->first, &q->count,
                          &q->Q, pq);
        if (!pl_all_ok(r->comm, rc == 0))
            return -1;
        PL_MPI_CHECK(MPI_Allreduce(pq, aq, (int)c->n_fields, MPI_UINT64_T,
                                   MPI_SUM, r->comm));
        for (size_t f = 0; f < c->n_fields; f++)
            if (aq[f] == 0 || all[f] == 0) {
                pl_err0("%s:%d:%d: linkage.fields.%s: %s: /sources/%s/%s: a "
                        "comparison on an empty column (every value is "
                        "missing)", r->job->path, c->fields[f].line,
                        c->fields[f].col, c->fields[f].name, r->store.path,
                        aq[f] == 0 ? q->name : c->persons,
                        c->fields[f].column);
                return -1;
            }
    }
    /* memory_per_rank: this rank's records stay resident through the
     * linkage (the blocking rounds take another 1/8, bk_rounds): refused
     * when they need more than half of it, before any pair is formed. */
    uint64_t mem = r->job->memory_per_rank ? r->job->memory_per_rank
                                           : PL_DEFAULT_MEMORY;
    uint64_t nrec = s->p_count, mx = 0;
    for (size_t k = 0; k < s->nq; k++)
        nrec += s->q[k].count;
    /* a record, its key, its leaf keys under the rules but the last
     * (blocking.h, pl_bk_params.leaf); plus 8 MiB for the term-frequency
     * sketches (4 MiB a name field, freed before the blocking) */
    uint64_t nleaf = pl_bk_leaf_rules(c);
    uint64_t need = nrec * (s->rs + 8 + 8 * nleaf) + (8ull << 20);
    PL_MPI_CHECK(MPI_Allreduce(&need, &mx, 1, MPI_UINT64_T, MPI_MAX,
                               r->comm));
    if (mx > mem / 2) {
        pl_err0("%s: options.memory_per_rank: the linkage keeps the matching "
                "fields of each rank's records in memory, %.1f MiB on the "
                "largest rank, more than half of memory_per_rank (%.1f "
                "MiB); raise memory_per_rank or run more ranks",
                r->job->path, (double)mx / 1048576.0,
                (double)mem / 1048576.0);
        return -1;
    }
    term_freqs(r);
    s->t_prepare = MPI_Wtime() - t0;
    s->cpu_prepare = cpu_now() - c0;
    return 0;
}

/* An opposed person's row stays a candidate, so that a record of that
 * person is recognised (and left out like the person's other records,
 * mark_opposed), under a stand-in pid never written: keyed, the first
 * 16 bytes of HMAC(platform key, "pseudolink/opp01" || row, 8 bytes
 * big-endian); random mode, 16 random bytes. */
static void opposed_pid(pl_run *r, uint64_t row, uint8_t pid[16])
{
    struct pl_probalink_state *s = r->probalink;
    if (r->job->mode == PL_MODE_KEYED) {
        uint8_t msg[24], out[32];
        memcpy(msg, "pseudolink/opp01", 16);
        for (int b = 0; b < 8; b++)
            msg[16 + b] = (uint8_t)(row >> (56 - 8 * b));
        pl_hmac(&r->platform, msg, sizeof msg, out);
        memcpy(pid, out, 16);
    } else if (RAND_bytes(pid, 16) != 1)
        memcpy(pid, &row, 8), memset(pid + 8, 0xA5, 8);
    if ((s->n_opp & (s->n_opp - 1)) == 0)      /* 0, 1, 2, 4, ...: double */
        s->opp = pl_xrealloc(s->opp, (s->n_opp ? 2 * s->n_opp : 1) * 16);
    memcpy(s->opp + 16 * s->n_opp++, pid, 16);
}

int pl_probalink_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                       const uint8_t *why, const uint8_t *pids)
{
    struct pl_probalink_state *s = r->probalink;
    if (!s || si != s->psi)
        return 0;
    uint64_t k = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t row = lo + i;          /* in this rank's block */
        if (row >= s->p_count || (why[i] && why[i] != PL_R_OPPOSED)) {
            k += !why[i];
            continue;
        }
        pl_fs_hdr *h = (pl_fs_hdr *)(s->P + row * s->srs);
        if (why[i] == PL_R_OPPOSED)
            opposed_pid(r, s->p_first + row, h->pid);
        else
            memcpy(h->pid, pids + 16 * k++, 16);
        s->p_ok[row] = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Model and scoring */

typedef struct {
    const pl_linkage_cfg *c;
    double *counts;
    const pl_fs_model *mo;
    qsrc *q;
    cand *cv;
    size_t nc, capc;
    double lower;
} pass_ctx;

static int count_pair(const uint8_t *p, const uint8_t *q, void *ctx)
{
    pass_ctx *x = ctx;
    uint8_t lev[PL_LK_MAX_FIELDS];
    x->counts[pl_fs_compare(x->c, p, q, lev)] += 1.0;
    return 0;
}

static int score_pair(const uint8_t *p, const uint8_t *q, void *ctx)
{
    pass_ctx *x = ctx;
    uint8_t lev[PL_LK_MAX_FIELDS];
    pl_fs_compare(x->c, p, q, lev);
    double w = pl_fs_weight(x->mo, x->c, lev, q);
    int b = (int)floor(w - HIST_LO);
    b = b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b;
    x->q->hist[b]++;
    if (w > -34)        /* below, P * 2^32 < 1/4: rounds to 0 (no exp2) */
        x->q->hist_pq[b] += (uint64_t)llround(pl_fs_prob(w) * 4294967296.0);
    if (w >= x->lower) {
        if (x->nc == x->capc) {
            x->capc = x->capc ? 2 * x->capc : 4096;
            x->cv = pl_xrealloc(x->cv, x->capc * sizeof *x->cv);
        }
        cand *cd = &x->cv[x->nc++];
        const pl_fs_hdr *hp = (const pl_fs_hdr *)p,
                        *hq = (const pl_fs_hdr *)q;
        cd->q = hq->id;
        cd->p = hp->id;
        memcpy(cd->pid, hp->pid, 16);
        cd->w = w;
    }
    return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return b ? (a + b - 1) / b : a;
}

static void sum_stats(MPI_Comm comm, pl_bk_stats *st)
{
    uint64_t v[5] = {st->pairs, st->dups, st->capped_blocks,
                     st->capped_pairs, st->split_blocks};
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 5, MPI_UINT64_T, MPI_SUM,
                               comm));
    st->split_blocks = v[4];
    st->pairs = v[0];
    st->dups = v[1];
    st->capped_blocks = v[2];
    st->capped_pairs = v[3];
}

static void warn_capped(pl_run *r, const pl_lk_rule *rule,
                        const pl_bk_stats *st)
{
    if (r->rank == 0 && st->split_blocks)
        pl_warn("linkage: blocking rule '%s': %llu block%s above max_block "
                "(%llu records a side) split by %s; %llu still above it "
                "capped; %llu pairs not compared",
                rule->text, (unsigned long long)st->split_blocks,
                st->split_blocks > 1 ? "s" : "",
                (unsigned long long)r->job->linkage->max_block,
                rule->split_text, (unsigned long long)st->capped_blocks,
                (unsigned long long)st->capped_pairs);
    else if (r->rank == 0 && st->capped_blocks)
        pl_warn("linkage: blocking rule '%s': %llu block%s above max_block "
                "(%llu records a side) capped, %llu pairs not compared",
                rule->text, (unsigned long long)st->capped_blocks,
                st->capped_blocks > 1 ? "s" : "",
                (unsigned long long)r->job->linkage->max_block,
                (unsigned long long)st->capped_pairs);
}

static uint64_t bk_rounds(pl_run *r, uint64_t nrec)
{
    /* 1/16 of memory_per_rank of routed records per round and rank (sent
     * and received: 1/8): fewer rounds, fewer collective steps. A block
     * held whole (a capped leaf, a rule with split: []) may bring one rank
     * up to every rank's share of a round: with many ranks the share is
     * at most max(64 MiB, memory_per_rank / (8 x ranks)), so that one
     * rank receives at most max(ranks x 64 MiB, memory_per_rank / 8). */
    struct pl_probalink_state *s = r->probalink;
    uint64_t mem = r->job->memory_per_rank ? r->job->memory_per_rank
                                           : PL_DEFAULT_MEMORY;
    uint64_t skew = mem / (8 * (uint64_t)r->size);
    if (skew < (64ull << 20))
        skew = 64ull << 20;
    /* a routed record carries the earlier rules' leaf keys */
    const pl_linkage_cfg *c = r->job->linkage;
    uint64_t nleaf = pl_bk_leaf_rules(c);
    uint64_t bytes = nrec * (s->rs + 8 * nleaf) * 2,
             lim = mem / 16 < skew ? mem / 16 : skew;
    if (lim < 4096)
        lim = 4096;
    uint64_t mx = 0;
    PL_MPI_CHECK(MPI_Allreduce(&bytes, &mx, 1, MPI_UINT64_T, MPI_MAX,
                               r->comm));
    return div_up(mx, lim) ? div_up(mx, lim) : 1;
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Rank owning `row` of n rows in pl_block's distribution. */
static uint64_t u64_key(const void *x)
{
    return *(const uint64_t *)x;
}

static int block_owner(uint64_t n, int size, uint64_t row)
{
    uint64_t q = n / (uint64_t)size, rem = n % (uint64_t)size;
    if (row < rem * (q + 1))
        return (int)(row / (q + 1));
    return q ? (int)(rem + (row - rem * (q + 1)) / q) : size - 1;
}

typedef struct {
    uint8_t *v;                 /* received records, n of recsize */
    size_t   n, cap, recsize;
} recv_buf;

static int append_recv(const uint8_t *recv, size_t n, uint8_t *reply,
                       void *ctx)
{
    (void)reply;
    recv_buf *b = ctx;
    if (n == 0)     /* nothing received: b->v may still be NULL */
        return 0;
    if (b->n + n > b->cap) {
        b->cap = b->n + n > 2 * b->cap ? b->n + n : 2 * b->cap;
        b->v = pl_xrealloc(b->v, (b->cap + 1) * b->recsize);
    }
    memcpy(b->v + b->n * b->recsize, recv, n * b->recsize);
    b->n += n;
    return 0;
}

/* Collective: records of recsize bytes, whose first 8 bytes are a row of
 * n rows, to the row's owner (pl_block). Allocates *out (*nout records). */
static int route_by_row(pl_run *r, const uint8_t *recs, size_t nrec,
                        size_t recsize, uint64_t n, uint8_t **out,
                        size_t *nout)
{
    uint64_t *counts = pl_xcalloc((size_t)r->size, sizeof *counts);
    uint64_t *pos = pl_xcalloc((size_t)r->size, sizeof *pos);
    for (size_t i = 0; i < nrec; i++) {
        uint64_t row;
        memcpy(&row, recs + i * recsize, 8);
        counts[block_owner(n, r->size, row)]++;
    }
    for (int d = 1; d < r->size; d++)
        pos[d] = pos[d - 1] + counts[d - 1];
    uint8_t *g = pl_xmalloc_huge(nrec * recsize + 1);
    for (size_t i = 0; i < nrec; i++) {
        uint64_t row;
        memcpy(&row, recs + i * recsize, 8);
        memcpy(g + pos[block_owner(n, r->size, row)]++ * recsize,
               recs + i * recsize, recsize);
    }
    recv_buf b = {NULL, 0, 0, recsize};
    int rc = pl_route(r->comm, g, counts, recsize, r->cap, append_recv, &b,
                      0, NULL, NULL);
    pl_wipe(g, nrec * recsize);
    free(g);
    free(counts);
    free(pos);
    *out = b.v ? b.v : pl_xmalloc(recsize);
    *nout = b.n;
    return rc;
}

/* Collective: rows [first, first+count) of the truth of `src` (n rows in
 * all) into *out; 0 when the store has none (or not of n rows), 1 when
 * read, -1 on error (every rank). */
static int read_truth(pl_run *r, const char *src, uint64_t n, uint64_t first,
                      uint64_t count, uint64_t **out)
{
    char path[PL_NAME_MAX + 32];
    snprintf(path, sizeof path, "/truth/%s/person", src);
    *out = NULL;
    htri_t ex = H5Lexists(r->store.file, "/truth", H5P_DEFAULT);
    char gp[PL_NAME_MAX + 16];
    snprintf(gp, sizeof gp, "/truth/%s", src);
    if (ex > 0)
        ex = H5Lexists(r->store.file, gp, H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(r->store.file, path, H5P_DEFAULT);
    if (ex <= 0)
        return 0;
    hid_t d = H5Dopen2(r->store.file, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 1)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (nd != 1 || dims[0] != n) {
        H5Dclose(d);
        return 0;
    }
    uint64_t *t = pl_xmalloc_huge(count * 8 + 8);
    int ok = pl_store_read(&r->store, d, path, H5T_NATIVE_UINT64, first,
                           count, 0, t, r->dxpl) == 0;
    H5Dclose(d);
    if (!pl_all_ok(r->comm, ok)) {
        free(t);
        return -1;
    }
    *out = t;
    return 1;
}

typedef struct {
    const uint64_t *v;          /* persons truth: block rows, or sorted */
    uint64_t first, n;
} truth_ctx;

/* Reply the truth of person rows (8-byte queries) from this rank's block. */
static int serve_truth_row(const uint8_t *recv, size_t n, uint8_t *reply,
                           void *ctx)
{
    const truth_ctx *t = ctx;
    for (size_t i = 0; i < n; i++) {
        uint64_t row;
        memcpy(&row, recv + 8 * i, 8);
        if (row < t->first || row - t->first >= t->n)
            return -1;
        memcpy(reply + 8 * i, &t->v[row - t->first], 8);
    }
    return 0;
}

static void truth_key(uint64_t v, uint8_t *rec)
{
    uint64_t h = pl_hash64(&v, 8, 11);
    for (int i = 0; i < 8; i++)
        rec[i] = (uint8_t)(h >> (56 - 8 * i));
    memcpy(rec + 8, &v, 8);
}

/* Collective: n truth values to the owner of their hash (truth_key);
 * *out (malloc'd, *nout values) what this rank owns, sorted. Returns 0 or
 * -1 on every rank. */
static int truth_at_owners(pl_run *r, const uint64_t *v, uint64_t n,
                           uint64_t **out, uint64_t *nout)
{
    uint8_t *recs = pl_xmalloc_huge(n * 16 + 16), *got = NULL;
    for (uint64_t i = 0; i < n; i++)
        truth_key(v[i], recs + 16 * i);
    uint64_t ng = 0;
    int rc = pl_route_gather(r->comm, recs, n, 16, r->cap, &got, &ng, NULL);
    free(recs);
    uint64_t *o = pl_xmalloc_huge(ng * 8 + 8);
    for (uint64_t i = 0; rc == 0 && i < ng; i++)
        memcpy(&o[i], got + 16 * i + 8, 8);
    free(got);
    if (rc == 0)
        pl_sort_keyed(o, ng, 8, u64_key, u64_cmp);
    *out = o;
    *nout = rc == 0 ? ng : 0;
    return rc;
}

/* Collective: true precision and recall from /truth when the store has it
 * (synthetic data): a link is right when its record's and its person's
 * truth agree; recall counts the records whose person is a person of the
 * run (their truth value among the persons'). prow: this rank's rows'
 * linked person rows (UINT64_MAX: not linked). */
static int true_quality(pl_run *r, qsrc *q, const uint64_t *prow)
{
    const pl_linkage_cfg *c = r->job->linkage;
    uint64_t npr = r->store.src[c->persons_index].nrows, pf, pc;
    pl_block(npr, r->rank, r->size, &pf, &pc);
    uint64_t *tq = NULL, *tp = NULL;
    int h1 = read_truth(r, q->name, q->nrows, q->first, q->count, &tq);
    int h2 = h1 > 0 ? read_truth(r, c->persons, npr, pf, pc, &tp) : 0;
    if (h1 <= 0 || h2 <= 0) {
        free(tq);
        free(tp);
        return h1 < 0 || h2 < 0 ? -1 : 0;
    }
    /* the linked persons' truth, from their row's owner */
    uint64_t nl = 0;
    for (uint64_t i = 0; i < q->count; i++)
        nl += prow[i] != UINT64_MAX;
    uint64_t *qr = pl_xmalloc_huge(nl * 8 + 8), *ans = pl_xmalloc_huge(nl * 8 + 8);
    uint64_t *qi = pl_xmalloc_huge(nl * 8 + 8);
    uint64_t *counts = pl_xcalloc((size_t)r->size, sizeof *counts);
    uint64_t *pos = pl_xcalloc((size_t)r->size, sizeof *pos);
    for (uint64_t i = 0; i < q->count; i++)
        if (prow[i] != UINT64_MAX)
            counts[block_owner(npr, r->size, prow[i])]++;
    for (int d = 1; d < r->size; d++)
        pos[d] = pos[d - 1] + counts[d - 1];
    for (uint64_t i = 0; i < q->count; i++)
        if (prow[i] != UINT64_MAX) {
            uint64_t at = pos[block_owner(npr, r->size, prow[i])]++;
            qr[at] = prow[i];
            qi[at] = i;
        }
    truth_ctx tc = {tp, pf, pc};
    int rc = pl_route(r->comm, (const uint8_t *)qr, counts, 8, r->cap,
                      serve_truth_row, &tc, 8, (uint8_t *)ans, NULL);
    uint64_t v[3] = {0, 0, 0};          /* tp, fp, pos */
    for (uint64_t k = 0; k < nl && rc == 0; k++) {
        if (ans[k] == tq[qi[k]])
            v[0]++;
        else
            v[1]++;
    }
    free(qr);
    free(qi);
    free(ans);
    free(counts);
    free(pos);
    /* recall's denominator: the persons' truth values and the records'
     * at a hash's owner, each sorted, merged there (a bsearch a record
     * was most of this at 10 M) */
    uint64_t *pv = NULL, *qv = NULL, ngot = 0, nqg = 0;
    if (rc == 0)
        rc = truth_at_owners(r, tp, pc, &pv, &ngot);
    if (rc == 0)
        rc = truth_at_owners(r, tq, q->count, &qv, &nqg);
    for (uint64_t i = 0, j = 0; i < nqg && rc == 0; i++) {
        while (j < ngot && pv[j] < qv[i])
            j++;
        v[2] += j < ngot && pv[j] == qv[i];
    }
    free(qv);
    free(pv);
    free(tq);
    free(tp);
    if (rc != 0) {
        pl_err0("linkage: %s: /truth: a linked person row outside the "
                "persons' truth", q->name);
        return -1;
    }
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_UINT64_T, MPI_SUM,
                               r->comm));
    uint64_t tpn = v[0], fpn = v[1];
    q->has_truth = 1;
    q->t_tp = tpn;
    q->t_fp = fpn;
    q->t_pos = v[2];
    q->t_precision = tpn + fpn ? (double)tpn / (double)(tpn + fpn) : 1;
    q->t_recall = v[2] ? (double)tpn / (double)v[2] : 1;
    q->t_f1 = q->t_precision + q->t_recall > 0
                  ? 2 * q->t_precision * q->t_recall /
                        (q->t_precision + q->t_recall)
                  : 0;
    return 0;
}

static int cand_row_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* The candidates of this rank's rows [first, first + count) in row order,
 * each row's by cand_row_cmp: a counting sort by row (the rows are dense
 * here) into a new array, then each row's few candidates in place. The
 * order is qsort's by cand_row_cmp (a total order). Frees cv. */
static cand *cands_by_row(cand *cv, size_t nc, uint64_t first,
                          uint64_t count)
{
    uint64_t *at = pl_xcalloc_huge((count + 1) * sizeof *at);
    for (size_t i = 0; i < nc; i++)
        at[cv[i].q - first + 1]++;
    for (uint64_t i = 0; i < count; i++)
        at[i + 1] += at[i];
    cand *out = pl_xmalloc_huge((nc + 1) * sizeof *out);
    for (size_t i = 0; i < nc; i++)
        out[at[cv[i].q - first]++] = cv[i];
    pl_wipe(cv, nc * sizeof *cv);
    free(cv);
    /* at[i] is now the end of row i's run */
    for (uint64_t i = 0, b = 0; i < count; b = at[i++]) {
        uint64_t e = at[i];
        if (e - b > 16)
            qsort(out + b, e - b, sizeof *out, cand_row_cmp);
        else
            for (uint64_t k = b + 1; k < e; k++) {
                cand t = out[k];
                uint64_t j = k;
                while (j > b && cand_row_cmp(&out[j - 1], &t) > 0) {
                    out[j] = out[j - 1];
                    j--;
                }
                out[j] = t;
            }
    }
    free(at);
    return out;
}

/* A new person's pid (docs/LINKAGE.md, Method 5): keyed, the first 16
 * bytes of HMAC(platform, "pseudolink/noid1" || dom || row, big-endian),
 * dom = SHA-256(source)[0:24]; random mode, 16 random bytes. -1 when no
 * random bytes. Not collective. */
static void noid_domain(const char *src, uint8_t dom[24])
{
    uint8_t hsh[32];
    EVP_Digest(src, strlen(src), hsh, NULL, EVP_sha256(), NULL);
    memcpy(dom, hsh, 24);
}

static int noid_pid(pl_run *r, const uint8_t dom[24], uint64_t row,
                    uint8_t pid[16])
{
    if (r->job->mode != PL_MODE_KEYED)
        return RAND_bytes(pid, 16) == 1 ? 0 : -1;
    uint8_t msg[48], out[32];
    memcpy(msg, "pseudolink/noid1", 16);
    memcpy(msg + 16, dom, 24);
    for (int b = 0; b < 8; b++)
        msg[40 + b] = (uint8_t)(row >> (56 - 8 * b));
    pl_hmac(&r->platform, msg, sizeof msg, out);
    memcpy(pid, out, 16);
    pl_wipe(out, sizeof out);
    return 0;
}

/* Collective: decisions for this rank's rows of q from the candidates of
 * its rows (cv, nc: every candidate of a row is here, sorted by
 * cands_by_row). The one-to-one
 * assignment is the greedy's, best weight first, ties by row then person
 * row (par/assign.h), over the candidates at or above upper; then per
 * row: linked, or review with its best MAX_REVIEW candidates, or new.
 * prow[i]: the linked person row of row first+i (UINT64_MAX: none). */
static int decide(pl_run *r, qsrc *q, cand *cv, size_t nc, uint64_t *prow)
{
    const pl_linkage_cfg *c = r->job->linkage;
    uint64_t np = r->store.src[c->persons_index].nrows;
    pl_as_edge *e = pl_xmalloc_huge(nc * sizeof *e + 1);
    size_t *ei = pl_xmalloc_huge(nc * sizeof *ei + 1), ne = 0;
    for (size_t i = 0; i < nc; i++)
        if (cv[i].w >= c->upper && cv[i].p < np) {
            e[ne] = (pl_as_edge){cv[i].q, cv[i].p, cv[i].w};
            ei[ne++] = i;
        }
    uint8_t *m = pl_xmalloc_huge(ne + 1);
    pl_as_stats ast = {0};
    int rc = pl_assign(r->comm, e, ne, m, &ast);
    free(e);
    q->as_edges = ne;
    q->as_rounds = ast.rounds;
    q->status = pl_xmalloc_huge(q->count + 1);
    q->weight = pl_xmalloc_huge(q->count * 8 + 8);
    q->pid = pl_xcalloc_huge(q->count * 16 + 16);
    for (uint64_t i = 0; i < q->count; i++) {
        q->status[i] = ST_NEW;
        q->weight[i] = NAN;
        prow[i] = UINT64_MAX;
    }
    if (rc != 0) {
        free(ei);
        free(m);
        return -1;
    }
    /* sum of the links' probabilities in 2^-32 units: exact, the same
     * whatever the rank count */
    /* link, review, new, sum of the links' P, sum of the best P a row */
    uint64_t v[5] = {0, 0, 0, 0, 0};
    for (size_t k = 0; k < ne; k++) {
        if (!m[k])
            continue;
        const cand *cd = &cv[ei[k]];
        uint64_t i = cd->q - q->first;
        q->status[i] = ST_LINK;
        q->weight[i] = cd->w;
        memcpy(q->pid + 16 * i, cd->pid, 16);
        prow[i] = cd->p;
        v[0]++;
        v[3] += (uint64_t)llround(pl_fs_prob(cd->w) * 4294967296.0);
    }
    free(ei);
    free(m);
    /* per row: its best candidate's weight; the review list of a row left
     * unlinked (its candidates are all at or above lower) */
    q->review = pl_xmalloc((nc + 1) * sizeof *q->review);
    q->n_rev = 0;
    for (size_t i = 0; i < nc;) {
        size_t j = i;
        uint64_t row = cv[i].q - q->first;
        while (j < nc && cv[j].q == cv[i].q)
            j++;
        v[4] += (uint64_t)llround(pl_fs_prob(cv[i].w) * 4294967296.0);
        if (q->status[row] != ST_LINK) {
            q->weight[row] = cv[i].w;
            q->status[row] = ST_REVIEW;
            for (size_t k = i; k < j && k - i < MAX_REVIEW; k++)
                q->review[q->n_rev++] = cv[k];
        }
        i = j;
    }
    for (uint64_t i = 0; i < q->count; i++) {
        v[1] += q->status[i] == ST_REVIEW;
        v[2] += q->status[i] == ST_NEW;
    }
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 5, MPI_UINT64_T, MPI_SUM,
                               r->comm));
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &q->as_edges, 1, MPI_UINT64_T,
                               MPI_SUM, r->comm));
    q->n_link = v[0];
    q->n_review = v[1];
    q->n_new = v[2];
    /* expected matches: a record has at most one, with the probability of
     * its best candidate (docs/LINKAGE.md, "Estimated quality") */
    double sum_p = (double)v[3] / 4294967296.0;
    q->est_matches = (double)v[4] / 4294967296.0;
    q->est_precision = q->n_link ? sum_p / (double)q->n_link : 1.0;
    q->est_recall = q->est_matches > 0 ? fmin(1.0, sum_p / q->est_matches)
                                       : 1.0;
    return 0;
}

int pl_probalink_fit(pl_run *r, const uint8_t *P, uint64_t np, uint64_t NP,
                     const uint8_t *Q, uint64_t nq, uint64_t NQ, int self,
                     pl_fs_model *mo, uint64_t *random_pairs,
                     double t_phase[2])
{
    struct pl_probalink_state *s = r->probalink;
    const pl_linkage_cfg *c = s->c;
    double t0 = MPI_Wtime();
    uint32_t G = pl_fs_patterns(c);
    if (self)
        NP = NQ;
    uint64_t rounds = bk_rounds(r, np + nq);
    double *counts = pl_xcalloc_huge((size_t)G * sizeof *counts);
    pass_ctx x = {c, counts, NULL, NULL, NULL, 0, 0, c->lower};
    /* 1. u from random pairs */
    pl_bk_params bp = {.rule = -1, .seed = c->seed, .rounds = 1,
                       .cap = r->cap, .self = self, .dict = s->dict};
    bp.mod_p = div_up(NP, RANDOM_RECORDS);
    bp.mod_q = div_up(NQ, RANDOM_RECORDS);
    uint64_t sp = NP / (bp.mod_p ? bp.mod_p : 1),
             sq = NQ / (bp.mod_q ? bp.mod_q : 1);
    bp.nb = (uint64_t)fmax(1.0, (double)sp * (double)sq /
                                    (self ? 2.0 : 1.0) /
                                    (double)c->random_pairs);
    pl_bk_stats st = {0};
    if (pl_bk_run(r->comm, c, &bp, P, np, Q, nq, count_pair, &x,
                  &st) != 0)
        goto fail;
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts, (int)G, MPI_DOUBLE,
                               MPI_SUM, r->comm));
    sum_stats(r->comm, &st);
    *random_pairs = st.pairs;
    pl_fs_u_from_counts(mo, c, counts);
    mo->free_u = 0;
    double tp0 = MPI_Wtime();
    t_phase[0] = tp0 - t0;
    /* 2. m per rule on a sample of blocks; λ from the largest rule */
    double msum[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    int mn[PL_LK_MAX_FIELDS] = {0};
    memset(msum, 0, sizeof msum);
    double matches = 0;
    for (size_t ri = 0; ri < c->n_rules; ri++) {
        memset(counts, 0, (size_t)G * sizeof *counts);
        pl_bk_params tp = {.rule = (int)ri, .dedup = 0, .rounds = rounds,
                           .cap = r->cap, .self = self, .dict = s->dict};
        tp.sample_mod = div_up(NQ, TRAIN_RECORDS);
        pl_bk_stats ts = {0};
        if (pl_bk_run(r->comm, c, &tp, P, np, Q, nq, count_pair,
                      &x, &ts) != 0)
            goto fail;
        PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts, (int)G, MPI_DOUBLE,
                                   MPI_SUM, r->comm));
        uint32_t skip = 0;
        for (size_t i = 0; i < c->rules[ri].n_items; i++)
            skip |= 1u << c->rules[ri].items[i].field;
        /* m and λ: the EM with u free in the rule's blocks when its
         * solution is a match / non-match split (docs/LINKAGE.md, Method
         * 3: in a rule's blocks non-matches agree far more often than
         * random pairs, and the EM with u fixed at the random pairs' takes
         * them for matches); else the EM with u fixed */
        double mr[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
               ur[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
        uint64_t it, it2;
        double tot = 0;
        for (uint32_t g = 0; g < G; g++)
            tot += counts[g];
        /* no pair in the rule's sample: nothing fitted, no free solution
         * (the EM's start alone passed the split test on a 2-level field
         * such as sex, and @em_free_u said the rule was fitted free) */
        double lr = pl_fs_em_free_u(c, counts, skip, c->iterations, mr, ur,
                                    &it);
        if (tot > 0 && pl_fs_is_match_split(c, mo, skip, mr, ur))
            mo->free_u |= 1ull << ri;
        else {
            lr = pl_fs_em(mo, c, counts, skip, c->iterations, mr, &it2);
            it = it2 > it ? it2 : it;
        }
        if (it > mo->iterations)
            mo->iterations = it;
        double mt = lr * tot * (double)(tp.sample_mod ? tp.sample_mod : 1);
        if (mt > matches)
            matches = mt;
        for (size_t f = 0; f < c->n_fields; f++)
            if (!(skip >> f & 1) && tot > 0) {
                for (int l = 0; l < c->fields[f].n_levels; l++)
                    msum[f][l] += mr[f][l];
                mn[f]++;
            }
    }
    for (size_t f = 0; f < c->n_fields; f++) {
        int L = c->fields[f].n_levels;
        for (int l = 0; l < L; l++)
            mo->m[f][l] = mn[f] ? msum[f][l] / mn[f]
                                  : (l == 0 ? 0.95 : 0.05 / (L - 1));
    }
    /* linking: at most one match per record; deduplicating: any pair of
     * the N (N - 1) / 2 may match */
    double universe = self ? (double)NQ * (double)(NQ - (NQ > 0)) / 2.0
                           : (double)NP * (double)NQ;
    if (!self && matches > (double)(NQ < NP ? NQ : NP))
        matches = (double)(NQ < NP ? NQ : NP);
    mo->lambda = fmin(fmax(matches / (universe > 0 ? universe : 1), 1e-15),
                        0.5);
    pl_fs_finish(mo);
    t_phase[1] = MPI_Wtime() - tp0;
    free(counts);
    return 0;
fail:
    free(counts);
    return -1;
}

static int link_one(pl_run *r, qsrc *q)
{
    struct pl_probalink_state *s = r->probalink;
    const pl_linkage_cfg *c = s->c;
    double t0 = MPI_Wtime(), c0 = cpu_now();
    uint64_t np = s->p_count;
    uint64_t NP = 0, NQ = 0;
    PL_MPI_CHECK(MPI_Allreduce(&np, &NP, 1, MPI_UINT64_T, MPI_SUM, r->comm));
    NQ = q->nrows;
    uint64_t rounds = bk_rounds(r, np + q->count);
    double *counts = NULL;
    pass_ctx x = {c, counts, NULL, q, NULL, 0, 0, c->lower};
    /* 1-2. the model */
    if (pl_probalink_fit(r, s->P, np, NP, q->Q, q->count, NQ, 0, &q->mo,
                         &q->random_pairs, q->t_phase) != 0)
        goto fail;
    double tp1 = MPI_Wtime();
    /* 3. every candidate pair, scored */
    x.mo = &q->mo;
    pl_bk_stats tot = {0};
    pl_bk_caps caps[PL_LK_MAX_RULES];
    memset(caps, 0, sizeof caps);
    /* each record's leaf keys under the rules but the last (blocking.h) */
    size_t nleaf = pl_bk_leaf_rules(c);
    uint64_t *leaf = pl_bk_leaf_alloc(np + q->count, nleaf);
    for (size_t ri = 0; ri < c->n_rules; ri++) {
        pl_bk_params sp2 = {.rule = (int)ri, .dedup = 1, .split = 1,
                            .rounds = rounds, .cap = r->cap, .caps = caps,
                            .leaf = leaf, .leaf_rules = nleaf,
                            .dict = s->dict};
        pl_bk_stats ss = {0};
        int bk = pl_bk_run(r->comm, c, &sp2, s->P, np, q->Q, q->count,
                           score_pair, &x, &ss);
        /* a SIGTERM (the scheduler's, before its SIGKILL) stops the run
         * between rules, not after the whole linkage */
        if (bk == 0) {
            sum_stats(r->comm, &ss);
            bk = pl_all_ok(r->comm, !*r->stop) ? 0 : -1;
        }
        if (bk != 0) {
            pl_bk_leaf_free(leaf, np + q->count, nleaf);
            pl_bk_caps_free(caps, c->n_rules);
            goto fail;
        }
        warn_capped(r, &c->rules[ri], &ss);
        if (r->rank == 0)       /* which rule costs what: for tuning */
            pl_info("linkage %s: blocking rule '%s': %llu pairs compared, "
                    "%llu found by an earlier rule", q->name,
                    c->rules[ri].text, (unsigned long long)ss.pairs,
                    (unsigned long long)ss.dups);
        tot.pairs += ss.pairs;
        tot.dups += ss.dups;
        tot.capped_blocks += ss.capped_blocks;
        tot.capped_pairs += ss.capped_pairs;
        tot.split_blocks += ss.split_blocks;
    }
    pl_bk_leaf_free(leaf, np + q->count, nleaf);
    pl_bk_caps_free(caps, c->n_rules);
    /* the blocking's buffers (wiped) serve the decisions' (base/mem.h) */
    pl_bk_release();
    q->pairs = tot.pairs;
    q->dups = tot.dups;
    q->capped_blocks = tot.capped_blocks;
    q->capped_pairs = tot.capped_pairs;
    q->split_blocks = tot.split_blocks;
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, q->hist, HIST_BINS,
                               MPI_UINT64_T, MPI_SUM, r->comm));
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, q->hist_pq, HIST_BINS,
                               MPI_UINT64_T, MPI_SUM, r->comm));
    for (int b = 0; b < HIST_BINS; b++)
        q->hist_p[b] = (double)q->hist_pq[b] / 4294967296.0;
    double tp2 = MPI_Wtime();
    q->t_phase[2] = tp2 - tp1;
    /* 4. candidates to their row's owner (pl_block, as the outputs): every
     * candidate of a row is then on the rank that decides and writes it */
    cand *mc = NULL;
    size_t nmc = 0;
    int rr = route_by_row(r, (const uint8_t *)x.cv, x.nc, sizeof(cand), NQ,
                          (uint8_t **)&mc, &nmc);
    if (x.cv)
        pl_wipe(x.cv, x.nc * sizeof(cand));
    free(x.cv);
    x.cv = NULL;
    if (rr != 0) {
        free(mc);
        goto fail;
    }
    for (size_t i = 0; i < nmc; i++)
        if (mc[i].q < q->first || mc[i].q - q->first >= q->count) {
            pl_err("linkage: %s: a candidate routed to the wrong rank",
                   q->name);
            rr = -1;
            break;
        }
    if (!pl_all_ok(r->comm, rr == 0)) {
        free(mc);
        goto fail;
    }
    /* 5. decisions (distributed one-to-one assignment), then the truth */
    uint64_t *prow = pl_xmalloc_huge(q->count * 8 + 8);
    mc = cands_by_row(mc, nmc, q->first, q->count);
    rr = decide(r, q, mc, nmc, prow);
    pl_wipe(mc, nmc * sizeof(cand));
    free(mc);
    if (rr == 0)
        rr = true_quality(r, q, prow);

    free(prow);
    if (rr != 0)
        goto fail;
    double tp3 = MPI_Wtime();
    q->t_phase[3] = tp3 - tp2;
    /* new persons' pids, for this rank's rows */
    uint8_t dom[24];
    noid_domain(q->name, dom);
    int pok = 1;
    for (uint64_t i = 0; i < q->count && pok; i++)
        if (q->status[i] != ST_LINK)
            pok = noid_pid(r, dom, q->first + i, q->pid + 16 * i) == 0;
    if (!pl_all_ok(r->comm, pok)) {
        pl_err("linkage: %s: no random bytes for new persons' pids",
               q->name);
        goto fail;
    }
    free(counts);
    q->t_phase[4] = MPI_Wtime() - tp3;
    q->seconds = MPI_Wtime() - t0;
    q->cpu = cpu_now() - c0;
    return 0;
fail:
    free(counts);
    free(x.cv);
    return -1;
}

/* A person row's pid and row, routed to the pid's owner to find the rows
 * that repeat a pid (24 bytes: pid[0..8) is the routing key). */
typedef struct {
    uint8_t  pid[16];
    uint64_t id;
} pid_row;

static int pid_row_cmp(const void *x, const void *y)
{
    const pid_row *a = x, *b = y;
    int c = memcmp(a->pid, b->pid, 16);
    if (c)
        return c;
    return a->id < b->id ? -1 : a->id > b->id;
}

static uint64_t pid_row_key(const void *x)
{
    return pl_sort_be64(((const pid_row *)x)->pid);
}

/* Collective: the persons, one record per pid (its first row), each kept
 * on the rank that read it. A source with several rows per person (stays)
 * then gives each person one candidate; rejected rows (no pid) are
 * dropped. Only each row's pid and row number travel (24 bytes, not the
 * whole record): the pid's owner finds the rows after a pid's first, and
 * only those rows' numbers go back to the ranks that hold them. */
static int persons_by_pid(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    const pl_linkage_cfg *c = r->job->linkage;
    uint64_t npr = r->store.src[c->persons_index].nrows;
    size_t rs = s->srs;         /* stored records */
    uint64_t np = 0;
    pid_row *pr = pl_xmalloc_huge(s->p_count * sizeof *pr + sizeof *pr);
    for (uint64_t i = 0; i < s->p_count; i++)
        if (s->p_ok[i]) {
            const pl_fs_hdr *h = (const pl_fs_hdr *)(s->P + i * rs);
            memcpy(pr[np].pid, h->pid, 16);
            pr[np++].id = s->p_first + i;
        }
    uint8_t *out = NULL;
    uint64_t nout = 0;
    int rc = pl_route_gather(r->comm, (const uint8_t *)pr, np, sizeof *pr,
                             r->cap, &out, &nout, NULL);
    pl_wipe(pr, np * sizeof *pr);
    free(pr);
    if (rc != 0) {
        free(out);
        return -1;
    }
    pid_row *g = (pid_row *)out;
    pl_sort_keyed(g, nout, sizeof *g, pid_row_key, pid_row_cmp);
    /* the rows after their pid's first, as 8-byte rows for route_by_row */
    uint64_t nd = 0, *drop = (uint64_t *)out;
    for (uint64_t i = 1; i < nout; i++)
        if (memcmp(g[i - 1].pid, g[i].pid, 16) == 0)
            drop[nd++] = g[i].id;   /* nd < i: g[i] is read before */
    pl_wipe(out + nd * 8, nout * sizeof *g - nd * 8);
    uint8_t *mine = NULL;
    size_t nmine = 0;
    rc = route_by_row(r, out, nd, 8, npr, &mine, &nmine);
    free(out);
    if (rc != 0) {              /* every rank: pl_route's contract */
        free(mine);
        return -1;
    }
    for (size_t i = 0; i < nmine && rc == 0; i++) {
        uint64_t row;
        memcpy(&row, mine + 8 * i, 8);
        if (row < s->p_first || row - s->p_first >= s->p_count)
            rc = -1;
        else
            s->p_ok[row - s->p_first] = 0;
    }
    free(mine);
    if (!pl_all_ok(r->comm, rc == 0)) {
        pl_err0("linkage: persons: a repeated pid's row outside its rank");
        return -1;
    }
    uint64_t k = 0;
    for (uint64_t i = 0; i < s->p_count; i++)
        if (s->p_ok[i]) {
            if (k != i)
                memcpy(s->P + k * rs, s->P + i * rs, rs);
            memcpy(s->P + k * rs, ((pl_fs_hdr *)(s->P + k * rs))->pid, 8);
            k++;
        }
    if (k < s->p_count)
        pl_wipe(s->P + k * rs, (s->p_count - k) * rs);
    s->p_count = k;
    return 0;
}

static int mark_opposed(pl_run *r);

int pl_probalink_link(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    if (!s)
        return 0;
    if (persons_by_pid(r) != 0)
        return -1;
    for (size_t k = 0; k < s->nq; k++)
        if (!s->q[k].dedup_only && link_one(r, &s->q[k]) != 0)
            return -1;
    return mark_opposed(r);
}

static int pid_cmp(const void *x, const void *y)
{
    return memcmp(x, y, 16);
}

/* Collective: records linked to an opposed person's row become ST_OPPOSED
 * (pid wiped; rows_linked does not count them) and no opposed person is a
 * review candidate. Every rank gets every stand-in pid (16 bytes per
 * opposed row). */
static int mark_opposed(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    int mine = (int)s->n_opp, n = 0;
    int *cnt = pl_xcalloc((size_t)r->size, sizeof *cnt);
    int *dsp = pl_xcalloc((size_t)r->size, sizeof *dsp);
    PL_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, r->comm));
    for (int i = 0; i < r->size; i++) {
        dsp[i] = n * 16;
        n += cnt[i];
        cnt[i] *= 16;
    }
    uint8_t *all = pl_xmalloc_huge((size_t)n * 16 + 16);
    PL_MPI_CHECK(MPI_Allgatherv(s->opp ? s->opp : all, mine * 16, MPI_BYTE,
                                all, cnt, dsp, MPI_BYTE, r->comm));
    free(cnt);
    free(dsp);
    qsort(all, (size_t)n, 16, pid_cmp);
    for (size_t k = 0; k < s->nq && n > 0; k++) {
        qsrc *q = &s->q[k];
        uint64_t opp = 0, tot = 0;
        for (uint64_t i = 0; i < q->count; i++)
            if (q->status[i] == ST_LINK &&
                bsearch(q->pid + 16 * i, all, (size_t)n, 16, pid_cmp)) {
                q->status[i] = ST_OPPOSED;
                pl_wipe(q->pid + 16 * i, 16);
                opp++;
            }
        PL_MPI_CHECK(MPI_Allreduce(&opp, &tot, 1, MPI_UINT64_T, MPI_SUM,
                                   r->comm));
        q->n_link -= tot;
        q->n_opposed = tot;
        uint64_t m = 0;
        for (uint64_t i = 0; i < q->n_rev; i++)
            if (!bsearch(q->review[i].pid, all, (size_t)n, 16, pid_cmp))
                q->review[m++] = q->review[i];
        q->n_rev = m;
    }
    pl_wipe(all, (size_t)n * 16);
    free(all);
    return 0;
}

int pl_probalink_links(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    /* linkage.sources only (r->store.lsrc): a source in linkage.dedup
     * alone is written by stage/dedup.c, outside the cross-link index */
    for (size_t k = 0; s && k < s->nq && k < r->store.n_lsrc; k++) {
        qsrc *q = &s->q[k];
        if (q->dedup_only)
            continue;
        pl_src_state *ss = &r->lss[k];
        uint8_t *skip = pl_xcalloc(q->count + 1, 1);
        memset(ss, 0, sizeof *ss);
        for (uint64_t i = 0; i < q->count; i++)
            ss->opposed += skip[i] = q->status[i] == ST_OPPOSED;
        ss->kept = q->count - ss->opposed;
        pl_exscan(r->comm, ss->kept, &ss->kept_off, &ss->kept_total);
        uint64_t off;
        pl_exscan(r->comm, ss->opposed, &off, &ss->opposed_total);
        int rc = pl_link_rows(r, r->store.n_src + k, q->first, q->count,
                              q->pid, skip);
        free(skip);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int pl_probalink_rows(const pl_run *r, size_t k, pl_probalink_out *out)
{
    const struct pl_probalink_state *s = r->probalink;
    if (!s || k >= s->nq || s->q[k].dedup_only)
        return -1;
    const qsrc *q = &s->q[k];
    out->nrows = q->nrows;
    out->first = q->first;
    out->count = q->count;
    out->status = q->status;
    out->weight = q->weight;
    out->pid = q->pid;
    out->n_link = q->n_link;
    out->n_review = q->n_review;
    out->n_new = q->n_new;
    out->n_opposed = q->n_opposed;
    return 0;
}

int pl_probalink_source(pl_run *r, const char *name, pl_probalink_src *out)
{
    struct pl_probalink_state *s = r->probalink;
    for (size_t k = 0; s && k < s->nq; k++) {
        qsrc *q = &s->q[k];
        if (strcmp(q->name, name) != 0)
            continue;
        out->nrows = q->nrows;
        out->first = q->first;
        out->count = q->count;
        out->Q = q->Q;
        out->dict = s->dict;
        out->linked = !q->dedup_only;
        out->status = q->status;
        out->pid = q->pid;
        return 0;
    }
    return -1;
}

/* For stage/dedup.c (probalink.h). */

int pl_probalink_oppose(pl_run *r, const char *name, const uint8_t *opp)
{
    struct pl_probalink_state *s = r->probalink;
    qsrc *q = NULL;
    for (size_t k = 0; s && k < s->nq && !q; k++)
        if (!s->q[k].dedup_only && strcmp(s->q[k].name, name) == 0)
            q = &s->q[k];
    uint64_t v[3] = {0, 0, 0}, t[3];   /* linked, review, new */
    for (uint64_t i = 0; q && i < q->count; i++)
        if (opp[i] && q->status[i] != ST_OPPOSED) {
            v[q->status[i] == ST_LINK ? 0 : q->status[i] == ST_REVIEW ? 1
                                                                      : 2]++;
            q->status[i] = ST_OPPOSED;
            pl_wipe(q->pid + 16 * i, 16);
        }
    PL_MPI_CHECK(MPI_Allreduce(v, t, 3, MPI_UINT64_T, MPI_SUM, r->comm));
    if (!q)
        return 0;
    q->n_link -= t[0];
    q->n_review -= t[1];
    q->n_new -= t[2];
    q->n_opposed += t[0] + t[1] + t[2];
    uint64_t m = 0;
    for (uint64_t i = 0; i < q->n_rev; i++)
        if (q->status[q->review[i].q - q->first] != ST_OPPOSED)
            q->review[m++] = q->review[i];
    q->n_rev = m;
    return 0;
}


uint64_t pl_probalink_rounds(pl_run *r, uint64_t nrec)
{
    return bk_rounds(r, nrec);
}

int pl_probalink_truth(pl_run *r, const char *src, uint64_t n,
                       uint64_t **out)
{
    return read_truth(r, src, n, 0, r->rank == 0 ? n : 0, out);
}

int pl_probalink_new_pid(pl_run *r, const char *src, uint64_t row,
                         uint8_t pid[16])
{
    uint8_t dom[24];
    noid_domain(src, dom);
    return noid_pid(r, dom, row, pid);
}

/* ------------------------------------------------------------------------
 * Outputs */

static void hexpid(const uint8_t *p, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
}

/* A step of an output written by every rank: its result on all ranks, so
 * that they stop at the same step (a write failing on one rank only, a
 * full file system, must not leave the others in the next collective). */
static int aok(pl_run *r, int v)
{
    return pl_all_ok(r->comm, v);
}

int pl_probalink_put_model(pl_run *r, hid_t g, const char *fname,
                           const pl_fs_model *mo)
{
    const pl_linkage_cfg *c = r->job->linkage;
    size_t nl = 0;
    for (size_t i = 0; i < c->n_fields; i++)
        nl += (size_t)c->fields[i].n_levels;
    double *m = pl_xmalloc(nl * 8 + 8), *u = pl_xmalloc(nl * 8 + 8),
           *w = pl_xmalloc(nl * 8 + 8);
    uint16_t *fi = pl_xmalloc(nl * 2 + 2), *li = pl_xmalloc(nl * 2 + 2);
    size_t k = 0;
    for (size_t i = 0; i < c->n_fields; i++)
        for (int l = 0; l < c->fields[i].n_levels; l++, k++) {
            m[k] = mo->m[i][l];
            u[k] = mo->u[i][l];
            w[k] = mo->w[i][l];
            fi[k] = (uint16_t)i;
            li[k] = (uint16_t)l;
        }
    const char *fn[PL_LK_MAX_FIELDS], *rn[PL_LK_MAX_RULES];
    for (size_t i = 0; i < c->n_fields; i++)
        fn[i] = c->fields[i].name;
    for (size_t i = 0; i < c->n_rules; i++)
        rn[i] = c->rules[i].text;
    int ok = aok(r, pl_h5_put(g, fname, "m", H5T_IEEE_F64LE, nl, 0, m, 1,
                              r->dxpl) == 0) &&
             aok(r, pl_h5_put(g, fname, "u", H5T_IEEE_F64LE, nl, 0, u, 1,
                              r->dxpl) == 0) &&
             aok(r, pl_h5_put(g, fname, "weight", H5T_IEEE_F64LE, nl, 0, w,
                              1, r->dxpl) == 0) &&
             aok(r, pl_h5_put(g, fname, "field", H5T_STD_U16LE, nl, 0, fi, 1,
                              r->dxpl) == 0) &&
             aok(r, pl_h5_put(g, fname, "level", H5T_STD_U16LE, nl, 0, li, 1,
                              r->dxpl) == 0) &&
             aok(r, pl_attr_strlist(g, "fields", fn, c->n_fields) == 0) &&
             aok(r, pl_attr_strlist(g, "blocking", rn, c->n_rules) == 0);
    free(m);
    free(u);
    free(w);
    free(fi);
    free(li);
    return ok;
}

/* /review/<source> and /linkage/<source>; /linked/<source> is linked.c's
 * (pl_probalink_rows). */
static int write_source(pl_run *r, hid_t f, const char *fname, qsrc *q)
{
    const pl_linkage_cfg *c = r->job->linkage;
    int ok = 1;
    hid_t s32 = pl_str_type(32);
    /* review: each rank holds its rows' lists, in row order: written at
     * the offset of the ranks before it */
    uint64_t rev_off = 0, nrev = 0;
    pl_exscan(r->comm, q->n_rev, &rev_off, &nrev);
    hid_t gr = ok ? pl_h5_group(f, "review") : -1;
    hid_t g2 = gr >= 0 ? pl_h5_group(gr, q->name) : -1;
    ok &= g2 >= 0;
    if (ok) {
        uint64_t n = q->n_rev;
        uint64_t *rows = pl_xmalloc_huge(n * 8 + 8);
        char *hex = pl_xmalloc_huge(n * 32 + 1);
        double *w = pl_xmalloc_huge(n * 8 + 8);
        for (uint64_t i = 0; i < n; i++) {
            rows[i] = q->review[i].q;
            hexpid(q->review[i].pid, hex + 32 * i);
            w[i] = q->review[i].w;
        }
        struct { const char *n; hid_t t; const void *b; } ds[] = {
            {"row", H5T_STD_U64LE, rows},
            {"pid", s32, hex},
            {"weight", H5T_IEEE_F64LE, w}};
        for (size_t i = 0; i < 3 && ok; i++) {
            hid_t d = pl_h5_dataset(fname, g2, ds[i].n, ds[i].t, nrev, 0);
            ok = aok(r, d >= 0 && pl_h5_write_rows(fname, d, ds[i].n,
                                                   ds[i].t, rev_off, n, 0,
                                                   ds[i].b, r->dxpl) == 0);
            if (d >= 0)
                H5Dclose(d);
        }
        free(rows);
        free(hex);
        free(w);
    }
    if (g2 >= 0)
        H5Gclose(g2);
    if (gr >= 0)
        H5Gclose(gr);
    /* the model and the report */
    hid_t gk = ok ? pl_h5_group(f, "linkage") : -1;
    hid_t g3 = gk >= 0 ? pl_h5_group(gk, q->name) : -1;
    ok &= g3 >= 0;
    if (ok) {
        double edges[HIST_BINS + 1];
        for (int b = 0; b <= HIST_BINS; b++)
            edges[b] = HIST_LO + b;
        ok = pl_probalink_put_model(r, g3, fname, &q->mo) &&
             aok(r, pl_h5_put(g3, fname, "hist_edges", H5T_IEEE_F64LE,
                       HIST_BINS + 1, 0, edges, 1, r->dxpl) == 0) &&
             aok(r, pl_h5_put(g3, fname, "hist_pairs", H5T_STD_U64LE, HIST_BINS, 0,
                       q->hist, 1, r->dxpl) == 0) &&
             aok(r, pl_h5_put(g3, fname, "hist_expected_matches", H5T_IEEE_F64LE,
                       HIST_BINS, 0, q->hist_p, 1, r->dxpl) == 0) &&
             aok(r, pl_attr_str(g3, "persons", c->persons) == 0) &&
             aok(r, pl_attr_f64(g3, "lambda", q->mo.lambda) == 0) &&
             aok(r, pl_attr_f64(g3, "prior_weight", q->mo.prior_w) == 0) &&
             aok(r, pl_attr_f64(g3, "lower", c->lower) == 0) &&
             aok(r, pl_attr_f64(g3, "upper", c->upper) == 0) &&
             aok(r, pl_attr_u64(g3, "em_iterations", q->mo.iterations) == 0) &&
             aok(r, pl_attr_u64(g3, "em_free_u", q->mo.free_u) == 0) &&
             aok(r, pl_attr_u64(g3, "em_seed", c->seed) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_compared", q->pairs) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_duplicate", q->dups) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_random", q->random_pairs) == 0) &&
             aok(r, pl_attr_u64(g3, "blocks_capped", q->capped_blocks) == 0) &&
             aok(r, pl_attr_u64(g3, "blocks_split", q->split_blocks) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_capped", q->capped_pairs) == 0) &&
             aok(r, pl_attr_f64(g3, "estimated_precision", q->est_precision) == 0) &&
             aok(r, pl_attr_f64(g3, "estimated_recall", q->est_recall) == 0);
        /* Encoded fields: their parameters (never the secret). */
        char *et[PL_LK_MAX_FIELDS];
        size_t ne = 0;
        for (size_t f = 0; f < c->n_fields; f++)
            if ((et[ne] = pl_pprl_params_text(r, f)))
                ne++;
        if (ok && ne)
            ok = aok(r, pl_attr_strlist(g3, "encodings", (const char *const *)et,
                                 ne) == 0);
        for (size_t f = 0; f < ne; f++)
            free(et[f]);
        if (ok && q->has_truth)
            ok = aok(r, pl_attr_f64(g3, "true_precision", q->t_precision) == 0) &&
                 aok(r, pl_attr_f64(g3, "true_recall", q->t_recall) == 0) &&
                 aok(r, pl_attr_f64(g3, "true_f1", q->t_f1) == 0);
    }
    if (g3 >= 0)
        H5Gclose(g3);
    if (gk >= 0)
        H5Gclose(gk);
    H5Tclose(s32);
    return ok ? 0 : -1;
}

/* Rank 0: an SVG histogram of the match weights (log scale counts), the
 * thresholds drawn as vertical lines. */
static int write_svg(pl_run *r, const qsrc *q, const char *path)
{
    const pl_linkage_cfg *c = r->job->linkage;
    FILE *f = fopen(path, "w");
    if (!f) {
        pl_err("%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    fchmod(fileno(f), 0640);
    const int W = 800, H = 400, L = 60, B = 340, T = 40;
    double mx = 1;
    for (int b = 0; b < HIST_BINS; b++)
        mx = fmax(mx, log10(1.0 + (double)q->hist[b]));
    double bw = (double)(W - L - 20) / HIST_BINS;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H);
    fprintf(f, "<title>match weights: %s</title>\n", q->name);
    fprintf(f, "<text x=\"%d\" y=\"20\">%s: %llu pairs compared, %llu "
            "linked, %llu to review, %llu new</text>\n", L, q->name,
            (unsigned long long)q->pairs, (unsigned long long)q->n_link,
            (unsigned long long)q->n_review, (unsigned long long)q->n_new);
    for (int b = 0; b < HIST_BINS; b++) {
        double h = log10(1.0 + (double)q->hist[b]) / mx * (B - T);
        double m = q->hist[b] ? q->hist_p[b] / (double)q->hist[b] : 0;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
                " fill=\"rgb(%d,%d,200)\"><title>[%g, %g): %llu pairs</title>"
                "</rect>\n", L + b * bw, B - h, bw * 0.9, h,
                (int)(220 * (1 - m)), (int)(120 + 100 * m), HIST_LO + b,
                HIST_LO + b + 1, (unsigned long long)q->hist[b]);
    }
    double thr[2] = {c->lower, c->upper};
    for (int i = 0; i < 2; i++) {
        double xx = L + (thr[i] - HIST_LO) * bw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"red\" stroke-dasharray=\"4\"/>\n<text x=\"%.1f\" "
                "y=\"%d\" fill=\"red\">%s %g</text>\n", xx, T, xx, B,
                xx + 3, T + 12 + 14 * i, i ? "upper" : "lower", thr[i]);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
            "stroke=\"black\"/>\n", L, B, W - 20, B);
    for (int v = (int)HIST_LO; v <= (int)HIST_LO + HIST_BINS; v += 10)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d"
                "</text>\n", L + (v - HIST_LO) * bw, B + 16, v);
    fprintf(f, "<text x=\"%d\" y=\"%d\">match weight (log2 Bayes factor "
            "with prior); bar height: log10(1 + pairs); colour: share of "
            "expected matches</text>\n</svg>\n", L, B + 40);
    if (fclose(f) != 0) {
        pl_err("%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int pl_probalink_write(pl_run *r, const char *linked)
{
    struct pl_probalink_state *s = r->probalink;
    if (!s)
        return 0;
    hid_t f = pl_out_open_h5(r->comm, linked, "the linkage outputs");
    if (f < 0)
        return -1;
    int ok = 1;
    for (size_t k = 0; k < s->nq && ok; k++)
        ok = s->q[k].dedup_only ||
             pl_all_ok(r->comm, write_source(r, f, linked, &s->q[k]) == 0);
    if (pl_out_close_h5(f) < 0)
        ok = 0;
    if (!pl_all_ok(r->comm, ok))
        return -1;
    int sok = 1;
    for (size_t k = 0; k < s->nq; k++) {
        if (s->q[k].dedup_only)
            continue;
        char name[PL_NAME_MAX + 16];
        snprintf(name, sizeof name, "linkage_%s.svg", s->q[k].name);
        if (r->rank == 0) {
            char *path = pl_xasprintf("%s/%s", r->gendir, name);
            sok &= write_svg(r, &s->q[k], path) == 0;
            free(path);
        }
        pl_run_output(name);
    }
    return pl_root_ok(r->comm, sok) ? 0 : -1;
}

void pl_probalink_summary(const pl_run *r)
{
    const struct pl_probalink_state *s = r->probalink;
    if (!s || r->rank != 0)
        return;
    for (size_t f = 0; f < s->c->n_fields; f++) {
        char *t = pl_pprl_params_text(r, f);
        if (t)
            pl_info("linkage encoding %s", t);
        free(t);
    }
    for (size_t k = 0; k < s->nq; k++) {
        const qsrc *q = &s->q[k];
        if (q->dedup_only)
            continue;
        pl_info("linkage %s -> %s: %llu rows, %llu linked, %llu to review, "
                "%llu new; %llu pairs compared (%llu found twice), "
                "%.0f pairs/s/rank, %.3f s", q->name, s->c->persons,
                (unsigned long long)q->nrows, (unsigned long long)q->n_link,
                (unsigned long long)q->n_review, (unsigned long long)q->n_new,
                (unsigned long long)q->pairs, (unsigned long long)q->dups,
                q->seconds > 0 ? (double)q->pairs / q->seconds / r->size : 0,
                q->seconds);
        pl_info("linkage %s: model lambda %.3g, estimated precision %.4f "
                "recall %.4f", q->name, q->mo.lambda, q->est_precision,
                q->est_recall);
        pl_info("linkage %s: seconds (rank 0): read %.3f, u %.3f, em %.3f, "
                "score %.3f, decide %.3f, new pids %.3f; cpu seconds (rank "
                "0): read %.3f, link %.3f", q->name, s->t_prepare,
                q->t_phase[0], q->t_phase[1], q->t_phase[2], q->t_phase[3],
                q->t_phase[4], s->cpu_prepare, q->cpu);
        pl_info("linkage %s: one-to-one assignment of %llu candidate pairs "
                "at or above upper in %llu message rounds", q->name,
                (unsigned long long)q->as_edges,
                (unsigned long long)q->as_rounds);
        if (q->has_truth)
            pl_info("linkage %s: true precision %.4f recall %.4f F1 %.4f",
                    q->name, q->t_precision, q->t_recall, q->t_f1);
    }
}

void pl_probalink_drop_records(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    if (!s)
        return;
    pl_bk_release();
    if (s->P)                   /* its tail was wiped when compacted */
        pl_wipe(s->P, s->p_count * s->srs);
    pl_free_huge(s->P, s->p_count * s->srs + 1);
    s->P = NULL;
    for (size_t k = 0; k < s->nq; k++) {
        qsrc *q = &s->q[k];
        if (q->Q)
            pl_wipe(q->Q, q->count * s->srs);
        pl_free_huge(q->Q, q->count * s->srs + 1);
        q->Q = NULL;
    }
    for (size_t f = 0; f < PL_LK_MAX_FIELDS; f++)  /* the names */
        pl_fs_dict_free(&s->dict[f]);
}

void pl_probalink_free(pl_run *r)
{
    struct pl_probalink_state *s = r->probalink;
    if (!s)
        return;
    pl_probalink_drop_records(r);   /* the records, if still held */
    free(s->p_ok);
    if (s->opp)
        pl_wipe(s->opp, s->n_opp * 16);
    free(s->opp);
    for (size_t k = 0; k < s->nq; k++) {
        qsrc *q = &s->q[k];
        free(q->status);
        free(q->weight);
        free(q->pid);
        free(q->review);
    }
    free(s->q);
    free(s);
    r->probalink = NULL;
}
