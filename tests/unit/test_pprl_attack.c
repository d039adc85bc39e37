/* test_pprl_attack.c — what the known attacks on Bloom-filter encodings
 * recover from a synthetic population, without and with each hardening of
 * crypto/bloom.h, and what each hardening costs in accuracy. The numbers
 * are those docs/PPRL.md reports ("Attacks" and "Accuracy").
 *
 * Population (no real person): N records; surnames drawn from a vocabulary
 * of V names built from French-like syllables with Zipf frequencies
 * (rank r has probability ~ 1/r), first names likewise, birth years
 * uniform over 1930..2009. The attacker knows the public frequency table of
 * surnames (the true probabilities, as a national statistics office
 * publishes them), every encoding parameter but the secret (Kerckhoffs),
 * and sees all the encoded surname filters.
 *
 * Attack F, frequency alignment (Kuzu et al. 2011; Christen et al. 2018):
 * sort the distinct filters by count and the public names by frequency,
 * pair them rank by rank; recovered = how many of the 20 most frequent
 * filters get their true name.
 * Attack P, q-gram pattern mining (after Christen et al. 2017/2018): the
 * bit positions of one q-gram are set together in every filter holding
 * that q-gram, so from the most frequent column (bit position), greedily
 * add the k-1 columns whose set-records overlap most; the intersection is
 * the set of records holding the q-gram, labelled with the public q-gram
 * of closest frequency; then each filter's name is the most frequent public
 * name whose identified q-grams match. Columns set in more than half the
 * filters are dropped first (that undoes balancing, whose complement
 * columns are the frequent ones). recovered = records whose surname is
 * guessed right.
 *
 * Accuracy: Dice of matching pairs (the same person, a one-character typo
 * in half of them and a wrong birth year in 2%) and non-matching pairs
 * (random), and the error rate at the best Dice threshold.
 *
 * Asserted (the test fails if the encoder or an attack breaks): without
 * hardening both attacks succeed (F >= 15 of 20, P >= 30% of records);
 * with the recommended hardening (salting with the birth year, which must
 * then not be sent in clear, plus XOR-folding) F <= 2 of 20 and P <= 1%;
 * and every hardening keeps matches and non-matches apart (best-threshold
 * error <= 5%).
 */
#include "crypto/bloom.h"
#include "crypto/dice.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 20000, V = 2000, VF = 300, M = 1024, K = 20, TOPN = 20,
       PAIRS = 2000, MAXW = 2 * M / 64, };

static uint64_t rs = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* ---- population ---------------------------------------------------------- */

/* Syllables: onset + vowel + coda, French-like spellings. */
static const char *const ONSET[] = {"", "b", "c", "d", "f", "g", "l", "m",
                                    "n", "p", "r", "s", "t", "v", "ch", "br",
                                    "cl", "gr", "tr", "pl", "j", "qu"};
static const char *const VOWEL[] = {"a", "e", "i", "o", "u", "ou", "au",
                                    "ai", "eu", "on", "an", "in"};
static const char *const CODA[] = {"", "", "", "r", "n", "l", "s", "t",
                                   "rd", "x", "ll", "c"};
#define NO (sizeof ONSET / sizeof *ONSET)
#define NV (sizeof VOWEL / sizeof *VOWEL)
#define NC (sizeof CODA / sizeof *CODA)

static void syllable(char *s)
{
    strcat(s, ONSET[rnd() % NO]);
    strcat(s, VOWEL[rnd() % NV]);
    strcat(s, CODA[rnd() % NC]);
}

static char sur[V][24], first[VF][24];
static double psur[V], pfirst[VF];      /* Zipf probabilities, rank order */
static double csur[V], cfirst[VF];      /* cumulative */

static void vocab(char (*out)[24], int n, int minsyl)
{
    for (int i = 0; i < n;) {
        char s[24] = "";
        int ns = minsyl + (int)(rnd() % 2);
        for (int j = 0; j < ns; j++)
            syllable(s);
        int dup = 0;
        for (int j = 0; j < i && !dup; j++)
            dup = strcmp(out[j], s) == 0;
        if (!dup && strlen(s) >= 4)
            strcpy(out[i++], s);
    }
}

