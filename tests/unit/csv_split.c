/* csv_split.c — the MPI split of a CSV file (par/csv_split.c), run by
 * tests/e2e/csv.sh under mpirun (built by the Makefile as tests/bin/
 * csv_split; not a test_* unit test, which tests/run.sh and sanitize.sh
 * would start as a singleton MPI process).
 *
 * Without arguments: rank 0 writes random files full of quoted delimiters,
 * doubled quotes and embedded newlines; every rank reads its part with
 * pl_csv_split, the parts are gathered in rank order and must equal one
 * reader's pass over the whole file, line numbers included; a file with
 * an unbalanced quote fails on every rank's verdict.
 *
 * --dump FILE DELIM ENC H1 [H2 ...]: read FILE split between the ranks,
 * columns H1.. as strings of up to 4096 bytes; rank 0 prints one line per
 * record, "LINE<TAB>hex1,hex2,...", in file order (the Python cross-check
 * of tests/e2e/csv.sh compares it with Python's csv module). DELIM is
 * , ; tab or auto; ENC utf-8 or latin-1. Exit 1 on a CSV error.
 * --dump-list LIST: the same for each line "FILE OUT DELIM ENC H1 ..." of
 * LIST (one MPI start for many files), rank 0 writing to OUT ("FAILED" on
 * a CSV error). */
#include "base/csv.h"
#include "par/csv_split.h"
#include "par/mpi.h"
#include "unit.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, nranks;

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

/* Render this rank's records ("LINE\thex,hex\n"); -1 on a CSV error. */
static int read_part(pl_csv *c, size_t ncols, sbuf *out, int hex)
{
    pl_csv_batch b;
    pl_csv_batch_init(&b, c, 7);
    int64_t n;
    while ((n = pl_csv_read(c, &b)) > 0) {
        for (size_t i = 0; i < b.n; i++) {
            char t[32];
            int k = snprintf(t, sizeof t, "%llu\t",
                             (unsigned long long)b.line[i]);
            put(out, t, (size_t)k);
            for (size_t j = 0; j < ncols; j++) {
                const char *v = (const char *)b.col[j] + i * b.width[j];
                size_t l = strnlen(v, b.width[j]);
                if (j)
                    put(out, ",", 1);
                for (size_t q = 0; q < l; q++) {
                    if (hex) {
                        snprintf(t, sizeof t, "%02x", (unsigned char)v[q]);
                        put(out, t, 2);
                    } else {
                        put(out, v + q, 1);
                    }
                }
            }
            put(out, "\n", 1);
        }
    }
    pl_csv_batch_free(&b);
    return n < 0 ? -1 : 0;
}

