/* test_linkage.c — string similarity, the Fellegi–Sunter EM and blocking
 * dedup (stage/fellegi.h, stage/blocking.h, base/strsim.h). */
#include "base/strsim.h"
#include "stage/blocking.h"
#include "stage/fellegi.h"
#include "unit.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static double jw(const char *a, const char *b)
{
    return pl_jaro_winkler(a, strlen(a), b, strlen(b));
}
static int osa(const char *a, const char *b)
{
    return pl_osa_distance(a, strlen(a), b, strlen(b));
}
static int norm_is(const char *in, const char *want)
{
    char out[64];
    pl_name_norm(in, strlen(in), out, sizeof out);
    if (strcmp(out, want) != 0)
        printf("# norm('%s') = '%s'\n", in, out);
    return strcmp(out, want) == 0;
}
static int same_phon(const char *a, const char *b)
{
    char pa[PL_PHON_MAX], pb[PL_PHON_MAX];
    pl_phonetic_fr(a, strlen(a), pa);
    pl_phonetic_fr(b, strlen(b), pb);
    return strcmp(pa, pb) == 0;
}

/* The one normaliser (base/strsim.h): its two modes agree on the letters
 * (docs/PPRL.md 1.2, docs/LINKAGE.md). */
static void test_norm_modes(void)
{
    static const char *const in[] = {
        "H\xc3\xa9l\xc3\xa8ne-Marie d'Arc", "  \xc5\x93uvre  ",
        "stra\xc3\x9f" "e", "\xc3\x87" "A\xe2\x80\x99VA", "Le\xc2\xa0Gall.",
        "E\xcc\x81lo\xc3\xafse", "\xc8\x98tef\xc4\x83nescu", "D\xca\xbc" "Arc",
        "Jean\xe2\x80\x95Luc", "\xc5\x81ukasz \xc3\x91\xc3\xba\xc3\xb1" "ez",
        "o'neil_2", "a\xc2\x85" "b", "\xc3\x97\xc3\xb7"};
    int agree = 1;
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        char a[64], b[64], c[64];
        long la = pl_norm_text(in[i], strlen(in[i]), a, sizeof a,
                               PL_NORM_PPRL);
        size_t lb = pl_name_norm(in[i], strlen(in[i]), b, sizeof b), k = 0;
        for (size_t j = 0; j < lb; j++)         /* the clear form, */
            if (b[j] != ' ')                    /* spaces removed, */
                c[k++] = (char)(b[j] >= 'A' && b[j] <= 'Z' ? b[j] + 32
                                                           : b[j]);
        c[k] = 0;                               /* lowercase */
        if (la < 0 || strcmp(a, c) != 0) {
            printf("# '%s': pprl '%s', clear '%s'\n", in[i], la < 0 ? "-" : a,
                   b);
            agree = 0;
        }
    }
    CHECK(agree, "pl_norm_text: the PPRL form is the clear form lowercased "
          "without its spaces (Latin input)");
    CHECK(norm_is("E\xcc\x81LO\xc3\x8fSE", "ELOISE") &&
              norm_is("\xc8\x9a" "epe\xc8\x99", "TEPES") &&
              norm_is("Jean\xe2\x80\x95Luc D\xca\xbc" "Arc", "JEAN LUC D ARC"),
          "clear names: NFD marks dropped, S/T comma folded, U+2015 and "
          "U+02BC separate words");
    char o[8];
    CHECK(pl_norm_text("ab\xc3", 3, o, sizeof o, PL_NORM_PPRL) == -1 &&
              pl_norm_text("ab\xc3", 3, o, sizeof o, PL_NORM_CLEAR) == 2,
          "invalid UTF-8: refused in PPRL mode, dropped in clear mode");
    CHECK(strcmp((pl_norm_text("\xce\xa9" "a", 3, o, sizeof o, PL_NORM_PPRL),
                  o), "\xce\xa9" "a") == 0 &&
              pl_norm_text("\xce\xa9" "a", 3, o, sizeof o, PL_NORM_CLEAR) == 1,
          "other scripts: kept in PPRL mode, dropped in clear mode");
}

