/* check_linked.c — independent checker of linked.h5 against the ground
 * truth that `pseudolink synth` hides in the store (/truth/<source>/person
 * and /truth/<source>/reason). Uses plain serial HDF5 only, none of the
 * product's code, so it cannot share the product's mistakes.
 *
 *   check_linked STORE.h5 LINKED.h5
 * Prints TAP lines (ok / not ok) and exits non-zero on any failure.
 */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed = 0;
#define CHECK(c, ...) do { printf((c) ? "ok - " : "not ok - "); printf(__VA_ARGS__); \
                           printf("\n"); if (!(c)) failed++; } while (0)

static void *read_all(hid_t f, const char *path, hid_t mt, size_t esz,
                      uint64_t *n)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "check_linked: missing %s\n", path);
        exit(2);
    }
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    *n = dims[0];
    hid_t t = mt > 0 ? mt : H5Dget_type(d);
    size_t sz = esz ? esz : H5Tget_size(t);
    void *buf = malloc(dims[0] * sz + 1);
    if (dims[0] && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "check_linked: cannot read %s\n", path);
        exit(2);
    }
    if (mt <= 0)
        H5Tclose(t);
    H5Dclose(d);
    return buf;
}

static uint64_t attr_u64(hid_t f, const char *name)
{
    uint64_t v = 0;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_UINT64, &v);
    H5Aclose(a);
    return v;
}

