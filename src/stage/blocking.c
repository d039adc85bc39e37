/* blocking.c — see blocking.h. */
#include "stage/blocking.h"

#include "base/bytes.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/strsim.h"
#include "par/exchange.h"
#include "par/mpi.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The bytes that key item `it` of a record (n, or 0 when missing);
 * lsh_seed seeds an LSH item's bit sample. buf: PL_BK_ITEM_MAX bytes. */
#define PL_BK_ITEM_MAX (sizeof(pl_fs_name) + 48)
/* dict: rec is a stored record (fellegi.h), else a routed one. */
static size_t item_bytes(const pl_linkage_cfg *c, const pl_fs_layout *L,
                         const pl_fs_dict *dict, const pl_lk_item *it,
                         uint64_t lsh_seed, const uint8_t *rec, char *buf)
{
    const pl_fs_hdr *h = (const pl_fs_hdr *)rec;
    size_t f = it->field;
    if (h->missing >> f & 1)
        return 0;
    size_t n = 0;
    if (dict && it->xform == PL_BK_PHONETIC &&
        c->fields[f].kind == PL_CMP_NAME) {   /* in the stored slot */
        uint32_t ph;
        memcpy(&ph, rec + L->soff[f] + PL_FS_ID_PH, 4);
        if (ph == 0)
            return 0;
        memcpy(buf, &ph, 4);
        return 4;
    }
    const uint8_t *v = dict ? pl_fs_sval(c, L, dict, rec, f)
                            : rec + L->off[f];
    const pl_fs_name *x = (const pl_fs_name *)v;
    switch (it->xform) {
    case PL_BK_VALUE:
        if (c->fields[f].kind == PL_CMP_NAME) {
            n = strnlen(x->s, PL_FS_STR);
            memcpy(buf, x->s, n);
        } else {
            memcpy(buf, v, PL_FS_SMALL);
            n = PL_FS_SMALL;
        }
        break;
    case PL_BK_PHONETIC:
        if (x->ph == 0)
            return 0;
        memcpy(buf, &x->ph, 4);
        n = 4;
        break;
    case PL_BK_YEAR: {
        int64_t y = pl_fs_int(v) / 10000;
        memcpy(buf, &y, 8);
        n = 8;
        break;
    }
    case PL_BK_YEARMONTH: {
        int64_t y = pl_fs_int(v) / 100;
        memcpy(buf, &y, 8);
        n = 8;
        break;
    }
    case PL_BK_INITIAL:
        buf[0] = x->s[0];
        n = 1;
        break;
    case PL_BK_LSH: {           /* Hamming LSH: lsh_bits sampled bits */
        uint64_t acc = 0;
        size_t bits = c->fields[f].bytes * 8;
        unsigned nb = c->fields[f].lsh_bits;
        for (unsigned j = 0; j < nb; j++) {
            uint64_t s = lsh_seed * 0x9e3779b97f4a7c15ull + j + 1;
            uint64_t pos = pl_hash64(&s, sizeof s, 0x5a) % bits;
            acc = acc << 1 | (v[pos / 8] >> (pos % 8) & 1);
            if (j % 64 == 63 || j + 1 == nb) {
                memcpy(buf + n, &acc, 8);
                n += 8;
                acc = 0;
            }
        }
        break;
    }
    }
    return n;
}

static uint64_t bk_key(const pl_linkage_cfg *c, const pl_fs_layout *L,
                       const pl_fs_dict *dict, const pl_lk_rule *r,
                       const uint8_t *rec)
{
    uint64_t k = 0x51ed270b27a1c0ffull;
    uint64_t ri = (uint64_t)(r - c->rules);    /* seeds an LSH sample */
    for (size_t i = 0; i < r->n_items; i++) {
        char buf[PL_BK_ITEM_MAX];
        size_t n = item_bytes(c, L, dict, &r->items[i], ri, rec, buf);
        if (n == 0)
            return 0;
        buf[n++] = (char)(0x80 | i);
        k = pl_hash64(buf, n, k);
    }
    return k ? k : 1;
}

uint64_t pl_bk_key(const pl_linkage_cfg *c, const pl_lk_rule *r,
                   const uint8_t *rec)
{
    pl_fs_layout L;
    pl_fs_layout_of(c, &L);
    return bk_key(c, &L, NULL, r, rec);
}

/* The key of a sub-block: block key k split by r->split[lev]. A missing
 * value is a sub-block of its own (every record stays in one leaf).
 * dict: rec is a stored record. */
static uint64_t sub_key(const pl_linkage_cfg *c, const pl_fs_layout *L,
                        const pl_fs_dict *dict, const pl_lk_rule *r,
                        size_t lev, uint64_t k, const uint8_t *rec)
{
    char buf[PL_BK_ITEM_MAX];
    uint64_t ri = (uint64_t)(r - c->rules);
    size_t n = item_bytes(c, L, dict, &r->split[lev],
                          ri + PL_LK_MAX_RULES * (lev + 1), rec, buf);
    buf[n] = (char)((n ? 0xa0 : 0xc0) | lev);  /* present / missing */
    uint64_t h = pl_hash64(buf, n + 1, k ^ 0x5b117b10c4ull);
    return h ? h : 1;
}

