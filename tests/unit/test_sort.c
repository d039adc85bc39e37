/* test_sort.c — the speed paths of the linkage give the results of the
 * plain ones bit for bit: the bit-parallel Jaro–Winkler (base/strsim.h)
 * against the character-by-character scan it replaced, pl_sort_keyed
 * (base/sort.h) against a stable sort by the same comparator, and the
 * large-block cache (base/mem.h pl_free_huge) gives back what plain
 * allocation would: zeroed memory from pl_xcalloc_huge, a block to one
 * request at a time. */
#include "base/mem.h"
#include "base/sort.h"
#include "base/strsim.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The reference: the scan of docs/LINKAGE.md (window max(la, lb)/2 - 1,
 * the first free equal character of b, half the transpositions). */
static double jw_scan(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    if (la > 64)
        la = 64;
    if (lb > 64)
        lb = 64;
    size_t win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0,
               hi = i + win + 1 < lb ? i + win + 1 : lb;
        for (size_t j = lo; j < hi; j++)
            if (!(mb >> j & 1) && a[i] == b[j]) {
                ma |= 1ull << i;
                mb |= 1ull << j;
                m++;
                break;
            }
    }
    if (m == 0)
        return 0.0;
    size_t t = 0, j = 0;
    for (size_t i = 0; i < la; i++)
        if (ma >> i & 1) {
            while (!(mb >> j & 1))
                j++;
            if (a[i] != b[j])
                t++;
            j++;
        }
    double md = (double)m;
    double jaro = (md / (double)la + md / (double)lb +
                   (md - (double)t / 2.0) / md) / 3.0;
    size_t p = 0;
    while (p < 4 && p < la && p < lb && a[p] == b[p])
        p++;
    return jaro + (double)p * 0.1 * (1.0 - jaro);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random pair of strings of an alphabet of alph letters: la, lb below
 * cap, b's i-th letter a's with probability 1/same. */
static void rand_pair(char *a, size_t *la, char *b, size_t *lb, size_t cap,
                      unsigned alph, unsigned same)
{
    *la = next() % cap;
    *lb = next() % cap;
    for (size_t i = 0; i < *la; i++)
        a[i] = (char)('A' + next() % alph);
    for (size_t i = 0; i < *lb; i++)
        b[i] = i < *la && next() % same == 0 ? a[i]
                                             : (char)('A' + next() % alph);
}

static void test_jw(void)
{
    long bad = 0, n = 300000, bad32 = 0, n32 = 0;
    for (long it = 0; it < n; it++) {
        char a[80], b[80];
        size_t la, lb;
        rand_pair(a, &la, b, &lb, it % 100 == 0 ? 70 : 25,
                  2 + (unsigned)(next() % 8), 3);
        if (it % 7 == 0 && la && lb)
            a[0] = b[0] = (char)0xC3;       /* a byte above 127 */
        if (it % 11 == 0 && la)     /* a NUL: never the padding past b */
            a[next() % la] = 0;
        double x = jw_scan(a, la, b, lb), y = pl_jaro_winkler(a, la, b, lb);
        bad += memcmp(&x, &y, sizeof x) != 0;
        if (la <= 32 && lb <= 32) {     /* 32-byte buffers, junk past */
            char pa[32], pb[32];
            for (size_t i = 0; i < 32; i++) {
                pa[i] = i < la ? a[i] : (char)(next() % 3 ? 0 : 'A');
                pb[i] = i < lb ? b[i] : (char)(next() % 3 ? 0 : 'A');
            }
            double z = pl_jaro_winkler32(pa, la, pb, lb);
            bad32 += memcmp(&x, &z, sizeof x) != 0;
            n32++;
        }
    }
    CHECK(bad == 0,
          "Jaro-Winkler (bit-parallel) = the character scan, bit for bit, "
          "on %ld random pairs of 0..69 bytes, some with NUL bytes (%ld "
          "differ)", n, bad);
    /* the bound: never "below" when the value reaches t; and it settles
     * most unrelated pairs at the linkage's lowest threshold */
    long wrong = 0, settled = 0, tried = 0;
    static const double ts[] = {0.0, 0.5, 0.8, 0.92, 1.0};
    for (long it = 0; it < 200000; it++) {
        char a[80], b[80];
        size_t la, lb;
        unsigned alph = 4 + (unsigned)(next() % 23);
        rand_pair(a, &la, b, &lb, 25, alph, 4);
        if (it % 13 == 0 && la)
            a[next() % la] = (char)(0x80 + next() % 128);
        double x = jw_scan(a, la, b, lb), t = ts[it % 5];
        int below = pl_jw_below(a, la, b, lb, t);
        wrong += below && !(x < t);
        if (t == 0.8 && alph > 20 && la > 3 && lb > 3) {
            tried++;
            settled += below;
        }
    }
    CHECK(wrong == 0 && settled > tried / 4,
          "pl_jw_below: never below t when Jaro-Winkler reaches it (%ld "
          "wrong of 200000); settles %ld of %ld unrelated pairs at 0.8",
          wrong, settled, tried);
    CHECK(n32 > 1000 && bad32 == 0,
          "pl_jaro_winkler32 on 32-byte buffers with junk past the "
          "strings = the scan, bit for bit (%ld of %ld differ)", bad32, n32);
}

