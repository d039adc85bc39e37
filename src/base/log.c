/* log.c — see log.h. */
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_rank = 0, log_size = 1, log_stamps = 0;

void pl_log_timestamps(int on) { log_stamps = on; }

void pl_log_time(char out[PL_LOG_TIME])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, PL_LOG_TIME, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "2026-12-01T11:40:03Z " when timestamps are on, else "". */
static const char *stamp(char buf[PL_LOG_TIME + 1])
{
    buf[0] = '\0';
    if (log_stamps) {
        pl_log_time(buf);
        strcat(buf, " ");
    }
    return buf;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes) that is not a
 * C1 control character (U+0080..U+009F), or 0. Overlong forms, surrogates
 * and code points past U+10FFFF are invalid. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || c > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (len == 2 && c == 0xc2 && s[1] < 0xa0)
        return 0;                       /* C1 controls */
    if (len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0;                       /* overlong, surrogates */
    if (len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0;
    return len;
}

int pl_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n;) {
        size_t u = s[i] >= 0x80 ? utf8_ok(s + i, n - i) : 1;
        if (u == 0)
            return 0;
        i += u;
    }
    return 1;
}

/* Code points that change how a line is displayed, not what it says:
 * bidirectional controls (U+061C, U+200E/F, U+202A..E, U+2066..9, which can
 * reverse the rest of a line in a terminal or an editor), LINE and
 * PARAGRAPH SEPARATOR (U+2028/9, a new line to some viewers: a forged log
 * line) and the BOM / zero-width no-break space (U+FEFF). */
static int display_hazard(const unsigned char *s, size_t u)
{
    unsigned cp = u == 2 ? (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu)
                : u == 3 ? (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 |
                               (s[2] & 0x3fu)
                         : 0;
    return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0xfeff;
}

size_t pl_log_escape(const char *in, char *out, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, len = strlen(in);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < len && o + 5 < n;) {
        size_t u = s[i] >= 0x80 ? utf8_ok(s + i, len - i) : 0;
        if (u && display_hazard(s + i, u)) {
            for (size_t k = 0; k < u && o + 5 < n; k++)
                o += (size_t)snprintf(out + o, n - o, "\\x%02x", s[i + k]);
            i += u;
        } else if (u) {
            memcpy(out + o, s + i, u);
            o += u;
            i += u;
        } else if (s[i] < 0x20 || s[i] >= 0x7f) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", s[i]);
            i++;
        } else {
            out[o++] = (char)s[i++];
        }
    }
    out[o] = '\0';
    return o;
}
static char first_error[1024];  /* for the audit record (audit.h) */

static void keep_first(const char *msg)
{
    if (first_error[0] == '\0')
        snprintf(first_error, sizeof first_error, "%.1000s", msg);
}

const char *pl_log_first_error(void) { return first_error; }

void pl_log_init(int rank, int size)
{
    log_rank = rank;
    log_size = size;
}

int pl_log_rank(void) { return log_rank; }
int pl_log_size(void) { return log_size; }

/* Format, then escape control bytes and invalid UTF-8 (names and paths come
 * from files and command lines: a raw ESC or newline would let them rewrite
 * the terminal or forge a line of the log). */
static void vformat(char *buf, size_t n, const char *fmt, va_list ap)
{
    char raw[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    pl_log_escape(raw, buf, n);
}

static void vemit(FILE *f, const char *kind, const char *fmt, va_list ap)
{
    char buf[PL_LOG_LINE];
    vformat(buf, sizeof buf, fmt, ap);
    if (kind[0] == 'e')
        keep_first(buf);
    char ts[PL_LOG_TIME + 1];
    if (log_size > 1)
        fprintf(f, "%spseudolink: [rank %d] %s%s\n", stamp(ts), log_rank,
                kind, buf);
    else
        fprintf(f, "%spseudolink: %s%s\n", stamp(ts), kind, buf);
    fflush(f);
}

void pl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(stderr, "error: ", fmt, ap);
    va_end(ap);
}

void pl_err0(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char buf[PL_LOG_LINE];
    vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    keep_first(buf);
    char ts[PL_LOG_TIME + 1];
    fprintf(stderr, "%spseudolink: error: %s\n", stamp(ts), buf);
    fflush(stderr);
}

void pl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(stderr, "warning: ", fmt, ap);
    va_end(ap);
}

void pl_info(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char buf[PL_LOG_LINE];
    vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}
