/* csv.c — see csv.h. */
#include "base/csv.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static size_t buf_init = 1u << 20;

void pl_csv_set_buffer(size_t bytes) { buf_init = bytes ? bytes : 1u << 20; }

struct pl_csv {
    char *file;
    int quiet;
    char delim;
    pl_csv_encoding enc;
    pl_csv_col *cols;           /* declared, headers copied */
    size_t *width;              /* pl_csv_width of each */
    size_t ncols;
    /* input: a file (fd >= 0) read into buf, or a memory buffer */
    int fd;
    const uint8_t *mem;
    uint8_t *buf;               /* owned unless mem */
    size_t cap, n;              /* buf holds file bytes [off, off + n) */
    uint64_t off, size;
    struct timespec mtime;      /* of the file at open */
    int eof;                    /* buf reaches the end of the file */
    int checked;                /* end of range: file seen unchanged */
    size_t pos;                 /* next record, index in buf */
    uint64_t line, line_start;  /* of pos: line number, file offset */
    uint64_t end;               /* records starting before this */
    uint8_t cls[256];           /* stop bytes of an unquoted field */
#ifdef __SSE2__
    __m128i v_delim, v_quote, v_lf, v_cr;
#endif
    size_t nhdr;
    int *map;                   /* header field -> declared column */
    uint64_t data_start, data_line;
    uint8_t *s1, *s2;           /* scratch: unescaped, converted */
    size_t s1cap, s2cap;
    int failed, printed;         /* printed: the error, by pl_err */
    char err[PL_CSV_ERR_MAX];
    /* header mode: collected field texts */
    int in_header;
    char **hdr;
    uint64_t *hdr_off;          /* offset, line, line start of each field */
    size_t hdr_n, hdr_cap;
};

/* ---------------------------------------------------------------- types */

size_t pl_csv_width(const pl_csv_col *c)
{
    switch (c->type) {
    case PL_CSV_I8: case PL_CSV_U8: return 1;
    case PL_CSV_I16: case PL_CSV_U16: return 2;
    case PL_CSV_I32: case PL_CSV_U32: case PL_CSV_DATE: return 4;
    case PL_CSV_I64: case PL_CSV_U64: return 8;
    case PL_CSV_STR: return c->len;
    default: return 0;
    }
}

static const char *const type_names[] = {
    "skip", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "string", "date", NULL};

const char *pl_csv_type_name(pl_csv_type t)
{
    return (unsigned)t <= PL_CSV_DATE ? type_names[t] : "unknown";
}

int pl_csv_type_parse(const char *s)
{
    for (int i = 0; type_names[i]; i++)
        if (strcmp(s, type_names[i]) == 0)
            return i;
    return -1;
}

static int digits(const char *s, size_t n, unsigned *v)
{
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return 0;
}

int32_t pl_csv_parse_date(const char *s, size_t len, pl_csv_datefmt f)
{
    unsigned y, m, d;
    switch (f) {
    case PL_CSV_YYYYMMDD:
        if (len != 8 || digits(s, 4, &y) || digits(s + 4, 2, &m) ||
            digits(s + 6, 2, &d))
            return -1;
        break;
    case PL_CSV_ISO:
        if (len != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) ||
            digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
            return -1;
        break;
    case PL_CSV_DMY:
        if (len != 10 || s[2] != '/' || s[5] != '/' || digits(s, 2, &d) ||
            digits(s + 3, 2, &m) || digits(s + 6, 4, &y))
            return -1;
        break;
    default:
        return -1;
    }
    static const unsigned char mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31,
                                            31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m])
        return -1;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    return (int32_t)(y * 10000 + m * 100 + d);
}

/* -------------------------------------------------------------- errors */

static const char *col_name(const pl_csv *c, size_t field)
{
    if (c->map && field < c->nhdr)
        return c->cols[c->map[field]].header;
    return NULL;
}

/* Message at file offset `at` (on the current line of the parse). */
static int fail_at(pl_csv *c, uint64_t line, uint64_t line_start, uint64_t at,
                   long field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail_at(pl_csv *c, uint64_t line, uint64_t line_start, uint64_t at,
                   long field, const char *fmt, ...)
{
    char what[256], where[160] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *name = field >= 0 ? col_name(c, (size_t)field) : NULL;
    if (name)
        snprintf(where, sizeof where, " column '%.100s' (field %ld):", name,
                 field + 1);
    else if (field >= 0)
        snprintf(where, sizeof where, " field %ld:", field + 1);
    snprintf(c->err, sizeof c->err, "%s:%llu:%llu:%s %s", c->file,
             (unsigned long long)line,
             (unsigned long long)(at - line_start + 1), where, what);
    if (!c->quiet)
        pl_err("%s", c->err);
    c->printed = !c->quiet;
    c->failed = 1;
    return -1;
}

static int fail_plain(pl_csv *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail_plain(pl_csv *c, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->err, sizeof c->err, "%s: %s", c->file, what);
    if (!c->quiet)
        pl_err("%s", c->err);
    c->printed = !c->quiet;
    c->failed = 1;
    return -1;
}

const char *pl_csv_error(const pl_csv *c) { return c ? c->err : ""; }

int pl_csv_failed(const pl_csv *c) { return c && c->failed; }

int pl_csv_fail(pl_csv *c, const char *what)
{
    return fail_plain(c, "%s", what);
}

uint64_t pl_csv_mtime_ns(const pl_csv *c)
{
    return c->mem ? 0 : (uint64_t)c->mtime.tv_sec * 1000000000ull +
                        (uint64_t)c->mtime.tv_nsec;
}

void pl_csv_report(pl_csv *c)
{
    if (c && c->failed && !c->printed && c->err[0]) {
        pl_err("%s", c->err);
        c->printed = 1;
    }
}

/* ------------------------------------------------------------ encoding */

/* Offset of the first invalid UTF-8 sequence in s[0..n), or n. */
static size_t utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (len == 0 || c > 0xf4 || len > n - i)
            return i;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        if (len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) ||
                         (c == 0xed && s[i + 1] >= 0xa0)))
            return i;
        if (len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) ||
                         (c == 0xf4 && s[i + 1] >= 0x90)))
            return i;
        i += len;
    }
    return n;
}

