/* bloom.c — see bloom.h; docs/PPRL.md is the specification. */
#include "crypto/bloom.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/strsim.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HKDF_SALT "pseudolink-pprl-v1"

/* ---- normalisation ------------------------------------------------------ */


/* The one name normalisation of base/strsim.h, in its PPRL mode. */
long pl_pprl_normalise(const char *in, size_t len, char *out, size_t outcap)
{
    if (outcap < len + 1)
        return -1;
    return pl_norm_text(in, len, out, outcap, PL_NORM_PPRL);
}

/* ---- keys --------------------------------------------------------------- */

int pl_bloom_derive(const uint8_t *secret, size_t secretlen,
                    const char *info, uint8_t out[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!ctx) {
        pl_err("pprl: HKDF-SHA256 is not available in this OpenSSL");
        return -1;
    }
    OSSL_PARAM p[5];
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)"SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)secret, secretlen);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                             (void *)HKDF_SALT,
                                             sizeof HKDF_SALT - 1);
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)info, strlen(info));
    p[4] = OSSL_PARAM_construct_end();
    int rc = EVP_KDF_derive(ctx, out, 32, p) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(ctx);
    if (rc)
        pl_err("pprl: HKDF-SHA256 derivation failed");
    return rc;
}

int pl_bloom_secret_id(const uint8_t *secret, size_t secretlen,
                       uint8_t out[16])
{
    uint8_t full[32];
    if (secretlen < PL_BLOOM_SECRET_MIN) {
        pl_err("pprl: linkage secret of %zu bytes, expected at least %d",
               secretlen, PL_BLOOM_SECRET_MIN);
        return -1;
    }
    if (pl_bloom_derive(secret, secretlen, "secret-id", full))
        return -1;
    memcpy(out, full, 16);
    OPENSSL_cleanse(full, sizeof full);
    return 0;
}

