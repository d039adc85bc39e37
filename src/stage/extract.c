/* extract.c — project extracts; see extract.h and docs/EXTRACTS.md.
 *
 * Per project, after linked.h5 is written (not yet published), every rank:
 *   1. reads back its kept rows and their pids from linked.h5 (the run
 *      keeps no per-row state), then selects those that pass the project's
 *      filters (reading only the filter columns, batch by batch, in
 *      lockstep for collective I/O);
 *   2. maps each selected row's pid to the project pseudonym
 *      HMAC-SHA256(project key, pid)[:16] (precomputed HMAC state);
 *   3. streams the granted payload columns in batches, generalises them and
 *      writes them at the rank's prefix-sum offset (store row order), while
 *      collecting the risk records (class key, pseudonym, sensitive hash);
 *   4. builds the extract's own links (pseudonym, source, extract row),
 *      range-partitioned by pseudonym and sorted on the owner rank, and the
 *      persons table on top, like link.c does for pids;
 *   5. evaluates k-anonymity / l-diversity (risk.c).
 * No pid and no store row number is written: store rows would let two
 * projects join their extracts on (source, row).
 */
#include "stage/extract.h"
#include "base/hex.h"

#include "job/extract_config.h"
#include "stage/generalise.h"
#include "crypto/keyfile.h"
#include "stage/linksort.h"
#include "base/log.h"
#include "stage/pseudonym.h"
#include "stage/linked.h"
#include "stage/risk.h"
#include "stage/runaudit.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stage/extract_int.h"

static void extracts_discard(pl_run *r);
#include "base/mem.h"
#include "base/progress.h"
#include "par/mpi.h"
#include "par/h5.h"
#include "stage/colmeta.h"

/* ------------------------------------------------------------------------ */
/* Preparation: check the job's extracts against the opened store. */

static long payload_index(const pl_source *s, const char *col)
{
    for (size_t c = 0; c < s->n_payload; c++)
        if (strcmp(s->payload[c].name, col) == 0)
            return (long)c;
    return -1;
}

static long granted_index(const xsrc *x, const char *col)
{
    for (size_t c = 0; c < x->cfg->n_columns; c++)
        if (strcmp(x->cfg->columns[c], col) == 0)
            return (long)c;
    return -1;
}

/* Messages name the job file, the key path and where it was declared. */
#define XERR(r, line, col, ...)                                              \
    do {                                                                     \
        char m_[512];                                                        \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                \
        pl_err0("%s:%d:%d: %s", (r)->job->path, line, col, m_);              \
    } while (0)

static int prepare_columns(pl_run *r, const pl_extract_cfg *e, xsrc *x)
{
    const pl_extract_src *c = x->cfg;
    char why[160];
    x->col = pl_xcalloc(c->n_columns ? c->n_columns : 1, sizeof *x->col);
    x->gen = pl_xcalloc(c->n_columns ? c->n_columns : 1, sizeof *x->gen);
    for (size_t i = 0; i < c->n_columns; i++)
        x->gen[i].out_type = -1;
    for (size_t i = 0; i < c->n_columns; i++) {
        long p = payload_index(x->s, c->columns[i]);
        if (p < 0 || strcmp(c->columns[i], "pid") == 0) {
            XERR(r, c->line, c->col, "extracts.%s.sources.%s.columns: column "
                 "'%s' is not a payload column carried for source '%s' "
                 "(see its keep/drop in 'sources'; 'pid' is reserved)",
                 e->name, c->source, c->columns[i], c->source);
            return -1;
        }
        x->col[i] = (size_t)p;
        const pl_gen_rule *g = pl_extract_rule(e, c->columns[i]);
        if (pl_gen_setup(&x->gen[i], g, x->s->payload[p].mem_type, why,
                         sizeof why) != 0) {
            XERR(r, g ? g->line : c->line, g ? g->col : c->col,
                 "extracts.%s.generalise.%s: %s (column /sources/%s/%s)",
                 e->name, c->columns[i], why, c->source, c->columns[i]);
            return -1;
        }
    }
    return 0;
}

