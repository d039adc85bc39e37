/* csv_cfg.c — see csv_cfg.h. */
#include "job/csv_cfg.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const csv_keys[] = {"file", "delimiter", "encoding",
                                       "columns", NULL};
static const char *const col_keys[] = {"as", "type", "length", "format",
                                       "invalid", NULL};
static const char *const delim_names[] = {",", ";", "tab", "auto", NULL};
static const char delim_chars[] = {',', ';', '\t', 0};
static const char *const enc_names[] = {"utf-8", "latin-1", NULL};
static const char *const fmt_names[] = {"YYYYMMDD", "YYYY-MM-DD",
                                        "DD/MM/YYYY", NULL};
static const char *const invalid_names[] = {"error", "reject", NULL};
static const char *const type_names[] = {
    "skip", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "string", "date", NULL};

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= PL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int parse_col(doc_t *d, const pl_yaml_pair *p, const char *path,
                     pl_csv_cfg_col *cc, pl_csv_col *sc)
{
    node_t *m = p->value, *v;
    char sub[PL_YAML_PATH_MAX], shown[PL_YAML_SHOW_MAX];
    if (p->key->len == 0 || memchr(p->key->str, 0, p->key->len)) {
        pl_yaml_error(d, p->key->line, p->key->col, path, "a header name "
                      "must be a non-empty string without NUL bytes");
        return -1;
    }
    cc->header = pl_xstrdup(p->key->str);
    cc->line = p->key->line;
    cc->col = p->key->col;
    sc->header = cc->header;
    if (pl_yaml_expect(d, m, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, path, col_keys))
        return -1;
    int t;
    pl_yaml_path(sub, path, "type");
    if (pl_yaml_require(d, m, path, "type", PL_YAML_SCALAR, &v) ||
        pl_yaml_enum(d, v, sub, type_names, &t))
        return -1;
    sc->type = (pl_csv_type)t;
    /* as */
    const pl_yaml_pair *as = pl_yaml_find(m, "as");
    pl_yaml_path(sub, path, "as");
    if (as) {
        if (pl_yaml_expect(d, as->value, sub, PL_YAML_SCALAR) ||
            pl_yaml_name(d, as->value, sub, "column", PL_NAME_MAX))
            return -1;
        memcpy(cc->name, as->value->str, as->value->len + 1);
    } else if (name_ok(p->key->str, p->key->len)) {
        memcpy(cc->name, p->key->str, p->key->len + 1);
    } else {
        pl_yaml_error(d, m->line, m->col, path, "header '%s' is not a "
                      "column name (letters, digits and '_', at most %d "
                      "characters): give one with 'as'",
                      pl_yaml_show(p->key->str, p->key->len, shown),
                      PL_NAME_MAX - 1);
        return -1;
    }
    /* length: strings only, required there */
    const pl_yaml_pair *len = pl_yaml_find(m, "length");
    pl_yaml_path(sub, path, "length");
    if (sc->type == PL_CSV_STR) {
        uint64_t n;
        if (pl_yaml_require(d, m, path, "length", PL_YAML_SCALAR, &v) ||
            pl_yaml_u64(d, v, sub, &n))
            return -1;
        if (n < 1 || n > PL_CSV_MAX_STR) {
            pl_yaml_error(d, v->line, v->col, sub, "expected a length from "
                          "1 to %d bytes, got %llu", PL_CSV_MAX_STR,
                          (unsigned long long)n);
            return -1;
        }
        sc->len = (uint32_t)n;
    } else if (len) {
        pl_yaml_error(d, len->key->line, len->key->col, sub, "'length' is "
                      "only for type string");
        return -1;
    }
    const pl_yaml_pair *fmt = pl_yaml_find(m, "format");
    pl_yaml_path(sub, path, "format");
    if (sc->type == PL_CSV_DATE) {
        int f;
        if (pl_yaml_require(d, m, path, "format", PL_YAML_SCALAR, &v) ||
            pl_yaml_enum(d, v, sub, fmt_names, &f))
            return -1;
        sc->datefmt = (pl_csv_datefmt)f;
    } else if (fmt) {
        pl_yaml_error(d, fmt->key->line, fmt->key->col, sub, "'format' is "
                      "only for type date");
        return -1;
    }
    const pl_yaml_pair *inv = pl_yaml_find(m, "invalid");
    pl_yaml_path(sub, path, "invalid");
    if (inv && sc->type == PL_CSV_SKIP) {
        pl_yaml_error(d, inv->key->line, inv->key->col, sub, "'invalid' is "
                      "not for type skip");
        return -1;
    }
    if (inv) {
        int i;
        if (pl_yaml_expect(d, inv->value, sub, PL_YAML_SCALAR) ||
            pl_yaml_enum(d, inv->value, sub, invalid_names, &i))
            return -1;
        sc->lenient = i;
    }
    return 0;
}

