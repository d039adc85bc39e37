/* dice_rate.c — Dice comparisons of 1024-bit Bloom filters per second on
 * one core, for every popcount kernel this CPU runs (crypto/dice.h), for
 * `make bench`.
 *
 * The work is what the platform does inside a block: one filter against
 * a block of candidates (pl_dice_batch), the candidates' popcounts either
 * kept with the filters (":counts", what a run does: counted once per
 * record) or counted in the batch (":nocounts"); then the same with the
 * comparison levels (pl_dice_batch_levels, 3 thresholds). Candidates: a
 * block of CANDS filters of 128 bytes (CANDS * 128 bytes, L2-resident by
 * default; DICE_CANDS=... to change), random with about 25% of bits set.
 * Prints "<kernel>.<work> <comparisons per second>" lines (per second of
 * this thread's CPU time, best of 5 timed runs of about 0.2 s each), then "dice_kernel <name>", the kernel
 * a run uses on this machine (PSEUDOLINK_POPCOUNT overrides it), then the
 * producer's side for scale: "bloom_encode.surname_k20 <records/s>"
 * (pl_bloom_add of an 8-letter surname, 9 padded bigrams, k = 20, salted)
 * and "bloom_harden.fold_balance <filters/s>".
 */
#include "crypto/bloom.h"
#include "crypto/dice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread, not wall time: the rate per core stays
 * meaningful on a machine shared with other jobs (the 2-core test machine
 * often runs a load of 5-10). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { W = 16, NQ = 64 };
static size_t CANDS = 4096;
static uint64_t *cands, queries[NQ][W];
static uint32_t *counts;
static double *scores;
static uint8_t *levels;
static volatile double sink;
static const double T[3] = {0.9, 0.8, 0.6};

typedef void (*work_fn)(size_t rounds);

static void w_counts(size_t rounds)
{
    for (size_t r = 0; r < rounds; r++)
        pl_dice_batch(queries[r % NQ], cands, W, W, CANDS, counts, scores);
    sink = scores[CANDS - 1];
}
static void w_nocounts(size_t rounds)
{
    for (size_t r = 0; r < rounds; r++)
        pl_dice_batch(queries[r % NQ], cands, W, W, CANDS, NULL, scores);
    sink = scores[CANDS - 1];
}
static void w_levels(size_t rounds)
{
    for (size_t r = 0; r < rounds; r++)
        pl_dice_batch_levels(queries[r % NQ], cands, W, W, CANDS, counts, T,
                             3, levels, NULL);
    sink = levels[CANDS - 1];
}

static pl_bloom_field field;
static pl_bloom_hardening hard;
static void w_encode(size_t rounds)
{
    uint64_t f[W];
    char name[] = "lefebvre";
    for (size_t r = 0; r < rounds; r++) {
        memset(f, 0, sizeof f);
        name[0] = (char)('a' + r % 26);
        pl_bloom_add(&field, f, 1024, name, 8, (const uint8_t *)"1985", 4);
    }
    sink = (double)f[0];
}
static void w_harden(size_t rounds)
{
    uint64_t out[W];
    for (size_t r = 0; r < rounds; r++)
        pl_bloom_harden(&hard, queries[r % NQ], out);
    sink = (double)out[0];
}

/* Comparisons per second: best of 5 runs of about 0.2 s. */
static double rate(work_fn f)
{
    size_t rounds = 1;
    double t;
    for (;;) {
        double t0 = now();
        f(rounds);
        t = now() - t0;
        if (t > 0.02)
            break;
        rounds *= 2;
    }
    rounds = (size_t)(rounds * 0.2 / t) + 1;
    double best = 0;
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        f(rounds);
        double r = (double)rounds * CANDS / (now() - t0);
        if (r > best)
            best = r;
    }
    return best;
}

int main(void)
{
    const char *e = getenv("DICE_CANDS");
    if (e && atol(e) > 0)
        CANDS = (size_t)atol(e);
    cands = aligned_alloc(64, CANDS * W * 8);
    counts = malloc(CANDS * sizeof *counts);
    scores = malloc(CANDS * sizeof *scores);
    levels = malloc(CANDS);
    for (size_t i = 0; i < CANDS * W; i++)
        cands[i] = next() & next();             /* ~25% of bits set */
    for (int q = 0; q < NQ; q++)
        for (int w = 0; w < W; w++)
            queries[q][w] = next() & next();
    const char *def = pl_dice_active()->name;
    static const char *const names[] = {"portable", "popcnt", "avx512"};
    for (int k = 0; k < 3; k++) {
        if (pl_dice_use(names[k])) {
            printf("%s.unavailable 0\n", names[k]);
            continue;
        }
        pl_dice_active()->count(cands, W, W, CANDS, counts);
        printf("%s.batch_1024:counts %.0f\n", names[k], rate(w_counts));
        printf("%s.batch_1024:nocounts %.0f\n", names[k], rate(w_nocounts));
        printf("%s.levels_1024:counts %.0f\n", names[k], rate(w_levels));
        fflush(stdout);
    }
    printf("dice_kernel %s\n", def);
    uint8_t secret[32] = {1};
    if (pl_bloom_field_init(&field, secret, 32, "surname", 20, 2, 1) == 0 &&
        pl_bloom_hardening_init(&hard, secret, 32, 1024,
                                PL_BLOOM_XOR_FOLD | PL_BLOOM_BALANCE) == 0) {
        size_t keep = CANDS;
        CANDS = 1;                      /* rate() counts rounds x CANDS */
        printf("bloom_encode.surname_k20 %.0f\n", rate(w_encode));
        printf("bloom_harden.fold_balance %.0f\n", rate(w_harden));
        CANDS = keep;
        pl_bloom_field_wipe(&field);
        pl_bloom_hardening_free(&hard);
    }
    free(cands);
    free(counts);
    free(scores);
    free(levels);
    return 0;
}
