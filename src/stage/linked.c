/* linked.c — write <out>/linked.h5: linked sources, links, persons, rejects
 * and the run's attributes (docs/FORMATS.md is the reader's reference).
 *
 * Every dataset is created collectively with its global length; each rank
 * writes its slice at its prefix-sum offset, so row order (input order for
 * sources, pid order for links and persons) never depends on the number of
 * ranks and keyed-mode outputs are identical for any rank count.
 */
#include "stage/linksort.h"
#include "base/hex.h"
#include "base/log.h"
#include "stage/nir.h"
#include "par/output.h"
#include "stage/pseudonym.h"
#include "stage/run.h"
#include "base/mem.h"
#include "par/mpi.h"
#include "par/h5.h"

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
    size_t   nd;
    hid_t    rej_row, rej_why;  /* /rejects/<source>/{row,reason} */
    uint64_t done, rej_done;    /* rows written so far by this rank */
} src_writer;

struct pl_linked_writer {
    src_writer *w;              /* per source */
    uint8_t    *in, *out;       /* payload batch buffers */
    hid_t       str32;
};

static size_t row_width(const pl_run *r)
{
    size_t m = 32;              /* pid hex; also holds a u64 row */
    for (size_t si = 0; si < r->store.n_src; si++)
        for (size_t c = 0; c < r->store.src[si].n_payload; c++)
            if (r->store.src[si].payload[c].size > m)
                m = r->store.src[si].payload[c].size;
    return m;
}

/* /linked/<source>: the group, its counts and every column, sized from
 * the count pass (pl_ingest_count). */
static int create_source(pl_run *r, size_t si, src_writer *w, hid_t str32)
{
    const pl_source *s = &r->store.src[si];
    const pl_src_state *ss = &r->ss[si];
    char path[PL_NAME_MAX + 16];
    snprintf(path, sizeof path, "/linked/%s", s->cfg->name);
    w->nd = 2 + s->n_payload;
    w->d = pl_xmalloc(w->nd * sizeof *w->d);
    for (size_t c = 0; c < w->nd; c++)
        w->d[c] = -1;
    hid_t g = pl_out_group(&r->linked, path);
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    pl_attr_u64(g, "rows_read", s->nrows);
    pl_attr_u64(g, "rows_rejected", ss->rej_total);
    pl_attr_u64(g, "rows_linked", ss->kept_total);
    int ok = (w->d[0] = pl_out_dataset(&r->linked, g, "pid", str32,
                                       ss->kept_total)) >= 0;
    ok = ok && (w->d[1] = pl_out_dataset(&r->linked, g, "row",
                                         H5T_NATIVE_UINT64,
                                         ss->kept_total)) >= 0;
    for (size_t c = 0; c < s->n_payload && ok; c++)
        ok = (w->d[2 + c] = pl_out_dataset(&r->linked, g, s->payload[c].name,
                                           s->payload[c].mem_type,
                                           ss->kept_total)) >= 0;
    H5Gclose(g);
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

static int create_rejects(pl_run *r, struct pl_linked_writer *lw)
{
    hid_t rg = pl_out_group(&r->linked, "/rejects");
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
        hid_t sg = H5Gcreate2(rg, r->store.src[si].cfg->name, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
        ok = sg >= 0;
        ok = ok && (w->rej_row = pl_out_dataset(&r->linked, sg, "row",
                                                H5T_NATIVE_UINT64, n)) >= 0;
        ok = ok && (w->rej_why = pl_out_dataset(&r->linked, sg, "reason",
                                                H5T_NATIVE_UINT8, n)) >= 0;
        if (sg >= 0)
            H5Gclose(sg);
        ok = pl_all_ok(r->comm, ok);
    }
    H5Gclose(rg);
    return ok ? 0 : -1;
}

int pl_linked_begin(pl_run *r, const char *tag)
{
    struct pl_linked_writer *lw = pl_xcalloc(1, sizeof *lw);
    r->lw = lw;
    lw->w = pl_xcalloc(r->store.n_src, sizeof *lw->w);
    for (size_t si = 0; si < r->store.n_src; si++)
        lw->w[si].rej_row = lw->w[si].rej_why = -1;
    lw->str32 = pl_str_type(32);
    uint64_t B = r->job->batch_rows;
    lw->in = pl_xmalloc(B * row_width(r));
    lw->out = pl_xmalloc(B * row_width(r));
    if (pl_out_create(&r->linked, r->job->output, "linked.h5", tag,
                      r->comm) != 0)
        return -1;
    int rc = 0;
    for (size_t si = 0; si < r->store.n_src && rc == 0; si++)
        rc = create_source(r, si, &lw->w[si], lw->str32);
    return rc == 0 ? create_rejects(r, lw) : -1;
}

/* One batch of one source: rows [lo, lo+cnt) of this rank's block, with
 * their reject reasons and the pids of the valid ones (in row order).
 * Collective: every rank calls it for every batch, maybe with cnt = 0. */
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
    uint64_t *rows = (uint64_t *)out;
    for (uint64_t i = 0; i < cnt; i++)
        if (!why[i])
            rows[nk++] = s->first + lo + i;
    uint64_t off = ss->kept_off + w->done;
    int ok = pl_out_write(&r->linked, w->d[1], "row", H5T_NATIVE_UINT64, off,
                          nk, rows, r->dxpl) == 0;
    pid_hex_rows(pids, nk, (char *)out);
    ok &= pl_out_write(&r->linked, w->d[0], "pid", lw->str32, off, nk, out,
                       r->dxpl) == 0;
    for (size_t c = 0; c < s->n_payload; c++) {
        const pl_column *col = &s->payload[c];
        char what[PL_NAME_MAX * 2 + 16];
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, col->name);
        ok &= pl_store_read(&r->store, col->dset, what, col->mem_type,
                            s->first + lo, cnt, 0, in, r->dxpl) == 0;
        uint64_t m = 0;
        for (uint64_t i = 0; i < cnt; i++)
            if (!why[i])
                memcpy(out + m++ * col->size, in + i * col->size, col->size);
        ok &= pl_out_write(&r->linked, w->d[2 + c], col->name, col->mem_type,
                           off, m, out, r->dxpl) == 0;
    }
    /* Rejects: row numbers, then the reason codes (uint8) after them. */
    uint64_t *rrow = (uint64_t *)in;
    uint8_t *rwhy = out;
    for (uint64_t i = 0; i < cnt; i++)
        if (why[i]) {
            rrow[nr] = s->first + lo + i;
            rwhy[nr++] = why[i];
        }
    ok &= pl_out_write(&r->linked, w->rej_row, "rejects row",
                       H5T_NATIVE_UINT64, ss->rej_off + w->rej_done, nr, rrow,
                       r->dxpl) == 0;
    ok &= pl_out_write(&r->linked, w->rej_why, "rejects reason",
                       H5T_NATIVE_UINT8, ss->rej_off + w->rej_done, nr, rwhy,
                       r->dxpl) == 0;
    w->done += nk;
    w->rej_done += nr;
    r->t[PL_T_WRITE] += MPI_Wtime() - t0;
    return ok ? 0 : -1;
}

