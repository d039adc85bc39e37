/* linkage_config.c — see linkage_config.h. */
#include "job/linkage_config.h"

#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const lk_keys[] = {
    "identified_data", "persons", "sources", "fields", "blocking",
    "thresholds", "max_block", "em", "packages", "dedup", "keep", NULL};
static const char *const field_keys[] = {
    "compare", "column", "jaro_winkler", "damerau_levenshtein", "phonetic",
    "tf", "swap", "within_days", "year_month", "within", "levels",
    "lsh_bits", NULL};
static const char *const thr_keys[] = {"lower", "upper", "dedup", NULL};
static const char *const em_keys[] = {"seed", "iterations", "random_pairs",
                                      NULL};
static const char *const cmp_names[] = {"name", "date", "exact", "number",
                                        "dice", NULL};
static const char *const bool_names[] = {"false", "true", NULL};
static const char *const xform_names[] = {"", "phonetic", "year",
                                          "year_month", "initial", "lsh",
                                          NULL};

static int get_bool(doc_t *d, node_t *v, const char *path, int *out)
{
    return pl_yaml_enum(d, v, path, bool_names, out);
}

static int get_number(doc_t *d, node_t *v, const char *path, double lo,
                      double hi, double *out)
{
    const char *txt;
    char shown[PL_YAML_SHOW_MAX], *end;
    if (pl_yaml_string(d, v, path, &txt))
        return -1;
    errno = 0;
    double x = strtod(txt, &end);
    if (!txt[0] || end == txt || *end || errno || !isfinite(x) || x < lo ||
        x > hi) {
        pl_yaml_error(d, v->line, v->col, path, "expected a number from %g "
                      "to %g, got '%s'", lo, hi,
                      pl_yaml_show(txt, v->len, shown));
        return -1;
    }
    *out = x;
    return 0;
}