typedef struct {
    uint64_t k;                 /* sort key (few values: long runs) */
    uint32_t v;                 /* second key */
    uint32_t seq;               /* input position (stability) */
    uint8_t  pad[24];           /* a record larger than the keys */
} rec;

static int rec_cmp(const void *x, const void *y)
{
    const rec *a = x, *b = y;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v;
}
static int rec_cmp_stable(const void *x, const void *y)
{
    int c = rec_cmp(x, y);
    if (c)
        return c;
    const rec *a = x, *b = y;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}
static uint64_t rec_key(const void *x)
{
    return ((const rec *)x)->k;
}

static void test_sort(void)
{
    size_t sizes[] = {0, 1, 2, 17, 1000, 200000};
    int ok = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        rec *a = calloc(n + 1, sizeof *a), *b = calloc(n + 1, sizeof *b);
        for (size_t i = 0; i < n; i++) {
            /* keys spread over every byte, with repeats; equal (k, v)
             * pairs too, whose input order must stay */
            a[i].k = s % 2 ? next() % 50 : (next() % 5000) * 0x0101010101ull;
            a[i].v = (uint32_t)(next() % 4);
            a[i].seq = (uint32_t)i;
            memset(a[i].pad, (int)(i & 0xff), sizeof a[i].pad);
        }
        memcpy(b, a, n * sizeof *a);
        pl_sort_keyed(a, n, sizeof *a, rec_key, rec_cmp);
        qsort(b, n, sizeof *b, rec_cmp_stable);
        ok &= memcmp(a, b, n * sizeof *a) == 0;
        free(a);
        free(b);
    }
    CHECK(ok, "pl_sort_keyed = a stable sort by its comparator (0 to "
              "200000 records, repeated keys, records moved whole)");
}

static void test_cache(void)
{
    const size_t M = 64u << 20;
    uint8_t *a = pl_xmalloc_huge(M);
    memset(a, 0xa5, M);                 /* resident, and not zero */
    pl_free_huge(a, M);
    CHECK(pl_huge_cached() == M, "a block given back is cached");
    uint8_t *b = pl_xcalloc_huge(M - 4096);
    size_t nz = 0;
    for (size_t i = 0; i < M - 4096; i++)
        nz += b[i] != 0;
    CHECK(b == a, "a block given back serves the next request it fits");
    CHECK(nz == 0, "pl_xcalloc_huge from the cache is zeroed (%zu bytes "
          "were not)", nz);
    uint8_t *c = pl_xmalloc_huge(M);    /* b is in use: not handed out */
    CHECK(c != b, "a block in use is not handed out twice");
    pl_free_huge(b, M - 4096);
    pl_free_huge(c, M);
    uint8_t *e = pl_xmalloc_huge(M / 2);
    CHECK(e == b, "a block of 1 to 4 times the request serves it, the "
          "smallest that fits");
    memset(e, 0x5a, M / 2);
    CHECK(pl_huge_cached() == M, "the other block stays cached");
    /* a request no cached block fits (c is over 4 x 8 MiB): c is freed
     * before fresh memory is taken, so the cache adds nothing resident */
    uint8_t *d = pl_xmalloc_huge(M / 8);
    CHECK(d != c && pl_huge_cached() == 0, "a request the cache cannot "
          "serve frees the cached blocks first (%zu bytes left)",
          pl_huge_cached());
    uint8_t *g = pl_xmalloc(M / 4);     /* nor does a plain large one */
    free(g);
    free(d);                            /* a cached block is an ordinary one */
    pl_free_huge(e, M / 2);
    pl_free_huge(NULL, M);
    pl_huge_cache_drop();
    CHECK(pl_huge_cached() == 0, "dropped: nothing cached");
    uint8_t *f = pl_xcalloc_huge(M);
    CHECK(f[0] == 0 && f[M - 1] == 0, "after the cache is dropped, a fresh "
          "zeroed block");
    free(f);
}

int main(void)
{
    test_jw();
    test_sort();
    test_cache();
    return unit_done();
}