static void writer_free(pl_run *r)
{
    struct pl_linked_writer *lw = r->lw;
    if (!lw)
        return;
    for (size_t si = 0; lw->w && si < r->store.n_src; si++) {
        src_writer *w = &lw->w[si];
        for (size_t c = 0; w->d && c < w->nd; c++)
            if (w->d[c] >= 0)
                H5Dclose(w->d[c]);
        if (w->rej_row >= 0)
            H5Dclose(w->rej_row);
        if (w->rej_why >= 0)
            H5Dclose(w->rej_why);
        free(w->d);
    }
    free(lw->w);
    free(lw->in);
    free(lw->out);
    if (lw->str32 >= 0)
        H5Tclose(lw->str32);
    free(lw);
    r->lw = NULL;
}

/* One chunk of sorted link records -> the three /links columns. */
void pl_link_split(const uint8_t *recs, uint64_t n, char *hex, uint16_t *src,
                   uint64_t *row)
{
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = recs + i * PL_LINK_BYTES;
        pl_hex16(rec, hex + 32 * i);
        src[i] = (uint16_t)pl_link_source(rec);
        uint64_t v = 0;
        for (int b = 0; b < 8; b++)
            v = v << 8 | rec[18 + b];
        row[i] = v;
    }
}

/* /links, streamed in chunks of batch_rows from the links sort (memory or
 * k-way merge of spilled runs): same bytes whichever path. */
