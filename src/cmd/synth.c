/* synth.c — see synth.h.
 *
 * Store layout written (docs/FORMATS.md is the reference for readers):
 *
 *   /                       attributes synth_persons (uint64), synth_seed
 *                           (uint64), synth_sources (int32), synth_invalid
 *                           (float64), generator ("pseudolink synth")
 *   /sources/<name>/nir         string, 15 bytes, ASCII (NULLPAD for
 *                               hospital_stays, NULLTERM elsewhere)
 *   /sources/<name>/birth_date  int32 YYYYMMDD
 *   /sources/<name>/sex         uint8 (1 male, 2 female)
 *   /sources/<name>/birth_rank  uint8 (1; 2 for the second of twins)
 *   /sources/<name>/p1          uint8 (N, 32), instead of nir, birth_date
 *                               and sex for pharmacy with --producer-key
 *                               (birth_rank stays beside it)
 *   /sources/<name>/<payload>   per template (see templates[] below)
 *   /truth/<name>/person        uint64 person index (0..persons-1) per row
 *   /truth/<name>/reason        uint8 expected reject code (nir.h), 0 = valid
 *
 * With --twins, 10 % of persons are twins and three more sources follow:
 *   visits_norank  nir, birth_date, sex, no birth_rank: twins' rows are
 *                  ambiguous (/truth/visits_norank/ambiguous = 2)
 *   claims         own_nir (each person's own NIR, no rank), birth_date,
 *                  sex, and the shared nir + birth_rank as a second
 *                  identity (identity.also): one or two rows per person
 *   registry       nir = the person's own NIR, birth_date, sex: linked to
 *                  the others only through claims
 *   /truth/<name>/ambiguous     uint8 expected candidates (0 = linked)
 *
 * Everything derives from --seed through our own generator (xoshiro256**
 * seeded by splitmix64, one stream per purpose); object timestamps are off,
 * so the same options give a byte-identical file.
 *
 * Each column is built in memory and written with one H5Dwrite, contiguous
 * layout. The file is written as FILE.tmp and renamed on success.
 */
#include "cmd/synth.h"
#include "base/date.h"
#include "cmd/usage.h"
#include "cmd/synth_fs.h"

#include "crypto/hmac.h"
#include "crypto/keyfile.h"
#include "base/log.h"
#include "stage/nir.h"
#include "stage/pseudonym.h"
#include "base/mem.h"
#include "par/h5.h"

#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNTH_MAX_PERSONS 1000000000ULL
#define NIR_LEN 15
#define PREFETCH_AHEAD 16

/* ------------------------------------------------------------------------
 * Random numbers: xoshiro256** with splitmix64 seeding. */

typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n <= 2^32 (multiply-shift; bias negligible here). */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, n) for 64-bit n (for shuffles of more than 2^32 rows). */
static inline uint64_t rng_below64(rng_t *r, uint64_t n)
{
    if (n <= UINT32_MAX)
        return rng_below(r, (uint32_t)n);
    return rng_next(r) % n;
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

enum {
    STREAM_PERSONS = 1,
    STREAM_SOURCE = 16,         /* + source index */
};

/* ------------------------------------------------------------------------
 * Calendar (proleptic Gregorian), days since 1970-01-01. */

static int32_t yyyymmdd_to_days(int32_t v)
{
    return (int32_t)pl_days_from_civil(v / 10000, (v / 100) % 100, v % 100);
}

static int is_leap(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int month_days(int y, int m)
{
    static const int d[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m];
}

/* ------------------------------------------------------------------------
 * Persons. */

typedef struct {
    char    nir[NIR_LEN];
    uint8_t sex;
    uint8_t rank;
    int32_t birth_date;
} person_t;

/* Write the control key into nir[13..14] from nir[0..12]. */
static void set_key(char *nir)
{
    int k = pl_nir_key(nir);
    nir[13] = (char)('0' + k / 10);
    nir[14] = (char)('0' + k % 10);
}

static void put_digits(char *out, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Unique key of an NIR's first 13 characters for the hash set: the
 * 13-digit number, with 2A/2B told apart from departments 19/18. */
static uint64_t nir_code(const char *nir)
{
    uint64_t n = 0;
    for (int i = 0; i < 13; i++) {
        char c = nir[i];
        unsigned v = c == 'A' ? 1 : c == 'B' ? 2 : (unsigned)(c - '0');
        n = n * 10 + v;
    }
    if (nir[6] == 'A')
        n |= 1ULL << 60;
    else if (nir[6] == 'B')
        n |= 1ULL << 61;
    return n;
}

typedef struct {
    uint64_t *slot;
    uint64_t mask;
    int shift;
} hashset;

static void hs_init(hashset *h, uint64_t n)
{
    uint64_t cap = 16;
    int bits = 4;
    while (cap < n + n / 2 + 16) {
        cap <<= 1;
        bits++;
    }
    h->slot = pl_xcalloc(cap, sizeof *h->slot);
    h->mask = cap - 1;
    h->shift = 64 - bits;
}

/* Insert key (non-zero); returns 1 if added, 0 if already present. */
static int hs_add(hashset *h, uint64_t key)
{
    uint64_t i = (key * 0x9e3779b97f4a7c15ULL) >> h->shift;
    for (;;) {
        if (h->slot[i] == 0) {
            h->slot[i] = key;
            return 1;
        }
        if (h->slot[i] == key)
            return 0;
        i = (i + 1) & h->mask;
    }
}

/* Birth year 1920..2024, thinner before 1945 (a crude age pyramid). */
static int draw_year(rng_t *r)
{
    for (;;) {
        int y = 1920 + (int)rng_below(r, 105);
        if (y >= 1945 || rng_below(r, 30) < (uint32_t)(y - 1915))
            return y;
    }
}

static void draw_nir(rng_t *r, hashset *seen, int y, int m, int sex,
                     char *n);

/* One identity (NIR, birth date, sex) whose NIR is not in `seen`. */
static void draw_identity(rng_t *r, hashset *seen, person_t *p)
{
    int y = draw_year(r);
    int m = 1 + (int)rng_below(r, 12);
    int d = 1 + (int)rng_below(r, (uint32_t)month_days(y, m));
    int sex = 1 + (int)rng_below(r, 2);
    p->birth_date = y * 10000 + m * 100 + d;
    p->sex = (uint8_t)sex;
    draw_nir(r, seen, y, m, sex, p->nir);
}

/* A NIR of that birth year, month and sex, not in `seen`. */
static void draw_nir(rng_t *r, hashset *seen, int y, int m, int sex,
                     char *n)
{
    n[0] = (char)('0' + sex);
    put_digits(n + 1, (unsigned)(y % 100), 2);
    unsigned mm = (unsigned)m;
    if (rng_below(r, 1000) < 2) {       /* 0.2%: month unknown (INSEE) */
        uint32_t u = rng_below(r, 23 + 50);
        mm = u < 23 ? 20 + u : 50 + (u - 23);
    }
    put_digits(n + 3, mm, 2);

    uint32_t place = rng_below(r, 1000);
    int overseas = 0;
    if (place < 20) {                   /* 2%: Corsica */
        n[5] = '2';
        n[6] = place < 10 ? 'A' : 'B';
    } else if (place < 30) {            /* 1%: overseas 971..976 */
        overseas = 1;
        put_digits(n + 5, 971 + rng_below(r, 6), 3);
    } else {                            /* metropolitan 01..95, not 20 */
        unsigned dep = 1 + rng_below(r, 94);
        if (dep >= 20)
            dep++;
        put_digits(n + 5, dep, 2);
    }
    /* commune and order until the NIR is new */
    for (;;) {
        if (overseas)
            put_digits(n + 8, 1 + rng_below(r, 99), 2);
        else
            put_digits(n + 7, 1 + rng_below(r, 999), 3);
        put_digits(n + 10, 1 + rng_below(r, 999), 3);
        if (hs_add(seen, nir_code(n)))
            break;
    }
    set_key(n);
}

/* N persons; ~1% of them are same-sex twins (pairs sharing NIR, birth
 * date and sex, birth ranks 1 and 2). Distinct groups have distinct NIRs,
 * so (nir, birth_date, sex, birth_rank) is unique per person. */
static person_t *make_persons(uint64_t n, uint64_t seed, unsigned twin_pm,
                              uint64_t *twins)
{
    person_t *pp = pl_xmalloc(n * sizeof *pp);
    rng_t r;
    rng_seed(&r, seed, STREAM_PERSONS);
    hashset seen;
    hs_init(&seen, n);
    *twins = 0;
    for (uint64_t i = 0; i < n;) {
        draw_identity(&r, &seen, &pp[i]);
        pp[i].rank = 1;
        if (i + 1 < n && rng_below(&r, 1000) < twin_pm) {
            pp[i + 1] = pp[i];
            pp[i + 1].rank = 2;
            *twins += 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    free(seen.slot);
    return pp;
}

/* ------------------------------------------------------------------------
 * Source templates. */

enum { PAY_HOSPITAL, PAY_PHARMACY, PAY_DEATHS, PAY_VISITS };

typedef struct {
    const char *name;
    int kind;
    uint8_t count_pct[5];       /* P(person has 0..4 rows), percent */
    const char *const *codes;   /* visits: code vocabulary (size 5) */
} template_t;

static const char *const diagnoses[] = {
    "E119", "I10", "J189", "I500", "I480", "N179", "J441", "K359", "S7200",
    "C509", "C349", "I639", "F329", "O800", "Z380", "K800", "M170", "I219",
    "A099", "R074", "N390", "J960", "E86", "G459", NULL};
static const char *const atcs[] = {
    "A10BA02", "C09AA05", "N02BE01", "C10AA05", "A02BC01", "J01CA04",
    "B01AC06", "C07AB07", "N06AB10", "R03AC02", "H03AA01", "M01AE01",
    "C08CA01", "N05BA12", "A10AE04", "C03CA01", NULL};
static const char *const causes[] = {
    "I219", "C349", "J449", "I64", "F03", "G309", "C509", "C189", "J189",
    "E149", "X599", "R99", "I500", "C61", "N189", NULL};
static const char *const consult_codes[] = {
    "G", "GS", "CS", "APC", "VG", "TCG", "C", "TC", "CNPSY", "COE", NULL};
static const char *const lab_codes[] = {
    "1104", "0593", "1208", "0996", "1610", "0322", "7335", "0552", "1577",
    "0578", NULL};
static const char *const imaging_codes[] = {
    "RX001", "RX014", "CT002", "CT020", "MR003", "MR031", "US004", "US040",
    "PET05", "MG006", NULL};
static const char *const nursing_codes[] = {
    "AMI1", "AMI2", "AMI4", "AIS3", "AMX15", "DI", "BSA", "BSB", "BSC", NULL};
static const char *const transport_codes[] = {
    "AMB", "VSL", "TAXI", "SMUR", "HELI", "AMBPD", NULL};

static const template_t templates[8] = {
    {"hospital_stays", PAY_HOSPITAL, {25, 30, 25, 10, 10}, NULL},
    {"pharmacy",       PAY_PHARMACY, {15, 25, 25, 15, 20}, NULL},
    {"deaths",         PAY_DEATHS,   {95, 5, 0, 0, 0},     NULL},
    {"consultations",  PAY_VISITS,   {35, 35, 25, 5, 0},   consult_codes},
    {"labs",           PAY_VISITS,   {35, 35, 25, 5, 0},   lab_codes},
    {"imaging",        PAY_VISITS,   {35, 35, 25, 5, 0},   imaging_codes},
    {"nursing",        PAY_VISITS,   {35, 35, 25, 5, 0},   nursing_codes},
    {"transport",      PAY_VISITS,   {35, 35, 25, 5, 0},   transport_codes},
};

/* A vocabulary laid out as fixed-width NUL-padded entries. */
typedef struct {
    char  *buf;
    size_t width, n;
} vocab;

static void vocab_make(vocab *v, const char *const *words, size_t width)
{
    v->n = 0;
    while (words[v->n])
        v->n++;
    v->width = width;
    v->buf = pl_xcalloc(v->n, width);
    for (size_t i = 0; i < v->n; i++) {
        size_t l = strlen(words[i]);
        memcpy(v->buf + i * width, words[i], l < width ? l : width);
    }
}

/* Skewed pick: low indices are more frequent (min of two uniforms). */
static inline const char *vocab_pick(rng_t *r, const vocab *v)
{
    uint32_t a = rng_below(r, (uint32_t)v->n), b = rng_below(r, (uint32_t)v->n);
    return v->buf + (a < b ? a : b) * v->width;
}

/* ------------------------------------------------------------------------
 * Defects: each produces exactly one known reason with nir.c's check order.
 * Birth rank 0 (PL_R_BIRTH_RANK) is not injected: it is only detectable
 * when a job configures the birth_rank column, so the truth would depend
 * on the job. */

static const uint8_t defect_kinds[] = {
    PL_R_NIR_LENGTH, PL_R_NIR_CHARSET, PL_R_NIR_SEX, PL_R_NIR_MONTH,
    PL_R_NIR_PLACE, PL_R_NIR_ORDER, PL_R_NIR_KEY, PL_R_BIRTH_DATE, PL_R_SEX,
    PL_R_SEX_MISMATCH, PL_R_DATE_MISMATCH,
};
#define N_DEFECT_KINDS (sizeof defect_kinds / sizeof defect_kinds[0])

/* Apply defect `kind` to one row's identity (nir is 15 bytes). */
static void apply_defect(rng_t *r, int kind, char *nir, int32_t *bd,
                         uint8_t *sex)
{
    switch (kind) {
    case PL_R_NIR_LENGTH:               /* 14 characters, NUL-padded */
        nir[14] = '\0';
        break;
    case PL_R_NIR_CHARSET: {            /* never A/B, space or NUL */
        static const char bad[] = "OIXZ*-#";
        nir[rng_below(r, NIR_LEN)] = bad[rng_below(r, sizeof bad - 1)];
        break;
    }
    case PL_R_NIR_SEX: {
        static const char bad[] = "0569";
        nir[0] = bad[rng_below(r, 4)];
        set_key(nir);
        break;
    }
    case PL_R_NIR_MONTH: {
        static const unsigned bad[] = {13, 13, 0, 19, 43, 49};
        put_digits(nir + 3, bad[rng_below(r, 6)], 2);
        set_key(nir);
        break;
    }
    case PL_R_NIR_PLACE:
        nir[5] = nir[6] = '0';
        set_key(nir);
        break;
    case PL_R_NIR_ORDER:
        nir[10] = nir[11] = nir[12] = '0';
        set_key(nir);
        break;
    case PL_R_NIR_KEY: {
        unsigned k = (unsigned)(nir[13] - '0') * 10 + (unsigned)(nir[14] - '0');
        put_digits(nir + 13, (k + 1 + rng_below(r, 99)) % 100, 2);
        break;
    }
    case PL_R_BIRTH_DATE: {
        static const int32_t bad[] = {230, 231, 431, 631, 931, 1131, 1301,
                                      100, 0, 132};
        *bd = (*bd / 10000) * 10000 + bad[rng_below(r, 10)];
        break;
    }
    case PL_R_SEX: {
        static const uint8_t bad[] = {3, 0, 9};
        *sex = bad[rng_below(r, 3)];
        break;
    }
    case PL_R_SEX_MISMATCH:
        *sex = (uint8_t)(3 - *sex);
        break;
    case PL_R_DATE_MISMATCH: {
        int y = *bd / 10000, m = (*bd / 100) % 100, d = *bd % 100;
        y += rng_below(r, 2) ? 1 : -1;
        if (d > month_days(y, m))
            d = month_days(y, m);       /* Feb 29 -> Feb 28 */
        *bd = y * 10000 + m * 100 + d;
        break;
    }
    default:
        break;
    }
}

/* ------------------------------------------------------------------------
 * HDF5 output. */

typedef struct {
    const char *out;            /* the user's file name, for messages */
    hid_t file;
    hid_t dcpl, gcpl;
} h5out;

static hid_t str_type(size_t size, H5T_str_t pad)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, pad) < 0 ||
        H5Tset_cset(t, H5T_CSET_ASCII) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static hid_t make_group(h5out *o, hid_t loc, const char *name,
                        const char *path)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, o->gcpl, H5P_DEFAULT);
    if (g < 0)
        pl_err("%s: cannot create group %s: %s", o->out, path,
               pl_h5_reason());
    return g;
}

/* One dataset: `ndims` (1 or 2) of dims, file type ftype, written from buf
 * (memory type mtype) in a single H5Dwrite. */
static int write_ds(h5out *o, hid_t loc, const char *gpath, const char *name,
                    hid_t ftype, hid_t mtype, int ndims, const hsize_t *dims,
                    const void *buf)
{
    int rc = -1;
    hid_t sp = H5Screate_simple(ndims, dims, NULL);
    hid_t d = -1;
    if (sp >= 0)
        d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, o->dcpl,
                       H5P_DEFAULT);
    if (d < 0) {
        pl_err("%s: cannot create dataset %s/%s: %s", o->out, gpath, name,
               pl_h5_reason());
        goto done;
    }
    hsize_t nelem = dims[0] * (ndims > 1 ? dims[1] : 1);
    if (nelem > 0 &&
        H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        pl_err("%s: cannot write dataset %s/%s: %s", o->out, gpath, name,
               pl_h5_reason());
        goto done;
    }
    rc = 0;
done:
    if (d >= 0 && H5Dclose(d) < 0 && rc == 0) {
        pl_err("%s: cannot write dataset %s/%s: %s", o->out, gpath, name,
               pl_h5_reason());
        rc = -1;
    }
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

static int write_1d(h5out *o, hid_t loc, const char *gpath, const char *name,
                    hid_t ftype, hid_t mtype, uint64_t n, const void *buf)
{
    hsize_t dims[1] = {(hsize_t)n};
    return write_ds(o, loc, gpath, name, ftype, mtype, 1, dims, buf);
}

static int write_str(h5out *o, hid_t loc, const char *gpath,
                     const char *name, size_t width, H5T_str_t pad,
                     uint64_t n, const void *buf)
{
    hid_t t = str_type(width, pad);
    if (t < 0) {
        pl_err("%s: cannot create dataset %s/%s: %s", o->out, gpath, name,
               pl_h5_reason());
        return -1;
    }
    int rc = write_1d(o, loc, gpath, name, t, t, n, buf);
    H5Tclose(t);
    return rc;
}

static int write_attr(h5out *o, const char *name, hid_t ftype, hid_t mtype,
                      const void *val)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(o->file, name, ftype, sp, H5P_DEFAULT,
                                   H5P_DEFAULT)
                      : -1;
    int rc = 0;
    if (a < 0 || H5Awrite(a, mtype, val) < 0) {
        pl_err("%s: cannot write attribute /%s: %s", o->out, name,
               pl_h5_reason());
        rc = -1;
    }
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

/* ------------------------------------------------------------------------
 * One source. */

typedef struct {
    uint64_t rows, invalid;
} source_stats;

static int make_source(h5out *o, hid_t g_sources, hid_t g_truth, int idx,
                       const pl_synth_opts *opt, const person_t *pp,
                       const pl_hmac_key *producer, source_stats *st)
{
    const template_t *tp = &templates[idx];
    const uint64_t n = opt->persons;
    int use_p1 = producer != NULL && tp->kind == PAY_PHARMACY;
    rng_t r;
    rng_seed(&r, opt->seed, STREAM_SOURCE + (uint64_t)idx);
    int rc = -1, w = 0;
    char *nir = NULL;
    int32_t *bd = NULL, *date = NULL;
    uint8_t *sex = NULL, *rank = NULL, *p1 = NULL;
    vocab v1 = {0}, v2 = {0};
    char gpath[96];
    hid_t g = -1;

    /* Rows per person, then the row -> person map, shuffled. */
    uint8_t cum[5];
    unsigned acc = 0;
    for (int i = 0; i < 5; i++) {
        acc += tp->count_pct[i];
        cum[i] = (uint8_t)acc;
    }
    uint8_t *cnt = pl_xmalloc(n);
    uint64_t rows = 0;
    for (uint64_t p = 0; p < n; p++) {
        uint32_t u = rng_below(&r, 100);
        uint8_t c = 0;
        while (c < 4 && u >= cum[c])
            c++;
        cnt[p] = c;
        rows += c;
    }
    uint64_t *person = pl_xmalloc(rows * sizeof *person);
    uint64_t k = 0;
    for (uint64_t p = 0; p < n; p++)
        for (uint8_t c = 0; c < cnt[p]; c++)
            person[k++] = p;
    free(cnt);
    for (uint64_t i = rows; i > 1; i--) {       /* Fisher-Yates */
        uint64_t j = rng_below64(&r, i);
        uint64_t t = person[i - 1];
        person[i - 1] = person[j];
        person[j] = t;
    }

    /* Identity (or p1), truth and the event date, in one pass over the
     * rows: the person table is read in random order, so prefetch ahead. */
    uint8_t *reason = pl_xcalloc(rows, 1);
    uint64_t invalid = 0;
    date = pl_xmalloc(rows * sizeof *date);
    rank = pl_xmalloc(rows);
    if (use_p1) {
        p1 = pl_xmalloc(rows * PL_P1_BYTES);
    } else {
        nir = pl_xmalloc(rows * NIR_LEN);
        bd = pl_xmalloc(rows * sizeof *bd);
        sex = pl_xmalloc(rows);
    }
    const int32_t win_lo = yyyymmdd_to_days(20150101);
    const int32_t win_hi = yyyymmdd_to_days(20241231);
    for (uint64_t i = 0; i < rows; i++) {
        if (i + PREFETCH_AHEAD < rows)
            __builtin_prefetch(&pp[person[i + PREFETCH_AHEAD]]);
        const person_t *q = &pp[person[i]];

        /* events between birth (or 2015-01-01) and 2024-12-31 */
        int32_t lo = yyyymmdd_to_days(q->birth_date);
        if (lo < win_lo)
            lo = win_lo;
        if (lo > win_hi)
            lo = win_hi;
        date[i] = pl_civil_from_days(lo + (int32_t)rng_below(&r,
                                          (uint32_t)(win_hi - lo + 1)));

        if (use_p1) {
            pl_p1_compute(producer, q->nir, q->birth_date, q->sex,
                          p1 + i * PL_P1_BYTES);
            rank[i] = q->rank;          /* travels beside p1 */
            continue;
        }
        char *ni = nir + i * NIR_LEN;
        memcpy(ni, q->nir, NIR_LEN);
        bd[i] = q->birth_date;
        sex[i] = q->sex;
        rank[i] = q->rank;
        if (opt->invalid > 0 && rng_unit(&r) < opt->invalid) {
            int kind = defect_kinds[rng_below(&r, N_DEFECT_KINDS)];
            apply_defect(&r, kind, ni, &bd[i], &sex[i]);
            reason[i] = (uint8_t)kind;
            invalid++;
        }
        /* The truth must be what the validator says, row by row. */
        int got = pl_identity_check(ni, NIR_LEN, bd[i], sex[i], rank[i]);
        if (got != reason[i]) {
            pl_err("synth: internal error: source %s row %llu: the "
                   "validator returns %s, the generator expected %s",
                   tp->name, (unsigned long long)i, pl_reason_name(got),
                   pl_reason_name(reason[i]));
            goto out;
        }
    }

    /* Payload. */
    snprintf(gpath, sizeof gpath, "/sources/%s", tp->name);
    g = make_group(o, g_sources, tp->name, gpath);
    if (g < 0)
        goto out;

    if (use_p1) {
        hsize_t dims[2] = {(hsize_t)rows, PL_P1_BYTES};
        w |= write_ds(o, g, gpath, "p1", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2,
                      dims, p1);
        if (!w)
            w |= write_1d(o, g, gpath, "birth_rank", H5T_STD_U8LE,
                          H5T_NATIVE_UINT8, rows, rank);
    } else {
        w |= write_str(o, g, gpath, "nir", NIR_LEN,
                       tp->kind == PAY_HOSPITAL ? H5T_STR_NULLPAD
                                                : H5T_STR_NULLTERM,
                       rows, nir);
        if (!w)
            w |= write_1d(o, g, gpath, "birth_date", H5T_STD_I32LE,
                          H5T_NATIVE_INT32, rows, bd);
        if (!w)
            w |= write_1d(o, g, gpath, "sex", H5T_STD_U8LE, H5T_NATIVE_UINT8,
                          rows, sex);
        if (!w)
            w |= write_1d(o, g, gpath, "birth_rank", H5T_STD_U8LE,
                          H5T_NATIVE_UINT8, rows, rank);
    }

    switch (tp->kind) {
    case PAY_HOSPITAL: {
        vocab_make(&v1, diagnoses, 6);
        char *diag = pl_xmalloc(rows * 6);
        int16_t *los = pl_xmalloc(rows * sizeof *los);
        double *cost = pl_xmalloc(rows * sizeof *cost);
        for (uint64_t i = 0; i < rows; i++) {
            memcpy(diag + i * 6, vocab_pick(&r, &v1), 6);
            int l = 0;
            if (rng_below(&r, 100) >= 40) {     /* 40% day cases */
                l = 1;
                while (l < 90 && rng_below(&r, 100) < 80)
                    l++;
            }
            los[i] = (int16_t)l;
            double c = 450.0 + 900.0 * l + (double)rng_below(&r, 150000) / 100.0;
            cost[i] = round(c * 100.0) / 100.0;
        }
        if (!w)
            w |= write_1d(o, g, gpath, "stay_date", H5T_STD_I32LE,
                          H5T_NATIVE_INT32, rows, date);
        if (!w)
            w |= write_str(o, g, gpath, "diagnosis", 6, H5T_STR_NULLPAD, rows,
                           diag);
        if (!w)
            w |= write_1d(o, g, gpath, "los", H5T_STD_I16LE, H5T_NATIVE_INT16,
                          rows, los);
        if (!w)
            w |= write_1d(o, g, gpath, "cost", H5T_IEEE_F64LE,
                          H5T_NATIVE_DOUBLE, rows, cost);
        free(diag);
        free(los);
        free(cost);
        break;
    }
    case PAY_PHARMACY: {
        vocab_make(&v1, atcs, 7);
        char *atc = pl_xmalloc(rows * 7);
        uint16_t *qty = pl_xmalloc(rows * sizeof *qty);
        for (uint64_t i = 0; i < rows; i++) {
            memcpy(atc + i * 7, vocab_pick(&r, &v1), 7);
            uint32_t u = rng_below(&r, 100);
            qty[i] = (uint16_t)(u < 60 ? 1 : u < 85 ? 2 : u < 95 ? 3
                                : 4 + rng_below(&r, 9));
        }
        if (!w)
            w |= write_1d(o, g, gpath, "dispense_date", H5T_STD_I32LE,
                          H5T_NATIVE_INT32, rows, date);
        if (!w)
            w |= write_str(o, g, gpath, "atc", 7, H5T_STR_NULLPAD, rows, atc);
        if (!w)
            w |= write_1d(o, g, gpath, "quantity", H5T_STD_U16LE,
                          H5T_NATIVE_UINT16, rows, qty);
        free(atc);
        free(qty);
        break;
    }
    case PAY_DEATHS: {
        vocab_make(&v1, causes, 4);
        char *cause = pl_xmalloc(rows * 4);
        for (uint64_t i = 0; i < rows; i++)
            memcpy(cause + i * 4, vocab_pick(&r, &v1), 4);
        if (!w)
            w |= write_1d(o, g, gpath, "death_date", H5T_STD_I32LE,
                          H5T_NATIVE_INT32, rows, date);
        if (!w)
            w |= write_str(o, g, gpath, "cause", 4, H5T_STR_NULLPAD, rows,
                           cause);
        free(cause);
        break;
    }
    default: {
        vocab_make(&v2, tp->codes, 5);
        char *code = pl_xmalloc(rows * 5);
        for (uint64_t i = 0; i < rows; i++)
            memcpy(code + i * 5, vocab_pick(&r, &v2), 5);
        if (!w)
            w |= write_1d(o, g, gpath, "visit_date", H5T_STD_I32LE,
                          H5T_NATIVE_INT32, rows, date);
        if (!w)
            w |= write_str(o, g, gpath, "code", 5, H5T_STR_NULLPAD, rows,
                           code);
        free(code);
        break;
    }
    }
    H5Gclose(g);

    /* Truth. */
    if (!w) {
        snprintf(gpath, sizeof gpath, "/truth/%s", tp->name);
        hid_t gt = make_group(o, g_truth, tp->name, gpath);
        if (gt < 0) {
            w = -1;
        } else {
            w |= write_1d(o, gt, gpath, "person", H5T_STD_U64LE,
                          H5T_NATIVE_UINT64, rows, person);
            if (!w)
                w |= write_1d(o, gt, gpath, "reason", H5T_STD_U8LE,
                              H5T_NATIVE_UINT8, rows, reason);
            H5Gclose(gt);
        }
    }
    if (!w) {
        rc = 0;
        st->rows = rows;
        st->invalid = invalid;
    }

out:
    free(v1.buf);
    free(v2.buf);
    free(date);
    free(person);
    free(reason);
    free(nir);
    free(bd);
    free(sex);
    free(rank);
    free(p1);
    return rc;
}

/* ------------------------------------------------------------------------
 * --twins: sources without a rank, with two identities, keyed by an own
 * NIR (synth.c header). */

#define STREAM_TWINS 64

static int twin_source(h5out *o, hid_t g_sources, hid_t g_truth,
                       const char *name, int kind, const person_t *pp,
                       const char *own, uint64_t n, rng_t *r,
                       const uint8_t pct[3], uint64_t *total)
{
    /* kind 0: visits_norank, 1: claims, 2: registry */
    uint64_t rows = 0;
    uint8_t *cnt = pl_xmalloc(n);
    for (uint64_t p = 0; p < n; p++) {
        uint32_t u = rng_below(r, 100);
        cnt[p] = (uint8_t)(u < pct[0] ? 0 : u < pct[0] + pct[1] ? 1 : 2);
        rows += cnt[p];
    }
    char *nir = pl_xmalloc(rows * NIR_LEN + 1), *nir2 = NULL;
    int32_t *bd = pl_xmalloc(rows * sizeof *bd + 1);
    uint8_t *sex = pl_xmalloc(rows + 1), *rank = pl_xmalloc(rows + 1);
    uint8_t *amb = pl_xcalloc(rows + 1, 1), *reason = pl_xcalloc(rows + 1, 1);
    uint64_t *person = pl_xmalloc(rows * sizeof *person + 1);
    if (kind == 1)
        nir2 = pl_xmalloc(rows * NIR_LEN + 1);
    uint64_t k = 0;
    for (uint64_t p = 0; p < n; p++)
        for (uint8_t c = 0; c < cnt[p]; c++, k++) {
            const person_t *q = &pp[p];
            int twin = (p > 0 && memcmp(pp[p - 1].nir, q->nir, NIR_LEN) == 0) ||
                       (p + 1 < n && memcmp(pp[p + 1].nir, q->nir, NIR_LEN) == 0);
            person[k] = p;
            bd[k] = q->birth_date;
            sex[k] = q->sex;
            rank[k] = q->rank;
            memcpy(nir + k * NIR_LEN, kind == 0 ? q->nir : own + p * NIR_LEN,
                   NIR_LEN);
            if (nir2)
                memcpy(nir2 + k * NIR_LEN, q->nir, NIR_LEN);
            amb[k] = kind == 0 && twin ? 2 : 0;
        }
    free(cnt);
    char gpath[96];
    snprintf(gpath, sizeof gpath, "/sources/%s", name);
    int w = 0;
    hid_t g = make_group(o, g_sources, name, gpath);
    if (g < 0)
        w = -1;
    if (!w)
        w |= write_str(o, g, gpath, kind == 1 ? "own_nir" : "nir", NIR_LEN,
                       H5T_STR_NULLPAD, rows, nir);
    if (!w)
        w |= write_1d(o, g, gpath, "birth_date", H5T_STD_I32LE,
                      H5T_NATIVE_INT32, rows, bd);
    if (!w)
        w |= write_1d(o, g, gpath, "sex", H5T_STD_U8LE, H5T_NATIVE_UINT8, rows,
                      sex);
    if (!w && kind == 1)
        w |= write_str(o, g, gpath, "nir", NIR_LEN, H5T_STR_NULLPAD, rows,
                       nir2);
    if (!w && kind == 1)
        w |= write_1d(o, g, gpath, "birth_rank", H5T_STD_U8LE,
                      H5T_NATIVE_UINT8, rows, rank);
    if (g >= 0)
        H5Gclose(g);
    snprintf(gpath, sizeof gpath, "/truth/%s", name);
    hid_t gt = w ? -1 : make_group(o, g_truth, name, gpath);
    if (gt < 0)
        w = -1;
    if (!w)
        w |= write_1d(o, gt, gpath, "person", H5T_STD_U64LE,
                      H5T_NATIVE_UINT64, rows, person);
    if (!w)
        w |= write_1d(o, gt, gpath, "reason", H5T_STD_U8LE, H5T_NATIVE_UINT8,
                      rows, reason);
    if (!w)
        w |= write_1d(o, gt, gpath, "ambiguous", H5T_STD_U8LE,
                      H5T_NATIVE_UINT8, rows, amb);
    if (gt >= 0)
        H5Gclose(gt);
    pl_wipe(nir, rows * NIR_LEN);
    if (nir2)
        pl_wipe(nir2, rows * NIR_LEN);
    free(nir); free(nir2); free(bd); free(sex); free(rank); free(amb);
    free(reason); free(person);
    *total += rows;
    return w ? -1 : 0;
}

static int make_twin_sources(h5out *o, hid_t g_sources, hid_t g_truth,
                             const pl_synth_opts *opt, const person_t *pp,
                             uint64_t *total)
{
    uint64_t n = opt->persons;
    rng_t r;
    rng_seed(&r, opt->seed, STREAM_TWINS);
    /* Own NIRs: distinct from every shared one and from each other. */
    hashset seen;
    hs_init(&seen, 2 * n);
    for (uint64_t p = 0; p < n; p++)
        hs_add(&seen, nir_code(pp[p].nir));
    char *own = pl_xmalloc(n * NIR_LEN);
    for (uint64_t p = 0; p < n; p++) {
        int32_t d = pp[p].birth_date;
        draw_nir(&r, &seen, d / 10000, d / 100 % 100, pp[p].sex,
                 own + p * NIR_LEN);
    }
    free(seen.slot);
    static const uint8_t visits[3] = {30, 40, 30}, claims[3] = {0, 60, 40},
                         registry[3] = {30, 40, 30};
    int rc = twin_source(o, g_sources, g_truth, "visits_norank", 0, pp, own,
                         n, &r, visits, total);
    if (rc == 0)
        rc = twin_source(o, g_sources, g_truth, "claims", 1, pp, own, n, &r,
                         claims, total);
    if (rc == 0)
        rc = twin_source(o, g_sources, g_truth, "registry", 2, pp, own, n, &r,
                         registry, total);
    pl_wipe(own, n * NIR_LEN);
    free(own);
    return rc;
}

/* ------------------------------------------------------------------------
 * The whole store. */

int pl_synth(const pl_synth_opts *opt)
{
    /* HDF5 1.10 leaves a file ID half-closed when H5Fclose fails (e.g. the
     * disk filled up) and then crashes in its atexit handler; every ID we
     * open is closed explicitly, so we do without that handler. (No effect
     * if the library was already initialised.) */
    H5dont_atexit();
    pl_h5_quiet();
    if (opt->persons < 1 || opt->persons > SYNTH_MAX_PERSONS) {
        pl_err("synth: --persons must be an integer from 1 to %llu",
               (unsigned long long)SYNTH_MAX_PERSONS);
        return 1;
    }
    if (opt->sources < 1 || opt->sources > 8) {
        pl_err("synth: --sources must be an integer from 1 to 8");
        return 1;
    }
    if (!(opt->invalid >= 0.0 && opt->invalid <= 1.0)) {
        pl_err("synth: --invalid must be a number from 0 to 1");
        return 1;
    }
    if (!opt->output || !*opt->output) {
        pl_err("synth: an output file is required (-o FILE)");
        return 1;
    }

    /* The producer key, only if a p1 source will be written. */
    pl_hmac_key hk;
    const pl_hmac_key *producer = NULL;
    if (opt->producer_key) {
        uint8_t key[PL_KEY_BYTES];
        if (pl_key_load(opt->producer_key, "producer key", key, 0) != 0)
            return 1;
        pl_hmac_init(&hk, key, sizeof key);
        OPENSSL_cleanse(key, sizeof key);
        producer = &hk;
    }

    size_t olen = strlen(opt->output);
    char *tmp = pl_xmalloc(olen + 5);
    memcpy(tmp, opt->output, olen);
    memcpy(tmp + olen, ".tmp", 5);

    uint64_t twins = 0;
    person_t *pp = make_persons(opt->persons, opt->seed,
                                opt->twins ? 50 : 5, &twins);

    int rc = 1;
    h5out o = {.out = opt->output, .file = -1, .dcpl = -1, .gcpl = -1};
    hid_t fcpl = -1, g_sources = -1, g_truth = -1;
    o.dcpl = H5Pcreate(H5P_DATASET_CREATE);
    o.gcpl = H5Pcreate(H5P_GROUP_CREATE);
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (o.dcpl < 0 || o.gcpl < 0 || fcpl < 0 ||
        H5Pset_layout(o.dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_obj_track_times(o.dcpl, 0) < 0 ||
        H5Pset_obj_track_times(o.gcpl, 0) < 0 ||
        H5Pset_link_creation_order(o.gcpl, H5P_CRT_ORDER_TRACKED |
                                               H5P_CRT_ORDER_INDEXED) < 0) {
        pl_err("%s: cannot set up HDF5 properties: %s", opt->output,
               pl_h5_reason());
        goto done;
    }
    errno = 0;
    o.file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    if (o.file < 0) {
        int e = errno;
        const char *why = pl_h5_reason();
        pl_err("%s: cannot create file (%s): %s%s%s%s", opt->output, tmp,
               why, e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
        goto done;
    }
    g_sources = make_group(&o, o.file, "sources", "/sources");
    if (g_sources < 0)
        goto fail;
    g_truth = make_group(&o, o.file, "truth", "/truth");
    if (g_truth < 0)
        goto fail;

    uint64_t total = 0, total_invalid = 0;
    for (int i = 0; i < opt->sources; i++) {
        source_stats st = {0, 0};
        if (make_source(&o, g_sources, g_truth, i, opt, pp, producer, &st) != 0)
            goto fail;
        total += st.rows;
        total_invalid += st.invalid;
    }

    if (opt->twins && make_twin_sources(&o, g_sources, g_truth, opt, pp,
                                        &total) != 0)
        goto fail;

    uint64_t persons = opt->persons, seed = opt->seed;
    int32_t sources = opt->sources + (opt->twins ? 3 : 0);
    double invalid = opt->invalid;
    static const char gen[] = "pseudolink synth";
    hid_t gt = str_type(sizeof gen, H5T_STR_NULLTERM);  /* with the NUL */
    int a = gt < 0;
    if (!a)
        a |= write_attr(&o, "synth_persons", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                        &persons);
    if (!a)
        a |= write_attr(&o, "synth_seed", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                        &seed);
    if (!a)
        a |= write_attr(&o, "synth_sources", H5T_STD_I32LE, H5T_NATIVE_INT32,
                        &sources);
    if (!a)
        a |= write_attr(&o, "synth_invalid", H5T_IEEE_F64LE,
                        H5T_NATIVE_DOUBLE, &invalid);
    if (!a)
        a |= write_attr(&o, "generator", gt, gt, gen);
    if (gt >= 0)
        H5Tclose(gt);
    if (a)
        goto fail;

    H5Gclose(g_sources);
    H5Gclose(g_truth);
    g_sources = g_truth = -1;
    herr_t cl = H5Fclose(o.file);
    o.file = -1;
    if (cl < 0) {
        pl_err("%s: cannot close file (%s): %s", opt->output, tmp,
               pl_h5_reason());
        goto fail;
    }
    if (rename(tmp, opt->output) != 0) {
        pl_err("%s: cannot rename %s to it: %s", opt->output, tmp,
               strerror(errno));
        goto fail;
    }
    pl_info("synth: wrote %s: %llu persons (%llu twins), %d sources, "
            "%llu rows, %llu with an invalid identity",
            opt->output, (unsigned long long)opt->persons,
            (unsigned long long)twins, opt->sources,
            (unsigned long long)total, (unsigned long long)total_invalid);
    rc = 0;
    goto done;

fail:
    if (g_sources >= 0)
        H5Gclose(g_sources);
    if (g_truth >= 0)
        H5Gclose(g_truth);
    if (o.file >= 0)
        H5Fclose(o.file);
    o.file = -1;
    unlink(tmp);
done:
    if (o.file >= 0)
        H5Fclose(o.file);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (o.dcpl >= 0)
        H5Pclose(o.dcpl);
    if (o.gcpl >= 0)
        H5Pclose(o.gcpl);
    free(pp);
    free(tmp);
    if (producer)
        pl_hmac_key_wipe(&hk);
    return rc;
}

/* ------------------------------------------------------------------------
 * Command line. */

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int pl_synth_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"persons", required_argument, NULL, 'n'},
        {"sources", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},
        {"invalid", required_argument, NULL, 'f'},
        {"producer-key", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"twins", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pl_synth_opts o = {.persons = 0, .sources = 0, .seed = 0,
                       .invalid = 0.02, .output = NULL, .producer_key = NULL};
    int have_persons = 0, have_sources = 0, have_seed = 0;
    uint64_t v;

    if (argc > 1 && strcmp(argv[1], "--linkage") == 0)  /* cmd/synth_fs.h */
        return pl_synth_fs_main(argc - 1, argv + 1);
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":o:h", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'n':
            if (parse_u64(optarg, &v) != 0 || v < 1) {
                pl_err("synth: --persons must be a positive integer");
                return PL_EXIT_USAGE;
            }
            if (v > SYNTH_MAX_PERSONS) {
                pl_err("synth: --persons must be at most %llu",
                       (unsigned long long)SYNTH_MAX_PERSONS);
                return PL_EXIT_USAGE;
            }
            o.persons = v;
            have_persons = 1;
            break;
        case 'k':
            if (parse_u64(optarg, &v) != 0 || v < 1 || v > 8) {
                pl_err("synth: --sources must be an integer from 1 to 8");
                return PL_EXIT_USAGE;
            }
            o.sources = (int)v;
            have_sources = 1;
            break;
        case 's':
            if (parse_u64(optarg, &v) != 0) {
                pl_err("synth: --seed must be an unsigned integer "
                       "(0 to 18446744073709551615)");
                return PL_EXIT_USAGE;
            }
            o.seed = v;
            have_seed = 1;
            break;
        case 'f': {
            char *end = NULL;
            errno = 0;
            double f = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !isfinite(f) ||
                f < 0.0 || f > 1.0) {
                pl_err("synth: --invalid must be a number from 0 to 1 (a "
                       "share of rows, e.g. 0.02)");
                return PL_EXIT_USAGE;
            }
            o.invalid = f;
            break;
        }
        case 'p':
            o.producer_key = optarg;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 't':
            o.twins = 1;
            break;
        case 'h':
            pl_help_print(stdout, "synth");     /* cmd/usage.h */
            return 0;
        case ':':
            pl_err("synth: option '%s' needs a value (see pseudolink synth "
                   "--help)", argv[optind - 1]);
            return PL_EXIT_USAGE;
        default:
            pl_err("synth: unknown option '%s' (see pseudolink synth --help)",
                   argv[optind - 1]);
            return PL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        pl_err("synth: unexpected argument '%s' (see pseudolink synth "
               "--help)", argv[optind]);
        return PL_EXIT_USAGE;
    }
    if (!have_persons) {
        pl_err("synth: --persons N is required (number of persons)");
        return PL_EXIT_USAGE;
    }
    if (!have_sources) {
        pl_err("synth: --sources K is required (1 to 8)");
        return PL_EXIT_USAGE;
    }
    if (!have_seed) {
        pl_err("synth: --seed S is required (the file is deterministic for "
               "a seed)");
        return PL_EXIT_USAGE;
    }
    if (!o.output || !*o.output) {
        pl_err("synth: -o FILE is required (the store to write)");
        return PL_EXIT_USAGE;
    }
    return pl_synth(&o);
}
