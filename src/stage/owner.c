/* owner.c — see owner.h. */
#include "stage/owner.h"
#include "par/exchange.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/sort.h"
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * The table: entries keyed by their first PL_KEY_REC bytes. The owner rank
 * was chosen from p1 bytes 0..7; the slot comes from bytes 8..15 (and the
 * rank byte), independent of them. */

static void kmap_init(pl_kmap *m, size_t esz, size_t cap)
{
    memset(m, 0, sizeof *m);
    m->esz = esz;
    m->cap = cap;
    m->slots = pl_xmalloc_huge(cap * esz);
    m->used = pl_xcalloc_huge(cap);
}

static void kmap_free(pl_kmap *m)
{
    if (m->slots)
        OPENSSL_cleanse(m->slots, m->cap * m->esz);
    free(m->slots);
    free(m->used);
    memset(m, 0, sizeof *m);
}

static size_t slot_of(const uint8_t *key, size_t cap)
{
    uint64_t h;
    memcpy(&h, key + 8, sizeof h);
    h ^= (uint64_t)key[PL_P1_BYTES] * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h & (cap - 1));
}

static size_t kmap_find(const pl_kmap *m, const uint8_t *key)
{
    size_t j = slot_of(key, m->cap);
    while (m->used[j] && memcmp(m->slots + j * m->esz, key, PL_KEY_REC) != 0)
        j = (j + 1) & (m->cap - 1);
    return j;
}

static uint8_t *kmap_get(const pl_kmap *m, const uint8_t *key)
{
    if (!m->slots)
        return NULL;
    size_t j = kmap_find(m, key);
    return m->used[j] ? m->slots + j * m->esz : NULL;
}

static void kmap_grow(pl_kmap *m)
{
    pl_kmap n;
    kmap_init(&n, m->esz, m->cap * 2);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i])
            continue;
        const uint8_t *e = m->slots + i * m->esz;
        size_t j = kmap_find(&n, e);
        memcpy(n.slots + j * n.esz, e, m->esz);
        n.used[j] = 1;
    }
    n.n = m->n;
    n.grows = m->grows + 1;
    kmap_free(m);
    *m = n;
}

/* The entry of key, inserted (zero value) when absent; *fresh says so. */
static uint8_t *kmap_put(pl_kmap *m, const uint8_t *key, int *fresh)
{
    /* at most 3/4 full: linear probing stays at ~2.5 probes a hit, and
     * the table (one doubling less than at 1/2) is half the fresh memory
     * to fault in, which is most of its cost at 10^7 keys a rank */
    if (4 * (m->n + 1) > 3 * m->cap)
        kmap_grow(m);
    size_t j = kmap_find(m, key);
    uint8_t *e = m->slots + j * m->esz;
    *fresh = !m->used[j];
    if (*fresh) {
        memset(e, 0, m->esz);
        memcpy(e, key, PL_KEY_REC);
        m->used[j] = 1;
        m->n++;
    }
    return e;
}

/* Key entries: key || pid || state || node rank. */
#define K_PID   PL_KEY_REC
#define K_ST    (PL_KEY_REC + PL_PID_BYTES)
#define K_NRANK (K_ST + 1)
enum { ST_SEEN = 1, ST_OLD = 2, ST_PID = 4, ST_AMBIG = 8, ST_OPP = 16 };

void pl_owner_init(pl_owner *o, pl_mode mode, const pl_hmac_key *platform,
                   uint64_t cap)
{
    memset(o, 0, sizeof *o);
    o->mode = mode;
    o->platform = platform;
    o->cap = cap;
    kmap_init(&o->keys, PL_OWNER_ENTRY, 1024);
}

void pl_owner_free(pl_owner *o)
{
    kmap_free(&o->keys);
    free(o->person_pids);
    free(o->lineage);
    if (o->edges)
        pl_wipe(o->edges, o->edges_cap * PL_EDGE_REC);
    free(o->edges);
    OPENSSL_cleanse(o, sizeof *o);
}

int pl_owner_add_serve(const uint8_t *recv, size_t n, uint8_t *reply,
                       void *ctx)
{
    (void)reply;
    pl_owner *o = ctx;
    int fresh;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = recv + i * PL_KEY_REC;
        if (i + 16 < n) {       /* the table is far larger than the caches */
            size_t j = slot_of(k + 16 * PL_KEY_REC, o->keys.cap);
            __builtin_prefetch(o->keys.slots + j * o->keys.esz);
            __builtin_prefetch(o->keys.used + j);
        }
        kmap_put(&o->keys, k, &fresh)[K_ST] |= ST_SEEN;
    }
    return 0;
}

int pl_owner_edge_serve(const uint8_t *recv, size_t n, uint8_t *reply,
                        void *ctx)
{
    (void)reply;
    pl_owner *o = ctx;
    if (o->n_edges + n > o->edges_cap) {
        size_t nc = o->edges_cap ? o->edges_cap : 1024;
        while (nc < o->n_edges + n)
            nc *= 2;
        uint8_t *ne = pl_xmalloc(nc * PL_EDGE_REC);
        if (o->edges) {
            memcpy(ne, o->edges, o->n_edges * PL_EDGE_REC);
            pl_wipe(o->edges, o->edges_cap * PL_EDGE_REC);
        }
        free(o->edges);
        o->edges = ne;
        o->edges_cap = nc;
    }
    memcpy(o->edges + o->n_edges * PL_EDGE_REC, recv, n * PL_EDGE_REC);
    o->n_edges += n;
    return 0;
}

