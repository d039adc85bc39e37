/* pseudonym.c — see pseudonym.h. */
#include "pseudonym.h"

#include <openssl/crypto.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* 16 bytes -> 32 lower-case hex digits. Every output row of the job goes
 * through here (tens of millions per run), so on x86-64 it is 16 lanes of
 * SSE2 (baseline on every x86-64): nibbles interleaved high-then-low, then
 * '0' + n, plus 39 more ('a' - '0' - 10) where n > 9. */
void pl_pid_hex(const uint8_t pid[PL_PID_BYTES], char out[32])
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)pid);
    __m128i m = _mm_set1_epi8(0x0f);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    __m128i lo = _mm_and_si128(v, m);
    __m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);
    __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9),
            gap = _mm_set1_epi8('a' - '0' - 10);
    a = _mm_add_epi8(_mm_add_epi8(a, zero),
                     _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
    b = _mm_add_epi8(_mm_add_epi8(b, zero),
                     _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
    _mm_storeu_si128((__m128i *)out, a);
    _mm_storeu_si128((__m128i *)(out + 16), b);
#else
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < PL_PID_BYTES; i++) {
        out[2 * i] = hex[pid[i] >> 4];
        out[2 * i + 1] = hex[pid[i] & 15];
    }
#endif
}
