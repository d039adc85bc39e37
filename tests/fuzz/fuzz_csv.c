/* fuzz_csv.c — libFuzzer target: the CSV reader (base/csv.c) on arbitrary
 * bytes. Input: byte 0 picks the delimiter (',' ';' tab or detection),
 * the encoding and lenient columns, byte 1 the number of split parts
 * (1..8); the rest is the file, after a header "a<d>b<d>c\n" (so that the
 * records are reached) when bit 7 of byte 0 is clear. Columns: a string
 * of 8 bytes, b int16, c a DD/MM/YYYY date. Oracles: no crash or leak
 * (ASan/UBSan), every message starts with "f.csv:", and whenever one pass
 * succeeds, the concatenated parts of the split give the same records and
 * lines, and pl_csv_count_records gives each part's record count; when it
 * fails, some part fails too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"

static size_t render(pl_csv *c, uint8_t **out, int *failed)
{
    size_t n = 0, m = 256;
    uint8_t *o = malloc(m);
    pl_csv_batch b;
    pl_csv_batch_init(&b, c, 3);
    int64_t r;
    while ((r = pl_csv_read(c, &b)) > 0) {
        size_t row = 8 + 2 + 4 + 8;
        if (n + (size_t)r * row > m) {
            m = 2 * (n + (size_t)r * row);
            o = realloc(o, m);
        }
        for (size_t i = 0; i < b.n; i++) {
            memcpy(o + n, (uint8_t *)b.col[0] + 8 * i, 8);
            memcpy(o + n + 8, (uint8_t *)b.col[1] + 2 * i, 2);
            memcpy(o + n + 10, (uint8_t *)b.col[2] + 4 * i, 4);
            memcpy(o + n + 14, &b.line[i], 8);
            n += row;
        }
    }
    pl_csv_batch_free(&b);
    *failed = r < 0;
    if (r < 0 && strncmp(pl_csv_error(c), "f.csv:", 6) != 0)
        abort();
    *out = o;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = {',', ';', '\t', 0};
    char d = delims[data[0] & 3];
    char dd = d ? d : ',';
    pl_csv_col cols[] = {{"a", PL_CSV_STR, 8, 0, (data[0] >> 3) & 1},
                         {"b", PL_CSV_I16, 0, 0, (data[0] >> 4) & 1},
                         {"c", PL_CSV_DATE, 0, PL_CSV_DMY, (data[0] >> 5) & 1}};
    pl_csv_spec spec = {d, (data[0] >> 2) & 1 ? PL_CSV_LATIN1 : PL_CSV_UTF8,
                        cols, 3};
    int nparts = 1 + (data[1] & 7);
    size_t hl = (data[0] & 0x80) ? 0 : 6;
    uint8_t *buf = malloc(hl + size - 2 + 1);
    if (hl) {
        char h[6] = {'a', dd, 'b', dd, 'c', '\n'};
        memcpy(buf, h, 6);
    }
    memcpy(buf + hl, data + 2, size - 2);
    size_t len = hl + size - 2;
    pl_csv *c = pl_csv_open_mem("f.csv", buf, len, &spec, 1);
    if (!c) {
        free(buf);
        return 0;
    }
    uint8_t *one;
    int fail1;
    size_t n1 = render(c, &one, &fail1);
    pl_csv_part parts[8];
    if (pl_csv_plan(c, nparts, parts))
        abort();
    pl_csv_close(c);
    size_t at = 0;
    int anyfail = 0;
    for (int r = 0; r < nparts; r++) {
        if (parts[r].start > parts[r].end ||
            (r && parts[r].start != parts[r - 1].end))
            abort();
        pl_csv *p = pl_csv_open_mem("f.csv", buf, len, &spec, 1);
        if (!p || pl_csv_set_range(p, parts[r].start, parts[r].end,
                                   parts[r].line))
            abort();
        uint8_t *o;
        int f;
        uint64_t nrec;
        if (pl_csv_count_records(p, parts[r].start, parts[r].end, &nrec))
            abort();
        size_t n = render(p, &o, &f);
        pl_csv_close(p);
        if (!fail1 && nrec != n / (8 + 2 + 4 + 8))
            abort();
        if (f) {
            anyfail = 1;
        } else if (!fail1) {
            if (at + n > n1 || memcmp(one + at, o, n) != 0)
                abort();
            at += n;
        }
        free(o);
    }
    if (!fail1 && (anyfail || at != n1))
        abort();
    if (fail1 && !anyfail)
        abort();
    free(one);
    free(buf);
    return 0;
}