int pl_owner_preload(pl_owner *o, const uint8_t key[PL_KEY_REC],
                     const uint8_t *pid)
{
    int fresh;
    uint8_t *e = kmap_put(&o->keys, key, &fresh);
    if (!fresh)
        return memcmp(e + K_PID, pid, PL_PID_BYTES) == 0 ? 0 : -1;
    memcpy(e + K_PID, pid, PL_PID_BYTES);
    e[K_ST] = ST_OLD;
    return 0;
}

/* ------------------------------------------------------------------------
 * Resolution. */

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, PL_KEY_REC);
}
static uint64_t key_prefix(const void *a)
{
    return pl_sort_be64(a);
}

static int cmp_ent(const void *a, const void *b)
{
    return memcmp(*(uint8_t *const *)a, *(uint8_t *const *)b, PL_KEY_REC);
}
static uint64_t ent_prefix(const void *a)
{
    return pl_sort_be64(*(uint8_t *const *)a);
}

/* The node of a resolved key entry: p1 || node rank. */
static void node_of(const uint8_t *e, uint8_t node[PL_KEY_REC])
{
    memcpy(node, e, PL_P1_BYTES);
    node[PL_P1_BYTES] = e[K_NRANK];
}

/* Per p1, the ranks seen decide the persons (owner.h). Returns the
 * entries sorted by key (*n of them; free()). */
static uint8_t **resolve_twins(pl_owner *o, size_t *nout)
{
    pl_kmap *m = &o->keys;
    uint8_t **ent = pl_xmalloc((m->n + 1) * sizeof *ent);
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            ent[n++] = m->slots + i * m->esz;
    /* Sort pointers by key: groups of one p1 become contiguous (8 bytes
     * per key, no copy of the keys); by the keys' first 8 bytes, then
     * memcmp (qsort's comparator calls were most of this at 10 M keys). */
    pl_sort_keyed(ent, n, sizeof *ent, ent_prefix, cmp_ent);
    o->ambiguous_keys = 0;
    for (size_t g = 0; g < n;) {
        size_t h = g, ranks = 0;
        while (h < n && memcmp(ent[h], ent[g], PL_P1_BYTES) == 0)
            ranks += ent[h++][PL_P1_BYTES] != 0;
        for (size_t i = g; i < h; i++) {
            uint8_t *e = ent[i];
            uint8_t rk = e[PL_P1_BYTES];
            if (rk == 0 && ranks >= 2) {
                e[K_ST] |= ST_AMBIG;
                e[K_NRANK] = (uint8_t)(ranks > 255 ? 255 : ranks);
                o->ambiguous_keys++;
            } else {
                e[K_NRANK] = ranks >= 2 ? rk : 0;
            }
        }
        g = h;
    }
    *nout = n;
    return ent;
}

/* Serve: key -> status || node (status 0 resolved, else not usable). */
static int serve_node(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    const pl_owner *o = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = kmap_get(&o->keys, recv + i * PL_KEY_REC);
        uint8_t *r = reply + i * (1 + PL_KEY_REC);
        memset(r, 0, 1 + PL_KEY_REC);
        if (!e)
            r[0] = PL_OWNER_UNKNOWN;
        else if (e[K_ST] & ST_AMBIG)
            r[0] = 2;
        else
            node_of(e, r + 1);
    }
    return 0;
}

/* Serve: node -> its label (node map entries: node || label). */
int pl_cc_serve_label(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    const pl_kmap *nm = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = recv + i * PL_KEY_REC;
        const uint8_t *e = kmap_get(nm, q);
        memcpy(reply + i * PL_KEY_REC, e ? e + PL_KEY_REC : q, PL_KEY_REC);
    }
    return 0;
}

/* The edges of the key graph as node pairs, both ways, on the owner of
 * their first node: *adj (malloc'd), *nadj records of PL_EDGE_REC. */
static int node_edges(pl_owner *o, MPI_Comm comm, uint8_t **adj,
                      uint64_t *nadj)
{
    size_t ne = o->n_edges;
    uint8_t *b = pl_xmalloc(ne * PL_KEY_REC + 1);
    uint8_t *rep = pl_xmalloc(ne * (1 + PL_KEY_REC) + 1);
    for (size_t i = 0; i < ne; i++)
        memcpy(b + i * PL_KEY_REC, o->edges + i * PL_EDGE_REC + PL_KEY_REC,
               PL_KEY_REC);
    int rc = pl_route_owned(comm, b, ne, PL_KEY_REC, o->cap, serve_node, o,
                            1 + PL_KEY_REC, rep, NULL, NULL);
    uint8_t *pairs = pl_xmalloc(2 * ne * PL_EDGE_REC + 1);
    size_t np = 0;
    int bad = 0;
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        const uint8_t *ea = kmap_get(&o->keys, o->edges + i * PL_EDGE_REC);
        const uint8_t *rb = rep + i * (1 + PL_KEY_REC);
        if (!ea || rb[0] == PL_OWNER_UNKNOWN) {
            bad = 1;
            continue;
        }
        if ((ea[K_ST] & ST_AMBIG) || rb[0])
            continue;           /* an ambiguous key joins no one */
        uint8_t na[PL_KEY_REC];
        node_of(ea, na);
        if (memcmp(na, rb + 1, PL_KEY_REC) == 0)
            continue;
        memcpy(pairs + np * PL_EDGE_REC, na, PL_KEY_REC);
        memcpy(pairs + np * PL_EDGE_REC + PL_KEY_REC, rb + 1, PL_KEY_REC);
        np++;
        memcpy(pairs + np * PL_EDGE_REC, rb + 1, PL_KEY_REC);
        memcpy(pairs + np * PL_EDGE_REC + PL_KEY_REC, na, PL_KEY_REC);
        np++;
    }
    if (bad)
        pl_err("internal error: an edge of the key graph names a key its "
               "owner never received");
    if (!pl_all_ok(comm, rc == 0 && !bad))
        rc = -1;
    if (rc == 0)
        rc = pl_route_gather(comm, pairs, np, PL_EDGE_REC, o->cap, adj,
                             nadj, NULL);
    pl_wipe(b, ne * PL_KEY_REC);
    pl_wipe(rep, ne * (1 + PL_KEY_REC));
    pl_wipe(pairs, np * PL_EDGE_REC);
    free(b);
    free(rep);
    free(pairs);
    return rc;
}

