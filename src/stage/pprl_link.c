/* pprl_link.c — see pprl_link.h. */
#include "stage/pprl_link.h"

#include "base/log.h"
#include "base/mem.h"
#include "job/linkage_config.h"
#include "par/h5.h"
#include "par/mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The persons side's parameters of each dice field (this process). */
static pl_pkg_enc g_enc[PL_LK_MAX_FIELDS];
static int g_have[PL_LK_MAX_FIELDS];

int pl_pprl_open(pl_run *r, const char *src, const pl_lk_field *f,
                 pl_pprl_col *c)
{
    memset(c, 0, sizeof *c);
    c->d = -1;
    const pl_source *s = pl_store_find(&r->store, src);
    if (s && s->pkg) {
        const pl_pkg_src *ps = &s->pkg->src[s->pkg_si];
        snprintf(c->where, sizeof c->where, "%s: package source '%s' column "
                 "'%s'", s->pkg->path, src, f->column);
        size_t ci = 0;
        while (ci < ps->ncols && strcmp(ps->cols[ci].name, f->column) != 0)
            ci++;
        if (ci == ps->ncols) {
            pl_err0("%s: not in the package (linkage.fields.%s compares it)",
                    c->where, f->name);
            return -1;
        }
        const pl_pkg_enc *e = pl_pkg_encoding(s->pkg, s->pkg_si, ci);
        if (!e) {
            pl_err0("%s: linkage.fields.%s (compare: dice) compares "
                    "encodings, and this column is clear (type %s): an "
                    "encoded field cannot be compared with a clear one",
                    c->where, f->name, ps->cols[ci].type);
            return -1;
        }
        c->src = s;
        c->pkg_col = ci;
        c->n = ps->rows;
        c->bytes = ps->cols[ci].size;
        c->enc = *e;
        return 0;
    }
    char path[PL_NAME_MAX * 2 + 16];
    snprintf(path, sizeof path, "/sources/%s/%s", src, f->column);
    snprintf(c->where, sizeof c->where, "%s: %s", r->store.path, path);
    char gp[PL_NAME_MAX + 16];
    snprintf(gp, sizeof gp, "/sources/%s", src);
    htri_t ex = r->store.file >= 0
                    ? H5Lexists(r->store.file, "/sources", H5P_DEFAULT) : 0;
    if (ex > 0)
        ex = H5Lexists(r->store.file, gp, H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(r->store.file, path, H5P_DEFAULT);
    if (ex <= 0) {
        pl_err0("%s: no such dataset (linkage.fields.%s compares column "
                "'%s')", c->where, f->name, f->column);
        return -1;
    }
    hid_t d = H5Dopen2(r->store.file, path, H5P_DEFAULT);
    if (d < 0) {
        pl_err0("%s: cannot open: %s", c->where, pl_h5_reason());
        return -1;
    }
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 2)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    int isu8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    H5Tclose(t);
    H5Sclose(sp);
    if (nd != 2 || !isu8 || dims[1] == 0 || dims[1] % 8 || dims[1] > 4096) {
        pl_err0("%s: linkage.fields.%s (compare: dice) expects an encoding "
                "(a 2-D uint8 dataset of rows x N bytes, N a multiple of 8, "
                "with its 'encoding' attribute): an encoded field cannot be "
                "compared with a clear one", c->where, f->name);
        H5Dclose(d);
        return -1;
    }
    char *txt = pl_xmalloc(8192);
    int got = pl_attr_read_text(d, "encoding", txt, 8192);
    const char *why = got == 1 ? NULL
                      : got == 0 ? "missing (the encoding parameters)"
                                 : "not a string";
    if (got == 1) {
        size_t l = strlen(txt);
        if (l + 1 < 8192 && (l == 0 || txt[l - 1] != '\n')) {
            txt[l] = '\n';             /* trailing newline dropped */
            txt[l + 1] = '\0';
        }
        const char *p = txt;
        why = pl_pkg_enc_parse(&p, txt + strlen(txt), f->column,
                               (size_t)dims[1], &c->enc);
        if (!why && *p)
            why = "lines after the encoding's fields";
    }
    free(txt);
    if (why) {
        pl_err0("%s: attribute 'encoding': %s", c->where, why);
        H5Dclose(d);
        return -1;
    }
    c->d = d;
    c->n = dims[0];
    c->bytes = (size_t)dims[1];
    return 0;
}

int pl_pprl_read(pl_run *r, const pl_pprl_col *c, uint64_t first,
                 uint64_t n, uint8_t *buf)
{
    if (c->src) {
        pl_column col;
        memset(&col, 0, sizeof col);
        col.pkg_col = c->pkg_col;
        col.size = c->bytes;
        return pl_source_read(&r->store, c->src, &col, first, n, buf,
                              r->dxpl);
    }
    return pl_store_read(&r->store, c->d, c->where, H5T_NATIVE_UINT8, first,
                         n, c->bytes, buf, r->dxpl);
}