static uint8_t *scratch(uint8_t **p, size_t *cap, size_t need)
{
    if (need > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < need)
            nc *= 2;
        uint8_t *q = pl_xmalloc(nc);
        if (*p) {
            pl_wipe(*p, *cap);
            free(*p);
        }
        *p = q;
        *cap = nc;
    }
    return *p;
}

/* ------------------------------------------------------------- sinks */

static int header_field(pl_csv *c, const uint8_t *v, size_t len, uint64_t at,
                        uint64_t line, uint64_t ls)
{
    if (c->hdr_n == c->hdr_cap) {
        c->hdr_cap = c->hdr_cap ? 2 * c->hdr_cap : 16;
        c->hdr = pl_xrealloc(c->hdr, c->hdr_cap * sizeof *c->hdr);
        c->hdr_off = pl_xrealloc(c->hdr_off, 3 * c->hdr_cap *
                                 sizeof *c->hdr_off);
    }
    char *s = pl_xmalloc(len + 1);
    memcpy(s, v, len);
    s[len] = '\0';
    c->hdr[c->hdr_n] = s;
    c->hdr_off[3 * c->hdr_n] = at;
    c->hdr_off[3 * c->hdr_n + 1] = line;
    c->hdr_off[3 * c->hdr_n + 2] = ls;
    c->hdr_n++;
    return 0;
}

/* Parse and store a field of a typed column; 0, or 1 when the value is not
 * acceptable (`why` says what was expected). */