typedef struct { pl_kmap *nm; int changed; } hook_ctx;

/* Hooks: label L of some node, a smaller label m of the same component:
 * L's own label becomes at most m. */
static int serve_hook(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    (void)reply;
    hook_ctx *h = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = recv + i * PL_EDGE_REC;
        uint8_t *e = kmap_get(h->nm, q);
        if (e && memcmp(q + PL_KEY_REC, e + PL_KEY_REC, PL_KEY_REC) < 0) {
            memcpy(e + PL_KEY_REC, q + PL_KEY_REC, PL_KEY_REC);
            h->changed = 1;
        }
    }
    return 0;
}

void pl_kmap_free(pl_kmap *m)
{
    kmap_free(m);
}

/* Connected components of the node graph: nm gets node || label for
 * every node with an edge, label = the smallest node of its component. */
static int components(pl_owner *o, MPI_Comm comm, pl_kmap *nm)
{
    uint8_t *adj = NULL;
    uint64_t na = 0;
    if (node_edges(o, comm, &adj, &na) != 0)
        return -1;
    int rc = pl_cc_label(comm, o->cap, adj, na, "the key graph",
                         "its persons", nm, &o->cc_rounds);
    pl_wipe(adj, na * PL_EDGE_REC);
    free(adj);
    return rc;
}

int pl_cc_label(MPI_Comm comm, uint64_t cap, const uint8_t *adj, uint64_t na,
                const char *graph, const char *what, pl_kmap *nm,
                uint64_t *rounds)
{
    kmap_init(nm, 2 * PL_KEY_REC, 1024);
    int fresh;
    for (uint64_t i = 0; i < na; i++) {
        uint8_t *e = kmap_put(nm, adj + i * PL_EDGE_REC, &fresh);
        if (fresh)
            memcpy(e + PL_KEY_REC, e, PL_KEY_REC);
    }
    uint8_t *q = pl_xmalloc(na * PL_KEY_REC + 1);
    uint8_t *lab = pl_xmalloc(na * PL_KEY_REC + 1);
    uint8_t *hooks = pl_xmalloc(na * PL_EDGE_REC + 1);
    uint8_t **own = pl_xmalloc((nm->n + 1) * sizeof *own);
    size_t nown = 0;
    for (size_t i = 0; i < nm->cap; i++)
        if (nm->used[i])
            own[nown++] = nm->slots + i * nm->esz;
    int rc = 0, done = 0;
    uint64_t round = 0;
    while (rc == 0 && !done) {
        if (round++ >= PL_CC_MAX_ROUNDS) {
            pl_err0("%s did not settle in %d rounds of label "
                    "propagation: refusing to guess %s", graph,
                    PL_CC_MAX_ROUNDS, what);
            rc = -1;
            break;
        }
        hook_ctx h = {nm, 0};
        /* (a) every edge (u, v): u takes v's label if smaller, and hooks
         * its old label onto it. */
        for (uint64_t i = 0; i < na; i++)
            memcpy(q + i * PL_KEY_REC, adj + i * PL_EDGE_REC + PL_KEY_REC,
                   PL_KEY_REC);
        rc = pl_route_owned(comm, q, na, PL_KEY_REC, cap, pl_cc_serve_label, nm,
                            PL_KEY_REC, lab, NULL, NULL);
        size_t nh = 0;
        for (uint64_t i = 0; rc == 0 && i < na; i++) {
            uint8_t *e = kmap_get(nm, adj + i * PL_EDGE_REC);
            const uint8_t *lv = lab + i * PL_KEY_REC;
            if (memcmp(lv, e + PL_KEY_REC, PL_KEY_REC) < 0) {
                memcpy(hooks + nh * PL_EDGE_REC, e + PL_KEY_REC, PL_KEY_REC);
                memcpy(hooks + nh++ * PL_EDGE_REC + PL_KEY_REC, lv,
                       PL_KEY_REC);
                memcpy(e + PL_KEY_REC, lv, PL_KEY_REC);
                h.changed = 1;
            }
        }
        /* (b) hooks, at the old label's owner. */
        if (rc == 0)
            rc = pl_route_owned(comm, hooks, nh, PL_EDGE_REC, cap,
                                serve_hook, &h, 0, NULL, NULL, NULL);
        /* (c) pointer jumping: a node takes its label's label. */
        for (size_t i = 0; rc == 0 && i < nown; i++)
            memcpy(q + i * PL_KEY_REC, own[i] + PL_KEY_REC, PL_KEY_REC);
        if (rc == 0)
            rc = pl_route_owned(comm, q, nown, PL_KEY_REC, cap,
                                pl_cc_serve_label, nm, PL_KEY_REC, lab, NULL, NULL);
        for (size_t i = 0; rc == 0 && i < nown; i++)
            if (memcmp(lab + i * PL_KEY_REC, own[i] + PL_KEY_REC,
                       PL_KEY_REC) < 0) {
                memcpy(own[i] + PL_KEY_REC, lab + i * PL_KEY_REC, PL_KEY_REC);
                h.changed = 1;
            }
        if (rc == 0) {
            int any = 0;
            PL_MPI_CHECK(MPI_Allreduce(&h.changed, &any, 1, MPI_INT, MPI_MAX,
                                       comm));
            done = !any;
        }
    }
    *rounds = round;
    pl_wipe(q, na * PL_KEY_REC);
    pl_wipe(lab, na * PL_KEY_REC);
    pl_wipe(hooks, na * PL_EDGE_REC);
    free(q);
    free(lab);
    free(hooks);
    free(own);
    if (rc != 0)
        kmap_free(nm);
    return rc;
}

