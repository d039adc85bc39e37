/* linked.c — see linked.h. */
#include "stage/linked.h"
#include "stage/linksort.h"
#include "base/hex.h"
#include "base/log.h"
#include "stage/nir.h"
#include "par/output.h"
#include "stage/pseudonym.h"
#include "stage/run.h"
#include "base/mem.h"
#include "base/progress.h"
#include "par/mpi.h"
#include "par/h5.h"
#include "stage/colmeta.h"
#include "stage/fellegi.h"
#include "stage/probalink.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#define PL_VERSION_STR "0.1.0"

static void pid_hex_rows(const uint8_t *pids, uint64_t n, char *out)
{
    for (uint64_t i = 0; i < n; i++)
        pl_hex16(pids + i * PL_PID_BYTES, out + i * 32);
}

/* Open datasets of one source while the batches stream in. */
typedef struct {
    hid_t   *d;                 /* pid, row, payload...; -1 when not made */
    hid_t   *ot;                /* payload output types (strings tagged
                                 * UTF-8, bytes unchanged) */
    size_t   nd, np;            /* datasets, payload columns */
    hid_t    rej_row, rej_why;  /* /rejects/<source>/{row,reason} */
    hid_t    amb_row, amb_cand; /* /ambiguous/<source>/{row,candidates} */
    uint64_t done, rej_done, amb_done;  /* rows written so far, this rank */
} src_writer;

struct pl_linked_writer {
    pl_outfile  f;              /* <out>/linked.h5, temporary until run.c
                                 * publishes it */
    src_writer *w;              /* per source */
    uint8_t    *in, *out;       /* payload batch buffers */
    hid_t       str32;          /* pid hex, UTF-8 tagged */
    hid_t       reason_t;       /* enum of the reject codes (uint8) */
};

/* The reject codes as an HDF5 enum on uint8: value = code, name = the
 * code's name (docs/FORMATS.md section 4). Caller closes. */
static hid_t reason_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_UINT8);
    for (int c = 0; c < PL_R_COUNT && t >= 0; c++) {
        uint8_t v = (uint8_t)c;
        H5Tenum_insert(t, pl_reason_name(c), &v);
    }
    return t;
}

/* description, units, code_system, date_format of a payload column (the
 * store's attributes, the job's columns:, a generic text). */
static int describe_payload(pl_run *r, const pl_source *s,
                            const pl_column *col, hid_t d)
{
    pl_colmeta m;
    if (pl_colmeta_payload(r->job, &r->store, s, col, &m) != 0)
        return -1;
    return pl_colmeta_write(d, &m);
}

static size_t row_width(const pl_run *r)
{
    size_t m = 32;              /* pid hex; also holds a u64 row */
    for (size_t si = 0; si < r->store.n_src + r->store.n_lsrc; si++) {
        const pl_source *s = si < r->store.n_src
                                 ? &r->store.src[si]
                                 : &r->store.lsrc[si - r->store.n_src];
        for (size_t c = 0; c < s->n_payload; c++)
            if (s->payload[c].size > m)
                m = s->payload[c].size;
    }
    return m;
}

/* /linked/<source>: the group, its counts and every column, sized from
 * the count pass (pl_ingest_count), or for a linkage source (lk) from its
 * decisions (pl_probalink_links), its counts being the linkage's. */
