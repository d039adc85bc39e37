/* fuzz_csv.c — libFuzzer target: the CSV reader (base/csv.c) on arbitrary
 * bytes. Input: byte 0 picks the delimiter (',' ';' tab or detection),
 * the encoding and lenient columns, byte 1 the number of split parts
 * (1..8); the rest is the file, after a header "a<d>b<d>c\n" (so that the
 * records are reached) when bit 7 of byte 0 is clear. Columns: a string
 * of 8 bytes, b int16, c a DD/MM/YYYY date. Oracles: no crash or leak
 * (ASan/UBSan), every message starts with "f.csv:", and whenever one pass
 * succeeds, the concatenated parts of the split give the same records and
 * lines, and pl_csv_count_records gives each part's record count; when it
 * fails, some part fails too. Bits 3-7 of byte 1, when not all zero, are a
 * read buffer size (1..31 bytes): every part is then also read from a file
 * (a memfd) through that buffer, and must give the same records, or the
 * same error at the same place, as from memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
    if (r < 0 && strncmp(pl_csv_error(c), "f.csv:", 6) != 0 &&
        strncmp(pl_csv_error(c), "/proc/self/fd/", 14) != 0)
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
    size_t bufsz = (size_t)(data[1] >> 3);
    static int fd = -1;
    char fpath[64] = "";
    if (bufsz) {
        if (fd < 0)
            fd = memfd_create("fuzz_csv", 0);
        if (fd >= 0 && ftruncate(fd, 0) == 0 &&
            pwrite(fd, buf, len, 0) == (ssize_t)len)
            snprintf(fpath, sizeof fpath, "/proc/self/fd/%d", fd);
    }
    pl_csv *c = pl_csv_open_mem("f.csv", buf, len, &spec, 1);
    if (fpath[0]) {             /* opens from the file iff from memory */
        pl_csv_set_buffer(bufsz);
        pl_csv *q = pl_csv_open(fpath, &spec, 1);
        pl_csv_set_buffer(0);
        if (!q != !c)
            abort();
        pl_csv_close(q);
    }
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
        if (bufsz && fpath[0]) {
            /* the same part from the file, through a tiny buffer */
            pl_csv_set_buffer(bufsz);
            pl_csv *q = pl_csv_open(fpath, &spec, 1);
            pl_csv_set_buffer(0);
            if (!q || pl_csv_set_range(q, parts[r].start, parts[r].end,
                                       parts[r].line))
                abort();
            uint8_t *o2;
            int f2;
            size_t n2 = render(q, &o2, &f2);
            if (f2 != f || (!f && (n2 != n || memcmp(o, o2, n) != 0)) ||
                (f && strcmp(strchr(pl_csv_error(p), ':'),
                             strchr(pl_csv_error(q), ':')) != 0))
                abort();
            free(o2);
            pl_csv_close(q);
        }
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