/* Root entries: label || smallest preloaded key || its pid || flags ||
 * pid. */
#define R_MIN  PL_KEY_REC
#define R_OLD  (2 * PL_KEY_REC)
#define R_FL   (R_OLD + PL_PID_BYTES)
#define R_PID  (R_FL + 1)
#define R_ESZ  (R_PID + PL_PID_BYTES)
/* Contributions: label || key || has_old || old pid. */
#define C_REC  (2 * PL_KEY_REC + 1 + PL_PID_BYTES)

/* Previous pids seen by a root: label || old pid (lineage). */
typedef struct {
    uint8_t *v;
    size_t n, cap;
} olds_vec;

static void olds_add(olds_vec *ov, const uint8_t *label, const uint8_t *old)
{
    if (ov->n == ov->cap) {
        ov->cap = ov->cap ? 2 * ov->cap : 64;
        ov->v = pl_xrealloc(ov->v, ov->cap * (PL_KEY_REC + PL_PID_BYTES));
    }
    uint8_t *e = ov->v + ov->n++ * (PL_KEY_REC + PL_PID_BYTES);
    memcpy(e, label, PL_KEY_REC);
    memcpy(e + PL_KEY_REC, old, PL_PID_BYTES);
}

typedef struct { pl_kmap *roots; olds_vec *olds; } contrib_ctx;

static void contribute(contrib_ctx *cc, const uint8_t *c)
{
    int fresh;
    uint8_t *e = kmap_put(cc->roots, c, &fresh);
    if (!c[2 * PL_KEY_REC])
        return;
    olds_add(cc->olds, c, c + 2 * PL_KEY_REC + 1);
    if (!e[R_FL] || memcmp(c + PL_KEY_REC, e + R_MIN, PL_KEY_REC) < 0) {
        memcpy(e + R_MIN, c + PL_KEY_REC, PL_KEY_REC);
        memcpy(e + R_OLD, c + 2 * PL_KEY_REC + 1, PL_PID_BYTES);
        e[R_FL] = 1;
    }
}

static int serve_contrib(const uint8_t *recv, size_t n, uint8_t *reply,
                         void *ctx)
{
    (void)reply;
    for (size_t i = 0; i < n; i++)
        contribute(ctx, recv + i * C_REC);
    return 0;
}

static int serve_root_pid(const uint8_t *recv, size_t n, uint8_t *reply,
                          void *ctx)
{
    const pl_kmap *roots = ctx;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = kmap_get(roots, recv + i * PL_KEY_REC);
        bad |= !e;
        if (e)
            memcpy(reply + i * PL_PID_BYTES, e + R_PID, PL_PID_BYTES);
    }
    if (bad)
        pl_err("internal error: a person's label has no pid");
    return bad ? -1 : 0;
}

static int random_pid(pl_owner *o, uint8_t pid[PL_PID_BYTES])
{
    if (o->rnd_left < PL_PID_BYTES) {
        if (RAND_bytes(o->rnd, sizeof o->rnd) != 1)
            return -1;
        o->rnd_left = sizeof o->rnd;
    }
    o->rnd_left -= PL_PID_BYTES;
    memcpy(pid, o->rnd + o->rnd_left, PL_PID_BYTES);
    OPENSSL_cleanse(o->rnd + o->rnd_left, PL_PID_BYTES);
    return 0;
}

