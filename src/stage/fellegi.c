/* fellegi.c — see fellegi.h. */
#include "stage/fellegi.h"
#include "base/date.h"
#include "crypto/dice.h"

#include "base/mem.h"
#include "base/strsim.h"

#include <math.h>
#include <string.h>

static int date_level(const pl_lk_field *f, int64_t a, int64_t b)
{
    int l = 0;
    if (a == b)
        return 0;
    int64_t ya = a / 10000, ma = a / 100 % 100, da = a % 100;
    int64_t yb = b / 10000, mb = b / 100 % 100, db = b % 100;
    l++;
    if (f->swap) {
        if (ya == yb && ma == db && da == mb)
            return l;
        l++;
    }
    if (f->within_days) {
        int64_t d = pl_days_from_civil(ya, ma, da) - pl_days_from_civil(yb, mb, db);
        if (d < 0)
            d = -d;
        if ((uint64_t)d <= f->within_days)
            return l;
        l++;
    }
    if (f->year_month) {
        if (ya == yb && ma == mb)
            return l;
        l++;
    }
    return l;
}

/* strnlen(s, PL_FS_STR) of a name slot, from three 8-byte words (the
 * first zero byte: the classic has-zero-byte bit trick) */
_Static_assert(PL_FS_STR % 8 == 0, "name slot of whole words");
static inline size_t name_len(const char *s)
{
    for (size_t k = 0; k < PL_FS_STR; k += 8) {
        uint64_t w;
        memcpy(&w, s + k, 8);
        uint64_t z = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
        if (z)
            return k + (size_t)(__builtin_ctzll(z) >> 3);
    }
    return PL_FS_STR;
}

void pl_fs_layout_of(const pl_linkage_cfg *c, pl_fs_layout *L)
{
    memset(L, 0, sizeof *L);
    size_t so = sizeof(pl_fs_hdr), ro = so;
    /* the header, then runs of plain values merged (a run ends at a
     * name: its slot differs between the two records) */
    L->seg[0].from = L->seg[0].to = 0;
    L->seg[0].len = (uint32_t)so;
    L->n_seg = 1;
    int in_run = 1;
    for (size_t f = 0; f < c->n_fields; f++) {
        const pl_lk_field *fd = &c->fields[f];
        L->off[f] = ro;
        L->soff[f] = so;
        if (fd->kind == PL_CMP_NAME) {
            L->names[L->n_names++] = (uint8_t)f;
            in_run = 0;
        } else if (in_run) {
            L->seg[L->n_seg - 1].len += (uint32_t)pl_fs_slot(fd);
        } else {
            L->seg[L->n_seg].from = (uint32_t)so;
            L->seg[L->n_seg].to = (uint32_t)ro;
            L->seg[L->n_seg++].len = (uint32_t)pl_fs_slot(fd);
            in_run = 1;
        }
        so += pl_fs_sslot(fd);
        ro += pl_fs_slot(fd);
    }
    L->rs = ro;
    L->srs = so;
}

static size_t dict_slot(const pl_fs_name *v, size_t cap)
{
    uint64_t w[3];
    memcpy(w, v->s, sizeof w);
    uint64_t h = w[0] * 0x9e3779b97f4a7c15ull ^ w[1] * 0xc2b2ae3d27d4eb4full ^
                 w[2] * 0x165667b19e3779f9ull;
    return (size_t)((h ^ h >> 31) * 0xbf58476d1ce4e5b9ull >> 20) & (cap - 1);
}

static void dict_rehash(pl_fs_dict *d, size_t cap)
{
    pl_wipe(d->ix, d->ix_cap * sizeof *d->ix);
    free(d->ix);
    d->ix = pl_xcalloc(cap, sizeof *d->ix);
    d->ix_cap = cap;
    for (size_t i = 0; i < d->n; i++) {
        size_t j = dict_slot(&d->v[i], cap);
        while (d->ix[j])
            j = (j + 1) & (cap - 1);
        d->ix[j] = (uint32_t)i + 1;
    }
}

