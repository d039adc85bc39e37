/* blocking.c — see blocking.h. */
#include "stage/blocking.h"

#include "base/mem.h"
#include "base/strsim.h"
#include "par/exchange.h"
#include "par/mpi.h"

#include <stdlib.h>
#include <string.h>

uint64_t pl_bk_key(const pl_linkage_cfg *c, const pl_lk_rule *r,
                   const uint8_t *rec)
{
    const pl_fs_hdr *h = (const pl_fs_hdr *)rec;
    const pl_fs_val *v = pl_fs_vals(rec);
    uint64_t k = 0x51ed270b27a1c0ffull;
    for (size_t i = 0; i < r->n_items; i++) {
        size_t f = r->items[i].field;
        if (h->missing >> f & 1)
            return 0;
        char buf[sizeof(pl_fs_val) + 8];
        size_t n = 0;
        const pl_fs_val *x = &v[f];
        switch (r->items[i].xform) {
        case PL_BK_VALUE:
            if (c->fields[f].kind == PL_CMP_NAME) {
                n = strnlen(x->str.s, PL_FS_STR);
                memcpy(buf, x->str.s, n);
            } else {
                memcpy(buf, x, sizeof *x);  /* tf, ph: 0 outside names */
                n = sizeof *x;
            }
            break;
        case PL_BK_PHONETIC:
            if (x->str.ph == 0)
                return 0;
            memcpy(buf, &x->str.ph, 4);
            n = 4;
            break;
        case PL_BK_YEAR: {
            int64_t y = x->i / 10000;
            memcpy(buf, &y, 8);
            n = 8;
            break;
        }
        case PL_BK_YEARMONTH: {
            int64_t y = x->i / 100;
            memcpy(buf, &y, 8);
            n = 8;
            break;
        }
        case PL_BK_INITIAL:
            buf[0] = x->str.s[0];
            n = 1;
            break;
        }
        buf[n++] = (char)(0x80 | i);
        k = pl_hash64(buf, n, k);
    }
    return k ? k : 1;
}

static void put_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The key of a record under the run's parameters, 0 = not routed. */
static uint64_t route_key(const pl_linkage_cfg *c, const pl_bk_params *bp,
                          const uint8_t *rec)
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
    uint64_t k = pl_bk_key(c, &c->rules[bp->rule], rec);
    if (k && bp->sample_mod > 1 && (k >> 7) % bp->sample_mod != 0)
        return 0;
    return k;
}

typedef struct {
    uint64_t key, id;
    uint8_t  side;
    size_t   at;                /* record index in the received buffer */
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

int pl_bk_run(MPI_Comm comm, const pl_linkage_cfg *c, const pl_bk_params *bp,
              const uint8_t *P, size_t np, const uint8_t *Q, size_t nq,
              pl_bk_pair_fn fn, void *ctx, pl_bk_stats *st)
{
    size_t rs = pl_fs_recsize(c);
    uint64_t rounds = bp->rounds ? bp->rounds : 1;
    uint64_t *keys = pl_xmalloc((np + nq + 1) * sizeof *keys);
    for (size_t i = 0; i < np + nq; i++)
        keys[i] = route_key(c, bp, i < np ? P + i * rs : Q + (i - np) * rs);
    size_t nprior = bp->rule > 0 && bp->dedup ? (size_t)bp->rule : 0;
    int ok = 1;
    for (uint64_t s = 0; s < rounds; s++) {
        size_t n = 0;
        for (size_t i = 0; i < np + nq; i++)
            n += keys[i] && (keys[i] >> 40) % rounds == s;
        uint8_t *send = pl_xmalloc_huge(n * rs + 1);
        size_t k = 0;
        for (size_t i = 0; i < np + nq; i++)
            if (keys[i] && (keys[i] >> 40) % rounds == s) {
                uint8_t *d = send + k++ * rs;
                memcpy(d, i < np ? P + i * rs : Q + (i - np) * rs, rs);
                put_be(d, keys[i]);
            }
        uint8_t *recv = NULL;
        uint64_t nr = 0;
        int rc = pl_route_gather(comm, send, n, rs, bp->cap, &recv, &nr,
                                 NULL);
        pl_wipe(send, n * rs);
        free(send);
        if (rc != 0) {
            free(keys);
            return -1;          /* every rank */
        }
        ent *e = pl_xmalloc_huge((nr + 1) * sizeof *e);
        for (uint64_t i = 0; i < nr; i++) {
            const pl_fs_hdr *h = (const pl_fs_hdr *)(recv + i * rs);
            e[i].key = get_be(h->key);
            e[i].id = h->id;
            e[i].side = h->side;
            e[i].at = i;
        }
        qsort(e, nr, sizeof *e, ent_cmp);
        /* earlier rules' keys of every received record, for dedup */
        uint64_t *pk = NULL;
        if (nprior) {
            pk = pl_xmalloc_huge((nr * nprior + 1) * sizeof *pk);
            for (uint64_t i = 0; i < nr; i++)
                for (size_t j = 0; j < nprior; j++)
                    pk[i * nprior + j] =
                        pl_bk_key(c, &c->rules[j], recv + i * rs);
        }
        for (uint64_t b = 0; b < nr && ok;) {
            uint64_t e0 = b;
            while (e0 < nr && e0 - b < (uint64_t)-1 && e[e0].key == e[b].key)
                e0++;
            uint64_t mid = b;
            while (mid < e0 && e[mid].side == 0)
                mid++;
            uint64_t npb = mid - b, nqb = e0 - mid;
            uint64_t big = npb > nqb ? npb : nqb;
            if (big > st->max_block)
                st->max_block = big;
            uint64_t cp = npb, cq = nqb;
            if (cp > c->max_block || cq > c->max_block) {
                if (cp > c->max_block)
                    cp = c->max_block;
                if (cq > c->max_block)
                    cq = c->max_block;
                st->capped_blocks++;
                st->capped_pairs += npb * nqb - cp * cq;
            }
            for (uint64_t i = b; i < b + cp && ok; i++) {
                const uint8_t *pr = recv + e[i].at * rs;
                for (uint64_t j = mid; j < mid + cq; j++) {
                    if (nprior) {
                        const uint64_t *ka = pk + e[i].at * nprior,
                                       *kb = pk + e[j].at * nprior;
                        size_t x = 0;
                        while (x < nprior && !(ka[x] && ka[x] == kb[x]))
                            x++;
                        if (x < nprior) {
                            st->dups++;
                            continue;
                        }
                    }
                    st->pairs++;
                    if (fn(pr, recv + e[j].at * rs, ctx) != 0) {
                        ok = 0;
                        break;
                    }
                }
            }
            b = e0;
        }
        free(pk);
        free(e);
        pl_wipe(recv, nr * rs);
        free(recv);
        if (!pl_all_ok(comm, ok)) {
            ok = 0;
            break;
        }
    }
    free(keys);
    return ok ? 0 : -1;
}
