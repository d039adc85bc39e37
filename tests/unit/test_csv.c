/* test_csv.c — the CSV reader (base/csv.c): RFC 4180 cases, every error
 * with its exact file:line:column, encodings, dates, integer widths, and
 * the quote-aware split: for random files with quoted delimiters, quotes
 * and newlines, every split into 1..8 parts reads exactly the records of
 * one pass, with the same line numbers; also through a file read with a
 * tiny buffer (records across refills). Only creates files under /tmp. */
#include "base/csv.h"
#include "base/yamltree.h"
#include "job/csv_cfg.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

/* Render every record of the reader's current range: "L<line>:v|v|...\n",
 * strings as text, integers and dates in decimal, '!' for a lenient bad
 * value, '-' for a skipped column. Returns a malloc'd string, or NULL on
 * error. */
static char *render(pl_csv *c, const pl_csv_col *cols, size_t ncols,
                    size_t cap)
{
    size_t n = 0, m = 1024;
    char *out = malloc(m);
    out[0] = '\0';
    pl_csv_batch b;
    pl_csv_batch_init(&b, c, cap);
    int64_t r;
    while ((r = pl_csv_read(c, &b)) > 0) {
        for (size_t i = 0; i < b.n; i++) {
            char line[8192];
            int k = snprintf(line, sizeof line, "L%llu:",
                             (unsigned long long)b.line[i]);
            for (size_t j = 0; j < ncols; j++) {
                const pl_csv_col *col = &cols[j];
                size_t w = b.width[j];
                const uint8_t *v = b.col[j] ? (const uint8_t *)b.col[j] + i * w
                                            : NULL;
                if (j)
                    line[k++] = '|';
                if (b.bad[j] && b.bad[j][i]) {
                    line[k++] = '!';
                    continue;
                }
                switch (col->type) {
                case PL_CSV_SKIP: line[k++] = '-'; break;
                case PL_CSV_STR: {
                    size_t l = strnlen((const char *)v, w);
                    memcpy(line + k, v, l);
                    k += (int)l;
                    break;
                }
                case PL_CSV_I8: k += sprintf(line + k, "%d", *(const int8_t *)v); break;
                case PL_CSV_I16: k += sprintf(line + k, "%d", *(const int16_t *)v); break;
                case PL_CSV_I32: case PL_CSV_DATE: k += sprintf(line + k, "%d", *(const int32_t *)v); break;
                case PL_CSV_I64: k += sprintf(line + k, "%lld", (long long)*(const int64_t *)v); break;
                case PL_CSV_U8: k += sprintf(line + k, "%u", *(const uint8_t *)v); break;
                case PL_CSV_U16: k += sprintf(line + k, "%u", *(const uint16_t *)v); break;
                case PL_CSV_U32: k += sprintf(line + k, "%u", *(const uint32_t *)v); break;
                case PL_CSV_U64: k += sprintf(line + k, "%llu", (unsigned long long)*(const uint64_t *)v); break;
                }
            }
            line[k++] = '\n';
            line[k] = '\0';
            if (n + (size_t)k + 1 > m) {
                while (n + (size_t)k + 1 > m)
                    m *= 2;
                out = realloc(out, m);
            }
            memcpy(out + n, line, (size_t)k + 1);
            n += (size_t)k;
        }
    }
    pl_csv_batch_free(&b);
    if (r < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static char errbuf[PL_CSV_ERR_MAX];

/* Parse a buffer in one pass; NULL on error (message in errbuf). */
static char *parse(const char *text, size_t len, const pl_csv_col *cols,
                   size_t ncols, char delim, pl_csv_encoding enc)
{
    pl_csv_spec spec = {delim, enc, cols, ncols};
    errbuf[0] = '\0';
    pl_csv *c = pl_csv_open_mem("t.csv", text, len, &spec, 1);
    if (!c) {
        /* open failures: reopen loudly is not needed; rebuild the text */
        pl_csv_spec s2 = spec;
        (void)s2;
        return NULL;
    }
    char *r = render(c, cols, ncols, 3);
    snprintf(errbuf, sizeof errbuf, "%s", pl_csv_error(c));
    pl_csv_close(c);
    return r;
}

/* Open errors are kept in the reader, which is gone: capture via stderr. */
static char *parse_err(const char *text, const pl_csv_col *cols, size_t ncols,
                       char delim, pl_csv_encoding enc)
{
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    pl_csv_spec spec = {delim, enc, cols, ncols};
    pl_csv *c = pl_csv_open_mem("t.csv", text, strlen(text), &spec, 0);
    char *r = NULL;
    if (c) {
        r = render(c, cols, ncols, 2);
        pl_csv_close(c);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(t);
    size_t n = fread(errbuf, 1, sizeof errbuf - 1, t);
    errbuf[n] = '\0';
    if (n && errbuf[n - 1] == '\n')
        errbuf[n - 1] = '\0';
    fclose(t);
    return r;
}

#define S(h, l) {h, PL_CSV_STR, l, 0, 0}
#define I(h, t) {h, t, 0, 0, 0}
#define D(h, f) {h, PL_CSV_DATE, 0, f, 0}

static int same(const char *got, const char *want)
{
    if (got && strcmp(got, want) == 0)
        return 1;
    printf("# got:  [%s]\n# want: [%s]\n", got ? got : "(error)", want);
    return 0;
}

static void expect_ok(const char *name, const char *text, size_t len,
                      const pl_csv_col *cols, size_t ncols, char delim,
                      pl_csv_encoding enc, const char *want)
{
    char *r = parse(text, len ? len : strlen(text), cols, ncols, delim, enc);
    CHECK(same(r, want), "%s", name);
    free(r);
}

/* The error message must be exactly `want` (after "pseudolink: error: ")
 * and hold none of the `secret` text. */
static void expect_err(const char *name, const char *text,
                       const pl_csv_col *cols, size_t ncols, char delim,
                       pl_csv_encoding enc, const char *want,
                       const char *secret)
{
    char *r = parse_err(text, cols, ncols, delim, enc);
    const char *msg = strstr(errbuf, "error: ");
    msg = msg ? msg + 7 : errbuf;
    int ok = !r && strcmp(msg, want) == 0;
    if (!ok)
        printf("# got:  [%s]%s\n# want: [%s]\n", msg, r ? " (parsed)" : "",
               want);
    CHECK(ok, "error: %s", name);
    if (secret)
        CHECK(!strstr(errbuf, secret), "error: %s: the value is not shown",
              name);
    free(r);
}

/* ----------------------------------------------------------- RFC 4180 */

static void rfc_cases(void)
{
    const pl_csv_col ab[] = {S("a", 16), S("b", 16)};
#define OK(name, text, want) \
    expect_ok(name, text, sizeof(text) - 1, ab, 2, ',', PL_CSV_UTF8, want)
    OK("plain records", "a,b\n1,2\nx,y\n", "L2:1|2\nL3:x|y\n");
    OK("no final newline", "a,b\n1,2\nx,y", "L2:1|2\nL3:x|y\n");
    OK("CRLF records", "a,b\r\n1,2\r\nx,y\r\n", "L2:1|2\nL3:x|y\n");
    OK("mixed LF and CRLF", "a,b\n1,2\r\nx,y\n", "L2:1|2\nL3:x|y\n");
    OK("quoted fields", "\"a\",\"b\"\n\"1\",\"2\"\n", "L2:1|2\n");
    OK("quoted delimiter", "a,b\n\"1,5\",2\n", "L2:1,5|2\n");
    OK("doubled quotes", "a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n",
       "L2:say \"hi\"|\"\n");
    OK("embedded LF, line numbers after it", "a,b\n\"x\ny\",1\n2,3\n",
       "L2:x\ny|1\nL4:2|3\n");
    OK("embedded CRLF kept", "a,b\n\"x\r\ny\",1\n", "L2:x\r\ny|1\n");
    OK("empty fields", "a,b\n,\n\"\",\"\"\n", "L2:|\nL3:|\n");
    OK("empty last field before EOF", "a,b\n1,", "L2:1|\n");
    OK("quoted field at EOF", "a,b\n1,\"2\"", "L2:1|2\n");
    OK("header only", "a,b\n", "");
    OK("header only, no newline", "a,b", "");
    OK("header in another order", "b,a\n1,2\n", "L2:2|1\n");
    OK("UTF-8 byte order mark", "\xef\xbb\xbf" "a,b\n1,2\n", "L2:1|2\n");
    OK("spaces are data", "a,b\n 1 , 2\n", "L2: 1 | 2\n");
    OK("UTF-8 data", "a,b\n\xc3\xa9t\xc3\xa9,\xe2\x82\xac\n",
       "L2:\xc3\xa9t\xc3\xa9|\xe2\x82\xac\n");
    OK("quoted header with a newline", "\"a\",b\n1,2\n", "L2:1|2\n");
#undef OK
    const pl_csv_col one[] = {S("a", 8)};
    expect_ok("one column: empty line is an empty field", "a\n1\n\n2\n", 0,
              one, 1, ',', PL_CSV_UTF8, "L2:1\nL3:\nL4:2\n");
    const pl_csv_col hn[] = {S("a\nb", 8), S("c", 8)};
    expect_ok("header name with an embedded newline", "\"a\nb\",c\n1,2\n",
              0, hn, 2, ',', PL_CSV_UTF8, "L3:1|2\n");
    const char semi[] = "a;b\n\"1;2\";3\n";
    expect_ok("delimiter ';'", semi, sizeof semi - 1, ab, 2, ';',
              PL_CSV_UTF8, "L2:1;2|3\n");
    const char tab[] = "a\tb\n1,2\t3\n";
    expect_ok("delimiter tab", tab, sizeof tab - 1, ab, 2, '\t',
              PL_CSV_UTF8, "L2:1,2|3\n");
    /* detection from the header */
    const char *texts[] = {"a,b\n1;2,3\n", "a;b\n1,2;3\n", "a\tb\n1;2\t3\n"};
    const char *wants[] = {"L2:1;2|3\n", "L2:1,2|3\n", "L2:1;2|3\n"};
    const char delims[] = {',', ';', '\t'};
    for (int i = 0; i < 3; i++) {
        pl_csv_spec spec = {0, PL_CSV_UTF8, ab, 2};
        pl_csv *c = pl_csv_open_mem("t.csv", texts[i], strlen(texts[i]),
                                    &spec, 1);
        CHECK(c && pl_csv_delim(c) == delims[i],
              "delimiter detected from the header (%s)",
              i == 2 ? "tab" : (char[]){delims[i], 0});
        char *r = c ? render(c, ab, 2, 4) : NULL;
        CHECK(same(r, wants[i]), "detected delimiter then parses the data");
        free(r);
        pl_csv_close(c);
    }
    /* detection: the header names must match; else the error says so */
    expect_err("detection fails: undeclared header", "a|b\n", ab, 2, 0,
               PL_CSV_UTF8, "t.csv:1:1: header field 1 is not a declared "
               "column (its text is not shown: it may be data if the header "
               "row is missing)", NULL);
}

/* -------------------------------------------------------------- errors */

static void error_cases(void)
{
    const pl_csv_col ab[] = {S("a", 16), S("b", 16)};
#define ERR(name, text, want) \
    expect_err(name, text, ab, 2, ',', PL_CSV_UTF8, want, "SECRET")
    ERR("too many fields", "a,b\n1,2\nSECRET,2,SECRET\n",
        "t.csv:3:10: field 3: too many fields (expected 2, as in the header)");
    ERR("too few fields", "a,b\n1,2\nSECRET\n",
        "t.csv:3:7: column 'a' (field 1): too few fields: 1 (expected 2, as "
        "in the header)");
    ERR("too few fields at EOF", "a,b\nSECRET",
        "t.csv:2:7: column 'a' (field 1): too few fields: 1 (expected 2, as "
        "in the header)");
    ERR("too few fields, CRLF", "a,b\r\nSECRET\r\n",
        "t.csv:2:7: column 'a' (field 1): too few fields: 1 (expected 2, as "
        "in the header)");
    ERR("empty line in a 2-column file", "a,b\n1,2\n\n3,4\n",
        "t.csv:3:1: column 'a' (field 1): too few fields: 1 (expected 2, as "
        "in the header)");
    ERR("unbalanced quotes", "a,b\n1,2\n3,\"SECRET\n4,5\n",
        "t.csv:3:3: column 'b' (field 2): unbalanced quotes: the quoted "
        "field opened here is not closed before the end of the file");
    ERR("quote inside an unquoted field", "a,b\n1,SEC\"RET\n",
        "t.csv:2:6: column 'b' (field 2): quote inside an unquoted field (a "
        "field with quotes must be enclosed in quotes, with \"\" for a "
        "quote)");
    ERR("character after the closing quote", "a,b\n\"SECRET\"x,1\n",
        "t.csv:2:9: column 'a' (field 1): unexpected character after the "
        "closing quote (expected the delimiter or the end of the record)");
    ERR("bare CR", "a,b\n1,SECRET\rx\n",
        "t.csv:2:9: column 'b' (field 2): carriage return not followed by "
        "a line feed outside quotes");
    ERR("bare CR after a quoted field", "a,b\n1,\"SECRET\"\rx\n",
        "t.csv:2:11: column 'b' (field 2): carriage return not followed by "
        "a line feed after a quoted field");
    ERR("line numbers count embedded newlines",
        "a,b\n\"SECRET\nSECRET\n\",1\nx,\"y\"z\n",
        "t.csv:5:6: column 'b' (field 2): unexpected character after the "
        "closing quote (expected the delimiter or the end of the record)");
    ERR("invalid UTF-8", "a,b\n1,SECRET\xc3\x28\n",
        "t.csv:2:3: column 'b' (field 2): invalid UTF-8 at byte 7 of the "
        "field (the file is declared UTF-8)");
    ERR("overlong UTF-8", "a,b\nSECRET\xc0\xaf,1\n",
        "t.csv:2:1: column 'a' (field 1): invalid UTF-8 at byte 7 of the "
        "field (the file is declared UTF-8)");
    ERR("UTF-8 surrogate", "a,b\n\"SECRET\xed\xa0\x80\",1\n",
        "t.csv:2:1: column 'a' (field 1): invalid UTF-8 at byte 7 of the "
        "field (the file is declared UTF-8)");
    ERR("truncated UTF-8 at EOF", "a,b\n1,SECRET\xe2\x82",
        "t.csv:2:3: column 'b' (field 2): invalid UTF-8 at byte 7 of the "
        "field (the file is declared UTF-8)");
    ERR("undeclared column", "a,b,SECRET\n1,2,3\n",
        "t.csv:1:5: header field 3 is not a declared column (its text is "
        "not shown: it may be data if the header row is missing)");
    ERR("missing header row: first row not echoed", "SECRET,SECRET\n",
        "t.csv:1:1: header field 1 is not a declared column (its text is "
        "not shown: it may be data if the header row is missing)");
    ERR("declared column missing", "a\n1\n",
        "t.csv:1:1: declared column 'b' is not in the header (delimiter "
        "',')");
    ERR("duplicate header", "a,b,a\n1,2,3\n",
        "t.csv:1:5: duplicate header 'a' (also header field 1)");
    ERR("duplicate undeclared header", "a,SECRET,b,SECRET\n",
        "t.csv:1:3: header field 2 is not a declared column (its text is "
        "not shown: it may be data if the header row is missing)");
    ERR("empty file", "", "t.csv: empty file (expected a header row)");
    ERR("string longer than declared", "a,b\n1,SECRET_SECRET_SECRET\n",
        "t.csv:2:3: column 'b' (field 2): string longer than the declared "
        "length (16 bytes of UTF-8)");
#undef ERR
    const char nul[] = "a,b\n1,SECRET\0x\n";
    pl_csv_spec spec = {',', PL_CSV_UTF8, ab, 2};
    pl_csv *c = pl_csv_open_mem("t.csv", nul, sizeof nul - 1, &spec, 1);
    char *r = c ? render(c, ab, 2, 2) : NULL;
    CHECK(c && !r && strcmp(pl_csv_error(c), "t.csv:2:3: column 'b' "
                            "(field 2): NUL byte in the field") == 0,
          "error: NUL byte (%s)", c ? pl_csv_error(c) : "");
    CHECK(c && pl_csv_read(c, &(pl_csv_batch){0}) == -1,
          "after an error the reader only returns -1");
    pl_csv_close(c);

    const pl_csv_col typed[] = {I("n", PL_CSV_I8), D("d", PL_CSV_DMY)};
    expect_err("bad integer", "n,d\n12,01/01/2000\n1x2,01/01/2000\n", typed,
               2, ',', PL_CSV_UTF8, "t.csv:3:1: column 'n' (field 1): "
               "expected a decimal int8 (-128..127)", "1x2");
    expect_err("integer out of range", "n,d\n200,01/01/2000\n", typed, 2,
               ',', PL_CSV_UTF8, "t.csv:2:1: column 'n' (field 1): expected "
               "an integer in the range of int8 (-128..127)", "200");
    expect_err("bad date", "n,d\n1,31/04/1985\n", typed, 2, ',',
               PL_CSV_UTF8, "t.csv:2:3: column 'd' (field 2): expected a "
               "real date DD/MM/YYYY", "1985");
    expect_err("date in another format", "n,d\n1,\"1985-04-12\"\n", typed, 2,
               ',', PL_CSV_UTF8, "t.csv:2:3: column 'd' (field 2): expected "
               "a real date DD/MM/YYYY", "1985");
    const pl_csv_col dup[] = {S("a", 4), S("a", 4)};
    expect_err("column declared twice", "a\n", dup, 2, ',', PL_CSV_UTF8,
               "t.csv: column 'a' declared twice", NULL);
    const pl_csv_col zero[] = {S("a", 0)};
    expect_err("string of length 0", "a\n", zero, 1, ',', PL_CSV_UTF8,
               "t.csv: column 'a': string length must be 1 to 65536 bytes",
               NULL);
}

/* ----------------------------------------------- encodings, types */

static void encoding_cases(void)
{
    const pl_csv_col nom[] = {S("nom", 5), I("n", PL_CSV_U8)};
    expect_ok("Latin-1 converted to UTF-8", "nom,n\n\xe9t\xe9,1\n", 0, nom,
              2, ',', PL_CSV_LATIN1, "L2:\xc3\xa9t\xc3\xa9|1\n");
    const pl_csv_col nom4[] = {S("nom", 4), I("n", PL_CSV_U8)};
    expect_err("Latin-1: length counted after conversion",
               "nom,n\n\xe9t\xe9,1\n", nom4, 2, ',', PL_CSV_LATIN1,
               "t.csv:2:1: column 'nom' (field 1): string longer than the "
               "declared length (4 bytes of UTF-8)", NULL);
    expect_err("Latin-1: C1 bytes refused (Windows-1252 euro sign)",
               "nom,n\nab\x80,1\n", nom, 2, ',', PL_CSV_LATIN1,
               "t.csv:2:1: column 'nom' (field 1): byte 3 of the field is in "
               "0x80-0x9f, a control character in ISO-8859-1 (is the file "
               "Windows-1252?)", NULL);
    const pl_csv_col hd[] = {S("pr\xc3\xa9nom", 8)};
    expect_ok("Latin-1 header matched as UTF-8", "pr\xe9nom\nx\n", 0, hd, 1,
              ',', PL_CSV_LATIN1, "L2:x\n");
    expect_ok("Latin-1 quoted with escapes", "nom,n\n\"\xe9\"\"\",2\n", 0,
              nom, 2, ',', PL_CSV_LATIN1, "L2:\xc3\xa9\"|2\n");
    expect_err("UTF-8 file read as UTF-8 refuses Latin-1 bytes",
               "nom,n\n\xe9t\xe9,1\n", nom, 2, ',', PL_CSV_UTF8,
               "t.csv:2:1: column 'nom' (field 1): invalid UTF-8 at byte 1 "
               "of the field (the file is declared UTF-8)", NULL);
    const pl_csv_col sk[] = {{"x", PL_CSV_SKIP, 0, 0, 0}, I("n", PL_CSV_U8)};
    expect_err("invalid UTF-8 refused in a skipped column too",
               "x,n\n\xff,1\n", sk, 2, ',', PL_CSV_UTF8,
               "t.csv:2:1: column 'x' (field 1): invalid UTF-8 at byte 1 of "
               "the field (the file is declared UTF-8)", NULL);
    expect_ok("skipped column not stored", "x,n\nanything,1\n", 0, sk, 2,
              ',', PL_CSV_UTF8, "L2:-|1\n");
}

static void date_cases(void)
{
    struct { const char *s; pl_csv_datefmt f; int32_t want; } t[] = {
        {"20000229", PL_CSV_YYYYMMDD, 20000229},   /* 400-year leap */
        {"19000229", PL_CSV_YYYYMMDD, -1},         /* century, not leap */
        {"20240229", PL_CSV_YYYYMMDD, 20240229},
        {"20230229", PL_CSV_YYYYMMDD, -1},
        {"19850412", PL_CSV_YYYYMMDD, 19850412},
        {"19851301", PL_CSV_YYYYMMDD, -1},
        {"19850001", PL_CSV_YYYYMMDD, -1},
        {"19850100", PL_CSV_YYYYMMDD, -1},
        {"19850431", PL_CSV_YYYYMMDD, -1},
        {"00000101", PL_CSV_YYYYMMDD, -1},
        {"99991231", PL_CSV_YYYYMMDD, 99991231},
        {"1985041", PL_CSV_YYYYMMDD, -1},
        {"198504123", PL_CSV_YYYYMMDD, -1},
        {"1985-04-12", PL_CSV_YYYYMMDD, -1},
        {"1985-04-12", PL_CSV_ISO, 19850412},
        {"2000-02-29", PL_CSV_ISO, 20000229},
        {"2100-02-29", PL_CSV_ISO, -1},
        {"1985-4-12", PL_CSV_ISO, -1},
        {"1985/04/12", PL_CSV_ISO, -1},
        {"1985-04-1a", PL_CSV_ISO, -1},
        {"12/04/1985", PL_CSV_DMY, 19850412},
        {"29/02/1996", PL_CSV_DMY, 19960229},
        {"29/02/1997", PL_CSV_DMY, -1},
        {"31/12/1999", PL_CSV_DMY, 19991231},
        {"31/11/1999", PL_CSV_DMY, -1},
        {"04/12/85", PL_CSV_DMY, -1},
        {"12-04-1985", PL_CSV_DMY, -1},
        {"+1/04/1985", PL_CSV_DMY, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int32_t got = pl_csv_parse_date(t[i].s, strlen(t[i].s), t[i].f);
        CHECK(got == t[i].want, "date %s (format %d) -> %d", t[i].s, t[i].f,
              t[i].want);
    }
    const pl_csv_col d3[] = {D("a", PL_CSV_YYYYMMDD), D("b", PL_CSV_ISO),
                             D("c", PL_CSV_DMY)};
    expect_ok("three date formats in columns",
              "a,b,c\n19850412,1985-04-12,12/04/1985\n", 0, d3, 3, ',',
              PL_CSV_UTF8, "L2:19850412|19850412|19850412\n");
}

static void int_cases(void)
{
    struct { pl_csv_type t; const char *s; int ok; const char *want; } t[] = {
        {PL_CSV_I8, "-128", 1, "-128"}, {PL_CSV_I8, "127", 1, "127"},
        {PL_CSV_I8, "-129", 0, 0}, {PL_CSV_I8, "128", 0, 0},
        {PL_CSV_U8, "255", 1, "255"}, {PL_CSV_U8, "256", 0, 0},
        {PL_CSV_U8, "-1", 0, 0}, {PL_CSV_U8, "0", 1, "0"},
        {PL_CSV_U8, "007", 1, "7"},
        {PL_CSV_I16, "-32768", 1, "-32768"}, {PL_CSV_I16, "32768", 0, 0},
        {PL_CSV_U16, "65535", 1, "65535"}, {PL_CSV_U16, "65536", 0, 0},
        {PL_CSV_I32, "-2147483648", 1, "-2147483648"},
        {PL_CSV_I32, "2147483648", 0, 0},
        {PL_CSV_U32, "4294967295", 1, "4294967295"},
        {PL_CSV_U32, "4294967296", 0, 0},
        {PL_CSV_I64, "-9223372036854775808", 1, "-9223372036854775808"},
        {PL_CSV_I64, "9223372036854775807", 1, "9223372036854775807"},
        {PL_CSV_I64, "9223372036854775808", 0, 0},
        {PL_CSV_I64, "-9223372036854775809", 0, 0},
        {PL_CSV_U64, "18446744073709551615", 1, "18446744073709551615"},
        {PL_CSV_U64, "18446744073709551616", 0, 0},
        {PL_CSV_U64, "99999999999999999999999", 0, 0},
        {PL_CSV_I32, "", 0, 0}, {PL_CSV_I32, "-", 0, 0},
        {PL_CSV_I32, "+1", 0, 0}, {PL_CSV_I32, " 1", 0, 0},
        {PL_CSV_I32, "1 ", 0, 0}, {PL_CSV_I32, "1.0", 0, 0},
        {PL_CSV_I32, "0x10", 0, 0}, {PL_CSV_I32, "-0", 1, "0"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        pl_csv_col col[] = {I("v", t[i].t)};
        char text[64], want[64];
        snprintf(text, sizeof text, "v\n\"%s\"\n", t[i].s);
        snprintf(want, sizeof want, "L2:%s\n", t[i].ok ? t[i].want : "");
        char *r = parse(text, strlen(text), col, 1, ',', PL_CSV_UTF8);
        if (t[i].ok)
            CHECK(same(r, want), "%s '%s' accepted", pl_csv_type_name(t[i].t),
                  t[i].s);
        else
            CHECK(!r && strstr(errbuf, "t.csv:2:1: column 'v' (field 1): "
                               "expected "), "%s '%s' refused",
                  pl_csv_type_name(t[i].t), t[i].s);
        free(r);
    }
    /* lenient columns: 0 / "" and the bad flag, the rest of the row kept */
    pl_csv_col len[] = {{"nir", PL_CSV_STR, 15, 0, 1},
                        {"d", PL_CSV_DATE, 0, PL_CSV_ISO, 1},
                        {"sex", PL_CSV_U8, 0, 0, 1}, I("x", PL_CSV_I32)};
    const char lt[] = "nir,d,sex,x\n1234567890123456,1985-02-30,3x,7\n"
                      "123456789012345,1985-02-28,2,8\n";
    expect_ok("lenient columns flag bad values", lt, sizeof lt - 1, len, 4,
              ',', PL_CSV_UTF8, "L2:!|!|!|7\nL3:123456789012345|19850228|2|8\n");
    pl_csv_spec spec = {',', PL_CSV_UTF8, len, 4};
    pl_csv *c = pl_csv_open_mem("t.csv", lt, sizeof lt - 1, &spec, 1);
    pl_csv_batch b;
    pl_csv_batch_init(&b, c, 8);
    int64_t n = pl_csv_read(c, &b);
    int32_t d0;
    memcpy(&d0, b.col[1], 4);
    CHECK(n == 2 && d0 == 0 && ((uint8_t *)b.col[2])[0] == 0 &&
          ((char *)b.col[0])[0] == 0 && b.bad[3] == NULL,
          "lenient bad values are 0 / empty (the identity checks reject them)");
    pl_csv_batch_free(&b);
    pl_csv_close(c);
}

/* ----------------------------------------------------- split property */

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct { char *s; size_t n, m; } sbuf;
static void put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->m) {
        b->m = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->m);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
#define PUTS(b, s) put(b, s, strlen(s))

/* A random file of 3 string columns and an int column, and the render its
 * parse must give. */
static void random_file(sbuf *csv, sbuf *want, char delim)
{
    static const char *const pieces[] = {"a", "b", "7", ",", ";", "\t", "\"",
                                         "\n", "\r\n", "\xc3\xa9", " ", "x"};
    const char dl[2] = {delim, 0};
    csv->n = want->n = 0;
    put(want, "", 0);
    PUTS(csv, "c1");
    PUTS(csv, dl);
    PUTS(csv, "\"c2\"");
    PUTS(csv, dl);
    PUTS(csv, "c3");
    PUTS(csv, dl);
    PUTS(csv, "n\n");
    unsigned line = 2, nrec = rnd(30);
    int crlf = rnd(2);
    for (unsigned r = 0; r < nrec; r++) {
        char head[32];
        snprintf(head, sizeof head, "L%u:", line);
        PUTS(want, head);
        for (int j = 0; j < 3; j++) {
            char v[64];
            size_t vn = 0;
            unsigned np = rnd(6);
            int needq = 0;
            for (unsigned k = 0; k < np; k++) {
                const char *p = pieces[rnd(12)];
                size_t pl = strlen(p);
                if (vn + pl >= 40)
                    break;
                memcpy(v + vn, p, pl);
                vn += pl;
            }
            for (size_t k = 0; k < vn; k++)
                if (v[k] == delim || v[k] == '"' || v[k] == '\n' ||
                    v[k] == '\r')
                    needq = 1;
            if (needq || rnd(4) == 0) {
                PUTS(csv, "\"");
                for (size_t k = 0; k < vn; k++) {
                    if (v[k] == '"')
                        PUTS(csv, "\"");
                    if (v[k] == '\n')
                        line++;
                    put(csv, v + k, 1);
                }
                PUTS(csv, "\"");
            } else {
                put(csv, v, vn);
            }
            put(want, v, vn);
            PUTS(want, "|");
            PUTS(csv, dl);
        }
        char num[32];
        snprintf(num, sizeof num, "%d", (int)rnd(2000) - 1000);
        PUTS(csv, num);
        PUTS(want, num);
        PUTS(want, "\n");
        if (r + 1 < nrec || rnd(2))
            PUTS(csv, crlf ? "\r\n" : "\n");
        line++;
    }
}

static int count_checks, count_ok;

/* Parse every part of an n-way split and concatenate; NULL if any part
 * failed. `path` non-NULL: through the file, with a tiny buffer. */
static char *split_parse(const char *text, size_t len, const char *path,
                         const pl_csv_col *cols, size_t ncols, char delim,
                         int nparts, int *nfail)
{
    pl_csv_spec spec = {delim, PL_CSV_UTF8, cols, ncols};
    pl_csv *c = path ? pl_csv_open(path, &spec, 1)
                     : pl_csv_open_mem("t.csv", text, len, &spec, 1);
    if (!c)
        return NULL;
    pl_csv_part parts[8];
    char *all = calloc(1, 1);
    size_t n = 0;
    *nfail = 0;
    if (pl_csv_plan(c, nparts, parts)) {
        pl_csv_close(c);
        free(all);
        return NULL;
    }
    pl_csv_close(c);
    int ok = 1;
    for (int r = 0; r < nparts; r++) {
        /* every part with a reader of its own, as on separate ranks */
        c = path ? pl_csv_open(path, &spec, 1)
                 : pl_csv_open_mem("t.csv", text, len, &spec, 1);
        if (!c || pl_csv_set_range(c, parts[r].start, parts[r].end,
                                   parts[r].line)) {
            ok = 0;
            pl_csv_close(c);
            continue;
        }
        uint64_t nrec = 0;
        int cr = pl_csv_count_records(c, parts[r].start, parts[r].end, &nrec);
        char *s = render(c, cols, ncols, 1 + (size_t)rnd(4));
        pl_csv_close(c);
        if (s && cr == 0) {
            uint64_t lines = 0;
            for (const char *x = s; (x = strstr(x, "\nL")) != NULL; x++)
                lines++;
            lines += s[0] == 'L';
            count_checks++;
            count_ok += lines == nrec;
        }
        if (!s) {
            ok = 0;
            (*nfail)++;
            continue;
        }
        size_t l = strlen(s);
        all = realloc(all, n + l + 1);
        memcpy(all + n, s, l + 1);
        n += l;
        free(s);
    }
    if (!ok) {
        free(all);
        return NULL;
    }
    return all;
}

static void split_cases(void)
{
    const pl_csv_col cols[] = {S("c1", 64), S("c2", 64), S("c3", 64),
                               I("n", PL_CSV_I32)};
    sbuf csv = {0}, want = {0};
    char path[] = "/tmp/test_csv.XXXXXX";
    int fd = mkstemp(path);
    int files = 0, good_one = 0, good_split = 0, good_file = 0, checks = 0;
    int bad_agree = 0, bad_files = 0;
    /* Under ASan (tests/e2e/sanitize.sh, slow unwinder on every malloc)
     * 40 random files; the plain build checks 300. */
#ifdef __SANITIZE_ADDRESS__
    const int n_files = 40;
#else
    const int n_files = 300;
#endif
    for (int it = 0; it < n_files; it++) {
        char delim = ",;\t"[rnd(3)];
        random_file(&csv, &want, delim);
        files++;
        char *one = parse(csv.s, csv.n, cols, 4, delim, PL_CSV_UTF8);
        good_one += one && strcmp(one, want.s) == 0;
        if (!(one && strcmp(one, want.s) == 0))
            printf("# file %d (%zu bytes, delim %d): one pass differs\n# got  [%s]\n# want [%s]\n", it, csv.n, delim,
                   one ? one : errbuf, want.s);
        if (ftruncate(fd, 0) || pwrite(fd, csv.s, csv.n, 0) != (ssize_t)csv.n)
            return;
        for (int np = 1; np <= 8; np++) {
            int nf;
            char *s = split_parse(csv.s, csv.n, NULL, cols, 4, delim, np, &nf);
            checks++;
            if (!(s && one && strcmp(s, one) == 0))
                printf("# file %d split %d differs: [%s]\n", it, np, s ? s : "(error)");
            good_split += s && one && strcmp(s, one) == 0;
            free(s);
            pl_csv_set_buffer(1 + rnd(24));
            s = split_parse(NULL, 0, path, cols, 4, delim, np, &nf);
            pl_csv_set_buffer(0);
            good_file += s && one && strcmp(s, one) == 0;
            if (!(s && one && strcmp(s, one) == 0)) {
                printf("# file %d disk split %d differs: [%s]\n", it, np, s ? s : "(error)");
            }
            free(s);
        }
        free(one);
        /* corrupt one byte into a quote: one pass fails iff some part of
         * every split fails */
        if (csv.n > 20) {
            csv.s[12 + rnd((unsigned)csv.n - 12)] = '"';
            char *o = parse(csv.s, csv.n, cols, 4, delim, PL_CSV_UTF8);
            int np = 1 + (int)rnd(8), nf;
            char *s = split_parse(csv.s, csv.n, NULL, cols, 4, delim, np, &nf);
            bad_files++;
            bad_agree += (!o) == (!s) && (!o || strcmp(o, s) == 0);
            free(o);
            free(s);
        }
    }
    close(fd);
    unlink(path);
    CHECK(good_one == files, "random files: one pass reads exactly the "
          "generated records and lines (%d/%d)", good_one, files);
    CHECK(good_split == checks, "random files: every split into 1..8 parts "
          "reads the records of one pass, same lines (%d/%d)", good_split,
          checks);
    CHECK(good_file == checks, "random files read from disk with a 1-24 "
          "byte buffer: every split equals one pass (%d/%d)", good_file,
          checks);
    CHECK(bad_agree == bad_files, "corrupted files: a split fails exactly "
          "when one pass fails (%d/%d)", bad_agree, bad_files);
    CHECK(count_ok == count_checks && count_checks > n_files * 10,
          "records counted from quote parity equal records parsed, per part "
          "(%d/%d)", count_ok, count_checks);
    free(csv.s);
    free(want.s);

    /* a split point inside a quoted field full of newlines and quotes */
    const char *t = "c1,c2,c3,n\n\"\n\n\n\"\"\n1,2,3,4\n\n\n\",b,c,1\nx,y,z,2\n";
    for (int np = 1; np <= 8; np++) {
        int nf;
        char *s = split_parse(t, strlen(t), NULL, cols, 4, ',', np, &nf);
        CHECK(same(s, "L2:\n\n\n\"\n1,2,3,4\n\n\n|b|c|1\nL10:x|y|z|2\n"),
              "a quoted field that looks like records: split in %d", np);
        free(s);
    }
    /* parts and lines of a known file */
    const char *u = "c1,c2,c3,n\na,b,c,1\n\"x\ny\",b,c,2\nd,e,f,3\n";
    pl_csv_spec spec = {',', PL_CSV_UTF8, cols, 4};
    pl_csv *c = pl_csv_open_mem("t.csv", u, strlen(u), &spec, 1);
    pl_csv_part p[3];
    int rc = pl_csv_plan(c, 3, p);
    /* data [11, 39): chunks at 11, 20, 29; 20 and 29 are inside the record
     * that starts at 19 (part 0's), whose successor starts at 31 */
    CHECK(rc == 0 && p[0].start == 11 && p[0].end == 31 && p[1].start == 31 &&
          p[1].end == 31 && p[2].start == 31 && p[2].end == 39 &&
          p[0].line == 2 && p[1].line == 5 && p[2].line == 5,
          "plan of a small file: starts 11/31/31, lines 2/5/5 (got %llu/%llu/"
          "%llu, %llu/%llu/%llu)", (unsigned long long)p[0].start,
          (unsigned long long)p[1].start, (unsigned long long)p[2].start,
          (unsigned long long)p[0].line, (unsigned long long)p[1].line,
          (unsigned long long)p[2].line);
    pl_csv_close(c);
}


/* ------------------------------------------------------------ job cfg */

static int cfg_parse(const char *yaml, pl_csv_cfg *cfg)
{
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    pl_yaml_doc doc;
    int rc = pl_yaml_parse(&doc, "p.yaml", yaml, strlen(yaml), 0);
    if (rc == 0) {
        const pl_yaml_node *m = pl_yaml_get(doc.root, "csv");
        rc = pl_csv_cfg_parse(&doc, m, "sources.stays.csv", cfg);
    }
    pl_yaml_free(&doc);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(t);
    size_t n = fread(errbuf, 1, sizeof errbuf - 1, t);
    errbuf[n] = '\0';
    if (n && errbuf[n - 1] == '\n')
        errbuf[n - 1] = '\0';
    fclose(t);
    return rc;
}

static void cfg_cases(void)
{
    pl_csv_cfg cfg;
    const char *good =
        "csv:\n"
        "  file: /tmp/x.csv\n"
        "  delimiter: \";\"\n"
        "  encoding: latin-1\n"
        "  columns:\n"
        "    NIR: {as: nir, type: string, length: 15, invalid: reject}\n"
        "    DATE NAISS: {as: birth_date, type: date, format: DD/MM/YYYY}\n"
        "    sexe: {type: uint8}\n"
        "    NOM: {type: skip}\n";
    int rc = cfg_parse(good, &cfg);
    CHECK(rc == 0 && cfg.ncols == 4 && strcmp(cfg.file, "/tmp/x.csv") == 0 &&
          cfg.spec.delim == ';' && cfg.spec.encoding == PL_CSV_LATIN1 &&
          strcmp(cfg.cols[0].name, "nir") == 0 &&
          strcmp(cfg.spec_cols[1].header, "DATE NAISS") == 0 &&
          cfg.spec_cols[1].type == PL_CSV_DATE &&
          cfg.spec_cols[1].datefmt == PL_CSV_DMY &&
          cfg.spec_cols[0].len == 15 && cfg.spec_cols[0].lenient == 1 &&
          strcmp(cfg.cols[2].name, "sexe") == 0 &&
          cfg.spec_cols[3].type == PL_CSV_SKIP &&
          pl_csv_cfg_find(&cfg, "birth_date") == 1 &&
          pl_csv_cfg_find(&cfg, "NOM") == 3, "job csv section parsed (%s)",
          errbuf);
    if (rc == 0) {
        /* and drives the reader */
        const char *text = "sexe;NOM;NIR;DATE NAISS\n1;Dupont;"
                           "185057800608436;12/04/1985\n";
        pl_csv *c = pl_csv_open_mem("x.csv", text, strlen(text), &cfg.spec,
                                    1);
        char *r = c ? render(c, cfg.spec_cols, cfg.ncols, 4) : NULL;
        CHECK(same(r, "L2:185057800608436|19850412|1|-\n"),
              "the parsed section drives the reader");
        free(r);
        pl_csv_close(c);
        pl_csv_cfg_free(&cfg);
    }
    rc = cfg_parse("csv: {file: x.csv, columns: {a: {type: int32}}}\n", &cfg);
    CHECK(rc == 0 && cfg.spec.delim == 0 && cfg.spec.encoding == PL_CSV_UTF8,
          "defaults: delimiter auto, encoding utf-8");
    if (rc == 0)
        pl_csv_cfg_free(&cfg);
    rc = cfg_parse("csv: {file: x.csv, delimiter: tab, columns: {a: {type: int32}}}\n", &cfg);
    CHECK(rc == 0 && cfg.spec.delim == '\t', "delimiter: tab");
    if (rc == 0)
        pl_csv_cfg_free(&cfg);
    rc = cfg_parse("csv: {file: x.csv, delimiter: \"\\t\", columns: {a: {type: int32}}}\n", &cfg);
    CHECK(rc == 0 && cfg.spec.delim == '\t', "delimiter: \"\\t\"");
    if (rc == 0)
        pl_csv_cfg_free(&cfg);
    struct { const char *yaml, *want; } bad[] = {
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: int7}\n",
         "p.yaml:4:15: sources.stays.csv.columns.a.type: expected one of "
         "'skip', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', "
         "'uint32', 'uint64', 'string', 'date', got 'int7'"},
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: string}\n",
         "p.yaml:4:8: sources.stays.csv.columns.a: missing required key "
         "'length'"},
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: date, format: MM/DD/YYYY}\n",
         "p.yaml:4:29: sources.stays.csv.columns.a.format: expected one of "
         "'YYYYMMDD', 'YYYY-MM-DD', 'DD/MM/YYYY', got 'MM/DD/YYYY'"},
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: int8, length: 3}\n",
         "p.yaml:4:21: sources.stays.csv.columns.a.length: 'length' is only "
         "for type string"},
        {"csv:\n  file: x.csv\n  columns:\n    a b: {type: int8}\n",
         "p.yaml:4:10: sources.stays.csv.columns.a b: header 'a b' is not a "
         "column name (letters, digits and '_', at most 63 characters): "
         "give one with 'as'"},
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: int8}\n    b: {as: a, type: int8}\n",
         "p.yaml:5:5: sources.stays.csv.columns.b: column name 'a' also "
         "given to header at line 4"},
        {"csv:\n  file: x.csv\n  delimiter: '|'\n  columns:\n    a: {type: int8}\n",
         "p.yaml:3:14: sources.stays.csv.delimiter: expected one of ',', "
         "';', 'tab', 'auto', got '|'"},
        {"csv:\n  file: x.csv\n  encoding: cp1252\n  columns:\n    a: {type: int8}\n",
         "p.yaml:3:13: sources.stays.csv.encoding: expected 'utf-8' or "
         "'latin-1', got 'cp1252'"},
        {"csv:\n  columns:\n    a: {type: int8}\n",
         "p.yaml:2:3: sources.stays.csv: missing required key 'file'"},
        {"csv:\n  file: x.csv\n  colums: {}\n",
         "p.yaml:3:3: sources.stays.csv: unknown key 'colums' (expected one "
         "of: file, delimiter, encoding, columns)"},
        {"csv:\n  file: x.csv\n  columns: {}\n",
         "p.yaml:3:12: sources.stays.csv.columns: expected 1 to 4096 "
         "columns, got 0"},
        {"csv:\n  file: x.csv\n  columns:\n    a: {type: skip, invalid: reject}\n",
         "p.yaml:4:21: sources.stays.csv.columns.a.invalid: 'invalid' is "
         "not for type skip"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = cfg_parse(bad[i].yaml, &cfg);
        const char *msg = strstr(errbuf, "error: ");
        msg = msg ? msg + 7 : errbuf;
        int ok = rc == -1 && strcmp(msg, bad[i].want) == 0;
        if (!ok)
            printf("# got:  [%s]\n# want: [%s]\n", msg, bad[i].want);
        CHECK(ok, "job csv section error %zu: line:column and key path", i);
        if (rc == 0)
            pl_csv_cfg_free(&cfg);
    }
}

