/* yamltree.c — see yamltree.h. */
#include "base/yamltree.h"

#include "base/log.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------------------ */
/* Messages */

void pl_yaml_error(const pl_yaml_doc *doc, int line, int col, const char *path,
                   const char *fmt, ...)
{
    if (doc->quiet)
        return;
    char what[1024], where[64] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(where, sizeof where, ":%d:%d", line, col);
    const char *file = doc->file ? doc->file : "<yaml>";
    if (path && path[0])
        pl_err("%s%s: %s: %s", file, where, path, what);
    else
        pl_err("%s%s: %s", file, where, what);
}

const char *pl_yaml_show(const char *s, size_t len, char buf[PL_YAML_SHOW_MAX])
{
    const size_t keep = PL_YAML_SHOW_MAX - 4;   /* room for "..." and NUL */
    size_t n = len < keep ? len : keep;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > keep) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

const char *pl_yaml_describe(const pl_yaml_node *node)
{
    if (!node)
        return "nothing";
    switch (node->kind) {
    case PL_YAML_SEQUENCE: return "a sequence";
    case PL_YAML_MAPPING:  return "a mapping";
    default:               return node->is_null ? "null" : "a string";
    }
}

void pl_yaml_path(char out[PL_YAML_PATH_MAX], const char *parent,
                  const char *key)
{
    char shown[PL_YAML_SHOW_MAX];
    pl_yaml_show(key, strlen(key), shown);
    if (parent && parent[0])
        snprintf(out, PL_YAML_PATH_MAX, "%s.%s", parent, shown);
    else
        snprintf(out, PL_YAML_PATH_MAX, "%s", shown);
}

void pl_yaml_path_index(char out[PL_YAML_PATH_MAX], const char *parent,
                        size_t i)
{
    snprintf(out, PL_YAML_PATH_MAX, "%s[%zu]", parent ? parent : "", i);
}

/* ------------------------------------------------------------------------ */
/* Tree */

static void node_free(pl_yaml_node *n)
{
    if (!n)
        return;
    free(n->str);
    for (size_t i = 0; i < n->n_items; i++)
        node_free(n->items[i]);
    free(n->items);
    for (size_t i = 0; i < n->n_pairs; i++) {
        node_free(n->pairs[i].key);
        node_free(n->pairs[i].value);
    }
    free(n->pairs);
    free(n);
}

void pl_yaml_free(pl_yaml_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    doc->root = NULL;
}

static pl_yaml_node *node_new(pl_yaml_kind kind, const yaml_mark_t *m)
{
    pl_yaml_node *n = pl_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static pl_yaml_node *scalar_new(const yaml_event_t *ev)
{
    pl_yaml_node *n = node_new(PL_YAML_SCALAR, &ev->start_mark);
    n->len = ev->data.scalar.length;
    n->str = pl_xmalloc(n->len + 1);
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
    /* YAML core schema nulls; only unquoted text can be null. */
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
        for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
            if (n->len == strlen(nulls[i]) && strcmp(n->str, nulls[i]) == 0)
                n->is_null = 1;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Parsing: one recursive descent over libyaml events, bounded by the depth
 * limit, so the C stack stays small. */

typedef struct {
    yaml_parser_t parser;
    pl_yaml_doc *doc;
} ctx_t;

static void syntax_error(ctx_t *c)
{
    const yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        pl_yaml_error(c->doc, 0, 0, "", "out of memory while parsing YAML");
    } else if (p->error == YAML_READER_ERROR) {
        pl_yaml_error(c->doc, 0, 0, "", "invalid YAML input at byte %zu: %s",
                      p->problem_offset, problem);
    } else if (p->context) {
        pl_yaml_error(c->doc, (int)p->problem_mark.line + 1,
                      (int)p->problem_mark.column + 1, "",
                      "YAML syntax error: %s (%s started at %d:%d)", problem,
                      p->context, (int)p->context_mark.line + 1,
                      (int)p->context_mark.column + 1);
    } else {
        pl_yaml_error(c->doc, (int)p->problem_mark.line + 1,
                      (int)p->problem_mark.column + 1, "",
                      "YAML syntax error: %s", problem);
    }
}

static int next_event(ctx_t *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->parser, ev))
        return 0;
    syntax_error(c);
    return -1;
}

static void err_at(ctx_t *c, const yaml_mark_t *m, const char *path,
                   const char *what)
{
    pl_yaml_error(c->doc, (int)m->line + 1, (int)m->column + 1, path, "%s",
                  what);
}

static int build(ctx_t *c, yaml_event_t *ev, int depth, const char *path,
                 pl_yaml_node **out);

