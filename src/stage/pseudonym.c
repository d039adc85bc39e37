/* pseudonym.c — see pseudonym.h. */
#include "stage/pseudonym.h"

#include <openssl/crypto.h>
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
