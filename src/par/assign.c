/* assign.c — see assign.h.
 *
 * Each rank holds two sides: its left vertices (the caller's edges) and
 * the right vertices it owns (a copy of their edges, routed here). On each
 * side the edges are sorted by (vertex, weight descending, other id, then
 * a last key making copies of one edge distinct) and a vertex is a run of
 * them, best first. Per edge: DEAD (the other endpoint is matched to
 * someone else), PT (the other endpoint points at this edge). Per vertex:
 * ptr (its best live edge, NONE before the first round), mate.
 *
 * A vertex whose state changed (touched) is looked at after each round:
 * its pointer moves past dead edges; when the edge it points at is PT, both
 * endpoints point at it: it is matched (MATCHED to the other copy, GONE to
 * the other live edges); else a moved pointer sends POINT. A vertex that
 * receives MATCHED must be pointing at that edge (the other endpoint saw
 * its POINT and it can only have moved on if that endpoint was gone):
 * anything else is reported as an inconsistency, never ignored.
 */
#include "par/assign.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/sort.h"
#include "par/exchange.h"
#include "par/mpi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)
#define F_DEAD 1
#define F_PT 2
enum { M_POINT = 1, M_GONE = 2, M_MATCHED = 3 };
#define IDX_MASK ((1ull << 61) - 1)

typedef struct {
    uint64_t v, o;              /* this side's vertex, the other endpoint */
    double   w;
    uint64_t peer;              /* index of the other copy at its rank */
    uint64_t k;                 /* left: input index; right: arrival */
    uint64_t rank;              /* rank of the other copy */
} sedge;

typedef struct {
    int      right;
    sedge   *e;
    size_t   ne, cap;
    uint8_t *fl;
    size_t  *ev;                /* vertex of each edge */
    size_t  *vs;                /* nv + 1 run starts */
    size_t   nv;
    size_t  *ptr, *mate;
    uint8_t *nm, *in;           /* matched by a message; in touched */
    size_t  *touched;
    size_t   nt;
    size_t  *perm;              /* right: arrival index -> sorted index */
} side_t;

typedef struct {
    side_t    s[2];             /* 0: left, 1: right */
    int       size;
    /* outbox of this round */
    uint64_t *msg;
    int      *dest;
    size_t    nmsg, capmsg;
    uint64_t  sent;
    int       served, bad;
} as_ctx;

static int sedge_cmp(const void *x, const void *y)
{
    const sedge *a = x, *b = y;
    if (a->v != b->v)
        return a->v < b->v ? -1 : 1;
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    if (a->o != b->o)
        return a->o < b->o ? -1 : 1;
    return 0;
}

/* Last keys: left, the input order; right, the left copy's rank and
 * sorted position, which order copies of one edge as the left side does. */
static int left_cmp(const void *x, const void *y)
{
    int c = sedge_cmp(x, y);
    if (c)
        return c;
    const sedge *a = x, *b = y;
    return a->k < b->k ? -1 : a->k > b->k;
}

static int right_cmp(const void *x, const void *y)
{
    int c = sedge_cmp(x, y);
    if (c)
        return c;
    const sedge *a = x, *b = y;
    if (a->rank != b->rank)     /* copies of one edge come from one rank */
        return a->rank < b->rank ? -1 : 1;
    return a->peer < b->peer ? -1 : a->peer > b->peer;
}

static uint64_t sedge_v(const void *x)
{
    return ((const sedge *)x)->v;
}

static void side_index(side_t *s)
{
    size_t n = s->ne;
    s->fl = pl_xcalloc(n + 1, 1);
    s->ev = pl_xmalloc_huge((n + 1) * sizeof *s->ev);
    size_t nv = 0;
    for (size_t j = 0; j < n; j++)
        if (j == 0 || s->e[j].v != s->e[j - 1].v)
            nv++;
    s->nv = nv;
    s->vs = pl_xmalloc((nv + 1) * sizeof *s->vs);
    size_t v = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == 0 || s->e[j].v != s->e[j - 1].v)
            s->vs[v++] = j;
        s->ev[j] = v - 1;
    }
    s->vs[nv] = n;
    s->ptr = pl_xmalloc_huge((nv + 1) * sizeof *s->ptr);
    s->mate = pl_xmalloc_huge((nv + 1) * sizeof *s->mate);
    s->nm = pl_xcalloc(nv + 1, 1);
    s->in = pl_xcalloc(nv + 1, 1);
    s->touched = pl_xmalloc_huge((nv + 1) * sizeof *s->touched);
    for (size_t i = 0; i < nv; i++) {
        s->ptr[i] = s->mate[i] = NONE;
        s->touched[i] = i;      /* every vertex points in the first round */
        s->in[i] = 1;
    }
    s->nt = nv;
}

/* The large arrays back to the cache (base/mem.h: the next stage's
 * buffers, or the other side's); the right side's edges were grown by
 * realloc, an ordinary block. */