static int prepare_filters(pl_run *r, const pl_extract_cfg *e, xsrc *x)
{
    const pl_extract_src *c = x->cfg;
    char why[160];
    x->fcol = pl_xcalloc(c->n_filters ? c->n_filters : 1, sizeof *x->fcol);
    x->fkind = pl_xcalloc(c->n_filters ? c->n_filters : 1, sizeof *x->fkind);
    for (size_t i = 0; i < c->n_filters; i++) {
        const pl_filter *f = &c->filters[i];
        long p = payload_index(x->s, f->column);
        if (p < 0) {
            XERR(r, f->line, f->col, "extracts.%s.sources.%s.filter.%s: not "
                 "a payload column carried for source '%s'", e->name,
                 c->source, f->column, c->source);
            return -1;
        }
        x->fcol[i] = (size_t)p;
        if (pl_vkind_of(x->s->payload[p].mem_type, &x->fkind[i]) != 0 ||
            pl_filter_check(f, x->fkind[i], why, sizeof why) != 0) {
            XERR(r, f->line, f->col, "extracts.%s.sources.%s.filter.%s: %s",
                 e->name, c->source, f->column, why);
            return -1;
        }
    }
    return 0;
}

/* Quasi-identifiers and the sensitive column must be granted columns; the
 * risk is evaluated on every source of the extract that has them all. */
static int prepare_risk(pl_run *r, const pl_extract_cfg *e, xproj *p)
{
    if (!e->has_risk)
        return 0;
    int any = 0;
    for (size_t s = 0; s < p->n_src; s++) {
        xsrc *x = &p->src[s];
        x->qi = pl_xcalloc(e->n_qi, sizeof *x->qi);
        x->risk = 1;
        for (size_t q = 0; q < e->n_qi && x->risk; q++) {
            long g = granted_index(x, e->qi[q]);
            x->risk = g >= 0;
            x->qi[q] = g < 0 ? 0 : (size_t)g;
        }
        x->sens = e->sensitive[0] ? granted_index(x, e->sensitive) : -1;
        if (x->risk && e->sensitive[0] && x->sens < 0)
            x->risk = 0;
        any |= x->risk;
    }
    if (!any)
        XERR(r, e->line, e->col, "extracts.%s.risk: no source of this "
             "extract is granted every quasi-identifier%s (the risk is "
             "evaluated on the records of a source that holds them all)",
             e->name, e->sensitive[0] ? " and the sensitive column" : "");
    return any ? 0 : -1;
}

static int prepare_one(pl_run *r, const pl_extract_cfg *e, xproj *p)
{
    p->cfg = e;
    p->f.file = -1;
    p->n_src = e->n_src;
    p->src = pl_xcalloc(e->n_src, sizeof *p->src);
    for (size_t s = 0; s < e->n_src; s++) {
        xsrc *x = &p->src[s];
        x->cfg = &e->src[s];
        x->sens = -1;
        size_t ji = x->cfg->job_index, nj = r->job->n_sources;
        for (size_t k = 0; ji < nj && k < r->store.n_src; k++)
            if (r->store.src[k].cfg == &r->job->sources[ji])
                x->si = k;
        /* a linkage source (store.lsrc; its kept rows in r->lss) */
        x->s = ji < nj ? &r->store.src[x->si] : &r->store.lsrc[ji - nj];
        x->ss = ji < nj ? &r->ss[x->si] : &r->lss[ji - nj];
        if (prepare_columns(r, e, x) != 0 || prepare_filters(r, e, x) != 0)
            return -1;
    }
    for (size_t g = 0; g < e->n_gen; g++) {
        int used = 0;
        for (size_t s = 0; s < p->n_src; s++)
            used |= granted_index(&p->src[s], e->gen[g].column) >= 0;
        if (!used) {
            XERR(r, e->gen[g].line, e->gen[g].col, "extracts.%s.generalise."
                 "%s: not a granted column of this extract", e->name,
                 e->gen[g].column);
            return -1;
        }
    }
    return prepare_risk(r, e, p);
}