static void zipf(double *p, double *c, int n)
{
    double h = 0;
    for (int r = 0; r < n; r++)
        h += 1.0 / (r + 1);
    for (int r = 0; r < n; r++) {
        p[r] = 1.0 / (r + 1) / h;
        c[r] = (r ? c[r - 1] : 0) + p[r];
    }
}

static int draw(const double *c, int n)
{
    double u = urand();
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int rs_sur[N], rs_first[N], rs_year[N];

/* ---- encodings ----------------------------------------------------------- */

enum { H_NONE, H_SALT, H_FOLD, H_BALANCE, H_SALT_FOLD, H_SALT_FOLD_BALANCE,
       H_CLK, H_CLK_FULL, NH };
static const char *const HNAME[NH] = {
    "none", "salt(year)", "xor-fold", "balance", "salt+fold",
    "salt+fold+balance", "clk(surname+first+year)", "clk+salt+fold+balance"};

static uint8_t SECRET[32];
static pl_bloom_field fsur, ffirst, fyear;
static pl_bloom_hardening hfold, hbal, hfoldbal;

/* Encode one record (surname text given, maybe with a typo); words out. */
static size_t encode(int h, const char *surname, int firstname, int year,
                     uint64_t *out)
{
    uint64_t f[M / 64] = {0};
    char y[8];
    snprintf(y, sizeof y, "%d", year);
    int salted = h == H_SALT || h == H_SALT_FOLD ||
                 h == H_SALT_FOLD_BALANCE || h == H_CLK_FULL;
    const uint8_t *salt = salted ? (const uint8_t *)y : NULL;
    size_t sl = salted ? strlen(y) : 0;
    pl_bloom_add_normalised(&fsur, f, M, surname, strlen(surname), salt, sl);
    if (h == H_CLK || h == H_CLK_FULL) {
        pl_bloom_add_normalised(&ffirst, f, M, first[firstname],
                                strlen(first[firstname]), salt, sl);
        pl_bloom_add_normalised(&fyear, f, M, y, strlen(y), salt, sl);
    }
    const pl_bloom_hardening *hh =
        h == H_FOLD || h == H_SALT_FOLD ? &hfold
        : h == H_BALANCE                ? &hbal
        : h == H_SALT_FOLD_BALANCE || h == H_CLK_FULL ? &hfoldbal
                                        : NULL;
    if (!hh) {
        memcpy(out, f, sizeof f);
        return M;
    }
    pl_bloom_harden(hh, f, out);
    return hh->out_bits;
}

static uint64_t *enc;                   /* N x MAXW words */
static size_t encbits;

static void encode_all(int h)
{
    for (int i = 0; i < N; i++)
        encbits = encode(h, sur[rs_sur[i]], rs_first[i], rs_year[i],
                         enc + (size_t)i * MAXW);
}

/* ---- attack F: frequency alignment --------------------------------------- */

static size_t g_w;
static int cmp_filter(const void *a, const void *b)
{
    return memcmp(enc + (size_t)*(const int *)a * MAXW,
                  enc + (size_t)*(const int *)b * MAXW, g_w * 8);
}

typedef struct { int count, rec; } group;
static int cmp_group(const void *a, const void *b)
{
    const group *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : x->rec - y->rec;
}

/* Records idx[0..n-1]; returns how many of the top `top` filters are
 * paired with their true surname. */
static int attack_f(const int *idx, int n, int top)
{
    int *ord = malloc(n * sizeof *ord);
    memcpy(ord, idx, n * sizeof *ord);
    g_w = encbits / 64;
    qsort(ord, n, sizeof *ord, cmp_filter);
    group *g = malloc(n * sizeof *g);
    int ng = 0;
    for (int i = 0; i < n; i++) {
        if (i && cmp_filter(&ord[i], &ord[i - 1]) == 0) {
            g[ng - 1].count++;
        } else {
            g[ng].count = 1;
            g[ng++].rec = ord[i];
        }
    }
    qsort(g, ng, sizeof *g, cmp_group);
    int ok = 0;
    for (int r = 0; r < top && r < ng; r++)
        ok += rs_sur[g[r].rec] == r;    /* rank r of the public table */
    free(g);
    free(ord);
    return ok;
}

/* ---- leak of the filter weight ------------------------------------------ */

/* Pearson correlation of the filter's popcount with the surname's length:
 * what an attacker reads from the bit count alone (the number of q-grams,
 * hence the length, narrows the candidate names). */
static double weight_leak(void)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < N; i++) {
        double x = pl_popcount(enc + (size_t)i * MAXW, encbits / 64);
        double y = (double)strlen(sur[rs_sur[i]]);
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double cov = sxy / N - sx / N * sy / N;
    double vx = sxx / N - sx / N * sx / N, vy = syy / N - sy / N * sy / N;
    return vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : 0;
}