int pl_csv_cfg_parse(doc_t *d, node_t *map, const char *path, pl_csv_cfg *cfg)
{
    node_t *v, *cols;
    char sub[PL_YAML_PATH_MAX];
    memset(cfg, 0, sizeof *cfg);
    if (pl_yaml_expect(d, map, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, map, path, csv_keys) ||
        pl_yaml_path_str(d, map, path, "file", 1, &cfg->file))
        goto fail;
    cfg->line = map->line;
    cfg->col = map->col;
    int di = 3, ei = 0;
    pl_yaml_path(sub, path, "delimiter");
    if (pl_yaml_optional(d, map, path, "delimiter", PL_YAML_SCALAR, &v))
        goto fail;
    if (v && strcmp(v->str, "\t") == 0)
        di = 2;                 /* a quoted "\t" */
    else if (v && pl_yaml_enum(d, v, sub, delim_names, &di))
        goto fail;
    pl_yaml_path(sub, path, "encoding");
    if (pl_yaml_optional(d, map, path, "encoding", PL_YAML_SCALAR, &v) ||
        (v && pl_yaml_enum(d, v, sub, enc_names, &ei)))
        goto fail;
    pl_yaml_path(sub, path, "columns");
    if (pl_yaml_require(d, map, path, "columns", PL_YAML_MAPPING, &cols))
        goto fail;
    if (cols->n_pairs == 0 || cols->n_pairs > PL_CSV_MAX_COLS) {
        pl_yaml_error(d, cols->line, cols->col, sub, "expected 1 to %d "
                      "columns, got %zu", PL_CSV_MAX_COLS, cols->n_pairs);
        goto fail;
    }
    cfg->cols = pl_xcalloc(cols->n_pairs, sizeof *cfg->cols);
    cfg->spec_cols = pl_xcalloc(cols->n_pairs, sizeof *cfg->spec_cols);
    for (size_t i = 0; i < cols->n_pairs; i++) {
        char cpath[PL_YAML_PATH_MAX];
        const pl_yaml_pair *p = &cols->pairs[i];
        pl_yaml_path(cpath, sub, p->key->str);
        cfg->ncols = i + 1;
        if (parse_col(d, p, cpath, &cfg->cols[i], &cfg->spec_cols[i]))
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->cols[j].name, cfg->cols[i].name) == 0) {
                pl_yaml_error(d, p->key->line, p->key->col, cpath, "column "
                              "name '%s' also given to header at line %d",
                              cfg->cols[i].name, cfg->cols[j].line);
                goto fail;
            }
    }
    cfg->spec.delim = delim_chars[di];
    cfg->spec.encoding = ei ? PL_CSV_LATIN1 : PL_CSV_UTF8;
    cfg->spec.cols = cfg->spec_cols;
    cfg->spec.ncols = cfg->ncols;
    return 0;
fail:
    pl_csv_cfg_free(cfg);
    return -1;
}

void pl_csv_cfg_free(pl_csv_cfg *cfg)
{
    for (size_t i = 0; cfg->cols && i < cfg->ncols; i++)
        free(cfg->cols[i].header);
    free(cfg->cols);
    free(cfg->spec_cols);
    free(cfg->file);
    memset(cfg, 0, sizeof *cfg);
}

int pl_csv_cfg_find(const pl_csv_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ncols; i++)
        if (strcmp(cfg->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}
