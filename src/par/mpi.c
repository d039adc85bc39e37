/* mpi.c — see mpi.h. */
#include "par/mpi.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>

void pl_mpi_fatal(int rc, const char *what, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "pseudolink: [rank %d] fatal: %s failed at %s:%d: %s\n",
            pl_log_rank(), what, file, line, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

/* One rank out of memory ends the job: the others would otherwise wait
 * for it in their next collective. */
static void oom_abort(size_t n)
{
    fprintf(stderr, "pseudolink: [rank %d] fatal: out of memory (%zu bytes)\n",
            pl_log_rank(), n);
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin)
        MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

void pl_mpi_setup(MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    pl_log_init(rank, size);
    pl_mem_set_oom(oom_abort);
}

int pl_all_ok(MPI_Comm comm, int ok)
{
    int all = 0;
    PL_MPI_CHECK(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    return all;
}

int pl_root_ok(MPI_Comm comm, int ok)
{
    PL_MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    return ok;
}

void pl_exscan(MPI_Comm comm, uint64_t local, uint64_t *off, uint64_t *total)
{
    uint64_t o = 0;
    PL_MPI_CHECK(MPI_Exscan(&local, &o, 1, MPI_UINT64_T, MPI_SUM, comm));
    int rank;
    MPI_Comm_rank(comm, &rank);
    *off = rank == 0 ? 0 : o;   /* MPI_Exscan leaves rank 0 undefined */
    PL_MPI_CHECK(MPI_Allreduce(&local, total, 1, MPI_UINT64_T, MPI_SUM, comm));
}

uint64_t pl_batches(MPI_Comm comm, uint64_t local, uint64_t batch)
{
    uint64_t nb = (local + batch - 1) / batch, max = 0;
    PL_MPI_CHECK(MPI_Allreduce(&nb, &max, 1, MPI_UINT64_T, MPI_MAX, comm));
    return max;
}

void pl_block(uint64_t n, int rank, int size, uint64_t *first,
              uint64_t *count)
{
    uint64_t q = n / (uint64_t)size, r = n % (uint64_t)size;
    uint64_t k = (uint64_t)rank;
    *first = q * k + (k < r ? k : r);
    *count = q + (k < r ? 1 : 0);
}
