/* synth_fs.c — see synth_fs.h. */
#include "cmd/synth_fs.h"
#include "base/date.h"
#include "cmd/synth_pprl.h"
#include "stage/nir.h"

#include "base/log.h"
#include "base/mem.h"
#include "par/h5.h"

#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define W 32                    /* string columns: 32 bytes, NULLPAD */

typedef struct { uint64_t s[4]; } rng_t;

static uint64_t smix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static void seed(rng_t *r, uint64_t s, uint64_t stream)
{
    uint64_t x = s ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = smix(&x);
}
static uint64_t rnext(rng_t *r)
{
    uint64_t *s = r->s, res = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9,
             t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return res;
}
static uint32_t below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}
static double unit(rng_t *r)
{
    return (double)(rnext(r) >> 11) * 0x1.0p-53;
}

/* Syllables: some carry accents (UTF-8). */
static const char *const syl_last[] = {
    "MAR", "TIN", "BER", "NARD", "DU", "PONT", "ROU", "SSEL", "GIR", "AUD",
    "MOR", "EAU", "FON", "TAINE", "LAM", "BERT", "CHE", "VAL", "LIER",
    "BOU", "CHER", "GAR", "NIER", "LE", "FEB", "VRE", "RO", "BIN", "PE",
    "TIT", "LEC", "LERC", "GUÉ", "RIN", "FAU", "CON", "NET", "MER", "CIER",
    "BLAN", "CHARD", "CAR", "RON", "FAB", "RE", "DE", "NIS", "LAU", "RENT",
    "GAU", "THIER", "PER", "RIER", "MAS", "SON", "JOL", "LY", "BRU", "NEL",
    "HÉ", "BRARD", "COL", "LIN", "DAR", "TOIS", "PHI", "LIP", "QUÉ", "VIL"};
static const char *const syl_first_m[] = {
    "JEAN", "PIER", "RE", "MI", "CHEL", "AN", "DRÉ", "PHI", "LIPPE", "LOU",
    "IS", "NI", "CO", "LAS", "JAC", "QUES", "FRAN", "ÇOIS", "BER", "NARD",
    "THO", "MAS", "HU", "GO", "ÉTI", "ENNE", "GÉ", "RARD", "MAX", "IME"};
static const char *const syl_first_f[] = {
    "MA", "RIE", "ANNE", "CA", "THE", "RINE", "NA", "THA", "LIE", "SO",
    "PHIE", "HÉ", "LÈNE", "CHLO", "É", "CAMI", "LLE", "LÉ", "A", "JU",
    "LI", "ETTE", "ISA", "BELLE", "CLAI", "RE", "EM", "MA", "LOU", "ISE"};

/* Copy, cut at W-1 bytes. */
static void cpy(char *dst, const char *src)
{
    size_t n = strnlen(src, W - 1);
    memmove(dst, src, n);
    dst[n] = 0;
}

typedef struct {
    char (*v)[W];
    double *cum;                /* cumulative Zipf weights */
    uint32_t n;
} table;

static void make_name(rng_t *r, const char *const *syl, size_t ns, int lo,
                      int hi, char *out)
{
    int k = lo + (int)below(r, (uint32_t)(hi - lo + 1));
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        const char *s = syl[below(r, (uint32_t)ns)];
        if (strlen(out) + strlen(s) + 1 < W)
            strcat(out, s);
    }
    if (k > 1 && unit(r) < 0.04 && strlen(out) + 6 < W) {
        char tmp[W];
        snprintf(tmp, sizeof tmp, "%s-", out);
        make_name(r, syl, ns, 1, 2, out);
        char both[2 * W];
        snprintf(both, sizeof both, "%s%s", tmp, out);
        cpy(out, both);
    }
}