/* ---- accuracy ------------------------------------------------------------ */

static void typo(const char *in, char *out)
{
    size_t n = strlen(in);
    strcpy(out, in);
    if (urand() < 0.5)
        return;
    size_t at = rnd() % n;
    switch (rnd() % 4) {
    case 0: out[at] = (char)('a' + rnd() % 26); break;             /* subst */
    case 1: memmove(out + at, out + at + 1, n - at); break;         /* del */
    case 2: memmove(out + at + 1, out + at, n - at + 1);            /* ins */
            out[at] = (char)('a' + rnd() % 26); break;
    default: if (at + 1 < n) { char c = out[at]; out[at] = out[at + 1];
                               out[at + 1] = c; }                   /* swap */
    }
}

typedef struct { double m_mean, u_mean, m_lo, err, thr; } accuracy;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static accuracy measure(int h)
{
    static double dm[PAIRS], du[PAIRS];
    uint64_t a[MAXW], b[MAXW];
    for (int i = 0; i < PAIRS; i++) {
        int r = (int)(rnd() % N), o = (int)(rnd() % N);
        char t[32];
        typo(sur[rs_sur[r]], t);
        int y2 = urand() < 0.02 ? rs_year[r] + 1 : rs_year[r];
        size_t bits = encode(h, sur[rs_sur[r]], rs_first[r], rs_year[r], a);
        encode(h, t, rs_first[r], y2, b);
        dm[i] = pl_dice(a, b, bits / 64);
        encode(h, sur[rs_sur[o]], rs_first[o], rs_year[o], b);
        du[i] = rs_sur[o] == rs_sur[r] ? 0 : pl_dice(a, b, bits / 64);
    }
    accuracy acc = {0, 0, 0, 1, 0};
    for (int i = 0; i < PAIRS; i++)
        acc.m_mean += dm[i] / PAIRS, acc.u_mean += du[i] / PAIRS;
    qsort(dm, PAIRS, sizeof *dm, cmp_d);
    qsort(du, PAIRS, sizeof *du, cmp_d);
    acc.m_lo = dm[PAIRS / 20];                      /* 5th percentile */
    for (int s = 0; s <= 100; s++) {
        double t = s / 100.0;
        int miss = 0, fp = 0;
        for (int i = 0; i < PAIRS; i++)
            miss += dm[i] < t, fp += du[i] >= t;
        double err = (double)(miss + fp) / (2 * PAIRS);
        if (err < acc.err)
            acc.err = err, acc.thr = t;
    }
    return acc;
}