static int build_seq(ctx_t *c, pl_yaml_node *seq, int depth, const char *path)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        if (next_event(c, &ev))
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char sub[PL_YAML_PATH_MAX];
        pl_yaml_path_index(sub, path, seq->n_items);
        pl_yaml_node *item;
        if (build(c, &ev, depth + 1, sub, &item))
            return -1;
        if (seq->n_items == cap) {
            cap = cap ? 2 * cap : 8;
            seq->items = pl_xrealloc(seq->items, cap * sizeof *seq->items);
        }
        seq->items[seq->n_items++] = item;
    }
}

/* Duplicate keys: sort (key, position) then compare neighbours, so a large
 * mapping costs n log n rather than n^2. Reports the first duplicate in file
 * order, pointing at the earlier occurrence. */
typedef struct { const pl_yaml_node *key; size_t idx; } keyref;

static int key_cmp(const pl_yaml_node *x, const pl_yaml_node *y)
{
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->str, y->str, x->len);
}

static int keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    int r = key_cmp(x->key, y->key);
    if (r)
        return r;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int check_duplicates(ctx_t *c, const pl_yaml_node *map,
                            const char *path)
{
    size_t n = map->n_pairs;
    if (n < 2)
        return 0;
    keyref *v = pl_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (keyref){map->pairs[i].key, i};
    qsort(v, n, sizeof *v, keyref_cmp);
    size_t dup = n, first = 0, group = 0;
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(v[i].key, v[group].key)) {
            group = i;
        } else if (v[i].idx < dup) {
            dup = v[i].idx;
            first = v[group].idx;
        }
    }
    free(v);
    if (dup == n)
        return 0;
    const pl_yaml_node *k = map->pairs[dup].key, *f = map->pairs[first].key;
    char shown[PL_YAML_SHOW_MAX];
    pl_yaml_error(c->doc, k->line, k->col, path,
                  "duplicate key '%s' (first at %d:%d)",
                  pl_yaml_show(k->str, k->len, shown), f->line, f->col);
    return -1;
}

static int build_pair(ctx_t *c, pl_yaml_node *map, yaml_event_t *kev,
                      int depth, const char *path, size_t *cap)
{
    if (kev->type == YAML_SEQUENCE_START_EVENT ||
        kev->type == YAML_MAPPING_START_EVENT) {
        err_at(c, &kev->start_mark, path,
               "mapping keys must be strings, not sequences or mappings");
        yaml_event_delete(kev);
        return -1;
    }
    pl_yaml_node *key, *value;
    if (build(c, kev, depth + 1, path, &key))
        return -1;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key->str);
    yaml_event_t vev;
    if (next_event(c, &vev) || build(c, &vev, depth + 1, sub, &value)) {
        node_free(key);
        return -1;
    }
    if (map->n_pairs == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        map->pairs = pl_xrealloc(map->pairs, *cap * sizeof *map->pairs);
    }
    map->pairs[map->n_pairs++] = (pl_yaml_pair){key, value};
    return 0;
}

static int build_map(ctx_t *c, pl_yaml_node *map, int depth, const char *path)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        if (next_event(c, &ev))
            return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return check_duplicates(c, map, path);
        }
        if (build_pair(c, map, &ev, depth, path, &cap))
            return -1;
    }
}

/* Build the node that starts with `ev` (always consumed). */
static int build(ctx_t *c, yaml_event_t *ev, int depth, const char *path,
                 pl_yaml_node **out)
{
    *out = NULL;
    const yaml_char_t *anchor = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:         anchor = ev->data.scalar.anchor; break;
    case YAML_SEQUENCE_START_EVENT: anchor = ev->data.sequence_start.anchor; break;
    case YAML_MAPPING_START_EVENT:  anchor = ev->data.mapping_start.anchor; break;
    case YAML_ALIAS_EVENT:
        err_at(c, &ev->start_mark, path,
               "YAML aliases ('*name') are not allowed: they can expand "
               "a small file into a huge one");
        yaml_event_delete(ev);
        return -1;
    default:
        err_at(c, &ev->start_mark, path, "unexpected YAML event");
        yaml_event_delete(ev);
        return -1;
    }
    if (anchor) {
        err_at(c, &ev->start_mark, path,
               "YAML anchors ('&name') are not allowed: aliases to them can "
               "expand a small file into a huge one");
        yaml_event_delete(ev);
        return -1;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        *out = scalar_new(ev);
        yaml_event_delete(ev);
        return 0;
    }
    if (depth > PL_YAML_MAX_DEPTH) {
        char what[64];
        snprintf(what, sizeof what, "nesting deeper than %d levels",
                 PL_YAML_MAX_DEPTH);
        err_at(c, &ev->start_mark, path, what);
        yaml_event_delete(ev);
        return -1;
    }
    int is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
    pl_yaml_node *n = node_new(is_seq ? PL_YAML_SEQUENCE : PL_YAML_MAPPING,
                               &ev->start_mark);
    yaml_event_delete(ev);
    int rc = is_seq ? build_seq(c, n, depth, path)
                    : build_map(c, n, depth, path);
    if (rc) {
        node_free(n);
        return -1;
    }
    *out = n;
    return 0;
}

