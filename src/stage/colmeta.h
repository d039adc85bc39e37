/* colmeta.h — the attributes that make every dataset of linked.h5 and of
 * the extracts describe itself (docs/FORMATS.md section 5.1):
 * `description` always, `units`, `code_system` and `date_format` where
 * they apply, all scalar UTF-8 strings.
 *
 * A payload column takes each attribute from the store's own dataset when
 * it has it, else from the job's `columns:` data dictionary, else (only
 * description) a generic text; pseudolink's own datasets (pid, row, links,
 * persons, rejects) have built-in texts.
 *
 * Writing is collective under MPI-IO (every rank, same values: the store's
 * attributes and the job are the same on every rank).
 */
#ifndef PL_COLMETA_H
#define PL_COLMETA_H

#include <hdf5.h>
#include <stddef.h>

#include "job/config.h"
#include "stage/store.h"

#define PL_META_SHORT 256       /* units, code_system, date_format */

typedef struct {
    char description[PL_META_TEXT_MAX];
    char units[PL_META_SHORT];
    char code_system[PL_META_SHORT];
    char date_format[PL_META_SHORT];
} pl_colmeta;

/* Metadata of payload column `col` of source `s`. Not collective (reads
 * attributes). -1 after a message (pl_err0) naming the store object when a
 * metadata attribute there is not a string or date_format is not one of
 * pl_date_formats. */
int pl_colmeta_payload(const pl_job *job, const pl_store *st,
                       const pl_source *s, const pl_column *col,
                       pl_colmeta *m);

/* Append "; note" to m->description (to `field`, code_system, when
 * code != 0): the note always whole, the text before it shortened at a
 * UTF-8 character boundary, with "...", when both do not fit. */
void pl_colmeta_note(pl_colmeta *m, int code, const char *note);

/* Write m's non-empty fields as attributes of loc. 0 or -1. */
int pl_colmeta_write(hid_t loc, const pl_colmeta *m);
/* description (and units, code_system when non-NULL) on loc. 0 or -1. */
int pl_colmeta_put(hid_t loc, const char *description, const char *units,
                   const char *code_system);
/* Same on the dataset at `path` of file. 0 or -1. */
int pl_colmeta_put_path(hid_t file, const char *path,
                        const char *description, const char *units,
                        const char *code_system);

/* Built-in descriptions of /links/{pid,source,row} and /persons/{pid,
 * <source>...} of a file written by pl_linked_write_index; `extract` != 0
 * for a project extract (pseudonyms, extract rows). 0 or -1. */
int pl_colmeta_index(hid_t file, const char *const *names, size_t ns,
                     int extract);

#endif
