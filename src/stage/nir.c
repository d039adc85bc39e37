/* nir.c — see nir.h.
 *
 * Hot path: called once per input row (tens of millions per second are
 * wanted), so no allocation, no locale (isdigit and friends), no division
 * other than by constants, and only byte arithmetic.
 */
#include "stage/nir.h"

#include <math.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[PL_R_COUNT] = {
    [PL_OK]              = "ok",
    [PL_R_NIR_LENGTH]    = "nir_length",
    [PL_R_NIR_CHARSET]   = "nir_charset",
    [PL_R_NIR_SEX]       = "nir_sex",
    [PL_R_NIR_MONTH]     = "nir_month",
    [PL_R_NIR_PLACE]     = "nir_place",
    [PL_R_NIR_ORDER]     = "nir_order",
    [PL_R_NIR_KEY]       = "nir_key",
    [PL_R_BIRTH_DATE]    = "birth_date",
    [PL_R_SEX]           = "sex",
    [PL_R_SEX_MISMATCH]  = "sex_mismatch",
    [PL_R_DATE_MISMATCH] = "date_mismatch",
    [PL_R_BIRTH_RANK]    = "birth_rank",
};

const char *pl_reason_name(int code)
{
    if (code == PL_R_OPPOSED)
        return "opposition";
    if (code < 0 || code >= PL_R_COUNT)
        return "unknown";
    return reason_names[code];
}

static inline unsigned dig(char c) { return (unsigned)(unsigned char)c - '0'; }
static inline int is_digit(char c) { return dig(c) <= 9; }

/* High bit set in each byte of x that is not an ASCII digit. No carry
 * crosses bytes: the high bits are cleared before the additions. */
static inline uint64_t nondigit_bytes(uint64_t x)
{
    const uint64_t H = 0x8080808080808080ULL;
    uint64_t y = x & ~H;
    uint64_t ge0 = y + 0x5050505050505050ULL;   /* high bit: y >= '0' */
    uint64_t gt9 = y + 0x4646464646464646ULL;   /* high bit: y >  '9' */
    return (x | ~ge0 | gt9) & H;
}

/* The 13-digit number of an NIR whose characters are already known to be
 * well-formed (digits, 2A/2B at positions 5-6). */
static inline uint64_t nir_number(const char *s)
{
    uint64_t n = 0;
    for (int i = 0; i < 5; i++)
        n = n * 10 + dig(s[i]);
    if (s[6] == 'A')
        n = n * 100 + 19;               /* 2A counts as 19 */
    else if (s[6] == 'B')
        n = n * 100 + 18;               /* 2B counts as 18 */
    else
        n = n * 100 + dig(s[5]) * 10 + dig(s[6]);
    for (int i = 7; i < 13; i++)
        n = n * 10 + dig(s[i]);
    return n;
}

/* Characters 0..len-1 of a 13/15-char NIR: 1 if all are digits except a
 * Corsican "2A"/"2B" at positions 5-6 (uppercase only). */
static inline int nir_chars_ok(const char *s, int len)
{
    for (int i = 0; i < len; i++) {
        if (is_digit(s[i]))
            continue;
        if (i == 6 && (s[6] == 'A' || s[6] == 'B') && s[5] == '2')
            continue;
        return 0;
    }
    return 1;
}

int pl_nir_key(const char nir13[13])
{
    if (!nir13 || !nir_chars_ok(nir13, 13))
        return -1;
    return (int)(97 - nir_number(nir13) % 97);
}

static const uint8_t days_in_month[13] = {
    0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
};

static inline int date_valid(int32_t d)
{
    if (d < 18500101 || d > 20991231)
        return 0;
    uint32_t u = (uint32_t)d;
    unsigned y = u / 10000, m = (u / 100) % 100, day = u % 100;
    if (m < 1 || m > 12 || day < 1)
        return 0;
    unsigned dim = days_in_month[m];
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        dim = 29;
    return day <= dim;
}

int pl_date_valid(int32_t yyyymmdd) { return date_valid(yyyymmdd); }

/* Bit i set = sex digit i is allowed (1,2,3,4,7,8). */
#define SEX_DIGITS ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | \
                    (1u << 7) | (1u << 8))

