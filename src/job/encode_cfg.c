/* encode_cfg.c — see encode_cfg.h. */
#include "job/encode_cfg.h"

#include "base/mem.h"
#include "crypto/bloom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const enc_keys[] = {"fields", "clk", "column",
                                       "filter_bits", "q", "pad", "k",
                                       "salt", "harden", "clear_identity",
                                       NULL};
static const char *const bool_names[] = {"false", "true", NULL};
static const char *const salt_names[] = {"none", "birth_year", NULL};
static const char *const harden_names[] = {"xor_fold", "balance", NULL};
static const char *const clear_id_names[] = {"birth_date", "sex", NULL};

static int get_uint(doc_t *d, node_t *v, const char *path, uint64_t lo,
                    uint64_t hi, unsigned *out)
{
    uint64_t u;
    if (pl_yaml_u64(d, v, path, &u))
        return -1;
    if (u < lo || u > hi) {
        pl_yaml_error(d, v->line, v->col, path, "expected an integer from "
                      "%llu to %llu, got %llu", (unsigned long long)lo,
                      (unsigned long long)hi, (unsigned long long)u);
        return -1;
    }
    *out = (unsigned)u;
    return 0;
}

static int field_index(const pl_encode_cfg *e, const char *name)
{
    for (size_t i = 0; i < e->n_fields; i++)
        if (strcmp(e->fields[i], name) == 0)
            return (int)i;
    return -1;
}