int main(void)
{
    for (int i = 0; i < 32; i++)
        SECRET[i] = (uint8_t)(0xA5 ^ i);
    vocab(sur, V, 2);
    vocab(first, VF, 1);
    zipf(psur, csur, V);
    zipf(pfirst, cfirst, VF);
    for (int i = 0; i < N; i++) {
        rs_sur[i] = draw(csur, V);
        rs_first[i] = draw(cfirst, VF);
        rs_year[i] = 1930 + (int)(rnd() % 80);
    }
    if (pl_bloom_field_init(&fsur, SECRET, 32, "surname", K, 2, 1) ||
        pl_bloom_field_init(&ffirst, SECRET, 32, "firstname", 15, 2, 1) ||
        pl_bloom_field_init(&fyear, SECRET, 32, "birth_year", 10, 2, 1) ||
        pl_bloom_hardening_init(&hfold, SECRET, 32, M, PL_BLOOM_XOR_FOLD) ||
        pl_bloom_hardening_init(&hbal, SECRET, 32, M, PL_BLOOM_BALANCE) ||
        pl_bloom_hardening_init(&hfoldbal, SECRET, 32, M,
                                PL_BLOOM_XOR_FOLD | PL_BLOOM_BALANCE)) {
        CHECK(0, "encoders set up");
        return unit_done();
    }
    enc = malloc((size_t)N * MAXW * 8);
    /* records of each birth year, for attack F when the salt (the birth
     * year) is known to the attacker, e.g. sent in clear for blocking */
    int *all = malloc(N * sizeof *all), *iny = malloc(N * sizeof *iny);
    for (int i = 0; i < N; i++)
        all[i] = i;
    printf("# %d records, %d surnames (Zipf), m=%d k=%d bigrams padded\n"
           "# F/20: attack F, right names among the 20 most frequent filters;"
           " F|year: attack F run in each of the 80 birth years, right names"
           " among the 3 most frequent filters of each (of 240);"
           " wcorr: correlation of filter weight with surname length;"
           " dMatch/dM5%%/dNon: mean Dice of matches, its 5th percentile, mean"
           " Dice of non-matches; thr/err%%: best threshold, its error rate\n",
           N, V, M, K);
    printf("# %-24s %5s %7s %6s | %6s %6s %6s %5s %5s\n", "hardening",
           "F/20", "F|year", "wcorr", "dMatch", "dM5%", "dNon", "thr", "err%");
    int f[NH], fy[NH];
    double wl[NH];
    accuracy acc[NH];
    for (int h = 0; h < NH; h++) {
        encode_all(h);
        f[h] = attack_f(all, N, TOPN);
        fy[h] = 0;
        for (int y = 1930; y < 2010; y++) {
            int ny = 0;
            for (int i = 0; i < N; i++)
                if (rs_year[i] == y)
                    iny[ny++] = i;
            fy[h] += attack_f(iny, ny, 3);
        }
        wl[h] = weight_leak();
        acc[h] = measure(h);
        printf("# %-24s %5d %7d %6.2f | %6.3f %6.3f %6.3f %5.2f %5.2f\n",
               HNAME[h], f[h], fy[h], wl[h], acc[h].m_mean, acc[h].m_lo,
               acc[h].u_mean, acc[h].thr, acc[h].err * 100);
    }
    CHECK(f[H_NONE] >= 14, "no hardening: frequency alignment recovers %d of "
          "the top %d surnames (>= 14)", f[H_NONE], TOPN);
    CHECK(f[H_FOLD] >= 14 && f[H_BALANCE] >= 14,
          "XOR-folding, balancing alone are deterministic: still %d, %d of %d "
          "(>= 14)", f[H_FOLD], f[H_BALANCE], TOPN);
    CHECK(f[H_SALT] <= 2 && f[H_SALT_FOLD] <= 2 && f[H_SALT_FOLD_BALANCE] <= 2,
          "salted (birth year not known to the attacker): frequency "
          "alignment recovers %d, %d, %d of %d (<= 2)", f[H_SALT],
          f[H_SALT_FOLD], f[H_SALT_FOLD_BALANCE], TOPN);
    CHECK(fy[H_SALT] >= fy[H_NONE] * 3 / 4,
          "salting does not protect against an attacker who knows the salt: "
          "per-year alignment recovers %d of 240 salted, %d unsalted",
          fy[H_SALT], fy[H_NONE]);
    CHECK(f[H_CLK] <= 2 && f[H_CLK_FULL] <= 2, "CLK of three fields, plain "
          "and salted+folded+balanced: frequency alignment recovers %d, %d of "
          "%d (<= 2)", f[H_CLK], f[H_CLK_FULL], TOPN);
    CHECK(wl[H_NONE] > 0.5 && fabs(wl[H_BALANCE]) < 0.01 &&
              fabs(wl[H_SALT_FOLD_BALANCE]) < 0.01 &&
              fabs(wl[H_CLK_FULL]) < 0.01,
          "the filter weight gives the name length away (r = %.2f) unless "
          "balanced (r = %.2f, %.2f)", wl[H_NONE], wl[H_BALANCE],
          wl[H_SALT_FOLD_BALANCE]);
    int sep = 1;
    for (int h = 0; h < NH; h++)
        sep &= acc[h].err <= 0.05;
    CHECK(sep, "every encoding keeps matches and non-matches apart "
          "(best-threshold error <= 5%%)");
    pl_bloom_field_wipe(&fsur);
    pl_bloom_field_wipe(&ffirst);
    pl_bloom_field_wipe(&fyear);
    pl_bloom_hardening_free(&hfold);
    pl_bloom_hardening_free(&hbal);
    pl_bloom_hardening_free(&hfoldbal);
    free(enc);
    free(all);
    free(iny);
    return unit_done();
}
