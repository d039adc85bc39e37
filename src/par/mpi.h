/* mpi.h — collective helpers every parallel part of the job shares.
 *
 * The verdict helpers are how the job stays in lockstep: a rank that fails
 * never just returns, it tells the others through pl_all_ok (any rank may
 * fail) or pl_root_ok (only rank 0 did the work), so that every rank leaves
 * at the same point and nobody waits forever in the next collective.
 * MPI failures themselves are not recoverable: PL_MPI_CHECK prints the call
 * and file:line and aborts the job.
 */
#ifndef PL_PAR_MPI_H
#define PL_PAR_MPI_H

#include <mpi.h>
#include <stdint.h>

#define PL_MPI_CHECK(call)                                                   \
    do {                                                                     \
        int pl_rc_ = (call);                                                 \
        if (pl_rc_ != 0)                                                     \
            pl_mpi_fatal(pl_rc_, #call, __FILE__, __LINE__);                 \
    } while (0)
void pl_mpi_fatal(int rc, const char *what, const char *file, int line)
    __attribute__((noreturn));

/* After MPI_Init: messages carry this rank (base/log.h) and out of memory
 * aborts the whole job, not just this rank (base/mem.h). Not collective. */
void pl_mpi_setup(MPI_Comm comm);

/* Collective: 1 if `ok` holds on every rank. */
int pl_all_ok(MPI_Comm comm, int ok);
/* Collective: rank 0's `ok`, on every rank (rank 0 did the check alone). */
int pl_root_ok(MPI_Comm comm, int ok);
/* Collective: exclusive prefix sum and total of a per-rank count. */
void pl_exscan(MPI_Comm comm, uint64_t local, uint64_t *off,
               uint64_t *total);
/* Collective: batches every rank iterates (lockstep for collective I/O),
 * the most any rank needs for `local` rows. */
uint64_t pl_batches(MPI_Comm comm, uint64_t local, uint64_t batch);

/* Rows of batch [lo, lo+B) that exist in a block of `count` rows. */
static inline uint64_t pl_batch_count(uint64_t count, uint64_t lo,
                                      uint64_t B)
{
    return lo < count ? (count - lo < B ? count - lo : B) : 0;
}

/* Contiguous balanced block of n rows for `rank` of `size`. */
void pl_block(uint64_t n, int rank, int size, uint64_t *first,
              uint64_t *count);

#endif
