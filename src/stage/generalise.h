/* generalise.h — generalisation of quasi-identifiers and row filters for
 * project extracts (docs/EXTRACTS.md).
 *
 * Rules: year / month on integer dates (YYYYMMDD or YYYYMM), department on
 * INSEE commune codes (first 2 characters, 3 for overseas 97x/98x), prefix
 * on strings, bands on numbers (an HDF5 enum labelled "[a,b)", "<a" or
 * ">=b", in band order). A column without a rule is copied unchanged;
 * string outputs are tagged UTF-8.
 */
#ifndef PL_GENERALISE_H
#define PL_GENERALISE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "job/extract_config.h"

#define PL_BAND_LABEL 24        /* bytes of a band label */

typedef enum { PL_VK_INT, PL_VK_UINT, PL_VK_FLOAT, PL_VK_STR } pl_vkind;

typedef struct {
    const pl_gen_rule *rule;    /* NULL: copied unchanged */
    pl_vkind kind;              /* of the input column */
    size_t   in_size;
    hid_t    out_type;          /* owned: pl_gen_close */
    size_t   out_size;
} pl_gen_col;

/* Kind of a native HDF5 memory type (integer, float, fixed string); -1 for
 * anything else. */
int pl_vkind_of(hid_t type, pl_vkind *kind);

/* Prepare column output for `rule` (may be NULL) on input type `in_type`.
 * Returns -1 and a reason in `why` when the rule does not fit the type. */
int  pl_gen_setup(pl_gen_col *c, const pl_gen_rule *rule, hid_t in_type,
                  char *why, size_t whylen);
void pl_gen_close(pl_gen_col *c);
/* n values of in_size bytes -> n values of out_size bytes. */
void pl_gen_apply(const pl_gen_col *c, const uint8_t *in, size_t n,
                  uint8_t *out);

/* Numeric value of one element (integers widen to int64 / double). */
int64_t pl_value_i64(pl_vkind kind, size_t size, const uint8_t *p);
double  pl_value_f64(pl_vkind kind, size_t size, const uint8_t *p);

/* Filters: check the filter fits the column type (-1 + why), then test. */
int pl_filter_check(const pl_filter *f, pl_vkind kind, char *why,
                    size_t whylen);
int pl_filter_match(const pl_filter *f, pl_vkind kind, size_t size,
                    const uint8_t *p);

/* Bands are written as an HDF5 enum (pl_gen_setup): value = the band's
 * index, name = its label. Index of x for edges e[0..n-1]: 0 below e[0],
 * i for [e[i-1], e[i]), n from e[n-1] on, n + 1 for NaN. */
size_t pl_band_index(const double *e, size_t n, double x);
/* Label of band index i ("<0", "[0,3)", ">=30", "NaN"), NUL-padded; a
 * label longer than PL_BAND_LABEL bytes is cut. */
void pl_band_text(const double *e, size_t n, size_t i,
                  char out[PL_BAND_LABEL]);
/* The label of x for band edges e[0..n-1]. */
void pl_band_label(const double *e, size_t n, double x,
                   char out[PL_BAND_LABEL]);

#endif
