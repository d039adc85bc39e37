/* fellegi.h — Fellegi–Sunter record comparison and its model (no MPI: the
 * callers sum the counts with MPI_Allreduce, so that every rank fits the
 * same model from the same numbers).
 *
 * A linkage record is a fixed-size byte string (routed between ranks as
 * is): a pl_fs_hdr followed by one value per matching field (pl_fs_slot
 * bytes: a pl_fs_name for names, 8 bytes otherwise). Name
 * values are normalised (base/strsim.h) and cut at PL_FS_STR bytes; their
 * `tf` is the share of records carrying the same value (term frequency),
 * `ph` a hash of their phonetic key (pl_fs_phonetic).
 *
 * Comparison levels per field (index 0 = strongest agreement, the last
 * = disagreement; a missing value on either side is neutral: it is the
 * digit n_levels in the pattern and contributes weight 0):
 *   name:   exact; one per Jaro–Winkler threshold (the first also reached
 *           at OSA distance <= damerau_levenshtein when JW reaches the lowest
 *           threshold); equal phonetic keys
 *           (if on); else
 *   date:   exact; day and month swapped (if on); within k days (if k>0);
 *           same year and month (if on); else
 *   exact:  equal; else
 *   number: equal; |a-b| <= within (if > 0); else
 *   dice:   Dice coefficient of two Bloom-filter encodings (the slot holds
 *           the filter, f->bytes, a multiple of 8) banded by the field's
 *           thresholds (pl_dice_level); an empty filter is missing
 * A pair's pattern is the mixed-radix number of its levels (field 0 least
 * significant, radix n_levels+1).
 */
#ifndef PL_STAGE_FELLEGI_H
#define PL_STAGE_FELLEGI_H

#include <stddef.h>
#include <stdint.h>

#include "job/linkage_config.h"

#define PL_FS_STR 24
#define PL_FS_MAX_LEV 8

/* A name value (32 bytes). */
typedef struct {
    char     s[PL_FS_STR];      /* NUL-padded */
    float    tf;                /* term frequency (share of records) */
    uint32_t ph;                /* hash of the phonetic key, 0: none */
} pl_fs_name;

/* Other values: 8 bytes, an int64 (dates, numbers, integer codes), or an
 * exact string of at most 8 bytes NUL-padded (longer: its 64-bit hash). */
#define PL_FS_SMALL 8

typedef struct {
    uint8_t  key[8];            /* block key, big-endian (pl_owner_of) */
    uint64_t id;                /* row in its source */
    uint8_t  pid[16];           /* persons side: the person's pid */
    uint32_t missing;           /* bit f: field f missing */
    uint8_t  side;              /* 0 persons, 1 records to link */
    uint8_t  leaf;              /* 1: routed by a split block's leaf
                                   key (stage/blocking.c) */
    uint8_t  pad[2];
} pl_fs_hdr;

/* Bytes of field f's value in a record. */
static inline size_t pl_fs_slot(const pl_lk_field *f)
{
    return f->kind == PL_CMP_NAME ? sizeof(pl_fs_name)
           : f->kind == PL_CMP_DICE ? f->bytes : PL_FS_SMALL;
}
/* Offset of field f's value in a record. */
static inline size_t pl_fs_off(const pl_linkage_cfg *c, size_t f)
{
    size_t o = sizeof(pl_fs_hdr);
    for (size_t g = 0; g < f; g++)
        o += pl_fs_slot(&c->fields[g]);
    return o;
}
static inline size_t pl_fs_recsize(const pl_linkage_cfg *c)
{
    return pl_fs_off(c, c->n_fields);
}
static inline int64_t pl_fs_int(const uint8_t *v)
{
    int64_t x;
    __builtin_memcpy(&x, v, 8);
    return x;
}

/* Stored records: a rank's records at rest (stage/probalink.c reads them,
 * stage/blocking.c routes them) hold a name as the 4-byte index of its
 * value in the field's dictionary on that rank, every other value as a
 * routed record does (a name's slot: the index, then the value's ph);
 * a routed record is made from a stored one by
 * pl_fs_expand (byte for byte the record the name would have given).
 * Names repeat (a few thousand first names carry most records): the
 * records at rest are half the size, and a name's term frequency is set
 * once a distinct value. */