static int has_key(const uint64_t *v, size_t n, uint64_t k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (v[m] < k)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < n && v[lo] == k;
}

uint64_t pl_bk_leaf(const pl_linkage_cfg *c, size_t rule,
                    const pl_bk_caps *caps, uint64_t k, const uint8_t *rec)
{
    const pl_lk_rule *r = &c->rules[rule];
    if (!k || !caps)
        return k;
    const pl_bk_caps *x = &caps[rule];
    if (r->n_split == 0 || !has_key(x->split, x->n_split, k))
        return k;
    pl_fs_layout L;
    pl_fs_layout_of(c, &L);
    for (size_t lev = 0; lev < r->n_split && has_key(x->split, x->n_split, k);
         lev++)
        k = sub_key(c, &L, NULL, r, lev, k, rec);
    return k;
}


/* The key of a record under the run's parameters, 0 = not routed. */
static uint64_t route_key(const pl_linkage_cfg *c, const pl_fs_layout *L,
                          const pl_bk_params *bp, const uint8_t *rec)
{
    const pl_fs_hdr *h = (const pl_fs_hdr *)rec;
    if (bp->rule < 0) {
        uint64_t id[2] = {h->id, h->side};
        uint64_t s = pl_hash64(id, sizeof id, bp->seed);
        uint64_t mod = h->side ? bp->mod_q : bp->mod_p;
        if (mod > 1 && s % mod != 0)
            return 0;
        uint64_t b = pl_hash64(id, sizeof id, bp->seed ^ 0xb10c) % bp->nb;
        uint64_t k = pl_hash64(&b, sizeof b, bp->seed ^ 0x6b6579);
        return k ? k : 1;
    }
    uint64_t k = bk_key(c, L, bp->dict, &c->rules[bp->rule], rec);
    if (k && bp->sample_mod > 1 && (k >> 7) % bp->sample_mod != 0)
        return 0;
    return k;
}

typedef struct {
    uint64_t key, id;
    uint32_t at;                /* record index in the received buffer */
    uint8_t  side;
    uint8_t  leaf;              /* pl_fs_hdr.leaf: in a split block */
} ent;

static int ent_cmp(const void *x, const void *y)
{
    const ent *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->side != b->side)
        return a->side < b->side ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Buffers kept between calls (grow only): pages are touched once. Each
 * buffer's *_hi: the most bytes it was asked for, the part that may hold
 * data (wiped on regrow and release; its untouched tail is never faulted
 * in just to be zeroed). */
static struct {
    uint8_t  *send, *recv;
    size_t    send_cap, recv_cap, recv_n, rs, send_hi, recv_hi;
    ent      *e, *tmp;
    size_t    e_cap, tmp_cap, e_hi, tmp_hi;
    uint64_t *keys, *pk, *lk;
    size_t    keys_cap, pk_cap, lk_cap, keys_hi, pk_hi, lk_hi;
    uint32_t *ix;               /* record indices by round */
    size_t    ix_cap, ix_hi;
} B;

static void *grow(void *p, size_t *cap, size_t *hi, size_t need)
{
    if (need <= *cap) {
        if (need > *hi)
            *hi = need;
        return p;
    }
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    if (p)                      /* it held records: names */
        pl_wipe(p, *hi);
    pl_free_huge(p, *cap);
    *cap = n;
    *hi = need;
    return pl_xmalloc_huge(n);
}

/* pl_route_into's where: the round's records go after the earlier
 * rounds' in B.recv (grown, keeping them), received there by MPI. */
static uint8_t *gather_at(size_t n, void *ctx)
{
    (void)ctx;
    size_t need = (B.recv_n + n + 1) * B.rs;
    if (need > B.recv_cap) {
        size_t c = B.recv_cap ? B.recv_cap : 1 << 16;
        while (c < need)
            c *= 2;
        uint8_t *nb = pl_xmalloc_huge(c);
        if (B.recv_n)
            memcpy(nb, B.recv, B.recv_n * B.rs);
        if (B.recv)     /* names, also an earlier round's */
            pl_wipe(B.recv, B.recv_hi);
        pl_free_huge(B.recv, B.recv_cap);
        B.recv = nb;
        B.recv_cap = c;
        B.recv_hi = B.recv_n * B.rs;
    }
    return B.recv + B.recv_n * B.rs;
}

/* ... and its serve: they are in place already */
static int gather(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)recv;
    (void)reply;
    (void)ctx;
    B.recv_n += n;
    if (B.recv_n * B.rs > B.recv_hi)
        B.recv_hi = B.recv_n * B.rs;
    return 0;
}

/* n entries by key, ascending (equal keys adjacent: the blocks, in key
 * order; the order within a block is set by the caller, ent_cmp). An LSD
 * radix sort on the key's top 48 bits (3 passes of 16 bits), then the
 * rare runs of entries sharing those 48 bits but not the key (distinct
 * keys: about n^2 / 2^49 of them) sorted whole: one pass fewer than the
 * whole key's 4. Ties (equal keys) in no particular order. */