_Static_assert(sizeof(pl_fs_name) == 32, "a name value of 32 bytes");
uint32_t pl_fs_dict_add(pl_fs_dict *d, const pl_fs_name *v)
{
    if (2 * (d->n + 1) > d->ix_cap)     /* at most half full */
        dict_rehash(d, d->ix_cap ? 2 * d->ix_cap : 1024);
    size_t j = dict_slot(v, d->ix_cap);
    while (d->ix[j]) {
        uint32_t i = d->ix[j] - 1;
        if (memcmp(d->v[i].s, v->s, PL_FS_STR) == 0)
            return i;
        j = (j + 1) & (d->ix_cap - 1);
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 1024;
        pl_fs_name *nv = pl_xmalloc(nc * sizeof *nv);
        if (d->n)
            memcpy(nv, d->v, d->n * sizeof *nv);
        pl_wipe(d->v, d->n * sizeof *d->v);
        free(d->v);
        d->v = nv;
        d->occ = pl_xrealloc(d->occ, nc * sizeof *d->occ);
        d->cap = nc;
    }
    d->v[d->n] = *v;
    d->occ[d->n] = 0;
    d->ix[j] = (uint32_t)d->n + 1;
    return (uint32_t)d->n++;
}

void pl_fs_dict_free(pl_fs_dict *d)
{
    pl_wipe(d->v, d->n * sizeof *d->v);
    /* and the names' counts and slots (an unkeyed hash of each) */
    pl_wipe(d->occ, d->n * sizeof *d->occ);
    pl_wipe(d->ix, d->ix_cap * sizeof *d->ix);
    free(d->v);
    free(d->occ);
    free(d->ix);
    memset(d, 0, sizeof *d);
}

uint32_t pl_fs_phonetic(const char *s, size_t len)
{
    char ph[PL_PHON_MAX];
    size_t n = pl_phonetic_fr(s, len, ph);
    if (n == 0)
        return 0;
    return (uint32_t)pl_hash64(ph, n, 0x9407) | 1u;
}

int pl_fs_level(const pl_lk_field *f, const uint8_t *pa, const uint8_t *pb)
{
    switch (f->kind) {
    case PL_CMP_DATE:
        return date_level(f, pl_fs_int(pa), pl_fs_int(pb));
    case PL_CMP_EXACT:
        return memcmp(pa, pb, PL_FS_SMALL) != 0;
    case PL_CMP_NUMBER: {
        int64_t x = pl_fs_int(pa), y = pl_fs_int(pb);
        if (x == y)
            return 0;
        double d = fabs((double)x - (double)y);
        return f->within > 0 ? (d <= f->within ? 1 : 2) : 1;
    }
    case PL_CMP_DICE:
        return pl_dice_level(pl_dice((const uint64_t *)(const void *)pa,
                                     (const uint64_t *)(const void *)pb,
                                     f->bytes / 8), f->dice, f->n_dice);
    case PL_CMP_NAME:
        break;
    }
    const pl_fs_name *a = (const pl_fs_name *)pa, *b = (const pl_fs_name *)pb;
    /* NUL-padded slots: equal names are equal slots */
    if (memcmp(a->s, b->s, PL_FS_STR) == 0)
        return 0;
    size_t la = name_len(a->s), lb = name_len(b->s);
    int l = 1;
    /* a slot is 32 readable bytes (s, tf, ph): pl_jaro_winkler32 */
    _Static_assert(sizeof(pl_fs_name) >= 32, "a name slot of 32 bytes");
    /* below the lowest threshold, its value is never read: 0 takes the
     * same branches (no threshold is under 0) */
    double jw = f->n_jw && !pl_jw_below(a->s, la, b->s, lb,
                                        f->jw[f->n_jw - 1])
                    ? pl_jaro_winkler32(a->s, la, b->s, lb)
                    : 0;
    for (size_t i = 0; i < f->n_jw; i++, l++) {
        if (jw >= f->jw[i])
            return l;
        /* the distance is only worth computing for strings already
         * similar: OSA <= 2 with JW under the lowest threshold only
         * happens for names of 1 to 3 letters */
        if (i == 0 && f->dl > 0 && jw >= f->jw[f->n_jw - 1] &&
            (la > lb ? la - lb : lb - la) <= (size_t)f->dl &&
            pl_osa_distance(a->s, la, b->s, lb) <= f->dl)
            return l;
    }
    if (f->n_jw == 0 && f->dl > 0) {
        if (pl_osa_distance(a->s, la, b->s, lb) <= f->dl)
            return l;
        l++;
    }
    if (f->phonetic) {
        if (a->ph && a->ph == b->ph)
            return l;
        l++;
    }
    return l;
}

uint32_t pl_fs_compare(const pl_linkage_cfg *c, const uint8_t *a,
                       const uint8_t *b, uint8_t *lev)
{
    const pl_fs_hdr *ha = (const pl_fs_hdr *)a, *hb = (const pl_fs_hdr *)b;
    uint32_t miss = ha->missing | hb->missing, g = 0, mul = 1;
    size_t off = sizeof(pl_fs_hdr);
    for (size_t f = 0; f < c->n_fields; f++) {
        const pl_lk_field *fd = &c->fields[f];
        int l = miss >> f & 1 ? fd->n_levels
                              : pl_fs_level(fd, a + off, b + off);
        off += pl_fs_slot(fd);
        lev[f] = (uint8_t)l;
        g += (uint32_t)l * mul;
        mul *= (uint32_t)fd->n_levels + 1;
    }
    return g;
}