/* Next event must be of type `want`; it is consumed. */
static int expect_event(ctx_t *c, yaml_event_type_t want)
{
    yaml_event_t ev;
    if (next_event(c, &ev))
        return -1;
    int ok = ev.type == want;
    if (!ok)
        err_at(c, &ev.start_mark, "", "unexpected YAML structure");
    yaml_event_delete(&ev);
    return ok ? 0 : -1;
}

static int parse_stream(ctx_t *c)
{
    yaml_event_t ev;
    if (expect_event(c, YAML_STREAM_START_EVENT) || next_event(c, &ev))
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {     /* empty: no document */
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev);                     /* DOCUMENT-START */
    if (next_event(c, &ev) || build(c, &ev, 1, "", &c->doc->root) ||
        expect_event(c, YAML_DOCUMENT_END_EVENT) || next_event(c, &ev))
        return -1;
    int more = ev.type != YAML_STREAM_END_EVENT;
    if (more)
        err_at(c, &ev.start_mark, "",
               "more than one YAML document (only one is allowed)");
    yaml_event_delete(&ev);
    return more ? -1 : 0;
}

int pl_yaml_parse(pl_yaml_doc *doc, const char *file, const char *buf,
                  size_t len, int quiet)
{
    memset(doc, 0, sizeof *doc);
    doc->file = file;
    doc->quiet = quiet;
    if (len > PL_YAML_MAX_BYTES) {
        pl_yaml_error(doc, 0, 0, "", "YAML input too large (%zu bytes, "
                      "limit %d)", len, PL_YAML_MAX_BYTES);
        return -1;
    }
    ctx_t c = {.doc = doc};
    if (!yaml_parser_initialize(&c.parser)) {
        pl_yaml_error(doc, 0, 0, "", "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)buf, len);
    int rc = parse_stream(&c);
    yaml_parser_delete(&c.parser);
    if (rc)
        pl_yaml_free(doc);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Getters */

const pl_yaml_pair *pl_yaml_find(const pl_yaml_node *map, const char *key)
{
    if (!map || map->kind != PL_YAML_MAPPING)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n_pairs; i++) {
        const pl_yaml_node *k = map->pairs[i].key;
        if (k->len == klen && memcmp(k->str, key, klen) == 0)
            return &map->pairs[i];
    }
    return NULL;
}

const pl_yaml_node *pl_yaml_get(const pl_yaml_node *map, const char *key)
{
    const pl_yaml_pair *p = pl_yaml_find(map, key);
    return p ? p->value : NULL;
}

static const char *kind_name(pl_yaml_kind kind)
{
    return kind == PL_YAML_MAPPING ? "a mapping"
         : kind == PL_YAML_SEQUENCE ? "a sequence" : "a string";
}

int pl_yaml_expect(const pl_yaml_doc *doc, const pl_yaml_node *node,
                   const char *path, pl_yaml_kind kind)
{
    if (node->kind == kind && !(kind == PL_YAML_SCALAR && node->is_null))
        return 0;
    pl_yaml_error(doc, node->line, node->col, path, "expected %s, got %s",
                  kind_name(kind), pl_yaml_describe(node));
    return -1;
}

int pl_yaml_check_keys(const pl_yaml_doc *doc, const pl_yaml_node *map,
                       const char *path, const char *const allowed[])
{
    for (size_t i = 0; i < map->n_pairs; i++) {
        const pl_yaml_node *k = map->pairs[i].key;
        size_t j = 0;
        while (allowed[j] && !(strlen(allowed[j]) == k->len &&
                               memcmp(allowed[j], k->str, k->len) == 0))
            j++;
        if (allowed[j])
            continue;
        char list[512] = "", shown[PL_YAML_SHOW_MAX];
        for (j = 0; allowed[j]; j++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "",
                     allowed[j]);
        }
        pl_yaml_error(doc, k->line, k->col, path,
                      "unknown key '%s' (expected one of: %s)",
                      pl_yaml_show(k->str, k->len, shown), list);
        return -1;
    }
    return 0;
}

int pl_yaml_optional(const pl_yaml_doc *doc, const pl_yaml_node *map,
                     const char *path, const char *key, pl_yaml_kind kind,
                     const pl_yaml_node **out)
{
    *out = NULL;
    const pl_yaml_node *v = pl_yaml_get(map, key);
    if (!v)
        return 0;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key);
    if (pl_yaml_expect(doc, v, sub, kind))
        return -1;
    *out = v;
    return 0;
}