static int get_name(doc_t *d, node_t *v, const char *path, const char *what,
                    char out[PL_NAME_MAX])
{
    const char *s;
    if (pl_yaml_string(d, v, path, &s))
        return -1;
    size_t n = strlen(s);
    int ok = n > 0 && n < PL_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
    if (!ok) {
        char shown[PL_YAML_SHOW_MAX];
        if (n == 0)
            pl_yaml_error(d, v->line, v->col, path, "expected a %s name, got "
                          "an empty string", what);
        else
            pl_yaml_error(d, v->line, v->col, path, "%s name '%s' must be "
                          "1 to %d letters, digits or '_'", what,
                          pl_yaml_show(s, v->len, shown), PL_NAME_MAX - 1);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_field(doc_t *d, const pl_yaml_pair *p, pl_lk_field *f)
{
    char path[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    node_t *m = p->value, *v;
    pl_yaml_path(path, "linkage.fields", p->key->str);
    if (pl_yaml_name(d, p->key, path, "field", PL_NAME_MAX) ||
        pl_yaml_expect(d, m, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, path, field_keys))
        return -1;
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", p->key->str);
    snprintf(f->column, sizeof f->column, "%s", p->key->str);
    f->line = p->key->line;
    f->col = p->key->col;
    f->dl = -1;
    int k;
    pl_yaml_path(sub, path, "compare");
    if (pl_yaml_require(d, m, path, "compare", PL_YAML_SCALAR, &v) ||
        pl_yaml_enum(d, v, sub, cmp_names, &k))
        return -1;
    f->kind = (pl_cmp_kind)k;
    pl_yaml_path(sub, path, "column");
    if ((v = pl_yaml_get(m, "column")) && get_name(d, v, sub, "column",
                                                    f->column))
        return -1;
    /* Options valid for one comparison only. */
    static const struct { const char *key; pl_cmp_kind kind; } only[] = {
        {"jaro_winkler", PL_CMP_NAME}, {"damerau_levenshtein", PL_CMP_NAME},
        {"phonetic", PL_CMP_NAME},     {"tf", PL_CMP_NAME},
        {"swap", PL_CMP_DATE},         {"within_days", PL_CMP_DATE},
        {"year_month", PL_CMP_DATE},   {"within", PL_CMP_NUMBER},
        {"levels", PL_CMP_DICE},       {"lsh_bits", PL_CMP_DICE}};
    for (size_t i = 0; i < sizeof only / sizeof *only; i++) {
        const pl_yaml_pair *q = pl_yaml_find(m, only[i].key);
        if (q && only[i].kind != f->kind) {
            pl_yaml_path(sub, path, only[i].key);
            pl_yaml_error(d, q->key->line, q->key->col, sub, "only for "
                          "compare: %s (this field compares as %s)",
                          cmp_names[only[i].kind], cmp_names[f->kind]);
            return -1;
        }
    }
    switch (f->kind) {
    case PL_CMP_NAME: {
        f->jw[0] = 0.92;
        f->jw[1] = 0.80;
        f->n_jw = 2;
        f->dl = 1;
        f->phonetic = 1;
        f->tf = 1;
        pl_yaml_path(sub, path, "jaro_winkler");
        if (pl_yaml_optional(d, m, path, "jaro_winkler", PL_YAML_SEQUENCE,
                             &v))
            return -1;
        if (v) {
            if (v->n_items > PL_LK_MAX_JW) {
                pl_yaml_error(d, v->line, v->col, sub, "at most %d "
                              "thresholds, got %zu", PL_LK_MAX_JW,
                              v->n_items);
                return -1;
            }
            f->n_jw = v->n_items;
            for (size_t i = 0; i < v->n_items; i++) {
                char ip[PL_YAML_PATH_MAX];
                pl_yaml_path_index(ip, sub, i);
                if (get_number(d, v->items[i], ip, 0, 1, &f->jw[i]))
                    return -1;
                if (i > 0 && !(f->jw[i] < f->jw[i - 1])) {
                    pl_yaml_error(d, v->items[i]->line, v->items[i]->col, ip,
                                  "thresholds must decrease strictly (%g "
                                  "after %g)", f->jw[i], f->jw[i - 1]);
                    return -1;
                }
            }
        }
        uint64_t u;
        pl_yaml_path(sub, path, "damerau_levenshtein");
        if ((v = pl_yaml_get(m, "damerau_levenshtein"))) {
            if (pl_yaml_u64(d, v, sub, &u))
                return -1;
            if (u > 3) {
                pl_yaml_error(d, v->line, v->col, sub, "expected 0 (no "
                              "distance level) to 3, got %llu",
                              (unsigned long long)u);
                return -1;
            }
            f->dl = u ? (int)u : -1;
        }
        pl_yaml_path(sub, path, "phonetic");
        if ((v = pl_yaml_get(m, "phonetic")) && get_bool(d, v, sub,
                                                          &f->phonetic))
            return -1;
        pl_yaml_path(sub, path, "tf");
        if ((v = pl_yaml_get(m, "tf")) && get_bool(d, v, sub, &f->tf))
            return -1;
        f->n_levels = 1 + (int)f->n_jw + (f->n_jw == 0 && f->dl > 0) +
                      f->phonetic + 1;
        break;
    }
    case PL_CMP_DATE:
        f->swap = 1;
        f->year_month = 1;
        f->within_days = 0;
        pl_yaml_path(sub, path, "swap");
        if ((v = pl_yaml_get(m, "swap")) && get_bool(d, v, sub, &f->swap))
            return -1;
        pl_yaml_path(sub, path, "year_month");
        if ((v = pl_yaml_get(m, "year_month")) &&
            get_bool(d, v, sub, &f->year_month))
            return -1;
        pl_yaml_path(sub, path, "within_days");
        if ((v = pl_yaml_get(m, "within_days")) &&
            pl_yaml_u64(d, v, sub, &f->within_days))
            return -1;
        if (f->within_days > 36600) {
            pl_yaml_error(d, v->line, v->col, sub, "at most 36600 days");
            return -1;
        }
        f->n_levels = 1 + f->swap + (f->within_days > 0) + f->year_month + 1;
        break;
    case PL_CMP_EXACT:
        f->n_levels = 2;
        break;
    case PL_CMP_NUMBER:
        pl_yaml_path(sub, path, "within");
        if ((v = pl_yaml_get(m, "within")) &&
            get_number(d, v, sub, 0, 1e300, &f->within))
            return -1;
        f->n_levels = 2 + (f->within > 0);
        break;
    case PL_CMP_DICE: {
        static const double def[] = {0.95, 0.9, 0.85, 0.8, 0.7, 0.6};
        memcpy(f->dice, def, sizeof def);
        f->n_dice = 6;
        f->lsh_bits = 24;
        pl_yaml_path(sub, path, "levels");
        if (pl_yaml_optional(d, m, path, "levels", PL_YAML_SEQUENCE, &v))
            return -1;
        if (v) {
            if (v->n_items < 1 || v->n_items > PL_LK_MAX_DICE) {
                pl_yaml_error(d, v->line, v->col, sub, "expected 1 to %d "
                              "Dice thresholds, got %zu", PL_LK_MAX_DICE,
                              v->n_items);
                return -1;
            }
            f->n_dice = v->n_items;
            for (size_t i = 0; i < v->n_items; i++) {
                char ip[PL_YAML_PATH_MAX];
                pl_yaml_path_index(ip, sub, i);
                if (get_number(d, v->items[i], ip, 0, 1, &f->dice[i]))
                    return -1;
                if (i > 0 && !(f->dice[i] < f->dice[i - 1])) {
                    pl_yaml_error(d, v->items[i]->line, v->items[i]->col, ip,
                                  "thresholds must decrease strictly (%g "
                                  "after %g)", f->dice[i], f->dice[i - 1]);
                    return -1;
                }
            }
        }
        uint64_t u;
        pl_yaml_path(sub, path, "lsh_bits");
        if ((v = pl_yaml_get(m, "lsh_bits"))) {
            if (pl_yaml_u64(d, v, sub, &u))
                return -1;
            if (u < 4 || u > 256) {
                pl_yaml_error(d, v->line, v->col, sub, "expected 4 to 256 "
                              "bits, got %llu", (unsigned long long)u);
                return -1;
            }
            f->lsh_bits = (unsigned)u;
        }
        f->n_levels = (int)f->n_dice + 1;
        break;
    }
    }
    return 0;
}

/* "last_name:phonetic + birth_date:year": at most max items into
 * items[*n] (what: "blocking rule" or "split key", for messages). */
static int parse_items(doc_t *d, node_t *v, const char *path,
                       const pl_linkage_cfg *c, const char *what,
                       size_t max, pl_lk_item *items, size_t *n_items)
{
    const char *s;
    char shown[PL_YAML_SHOW_MAX];
    if (pl_yaml_string(d, v, path, &s))
        return -1;
    *n_items = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != '+' && *e != ' ')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 0) {
            pl_yaml_error(d, v->line, v->col, path, "%s '%s': "
                          "expected field[:phonetic|:year|:year_month|"
                          ":initial] joined by '+'",
                          what, pl_yaml_show(s, v->len, shown));
            return -1;
        }
        if (*n_items == max) {
            pl_yaml_error(d, v->line, v->col, path, "at most %zu item%s in a "
                          "%s", max, max > 1 ? "s" : "", what);
            return -1;
        }
        char item[PL_NAME_MAX * 2];
        if (len >= sizeof item)
            len = sizeof item - 1;
        memcpy(item, p, len);
        item[len] = 0;
        char *colon = strchr(item, ':');
        int xf = PL_BK_VALUE;
        if (colon) {
            *colon = 0;
            xf = -1;
            for (int i = 1; xform_names[i]; i++)
                if (strcmp(colon + 1, xform_names[i]) == 0)
                    xf = i;
            if (xf < 0) {
                pl_yaml_error(d, v->line, v->col, path, "%s '%s': "
                              "unknown transform '%s' (expected phonetic, "
                              "year, year_month, initial or lsh)",
                              what, pl_yaml_show(s, v->len, shown),
                              pl_yaml_show(colon + 1, strlen(colon + 1),
                                           (char[PL_YAML_SHOW_MAX]){0}));
                return -1;
            }
        }
        size_t fi = c->n_fields;
        for (size_t i = 0; i < c->n_fields; i++)
            if (strcmp(c->fields[i].name, item) == 0)
                fi = i;
        if (fi == c->n_fields) {
            char fl[512] = "";
            for (size_t i = 0; i < c->n_fields; i++)
                snprintf(fl + strlen(fl), sizeof fl - strlen(fl), "%s%s",
                         i ? ", " : "", c->fields[i].name);
            pl_yaml_error(d, v->line, v->col, path, "%s '%s' "
                          "names an unknown field '%s' (expected one of: %s)",
                          what, pl_yaml_show(s, v->len, shown),
                          pl_yaml_show(item, strlen(item),
                                       (char[PL_YAML_SHOW_MAX]){0}), fl);
            return -1;
        }
        pl_cmp_kind k = c->fields[fi].kind;
        if ((xf == PL_BK_PHONETIC && k != PL_CMP_NAME) ||
            ((xf == PL_BK_YEAR || xf == PL_BK_YEARMONTH) &&
             k != PL_CMP_DATE) ||
            (xf == PL_BK_INITIAL && k != PL_CMP_NAME) ||
            ((xf == PL_BK_LSH) != (k == PL_CMP_DICE))) {
            if (k == PL_CMP_DICE)
                pl_yaml_error(d, v->line, v->col, path, "%s '%s': "
                              "field '%s' (compare: dice) blocks only as "
                              "'%s:lsh' (Hamming LSH on its filters)",
                              what, pl_yaml_show(s, v->len, shown),
                              c->fields[fi].name, c->fields[fi].name);
            else
                pl_yaml_error(d, v->line, v->col, path, "%s '%s': "
                              "'%s' does not apply to field '%s' (compare: "
                              "%s)", what, pl_yaml_show(s, v->len, shown),
                              xform_names[xf], c->fields[fi].name,
                              cmp_names[k]);
            return -1;
        }
        items[*n_items].field = fi;
        items[*n_items].xform = (pl_bk_xform)xf;
        (*n_items)++;
        p = e;
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*p != '+') {
            pl_yaml_error(d, v->line, v->col, path, "%s '%s': "
                          "expected '+' between items",
                          what, pl_yaml_show(s, v->len, shown));
            return -1;
        }
        p++;
    }
    return 0;
}

