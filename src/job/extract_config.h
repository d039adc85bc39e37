/* extract_config.h — the `extracts:` section of the job file (schema in
 * docs/EXTRACTS.md). Parsed strictly by config.c's parse_job through
 * pl_extracts_parse; names of sources are checked against the job here,
 * column names and types against the store in extract.c (pl_extracts_prepare).
 */
#ifndef PL_EXTRACT_CONFIG_H
#define PL_EXTRACT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "job/config.h"
#include "base/yamltree.h"

typedef enum {
    PL_GEN_NONE = 0,
    PL_GEN_YEAR,        /* YYYYMMDD or YYYYMM integer -> YYYY */
    PL_GEN_MONTH,       /* YYYYMMDD integer -> YYYYMM */
    PL_GEN_DEPARTMENT,  /* INSEE commune code (string) -> department */
    PL_GEN_PREFIX,      /* string -> its first n characters */
    PL_GEN_BANDS        /* number -> band label "[a,b)" */
} pl_gen_kind;

typedef struct {
    char        column[PL_NAME_MAX];
    pl_gen_kind kind;
    size_t      prefix;         /* PL_GEN_PREFIX */
    double     *bands;          /* PL_GEN_BANDS: strictly increasing edges */
    size_t      n_bands;
    int         line, col;
} pl_gen_rule;

typedef struct {
    char     column[PL_NAME_MAX];
    int      is_range;          /* 1: from/to (inclusive); 0: prefixes */
    int64_t  from, to;
    char   **prefixes;          /* any of them matches */
    size_t   n_prefixes;
    int      line, col;
} pl_filter;

typedef struct {
    char       source[PL_NAME_MAX];
    size_t     job_index;       /* index in job->sources; n_sources + k:
                                 * linkage.sources[k] */
    char     **columns;         /* granted payload columns, in output order */
    size_t     n_columns;
    pl_filter *filters;         /* all must hold */
    size_t     n_filters;
    int        line, col;
} pl_extract_src;

typedef struct pl_extract_cfg {
    char            name[PL_NAME_MAX];
    char           *key;        /* project key file */
    pl_extract_src *src;
    size_t          n_src;
    pl_gen_rule    *gen;
    size_t          n_gen;
    int             has_risk;
    char          **qi;         /* quasi-identifier columns */
    size_t          n_qi;
    char            sensitive[PL_NAME_MAX];     /* "" = none */
    uint64_t        k;          /* default 5 */
    uint64_t        l;          /* 0 = l-diversity reported, not enforced */
    int             refuse;     /* on_violation: refuse (1) | warn (0) */
    int             line, col;
} pl_extract_cfg;

/* Parse root's optional `extracts` into job->extracts (sources already
 * parsed). Errors are reported as in config.c; returns 0 or -1. */
int  pl_extracts_parse(const pl_yaml_doc *d, const pl_yaml_node *root,
                       pl_job *job);
void pl_extracts_free(pl_job *job);

/* The generalisation rule for `column` in extract e, or NULL. */
const pl_gen_rule *pl_extract_rule(const pl_extract_cfg *e,
                                   const char *column);

#endif
