/* gcm.c — see gcm.h. */
#include "crypto/gcm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce,
               const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
               uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c != NULL;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
                                 enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, PL_GCM_NONCE,
                                   NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
    ok = ok && EVP_CipherUpdate(c, NULL, &len, aad, (int)aadlen) == 1;
    /* Chunks below INT_MAX bytes: shards may be large. */
    for (size_t done = 0; ok && done < n;) {
        size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
        ok = EVP_CipherUpdate(c, out + done, &len, in + done, (int)k) == 1;
        done += k;
    }
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, PL_GCM_TAG,
                                 tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + n, &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, PL_GCM_TAG,
                                 tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int pl_gcm_encrypt(const uint8_t key[PL_GCM_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, uint8_t tag[PL_GCM_TAG])
{
    return gcm(1, key, nonce, aad, aadlen, in, n, out, tag);
}

int pl_gcm_decrypt(const uint8_t key[PL_GCM_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, const uint8_t tag[PL_GCM_TAG])
{
    uint8_t t[PL_GCM_TAG];
    memcpy(t, tag, sizeof t);
    int rc = gcm(0, key, nonce, aad, aadlen, in, n, out, t);
    if (rc != 0)
        OPENSSL_cleanse(out, n);
    return rc;
}
