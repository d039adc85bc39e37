/* test_progress.c — the run's progress lines (src/base/progress.c): the
 * estimate from batches, the line format, the interval, rank 0 only, the
 * stopped run's "where". */
#include "base/log.h"
#include "base/progress.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Run f with stdout sent to a temporary file; its text in out. */
static void capture(void (*f)(void), char *out, size_t n)
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    f();
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(tmp);
    size_t got = fread(out, 1, n - 1, tmp);
    out[got] = '\0';
    fclose(tmp);
}

static void nap(void)
{
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void one_stage(void)
{
    pl_progress_init(0.025);
    pl_progress_stage("ingest", 1000, "rows");
    nap();
    pl_progress_set(250);
    pl_progress_set(300);       /* within the interval: no line */
}

static void silent(void)
{
    pl_progress_init(0);
    pl_progress_stage("link", 0, NULL);
    nap();
    pl_progress_set(5);
}

static void hostile(void)
{
    pl_progress_stage("extract a\nb\033[2J", 10, "rows");
}

/* 1 row done of 2^63 after 60 ms: an ETA of ~10^10 years, past what an
 * unsigned 64-bit count of seconds holds (a float-to-integer conversion
 * out of range is undefined behaviour: garbage or 0 s). */
static void far(void)
{
    pl_progress_init(0.025);
    pl_progress_stage("check", (uint64_t)1 << 63, "rows");
    nap();
    pl_progress_set(1);
}

static int is_time(const char *s)
{
    int y, mo, d, h, mi, se;
    char z;
    return sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se,
                  &z) == 7 && z == 'Z' && s[20] == ' ';
}

int main(void)
{
    /* Estimate: k batches of B rows on R ranks, capped at the part. */
    CHECK(pl_progress_estimate(0, 1, 100, 4, 1000) == 400, "1 batch x 100 rows x 4 ranks = 400");
    CHECK(pl_progress_estimate(50, 3, 100, 4, 1000) == 1050, "capped at the part, plus the base");
    CHECK(pl_progress_estimate(0, UINT64_MAX / 2, 1000, 8, 77) == 77, "no overflow for huge batch counts");
    CHECK(pl_progress_estimate(7, 0, 100, 2, 10) == 7, "0 batches: the base");

    char where[256];
    pl_progress_where(where, sizeof where);
    CHECK(strcmp(where, "before the first stage") == 0, "where, before any stage: '%s'", where);

    char buf[4096];
    capture(one_stage, buf, sizeof buf);
    char *l1 = buf, *l2 = strchr(buf, '\n');
    CHECK(l2 != NULL, "two lines printed");
    if (!l2)
        return unit_done();
    *l2++ = '\0';
    CHECK(is_time(l1) && strcmp(l1 + 21, "stage ingest: 1000 rows") == 0, "stage line: '%s'", l1);
    CHECK(is_time(l2) && strncmp(l2 + 21, "progress ingest: 250 of 1000 rows (25.0 %), ", 44) == 0 &&
          strstr(l2, " rows/s, ETA ") != NULL, "progress line: '%.*s'", (int)strcspn(l2, "\n"), l2);
    CHECK(strchr(l2, '\n') && strchr(l2, '\n')[1] == '\0', "one progress line within the interval");
    pl_progress_where(where, sizeof where);
    CHECK(strncmp(where, "stage ingest, 300 of 1000 rows done (30.0 %), ", 46) == 0 &&
          strstr(where, " s into it") != NULL, "where: '%s'", where);

    capture(silent, buf, sizeof buf);
    CHECK(is_time(buf) && strcmp(buf + 21, "stage link\n") == 0, "--progress 0: only the stage line ('%s')", buf);

    capture(far, buf, sizeof buf);
    CHECK(strstr(buf, "ETA more than 100 years\n") != NULL, "an ETA past 100 years says so ('%s')", buf);

    capture(hostile, buf, sizeof buf);
    CHECK(strstr(buf, "extract a\\x0ab\\x1b[2J: 10 rows\n") != NULL && strchr(buf, '\033') == NULL,
          "control bytes in a name are escaped");

    /* Unicode that reorders or breaks a displayed line (a path or a name
     * with RIGHT-TO-LEFT OVERRIDE, LINE SEPARATOR, an isolate) is escaped
     * too; other UTF-8 (accents) stays as it is. */
    char esc[256];
    pl_log_escape("r\xc3\xa9" "sum\xc3\xa9" " \xe2\x80\xae" "1gnp.exe \xe2\x80\xa8"
                  "forged \xe2\x81\xa6" "x\xe2\x81\xa9" " \xe2\x80\x8f" "y \xd8\x9c"
                  "z \xef\xbb\xbf" "w", esc, sizeof esc);
    CHECK(strcmp(esc, "r\xc3\xa9" "sum\xc3\xa9" " \\xe2\\x80\\xae1gnp.exe \\xe2\\x80\\xa8"
                      "forged \\xe2\\x81\\xa6x\\xe2\\x81\\xa9 \\xe2\\x80\\x8fy \\xd8\\x9cz "
                      "\\xef\\xbb\\xbfw") == 0,
          "bidi controls, line/paragraph separators, BOM escaped; accents kept: '%s'", esc);

    pl_log_init(1, 2);
    capture(one_stage, buf, sizeof buf);
    CHECK(buf[0] == '\0', "rank 1 prints nothing");
    return unit_done();
}
