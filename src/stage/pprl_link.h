/* pprl_link.h — linkage fields compared on keyed Bloom-filter encodings
 * (`compare: dice`, docs/LINKAGE.md "Encoded fields", docs/PPRL.md).
 *
 * An encoded column is either a package column of type b<N> (its
 * parameters in the signed manifest, docs/PACKAGE.md 3.1) or a store
 * dataset /sources/<s>/<column>: 2-D uint8 (rows, N) with a string
 * attribute `encoding` holding the same manifest lines. Before any record
 * is read, every side (the persons source and each source to link) of
 * every dice field is opened and refused, naming the package (or store),
 * the source and the field, when: the column is not an encoding (an
 * encoded field compared with a clear one), its parameters are missing or
 * malformed, or any of them (version, secret identifier, bits, q, pad,
 * hardening, salt, fields and their k, width) differs from the persons
 * side's. The persons side's parameters go to the report and the audit
 * line (never the secret: only its identifier exists here).
 */
#ifndef PL_STAGE_PPRL_LINK_H
#define PL_STAGE_PPRL_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/package.h"
#include "job/linkage_config.h"
#include "stage/run.h"

typedef struct {
    const pl_source *src;       /* a package source, or NULL: the store */
    size_t   pkg_col;
    hid_t    d;                 /* store dataset, -1 for a package */
    uint64_t n;                 /* rows */
    size_t   bytes;             /* per filter */
    pl_pkg_enc enc;
    char     where[PL_NAME_MAX * 2 + 300];  /* "<file>: /sources/<s>/<c>" */
} pl_pprl_col;

/* Collective (the verdict): open every dice field of every side, check
 * them, set linkage.fields[f].bytes. 0 when the job has no dice field;
 * -1 on every rank after a message. */
int  pl_pprl_prepare(pl_run *r);
/* Open the dice column of field f of source `src` (not collective; -1
 * after a message on rank 0). */
int  pl_pprl_open(pl_run *r, const char *src, const pl_lk_field *f,
                  pl_pprl_col *c);
/* Rows [first, first+n) into buf (n * bytes); read rules of
 * pl_source_read (every rank calls it the same number of times). */
int  pl_pprl_read(pl_run *r, const pl_pprl_col *c, uint64_t first,
                  uint64_t n, uint8_t *buf);
void pl_pprl_close(pl_pprl_col *c);
/* The encoding parameters of dice field f as JSON (an object: field,
 * version, secret_id, bits, sent, q, pad, harden, salt, fields), for the
 * audit line and the report; NULL when f is not a dice field or the run
 * has not prepared it. Caller frees. */
char *pl_pprl_params_json(const pl_run *r, size_t f);
/* The same as one line of text (summary, /linkage attribute). */
char *pl_pprl_params_text(const pl_run *r, size_t f);

#endif