static int write_links(pl_run *r, pl_outfile *f, const char *const *names)
{
    hid_t g = pl_out_group(f, "/links");
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    pl_attr_strlist(g, "sources", names, r->store.n_src);
    hid_t str32 = pl_str_type(32);
    hid_t d[3];
    d[0] = pl_out_dataset(f, g, "pid", str32, r->links_total);
    d[1] = pl_out_dataset(f, g, "source", H5T_NATIVE_UINT16, r->links_total);
    d[2] = pl_out_dataset(f, g, "row", H5T_NATIVE_UINT64, r->links_total);
    int ok = pl_all_ok(r->comm, d[0] >= 0 && d[1] >= 0 && d[2] >= 0);
    uint64_t C = r->job->batch_rows;
    uint64_t nb = pl_batches(r->comm, r->n_links, C), off = r->links_off;
    uint8_t *recs = pl_xmalloc(C * PL_LINK_BYTES);
    char *hex = pl_xmalloc(C * 32);
    uint16_t *src = pl_xmalloc(C * 2);
    uint64_t *row = pl_xmalloc(C * 8);
    pl_linkiter it;
    int iok = pl_linkiter_open(&it, r->lsort) == 0;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t n = iok ? pl_linkiter_next(&it, recs, C) : 0;
        iok = iok && !it.err;
        pl_link_split(recs, n, hex, src, row);
        int wok = iok;
        wok &= pl_out_write(f, d[0], "pid", str32, off, n, hex, r->dxpl) == 0;
        wok &= pl_out_write(f, d[1], "source", H5T_NATIVE_UINT16, off, n, src,
                            r->dxpl) == 0;
        wok &= pl_out_write(f, d[2], "row", H5T_NATIVE_UINT64, off, n, row,
                            r->dxpl) == 0;
        off += n;
        ok = pl_all_ok(r->comm, wok && !*r->stop);
    }
    ok = pl_all_ok(r->comm, ok && off == r->links_off + r->n_links);
    pl_linkiter_close(&it);
    free(recs); free(hex); free(src); free(row);
    for (int c = 0; c < 3; c++)
        if (d[c] >= 0)
            H5Dclose(d[c]);
    H5Tclose(str32);
    H5Gclose(g);
    return ok ? 0 : -1;
}

static int write_persons(pl_run *r, pl_outfile *f)
{
    hid_t g = pl_out_group(f, "/persons");
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    uint64_t n = r->n_persons;
    size_t ns = r->store.n_src;
    char *hex = pl_xmalloc((n ? n : 1) * 32);
    pid_hex_rows(r->person_pid, n, hex);
    hid_t str32 = pl_str_type(32);
    int rc = pl_write_full(r, f, g, "pid", str32, r->persons_total, r->persons_off,
                        n, hex);
    H5Tclose(str32);
    free(hex);
    uint32_t *col = pl_xmalloc((n ? n : 1) * sizeof *col);
    for (size_t si = 0; si < ns; si++) {
        for (uint64_t i = 0; i < n; i++)
            col[i] = r->person_counts[i * ns + si];
        rc |= pl_write_full(r, f, g, r->store.src[si].cfg->name, H5T_NATIVE_UINT32,
                         r->persons_total, r->persons_off, n, col);
    }
    free(col);
    H5Gclose(g);
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

static int write_root_attrs(pl_run *r, pl_outfile *f,
                            const char *const *names)
{
    uint64_t read = 0, rej = 0, kept = 0;
    for (size_t si = 0; si < r->store.n_src; si++) {
        read += r->store.src[si].nrows;
        rej += r->ss[si].rej_total;
        kept += r->ss[si].kept_total;
    }
    hid_t root = H5Gopen2(f->file, "/", H5P_DEFAULT);
    char sha[65];
    pl_hex(r->job->sha256, 32, sha);
    int rc = pl_attr_u64(root, "records_read", read);
    rc |= pl_attr_u64(root, "records_rejected", rej);
    rc |= pl_attr_u64(root, "records_linked", kept);
    rc |= pl_attr_u64(root, "persons", r->persons_total);
    rc |= pl_attr_u64(root, "persons_multi_source", r->persons_multi);
    rc |= pl_attr_str(root, "mode",
                      r->job->mode == PL_MODE_KEYED ? "keyed" : "random");
    rc |= pl_attr_str(root, "tool_version", "pseudolink " PL_VERSION_STR);
    rc |= pl_attr_str(root, "job_sha256", sha);
    rc |= pl_attr_strlist(root, "sources", names, r->store.n_src);
    H5Gclose(root);
    return rc;
}

/* After the last batch: every rank wrote all its rows. Then the links,
 * persons and the root attributes; the file is closed, not published. */
int pl_linked_end(pl_run *r)
{
    size_t ns = r->store.n_src;
    int ok = 1;
    for (size_t si = 0; si < ns; si++)
        ok &= r->lw->w[si].done == r->ss[si].kept &&
              r->lw->w[si].rej_done == r->ss[si].rejected;
    writer_free(r);
    if (!pl_all_ok(r->comm, ok)) {
        pl_err0("%s: internal error: rows written differ from the rows "
                "counted", r->linked.tmp);
        return -1;
    }
    const char **names = pl_xmalloc(ns * sizeof *names);
    for (size_t si = 0; si < ns; si++)
        names[si] = r->store.src[si].cfg->name;
    int rc = write_links(r, &r->linked, names);
    if (rc == 0)
        rc = write_persons(r, &r->linked);
    if (rc == 0)
        rc = write_root_attrs(r, &r->linked, names);
    free(names);
    if (pl_out_close(&r->linked) != 0)
        rc = -1;
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

void pl_linked_abort(pl_run *r)
{
    writer_free(r);
    if (r->linked.tmp)
        pl_out_discard(&r->linked, r->comm);
}
