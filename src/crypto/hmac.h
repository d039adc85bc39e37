/* hmac.h — HMAC-SHA256 at per-record speed.
 *
 * A one-shot HMAC call costs microseconds (context setup, key hashing); the
 * payload here is one or two SHA-256 blocks. So the keyed inner and outer
 * states are computed once per key and copied for every record: each record
 * costs two compression calls for messages up to 55 bytes.
 */
#ifndef PL_HMAC_H
#define PL_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA256_* low-level API: state copy */
#include <openssl/sha.h>

typedef struct {
    SHA256_CTX inner, outer;    /* after absorbing key^ipad, key^opad */
} pl_hmac_key;

/* Prepare a key of any length; the caller wipes `key` afterwards.
 * pl_hmac_key_wipe() must be called when done (OPENSSL_cleanse). */
void pl_hmac_init(pl_hmac_key *k, const uint8_t *key, size_t keylen);
void pl_hmac_key_wipe(pl_hmac_key *k);

/* out = HMAC-SHA256(k, msg). */
void pl_hmac(const pl_hmac_key *k, const uint8_t *msg, size_t len,
             uint8_t out[32]);

/* Batch form: n messages of `len` bytes each, `stride` bytes apart;
 * outputs of `outlen` (<= 32) bytes each, `ostride` bytes apart (not
 * overlapping the messages). Up to 55 bytes, 16 or 8 messages are hashed at
 * once (multi-buffer SHA-256, sha256mb.h): give it whole batches. */
void pl_hmac_batch(const pl_hmac_key *k, const uint8_t *msgs, size_t len,
                   size_t stride, size_t n, uint8_t *out, size_t outlen,
                   size_t ostride);

#endif
