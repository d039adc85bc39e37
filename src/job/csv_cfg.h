/* csv_cfg.h — the description of a CSV source in a job file (the
 * producer's `produce` job), parsed strictly like the rest of the job
 * (base/yamltree.h: unknown keys, wrong types, missing keys are errors
 * naming the file, line:column and key path).
 *
 *   csv:
 *     file: exports/stays.csv     # required; relative to the current dir
 *     delimiter: ","              # ",", ";", tab ("tab" or "\t"), or
 *                                 # auto (default: detected from the header,
 *                                 # base/csv.h)
 *     encoding: utf-8             # utf-8 (default) | latin-1
 *     columns:                    # required: EVERY header of the file, once
 *       NIR:        {as: nir, type: string, length: 15, invalid: reject}
 *       DATE_NAISS: {as: birth_date, type: date, format: DD/MM/YYYY,
 *                    invalid: reject}
 *       SEXE:       {as: sex, type: uint8, invalid: reject}
 *       NOM:        {type: skip}           # read, checked, never stored
 *       MONTANT:    {as: amount, type: int32}
 *
 * Each key of `columns` is a header text exactly as in the file (after
 * conversion to UTF-8). `as` is the column's name downstream (letters,
 * digits, '_', at most PL_NAME_MAX - 1 characters; default: the header,
 * which must then be such a name); names are unique. `type`: int8, int16,
 * int32, int64, uint8, uint16, uint32, uint64, string (needs `length`,
 * bytes of UTF-8, 1..65536), date (needs `format`: YYYYMMDD, YYYY-MM-DD or
 * DD/MM/YYYY; stored as int32 YYYYMMDD like the store's birth_date), skip.
 * `invalid`: error (default: the file is refused at file:line:col) or
 * reject (the value becomes 0 / an empty string and the row's bad[] flag
 * is set: for identity columns the identity check then rejects the row
 * with the store's reject code; base/csv.h "lenient"). Not for skip.
 *
 * The parsed description is ready for base/csv.h: pl_csv_open(cfg->file,
 * &cfg->spec, quiet); declared column j of the reader is cfg->cols[j],
 * in the order of the job file.
 */
#ifndef PL_JOB_CSV_CFG_H
#define PL_JOB_CSV_CFG_H

#include <stddef.h>

#include "base/csv.h"
#include "base/yamltree.h"
#include "job/config.h"

typedef struct {
    char  name[PL_NAME_MAX];    /* `as` (or the header) */
    char *header;               /* the header text (owned) */
    int   line, col;            /* of the key in the job file */
} pl_csv_cfg_col;

typedef struct pl_csv_cfg {
    char            *file;
    pl_csv_cfg_col  *cols;      /* in job-file order */
    size_t           ncols;
    pl_csv_col      *spec_cols; /* spec_cols[j].header == cols[j].header */
    pl_csv_spec      spec;      /* delimiter, encoding, spec_cols */
    int              line, col; /* of the csv mapping */
} pl_csv_cfg;

/* Parse the mapping `map` found at key path `path` (e.g.
 * "sources.stays.csv"). 0, or -1 with one message (pl_yaml_error, so quiet
 * documents print nothing); on error *cfg holds nothing to free. */
int  pl_csv_cfg_parse(const pl_yaml_doc *d, const pl_yaml_node *map,
                      const char *path, pl_csv_cfg *cfg);
void pl_csv_cfg_free(pl_csv_cfg *cfg);
/* Index of the column named `name` (its `as`), or -1. */
int  pl_csv_cfg_find(const pl_csv_cfg *cfg, const char *name);

#endif
