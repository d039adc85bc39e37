/* bloom.h — keyed Bloom-filter encodings of identifying fields for
 * privacy-preserving record linkage (PPRL); docs/PPRL.md gives the encoding
 * byte for byte and the reasons for every choice.
 *
 * A producer encodes a field value as follows:
 *   1. pl_pprl_normalise(): case and accents folded, separators removed;
 *   2. the normalised value is split into q-grams of code points (bigrams
 *      padded with '_' by default);
 *   3. each q-gram sets k bit positions of an m-bit filter (m a multiple
 *      of 64, 1024 by default); the positions come from HMAC-SHA256 under
 *      a key derived for that field from the linkage secret (HKDF-SHA256),
 *      over the q-gram and the record's salt ("random hashing": every
 *      q-gram's positions are independent pseudo-random values);
 *   4. optional hardening of the finished filter (pl_bloom_harden):
 *      XOR-folding, then balancing (filter || complement, keyed
 *      permutation).
 * Several fields added to one filter make a record-level CLK, where each
 * field's weight is its k; or each field gets a filter of its own.
 *
 * Filters are arrays of uint64_t words: bit position p is bit (p % 64) of
 * word p / 64. Written out as little-endian words, position p is bit
 * (p % 8) (value 1 << (p % 8)) of byte p / 8.
 *
 * Errors return -1 with a message (base/log.h) that names the field but
 * never a value, a q-gram or key bytes. No function keeps a pointer to its
 * arguments. Not collective; no MPI.
 */
#ifndef PL_CRYPTO_BLOOM_H
#define PL_CRYPTO_BLOOM_H

#include "crypto/hmac.h"

#include <stddef.h>
#include <stdint.h>

#define PL_BLOOM_BITS_DEFAULT 1024
#define PL_BLOOM_BITS_MAX 16384         /* positions are 16-bit values */
#define PL_BLOOM_Q_DEFAULT 2
#define PL_BLOOM_Q_MAX 8
#define PL_BLOOM_K_MAX 64               /* positions per q-gram */
#define PL_BLOOM_SECRET_MIN 32          /* bytes of linkage secret */
#define PL_BLOOM_SALT_MAX 32            /* bytes of record salt */
#define PL_BLOOM_NAME_MAX 64            /* bytes of field name */
#define PL_BLOOM_PAD '_'

/* Normalisation of one field value (docs/PPRL.md, "Normalisation"): the
 * one rule of base/strsim.h (pl_norm_text, PL_NORM_PPRL mode), shared with
 * the clear-field linkage:
 *   - input must be valid UTF-8 (else -1, nothing printed: the caller
 *     names the field and the record);
 *   - ASCII letters lowercased, digits kept, every other ASCII byte
 *     (space, hyphen, apostrophe, dot, comma, ...) removed;
 *   - U+00A0, U+2010..U+2015 (hyphens, dashes), U+2018, U+2019, U+02BC
 *     (apostrophes) removed;
 *   - Latin letters of U+00C0..U+017F and U+0218..U+021B folded to
 *     lowercase ASCII (e acute -> e, c cedilla -> c, ae/oe ligatures ->
 *     ae/oe, sharp s -> ss, thorn -> th, s comma -> s); U+00D7, U+00F7,
 *     C1 controls and combining marks U+0300..U+036F removed;
 *   - any other code point kept as it is.
 * The result is never longer than the input: writes at most len bytes plus
 * a NUL to out (outcap >= len + 1) and returns the normalised length, or
 * -1. */
long pl_pprl_normalise(const char *in, size_t len, char *out, size_t outcap);

/* The encoding parameters of one field. */
typedef struct {
    pl_hmac_key key;            /* HKDF(secret, "field:" name) */
    unsigned k;                 /* positions per q-gram, 1..PL_BLOOM_K_MAX */
    unsigned q;                 /* q-gram length in code points, 1..8 */
    int pad;                    /* 1: q-1 PL_BLOOM_PAD each side */
    char name[PL_BLOOM_NAME_MAX + 1];
} pl_bloom_field;

/* HKDF-SHA256 (RFC 5869, OpenSSL EVP_KDF) of the linkage secret:
 * salt "pseudolink-pprl-v1", info as given, 32 bytes. -1 on error. */
int pl_bloom_derive(const uint8_t *secret, size_t secretlen,
                    const char *info, uint8_t out[32]);

/* Identifier of a linkage secret for the manifest: the first 16 bytes of
 * pl_bloom_derive(secret, "secret-id"). Producers whose identifiers differ
 * hold different secrets; the identifier reveals nothing of the field keys
 * (independent HKDF outputs). -1 on error. */
int pl_bloom_secret_id(const uint8_t *secret, size_t secretlen,
                       uint8_t out[16]);

/* Field key and parameters; secretlen >= PL_BLOOM_SECRET_MIN. The caller
 * wipes the secret; pl_bloom_field_wipe() wipes the field key. */
int pl_bloom_field_init(pl_bloom_field *f, const uint8_t *secret,
                        size_t secretlen, const char *name, unsigned k,
                        unsigned q, int pad);
void pl_bloom_field_wipe(pl_bloom_field *f);

/* Add the raw value (normalised here) of field f to filter (bits wide,
 * a multiple of 64 up to PL_BLOOM_BITS_MAX), with the record's salt
 * (saltlen <= PL_BLOOM_SALT_MAX bytes; NULL/0 for none). A value that
 * normalises to nothing sets no bit. -1 on invalid UTF-8 or bad
 * parameters. Working buffers that held the value are wiped. */
int pl_bloom_add(const pl_bloom_field *f, uint64_t *filter, size_t bits,
                 const char *value, size_t len, const uint8_t *salt,
                 size_t saltlen);

/* The same from an already normalised value (tests, attack tools). */
int pl_bloom_add_normalised(const pl_bloom_field *f, uint64_t *filter,
                            size_t bits, const char *norm, size_t len,
                            const uint8_t *salt, size_t saltlen);

/* Hardening applied to a finished filter. */
enum {
    PL_BLOOM_XOR_FOLD = 1,      /* m -> m/2: bit i = b[i] ^ b[i + m/2] */
    PL_BLOOM_BALANCE = 2        /* m -> 2m: permute(b || ~b), weight m */
};

typedef struct {
    unsigned flags;
    size_t bits;                /* input width */
    size_t out_bits;            /* output width */
    uint16_t *perm;             /* balancing permutation, out_bits long */
} pl_bloom_hardening;

/* bits: width of the filters given to pl_bloom_harden. XOR-folding needs
 * bits a multiple of 128 (the folded filter stays a multiple of 64).
 * The permutation is keyed by HKDF(secret, "balance:" bits). -1 on bad
 * parameters. */
int pl_bloom_hardening_init(pl_bloom_hardening *h, const uint8_t *secret,
                            size_t secretlen, size_t bits, unsigned flags);
void pl_bloom_hardening_free(pl_bloom_hardening *h);
/* out (h->out_bits wide) from in (h->bits wide); out != in. */
void pl_bloom_harden(const pl_bloom_hardening *h, const uint64_t *in,
                     uint64_t *out);

#endif