static void side_free(side_t *s)
{
    size_t n = s->ne + 1, v = s->nv + 1;
    if (s->right)
        free(s->e);
    else
        pl_free_huge(s->e, (s->cap + 1) * sizeof *s->e);
    free(s->fl);
    pl_free_huge(s->ev, n * sizeof *s->ev);     /* NULL: ignored */
    free(s->vs);
    pl_free_huge(s->ptr, v * sizeof *s->ptr);
    pl_free_huge(s->mate, v * sizeof *s->mate);
    free(s->nm);
    free(s->in);
    pl_free_huge(s->touched, v * sizeof *s->touched);
    pl_free_huge(s->perm, n * sizeof *s->perm);
}

static void emit(as_ctx *x, const side_t *s, size_t j, uint64_t type)
{
    if (x->nmsg == x->capmsg) {
        x->capmsg = x->capmsg ? 2 * x->capmsg : 4096;
        x->msg = pl_xrealloc(x->msg, x->capmsg * sizeof *x->msg);
        x->dest = pl_xrealloc(x->dest, x->capmsg * sizeof *x->dest);
    }
    /* to the other side: a left sender's message goes to a right copy */
    x->msg[x->nmsg] = type << 62 | (uint64_t)(s->right ? 0 : 1) << 61 |
                      (s->e[j].peer & IDX_MASK);
    x->dest[x->nmsg] = (int)s->e[j].rank;
    x->nmsg++;
}

static void gone_to_others(as_ctx *x, side_t *s, size_t v)
{
    for (size_t j = s->vs[v]; j < s->vs[v + 1]; j++)
        if (j != s->mate[v] && !(s->fl[j] & F_DEAD))
            emit(x, s, j, M_GONE);
}

static void process(as_ctx *x, side_t *s)
{
    for (size_t t = 0; t < s->nt; t++) {
        size_t v = s->touched[t];
        s->in[v] = 0;
        if (s->nm[v]) {         /* matched by the other endpoint */
            s->nm[v] = 0;
            gone_to_others(x, s, v);
            continue;
        }
        if (s->mate[v] != NONE)
            continue;
        size_t p = s->ptr[v] == NONE ? s->vs[v] : s->ptr[v];
        size_t end = s->vs[v + 1];
        while (p < end && (s->fl[p] & F_DEAD))
            p++;
        if (p == end) {
            s->ptr[v] = p;
            continue;
        }
        if (s->fl[p] & F_PT) {  /* both point at it */
            s->ptr[v] = s->mate[v] = p;
            emit(x, s, p, M_MATCHED);
            gone_to_others(x, s, v);
        } else if (p != s->ptr[v]) {
            s->ptr[v] = p;
            emit(x, s, p, M_POINT);
        }
    }
    s->nt = 0;
}

static int serve_msgs(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    (void)reply;
    as_ctx *x = ctx;
    x->served = 1;
    for (size_t i = 0; i < n && !x->bad; i++) {
        uint64_t m;
        memcpy(&m, recv + 8 * i, 8);
        uint64_t type = m >> 62, idx = m & IDX_MASK;
        side_t *s = &x->s[(m >> 61) & 1];
        size_t j = idx;
        if (s->right)
            j = idx < s->ne ? s->perm[idx] : NONE;
        if (j >= s->ne || type == 0) {
            x->bad = 1;
            break;
        }
        size_t v = s->ev[j];
        if (type == M_POINT)
            s->fl[j] |= F_PT;
        else if (type == M_GONE)
            s->fl[j] |= F_DEAD;
        else if (s->mate[v] == NONE && s->ptr[v] == j) {
            s->mate[v] = j;
            s->nm[v] = 1;
        } else if (s->mate[v] != j) {
            x->bad = 1;         /* matched elsewhere, or not pointing here */
            break;
        }
        if (!s->in[v]) {
            s->in[v] = 1;
            s->touched[s->nt++] = v;
        }
    }
    if (x->bad)
        pl_err("assign: inconsistent matching messages (an edge's left "
               "vertex on two ranks?)");
    return x->bad ? -1 : 0;
}

/* Right-side arrival: {key, l, r, w, lidx, lrank} -> reply arrival index */
#define RREC 48

static int serve_edges(const uint8_t *recv, size_t n, uint8_t *reply,
                       void *ctx)
{
    side_t *s = ctx;
    if (s->ne + n > s->cap) {
        s->cap = s->ne + n > 2 * s->cap ? s->ne + n : 2 * s->cap;
        s->e = pl_xrealloc(s->e, (s->cap + 1) * sizeof *s->e);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = recv + RREC * i;
        sedge *d = &s->e[s->ne];
        memcpy(&d->o, p + 8, 8);
        memcpy(&d->v, p + 16, 8);
        memcpy(&d->w, p + 24, 8);
        memcpy(&d->peer, p + 32, 8);
        memcpy(&d->rank, p + 40, 8);
        d->k = s->ne;
        uint64_t k = s->ne++;
        memcpy(reply + 8 * i, &k, 8);
    }
    return 0;
}

/* Owner of a right id: a mixed hash (splitmix64's finaliser), read as a
 * pl_owner_of key, so that right vertices spread evenly. */
