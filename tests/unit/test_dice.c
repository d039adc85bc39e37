/* test_dice.c — Dice of Bloom filters (crypto/dice.h), for every popcount
 * kernel this CPU runs (the others are reported as skipped):
 *   - each kernel's count and and_count equal a bit-by-bit reference on
 *     random filters of 1..40 words (1024 bits = 16 and its neighbours),
 *     strides equal to and larger than the width, batch sizes around the
 *     8-candidate groups of the AVX-512 kernel and the 256-candidate chunks
 *     of the batch, filters of every density (0, all ones, 25%, 50%);
 *   - pl_dice_batch and pl_dice_batch_levels give byte-identical scores and
 *     levels with every kernel, with and without the candidates' counts;
 *   - known values (identical, disjoint, empty, 2*3/(4+5)) and the levels'
 *     boundaries;
 *   - the fallback can be forced (pl_dice_use("portable")); unknown names
 *     refused.
 * `test_dice --active` prints the kernel in use (tests/e2e/pprl.sh checks
 * the PSEUDOLINK_POPCOUNT override with it).
 */
#include "crypto/dice.h"
#include "unit.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const char *const KERNELS[] = {"portable", "popcnt", "avx512"};
enum { NK = 3, MAXW = 40, MAXN = 600 };

/* Reference: Kernighan's loop, one bit at a time (independent of every
 * kernel's method). */
static uint32_t ref_count(const uint64_t *a, const uint64_t *b, size_t w)
{
    uint32_t s = 0;
    for (size_t i = 0; i < w; i++)
        for (uint64_t x = a[i] & (b ? b[i] : ~0ULL); x; x &= x - 1)
            s++;
    return s;
}

static uint64_t *cands;
static uint64_t q[MAXW];

/* xorshift64, seeded from RAND_bytes (fast: the kernels see ~10^7 words) */
static uint64_t rs;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

/* density: 0 zero, 1 ones, 2 25%, 3 50% */
static void fill(uint64_t *p, size_t n, int density)
{
    for (size_t i = 0; i < n; i++)
        p[i] = density == 0 ? 0 : density == 1 ? ~0ULL
               : density == 2 ? rnd() & rnd() : rnd();
}

static void test_kernel(const pl_dice_kernel *k)
{
    static const size_t WS[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 32, 33, 40};
    static const size_t NS[] = {0, 1, 7, 8, 9, 16, 17, 255, 256, 257, MAXN};
    int ok_c = 1, ok_a = 1;
    uint32_t *out = malloc(MAXN * sizeof *out);
    for (int density = 0; density < 4; density++)
        for (size_t wi = 0; wi < sizeof WS / sizeof *WS; wi++)
            for (size_t extra = 0; extra <= 3; extra += 3) {
                size_t w = WS[wi], stride = w + extra;
                fill(cands, stride * MAXN, density);
                fill(q, MAXW, density == 1 ? 3 : density);
                for (size_t ni = 0; ni < sizeof NS / sizeof *NS; ni++) {
                    size_t n = NS[ni];
                    memset(out, 0xAB, MAXN * sizeof *out);
                    k->count(cands, w, stride, n, out);
                    for (size_t i = 0; i < n; i++)
                        ok_c &= out[i] == ref_count(cands + i * stride, NULL, w);
                    ok_c &= n == MAXN || out[n] == 0xABABABABu;
                    memset(out, 0xAB, MAXN * sizeof *out);
                    k->and_count(q, cands, w, stride, n, out);
                    for (size_t i = 0; i < n; i++)
                        ok_a &= out[i] == ref_count(q, cands + i * stride, w);
                    ok_a &= n == MAXN || out[n] == 0xABABABABu;
                }
            }
    CHECK(ok_c, "%s: count equals the bit-by-bit reference (1..40 words, "
                "strides, 0..600 filters, every density)", k->name);
    CHECK(ok_a, "%s: and_count equals the bit-by-bit reference", k->name);
    free(out);
}