int pl_bloom_field_init(pl_bloom_field *f, const uint8_t *secret,
                        size_t secretlen, const char *name, unsigned k,
                        unsigned q, int pad)
{
    memset(f, 0, sizeof *f);
    size_t nl = strlen(name);
    if (nl == 0 || nl > PL_BLOOM_NAME_MAX) {
        pl_err("pprl: field name must be 1 to %d bytes", PL_BLOOM_NAME_MAX);
        return -1;
    }
    if (secretlen < PL_BLOOM_SECRET_MIN) {
        pl_err("pprl: field %s: linkage secret of %zu bytes, expected at "
               "least %d", name, secretlen, PL_BLOOM_SECRET_MIN);
        return -1;
    }
    if (k < 1 || k > PL_BLOOM_K_MAX || q < 1 || q > PL_BLOOM_Q_MAX) {
        pl_err("pprl: field %s: k = %u, q = %u; expected 1 <= k <= %d and "
               "1 <= q <= %d", name, k, q, PL_BLOOM_K_MAX, PL_BLOOM_Q_MAX);
        return -1;
    }
    char info[sizeof "field:" + PL_BLOOM_NAME_MAX];
    snprintf(info, sizeof info, "field:%s", name);
    uint8_t key[32];
    if (pl_bloom_derive(secret, secretlen, info, key))
        return -1;
    pl_hmac_init(&f->key, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    f->k = k;
    f->q = q;
    f->pad = pad ? 1 : 0;
    memcpy(f->name, name, nl + 1);
    return 0;
}

void pl_bloom_field_wipe(pl_bloom_field *f)
{
    OPENSSL_cleanse(f, sizeof *f);
}

/* ---- encoding ----------------------------------------------------------- */

static int check_bits(const char *name, size_t bits)
{
    if (bits < 64 || bits > PL_BLOOM_BITS_MAX || bits % 64) {
        pl_err("pprl: field %s: filter of %zu bits; expected a multiple of "
               "64 from 64 to %d", name, bits, PL_BLOOM_BITS_MAX);
        return -1;
    }
    return 0;
}

/* Set the k positions of one q-gram g (glen bytes). */
static void set_gram(const pl_bloom_field *f, uint64_t *filter, size_t bits,
                     const uint8_t *g, size_t glen, const uint8_t *salt,
                     size_t saltlen)
{
    uint8_t msg[2 + 4 * PL_BLOOM_Q_MAX + PL_BLOOM_SALT_MAX], tag[32];
    msg[1] = (uint8_t)glen;
    memcpy(msg + 2, g, glen);
    if (saltlen)
        memcpy(msg + 2 + glen, salt, saltlen);
    size_t mlen = 2 + glen + saltlen;
    for (unsigned i = 0; i < f->k; i++) {
        if (i % 16 == 0) {
            msg[0] = (uint8_t)(i / 16);
            pl_hmac(&f->key, msg, mlen, tag);
        }
        unsigned v = (unsigned)tag[2 * (i % 16)] << 8 | tag[2 * (i % 16) + 1];
        size_t p = v % bits;
        filter[p / 64] |= (uint64_t)1 << (p % 64);
    }
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(tag, sizeof tag);
}

int pl_bloom_add_normalised(const pl_bloom_field *f, uint64_t *filter,
                            size_t bits, const char *norm, size_t len,
                            const uint8_t *salt, size_t saltlen)
{
    if (check_bits(f->name, bits))
        return -1;
    if (saltlen > PL_BLOOM_SALT_MAX || (saltlen && !salt)) {
        pl_err("pprl: field %s: salt of %zu bytes, at most %d", f->name,
               saltlen, PL_BLOOM_SALT_MAX);
        return -1;
    }
    if (len == 0)
        return 0;
    /* The padded value and the offsets of its code points. */
    size_t plen = len + 2 * (f->q - 1);
    uint8_t *pv = pl_xmalloc(plen);
    size_t *at = pl_xmalloc((plen + 1) * sizeof *at);
    size_t npad = f->pad ? f->q - 1 : 0, n = 0, o = 0;
    for (size_t i = 0; i < npad; i++)
        at[n++] = o, pv[o++] = PL_BLOOM_PAD;
    int rc = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t l = pl_utf8_next((const unsigned char *)norm + i, len - i, &cp);
        if (!l) {
            pl_err("pprl: field %s: value is not valid UTF-8", f->name);
            rc = -1;
            goto out;
        }
        at[n++] = o;
        memcpy(pv + o, norm + i, l);
        o += l, i += l;
    }
    for (size_t i = 0; i < npad; i++)
        at[n++] = o, pv[o++] = PL_BLOOM_PAD;
    at[n] = o;
    /* q-grams: code points j..j+q-1; a value shorter than q (without
     * padding) is one gram. */
    if (n < f->q) {
        set_gram(f, filter, bits, pv, o, salt, saltlen);
    } else {
        for (size_t j = 0; j + f->q <= n; j++)
            set_gram(f, filter, bits, pv + at[j], at[j + f->q] - at[j], salt,
                     saltlen);
    }
out:
    pl_wipe(pv, plen);
    free(pv);
    free(at);
    return rc;
}

int pl_bloom_add(const pl_bloom_field *f, uint64_t *filter, size_t bits,
                 const char *value, size_t len, const uint8_t *salt,
                 size_t saltlen)
{
    char *norm = pl_xmalloc(len + 1);
    long n = pl_pprl_normalise(value, len, norm, len + 1);
    int rc;
    if (n < 0) {
        pl_err("pprl: field %s: value is not valid UTF-8", f->name);
        rc = -1;
    } else {
        rc = pl_bloom_add_normalised(f, filter, bits, norm, (size_t)n, salt,
                                     saltlen);
    }
    pl_wipe(norm, len + 1);
    free(norm);
    return rc;
}

/* ---- hardening ---------------------------------------------------------- */

