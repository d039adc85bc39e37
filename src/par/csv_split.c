/* csv_split.c — see csv_split.h. */
#include "par/csv_split.h"
#include "par/mpi.h"
#include "base/log.h"

int pl_csv_split(pl_csv *c, MPI_Comm comm, pl_csv_part *part)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    uint64_t ds = pl_csv_data_start(c), sz = pl_csv_size(c);
    /* every rank must have opened the same file (a node-local copy, or a
     * file written between the ranks' opens, would mix two files): same
     * size, data start and modification time (max of x and of ~x) */
    uint64_t mine[6] = {sz, ds, pl_csv_mtime_ns(c), ~sz, ~ds,
                        ~pl_csv_mtime_ns(c)}, all[6];
    PL_MPI_CHECK(MPI_Allreduce(mine, all, 6, MPI_UINT64_T, MPI_MAX, comm));
    if (all[0] != ~all[3] || all[1] != ~all[4] || all[2] != ~all[5]) {
        pl_csv_fail(c, "the file is not the same on every rank (size, "
                    "header or modification time differ: a copy on each "
                    "node's own disk, or a file still being written?)");
        pl_csv_all_ok(c, comm, 0);
        return -1;
    }
    uint64_t b = pl_csv_chunk(ds, sz, size, rank);
    uint64_t e = pl_csv_chunk(ds, sz, size, rank + 1);
    uint64_t q = 0, lf = 0;
    int ok = pl_csv_count(c, b, e - b, &q, &lf) == 0;
    if (!pl_csv_all_ok(c, comm, ok))
        return -1;
    /* quotes and LFs in [data_start, b) */
    uint64_t qb, lb, total;
    pl_exscan(comm, q, &qb, &total);
    pl_exscan(comm, lf, &lb, &total);
    uint64_t start = sz, l = 0;
    ok = pl_csv_find_start(c, b, (int)(qb & 1), &start, &l) == 0;
    /* my end is the next rank's start */
    uint64_t next = sz;
    int up = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
    int down = rank > 0 ? rank - 1 : MPI_PROC_NULL;
    PL_MPI_CHECK(MPI_Sendrecv(&start, 1, MPI_UINT64_T, down, 0, &next, 1,
                              MPI_UINT64_T, up, 0, comm, MPI_STATUS_IGNORE));
    if (rank + 1 == size)
        next = sz;
    part->start = start;
    part->end = next < start ? start : next;
    part->line = pl_csv_data_line(c) + lb + l;
    if (ok)
        ok = pl_csv_set_range(c, part->start, part->end, part->line) == 0;
    return pl_csv_all_ok(c, comm, ok) ? 0 : -1;
}

int pl_csv_all_ok(pl_csv *c, MPI_Comm comm, int ok)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = pl_csv_failed(c) ? rank : size, first = size;
    PL_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == rank)
        pl_csv_report(c);
    return pl_all_ok(comm, ok && first == size);
}

pl_csv *pl_csv_open_all(const char *path, const pl_csv_spec *spec,
                        MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    pl_csv *c = pl_csv_open(path, spec, rank != 0);
    int mine = c ? size : rank, first = size;
    PL_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == size)
        return c;
    if (first == rank && rank != 0) {
        /* rank 0 opened it, this rank could not: say why, once */
        pl_csv *again = pl_csv_open(path, spec, 0);
        if (again)
            pl_err("%s: the CSV file could not be opened on this rank "
                   "(rank 0 could)", path);
        pl_csv_close(again);
    }
    pl_csv_close(c);
    return NULL;
}