static int create_source(pl_run *r, const pl_source *s,
                         const pl_src_state *ss, const pl_probalink_out *lk,
                         src_writer *w, hid_t str32)
{
    char path[PL_NAME_MAX + 16];
    snprintf(path, sizeof path, "/linked/%s", s->cfg->name);
    w->nd = 2 + s->n_payload + (lk ? 3 : 0);
    w->np = s->n_payload;
    w->d = pl_xmalloc(w->nd * sizeof *w->d);
    w->ot = pl_xmalloc((s->n_payload ? s->n_payload : 1) * sizeof *w->ot);
    for (size_t c = 0; c < w->nd; c++)
        w->d[c] = -1;
    for (size_t c = 0; c < s->n_payload; c++)
        w->ot[c] = pl_text_copy(s->payload[c].mem_type);
    hid_t g = pl_out_group(&r->lw->f, path);
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    pl_attr_u64(g, "rows_read", s->nrows);
    if (lk) {
        pl_attr_u64(g, "rows_linked", lk->n_link);
        pl_attr_u64(g, "rows_review", lk->n_review);
        pl_attr_u64(g, "rows_new", lk->n_new);
        pl_attr_strlist(g, "match_status_codes",
                        (const char *[]){"1=linked", "2=review", "3=new"}, 3);
    } else {
        pl_attr_u64(g, "rows_rejected", ss->rej_total);
        pl_attr_u64(g, "rows_linked", ss->kept_total);
        pl_attr_u64(g, "rows_ambiguous", ss->amb_total);
    }
    int ok = (w->d[0] = pl_out_dataset(&r->lw->f, g, "pid", str32,
                                       ss->kept_total)) >= 0;
    ok = ok && (w->d[1] = pl_out_dataset(&r->lw->f, g, "row",
                                         H5T_NATIVE_UINT64,
                                         ss->kept_total)) >= 0;
    char desc[PL_NAME_MAX + 96];
    snprintf(desc, sizeof desc, "row of the record in /sources/%s of the "
             "input store (0-based)", s->cfg->name);
    ok = ok && pl_colmeta_put(w->d[0], "pid: the person's platform "
                              "pseudonym, 16 bytes as 32 lowercase hex "
                              "characters", NULL, NULL) == 0;
    ok = ok && pl_colmeta_put(w->d[1], desc, "row index", NULL) == 0;
    for (size_t c = 0; c < s->n_payload && ok; c++) {
        ok = (w->d[2 + c] = pl_out_dataset(&r->lw->f, g, s->payload[c].name,
                                           w->ot[c], ss->kept_total)) >= 0;
        ok = ok && describe_payload(r, s, &s->payload[c], w->d[2 + c]) == 0;
    }
    static const struct { const char *n, *desc, *units; } mc[3] = {
        {"match_weight", "match weight of the link, or of the best candidate "
         "(log2 Bayes factor with the prior); NaN without candidate",
         "log2"},
        {"match_status", "1 linked to a person of the run, 2 a new person "
         "with possible matches (/review), 3 a new person (see "
         "@match_status_codes)", NULL},
        {"match_probability", "1 / (1 + 2^-match_weight); 0 without "
         "candidate", NULL}};
    for (size_t c = 0; lk && c < 3 && ok; c++) {
        hid_t t = c == 1 ? H5T_STD_U8LE : H5T_IEEE_F64LE;
        size_t at = 2 + s->n_payload + c;
        ok = (w->d[at] = pl_out_dataset(&r->lw->f, g, mc[c].n, t,
                                        ss->kept_total)) >= 0 &&
             pl_colmeta_put(w->d[at], mc[c].desc, mc[c].units, NULL) == 0;
    }
    H5Gclose(g);
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

static int create_rejects(pl_run *r, struct pl_linked_writer *lw)
{
    hid_t rg = pl_out_group(&r->lw->f, "/rejects");
    if (!pl_all_ok(r->comm, rg >= 0))
        return -1;
    const char *codes[PL_R_COUNT];
    char buf[PL_R_COUNT][40];
    for (int c = 0; c < PL_R_COUNT; c++) {
        snprintf(buf[c], sizeof buf[c], "%d=%s", c, pl_reason_name(c));
        codes[c] = buf[c];
    }
    pl_attr_strlist(rg, "reason_codes", codes, PL_R_COUNT);
    int ok = 1;
    for (size_t si = 0; si < r->store.n_src && ok; si++) {
        src_writer *w = &lw->w[si];
        uint64_t n = r->ss[si].rej_total;
        char path[PL_NAME_MAX + 16];
        snprintf(path, sizeof path, "/rejects/%s", r->store.src[si].cfg->name);
        hid_t sg = pl_out_group(&r->lw->f, path);     /* row, reason order */
        ok = sg >= 0;
        ok = ok && (w->rej_row = pl_out_dataset(&r->lw->f, sg, "row",
                                                H5T_NATIVE_UINT64, n)) >= 0;
        ok = ok && (w->rej_why = pl_out_dataset(&r->lw->f, sg, "reason",
                                                lw->reason_t, n)) >= 0;
        ok = ok && pl_colmeta_put(w->rej_row, "row of the rejected record "
                                  "in the store's source (0-based)",
                                  "row index", NULL) == 0;
        ok = ok && pl_colmeta_put(w->rej_why, "reason the record was not "
                                  "linked: the first identity check it "
                                  "failed (HDF5 enum on uint8; the same "
                                  "table is in /rejects@reason_codes)", NULL,
                                  "pseudolink reject codes, docs/FORMATS.md "
                                  "section 4") == 0;
        if (sg >= 0)
            H5Gclose(sg);
        ok = pl_all_ok(r->comm, ok);
    }
    H5Gclose(rg);
    if (!ok)
        return -1;
    /* /ambiguous/<source>: rows whose key holds several persons (twins)
     * and that carry no rank to tell them apart; only for the sources
     * that have some (the same on every rank). */
    uint64_t any = 0;
    for (size_t si = 0; si < r->store.n_src; si++)
        any += r->ss[si].amb_total;
    if (!any)
        return 0;
    hid_t ag = pl_out_group(&r->lw->f, "/ambiguous");
    if (!pl_all_ok(r->comm, ag >= 0))
        return -1;
    for (size_t si = 0; si < r->store.n_src && ok; si++) {
        src_writer *w = &lw->w[si];
        uint64_t n = r->ss[si].amb_total;
        if (!n)
            continue;
        hid_t sg = H5Gcreate2(ag, r->store.src[si].cfg->name, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
        ok = sg >= 0;
        ok = ok && (w->amb_row = pl_out_dataset(&r->lw->f, sg, "row",
                                                H5T_NATIVE_UINT64, n)) >= 0;
        ok = ok && (w->amb_cand = pl_out_dataset(&r->lw->f, sg, "candidates",
                                                 H5T_NATIVE_UINT8, n)) >= 0;
        ok = ok && pl_colmeta_put(w->amb_row, "row of the ambiguous record "
                                  "in the store's source (0-based): its key "
                                  "(p1 without a birth rank) holds several "
                                  "persons (twins), so it is not linked",
                                  "row index", NULL) == 0;
        ok = ok && pl_colmeta_put(w->amb_cand, "number of persons the "
                                  "record could belong to (capped at 255)",
                                  "persons", NULL) == 0;
        if (sg >= 0)
            H5Gclose(sg);
        ok = pl_all_ok(r->comm, ok);
    }
    H5Gclose(ag);
    return ok ? 0 : -1;
}

int pl_linked_begin(pl_run *r)
{
    struct pl_linked_writer *lw = pl_xcalloc(1, sizeof *lw);
    r->lw = lw;
    lw->w = pl_xcalloc(r->store.n_src, sizeof *lw->w);
    for (size_t si = 0; si < r->store.n_src; si++)
        lw->w[si].rej_row = lw->w[si].rej_why = lw->w[si].amb_row =
            lw->w[si].amb_cand = -1;
    lw->str32 = pl_text_type(32);
    lw->reason_t = reason_type();
    uint64_t B = r->job->batch_rows;
    lw->in = pl_xmalloc(B * row_width(r));
    lw->out = pl_xmalloc(B * row_width(r));
    if (pl_out_create(&r->lw->f, r->gendir, "linked.h5", r->comm) != 0)
        return -1;
    int rc = 0;
    for (size_t si = 0; si < r->store.n_src && rc == 0; si++)
        rc = create_source(r, &r->store.src[si], &r->ss[si], NULL, &lw->w[si],
                           lw->str32);
    return rc == 0 ? create_rejects(r, lw) : -1;
}

/* String payload is written tagged UTF-8: a value that is not (Latin-1
 * text, binary bytes) would read back wrong, so it stops the run, naming
 * the column, never the value. */
static int check_text(pl_run *r, const pl_source *s, const pl_column *col,
                      const uint8_t *v, uint64_t n)
{
    if (H5Tget_class(col->mem_type) != H5T_STRING)
        return 0;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *p = (const char *)v + i * col->size;
        bad += !pl_utf8_valid(p, strnlen(p, col->size));
    }
    if (bad)
        pl_err("%s: /sources/%s/%s: %llu values in this rank's rows are not "
               "UTF-8 text (the outputs tag strings UTF-8; convert the "
               "column, e.g. from Latin-1, or drop it)", r->store.path,
               s->cfg->name, col->name, (unsigned long long)bad);
    return bad ? -1 : 0;
}

/* One batch of one source: rows [lo, lo+cnt) of this rank's block, with
 * their reject reasons and the pids of the valid ones (in row order).
 * Collective: every rank calls it for every batch, maybe with cnt = 0. */
/* pid, row and payload of the kept rows (why 0) of rows [lo, lo+cnt) of
 * this rank's block of s, at their offset; the count written in *nk. */
static int write_rows(pl_run *r, const pl_source *s, const pl_src_state *ss,
                      src_writer *w, uint64_t lo, uint64_t cnt,
                      const uint8_t *why, const uint8_t *pids, uint64_t *nkp)
{
    struct pl_linked_writer *lw = r->lw;
    uint8_t *in = lw->in, *out = lw->out;
    uint64_t nk = 0;
    uint64_t *rows = (uint64_t *)out;
    for (uint64_t i = 0; i < cnt; i++)
        if (!why[i])
            rows[nk++] = s->first + lo + i;
    uint64_t off = ss->kept_off + w->done;
    int ok = pl_out_write(&r->lw->f, w->d[1], "row", H5T_NATIVE_UINT64, off,
                          nk, rows, r->dxpl) == 0;
    pid_hex_rows(pids, nk, (char *)out);
    ok &= pl_out_write(&r->lw->f, w->d[0], "pid", lw->str32, off, nk, out,
                       r->dxpl) == 0;
    for (size_t c = 0; c < s->n_payload; c++) {
        const pl_column *col = &s->payload[c];
        ok &= pl_source_read(&r->store, s, col, s->first + lo, cnt, in,
                             r->dxpl) == 0;
        uint64_t m = 0;
        for (uint64_t i = 0; i < cnt; i++)
            if (!why[i])
                memcpy(out + m++ * col->size, in + i * col->size, col->size);
        ok &= check_text(r, s, col, out, m) == 0;
        ok &= pl_out_write(&r->lw->f, w->d[2 + c], col->name, w->ot[c],
                           off, m, out, r->dxpl) == 0;
    }
    *nkp = nk;
    return ok ? 0 : -1;
}

int pl_linked_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                    const uint8_t *why, const uint8_t *pids)
{
    double t0 = MPI_Wtime();
    struct pl_linked_writer *lw = r->lw;
    src_writer *w = &lw->w[si];
    const pl_source *s = &r->store.src[si];
    const pl_src_state *ss = &r->ss[si];
    uint8_t *in = lw->in, *out = lw->out;
    uint64_t nk = 0, nr = 0;
    int ok = write_rows(r, s, ss, w, lo, cnt, why, pids, &nk) == 0;
    /* Rejects: row numbers, then the reason codes (uint8) after them. */
    uint64_t *rrow = (uint64_t *)in;
    uint8_t *rwhy = out;
    for (uint64_t i = 0; i < cnt; i++)
        if (why[i] && why[i] != PL_R_OPPOSED &&         /* never listed */
            why[i] != PL_WHY_AMBIGUOUS) {
            rrow[nr] = s->first + lo + i;
            rwhy[nr++] = why[i];
        }
    ok &= pl_out_write(&r->lw->f, w->rej_row, "rejects row",
                       H5T_NATIVE_UINT64, ss->rej_off + w->rej_done, nr, rrow,
                       r->dxpl) == 0;
    ok &= pl_out_write(&r->lw->f, w->rej_why, "rejects reason",
                       lw->reason_t, ss->rej_off + w->rej_done, nr, rwhy,
                       r->dxpl) == 0;
    /* Ambiguous rows: row numbers and their numbers of candidates. */
    uint64_t na = 0;
    for (uint64_t i = 0; i < cnt; i++)
        if (why[i] == PL_WHY_AMBIGUOUS) {
            rrow[na] = s->first + lo + i;
            rwhy[na++] = r->batch_cand ? r->batch_cand[i] : 0;
        }
    if (ss->amb_total) {        /* /ambiguous/<source> exists */
        ok &= pl_out_write(&r->lw->f, w->amb_row, "ambiguous row",
                           H5T_NATIVE_UINT64, ss->amb_off + w->amb_done, na,
                           rrow, r->dxpl) == 0;
        ok &= pl_out_write(&r->lw->f, w->amb_cand, "ambiguous candidates",
                           H5T_NATIVE_UINT8, ss->amb_off + w->amb_done, na,
                           rwhy, r->dxpl) == 0;
    }
    w->done += nk;
    w->rej_done += nr;
    w->amb_done += na;
    r->t[PL_T_WRITE] += MPI_Wtime() - t0;
    return ok ? 0 : -1;
}