int pl_bloom_hardening_init(pl_bloom_hardening *h, const uint8_t *secret,
                            size_t secretlen, size_t bits, unsigned flags)
{
    memset(h, 0, sizeof *h);
    if (flags & ~(unsigned)(PL_BLOOM_XOR_FOLD | PL_BLOOM_BALANCE)) {
        pl_err("pprl: unknown hardening flags 0x%x", flags);
        return -1;
    }
    if (check_bits("(hardening)", bits))
        return -1;
    size_t w = bits;
    if (flags & PL_BLOOM_XOR_FOLD) {
        if (bits % 128) {
            pl_err("pprl: XOR-folding needs a filter of a multiple of 128 "
                   "bits, not %zu", bits);
            return -1;
        }
        w /= 2;
    }
    if (flags & PL_BLOOM_BALANCE) {
        w *= 2;
        if (secretlen < PL_BLOOM_SECRET_MIN) {
            pl_err("pprl: balancing: linkage secret of %zu bytes, expected "
                   "at least %d", secretlen, PL_BLOOM_SECRET_MIN);
            return -1;
        }
        /* Fisher-Yates over 0..w-1 with 32-bit big-endian words of the
         * stream HMAC(K, u32be(0)) || HMAC(K, u32be(1)) || ..., rejection
         * sampling (no modulo bias); K = HKDF(secret, "balance:<w/2>"). */
        char info[32];
        snprintf(info, sizeof info, "balance:%zu", w / 2);
        uint8_t key[32], blk[32], ctr[4];
        if (pl_bloom_derive(secret, secretlen, info, key))
            return -1;
        pl_hmac_key hk;
        pl_hmac_init(&hk, key, sizeof key);
        OPENSSL_cleanse(key, sizeof key);
        h->perm = pl_xmalloc(w * sizeof *h->perm);
        for (size_t i = 0; i < w; i++)
            h->perm[i] = (uint16_t)i;
        uint32_t counter = 0;
        size_t used = 8;                /* words of blk consumed */
        for (size_t i = w - 1; i >= 1; i--) {
            uint64_t range = (uint64_t)i + 1;
            uint64_t limit = ((uint64_t)1 << 32) / range * range;
            uint64_t r;
            do {
                if (used == 8) {
                    for (int b = 0; b < 4; b++)
                        ctr[b] = (uint8_t)(counter >> (24 - 8 * b));
                    counter++;
                    pl_hmac(&hk, ctr, 4, blk);
                    used = 0;
                }
                r = (uint64_t)blk[4 * used] << 24 | blk[4 * used + 1] << 16 |
                    blk[4 * used + 2] << 8 | blk[4 * used + 3];
                used++;
            } while (r >= limit);
            size_t j = (size_t)(r % range);
            uint16_t t = h->perm[i];
            h->perm[i] = h->perm[j];
            h->perm[j] = t;
        }
        pl_hmac_key_wipe(&hk);
        OPENSSL_cleanse(blk, sizeof blk);
    }
    h->flags = flags;
    h->bits = bits;
    h->out_bits = w;
    return 0;
}

void pl_bloom_hardening_free(pl_bloom_hardening *h)
{
    free(h->perm);
    memset(h, 0, sizeof *h);
}

static int bit(const uint64_t *f, size_t p) { return f[p / 64] >> (p % 64) & 1; }

void pl_bloom_harden(const pl_bloom_hardening *h, const uint64_t *in,
                     uint64_t *out)
{
    size_t w = h->bits / 64;
    uint64_t tmp[2 * PL_BLOOM_BITS_MAX / 64];
    memcpy(tmp, in, w * 8);
    if (h->flags & PL_BLOOM_XOR_FOLD) {
        for (size_t i = 0; i < w / 2; i++)
            tmp[i] ^= tmp[i + w / 2];
        w /= 2;
    }
    if (h->flags & PL_BLOOM_BALANCE) {
        for (size_t i = 0; i < w; i++)
            tmp[w + i] = ~tmp[i];
        memset(out, 0, 2 * w * 8);
        for (size_t i = 0; i < 2 * w * 64; i++)
            if (bit(tmp, h->perm[i]))
                out[i / 64] |= (uint64_t)1 << (i % 64);
        w *= 2;
    } else {
        memcpy(out, tmp, w * 8);
    }
    pl_wipe(tmp, sizeof tmp);
}