int pl_identity_check(const char *nir, int nir_len, int32_t birth_date,
                      int sex, int birth_rank)
{
    /* 1. length. After stripping trailing padding (NUL or space) there must
     *    be exactly 15 characters and none of them NUL. Equivalently: bytes
     *    15.. are all padding, byte 14 is not padding, bytes 0..13 hold no
     *    NUL. */
    if (!nir || nir_len < 15)
        return PL_R_NIR_LENGTH;
    for (int i = 15; i < nir_len; i++)
        if (nir[i] != '\0' && nir[i] != ' ')
            return PL_R_NIR_LENGTH;
    if (nir[14] == '\0' || nir[14] == ' ')
        return PL_R_NIR_LENGTH;

    /* 2. charset: digits, or 2A/2B (uppercase) as the department. Fast
     *    path: two overlapping 8-byte words (bytes 0-7 and 7-14) tested for
     *    all-digits at once; anything else goes through a byte loop, which
     *    also catches a NUL inside (a length error, code 1, so it wins). */
    uint64_t w0, w1;
    memcpy(&w0, nir, 8);
    memcpy(&w1, nir + 7, 8);
    unsigned dept;                      /* as a number, 2A = 19, 2B = 18 */
    int corsica = 0;
    if ((nondigit_bytes(w0) | nondigit_bytes(w1)) == 0) {
        dept = dig(nir[5]) * 10 + dig(nir[6]);
    } else {
        for (int i = 0; i < 14; i++)
            if (nir[i] == '\0')
                return PL_R_NIR_LENGTH;
        if (!nir_chars_ok(nir, 15))
            return PL_R_NIR_CHARSET;
        corsica = 1;                    /* only 2A/2B can get here */
        dept = nir[6] == 'A' ? 19 : 18;
    }

#define D(i) dig(nir[i])
    /* 3. sex digit. */
    unsigned s = D(0);
    if (!((1u << s) & SEX_DIGITS))
        return PL_R_NIR_SEX;

    /* 4. month: 01-12, or 20-42 / 50-99 (month unknown). */
    unsigned mm = D(3) * 10 + D(4);
    if (!((mm >= 1 && mm <= 12) || (mm >= 20 && mm <= 42) || mm >= 50))
        return PL_R_NIR_MONTH;

    /* 5. place: department 00 does not exist. (A malformed 2A/2B was
     *    already rejected as a charset error.) */
    if (dept == 0 && !corsica)
        return PL_R_NIR_PLACE;

    /* 6. order number 000. */
    if ((D(10) | D(11) | D(12)) == 0)
        return PL_R_NIR_ORDER;

    /* 7. control key: 97 - (13-digit number mod 97). */
    uint64_t hi = (uint64_t)(D(0) * 10000 + D(1) * 1000 + D(2) * 100 +
                             D(3) * 10 + D(4));
    uint64_t lo = (uint64_t)(D(7) * 100000 + D(8) * 10000 + D(9) * 1000 +
                             D(10) * 100 + D(11) * 10 + D(12));
    uint64_t num = (hi * 100 + dept) * 1000000 + lo;
    unsigned key = D(13) * 10 + D(14);
    if (key != 97 - (unsigned)(num % 97))
        return PL_R_NIR_KEY;

    /* 8. birth date. */
    if (!date_valid(birth_date))
        return PL_R_BIRTH_DATE;

    /* 9. sex column. */
    if (sex != 1 && sex != 2)
        return PL_R_SEX;

    /* 10. NIR sex digit vs sex column: 1,3,7 male; 2,4,8 female. */
    int nir_sex = (s == 1 || s == 3 || s == 7) ? 1 : 2;
    if (nir_sex != sex)
        return PL_R_SEX_MISMATCH;

    /* 11. NIR year (and month when known) vs birth date. */
    uint32_t bd = (uint32_t)birth_date;
    unsigned yy = D(1) * 10 + D(2);
    if (yy != (bd / 10000) % 100)
        return PL_R_DATE_MISMATCH;
    if (mm <= 12 && mm != (bd / 100) % 100)
        return PL_R_DATE_MISMATCH;

    /* 12. birth rank, when configured: 1..255 (it is hashed as one byte;
     *     256 must not become 0). */
    if (birth_rank == 0 || birth_rank > 255)
        return PL_R_BIRTH_RANK;

#undef D
    return PL_OK;
}