static void sort_keys(ent *e, ent *tmp, size_t n)
{
    if (n < 2048) {
        qsort(e, n, sizeof *e, ent_cmp);
        return;
    }
    static uint32_t cnt[65536];
    ent *a = e, *b = tmp;
    /* a test build sorts on fewer bits (more runs to fix):
     * make CC='mpicc -DBK_SORT_FROM=3' */
#ifndef BK_SORT_FROM
#define BK_SORT_FROM 1
#endif
    for (int pass = BK_SORT_FROM; pass < 4; pass++) {
        int sh = 16 * pass;
        memset(cnt, 0, sizeof cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(a[i].key >> sh) & 0xffff]++;
        uint32_t sum = 0;
        for (size_t i = 0; i < 65536; i++) {
            uint32_t c = cnt[i];
            cnt[i] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[(a[i].key >> sh) & 0xffff]++] = a[i];
        ent *t = a;
        a = b;
        b = t;
    }
    if (a != e)                 /* 3 passes: the result is in tmp */
        memcpy(e, a, n * sizeof *e);
    const int low = 16 * BK_SORT_FROM;
    for (size_t i = 0; i + 1 < n;) {
        size_t j = i + 1;
        int mixed = 0;
        while (j < n && e[j].key >> low == e[i].key >> low) {
            mixed |= e[j].key != e[i].key;
            j++;
        }
        if (mixed)
            qsort(e + i, j - i, sizeof *e, ent_cmp);
        i = j;
    }
}

static int cap_cmp(const void *x, const void *y)
{
    uint64_t a = ((const pl_bk_cap *)x)->key, b = ((const pl_bk_cap *)y)->key;
    return a < b ? -1 : a > b;
}

/* The pair (row p, row q) sharing key k of rule x was left out by that
 * rule's cap. */
static int beyond_cap(const pl_bk_caps *caps, size_t x, uint64_t k,
                      uint64_t p, uint64_t q)
{
    if (!caps || caps[x].n == 0)
        return 0;
    pl_bk_cap want = {k, 0, 0};
    const pl_bk_cap *h = bsearch(&want, caps[x].v, caps[x].n, sizeof want,
                                 cap_cmp);
    return h && (p > h->cut_p || q > h->cut_q);
}

/* Collective: every rank's `bytes` bytes at mine, concatenated in rank
 * order into *out (malloc'd, *out_bytes). Returns 0 or -1 on every rank. */
static int share_all(MPI_Comm comm, const void *mine, size_t bytes,
                     void **out, size_t *out_bytes)
{
    int size;
    MPI_Comm_size(comm, &size);
    int nb = (int)bytes, ok = bytes < INT32_MAX / 2;
    *out = NULL;
    *out_bytes = 0;
    if (!pl_all_ok(comm, ok)) {
        pl_err0("linkage: too many capped or split blocks in one rule");
        return -1;
    }
    int *rc = pl_xcalloc((size_t)size, sizeof *rc);
    int *rd = pl_xcalloc((size_t)size, sizeof *rd);
    PL_MPI_CHECK(MPI_Allgather(&nb, 1, MPI_INT, rc, 1, MPI_INT, comm));
    uint64_t t = 0;
    for (int i = 0; i < size; i++) {
        rd[i] = (int)t;
        t += (uint64_t)rc[i];
    }
    if (!pl_all_ok(comm, t < INT32_MAX)) {
        pl_err0("linkage: too many capped or split blocks in one rule");
        free(rc);
        free(rd);
        return -1;
    }
    *out = pl_xmalloc(t + 1);
    *out_bytes = t;
    PL_MPI_CHECK(MPI_Allgatherv(mine, nb, MPI_BYTE, *out, rc, rd, MPI_BYTE,
                                comm));
    free(rc);
    free(rd);
    return 0;
}

/* Collective: every rank's capped blocks of this rule, to every rank,
 * sorted by key. */