static int load_key(pl_run *r, xproj *p)
{
    uint8_t key[PL_KEY_BYTES];
    char what[PL_NAME_MAX + 32];
    snprintf(what, sizeof what, "project key of extract '%s'", p->cfg->name);
    int ok = pl_key_load(p->cfg->key, what, key, r->rank != 0) == 0;
    if (ok)
        pl_hmac_init(&p->key, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    return ok ? 0 : -1;
}

int pl_extracts_prepare(pl_run *r)
{
    const pl_job *j = r->job;
    if (j->n_extracts == 0)
        return 0;
    struct pl_extract_set *xs = pl_xcalloc(1, sizeof *xs);
    r->extracts = xs;
    xs->p = pl_xcalloc(j->n_extracts, sizeof *xs->p);
    xs->n = j->n_extracts;
    size_t n = strlen(r->gendir) + 16;
    xs->dir = pl_xmalloc(n);
    snprintf(xs->dir, n, "%s/extracts", r->gendir);
    int ok = 1;
    for (size_t i = 0; i < xs->n && ok; i++)
        ok = prepare_one(r, &j->extracts[i], &xs->p[i]) == 0;
    for (size_t i = 0; i < xs->n && ok; i++)
        ok = load_key(r, &xs->p[i]) == 0;
    if (!pl_all_ok(r->comm, ok))
        return -1;
    return pl_out_dir(xs->dir, r->comm);
}

/* ------------------------------------------------------------------------ */
/* Selection and pseudonyms */

static size_t max_size(const pl_source *s)
{
    size_t m = 32;
    for (size_t c = 0; c < s->n_payload; c++)
        if (s->payload[c].size > m)
            m = s->payload[c].size;
    return m;
}

/* This rank's kept rows of the source and their pids, from the slice it
 * wrote to linked.h5: x->sel marks them, x->rowpid holds their pids. */
static int load_kept(pl_run *r, hid_t lf, const char *lpath, xsrc *x)
{
    const pl_source *s = x->s;
    const pl_src_state *ss = x->ss;
    x->sel = pl_xcalloc(s->count ? s->count : 1, 1);
    x->rowpid = pl_xcalloc(s->count ? s->count : 1, PL_PID_BYTES);
    char rpath[PL_NAME_MAX + 32], ppath[PL_NAME_MAX + 32];
    snprintf(rpath, sizeof rpath, "/linked/%s/row", s->cfg->name);
    snprintf(ppath, sizeof ppath, "/linked/%s/pid", s->cfg->name);
    hid_t dr = H5Dopen2(lf, rpath, H5P_DEFAULT);
    hid_t dp = H5Dopen2(lf, ppath, H5P_DEFAULT);
    hid_t str32 = pl_text_type(32);
    uint64_t B = r->job->batch_rows;
    uint64_t nb = pl_batches(r->comm, ss->kept, B);
    uint64_t *rows = pl_xmalloc((ss->kept < B ? ss->kept + 1 : B) * 8);
    char *hex = pl_xmalloc((ss->kept < B ? ss->kept + 1 : B) * 32);
    int ok = pl_all_ok(r->comm, dr >= 0 && dp >= 0);
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(ss->kept, lo, B);
        int rok = pl_h5_read_rows(lpath, dr, rpath, H5T_NATIVE_UINT64,
                                  ss->kept_off + lo, cnt, 0, rows,
                                  r->dxpl) == 0;
        rok &= pl_h5_read_rows(lpath, dp, ppath, str32, ss->kept_off + lo,
                               cnt, 0, hex, r->dxpl) == 0;
        for (uint64_t i = 0; rok && i < cnt; i++) {
            uint64_t at = rows[i] - s->first;
            rok = rows[i] >= s->first && at < s->count;
            rok = rok && pl_unhex(hex + 32 * i, PL_PID_BYTES,
                                  x->rowpid + at * PL_PID_BYTES, NULL) == 0;
            if (rok)
                x->sel[at] = 1;
        }
        ok = pl_all_ok(r->comm, rok);
    }
    free(rows);
    free(hex);
    H5Tclose(str32);
    if (dr >= 0)
        H5Dclose(dr);
    if (dp >= 0)
        H5Dclose(dp);
    if (!ok)
        pl_err0("%s: /linked/%s: cannot read back the kept rows for the "
                "extracts", lpath, s->cfg->name);
    return ok ? 0 : -1;
}

