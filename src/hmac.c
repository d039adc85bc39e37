/* hmac.c — see hmac.h. */
#include "hmac.h"

#include <openssl/crypto.h>
#include <string.h>

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

void pl_hmac(const pl_hmac_key *k, const uint8_t *msg, size_t len,
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
}

void pl_hmac_batch(const pl_hmac_key *k, const uint8_t *msgs, size_t len,
                   size_t stride, size_t n, uint8_t *out, size_t outlen,
                   size_t ostride)
{
    uint8_t full[32];
    for (size_t i = 0; i < n; i++) {
        pl_hmac(k, msgs + i * stride, len, full);
        memcpy(out + i * ostride, full, outlen);
    }
    OPENSSL_cleanse(full, sizeof full);
}