static void test_strsim(void)
{
    CHECK(fabs(jw("MARTHA", "MARHTA") - 0.961) < 0.0005,
          "Jaro-Winkler MARTHA/MARHTA = 0.961 (%.4f)", jw("MARTHA", "MARHTA"));
    CHECK(fabs(jw("DWAYNE", "DUANE") - 0.840) < 0.0005,
          "Jaro-Winkler DWAYNE/DUANE = 0.840 (%.4f)", jw("DWAYNE", "DUANE"));
    CHECK(fabs(jw("DIXON", "DICKSONX") - 0.813) < 0.0005,
          "Jaro-Winkler DIXON/DICKSONX = 0.813 (%.4f)",
          jw("DIXON", "DICKSONX"));
    CHECK(jw("DUPONT", "DUPONT") == 1.0 && jw("ABC", "XYZ") == 0.0 &&
              jw("", "") == 1.0 && jw("A", "") == 0.0,
          "Jaro-Winkler: identical 1, nothing in common 0, empty");
    CHECK(osa("KITTEN", "SITTING") == 3, "OSA KITTEN/SITTING = 3");
    CHECK(osa("ABCD", "ACBD") == 1, "OSA: one transposition = 1");
    CHECK(osa("CA", "ABC") == 3,
          "OSA CA/ABC = 3 (optimal string alignment, not true DL's 2)");
    CHECK(osa("", "ABC") == 3 && osa("MARTIN", "MARTIN") == 0,
          "OSA: empty string, identical");
    CHECK(norm_is("H\xc3\xa9l\xc3\xa8ne-Marie d'Arc", "HELENE MARIE D ARC"),
          "normalise: case, accents, hyphen, apostrophe");
    CHECK(norm_is("  \xc5\x93uvre  ", "OEUVRE") &&
              norm_is("stra\xc3\x9f" "e", "STRASSE") &&
              norm_is("\xc3\x87" "A\xe2\x80\x99VA", "CA VA"),
          "normalise: ligatures, sharp s, U+2019, trim");
    CHECK(norm_is("L\xce\xbb" "A", "LA") && norm_is("--", ""),
          "normalise: other scripts dropped, only separators -> empty");
    /* Latin Extended-A: the precomposed (NFC) letter folds like its
     * decomposed (NFD) form, base letter + combining mark */
    CHECK(norm_is("\xc4\x8c" "apek", "CAPEK") &&
              norm_is("C\xcc\x8c" "apek", "CAPEK") &&
              norm_is("Dvo\xc5\x99\xc3\xa1k", "DVORAK") &&
              norm_is("\xc5\x81ukasz", "LUKASZ") &&
              norm_is("\xc5\x9e" "tefan \xc8\x98" "erban", "STEFAN SERBAN") &&
              norm_is("\xc5\x92" "dipe", "OEDIPE") &&
              norm_is("\xc5\xb8ves", "YVES"),
          "normalise: Latin Extended-A (U+0100..U+017F, Romanian S/T comma) "
          "folded, NFC as NFD");
    CHECK(norm_is("Jean\xc2\xa0Pierre", "JEAN PIERRE") &&
              norm_is("Jean\xe2\x80\x93Luc", "JEAN LUC") &&
              norm_is("Jean\xe2\x80\x94Luc", "JEAN LUC") &&
              norm_is("O\xe2\x80\x98Neil", "O NEIL"),
          "normalise: no-break space, en and em dashes, U+2018 are separators");
    CHECK(same_phon("DUPONT", "DUPOND") && same_phon("MARTIN", "MARTAIN") &&
              same_phon("PHILIPPE", "FILIPE") &&
              same_phon("GAUTHIER", "GOTIER") && !same_phon("MARTIN", "DUPONT"),
          "French phonetic key: DUPONT=DUPOND, MARTIN=MARTAIN, "
          "PHILIPPE=FILIPE, GAUTHIER=GOTIER, MARTIN!=DUPONT");
}

static void exact_cfg(pl_linkage_cfg *c, size_t nf)
{
    memset(c, 0, sizeof *c);
    c->n_fields = nf;
    for (size_t f = 0; f < nf; f++) {
        c->fields[f].kind = PL_CMP_EXACT;
        c->fields[f].n_levels = 2;
        snprintf(c->fields[f].name, PL_NAME_MAX, "f%zu", f);
    }
    c->max_block = 1000;
}