/* Gather every rank's text on rank 0, in rank order. */
static char *gather(const sbuf *mine)
{
    int len = (int)mine->n, *lens = NULL, *offs = NULL, total = 0;
    if (rank == 0) {
        lens = calloc((size_t)nranks, sizeof *lens);
        offs = calloc((size_t)nranks, sizeof *offs);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char *all = NULL;
    if (rank == 0) {
        for (int r = 0; r < nranks; r++) {
            offs[r] = total;
            total += lens[r];
        }
        all = calloc((size_t)total + 1, 1);
    }
    MPI_Gatherv(mine->s ? mine->s : "", len, MPI_CHAR, all, lens, offs,
                MPI_CHAR, 0, MPI_COMM_WORLD);
    free(lens);
    free(offs);
    return all;
}

/* Split-read `path` on every rank; rank 0 gets the text, or NULL if the
 * verdict is a failure (same on every rank: *failed). */
static char *split_read(const char *path, const pl_csv_spec *spec,
                        int hex, int *failed)
{
    pl_csv *c = pl_csv_open_all(path, spec, MPI_COMM_WORLD);
    *failed = 0;
    if (!c) {
        *failed = 1;
        return NULL;
    }
    pl_csv_part part;
    sbuf out = {0};
    int ok = pl_csv_split(c, MPI_COMM_WORLD, &part) == 0 &&
             read_part(c, spec->ncols, &out, hex) == 0;
    /* the verdict prints the first failing rank's error (quiet readers) */
    ok = pl_csv_all_ok(c, MPI_COMM_WORLD, ok);
    pl_csv_close(c);
    char *all = gather(&out);
    free(out.s);
    if (!ok) {
        free(all);
        *failed = 1;
        return NULL;
    }
    return all;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void random_csv(sbuf *f)
{
    static const char *const pieces[] = {"a", "7", ",", "\"", "\n", "\r\n",
                                         "\xc3\xa9", " "};
    f->n = 0;
    put(f, "x,y\n", 4);
    unsigned nrec = rnd(60);
    for (unsigned r = 0; r < nrec; r++) {
        for (int j = 0; j < 2; j++) {
            char v[64];
            size_t vn = 0;
            for (unsigned k = rnd(8); k > 0; k--) {
                const char *p = pieces[rnd(8)];
                memcpy(v + vn, p, strlen(p));
                vn += strlen(p);
            }
            put(f, "\"", 1);
            for (size_t k = 0; k < vn; k++) {
                if (v[k] == '"')
                    put(f, "\"", 1);
                put(f, v + k, 1);
            }
            put(f, "\"", 1);
            put(f, j ? "\n" : ",", 1);
        }
    }
}

static int self_test(void)
{
    const pl_csv_col cols[] = {{"x", PL_CSV_STR, 512, 0, 0},
                               {"y", PL_CSV_STR, 512, 0, 0}};
    pl_csv_spec spec = {',', PL_CSV_UTF8, cols, 2};
    char path[64] = "/tmp/csv_split.XXXXXX";
    if (rank == 0) {
        int fd = mkstemp(path);
        close(fd);
    }
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
    int files = 60, same = 0, bad_ok = 0;
    sbuf f = {0};
    for (int it = 0; it < files; it++) {
        if (rank == 0) {
            random_csv(&f);
            FILE *o = fopen(path, "wb");
            fwrite(f.s, 1, f.n, o);
            fclose(o);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        int failed;
        char *all = split_read(path, &spec, 0, &failed);
        if (rank == 0) {
            /* one reader, whole file */
            pl_csv *c = pl_csv_open(path, &spec, 0);
            sbuf one = {0};
            int ok = c && read_part(c, 2, &one, 0) == 0;
            pl_csv_close(c);
            int eq = ok && !failed && strcmp(all, one.s ? one.s : "") == 0;
            same += eq;
            if (!eq)
                printf("# file %d differs:\n# split [%s]\n# one   [%s]\n",
                       it, all ? all : "(failed)", one.s ? one.s : "");
            free(one.s);
        }
        free(all);
    }
    /* an unbalanced quote: every rank's verdict is a failure */
    for (int it = 0; it < 10; it++) {
        if (rank == 0) {
            random_csv(&f);
            put(&f, "\"never closed,\n\n\n", 17);
            FILE *o = fopen(path, "wb");
            fwrite(f.s, 1, f.n, o);
            fclose(o);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        int failed;
        char *all = split_read(path, &spec, 0, &failed);
        int all_failed = 0;
        MPI_Allreduce(&failed, &all_failed, 1, MPI_INT, MPI_MIN,
                      MPI_COMM_WORLD);
        bad_ok += all_failed;
        free(all);
    }
    /* the same path naming a different file on some ranks (node-local
     * disks, a copy still in progress): refused on every rank, with a
     * message, never a mix of two files */
    char mine[96];
    snprintf(mine, sizeof mine, "%s.r%d", path, rank);
    FILE *o = fopen(mine, "wb");
    fputs(rank == nranks - 1 ? "x,y\n1,2\n3,4\n5,6\n" : "x,y\n1,2\n3,4\n", o);
    fclose(o);
    int differ_ok = 0;
    {
        pl_csv *c = pl_csv_open(mine, &spec, rank != 0);
        pl_csv_part part;
        int rc = c ? pl_csv_split(c, MPI_COMM_WORLD, &part) : -2;
        int expect = nranks > 1 ? -1 : 0;
        int agree = rc == expect;
        MPI_Allreduce(&agree, &differ_ok, 1, MPI_INT, MPI_MIN,
                      MPI_COMM_WORLD);
        pl_csv_close(c);
        unlink(mine);
    }
    /* a file that rank 0 opens and the last rank cannot (missing on its
     * node): NULL on every rank; csv.sh checks the last rank's message */
    {
        o = fopen(mine, "wb");
        fputs("x,y\n1,2\n", o);
        fclose(o);
        pl_csv *c = pl_csv_open_all(rank == nranks - 1 && nranks > 1
                                        ? "/tmp/csv_split_nodelocal.missing"
                                        : mine, &spec, MPI_COMM_WORLD);
        int none = c == NULL || nranks == 1, all_none = 0;
        MPI_Allreduce(&none, &all_none, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        differ_ok = differ_ok && all_none;
        pl_csv_close(c);
        unlink(mine);
    }
    free(f.s);
    if (rank == 0) {
        CHECK(differ_ok, "%d ranks: a file that differs between the ranks is "
              "refused by the split on every rank; one a rank cannot open "
              "is refused by the open on every rank", nranks);
        unlink(path);
        CHECK(same == files, "%d ranks: the split parts of %d random files "
              "equal one pass, same line numbers (%d/%d)", nranks, files,
              same, files);
        CHECK(bad_ok == 10, "%d ranks: an unbalanced quote fails on every "
              "rank (%d/10)", nranks, bad_ok);
    }
    return unit_done();
}

static int dump(int argc, char **argv, FILE *to)
{
    const char *path = argv[2], *d = argv[3], *e = argv[4];
    size_t ncols = (size_t)(argc - 5);
    pl_csv_col *cols = calloc(ncols, sizeof *cols);
    for (size_t j = 0; j < ncols; j++)
        cols[j] = (pl_csv_col){argv[5 + j], PL_CSV_STR, 4096, 0, 0};
    pl_csv_spec spec = {
        strcmp(d, "tab") == 0 ? '\t' : strcmp(d, "auto") == 0 ? 0 : d[0],
        strcmp(e, "latin-1") == 0 ? PL_CSV_LATIN1 : PL_CSV_UTF8, cols, ncols};
    int failed;
    char *all = split_read(path, &spec, 1, &failed);
    if (rank == 0)
        fputs(all ? all : to == stdout ? "" : "FAILED\n", to);
    free(all);
    free(cols);
    return failed;
}

static int dump_list(const char *list)
{
    FILE *l = fopen(list, "r");
    char line[4096];
    int rc = l ? 0 : 2;
    while (l && fgets(line, sizeof line, l)) {
        char *argv[64] = {"", "--dump"};
        int argc = 2;
        for (char *t = strtok(line, " \n"); t && argc < 64;
             t = strtok(NULL, " \n"))
            argv[argc++] = t;
        if (argc < 7)
            continue;
        char *out = argv[3];
        memmove(argv + 3, argv + 4, (size_t)(argc - 4) * sizeof *argv);
        argc--;
        FILE *o = rank == 0 ? fopen(out, "w") : NULL;
        if (rank == 0 && !o)
            return 2;
        dump(argc, argv, o);
        if (o)
            fclose(o);
    }
    if (l)
        fclose(l);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    pl_mpi_setup(MPI_COMM_WORLD);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    int rc = argc >= 6 && strcmp(argv[1], "--dump") == 0
                 ? dump(argc, argv, stdout)
             : argc == 3 && strcmp(argv[1], "--dump-list") == 0
                 ? dump_list(argv[2])
                 : self_test();
    MPI_Finalize();
    return rc;
}
