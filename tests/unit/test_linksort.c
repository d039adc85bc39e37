/* test_linksort.c — the links sort: radix order equals qsort order
 * (including many equal pids and equal 4-byte prefixes), and the spilled
 * path (sorted runs in a scratch file, k-way merge) yields exactly the
 * in-memory result, in whatever chunk sizes it is read. */
#include "stage/linksort.h"
#include "unit.h"

#include <dirent.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    return memcmp(a, b, PL_LINK_KEY);
}

/* n records: pids drawn from `persons` values (some sharing their first 4
 * bytes), unique (source, row), random padding bytes after the key. */
static uint8_t *make(size_t n, size_t persons)
{
    uint8_t *pool = malloc(persons * 16), *r = malloc(n * PL_LINK_BYTES);
    RAND_bytes(pool, (int)(persons * 16));
    for (size_t p = 1; p < persons; p += 7)
        memcpy(pool + p * 16, pool + (p - 1) * 16, 4);   /* prefix clash */
    RAND_bytes(r, (int)(n * PL_LINK_BYTES));
    for (size_t i = 0; i < n; i++) {
        uint8_t *x = r + i * PL_LINK_BYTES;
        memcpy(x, pool + (size_t)(x[20] | x[21] << 8 | x[22] << 16) %
                          persons * 16, 16);
        x[16] = 0;
        x[17] = (uint8_t)(i % 3);
        uint64_t row = n - i;
        for (int b = 0; b < 8; b++)
            x[25 - b] = (uint8_t)(row >> (8 * b));
    }
    free(pool);
    return r;
}

static void test_radix(void)
{
    size_t sizes[] = {0, 1, 2, 63, 64, 1000, 200000};
    int same = 1;
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        size_t n = sizes[t];
        uint8_t *a = make(n ? n : 1, n / 4 + 1);
        uint8_t *b = malloc(n * PL_LINK_BYTES + 1), *tmp = malloc(n * PL_LINK_BYTES + 1);
        memcpy(b, a, n * PL_LINK_BYTES);
        pl_radix_sort_links(a, tmp, n);
        qsort(b, n, PL_LINK_BYTES, cmp);
        same &= memcmp(a, b, n * PL_LINK_BYTES) == 0;
        free(a); free(b); free(tmp);
    }
    CHECK(same, "radix sort equals qsort order (0..200000 records, equal pids, "
          "equal 4-byte prefixes)");
    /* One person only: every pass is a no-op, the group fallback sorts. */
    uint8_t *a = make(5000, 1), *b = malloc(5000 * PL_LINK_BYTES),
            *tmp = malloc(5000 * PL_LINK_BYTES);
    memcpy(b, a, 5000 * PL_LINK_BYTES);
    pl_radix_sort_links(a, tmp, 5000);
    qsort(b, 5000, PL_LINK_BYTES, cmp);
    CHECK(memcmp(a, b, 5000 * PL_LINK_BYTES) == 0,
          "radix sort of 5000 records of a single pid equals qsort");
    free(a); free(b); free(tmp);
}

/* Sort through pl_linksort with run capacity `cap`, read back by `chunk`. */
static uint8_t *through(const uint8_t *in, size_t n, uint64_t cap,
                        size_t chunk, const char *dir, size_t *runs, int *ok)
{
    pl_linksort s;
    pl_linksort_init(&s, cap, 64 * 1024, dir);
    for (size_t i = 0; i < n; i += 777) {
        size_t k = n - i < 777 ? n - i : 777;
        *ok &= pl_linksort_add(&s, in + i * PL_LINK_BYTES, k) == 0;
    }
    *ok &= pl_linksort_finish(&s) == 0;
    *runs = s.n_runs;
    uint8_t *out = malloc(n * PL_LINK_BYTES + 1);
    for (int pass = 0; pass < 2; pass++) {      /* restartable */
        pl_linkiter it;
        *ok &= pl_linkiter_open(&it, &s) == 0;
        size_t got = 0, g;
        while ((g = pl_linkiter_next(&it, out + got * PL_LINK_BYTES,
                                     chunk)) > 0)
            got += g;
        *ok &= got == n && !it.err;
        pl_linkiter_close(&it);
    }
    pl_linksort_free(&s);
    return out;
}

static void test_spill(void)
{
    char dir[] = "/tmp/pl-linksort.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    size_t n = 100000, runs_mem = 0, runs_disk = 0;
    uint8_t *in = make(n, 30000);
    int ok = 1;
    uint8_t *mem = through(in, n, n, 4096, dir, &runs_mem, &ok);
    uint8_t *disk = through(in, n, 3000, 1000, dir, &runs_disk, &ok);
    CHECK(ok && runs_mem == 0, "in-memory path: nothing spilled");
    CHECK(runs_disk == (n + 2999) / 3000, "tiny run capacity spills %zu runs",
          runs_disk);
    CHECK(memcmp(mem, disk, n * PL_LINK_BYTES) == 0,
          "spill + k-way merge output equals the in-memory sort");
    qsort(in, n, PL_LINK_BYTES, cmp);
    CHECK(memcmp(mem, in, n * PL_LINK_BYTES) == 0, "and both equal qsort");
    DIR *d = opendir(dir);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        left += e->d_name[0] != '.' || strlen(e->d_name) > 2;
    if (d)
        closedir(d);
    CHECK(left == 0, "no spill file is left in the directory");
    rmdir(dir);
    free(in); free(mem); free(disk);
}

int main(void)
{
    test_radix();
    test_spill();
    return unit_done();
}
