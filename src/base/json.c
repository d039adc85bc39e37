/* json.c — see json.h. */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 16

typedef struct {
    const char *p, *end;
    char *err;
    size_t elen;
} rd_t;

static pl_jnode *value(rd_t *r, int depth);

static int fail(rd_t *r, const char *why)
{
    if (r->err[0] == '\0')
        snprintf(r->err, r->elen, "%s", why);
    return -1;
}

static void ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
                             *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static char *string(rd_t *r)
{
    if (r->p >= r->end || *r->p != '"') {
        fail(r, "expected a string");
        return NULL;
    }
    r->p++;
    size_t cap = 16, n = 0;
    char *s = pl_xmalloc(cap);
    while (1) {
        if (r->p >= r->end) {
            fail(r, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*r->p++;
        char out[3];
        size_t k = 1;
        if (c == '"') {
            s[n] = '\0';
            return s;
        }
        if (c < 0x20) {
            fail(r, "control character in a string");
            break;
        }
        out[0] = (char)c;
        if (c == '\\') {
            if (r->p >= r->end) { fail(r, "bad escape"); break; }
            char e = *r->p++;
            const char *m = strchr("\"\\/bfnrt", e);
            if (m && e) {
                out[0] = "\"\\/\b\f\n\r\t"[m - "\"\\/bfnrt"];
            } else if (e == 'u' && r->end - r->p >= 4) {
                int v = hex4(r->p);
                r->p += 4;
                if (v <= 0 || (v >= 0xd800 && v <= 0xdfff)) {
                    fail(r, "unsupported \\u escape");
                    break;
                }
                if (v < 0x80) out[0] = (char)v;
                else if (v < 0x800) {
                    out[0] = (char)(0xc0 | v >> 6);
                    out[1] = (char)(0x80 | (v & 63));
                    k = 2;
                } else {
                    out[0] = (char)(0xe0 | v >> 12);
                    out[1] = (char)(0x80 | ((v >> 6) & 63));
                    out[2] = (char)(0x80 | (v & 63));
                    k = 3;
                }
            } else {
                fail(r, "bad escape");
                break;
            }
        }
        if (n + k + 1 > cap) {
            cap = 2 * (n + k + 1);
            s = pl_xrealloc(s, cap);
        }
        memcpy(s + n, out, k);
        n += k;
    }
    free(s);
    return NULL;
}

static pl_jnode *node(pl_jkind k)
{
    pl_jnode *n = pl_xcalloc(1, sizeof *n);
    n->kind = k;
    return n;
}

static void push(pl_jnode *n, char *key, pl_jnode *v)
{
    n->items = pl_xrealloc(n->items, (n->n + 1) * sizeof *n->items);
    if (n->kind == PL_J_OBJ)
        n->keys = pl_xrealloc(n->keys, (n->n + 1) * sizeof *n->keys);
    if (key)
        n->keys[n->n] = key;
    n->items[n->n++] = v;
}

static pl_jnode *container(rd_t *r, int depth, int obj)
{
    pl_jnode *n = node(obj ? PL_J_OBJ : PL_J_ARR);
    char close = obj ? '}' : ']';
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return n;
    }
    while (1) {
        char *key = NULL;
        ws(r);
        if (obj) {
            if (!(key = string(r)))
                break;
            ws(r);
            if (r->p >= r->end || *r->p++ != ':') {
                free(key);
                fail(r, "expected ':'");
                break;
            }
        }
        pl_jnode *v = value(r, depth + 1);
        if (!v) {
            free(key);
            break;
        }
        push(n, key, v);
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return n;
        }
        fail(r, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    pl_json_free(n);
    return NULL;
}

static pl_jnode *scalar(rd_t *r)
{
    static const char *const lit[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(lit[i]);
        if ((size_t)(r->end - r->p) >= l && memcmp(r->p, lit[i], l) == 0) {
            r->p += l;
            pl_jnode *n = node(i == 2 ? PL_J_NULL : PL_J_BOOL);
            n->boolean = i == 0;
            return n;
        }
    }
    const char *s = r->p;
    while (r->p < r->end && strchr("0123456789+-.eE", *r->p) && *r->p)
        r->p++;
    if (r->p == s || r->p - s > 40) {
        fail(r, "expected a value");
        return NULL;
    }
    pl_jnode *n = node(PL_J_NUM);
    n->str = pl_xmalloc((size_t)(r->p - s) + 1);
    memcpy(n->str, s, (size_t)(r->p - s));
    n->str[r->p - s] = '\0';
    return n;
}

static pl_jnode *value(rd_t *r, int depth)
{
    ws(r);
    if (depth > MAX_DEPTH) {
        fail(r, "nested too deeply");
        return NULL;
    }
    if (r->p >= r->end) {
        fail(r, "unexpected end");
        return NULL;
    }
    if (*r->p == '{' || *r->p == '[')
        return container(r, depth, *r->p == '{');
    if (*r->p == '"') {
        char *s = string(r);
        if (!s)
            return NULL;
        pl_jnode *n = node(PL_J_STR);
        n->str = s;
        return n;
    }
    return scalar(r);
}

pl_jnode *pl_json_parse(const char *buf, size_t len, char *err, size_t elen)
{
    rd_t r = {buf, buf + len, err, elen};
    err[0] = '\0';
    pl_jnode *n = value(&r, 0);
    ws(&r);
    if (n && r.p != r.end) {
        fail(&r, "trailing characters");
        pl_json_free(n);
        return NULL;
    }
    return n;
}

void pl_json_free(pl_jnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        pl_json_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

const pl_jnode *pl_json_get(const pl_jnode *obj, const char *key)
{
    if (!obj || obj->kind != PL_J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const char *pl_json_str(const pl_jnode *obj, const char *key)
{
    const pl_jnode *v = pl_json_get(obj, key);
    return v && v->kind == PL_J_STR ? v->str : NULL;
}

/* A string built by appending, for pl_json_escape. */
static void jput(char **p, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *p = pl_xrealloc(*p, *cap);
    }
    memcpy(*p + *len, s, n);
    *len += n;
    (*p)[*len] = '\0';
}

char *pl_json_escape(const char *s)
{
    char *p = NULL;
    size_t len = 0, cap = 0;
    jput(&p, &len, &cap, "", 0);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            jput(&p, &len, &cap, e, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", *c);
            jput(&p, &len, &cap, u, 6);
        } else {
            jput(&p, &len, &cap, (const char *)c, 1);
        }
    }
    return p;
}