static void open_cases(void)
{
    const pl_csv_col ab[] = {S("a", 4), S("b", 4)};
    pl_csv_spec spec = {',', PL_CSV_UTF8, ab, 2};
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    pl_csv *c1 = pl_csv_open("/nonexistent/x.csv", &spec, 0);
    pl_csv *c2 = pl_csv_open("/tmp", &spec, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(t);
    size_t n = fread(errbuf, 1, sizeof errbuf - 1, t);
    errbuf[n] = '\0';
    fclose(t);
    CHECK(!c1 && strstr(errbuf, "/nonexistent/x.csv: cannot open CSV file: "
                        "No such file or directory"),
          "a missing file is named with the system's reason");
    CHECK(!c2 && strstr(errbuf, "/tmp: CSV file is a directory; expected a "
                        "regular file"), "a directory is refused");
    /* a byte order mark is seen whatever the read buffer's size */
    char path[] = "/tmp/test_csv_bom.XXXXXX";
    int fd = mkstemp(path);
    const char *bom = "\xef\xbb\xbf" "a,b\n1,2\n";
    int wr = pwrite(fd, bom, strlen(bom), 0) == (ssize_t)strlen(bom);
    close(fd);
    for (size_t bs = 1; bs <= 4; bs++) {
        pl_csv_set_buffer(bs);
        pl_csv *c = wr ? pl_csv_open(path, &spec, 1) : NULL;
        char *r = c ? render(c, ab, 2, 2) : NULL;
        CHECK(same(r, "L2:1|2\n"), "a file with a byte order mark read "
              "through a %zu-byte buffer", bs);
        free(r);
        pl_csv_close(c);
    }
    pl_csv_set_buffer(0);
    unlink(path);
}

/* A file that changes while it is read (a producer's export still being
 * written, truncated or rewritten by another process) is refused, never
 * read in part: after open, after a split, at the end of a range. */
static void change_cases(void)
{
    const pl_csv_col cols[] = {I("n", PL_CSV_I32), S("v", 8)};
    pl_csv_spec spec = {',', PL_CSV_UTF8, cols, 2};
    char path[] = "/tmp/test_csv_chg.XXXXXX";
    int fd = mkstemp(path);
    sbuf f = {0};
    PUTS(&f, "n,v\n");
    for (int i = 0; i < 200; i++) {
        char l[32];
        snprintf(l, sizeof l, "%d,abcdef\n", i);
        PUTS(&f, l);
    }
    size_t half = 0;            /* a record boundary near the middle */
    for (size_t i = f.n / 2; i < f.n; i++)
        if (f.s[i] == '\n') {
            half = i + 1;
            break;
        }
    /* an old modification time: a rewrite of the same size is seen */
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    for (int k = 0; k < 4; k++) {
        if (ftruncate(fd, 0) || pwrite(fd, f.s, f.n, 0) != (ssize_t)f.n ||
            futimens(fd, old))
            return;
        pl_csv_set_buffer(k == 3 ? 0 : 64);
        pl_csv *c = pl_csv_open(path, &spec, 1);
        pl_csv_part parts[2];
        int rc = c ? pl_csv_plan(c, 2, parts) : -1;
        if (k == 3 && rc == 0)
            rc = pl_csv_set_range(c, parts[1].start, parts[1].end,
                                  parts[1].line);
        const char *what;
        int ch;
        if (k == 0) {
            what = "truncated at a record boundary";
            ch = ftruncate(fd, (off_t)half);
        } else if (k == 1) {
            what = "appended to";
            ch = pwrite(fd, "7,x\n", 4, (off_t)f.n) == 4 ? 0 : -1;
        } else if (k == 2) {
            what = "rewritten in place, same size";
            ch = pwrite(fd, "9", 1, (off_t)f.n - 3) == 1 ? 0 : -1;
        } else {
            what = "emptied between its split and the read of part 2,";
            ch = ftruncate(fd, 0);
        }
        char *r = rc == 0 && ch == 0 ? render(c, cols, 2, 16) : NULL;
        const char *msg = c ? pl_csv_error(c) : "";
        CHECK(rc == 0 && ch == 0 && !r &&
              strstr(msg, "changed while it was being read"),
              "a file %s while it is read is refused (%s)", what, msg);
        free(r);
        pl_csv_close(c);
    }
    /* a reader that stops after the counted records (no read returning 0)
     * still sees the change: with the read that returns the last record */
    pl_csv_set_buffer(0);
    if (ftruncate(fd, 0) || pwrite(fd, f.s, f.n, 0) != (ssize_t)f.n)
        return;
    pl_csv *c = pl_csv_open(path, &spec, 1);
    uint64_t nrec = 0;
    int rc = c ? pl_csv_count_records(c, pl_csv_data_start(c),
                                      pl_csv_size(c), &nrec) : -1;
    int ch = pwrite(fd, "7,x\n", 4, (off_t)f.n) == 4 ? 0 : -1;
    pl_csv_batch b;
    int64_t got = -2;
    if (rc == 0 && ch == 0) {
        pl_csv_batch_init(&b, c, (size_t)nrec);
        got = pl_csv_read(c, &b);
        pl_csv_batch_free(&b);
    }
    CHECK(nrec == 200 && got == -1 &&
          strstr(pl_csv_error(c), "changed while it was being read"),
          "a file appended to is refused by the read that returns its last "
          "record (read %lld)", (long long)got);
    pl_csv_close(c);
    close(fd);
    unlink(path);
    free(f.s);
}

/* ------------------------------------------------- no value in messages */

/* Random files whose fields are random lowercase words, one byte corrupted
 * into a delimiter, quote, CR, LF, NUL, invalid UTF-8 or a letter; every
 * error message must hold no 6-letter piece of any field. */
static void leak_cases(void)
{
    /* strings long enough for every word: only the corruption fails */
    const pl_csv_col cols[] = {S("a", 16), S("b", 16),
                               {"n", PL_CSV_SKIP, 0, 0, 0},
                               {"s", PL_CSV_SKIP, 0, 0, 0}, S("d", 16)};
    int errors = 0, leaks = 0;
    for (int it = 0; it < 400; it++) {
        sbuf f = {0};
        char words[64][16];
        int nw = 0;
        PUTS(&f, "a,b,n,s,d\n");
        unsigned nrec = 1 + rnd(8);
        for (unsigned r = 0; r < nrec; r++) {
            for (int j = 0; j < 5; j++) {
                char *w = words[nw < 63 ? nw++ : 63];
                int l = 6 + (int)rnd(9);
                for (int k = 0; k < l; k++)
                    w[k] = (char)('a' + rnd(26));
                w[l] = '\0';
                if (rnd(3) == 0) {
                    PUTS(&f, "\"");
                    PUTS(&f, w);
                    PUTS(&f, "\"");
                } else {
                    PUTS(&f, w);
                }
                PUTS(&f, j < 4 ? "," : "\n");
            }
        }
        static const char bad[] = {'"', '\r', '\n', ',', '\0', '\xff', 'x'};
        f.s[10 + rnd((unsigned)f.n - 10)] = bad[rnd(7)];
        pl_csv_spec spec = {',', PL_CSV_UTF8, cols, 5};
        pl_csv *c = pl_csv_open_mem("t.csv", f.s, f.n, &spec, 1);
        char *r = c ? render(c, cols, 5, 4) : NULL;
        const char *msg = c ? pl_csv_error(c) : "";
        if (!r && c) {
            errors++;
            for (int k = 0; k < nw; k++) {
                size_t l = strlen(words[k]);
                for (size_t o = 0; o + 6 <= l; o++) {
                    char piece[7];
                    memcpy(piece, words[k] + o, 6);
                    piece[6] = '\0';
                    if (strstr(msg, piece)) {
                        leaks++;
                        printf("# leak: [%s] in [%s]\n", piece, msg);
                        break;
                    }
                }
            }
        }
        free(r);
        pl_csv_close(c);
        free(f.s);
    }
    CHECK(errors > 150 && leaks == 0, "no field value in any of %d error "
          "messages on corrupted files (%d leaks)", errors, leaks);
}

int main(void)
{
    leak_cases();
    open_cases();
    change_cases();
    cfg_cases();
    rfc_cases();
    error_cases();
    encoding_cases();
    date_cases();
    int_cases();
    split_cases();
    return unit_done();
}