static int convert(const pl_csv_col *col, size_t width, const uint8_t *v,
                   size_t len, void *out, const char **why)
{
    switch (col->type) {
    case PL_CSV_SKIP:
        return 0;
    case PL_CSV_STR:
        if (len > col->len) {
            *why = "string longer than the declared length";
            return 1;
        }
        memcpy(out, v, len);
        memset((uint8_t *)out + len, 0, col->len - len);
        return 0;
    case PL_CSV_DATE: {
        static const char *const fmts[] = {"YYYYMMDD", "YYYY-MM-DD",
                                           "DD/MM/YYYY"};
        int32_t d = pl_csv_parse_date((const char *)v, len, col->datefmt);
        if (d < 0) {
            *why = fmts[col->datefmt];
            return 1;
        }
        memcpy(out, &d, 4);
        return 0;
    }
    default:
        break;
    }
    /* integers */
    int is_signed = col->type <= PL_CSV_I64;
    size_t i = 0;
    int neg = 0;
    if (is_signed && len > 0 && v[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len) {
        *why = "an integer";
        return 1;
    }
    uint64_t x = 0;
    for (; i < len; i++) {
        unsigned dgt = (unsigned)v[i] - '0';
        if (dgt > 9) {
            *why = "an integer";
            return 1;
        }
        if (x >= 1844674407370955161ull &&      /* UINT64_MAX / 10 */
            (x > 1844674407370955161ull || dgt > 5)) {
            *why = "an integer in range";
            return 1;
        }
        x = x * 10 + dgt;
    }
    static const uint64_t umax[] = {0, 0x7f, 0x7fff, 0x7fffffff,
                                    0x7fffffffffffffffull, 0xff, 0xffff,
                                    0xffffffff, UINT64_MAX};
    uint64_t lim = umax[col->type] + (uint64_t)(neg ? 1 : 0);
    if (x > lim) {
        *why = "an integer in range";
        return 1;
    }
    uint64_t u = neg ? (uint64_t)0 - x : x;
    switch (width) {
    case 1: { uint8_t t = (uint8_t)u; memcpy(out, &t, 1); break; }
    case 2: { uint16_t t = (uint16_t)u; memcpy(out, &t, 2); break; }
    case 4: { uint32_t t = (uint32_t)u; memcpy(out, &t, 4); break; }
    default: memcpy(out, &u, 8); break;
    }
    return 0;
}

static const char *range_text(pl_csv_type t)
{
    static const char *const r[] = {
        "", "-128..127", "-32768..32767", "-2147483648..2147483647",
        "-9223372036854775808..9223372036854775807", "0..255", "0..65535",
        "0..4294967295", "0..18446744073709551615"};
    return t <= PL_CSV_U64 ? r[t] : "";
}

/* ------------------------------------------------------------- parser */

enum { REC_DONE = 0, REC_OK = 1, REC_MORE = 2, REC_ERR = -1 };

/* One field is complete: check and store it. `at` is its file offset,
 * (line, ls) the line it starts on. */
static int field_done(pl_csv *c, size_t f, const uint8_t *v, size_t len,
                      int hi, uint64_t at, uint64_t line, uint64_t ls,
                      pl_csv_batch *b)
{
    if (!c->in_header && f >= c->nhdr)
        return fail_at(c, line, ls, at, (long)f, "too many fields (expected "
                       "%zu, as in the header)", c->nhdr);
    if (hi) {
        if (memchr(v, 0, len))
            return fail_at(c, line, ls, at, (long)f, "NUL byte in the field");
        if (c->enc == PL_CSV_UTF8) {
            size_t bad = utf8_check(v, len);
            if (bad < len)
                return fail_at(c, line, ls, at, (long)f, "invalid UTF-8 at "
                               "byte %zu of the field (the file is declared "
                               "UTF-8)", bad + 1);
        } else {
            for (size_t i = 0; i < len; i++)
                if (v[i] >= 0x80 && v[i] < 0xa0)
                    return fail_at(c, line, ls, at, (long)f, "byte %zu of "
                                   "the field is in 0x80-0x9f, a control "
                                   "character in ISO-8859-1 (is the file "
                                   "Windows-1252?)", i + 1);
        }
        if (c->enc == PL_CSV_LATIN1 &&
            (c->in_header || c->cols[c->map[f]].type == PL_CSV_STR)) {
            /* ISO-8859-1 -> UTF-8 */
            uint8_t *o = scratch(&c->s2, &c->s2cap, 2 * len + 1);
            size_t k = 0;
            for (size_t i = 0; i < len; i++) {
                if (v[i] < 0x80) {
                    o[k++] = v[i];
                } else {
                    o[k++] = (uint8_t)(0xc0 | (v[i] >> 6));
                    o[k++] = (uint8_t)(0x80 | (v[i] & 0x3f));
                }
            }
            v = o;
            len = k;
        }
    }
    if (c->in_header)
        return header_field(c, v, len, at, line, ls);
    if (!b)
        return 0;
    size_t j = (size_t)c->map[f];
    const pl_csv_col *col = &c->cols[j];
    if (col->type == PL_CSV_SKIP)
        return 0;
    size_t w = c->width[j];
    uint8_t *out = (uint8_t *)b->col[j] + b->n * w;
    const char *why = NULL;
    if (convert(col, w, v, len, out, &why) == 0) {
        if (col->lenient)
            b->bad[j][b->n] = 0;
        return 0;
    }
    if (col->lenient) {
        memset(out, 0, w);
        b->bad[j][b->n] = 1;
        return 0;
    }
    if (col->type == PL_CSV_STR)
        return fail_at(c, line, ls, at, (long)f, "%s (%u bytes of UTF-8)",
                       why, col->len);
    if (col->type == PL_CSV_DATE)
        return fail_at(c, line, ls, at, (long)f, "expected a real date %s",
                       why);
    return fail_at(c, line, ls, at, (long)f, "expected %s %s (%s)",
                   strcmp(why, "an integer") ? "an integer in the range of"
                                             : "a decimal",
                   pl_csv_type_name(col->type), range_text(col->type));
}

/* Parse the record at c->pos. On REC_OK, pos/line/line_start are past it
 * and b->n was incremented (data mode). On REC_MORE nothing changed. */
static int parse_record(pl_csv *c, pl_csv_batch *b)
{
    const uint8_t *buf = c->buf;
    size_t n = c->n, p = c->pos;
    uint64_t line = c->line, ls = c->line_start;
    const uint8_t q = '"', d = (uint8_t)c->delim;
    if (!c->in_header && c->off + p >= c->end)
        return REC_DONE;
    if (p >= n)
        return c->eof ? REC_DONE : REC_MORE;
    size_t f = 0;
    for (;;) {
        size_t fs = p;
        uint64_t fline = line, fls = ls;
        int hi = 0;
        const uint8_t *v;
        size_t len;
        uint8_t term;           /* delimiter, '\n', or 0 = end of file */
        uint64_t tat;           /* file offset of the terminator */
        if (p < n && buf[p] == q) {
            /* quoted */
            uint64_t qline = line, qls = ls;
            size_t k = ++p, w = 0;   /* content starts at k */
            int esc = 0;
            for (;;) {
                while (p < n && buf[p] != q) {
                    uint8_t ch = buf[p];
                    if (ch == '\n') {
                        line++;
                        ls = c->off + p + 1;
                    } else if (ch >= 0x80 || ch == 0) {
                        hi = 1;
                    }
                    p++;
                }
                if (p >= n) {
                    if (!c->eof)
                        return REC_MORE;
                    return fail_at(c, qline, qls, c->off + fs, (long)f,
                                   "unbalanced quotes: the quoted field "
                                   "opened here is not closed before the end "
                                   "of the file");
                }
                if (p + 1 >= n && !c->eof)
                    return REC_MORE;
                if (p + 1 < n && buf[p + 1] == q) {   /* "" */
                    if (!esc) {
                        esc = 1;
                        w = p - k;
                    }
                    p += 2;
                    continue;
                }
                break;
            }
            size_t ce = p++;         /* closing quote at ce */
            if (esc) {
                uint8_t *o = scratch(&c->s1, &c->s1cap, ce - k);
                memcpy(o, buf + k, w);
                for (size_t i = k + w; i < ce; i++) {
                    o[w++] = buf[i];
                    if (buf[i] == q)
                        i++;
                }
                v = o;
                len = w;
            } else {
                v = buf + k;
                len = ce - k;
            }
            tat = c->off + p;
            if (p >= n) {
                term = 0;           /* eof (checked above) */
            } else if (buf[p] == d) {
                term = d;
                p++;
            } else if (buf[p] == '\n') {
                term = '\n';
                p++;
            } else if (buf[p] == '\r') {
                if (p + 1 >= n && !c->eof)
                    return REC_MORE;
                if (p + 1 >= n || buf[p + 1] != '\n')
                    return fail_at(c, line, ls, c->off + p, (long)f,
                                   "carriage return not followed by a line "
                                   "feed after a quoted field");
                term = '\n';
                p += 2;
            } else {
                return fail_at(c, line, ls, c->off + p, (long)f,
                               "unexpected character after the closing quote "
                               "(expected the delimiter or the end of the "
                               "record)");
            }
        } else {
            /* unquoted: skip ordinary bytes fast */
            const uint8_t *cls = c->cls;
            for (;;) {
#ifdef __SSE2__
                /* 16 bytes at a time: stop bytes are the delimiter, '"',
                 * LF, CR, NUL (compares) and non-ASCII (the sign bits) */
                while (p + 16 <= n) {
                    __m128i x = _mm_loadu_si128((const __m128i *)(buf + p));
                    __m128i m = _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(x, c->v_delim),
                                     _mm_cmpeq_epi8(x, c->v_quote)),
                        _mm_or_si128(
                            _mm_or_si128(_mm_cmpeq_epi8(x, c->v_lf),
                                         _mm_cmpeq_epi8(x, c->v_cr)),
                            _mm_cmpeq_epi8(x, _mm_setzero_si128())));
                    unsigned bits = (unsigned)_mm_movemask_epi8(m) |
                                    (unsigned)_mm_movemask_epi8(x);
                    if (bits) {
                        p += (size_t)__builtin_ctz(bits);
                        break;
                    }
                    p += 16;
                }
#endif
                while (p < n && !cls[buf[p]])
                    p++;
                if (p >= n)
                    break;
                uint8_t ch = buf[p];
                if (ch >= 0x80 || ch == 0) {
                    hi = 1;
                    p++;
                    continue;
                }
                break;
            }
            v = buf + fs;
            len = p - fs;
            tat = c->off + p;
            if (p >= n) {
                if (!c->eof)
                    return REC_MORE;
                term = 0;
            } else if (buf[p] == d) {
                term = d;
                p++;
            } else if (buf[p] == '\n') {
                term = '\n';
                p++;
            } else if (buf[p] == '\r') {
                if (p + 1 >= n && !c->eof)
                    return REC_MORE;
                if (p + 1 >= n || buf[p + 1] != '\n')
                    return fail_at(c, line, ls, c->off + p, (long)f,
                                   "carriage return not followed by a line "
                                   "feed outside quotes");
                term = '\n';
                p += 2;
            } else {            /* '"' */
                return fail_at(c, line, ls, c->off + p, (long)f,
                               "quote inside an unquoted field (a field "
                               "with quotes must be enclosed in quotes, "
                               "with \"\" for a quote)");
            }
        }
        if (field_done(c, f, v, len, hi, c->off + fs, fline, fls, b))
            return REC_ERR;
        if (term == d) {
            f++;
            continue;
        }
        /* end of record */
        if (!c->in_header && f + 1 != c->nhdr)
            return fail_at(c, line, ls, tat, (long)f, "too few fields: %zu "
                           "(expected %zu, as in the header)", f + 1,
                           c->nhdr);
        if (term == '\n') {
            line++;
            ls = c->off + p;
        }
        break;
    }
    if (b && !c->in_header) {
        b->line[b->n] = c->line;
        b->n++;
    }
    c->pos = p;
    c->line = line;
    c->line_start = ls;
    return REC_OK;
}