/* Pids of the roots held here (owner.h). */
static int root_pids(pl_owner *o, pl_kmap *roots)
{
    uint8_t *labels = pl_xmalloc(roots->n * PL_KEY_REC + 1);
    uint8_t *pids = pl_xmalloc(roots->n * PL_PID_BYTES + 1);
    uint8_t **at = pl_xmalloc((roots->n + 1) * sizeof *at);
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; i < roots->cap; i++) {
        uint8_t *e = roots->slots + i * roots->esz;
        if (!roots->used[i])
            continue;
        if (e[R_FL]) {
            memcpy(e + R_PID, e + R_OLD, PL_PID_BYTES);
            continue;
        }
        memcpy(labels + m * PL_KEY_REC, e, PL_KEY_REC);
        at[m++] = e;
    }
    if (o->mode == PL_MODE_KEYED)
        pl_pid_keyed_batch(o->platform, labels, m, pids);
    else
        for (size_t k = 0; k < m && rc == 0; k++)
            rc = random_pid(o, pids + k * PL_PID_BYTES);
    for (size_t k = 0; k < m && rc == 0; k++)
        memcpy(at[k] + R_PID, pids + k * PL_PID_BYTES, PL_PID_BYTES);
    if (o->mode == PL_MODE_RANDOM) {    /* for pl_owner_duplicates */
        o->person_pids = pl_xrealloc(o->person_pids,
                                     (o->persons + roots->n) * PL_PID_BYTES +
                                     1);
        for (size_t i = 0, j = o->persons; i < roots->cap; i++)
            if (roots->used[i])
                memcpy(o->person_pids + j++ * PL_PID_BYTES,
                       roots->slots + i * roots->esz + R_PID, PL_PID_BYTES);
    }
    if (rc != 0)
        pl_err("OpenSSL's random generator failed while assigning "
               "platform pseudonyms");
    pl_wipe(labels, roots->n * PL_KEY_REC);
    OPENSSL_cleanse(pids, roots->n * PL_PID_BYTES);
    free(labels);
    free(pids);
    free(at);
    o->persons += roots->n;
    return rc;
}

static int cmp_lin(const void *a, const void *b)
{
    return memcmp(a, b, PL_LIN_REC);
}

static void lin_add(uint8_t **v, size_t *n, size_t *cap, const uint8_t *old,
                    const uint8_t *new, uint8_t ev)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = pl_xrealloc(*v, *cap * PL_LIN_REC);
    }
    uint8_t *e = *v + (*n)++ * PL_LIN_REC;
    memcpy(e, old, PL_PID_BYTES);
    memcpy(e + PL_PID_BYTES, new, PL_PID_BYTES);
    e[2 * PL_PID_BYTES] = ev;
}

/* Merges (previous pids of a root other than the one it kept) and splits
 * (previous pids of keys now ambiguous), gathered on the old pid's owner,
 * sorted and made distinct. */
static int lineage(pl_owner *o, MPI_Comm comm, const pl_kmap *roots,
                   const olds_vec *ov, uint8_t *v, size_t n, size_t cap)
{
    for (size_t i = 0; i < ov->n; i++) {
        const uint8_t *e = ov->v + i * (PL_KEY_REC + PL_PID_BYTES);
        const uint8_t *re = kmap_get(roots, e);
        if (re && memcmp(re + R_PID, e + PL_KEY_REC, PL_PID_BYTES) != 0)
            lin_add(&v, &n, &cap, e + PL_KEY_REC, re + R_PID, PL_LIN_MERGE);
    }
    const pl_kmap *m = &o->keys;
    for (size_t i = 0; i < m->cap; i++) {
        const uint8_t *e = m->slots + i * m->esz;
        if (!m->used[i] || !(e[K_ST] & ST_AMBIG) || !(e[K_ST] & ST_OLD))
            continue;
        uint8_t k[PL_KEY_REC];
        memcpy(k, e, PL_P1_BYTES);
        for (int rk = 1; rk <= 255; rk++) {
            k[PL_P1_BYTES] = (uint8_t)rk;
            const uint8_t *t = kmap_get(m, k);
            if (t && (t[K_ST] & ST_PID))
                lin_add(&v, &n, &cap, e + K_PID, t + K_PID, PL_LIN_SPLIT);
        }
    }
    uint8_t *mine = NULL;
    uint64_t nm = 0;
    int rc = pl_route_gather(comm, v, n, PL_LIN_REC, o->cap, &mine, &nm,
                             NULL);
    free(v);
    if (rc != 0)
        return -1;
    qsort(mine, nm, PL_LIN_REC, cmp_lin);
    size_t u = 0;
    for (uint64_t i = 0; i < nm; i++)
        if (u == 0 || memcmp(mine + (u - 1) * PL_LIN_REC,
                             mine + i * PL_LIN_REC, PL_LIN_REC) != 0)
            memmove(mine + u++ * PL_LIN_REC, mine + i * PL_LIN_REC,
                    PL_LIN_REC);
    o->lineage = mine;
    o->n_lineage = u;
    return 0;
}

/* Pids of the persons without an edge (nearly all): their keys are
 * contiguous in the sorted entries and on this rank, so is their label
 * (their node); no table. Keyed: batch HMACs of PID_CHUNK labels; random:
 * draws; known keys: the previous pid of the smallest one (the others
 * merged). Memory: the chunk, and in random mode one pid per person (for
 * the duplicate check). */
#define PID_CHUNK 4096

typedef struct {
    uint8_t labels[PID_CHUNK][PL_KEY_REC];
    uint8_t pids[PID_CHUNK][PL_PID_BYTES];
    size_t start[PID_CHUNK], end[PID_CHUNK];
    size_t n;
} pid_chunk;