static void make_table(table *t, uint32_t n, rng_t *r, const char *const *syl,
                       size_t ns, int lo, int hi, double zipf)
{
    t->n = n;
    t->v = pl_xcalloc(n, W);
    t->cum = pl_xmalloc(n * sizeof *t->cum);
    double acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        make_name(r, syl, ns, lo, hi, t->v[i]);
        acc += 1.0 / pow((double)(i + 1), zipf);
        t->cum[i] = acc;
    }
    for (uint32_t i = 0; i < n; i++)
        t->cum[i] /= acc;
}

static uint32_t pick(rng_t *r, const table *t)
{
    double u = unit(r);
    uint32_t lo = 0, hi = t->n - 1;
    while (lo < hi) {
        uint32_t m = (lo + hi) / 2;
        if (t->cum[m] < u)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

/* ASCII letters of a string (UTF-8 accents kept), edited in place. */
static void typo(rng_t *r, char *s)
{
    size_t n = strlen(s);
    if (n < 2)
        return;
    size_t i = below(r, (uint32_t)n);
    /* never split a UTF-8 sequence */
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    if ((unsigned char)s[i] >= 0x80)
        return;
    switch (below(r, 4)) {
    case 0:                     /* insert */
        if (n + 1 < W) {
            memmove(s + i + 1, s + i, n - i + 1);
            s[i] = (char)('A' + below(r, 26));
        }
        break;
    case 1:                     /* delete */
        memmove(s + i, s + i + 1, n - i);
        break;
    case 2:                     /* substitute */
        s[i] = (char)('A' + below(r, 26));
        break;
    default:                    /* transpose */
        if (i + 1 < n && (unsigned char)s[i + 1] < 0x80) {
            char c = s[i];
            s[i] = s[i + 1];
            s[i + 1] = c;
        }
    }
}

static void phonetic_variant(rng_t *r, char *s)
{
    static const char *const pairs[][2] = {
        {"EAU", "O"}, {"AU", "O"}, {"PH", "F"}, {"Y", "I"}, {"QU", "K"},
        {"C", "K"}, {"AI", "E"}, {"T", ""}, {"ER", "É"}, {"S", "Z"}};
    size_t k = below(r, sizeof pairs / sizeof *pairs);
    for (int dir = 0; dir < 2; dir++) {
        const char *a = pairs[k][dir], *b = pairs[k][1 - dir];
        if (!*a)
            continue;
        char *p = strstr(s, a);
        if (p && strlen(s) - strlen(a) + strlen(b) < W) {
            char tmp[2 * W];
            snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - s), s, b,
                     p + strlen(a));
            cpy(s, tmp);
            return;
        }
    }
    size_t n = strlen(s);
    if (n > 2 && s[n - 1] == 'T')
        s[n - 1] = 'D';
    else if (n > 2 && s[n - 1] == 'D')
        s[n - 1] = 'T';
}

static void lower(char *s)
{
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            s[i] = (char)(c + 32);
        else if (c == 0xC3 && s[i + 1] &&
                 (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9E &&
                 (unsigned char)s[i + 1] != 0x97) {
            s[i + 1] = (char)((unsigned char)s[i + 1] + 0x20);
            i++;
        }
    }
}

typedef struct {
    char last[W], first[W], birth[W], commune[W];
    int32_t bd;
    uint8_t sex;
} person;

/* --same-birth-date F: share of persons born on 1 January 1980 (a very
 * large block); 0 draws nothing (the default data stay the same). */
static double same_bd;