uint32_t pl_fs_patterns(const pl_linkage_cfg *c)
{
    uint32_t n = 1;
    for (size_t f = 0; f < c->n_fields; f++)
        n *= (uint32_t)c->fields[f].n_levels + 1;
    return n;
}

void pl_fs_decode(const pl_linkage_cfg *c, uint32_t g, uint8_t *lev)
{
    for (size_t f = 0; f < c->n_fields; f++) {
        uint32_t r = (uint32_t)c->fields[f].n_levels + 1;
        lev[f] = (uint8_t)(g % r);
        g /= r;
    }
}

void pl_fs_u_from_counts(pl_fs_model *mo, const pl_linkage_cfg *c,
                         const double *counts)
{
    uint32_t G = pl_fs_patterns(c);
    double n[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV + 1];
    memset(n, 0, sizeof n);
    uint8_t lev[PL_LK_MAX_FIELDS];
    for (uint32_t g = 0; g < G; g++) {
        if (counts[g] == 0)
            continue;
        pl_fs_decode(c, g, lev);
        for (size_t f = 0; f < c->n_fields; f++)
            n[f][lev[f]] += counts[g];
    }
    mo->nf = c->n_fields;
    for (size_t f = 0; f < c->n_fields; f++) {
        int L = c->fields[f].n_levels;
        double tot = 0;
        mo->nl[f] = L;
        for (int l = 0; l < L; l++)
            tot += n[f][l];
        for (int l = 0; l < L; l++)
            mo->u[f][l] = (n[f][l] + 0.5) / (tot + 0.5 * L);
    }
}

/* The EM both fits share: m (and, with u_free, u) re-estimated from the
 * pattern counts until they move less than 1e-9; m and u hold the start
 * on entry. With u fixed, the same arithmetic as ever (the m side is
 * computed identically either way). Returns λ. */
