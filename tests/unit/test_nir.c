/* test_nir.c — NIR / identity validation (src/stage/nir.c). */
#include "stage/nir.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Known valid NIRs (public examples) with a consistent identity. */
#define NIR_ABROAD "295109912611193"    /* F, 1995-10, born abroad (99) */
#define NIR_2B     "253072B07300470"    /* F, 1953-07, Haute-Corse */
#define NIR_2A     "253072A07300443"    /* F, 1953-07, Corse-du-Sud */

/* Check a 15-char NIR given as a C string, no padding. */
static int chk(const char *nir, int32_t bd, int sex, int rank)
{
    return pl_identity_check(nir, (int)strlen(nir), bd, sex, rank);
}

/* Copy `nir` and replace the key with the correct one. */
static void fix_key(char *nir)
{
    int k = pl_nir_key(nir);
    nir[13] = (char)('0' + k / 10);
    nir[14] = (char)('0' + k % 10);
    nir[15] = '\0';
}

/* splitmix64: deterministic test randomness. */
static uint64_t rng_state = 0x5eed5eed12345678ULL;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static int dim(int y, int m)
{
    static const int d[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return d[m];
}

static void test_known_valid(void)
{
    CHECK(chk(NIR_ABROAD, 19951001, 2, 1) == PL_OK, "valid NIR 295109912611193");
    CHECK(chk(NIR_2B, 19530715, 2, 1) == PL_OK, "valid NIR 253072B07300470 (2B)");
    CHECK(chk(NIR_2A, 19530715, 2, 1) == PL_OK, "valid NIR 253072A07300443 (2A)");
    CHECK(chk(NIR_ABROAD, 19951031, 2, -1) == PL_OK, "valid, birth_rank not configured");
    CHECK(chk(NIR_ABROAD, 19951001, 2, 2) == PL_OK, "valid, birth_rank 2 (twin)");
    CHECK(pl_nir_key(NIR_ABROAD) == 93, "key of 2951099126111 is 93");
    CHECK(pl_nir_key(NIR_2B) == 70, "key with 2B (counts as 18) is 70");
    CHECK(pl_nir_key(NIR_2A) == 43, "key with 2A (counts as 19) is 43");
    /* 2A -> 19 and 2B -> 18, checked against the plain-digit form. */
    CHECK(pl_nir_key("2530719073004") == 43, "2A key equals key with dept 19");
    CHECK(pl_nir_key("2530718073004") == 70, "2B key equals key with dept 18");
    CHECK(pl_nir_key("25307XX073004") == -1, "pl_nir_key rejects letters");
    CHECK(pl_nir_key("253072a073004") == -1, "pl_nir_key rejects lowercase 2a");
    CHECK(pl_nir_key("25307A2073004") == -1, "pl_nir_key rejects A2");
    CHECK(pl_nir_key("253071A073004") == -1, "pl_nir_key rejects 1A");
    /* Key 97 (number divisible by 97) is written "97". */
    {
        /* find a 13-digit number = 0 mod 97 with valid structure */
        char n[32];
        uint64_t v = 1800175000000ULL;
        uint64_t r = v % 97;
        v += (97 - r) % 97;
        snprintf(n, sizeof n, "%013llu", (unsigned long long)v);
        CHECK(pl_nir_key(n) == 97, "key 97 when the number is a multiple of 97");
    }
}

static void test_reason_names(void)
{
    static const char *names[] = {
        "ok", "nir_length", "nir_charset", "nir_sex", "nir_month", "nir_place",
        "nir_order", "nir_key", "birth_date", "sex", "sex_mismatch",
        "date_mismatch", "birth_rank"};
    int all = 1;
    for (int i = 0; i < PL_R_COUNT; i++)
        if (strcmp(pl_reason_name(i), names[i]) != 0)
            all = 0;
    CHECK(all && PL_R_COUNT == 13, "pl_reason_name gives the stable names");
    CHECK(strcmp(pl_reason_name(-1), "unknown") == 0, "reason -1 is unknown");
    CHECK(strcmp(pl_reason_name(PL_R_OPPOSED), "opposition") == 0,
          "PL_R_OPPOSED (opposition lists, not a reject) has its name");
    CHECK(strcmp(pl_reason_name(PL_R_OPPOSED + 1), "unknown") == 0,
          "reason PL_R_OPPOSED + 1 is unknown");
}

static void test_each_reason(void)
{
    char n[16];

    /* 1 length */
    CHECK(chk("29510991261119", 19951001, 2, 1) == PL_R_NIR_LENGTH, "reason 1: 14 chars");
    /* 2 charset */
    CHECK(chk("29510991261X193", 19951001, 2, 1) == PL_R_NIR_CHARSET, "reason 2: letter");
    /* 3 sex digit */
    strcpy(n, "595109912611100"); fix_key(n);
    CHECK(chk(n, 19951001, 2, 1) == PL_R_NIR_SEX, "reason 3: sex digit 5");
    {
        int ok = 1;
        for (char c = '0'; c <= '9'; c++) {
            strcpy(n, "195109912611100"); n[0] = c; fix_key(n);
            int want_ok = (c == '1' || c == '2' || c == '3' || c == '4' ||
                           c == '7' || c == '8');
            int r = chk(n, 19951001, 1, 1);
            if (want_ok ? r == PL_R_NIR_SEX : r != PL_R_NIR_SEX)
                ok = 0;
        }
        CHECK(ok, "reason 3: exactly sex digits 0,5,6,9 are rejected");
    }
    /* 4 month */
    strcpy(n, "295139912611100"); fix_key(n);
    CHECK(chk(n, 19951001, 2, 1) == PL_R_NIR_MONTH, "reason 4: month 13");
    /* 5 place */
    strcpy(n, "295100012611100"); fix_key(n);
    CHECK(chk(n, 19951001, 2, 1) == PL_R_NIR_PLACE, "reason 5: department 00");
    /* 6 order */
    strcpy(n, "295109912600000"); fix_key(n);
    CHECK(chk(n, 19951001, 2, 1) == PL_R_NIR_ORDER, "reason 6: order 000");
    /* 7 key */
    CHECK(chk("295109912611194", 19951001, 2, 1) == PL_R_NIR_KEY, "reason 7: key off by one");
    /* 8 birth date */
    CHECK(chk(NIR_ABROAD, 19951032, 2, 1) == PL_R_BIRTH_DATE, "reason 8: day 32");
    /* 9 sex column */
    CHECK(chk(NIR_ABROAD, 19951001, 3, 1) == PL_R_SEX, "reason 9: sex 3");
    CHECK(chk(NIR_ABROAD, 19951001, 0, 1) == PL_R_SEX, "reason 9: sex 0");
    CHECK(chk(NIR_ABROAD, 19951001, 9, 1) == PL_R_SEX, "reason 9: sex 9");
    /* 10 sex mismatch */
    CHECK(chk(NIR_ABROAD, 19951001, 1, 1) == PL_R_SEX_MISMATCH, "reason 10: F NIR, sex 1");
    strcpy(n, "195109912611100"); fix_key(n);
    CHECK(chk(n, 19951001, 1, 1) == PL_OK, "NIR sex 1 with sex 1 ok");
    CHECK(chk(n, 19951001, 2, 1) == PL_R_SEX_MISMATCH, "reason 10: M NIR, sex 2");
    {
        const char *digits = "123478";
        int ok = 1;
        for (int i = 0; digits[i]; i++) {
            strcpy(n, "195109912611100"); n[0] = digits[i]; fix_key(n);
            int male = digits[i] == '1' || digits[i] == '3' || digits[i] == '7';
            if (chk(n, 19951001, male ? 1 : 2, 1) != PL_OK) ok = 0;
            if (chk(n, 19951001, male ? 2 : 1, 1) != PL_R_SEX_MISMATCH) ok = 0;
        }
        CHECK(ok, "sex digits 1,3,7 male and 2,4,8 female");
    }
    /* 11 date mismatch */
    CHECK(chk(NIR_ABROAD, 19961001, 2, 1) == PL_R_DATE_MISMATCH, "reason 11: year differs");
}

static void test_each_reason_more(void)
{
    char n[16];
    /* 1895 has YY = 95 and month 10: this is consistent (century unknown). */
    CHECK(chk(NIR_ABROAD, 18951001, 2, 1) == PL_OK, "YY compares modulo 100 (1895)");
    CHECK(chk(NIR_ABROAD, 19951101, 2, 1) == PL_R_DATE_MISMATCH, "reason 11: month differs");
    /* unknown month: month not compared, year still is */
    strcpy(n, "295309912611100"); fix_key(n);
    CHECK(chk(n, 19950715, 2, 1) == PL_OK, "month 30 (unknown): birth month not compared");
    CHECK(chk(n, 19940715, 2, 1) == PL_R_DATE_MISMATCH, "month unknown: year still compared");
    /* 12 birth rank */
    CHECK(chk(NIR_ABROAD, 19951001, 2, 0) == PL_R_BIRTH_RANK, "reason 12: birth_rank 0");
    CHECK(chk(NIR_ABROAD, 19951001, 2, 255) == PL_OK, "birth_rank 255 accepted");
    CHECK(chk(NIR_ABROAD, 19951001, 2, -1) == PL_OK, "birth_rank < 0: not configured");
    CHECK(chk(NIR_ABROAD, 19951001, 2, 256) == PL_R_BIRTH_RANK,
          "birth_rank 256 rejected (hashed as one byte, never truncated to 0)");
    CHECK(pl_nir_like(NIR_ABROAD, 15) && pl_nir_like(NIR_2A, 15) &&
          pl_nir_like(NIR_ABROAD "\0", 16), "pl_nir_like: 15-character NIRs");
    CHECK(pl_nir_like(NIR_ABROAD, 13), "pl_nir_like: 13 characters, no key");
    CHECK(!pl_nir_like("295109912611194", 15) && !pl_nir_like("ABCDEFGHIJKLMNO", 15) &&
          !pl_nir_like("2951099126111", 12), "pl_nir_like: wrong key, letters, short");
    CHECK(pl_nir_like_u64(295109912611193ull) && pl_nir_like_u64(2951099126111ull) &&
          !pl_nir_like_u64(295109912611194ull) && !pl_nir_like_u64(29510991261119ull),
          "pl_nir_like_u64: 15 and 13 digits; wrong key; 14 digits");
    CHECK(pl_nir_in_text("checked against " NIR_ABROAD ".") &&
          pl_nir_in_text("nir 2 95 10 99 126 111 93 (sic)") &&
          pl_nir_in_text("x2951099126111y") &&
          pl_nir_in_text("Corse: 2 53 07 2a 073 004 43") &&
          pl_nir_in_text("id=" NIR_2A),
          "pl_nir_in_text: a NIR anywhere in a text, with separators, 13 digits, 2A");
    CHECK(!pl_nir_in_text("") && !pl_nir_in_text("length of stay, days") &&
          !pl_nir_in_text("ICD-10 2019, codes 1 to 99999") &&
          !pl_nir_in_text("phone 01 23 45 67 89, 2026-12-01") &&
          !pl_nir_in_text("2 95 10, 99 126 111 93"),
          "pl_nir_in_text: ordinary descriptions, phone numbers and dates, a run cut by a comma");
}

static void test_order(void)
{
    /* Every defect at once: the first code in order wins. */
    CHECK(chk("29510991261119", 0, 7, 0) == PL_R_NIR_LENGTH, "order: length before all");
    CHECK(chk("9951X991261119\x01", 0, 7, 0) == PL_R_NIR_CHARSET, "order: charset before sex");
    CHECK(chk("995009900000000", 0, 7, 0) == PL_R_NIR_SEX, "order: sex digit before month");
    CHECK(chk("295009900000000", 0, 7, 0) == PL_R_NIR_MONTH, "order: month before place");
    CHECK(chk("295010000000000", 0, 7, 0) == PL_R_NIR_PLACE, "order: place before order");
    CHECK(chk("295019900000000", 0, 7, 0) == PL_R_NIR_ORDER, "order: order before key");
    CHECK(chk("295019900000100", 0, 7, 0) == PL_R_NIR_KEY, "order: key before date");
    CHECK(chk(NIR_ABROAD, 0, 7, 0) == PL_R_BIRTH_DATE, "order: date before sex");
    CHECK(chk(NIR_ABROAD, 19941101, 7, 0) == PL_R_SEX, "order: sex before mismatch");
    CHECK(chk(NIR_ABROAD, 19941101, 1, 0) == PL_R_SEX_MISMATCH, "order: sex mismatch before date");
    CHECK(chk(NIR_ABROAD, 19941101, 2, 0) == PL_R_DATE_MISMATCH, "order: date mismatch before rank");
}

static void test_wrong_keys(void)
{
    int bad = 0, tested = 0;
    for (int k = 0; k <= 99; k++) {
        if (k == 93)
            continue;
        char n[16];
        memcpy(n, NIR_ABROAD, 16);
        n[13] = (char)('0' + k / 10);
        n[14] = (char)('0' + k % 10);
        tested++;
        if (chk(n, 19951001, 2, 1) != PL_R_NIR_KEY)
            bad++;
    }
    CHECK(tested == 99 && bad == 0, "all 99 wrong keys 00..99 of one NIR give nir_key");
    int bad2 = 0;
    for (int k = 0; k <= 99; k++) {
        char n[16];
        memcpy(n, NIR_2A, 16);
        n[13] = (char)('0' + k / 10);
        n[14] = (char)('0' + k % 10);
        int r = chk(n, 19530715, 2, 1);
        if (r != (k == 43 ? PL_OK : PL_R_NIR_KEY))
            bad2++;
    }
    CHECK(bad2 == 0, "2A NIR: only key 43 accepted");
    /* 2A/2B swapped gives a wrong key (keys differ by one). */
    {
        char n[16];
        memcpy(n, NIR_2A, 16);
        n[6] = 'B';
        CHECK(chk(n, 19530715, 2, 1) == PL_R_NIR_KEY, "2A key under 2B: nir_key");
        memcpy(n, NIR_2A, 16);
        n[5] = '1'; n[6] = '9';
        CHECK(chk(n, 19530715, 2, 1) == PL_OK, "dept 19 has the same key as 2A");
    }
}

static void test_lengths(void)
{
    char buf[32];

    /* 14 chars + NUL in a 15-byte field */
    memcpy(buf, "29510991261119\0", 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "14 chars + NUL (len 15)");
    /* 14 chars + space */
    memcpy(buf, "29510991261119 ", 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "14 chars + space (len 15)");
    /* NUL inside */
    memcpy(buf, "2951099\0""2611193", 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "NUL inside (len 15)");
    memcpy(buf, "\0""95109912611193\0", 16);
    CHECK(pl_identity_check(buf, 16, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "leading NUL (len 16)");
    /* 16 chars without padding */
    memcpy(buf, "2951099126111931", 16);
    CHECK(pl_identity_check(buf, 16, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "16 chars, no padding (len 16)");
    memcpy(buf, "0295109912611193", 16);
    CHECK(pl_identity_check(buf, 16, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "16 chars with leading 0 (len 16)");
    /* padded forms that are valid */
    memcpy(buf, NIR_ABROAD "\0", 16);
    CHECK(pl_identity_check(buf, 16, 19951001, 2, 1) == PL_OK,
          "15 chars + NUL (NULLTERM, len 16)");
    memcpy(buf, NIR_ABROAD " ", 16);
    CHECK(pl_identity_check(buf, 16, 19951001, 2, 1) == PL_OK,
          "15 chars + space (space padding, len 16)");
    memcpy(buf, NIR_ABROAD, 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_OK,
          "15 chars exactly (NULLPAD/NULLTERM size 15)");
    memcpy(buf, NIR_ABROAD "\0\0\0\0\0", 20);
    CHECK(pl_identity_check(buf, 20, 19951001, 2, 1) == PL_OK,
          "15 chars + 5 NULs (len 20)");
    memcpy(buf, NIR_ABROAD "\0 \0", 18);
    CHECK(pl_identity_check(buf, 18, 19951001, 2, 1) == PL_OK,
          "mixed NUL/space padding (len 18)");
    memcpy(buf, NIR_ABROAD "\0""1", 17);
    CHECK(pl_identity_check(buf, 17, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "NUL then a char after 15 chars (len 17)");
    /* all padding */
    memset(buf, 0, sizeof buf);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "all NUL (empty value)");
    memset(buf, ' ', 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "all spaces");
    /* short buffers */
    CHECK(pl_identity_check(NIR_ABROAD, 14, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "nir_len 14");
    CHECK(pl_identity_check(NIR_ABROAD, 0, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "nir_len 0");
    CHECK(pl_identity_check(NULL, 15, 19951001, 2, 1) == PL_R_NIR_LENGTH,
          "NULL nir");
    /* leading space is not padding: it is a bad character */
    memcpy(buf, " 95109912611193", 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "leading space: charset");
    memcpy(buf, "2951099 2611193", 15);
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "space inside: charset");
}

static void test_charset(void)
{
    char buf[16];
    memcpy(buf, NIR_ABROAD, 16);
    buf[4] = (char)0xC3;
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "non-ASCII byte 0xC3");
    memcpy(buf, NIR_ABROAD, 16);
    buf[0] = (char)0xFF;
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "non-ASCII byte 0xFF");
    memcpy(buf, NIR_ABROAD, 16);
    buf[14] = (char)0x80;
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "non-ASCII byte 0x80 at the end");
    memcpy(buf, "2951099\xc3\xa9""611193", 15);     /* UTF-8 e-acute */
    CHECK(pl_identity_check(buf, 15, 19951001, 2, 1) == PL_R_NIR_CHARSET,
          "UTF-8 two-byte char");
    CHECK(chk("253072a07300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "lowercase 2a");
    CHECK(chk("253072b07300470", 19530715, 2, 1) == PL_R_NIR_CHARSET, "lowercase 2b");
    CHECK(chk("25307A207300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "A2 (swapped)");
    CHECK(chk("253071A07300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "1A");
    CHECK(chk("253072C07300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "2C");
    CHECK(chk("2530A2A07300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "A at position 4");
    CHECK(chk("25307220A300443", 19530715, 2, 1) == PL_R_NIR_CHARSET, "A at position 8");
    CHECK(chk("2530722070030A4", 19530715, 2, 1) == PL_R_NIR_CHARSET, "A in the key");
    CHECK(chk("-95109912611193", 19951001, 2, 1) == PL_R_NIR_CHARSET, "minus sign");
    CHECK(chk("29510991261119:", 19951001, 2, 1) == PL_R_NIR_CHARSET, "':' (after '9')");
    CHECK(chk("29510991261119/", 19951001, 2, 1) == PL_R_NIR_CHARSET, "'/' (before '0')");
}

static void test_months(void)
{
    char n[32];
    int months_bad[] = {0, 13, 19, 43, 44, 45, 46, 47, 48, 49};
    for (size_t i = 0; i < sizeof months_bad / sizeof months_bad[0]; i++) {
        int m = months_bad[i];
        snprintf(n, sizeof n, "195%02d75056123", m);
        fix_key(n);
        CHECK(chk(n, 19950115, 1, 1) == PL_R_NIR_MONTH, "month %02d rejected", m);
    }
    int ok = 1;
    for (int m = 0; m <= 99; m++) {
        snprintf(n, sizeof n, "195%02d75056123", m);
        fix_key(n);
        int valid = (m >= 1 && m <= 12) || (m >= 20 && m <= 42) || m >= 50;
        int r = chk(n, 1995 * 10000 + (m >= 1 && m <= 12 ? m : 6) * 100 + 15, 1, 1);
        if (valid ? r != PL_OK : r != PL_R_NIR_MONTH)
            ok = 0;
    }
    CHECK(ok, "months 01-12, 20-42, 50-99 valid; all others nir_month");
}

static void test_dates(void)
{
    CHECK(pl_date_valid(20000229), "2000-02-29 (leap, /400)");
    CHECK(!pl_date_valid(19000229), "1900-02-29 (not leap, /100)");
    CHECK(pl_date_valid(20240229), "2024-02-29 (leap)");
    CHECK(!pl_date_valid(20230229), "2023-02-29 (not leap)");
    CHECK(pl_date_valid(20230228), "2023-02-28");
    CHECK(!pl_date_valid(20000230), "2000-02-30");
    CHECK(!pl_date_valid(20001301), "month 13");
    CHECK(!pl_date_valid(20000001), "month 0");
    CHECK(!pl_date_valid(20000100), "day 0");
    CHECK(!pl_date_valid(20000132), "day 32");
    CHECK(!pl_date_valid(20000431), "April 31");
    CHECK(pl_date_valid(20001231), "Dec 31");
    CHECK(pl_date_valid(18500101), "1850-01-01 (lower bound)");
    CHECK(!pl_date_valid(18491231), "1849-12-31 (too early)");
    CHECK(pl_date_valid(20991231), "2099-12-31 (upper bound)");
    CHECK(!pl_date_valid(21000101), "2100-01-01 (too late)");
    CHECK(!pl_date_valid(0), "0");
    CHECK(!pl_date_valid(-19950101), "negative");
    CHECK(!pl_date_valid(1995101), "7 digits");
    CHECK(!pl_date_valid(INT32_MAX), "INT32_MAX");
    CHECK(!pl_date_valid(INT32_MIN), "INT32_MIN");
    /* every day of 1850..2099 against a day counter */
    int ok = 1, count = 0;
    for (int y = 1850; y <= 2099; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 0; d <= 32; d++) {
                int valid = d >= 1 && d <= dim(y, m);
                if (pl_date_valid(y * 10000 + m * 100 + d) != valid)
                    ok = 0;
                count += valid;
            }
    CHECK(ok && count == 91311, "every date 1850..2099 (%d real days)", count);

    /* through pl_identity_check */
    char n[16];
    strcpy(n, "200027505612300"); fix_key(n);
    CHECK(chk(n, 20000229, 2, 1) == PL_OK, "identity born 2000-02-29");
    strcpy(n, "200027505612300"); fix_key(n);
    CHECK(chk(n, 20000230, 2, 1) == PL_R_BIRTH_DATE, "identity born 2000-02-30");
    strcpy(n, "200027505612300"); fix_key(n);
    CHECK(chk(n, 19000229, 2, 1) == PL_R_BIRTH_DATE, "identity born 1900-02-29");
    strcpy(n, "223027505612300"); fix_key(n);
    CHECK(chk(n, 20230229, 2, 1) == PL_R_BIRTH_DATE, "identity born 2023-02-29");
    CHECK(chk(n, 20230228, 2, 1) == PL_OK, "identity born 2023-02-28");
    CHECK(chk(n, 20231301, 2, 1) == PL_R_BIRTH_DATE, "identity birth month 13");
    CHECK(chk(n, 20230200, 2, 1) == PL_R_BIRTH_DATE, "identity birth day 0");
}

static void test_padding_kinds(void)
{
    /* What a NULLPAD and a NULLTERM field of size 15/16 hold. */
    char nullpad15[15], nullterm16[16], spacepad16[16];
    memcpy(nullpad15, NIR_2B, 15);
    memcpy(nullterm16, NIR_2B, 15);
    nullterm16[15] = '\0';
    memcpy(spacepad16, NIR_2B, 15);
    spacepad16[15] = ' ';
    CHECK(pl_identity_check(nullpad15, 15, 19530701, 2, 1) == PL_OK, "NULLPAD size 15");
    CHECK(pl_identity_check(nullterm16, 16, 19530701, 2, 1) == PL_OK, "NULLTERM size 16");
    CHECK(pl_identity_check(spacepad16, 16, 19530701, 2, 1) == PL_OK, "SPACEPAD size 16");
    /* truncated NIR stored in each */
    char t15[15], t16[16];
    memcpy(t15, NIR_2B, 14); t15[14] = '\0';
    memcpy(t16, NIR_2B, 14); t16[14] = '\0'; t16[15] = '\0';
    CHECK(pl_identity_check(t15, 15, 19530701, 2, 1) == PL_R_NIR_LENGTH, "truncated in size 15");
    CHECK(pl_identity_check(t16, 16, 19530701, 2, 1) == PL_R_NIR_LENGTH, "truncated in size 16");
}

/* Random identities with a well-formed NIR and the correct key. */
static void test_property(void)
{
    const int N = 100000;
    static const char sexd[] = "123478";
    int fail_ok = 0, fail_key = 0, fail_fn = 0;
    for (int i = 0; i < N; i++) {
        char n[32];
        unsigned sd = (unsigned)(sexd[rndn(6)] - '0');
        int sex = (sd == 1 || sd == 3 || sd == 7) ? 1 : 2;
        int y = 1850 + (int)rndn(250);
        int bm = 1 + (int)rndn(12);
        int bd = 1 + (int)rndn((unsigned)dim(y, bm));
        int mm;
        unsigned u = rndn(10);
        if (u < 7)
            mm = bm;
        else if (u < 9)
            mm = 20 + (int)rndn(23);
        else
            mm = 50 + (int)rndn(50);
        char dept[3];
        unsigned p = rndn(100);
        if (p < 5) {
            dept[0] = '2'; dept[1] = (p & 1) ? 'A' : 'B';
        } else {
            int d = 1 + (int)rndn(99);
            dept[0] = (char)('0' + d / 10); dept[1] = (char)('0' + d % 10);
        }
        dept[2] = '\0';
        int commune = (int)rndn(1000);
        int order = 1 + (int)rndn(999);
        snprintf(n, sizeof n, "%u%02u%02u%s%03u%03u00", sd, (unsigned)y % 100u,
                 (unsigned)mm, dept,
                 (unsigned)commune % 1000u, (unsigned)order % 1000u);
        int k = pl_nir_key(n);
        if (k < 1 || k > 97) {
            fail_fn++;
            continue;
        }
        n[13] = (char)('0' + k / 10);
        n[14] = (char)('0' + k % 10);
        int32_t date = y * 10000 + bm * 100 + bd;
        int rank = (int)rndn(3) == 0 ? -1 : 1 + (int)rndn(3);
        if (pl_identity_check(n, 15, date, sex, rank) != PL_OK) {
            fail_ok++;
            continue;
        }
        for (int delta = 1; delta <= 99; delta++) {
            int k2 = (k + delta) % 100;
            n[13] = (char)('0' + k2 / 10);
            n[14] = (char)('0' + k2 % 10);
            if (pl_identity_check(n, 15, date, sex, rank) != PL_R_NIR_KEY)
                fail_key++;
        }
    }
    CHECK(fail_fn == 0, "property: pl_nir_key in 1..97 for %d random NIRs", N);
    CHECK(fail_ok == 0, "property: %d random valid identities pass (%d failed)",
          N, fail_ok);
    CHECK(fail_key == 0,
          "property: every other key 00..99 gives nir_key (%d failures)", fail_key);
}

int main(void)
{
    test_known_valid();
    test_reason_names();
    test_each_reason();
    test_each_reason_more();
    test_order();
    test_wrong_keys();
    test_lengths();
    test_charset();
    test_months();
    test_dates();
    test_padding_kinds();
    test_property();
    return unit_done();
}