/* linkage.dedup: a sequence of store sources without an identity. */
static int parse_dedup(doc_t *d, node_t *lk, pl_job *job, pl_linkage_cfg *c)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX];
    if (pl_yaml_optional(d, lk, "linkage", "dedup", PL_YAML_SEQUENCE, &v))
        return -1;
    if (!v)
        return 0;
    if (v->n_items == 0) {
        pl_yaml_error(d, v->line, v->col, "linkage.dedup", "expected at "
                      "least one source to deduplicate (or no "
                      "linkage.dedup)");
        return -1;
    }
    c->dedup = pl_xcalloc(v->n_items, sizeof *c->dedup);
    c->dedup_at = pl_xcalloc(2 * v->n_items, sizeof *c->dedup_at);
    for (size_t i = 0; i < v->n_items; i++) {
        char nm[PL_NAME_MAX];
        node_t *it = v->items[i];
        pl_yaml_path_index(sub, "linkage.dedup", i);
        if (get_name(d, it, sub, "source", nm))
            return -1;
        for (size_t j = 0; j < job->n_sources; j++)
            if (strcmp(job->sources[j].name, nm) == 0) {
                pl_yaml_error(d, it->line, it->col, sub, "'%s' is a source "
                              "with an identity (sources.%s): its persons "
                              "are already one pid each; linkage.dedup "
                              "lists sources without one", nm, nm);
                return -1;
            }
        for (size_t j = 0; j < c->n_dedup; j++)
            if (strcmp(c->dedup[j], nm) == 0) {
                pl_yaml_error(d, it->line, it->col, sub, "source '%s' "
                              "listed twice", nm);
                return -1;
            }
        if (strcmp(nm, "pid") == 0) {
            pl_yaml_error(d, it->line, it->col, sub,
                          "a source cannot be named 'pid'");
            return -1;
        }
        c->dedup_at[2 * c->n_dedup] = it->line;
        c->dedup_at[2 * c->n_dedup + 1] = it->col;
        c->dedup[c->n_dedup++] = pl_xstrdup(nm);
    }
    return 0;
}

