/* linkage_config.h — the `linkage:` section of the job file: probabilistic
 * linkage of sources without a NIR to the persons of the run (schema and
 * rules in docs/LINKAGE.md). Parsed strictly by config.c's parse_job
 * through pl_linkage_parse; every error names the job file, line:column and
 * the key path, before anything is read. Column types are checked against
 * the store in stage/probalink.c, before any record is read.
 */
#ifndef PL_LINKAGE_CONFIG_H
#define PL_LINKAGE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/yamltree.h"
#include "job/config.h"

typedef enum { PL_CMP_NAME = 0, PL_CMP_DATE, PL_CMP_EXACT,
               PL_CMP_NUMBER, PL_CMP_DICE } pl_cmp_kind;

#define PL_LK_MAX_DICE 6        /* Dice thresholds (levels - 1) */

#define PL_LK_MAX_JW 4
#define PL_LK_MAX_FIELDS 16
#define PL_LK_MAX_RULES 8
#define PL_LK_MAX_ITEMS 4
#define PL_LK_MAX_SPLIT 3       /* split keys of a rule (levels) */

typedef struct {
    char        name[PL_NAME_MAX];      /* field name (its key) */
    char        column[PL_NAME_MAX];    /* column in every linked source */
    pl_cmp_kind kind;
    /* name: levels exact, then one per Jaro–Winkler threshold (the first
     * also reached at OSA distance <= dl), phonetic key equal, else. */
    double      jw[PL_LK_MAX_JW];
    size_t      n_jw;
    int         dl;                     /* -1: no distance level */
    int         phonetic, tf;
    /* date (YYYYMMDD integers): exact, day/month swapped, within k days,
     * same year and month, else (each optional level on or off). */
    int         swap, year_month;
    uint64_t    within_days;            /* 0: no such level */
    /* number: exact, within `within`, else */
    double      within;
    /* dice (a Bloom-filter encoding, docs/PPRL.md): one level per
     * threshold (dice >= t[0], ...), else; lsh_bits: bits sampled by a
     * blocking item field:lsh. bytes: the filters' width, set when the
     * column is opened (stage/pprl_link.c). */
    double      dice[PL_LK_MAX_DICE];
    size_t      n_dice;
    unsigned    lsh_bits;
    size_t      bytes;
    int         n_levels;               /* levels, 'else' included */
    int         line, col;
} pl_lk_field;

typedef enum { PL_BK_VALUE = 0, PL_BK_PHONETIC, PL_BK_YEAR,
               PL_BK_YEARMONTH, PL_BK_INITIAL, PL_BK_LSH } pl_bk_xform;

typedef struct {
    size_t      field;                  /* index in fields */
    pl_bk_xform xform;
} pl_lk_item;

typedef struct {
    char        text[160];              /* as written, for messages */
    pl_lk_item  items[PL_LK_MAX_ITEMS];
    size_t      n_items;
    /* A block above max_block is split by split[0], a sub-block still
     * above it by split[1], ...; one item per level, never a field of the
     * rule. Written as {rule: ..., split: ...} (split_set), else chosen
     * (docs/LINKAGE.md); n_split 0: capped only. */
    pl_lk_item  split[PL_LK_MAX_SPLIT];
    size_t      n_split;
    int         split_set;
    char        split_text[160];        /* "last_name:phonetic, sex" */
    int         line, col;
} pl_lk_rule;

typedef struct pl_linkage_cfg {
    int          identified_data;       /* the run holds identified data */
    char         persons[PL_NAME_MAX];  /* a source of the job, with identity */
    size_t       persons_index;         /* in job->sources */
    char       **sources;               /* sources without an identity */
    size_t       n_sources;
    /* One per source of linkage.sources (no identity): its name, the
     * payload of linkage.keep (keep_given: nothing unless listed) and,
     * for one delivered as a transfer package (linkage.packages), the
     * package; the store opens them (stage/store.h, st->lsrc). */
    pl_source_cfg *src;
    /* linkage.dedup: store sources without an identity to deduplicate
     * (stage/dedup.h), also in `sources` or not; dedup_at: line, column of
     * each entry (2 ints), for the store checks' messages */
    char       **dedup;
    size_t       n_dedup;
    int         *dedup_at;
    pl_lk_field  fields[PL_LK_MAX_FIELDS];
    size_t       n_fields;
    pl_lk_rule   rules[PL_LK_MAX_RULES];
    size_t       n_rules;
    double       lower, upper;          /* match weight thresholds */
    double       dedup_upper;           /* thresholds.dedup (default upper):
                                         * a pair within a deduplicated
                                         * source is accepted at or above */
    uint64_t     max_block;             /* records per side per block */
    uint64_t     seed, iterations, random_pairs;
    int          line, col;
} pl_linkage_cfg;

/* Parse root's optional `linkage:` into job->linkage (NULL when absent).
 * Returns 0, or -1 after one message. */
int  pl_linkage_parse(const pl_yaml_doc *d, const pl_yaml_node *root,
                      pl_job *job);
void pl_linkage_free(pl_job *job);

#endif
