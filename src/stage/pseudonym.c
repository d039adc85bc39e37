/* pseudonym.c — see pseudonym.h. */
#include "stage/pseudonym.h"

#include "base/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

size_t pl_p1_message(uint8_t out[PL_P1_MSG_MAX], const char *nir,
                     int32_t birth_date, int sex, int birth_rank)
{
    memcpy(out, nir, 15);
    uint32_t d = (uint32_t)birth_date;
    for (int i = 7; i >= 0; i--) {      /* 8 ASCII digits, zero-padded */
        out[15 + i] = (uint8_t)('0' + d % 10);
        d /= 10;
    }
    out[23] = (uint8_t)('0' + sex);
    if (birth_rank < 0)
        return 24;
    out[24] = (uint8_t)birth_rank;
    return 25;
}

void pl_p1_compute(const pl_hmac_key *producer, const char *nir,
                   int32_t birth_date, int sex, int birth_rank,
                   uint8_t p1[PL_P1_BYTES])
{
    uint8_t msg[PL_P1_MSG_MAX];
    size_t len = pl_p1_message(msg, nir, birth_date, sex, birth_rank);
    pl_hmac(producer, msg, len, p1);
    OPENSSL_cleanse(msg, sizeof msg);   /* holds the NIR */
}

void pl_pid_keyed(const pl_hmac_key *platform, const uint8_t p1[PL_P1_BYTES],
                  uint8_t pid[PL_PID_BYTES])
{
    uint8_t full[32];
    pl_hmac(platform, p1, PL_P1_BYTES, full);
    memcpy(pid, full, PL_PID_BYTES);
    OPENSSL_cleanse(full, sizeof full);
}

void pl_pid_keyed_batch(const pl_hmac_key *platform, const uint8_t *p1s,
                        size_t n, uint8_t *pids)
{
    pl_hmac_batch(platform, p1s, PL_P1_BYTES, PL_P1_BYTES, n, pids,
                  PL_PID_BYTES, PL_PID_BYTES);
}

/* Messages are built and hashed this many at a time: the multi-buffer
 * kernels only need 16; the HMAC padding is laid out once per call. */
#define MSG_CHUNK 4096

void pl_p1_batch(const pl_hmac_key *producer, const char *nir,
                 size_t nir_stride, const int64_t *birth_date,
                 const int64_t *sex, const int64_t *birth_rank,
                 const size_t *idx, size_t n, uint8_t *p1s)
{
    uint8_t *msg = pl_xmalloc(MSG_CHUNK * PL_P1_BYTES);
    for (size_t k0 = 0; k0 < n; k0 += MSG_CHUNK) {
        size_t m = n - k0 < MSG_CHUNK ? n - k0 : MSG_CHUNK, mlen = 0;
        for (size_t k = 0; k < m; k++) {
            size_t i = idx[k0 + k];
            mlen = pl_p1_message(msg + k * PL_P1_BYTES, nir + i * nir_stride,
                                 (int32_t)birth_date[i], (int)sex[i],
                                 birth_rank ? (int)birth_rank[i] : -1);
        }
        pl_hmac_batch(producer, msg, mlen, PL_P1_BYTES, m,
                      p1s + k0 * PL_P1_BYTES, PL_P1_BYTES, PL_P1_BYTES);
        pl_wipe(msg, m * PL_P1_BYTES);
    }
    free(msg);
}