static void keep_person(pl_owner *o, size_t *cap, const uint8_t *pid)
{
    o->persons++;
    if (o->mode != PL_MODE_RANDOM)
        return;
    if (o->persons > *cap) {
        *cap = *cap ? 2 * *cap : 4096;
        o->person_pids = pl_xrealloc(o->person_pids, *cap * PL_PID_BYTES);
    }
    memcpy(o->person_pids + (o->persons - 1) * PL_PID_BYTES, pid,
           PL_PID_BYTES);
}

static void set_pids(uint8_t **ent, size_t a, size_t b, const uint8_t *pid)
{
    for (size_t i = a; i < b; i++) {
        memcpy(ent[i] + K_PID, pid, PL_PID_BYTES);
        ent[i][K_ST] |= ST_PID;
    }
}

static int flush_chunk(pl_owner *o, pid_chunk *c, uint8_t **ent, size_t *cap)
{
    int rc = 0;
    if (o->mode == PL_MODE_KEYED)
        pl_pid_keyed_batch(o->platform, c->labels[0], c->n, c->pids[0]);
    else
        for (size_t k = 0; k < c->n && rc == 0; k++)
            rc = random_pid(o, c->pids[k]);
    for (size_t k = 0; k < c->n && rc == 0; k++) {
        set_pids(ent, c->start[k], c->end[k], c->pids[k]);
        keep_person(o, cap, c->pids[k]);
    }
    OPENSSL_cleanse(c, sizeof *c);
    return rc;
}

static int direct_pids(pl_owner *o, const pl_kmap *nm, uint8_t **ent,
                       size_t n, uint8_t *is_edge, uint8_t **lin,
                       size_t *nlin, size_t *lcap)
{
    pid_chunk *c = pl_xcalloc(1, sizeof *c);
    size_t cap = 0;
    int rc = 0;
    o->persons = 0;
    for (size_t a = 0; a < n && rc == 0;) {
        uint8_t *e = ent[a];
        if (e[K_ST] & ST_AMBIG) {
            a++;
            continue;
        }
        /* Keys of one node: the whole p1 group when it has at most one
         * rank (node rank 0), else this key alone. */
        size_t b = a + 1;
        if (e[K_NRANK] == 0)
            while (b < n && memcmp(ent[b], e, PL_P1_BYTES) == 0 &&
                   !(ent[b][K_ST] & ST_AMBIG) && ent[b][K_NRANK] == 0)
                b++;
        uint8_t *lab = c->labels[c->n];
        node_of(e, lab);
        if (nm->slots && kmap_get(nm, lab)) {
            memset(is_edge + a, 1, b - a);
            a = b;
            continue;
        }
        size_t old = b;
        for (size_t i = a; i < b && old == b; i++)
            if (ent[i][K_ST] & ST_OLD)
                old = i;
        if (old < b) {
            uint8_t pid[PL_PID_BYTES];
            memcpy(pid, ent[old] + K_PID, PL_PID_BYTES);
            for (size_t i = old + 1; i < b; i++)
                if ((ent[i][K_ST] & ST_OLD) &&
                    memcmp(ent[i] + K_PID, pid, PL_PID_BYTES))
                    lin_add(lin, nlin, lcap, ent[i] + K_PID, pid,
                            PL_LIN_MERGE);
            set_pids(ent, a, b, pid);
            keep_person(o, &cap, pid);
        } else {
            c->start[c->n] = a;
            c->end[c->n++] = b;
            if (c->n == PID_CHUNK)
                rc = flush_chunk(o, c, ent, &cap);
        }
        a = b;
    }
    if (rc == 0 && c->n)
        rc = flush_chunk(o, c, ent, &cap);
    if (rc != 0)
        pl_err("OpenSSL's random generator failed while assigning "
               "platform pseudonyms");
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
    return rc;
}

/* Every key of a person with edges gets its component's pid from the
 * label's owner (the others: direct_pids). */