static int select_rows(pl_run *r, xsrc *x)
{
    const pl_source *s = x->s;
    uint64_t B = r->job->batch_rows;
    uint64_t nb = x->cfg->n_filters ? pl_batches(r->comm, s->count, B) : 0;
    uint8_t *in = pl_xmalloc((s->count < B ? s->count + 1 : B) * max_size(s));
    int ok = 1;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
        int rok = 1;
        for (size_t f = 0; f < x->cfg->n_filters; f++) {
            const pl_column *col = &s->payload[x->fcol[f]];
            rok &= pl_source_read(&r->store, s, col, s->first + lo, cnt, in,
                                  r->dxpl) == 0;
            for (uint64_t i = 0; rok && i < cnt; i++)
                if (x->sel[lo + i] &&
                    !pl_filter_match(&x->cfg->filters[f], x->fkind[f],
                                     col->size, in + i * col->size))
                    x->sel[lo + i] = 0;
        }
        ok = pl_all_ok(r->comm, rok && !*r->stop);
    }
    free(in);
    if (!ok)
        return -1;
    x->n = 0;
    for (uint64_t i = 0; i < s->count; i++)
        x->n += x->sel[i];
    pl_exscan(r->comm, x->n, &x->off, &x->total);
    return 0;
}

/* Project pseudonym of each selected row: the first 16 bytes of
 * HMAC(project key, pid). The selected pids are gathered in chunks for
 * pl_hmac_batch (multi-buffer SHA-256). */
static void make_pseudonyms(const xproj *p, xsrc *x)
{
    enum { CHUNK = 1024 };
    x->pseudo = pl_xmalloc((x->n ? x->n : 1) * PL_PID_BYTES);
    uint8_t in[CHUNK * PL_PID_BYTES];
    uint64_t k = 0;
    size_t m = 0;
    for (uint64_t i = 0; i <= x->s->count; i++) {
        if (m == CHUNK || (i == x->s->count && m > 0)) {
            pl_hmac_batch(&p->key, in, PL_PID_BYTES, PL_PID_BYTES, m,
                          x->pseudo + k * PL_PID_BYTES, PL_PID_BYTES,
                          PL_PID_BYTES);
            k += m;
            m = 0;
        }
        if (i < x->s->count && x->sel[i])
            memcpy(in + m++ * PL_PID_BYTES, x->rowpid + i * PL_PID_BYTES,
                   PL_PID_BYTES);
    }
    OPENSSL_cleanse(in, sizeof in);
}

/* ------------------------------------------------------------------------ */
/* Writing */

static const char *rule_name(const pl_gen_rule *g, char *buf, size_t n)
{
    static const char *names[] = {"none", "year", "month", "department",
                                  "prefix", "bands"};
    if (!g)
        return "none";
    if (g->kind == PL_GEN_PREFIX)
        snprintf(buf, n, "prefix %zu", g->prefix);
    else if (g->kind == PL_GEN_BANDS) {
        size_t o = (size_t)snprintf(buf, n, "bands");
        for (size_t i = 0; i < g->n_bands && o < n; i++)
            o += (size_t)snprintf(buf + o, n - o, " %.10g", g->bands[i]);
    } else
        snprintf(buf, n, "%s", names[g->kind]);
    return buf;
}

/* Risk staging of one batch: generalised quasi-identifier values of each
 * selected row, hashed into the class key once the batch is complete. */
typedef struct {
    size_t   width, sens_off, sens_size;
    size_t  *qoff;              /* per quasi-identifier */
    uint8_t *buf;               /* [rows][width] */
} risk_stage;

static void stage_init(risk_stage *st, const xproj *p, const xsrc *x,
                       uint64_t rows)
{
    memset(st, 0, sizeof *st);
    if (!x->risk)
        return;
    const pl_extract_cfg *e = p->cfg;
    st->qoff = pl_xcalloc(e->n_qi, sizeof *st->qoff);
    for (size_t q = 0; q < e->n_qi; q++) {
        st->qoff[q] = st->width;
        st->width += x->gen[x->qi[q]].out_size;
    }
    st->sens_off = st->width;
    st->sens_size = x->sens >= 0 ? x->gen[x->sens].out_size : 0;
    st->width += st->sens_size;
    st->buf = pl_xcalloc((rows ? rows : 1), st->width ? st->width : 1);
}

static void stage_column(risk_stage *st, const xproj *p, const xsrc *x,
                         size_t gi, const uint8_t *vals, uint64_t n)
{
    if (!x->risk)
        return;
    size_t sz = x->gen[gi].out_size;
    for (size_t q = 0; q < p->cfg->n_qi; q++)
        if (x->qi[q] == gi)
            for (uint64_t i = 0; i < n; i++)
                memcpy(st->buf + i * st->width + st->qoff[q], vals + i * sz,
                       sz);
    if (x->sens >= 0 && (size_t)x->sens == gi)
        for (uint64_t i = 0; i < n; i++)
            memcpy(st->buf + i * st->width + st->sens_off, vals + i * sz, sz);
}