/* Source names from the /links "sources" attribute. */
static char **source_names(hid_t f, int *n)
{
    hid_t a = H5Aopen_by_name(f, "/links", "sources", H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hsize_t dims[1];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t w = H5Tget_size(t);
    char *buf = calloc(dims[0], w);
    H5Aread(a, t, buf);
    char **names = calloc(dims[0], sizeof *names);
    for (hsize_t i = 0; i < dims[0]; i++) {
        names[i] = calloc(w + 1, 1);
        memcpy(names[i], buf + i * w, w);
    }
    *n = (int)dims[0];
    free(buf);
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return names;
}

typedef struct { char pid[33]; } pidstr;

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: check_linked STORE.h5 LINKED.h5\n");
        return 2;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t st = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t out = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (st < 0 || out < 0) {
        fprintf(stderr, "check_linked: cannot open inputs\n");
        return 2;
    }
    int ns;
    char **names = source_names(out, &ns);
    hid_t s32 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s32, 32);
    H5Tset_strpad(s32, H5T_STR_NULLPAD);
    H5Tset_cset(s32, H5T_CSET_UTF8);        /* docs/FORMATS.md: UTF-8 text */

    /* person -> pid, checked to be a bijection over every source. */
    uint64_t max_person = 0;
    uint64_t **persons = calloc(ns, sizeof *persons), *npers = calloc(ns, 8);
    for (int s = 0; s < ns; s++) {
        char p[256];
        snprintf(p, sizeof p, "/truth/%s/person", names[s]);
        persons[s] = read_all(st, p, H5T_NATIVE_UINT64, 8, &npers[s]);
        for (uint64_t i = 0; i < npers[s]; i++)
            if (persons[s][i] + 1 > max_person)
                max_person = persons[s][i] + 1;
    }
    pidstr *pid_of = calloc(max_person + 1, sizeof *pid_of);
    uint64_t total_read = 0, total_rej = 0, total_linked = 0;
    int bij = 1, rej_ok = 1, rows_ok = 1, amb_ok = 1;
    uint64_t total_amb = 0;
    for (int s = 0; s < ns; s++) {
        char p[256];
        uint64_t nr, nrej, nrr, nl, np;
        snprintf(p, sizeof p, "/truth/%s/reason", names[s]);
        uint8_t *reason = read_all(st, p, H5T_NATIVE_UINT8, 1, &nr);
        snprintf(p, sizeof p, "/rejects/%s/row", names[s]);
        uint64_t *rrow = read_all(out, p, H5T_NATIVE_UINT64, 8, &nrej);
        snprintf(p, sizeof p, "/rejects/%s/reason", names[s]);
        /* an HDF5 enum on uint8: read in its own type, one byte a code */
        uint8_t *rwhy = read_all(out, p, 0, 1, &nrr);
        snprintf(p, sizeof p, "/linked/%s/row", names[s]);
        uint64_t *lrow = read_all(out, p, H5T_NATIVE_UINT64, 8, &nl);
        snprintf(p, sizeof p, "/linked/%s/pid", names[s]);
        char *lpid = read_all(out, p, s32, 32, &np);
        /* Rows the truth says are ambiguous (twins without a rank), when
         * the store says so: listed in /ambiguous with their candidates. */
        uint8_t *amb = NULL, *acand = NULL;
        uint64_t *arow = NULL, na = 0, nat = 0, nac = 0, a = 0;
        snprintf(p, sizeof p, "/truth/%s/ambiguous", names[s]);
        char ap[256];
        snprintf(ap, sizeof ap, "/ambiguous/%s", names[s]);
        if (H5Lexists(st, p, H5P_DEFAULT) > 0 &&
            H5Lexists(out, "/ambiguous", H5P_DEFAULT) > 0 &&
            H5Lexists(out, ap, H5P_DEFAULT) > 0) {
            amb = read_all(st, p, H5T_NATIVE_UINT8, 1, &nat);
            snprintf(p, sizeof p, "/ambiguous/%s/row", names[s]);
            arow = read_all(out, p, H5T_NATIVE_UINT64, 8, &na);
            snprintf(p, sizeof p, "/ambiguous/%s/candidates", names[s]);
            acand = read_all(out, p, H5T_NATIVE_UINT8, 1, &nac);
        }
        uint64_t k = 0, j = 0;
        for (uint64_t i = 0; i < nr; i++) {
            if (amb && amb[i]) {
                amb_ok &= a < na && arow[a] == i && acand[a] == amb[i];
                a++;
                continue;
            }
            if (reason[i]) {
                rej_ok &= k < nrej && rrow[k] == i && rwhy[k] == reason[i];
                k++;
            } else {
                rows_ok &= j < nl && lrow[j] == i;
                if (j < nl) {
                    pidstr *ps = &pid_of[persons[s][i]];
                    if (ps->pid[0] == 0)
                        memcpy(ps->pid, lpid + 32 * j, 32);
                    bij &= memcmp(ps->pid, lpid + 32 * j, 32) == 0;
                }
                j++;
            }
        }
        rej_ok &= k == nrej && nrej == nrr;
        amb_ok &= a == na && na == nac;
        total_amb += na;
        free(amb); free(arow); free(acand);
        rows_ok &= j == nl && nl == np;
        total_read += nr;
        total_rej += nrej;
        total_linked += nl;
        free(reason); free(rrow); free(rwhy); free(lrow); free(lpid);
    }
    CHECK(rej_ok, "rejects are exactly the injected invalid rows, with the injected reason codes");
    CHECK(rows_ok, "linked rows are the valid rows, in input order");
    CHECK(amb_ok, "ambiguous rows are exactly the true ones, with their "
          "numbers of candidates (%llu)", (unsigned long long)total_amb);
    CHECK(bij, "every record of a true person carries the same pid");
    /* Distinct persons must have distinct pids. */
    uint64_t seen = 0;
    pidstr *list = calloc(max_person + 1, sizeof *list);
    for (uint64_t q = 0; q < max_person; q++)
        if (pid_of[q].pid[0])
            list[seen++] = pid_of[q];
    qsort(list, seen, sizeof *list, (int (*)(const void *, const void *))strcmp);
    int distinct = 1;
    for (uint64_t i = 1; i < seen; i++)
        distinct &= strcmp(list[i - 1].pid, list[i].pid) != 0;
    CHECK(distinct, "distinct true persons get distinct pids (%llu persons)",
          (unsigned long long)seen);

    uint64_t npp, nlk, nls, nlr;
    char *ppid = read_all(out, "/persons/pid", s32, 32, &npp);
    char *kpid = read_all(out, "/links/pid", s32, 32, &nlk);
    uint16_t *ksrc = read_all(out, "/links/source", H5T_NATIVE_UINT16, 2, &nls);
    uint64_t *krow = read_all(out, "/links/row", H5T_NATIVE_UINT64, 8, &nlr);
    CHECK(npp == seen, "/persons has one row per true person (%llu vs %llu)",
          (unsigned long long)npp, (unsigned long long)seen);
    int psorted = 1;
    for (uint64_t i = 1; i < npp; i++)
        psorted &= memcmp(ppid + 32 * (i - 1), ppid + 32 * i, 32) < 0;
    CHECK(psorted, "/persons is sorted by pid, without duplicates");
    CHECK(nlk == total_linked && nls == nlk && nlr == nlk,
          "/links has one row per linked record");
    int ksorted = 1;
    for (uint64_t i = 1; i < nlk; i++) {
        int c = memcmp(kpid + 32 * (i - 1), kpid + 32 * i, 32);
        ksorted &= c < 0 || (c == 0 && (ksrc[i - 1] < ksrc[i] ||
                                         (ksrc[i - 1] == ksrc[i] && krow[i - 1] < krow[i])));
    }
    CHECK(ksorted, "/links is sorted by (pid, source, row)");
    int kmatch = 1;
    for (uint64_t i = 0; i < nlk && kmatch; i++) {
        int s = ksrc[i];
        kmatch &= s < ns && krow[i] < npers[s] &&
                  memcmp(pid_of[persons[s][krow[i]]].pid, kpid + 32 * i, 32) == 0;
    }
    CHECK(kmatch, "every link points at a record of the person its pid names");
    /* Per-source counts in /persons equal the truth's. */
    int counts_ok = 1;
    for (int s = 0; s < ns; s++) {
        char p[256];
        uint64_t nc;
        snprintf(p, sizeof p, "/persons/%s", names[s]);
        uint32_t *cnt = read_all(out, p, H5T_NATIVE_UINT32, 4, &nc);
        uint64_t sum = 0;
        for (uint64_t i = 0; i < nc; i++)
            sum += cnt[i];
        snprintf(p, sizeof p, "/linked/%s/row", names[s]);
        uint64_t nl;
        free(read_all(out, p, H5T_NATIVE_UINT64, 8, &nl));
        counts_ok &= nc == npp && sum == nl;
        free(cnt);
    }
    CHECK(counts_ok, "/persons per-source counts add up to each source's linked rows");
    CHECK(attr_u64(out, "records_read") == total_read &&
          attr_u64(out, "records_rejected") == total_rej &&
          attr_u64(out, "records_linked") == total_linked &&
          attr_u64(out, "persons") == npp &&
          attr_u64(out, "records_ambiguous") == total_amb,
          "root attributes count what the datasets hold");
    H5Fclose(st);
    H5Fclose(out);
    return failed ? 1 : 0;
}