/* An item as written: "last_name:phonetic". */
static void item_text(const pl_linkage_cfg *c, const pl_lk_item *it,
                      char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", c->fields[it->field].name,
             it->xform ? ":" : "", xform_names[it->xform]);
}

/* The automatic split of a rule: the fields of the model not in the rule,
 * in model order, up to PL_LK_MAX_SPLIT: a name by its phonetic key (its
 * initial when phonetic is off), a date by its year, an exact field by
 * its value; numbers and encodings are not split keys by default. */
static void auto_split(const pl_linkage_cfg *c, pl_lk_rule *r)
{
    r->n_split = 0;
    for (size_t f = 0; f < c->n_fields && r->n_split < PL_LK_MAX_SPLIT;
         f++) {
        int in_rule = 0;
        for (size_t i = 0; i < r->n_items; i++)
            in_rule |= r->items[i].field == f;
        pl_cmp_kind k = c->fields[f].kind;
        if (in_rule || k == PL_CMP_NUMBER || k == PL_CMP_DICE)
            continue;
        pl_lk_item *it = &r->split[r->n_split++];
        it->field = f;
        it->xform = k == PL_CMP_NAME ? (c->fields[f].phonetic
                                            ? PL_BK_PHONETIC : PL_BK_INITIAL)
                    : k == PL_CMP_DATE ? PL_BK_YEAR : PL_BK_VALUE;
    }
}