static void test_em(void)
{
    pl_linkage_cfg c;
    exact_cfg(&c, 3);
    const double m[3] = {0.9, 0.8, 0.95}, u[3] = {0.05, 0.1, 0.2};
    const double lambda = 0.1, N = 1e6;
    uint32_t G = pl_fs_patterns(&c);
    CHECK(G == 27, "patterns: (2 levels + missing)^3 = 27");
    double counts[27] = {0};
    for (uint32_t g = 0; g < G; g++) {
        uint8_t lev[3];
        pl_fs_decode(&c, g, lev);
        if (lev[0] == 2 || lev[1] == 2 || lev[2] == 2)
            continue;
        double pm = lambda, pu = 1 - lambda;
        for (int f = 0; f < 3; f++) {
            pm *= lev[f] == 0 ? m[f] : 1 - m[f];
            pu *= lev[f] == 0 ? u[f] : 1 - u[f];
        }
        counts[g] = N * (pm + pu);
    }
    pl_fs_model mo;
    memset(&mo, 0, sizeof mo);
    mo.nf = 3;
    for (int f = 0; f < 3; f++) {
        mo.nl[f] = 2;
        mo.u[f][0] = u[f];
        mo.u[f][1] = 1 - u[f];
    }
    double mr[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV] = {{0}};
    uint64_t it;
    double l = pl_fs_em(&mo, &c, counts, 0, 2000, mr, &it);
    int ok = fabs(l - lambda) < 1e-3;
    for (int f = 0; f < 3; f++)
        ok &= fabs(mr[f][0] - m[f]) < 1e-3;
    CHECK(ok, "EM recovers lambda=0.1 and m=(0.9,0.8,0.95) with u known "
          "(got %.4f; %.4f %.4f %.4f, %llu iterations)", l, mr[0][0],
          mr[1][0], mr[2][0], (unsigned long long)it);
    double mr2[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV] = {{0}};
    uint64_t it2;
    double l2 = pl_fs_em(&mo, &c, counts, 0, 2000, mr2, &it2);
    CHECK(l2 == l && memcmp(mr, mr2, sizeof mr) == 0 && it2 == it,
          "EM is deterministic");
    /* missing values are neutral: the same data with field 2 missing in
     * half the pairs gives the same m for fields 0 and 1 */
    double c2[27] = {0};
    for (uint32_t g = 0; g < G; g++) {
        uint8_t lev[3];
        pl_fs_decode(&c, g, lev);
        if (lev[2] == 2 || counts[g] == 0)
            continue;
        c2[g] += counts[g] / 2;
        c2[g - lev[2] * 9 + 2 * 9] += counts[g] / 2;
    }
    double mr3[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    l2 = pl_fs_em(&mo, &c, c2, 0, 2000, mr3, &it2);
    CHECK(fabs(mr3[0][0] - m[0]) < 2e-3 && fabs(mr3[1][0] - m[1]) < 2e-3 &&
              fabs(mr3[2][0] - m[2]) < 2e-3 && fabs(l2 - lambda) < 2e-3,
          "EM with missing values (neutral) still recovers m and lambda");
    /* weights */
    for (int f = 0; f < 3; f++) {
        mo.m[f][0] = m[f];
        mo.m[f][1] = 1 - m[f];
    }
    mo.lambda = 0.5;
    pl_fs_finish(&mo);
    CHECK(fabs(mo.w[0][0] - log2(0.9 / 0.05)) < 1e-12 && mo.prior_w == 0,
          "match weight of agreement = log2(m/u), prior log2(l/(1-l))");
}

typedef struct {
    uint64_t seen[16][2];
    int n;
} pairs_seen;

static int on_pair(const uint8_t *p, const uint8_t *q, void *ctx)
{
    pairs_seen *s = ctx;
    if (s->n < 16) {
        s->seen[s->n][0] = ((const pl_fs_hdr *)p)->id;
        s->seen[s->n][1] = ((const pl_fs_hdr *)q)->id;
    }
    s->n++;
    return 0;
}

static void set_rec(uint8_t *rec, uint64_t id, int side, int64_t a,
                    int64_t b)
{
    memset(rec, 0, sizeof(pl_fs_hdr) + 16);
    pl_fs_hdr *h = (pl_fs_hdr *)rec;
    h->id = id;
    h->side = (uint8_t)side;
    memcpy(rec + sizeof *h, &a, 8);
    memcpy(rec + sizeof *h + 8, &b, 8);
}

static void test_blocking(void)
{
    pl_linkage_cfg c;
    exact_cfg(&c, 2);
    c.n_rules = 2;
    c.rules[0].n_items = 1;
    c.rules[0].items[0].field = 0;
    c.rules[1].n_items = 1;
    c.rules[1].items[0].field = 1;
    size_t rs = pl_fs_recsize(&c);
    uint8_t P[3][sizeof(pl_fs_hdr) + 16],
        Q[1][sizeof(pl_fs_hdr) + 16];
    set_rec(P[0], 0, 0, 1, 1);  /* found by both rules: counted once */
    set_rec(P[1], 1, 0, 1, 2);  /* rule 0 only */
    set_rec(P[2], 2, 0, 2, 1);  /* rule 1 only */
    set_rec(Q[0], 7, 1, 1, 1);
    pairs_seen s = {{{0}}, 0};
    pl_bk_stats st = {0};
    int rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        pl_bk_params bp = {.rule = r, .dedup = 1, .rounds = 1};
        rc = pl_bk_run(MPI_COMM_WORLD, &c, &bp, &P[0][0], 3, &Q[0][0], 1,
                       on_pair, &s, &st);
    }
    int once = s.n == 3;
    for (int i = 0; i < s.n && i < 16; i++)
        for (int j = i + 1; j < s.n && j < 16; j++)
            once &= !(s.seen[i][0] == s.seen[j][0] &&
                      s.seen[i][1] == s.seen[j][1]);
    CHECK(rc == 0 && once && st.pairs == 3 && st.dups == 1,
          "blocking: a pair found by two rules is compared once, under the "
          "first (%d pairs, %llu skipped)", s.n, (unsigned long long)st.dups);
    (void)rs;
    /* a block above max_block is capped, and says so */
    c.max_block = 2;
    pairs_seen s2 = {{{0}}, 0};
    pl_bk_stats st2 = {0};
    uint8_t PP[5][sizeof(pl_fs_hdr) + 16];
    for (int i = 0; i < 5; i++)
        set_rec(PP[i], (uint64_t)i, 0, 1, i);
    pl_bk_params bp = {.rule = 0, .dedup = 1, .rounds = 1};
    rc = pl_bk_run(MPI_COMM_WORLD, &c, &bp, &PP[0][0], 5, &Q[0][0], 1,
                   on_pair, &s2, &st2);
    CHECK(rc == 0 && s2.n == 2 && st2.capped_blocks == 1 &&
              st2.capped_pairs == 3 && s2.seen[0][0] == 0 &&
              s2.seen[1][0] == 1,
          "blocking: a block of 5 with max_block 2 compares its first 2 "
          "persons (by row) and counts 3 pairs not compared");
    /* a pair left out by an earlier rule's cap is compared by a later
     * rule; a pair compared within the cap is still compared once */
    set_rec(PP[0], 0, 0, 1, 9);
    set_rec(PP[4], 4, 0, 1, 9);
    uint8_t Q9[sizeof(pl_fs_hdr) + 16];
    set_rec(Q9, 7, 1, 1, 9);
    pairs_seen s3 = {{{0}}, 0};
    pl_bk_stats st3 = {0};
    pl_bk_caps caps[2] = {{0}};
    rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        pl_bk_params bq = {.rule = r, .dedup = 1, .rounds = 1, .caps = caps};
        rc = pl_bk_run(MPI_COMM_WORLD, &c, &bq, &PP[0][0], 5, Q9, 1,
                       on_pair, &s3, &st3);
    }
    pl_bk_caps_free(caps, 2);
    CHECK(rc == 0 && s3.n == 3 && st3.dups == 1 && s3.seen[2][0] == 4,
          "blocking: a pair beyond an earlier rule's cap is compared under "
          "a later rule, one within it is not compared twice (%d pairs, "
          "%llu skipped)", s3.n, (unsigned long long)st3.dups);
    /* self (deduplication): the records of one source paired with each
     * other, row a < row b only, never a record with itself, each pair
     * once across rules; a capped block keeps its first max_block rows */
    c.max_block = 1000;
    uint8_t S[4][sizeof(pl_fs_hdr) + 16];
    set_rec(S[0], 10, 1, 1, 1);     /* 10-11 by both rules: once */
    set_rec(S[1], 11, 1, 1, 1);
    set_rec(S[2], 12, 1, 1, 5);     /* 10-12, 11-12 by rule 0 only */
    set_rec(S[3], 13, 1, 2, 5);     /* 12-13 by rule 1 only */
    pairs_seen s4 = {{{0}}, 0};
    pl_bk_stats st4 = {0};
    pl_bk_caps caps4[2] = {{0}};
    rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        pl_bk_params bq = {.rule = r, .dedup = 1, .rounds = 1,
                           .caps = caps4, .self = 1};
        rc = pl_bk_run(MPI_COMM_WORLD, &c, &bq, NULL, 0, &S[0][0], 4,
                       on_pair, &s4, &st4);
    }
    pl_bk_caps_free(caps4, 2);
    int ordered = s4.n == 4;
    for (int i = 0; i < s4.n && i < 16; i++) {
        ordered &= s4.seen[i][0] < s4.seen[i][1];
        for (int j = i + 1; j < s4.n && j < 16; j++)
            ordered &= !(s4.seen[i][0] == s4.seen[j][0] &&
                         s4.seen[i][1] == s4.seen[j][1]);
    }
    CHECK(rc == 0 && ordered && st4.pairs == 4 && st4.dups == 1,
          "blocking, self: pairs within one source, row a < row b, each "
          "once across rules (%d pairs, %llu skipped)", s4.n,
          (unsigned long long)st4.dups);
    c.max_block = 2;
    pairs_seen s5 = {{{0}}, 0};
    pl_bk_stats st5 = {0};
    pl_bk_params b5 = {.rule = 0, .dedup = 1, .rounds = 1, .self = 1};
    rc = pl_bk_run(MPI_COMM_WORLD, &c, &b5, NULL, 0, &S[0][0], 3, on_pair,
                   &s5, &st5);
    CHECK(rc == 0 && s5.n == 1 && s5.seen[0][0] == 10 &&
              s5.seen[0][1] == 11 && st5.capped_blocks == 1 &&
              st5.capped_pairs == 2,
          "blocking, self: a block of 3 with max_block 2 compares its first "
          "2 rows once and counts 2 pairs not compared");
    /* the key ignores what the rule does not name, and missing excludes */
    uint8_t a[sizeof(pl_fs_hdr) + 16], b[sizeof a];
    set_rec(a, 1, 0, 5, 6);
    set_rec(b, 2, 1, 5, 9);
    CHECK(pl_bk_key(&c, &c.rules[0], a) == pl_bk_key(&c, &c.rules[0], b) &&
              pl_bk_key(&c, &c.rules[1], a) != pl_bk_key(&c, &c.rules[1], b),
          "blocking key: equal values, equal keys");
    ((pl_fs_hdr *)a)->missing = 1;
    CHECK(pl_bk_key(&c, &c.rules[0], a) == 0,
          "blocking key: a missing value puts the record in no block");
}