/* Scores and levels of every runnable kernel, byte for byte. */
static void test_same_results(void)
{
    enum { N = 1000, W = 16 };
    static const double T[3] = {0.9, 0.75, 0.5};
    uint64_t *c = malloc(N * W * 8);
    uint64_t qq[W];
    fill(c, N * W, 2);
    fill(qq, W, 2);
    /* some candidates close to the query, so every level is used */
    for (int i = 0; i < N; i += 3)
        for (int w = 0; w < W; w++) {
            uint64_t noise = ~0ULL;         /* flips 1/2 .. 1/64 of bits */
            for (int j = 0; j <= (i / 3) % 6; j++)
                noise &= rnd();
            c[i * W + w] = qq[w] ^ noise;
        }
    memset(c + 5 * W, 0, W * 8);                        /* an empty one */
    uint32_t cnt[N];
    double ref[N], got[N], got2[N];
    uint8_t lref[N], lgot[N];
    pl_dice_use("portable");
    pl_dice_active()->count(c, W, W, N, cnt);
    pl_dice_batch(qq, c, W, W, N, NULL, ref);
    pl_dice_batch_levels(qq, c, W, W, N, cnt, T, 3, lref, NULL);
    int used[4] = {0};
    for (int i = 0; i < N; i++)
        used[lref[i]]++;
    CHECK(used[0] && used[1] && used[2] && used[3],
          "test data reaches all 4 levels (%d %d %d %d)", used[0], used[1],
          used[2], used[3]);
    int lv = 1;
    for (int i = 0; i < N; i++)
        lv &= lref[i] == pl_dice_level(ref[i], T, 3) &&
              (lref[i] == 0 ? ref[i] >= 0.9
               : lref[i] == 1 ? ref[i] < 0.9 && ref[i] >= 0.75
               : lref[i] == 2 ? ref[i] < 0.75 && ref[i] >= 0.5
                              : ref[i] < 0.5);
    CHECK(lv, "levels: 0 >= t0 > 1 >= t1 > 2 >= t2 > 3");
    for (int k = 1; k < NK; k++) {
        if (pl_dice_use(KERNELS[k])) {
            printf("skip - %s: not supported by this CPU\n", KERNELS[k]);
            continue;
        }
        pl_dice_batch(qq, c, W, W, N, NULL, got);
        pl_dice_batch(qq, c, W, W, N, cnt, got2);
        CHECK(memcmp(ref, got, sizeof ref) == 0 &&
                  memcmp(ref, got2, sizeof ref) == 0,
              "%s: pl_dice_batch scores byte-identical to portable (with and "
              "without counts)", KERNELS[k]);
        double d2[N];
        pl_dice_batch_levels(qq, c, W, W, N, NULL, T, 3, lgot, d2);
        CHECK(memcmp(lref, lgot, sizeof lref) == 0 &&
                  memcmp(ref, d2, sizeof ref) == 0,
              "%s: pl_dice_batch_levels identical to portable", KERNELS[k]);
        CHECK(pl_dice(qq, c + 7 * W, W) == ref[7] &&
                  pl_popcount(qq, W) == ref_count(qq, NULL, W),
              "%s: pl_dice and pl_popcount agree with the batch", KERNELS[k]);
    }
    free(c);
}

static void test_values(void)
{
    uint64_t a[16] = {0}, b[16] = {0};
    CHECK(pl_dice(a, b, 16) == 0.0, "dice of two empty filters is 0");
    a[0] = 0xF;                                     /* 4 bits */
    b[0] = 0x7;
    b[15] = 0x3ULL << 62;                           /* 3 common + 2 = 5 */
    CHECK(pl_dice(a, b, 16) == 2.0 * 3 / 9, "dice = 2*3/(4+5)");
    CHECK(pl_dice(a, a, 16) == 1.0, "dice of a filter with itself is 1");
    memset(b, 0, sizeof b);
    b[9] = 1;
    CHECK(pl_dice(a, b, 16) == 0.0, "dice of disjoint filters is 0");
    static const double T[2] = {0.9, 0.7};
    CHECK(pl_dice_level(1.0, T, 2) == 0 && pl_dice_level(0.9, T, 2) == 0 &&
              pl_dice_level(0.8999, T, 2) == 1 &&
              pl_dice_level(0.7, T, 2) == 1 &&
              pl_dice_level(0.69, T, 2) == 2 && pl_dice_level(0, T, 2) == 2,
          "level boundaries: a score equal to a threshold is in the upper "
          "level");
    CHECK(pl_dice_level(0.5, T, 0) == 0, "no thresholds: one level");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--active") == 0) {
        printf("%s\n", pl_dice_active()->name);
        return 0;
    }
    cands = malloc(MAXN * (MAXW + 3) * 8);
    RAND_bytes((unsigned char *)&rs, sizeof rs);
    rs |= 1;
    const char *def = pl_dice_active()->name;
    for (int k = 0; k < NK; k++) {
        const pl_dice_kernel *kk = pl_dice_find(KERNELS[k]);
        if (!kk) {
            printf("skip - %s: not supported by this CPU\n", KERNELS[k]);
            continue;
        }
        test_kernel(kk);
    }
    test_same_results();
    CHECK(pl_dice_use("portable") == 0 &&
              strcmp(pl_dice_active()->name, "portable") == 0,
          "the portable fallback can be forced (default here: %s)", def);
    test_values();
    CHECK(pl_dice_use("sse9") == -1 && pl_dice_find("sse9") == NULL,
          "an unknown kernel name is refused");
    free(cands);
    return unit_done();
}