void pl_pprl_close(pl_pprl_col *c)
{
    if (c->d >= 0)
        H5Dclose(c->d);
    c->d = -1;
}

/* The first parameter that differs, or NULL. */
static const char *differs(const pl_pkg_enc *a, size_t wa,
                           const pl_pkg_enc *b, size_t wb)
{
    if (strcmp(a->secret_id, b->secret_id))
        return "secret_id (another linkage secret)";
    if (strcmp(a->version, b->version))
        return "version";
    if (a->bits != b->bits)
        return "bits (filter size)";
    if (a->q != b->q)
        return "q";
    if (a->pad != b->pad)
        return "pad";
    if (a->harden != b->harden)
        return "harden";
    if (strcmp(a->salt, b->salt))
        return "salt";
    if (a->nfields != b->nfields)
        return "fields";
    for (size_t i = 0; i < a->nfields; i++)
        if (strcmp(a->fields[i].name, b->fields[i].name) ||
            a->fields[i].k != b->fields[i].k)
            return "fields (names or k)";
    if (wa != wb)
        return "width";
    return NULL;
}

int pl_pprl_prepare(pl_run *r)
{
    pl_linkage_cfg *c = r->job->linkage;
    if (!c)
        return 0;
    int ok = 1;
    for (size_t f = 0; f < c->n_fields && ok; f++) {
        pl_lk_field *fd = &c->fields[f];
        if (fd->kind != PL_CMP_DICE)
            continue;
        pl_pprl_col p;
        ok = pl_pprl_open(r, c->persons, fd, &p) == 0;
        if (ok) {
            fd->bytes = p.bytes;
            g_enc[f] = p.enc;
            g_have[f] = 1;
        }
        /* linked sources, then deduplicated ones (linkage.dedup: the
         * same encoding, so that the persons' width fits their rows) */
        for (size_t k = 0; ok && k < c->n_sources + c->n_dedup; k++) {
            pl_pprl_col q;
            ok = pl_pprl_open(r, k < c->n_sources ? c->sources[k]
                                                  : c->dedup[k - c->n_sources],
                              fd, &q) == 0;
            if (!ok)
                break;
            const char *why = differs(&p.enc, p.bytes, &q.enc, q.bytes);
            if (why) {
                pl_err0("%s: linkage.fields.%s: its encoding differs from "
                        "the persons side's (%s) in %s: the producers did "
                        "not encode with the same parameters; refused, "
                        "nothing linked", q.where, fd->name, p.where, why);
                ok = 0;
            }
            pl_pprl_close(&q);
        }
        pl_pprl_close(&p);
    }
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

char *pl_pprl_params_json(const pl_run *r, size_t f)
{
    const pl_linkage_cfg *c = r->job->linkage;
    if (!c || f >= c->n_fields || c->fields[f].kind != PL_CMP_DICE ||
        !g_have[f])
        return NULL;
    const pl_pkg_enc *e = &g_enc[f];
    char fl[PL_PKG_ENC_FIELDS * (PL_PKG_NAME_MAX + 16)] = "";
    size_t o = 0;
    for (size_t i = 0; i < e->nfields && o < sizeof fl; i++)
        o += (size_t)snprintf(fl + o, sizeof fl - o, "%s{\"name\":\"%s\","
                              "\"k\":%u}", i ? "," : "", e->fields[i].name,
                              e->fields[i].k);
    return pl_xasprintf("{\"field\":\"%s\",\"version\":\"%s\","
                        "\"secret_id\":\"%s\",\"bits\":%u,\"sent\":%u,"
                        "\"q\":%u,\"pad\":%u,\"harden\":\"%s\","
                        "\"salt\":\"%s\",\"fields\":[%s]}",
                        c->fields[f].name, e->version, e->secret_id, e->bits,
                        pl_pkg_enc_out_bits(e), e->q, e->pad,
                        pl_pkg_enc_harden_name(e->harden), e->salt, fl);
}

char *pl_pprl_params_text(const pl_run *r, size_t f)
{
    const pl_linkage_cfg *c = r->job->linkage;
    if (!c || f >= c->n_fields || c->fields[f].kind != PL_CMP_DICE ||
        !g_have[f])
        return NULL;
    const pl_pkg_enc *e = &g_enc[f];
    char fl[PL_PKG_ENC_FIELDS * (PL_PKG_NAME_MAX + 16)] = "";
    size_t o = 0;
    for (size_t i = 0; i < e->nfields && o < sizeof fl; i++)
        o += (size_t)snprintf(fl + o, sizeof fl - o, "%s%s:%u", i ? "," : "",
                              e->fields[i].name, e->fields[i].k);
    return pl_xasprintf("%s: %s secret_id %s bits %u (sent %u) q %u pad %u "
                        "harden %s salt %s fields %s", c->fields[f].name,
                        e->version, e->secret_id, e->bits,
                        pl_pkg_enc_out_bits(e), e->q, e->pad,
                        pl_pkg_enc_harden_name(e->harden), e->salt, fl);
}