static int assign_pids(pl_owner *o, MPI_Comm comm, const pl_kmap *nm,
                       uint8_t **ent, size_t n)
{
    uint8_t *lin = NULL;
    size_t nlin = 0, lcap = 0;
    uint8_t *is_edge = pl_xcalloc(n + 1, 1);
    int rc = direct_pids(o, nm, ent, n, is_edge, &lin, &nlin, &lcap);
    rc = pl_all_ok(comm, rc == 0) ? 0 : -1;
    pl_kmap roots;
    kmap_init(&roots, R_ESZ, 1024);
    olds_vec ov = {NULL, 0, 0};
    contrib_ctx cc = {&roots, &ov};
    int size, me;
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(comm, &me);
    /* Keys whose label lives on another rank (joined by an edge to a
     * smaller node there): their positions in ent. */
    size_t *far = NULL, nf = 0;
    uint8_t *send = NULL;
    size_t ns = 0, scap = 0;
    uint8_t c[C_REC];
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = ent[i];
        if (!is_edge[i])
            continue;
        uint8_t node[PL_KEY_REC];
        node_of(e, node);
        const uint8_t *ne = kmap_get(nm, node);
        memcpy(c, ne + PL_KEY_REC, PL_KEY_REC);
        memcpy(c + PL_KEY_REC, e, PL_KEY_REC);
        c[2 * PL_KEY_REC] = (e[K_ST] & ST_OLD) != 0;
        memcpy(c + 2 * PL_KEY_REC + 1, e + K_PID, PL_PID_BYTES);
        if (pl_owner_of(c, size) == me) {
            contribute(&cc, c);
            continue;
        }
        if (ns == scap) {
            scap = scap ? 2 * scap : 256;
            send = pl_xrealloc(send, scap * C_REC);
            far = pl_xrealloc(far, scap * sizeof *far);
        }
        memcpy(send + ns++ * C_REC, c, C_REC);
        far[nf++] = i;
    }
    OPENSSL_cleanse(c, sizeof c);
    if (rc == 0)
        rc = pl_route_owned(comm, send, ns, C_REC, o->cap, serve_contrib,
                            &cc, 0, NULL, NULL, NULL);
    if (rc == 0)
        rc = pl_all_ok(comm, root_pids(o, &roots) == 0) ? 0 : -1;
    /* Far keys ask their label's owner; the others look up here. */
    uint8_t *q = pl_xmalloc(ns * PL_KEY_REC + 1);
    uint8_t *pid = pl_xmalloc(ns * PL_PID_BYTES + 1);
    for (size_t k = 0; k < ns; k++)
        memcpy(q + k * PL_KEY_REC, send + k * C_REC, PL_KEY_REC);
    if (rc == 0)
        rc = pl_route_owned(comm, q, ns, PL_KEY_REC, o->cap, serve_root_pid,
                            &roots, PL_PID_BYTES, pid, NULL, NULL);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t *e = ent[i];
        if (!is_edge[i])
            continue;
        if (k < nf && far[k] == i) {
            memcpy(e + K_PID, pid + k++ * PL_PID_BYTES, PL_PID_BYTES);
        } else {
            uint8_t node[PL_KEY_REC];
            node_of(e, node);
            const uint8_t *ne = kmap_get(nm, node);
            const uint8_t *re = kmap_get(&roots, ne + PL_KEY_REC);
            memcpy(e + K_PID, re + R_PID, PL_PID_BYTES);
        }
        e[K_ST] |= ST_PID;
    }
    if (rc == 0)
        rc = lineage(o, comm, &roots, &ov, lin, nlin, lcap);
    else
        free(lin);
    free(ov.v);
    if (send)
        pl_wipe(send, ns * C_REC);
    pl_wipe(q, ns * PL_KEY_REC);
    OPENSSL_cleanse(pid, ns * PL_PID_BYTES);
    free(send);
    free(q);
    free(pid);
    free(far);
    free(is_edge);
    kmap_free(&roots);
    return rc;
}

static int cmp_pid_o(const void *a, const void *b)
{
    return memcmp(a, b, PL_PID_BYTES);
}