/* Close the per-source datasets and free the batch buffers. */
static void close_writer(src_writer *w)
{
    for (size_t c = 0; w->d && c < w->nd; c++)
        if (w->d[c] >= 0)
            H5Dclose(w->d[c]);
    if (w->rej_row >= 0)
        H5Dclose(w->rej_row);
    if (w->rej_why >= 0)
        H5Dclose(w->rej_why);
    for (size_t c = 0; w->ot && c < w->np; c++)
        H5Tclose(w->ot[c]);
    if (w->amb_row >= 0)
        H5Dclose(w->amb_row);
    if (w->amb_cand >= 0)
        H5Dclose(w->amb_cand);
    free(w->d);
    free(w->ot);
    w->d = NULL;
    w->ot = NULL;
}

static void close_datasets(pl_run *r)
{
    struct pl_linked_writer *lw = r->lw;
    for (size_t si = 0; lw->w && si < r->store.n_src; si++)
        close_writer(&lw->w[si]);
    free(lw->w);
    lw->w = NULL;
    free(lw->in);
    free(lw->out);
    lw->in = lw->out = NULL;
    if (lw->str32 >= 0)
        H5Tclose(lw->str32);
    if (lw->reason_t >= 0)
        H5Tclose(lw->reason_t);
    lw->str32 = lw->reason_t = -1;
}

