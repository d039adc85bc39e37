/* hex.c — see hex.h. */
#include "base/hex.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char digits[] = "0123456789abcdef";

void pl_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SSE2: split each byte into its two nibbles, interleave them, and map
 * 0..15 to ASCII: '0' + n, plus 39 more ('a' - '0' - 10) where n > 9. */
void pl_hex16(const uint8_t b[16], char out[32])
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)b);
    __m128i m = _mm_set1_epi8(0x0f);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    __m128i lo = _mm_and_si128(v, m);
    __m128i x = _mm_unpacklo_epi8(hi, lo), y = _mm_unpackhi_epi8(hi, lo);
    __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9),
            gap = _mm_set1_epi8('a' - '0' - 10);
    x = _mm_add_epi8(_mm_add_epi8(x, zero),
                     _mm_and_si128(_mm_cmpgt_epi8(x, nine), gap));
    y = _mm_add_epi8(_mm_add_epi8(y, zero),
                     _mm_and_si128(_mm_cmpgt_epi8(y, nine), gap));
    _mm_storeu_si128((__m128i *)out, x);
    _mm_storeu_si128((__m128i *)(out + 16), y);
#else
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
#endif
}

int pl_hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pl_unhex(const char *s, size_t n, uint8_t *out, size_t *bad)
{
    for (size_t i = 0; i < n; i++) {
        int hi = pl_hexval((unsigned char)s[2 * i]);
        int lo = pl_hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            if (bad)
                *bad = hi < 0 ? 2 * i : 2 * i + 1;
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