static int share_caps(MPI_Comm comm, pl_bk_cap *mine, size_t n,
                      pl_bk_caps *out)
{
    void *v;
    size_t t;
    if (share_all(comm, mine, n * sizeof *mine, &v, &t) != 0)
        return -1;
    out->v = v;
    out->n = t / sizeof *mine;
    qsort(out->v, out->n, sizeof *out->v, cap_cmp);
    return 0;
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Count items of the split pass: a (sub-)block key and a side. */
typedef struct {
    uint8_t key[8];             /* big-endian (pl_owner_of) */
    uint8_t side, pad[7];
} cnt_item;

static struct {
    cnt_item *v;
    size_t    n, cap;
} C;

static int gather_cnt(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    (void)reply;
    (void)ctx;
    if (n == 0)
        return 0;
    if (C.n + n > C.cap) {
        size_t c = C.cap ? C.cap : 1 << 16;
        while (c < C.n + n)
            c *= 2;
        C.v = pl_xrealloc(C.v, c * sizeof *C.v);
        C.cap = c;
    }
    memcpy(C.v + C.n, recv, n * sizeof *C.v);
    C.n += n;
    return 0;
}

/* Collective (the split, docs/LINKAGE.md): this round's n records are
 * ix[0..n) (indices into P then Q: side 1 from np on), lk[j] the block key
 * of record ix[j]; on return, its leaf key. tot: the round's records on
 * every rank.
 * Level by level: a count sketch summed over ranks leaves out the records
 * of blocks that surely fit; the others' (key, side) pairs travel to the
 * key's owner, which counts the block's sides exactly: a block above
 * max_block on a side is split by the rule's next split key (its key
 * added to caps->split, the same on every rank), so no rank holds a huge
 * block's records whole (16 bytes a record of it travel, not the record).
 * Fills st->split_blocks and adds the pairs of the split blocks to
 * st->capped_pairs (the leaves' own pairs are subtracted where they are
 * formed). Work in the round's records only, not in every record of the
 * rank. Returns 0 or -1 on every rank. */
static int split_round(MPI_Comm comm, const pl_linkage_cfg *c,
                       const pl_fs_layout *L, const pl_fs_dict *dict,
                       size_t rule,
                       const uint8_t *P, size_t np, const uint8_t *Q,
                       const uint32_t *ix, uint64_t *lk, size_t n,
                       uint64_t tot, uint64_t cap, pl_bk_caps *caps,
                       pl_bk_stats *st)
{
    const pl_lk_rule *r = &c->rules[rule];
    size_t rs = dict ? L->srs : L->rs;
    uint8_t *act = pl_xmalloc(n + 1);   /* still in a block being counted */
    for (size_t i = 0; i < n; i++)
        act[i] = lk[i] != 0;
    int ret = 0;
    /* a count sketch first (summed over ranks): a record whose cell holds
     * at most max_block records a side is in no block above it, and does
     * not travel; a level whose cells all fit ends the split at once */
    /* cells: about 8 of the round's records (tot, all ranks) a cell, so
     * that a cell above max_block a side is most often a block above it */
    unsigned bits = 16;
    while (bits < 20 && (1ull << bits) * 8 < tot)
        bits++;
    const size_t CELLS = (size_t)1 << bits;
    const unsigned SH = 64 - bits;
    uint32_t *sk = pl_xmalloc(2 * CELLS * sizeof *sk);
    for (size_t lev = 0; lev < r->n_split; lev++) {
        memset(sk, 0, 2 * CELLS * sizeof *sk);
        for (size_t i = 0; i < n; i++)
            if (act[i])
                sk[(ix[i] >= np) * CELLS + (lk[i] * 0x9e3779b97f4a7c15ull >> SH)]++;
        PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sk, (int)(2 * CELLS), MPI_UINT32_T,
                                   MPI_SUM, comm));
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (act[i]) {
                size_t cell = lk[i] * 0x9e3779b97f4a7c15ull >> SH;
                act[i] = sk[cell] > c->max_block ||
                         sk[CELLS + cell] > c->max_block;
                m += act[i];
            }
        uint64_t any = m;
        PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_UINT64_T,
                                   MPI_MAX, comm));
        if (!any)
            break;              /* every block fits: the same on every rank */
        cnt_item *items = pl_xcalloc(m + 1, sizeof *items);
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (act[i]) {
                pl_put_be64(items[m].key, lk[i]);
                items[m++].side = ix[i] >= np;
            }
        C.n = 0;
        int rc = pl_route_owned(comm, (const uint8_t *)items, m,
                                sizeof *items, cap, gather_cnt, NULL, 0,
                                NULL, NULL, NULL);
        free(items);
        if (rc != 0) {
            ret = -1;
            break;
        }
        /* the owner's counts: blocks above max_block on a side */
        B.e = grow(B.e, &B.e_cap, &B.e_hi, (C.n + 1) * sizeof *B.e);
        B.tmp = grow(B.tmp, &B.tmp_cap, &B.tmp_hi,
                     (C.n + 1) * sizeof *B.e);
        for (size_t i = 0; i < C.n; i++) {
            B.e[i].key = pl_get_be64(C.v[i].key);
            B.e[i].side = C.v[i].side;
            B.e[i].id = 0;
            B.e[i].at = 0;
        }
        sort_keys(B.e, B.tmp, C.n);
        uint64_t *big = NULL;
        size_t nbig = 0, bigcap = 0;
        for (size_t b = 0; b < C.n;) {
            size_t e0 = b;
            uint64_t side[2] = {0, 0};
            while (e0 < C.n && B.e[e0].key == B.e[b].key)
                side[B.e[e0++].side != 0]++;
            if (side[0] > c->max_block || side[1] > c->max_block) {
                if (nbig == bigcap) {
                    bigcap = bigcap ? 2 * bigcap : 64;
                    big = pl_xrealloc(big, bigcap * sizeof *big);
                }
                big[nbig++] = B.e[b].key;
                if (lev == 0) {
                    st->split_blocks++;
                    st->capped_pairs += side[0] * side[1];
                }
            }
            b = e0;
        }
        void *all;
        size_t ab;
        rc = share_all(comm, big, nbig * sizeof *big, &all, &ab);
        free(big);
        if (rc != 0) {
            ret = -1;
            break;
        }
        size_t na = ab / sizeof(uint64_t);
        uint64_t *ov = all;
        if (na == 0) {
            free(all);
            break;              /* every block fits: the same on every rank */
        }
        qsort(ov, na, sizeof *ov, u64_cmp);
        for (size_t i = 0; i < n; i++)
            if (act[i]) {
                if (has_key(ov, na, lk[i]))
                    lk[i] = sub_key(c, L, dict, r, lev, lk[i],
                                    ix[i] < np ? P + (size_t)ix[i] * rs
                                             : Q + (size_t)(ix[i] - np) * rs);
                else
                    act[i] = 0; /* at its leaf */
            }
        /* the split blocks of the rule, for later rules' dedup: merged */
        pl_bk_caps *x = &caps[rule];
        x->split = pl_xrealloc(x->split, (x->n_split + na) * sizeof *ov);
        memcpy(x->split + x->n_split, ov, na * sizeof *ov);
        x->n_split += na;
        qsort(x->split, x->n_split, sizeof *ov, u64_cmp);
        free(all);
    }
    free(act);
    free(sk);
    return ret;
}