static void writer_free(pl_run *r)
{
    free(r->lw);
    r->lw = NULL;
}

/* One chunk of sorted link records -> the three /links columns. */
static void link_split(const uint8_t *recs, uint64_t n, char *hex,
                       uint16_t *src, uint64_t *row)
{
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = recs + i * PL_LINK_BYTES;
        pl_hex16(rec, hex + 32 * i);
        src[i] = (uint16_t)pl_link_source(rec);
        row[i] = pl_link_row(rec);
    }
}

/* /links, streamed in chunks from the index's sort (memory or k-way merge
 * of spilled runs): same bytes whichever path. */
static int write_links(pl_outfile *f, MPI_Comm comm, hid_t dxpl,
                       pl_links *l, const char *const *names, size_t ns,
                       uint64_t C, volatile sig_atomic_t *stop)
{
    const pl_links_counts *lc = pl_links_count(l);
    hid_t g = pl_out_group(f, "/links");
    if (!pl_all_ok(comm, g >= 0))
        return -1;
    pl_attr_strlist(g, "sources", names, ns);
    hid_t str32 = pl_text_type(32);
    hid_t d[3];
    d[0] = pl_out_dataset(f, g, "pid", str32, lc->links_total);
    d[1] = pl_out_dataset(f, g, "source", H5T_NATIVE_UINT16, lc->links_total);
    d[2] = pl_out_dataset(f, g, "row", H5T_NATIVE_UINT64, lc->links_total);
    int ok = pl_all_ok(comm, d[0] >= 0 && d[1] >= 0 && d[2] >= 0);
    uint64_t nb = pl_batches(comm, lc->n_links, C), off = lc->links_off;
    uint8_t *recs = pl_xmalloc(C * PL_LINK_BYTES);
    char *hex = pl_xmalloc(C * 32);
    uint16_t *src = pl_xmalloc(C * 2);
    uint64_t *row = pl_xmalloc(C * 8);
    pl_linkiter it;
    int iok = pl_links_iter(l, &it) == 0;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t n = iok ? pl_linkiter_next(&it, recs, C) : 0;
        iok = iok && !it.err;
        link_split(recs, n, hex, src, row);
        int wok = iok;
        wok &= pl_out_write(f, d[0], "pid", str32, off, n, hex, dxpl) == 0;
        wok &= pl_out_write(f, d[1], "source", H5T_NATIVE_UINT16, off, n, src,
                            dxpl) == 0;
        wok &= pl_out_write(f, d[2], "row", H5T_NATIVE_UINT64, off, n, row,
                            dxpl) == 0;
        off += n;
        ok = pl_all_ok(comm, wok && !(stop && *stop));
        if (lc->n_links)        /* rank 0's share, scaled (progress.h) */
            pl_progress_set((uint64_t)((double)(off - lc->links_off) /
                                       (double)lc->n_links *
                                       (double)lc->links_total));
    }
    ok = pl_all_ok(comm, ok && off == lc->links_off + lc->n_links);
    pl_linkiter_close(&it);
    free(recs); free(hex); free(src); free(row);
    for (int c = 0; c < 3; c++)
        if (d[c] >= 0)
            H5Dclose(d[c]);
    H5Tclose(str32);
    H5Gclose(g);
    return ok ? 0 : -1;
}

