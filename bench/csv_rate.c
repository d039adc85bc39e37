/* csv_rate.c — rows per second of the CSV reader (base/csv.h) on one core:
 * a 10-column producer export (NIR, birth date, sex, birth rank and six
 * payload columns of integers, dates and strings, some quoted with
 * delimiters and doubled quotes inside), ROWS rows (default 1000000),
 * written once to a temporary file, then read in 65536-row batches into
 * typed column arrays, best of REPS (3) passes, in wall-clock and CPU
 * time (the CPU figure is the per-core cost on a shared machine); also the
 * split's counting pass (pl_csv_count) in GB/s. Usage: csv_rate [ROWS]
 * [REPS]. */
#include "base/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this process: on a shared machine, what the parse costs a
 * core, whatever else runs. */
static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? atol(argv[1]) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    char path[] = "/tmp/csv_rate.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    if (!f)
        return 2;
    fputs("nir,date_naissance,sexe,rang,sejour,montant,code,entree,duree,"
          "libelle\n", f);
    uint64_t x = 1;
    for (long i = 0; i < rows; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(x >> 33);
        fprintf(f, "%d%02u%02u%02u%03u%03u%02u,%02u/%02u/%04u,%u,1,%ld,%u,"
                "%c%c%u,%04u-%02u-%02u,%u,", 1 + (int)(r & 1), r % 100,
                1 + r % 12, 1 + r % 95, r % 1000, 1 + r % 999, r % 97,
                1 + r % 28, 1 + r % 12, 1930 + r % 90, 1 + (r & 1), i,
                r % 100000, 'A' + r % 26, 'A' + (r >> 5) % 26, r % 100,
                2000 + r % 24, 1 + (r >> 3) % 12, 1 + (r >> 7) % 28,
                r % 400);
        if (r % 8 == 0)
            fprintf(f, "\"s\xc3\xa9jour, \"\"court\"\"\"\n");
        else
            fprintf(f, "consultation %u\n", r % 1000);
    }
    fclose(f);
    const pl_csv_col cols[] = {
        {"nir", PL_CSV_STR, 15, 0, 1},
        {"date_naissance", PL_CSV_DATE, 0, PL_CSV_DMY, 1},
        {"sexe", PL_CSV_U8, 0, 0, 1},
        {"rang", PL_CSV_U8, 0, 0, 1},
        {"sejour", PL_CSV_I64, 0, 0, 0},
        {"montant", PL_CSV_U32, 0, 0, 0},
        {"code", PL_CSV_STR, 8, 0, 0},
        {"entree", PL_CSV_DATE, 0, PL_CSV_ISO, 0},
        {"duree", PL_CSV_U16, 0, 0, 0},
        {"libelle", PL_CSV_STR, 32, 0, 0},
    };
    pl_csv_spec spec = {0, PL_CSV_UTF8, cols, 10};
    double best = 1e30, bestc = 1e30, bestcpu = 1e30;
    uint64_t size = 0, got = 0;
    for (int k = 0; k < reps; k++) {
        double t0 = now(), c0 = cpu();
        pl_csv *c = pl_csv_open(path, &spec, 0);
        if (!c)
            return 1;
        pl_csv_batch b;
        pl_csv_batch_init(&b, c, 65536);
        int64_t n;
        got = 0;
        while ((n = pl_csv_read(c, &b)) > 0)
            got += (uint64_t)n;
        double t = now() - t0, tc = cpu() - c0;
        if (n < 0)
            return 1;
        if (t < best)
            best = t;
        if (tc < bestcpu)
            bestcpu = tc;
        size = pl_csv_size(c);
        t0 = now();
        uint64_t q, lf;
        pl_csv_count(c, 0, size, &q, &lf);
        t = now() - t0;
        if (t < bestc)
            bestc = t;
        pl_csv_batch_free(&b);
        pl_csv_close(c);
    }
    unlink(path);
    if (got != (uint64_t)rows) {
        fprintf(stderr, "csv_rate: read %llu rows of %ld\n",
                (unsigned long long)got, rows);
        return 1;
    }
    printf("csv_rate: %ld rows x 10 columns, %.1f MB: parse %.3f s wall = "
           "%.2f M rows/s (%.0f MB/s); %.3f s CPU = %.2f M rows/s/core; "
           "split count pass %.2f GB/s\n", rows, (double)size / 1e6, best,
           (double)rows / best / 1e6, (double)size / best / 1e6, bestcpu,
           (double)rows / bestcpu / 1e6, (double)size / bestc / 1e9);
    return 0;
}
