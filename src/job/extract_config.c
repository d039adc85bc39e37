/* extract_config.c — the `extracts:` section of the job file; see
 * extract_config.h and docs/EXTRACTS.md. Every array is attached to the job
 * as soon as it is allocated, so pl_extracts_free releases it on error. */
#include "job/extract_config.h"
#include "job/linkage_config.h"

#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const extract_keys[] = {
    "key", "sources", "generalise", "risk", NULL};
static const char *const esource_keys[] = {"columns", "filter", NULL};
static const char *const filter_keys[] = {"from", "to", "prefix", NULL};
static const char *const risk_keys[] = {
    "quasi_identifiers", "sensitive", "k", "l", "on_violation", NULL};
static const char *const violation_names[] = {"warn", "refuse", NULL};
static const char *const gen_names[] = {
    "none", "year", "month", "department", NULL};
static const char *const gen_map_keys[] = {"bands", "prefix", NULL};

static int get_name(doc_t *d, node_t *v, const char *path, char *out)
{
    if (pl_yaml_expect(d, v, path, PL_YAML_SCALAR))
        return -1;
    if (pl_yaml_name(d, v, path, "column", PL_NAME_MAX))
        return -1;
    memcpy(out, v->str, v->len + 1);
    return 0;
}

/* A list of distinct column names. */
static int get_names(doc_t *d, node_t *seq, const char *path, char ***out,
                     size_t *n)
{
    char sub[PL_YAML_PATH_MAX], name[PL_NAME_MAX];
    if (pl_yaml_expect(d, seq, path, PL_YAML_SEQUENCE))
        return -1;
    *out = pl_xcalloc(seq->n_items ? seq->n_items : 1, sizeof **out);
    for (size_t i = 0; i < seq->n_items; i++) {
        pl_yaml_path_index(sub, path, i);
        if (get_name(d, seq->items[i], sub, name))
            return -1;
        for (size_t j = 0; j < *n; j++)
            if (strcmp((*out)[j], name) == 0) {
                pl_yaml_error(d, seq->items[i]->line, seq->items[i]->col,
                              sub, "duplicate column '%s'", name);
                return -1;
            }
        (*out)[(*n)++] = pl_xstrdup(name);
    }
    return 0;
}

static int get_i64(doc_t *d, node_t *v, const char *path, int64_t *out)
{
    uint64_t u;
    if (pl_yaml_u64(d, v, path, &u))
        return -1;
    if (u > INT64_MAX) {
        pl_yaml_error(d, v->line, v->col, path, "value is too large");
        return -1;
    }
    *out = (int64_t)u;
    return 0;
}

/* filter: {col: {from: N, to: N}} or {col: {prefix: S | [S, ...]}} */
static int parse_filter(doc_t *d, const pl_yaml_pair *p, const char *path,
                        pl_filter *f)
{
    char sub[PL_YAML_PATH_MAX], fpath[PL_YAML_PATH_MAX];
    if (pl_yaml_name(d, p->key, path, "column", PL_NAME_MAX))
        return -1;
    memcpy(f->column, p->key->str, p->key->len + 1);
    f->line = p->key->line;
    f->col = p->key->col;
    pl_yaml_path(fpath, path, f->column);
    node_t *m = p->value, *v;
    if (pl_yaml_expect(d, m, fpath, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, fpath, filter_keys))
        return -1;
    node_t *pre = pl_yaml_get(m, "prefix");
    if (pre) {
        if (pl_yaml_get(m, "from") || pl_yaml_get(m, "to")) {
            pl_yaml_error(d, m->line, m->col, fpath, "'prefix' cannot be "
                          "combined with 'from'/'to'");
            return -1;
        }
        pl_yaml_path(sub, fpath, "prefix");
        if (pre->kind == PL_YAML_SEQUENCE) {
            if (pl_yaml_strings(d, pre, sub, &f->prefixes, &f->n_prefixes))
                return -1;
        } else {
            const char *s;
            if (pl_yaml_string(d, pre, sub, &s))
                return -1;
            f->prefixes = pl_xcalloc(1, sizeof *f->prefixes);
            f->prefixes[0] = pl_xstrdup(s);
            f->n_prefixes = 1;
        }
        if (f->n_prefixes == 0) {
            pl_yaml_error(d, pre->line, pre->col, sub,
                          "expected at least one prefix");
            return -1;
        }
        return 0;
    }
    f->is_range = 1;
    f->from = INT64_MIN;
    f->to = INT64_MAX;
    if (!pl_yaml_get(m, "from") && !pl_yaml_get(m, "to")) {
        pl_yaml_error(d, m->line, m->col, fpath, "expected 'from' and/or "
                      "'to' (inclusive bounds), or 'prefix'");
        return -1;
    }
    if ((v = pl_yaml_get(m, "from"))) {
        pl_yaml_path(sub, fpath, "from");
        if (get_i64(d, v, sub, &f->from))
            return -1;
    }
    if ((v = pl_yaml_get(m, "to"))) {
        pl_yaml_path(sub, fpath, "to");
        if (get_i64(d, v, sub, &f->to))
            return -1;
    }
    if (f->from > f->to) {
        pl_yaml_error(d, m->line, m->col, fpath, "'from' is after 'to'");
        return -1;
    }
    return 0;
}