static int write_persons(pl_outfile *f, MPI_Comm comm, hid_t dxpl,
                         const pl_links *l, const char *const *names,
                         size_t ns)
{
    const pl_links_counts *lc = pl_links_count(l);
    hid_t g = pl_out_group(f, "/persons");
    if (!pl_all_ok(comm, g >= 0))
        return -1;
    uint64_t n = lc->n_persons;
    const uint8_t *key = pl_links_person_keys(l);
    const uint32_t *cnt = pl_links_person_counts(l);
    char *hex = pl_xmalloc((n ? n : 1) * 32);
    pid_hex_rows(key, n, hex);
    hid_t str32 = pl_text_type(32);
    int rc = pl_out_write_full(f, comm, dxpl, g, "pid", str32,
                               lc->persons_total, lc->persons_off, n, hex);
    H5Tclose(str32);
    free(hex);
    uint32_t *col = pl_xmalloc((n ? n : 1) * sizeof *col);
    for (size_t si = 0; si < ns; si++) {
        for (uint64_t i = 0; i < n; i++)
            col[i] = cnt[i * ns + si];
        rc |= pl_out_write_full(f, comm, dxpl, g, names[si],
                                H5T_NATIVE_UINT32, lc->persons_total,
                                lc->persons_off, n, col);
    }
    free(col);
    H5Gclose(g);
    return pl_all_ok(comm, rc == 0) ? 0 : -1;
}