static void draw_person(rng_t *r, const table *ln, const table *fm,
                        const table *ff, uint32_t ncom, person *p)
{
    memset(p, 0, sizeof *p);
    p->sex = (uint8_t)(1 + below(r, 2));
    snprintf(p->birth, W, "%s", ln->v[pick(r, ln)]);
    snprintf(p->first, W, "%s",
             (p->sex == 1 ? fm : ff)->v[pick(r, p->sex == 1 ? fm : ff)]);
    if (p->sex == 2 && unit(r) < 0.45)
        snprintf(p->last, W, "%s", ln->v[pick(r, ln)]);   /* married */
    else
        snprintf(p->last, W, "%s", p->birth);
    int64_t d0 = pl_days_from_civil(1930, 1, 1), d1 = pl_days_from_civil(2020, 12,
                                                                    31);
    p->bd = pl_civil_from_days(d0 + below(r, (uint32_t)(d1 - d0)));
    if (same_bd > 0 && unit(r) < same_bd)
        p->bd = 19800101;
    /* communes: Zipf-ish over ncom codes, département 01..95 */
    uint32_t c = (uint32_t)(pow(unit(r), 2.5) * ncom);
    snprintf(p->commune, W, "%02u%03u", 1 + c % 95, (c / 95) % 1000);
}

static int put(hid_t g, const char *name, hid_t t, int nd, hsize_t n,
               hsize_t w2, const void *buf)
{
    hsize_t dims[2] = {n, w2};
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    int rc = d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                buf) >= 0 ? 0 : -1;
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return rc;
}

typedef struct {
    char (*last)[W], (*first)[W], (*birth)[W], (*commune)[W];
    int32_t *bd;
    uint8_t *sex;
    uint64_t *truth;
} cols;

static void cols_alloc(cols *c, uint64_t n)
{
    c->last = pl_xcalloc_huge(n * W + 1);
    c->first = pl_xcalloc_huge(n * W + 1);
    c->birth = pl_xcalloc_huge(n * W + 1);
    c->commune = pl_xcalloc_huge(n * W + 1);
    c->bd = pl_xcalloc_huge(n * 4 + 4);
    c->sex = pl_xcalloc_huge(n + 1);
    c->truth = pl_xcalloc_huge(n * 8 + 8);
}

static void cols_free(cols *c)
{
    free(c->last);
    free(c->first);
    free(c->birth);
    free(c->commune);
    free(c->bd);
    free(c->sex);
    free(c->truth);
}

static void cols_set(cols *c, uint64_t i, const person *p, uint64_t truth)
{
    memcpy(c->last[i], p->last, W);
    memcpy(c->first[i], p->first, W);
    memcpy(c->birth[i], p->birth, W);
    memcpy(c->commune[i], p->commune, W);
    c->bd[i] = p->bd;
    c->sex[i] = p->sex;
    c->truth[i] = truth;
}