/* A source of the job (its index), or of linkage.sources (n_sources + k). */
static int find_source(const pl_job *job, const char *name, size_t *idx)
{
    for (size_t i = 0; i < job->n_sources; i++)
        if (strcmp(job->sources[i].name, name) == 0) {
            *idx = i;
            return 0;
        }
    for (size_t k = 0; job->linkage && k < job->linkage->n_sources; k++)
        if (strcmp(job->linkage->sources[k], name) == 0) {
            *idx = job->n_sources + k;
            return 0;
        }
    return -1;
}

static int parse_esource(doc_t *d, const pl_yaml_pair *p, const char *path,
                         const pl_job *job, pl_extract_src *s)
{
    char spath[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    if (pl_yaml_name(d, p->key, path, "source", PL_NAME_MAX))
        return -1;
    memcpy(s->source, p->key->str, p->key->len + 1);
    s->line = p->key->line;
    s->col = p->key->col;
    pl_yaml_path(spath, path, s->source);
    if (find_source(job, s->source, &s->job_index)) {
        pl_yaml_error(d, s->line, s->col, spath, "source '%s' is not a "
                      "source of this job (see 'sources')", s->source);
        return -1;
    }
    node_t *cols, *flt;
    if (pl_yaml_expect(d, p->value, spath, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, p->value, spath, esource_keys) ||
        pl_yaml_require(d, p->value, spath, "columns", PL_YAML_SEQUENCE,
                        &cols) ||
        pl_yaml_optional(d, p->value, spath, "filter", PL_YAML_MAPPING, &flt))
        return -1;
    pl_yaml_path(sub, spath, "columns");
    if (get_names(d, cols, sub, &s->columns, &s->n_columns))
        return -1;
    if (!flt)
        return 0;
    pl_yaml_path(sub, spath, "filter");
    s->filters = pl_xcalloc(flt->n_pairs ? flt->n_pairs : 1,
                            sizeof *s->filters);
    for (size_t i = 0; i < flt->n_pairs; i++)
        if (parse_filter(d, &flt->pairs[i], sub, &s->filters[s->n_filters++]))
            return -1;
    return 0;
}

/* bands: [e0, e1, ...] strictly increasing finite numbers. */
static int parse_bands(doc_t *d, node_t *seq, const char *path,
                       pl_gen_rule *g)
{
    char sub[PL_YAML_PATH_MAX];
    if (pl_yaml_expect(d, seq, path, PL_YAML_SEQUENCE))
        return -1;
    if (seq->n_items < 1) {
        pl_yaml_error(d, seq->line, seq->col, path,
                      "expected at least one band edge");
        return -1;
    }
    g->bands = pl_xcalloc(seq->n_items, sizeof *g->bands);
    for (size_t i = 0; i < seq->n_items; i++) {
        node_t *v = seq->items[i];
        const char *s;
        char *end;
        pl_yaml_path_index(sub, path, i);
        if (pl_yaml_string(d, v, sub, &s))
            return -1;
        double x = strtod(s, &end);
        if (end == s || *end || !isfinite(x)) {
            pl_yaml_error(d, v->line, v->col, sub, "expected a number");
            return -1;
        }
        if (i > 0 && x <= g->bands[i - 1]) {
            pl_yaml_error(d, v->line, v->col, sub, "band edges must be "
                          "strictly increasing");
            return -1;
        }
        g->bands[g->n_bands++] = x;
    }
    return 0;
}

/* generalise: {col: year|month|department|none|{bands: [...]}|{prefix: n}} */
static int parse_gen(doc_t *d, const pl_yaml_pair *p, const char *path,
                     pl_gen_rule *g)
{
    char gpath[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    if (pl_yaml_name(d, p->key, path, "column", PL_NAME_MAX))
        return -1;
    memcpy(g->column, p->key->str, p->key->len + 1);
    g->line = p->key->line;
    g->col = p->key->col;
    pl_yaml_path(gpath, path, g->column);
    node_t *v = p->value;
    if (v->kind == PL_YAML_SCALAR && !v->is_null) {
        int k;
        if (pl_yaml_enum(d, v, gpath, gen_names, &k))
            return -1;
        g->kind = (pl_gen_kind)k;   /* gen_names follows pl_gen_kind */
        return 0;
    }
    if (pl_yaml_expect(d, v, gpath, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, v, gpath, gen_map_keys))
        return -1;
    if (v->n_pairs != 1) {
        pl_yaml_error(d, v->line, v->col, gpath, "expected exactly one of "
                      "'bands' or 'prefix'");
        return -1;
    }
    node_t *x;
    if ((x = pl_yaml_get(v, "bands"))) {
        g->kind = PL_GEN_BANDS;
        pl_yaml_path(sub, gpath, "bands");
        return parse_bands(d, x, sub, g);
    }
    x = pl_yaml_get(v, "prefix");
    uint64_t n;
    pl_yaml_path(sub, gpath, "prefix");
    if (pl_yaml_u64(d, x, sub, &n))
        return -1;
    if (n < 1 || n >= PL_NAME_MAX) {
        pl_yaml_error(d, x->line, x->col, sub, "expected a length from 1 "
                      "to %d", PL_NAME_MAX - 1);
        return -1;
    }
    g->kind = PL_GEN_PREFIX;
    g->prefix = (size_t)n;
    return 0;
}

static int parse_risk(doc_t *d, node_t *m, const char *path,
                      pl_extract_cfg *e)
{
    char sub[PL_YAML_PATH_MAX];
    node_t *v;
    e->has_risk = 1;
    e->k = 5;
    if (pl_yaml_check_keys(d, m, path, risk_keys) ||
        pl_yaml_require(d, m, path, "quasi_identifiers", PL_YAML_SEQUENCE,
                        &v))
        return -1;
    pl_yaml_path(sub, path, "quasi_identifiers");
    if (get_names(d, v, sub, &e->qi, &e->n_qi))
        return -1;
    if (e->n_qi == 0) {
        pl_yaml_error(d, v->line, v->col, sub, "expected at least one "
                      "quasi-identifier column");
        return -1;
    }
    if ((v = pl_yaml_get(m, "sensitive"))) {
        pl_yaml_path(sub, path, "sensitive");
        if (get_name(d, v, sub, e->sensitive))
            return -1;
        for (size_t i = 0; i < e->n_qi; i++)
            if (strcmp(e->qi[i], e->sensitive) == 0) {
                pl_yaml_error(d, v->line, v->col, sub, "column '%s' is "
                              "also a quasi-identifier", e->sensitive);
                return -1;
            }
    }
    if ((v = pl_yaml_get(m, "k"))) {
        pl_yaml_path(sub, path, "k");
        if (pl_yaml_u64(d, v, sub, &e->k))
            return -1;
        if (e->k < 1) {
            pl_yaml_error(d, v->line, v->col, sub, "expected k >= 1");
            return -1;
        }
    }
    if ((v = pl_yaml_get(m, "l"))) {
        pl_yaml_path(sub, path, "l");
        if (pl_yaml_u64(d, v, sub, &e->l))
            return -1;
        if (!e->sensitive[0]) {
            pl_yaml_error(d, v->line, v->col, sub, "'l' needs a "
                          "'sensitive' column");
            return -1;
        }
    }
    if ((v = pl_yaml_get(m, "on_violation"))) {
        pl_yaml_path(sub, path, "on_violation");
        if (pl_yaml_enum(d, v, sub, violation_names, &e->refuse))
            return -1;
    }
    return 0;
}

static int parse_extract(doc_t *d, const pl_yaml_pair *p, const pl_job *job,
                         pl_extract_cfg *e)
{
    char path[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    if (pl_yaml_name(d, p->key, "extracts", "project", PL_NAME_MAX))
        return -1;
    memcpy(e->name, p->key->str, p->key->len + 1);
    e->line = p->key->line;
    e->col = p->key->col;
    pl_yaml_path(path, "extracts", e->name);
    node_t *m = p->value, *srcs, *gen, *risk, *key;
    if (pl_yaml_expect(d, m, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, path, extract_keys) ||
        pl_yaml_require(d, m, path, "key", PL_YAML_SCALAR, &key) ||
        pl_yaml_require(d, m, path, "sources", PL_YAML_MAPPING, &srcs) ||
        pl_yaml_optional(d, m, path, "generalise", PL_YAML_MAPPING, &gen) ||
        pl_yaml_optional(d, m, path, "risk", PL_YAML_MAPPING, &risk))
        return -1;
    const char *ks;
    pl_yaml_path(sub, path, "key");
    if (pl_yaml_string(d, key, sub, &ks))
        return -1;
    if (!ks[0]) {
        pl_yaml_error(d, key->line, key->col, sub, "expected a non-empty "
                      "path, got an empty string");
        return -1;
    }
    e->key = pl_xstrdup(ks);
    pl_yaml_path(sub, path, "sources");
    if (srcs->n_pairs == 0) {
        pl_yaml_error(d, srcs->line, srcs->col, sub,
                      "expected at least one source");
        return -1;
    }
    e->src = pl_xcalloc(srcs->n_pairs, sizeof *e->src);
    for (size_t i = 0; i < srcs->n_pairs; i++)
        if (parse_esource(d, &srcs->pairs[i], sub, job, &e->src[e->n_src++]))
            return -1;
    if (gen) {
        pl_yaml_path(sub, path, "generalise");
        e->gen = pl_xcalloc(gen->n_pairs ? gen->n_pairs : 1, sizeof *e->gen);
        for (size_t i = 0; i < gen->n_pairs; i++)
            if (parse_gen(d, &gen->pairs[i], sub, &e->gen[e->n_gen++]))
                return -1;
    }
    if (risk) {
        pl_yaml_path(sub, path, "risk");
        return parse_risk(d, risk, sub, e);
    }
    return 0;
}

int pl_extracts_parse(const pl_yaml_doc *d, const pl_yaml_node *root,
                      pl_job *job)
{
    node_t *m;
    if (pl_yaml_optional(d, root, "", "extracts", PL_YAML_MAPPING, &m))
        return -1;
    if (!m)
        return 0;
    job->extracts = pl_xcalloc(m->n_pairs ? m->n_pairs : 1,
                               sizeof *job->extracts);
    for (size_t i = 0; i < m->n_pairs; i++)
        if (parse_extract(d, &m->pairs[i], job,
                          &job->extracts[job->n_extracts++]))
            return -1;
    return 0;
}

void pl_extracts_free(pl_job *job)
{
    for (size_t i = 0; job->extracts && i < job->n_extracts; i++) {
        pl_extract_cfg *e = &job->extracts[i];
        free(e->key);
        for (size_t s = 0; e->src && s < e->n_src; s++) {
            pl_extract_src *x = &e->src[s];
            pl_yaml_strings_free(x->columns, x->n_columns);
            for (size_t f = 0; x->filters && f < x->n_filters; f++)
                pl_yaml_strings_free(x->filters[f].prefixes,
                                     x->filters[f].n_prefixes);
            free(x->filters);
        }
        free(e->src);
        for (size_t g = 0; e->gen && g < e->n_gen; g++)
            free(e->gen[g].bands);
        free(e->gen);
        pl_yaml_strings_free(e->qi, e->n_qi);
    }
    free(job->extracts);
    job->extracts = NULL;
    job->n_extracts = 0;
}

const pl_gen_rule *pl_extract_rule(const pl_extract_cfg *e,
                                   const char *column)
{
    for (size_t i = 0; i < e->n_gen; i++)
        if (strcmp(e->gen[i].column, column) == 0 &&
            e->gen[i].kind != PL_GEN_NONE)
            return &e->gen[i];
    return NULL;
}
