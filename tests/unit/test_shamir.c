/* test_shamir.c — GF(2^8) arithmetic and Shamir split/combine. */
#include "crypto/shamir.h"
#include "unit.h"

#include <string.h>

static void field(void)
{
    /* FIPS-197 section 4.2: {57} * {83} = {c1}, {57} * {13} = {fe}. */
    CHECK(pl_gf_mul(0x57, 0x83) == 0xc1, "GF(2^8) 0x57*0x83 = 0xc1 (FIPS-197)");
    CHECK(pl_gf_mul(0x57, 0x13) == 0xfe, "GF(2^8) 0x57*0x13 = 0xfe (FIPS-197)");
    int inv_ok = 1, comm_ok = 1;
    for (int a = 1; a < 256; a++) {
        inv_ok &= pl_gf_mul((uint8_t)a, pl_gf_inv((uint8_t)a)) == 1;
        for (int b = 0; b < 256; b++)
            comm_ok &= pl_gf_mul((uint8_t)a, (uint8_t)b) ==
                       pl_gf_mul((uint8_t)b, (uint8_t)a);
    }
    CHECK(inv_ok, "a * inv(a) = 1 for every non-zero a");
    CHECK(comm_ok, "multiplication is commutative");
}

/* Every subset of exactly t of the n shares gives the secret back. */
static void subsets(unsigned t, unsigned n)
{
    uint8_t secret[32], shares[8 * 32], got[32], xs[8], ys[8 * 32];
    for (int i = 0; i < 32; i++)
        secret[i] = (uint8_t)(i * 37 + 11);
    CHECK(pl_shamir_split(secret, 32, t, n, shares) == 0, "split t=%u n=%u",
          t, n);
    int all = 1, tried = 0, fewer_differs = 1;
    for (unsigned mask = 1; mask < (1u << n); mask++) {
        unsigned k = (unsigned)__builtin_popcount(mask), j = 0;
        if (k > t)
            continue;
        for (unsigned i = 0; i < n; i++)
            if (mask >> i & 1) {
                xs[j] = (uint8_t)(i + 1);
                memcpy(ys + j * 32, shares + i * 32, 32);
                j++;
            }
        pl_shamir_combine(xs, ys, k, 32, got);
        if (k == t) {
            all &= memcmp(got, secret, 32) == 0;
            tried++;
        } else {
            /* 32 bytes all equal by chance: probability 2^-256. */
            fewer_differs &= memcmp(got, secret, 32) != 0;
        }
    }
    CHECK(all && tried > 0, "t=%u n=%u: all %d subsets of %u shares "
          "reconstruct the secret", t, n, tried, t);
    CHECK(fewer_differs, "t=%u n=%u: fewer than t shares do not give the "
          "secret", t, n);
}

/* t-1 shares are consistent with EVERY possible secret: for each candidate
 * value s there is a t-th share completing them into a split of s. So
 * t-1 shares carry no information about the secret (by construction). */
static void perfect_secrecy(void)
{
    uint8_t secret = 0xA5, shares[3], xs[2] = {1, 0}, ys[2], got;
    pl_shamir_split(&secret, 1, 2, 3, shares);
    int every = 1;
    for (int s = 0; s < 256; s++) {
        int found = 0;
        for (int y = 0; y < 256 && !found; y++) {
            xs[1] = 3;
            ys[0] = shares[0];
            ys[1] = (uint8_t)y;
            pl_shamir_combine(xs, ys, 2, 1, &got);
            found = got == s;
        }
        every &= found;
    }
    CHECK(every, "one share of a 2-of-3 split is consistent with all 256 "
          "secret values");
    /* And the single share is uniform: over many splits of one secret,
     * share 1 takes every byte value (fails with probability < 1e-6). */
    int seen[256] = {0}, distinct = 0;
    for (int i = 0; i < 6000; i++) {
        pl_shamir_split(&secret, 1, 2, 3, shares);
        distinct += !seen[shares[0]]++;
    }
    CHECK(distinct == 256, "a single share takes all 256 values over 6000 "
          "splits of one secret (saw %d)", distinct);
}

static void bad_parameters(void)
{
    uint8_t s[4] = {1, 2, 3, 4}, sh[4 * 4], xs[2] = {1, 1}, out[4];
    CHECK(pl_shamir_split(s, 4, 0, 3, sh) != 0, "t = 0 refused");
    CHECK(pl_shamir_split(s, 4, 4, 3, sh) != 0, "t > n refused");
    CHECK(pl_shamir_combine(xs, sh, 2, 4, out) != 0, "repeated x refused");
    xs[0] = 0;
    xs[1] = 2;
    CHECK(pl_shamir_combine(xs, sh, 2, 4, out) != 0, "x = 0 refused");
}

int main(void)
{
    field();
    subsets(2, 3);
    subsets(2, 4);
    subsets(3, 5);
    subsets(4, 6);
    subsets(5, 5);
    perfect_secrecy();
    bad_parameters();
    return unit_done();
}