static int write_cols(hid_t f, const char *src, const cols *c, uint64_t n,
                      const uint8_t *p1)
{
    char path[128];
    snprintf(path, sizeof path, "/sources/%s", src);
    hid_t g = H5Gcreate2(f, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t st = pl_str_type(W);
    hid_t s5 = pl_str_type(5);
    char (*com5)[5] = pl_xmalloc_huge(n * 5 + 1);
    for (uint64_t i = 0; i < n; i++)
        memcpy(com5[i], c->commune[i], 5);
    int rc = g >= 0 &&
             put(g, "last_name", st, 1, n, 0, c->last) == 0 &&
             put(g, "first_name", st, 1, n, 0, c->first) == 0 &&
             put(g, "birth_name", st, 1, n, 0, c->birth) == 0 &&
             put(g, "birth_date", H5T_NATIVE_INT32, 1, n, 0, c->bd) == 0 &&
             put(g, "sex", H5T_NATIVE_UINT8, 1, n, 0, c->sex) == 0 &&
             put(g, "commune", s5, 1, n, 0, com5) == 0 &&
             (!p1 || put(g, "p1", H5T_NATIVE_UINT8, 2, n, 32, p1) == 0)
                 ? 0 : -1;
    free(com5);
    H5Tclose(st);
    H5Tclose(s5);
    if (g >= 0)
        H5Gclose(g);
    snprintf(path, sizeof path, "/truth/%s", src);
    g = H5Gcreate2(f, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint8_t *zero = pl_xcalloc_huge(n + 1);
    rc |= g >= 0 &&
          put(g, "person", H5T_NATIVE_UINT64, 1, n, 0, c->truth) == 0 &&
          put(g, "reason", H5T_NATIVE_UINT8, 1, n, 0, zero) == 0 ? 0 : -1;
    free(zero);
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

/* Producer exports (--exports DIR, docs/PRODUCER.md): the clear fields
 * of both sources as two HDF5 exports laid out like stores, for
 * `produce`. DIR/persons.h5: /sources/persons with a NIR consistent with
 * the birth date and sex (sex digit, year, month; department, commune
 * and order number from the row: unique), no p1; DIR/registry.h5:
 * /sources/registry without NIR, and a payload column `site` (string of
 * 4 bytes, from the row). No truth in either: rows are the store's, in
 * order, so a test joins the -o store's /truth by row. */
static int write_export(const char *dir, const char *src, const cols *c,
                        uint64_t n, int nir)
{
    char *path = pl_xasprintf("%s/%s.h5", dir, src);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    char gp[128];
    snprintf(gp, sizeof gp, "/sources/%s", src);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = f >= 0 ? H5Gcreate2(f, gp, lcpl, H5P_DEFAULT, H5P_DEFAULT)
                     : -1;
    H5Pclose(lcpl);
    hid_t st = pl_str_type(W), s5 = pl_str_type(5), s15 = pl_str_type(15),
          s4 = pl_str_type(4);
    char (*com5)[5] = pl_xmalloc_huge(n * 5 + 1);
    char (*extra)[15] = pl_xcalloc_huge(n * 15 + 1);
    char (*site)[4] = pl_xcalloc_huge(n * 4 + 1);
    for (uint64_t i = 0; i < n; i++)
        memcpy(com5[i], c->commune[i], 5);
    int rc = g >= 0 &&
             put(g, "last_name", st, 1, n, 0, c->last) == 0 &&
             put(g, "first_name", st, 1, n, 0, c->first) == 0 &&
             put(g, "birth_name", st, 1, n, 0, c->birth) == 0 &&
             put(g, "birth_date", H5T_NATIVE_INT32, 1, n, 0, c->bd) == 0 &&
             put(g, "sex", H5T_NATIVE_UINT8, 1, n, 0, c->sex) == 0 &&
             put(g, "commune", s5, 1, n, 0, com5) == 0 ? 0 : -1;
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        char *x = extra[i];
        if (nir) {          /* sex, yy, mm, dept, commune, order, key */
            int y = c->bd[i] / 10000, m = c->bd[i] / 100 % 100;
            unsigned ord = (unsigned)(i % 999) + 1,
                     com = (unsigned)(i / 999 % 999) + 1,
                     dep = (unsigned)(i / 999 / 999 % 95) + 1;
            char t[64];
            snprintf(t, sizeof t, "%u%02d%02d%02u%03u%03u", c->sex[i] % 10u,
                     y % 100, m % 100, dep, com, ord);
            int k = pl_nir_key(t);
            snprintf(x, 15, "%.13s", t);
            x[13] = (char)('0' + k / 10);
            x[14] = (char)('0' + k % 10);
        } else {            /* a registry's payload: a site code */
            char t[8];
            snprintf(t, sizeof t, "C%02u", (unsigned)(i * 2654435761u % 97));
            memcpy(site[i], t, 4);
        }
    }
    if (rc == 0)
        rc = nir ? put(g, "nir", s15, 1, n, 0, extra)
                 : put(g, "site", s4, 1, n, 0, site);
    free(site);
    free(com5);
    free(extra);
    H5Tclose(st);
    H5Tclose(s5);
    H5Tclose(s15);
    H5Tclose(s4);
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    if (f < 0 || rc != 0)
        pl_err("synth: %s: cannot write the export: %s", path,
               pl_h5_reason());
    free(path);
    return f >= 0 && rc == 0 ? 0 : -1;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

#define DUP_RING 256            /* --dup-rate: copies of a recent row */

static int synth_fs(uint64_t np, uint64_t nr, uint64_t sd, double er,
                    double dup, const char *out, const char *exports)
{
    rng_t r;
    seed(&r, sd, 1);
    table ln, fm, ff;
    uint32_t nln = (uint32_t)fmax(500, fmin(200000, (double)np / 8));
    /* Zipf exponents give a most common last name of about 1 % and a
     * most common first name of about 3 % (INSEE's orders of magnitude) */
    make_table(&ln, nln, &r, syl_last, sizeof syl_last / sizeof *syl_last,
               2, 3, 0.7);
    make_table(&fm, 3000, &r, syl_first_m,
               sizeof syl_first_m / sizeof *syl_first_m, 1, 3, 0.7);
    make_table(&ff, 3000, &r, syl_first_f,
               sizeof syl_first_f / sizeof *syl_first_f, 1, 3, 0.7);
    uint32_t ncom = 35000;
    cols P, R;
    cols_alloc(&P, np);
    cols_alloc(&R, nr);
    uint8_t *p1 = pl_xmalloc_huge(np * 32 + 1);
    person *pp = pl_xmalloc_huge(np * sizeof *pp + 1);
    for (uint64_t i = 0; i < np; i++) {
        draw_person(&r, &ln, &fm, &ff, ncom, &pp[i]);
        cols_set(&P, i, &pp[i], i);
        for (int b = 0; b < 4; b++) {
            uint64_t v = rnext(&r);
            memcpy(p1 + 32 * i + 8 * b, &v, 8);
        }
    }
    /* rows to link: distinct persons (a stride coprime with np), 10 % new */
    seed(&r, sd, 2);
    uint64_t stride = 2654435761ull % (np ? np : 1);
    while (np > 1 && (stride == 0 || gcd(np, stride) != 1))
        stride++;
    uint64_t off = rnext(&r) % (np ? np : 1);
    /* --dup-rate: a row is, with that probability, another noisy copy of
     * the person of one of the DUP_RING rows before it (its own stream:
     * without it the rows are those of earlier versions) */
    rng_t rd;
    seed(&rd, sd, 3);
    person *ring = dup > 0 ? pl_xcalloc(DUP_RING, sizeof *ring) : NULL;
    uint64_t *ring_t = dup > 0 ? pl_xcalloc(DUP_RING, 8) : NULL;
    for (uint64_t i = 0; i < nr; i++) {
        person p;
        uint64_t truth;
        if (dup > 0 && i > 0 && unit(&rd) < dup) {
            uint64_t back = i < DUP_RING ? i : DUP_RING;
            uint64_t j = i - 1 - below(&rd, (uint32_t)back);
            p = ring[j % DUP_RING];
            truth = ring_t[j % DUP_RING];
        } else if (unit(&r) < 0.10 || np == 0 || i >= np) {
            draw_person(&r, &ln, &fm, &ff, ncom, &p);
            truth = np + i;
        } else {
            truth = (off + i * stride) % np;
            p = pp[truth];
        }
        if (ring) {
            ring[i % DUP_RING] = p;
            ring_t[i % DUP_RING] = truth;
        }
        if (unit(&r) < 0.06 * er)
            typo(&r, p.last);
        if (unit(&r) < 0.04 * er)
            phonetic_variant(&r, p.last);
        if (p.sex == 2 && unit(&r) < 0.10 * er)
            snprintf(p.last, W, "%s", ln.v[pick(&r, &ln)]);   /* remarried */
        if (p.sex == 2 && strcmp(p.last, p.birth) != 0 && unit(&r) < 0.3)
            snprintf(p.last, W, "%s", p.birth);      /* uses birth name */
        if (unit(&r) < 0.02 * er)
            memset(p.last, 0, W);
        if (unit(&r) < 0.04 * er)
            typo(&r, p.first);
        if (unit(&r) < 0.02 * er)
            memset(p.first, 0, W);
        if (unit(&r) < 0.02 * er)
            typo(&r, p.birth);
        if (unit(&r) < 0.08 * er)
            memset(p.birth, 0, W);
        int y = p.bd / 10000, m = p.bd / 100 % 100, d = p.bd % 100;
        if (unit(&r) < 0.02 * er && d <= 12 && d != m)
            p.bd = y * 10000 + d * 100 + m;
        else if (unit(&r) < 0.02 * er)
            p.bd = pl_civil_from_days(pl_days_from_civil(y, m, d) + 1 +
                                   below(&r, 20));
        if (unit(&r) < 0.01 * er)
            p.bd = 0;
        if (unit(&r) < 0.01 * er)
            p.sex = 0;
        if (unit(&r) < 0.10 * er) {
            uint32_t c = below(&r, ncom);
            snprintf(p.commune, W, "%02u%03u", 1 + c % 95, (c / 95) % 1000);
        }
        if (unit(&r) < 0.03 * er)
            memset(p.commune, 0, W);
        if (unit(&r) < 0.30) {
            lower(p.last);
            lower(p.first);
            lower(p.birth);
        }
        cols_set(&R, i, &p, truth);
    }
    free(ring);
    free(ring_t);
    char *tmp = pl_xasprintf("%s.tmp", out);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    int rc = -1;
    if (f >= 0) {
        hid_t g1 = H5Gcreate2(f, "sources", H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        hid_t g2 = H5Gcreate2(f, "truth", H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        rc = g1 >= 0 && g2 >= 0 && write_cols(f, "persons", &P, np, p1) == 0 &&
             write_cols(f, "registry", &R, nr, NULL) == 0 ? 0 : -1;
        if (g1 >= 0)
            H5Gclose(g1);
        if (g2 >= 0)
            H5Gclose(g2);
        if (H5Fclose(f) < 0)
            rc = -1;
    }
    if (rc == 0 && exports && mkdir(exports, 0755) != 0 && errno != EEXIST) {
        pl_err("synth: %s: cannot create the exports' directory: %s",
               exports, strerror(errno));
        rc = -2;
    }
    if (rc == 0 && exports &&
        (write_export(exports, "persons", &P, np, 1) != 0 ||
         write_export(exports, "registry", &R, nr, 0) != 0))
        rc = -2;
    if (rc == 0 && rename(tmp, out) != 0)
        rc = -1;
    if (rc != 0) {
        if (rc == -1)
            pl_err("synth: %s: cannot write the store: %s", out,
                   pl_h5_reason());
        remove(tmp);
    }
    free(tmp);
    free(p1);
    free(pp);
    cols_free(&P);
    cols_free(&R);
    free(ln.v);
    free(ln.cum);
    free(fm.v);
    free(fm.cum);
    free(ff.v);
    free(ff.cum);
    return rc == 0 ? 0 : 1;
}

static int num(const char *s, uint64_t *v)
{
    char *e;
    errno = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    *v = strtoull(s, &e, 10);
    return errno || *e ? -1 : 0;
}

int pl_synth_fs_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"persons", required_argument, NULL, 'n'},
        {"records", required_argument, NULL, 'm'},
        {"seed", required_argument, NULL, 's'},
        {"errors", required_argument, NULL, 'e'},
        {"dup-rate", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"linkage-secret", required_argument, NULL, 'L'},
        {"registry-secret", required_argument, NULL, 'R'},
        {"per-field", no_argument, NULL, 'F'},
        {"exports", required_argument, NULL, 'X'},
        {"same-birth-date", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    uint64_t np = 0, nr = 0, sd = 0;
    int have_s = 0;
    double er = 1.0, dup = 0.0;
    const char *out = NULL, *lsec = NULL, *rsec = NULL, *exports = NULL;
    int per_field = 0;
    same_bd = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":o:h", lo, NULL);
        if (c == -1)
            break;
        char *e;
        switch (c) {
        case 'n':
            if (num(optarg, &np) || np < 1 || np > 100000000) {
                pl_err("synth --linkage: --persons must be 1 to 100000000");
                return 2;    /* usage (docs/CLI.md) */
            }
            break;
        case 'm':
            if (num(optarg, &nr) || nr < 1 || nr > 100000000) {
                pl_err("synth --linkage: --records must be 1 to 100000000");
                return 2;    /* usage (docs/CLI.md) */
            }
            break;
        case 's':
            if (num(optarg, &sd)) {
                pl_err("synth --linkage: --seed must be an unsigned integer");
                return 2;    /* usage (docs/CLI.md) */
            }
            have_s = 1;
            break;
        case 'e':
            er = strtod(optarg, &e);
            if (*e || !(er >= 0 && er <= 5)) {
                pl_err("synth --linkage: --errors must be a number from 0 "
                       "to 5 (a multiple of the default error rates)");
                return 2;    /* usage (docs/CLI.md) */
            }
            break;
        case 'd':
            dup = strtod(optarg, &e);
            if (!optarg[0] || *e || !(dup >= 0 && dup <= 0.9)) {
                pl_err("synth --linkage: --dup-rate must be a number from 0 "
                       "to 0.9 (the share of registry rows that are another "
                       "copy of a recent row's person)");
                return 2;    /* usage (docs/CLI.md) */
            }
            break;
        case 'B':
            same_bd = strtod(optarg, &e);
            if (*e || !(same_bd >= 0 && same_bd <= 1)) {
                pl_err("synth --linkage: --same-birth-date must be a number "
                       "from 0 to 1 (a share of the persons)");
                return 2;    /* usage (docs/CLI.md) */
            }
            break;
        case 'o':
            out = optarg;
            break;
        case 'L':
            lsec = optarg;
            break;
        case 'R':
            rsec = optarg;
            break;
        case 'F':
            per_field = 1;
            break;
        case 'X':
            exports = optarg;
            break;
        case 'h':
            printf("usage: pseudolink synth --linkage --persons N --records M"
                   " --seed S [--errors F] [--dup-rate F] -o FILE\n\n"
                   "A store for probabilistic linkage: /sources/persons (p1"
                   " and matching fields)\nand /sources/registry (no NIR; "
                   "noisy copies, 10 %% new persons), truth in /truth.\n"
                   "  --errors F  multiply the default error rates by F "
                   "(default 1)\n"
                   "  --dup-rate F  share of registry rows that are another "
                   "noisy copy of a\n"
                   "                recent row's person (0 to 0.9, default "
                   "0: one row a person)\n"
                   "  --linkage-secret FILE  encode the names (CLK column "
                   "clk) and remove them\n"
                   "  --registry-secret FILE  the registry's secret "
                   "(default: the same)\n"
                   "  --per-field  one filter per name (bf_<name>) instead "
                   "of a CLK\n"
                   "  --exports DIR  also write the producers' exports "
                   "DIR/persons.h5 (with NIR)\n"
                   "                 and DIR/registry.h5 (no NIR), for "
                   "produce (no truth in them)\n"
                   "  --same-birth-date F  a share F of the persons born on "
                   "1980-01-01 (a very\n"
                   "               large block; default 0)\n");
            return 0;
        default:
            pl_err("synth --linkage: unknown or incomplete option '%s'",
                   argv[optind - 1]);
            return 2;    /* usage (docs/CLI.md) */
        }
    }
    if (!np || !nr || !have_s || !out) {
        pl_err("synth --linkage: --persons, --records, --seed and -o are "
               "required");
        return 2;    /* usage (docs/CLI.md) */
    }
    if ((rsec || per_field) && !lsec) {
        pl_err("synth --linkage: --registry-secret and --per-field need "
               "--linkage-secret");
        return 2;    /* usage (docs/CLI.md) */
    }
    int rc = synth_fs(np, nr, sd, er, dup, out, exports);
    if (rc == 0 && lsec &&
        pl_synth_pprl_encode(out, lsec, rsec ? rsec : lsec, !per_field) != 0)
        rc = 1;
    return rc;
}
