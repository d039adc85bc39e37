/* linked.c — write <out>/linked.h5: linked sources, links, persons, rejects
 * and the run's attributes (docs/FORMATS.md is the reader's reference).
 *
 * Every dataset is created collectively with its global length; each rank
 * writes its slice at its prefix-sum offset, so row order (input order for
 * sources, pid order for links and persons) never depends on the number of
 * ranks and keyed-mode outputs are identical for any rank count.
 */
#include "linksort.h"
#include "log.h"
#include "nir.h"
#include "output.h"
#include "pseudonym.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

#define PL_VERSION_STR "0.1.0"

static void pid_hex_rows(const uint8_t *pids, uint64_t n, char *out)
{
    for (uint64_t i = 0; i < n; i++)
        pl_pid_hex(pids + i * PL_PID_BYTES, out + i * 32);
}

/* Kept rows of one source: pid, row and the payload columns, streamed in
 * batches (payload columns are read here, not kept in memory). */
static int write_source(pl_run *r, pl_outfile *f, size_t si)
{
    const pl_source *s = &r->store.src[si];
    const pl_src_state *ss = &r->ss[si];
    char path[PL_NAME_MAX + 16];
    snprintf(path, sizeof path, "/linked/%s", s->cfg->name);
    hid_t g = pl_out_group(f, path);
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    pl_attr_u64(g, "rows_read", s->nrows);
    pl_attr_u64(g, "rows_rejected", ss->rej_total);
    pl_attr_u64(g, "rows_linked", ss->kept_total);

    size_t nd = 2 + s->n_payload;
    hid_t *d = pl_xcalloc(nd, sizeof *d);
    hid_t str32 = pl_str_type(32);
    int ok = (d[0] = pl_out_dataset(f, g, "pid", str32, ss->kept_total)) >= 0;
    ok = ok && (d[1] = pl_out_dataset(f, g, "row", H5T_NATIVE_UINT64,
                                      ss->kept_total)) >= 0;
    for (size_t c = 0; c < s->n_payload && ok; c++)
        ok = (d[2 + c] = pl_out_dataset(f, g, s->payload[c].name,
                                        s->payload[c].mem_type,
                                        ss->kept_total)) >= 0;
    ok = pl_all_ok(r->comm, ok);

    uint64_t B = r->job->batch_rows;
    size_t maxsz = 32;
    for (size_t c = 0; c < s->n_payload; c++)
        if (s->payload[c].size > maxsz)
            maxsz = s->payload[c].size;
    uint64_t bsz = s->count < B ? (s->count ? s->count : 1) : B;
    uint8_t *in = pl_xmalloc(bsz * maxsz), *out = pl_xmalloc(bsz * maxsz);
    uint64_t nb = pl_batches(r->comm, s->count, B), done = 0;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B;
        uint64_t cnt = pl_batch_count(s->count, lo, B);
        const uint8_t *why = ss->reason + lo;
        uint64_t nk = 0;
        uint64_t *rows = (uint64_t *)out;
        for (uint64_t i = 0; i < cnt; i++)
            if (!why[i])
                rows[nk++] = s->first + lo + i;
        uint64_t off = ss->kept_off + done;
        int wok = pl_out_write(f, d[1], "row", H5T_NATIVE_UINT64, off, nk,
                               rows, r->dxpl) == 0;
        char *hex = (char *)out;
        nk = 0;
        for (uint64_t i = 0; i < cnt; i++)
            if (!why[i])
                pl_pid_hex(ss->pid + (lo + i) * PL_PID_BYTES, hex + 32 * nk++);
        wok &= pl_out_write(f, d[0], "pid", str32, off, nk, hex, r->dxpl) == 0;
        for (size_t c = 0; c < s->n_payload; c++) {
            const pl_column *col = &s->payload[c];
            char what[PL_NAME_MAX * 2 + 16];
            snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
                     col->name);
            wok &= pl_store_read(&r->store, col->dset, what, col->mem_type,
                                 s->first + lo, cnt, 0, in, r->dxpl) == 0;
            uint64_t m = 0;
            for (uint64_t i = 0; i < cnt; i++)
                if (!why[i])
                    memcpy(out + m++ * col->size, in + i * col->size,
                           col->size);
            wok &= pl_out_write(f, d[2 + c], col->name, col->mem_type, off, m,
                                out, r->dxpl) == 0;
        }
        done += nk;
        ok = pl_all_ok(r->comm, wok && !*r->stop);
    }
    free(in);
    free(out);
    for (size_t c = 0; c < nd; c++)
        if (d[c] > 0)
            H5Dclose(d[c]);
    free(d);
    H5Tclose(str32);
    H5Gclose(g);
    return ok ? 0 : -1;
}