typedef struct {
    pl_fs_name *v;              /* the distinct values, by index */
    uint32_t   *occ;            /* records (present values) using each */
    size_t      n, cap;
    uint32_t   *ix;             /* open addressing: index + 1, 0 free */
    size_t      ix_cap;
} pl_fs_dict;

/* a stored name: its index, then its ph (the blocking keys' phonetic
 * items read it there, not in the dictionary: no random read) */
#define PL_FS_ID 8
#define PL_FS_ID_PH 4    /* the ph's offset in the slot */
/* every slot a multiple of 8 bytes (dice filters are, PL_FS_SMALL is):
 * a stored record of n slots keeps its header and int64 values aligned */
_Static_assert(PL_FS_ID % 8 == 0 && sizeof(pl_fs_hdr) % 8 == 0,
               "stored slots of whole words");
static inline size_t pl_fs_sslot(const pl_lk_field *f)
{
    return f->kind == PL_CMP_NAME ? PL_FS_ID : pl_fs_slot(f);
}
/* A record layout (pl_fs_layout_of, once a call of the blocking): each
 * field's offset in a routed and in a stored record, the name fields,
 * and the runs of bytes pl_fs_expand_plain copies as they are (seg: the
 * header and the plain values between the names). */
typedef struct {
    size_t   rs, srs;
    size_t   off[PL_LK_MAX_FIELDS], soff[PL_LK_MAX_FIELDS];
    size_t   n_names;
    uint8_t  names[PL_LK_MAX_FIELDS];   /* the name fields */
    size_t   n_seg;
    struct {
        uint32_t from, to, len;
    } seg[PL_LK_MAX_FIELDS + 1];
} pl_fs_layout;
void pl_fs_layout_of(const pl_linkage_cfg *c, pl_fs_layout *L);

/* Field f's value in stored record rec (dict: one per field, by field
 * index; only the name fields' are used): the slot a routed record has. */
static inline const uint8_t *pl_fs_sval(const pl_linkage_cfg *c,
                                        const pl_fs_layout *L,
                                        const pl_fs_dict *dict,
                                        const uint8_t *rec, size_t f)
{
    const uint8_t *v = rec + L->soff[f];
    if (c->fields[f].kind != PL_CMP_NAME)
        return v;
    uint32_t id;
    __builtin_memcpy(&id, v, 4);
    return (const uint8_t *)&dict[f].v[id];
}
/* The routed record (L->rs bytes at out) of stored record in: its
 * header and plain values (pl_fs_expand_plain), its names' values from
 * the dictionaries (pl_fs_expand_names), in either order. */
static inline void pl_fs_expand_plain(const pl_fs_layout *L,
                                      const uint8_t *in, uint8_t *out)
{
    for (size_t k = 0; k < L->n_seg; k++)
        __builtin_memcpy(out + L->seg[k].to, in + L->seg[k].from,
                         L->seg[k].len);
}
static inline void pl_fs_expand_names(const pl_fs_layout *L,
                                      const pl_fs_dict *dict,
                                      const uint8_t *in, uint8_t *out)
{
    for (size_t k = 0; k < L->n_names; k++) {
        size_t f = L->names[k];
        uint32_t id;
        __builtin_memcpy(&id, in + L->soff[f], 4);
        __builtin_memcpy(out + L->off[f], &dict[f].v[id],
                         sizeof(pl_fs_name));
    }
}
static inline void pl_fs_expand(const pl_fs_layout *L,
                                const pl_fs_dict *dict, const uint8_t *in,
                                uint8_t *out)
{
    pl_fs_expand_plain(L, in, out);
    pl_fs_expand_names(L, dict, in, out);
}
/* Asks for the dictionary values of stored record rec (its names) to be
 * fetched into the cache, ahead of their use. */
static inline void pl_fs_prefetch_names(const pl_fs_layout *L,
                                        const pl_fs_dict *dict,
                                        const uint8_t *rec)
{
    for (size_t k = 0; k < L->n_names; k++) {
        size_t f = L->names[k];
        uint32_t id;
        __builtin_memcpy(&id, rec + L->soff[f], 4);
        __builtin_prefetch(&dict[f].v[id]);
    }
}
/* The index of value v in d, added (occ 0) when new; values are equal
 * when their s are (tf and ph follow from s). At most UINT32_MAX - 1
 * values: the caller keeps a rank's records under that (one value a
 * record at most). Allocation failure aborts (base/mem.h). */