int pl_linked_write_index(pl_outfile *f, MPI_Comm comm, hid_t dxpl,
                          pl_links *l, const char *const *names, size_t ns,
                          uint64_t chunk, volatile sig_atomic_t *stop)
{
    if (write_links(f, comm, dxpl, l, names, ns, chunk, stop) != 0)
        return -1;
    return write_persons(f, comm, dxpl, l, names, ns);
}

int pl_linked_write_root(hid_t root, pl_mode mode, uint64_t persons,
                         const char *const *names, size_t ns)
{
    int rc = pl_attr_u64(root, "persons", persons);
    rc |= pl_attr_str(root, "mode", mode == PL_MODE_KEYED ? "keyed" : "random");
    rc |= pl_attr_strlist(root, "sources", names, ns);
    return rc;
}

static int write_root_attrs(pl_run *r, pl_outfile *f,
                            const char *const *names)
{
    uint64_t read = 0, rej = 0, kept = 0, amb = 0;
    for (size_t si = 0; si < r->store.n_src; si++) {
        read += r->store.src[si].nrows;
        rej += r->ss[si].rej_total;
        kept += r->ss[si].kept_total;
        amb += r->ss[si].amb_total;
    }
    for (size_t k = 0; k < r->store.n_lsrc; k++) {     /* linkage sources */
        read += r->store.lsrc[k].nrows;
        kept += r->lss[k].kept_total;
    }
    const pl_links_counts *lc = pl_links_count(pl_link_index(r));
    hid_t root = H5Gopen2(f->file, "/", H5P_DEFAULT);
    char sha[65];
    pl_hex(r->job->sha256, 32, sha);
    int rc = pl_attr_u64(root, "records_read", read);
    rc |= pl_attr_u64(root, "records_rejected", rej);
    rc |= pl_attr_u64(root, "records_linked", kept);
    rc |= pl_attr_u64(root, "records_ambiguous", amb);
    rc |= pl_attr_u64(root, "persons_multi_source", lc->persons_multi);
    rc |= pl_attr_str(root, "tool_version", "pseudolink " PL_VERSION_STR);
    rc |= pl_attr_str(root, "job_sha256", sha);
    rc |= pl_linked_write_root(root, r->job->mode, lc->persons_total, names,
                               r->store.n_src + r->store.n_lsrc);
    H5Gclose(root);
    return rc;
}

