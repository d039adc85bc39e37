/* output.h — output files written in parallel.
 *
 * A file is created collectively (MPI-IO) in a directory private to the
 * run (par/generation.h), whose whole set is published at once; nothing
 * here renames a file. Datasets are contiguous with a known length; each
 * rank writes its slice at the offset given by an exclusive prefix sum.
 */
#ifndef PL_OUTPUT_H
#define PL_OUTPUT_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "par/h5.h"

/* Datasets of at least this size are aligned (see output.c). */
#define PL_ALIGN_THRESHOLD (1u << 20)

typedef struct {
    char *tmp, *final;
    hid_t file;
} pl_outfile;

/* Create the output directory (rank 0, mkdir -p) and check it is writable.
 * Collective; errors reported once. */
int  pl_out_dir(const char *dir, MPI_Comm comm);
/* Create <dir>/<name> (dir is private to this run, par/generation.h);
 * tmp and final are both that path. */
int  pl_out_create(pl_outfile *f, const char *dir, const char *name,
                   MPI_Comm comm);
/* Not collective: 1 when a close failed after a write error; HDF5's own
 * shutdown would then crash on the broken file object, so the process must
 * end without it (cmd/run.c: after the audit line, _exit, no finalize). */
int  pl_out_broken(void);
/* Close (collective); returns -1 if HDF5 could not flush the file. */
int  pl_out_close(pl_outfile *f);
/* Collective: reopen a closed output (linked.h5) read-write with the
 * MPI-IO driver and collective metadata, to add objects to it; `what`
 * names the caller in the message. The file, or -1 on every rank after a
 * message. */
hid_t pl_out_open_h5(MPI_Comm comm, const char *path, const char *what);
/* H5Fclose (collective) of an output reopened to add to it (linked.h5 by
 * the linkage and the deduplication): -1 if HDF5 could not flush it; a
 * close that stalls after a write error (a full file system) ends the
 * process after a message instead of hanging, as pl_out_close. */
int  pl_out_close_h5(hid_t file);
/* Forget the names of a closed file that stays (its directory is
 * published as a whole, par/generation.h). Not collective. */
void pl_out_free(pl_outfile *f);
/* Close if open and remove the temporary (rank 0). */
void pl_out_discard(pl_outfile *f, MPI_Comm comm);

hid_t pl_out_group(pl_outfile *f, const char *path);
/* 1-D contiguous dataset of n elements, no fill (every element is written). */
static inline hid_t pl_out_dataset(pl_outfile *f, hid_t loc, const char *name,
                                   hid_t type, uint64_t n)
{
    return pl_h5_dataset(f->tmp, loc, name, type, n, 0);
}
/* Write count elements at off (count may be 0; still collective). */
static inline int pl_out_write(pl_outfile *f, hid_t dset, const char *what,
                               hid_t type, uint64_t off, uint64_t count,
                               const void *buf, hid_t dxpl)
{
    return pl_h5_write_rows(f->tmp, dset, what, type, off, count, 0, buf,
                            dxpl);
}

/* Create a dataset of `total` elements under loc and write this rank's n
 * elements at off, all collectively; returns a status every rank shares. */
int   pl_out_write_full(pl_outfile *f, MPI_Comm comm, hid_t dxpl, hid_t loc,
                        const char *name, hid_t type, uint64_t total,
                        uint64_t off, uint64_t n, const void *buf);

#endif