static void stage_flush(risk_stage *st, xsrc *x, uint64_t done, uint64_t n)
{
    if (!x->risk)
        return;
    uint8_t h[32];
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *rec = x->rrec + (done + i) * PL_RISK_REC;
        const uint8_t *row = st->buf + i * st->width;
        SHA256(row, st->sens_off, h);
        memcpy(rec, h, PL_RISK_CLASS);
        memcpy(rec + 16, x->pseudo + (done + i) * PL_PID_BYTES, 16);
        SHA256(row + st->sens_off, st->sens_size, h);
        memcpy(rec + 32, h, 8);
    }
}

static void stage_free(risk_stage *st)
{
    free(st->qoff);
    free(st->buf);
}

/* The column's metadata (colmeta.h) as generalised: a date cut to the
 * year says so in its date_format and description. */
static int describe_column(pl_run *r, const xsrc *x, size_t c, hid_t d)
{
    pl_colmeta m;
    const pl_column *col = &x->s->payload[x->col[c]];
    if (pl_colmeta_payload(r->job, &r->store, x->s, col, &m) != 0)
        return -1;
    const pl_gen_rule *g = x->gen[c].rule;
    char add[320] = "", cs[PL_META_SHORT];
    switch (g ? g->kind : PL_GEN_NONE) {
    case PL_GEN_NONE:
        break;
    case PL_GEN_YEAR:
        snprintf(m.date_format, sizeof m.date_format, "YYYY");
        snprintf(add, sizeof add, "generalised to the year: an integer "
                 "YYYY, not a date");
        break;
    case PL_GEN_MONTH:
        snprintf(m.date_format, sizeof m.date_format, "YYYYMM");
        snprintf(add, sizeof add, "generalised to the month: an integer "
                 "YYYYMM, not a date");
        break;
    case PL_GEN_DEPARTMENT:
        snprintf(add, sizeof add, "generalised to the department (first "
                 "2 characters, 3 for overseas 97x/98x)");
        break;
    case PL_GEN_PREFIX:
        snprintf(add, sizeof add, "generalised to its first %zu "
                 "characters", g->prefix);
        if (m.code_system[0]) {
            snprintf(cs, sizeof cs, "first %zu characters", g->prefix);
            pl_colmeta_note(&m, 1, cs);
        }
        break;
    case PL_GEN_BANDS:
        m.date_format[0] = '\0';
        snprintf(add, sizeof add, "generalised to bands: HDF5 enum whose "
                 "values sort in band order, labels \"<a\", \"[a,b)\", "
                 "\">=b\"%s", m.units[0] ? " (edges in units)" : "");
        break;
    }
    if (add[0])
        pl_colmeta_note(&m, 0, add);
    return pl_colmeta_write(d, &m);
}