int pl_yaml_require(const pl_yaml_doc *doc, const pl_yaml_node *map,
                    const char *path, const char *key, pl_yaml_kind kind,
                    const pl_yaml_node **out)
{
    if (pl_yaml_optional(doc, map, path, key, kind, out))
        return -1;
    if (*out)
        return 0;
    pl_yaml_error(doc, map->line, map->col, path, "missing required key '%s'",
                  key);
    return -1;
}

int pl_yaml_string(const pl_yaml_doc *doc, const pl_yaml_node *node,
                   const char *path, const char **out)
{
    if (pl_yaml_expect(doc, node, path, PL_YAML_SCALAR))
        return -1;
    if (strlen(node->str) != node->len) {
        pl_yaml_error(doc, node->line, node->col, path,
                      "expected a string without NUL characters");
        return -1;
    }
    *out = node->str;
    return 0;
}

int pl_yaml_u64(const pl_yaml_doc *doc, const pl_yaml_node *node,
                const char *path, uint64_t *out)
{
    const char *s;
    if (pl_yaml_string(doc, node, path, &s))
        return -1;
    char shown[PL_YAML_SHOW_MAX];
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            pl_yaml_error(doc, node->line, node->col, path,
                          "integer '%s' is too large (maximum %llu)",
                          pl_yaml_show(s, node->len, shown),
                          (unsigned long long)UINT64_MAX);
            return -1;
        }
        v = v * 10 + d;
    }
    /* Leading zeros are refused: YAML 1.1 reads "010" as octal. */
    if (i == 0 || s[i] != '\0' || (s[0] == '0' && i > 1)) {
        pl_yaml_error(doc, node->line, node->col, path,
                      "expected a non-negative decimal integer, got '%s'",
                      pl_yaml_show(s, node->len, shown));
        return -1;
    }
    *out = v;
    return 0;
}

int pl_yaml_enum(const pl_yaml_doc *doc, const pl_yaml_node *node,
                 const char *path, const char *const choices[], int *out)
{
    const char *s;
    if (pl_yaml_string(doc, node, path, &s))
        return -1;
    int n = 0;
    for (; choices[n]; n++) {
        if (strcmp(s, choices[n]) == 0) {
            *out = n;
            return 0;
        }
    }
    char list[512] = "", shown[PL_YAML_SHOW_MAX];
    for (int j = 0; j < n; j++) {
        size_t used = strlen(list);
        const char *sep = j == 0 ? "" : (n == 2 ? " or " : ", ");
        snprintf(list + used, sizeof list - used, "%s'%s'", sep, choices[j]);
    }
    pl_yaml_error(doc, node->line, node->col, path, "expected %s%s, got '%s'",
                  n > 2 ? "one of " : "", list,
                  pl_yaml_show(s, node->len, shown));
    return -1;
}

int pl_yaml_strings(const pl_yaml_doc *doc, const pl_yaml_node *node,
                    const char *path, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (pl_yaml_expect(doc, node, path, PL_YAML_SEQUENCE))
        return -1;
    char sub[PL_YAML_PATH_MAX];
    for (size_t i = 0; i < node->n_items; i++) {
        const char *s;
        pl_yaml_path_index(sub, path, i);
        if (pl_yaml_string(doc, node->items[i], sub, &s))
            return -1;
    }
    char **v = pl_xcalloc(node->n_items, sizeof *v);
    for (size_t i = 0; i < node->n_items; i++)
        v[i] = pl_xstrdup(node->items[i]->str);
    *out = v;
    *n = node->n_items;
    return 0;
}

void pl_yaml_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int pl_yaml_name(const pl_yaml_doc *doc, const pl_yaml_node *key,
                 const char *path, const char *what, size_t maxlen)
{
    size_t n = key->len;
    int ok = n > 0 && n < maxlen;
    for (size_t i = 0; ok && i < n; i++) {
        char c = key->str[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_';
    }
    if (ok)
        return 0;
    char shown[PL_YAML_SHOW_MAX];
    pl_yaml_error(doc, key->line, key->col, path, "invalid %s name '%s' "
                  "(expected letters, digits and '_', at most %zu "
                  "characters)", what, pl_yaml_show(key->str, key->len, shown),
                  maxlen - 1);
    return -1;
}

int pl_yaml_path_str(const pl_yaml_doc *doc, const pl_yaml_node *map,
                     const char *path, const char *key, int required,
                     char **out)
{
    const pl_yaml_node *v;
    const char *s;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key);
    if ((required ? pl_yaml_require : pl_yaml_optional)(
            doc, map, path, key, PL_YAML_SCALAR, &v))
        return -1;
    if (!v)
        return 0;
    if (pl_yaml_string(doc, v, sub, &s))
        return -1;
    if (!s[0]) {
        pl_yaml_error(doc, v->line, v->col, sub,
                      "expected a non-empty path, got an empty string");
        return -1;
    }
    *out = pl_xstrdup(s);
    return 0;
}
