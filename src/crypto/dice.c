/* dice.c — see dice.h: the portable and POPCNT kernels, the dispatch and
 * the batch. The AVX-512 kernel is in dice_avx512.c. */
#include "crypto/dice.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* Portable: the classic SWAR bit count (no instruction beyond x86-64
 * baseline; gcc would turn __builtin_popcountll into a libgcc call here). */
static inline uint32_t swar64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

static void portable_count(const uint64_t *c, size_t nwords, size_t stride,
                           size_t n, uint32_t *out)
{
    for (size_t i = 0; i < n; i++, c += stride) {
        uint32_t s = 0;
        for (size_t w = 0; w < nwords; w++)
            s += swar64(c[w]);
        out[i] = s;
    }
}

static void portable_and_count(const uint64_t *q, const uint64_t *c,
                               size_t nwords, size_t stride, size_t n,
                               uint32_t *out)
{
    for (size_t i = 0; i < n; i++, c += stride) {
        uint32_t s = 0;
        for (size_t w = 0; w < nwords; w++)
            s += swar64(q[w] & c[w]);
        out[i] = s;
    }
}

static const pl_dice_kernel portable = {"portable", portable_count,
                                        portable_and_count};

#if defined(__x86_64__) && !defined(PL_NO_SIMD)
#define DICE_X86 1
/* POPCNT: the same loops with the instruction (target attribute on these
 * functions only). Four accumulators for the 1024-bit case so the adds do
 * not serialise. */
#define TGT_POPCNT __attribute__((target("popcnt")))

TGT_POPCNT static void popcnt_count(const uint64_t *c, size_t nwords,
                                    size_t stride, size_t n, uint32_t *out)
{
    for (size_t i = 0; i < n; i++, c += stride) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t w = 0;
        for (; w + 4 <= nwords; w += 4) {
            s0 += (uint64_t)__builtin_popcountll(c[w]);
            s1 += (uint64_t)__builtin_popcountll(c[w + 1]);
            s2 += (uint64_t)__builtin_popcountll(c[w + 2]);
            s3 += (uint64_t)__builtin_popcountll(c[w + 3]);
        }
        for (; w < nwords; w++)
            s0 += (uint64_t)__builtin_popcountll(c[w]);
        out[i] = (uint32_t)(s0 + s1 + s2 + s3);
    }
}

TGT_POPCNT static void popcnt_and_count(const uint64_t *q, const uint64_t *c,
                                        size_t nwords, size_t stride,
                                        size_t n, uint32_t *out)
{
    for (size_t i = 0; i < n; i++, c += stride) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t w = 0;
        for (; w + 4 <= nwords; w += 4) {
            s0 += (uint64_t)__builtin_popcountll(q[w] & c[w]);
            s1 += (uint64_t)__builtin_popcountll(q[w + 1] & c[w + 1]);
            s2 += (uint64_t)__builtin_popcountll(q[w + 2] & c[w + 2]);
            s3 += (uint64_t)__builtin_popcountll(q[w + 3] & c[w + 3]);
        }
        for (; w < nwords; w++)
            s0 += (uint64_t)__builtin_popcountll(q[w] & c[w]);
        out[i] = (uint32_t)(s0 + s1 + s2 + s3);
    }
}

static const pl_dice_kernel popcnt = {"popcnt", popcnt_count,
                                      popcnt_and_count};
extern const pl_dice_kernel pl_dice_avx512;

static int runnable(const pl_dice_kernel *k)
{
    if (k == &pl_dice_avx512)
        return __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vpopcntdq");
    if (k == &popcnt)
        return __builtin_cpu_supports("popcnt");
    return 1;
}

/* Best first. */
static const pl_dice_kernel *const kernels[] = {&pl_dice_avx512, &popcnt,
                                                &portable};
#else
#define DICE_X86 0
static int runnable(const pl_dice_kernel *k) { (void)k; return 1; }
static const pl_dice_kernel *const kernels[] = {&portable};
#endif

#define N_KERNELS (sizeof kernels / sizeof kernels[0])

static const pl_dice_kernel *active;    /* ranks are single-threaded */

const pl_dice_kernel *pl_dice_find(const char *name)
{
    for (size_t i = 0; i < N_KERNELS; i++)
        if (strcmp(kernels[i]->name, name) == 0)
            return runnable(kernels[i]) ? kernels[i] : NULL;
    return NULL;
}

static const pl_dice_kernel *choose(void)
{
    const pl_dice_kernel *best = &portable;
    for (size_t i = 0; i < N_KERNELS; i++)
        if (runnable(kernels[i])) {
            best = kernels[i];
            break;
        }
    const char *env = getenv("PSEUDOLINK_POPCOUNT");
    if (!env || !*env)
        return best;
    const pl_dice_kernel *k = pl_dice_find(env);
    if (k)
        return k;
    int known = !strcmp(env, "portable") || !strcmp(env, "popcnt") ||
                !strcmp(env, "avx512");
    pl_warn("PSEUDOLINK_POPCOUNT=%.32s: %s; using the %s popcount kernel",
            env,
            known ? "not supported by this CPU or build"
                  : "unknown value (expected portable, popcnt or avx512)",
            best->name);
    return best;
}

const pl_dice_kernel *pl_dice_active(void)
{
    if (!active)
        active = choose();
    return active;
}

int pl_dice_use(const char *name)
{
    const pl_dice_kernel *k = pl_dice_find(name);
    if (!k)
        return -1;
    active = k;
    return 0;
}

uint32_t pl_popcount(const uint64_t *f, size_t nwords)
{
    uint32_t c;
    pl_dice_active()->count(f, nwords, nwords, 1, &c);
    return c;
}

double pl_dice(const uint64_t *a, const uint64_t *b, size_t nwords)
{
    const pl_dice_kernel *k = pl_dice_active();
    uint32_t ca, cb, both;
    k->count(a, nwords, nwords, 1, &ca);
    k->count(b, nwords, nwords, 1, &cb);
    k->and_count(a, b, nwords, nwords, 1, &both);
    return pl_dice_score(both, ca, cb);
}

enum { CHUNK = 256 };                   /* candidates per kernel call */

void pl_dice_batch(const uint64_t *q, const uint64_t *c, size_t nwords,
                   size_t stride, size_t n, const uint32_t *ccount,
                   double *dice)
{
    const pl_dice_kernel *k = pl_dice_active();
    uint32_t qa, both[CHUNK], cc[CHUNK];
    k->count(q, nwords, nwords, 1, &qa);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        const uint64_t *ci = c + i * stride;
        k->and_count(q, ci, nwords, stride, m, both);
        const uint32_t *cnt = ccount ? ccount + i : cc;
        if (!ccount)
            k->count(ci, nwords, stride, m, cc);
        for (size_t j = 0; j < m; j++)
            dice[i + j] = pl_dice_score(both[j], qa, cnt[j]);
    }
}

void pl_dice_batch_levels(const uint64_t *q, const uint64_t *c,
                          size_t nwords, size_t stride, size_t n,
                          const uint32_t *ccount, const double *t, size_t nt,
                          uint8_t *level, double *dice)
{
    double d[CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        double *di = dice ? dice + i : d;
        pl_dice_batch(q, c + i * stride, nwords, stride, m,
                      ccount ? ccount + i : NULL, di);
        for (size_t j = 0; j < m; j++)
            level[i + j] = pl_dice_level(di[j], t, nt);
    }
}