static void set_rec3(uint8_t *rec, uint64_t id, int side, int64_t a,
                     int64_t b, int64_t d)
{
    memset(rec, 0, sizeof(pl_fs_hdr) + 24);
    pl_fs_hdr *h = (pl_fs_hdr *)rec;
    h->id = id;
    h->side = (uint8_t)side;
    memcpy(rec + sizeof *h, &a, 8);
    memcpy(rec + sizeof *h + 8, &b, 8);
    memcpy(rec + sizeof *h + 16, &d, 8);
}

/* A block above max_block split by a further key; dedup on the leaves. */
static void test_split(void)
{
    pl_linkage_cfg c;
    exact_cfg(&c, 3);
    c.max_block = 2;
    c.n_rules = 2;
    c.rules[0].n_items = 1;             /* f0, split by f1 */
    c.rules[0].items[0].field = 0;
    c.rules[0].n_split = 1;
    c.rules[0].split[0].field = 1;
    c.rules[1].n_items = 1;             /* f2 */
    c.rules[1].items[0].field = 2;
    enum { RS = sizeof(pl_fs_hdr) + 24 };
    uint8_t P[5][RS], Q[1][RS];
    set_rec3(P[0], 0, 0, 1, 0, 9);      /* A: block f0=1, leaf f1=0 */
    set_rec3(P[1], 1, 0, 1, 1, 5);      /* B, C, E: leaf f1=1, capped to */
    set_rec3(P[2], 2, 0, 1, 1, 6);      /*   B, C */
    set_rec3(P[3], 3, 0, 1, 0, 7);      /* D: leaf f1=0 */
    set_rec3(P[4], 4, 0, 1, 1, 5);      /* E */
    set_rec3(Q[0], 9, 1, 1, 1, 9);      /* with B, C under rule 0; with A
                                           (same f0, another leaf) and
                                           nobody else under rule 1 */
    pairs_seen s = {{{0}}, 0};
    pl_bk_stats st[2] = {{0}};
    pl_bk_caps caps[2] = {{0}};
    int rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        pl_bk_params bp = {.rule = r, .dedup = 1, .split = 1, .rounds = 1,
                           .caps = caps};
        rc = pl_bk_run(MPI_COMM_WORLD, &c, &bp, &P[0][0], 5, &Q[0][0], 1,
                       on_pair, &s, &st[r]);
    }
    pl_bk_caps_free(caps, 2);
    CHECK(rc == 0 && s.n == 3 && s.seen[0][0] == 1 && s.seen[1][0] == 2 &&
              s.seen[2][0] == 0 && st[0].split_blocks == 1 &&
              st[0].capped_blocks == 1 && st[0].capped_pairs == 3,
          "split: a block of 5 persons (max_block 2) split by a further "
          "key; the leaf of 3 capped to its first 2; 3 pairs not compared "
          "(%d pairs, %llu split, %llu capped, %llu not compared)", s.n,
          (unsigned long long)st[0].split_blocks,
          (unsigned long long)st[0].capped_blocks,
          (unsigned long long)st[0].capped_pairs);
    CHECK(rc == 0 && st[1].pairs == 1 && st[1].dups == 0,
          "split: a pair sharing an earlier rule's block key but not its "
          "leaf is compared by the later rule (%llu pairs, %llu skipped)",
          (unsigned long long)st[1].pairs, (unsigned long long)st[1].dups);
    /* without .split the same block is capped only */
    pairs_seen s2 = {{{0}}, 0};
    pl_bk_stats st2 = {0};
    pl_bk_params bp = {.rule = 0, .dedup = 1, .rounds = 1};
    rc = pl_bk_run(MPI_COMM_WORLD, &c, &bp, &P[0][0], 5, &Q[0][0], 1,
                   on_pair, &s2, &st2);
    CHECK(rc == 0 && s2.n == 2 && st2.split_blocks == 0 &&
              st2.capped_blocks == 1 && s2.seen[0][0] == 0,
          "split off: the block is capped to its first 2 persons");
}

