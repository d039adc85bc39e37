/* hmac.c — see hmac.h.
 *
 * Messages up to 55 bytes (every message of this job: 24-byte stage-1
 * messages, 32- or 33-byte pid labels (p1 [|| rank]), 16-byte pids of the
 * extracts) fit one padded
 * SHA-256 block after the keyed inner state. For them we skip
 * SHA256_Update/Final and their bookkeeping: the padded inner block and the
 * padded outer block (inner digest || padding) are laid out by hand and
 * handed to the compression function, i.e. exactly two compressions per
 * HMAC. pl_hmac_batch runs them for 16 (AVX-512) or 8 (AVX2) records at
 * once with the multi-buffer kernels of sha256mb.h, and the remainder
 * (fewer than a lane group) one at a time with SHA256_Transform. Longer
 * messages take the general SHA256_Update/Final path. tests/unit/
 * test_crypto.c and test_sha256mb.c check every path against RFC 4231 and
 * OpenSSL's HMAC.
 */
#include "crypto/hmac.h"
#include "crypto/sha256mb.h"

#include <openssl/crypto.h>
#include <string.h>

#define FAST_MAX 55             /* message + 0x80 + 8-byte length <= 64 */

void pl_hmac_init(pl_hmac_key *k, const uint8_t *key, size_t keylen)
{
    uint8_t block[64], pad[64];
    memset(block, 0, sizeof block);
    if (keylen > sizeof block) {
        SHA256(key, keylen, block);     /* RFC 2104: long keys are hashed */
    } else {
        memcpy(block, key, keylen);
    }
    for (int i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, 64);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

void pl_hmac_key_wipe(pl_hmac_key *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

/* Padding of a final block holding `len` message bytes after one keyed
 * block: 0x80, zeros, then the total bit length (64 + len) * 8 big-endian. */
static void pad_block(uint8_t blk[64], size_t len)
{
    uint64_t bits = (uint64_t)(64 + len) * 8;
    blk[len] = 0x80;
    memset(blk + len + 1, 0, 55 - len);
    for (int i = 0; i < 8; i++)
        blk[63 - i] = (uint8_t)(bits >> (8 * i));
}

/* One compression from a saved state; the digest words go big-endian to
 * `out` (32 bytes). Only h[] of the context is read by SHA256_Transform. */
static inline void compress(const SHA256_CTX *from, const uint8_t blk[64],
                            uint8_t out[32])
{
    SHA256_CTX c;
    memcpy(c.h, from->h, sizeof c.h);
    SHA256_Transform(&c, blk);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c.h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c.h[i];
    }
    OPENSSL_cleanse(c.h, sizeof c.h);
}

static void hmac_slow(const pl_hmac_key *k, const uint8_t *msg, size_t len,
                      uint8_t out[32])
{
    SHA256_CTX c = k->inner;
    uint8_t inner[32];
    SHA256_Update(&c, msg, len);
    SHA256_Final(inner, &c);
    c = k->outer;
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof c);
    OPENSSL_cleanse(inner, sizeof inner);
}

void pl_hmac(const pl_hmac_key *k, const uint8_t *msg, size_t len,
             uint8_t out[32])
{
    if (len > FAST_MAX) {
        hmac_slow(k, msg, len, out);
        return;
    }
    uint8_t in[64], ob[64];
    memcpy(in, msg, len);
    pad_block(in, len);
    pad_block(ob, 32);
    compress(&k->inner, in, ob);        /* inner digest -> outer block */
    compress(&k->outer, ob, out);
    OPENSSL_cleanse(in, sizeof in);
    OPENSSL_cleanse(ob, 32);
}

/* The scalar batch: two SHA256_Transform per record. */
static void batch_scalar(const pl_hmac_key *k, const uint8_t *msgs,
                         size_t len, size_t stride, size_t n, uint8_t *out,
                         size_t outlen, size_t ostride)
{
    /* Padding laid out once: per record only the message bytes change. */
    uint8_t in[64], ob[64], full[32];
    memset(in, 0, sizeof in);
    pad_block(in, len);
    pad_block(ob, 32);
    for (size_t i = 0; i < n; i++) {
        memcpy(in, msgs + i * stride, len);
        compress(&k->inner, in, ob);
        if (outlen == 32) {
            compress(&k->outer, ob, out + i * ostride);
        } else {
            compress(&k->outer, ob, full);
            memcpy(out + i * ostride, full, outlen);
        }
    }
    OPENSSL_cleanse(in, sizeof in);
    OPENSSL_cleanse(ob, 32);
    OPENSSL_cleanse(full, sizeof full);
}

void pl_hmac_batch(const pl_hmac_key *k, const uint8_t *msgs, size_t len,
                   size_t stride, size_t n, uint8_t *out, size_t outlen,
                   size_t ostride)
{
    if (len > FAST_MAX) {
        uint8_t full[32];
        for (size_t i = 0; i < n; i++) {
            hmac_slow(k, msgs + i * stride, len, full);
            memcpy(out + i * ostride, full, outlen);
        }
        OPENSSL_cleanse(full, sizeof full);
        return;
    }
    /* Whole lane groups through the multi-buffer kernel, the rest (fewer
     * than `lanes` records) through the scalar loop. */
    const pl_sha256mb *mb = pl_sha256mb_active();
    size_t done = 0;
    if (mb->hmac && n >= mb->lanes) {
        done = n - n % mb->lanes;
        mb->hmac(k->inner.h, k->outer.h, msgs, len, stride, done, out, outlen,
                 ostride);
    }
    batch_scalar(k, msgs + done * stride, len, stride, n - done,
                 out + done * ostride, outlen, ostride);
}