/* /lineage: persons merged or split since the previous run (owner.h),
 * globally sorted: each rank holds a range of old pids, in order. */
static int write_lineage(pl_run *r, pl_outfile *f)
{
    const pl_owner *o = &r->owner;
    if (!r->job->custody.previous)
        return 0;               /* a first run: no lineage */
    uint64_t n = o->n_lineage, off = 0, total = 0;
    pl_exscan(r->comm, n, &off, &total);
    hid_t g = pl_out_group(f, "/lineage");
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    char *oldh = pl_xmalloc(n * 32 + 1), *newh = pl_xmalloc(n * 32 + 1);
    char *ev = pl_xmalloc(n * 5 + 1);
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = o->lineage + i * PL_LIN_REC;
        pl_hex16(e, oldh + 32 * i);
        pl_hex16(e + PL_PID_BYTES, newh + 32 * i);
        memcpy(ev + 5 * i, e[2 * PL_PID_BYTES] == PL_LIN_MERGE ? "merge"
                                                              : "split", 5);
    }
    hid_t str32 = pl_text_type(32), str5 = pl_text_type(5);
    int rc = pl_out_write_full(f, r->comm, r->dxpl, g, "old_pid", str32,
                               total, off, n, oldh);
    rc |= pl_out_write_full(f, r->comm, r->dxpl, g, "new_pid", str32, total,
                            off, n, newh);
    rc |= pl_out_write_full(f, r->comm, r->dxpl, g, "event", str5, total,
                            off, n, ev);
    if (rc == 0)
        rc = pl_colmeta_put_path(f->file, "/lineage/old_pid", "pid of the "
                                 "person in the previous run (32 hex "
                                 "digits)", NULL, NULL) ||
             pl_colmeta_put_path(f->file, "/lineage/new_pid", "pid of the "
                                 "same person (or part of it) in this run",
                                 NULL, NULL) ||
             pl_colmeta_put_path(f->file, "/lineage/event", "merge: persons "
                                 "of the previous run joined into one; "
                                 "split: a person of the previous run "
                                 "became several (twins who learnt their "
                                 "birth ranks)", NULL, NULL) ? -1 : 0;
    H5Tclose(str32);
    H5Tclose(str5);
    H5Gclose(g);
    free(oldh);
    free(newh);
    free(ev);
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

/* /linked/<source> of each linkage source (store.lsrc): pid, row and
 * payload written as an identity source's rows are (write_rows), then
 * match_weight, match_status, match_probability; a record linked to an
 * opposed person is left out like every record of that person. */
