/* store.h — the input store: one HDF5 file, one group per source under
 * /sources/<name>, one 1-D dataset per column (p1 is 2-D, N x 32).
 *
 * pl_store_open() is collective: every rank opens the file with the MPI-IO
 * driver and checks the whole job against it before any record is read
 * (groups, identity column types, equal lengths, kept columns). A failure is
 * reported once (rank 0), naming the file, the object and what was expected.
 */
#ifndef PL_STORE_H
#define PL_STORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "job/config.h"

typedef struct {
    char   name[PL_NAME_MAX];
    hid_t  dset;
    hid_t  mem_type;            /* native type used to read and to write */
    size_t size;                /* bytes per element */
    /* Could hold a NIR and is not in allow_nir_like: the count pass reads
     * it and refuses the run if its values look like NIRs (ingest.c). */
    enum { PL_SCAN_NONE, PL_SCAN_STR, PL_SCAN_I64, PL_SCAN_U64,
           PL_SCAN_F64 } nir_scan;
} pl_column;

typedef struct {
    const pl_source_cfg *cfg;
    uint64_t nrows;             /* global row count */
    uint64_t first, count;      /* this rank's contiguous block */
    hid_t    group;
    hid_t    nir, birth_date, sex, birth_rank, p1;   /* -1 when absent */
    size_t   nir_size;          /* 15 or 16 bytes per NIR field */
    hid_t    also_nir, also_birth_rank;   /* identity.also; -1 when absent */
    size_t   also_nir_size;
    pl_column *payload;         /* kept payload columns, in output order */
    size_t   n_payload;
    /* Identity or kept columns declared with rows but never written (no
     * storage allocated: they read as fill values): how many, the first. */
    size_t   n_unwritten;
    char     unwritten[PL_NAME_MAX];
} pl_source;

typedef struct {
    char      *path;
    hid_t      file;
    pl_source *src;
    size_t     n_src;
} pl_store;

int  pl_store_open(pl_store *st, const char *path, const pl_job *job,
                   MPI_Comm comm);
void pl_store_close(pl_store *st);

/* Read rows [first, first+count) of a 1-D dataset (or of a 2-D dataset with
 * `width` columns) into buf. count may be 0: the rank still takes part in a
 * collective transfer with an empty selection. Returns 0 or -1 (message
 * printed by this rank). */
int pl_store_read(const pl_store *st, hid_t dset, const char *what,
                  hid_t mem_type, uint64_t first, uint64_t count,
                  hsize_t width, void *buf, hid_t dxpl);

#endif
