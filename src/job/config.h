/* config.h — the job file (YAML, parsed strictly with libyaml).
 *
 * Unknown keys, wrong types, missing required keys, duplicate keys, YAML
 * aliases/anchors and nesting deeper than PL_YAML_MAX_DEPTH are errors; each
 * message names the job file, the key path and its line:column, e.g.
 *   jobs/x.yaml:7:5: sources.pharmacy.identity: unknown key 'p2' (expected one of: nir, birth_date, sex, birth_rank, p1)
 *
 * Relative paths in the job file (store, output, key files) are resolved
 * against the current working directory, like the command line options.
 */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "job/custody_cfg.h"

#define PL_YAML_MAX_DEPTH 32
#define PL_NAME_MAX 64          /* source and column names */
/* Upper bounds accepted in the job file, so that no buffer size computed
 * from them (rows * bytes per row) can overflow 64 bits. */
#define PL_MAX_MEMORY      (1ull << 50)     /* 1024 TiB */
#define PL_MAX_BATCH_ROWS  (1ull << 32)

struct pl_extract_cfg;          /* extract_config.h */
struct pl_linkage_cfg;          /* linkage_config.h */
struct pl_csv_cfg;              /* csv_cfg.h */

typedef enum { PL_MODE_KEYED = 0, PL_MODE_RANDOM = 1 } pl_mode;
typedef enum { PL_IO_COLLECTIVE = 0, PL_IO_INDEPENDENT = 1 } pl_io_mode;

typedef struct {
    char  name[PL_NAME_MAX];
    int   has_p1;               /* identity: {p1: ...} */
    /* Column names in the store; empty string = not configured. */
    char  nir[PL_NAME_MAX];
    char  birth_date[PL_NAME_MAX];
    char  sex[PL_NAME_MAX];
    char  birth_rank[PL_NAME_MAX];
    char  p1[PL_NAME_MAX];
    /* identity.also: a second identity of the row (the insured parent's
     * NIR with the beneficiary's birth date, sex and, optionally, rank):
     * its columns, or empty strings. */
    char  also_nir[PL_NAME_MAX];
    char  also_birth_rank[PL_NAME_MAX];
    /* Payload selection: at most one of keep/drop is given.
     * keep_given: only the listed columns are carried, in this order.
     * otherwise: every payload column except those in drop, in store order. */
    int    keep_given;
    char **keep;  size_t n_keep;
    char **drop;  size_t n_drop;
    /* Payload columns whose values may look like NIRs and may still be
     * carried in clear (allow_nir_like); any other is refused (store.c). */
    char **allow_nir;  size_t n_allow_nir;
    int    line, col;           /* where the source was declared */
    /* Platform job: the source comes from this transfer package (its p1
     * and payload columns, docs/PACKAGE.md) instead of the store. */
    char  *package;
    /* Producer job: the source is a CSV file (sources.<name>.csv,
     * job/csv_cfg.h) instead of a group of the HDF5 export. */
    struct pl_csv_cfg *csv;
    /* Producer job: fields encoded into Bloom filters (encode_cfg.h),
     * NULL when none. */
    struct pl_encode_cfg *encode;
} pl_source_cfg;

/* One entry of the optional `columns:` data dictionary: metadata written
 * as attributes on every output dataset of that name (a payload column of
 * any source), unless the store's dataset carries its own. NULL = not
 * given. */
#define PL_META_TEXT_MAX 1024   /* bytes of a description (UTF-8) */
typedef struct {
    char  name[PL_NAME_MAX];
    char *description, *units, *code_system;
    char *date_format;          /* YYYYMMDD | YYYYMM | YYYY */
} pl_column_meta;

/* Platform job, producers: a producer it trusts and its public Ed25519
 * signing key (keygen --signing). */
typedef struct {
    char  name[PL_NAME_MAX];
    char *signing_key;
} pl_producer_cfg;

typedef struct {
    char *path;                 /* the job file itself */
    char *store;                /* required */
    char *output;               /* required: output directory */
    char *audit_log;            /* optional: audit log (docs/AUDIT.md) */
    pl_mode mode;               /* required: keyed | random */
    char *producer_key;         /* keys.producer (required if any identity source) */
    char *platform_key;         /* keys.platform (required in keyed mode) */
    pl_source_cfg *sources;     /* required, at least one, in file order */
    size_t n_sources;
    /* options: (all optional) */
    uint64_t batch_rows;        /* options.batch_rows, default 1048576, >= 1 */
    uint64_t exchange_cap;      /* options.exchange_cap: max records per
                                   destination per all-to-all round;
                                   0 = automatic (INT_MAX / ranks) */
    pl_io_mode io;              /* options.io: collective | independent */
    uint64_t memory_per_rank;   /* options.memory_per_rank, bytes; 0 = default
                                   (budget.h) */
    double max_reject_fraction; /* options.max_reject_fraction, 0..1; a
                                   source rejecting more is an error;
                                   default 1.0 (warn only) */
    int batch_rows_given;       /* else derived from memory_per_rank */
    uint8_t sha256[32];         /* SHA-256 of the job file's bytes */
    pl_custody_cfg custody;     /* custody:, previous: (custody_cfg.h) */
    struct pl_extract_cfg *extracts;    /* extracts: (extract_config.h) */
    size_t n_extracts;
    pl_column_meta *columns;    /* columns: data dictionary, file order */
    size_t n_columns;
    /* Platform job: trusted producers (producers:) and opposition
     * packages (opposition: [FILE...]). */
    pl_producer_cfg *producers;
    size_t n_producers;
    char **opposition;  size_t n_opposition;
    /* Producer job (pl_job_load_producer, docs/PRODUCER.md): producer
     * name, delivery name, the platform's public transport key
     * (keys.transport), the sources of the export listing persons who
     * objected (opposition: [source...], their identity only), rows per
     * encrypted block (options.block_rows). keys.producer is the HMAC key,
     * sources the sources delivered. */
    int   producer_job;
    char  producer_name[PL_NAME_MAX];
    char  package_name[PL_NAME_MAX];
    char *transport_key;
    uint64_t block_rows;
    struct pl_linkage_cfg *linkage;     /* linkage: (linkage_config.h) */
} pl_job;

/* The data dictionary entry of column `name`, or NULL. */
const pl_column_meta *pl_job_column(const pl_job *job, const char *name);
/* Date formats accepted in `date_format` (NULL-terminated). */
extern const char *const pl_date_formats[];

/* Parse the job file at `path`. On error prints one message (pl_err) that
 * names the file and line:column, and returns -1; on success 0. When `quiet`
 * is non-zero, nothing is printed (ranks other than 0 use this). */
int  pl_job_load(pl_job *job, const char *path, int quiet);
/* Same, from a buffer already in memory (`path` is used in messages). */
int  pl_job_parse(pl_job *job, const char *path, const char *buf, size_t len,
                  int quiet);
/* The producer's job file (`pseudolink produce`): producer, package,
 * store (the HDF5 export) or a csv: section in every source (a CSV export,
 * job/csv_cfg.h; then store is "" and the two cannot be mixed), output,
 * keys {producer, transport}, sources, opposition, options — same rules
 * and messages. */
int  pl_job_load_producer(pl_job *job, const char *path, int quiet);
void pl_job_free(pl_job *job);

#endif