static void add_cap(pl_bk_cap **v, size_t *n, size_t *cap, uint64_t key,
                    uint64_t cut_p, uint64_t cut_q)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = pl_xrealloc(*v, *cap * sizeof **v);
    }
    pl_bk_cap *k = &(*v)[(*n)++];
    k->key = key;
    k->cut_p = cut_p;
    k->cut_q = cut_q;
}

/* The pair (i, j) of received records shares the key of an earlier rule
 * (and was within that rule's cap). */
static int seen_before(const pl_bk_params *bp, const ent *a, const ent *b,
                       const uint64_t *pk, size_t nprior)
{
    const uint64_t *ka = pk + (size_t)a->at * nprior,
                   *kb = pk + (size_t)b->at * nprior;
    for (size_t x = 0; x < nprior; x++)
        if (ka[x] && ka[x] == kb[x] &&
            !beyond_cap(bp->caps, x, ka[x], a->id, b->id))
            return 1;
    return 0;
}

/* bp->self: the block e[b, e0) (one side, sorted by row) paired with
 * itself. Returns 1, or 0 when fn failed. */
static int self_block(const pl_linkage_cfg *c, const pl_bk_params *bp,
                      const ent *e, uint64_t b, uint64_t e0,
                      const uint8_t *recv, size_t rs, const uint64_t *pk,
                      size_t nprior, pl_bk_pair_fn fn, void *ctx,
                      pl_bk_stats *st, pl_bk_cap **mycaps, size_t *n_caps,
                      size_t *caps_cap)
{
    uint64_t n = e0 - b, cn = n;
    if (n > st->max_block)
        st->max_block = n;
    if (cn > c->max_block) {
        cn = c->max_block;
        st->capped_blocks++;
        st->capped_pairs += n * (n - 1) / 2 - cn * (cn - 1) / 2;
        if (bp->caps && bp->dedup)
            add_cap(mycaps, n_caps, caps_cap, e[b].key, e[b + cn - 1].id,
                    e[b + cn - 1].id);
    }
    for (uint64_t i = b; i < b + cn; i++)
        for (uint64_t j = i + 1; j < b + cn; j++) {
            if (e[i].id == e[j].id)
                continue;       /* never a record with itself */
            if (nprior && seen_before(bp, &e[i], &e[j], pk, nprior)) {
                st->dups++;
                continue;
            }
            st->pairs++;
            if (fn(recv + (size_t)e[i].at * rs, recv + (size_t)e[j].at * rs,
                   ctx) != 0)
                return 0;
        }
    return 1;
}

/* The records of a block are scattered in the received buffer (arrival
 * order): their first touch in the pair loop was a cache miss per record,
 * and the loop stalled on it. Most blocks are a few records, many of one
 * side only (nothing to pair, nothing to read), so one block ahead covered
 * too little: the blocks that will be paired are asked for until PF_AHEAD
 * entries past the current block (at most 64 records a block: a capped
 * block compares fewer). *pf: the next entry not yet looked at. */
#define PF_AHEAD 48
#define PACK_AHEAD 16    /* records (pl_bk_run's send loop) */
#define PACK_CHUNK 64    /* records packed, then their names (send loop) */
#define KEY_AHEAD 8      /* records (pl_bk_run's key loop) */
static void prefetch_ahead(const ent *e, uint64_t *pf, uint64_t upto,
                           uint64_t nr, int self, const uint8_t *recv,
                           size_t rs, const uint64_t *pk, size_t nprior)
{
    uint64_t i = *pf;
    if (upto > nr)
        upto = nr;
    while (i < upto) {
        uint64_t e0 = i + 1;
        while (e0 < nr && e[e0].key == e[i].key)
            e0++;
        /* sorted persons first: a pair needs both sides (self: 2) */
        int pairs = self ? e0 - i > 1 : e[i].side == 0 && e[e0 - 1].side != 0;
        for (uint64_t j = i; pairs && j < e0 && j < i + 64; j++) {
            const uint8_t *p = recv + (size_t)e[j].at * rs;
            for (size_t o = 0; o < rs; o += 64)
                __builtin_prefetch(p + o);
            if (nprior)         /* and their earlier rules' keys */
                __builtin_prefetch(pk + (size_t)e[j].at * nprior);
        }
        i = e0;
    }
    if (i > *pf)
        *pf = i;
}

