/* shamir.h — Shamir secret sharing over GF(2^8), byte by byte.
 *
 * Field: GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B).
 * Each secret byte s is the constant term of its own random polynomial
 * f(x) = s + a1 x + ... + a(t-1) x^(t-1); share i is (x_i, f(x_i) for every
 * byte), with x_i = i + 1 (x = 0 would be the secret itself). Any t shares
 * give the secret by Lagrange interpolation at 0; t-1 shares are uniformly
 * distributed whatever the secret (the coefficients are fresh CSPRNG bytes).
 */
#ifndef PL_SHAMIR_H
#define PL_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#define PL_SHAMIR_MAX_SHARES 255

/* GF(2^8) arithmetic (exposed for the unit tests). */
uint8_t pl_gf_mul(uint8_t a, uint8_t b);
uint8_t pl_gf_inv(uint8_t a);   /* a != 0 */

/* Split `len` bytes of secret into n shares of len bytes each (share i is
 * shares + i*len, for x = i + 1), any t of which reconstruct it.
 * 1 <= t <= n <= 255. Returns 0, or -1 (bad parameters, CSPRNG failure). */
int pl_shamir_split(const uint8_t *secret, size_t len, unsigned t, unsigned n,
                    uint8_t *shares);

/* Reconstruct from k shares: xs[j] (distinct, non-zero) and ys + j*len.
 * With k >= t shares of one split this gives the secret; with fewer, an
 * unrelated value. Returns 0, or -1 on repeated or zero x. */
int pl_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned k,
                      size_t len, uint8_t *secret);

#endif