static int write_linkage(pl_run *r)
{
    struct pl_linked_writer *lw = r->lw;
    uint64_t B = r->job->batch_rows ? r->job->batch_rows : 1;
    uint8_t *why = pl_xmalloc(B), *st = pl_xmalloc(B);
    uint8_t *pids = pl_xmalloc(B * PL_PID_BYTES);
    double *wt = pl_xmalloc(B * sizeof *wt), *pr = pl_xmalloc(B * sizeof *pr);
    int ok = 1;
    for (size_t k = 0; k < r->store.n_lsrc && ok; k++) {
        const pl_source *s = &r->store.lsrc[k];
        const pl_src_state *ss = &r->lss[k];
        pl_probalink_out o;
        src_writer w;
        memset(&w, 0, sizeof w);
        w.rej_row = w.rej_why = w.amb_row = w.amb_cand = -1;
        ok = pl_all_ok(r->comm, pl_probalink_rows(r, k, &o) == 0 &&
                                    o.first == s->first &&
                                    o.count == s->count);
        if (!ok) {
            pl_err0("%s: /sources/%s: internal error: the linkage's rows "
                    "differ from the store's", r->store.path, s->cfg->name);
            break;
        }
        ok = create_source(r, s, ss, &o, &w, lw->str32) == 0;
        size_t at = 2 + s->n_payload;
        uint64_t nb = ok ? pl_batches(r->comm, s->count, B) : 0;
        for (uint64_t b = 0; b < nb && ok; b++) {
            uint64_t lo = b * B, cnt = pl_batch_count(s->count, lo, B);
            uint64_t m = 0, nk = 0, off = ss->kept_off + w.done;
            for (uint64_t i = 0; i < cnt; i++) {
                uint64_t g = lo + i;
                why[i] = o.status[g] == PL_LK_OPPOSED ? PL_R_OPPOSED : 0;
                if (why[i])
                    continue;
                memcpy(pids + m * PL_PID_BYTES, o.pid + g * PL_PID_BYTES,
                       PL_PID_BYTES);
                st[m] = o.status[g];
                wt[m] = o.weight[g];
                pr[m] = isnan(o.weight[g]) ? 0.0 : pl_fs_prob(o.weight[g]);
                m++;
            }
            int wok = write_rows(r, s, ss, &w, lo, cnt, why, pids, &nk) == 0;
            wok &= pl_out_write(&lw->f, w.d[at], "match_weight",
                                H5T_NATIVE_DOUBLE, off, m, wt, r->dxpl) == 0;
            wok &= pl_out_write(&lw->f, w.d[at + 1], "match_status",
                                H5T_NATIVE_UINT8, off, m, st, r->dxpl) == 0;
            wok &= pl_out_write(&lw->f, w.d[at + 2], "match_probability",
                                H5T_NATIVE_DOUBLE, off, m, pr, r->dxpl) == 0;
            w.done += nk;
            ok = pl_all_ok(r->comm, wok && nk == m && !*r->stop);
        }
        ok = pl_all_ok(r->comm, ok && w.done == ss->kept);
        close_writer(&w);
    }
    pl_wipe(pids, B * PL_PID_BYTES);
    free(pids);
    free(why);
    free(st);
    free(wt);
    free(pr);
    return ok ? 0 : -1;
}

/* After the last batch: every rank wrote all its rows. Then the links,
 * persons and the root attributes; the file is closed, not published. */
int pl_linked_end(pl_run *r, pl_outfile *out)
{
    size_t ns = r->store.n_src + r->store.n_lsrc;
    int lk = write_linkage(r) == 0, ok = 1;      /* agreed by every rank */
    for (size_t si = 0; si < r->store.n_src; si++)
        ok &= r->lw->w[si].done == r->ss[si].kept &&
              r->lw->w[si].rej_done == r->ss[si].rejected &&
              r->lw->w[si].amb_done == r->ss[si].ambiguous;
    close_datasets(r);
    pl_outfile *f = &r->lw->f;
    if (!lk)
        return -1;
    if (!pl_all_ok(r->comm, ok)) {
        pl_err0("%s: internal error: rows written differ from the rows "
                "counted", f->tmp);
        return -1;
    }
    const char **names = pl_xmalloc(ns * sizeof *names);
    for (size_t si = 0; si < ns; si++)
        names[si] = si < r->store.n_src
                        ? r->store.src[si].cfg->name
                        : r->store.lsrc[si - r->store.n_src].cfg->name;
    int rc = pl_linked_write_index(f, r->comm, r->dxpl, pl_link_index(r),
                                   names, ns, r->job->batch_rows, r->stop);
    if (rc == 0)
        rc = pl_colmeta_index(f->file, names, ns, 0);
    if (rc == 0)
        rc = write_lineage(r, f);
    if (rc == 0)
        rc = write_root_attrs(r, f, names);
    free(names);
    if (pl_out_close(f) != 0)
        rc = -1;
    if (!pl_all_ok(r->comm, rc == 0))
        return -1;
    *out = *f;                  /* the caller publishes or discards it */
    memset(f, 0, sizeof *f);
    f->file = -1;
    writer_free(r);
    return 0;
}

void pl_linked_abort(pl_run *r)
{
    if (!r->lw)
        return;
    close_datasets(r);
    if (r->lw->f.tmp)
        pl_out_discard(&r->lw->f, r->comm);
    writer_free(r);
}
