/* export.h — what `pseudolink produce` reads: the producer's export, behind
 * a small reader interface so that each export format plugs in the same
 * way (HDF5 laid out like a store, export.c; CSV files, export_csv.c).
 *
 * A reader opens the export and checks the whole job against it before any
 * record is read (every source present, identity columns of the right kind,
 * kept payload columns typed, allow_nir_like naming real columns): errors
 * name the file, the object (file:line:column for CSV) and what was
 * expected, never a value. It then gives each rank a contiguous range of
 * rows of each source and reads row ranges of it:
 *   identity: NIR bytes (nir_size per row, NUL- or space-padded: the
 *             input's raw field), birth date, sex and birth rank as int64
 *             whatever their type in the input (range-checked by
 *             pl_identity_check_i64, never narrowed first);
 *   payload:  the kept columns, each with a native HDF5 type (integers,
 *             floats, fixed-length strings) that travels as is.
 * Row indices are this rank's (0 = its first row). All functions are
 * collective over the communicator given to open (every rank calls read_*
 * the same number of times; count may be 0) and return 0, or -1 after a
 * message on the rank that saw the problem (callers agree with pl_all_ok).
 *
 * Call order (what a streaming reader such as CSV may rely on): produce
 * makes two passes over each source, in job order (count pass, then
 * packaging pass); each pass reads batches in increasing lo from 0, and
 * for each batch calls read_identity(lo, cnt) first, then read_column(c,
 * lo, cnt) for some columns in increasing c, each at most once. So a
 * reader can parse a batch of records once, serve the columns from it,
 * and rewind to its first record when lo goes back to 0.
 *
 * row_number (optional, NULL: the source's row index first + i) names a
 * row in the reject report: a CSV reader gives the line its record starts
 * on.
 */
#ifndef PL_STAGE_EXPORT_H
#define PL_STAGE_EXPORT_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "job/config.h"
#include "stage/nir.h"

typedef struct {
    char   name[PL_NAME_MAX];
    hid_t  mem_type;            /* native type, owned by the reader */
    size_t size;                /* bytes per row */
    enum pl_scan_kind nir_scan; /* could hold a NIR, not allow_nir_like */
} pl_export_col;

typedef struct {
    const pl_source_cfg *cfg;
    const char *path;           /* the file holding it (messages) */
    uint64_t nrows;             /* all ranks */
    uint64_t first, count;      /* this rank's rows */
    size_t   nir_size;          /* bytes per NIR field (15 or 16, ...) */
    int      has_rank;          /* a birth_rank column is configured */
    pl_export_col *cols;        /* kept payload columns, in output order */
    size_t   ncols;
} pl_export_src;

typedef struct pl_export pl_export;
typedef struct {
    const char *format;         /* "hdf5", "csv" */
    int  (*open)(pl_export *x, const char *path, const pl_job *job,
                 MPI_Comm comm);
    int  (*read_identity)(pl_export *x, size_t si, uint64_t lo, uint64_t cnt,
                          char *nir, int64_t *birth_date, int64_t *sex,
                          int64_t *birth_rank);
    int  (*read_column)(pl_export *x, size_t si, size_t ci, uint64_t lo,
                        uint64_t cnt, void *buf);
    uint64_t (*row_number)(const pl_export *x, size_t si, uint64_t row);
    void (*close)(pl_export *x);
} pl_export_ops;

struct pl_export {
    const pl_export_ops *ops;
    const char *path;
    pl_export_src *src;         /* one per job source, in job order */
    size_t nsrc;
    void *impl;                 /* the reader's own state */
};

/* The HDF5 reader (export.c): stage/store.c's checks, independent or
 * collective transfers per options.io. */
extern const pl_export_ops pl_export_hdf5;

/* The CSV reader (export_csv.c): one file per source, the job's
 * sources.<name>.csv (job/csv_cfg.h, docs/CSV.md), each split between the
 * ranks on record boundaries (par/csv_split.h) and read in batches of at
 * most options.batch_rows records; row_number is the line a record starts
 * on. `path` is unused (the job names the files). */
extern const pl_export_ops pl_export_csv;

/* The reader for the job (CSV when its sources have csv: sections, else
 * the HDF5 export at `path`) and open it. Collective. */
int  pl_export_open(pl_export *x, const char *path, const pl_job *job,
                    MPI_Comm comm);
void pl_export_close(pl_export *x);

#endif