uint32_t pl_fs_dict_add(pl_fs_dict *d, const pl_fs_name *v);
/* Wiped (names) and freed; d zeroed. */
void pl_fs_dict_free(pl_fs_dict *d);

/* The `ph` of a normalised name: 32-bit hash of its phonetic key, never 0
 * for a key of at least one letter; 0 without one. */
uint32_t pl_fs_phonetic(const char *s, size_t len);

/* Level of field f for two present values (pointers to the slots). */
int pl_fs_level(const pl_lk_field *f, const uint8_t *a, const uint8_t *b);

/* Levels of every field into lev[] (n_levels of the field when missing)
 * and the pattern index. */
uint32_t pl_fs_compare(const pl_linkage_cfg *c, const uint8_t *a,
                       const uint8_t *b, uint8_t *lev);

/* Number of patterns: product of (n_levels + 1). */
uint32_t pl_fs_patterns(const pl_linkage_cfg *c);
/* Decode pattern g into lev[]. */
void pl_fs_decode(const pl_linkage_cfg *c, uint32_t g, uint8_t *lev);

typedef struct {
    size_t nf;
    int    nl[PL_LK_MAX_FIELDS];
    double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];
    double w[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV];     /* log2(m/u) */
    double lambda;              /* prior P(match) over all pairs */
    double prior_w;             /* log2(lambda / (1 - lambda)) */
    uint64_t iterations;        /* EM iterations done (largest rule) */
    uint64_t free_u;            /* bit r: rule r's m and λ from the EM
                                   with u free (pl_fs_em_free_u) */
} pl_fs_model;

/* u from the pattern counts of random pairs (Laplace-smoothed). */
void pl_fs_u_from_counts(pl_fs_model *mo, const pl_linkage_cfg *c,
                         const double *counts);

/* EM for m (u fixed) on the pattern counts of one blocking rule's pairs;
 * fields in `skip` (bit f) are left out (a rule's own fields agree by
 * construction). Writes m_r[f][l] for the other fields and returns the
 * rule's λ (share of its pairs that match). Deterministic: the same
 * counts give the same result on every rank. */
double pl_fs_em(const pl_fs_model *mo, const pl_linkage_cfg *c,
                const double *counts, uint32_t skip, uint64_t iterations,
                double m_r[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                uint64_t *iters_done);

/* Two-class EM on one rule's pattern counts with both classes' level
 * shares free: m of the matches and u of the rule's other pairs (inside a
 * rule's blocks, non-matches agree far more often than random pairs: on a
 * name key, namesakes). Fields in skip left out; u[] receives the other
 * class's shares. Returns λ, the match class's share of the pairs.
 * Deterministic. */
double pl_fs_em_free_u(const pl_linkage_cfg *c, const double *counts,
                       uint32_t skip, uint64_t iterations,
                       double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                       double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                       uint64_t *iters_done);

/* Is the free solution (m, u) a match / non-match split? On every field
 * used the match class agrees at least as often and disagrees at most as
 * often as the other, and on at least one the other class agrees exactly
 * less often than the geometric mean of the random pairs' rate (mo->u)
 * and the match class's (nearer random pairs than matches). 1 or 0. */
int pl_fs_is_match_split(const pl_linkage_cfg *c, const pl_fs_model *mo,
                         uint32_t skip,
                         double m[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV],
                         double u[PL_LK_MAX_FIELDS][PL_FS_MAX_LEV]);

/* Final weights w = log2(m/u) and prior_w from lambda. */
void pl_fs_finish(pl_fs_model *mo);

/* Match weight of a pair with levels lev[] (term-frequency adjusted for
 * exact agreement on a name field with tf on). */
double pl_fs_weight(const pl_fs_model *mo, const pl_linkage_cfg *c,
                    const uint8_t *lev, const uint8_t *a);

static inline double pl_fs_prob(double w)
{
    return 1.0 / (1.0 + __builtin_exp2(-w));
}

#endif