/* Stored records (names as dictionary indices, fellegi.h) route and pair
 * exactly as the records they stand for: the same pairs, in the same
 * order, with the same bytes, under split and dedup. */
typedef struct {
    uint64_t h;                 /* running hash of every pair's bytes */
    uint64_t n;
    size_t   rs;
} pair_digest;

static int digest_pair(const uint8_t *p, const uint8_t *q, void *ctx)
{
    pair_digest *d = ctx;
    d->h = pl_hash64(p, d->rs, d->h);
    d->h = pl_hash64(q, d->rs, d->h);
    d->n++;
    return 0;
}

static uint64_t rnd_state = 0x853c49e6748fea9bull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void test_stored(void)
{
    pl_linkage_cfg c;
    exact_cfg(&c, 4);           /* name, exact, name, exact */
    c.fields[0].kind = PL_CMP_NAME;
    c.fields[2].kind = PL_CMP_NAME;
    c.max_block = 3;
    c.n_rules = 2;
    c.rules[0].n_items = 1;     /* name 0's phonetic key, split by f1 */
    c.rules[0].items[0].field = 0;
    c.rules[0].items[0].xform = PL_BK_PHONETIC;
    c.rules[0].n_split = 1;
    c.rules[0].split[0].field = 1;
    c.rules[1].n_items = 2;     /* name 2 as it is + f3 */
    c.rules[1].items[0].field = 2;
    c.rules[1].items[0].xform = PL_BK_VALUE;
    c.rules[1].items[1].field = 3;
    pl_fs_layout L;
    pl_fs_layout_of(&c, &L);
    enum { NP = 300, NQ = 200, N = NP + NQ };
    static const char *const first[] = {"MARTIN", "MARTAIN", "BERNARD",
                                        "DUBOIS", "DUBOYS", "PETIT", "",
                                        "DURAND", "LEROY"};
    uint8_t *routed = calloc(N, L.rs), *stored = calloc(N, L.srs);
    pl_fs_dict dict[PL_LK_MAX_FIELDS];
    memset(dict, 0, sizeof dict);
    int same = 1;
    for (size_t i = 0; i < N; i++) {
        uint8_t *r = routed + i * L.rs, *st = stored + i * L.srs;
        pl_fs_hdr *h = (pl_fs_hdr *)r;
        h->id = i < NP ? i : i - NP;
        h->side = i >= NP;
        for (size_t f = 0; f < 4; f++) {
            if (c.fields[f].kind == PL_CMP_NAME) {
                pl_fs_name nm;
                memset(&nm, 0, sizeof nm);
                const char *v = first[rnd() % 9];
                memcpy(nm.s, v, strlen(v));
                nm.ph = strlen(v) ? pl_fs_phonetic(v, strlen(v)) : 0;
                nm.tf = (float)strlen(v) / 16.0f;   /* a function of s */
                if (!v[0])
                    h->missing |= 1u << f;
                memcpy(r + L.off[f], &nm, sizeof nm);
                uint32_t id = pl_fs_dict_add(&dict[f], &nm);
                memcpy(st + L.soff[f], &id, 4);
                memcpy(st + L.soff[f] + PL_FS_ID_PH, &nm.ph, 4);
            } else {
                int64_t x = (int64_t)(rnd() % 3) + 1;
                memcpy(r + L.off[f], &x, 8);
                memcpy(st + L.soff[f], &x, 8);
            }
        }
        memcpy(st, r, sizeof(pl_fs_hdr));
        uint8_t back[256];
        pl_fs_expand(&L, dict, st, back);
        same &= memcmp(back, r, L.rs) == 0;
    }
    CHECK(same && dict[0].n == 9 && L.srs < L.rs,
          "stored records: pl_fs_expand gives each routed record byte for "
          "byte; the dictionary keeps 9 distinct values (%zu); %zu bytes "
          "at rest for %zu routed", dict[0].n, L.srs, L.rs);
    pair_digest d[2] = {{0, 0, L.rs}, {0, 0, L.rs}};
    uint64_t dups[2] = {0, 0}, split[2] = {0, 0};
    int rc = 0;
    for (int mode = 0; mode < 2 && rc == 0; mode++) {
        const uint8_t *base = mode ? stored : routed;
        size_t sz = mode ? L.srs : L.rs;
        pl_bk_caps caps[2] = {{0}};
        for (int r = 0; r < 2 && rc == 0; r++) {
            pl_bk_params bp = {.rule = r, .dedup = 1, .split = 1,
                               .rounds = 2, .caps = caps,
                               .dict = mode ? dict : NULL};
            pl_bk_stats st = {0};
            rc = pl_bk_run(MPI_COMM_WORLD, &c, &bp, base, NP, base + NP * sz,
                           NQ, digest_pair, &d[mode], &st);
            dups[mode] += st.dups;
            split[mode] += st.split_blocks;
        }
        pl_bk_caps_free(caps, 2);
    }
    pl_bk_release();
    CHECK(rc == 0 && d[0].n > 100 && d[0].n == d[1].n && d[0].h == d[1].h &&
              dups[0] == dups[1] && split[0] > 0 && split[0] == split[1],
          "stored records pair as their routed records: %llu and %llu pairs, "
          "the same bytes in the same order, %llu and %llu found twice, "
          "%llu split blocks", (unsigned long long)d[0].n,
          (unsigned long long)d[1].n, (unsigned long long)dups[0],
          (unsigned long long)dups[1], (unsigned long long)split[0]);
    for (size_t f = 0; f < PL_LK_MAX_FIELDS; f++)
        pl_fs_dict_free(&dict[f]);
    CHECK(dict[0].v == NULL && dict[0].n == 0,
          "pl_fs_dict_free releases and clears the dictionary");
    free(routed);
    free(stored);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_strsim();
    test_norm_modes();
    test_em();
    test_blocking();
    test_split();
    test_stored();
    MPI_Finalize();
    return unit_done();
}
