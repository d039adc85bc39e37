/* pseudonym.c — see pseudonym.h. */
#include "stage/pseudonym.h"
#include "base/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void pl_p1_message(uint8_t out[PL_P1_MSG], const char *nir,
                   int32_t birth_date, int sex)
{
    memcpy(out, nir, 15);
    uint32_t d = (uint32_t)birth_date;
    for (int i = 7; i >= 0; i--) {      /* 8 ASCII digits, zero-padded */
        out[15 + i] = (uint8_t)('0' + d % 10);
        d /= 10;
    }
    out[23] = (uint8_t)('0' + sex);
}

void pl_p1_compute(const pl_hmac_key *producer, const char *nir,
                   int32_t birth_date, int sex, uint8_t p1[PL_P1_BYTES])
{
    uint8_t msg[PL_P1_MSG];
    pl_p1_message(msg, nir, birth_date, sex);
    pl_hmac(producer, msg, sizeof msg, p1);
    OPENSSL_cleanse(msg, sizeof msg);   /* holds the NIR */
}

void pl_pid_keyed(const pl_hmac_key *platform, const uint8_t key[PL_KEY_REC],
                  uint8_t pid[PL_PID_BYTES])
{
    uint8_t full[32];
    pl_hmac(platform, key, key[PL_P1_BYTES] ? PL_KEY_REC : PL_P1_BYTES,
            full);
    memcpy(pid, full, PL_PID_BYTES);
    OPENSSL_cleanse(full, sizeof full);
}

void pl_pid_keyed_batch(const pl_hmac_key *platform, const uint8_t *keys,
                        size_t n, uint8_t *pids)
{
    /* Labels without a rank (nearly all) in one batch call; the others
     * (twins) one by one. */
    uint8_t *p1s = pl_xmalloc(n * PL_P1_BYTES + 1);
    size_t *at = pl_xmalloc((n + 1) * sizeof *at), m = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = keys + i * PL_KEY_REC;
        if (k[PL_P1_BYTES]) {
            pl_pid_keyed(platform, k, pids + i * PL_PID_BYTES);
            continue;
        }
        memcpy(p1s + m * PL_P1_BYTES, k, PL_P1_BYTES);
        at[m++] = i;
    }
    uint8_t *out = pl_xmalloc(m * PL_PID_BYTES + 1);
    pl_hmac_batch(platform, p1s, PL_P1_BYTES, PL_P1_BYTES, m, out,
                  PL_PID_BYTES, PL_PID_BYTES);
    for (size_t k = 0; k < m; k++)
        memcpy(pids + at[k] * PL_PID_BYTES, out + k * PL_PID_BYTES,
               PL_PID_BYTES);
    pl_wipe(p1s, m * PL_P1_BYTES);
    pl_wipe(out, m * PL_PID_BYTES);
    free(p1s);
    free(out);
    free(at);
}

/* Messages are built and hashed this many at a time: the multi-buffer
 * kernels only need 16; the HMAC padding is laid out once per call. */
#define MSG_CHUNK 4096

void pl_p1_batch(const pl_hmac_key *producer, const char *nir,
                 size_t nir_stride, const int64_t *birth_date,
                 const int64_t *sex, const size_t *idx, size_t n,
                 uint8_t *p1s)
{
    uint8_t *msg = pl_xmalloc(MSG_CHUNK * PL_P1_MSG);
    for (size_t k0 = 0; k0 < n; k0 += MSG_CHUNK) {
        size_t m = n - k0 < MSG_CHUNK ? n - k0 : MSG_CHUNK;
        for (size_t k = 0; k < m; k++) {
            size_t i = idx[k0 + k];
            pl_p1_message(msg + k * PL_P1_MSG, nir + i * nir_stride,
                          (int32_t)birth_date[i], (int)sex[i]);
        }
        pl_hmac_batch(producer, msg, PL_P1_MSG, PL_P1_MSG, m,
                      p1s + k0 * PL_P1_BYTES, PL_P1_BYTES, PL_P1_BYTES);
        pl_wipe(msg, m * PL_P1_MSG);
    }
    free(msg);
}