/* The file as it was at open (same size and modification time)? 0, or -1
 * after the message: records read from a file that another process
 * truncates, appends to or rewrites would be a silent mix of two files. */
__attribute__((cold, noinline)) static int check_unchanged(pl_csv *c)
{
    struct stat st;
    if (c->mem)
        return 0;
    if (fstat(c->fd, &st) != 0)
        return fail_plain(c, "cannot stat the CSV file: %s", strerror(errno));
    if ((uint64_t)st.st_size == c->size &&
        st.st_mtim.tv_sec == c->mtime.tv_sec &&
        st.st_mtim.tv_nsec == c->mtime.tv_nsec)
        return 0;
    return fail_plain(c, "the file changed while it was being read (%llu "
                      "bytes when opened, now %llu%s): read a file that no "
                      "process is writing", (unsigned long long)c->size,
                      (unsigned long long)st.st_size,
                      (uint64_t)st.st_size == c->size ? ", modified" : "");
}

/* Make room and read more of the file after a REC_MORE: keep the bytes
 * from the current record on. 0 or -1. */
static int refill(pl_csv *c)
{
    if (c->mem || c->eof)
        return fail_plain(c, "internal error: refill past the end");
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->n - c->pos);
        c->off += c->pos;
        c->n -= c->pos;
        c->pos = 0;
    }
    if (c->n == c->cap) {
        if (c->cap >= PL_CSV_MAX_RECORD + 8)
            return fail_at(c, c->line, c->line_start, c->off, -1,
                           "record longer than %u MiB (unbalanced quotes?)",
                           PL_CSV_MAX_RECORD >> 20);
        size_t nc = c->cap * 2;
        if (nc > PL_CSV_MAX_RECORD + 8)
            nc = PL_CSV_MAX_RECORD + 8;
        uint8_t *nb = pl_xmalloc(nc);
        memcpy(nb, c->buf, c->n);
        pl_wipe(c->buf, c->cap);
        free(c->buf);
        c->buf = nb;
        c->cap = nc;
    }
    uint64_t left = c->size - (c->off + c->n);
    size_t want = c->cap - c->n;
    if (left < want)
        want = (size_t)left;
    if (want == 0) {
        c->eof = 1;
        return 0;
    }
    for (;;) {
        ssize_t r = pread(c->fd, c->buf + c->n, want, (off_t)(c->off + c->n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail_plain(c, "read error at byte %llu: %s",
                              (unsigned long long)(c->off + c->n),
                              strerror(errno));
        if (r == 0)             /* shorter than at open */
            return check_unchanged(c) ? -1
                   : fail_plain(c, "the file changed while it was being "
                                "read (end of file at byte %llu)",
                                (unsigned long long)(c->off + c->n));
        if ((size_t)r == (size_t)left)
            c->eof = 1;
        c->n += (size_t)r;
        return 0;
    }
}

/* Position the input at file offset `start`. */
static void seek_to(pl_csv *c, uint64_t start, uint64_t line, uint64_t end)
{
    if (c->mem) {
        c->off = 0;
        c->pos = (size_t)start;
    } else {
        c->off = start;
        c->n = 0;
        c->pos = 0;
        c->eof = start >= c->size;
    }
    c->line = line;
    c->line_start = start;
    c->end = end;
}

static void free_header(pl_csv *c);

/* Not inlined into its callers, so that parse_record (the hot loop, whose
 * only caller this is) is inlined here: without it GCC stopped inlining
 * parse_record and the parse lost ~10 % (bench/csv_rate). */
__attribute__((noinline)) static int next_record(pl_csv *c, pl_csv_batch *b)
{
    for (;;) {
        if (c->in_header)
            free_header(c);     /* a retried header starts again */
        int r = parse_record(c, b);
        if (r != REC_MORE)
            return r;
        if (refill(c))
            return REC_ERR;
    }
}

/* ------------------------------------------------------------- header */

static void free_header(pl_csv *c)
{
    for (size_t i = 0; i < c->hdr_n; i++) {
        /* the first row may be data (a file without its header) */
        pl_wipe(c->hdr[i], strlen(c->hdr[i]));
        free(c->hdr[i]);
    }
    c->hdr_n = 0;
}

static void set_delim(pl_csv *c, char d)
{
    c->delim = d;
    memset(c->cls, 0, sizeof c->cls);
    c->cls[(uint8_t)d] = c->cls['"'] = c->cls['\n'] = c->cls['\r'] = 1;
    c->cls[0] = 1;
    for (int i = 0x80; i < 256; i++)
        c->cls[i] = 1;
#ifdef __SSE2__
    c->v_delim = _mm_set1_epi8(d);
    c->v_quote = _mm_set1_epi8('"');
    c->v_lf = _mm_set1_epi8('\n');
    c->v_cr = _mm_set1_epi8('\r');
#endif
}

/* Parse the header with delimiter d from `start`; 0 or -1 (quiet). */
static int try_header(pl_csv *c, char d, uint64_t start)
{
    free_header(c);
    set_delim(c, d);
    seek_to(c, start, 1, UINT64_MAX);
    int quiet = c->quiet;
    c->quiet = 1;
    c->in_header = 1;
    int r = next_record(c, NULL);
    c->in_header = 0;
    c->quiet = quiet;
    c->failed = 0;
    c->err[0] = '\0';
    return r == REC_OK ? 0 : -1;
}

static int header_matches(const pl_csv *c)
{
    if (c->hdr_n != c->ncols)
        return 0;
    for (size_t i = 0; i < c->hdr_n; i++) {
        int found = 0;
        for (size_t j = 0; j < c->ncols && !found; j++)
            found = strcmp(c->hdr[i], c->cols[j].header) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static int read_header(pl_csv *c)
{
    uint64_t start = 0;
    /* UTF-8 byte order mark (read on its own: the buffer may be shorter) */
    uint8_t head[3] = {0, 0, 0};
    if (c->mem) {
        memcpy(head, c->mem, c->size < 3 ? (size_t)c->size : 3);
    } else if (c->size >= 3) {
        ssize_t r;
        do
            r = pread(c->fd, head, 3, 0);
        while (r < 0 && errno == EINTR);
        if (r != 3)
            return fail_plain(c, "read error at byte 0: %s",
                              r < 0 ? strerror(errno) : "the file shrank");
    }
    if (c->size >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0 &&
        c->enc == PL_CSV_UTF8)
        start = 3;
    if (c->size == start)
        return fail_plain(c, "empty file (expected a header row)");
    if (c->delim == 0) {
        static const char cand[] = {',', ';', '\t'};
        char best = ',';
        size_t most = 0;
        int found = 0;
        for (int i = 0; i < 3 && !found; i++) {
            if (try_header(c, cand[i], start))
                continue;
            if (header_matches(c)) {
                best = cand[i];
                found = 1;
            } else if (c->hdr_n > most) {
                most = c->hdr_n;
                best = cand[i];
            }
        }
        c->delim = best;
    }
    free_header(c);
    set_delim(c, c->delim);
    seek_to(c, start, 1, UINT64_MAX);
    c->in_header = 1;
    int r = next_record(c, NULL);
    c->in_header = 0;
    if (r == REC_ERR)
        return -1;
    if (r != REC_OK)
        return fail_plain(c, "empty file (expected a header row)");
    c->data_start = c->off + c->pos;
    c->data_line = c->line;
    c->nhdr = c->hdr_n;
    c->map = pl_xcalloc(c->nhdr, sizeof *c->map);
    int *seen = pl_xcalloc(c->ncols, sizeof *seen);
    int rc = 0;
    for (size_t i = 0; i < c->hdr_n && rc == 0; i++) {
        /* the line of a header field: count LFs before it (a quoted header
         * name may hold one) */
        uint64_t at = c->hdr_off[3 * i], line = c->hdr_off[3 * i + 1],
                 ls = c->hdr_off[3 * i + 2];
        size_t j = 0;
        while (j < c->ncols && strcmp(c->hdr[i], c->cols[j].header) != 0)
            j++;
        if (j == c->ncols) {
            size_t k = 0;
            while (k < i && strcmp(c->hdr[i], c->hdr[k]) != 0)
                k++;
            if (k < i)
                rc = fail_at(c, line, ls, at, -1, "header field "
                             "%zu repeats header field %zu (duplicate "
                             "header; neither is a declared column)", i + 1,
                             k + 1);
            else
                rc = fail_at(c, line, ls, at, -1, "header field "
                             "%zu is not a declared column (its text is not "
                             "shown: it may be data if the header row is "
                             "missing)", i + 1);
        } else if (seen[j]) {
            rc = fail_at(c, line, ls, at, -1, "duplicate header "
                         "'%.100s' (also header field %d)", c->cols[j].header,
                         seen[j]);
        } else {
            seen[j] = (int)i + 1;
            c->map[i] = (int)j;
        }
    }
    for (size_t j = 0; j < c->ncols && rc == 0; j++)
        if (!seen[j])
            rc = fail_at(c, 1, start, start, -1, "declared column '%.100s' "
                         "is not in the header (delimiter '%s')",
                         c->cols[j].header,
                         c->delim == '\t' ? "\\t" : (char[]){c->delim, 0});
    free(seen);
    free_header(c);
    if (rc == 0)
        seek_to(c, c->data_start, c->data_line, c->size);
    return rc;
}

/* --------------------------------------------------------------- open */

static pl_csv *open_common(pl_csv *c, const pl_csv_spec *spec)
{
    int rc = 0;
    if (spec->ncols < 1 || spec->ncols > PL_CSV_MAX_COLS)
        rc = fail_plain(c, "expected 1 to %d declared columns, got %zu",
                        PL_CSV_MAX_COLS, spec->ncols);
    else if (spec->delim != 0 && spec->delim != ',' && spec->delim != ';' &&
             spec->delim != '\t')
        rc = fail_plain(c, "delimiter must be ',', ';' or tab");
    else if (spec->encoding != PL_CSV_UTF8 && spec->encoding != PL_CSV_LATIN1)
        rc = fail_plain(c, "unknown encoding");
    if (rc == 0) {
        c->ncols = spec->ncols;
        c->cols = pl_xcalloc(c->ncols, sizeof *c->cols);
        c->width = pl_xcalloc(c->ncols, sizeof *c->width);
        for (size_t j = 0; j < c->ncols && rc == 0; j++) {
            const pl_csv_col *s = &spec->cols[j];
            c->cols[j] = *s;
            c->cols[j].header = pl_xstrdup(s->header ? s->header : "");
            c->width[j] = pl_csv_width(s);
            if ((unsigned)s->type > PL_CSV_DATE)
                rc = fail_plain(c, "column %zu: unknown type", j + 1);
            else if (s->type == PL_CSV_STR &&
                     (s->len < 1 || s->len > PL_CSV_MAX_STR))
                rc = fail_plain(c, "column '%.100s': string length must be "
                                "1 to %d bytes", c->cols[j].header,
                                PL_CSV_MAX_STR);
            else if (s->type == PL_CSV_DATE && (unsigned)s->datefmt > 2)
                rc = fail_plain(c, "column '%.100s': unknown date format",
                                c->cols[j].header);
            for (size_t k = 0; k < j && rc == 0; k++)
                if (strcmp(c->cols[k].header, c->cols[j].header) == 0)
                    rc = fail_plain(c, "column '%.100s' declared twice",
                                    c->cols[j].header);
        }
    }
    c->delim = spec ? spec->delim : 0;
    c->enc = spec->encoding;
    if (rc == 0)
        rc = read_header(c);
    if (rc) {
        pl_csv_close(c);
        return NULL;
    }
    return c;
}

pl_csv *pl_csv_open(const char *path, const pl_csv_spec *spec, int quiet)
{
    pl_csv *c = pl_xcalloc(1, sizeof *c);
    c->file = pl_xstrdup(path);
    c->quiet = quiet;
    struct stat st;
    c->fd = pl_open_regular(path, "CSV file", &st, quiet);
    if (c->fd < 0) {
        snprintf(c->err, sizeof c->err, "%s: cannot open the CSV file",
                 path);
        pl_csv_close(c);
        return NULL;
    }
    c->size = (uint64_t)st.st_size;
    c->mtime = st.st_mtim;
    c->cap = buf_init;
    c->buf = pl_xmalloc(c->cap);
    return open_common(c, spec);
}

pl_csv *pl_csv_open_mem(const char *name, const void *buf, size_t len,
                        const pl_csv_spec *spec, int quiet)
{
    pl_csv *c = pl_xcalloc(1, sizeof *c);
    c->file = pl_xstrdup(name);
    c->quiet = quiet;
    c->fd = -1;
    c->mem = buf ? buf : (const uint8_t *)"";
    c->buf = (uint8_t *)c->mem;
    c->n = len;
    c->size = len;
    c->eof = 1;
    return open_common(c, spec);
}

void pl_csv_close(pl_csv *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    if (!c->mem && c->buf) {
        pl_wipe(c->buf, c->cap);
        free(c->buf);
    }
    if (c->s1) {
        pl_wipe(c->s1, c->s1cap);
        free(c->s1);
    }
    if (c->s2) {
        pl_wipe(c->s2, c->s2cap);
        free(c->s2);
    }
    free_header(c);
    free(c->hdr);
    free(c->hdr_off);
    for (size_t j = 0; c->cols && j < c->ncols; j++)
        free((char *)c->cols[j].header);
    free(c->cols);
    free(c->width);
    free(c->map);
    free(c->file);
    free(c);
}

char pl_csv_delim(const pl_csv *c) { return c->delim; }
uint64_t pl_csv_data_start(const pl_csv *c) { return c->data_start; }
uint64_t pl_csv_data_line(const pl_csv *c) { return c->data_line; }
uint64_t pl_csv_size(const pl_csv *c) { return c->size; }

int pl_csv_set_range(pl_csv *c, uint64_t start, uint64_t end, uint64_t line)
{
    if (c->failed)
        return -1;
    if (start < c->data_start || start > c->size || end < start || line < 1)
        return fail_plain(c, "internal error: range [%llu, %llu) outside "
                          "the data", (unsigned long long)start,
                          (unsigned long long)end);
    seek_to(c, start, line, end);
    c->checked = 0;
    return 0;
}

/* -------------------------------------------------------------- batch */

void pl_csv_batch_init(pl_csv_batch *b, const pl_csv *c, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->cap = cap ? cap : 1;
    b->ncols = c->ncols;
    b->col = pl_xcalloc(c->ncols, sizeof *b->col);
    b->bad = pl_xcalloc(c->ncols, sizeof *b->bad);
    b->line = pl_xcalloc(b->cap, sizeof *b->line);
    b->width = pl_xcalloc(c->ncols, sizeof *b->width);
    for (size_t j = 0; j < c->ncols; j++) {
        size_t w = pl_csv_width(&c->cols[j]);
        b->width[j] = w;
        if (w)
            b->col[j] = pl_xcalloc(b->cap, w);
        if (w && c->cols[j].lenient)
            b->bad[j] = pl_xcalloc(b->cap, 1);
    }
}

void pl_csv_batch_free(pl_csv_batch *b)
{
    for (size_t j = 0; b->col && j < b->ncols; j++) {
        if (b->col[j]) {
            pl_wipe(b->col[j], b->cap * b->width[j]);
            free(b->col[j]);
        }
        free(b->bad ? b->bad[j] : NULL);
    }
    free(b->width);
    free(b->col);
    free(b->bad);
    free(b->line);
    memset(b, 0, sizeof *b);
}

int64_t pl_csv_read(pl_csv *c, pl_csv_batch *b)
{
    if (c->failed)
        return -1;
    b->n = 0;
    while (b->n < b->cap) {
        int r = next_record(c, b);
        if (r == REC_ERR)
            return -1;
        if (r == REC_DONE)
            break;
    }
    /* the range is read (this batch has its last record, or none): was it
     * the file as it was at open? */
    if (!c->checked && (c->off + c->pos >= c->end ||
                        (c->eof && c->pos >= c->n))) {
        if (check_unchanged(c))
            return -1;
        c->checked = 1;
    }
    return (int64_t)b->n;
}

/* -------------------------------------------------------------- split */

uint64_t pl_csv_chunk(uint64_t data_start, uint64_t size, int nparts, int r)
{
    if (r <= 0 || size <= data_start)
        return data_start;
    if (r >= nparts)
        return size;
    unsigned __int128 len = size - data_start;
    return data_start + (uint64_t)(len * (unsigned)r / (unsigned)nparts);
}

/* Bytes [off, off+len) of the input, through a window: calls fn on each
 * piece. */
static int scan_bytes(pl_csv *c, uint64_t off, uint64_t len,
                      int (*fn)(void *, const uint8_t *, size_t, uint64_t),
                      void *arg)
{
    if (off > c->size)
        return 0;
    if (len > c->size - off)
        len = c->size - off;
    if (c->mem) {
        fn(arg, c->mem + off, (size_t)len, off);
        return 0;
    }
    size_t wcap = 1u << 20;
    uint8_t *w = pl_xmalloc(wcap);
    int rc = 0;
    while (len > 0) {
        size_t want = len < wcap ? (size_t)len : wcap;
        ssize_t r = pread(c->fd, w, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = fail_plain(c, "read error at byte %llu: %s",
                            (unsigned long long)off,
                            r < 0 ? strerror(errno) : "file shrank");
            break;
        }
        if (fn(arg, w, (size_t)r, off))
            break;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    pl_wipe(w, wcap);
    free(w);
    return rc;
}

struct counts { uint64_t q, lf; };

static int count_fn(void *arg, const uint8_t *p, size_t n, uint64_t off)
{
    (void)off;
    struct counts *k = arg;
    size_t i = 0;
    uint64_t q = 0, lf = 0;
#ifdef __SSE2__
    /* byte counters (cmpeq gives -1 per match), summed every 255 blocks */
    const __m128i vq = _mm_set1_epi8('"'), vl = _mm_set1_epi8('\n');
    const __m128i zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i aq = zero, al = zero;
        for (int k = 0; k < 255 && i + 16 <= n; k++, i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(p + i));
            aq = _mm_sub_epi8(aq, _mm_cmpeq_epi8(x, vq));
            al = _mm_sub_epi8(al, _mm_cmpeq_epi8(x, vl));
        }
        __m128i sq = _mm_sad_epu8(aq, zero), sl = _mm_sad_epu8(al, zero);
        q += (uint64_t)_mm_cvtsi128_si64(sq) +
             (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sq, sq));
        lf += (uint64_t)_mm_cvtsi128_si64(sl) +
              (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sl, sl));
    }
#endif
    for (; i < n; i++) {
        q += p[i] == '"';
        lf += p[i] == '\n';
    }
    k->q += q;
    k->lf += lf;
    return 0;
}