void pl_bk_release(void)
{
    if (B.send)
        pl_wipe(B.send, B.send_hi);
    if (B.recv)
        pl_wipe(B.recv, B.recv_hi);
    /* and the keys: hashes of names */
    if (B.keys)
        pl_wipe(B.keys, B.keys_hi);
    if (B.lk)
        pl_wipe(B.lk, B.lk_hi);
    if (B.pk)
        pl_wipe(B.pk, B.pk_hi);
    if (B.e)                    /* block keys and rows */
        pl_wipe(B.e, B.e_hi);
    if (B.tmp)
        pl_wipe(B.tmp, B.tmp_hi);
    /* wiped: back to the cache, for the decisions' buffers (base/mem.h) */
    pl_free_huge(B.send, B.send_cap);
    pl_free_huge(B.recv, B.recv_cap);
    pl_free_huge(B.e, B.e_cap);
    pl_free_huge(B.tmp, B.tmp_cap);
    pl_free_huge(B.keys, B.keys_cap);
    pl_free_huge(B.pk, B.pk_cap);
    pl_free_huge(B.lk, B.lk_cap);
    pl_free_huge(B.ix, B.ix_cap);
    free(C.v);
    memset(&C, 0, sizeof C);
    memset(&B, 0, sizeof B);
}

