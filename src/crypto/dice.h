/* dice.h — Dice coefficient of Bloom-filter encodings (crypto/bloom.h) with
 * hardware popcount, one filter against many, banded into comparison
 * levels for a Fellegi-Sunter model.
 *
 *   dice(A, B) = 2 |A and B| / (|A| + |B|), 0 when both are empty.
 *
 * Kernels: "avx512" (AVX-512 VPOPCNTDQ: 8 words per instruction), "popcnt"
 * (the POPCNT instruction, one word) and "portable" (plain C, no special
 * instruction). Like the SHA-256 kernels (sha256mb.h) they are compiled
 * with function-level target attributes, so the binary runs on any x86-64;
 * the fastest one the CPU runs is chosen on first use (pl_dice_active).
 * PSEUDOLINK_POPCOUNT=portable|popcnt|avx512 overrides the choice; a value
 * the CPU cannot run falls back to the default with a warning. Kernels
 * only count bits (integers), and the one scalar expression below turns
 * counts into scores, so every result is bit-identical whatever the kernel
 * (tests/unit/test_dice.c compares them all).
 *
 * Filters are nwords uint64_t words (any nwords >= 1; 16 for 1024 bits);
 * candidates are `stride` words apart (stride >= nwords). Not collective;
 * no errors (callers check widths when they read filters).
 */
#ifndef PL_CRYPTO_DICE_H
#define PL_CRYPTO_DICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;           /* "portable", "popcnt", "avx512" */
    /* out[i] = popcount(c_i) for n filters */
    void (*count)(const uint64_t *c, size_t nwords, size_t stride, size_t n,
                  uint32_t *out);
    /* out[i] = popcount(q and c_i) for n candidates */
    void (*and_count)(const uint64_t *q, const uint64_t *c, size_t nwords,
                      size_t stride, size_t n, uint32_t *out);
} pl_dice_kernel;

/* Kernel in use, chosen on the first call: PSEUDOLINK_POPCOUNT if set and
 * runnable, else avx512 (avx512f + avx512vpopcntdq), else popcnt, else
 * portable. */
const pl_dice_kernel *pl_dice_active(void);
/* Kernel by name, or NULL if unknown or not runnable on this CPU. */
const pl_dice_kernel *pl_dice_find(const char *name);
/* Use this kernel from now on (tests, bench); -1 if not runnable. */
int pl_dice_use(const char *name);

/* The score of counts: 2 * both / (a + b), 0 when a + b == 0. */
static inline double pl_dice_score(uint32_t both, uint32_t a, uint32_t b)
{
    return a + b ? 2.0 * both / (double)(a + b) : 0.0;
}

uint32_t pl_popcount(const uint64_t *f, size_t nwords);
double pl_dice(const uint64_t *a, const uint64_t *b, size_t nwords);

/* One filter q against n candidates: dice[i] = dice(q, c_i). ccount: the
 * candidates' popcounts if the caller keeps them (pl_dice_kernel.count),
 * or NULL to count here. */
void pl_dice_batch(const uint64_t *q, const uint64_t *c, size_t nwords,
                   size_t stride, size_t n, const uint32_t *ccount,
                   double *dice);

/* Comparison levels: thresholds t[0] > t[1] > ... > t[nt-1] (nt <= 254).
 * level 0 when dice >= t[0] (the most agreeing), level j when
 * t[j-1] > dice >= t[j], level nt when dice < t[nt-1]: nt + 1 levels, the
 * form the Fellegi-Sunter m/u estimation takes for any comparison. */
static inline uint8_t pl_dice_level(double dice, const double *t, size_t nt)
{
    unsigned j = 0;                     /* thresholds above dice; no branch */
    for (size_t i = 0; i < nt; i++)
        j += dice < t[i];
    return (uint8_t)j;
}

/* pl_dice_batch then pl_dice_level for each candidate; dice may be NULL
 * when only the levels are wanted. */
void pl_dice_batch_levels(const uint64_t *q, const uint64_t *c,
                          size_t nwords, size_t stride, size_t n,
                          const uint32_t *ccount, const double *t, size_t nt,
                          uint8_t *level, double *dice);

#endif
