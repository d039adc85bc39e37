/* blocking.h — candidate pairs: blocking keys routed to their owner rank,
 * pairs formed and handed to a callback there.
 *
 * A rule's key is a 64-bit hash of its items (a field's value, its
 * phonetic key, a date's year or year-month, a name's initial); a record
 * with any of them missing is in no block of that rule. Records travel
 * whole (pl_fs_hdr + values) to the owner of their key (pl_route_gather,
 * par/exchange.h), in `rounds` sub-rounds by key (so that a round's memory
 * is about 1/rounds of the records), are sorted by (key, side, row) and
 * every (person, record) pair of a block is handed to the callback — the
 * pair order is a function of the data only, not of the rank count.
 *
 * With bp->self the records of one source are paired with each other
 * (row a < row b only), for deduplicating a source.
 *
 * Dedup: a pair whose two records share the key of an earlier rule is
 * skipped (it was found, and counted, under the first rule generating it).
 * A block with more than max_block records on a side is capped to the
 * first max_block of each side (by row); the caller warns with the rule and
 * the count of capped blocks, never a value. With bp->caps, a pair that an
 * earlier rule's cap left out is not a duplicate: a later rule compares it.
 *
 * Split (bp->split, scoring): before a round's records travel, a count
 * sketch summed over ranks finds the blocks that may be above max_block;
 * only their records' (key, side) go to the key's owner, which counts each
 * block's sides; a
 * block above max_block is split by the rule's split keys (rule->split,
 * level by level, the sub-block keys chained hashes of the block key and
 * the split item; a missing value is a sub-block of its own), and records
 * travel to the owner of their leaf (sub-)block, capped only when the
 * last split key leaves it above max_block. The split blocks' keys are
 * kept in bp->caps (the same on every rank): a later rule's dedup
 * compares the earlier rules' leaf keys (pl_bk_leaf), so a pair is
 * counted once, under the first rule whose leaf block compared it.
 */
#ifndef PL_STAGE_BLOCKING_H
#define PL_STAGE_BLOCKING_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "stage/fellegi.h"

/* Key of `rec` under rule `r`: 0 when an item is missing, else non-zero. */
uint64_t pl_bk_key(const pl_linkage_cfg *c, const pl_lk_rule *r,
                   const uint8_t *rec);

/* The callback gets a persons-side record p and a record to link q;
 * returns 0, or -1 to stop (an error on this rank). */
typedef int (*pl_bk_pair_fn)(const uint8_t *p, const uint8_t *q, void *ctx);

/* The blocks of a rule that were capped: for each (by key), the row of
 * the last record compared on each side (UINT64_MAX: that side was not
 * capped). A later rule's dedup skips a pair sharing that key only when
 * both of its records were within the cap. */
typedef struct {
    uint64_t key, cut_p, cut_q;
} pl_bk_cap;
typedef struct {
    pl_bk_cap *v;               /* sorted by key (the leaf block's) */
    size_t     n;
    uint64_t  *split;           /* keys of the blocks split, any level, */
    size_t     n_split;         /*   sorted */
} pl_bk_caps;
void pl_bk_caps_free(pl_bk_caps *caps, size_t n_rules);

/* Leaf key of a record of block key k under rule `rule`: k split by the
 * rule's split keys while caps[rule].split holds it (k itself when caps is
 * NULL or the block was not split; 0 stays 0). */
uint64_t pl_bk_leaf(const pl_linkage_cfg *c, size_t rule,
                    const pl_bk_caps *caps, uint64_t k, const uint8_t *rec);

typedef struct {
    int      rule;              /* index in c->rules; -1: random pairs */
    int      dedup;             /* skip pairs found by an earlier rule */
    int      split;             /* with dedup and caps: split the blocks
                                   above max_block (rule->split) */
    uint64_t sample_mod;        /* > 1: only blocks with key % mod == 0 */
    /* rule -1: records sampled with probability 1/mod_p, 1/mod_q, put in
     * one of nb random blocks (seeded): random pairs for u. */
    uint64_t seed, mod_p, mod_q, nb;
    uint64_t rounds;            /* sub-rounds (>= 1) */
    uint64_t cap;               /* exchange cap (0 = automatic) */
    /* dedup: n_rules entries; the earlier rules' capped blocks are read,
     * this rule's are filled in (the same on every rank); NULL: an earlier
     * rule's key always means the pair was compared there */
    pl_bk_caps *caps;
    /* self (deduplication, stage/dedup.h): the records of Q against each
     * other (P must be empty): every pair (a, b) of a block with row a <
     * row b, handed as fn(a, b); a capped block compares its first
     * max_block records (by row). */
    int      self;
    /* dedup, optional: each record's leaf key under each rule, kept
     * between the calls of one rule loop (same P and Q, rules in order):
     * leaf[i * leaf_rules + k] for record i (P's then Q's) and rule k <
     * leaf_rules. A call for rule k fills its column (0: not routed) and
     * sends the earlier columns with each record, so the receiver reads
     * the earlier rules' leaf keys instead of recomputing them (name
     * hashes and the split keys' search). NULL: recomputed. */
    uint64_t *leaf;
    size_t    leaf_rules;
    /* the name fields' dictionaries (by field index): P and Q are stored
     * records (pl_fs_layout's srs bytes, stage/fellegi.h), made routed records by
     * pl_fs_expand as they are sent; NULL: P and Q are routed records */
    const pl_fs_dict *dict;
} pl_bk_params;

typedef struct {
    uint64_t pairs;             /* handed to the callback */
    uint64_t dups;              /* skipped: found by an earlier rule */
    uint64_t capped_blocks;     /* blocks (leaves) capped */
    uint64_t capped_pairs;      /* pairs of the capped and split blocks
                                   not compared (summed over ranks: one
                                   rank's share may wrap) */
    uint64_t split_blocks;      /* blocks above max_block split */
    uint64_t max_block;         /* largest side seen */
} pl_bk_stats;

/* Rules whose leaf keys a rule loop keeps (pl_bk_params.leaf_rules):
 * every rule but the last, whose keys no later rule reads. */
static inline size_t pl_bk_leaf_rules(const pl_linkage_cfg *c)
{
    return c->n_rules > 1 ? c->n_rules - 1 : 0;
}

/* The leaf keys array of n records under k rules (pl_bk_params.leaf;
 * NULL when k is 0), and its release (wiped: keys are hashes of names). */
uint64_t *pl_bk_leaf_alloc(size_t n, size_t k);
void pl_bk_leaf_free(uint64_t *leaf, size_t n, size_t k);

/* Collective. P: np persons records, Q: nq records to link (this rank's),
 * each pl_fs_recsize(c) bytes (pl_fs_layout's srs with bp->dict). Stats are this rank's (callers reduce).
 * Returns 0, or -1 on every rank when any rank failed. */
/* pl_bk_run keeps its buffers between calls (wiped and freed here). */
void pl_bk_release(void);

int pl_bk_run(MPI_Comm comm, const pl_linkage_cfg *c, const pl_bk_params *bp,
              const uint8_t *P, size_t np, const uint8_t *Q, size_t nq,
              pl_bk_pair_fn fn, void *ctx, pl_bk_stats *st);

#endif
