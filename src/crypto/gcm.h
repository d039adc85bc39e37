/* gcm.h — AES-256-GCM with a 12-byte nonce and a 16-byte tag (OpenSSL
 * EVP), for the correspondence shards. Messages may exceed INT_MAX bytes.
 * 0 or -1 (no message: the caller names the file and the shard); a failed
 * decryption (wrong key, altered bytes or tag) wipes `out`. */
#ifndef PL_CRYPTO_GCM_H
#define PL_CRYPTO_GCM_H

#include <stddef.h>
#include <stdint.h>

#define PL_GCM_KEY   32
#define PL_GCM_NONCE 12
#define PL_GCM_TAG   16

int pl_gcm_encrypt(const uint8_t key[PL_GCM_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, uint8_t tag[PL_GCM_TAG]);
int pl_gcm_decrypt(const uint8_t key[PL_GCM_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, const uint8_t tag[PL_GCM_TAG]);

#endif
