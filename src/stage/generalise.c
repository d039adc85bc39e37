/* generalise.c — see generalise.h. */
#include "stage/generalise.h"
#include "par/h5.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int pl_vkind_of(hid_t type, pl_vkind *kind)
{
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        *kind = H5Tget_sign(type) == H5T_SGN_NONE ? PL_VK_UINT : PL_VK_INT;
        return H5Tget_size(type) <= 8 ? 0 : -1;
    case H5T_FLOAT:
        *kind = PL_VK_FLOAT;
        return H5Tget_size(type) == 4 || H5Tget_size(type) == 8 ? 0 : -1;
    case H5T_STRING:
        *kind = PL_VK_STR;
        return H5Tis_variable_str(type) == 0 ? 0 : -1;
    default:
        return -1;
    }
}

int64_t pl_value_i64(pl_vkind kind, size_t size, const uint8_t *p)
{
    if (kind == PL_VK_FLOAT)
        return (int64_t)pl_value_f64(kind, size, p);
    union { int8_t i8; int16_t i16; int32_t i32; int64_t i64; uint8_t u8;
            uint16_t u16; uint32_t u32; uint64_t u64; } v;
    memcpy(&v, p, size);
    int s = kind == PL_VK_INT;
    switch (size) {
    case 1: return s ? v.i8 : v.u8;
    case 2: return s ? v.i16 : v.u16;
    case 4: return s ? v.i32 : (int64_t)v.u32;
    default: return s ? v.i64 : (v.u64 > INT64_MAX ? INT64_MAX
                                                   : (int64_t)v.u64);
    }
}

double pl_value_f64(pl_vkind kind, size_t size, const uint8_t *p)
{
    if (kind != PL_VK_FLOAT)
        return (double)pl_value_i64(kind, size, p);
    if (size == 4) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    double d;
    memcpy(&d, p, 8);
    return d;
}

static int why_set(char *why, size_t n, const char *msg)
{
    snprintf(why, n, "%s", msg);
    return -1;
}

/* Bands: an HDF5 enum whose values are the band indexes in band order
 * (0 = "<e0", ..., n = ">=e[n-1]", n + 1 = "NaN"), on uint8 when they fit,
 * else uint16: sorting by value sorts by band. */
static int band_type(pl_gen_col *c, const pl_gen_rule *rule, char *why,
                     size_t whylen)
{
    size_t nv = rule->n_bands + 2;
    if (nv > 65536)
        return why_set(why, whylen, "at most 65534 band edges");
    c->out_size = nv <= 256 ? 1 : 2;
    c->out_type = H5Tenum_create(c->out_size == 1 ? H5T_NATIVE_UINT8
                                                  : H5T_NATIVE_UINT16);
    for (size_t i = 0; i < nv; i++) {
        char label[PL_BAND_LABEL + 1] = {0};
        pl_band_text(rule->bands, rule->n_bands, i, label);
        uint8_t v8 = (uint8_t)i;
        uint16_t v16 = (uint16_t)i;
        if (H5Tenum_insert(c->out_type, label, c->out_size == 1
                           ? (const void *)&v8 : (const void *)&v16) < 0) {
            pl_h5_reason();
            return why_set(why, whylen, "band labels are not distinct at "
                           "10 significant digits (edges too close)");
        }
    }
    return 0;
}

int pl_gen_setup(pl_gen_col *c, const pl_gen_rule *rule, hid_t in_type,
                 char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    c->out_type = -1;
    if (pl_vkind_of(in_type, &c->kind) != 0)
        return why_set(why, whylen, "unsupported column type");
    c->in_size = H5Tget_size(in_type);
    c->rule = rule;
    int isnum = c->kind != PL_VK_STR, isint = isnum && c->kind != PL_VK_FLOAT;
    switch (rule ? rule->kind : PL_GEN_NONE) {
    case PL_GEN_NONE:
        c->out_type = c->kind == PL_VK_STR ? pl_text_copy(in_type)
                                           : H5Tcopy(in_type);
        c->out_size = c->in_size;
        return 0;
    case PL_GEN_YEAR:
    case PL_GEN_MONTH:
        if (!isint)
            return why_set(why, whylen, "'year' and 'month' apply to integer "
                           "dates (YYYYMMDD)");
        c->out_type = H5Tcopy(H5T_NATIVE_INT32);
        c->out_size = 4;
        return 0;
    case PL_GEN_DEPARTMENT:
    case PL_GEN_PREFIX:
        if (isnum)
            return why_set(why, whylen, "'department' and 'prefix' apply to "
                           "string columns");
        c->out_size = rule->kind == PL_GEN_DEPARTMENT ? 3 : rule->prefix;
        if (c->out_size > c->in_size)
            c->out_size = c->in_size;
        break;
    case PL_GEN_BANDS:
        if (!isnum)
            return why_set(why, whylen, "'bands' apply to numeric columns");
        return band_type(c, rule, why, whylen);
    }
    c->out_type = pl_text_type(c->out_size);
    return 0;
}