static double em_run(const pl_linkage_cfg *c, const double *counts,
                     uint32_t skip, uint64_t iterations, int u_free,
                     double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                     double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                     uint64_t *iters_done)
{
    uint32_t G = pl_fs_patterns(c);
    size_t nf = c->n_fields;
    double lambda = 0.1, total = 0;
    for (uint32_t g = 0; g < G; g++)
        total += counts[g];
    *iters_done = 0;
    if (total == 0)
        return 0.0;
    uint8_t lev[PL_LK_MAX_FIELDS];
    double nm[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
           nu[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    for (uint64_t it = 0; it < iterations; it++) {
        memset(nm, 0, sizeof nm);
        memset(nu, 0, sizeof nu);
        double sp = 0;
        for (uint32_t g = 0; g < G; g++) {
            if (counts[g] == 0)
                continue;
            pl_fs_decode(c, g, lev);
            double pm = lambda, pu = 1 - lambda;
            for (size_t f = 0; f < nf; f++)
                if (!(skip >> f & 1) && lev[f] < c->fields[f].n_levels) {
                    pm *= m[f][lev[f]];
                    pu *= u[f][lev[f]];
                }
            double p = pm / (pm + pu), cm = counts[g] * p,
                   cu = counts[g] - cm;
            sp += cm;
            for (size_t f = 0; f < nf; f++)
                if (lev[f] < c->fields[f].n_levels) {
                    nm[f][lev[f]] += cm;
                    nu[f][lev[f]] += cu;
                }
        }
        double delta = 0;
        for (size_t f = 0; f < nf; f++) {
            if (skip >> f & 1)
                continue;
            int L = c->fields[f].n_levels;
            double dm = 0, du = 0;
            for (int l = 0; l < L; l++) {
                dm += nm[f][l];
                du += nu[f][l];
            }
            for (int l = 0; l < L; l++) {
                double vm = (nm[f][l] + 1e-6) / (dm + 1e-6 * L);
                delta = fmax(delta, fabs(vm - m[f][l]));
                m[f][l] = vm;
                if (u_free) {
                    double vu = (nu[f][l] + 1e-6) / (du + 1e-6 * L);
                    delta = fmax(delta, fabs(vu - u[f][l]));
                    u[f][l] = vu;
                }
            }
        }
        double nl = sp / total;
        delta = fmax(delta, fabs(nl - lambda));
        lambda = fmin(fmax(nl, 1e-12), 1 - 1e-12);
        *iters_done = it + 1;
        if (delta < 1e-9)
            break;
    }
    return lambda;
}

/* start: m decreasing from exact agreement */
static void em_start_m(const pl_linkage_cfg *c,
                       double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV])
{
    for (size_t f = 0; f < c->n_fields; f++) {
        int L = c->fields[f].n_levels;
        m[f][0] = 0.9;
        for (int l = 1; l < L; l++)
            m[f][l] = 0.1 / (L - 1);
    }
}

double pl_fs_em(const pl_fs_model *mo, const pl_linkage_cfg *c,
                const double *counts, uint32_t skip, uint64_t iterations,
                double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                uint64_t *iters_done)
{
    double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    memcpy(u, mo->u, sizeof u);
    em_start_m(c, m);
    return em_run(c, counts, skip, iterations, 0, m, u, iters_done);
}

/* Two-class EM on one rule's pattern counts, both classes' level shares
 * free (m of the matches, u of the other pairs of the rule's blocks); the
 * fields in skip (the rule's own) left out. Start: u the rule's level
 * shares (most pairs of a block are not matches), m decreasing from exact
 * agreement as pl_fs_em's. Returns λ (share of the pairs in the match
 * class). Deterministic: the same counts give the same result anywhere. */
double pl_fs_em_free_u(const pl_linkage_cfg *c, const double *counts,
                       uint32_t skip, uint64_t iterations,
                       double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                       double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                       uint64_t *iters_done)
{
    /* start: u the rule's level shares (most pairs of a block are not
     * matches) */
    uint32_t G = pl_fs_patterns(c);
    uint8_t lev[PL_LK_MAX_FIELDS];
    double nu[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    memset(nu, 0, sizeof nu);
    for (uint32_t g = 0; g < G; g++) {
        if (counts[g] == 0)
            continue;
        pl_fs_decode(c, g, lev);
        for (size_t f = 0; f < c->n_fields; f++)
            if (lev[f] < c->fields[f].n_levels)
                nu[f][lev[f]] += counts[g];
    }
    for (size_t f = 0; f < c->n_fields; f++) {
        int L = c->fields[f].n_levels;
        double den = 0;
        for (int l = 0; l < L; l++)
            den += nu[f][l];
        for (int l = 0; l < L; l++)
            u[f][l] = (nu[f][l] + 0.5) / (den + 0.5 * L);
    }
    em_start_m(c, m);
    return em_run(c, counts, skip, iterations, 1, m, u, iters_done);
}

/* A match / non-match split (dedup.h 1): on every field used, the match
 * class agrees exactly at least as often, and disagrees at most as often,
 * as the other class; and the other class is one of non-matches: on at
 * least one field used it agrees exactly less often than the geometric
 * mean of the random pairs' rate (mo->u) and the match class's, nearer
 * random pairs than matches (a field independent of the rule's key). */
int pl_fs_is_match_split(const pl_linkage_cfg *c, const pl_fs_model *mo,
                          uint32_t skip,
                          double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                          double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV])
{
    int random_like = 0;
    for (size_t f = 0; f < c->n_fields; f++) {
        int L = c->fields[f].n_levels;
        if (skip >> f & 1)
            continue;
        if (m[f][0] < u[f][0] || m[f][L - 1] > u[f][L - 1])
            return 0;
        if (u[f][0] * u[f][0] < mo->u[f][0] * m[f][0])
            random_like = 1;
    }
    return random_like;
}

void pl_fs_finish(pl_fs_model *mo)
{
    for (size_t f = 0; f < mo->nf; f++)
        for (int l = 0; l < mo->nl[f]; l++)
            mo->w[f][l] = log2(mo->m[f][l] / mo->u[f][l]);
    mo->prior_w = log2(mo->lambda / (1 - mo->lambda));
}

double pl_fs_weight(const pl_fs_model *mo, const pl_linkage_cfg *c,
                    const uint8_t *lev, const uint8_t *a)
{
    double w = mo->prior_w;
    size_t off = sizeof(pl_fs_hdr);
    for (size_t f = 0; f < c->n_fields; f++) {
        int l = lev[f];
        const pl_lk_field *fd = &c->fields[f];
        size_t here = off;
        off += pl_fs_slot(fd);
        if (l >= mo->nl[f])
            continue;
        w += mo->w[f][l];
        if (l == 0 && fd->kind == PL_CMP_NAME && fd->tf) {
            float t = ((const pl_fs_name *)(a + here))->tf;
            double tf = t > 1e-9f ? t : 1e-9;
            w += log2(mo->u[f][0] / tf);
        }
    }
    return w;
}