static void right_key(uint64_t r, uint8_t *key)
{
    uint64_t z = r + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(z >> (56 - 8 * i));
}

int pl_assign(MPI_Comm comm, const pl_as_edge *e, size_t n,
              uint8_t *matched, pl_as_stats *stats)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        ok = !isnan(e[i].w);
    if (n > IDX_MASK)
        ok = 0;
    if (!ok)
        pl_err("assign: an edge weight is NaN (or too many edges: %zu)", n);
    if (!pl_all_ok(comm, ok))
        return -1;
    as_ctx x;
    memset(&x, 0, sizeof x);
    x.size = size;
    side_t *L = &x.s[0], *R = &x.s[1];
    R->right = 1;
    /* left side: this rank's edges, sorted */
    L->e = pl_xmalloc_huge((n + 1) * sizeof *L->e);
    L->ne = L->cap = n;
    for (size_t i = 0; i < n; i++) {
        L->e[i].v = e[i].l;
        L->e[i].o = e[i].r;
        L->e[i].w = e[i].w;
        L->e[i].k = i;
        L->e[i].peer = 0;
        L->e[i].rank = 0;
    }
    size_t in_order = 1;        /* the caller's edges often come sorted */
    while (in_order < n && left_cmp(&L->e[in_order - 1], &L->e[in_order]) < 0)
        in_order++;
    if (in_order < n)
        qsort(L->e, n, sizeof *L->e, left_cmp);
    /* a copy of each edge to its right vertex's owner */
    uint8_t *recs = pl_xmalloc_huge(n * RREC + 1);
    uint64_t *arrival = pl_xmalloc_huge(n * 8 + 8);
    uint64_t me = (uint64_t)rank;
    for (size_t j = 0; j < n; j++) {
        uint8_t *p = recs + RREC * j;
        right_key(L->e[j].o, p);
        memcpy(p + 8, &L->e[j].v, 8);
        memcpy(p + 16, &L->e[j].o, 8);
        memcpy(p + 24, &L->e[j].w, 8);
        uint64_t jj = j;
        memcpy(p + 32, &jj, 8);
        memcpy(p + 40, &me, 8);
    }
    int rc = pl_route_owned(comm, recs, n, RREC, 0, serve_edges, R, 8,
                            (uint8_t *)arrival, NULL, NULL);
    for (size_t j = 0; j < n && rc == 0; j++) {
        L->e[j].peer = arrival[j];
        L->e[j].rank = (uint64_t)pl_owner_of(recs + RREC * j, size);
    }
    pl_free_huge(recs, n * RREC + 1);
    pl_free_huge(arrival, n * 8 + 8);
    if (rc != 0) {
        side_free(L);
        side_free(R);
        return -1;
    }
    if (!R->e)                  /* no right vertex here */
        R->e = pl_xmalloc(sizeof *R->e);
    pl_sort_keyed(R->e, R->ne, sizeof *R->e, sedge_v, right_cmp);
    R->perm = pl_xmalloc_huge((R->ne + 1) * sizeof *R->perm);
    for (size_t j = 0; j < R->ne; j++)
        R->perm[R->e[j].k] = j;
    side_index(L);
    side_index(R);
    /* rounds until no rank has a message */
    uint64_t *counts = pl_xcalloc((size_t)size, sizeof *counts);
    uint64_t *pos = pl_xcalloc((size_t)size, sizeof *pos);
    uint64_t *grouped = NULL;
    size_t gcap = 0;
    uint64_t rounds = 0;
    rc = 0;
    for (;;) {
        process(&x, L);
        process(&x, R);
        memset(counts, 0, (size_t)size * sizeof *counts);
        for (size_t i = 0; i < x.nmsg; i++)
            counts[x.dest[i]]++;
        pos[0] = 0;
        for (int d = 1; d < size; d++)
            pos[d] = pos[d - 1] + counts[d - 1];
        if (x.nmsg > gcap) {
            gcap = x.nmsg;
            free(grouped);
            grouped = pl_xmalloc(gcap * 8);
        }
        for (size_t i = 0; i < x.nmsg; i++)
            grouped[pos[x.dest[i]]++] = x.msg[i];
        x.sent += x.nmsg;
        x.nmsg = 0;
        x.served = 0;
        rc = pl_route(comm, (const uint8_t *)grouped, counts, 8, 0,
                      serve_msgs, &x, 0, NULL, NULL);
        if (rc != 0 || !x.served)
            break;
        rounds++;
    }
    free(counts);
    free(pos);
    free(grouped);
    free(x.msg);
    free(x.dest);
    uint64_t nmatched = 0;
    if (rc == 0) {
        if (n)
            memset(matched, 0, n);
        for (size_t j = 0; j < n; j++)
            if (L->mate[L->ev[j]] == j) {
                matched[L->e[j].k] = 1;
                nmatched++;
            }
    }
    if (stats) {
        stats->rounds = rounds;
        stats->messages = x.sent;
        stats->matched = nmatched;
    }
    side_free(L);
    side_free(R);
    return rc == 0 ? 0 : -1;
}