static int p1_opposed(const pl_owner *o, const uint8_t *p1)
{
    uint64_t lo = 0, hi = o->n_opp;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(o->opp + mid * PL_P1_BYTES, p1, PL_P1_BYTES);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Serve: pid -> 1 when it is an opposed person's (sorted pids in ctx). */
typedef struct { const uint8_t *v; uint64_t n; } pid_set;

static int serve_opp(const uint8_t *recv, size_t n, uint8_t *reply,
                     void *ctx)
{
    const pid_set *ps = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = recv + i * PL_PID_BYTES;
        uint64_t lo = 0, hi = ps->n;
        reply[i] = 0;
        while (lo < hi && !reply[i]) {
            uint64_t mid = lo + (hi - lo) / 2;
            int c = memcmp(ps->v + mid * PL_PID_BYTES, q, PL_PID_BYTES);
            if (c == 0)
                reply[i] = 1;
            else if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return 0;
}

/* Opposition by person (owner.h): every key holds its person's pid (one
 * pid per person), so the pids of the keys with an opposed p1 name the
 * opposed persons; gathered on the pid's owner, every key asks there. */
static int oppose_persons(pl_owner *o, MPI_Comm comm)
{
    pl_kmap *m = &o->keys;
    uint8_t *mine = pl_xmalloc(m->n * PL_PID_BYTES + 1);
    uint8_t *q = pl_xmalloc(m->n * PL_PID_BYTES + 1);
    uint8_t *rep = pl_xmalloc(m->n + 1);
    uint8_t **at = pl_xmalloc((m->n + 1) * sizeof *at);
    size_t nm = 0, nq = 0;
    for (size_t i = 0; i < m->cap; i++) {
        uint8_t *e = m->slots + i * m->esz;
        if (!m->used[i] || !(e[K_ST] & ST_PID))
            continue;
        if (p1_opposed(o, e))
            memcpy(mine + nm++ * PL_PID_BYTES, e + K_PID, PL_PID_BYTES);
        memcpy(q + nq * PL_PID_BYTES, e + K_PID, PL_PID_BYTES);
        at[nq++] = e;
    }
    uint8_t *set = NULL;
    uint64_t ns = 0;
    int rc = pl_route_gather(comm, mine, nm, PL_PID_BYTES, o->cap, &set, &ns,
                             NULL);
    if (rc == 0 && ns > 1)
        qsort(set, ns, PL_PID_BYTES, cmp_pid_o);
    pid_set ps = {set, ns};
    if (rc == 0)
        rc = pl_route_owned(comm, q, nq, PL_PID_BYTES, o->cap, serve_opp, &ps,
                            1, rep, NULL, NULL);
    /* /lineage names no opposed person: events whose new pid is one go. */
    uint8_t *lq = pl_xmalloc(o->n_lineage * PL_PID_BYTES + 1);
    uint8_t *lr = pl_xmalloc(o->n_lineage + 1);
    for (size_t k = 0; k < o->n_lineage; k++)
        memcpy(lq + k * PL_PID_BYTES, o->lineage + k * PL_LIN_REC +
               PL_PID_BYTES, PL_PID_BYTES);
    if (rc == 0)
        rc = pl_route_owned(comm, lq, o->n_lineage, PL_PID_BYTES, o->cap,
                            serve_opp, &ps, 1, lr, NULL, NULL);
    size_t u = 0;
    for (size_t k = 0; rc == 0 && k < o->n_lineage; k++)
        if (!lr[k])
            memmove(o->lineage + u++ * PL_LIN_REC,
                    o->lineage + k * PL_LIN_REC, PL_LIN_REC);
    if (rc == 0)
        o->n_lineage = u;
    free(lq);
    free(lr);
    o->opposed_linked = 0;
    for (size_t k = 0; rc == 0 && k < nq; k++) {
        if (!rep[k])
            continue;
        uint8_t *e = at[k];
        o->opposed_linked += !p1_opposed(o, e);
        e[K_ST] = (uint8_t)((e[K_ST] & ~ST_PID) | ST_OPP);
        OPENSSL_cleanse(e + K_PID, PL_PID_BYTES);
    }
    OPENSSL_cleanse(mine, nm * PL_PID_BYTES);
    OPENSSL_cleanse(q, nq * PL_PID_BYTES);
    if (set)
        OPENSSL_cleanse(set, ns * PL_PID_BYTES);
    free(mine);
    free(q);
    free(rep);
    free(at);
    free(set);
    return rc;
}

int pl_owner_resolve(pl_owner *o, MPI_Comm comm)
{
    size_t n = 0;
    uint8_t **ent = resolve_twins(o, &n);
    pl_kmap nm;
    memset(&nm, 0, sizeof nm);
    int rc = components(o, comm, &nm);
    if (rc == 0)
        rc = assign_pids(o, comm, &nm, ent, n);
    if (rc == 0 && o->n_opp)
        rc = oppose_persons(o, comm);
    free(ent);
    if (nm.slots)
        kmap_free(&nm);
    if (o->edges)
        pl_wipe(o->edges, o->edges_cap * PL_EDGE_REC);
    free(o->edges);
    o->edges = NULL;
    o->n_edges = o->edges_cap = 0;
    o->resolved = rc == 0;
    return rc;
}

/* ------------------------------------------------------------------------
 * After resolution. */

int pl_owner_serve(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    const pl_owner *o = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *key = recv + i * PL_KEY_REC;
        if (i + 16 < n) {
            size_t j = slot_of(key + 16 * PL_KEY_REC, o->keys.cap);
            __builtin_prefetch(o->keys.slots + j * o->keys.esz);
            __builtin_prefetch(o->keys.used + j);
        }
        const uint8_t *e = kmap_get(&o->keys, key);
        uint8_t *r = reply + i * PL_OWNER_REPLY;
        memset(r, 0, PL_OWNER_REPLY);
        if (e && (e[K_ST] & ST_OPP))
            r[PL_OWNER_REPLY - 1] = 1;
        else if (!e || !(e[K_ST] & (ST_PID | ST_AMBIG)))
            r[0] = PL_OWNER_UNKNOWN;
        else if (e[K_ST] & ST_AMBIG)
            r[0] = e[K_NRANK];
        else
            memcpy(r + 1, e + K_PID, PL_PID_BYTES);
    }
    return 0;
}

size_t pl_owner_count(const pl_owner *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->keys.cap; i++)
        n += o->keys.used[i] &&
             (o->keys.slots[i * o->keys.esz + K_ST] & ST_PID);
    return n;
}

void pl_owner_export(const pl_owner *o, uint8_t *out)
{
    const size_t rec = PL_KEY_REC + PL_PID_BYTES;
    size_t k = 0;
    for (size_t i = 0; i < o->keys.cap; i++) {
        const uint8_t *e = o->keys.slots + i * o->keys.esz;
        if (o->keys.used[i] && (e[K_ST] & ST_PID))
            memcpy(out + k++ * rec, e, rec);
    }
    pl_sort_keyed(out, k, rec, key_prefix, cmp_key);   /* keys unique */
}

static int cmp_pid(const void *a, const void *b)
{
    return memcmp(a, b, PL_PID_BYTES);
}

int64_t pl_owner_duplicates(const pl_owner *o, MPI_Comm comm)
{
    /* One pid per person (its label's root entry); each to the rank owning
     * its range: equal pids of distinct persons meet there. */
    uint8_t *mine = NULL;
    uint64_t m = 0;
    int rc = pl_route_gather(comm, o->person_pids,
                             o->person_pids ? o->persons : 0, PL_PID_BYTES,
                             0, &mine, &m, NULL);
    int64_t dups = 0;
    if (rc == 0 && m > 1)
        qsort(mine, m, PL_PID_BYTES, cmp_pid);
    for (uint64_t i = 1; rc == 0 && i < m; i++)
        dups += memcmp(mine + (i - 1) * PL_PID_BYTES,
                       mine + i * PL_PID_BYTES, PL_PID_BYTES) == 0;
    int64_t all = 0;
    PL_MPI_CHECK(MPI_Allreduce(&dups, &all, 1, MPI_INT64_T, MPI_SUM, comm));
    free(mine);
    return rc != 0 ? -1 : all;
}