int pl_csv_count(pl_csv *c, uint64_t off, uint64_t len, uint64_t *quotes,
                 uint64_t *lfs)
{
    struct counts k = {0, 0};
    int rc = scan_bytes(c, off, len, count_fn, &k);
    *quotes = k.q;
    *lfs = k.lf;
    return rc;
}

struct finder { uint64_t b; int par; int found; uint64_t start, lf; };

static int find_fn(void *arg, const uint8_t *p, size_t n, uint64_t off)
{
    struct finder *f = arg;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = off + i;
        if (p[i] == '\n') {
            if (!f->par) {
                f->found = 1;
                f->start = x + 1;
                if (x >= f->b)
                    f->lf++;
                return 1;
            }
            if (x >= f->b)
                f->lf++;
        } else if (p[i] == '"') {
            f->par ^= 1;
        }
    }
    return 0;
}

int pl_csv_find_start(pl_csv *c, uint64_t b, int parity, uint64_t *start,
                      uint64_t *lfs)
{
    *start = c->size;
    *lfs = 0;
    if (b <= c->data_start) {
        *start = c->data_start;
        return 0;
    }
    if (b >= c->size)
        return 0;
    /* start one byte early: b itself may be a record start */
    uint8_t prev;
    if (c->mem) {
        prev = c->mem[b - 1];
    } else {
        ssize_t r;
        do
            r = pread(c->fd, &prev, 1, (off_t)(b - 1));
        while (r < 0 && errno == EINTR);
        if (r != 1)
            return fail_plain(c, "read error at byte %llu",
                              (unsigned long long)(b - 1));
    }
    struct finder f = {b, (parity & 1) ^ (prev == '"'), 0, c->size, 0};
    if (scan_bytes(c, b - 1, c->size - (b - 1), find_fn, &f))
        return -1;
    *start = f.start;
    *lfs = f.lf;
    return 0;
}