static int write_rejects(pl_run *r, pl_outfile *f, size_t si, hid_t g)
{
    const pl_source *s = &r->store.src[si];
    const pl_src_state *ss = &r->ss[si];
    hid_t sg = H5Gcreate2(g, s->cfg->name, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    if (!pl_all_ok(r->comm, sg >= 0))
        return -1;
    uint64_t *rows = pl_xmalloc((ss->rejected ? ss->rejected : 1) * 8);
    uint8_t *why = pl_xmalloc(ss->rejected ? ss->rejected : 1);
    uint64_t k = 0;
    for (uint64_t i = 0; i < s->count; i++)
        if (ss->reason[i]) {
            rows[k] = s->first + i;
            why[k++] = ss->reason[i];
        }
    int rc = pl_write_full(r, f, sg, "row", H5T_NATIVE_UINT64, ss->rej_total,
                        ss->rej_off, k, rows);
    rc |= pl_write_full(r, f, sg, "reason", H5T_NATIVE_UINT8, ss->rej_total,
                     ss->rej_off, k, why);
    free(rows);
    free(why);
    H5Gclose(sg);
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

/* One chunk of sorted link records -> the three /links columns. */
void pl_link_split(const uint8_t *recs, uint64_t n, char *hex, uint16_t *src,
                   uint64_t *row)
{
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = recs + i * PL_LINK_BYTES;
        pl_pid_hex(rec, hex + 32 * i);
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

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
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
    hex_of(r->job->sha256, 32, sha);
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

static int write_all(pl_run *r, pl_outfile *f)
{
    size_t ns = r->store.n_src;
    const char **names = pl_xmalloc(ns * sizeof *names);
    for (size_t si = 0; si < ns; si++)
        names[si] = r->store.src[si].cfg->name;
    int rc = 0;
    for (size_t si = 0; si < ns && rc == 0; si++)
        rc = write_source(r, f, si);
    hid_t rg = rc == 0 ? pl_out_group(f, "/rejects") : -1;
    if (rc == 0 && !pl_all_ok(r->comm, rg >= 0))
        rc = -1;
    if (rc == 0) {
        const char *codes[PL_R_COUNT];
        char buf[PL_R_COUNT][40];
        for (int c = 0; c < PL_R_COUNT; c++) {
            snprintf(buf[c], sizeof buf[c], "%d=%s", c, pl_reason_name(c));
            codes[c] = buf[c];
        }
        pl_attr_strlist(rg, "reason_codes", codes, PL_R_COUNT);
    }
    for (size_t si = 0; si < ns && rc == 0; si++)
        rc = write_rejects(r, f, si, rg);
    if (rg >= 0)
        H5Gclose(rg);
    if (rc == 0)
        rc = write_links(r, f, names);
    if (rc == 0)
        rc = write_persons(r, f);
    if (rc == 0)
        rc = write_root_attrs(r, f, names);
    free(names);
    return rc;
}

int pl_write_linked(pl_run *r, pl_outfile *f, const char *dir,
                    const char *tag)
{
    if (pl_out_create(f, dir, "linked.h5", tag, r->comm) != 0) {
        pl_out_discard(f, r->comm);
        return -1;
    }
    int rc = write_all(r, f);
    if (pl_out_close(f) != 0)
        rc = -1;
    if (!pl_all_ok(r->comm, rc == 0)) {
        pl_out_discard(f, r->comm);
        return -1;
    }
    return 0;
}