static void split_text(const pl_linkage_cfg *c, pl_lk_rule *r)
{
    r->split_text[0] = 0;
    for (size_t i = 0; i < r->n_split; i++) {
        char t[PL_NAME_MAX + 16];
        item_text(c, &r->split[i], t, sizeof t);
        size_t l = strlen(r->split_text);
        snprintf(r->split_text + l, sizeof r->split_text - l, "%s%s",
                 i ? ", " : "", t);
    }
}

/* A rule: its text, or {rule: text, split: item | [items]}. */
static int parse_rule(doc_t *d, node_t *v, const char *path,
                      const pl_linkage_cfg *c, pl_lk_rule *r)
{
    memset(r, 0, sizeof *r);
    r->line = v->line;
    r->col = v->col;
    node_t *t = v, *sp = NULL;
    char sub[PL_YAML_PATH_MAX], sub2[PL_YAML_PATH_MAX];
    const char *tp = path;
    if (v->kind == PL_YAML_MAPPING) {
        static const char *const rule_keys[] = {"rule", "split", NULL};
        if (pl_yaml_check_keys(d, v, path, rule_keys) ||
            pl_yaml_require(d, v, path, "rule", PL_YAML_SCALAR, &t))
            return -1;
        pl_yaml_path(sub, path, "rule");
        tp = sub;
        sp = pl_yaml_get(v, "split");
    }
    const char *s;
    if (pl_yaml_string(d, t, tp, &s) ||
        parse_items(d, t, tp, c, "blocking rule", PL_LK_MAX_ITEMS, r->items,
                    &r->n_items))
        return -1;
    snprintf(r->text, sizeof r->text, "%s", s);
    if (!sp) {
        auto_split(c, r);
        split_text(c, r);
        return 0;
    }
    r->split_set = 1;
    pl_yaml_path(sub, path, "split");
    size_t n = sp->kind == PL_YAML_SEQUENCE ? sp->n_items : 1;
    if (sp->kind == PL_YAML_MAPPING || (sp->kind == PL_YAML_SCALAR &&
                                        sp->is_null)) {
        pl_yaml_error(d, sp->line, sp->col, sub, "expected a split key "
                      "(field[:transform]) or a list of them, [] for none, "
                      "got %s", pl_yaml_describe(sp));
        return -1;
    }
    if (n > PL_LK_MAX_SPLIT) {
        pl_yaml_error(d, sp->line, sp->col, sub, "at most %d split keys, "
                      "got %zu", PL_LK_MAX_SPLIT, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        node_t *x = sp->kind == PL_YAML_SEQUENCE ? sp->items[i] : sp;
        const char *xp = sub;
        if (sp->kind == PL_YAML_SEQUENCE) {
            pl_yaml_path_index(sub2, sub, i);
            xp = sub2;
        }
        size_t one;
        if (parse_items(d, x, xp, c, "split key", 1, &r->split[i], &one))
            return -1;
        size_t f = r->split[i].field;
        char it[PL_NAME_MAX + 16], shown[PL_YAML_SHOW_MAX];
        item_text(c, &r->split[i], it, sizeof it);
        for (size_t j = 0; j < r->n_items; j++)
            if (r->items[j].field == f) {
                pl_yaml_error(d, x->line, x->col, xp, "split key '%s' is on "
                              "field '%s', already in the rule '%s': a "
                              "split key must be another field", it,
                              c->fields[f].name,
                              pl_yaml_show(r->text, strlen(r->text),
                                           shown));
                return -1;
            }
        for (size_t j = 0; j < i; j++)
            if (r->split[j].field == f) {
                pl_yaml_error(d, x->line, x->col, xp, "split key '%s': "
                              "field '%s' is already a split key of this "
                              "rule", it, c->fields[f].name);
                return -1;
            }
        r->n_split++;
    }
    split_text(c, r);
    return 0;
}

/* linkage.keep: {<source>: [column, ...]}: the payload columns of each
 * source to link carried to /linked/<source> (none when not listed); a
 * matching field's column is never carried. After the fields. */
static int parse_keep(doc_t *d, node_t *lk, pl_linkage_cfg *c)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX], el[PL_YAML_PATH_MAX], col[PL_NAME_MAX];
    for (size_t k = 0; k < c->n_sources; k++) {  /* (c->src: packages) */
        c->src[k].line = c->line;
        c->src[k].col = c->col;
    }
    if (pl_yaml_optional(d, lk, "linkage", "keep", PL_YAML_MAPPING, &v))
        return -1;
    if (!v)
        return 0;
    for (size_t i = 0; i < v->n_pairs; i++) {
        const pl_yaml_pair *p = &v->pairs[i];
        char nm[PL_NAME_MAX];
        if (get_name(d, p->key, "linkage.keep", "source", nm))
            return -1;
        pl_yaml_path(sub, "linkage.keep", nm);
        size_t k = c->n_sources;
        for (size_t j = 0; j < c->n_sources; j++)
            if (strcmp(c->sources[j], nm) == 0)
                k = j;
        if (k == c->n_sources) {
            pl_yaml_error(d, p->key->line, p->key->col, sub, "'%s' is not a "
                          "source of linkage.sources", nm);
            return -1;
        }
        if (pl_yaml_expect(d, p->value, sub, PL_YAML_SEQUENCE))
            return -1;
        pl_source_cfg *s = &c->src[k];
        s->line = p->key->line;
        s->col = p->key->col;
        s->keep = pl_xcalloc(p->value->n_items + 1, sizeof *s->keep);
        for (size_t j = 0; j < p->value->n_items; j++) {
            node_t *x = p->value->items[j];
            pl_yaml_path_index(el, sub, j);
            if (get_name(d, x, el, "column", col))
                return -1;
            for (size_t f = 0; f < c->n_fields; f++)
                if (strcmp(c->fields[f].column, col) == 0) {
                    pl_yaml_error(d, x->line, x->col, el, "column '%s' is "
                                  "the column of matching field '%s'; "
                                  "matching fields are never carried as "
                                  "payload", col, c->fields[f].name);
                    return -1;
                }
            for (size_t q = 0; q < s->n_keep; q++)
                if (strcmp(s->keep[q], col) == 0) {
                    pl_yaml_error(d, x->line, x->col, el, "duplicate column "
                                  "'%s' (also at index %zu)", col, q);
                    return -1;
                }
            s->keep[s->n_keep++] = pl_xstrdup(col);
        }
    }
    return 0;
}

