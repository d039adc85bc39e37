/* encode_cfg.h — `sources.<name>.encode:` of a producer's job: the fields
 * of the export encoded into keyed Bloom filters (crypto/bloom.h,
 * docs/PPRL.md) that travel in the package instead of the clear values
 * (docs/PRODUCER.md, "Encoded fields"). Parsed strictly by config.c's
 * parse_source through pl_encode_parse: every error names the job file,
 * line:column and the key path. The linkage secret is never in the job
 * file (produce --linkage-secret FILE).
 *
 *   encode:
 *     fields: [first_name, last_name, birth_name, birth_date]  # required
 *     clk: true            # one record-level filter (default) or, false,
 *                          # one filter per field
 *     column: clk          # the CLK column's name (default clk); per
 *                          # field: bf_<field>
 *     filter_bits: 1024    # m, a multiple of 64 (128 with xor_fold)
 *     q: 2                 # q-gram length (1..8)
 *     pad: true            # q-1 '_' each side
 *     k: 20                # positions per q-gram, or {field: k, ...}
 *     salt: birth_year     # birth_year (4 digits of the identity's
 *                          # birth date) or none (default)
 *     harden: [balance]    # any of xor_fold, balance (applied in that
 *                          # order); default none
 *     clear_identity: [birth_date, sex]   # identity columns also sent in
 *                          # clear (i32 YYYYMMDD, u8) beside p1, for the
 *                          # platform's date/exact comparisons; default
 *                          # none (a source without identity sends them
 *                          # as payload: keep)
 */
#ifndef PL_ENCODE_CFG_H
#define PL_ENCODE_CFG_H

#include <stddef.h>

#include "base/yamltree.h"
#include "job/config.h"

#define PL_ENC_MAX_FIELDS 16
#define PL_ENC_K_DEFAULT 20

enum { PL_ENC_SALT_NONE = 0, PL_ENC_SALT_BIRTH_YEAR = 1 };
enum { PL_ENC_CLEAR_BIRTH_DATE = 1, PL_ENC_CLEAR_SEX = 2 };

typedef struct pl_encode_cfg {
    char     fields[PL_ENC_MAX_FIELDS][PL_NAME_MAX];
    unsigned k[PL_ENC_MAX_FIELDS];
    size_t   n_fields;
    int      clk;
    char     column[PL_NAME_MAX];
    unsigned bits, q, pad, harden, salt;
    unsigned clear_id;          /* PL_ENC_CLEAR_* */
    int      line, col;
} pl_encode_cfg;

/* Parse `v` (the value of sources.<name>.encode) at `path` into a new
 * *out. Returns 0, or -1 after one message. */
int  pl_encode_parse(const pl_yaml_doc *d, const pl_yaml_node *v,
                     const char *path, pl_encode_cfg **out);
/* The encoded column names of e, in package order: n = clk ? 1 :
 * n_fields; name i into out. Not collective. */
size_t pl_encode_ncols(const pl_encode_cfg *e);
void pl_encode_colname(const pl_encode_cfg *e, size_t i,
                       char out[PL_NAME_MAX]);
/* Whether `col` is one of e's clear fields (never payload). */
int  pl_encode_is_field(const pl_encode_cfg *e, const char *col);

#endif