static int parse(doc_t *d, node_t *v, const char *path, pl_encode_cfg *e)
{
    char sub[PL_YAML_PATH_MAX], sub2[PL_YAML_PATH_MAX];
    node_t *x;
    int b;
    if (pl_yaml_expect(d, v, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, v, path, enc_keys) ||
        pl_yaml_require(d, v, path, "fields", PL_YAML_SEQUENCE, &x))
        return -1;
    pl_yaml_path(sub, path, "fields");
    if (x->n_items == 0 || x->n_items > PL_ENC_MAX_FIELDS) {
        pl_yaml_error(d, x->line, x->col, sub, "expected 1 to %d fields, "
                      "got %zu", PL_ENC_MAX_FIELDS, x->n_items);
        return -1;
    }
    for (size_t i = 0; i < x->n_items; i++) {
        const char *s;
        pl_yaml_path_index(sub2, sub, i);
        if (pl_yaml_string(d, x->items[i], sub2, &s))
            return -1;
        size_t n = strlen(s);
        int okname = n > 0 && n < PL_NAME_MAX && n <= PL_BLOOM_NAME_MAX;
        for (size_t j = 0; okname && j < n; j++)
            okname = (s[j] >= 'a' && s[j] <= 'z') ||
                     (s[j] >= 'A' && s[j] <= 'Z') ||
                     (s[j] >= '0' && s[j] <= '9') || s[j] == '_';
        if (!okname) {
            pl_yaml_error(d, x->items[i]->line, x->items[i]->col, sub2,
                          "expected a column name (letters, digits, '_', "
                          "1..63 characters)");
            return -1;
        }
        if (field_index(e, s) >= 0) {
            pl_yaml_error(d, x->items[i]->line, x->items[i]->col, sub2,
                          "field '%s' listed twice", s);
            return -1;
        }
        snprintf(e->fields[e->n_fields], PL_NAME_MAX, "%s", s);
        e->k[e->n_fields++] = PL_ENC_K_DEFAULT;
    }
    e->clk = 1;
    e->bits = PL_BLOOM_BITS_DEFAULT;
    e->q = PL_BLOOM_Q_DEFAULT;
    e->pad = 1;
    snprintf(e->column, sizeof e->column, "clk");
    pl_yaml_path(sub, path, "clk");
    if ((x = pl_yaml_get(v, "clk"))) {
        if (pl_yaml_enum(d, x, sub, bool_names, &b))
            return -1;
        e->clk = b;
    }
    pl_yaml_path(sub, path, "pad");
    if ((x = pl_yaml_get(v, "pad"))) {
        if (pl_yaml_enum(d, x, sub, bool_names, &b))
            return -1;
        e->pad = (unsigned)b;
    }
    pl_yaml_path(sub, path, "column");
    if ((x = pl_yaml_get(v, "column"))) {
        const char *s;
        if (pl_yaml_string(d, x, sub, &s))
            return -1;
        size_t n = strlen(s);
        int okname = n > 0 && n < PL_NAME_MAX - 4;
        for (size_t j = 0; okname && j < n; j++)
            okname = (s[j] >= 'a' && s[j] <= 'z') ||
                     (s[j] >= 'A' && s[j] <= 'Z') ||
                     (s[j] >= '0' && s[j] <= '9') || s[j] == '_';
        if (!okname || !e->clk) {
            pl_yaml_error(d, x->line, x->col, sub, !okname
                          ? "expected a column name (letters, digits, '_')"
                          : "'column' names the CLK column: with clk: false "
                            "each field's filter is bf_<field>");
            return -1;
        }
        snprintf(e->column, sizeof e->column, "%s", s);
    }
    pl_yaml_path(sub, path, "q");
    if ((x = pl_yaml_get(v, "q")) &&
        get_uint(d, x, sub, 1, PL_BLOOM_Q_MAX, &e->q))
        return -1;
    pl_yaml_path(sub, path, "salt");
    if ((x = pl_yaml_get(v, "salt"))) {
        if (pl_yaml_enum(d, x, sub, salt_names, &b))
            return -1;
        e->salt = (unsigned)b;
    }
    pl_yaml_path(sub, path, "harden");
    if ((x = pl_yaml_get(v, "harden"))) {
        if (pl_yaml_expect(d, x, sub, PL_YAML_SEQUENCE))
            return -1;
        for (size_t i = 0; i < x->n_items; i++) {
            pl_yaml_path_index(sub2, sub, i);
            if (pl_yaml_enum(d, x->items[i], sub2, harden_names, &b))
                return -1;
            unsigned flag = b == 0 ? PL_BLOOM_XOR_FOLD : PL_BLOOM_BALANCE;
            if (e->harden & flag) {
                pl_yaml_error(d, x->items[i]->line, x->items[i]->col, sub2,
                              "listed twice");
                return -1;
            }
            e->harden |= flag;
        }
    }
    pl_yaml_path(sub, path, "clear_identity");
    if ((x = pl_yaml_get(v, "clear_identity"))) {
        if (pl_yaml_expect(d, x, sub, PL_YAML_SEQUENCE))
            return -1;
        for (size_t i = 0; i < x->n_items; i++) {
            pl_yaml_path_index(sub2, sub, i);
            if (pl_yaml_enum(d, x->items[i], sub2, clear_id_names, &b))
                return -1;
            unsigned flag = b == 0 ? PL_ENC_CLEAR_BIRTH_DATE
                                   : PL_ENC_CLEAR_SEX;
            if (e->clear_id & flag) {
                pl_yaml_error(d, x->items[i]->line, x->items[i]->col, sub2,
                              "listed twice");
                return -1;
            }
            e->clear_id |= flag;
        }
    }
    pl_yaml_path(sub, path, "filter_bits");
    if ((x = pl_yaml_get(v, "filter_bits"))) {
        if (get_uint(d, x, sub, 64, PL_BLOOM_BITS_MAX / 2, &e->bits))
            return -1;
        unsigned mult = e->harden & PL_BLOOM_XOR_FOLD ? 128 : 64;
        if (e->bits % mult) {
            pl_yaml_error(d, x->line, x->col, sub, "expected a multiple of "
                          "%u%s, got %u", mult, mult == 128
                          ? " (xor_fold halves it)" : "", e->bits);
            return -1;
        }
    } else if ((e->harden & PL_BLOOM_XOR_FOLD) && e->bits % 128) {
        pl_yaml_error(d, v->line, v->col, path, "xor_fold needs filter_bits "
                      "a multiple of 128");
        return -1;
    }
    pl_yaml_path(sub, path, "k");
    if ((x = pl_yaml_get(v, "k"))) {
        if (x->kind == PL_YAML_MAPPING) {
            for (size_t i = 0; i < x->n_pairs; i++) {
                const pl_yaml_pair *p = &x->pairs[i];
                int fi = field_index(e, p->key->str);
                pl_yaml_path(sub2, sub, p->key->str);
                if (fi < 0) {
                    pl_yaml_error(d, p->key->line, p->key->col, sub2,
                                  "not one of encode.fields");
                    return -1;
                }
                if (get_uint(d, p->value, sub2, 1, PL_BLOOM_K_MAX,
                             &e->k[fi]))
                    return -1;
            }
        } else {
            unsigned k;
            if (get_uint(d, x, sub, 1, PL_BLOOM_K_MAX, &k))
                return -1;
            for (size_t i = 0; i < e->n_fields; i++)
                e->k[i] = k;
        }
    }
    e->line = v->line;
    e->col = v->col;
    return 0;
}

int pl_encode_parse(const pl_yaml_doc *d, const pl_yaml_node *v,
                    const char *path, pl_encode_cfg **out)
{
    pl_encode_cfg *e = pl_xcalloc(1, sizeof *e);
    if (parse(d, v, path, e) != 0) {
        free(e);
        return -1;
    }
    *out = e;
    return 0;
}

size_t pl_encode_ncols(const pl_encode_cfg *e)
{
    return e->clk ? 1 : e->n_fields;
}

void pl_encode_colname(const pl_encode_cfg *e, size_t i,
                       char out[PL_NAME_MAX])
{
    if (e->clk)
        snprintf(out, PL_NAME_MAX, "%s", e->column);
    else
        snprintf(out, PL_NAME_MAX, "bf_%.59s", e->fields[i]);
}

int pl_encode_is_field(const pl_encode_cfg *e, const char *col)
{
    return e && field_index(e, col) >= 0;
}