static int create_columns(pl_run *r, xproj *p, xsrc *x, hid_t g, hid_t *d,
                          hid_t str32)
{
    int ok = (d[0] = pl_out_dataset(&p->f, g, "pid", str32, x->total)) >= 0;
    ok = ok && pl_colmeta_put(d[0], "project pseudonym of the person: "
                              "HMAC-SHA256(project key, platform pid), "
                              "first 16 bytes, 32 lowercase hex characters",
                              NULL, NULL) == 0;
    for (size_t c = 0; c < x->cfg->n_columns && ok; c++) {
        d[1 + c] = pl_out_dataset(&p->f, g, x->cfg->columns[c],
                                  x->gen[c].out_type, x->total);
        ok = d[1 + c] >= 0;
        char buf[256];
        if (ok)
            ok = pl_attr_str(d[1 + c], "generalisation",
                             rule_name(x->gen[c].rule, buf, sizeof buf)) == 0;
        ok = ok && describe_column(r, x, c, d[1 + c]) == 0;
    }
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

/* Selected rows of one batch: pid hex and generalised granted columns.
 * 0, or -1 when this rank failed (the caller agrees with the others). */
static int write_batch(pl_run *r, xproj *p, xsrc *x, hid_t *d, hid_t str32,
                       uint64_t lo, uint64_t cnt, uint64_t done,
                       uint8_t *in, uint8_t *out, risk_stage *st)
{
    const pl_source *s = x->s;
    const uint8_t *sel = x->sel + lo;
    uint64_t nk = 0, off = x->off + done;
    for (uint64_t i = 0; i < cnt; i++)
        nk += sel[i];
    for (uint64_t i = 0; i < nk; i++)
        pl_hex16(x->pseudo + (done + i) * PL_PID_BYTES,
                   (char *)out + 32 * i);
    int ok = pl_out_write(&p->f, d[0], "pid", str32, off, nk, out,
                          r->dxpl) == 0;
    for (size_t c = 0; c < x->cfg->n_columns; c++) {
        const pl_column *col = &s->payload[x->col[c]];
        ok &= pl_source_read(&r->store, s, col, s->first + lo, cnt, in,
                             r->dxpl) == 0;
        uint64_t m = 0;
        for (uint64_t i = 0; i < cnt; i++)
            if (sel[i])
                memmove(in + m++ * col->size, in + i * col->size, col->size);
        pl_gen_apply(&x->gen[c], in, m, out);
        stage_column(st, p, x, c, out, m);
        ok &= pl_out_write(&p->f, d[1 + c], col->name, x->gen[c].out_type,
                           off, m, out, r->dxpl) == 0;
    }
    stage_flush(st, x, done, nk);
    return ok ? 0 : -1;
}

static int write_source(pl_run *r, xproj *p, xsrc *x)
{
    const pl_source *s = x->s;
    char path[PL_NAME_MAX + 16];
    snprintf(path, sizeof path, "/linked/%s", s->cfg->name);
    hid_t g = pl_out_group(&p->f, path);
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    pl_attr_u64(g, "rows", x->total);
    size_t nd = 1 + x->cfg->n_columns;
    hid_t *d = pl_xcalloc(nd, sizeof *d);
    hid_t str32 = pl_text_type(32);
    int ok = create_columns(r, p, x, g, d, str32) == 0;
    uint64_t B = r->job->batch_rows;
    uint64_t bsz = s->count < B ? s->count + 1 : B;
    size_t width = max_size(s) > PL_BAND_LABEL ? max_size(s) : PL_BAND_LABEL;
    uint8_t *in = pl_xmalloc(bsz * width), *out = pl_xmalloc(bsz * width);
    x->rrec = x->risk ? pl_xmalloc((x->n ? x->n : 1) * PL_RISK_REC) : NULL;
    risk_stage st;
    stage_init(&st, p, x, bsz);
    uint64_t nb = pl_batches(r->comm, s->count, B), done = 0, base = 0;
    for (const xsrc *e = p->src; e < x; e++)    /* progress.h */
        base += e->s->nrows;
    for (uint64_t k = 0; k < nb && ok; k++) {
        uint64_t lo = k * B, cnt = pl_batch_count(s->count, lo, B);
        int wok = write_batch(r, p, x, d, str32, lo, cnt, done, in, out,
                              &st) == 0;
        for (uint64_t i = 0; i < cnt; i++)
            done += x->sel[lo + i];
        ok = pl_all_ok(r->comm, wok && !*r->stop);
        pl_progress_set(pl_progress_estimate(base, k + 1, B, r->size,
                                             s->nrows));
    }
    stage_free(&st);
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

/* ------------------------------------------------------------------------ */
/* Links and persons of the extract, keyed by the project pseudonym. */

/* The extract's own index, keyed by the project pseudonym: (pseudonym,
 * source in the extract, extract row), fed batch by batch like the run's. */
static int build_links(pl_run *r, xproj *p)
{
    uint64_t B = r->job->batch_rows ? r->job->batch_rows : 1;
    p->links = pl_links_new(p->n_src, r->link_run, r->merge_bytes,
                            r->job->output, B);
    uint8_t *recs = pl_xmalloc(B * PL_LINK_BYTES);
    int ok = 1;
    for (size_t s = 0; s < p->n_src && ok; s++) {
        const xsrc *x = &p->src[s];
        uint64_t nb = pl_batches(r->comm, x->n, B);
        for (uint64_t k = 0; k < nb && ok; k++) {
            uint64_t lo = k * B, cnt = pl_batch_count(x->n, lo, B);
            for (uint64_t i = 0; i < cnt; i++)
                pl_link_pack(recs + i * PL_LINK_BYTES,
                             x->pseudo + (lo + i) * PL_PID_BYTES,
                             (unsigned)s, x->off + lo + i);
            ok = pl_links_add(p->links, r->comm, recs, cnt, r->cap,
                              NULL) == 0;
        }
    }
    free(recs);
    return ok && pl_links_finish(p->links, r->comm) == 0 ? 0 : -1;
}

static int write_root(pl_run *r, xproj *p, const char *const *names)
{
    const pl_extract_cfg *e = p->cfg;
    uint64_t recs = 0;
    for (size_t s = 0; s < p->n_src; s++)
        recs += p->src[s].total;
    char **gen = pl_xcalloc(e->n_gen ? e->n_gen : 1, sizeof *gen);
    for (size_t g = 0; g < e->n_gen; g++) {
        char buf[256];
        gen[g] = pl_xmalloc(PL_NAME_MAX + 260);
        snprintf(gen[g], PL_NAME_MAX + 260, "%s: %s", e->gen[g].column,
                 rule_name(e->gen[g].kind == PL_GEN_NONE ? NULL : &e->gen[g],
                           buf, sizeof buf));
    }
    hid_t root = H5Gopen2(p->f.file, "/", H5P_DEFAULT);
    int rc = pl_attr_str(root, "project", e->name);
    rc |= pl_attr_str(root, "pseudonym",
                      "HMAC-SHA256(project key, platform pid), first 16 "
                      "bytes, hex");
    rc |= pl_attr_u64(root, "records", recs);
    rc |= pl_linked_write_root(root, r->job->mode,
                               pl_links_count(p->links)->persons_total,
                               names, p->n_src);
    rc |= pl_attr_strlist(root, "generalisation", (const char *const *)gen,
                          e->n_gen);
    H5Gclose(root);
    for (size_t g = 0; g < e->n_gen; g++)
        free(gen[g]);
    free(gen);
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* One extract, the set */

static int write_body(pl_run *r, xproj *p)
{
    const char **names = pl_xmalloc(p->n_src * sizeof *names);
    for (size_t s = 0; s < p->n_src; s++)
        names[s] = p->src[s].s->cfg->name;
    int rc = 0;
    for (size_t s = 0; s < p->n_src && rc == 0; s++)
        rc = write_source(r, p, &p->src[s]);
    if (rc == 0)
        rc = build_links(r, p);
    if (rc == 0) {
        char what[PL_NAME_MAX + 32];
        snprintf(what, sizeof what, "extract %s: links", p->cfg->name);
        pl_progress_stage(what, pl_links_count(p->links)->links_total,
                          "links");
    }
    if (rc == 0)
        rc = pl_linked_write_index(&p->f, r->comm, r->dxpl, p->links, names,
                                   p->n_src, r->job->batch_rows, r->stop);
    if (rc == 0)
        rc = pl_colmeta_index(p->f.file, names, p->n_src, 1);
    if (rc == 0)
        rc = pl_xrisk_eval(r, p);
    if (rc == 0)
        rc = pl_xrisk_write(r, p);
    if (rc == 0)
        rc = write_root(r, p, names);
    free(names);
    return rc;
}

static int write_one(pl_run *r, xproj *p, hid_t lf, const char *lpath)
{
    uint64_t rows = 0;
    for (size_t s = 0; s < p->n_src; s++)
        rows += p->src[s].s->nrows;
    char what[PL_NAME_MAX + 16];
    snprintf(what, sizeof what, "extract %s", p->cfg->name);
    pl_progress_stage(what, rows, "rows");
    for (size_t s = 0; s < p->n_src; s++) {
        xsrc *x = &p->src[s];
        if (load_kept(r, lf, lpath, x) != 0 || select_rows(r, x) != 0)
            return -1;
        make_pseudonyms(p, x);
        free(x->rowpid);
        x->rowpid = NULL;
    }
    char name[PL_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s.h5", p->cfg->name);
    struct pl_extract_set *xs = r->extracts;
    if (pl_out_create(&p->f, xs->dir, name, r->comm) != 0) {
        pl_out_discard(&p->f, r->comm);
        return -1;
    }
    p->open = 1;
    int rc = write_body(r, p);
    if (pl_out_close(&p->f) != 0)
        rc = -1;
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}

int pl_extracts_write(pl_run *r, const char *linked)
{
    struct pl_extract_set *xs = r->extracts;
    if (!xs)
        return 0;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, r->comm, MPI_INFO_NULL);
    hid_t lf = H5Fopen(linked, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    int rc = pl_all_ok(r->comm, lf >= 0) ? 0 : -1;
    if (rc != 0)
        pl_err0("%s: cannot open the linked output for the extracts: %s",
                linked, pl_h5_reason());
    for (size_t i = 0; i < xs->n && rc == 0; i++)
        rc = write_one(r, &xs->p[i], lf, linked);
    if (lf >= 0)
        H5Fclose(lf);
    if (rc != 0)
        extracts_discard(r);
    return rc;
}

static void extracts_discard(pl_run *r)
{
    struct pl_extract_set *xs = r->extracts;
    for (size_t i = 0; xs && i < xs->n; i++)
        if (xs->p[i].open) {
            pl_out_discard(&xs->p[i].f, r->comm);
            xs->p[i].open = 0;
        }
}

/* The set the run publishes: a refused extract's file is removed now, so
 * that no byte of it is published under any name (and no earlier run's
 * file of that name can stand in the new set); the others are noted for
 * the manifest and the audit line. */
int pl_extracts_seal(pl_run *r)
{
    struct pl_extract_set *xs = r->extracts;
    for (size_t i = 0; xs && i < xs->n; i++) {
        xproj *p = &xs->p[i];
        if (!p->open)
            continue;
        if (p->status == XP_REFUSED) {
            pl_out_discard(&p->f, r->comm);
        } else {
            char name[PL_NAME_MAX + 16];
            snprintf(name, sizeof name, "extracts/%s.h5", p->cfg->name);
            pl_run_output(name);
            free(p->f.tmp);
            free(p->f.final);
            p->f.tmp = p->f.final = NULL;
        }
        p->open = 0;
    }
    return 0;
}

int pl_extracts_refused(const pl_run *r)
{
    const struct pl_extract_set *xs = r->extracts;
    int n = 0;
    for (size_t i = 0; xs && i < xs->n; i++)
        n += xs->p[i].status == XP_REFUSED;
    return n;
}

void pl_extracts_release(pl_run *r)
{
    struct pl_extract_set *xs = r->extracts;
    if (!xs)
        return;
    for (size_t i = 0; i < xs->n; i++) {
        xproj *p = &xs->p[i];
        pl_hmac_key_wipe(&p->key);
        for (size_t s = 0; p->src && s < p->n_src; s++) {
            xsrc *x = &p->src[s];
            for (size_t c = 0; x->gen && c < x->cfg->n_columns; c++)
                pl_gen_close(&x->gen[c]);
            free(x->col);
            free(x->gen);
            free(x->fcol);
            free(x->fkind);
            free(x->sel);
            free(x->rowpid);
            free(x->pseudo);
            free(x->qi);
            free(x->rrec);
        }
        free(p->src);
        pl_links_free(p->links);
    }
    free(xs->p);
    free(xs->dir);
    free(xs);
    r->extracts = NULL;
}

void pl_extracts_summary(pl_run *r)
{
    struct pl_extract_set *xs = r->extracts;
    if (!xs || r->rank != 0)
        return;
    static const char *status[] = {"published", "published (risk warning)",
                                   "REFUSED (not published)"};
    for (size_t i = 0; i < xs->n; i++) {
        const xproj *p = &xs->p[i];
        uint64_t recs = 0;
        for (size_t s = 0; s < p->n_src; s++)
            recs += p->src[s].total;
        pl_info("extract %s: %llu records, %llu persons: %s", p->cfg->name,
                (unsigned long long)recs,
                (unsigned long long)(p->links ? pl_links_count(p->links)->persons_total : 0), status[p->status]);
        for (size_t s = 0; s < p->n_src; s++) {
            const xsrc *x = &p->src[s];
            if (!x->risk)
                continue;
            const pl_risk_stats *st = &x->st;
            pl_info("  risk %s: %llu classes, smallest %llu, below k=%llu: "
                    "%llu classes, %llu records, %llu persons; l-diversity "
                    "%llu", x->s->cfg->name,
                    (unsigned long long)st->classes,
                    (unsigned long long)st->smallest,
                    (unsigned long long)p->cfg->k,
                    (unsigned long long)st->small_classes,
                    (unsigned long long)st->records_small,
                    (unsigned long long)st->persons_small,
                    (unsigned long long)st->l_min);
        }
    }
}

