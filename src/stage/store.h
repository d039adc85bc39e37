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

#include "crypto/package.h"
#include "job/config.h"
#include "stage/nir.h"

typedef struct {
    char   name[PL_NAME_MAX];
    hid_t  dset;
    hid_t  mem_type;            /* native type used to read and to write */
    size_t size;                /* bytes per element */
    /* Could hold a NIR and is not in allow_nir_like: the count pass reads
     * it and refuses the run if its values look like NIRs (ingest.c). */
    enum pl_scan_kind nir_scan;         /* stage/nir.h */
    size_t pkg_col;             /* package sources: the package's column */
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
    /* A source read from a transfer package (sources.<name>.package):
     * p1 and payload are decrypted from it (pl_source_read), in memory. */
    pl_pkg  *pkg;
    int      pkg_si;
    int      pkg_rank;          /* the package has birth_rank beside p1
                                 * (column 1; birth_rank is its dataset) */
} pl_source;

typedef struct {
    char      *path;
    hid_t      file;            /* -1 when every source is a package */
    pl_source *src;
    size_t     n_src;
    /* The sources of linkage.sources (no identity; docs/LINKAGE.md): their
     * rows, this rank's block and the columns of linkage.keep; from the
     * store, or from a transfer package without p1 (linkage.packages). */
    pl_source *lsrc;
    size_t     n_lsrc;
    /* Transfer packages (crypto/package.h): one per package source (open
     * while the run reads), and what the audit line says of each package
     * and opposition package (a JSON array, same on every rank). */
    pl_pkg    *pkgs;
    size_t     n_pkgs;
    char      *packages_json;
    /* Every p1 of the job's opposition packages, sorted, unique, on every
     * rank (32 bytes each; 1 M persons = 32 MiB). */
    uint8_t   *opposed;
    uint64_t   n_opposed;
} pl_store;

/* What a job that reads packages needs: the producers it trusts and the
 * platform's transport private key (rank 0 only; NULL elsewhere). */
typedef struct {
    const pl_pkg_signer *trusted;
    size_t ntrusted;
    EVP_PKEY *transport;
} pl_pkg_keys;

/* keys may be NULL when the job names no package. A package source is
 * verified (signature, manifest, sizes: crypto/package.h) before any record
 * is read; it must be a data package holding a source of the same name,
 * and keep/drop/allow_nir_like name its columns. Opposition packages are
 * read whole (their p1) into st->opposed. The sources of linkage.sources
 * are opened too (st->lsrc). */
int  pl_store_open(pl_store *st, const char *path, const pl_job *job,
                   const pl_pkg_keys *keys, MPI_Comm comm);
void pl_store_close(pl_store *st);

/* Read rows [first, first+count) of a 1-D dataset (or of a 2-D dataset with
 * `width` columns) into buf. count may be 0: the rank still takes part in a
 * collective transfer with an empty selection. Returns 0 or -1 (message
 * printed by this rank). */
int pl_store_read(const pl_store *st, hid_t dset, const char *what,
                  hid_t mem_type, uint64_t first, uint64_t count,
                  hsize_t width, void *buf, hid_t dxpl);

/* Rows [first, first+count) of a source's p1 (col NULL; N x 32 bytes) or
 * of one of its payload columns, from the store or decrypted from its
 * package; same calling rules as pl_store_read. */
int pl_source_read(const pl_store *st, const pl_source *s,
                   const pl_column *col, uint64_t first, uint64_t count,
                   void *buf, hid_t dxpl);
/* Rows [first, first+count) of the source's birth rank (int64), from the
 * store or decrypted from its package's birth_rank column; same calling
 * rules as pl_store_read. */
int pl_source_rank(const pl_store *st, const pl_source *s, uint64_t first,
                   uint64_t count, int64_t *buf, hid_t dxpl);
/* The source `name`: one of the job's, or a linkage source delivered as
 * a package; NULL when neither (a linkage source read from the store).
 * Not collective. */
const pl_source *pl_store_find(const pl_store *st, const char *name);
/* 1 when p1 is on an opposition list (binary search; not collective). */
int pl_store_opposed(const pl_store *st, const uint8_t p1[32]);

#endif