int pl_nir_like(const char *v, int len)
{
    /* Separators dropped ("1 84 12 75 123 456 78", "1.84.12..."): up to
     * 64 bytes, a NIR is what remains. */
    char c[64], buf[15];
    int n = 0;
    for (int i = 0; i < len && i < 64; i++) {
        if (v[i] == '\0')
            break;
        if (v[i] == ' ' || v[i] == '.' || v[i] == '-')
            continue;
        c[n++] = v[i];
    }
    if (n == 15) {
        memcpy(buf, c, 15);
    } else if (n == 13) {
        /* A NIR without its key: give it the key it would have, then the
         * same checks (sex digit, month, department, order number). */
        int key = pl_nir_key(c);
        if (key < 0)
            return 0;
        memcpy(buf, c, 13);
        buf[13] = (char)('0' + key / 10);
        buf[14] = (char)('0' + key % 10);
    } else {
        return 0;
    }
    /* Codes 1-7 are the NIR's own; date 0 then fails with code 8. */
    return pl_identity_check(buf, 15, 0, 0, -1) == PL_R_BIRTH_DATE;
}

int pl_nir_in_text(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            continue;
        char c[16];
        int n = 0;
        for (const char *q = p; *q && n < 15; q++) {
            if (*q == ' ' || *q == '.' || *q == '-')
                continue;
            if ((*q >= '0' && *q <= '9') ||
                (n == 6 && (*q == 'A' || *q == 'B' || *q == 'a' ||
                            *q == 'b')))
                c[n++] = *q >= 'a' ? (char)(*q - 'a' + 'A') : *q;
            else
                break;
            if ((n == 13 || n == 15) && pl_nir_like(c, n))
                return 1;
        }
    }
    return 0;
}

int pl_nir_like_u64(uint64_t x)
{
    char buf[16];
    if (x >= 1000000000000ull && x < 10000000000000ull)          /* 13 digits */
        snprintf(buf, sizeof buf, "%013llu", (unsigned long long)x);
    else if (x >= 100000000000000ull && x < 1000000000000000ull) /* 15 */
        snprintf(buf, sizeof buf, "%015llu", (unsigned long long)x);
    else
        return 0;
    return pl_nir_like(buf, (int)strlen(buf));
}

int pl_identity_check_i64(const char *nir, int nir_len, int64_t birth_date,
                          int64_t sex, int has_rank, int64_t birth_rank)
{
    /* A uint64 above INT64_MAX was clipped by HDF5 to INT64_MAX on the way
     * in: still out of range. */
    int br = -1;
    if (has_rank)
        br = birth_rank >= 1 && birth_rank <= 255 ? (int)birth_rank : 0;
    return pl_identity_check(
        nir, nir_len,
        birth_date >= INT32_MIN && birth_date <= INT32_MAX
            ? (int32_t)birth_date : 0,
        sex == 1 || sex == 2 ? (int)sex : 0, br);
}

enum pl_scan_kind pl_scan_kind_of(int cls, size_t size, int is_signed)
{
    /* Wide enough for a NIR: strings of 13-64 bytes (13 = without its key;
     * wider: padded, or written with separators), 64-bit integers, doubles
     * (exact up to 2^53, past 15 digits). */
    if (cls == 2 && size >= 13 && size <= 64)
        return PL_SCAN_STR;
    if (cls == 0 && size == 8)
        return is_signed ? PL_SCAN_I64 : PL_SCAN_U64;
    if (cls == 1 && size == 8)
        return PL_SCAN_F64;
    return PL_SCAN_NONE;
}

void pl_nir_scan(enum pl_scan_kind kind, size_t size, const void *buf,
                 uint64_t cnt, uint64_t *hits, uint64_t *nonempty)
{
    for (uint64_t i = 0; i < cnt; i++) {
        int like = 0, empty = 0;
        switch (kind) {
        case PL_SCAN_STR: {
            const char *v = (const char *)buf + i * size;
            empty = v[0] == '\0';
            like = pl_nir_like(v, (int)size);
            break;
        }
        case PL_SCAN_I64: {
            int64_t v = ((const int64_t *)buf)[i];
            empty = v == 0;
            like = v > 0 && pl_nir_like_u64((uint64_t)v);
            break;
        }
        case PL_SCAN_U64: {
            uint64_t v = ((const uint64_t *)buf)[i];
            empty = v == 0;
            like = pl_nir_like_u64(v);
            break;
        }
        case PL_SCAN_F64: {
            double v = ((const double *)buf)[i];
            empty = v == 0 || isnan(v);
            like = v >= 1e12 && v < 1e15 && v == floor(v) &&
                   pl_nir_like_u64((uint64_t)v);
            break;
        }
        default:
            return;
        }
        *hits += (uint64_t)like;
        *nonempty += (uint64_t)!empty;
    }
}

int pl_nir_scan_refused(uint64_t hits, uint64_t nonempty)
{
    return hits >= 1 && hits * 100 >= nonempty;
}