int pl_bk_run(MPI_Comm comm, const pl_linkage_cfg *c, const pl_bk_params *bp,
              const uint8_t *P, size_t np, const uint8_t *Q, size_t nq,
              pl_bk_pair_fn fn, void *ctx, pl_bk_stats *st)
{
    /* rs: a routed record; ss: one of P and Q (stored, or the same) */
    pl_fs_layout L;
    pl_fs_layout_of(c, &L);
    size_t rs = L.rs, ss = bp->dict ? L.srs : rs;
    uint64_t rounds = bp->rounds ? bp->rounds : 1;
    B.keys = grow(B.keys, &B.keys_cap, &B.keys_hi,
                  (np + nq + 1) * sizeof *B.keys);
    uint64_t *keys = B.keys;
    /* a rule's names are the dictionaries' values: random reads, asked
     * for KEY_AHEAD records ahead (the records themselves stream) */
    int names = 0;              /* a rule item reading a dictionary value */
    for (size_t t = 0; bp->dict && bp->rule >= 0 &&
                       t < c->rules[bp->rule].n_items; t++) {
        const pl_lk_item *it = &c->rules[bp->rule].items[t];
        names |= c->fields[it->field].kind == PL_CMP_NAME &&
                 it->xform != PL_BK_PHONETIC;
    }
    for (size_t i = 0; i < np + nq; i++) {
        if (names && i + KEY_AHEAD < np + nq) {
            size_t a = i + KEY_AHEAD;
            pl_fs_prefetch_names(&L, bp->dict,
                                 a < np ? P + a * ss : Q + (a - np) * ss);
        }
        keys[i] = route_key(c, &L, bp,
                            i < np ? P + i * ss : Q + (i - np) * ss);
    }
    size_t nprior = bp->rule > 0 && bp->dedup ? (size_t)bp->rule : 0;
    /* the earlier rules' leaf keys travel with the record (bp->leaf) */
    size_t ls = bp->leaf_rules;
    int carry = bp->leaf && bp->dedup && nprior > 0 && nprior <= ls;
    int keep = bp->leaf && bp->dedup && bp->rule >= 0 &&
               (size_t)bp->rule < ls;
    size_t rs2 = rs + (carry ? 8 * nprior : 0);
    if (keep)
        for (size_t i = 0; i < np + nq; i++)
            bp->leaf[i * ls + (size_t)bp->rule] = 0;
    const pl_lk_rule *rule = bp->rule >= 0 ? &c->rules[bp->rule] : NULL;
    int split = bp->split && !bp->self && bp->caps && bp->dedup && rule &&
                rule->n_split > 0;
    if (split) {
        pl_bk_caps *x = &bp->caps[bp->rule];
        free(x->split);
        x->split = NULL;
        x->n_split = 0;
    }
    /* a round's routing keys (the leaves when split), by its records */
    B.lk = grow(B.lk, &B.lk_cap, &B.lk_hi, (np + nq + 1) * sizeof *B.lk);
    uint64_t *lk = B.lk;
    int ok = 1;
    pl_bk_cap *mycaps = NULL;   /* this rank's capped blocks (bp->caps) */
    size_t n_caps = 0, caps_cap = 0;
    /* the records of each round, in index order (a counting sort by
     * round): a round's work is its own records', not every record's */
    if (np + nq > UINT32_MAX) {
        pl_err("linkage: more than 2^32 records on this rank");
        ok = 0;
    }
    if (!pl_all_ok(comm, ok))
        return -1;
    int size;
    MPI_Comm_size(comm, &size);
    uint64_t *dcount = pl_xcalloc((size_t)size, sizeof *dcount),
             *dpos = pl_xcalloc((size_t)size, sizeof *dpos);
    uint64_t *roff = pl_xcalloc(rounds + 1, sizeof *roff);
    for (size_t i = 0; i < np + nq; i++)
        if (keys[i])
            roff[(keys[i] >> 40) % rounds + 1]++;
    for (uint64_t s = 0; s < rounds; s++)
        roff[s + 1] += roff[s];
    /* each round's records over every rank (the split's sketch size):
     * one reduction for all rounds */
    uint64_t *rtot = pl_xcalloc(rounds + 1, sizeof *rtot);
    if (split) {
        for (uint64_t s = 0; s < rounds; s++)
            rtot[s] = roff[s + 1] - roff[s];
        PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, rtot, (int)rounds,
                                   MPI_UINT64_T, MPI_SUM, comm));
    }
    B.ix = grow(B.ix, &B.ix_cap, &B.ix_hi,
                (roff[rounds] + 1) * sizeof *B.ix);
    {
        uint64_t *at = pl_xmalloc((rounds + 1) * sizeof *at);
        memcpy(at, roff, (rounds + 1) * sizeof *at);
        for (size_t i = 0; i < np + nq; i++)
            if (keys[i])
                B.ix[at[(keys[i] >> 40) % rounds]++] = (uint32_t)i;
        free(at);
    }
    for (uint64_t s = 0; s < rounds; s++) {
        const uint32_t *ix = B.ix + roff[s];
        size_t n = (size_t)(roff[s + 1] - roff[s]);
        for (size_t j = 0; j < n; j++)
            lk[j] = keys[ix[j]];
        if (split) {            /* a round is its records' block keys' */
            if (split_round(comm, c, &L, bp->dict, (size_t)bp->rule, P, np, Q,
                            ix, lk, n,
                            rtot[s], bp->cap, bp->caps, st) != 0) {
                ok = 0;         /* every rank */
                break;
            }
        }
        /* each record straight to its destination's part of the send
         * buffer (pl_route): one copy, no grouped copy to make and wipe */
        B.send = grow(B.send, &B.send_cap, &B.send_hi, n * rs2 + 1);
        uint8_t *send = B.send;
        memset(dcount, 0, (size_t)size * sizeof *dcount);
        for (size_t j = 0; j < n; j++) {
            uint8_t kb[8];
            pl_put_be64(kb, lk[j]);
            dcount[pl_owner_of(kb, size)]++;
        }
        dpos[0] = 0;
        for (int d = 1; d < size; d++)
            dpos[d] = dpos[d - 1] + dcount[d - 1];
        /* PACK_CHUNK records at a time: their headers and plain values
         * first, then their names (pl_fs_expand_names): the names' values
         * are random reads in the dictionaries, independent of each other
         * in a loop of their own, so that many are in flight at once
         * (interleaved with the records' stores, each stalled the loop) */
        for (size_t j0 = 0; j0 < n; j0 += PACK_CHUNK) {
            size_t m = n - j0 < PACK_CHUNK ? n - j0 : PACK_CHUNK;
            uint8_t *dst[PACK_CHUNK];
            const uint8_t *from[PACK_CHUNK];
            for (size_t k = 0; k < m; k++) {
                size_t j = j0 + k;
                uint8_t kb[8];
                pl_put_be64(kb, lk[j]);
                uint8_t *d = send + dpos[pl_owner_of(kb, size)]++ * rs2;
                size_t i = ix[j];
                if (j + PACK_AHEAD < n) {   /* a round's records are every
                                             * rounds-th: not streamed */
                    size_t a = ix[j + PACK_AHEAD];
                    const uint8_t *pa = a < np ? P + a * ss
                                               : Q + (a - np) * ss;
                    for (size_t o = 0; o < ss; o += 64)
                        __builtin_prefetch(pa + o);
                }
                const uint8_t *src = i < np ? P + i * ss : Q + (i - np) * ss;
                if (bp->dict)
                    pl_fs_expand_plain(&L, src, d);
                else
                    memcpy(d, src, rs);
                memcpy(d, kb, 8);
                d[offsetof(pl_fs_hdr, leaf)] = lk[j] != keys[i];
                if (carry)
                    memcpy(d + rs, bp->leaf + i * ls, 8 * nprior);
                if (keep)
                    bp->leaf[i * ls + (size_t)bp->rule] = lk[j];
                dst[k] = d;
                from[k] = src;
            }
            if (bp->dict)       /* the names from their dictionaries */
                for (size_t k = 0; k < m; k++)
                    pl_fs_expand_names(&L, bp->dict, from[k], dst[k]);
        }
        B.rs = rs2;
        B.recv_n = 0;
        int rc = pl_route_into(comm, send, dcount, rs2, bp->cap, gather_at,
                               gather, NULL, NULL);
        if (rc != 0) {
            ok = 0;             /* every rank */
            break;
        }
        uint64_t nr = B.recv_n;
        const uint8_t *recv = B.recv;
        if (nr > UINT32_MAX) {
            pl_err("linkage: more than 2^32 records in one blocking round "
                   "on this rank");
            ok = 0;
            nr = 0;
        }
        B.e = grow(B.e, &B.e_cap, &B.e_hi, (nr + 1) * sizeof *B.e);
        B.tmp = grow(B.tmp, &B.tmp_cap, &B.tmp_hi,
                     (nr + 1) * sizeof *B.e);
        ent *e = B.e;
        for (uint64_t i = 0; i < nr; i++) {
            const pl_fs_hdr *h = (const pl_fs_hdr *)(recv + i * rs2);
            e[i].key = pl_get_be64(h->key);
            e[i].id = h->id;
            e[i].side = h->side;
            e[i].leaf = h->leaf;
            e[i].at = (uint32_t)i;
        }
        sort_keys(e, B.tmp, nr);
        /* earlier rules' keys of every received record, for dedup */
        uint64_t *pk = NULL;
        if (nprior) {
            B.pk = grow(B.pk, &B.pk_cap, &B.pk_hi,
                        (nr * nprior + 1) * sizeof *B.pk);
            pk = B.pk;
            if (carry)          /* sent with the record */
                for (uint64_t i = 0; i < nr; i++)
                    memcpy(pk + i * nprior, recv + i * rs2 + rs,
                           8 * nprior);
            else
                for (uint64_t i = 0; i < nr; i++)
                    for (size_t j = 0; j < nprior; j++)  /* leaf keys */
                        pk[i * nprior + j] = pl_bk_leaf(
                            c, j, bp->caps,
                            pl_bk_key(c, &c->rules[j], recv + i * rs2),
                            recv + i * rs2);
        }
        uint64_t pf = 0;        /* prefetch_ahead's cursor */
        for (uint64_t b = 0; b < nr && ok;) {
            uint64_t e0 = b;
            while (e0 < nr && e[e0].key == e[b].key)
                e0++;
            prefetch_ahead(e, &pf, e0 + PF_AHEAD, nr, bp->self, recv, rs2,
                           pk, nprior);
            if (e0 - b > 32)    /* persons first, then by row */
                qsort(e + b, e0 - b, sizeof *e, ent_cmp);
            else
                for (uint64_t i = b + 1; i < e0; i++) {
                    ent t = e[i];
                    uint64_t j = i;
                    while (j > b && ent_cmp(&e[j - 1], &t) > 0) {
                        e[j] = e[j - 1];
                        j--;
                    }
                    e[j] = t;
                }
            uint64_t mid = b;
            while (mid < e0 && e[mid].side == 0)
                mid++;
            if (bp->self) {
                ok = self_block(c, bp, e, b, e0, recv, rs2, pk, nprior, fn,
                                ctx, st, &mycaps, &n_caps, &caps_cap);
                b = e0;
                continue;
            }
            uint64_t npb = mid - b, nqb = e0 - mid;
            uint64_t big = npb > nqb ? npb : nqb;
            if (big > st->max_block)
                st->max_block = big;
            uint64_t cp = npb, cq = nqb;
            /* a sub-block of a split block: its pairs were counted as
             * not compared with the whole block's (split_round) */
            if (split && e[b].leaf)
                st->capped_pairs -= npb * nqb;
            if (cp > c->max_block || cq > c->max_block) {
                if (cp > c->max_block)
                    cp = c->max_block;
                if (cq > c->max_block)
                    cq = c->max_block;
                st->capped_blocks++;
                st->capped_pairs += npb * nqb - cp * cq;
                if (bp->caps && bp->dedup && npb * nqb > cp * cq) {
                    if (n_caps == caps_cap) {
                        caps_cap = caps_cap ? 2 * caps_cap : 64;
                        mycaps = pl_xrealloc(mycaps,
                                             caps_cap * sizeof *mycaps);
                    }
                    pl_bk_cap *k = &mycaps[n_caps++];
                    k->key = e[b].key;
                    k->cut_p = cp < npb ? e[b + cp - 1].id : UINT64_MAX;
                    k->cut_q = cq < nqb ? e[mid + cq - 1].id : UINT64_MAX;
                }
            }
            for (uint64_t i = b; i < b + cp && ok; i++) {
                const uint8_t *pr = recv + (size_t)e[i].at * rs2;
                for (uint64_t j = mid; j < mid + cq; j++) {
                    if (nprior) {
                        const uint64_t *ka = pk + (size_t)e[i].at * nprior,
                                       *kb = pk + (size_t)e[j].at * nprior;
                        size_t x = 0;
                        while (x < nprior &&
                               !(ka[x] && ka[x] == kb[x] &&
                                 !beyond_cap(bp->caps, x, ka[x], e[i].id,
                                             e[j].id)))
                            x++;
                        if (x < nprior) {
                            st->dups++;
                            continue;
                        }
                    }
                    st->pairs++;
                    if (fn(pr, recv + (size_t)e[j].at * rs2, ctx) != 0) {
                        ok = 0;
                        break;
                    }
                }
            }
            b = e0;
        }
        if (!pl_all_ok(comm, ok)) {
            ok = 0;
            break;
        }
    }
    free(roff);
    free(rtot);
    free(dcount);
    free(dpos);
    if (ok && bp->caps && bp->dedup && bp->rule >= 0) {
        pl_bk_caps *mine = &bp->caps[bp->rule];
        free(mine->v);
        mine->v = NULL;
        mine->n = 0;
        ok = share_caps(comm, mycaps, n_caps, mine) == 0;
    }
    free(mycaps);
    return ok ? 0 : -1;
}

uint64_t *pl_bk_leaf_alloc(size_t n, size_t k)
{
    return k ? pl_xmalloc_huge(n * k * sizeof(uint64_t) + 8) : NULL;
}

void pl_bk_leaf_free(uint64_t *leaf, size_t n, size_t k)
{
    if (leaf)
        pl_wipe(leaf, n * k * sizeof *leaf);
    pl_free_huge(leaf, n * k * sizeof *leaf + 8);
}

void pl_bk_caps_free(pl_bk_caps *caps, size_t n_rules)
{
    for (size_t i = 0; caps && i < n_rules; i++) {
        free(caps[i].v);
        caps[i].v = NULL;
        caps[i].n = 0;
        free(caps[i].split);
        caps[i].split = NULL;
        caps[i].n_split = 0;
    }
}
