/* shamir.c — see shamir.h. Constant-time field arithmetic: the shares
 * and the secret are key material, so no table lookups indexed by them. */
#include "crypto/shamir.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

uint8_t pl_gf_mul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    for (int i = 0; i < 8; i++) {
        p ^= (uint8_t)(-(b & 1) & a);
        uint8_t hi = (uint8_t)-(a >> 7);
        a = (uint8_t)((a << 1) ^ (hi & 0x1B));  /* reduce by 0x11B */
        b >>= 1;
    }
    return p;
}

/* a^254 = a^-1 in GF(2^8) (the multiplicative group has order 255). */
uint8_t pl_gf_inv(uint8_t a)
{
    uint8_t r = 1, base = a;
    for (unsigned e = 254; e; e >>= 1) {
        if (e & 1)
            r = pl_gf_mul(r, base);
        base = pl_gf_mul(base, base);
    }
    return r;
}

int pl_shamir_split(const uint8_t *secret, size_t len, unsigned t, unsigned n,
                    uint8_t *shares)
{
    if (t < 1 || t > n || n > PL_SHAMIR_MAX_SHARES || len == 0)
        return -1;
    uint8_t *coef = malloc(t);
    if (!coef)
        return -1;
    int rc = 0;
    for (size_t b = 0; b < len && rc == 0; b++) {
        coef[0] = secret[b];
        if (t > 1 && RAND_bytes(coef + 1, (int)(t - 1)) != 1) {
            rc = -1;
            break;
        }
        for (unsigned i = 0; i < n; i++) {
            uint8_t x = (uint8_t)(i + 1), y = 0;
            for (unsigned k = t; k-- > 0;)      /* Horner */
                y = (uint8_t)(pl_gf_mul(y, x) ^ coef[k]);
            shares[i * len + b] = y;
        }
    }
    OPENSSL_cleanse(coef, t);
    free(coef);
    if (rc != 0)
        OPENSSL_cleanse(shares, (size_t)n * len);
    return rc;
}

int pl_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned k,
                      size_t len, uint8_t *secret)
{
    if (k < 1 || k > PL_SHAMIR_MAX_SHARES)
        return -1;
    for (unsigned i = 0; i < k; i++) {
        if (xs[i] == 0)
            return -1;
        for (unsigned j = 0; j < i; j++)
            if (xs[i] == xs[j])
                return -1;
    }
    memset(secret, 0, len);
    for (unsigned i = 0; i < k; i++) {
        /* Lagrange basis at 0: prod_j x_j / (x_j - x_i); minus is xor. */
        uint8_t num = 1, den = 1;
        for (unsigned j = 0; j < k; j++) {
            if (j == i)
                continue;
            num = pl_gf_mul(num, xs[j]);
            den = pl_gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
        }
        uint8_t li = pl_gf_mul(num, pl_gf_inv(den));
        for (size_t b = 0; b < len; b++)
            secret[b] ^= pl_gf_mul(li, ys[i * len + b]);
    }
    return 0;
}
