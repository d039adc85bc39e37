/* test_bloom.c — keyed Bloom-filter encodings (crypto/bloom.h):
 *   - normalisation: case, accents, ligatures, separators, other scripts
 *     kept, invalid UTF-8 (truncated, overlong, surrogate) refused;
 *   - field keys: parameter checks, different secret / field name / salt
 *     give different filters, same inputs the same filter;
 *   - q-grams: a value with n code points sets at most k * (n + q - 1)
 *     bits (padded), spellings that normalise alike encode alike, a value
 *     that normalises to nothing sets no bit, two HMAC blocks for k > 16;
 *   - hardening: balanced filters have weight exactly m of 2m, the
 *     permutation is one, XOR-folding is b[i] ^ b[i + m/2], bad widths
 *     refused;
 *   - similarity: a one-letter typo keeps a high Dice, another name a low
 *     one.
 * `test_bloom --vectors` prints encodings of fixed inputs and
 * `test_bloom --normalise-table` the normalisation of U+0020..U+017F and a
 * few others, for tests/e2e/pprl_vectors.py to recompute from
 * docs/PPRL.md with Python's hmac and hashlib.
 */
#include "crypto/bloom.h"
#include "crypto/dice.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static uint8_t SECRET[32];

static void hexprint(const char *label, const void *p, size_t n)
{
    const uint8_t *b = p;
    printf(" %s=", label);
    if (!n)
        printf("-");
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static const char *norm(const char *s)
{
    static char out[256];
    long n = pl_pprl_normalise(s, strlen(s), out, sizeof out);
    return n < 0 ? "(error)" : out;
}

static void test_normalise(void)
{
    CHECK(strcmp(norm("Jean-Pierre"), "jeanpierre") == 0, "hyphen removed, case folded");
    CHECK(strcmp(norm("D\xe2\x80\x99" "Artagnan"), "dartagnan") == 0 &&
              strcmp(norm("d'artagnan"), "dartagnan") == 0 &&
              strcmp(norm("D\xca\xbc" "ARTAGNAN"), "dartagnan") == 0,
          "apostrophes ' U+2019 U+02BC removed");
    CHECK(strcmp(norm("Le Gall"), "legall") == 0 &&
              strcmp(norm(" le\xc2\xa0gall. "), "legall") == 0,
          "spaces, no-break space, dots removed");
    CHECK(strcmp(norm("\xc3\x89lo\xc3\xafse"), "eloise") == 0, "accents folded (Eloise)");
    CHECK(strcmp(norm("\xc5\x92UVRE \xc3\x86sop"), "oeuvreaesop") == 0,
          "ligatures oe, ae");
    CHECK(strcmp(norm("Stra\xc3\x9f" "e"), "strasse") == 0, "sharp s -> ss");
    CHECK(strcmp(norm("\xc5\x81ukasz \xc3\x91\xc3\xba\xc3\xb1" "ez"), "lukasznunez") == 0,
          "Latin Extended-A and Latin-1 letters folded");
    CHECK(strcmp(norm("\xce\xa9mega 12"), "\xce\xa9mega12") == 0,
          "other scripts kept as they are, digits kept");
    CHECK(strcmp(norm("E\xcc\x81lo\xc3\xafse"), "eloise") == 0 &&
              strcmp(norm("Elo\xc3\xafse"), norm("Elo\x69\xcc\x88se")) == 0,
          "NFD input (combining marks) encodes as NFC input does");
    CHECK(strcmp(norm("\xc8\x98tef\xc4\x83nescu \xc8\x9b"), "stefanescut") == 0,
          "Romanian S and T comma (U+0218..U+021B) folded to s, t");
    CHECK(strcmp(norm("a\xc2\x85" "b"), "ab") == 0, "C1 controls removed");
    char out[16];
    CHECK(pl_pprl_normalise("ab\xc3", 3, out, sizeof out) == -1,
          "truncated UTF-8 refused");
    CHECK(pl_pprl_normalise("\xc0\xaf", 2, out, sizeof out) == -1 &&
              pl_pprl_normalise("\xe0\x80\xaf", 3, out, sizeof out) == -1,
          "overlong UTF-8 refused");
    CHECK(pl_pprl_normalise("\xed\xa0\x80", 3, out, sizeof out) == -1 &&
              pl_pprl_normalise("\xf4\x90\x80\x80", 4, out, sizeof out) == -1,
          "surrogates and code points above U+10FFFF refused");
    CHECK(pl_pprl_normalise("abc", 3, out, 3) == -1,
          "an output buffer shorter than len + 1 refused");
}

static int weight(const uint64_t *f, size_t w) { return (int)pl_popcount(f, w); }

static void test_encode(void)
{
    pl_bloom_field f, g;
    CHECK(pl_bloom_field_init(&f, SECRET, 16, "surname", 20, 2, 1) == -1,
          "a linkage secret under 32 bytes refused");
    CHECK(pl_bloom_field_init(&f, SECRET, 32, "surname", 0, 2, 1) == -1 &&
              pl_bloom_field_init(&f, SECRET, 32, "surname", 65, 2, 1) == -1 &&
              pl_bloom_field_init(&f, SECRET, 32, "surname", 20, 9, 1) == -1 &&
              pl_bloom_field_init(&f, SECRET, 32, "", 20, 2, 1) == -1,
          "k outside 1..64, q outside 1..8, an empty field name refused");
    int r = pl_bloom_field_init(&f, SECRET, 32, "surname", 20, 2, 1);
    CHECK(r == 0, "field key derived");
    uint64_t a[16] = {0}, b[16] = {0}, c[16] = {0};
    pl_bloom_add(&f, a, 1024, "Dupont", 6, NULL, 0);
    pl_bloom_add(&f, b, 1024, "DUPONT", 6, NULL, 0);
    CHECK(memcmp(a, b, sizeof a) == 0, "same normalised value, same filter");
    int wa = weight(a, 16);
    CHECK(wa > 100 && wa <= 20 * 7,
          "dupont: 7 padded bigrams x 20 positions set %d bits (<= 140)", wa);
    pl_bloom_add(&f, c, 1024, "Dupont", 6, (const uint8_t *)"1985", 4);
    CHECK(memcmp(a, c, sizeof a) != 0 && pl_dice(a, c, 16) < 0.4,
          "a salt changes the whole filter (dice %.3f)", pl_dice(a, c, 16));
    memset(c, 0, sizeof c);
    SECRET[0] ^= 1;
    pl_bloom_field_init(&g, SECRET, 32, "surname", 20, 2, 1);
    SECRET[0] ^= 1;
    pl_bloom_add(&g, c, 1024, "Dupont", 6, NULL, 0);
    CHECK(pl_dice(a, c, 16) < 0.4, "another secret, another filter (dice %.3f)",
          pl_dice(a, c, 16));
    pl_bloom_field_wipe(&g);
    memset(c, 0, sizeof c);
    pl_bloom_field_init(&g, SECRET, 32, "firstname", 20, 2, 1);
    pl_bloom_add(&g, c, 1024, "Dupont", 6, NULL, 0);
    CHECK(pl_dice(a, c, 16) < 0.4, "another field name, another key (dice %.3f)",
          pl_dice(a, c, 16));
    pl_bloom_field_wipe(&g);
    memset(b, 0, sizeof b);
    pl_bloom_add(&f, b, 1024, "Dupond", 6, NULL, 0);
    memset(c, 0, sizeof c);
    pl_bloom_add(&f, c, 1024, "Martin", 6, NULL, 0);
    CHECK(pl_dice(a, b, 16) > 0.65 && pl_dice(a, c, 16) < 0.35,
          "dice(dupont, dupond) = %.3f high, dice(dupont, martin) = %.3f low",
          pl_dice(a, b, 16), pl_dice(a, c, 16));
    memset(b, 0, sizeof b);
    r = pl_bloom_add(&f, b, 1024, " -' ", 4, NULL, 0);
    CHECK(r == 0 && weight(b, 16) == 0,
          "a value that normalises to nothing sets no bit");
    CHECK(pl_bloom_add(&f, b, 1000, "x", 1, NULL, 0) == -1 &&
              pl_bloom_add(&f, b, 0, "x", 1, NULL, 0) == -1,
          "a width that is not a multiple of 64 refused");
    CHECK(pl_bloom_add(&f, b, 1024, "ab\xff", 3, NULL, 0) == -1,
          "invalid UTF-8 refused");
    uint8_t salt[40] = {0};
    CHECK(pl_bloom_add(&f, b, 1024, "x", 1, salt, 33) == -1,
          "a salt over 32 bytes refused");
    pl_bloom_field_wipe(&f);
    uint8_t id1[16], id2[16];
    int r1 = pl_bloom_secret_id(SECRET, 32, id1);
    SECRET[31] ^= 0x80;
    int r2 = pl_bloom_secret_id(SECRET, 32, id2);
    SECRET[31] ^= 0x80;
    CHECK(r1 == 0 && r2 == 0 && memcmp(id1, id2, 16) != 0,
          "secret identifiers differ for secrets one bit apart");
    /* k > 16: positions from a second HMAC block */
    pl_bloom_field_init(&f, SECRET, 32, "surname", 64, 1, 0);
    memset(b, 0, sizeof b);
    pl_bloom_add(&f, b, 1024, "a", 1, NULL, 0);
    int wb = weight(b, 16);
    CHECK(wb > 55 && wb <= 64, "k = 64, one unigram: %d distinct positions", wb);
    pl_bloom_field_wipe(&f);
    /* a value shorter than q without padding is one gram */
    pl_bloom_field_init(&f, SECRET, 32, "surname", 10, 3, 0);
    memset(b, 0, sizeof b);
    pl_bloom_add(&f, b, 1024, "ab", 2, NULL, 0);
    CHECK(weight(b, 16) > 5 && weight(b, 16) <= 10,
          "a value shorter than q, unpadded: one gram");
    pl_bloom_field_wipe(&f);
}

static void test_harden(void)
{
    pl_bloom_hardening h;
    /* (CHECK evaluates its condition twice: no side effects in it) */
    int r = pl_bloom_hardening_init(&h, SECRET, 32, 1024, PL_BLOOM_BALANCE);
    CHECK(r == 0 && h.out_bits == 2048, "balancing: 1024 -> 2048 bits");
    int perm = 1;
    char *seen = calloc(2048, 1);
    for (size_t i = 0; i < 2048; i++)
        perm &= h.perm[i] < 2048 && !seen[h.perm[i]]++;
    CHECK(perm, "the balancing permutation is a permutation of 0..2047");
    free(seen);
    uint64_t in[16], out[32];
    int exact = 1;
    for (int t = 0; t < 50; t++) {
        for (int w = 0; w < 16; w++)
            in[w] = (uint64_t)rand() * rand() * (t % 3 ? 1 : 0);
        pl_bloom_harden(&h, in, out);
        exact &= weight(out, 32) == 1024;
    }
    CHECK(exact, "every balanced filter has weight exactly 1024 of 2048");
    pl_bloom_hardening_free(&h);
    r = pl_bloom_hardening_init(&h, SECRET, 32, 1024, PL_BLOOM_XOR_FOLD);
    CHECK(r == 0 && h.out_bits == 512, "XOR-folding: 1024 -> 512 bits");
    for (int w = 0; w < 16; w++)
        in[w] = (uint64_t)rand() << 32 | (uint64_t)rand();
    pl_bloom_harden(&h, in, out);
    int fold = 1;
    for (int w = 0; w < 8; w++)
        fold &= out[w] == (in[w] ^ in[w + 8]);
    CHECK(fold, "folded bit i = bit i xor bit i + 512");
    pl_bloom_hardening_free(&h);
    r = pl_bloom_hardening_init(&h, SECRET, 32, 1024,
                                PL_BLOOM_XOR_FOLD | PL_BLOOM_BALANCE);
    CHECK(r == 0 && h.out_bits == 1024,
          "folding then balancing: 1024 -> 1024 bits");
    pl_bloom_hardening_free(&h);
    CHECK(pl_bloom_hardening_init(&h, SECRET, 32, 64, PL_BLOOM_XOR_FOLD) == -1 &&
              pl_bloom_hardening_init(&h, SECRET, 32, 100, 0) == -1 &&
              pl_bloom_hardening_init(&h, SECRET, 32, 1024, 4) == -1 &&
              pl_bloom_hardening_init(&h, SECRET, 8, 1024, PL_BLOOM_BALANCE) == -1,
          "bad widths, unknown flags, a short secret refused");
}

/* ---- vectors for tests/e2e/pprl_vectors.py ------------------------------ */

typedef struct {
    const char *name;
    unsigned k, q;
    int pad;
    const char *value;
} vfield;

typedef struct {
    size_t bits;
    const char *salt;
    unsigned flags;
    vfield f[2];
} vector;

static const vector VECTORS[] = {
    {1024, "", 0, {{"surname", 20, 2, 1, "Dupont"}, {0}}},
    {1024, "1985", 0, {{"surname", 20, 2, 1, "Dupont"}, {0}}},
    {64, "", 0, {{"surname", 3, 2, 1, "Li"}, {0}}},
    {512, "", PL_BLOOM_XOR_FOLD, {{"surname", 10, 2, 1, "Le Gall-Herv\xc3\xa9"}, {0}}},
    {1024, "1970", PL_BLOOM_BALANCE, {{"surname", 20, 2, 1, "D\xe2\x80\x99" "Artagnan"}, {0}}},
    {1024, "", PL_BLOOM_XOR_FOLD | PL_BLOOM_BALANCE,
     {{"firstname", 30, 3, 0, "\xc3\x89lo\xc3\xafse \xc5\x92uvre"}, {0}}},
    {1024, "1970", 0, {{"surname", 15, 2, 1, "Martin"}, {"firstname", 10, 2, 1, "Zo\xc3\xa9"}}},
    {256, "", 0, {{"city", 8, 2, 1, "\xce\xa9mega"}, {0}}},
    {128, "", 0, {{"surname", 8, 2, 1, " -' "}, {0}}},
};

static void print_vectors(void)
{
    uint8_t id[16];
    pl_bloom_secret_id(SECRET, sizeof SECRET, id);
    printf("secret-id");
    hexprint("secret", SECRET, sizeof SECRET);
    hexprint("id", id, sizeof id);
    printf("\n");
    for (size_t v = 0; v < sizeof VECTORS / sizeof *VECTORS; v++) {
        const vector *x = &VECTORS[v];
        uint64_t f[PL_BLOOM_BITS_MAX / 64] = {0}, out[2 * PL_BLOOM_BITS_MAX / 64];
        printf("vector %zu", v);
        hexprint("secret", SECRET, sizeof SECRET);
        printf(" bits=%zu flags=%u", x->bits, x->flags);
        hexprint("salt", x->salt, strlen(x->salt));
        for (int i = 0; i < 2 && x->f[i].name; i++) {
            const vfield *y = &x->f[i];
            pl_bloom_field fl;
            pl_bloom_field_init(&fl, SECRET, sizeof SECRET, y->name, y->k, y->q, y->pad);
            pl_bloom_add(&fl, f, x->bits, y->value, strlen(y->value),
                         (const uint8_t *)x->salt, strlen(x->salt));
            pl_bloom_field_wipe(&fl);
            printf(" field=%s,%u,%u,%d,", y->name, y->k, y->q, y->pad);
            for (const char *c = y->value; *c; c++)
                printf("%02x", (unsigned char)*c);
            if (!*y->value)
                printf("-");
        }
        size_t ob = x->bits;
        if (x->flags) {
            pl_bloom_hardening h;
            pl_bloom_hardening_init(&h, SECRET, sizeof SECRET, x->bits, x->flags);
            pl_bloom_harden(&h, f, out);
            ob = h.out_bits;
            pl_bloom_hardening_free(&h);
        } else {
            memcpy(out, f, x->bits / 8);
        }
        /* filters are little-endian words: position p = byte p/8, bit p%8 */
        uint8_t bytes[2 * PL_BLOOM_BITS_MAX / 8];
        for (size_t i = 0; i < ob / 8; i++)
            bytes[i] = (uint8_t)(out[i / 8] >> (8 * (i % 8)));
        hexprint("filter", bytes, ob / 8);
        printf("\n");
    }
}

static void print_table(void)
{
    static const unsigned extra[] = {0x2010, 0x2013, 0x2015, 0x2016, 0x2018,
                                     0x2019, 0x201c, 0x2bc, 0x3a9, 0x4e2d,
                                     0x1e9e, 0x1f600, 0x217, 0x218, 0x219,
                                     0x21a, 0x21b, 0x21c, 0x2ff, 0x300,
                                     0x301, 0x308, 0x327, 0x36f, 0x370};
    for (unsigned i = 0; i < 0x180 - 0x20 + sizeof extra / sizeof *extra; i++) {
        unsigned cp = i < 0x180 - 0x20 ? i + 0x20 : extra[i - (0x180 - 0x20)];
        if (cp == 0x7f)
            continue;                   /* DEL (a control, removed) */
        char in[5], out[8];
        size_t l;
        if (cp < 0x80)
            in[0] = (char)cp, l = 1;
        else if (cp < 0x800)
            in[0] = (char)(0xc0 | cp >> 6), in[1] = (char)(0x80 | (cp & 63)), l = 2;
        else if (cp < 0x10000)
            in[0] = (char)(0xe0 | cp >> 12), in[1] = (char)(0x80 | (cp >> 6 & 63)),
            in[2] = (char)(0x80 | (cp & 63)), l = 3;
        else
            in[0] = (char)(0xf0 | cp >> 18), in[1] = (char)(0x80 | (cp >> 12 & 63)),
            in[2] = (char)(0x80 | (cp >> 6 & 63)), in[3] = (char)(0x80 | (cp & 63)), l = 4;
        long n = pl_pprl_normalise(in, l, out, sizeof out);
        printf("%04x ", cp);
        if (n <= 0)
            printf("-");
        for (long j = 0; j < n; j++)
            printf("%02x", (unsigned char)out[j]);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    for (int i = 0; i < 32; i++)
        SECRET[i] = (uint8_t)i;
    if (argc > 1 && strcmp(argv[1], "--vectors") == 0) {
        print_vectors();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--normalise-table") == 0) {
        print_table();
        return 0;
    }
    test_normalise();
    test_encode();
    test_harden();
    return unit_done();
}