int pl_csv_plan(pl_csv *c, int nparts, pl_csv_part *parts)
{
    uint64_t ds = c->data_start, sz = c->size, q = 0, lf = 0;
    for (int r = 0; r < nparts; r++) {
        uint64_t b = pl_csv_chunk(ds, sz, nparts, r);
        uint64_t e = pl_csv_chunk(ds, sz, nparts, r + 1);
        uint64_t s, l;
        if (pl_csv_find_start(c, b, (int)(q & 1), &s, &l))
            return -1;
        parts[r].start = s;
        parts[r].line = c->data_line + lf + l;
        if (r > 0)
            parts[r - 1].end = s;
        uint64_t cq, cl;
        if (pl_csv_count(c, b, e - b, &cq, &cl))
            return -1;
        q += cq;
        lf += cl;
    }
    parts[nparts - 1].end = sz;
    return 0;
}

struct recs { int par; uint64_t n, last; };

static int recs_fn(void *arg, const uint8_t *p, size_t n, uint64_t off)
{
    struct recs *r = arg;
    int par = r->par;
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        if (ch == '"')
            par ^= 1;
        else if (ch == '\n' && !par && off + i < r->last)
            k++;
    }
    r->par = par;
    r->n += k;
    return 0;
}

int pl_csv_count_records(pl_csv *c, uint64_t start, uint64_t end,
                         uint64_t *n)
{
    *n = 0;
    if (end > c->size)
        end = c->size;
    if (start >= end)
        return 0;
    /* a record starts at `start` and after every LF outside quotes before
     * end - 1 (the LF at end - 1 ends the part's last record) */
    struct recs r = {0, 1, end - 1};
    if (scan_bytes(c, start, end - 1 - start, recs_fn, &r))
        return -1;
    *n = r.n;
    return 0;
}
