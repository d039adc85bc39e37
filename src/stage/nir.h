/* nir.h — validation of the identity triple (NIR, birth date, sex).
 *
 * NIR layout (15 characters): S YY MM DDCCC OOO KK
 *   S   sex digit: 1,3,7 male; 2,4,8 female
 *   YY  year of birth (2 digits)
 *   MM  month: 01-12, or 20-42 / 50-99 (INSEE: month unknown)
 *   DDCCC place: department (2 digits, or 2A/2B for Corsica) + commune
 *       (3 digits); overseas 97x/98x use 3 digits + 2 digits, which is
 *       still 5 digits
 *   OOO order number 001-999
 *   KK  key = 97 - (first 13 digits mod 97), where 2A counts as 19 and 2B
 *       as 18.
 * Checks run in the order of the codes below; the first failure is the
 * reason. The reason codes are part of the output format (docs/FORMATS.md).
 */
#ifndef PL_NIR_H
#define PL_NIR_H

#include <stddef.h>
#include <stdint.h>

enum pl_reason {
    PL_OK               = 0,
    PL_R_NIR_LENGTH     = 1,  /* not exactly 15 non-NUL characters */
    PL_R_NIR_CHARSET    = 2,  /* a character that is not a digit (or 2A/2B) */
    PL_R_NIR_SEX        = 3,  /* first digit not one of 1,2,3,4,7,8 */
    PL_R_NIR_MONTH      = 4,  /* month not 01-12, 20-42 or 50-99 */
    PL_R_NIR_PLACE      = 5,  /* department 00 (a misplaced letter is nir_charset) */
    PL_R_NIR_ORDER      = 6,  /* order number 000 */
    PL_R_NIR_KEY        = 7,  /* control key does not match */
    PL_R_BIRTH_DATE     = 8,  /* birth_date not a real date YYYYMMDD, 1850-2099 */
    PL_R_SEX            = 9,  /* sex column not 1 or 2 */
    PL_R_SEX_MISMATCH   = 10, /* NIR sex digit disagrees with the sex column */
    PL_R_DATE_MISMATCH  = 11, /* NIR year/month disagree with birth_date */
    PL_R_BIRTH_RANK     = 12, /* birth_rank not 1..255 */
    PL_R_COUNT
};

/* Not a reject: a valid row whose person is on an opposition list
 * (docs/PACKAGE.md). It gets no pid and no output row, and is never listed
 * in /rejects; only counts say how many. */
#define PL_R_OPPOSED PL_R_COUNT

/* Short stable name of a reason code ("nir_key", ...), "unknown" otherwise. */
const char *pl_reason_name(int code);

/* Control key (0..96 -> 1..97) of the first 13 characters, or -1 if they are
 * not digits/2A/2B. */
int pl_nir_key(const char nir13[13]);

/* Validate one identity. `nir` points at `nir_len` raw bytes from the store
 * (a fixed-length string field; trailing NULs/spaces count as padding).
 * birth_rank < 0 means the column is not configured; callers map any
 * other out-of-range value (read as int64) to 0. Returns PL_OK or the
 * first failing reason. Never prints anything. */
int pl_identity_check(const char *nir, int nir_len, int32_t birth_date,
                      int sex, int birth_rank);

/* pl_identity_check on values read as int64 whatever their width in the
 * input (nothing is narrowed before it is checked): a date outside int32,
 * a sex other than 1/2 and a rank outside 1..255 become values that fail
 * their own check, in the order of the codes. has_rank = 0: no rank
 * column. The one mapping `run` (ingest.c) and `produce` share. */
int pl_identity_check_i64(const char *nir, int nir_len, int64_t birth_date,
                          int64_t sex, int has_rank, int64_t birth_rank);

/* Payload columns that could hold a NIR (store.c, produce.c): how their
 * values are scanned, and the verdict. */
enum pl_scan_kind { PL_SCAN_NONE, PL_SCAN_STR, PL_SCAN_I64, PL_SCAN_U64,
                    PL_SCAN_F64 };
/* The scan kind of a column of an HDF5 class (0 integer, 1 float, 2
 * string), size and signedness. */
enum pl_scan_kind pl_scan_kind_of(int cls, size_t size, int is_signed);
/* Count the values of buf (cnt values of `size` bytes) that look like
 * NIRs and the non-empty ones (0, "", NaN are empty). */
void pl_nir_scan(enum pl_scan_kind kind, size_t size, const void *buf,
                 uint64_t cnt, uint64_t *hits, uint64_t *nonempty);
/* 1 when a column with these global counts must be refused: at least one
 * value and at least 1 % of the non-empty ones look like NIRs. */
int pl_nir_scan_refused(uint64_t hits, uint64_t nonempty);

/* True if a payload value looks like a NIR: a fixed-length string (up to
 * the first NUL, at most 64 bytes, spaces, dots and dashes dropped) of 15
 * characters passing checks 1-7 (so its key matches), or of 13 characters
 * passing checks 2-6 (a NIR without its key). pl_nir_like_u64: the same for a 13- or 15-digit
 * number. Used to refuse publishing such a column in clear (store.c). */
int pl_nir_like(const char *v, int len);
int pl_nir_like_u64(uint64_t x);
/* True if a NUL-terminated text holds a NIR-like run anywhere: from any
 * digit, the next 15 or 13 digits (2A/2B counting as department digits;
 * spaces, dots and dashes between them dropped) pass pl_nir_like. For
 * free text published in clear (column descriptions). */
int pl_nir_in_text(const char *s);

/* True if birth_date (YYYYMMDD) is a real calendar date in 1850..2099. */
int pl_date_valid(int32_t yyyymmdd);

#endif