int pl_linkage_parse(doc_t *d, node_t *root, pl_job *job)
{
    node_t *lk, *v;
    char sub[PL_YAML_PATH_MAX];
    job->linkage = NULL;
    if (pl_yaml_optional(d, root, "", "linkage", PL_YAML_MAPPING, &lk))
        return -1;
    if (!lk)
        return 0;
    if (pl_yaml_check_keys(d, lk, "linkage", lk_keys))
        return -1;
    pl_linkage_cfg *c = pl_xcalloc(1, sizeof *c);
    job->linkage = c;
    c->line = lk->line;
    c->col = lk->col;
    c->lower = 0.0;
    c->upper = 8.0;
    c->dedup_upper = NAN;
    c->max_block = 1000;
    c->seed = 1;
    c->iterations = 100;
    c->random_pairs = 150000;
    if ((v = pl_yaml_get(lk, "identified_data")) &&
        get_bool(d, v, "linkage.identified_data", &c->identified_data))
        return -1;
    if (pl_yaml_require(d, lk, "linkage", "persons", PL_YAML_SCALAR, &v) ||
        get_name(d, v, "linkage.persons", "source", c->persons))
        return -1;
    size_t pi = job->n_sources;
    for (size_t i = 0; i < job->n_sources; i++)
        if (strcmp(job->sources[i].name, c->persons) == 0)
            pi = i;
    if (pi == job->n_sources) {
        pl_yaml_error(d, v->line, v->col, "linkage.persons", "'%s' is not a "
                      "source of the job (the persons' matching fields come "
                      "from a source with an identity)", c->persons);
        return -1;
    }
    c->persons_index = pi;
    if (parse_dedup(d, lk, job, c))
        return -1;
    if (c->n_dedup && !pl_yaml_get(lk, "sources"))
        v = NULL;               /* deduplication only */
    else if (pl_yaml_require(d, lk, "linkage", "sources", PL_YAML_SEQUENCE,
                             &v))
        return -1;
    if (v && v->n_items == 0 && !c->n_dedup) {
        pl_yaml_error(d, v->line, v->col, "linkage.sources", "expected at "
                      "least one source to link");
        return -1;
    }
    c->sources = pl_xcalloc(v ? v->n_items + 1 : 1, sizeof *c->sources);
    for (size_t i = 0; v && i < v->n_items; i++) {
        char nm[PL_NAME_MAX];
        pl_yaml_path_index(sub, "linkage.sources", i);
        if (get_name(d, v->items[i], sub, "source", nm))
            return -1;
        for (size_t j = 0; j < job->n_sources; j++)
            if (strcmp(job->sources[j].name, nm) == 0) {
                pl_yaml_error(d, v->items[i]->line, v->items[i]->col, sub,
                              "'%s' is already a source with an identity "
                              "(sources.%s); linkage.sources lists sources "
                              "without one", nm, nm);
                return -1;
            }
        for (size_t j = 0; j < c->n_sources; j++)
            if (strcmp(c->sources[j], nm) == 0) {
                pl_yaml_error(d, v->items[i]->line, v->items[i]->col, sub,
                              "source '%s' listed twice", nm);
                return -1;
            }
        if (strcmp(nm, "pid") == 0) {
            pl_yaml_error(d, v->items[i]->line, v->items[i]->col, sub,
                          "a source cannot be named 'pid'");
            return -1;
        }
        c->sources[c->n_sources++] = pl_xstrdup(nm);
    }
    /* packages: {source: FILE}: linkage sources delivered as transfer
     * packages without identity (docs/LINKAGE.md); the others are groups
     * of the store. */
    c->src = pl_xcalloc(c->n_sources + 1, sizeof *c->src);
    for (size_t i = 0; i < c->n_sources; i++) {
        snprintf(c->src[i].name, sizeof c->src[i].name, "%s",
                 c->sources[i]);
        c->src[i].keep_given = 1;       /* no payload unless linkage.keep */
    }
    node_t *pk;
    if (pl_yaml_optional(d, lk, "linkage", "packages", PL_YAML_MAPPING, &pk))
        return -1;
    for (size_t i = 0; pk && i < pk->n_pairs; i++) {
        const pl_yaml_pair *pp = &pk->pairs[i];
        size_t j = 0;
        while (j < c->n_sources && strcmp(c->sources[j], pp->key->str) != 0)
            j++;
        pl_yaml_path(sub, "linkage.packages", pp->key->str);
        if (j == c->n_sources) {
            pl_yaml_error(d, pp->key->line, pp->key->col, sub, "'%s' is not "
                          "one of linkage.sources", pp->key->str);
            return -1;
        }
        if (pl_yaml_path_str(d, pk, "linkage.packages", pp->key->str, 1,
                             &c->src[j].package))
            return -1;
    }
    for (size_t i = 0; i < c->n_sources; i++)
        if (!c->src[i].package && !job->store) {
            pl_yaml_path_index(sub, "linkage.sources", i);
            pl_yaml_error(d, v->items[i]->line, v->items[i]->col, sub,
                          "'%s' is read from the store, and the job names "
                          "none: give 'store' or linkage.packages.%s",
                          c->sources[i], c->sources[i]);
            return -1;
        }
    if (pl_yaml_require(d, lk, "linkage", "fields", PL_YAML_MAPPING, &v))
        return -1;
    if (v->n_pairs == 0 || v->n_pairs > PL_LK_MAX_FIELDS) {
        pl_yaml_error(d, v->line, v->col, "linkage.fields", "expected 1 to "
                      "%d matching fields, got %zu", PL_LK_MAX_FIELDS,
                      v->n_pairs);
        return -1;
    }
    uint64_t patterns = 1;
    for (size_t i = 0; i < v->n_pairs; i++) {
        if (parse_field(d, &v->pairs[i], &c->fields[i]))
            return -1;
        c->n_fields++;
        patterns *= (uint64_t)c->fields[i].n_levels + 1;
        if (patterns > (1u << 22)) {
            pl_yaml_error(d, v->pairs[i].key->line, v->pairs[i].key->col,
                          "linkage.fields", "too many comparison levels in "
                          "all (their product, missing included, must stay "
                          "under 4194304)");
            return -1;
        }
    }
    for (size_t i = 0; i < c->n_fields; i++)
        if (c->fields[i].kind == PL_CMP_NAME && !c->identified_data) {
            pl_yaml_path(sub, "linkage.fields", c->fields[i].name);
            pl_yaml_error(d, c->fields[i].line, c->fields[i].col, sub,
                          "a name is a direct identifier: clear names may "
                          "only be matched by a run that declares "
                          "linkage.identified_data: true (a producer or a "
                          "trusted third party on its own machines); on "
                          "the platform, match on quasi-identifiers "
                          "(dates, sex, commune)");
            return -1;
        }
    if (pl_yaml_require(d, lk, "linkage", "blocking", PL_YAML_SEQUENCE, &v))
        return -1;
    if (v->n_items == 0 || v->n_items > PL_LK_MAX_RULES) {
        pl_yaml_error(d, v->line, v->col, "linkage.blocking", "expected 1 to "
                      "%d blocking rules, got %zu", PL_LK_MAX_RULES,
                      v->n_items);
        return -1;
    }
    for (size_t i = 0; i < v->n_items; i++) {
        pl_yaml_path_index(sub, "linkage.blocking", i);
        if (parse_rule(d, v->items[i], sub, c, &c->rules[i]))
            return -1;
        c->n_rules++;
    }
    if (pl_yaml_optional(d, lk, "linkage", "thresholds", PL_YAML_MAPPING,
                         &v))
        return -1;
    if (v) {
        node_t *x;
        if (pl_yaml_check_keys(d, v, "linkage.thresholds", thr_keys))
            return -1;
        if ((x = pl_yaml_get(v, "lower")) &&
            get_number(d, x, "linkage.thresholds.lower", -1000, 1000,
                       &c->lower))
            return -1;
        if ((x = pl_yaml_get(v, "upper")) &&
            get_number(d, x, "linkage.thresholds.upper", -1000, 1000,
                       &c->upper))
            return -1;
        if ((x = pl_yaml_get(v, "dedup")) &&
            get_number(d, x, "linkage.thresholds.dedup", -1000, 1000,
                       &c->dedup_upper))
            return -1;
        if (!(c->lower <= c->upper)) {
            pl_yaml_error(d, v->line, v->col, "linkage.thresholds",
                          "thresholds out of order: lower (%g) must not "
                          "exceed upper (%g)", c->lower, c->upper);
            return -1;
        }
    }
    if (isnan(c->dedup_upper))
        c->dedup_upper = c->upper;
    if (parse_keep(d, lk, c))
        return -1;
    if ((v = pl_yaml_get(lk, "max_block"))) {
        if (pl_yaml_u64(d, v, "linkage.max_block", &c->max_block))
            return -1;
        if (c->max_block < 2 || c->max_block > 1000000) {
            pl_yaml_error(d, v->line, v->col, "linkage.max_block", "expected "
                          "2 to 1000000 records per side of a block");
            return -1;
        }
    }
    if (pl_yaml_optional(d, lk, "linkage", "em", PL_YAML_MAPPING, &v))
        return -1;
    if (v) {
        node_t *x;
        if (pl_yaml_check_keys(d, v, "linkage.em", em_keys))
            return -1;
        if ((x = pl_yaml_get(v, "seed")) &&
            pl_yaml_u64(d, x, "linkage.em.seed", &c->seed))
            return -1;
        if ((x = pl_yaml_get(v, "iterations")) &&
            pl_yaml_u64(d, x, "linkage.em.iterations", &c->iterations))
            return -1;
        if ((x = pl_yaml_get(v, "random_pairs")) &&
            pl_yaml_u64(d, x, "linkage.em.random_pairs", &c->random_pairs))
            return -1;
        if (c->iterations < 1 || c->iterations > 10000 ||
            c->random_pairs < 1000 || c->random_pairs > 1000000000) {
            pl_yaml_error(d, v->line, v->col, "linkage.em", "iterations must "
                          "be 1 to 10000 and random_pairs 1000 to 1e9");
            return -1;
        }
    }
    return 0;
}

void pl_linkage_free(pl_job *job)
{
    pl_linkage_cfg *c = job->linkage;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i]);
        for (size_t j = 0; c->src && j < c->src[i].n_keep; j++)
            free(c->src[i].keep[j]);
        free(c->src ? c->src[i].keep : NULL);
        if (c->src)
            free(c->src[i].package);
    }
    free(c->sources);
    free(c->src);
    for (size_t i = 0; i < c->n_dedup; i++)
        free(c->dedup[i]);
    free(c->dedup);
    free(c->dedup_at);
    free(c);
    job->linkage = NULL;
}