void pl_gen_close(pl_gen_col *c)
{
    if (c->out_type > 0)
        H5Tclose(c->out_type);
    c->out_type = -1;
}

size_t pl_band_index(const double *e, size_t n, double x)
{
    if (isnan(x))
        return n + 1;
    size_t i = 0;
    while (i < n && x >= e[i])
        i++;
    return i;
}

void pl_band_text(const double *e, size_t n, size_t i,
                  char out[PL_BAND_LABEL])
{
    char buf[64];
    if (i > n)
        snprintf(buf, sizeof buf, "NaN");
    else if (i == 0)
        snprintf(buf, sizeof buf, "<%.10g", e[0]);
    else if (i == n)
        snprintf(buf, sizeof buf, ">=%.10g", e[n - 1]);
    else
        snprintf(buf, sizeof buf, "[%.10g,%.10g)", e[i - 1], e[i]);
    memset(out, 0, PL_BAND_LABEL);
    memcpy(out, buf, strnlen(buf, PL_BAND_LABEL));
}

void pl_band_label(const double *e, size_t n, double x,
                   char out[PL_BAND_LABEL])
{
    pl_band_text(e, n, pl_band_index(e, n, x), out);
}

/* Department of an INSEE commune code: "75056" -> "75", "2A004" -> "2A",
 * overseas "97411" -> "974". */
static size_t department_len(const uint8_t *p, size_t size)
{
    return size >= 3 && p[0] == '9' && (p[1] == '7' || p[1] == '8') ? 3 : 2;
}

static void apply_one(const pl_gen_col *c, const uint8_t *p, uint8_t *o)
{
    const pl_gen_rule *g = c->rule;
    int64_t v;
    int32_t w;
    size_t n;
    switch (g ? g->kind : PL_GEN_NONE) {
    case PL_GEN_NONE:
        memcpy(o, p, c->in_size);
        return;
    case PL_GEN_YEAR:
    case PL_GEN_MONTH:
        v = pl_value_i64(c->kind, c->in_size, p);
        if (g->kind == PL_GEN_YEAR)
            v = v >= 10000000 ? v / 10000 : v >= 100000 ? v / 100 : v;
        else
            v = v >= 10000000 ? v / 100 : v;
        w = (int32_t)v;
        memcpy(o, &w, 4);
        return;
    case PL_GEN_DEPARTMENT:
    case PL_GEN_PREFIX:
        n = g->kind == PL_GEN_PREFIX ? g->prefix
                                     : department_len(p, c->in_size);
        if (n > c->out_size)
            n = c->out_size;
        /* Never cut inside a UTF-8 character: drop its lead bytes too. */
        while (n > 0 && n < c->in_size && (p[n] & 0xc0) == 0x80)
            n--;
        memset(o, 0, c->out_size);
        for (size_t i = 0; i < n && p[i]; i++)
            o[i] = p[i];
        return;
    case PL_GEN_BANDS:
        n = pl_band_index(g->bands, g->n_bands,
                          pl_value_f64(c->kind, c->in_size, p));
        if (c->out_size == 1)
            o[0] = (uint8_t)n;
        else {
            uint16_t v = (uint16_t)n;
            memcpy(o, &v, 2);
        }
        return;
    }
}

void pl_gen_apply(const pl_gen_col *c, const uint8_t *in, size_t n,
                  uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        apply_one(c, in + i * c->in_size, out + i * c->out_size);
}

int pl_filter_check(const pl_filter *f, pl_vkind kind, char *why,
                    size_t whylen)
{
    if (f->is_range && kind == PL_VK_STR)
        return why_set(why, whylen, "'from'/'to' apply to numeric columns");
    if (!f->is_range && kind != PL_VK_STR)
        return why_set(why, whylen, "'prefix' applies to string columns");
    return 0;
}

int pl_filter_match(const pl_filter *f, pl_vkind kind, size_t size,
                    const uint8_t *p)
{
    if (f->is_range) {
        if (kind == PL_VK_FLOAT) {
            double x = pl_value_f64(kind, size, p);
            return x >= (double)f->from && x <= (double)f->to;
        }
        int64_t v = pl_value_i64(kind, size, p);
        return v >= f->from && v <= f->to;
    }
    for (size_t i = 0; i < f->n_prefixes; i++) {
        size_t n = strlen(f->prefixes[i]);
        if (n <= size && memcmp(p, f->prefixes[i], n) == 0)
            return 1;
    }
    return 0;
}
