/* dedup.c — see dedup.h. */
#include "stage/dedup.h"

#include "base/hex.h"
#include "base/bytes.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/strsim.h"
#include "job/linkage_config.h"
#include "par/exchange.h"
#include "par/h5.h"
#include "par/mpi.h"
#include "par/output.h"
#include "stage/blocking.h"
#include "stage/fellegi.h"
#include "stage/owner.h"
#include "stage/probalink.h"

#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char      name[PL_NAME_MAX];
    int       linked;
    uint64_t  nrows, first, count;
    pl_fs_model mo;
    uint64_t  pairs, dups, random_pairs, capped_blocks, capped_pairs;
    uint64_t  accepted, bridges, clusters, split, cc_rounds;
    uint64_t  sizes[PL_DD_SIZES];
    int       has_truth;
    uint64_t  t_true, t_pred, t_tp;
    double    t_precision, t_recall, t_f1;
    uint64_t *cluster;          /* count: smallest row of the cluster */
    uint8_t  *pid;              /* count x 16: only deduplicated */
    double    seconds, cpu;
    double    t_phase[4];       /* model, pairs, clusters, report (rank 0) */
} dsrc;

struct pl_dedup_state {
    dsrc  *d;
    size_t n;
};

/* ------------------------------------------------------------------------
 * Nodes: a record as a PL_KEY_REC-byte node of pl_cc_label. Bytes 0..7:
 * row x floor(2^64-1 / nrows), big-endian — order-preserving (the
 * smallest node is the smallest row) and spread evenly over the owner
 * ranks; 8..15: a hash of the row (table slots); 16..23: the row. */


static void node_of(uint64_t row, uint64_t scale, uint8_t *n)
{
    memset(n, 0, PL_KEY_REC);
    pl_put_be64(n, row * scale);
    uint64_t h = pl_hash64(&row, sizeof row, 0x6e6f6465);
    memcpy(n + 8, &h, 8);
    pl_put_be64(n + 16, row);
}

static uint64_t node_row(const uint8_t *n)
{
    return pl_get_be64(n + 16);
}

/* ------------------------------------------------------------------------
 * Scoring: accepted pairs */

typedef struct {
    const pl_linkage_cfg *c;
    const pl_fs_model *mo;
    double upper;
    uint64_t scale;
    uint8_t *e;                 /* directed edges, PL_EDGE_REC each */
    size_t ne, cap;
} score_ctx;

static void push_edge(score_ctx *x, uint64_t a, uint64_t b)
{
    if (x->ne == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 4096;
        x->e = pl_xrealloc(x->e, x->cap * PL_EDGE_REC);
    }
    uint8_t *d = x->e + x->ne++ * PL_EDGE_REC;
    node_of(a, x->scale, d);
    node_of(b, x->scale, d + PL_KEY_REC);
}

static int score_pair(const uint8_t *a, const uint8_t *b, void *ctx)
{
    score_ctx *x = ctx;
    uint8_t lev[PL_LK_MAX_FIELDS];
    pl_fs_compare(x->c, a, b, lev);
    double w = pl_fs_weight(x->mo, x->c, lev, b);
    if (w >= x->upper) {
        uint64_t ra = ((const pl_fs_hdr *)a)->id, rb = ((const pl_fs_hdr *)b)->id;
        push_edge(x, ra, rb);
        push_edge(x, rb, ra);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Weak bridges. adj: this rank's directed edges (both ways in all),
 * sorted and unique, the first node owned here. */

static int cmp_edge(const void *a, const void *b)
{
    return memcmp(a, b, PL_EDGE_REC);
}

typedef struct {
    const uint8_t *adj;
    uint64_t na;
} adj_ctx;

/* First edge whose first node is >= node. */
static uint64_t lower_bound(const adj_ctx *a, const uint8_t *node)
{
    uint64_t lo = 0, hi = a->na;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (memcmp(a->adj + mid * PL_EDGE_REC, node, PL_KEY_REC) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t degree(const adj_ctx *a, const uint8_t *node)
{
    uint64_t i = lower_bound(a, node), j = i;
    while (j < a->na && memcmp(a->adj + j * PL_EDGE_REC, node,
                               PL_KEY_REC) == 0)
        j++;
    return (uint32_t)(j - i);
}

typedef struct {
    adj_ctx a;
    const uint8_t *dense;       /* per edge: its first node is on a triangle */
} node_ctx;

/* Serve: node -> its degree (uint32) || on a triangle (1 byte). */
static int serve_node(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    const node_ctx *x = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *node = recv + i * PL_KEY_REC;
        uint64_t at = lower_bound(&x->a, node);
        uint32_t d = degree(&x->a, node);
        memcpy(reply + 5 * i, &d, 4);
        reply[5 * i + 4] = d ? x->dense[at] : 0;
    }
    return 0;
}

/* Serve: edge (u, w) -> 1 when it is an accepted edge. */
static int serve_edge(const uint8_t *recv, size_t n, uint8_t *reply,
                      void *ctx)
{
    const adj_ctx *a = ctx;
    for (size_t i = 0; i < n; i++)
        reply[i] = bsearch(recv + i * PL_EDGE_REC, a->adj, a->na,
                           PL_EDGE_REC, cmp_edge) != NULL;
    return 0;
}

/* Collective: removes from adj the weak bridges (dedup.h 3): edges on no
 * triangle between two records that are each on a triangle (two dense
 * groups). *cut: the directed edges removed here. */
static int cut_bridges(pl_run *r, uint8_t *adj, uint64_t *na, uint64_t *cut)
{
    uint64_t n = *na;
    adj_ctx ac = {adj, n};
    uint32_t *dh = pl_xmalloc_huge(n * 4 + 4);
    uint8_t *tri = pl_xcalloc_huge(n + 1);
    uint8_t *dense = pl_xcalloc_huge(n + 1);
    /* wedges (u, w) around every node v of degree 2..max: closed, both
     * edges (v, u) and (v, w) lie on a triangle */
    uint64_t nw = 0;
    for (uint64_t i = 0; i < n;) {
        uint64_t j = i;
        while (j < n && memcmp(adj + j * PL_EDGE_REC, adj + i * PL_EDGE_REC,
                               PL_KEY_REC) == 0)
            j++;
        uint64_t d = j - i;
        for (uint64_t k = i; k < j; k++)
            dh[k] = (uint32_t)d;
        if (d >= 2 && d <= PL_DD_MAX_DEGREE)
            nw += d * (d - 1) / 2;
        i = j;
    }
    uint8_t *wq = pl_xmalloc_huge(nw * PL_EDGE_REC + 1);
    uint64_t *wa = pl_xmalloc_huge(nw * 16 + 16);
    uint8_t *wr = pl_xmalloc_huge(nw + 1);
    uint64_t m = 0;
    for (uint64_t i = 0; i < n;) {
        uint64_t d = dh[i];
        if (d >= 2 && d <= PL_DD_MAX_DEGREE)
            for (uint64_t a = i; a < i + d; a++)
                for (uint64_t b = a + 1; b < i + d; b++) {
                    memcpy(wq + m * PL_EDGE_REC,
                           adj + a * PL_EDGE_REC + PL_KEY_REC, PL_KEY_REC);
                    memcpy(wq + m * PL_EDGE_REC + PL_KEY_REC,
                           adj + b * PL_EDGE_REC + PL_KEY_REC, PL_KEY_REC);
                    wa[2 * m] = a;
                    wa[2 * m + 1] = b;
                    m++;
                }
        i += d;
    }
    int rc = pl_route_owned(r->comm, wq, nw, PL_EDGE_REC, r->cap, serve_edge,
                            &ac, 1, wr, NULL, NULL);
    for (uint64_t i = 0; rc == 0 && i < nw; i++)
        if (wr[i])
            tri[wa[2 * i]] = tri[wa[2 * i + 1]] = 1;
    free(wq);
    free(wa);
    free(wr);
    /* a node is dense when one of its edges is on a triangle (a node of
     * degree above the maximum counts as dense: its edges are kept) */
    for (uint64_t i = 0; i < n;) {
        uint64_t d = dh[i], any = d > PL_DD_MAX_DEGREE;
        for (uint64_t k = i; k < i + d; k++)
            any |= tri[k];
        for (uint64_t k = i; k < i + d; k++)
            dense[k] = (uint8_t)any;
        i += d;
    }
    /* degree and density of the other end */
    uint8_t *q = pl_xmalloc_huge(n * PL_KEY_REC + 1);
    uint8_t *rt = pl_xmalloc_huge(n * 5 + 5);
    for (uint64_t i = 0; i < n; i++)
        memcpy(q + i * PL_KEY_REC, adj + i * PL_EDGE_REC + PL_KEY_REC,
               PL_KEY_REC);
    node_ctx nx = {ac, dense};
    if (rc == 0)
        rc = pl_route_owned(r->comm, q, n, PL_KEY_REC, r->cap, serve_node,
                            &nx, 5, rt, NULL, NULL);
    free(q);
    uint64_t k = 0;
    *cut = 0;
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        uint32_t dt;
        memcpy(&dt, rt + 5 * i, 4);
        int weak = !tri[i] && dense[i] && rt[5 * i + 4] &&
                   dh[i] <= PL_DD_MAX_DEGREE && dt <= PL_DD_MAX_DEGREE;
        if (weak) {
            (*cut)++;
            continue;
        }
        if (k != i)
            memcpy(adj + k * PL_EDGE_REC, adj + i * PL_EDGE_REC, PL_EDGE_REC);
        k++;
    }
    if (rc == 0)
        *na = k;
    free(rt);
    free(tri);
    free(dense);
    free(dh);
    return rc;
}

/* ------------------------------------------------------------------------
 * Pids: at the owner of the cluster's label */

#define A_REC (PL_KEY_REC + 8 + 1 + 16)     /* label, row, linked, pid */
#define Q_REC (PL_KEY_REC + 8)              /* label, row */
#define R_REC (8 + 8 + 16)                  /* row, cluster, pid */

static int cmp_arec(const void *x, const void *y)
{
    const uint8_t *a = x, *b = y;
    int c = memcmp(a, b, PL_KEY_REC);         /* label */
    if (c)
        return c;
    if (a[PL_KEY_REC + 8] != b[PL_KEY_REC + 8])   /* linked first */
        return a[PL_KEY_REC + 8] > b[PL_KEY_REC + 8] ? -1 : 1;
    c = memcmp(a + PL_KEY_REC + 9, b + PL_KEY_REC + 9, 16);   /* pid */
    if (c)
        return c;
    return memcmp(a + PL_KEY_REC, b + PL_KEY_REC, 8);         /* row */
}

static int cmp_rrec(const void *x, const void *y)
{
    return memcmp(x, y, 8);     /* row, big-endian */
}

typedef struct {
    const uint8_t *res;
    uint64_t n;
} res_ctx;

/* Serve: label || row -> cluster (8, native) || pid. */
static int serve_result(const uint8_t *recv, size_t n, uint8_t *reply,
                        void *ctx)
{
    const res_ctx *rc = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = bsearch(recv + i * Q_REC + PL_KEY_REC, rc->res,
                                   rc->n, R_REC, cmp_rrec);
        uint8_t *o = reply + i * 24;
        if (!h) {
            pl_err("internal error: a record's cluster was not assigned");
            return -1;
        }
        uint64_t cl = pl_get_be64(h + 8);
        memcpy(o, &cl, 8);
        memcpy(o + 8, h + 16, 16);
    }
    return 0;
}

/* One cluster (records a[0..n), sorted by cmp_arec) -> results. */
static int assign(pl_run *r, dsrc *d, const uint8_t *a, uint64_t n,
                  uint8_t *res)
{
    uint64_t label = node_row(a);
    uint64_t nl = 0;
    while (nl < n && a[nl * A_REC + PL_KEY_REC + 8])
        nl++;
    size_t persons = 0;
    for (uint64_t i = 0; i < nl; i++)
        persons += i == 0 || memcmp(a + i * A_REC + PL_KEY_REC + 9,
                                    a + (i - 1) * A_REC + PL_KEY_REC + 9,
                                    16) != 0;
    uint8_t newpid[16];
    uint64_t unl_min = UINT64_MAX;
    for (uint64_t i = nl; i < n; i++) {
        uint64_t row = pl_get_be64(a + i * A_REC + PL_KEY_REC);
        if (row < unl_min)
            unl_min = row;
    }
    if (persons == 0) {
        if (pl_probalink_new_pid(r, d->name, label, newpid) != 0)
            return -1;
    } else if (persons >= 2 && nl < n) {
        if (pl_probalink_new_pid(r, d->name, unl_min, newpid) != 0)
            return -1;
    }
    if (persons >= 2)
        d->split++;
    for (uint64_t i = 0; i < n;) {
        /* a run: one person's linked records, or the unlinked ones */
        uint64_t j = i + 1;
        int lk = i < nl;
        while (j < n && (lk ? j < nl && memcmp(a + j * A_REC + PL_KEY_REC + 9,
                                               a + i * A_REC + PL_KEY_REC + 9,
                                               16) == 0
                            : 1))
            j++;
        uint64_t cl = label;
        const uint8_t *pid = newpid;
        if (persons == 1)
            pid = a + PL_KEY_REC + 9;
        else if (persons >= 2) {
            cl = UINT64_MAX;
            for (uint64_t k = i; k < j; k++) {
                uint64_t row = pl_get_be64(a + k * A_REC + PL_KEY_REC);
                if (row < cl)
                    cl = row;
            }
            pid = lk ? a + i * A_REC + PL_KEY_REC + 9 : newpid;
        }
        for (uint64_t k = i; k < j; k++) {
            uint8_t *o = res + k * R_REC;
            memcpy(o, a + k * A_REC + PL_KEY_REC, 8);
            pl_put_be64(o + 8, cl);
            memcpy(o + 16, pid, 16);
        }
        i = j;
    }
    pl_wipe(newpid, sizeof newpid);
    return 0;
}

/* Collective: every record's cluster and pid (dedup.h 5). labels: this
 * rank's records' labels. */
static int cluster_pids(pl_run *r, dsrc *d, const pl_probalink_src *ps,
                        const uint8_t *labels, uint8_t *pid_out)
{
    uint64_t n = d->count;
    uint8_t *s = pl_xcalloc_huge(n * A_REC + 1);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *o = s + i * A_REC;
        memcpy(o, labels + i * PL_KEY_REC, PL_KEY_REC);
        pl_put_be64(o + PL_KEY_REC, d->first + i);
        if (ps->linked && ps->status[i] == 1) {
            o[PL_KEY_REC + 8] = 1;
            memcpy(o + PL_KEY_REC + 9, ps->pid + 16 * i, 16);
        } else if (ps->linked && ps->status[i] == PL_LK_OPPOSED) {
            /* linked to an opposed person: a person of its own whose pid
             * is zero (never written), so that its cluster goes with it */
            o[PL_KEY_REC + 8] = 2;
            memset(o + PL_KEY_REC + 9, 0, 16);
        }
    }
    uint8_t *g = NULL;
    uint64_t ng = 0;
    int rc = pl_route_gather(r->comm, s, n, A_REC, r->cap, &g, &ng, NULL);
    if (rc != 0) {
        pl_wipe(s, n * A_REC);
        free(s);
        return -1;
    }
    qsort(g, ng, A_REC, cmp_arec);
    uint8_t *res = pl_xmalloc_huge(ng * R_REC + 1);
    int ok = 1;
    for (uint64_t i = 0; i < ng && ok;) {
        uint64_t j = i + 1;
        while (j < ng && memcmp(g + j * A_REC, g + i * A_REC, PL_KEY_REC) == 0)
            j++;
        ok = assign(r, d, g + i * A_REC, j - i, res + i * R_REC) == 0;
        i = j;
    }
    if (!ok)
        pl_err("cannot draw a random pid");
    pl_wipe(g, ng * A_REC);
    free(g);
    qsort(res, ng, R_REC, cmp_rrec);
    /* queries: label || row */
    uint8_t *q = pl_xmalloc_huge(n * Q_REC + 1);
    for (uint64_t i = 0; i < n; i++)
        memcpy(q + i * Q_REC, s + i * A_REC, Q_REC);
    pl_wipe(s, n * A_REC);
    free(s);
    uint8_t *rep = pl_xmalloc_huge(n * 24 + 1);
    res_ctx rx = {res, ng};
    if (!pl_all_ok(r->comm, ok))
        rc = -1;
    if (rc == 0)
        rc = pl_route_owned(r->comm, q, n, Q_REC, r->cap, serve_result, &rx,
                            24, rep, NULL, NULL);
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        memcpy(&d->cluster[i], rep + 24 * i, 8);
        memcpy(pid_out + 16 * i, rep + 24 * i + 8, 16);
    }
    pl_wipe(res, ng * R_REC);
    pl_wipe(rep, n * 24);
    free(res);
    free(rep);
    free(q);
    return rc;
}

/* ------------------------------------------------------------------------
 * Report (rank 0): sizes, and with a truth pairwise precision / recall */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static int cmp_u64x2(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y;
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* Pairs within groups of equal values of a sorted array (stride words,
 * compared on all of them). */
static uint64_t pairs_of(const uint64_t *v, uint64_t n, size_t stride)
{
    uint64_t t = 0;
    for (uint64_t i = 0; i < n;) {
        uint64_t j = i + 1;
        while (j < n && memcmp(v + j * stride, v + i * stride,
                               stride * 8) == 0)
            j++;
        t += (j - i) * (j - i - 1) / 2;
        i = j;
    }
    return t;
}

static int report(pl_run *r, dsrc *d)
{
    int *rc = pl_xcalloc((size_t)r->size, sizeof *rc);
    int *rd = pl_xcalloc((size_t)r->size, sizeof *rd);
    for (int i = 0; i < r->size; i++) {
        uint64_t f, n;
        pl_block(d->nrows, i, r->size, &f, &n);
        rc[i] = (int)n;
        rd[i] = (int)f;
    }
    uint64_t N = d->nrows;
    uint64_t *all = pl_xmalloc_huge((r->rank == 0 ? N : 0) * 8 + 8);
    /* a record left out by an opposition is in no cluster reported */
    pl_probalink_src ps;
    int lk = pl_probalink_source(r, d->name, &ps) == 0 && ps.linked;
    uint64_t *mine = pl_xmalloc_huge(d->count * 8 + 8);
    for (uint64_t i = 0; i < d->count; i++)
        mine[i] = lk && ps.status[i] == PL_LK_OPPOSED ? UINT64_MAX
                                                      : d->cluster[i];
    PL_MPI_CHECK(MPI_Gatherv(mine, (int)d->count, MPI_UINT64_T, all,
                             rc, rd, MPI_UINT64_T, 0, r->comm));
    free(mine);
    free(rc);
    free(rd);
    uint64_t *truth = NULL;
    int ht = pl_probalink_truth(r, d->name, N, &truth);
    if (ht < 0) {
        free(all);
        return -1;
    }
    if (r->rank == 0) {
        uint64_t k = 0;
        for (uint64_t i = 0; i < N; i++)
            if (all[i] != UINT64_MAX) {
                all[k] = all[i];
                if (ht > 0)
                    truth[k] = truth[i];
                k++;
            }
        N = k;
    }
    uint64_t v[9 + PL_DD_SIZES] = {0};
    double t3[3] = {0, 0, 0};
    if (r->rank == 0) {
        uint64_t *sorted = pl_xmalloc_huge(N * 8 + 8);
        memcpy(sorted, all, N * 8);
        qsort(sorted, N, 8, cmp_u64);
        for (uint64_t i = 0; i < N;) {
            uint64_t j = i + 1;
            while (j < N && sorted[j] == sorted[i])
                j++;
            d->clusters++;
            uint64_t sz = j - i;
            d->sizes[sz >= PL_DD_SIZES ? PL_DD_SIZES - 1 : sz - 1]++;
            i = j;
        }
        d->t_pred = pairs_of(sorted, N, 1);
        if (ht > 0) {
            uint64_t *cp = pl_xmalloc_huge(N * 16 + 16);
            memcpy(sorted, truth, N * 8);
            qsort(sorted, N, 8, cmp_u64);
            d->t_true = pairs_of(sorted, N, 1);
            for (uint64_t i = 0; i < N; i++) {
                cp[2 * i] = all[i];
                cp[2 * i + 1] = truth[i];
            }
            qsort(cp, N, 16, cmp_u64x2);
            d->t_tp = pairs_of(cp, N, 2);
            free(cp);
            d->has_truth = 1;
            d->t_precision = d->t_pred ? (double)d->t_tp / (double)d->t_pred
                                       : 1.0;
            d->t_recall = d->t_true ? (double)d->t_tp / (double)d->t_true
                                    : 1.0;
            d->t_f1 = d->t_precision + d->t_recall > 0
                          ? 2 * d->t_precision * d->t_recall /
                                (d->t_precision + d->t_recall)
                          : 0;
        }
        free(sorted);
        v[0] = d->clusters;
        v[1] = d->t_pred;
        v[2] = d->t_true;
        v[3] = d->t_tp;
        v[4] = (uint64_t)d->has_truth;
        memcpy(v + 9, d->sizes, sizeof d->sizes);
        t3[0] = d->t_precision;
        t3[1] = d->t_recall;
        t3[2] = d->t_f1;
    }
    free(all);
    free(truth);
    PL_MPI_CHECK(MPI_Bcast(v, 9 + PL_DD_SIZES, MPI_UINT64_T, 0, r->comm));
    PL_MPI_CHECK(MPI_Bcast(t3, 3, MPI_DOUBLE, 0, r->comm));
    d->clusters = v[0];
    d->t_pred = v[1];
    d->t_true = v[2];
    d->t_tp = v[3];
    d->has_truth = (int)v[4];
    memcpy(d->sizes, v + 9, sizeof d->sizes);
    d->t_precision = t3[0];
    d->t_recall = t3[1];
    d->t_f1 = t3[2];
    return 0;
}

/* ------------------------------------------------------------------------
 * One source */

static void sum_u64(MPI_Comm comm, uint64_t *v, int n)
{
    PL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM,
                               comm));
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int dedup_one(pl_run *r, dsrc *d)
{
    const pl_linkage_cfg *c = r->job->linkage;
    double t0 = MPI_Wtime(), c0 = cpu_now();
    pl_probalink_src ps;
    if (pl_probalink_source(r, d->name, &ps) != 0) {
        pl_err0("internal error: the records of '%s' were not read",
                d->name);
        return -1;
    }
    d->linked = ps.linked;
    d->nrows = ps.nrows;
    d->first = ps.first;
    d->count = ps.count;
    uint64_t N = ps.nrows;
    double tph[2];
    /* 1. the model of pairs within the source (the linkage's fit, self:
     * u from random pairs, m and λ per rule by the EM with u free in the
     * rule's blocks when it splits matches from non-matches) */
    if (pl_probalink_fit(r, NULL, 0, 0, ps.Q, ps.count, N, 1, &d->mo,
                         &d->random_pairs, tph) != 0)
        return -1;
    double t1 = MPI_Wtime();
    d->t_phase[0] = t1 - t0;
    /* 2. accepted pairs */
    score_ctx x = {c, &d->mo, c->dedup_upper, N ? UINT64_MAX / N : 1, NULL,
                   0, 0};
    uint64_t rounds = pl_probalink_rounds(r, ps.count);
    pl_bk_caps caps[PL_LK_MAX_RULES];
    memset(caps, 0, sizeof caps);
    int rc = 0;
    size_t nleaf = pl_bk_leaf_rules(c);
    uint64_t *leaf = pl_bk_leaf_alloc(ps.count, nleaf);
    for (size_t ri = 0; ri < c->n_rules && rc == 0; ri++) {
        pl_bk_params bp = {.rule = (int)ri, .dedup = 1, .rounds = rounds,
                           .cap = r->cap, .caps = caps, .self = 1,
                           .leaf = leaf, .leaf_rules = nleaf,
                           .dict = ps.dict};
        pl_bk_stats st = {0};
        rc = pl_bk_run(r->comm, c, &bp, NULL, 0, ps.Q, ps.count, score_pair,
                       &x, &st);
        d->pairs += st.pairs;
        d->dups += st.dups;
        d->capped_blocks += st.capped_blocks;
        d->capped_pairs += st.capped_pairs;
        if (rc == 0 && !pl_all_ok(r->comm, !*r->stop))
            rc = -1;            /* a SIGTERM: stop between rules */
    }
    pl_bk_leaf_free(leaf, ps.count, nleaf);
    pl_bk_caps_free(caps, c->n_rules);
    if (rc != 0) {
        free(x.e);
        return -1;
    }
    uint64_t sv[5] = {d->pairs, d->dups, d->capped_blocks, d->capped_pairs,
                      x.ne / 2};
    sum_u64(r->comm, sv, 5);
    d->pairs = sv[0];
    d->dups = sv[1];
    d->capped_blocks = sv[2];
    d->capped_pairs = sv[3];
    d->accepted = sv[4];
    if (r->rank == 0 && d->capped_blocks)
        pl_warn("linkage dedup %s: %llu blocks above max_block (%llu "
                "records) capped, %llu pairs not compared", d->name,
                (unsigned long long)d->capped_blocks,
                (unsigned long long)c->max_block,
                (unsigned long long)d->capped_pairs);
    /* edges at the owner of their first node, sorted, unique */
    uint8_t *adj = NULL;
    uint64_t na = 0;
    rc = pl_route_gather(r->comm, x.e, x.ne, PL_EDGE_REC, r->cap, &adj, &na,
                         NULL);
    free(x.e);
    if (rc != 0)
        return -1;
    qsort(adj, na, PL_EDGE_REC, cmp_edge);
    uint64_t k = 0;
    for (uint64_t i = 0; i < na; i++)
        if (k == 0 || memcmp(adj + i * PL_EDGE_REC,
                             adj + (k - 1) * PL_EDGE_REC, PL_EDGE_REC) != 0) {
            if (k != i)
                memcpy(adj + k * PL_EDGE_REC, adj + i * PL_EDGE_REC,
                       PL_EDGE_REC);
            k++;
        }
    na = k;
    double t2 = MPI_Wtime();
    d->t_phase[1] = t2 - t1;
    /* 3. weak bridges */
    uint64_t cut = 0;
    if (cut_bridges(r, adj, &na, &cut) != 0) {
        free(adj);
        return -1;
    }
    sum_u64(r->comm, &cut, 1);
    d->bridges = cut / 2;
    /* 4. clusters */
    char what[PL_NAME_MAX + 48];
    snprintf(what, sizeof what, "the accepted pairs of '%s'", d->name);
    pl_kmap nm;
    rc = pl_cc_label(r->comm, r->cap, adj, na, what, "its clusters", &nm,
                     &d->cc_rounds);
    free(adj);
    if (rc != 0)
        return -1;
    uint8_t *q = pl_xmalloc_huge(d->count * PL_KEY_REC + 1);
    uint8_t *lab = pl_xmalloc_huge(d->count * PL_KEY_REC + 1);
    for (uint64_t i = 0; i < d->count; i++)
        node_of(d->first + i, x.scale, q + i * PL_KEY_REC);
    rc = pl_route_owned(r->comm, q, d->count, PL_KEY_REC, r->cap,
                        pl_cc_serve_label, &nm, PL_KEY_REC, lab, NULL, NULL);
    pl_kmap_free(&nm);
    free(q);
    /* 5. pids */
    d->cluster = pl_xmalloc_huge(d->count * 8 + 8);
    uint8_t *pid = pl_xcalloc_huge(d->count * 16 + 16);
    if (rc == 0)
        rc = cluster_pids(r, d, &ps, lab, pid);
    free(lab);
    if (rc == 0) {
        if (ps.linked) {
            /* a zero pid: the cluster's (part's) person is opposed */
            static const uint8_t zero[16];
            uint8_t *opp = pl_xcalloc(d->count + 1, 1);
            for (uint64_t i = 0; i < d->count; i++)
                opp[i] = memcmp(pid + 16 * i, zero, 16) == 0;
            memcpy(ps.pid, pid, d->count * 16);
            rc = pl_probalink_oppose(r, d->name, opp);
            free(opp);
        } else
            d->pid = pid;
    }
    if (!d->pid) {
        pl_wipe(pid, d->count * 16);
        free(pid);
    }
    if (rc != 0)
        return -1;
    sum_u64(r->comm, &d->split, 1);
    double t3 = MPI_Wtime();
    d->t_phase[2] = t3 - t2;
    if (report(r, d) != 0)
        return -1;
    d->t_phase[3] = MPI_Wtime() - t3;
    d->seconds = MPI_Wtime() - t0;
    d->cpu = cpu_now() - c0;
    return 0;
}

int pl_dedup_run(pl_run *r)
{
    const pl_linkage_cfg *c = r->job->linkage;
    if (!c || c->n_dedup == 0)
        return 0;
    struct pl_dedup_state *s = pl_xcalloc(1, sizeof *s);
    r->dedup = s;
    s->d = pl_xcalloc(c->n_dedup, sizeof *s->d);
    s->n = c->n_dedup;
    for (size_t k = 0; k < s->n; k++) {
        snprintf(s->d[k].name, sizeof s->d[k].name, "%s", c->dedup[k]);
        if (dedup_one(r, &s->d[k]) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Outputs */

static int put_rows(pl_run *r, hid_t g, const char *fname, const char *name,
                    hid_t ft, hid_t mt, const dsrc *d, const void *buf)
{
    hid_t ds = pl_h5_dataset(fname, g, name, ft, d->nrows, 0);
    int ok = ds >= 0 && pl_h5_write_rows(fname, ds, name, mt, d->first,
                                         d->count, 0, buf, r->dxpl) == 0;
    if (ds >= 0)
        H5Dclose(ds);
    return pl_all_ok(r->comm, ok);
}

/* A step of an output written by every rank: its result on all ranks, so
 * that they stop at the same step (a write failing on one rank only, a
 * full file system, must not leave the others in the next collective). */
static int aok(pl_run *r, int v)
{
    return pl_all_ok(r->comm, v);
}

static int write_one(pl_run *r, hid_t f, const char *fname, const dsrc *d)
{
    const pl_linkage_cfg *c = r->job->linkage;
    int ok = 1;
    hid_t gl = pl_h5_group(f, "linked");
    hid_t g = gl >= 0 ? pl_h5_group(gl, d->name) : -1;
    ok &= g >= 0;
    if (ok && !d->linked) {
        hid_t s32 = pl_str_type(32);
        char *hex = pl_xmalloc_huge(d->count * 32 + 1);
        uint64_t *rows = pl_xmalloc_huge(d->count * 8 + 8);
        for (uint64_t i = 0; i < d->count; i++) {
            pl_hex16(d->pid + 16 * i, hex + 32 * i);
            rows[i] = d->first + i;
        }
        ok = put_rows(r, g, fname, "pid", s32, s32, d, hex) &&
             put_rows(r, g, fname, "row", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                      d, rows) &&
             aok(r, pl_attr_u64(g, "rows_read", d->nrows) == 0);
        free(hex);
        free(rows);
        H5Tclose(s32);
    }
    if (ok && d->linked) {
        /* aligned with /linked/<source>/row: the records an opposition
         * left out are not written */
        pl_probalink_src ps;
        ok = pl_probalink_source(r, d->name, &ps) == 0;
        uint64_t *cl = pl_xmalloc_huge(d->count * 8 + 8), n = 0, off = 0,
                 tot = 0;
        for (uint64_t i = 0; ok && i < d->count; i++)
            if (ps.status[i] != PL_LK_OPPOSED)
                cl[n++] = d->cluster[i];
        pl_exscan(r->comm, n, &off, &tot);
        hid_t ds = ok ? pl_h5_dataset(fname, g, "cluster", H5T_STD_U64LE,
                                      tot, 0) : -1;
        ok = aok(r, ds >= 0 && pl_h5_write_rows(fname, ds, "cluster",
                                                H5T_NATIVE_UINT64, off, n, 0,
                                                cl, r->dxpl) == 0);
        if (ds >= 0)
            H5Dclose(ds);
        free(cl);
    } else
        ok = ok && put_rows(r, g, fname, "cluster", H5T_STD_U64LE,
                            H5T_NATIVE_UINT64, d, d->cluster);
    ok = ok && aok(r, pl_attr_u64(g, "clusters", d->clusters) == 0);
    if (g >= 0)
        H5Gclose(g);
    if (gl >= 0)
        H5Gclose(gl);
    hid_t gk = ok ? pl_h5_group(f, "linkage") : -1;
    hid_t g2 = gk >= 0 ? pl_h5_group(gk, d->name) : -1;
    hid_t g3 = g2 >= 0 ? pl_h5_group(g2, "dedup") : -1;
    ok &= g3 >= 0;
    if (ok) {
        ok = pl_probalink_put_model(r, g3, fname, &d->mo) &&
             aok(r, pl_h5_put(g3, fname, "cluster_sizes", H5T_STD_U64LE,
                       PL_DD_SIZES, 0, d->sizes, 1, r->dxpl) == 0) &&
             aok(r, pl_attr_f64(g3, "lambda", d->mo.lambda) == 0) &&
             aok(r, pl_attr_f64(g3, "prior_weight", d->mo.prior_w) == 0) &&
             aok(r, pl_attr_f64(g3, "upper", c->dedup_upper) == 0) &&
             aok(r, pl_attr_u64(g3, "em_iterations", d->mo.iterations) == 0) &&
             aok(r, pl_attr_u64(g3, "em_seed", c->seed) == 0) &&
             aok(r, pl_attr_u64(g3, "em_free_u", d->mo.free_u) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_compared", d->pairs) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_duplicate", d->dups) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_random", d->random_pairs) == 0) &&
             aok(r, pl_attr_u64(g3, "blocks_capped", d->capped_blocks) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_capped", d->capped_pairs) == 0) &&
             aok(r, pl_attr_u64(g3, "pairs_accepted", d->accepted) == 0) &&
             aok(r, pl_attr_u64(g3, "bridges_cut", d->bridges) == 0) &&
             aok(r, pl_attr_u64(g3, "max_degree", PL_DD_MAX_DEGREE) == 0) &&
             aok(r, pl_attr_u64(g3, "clusters", d->clusters) == 0) &&
             aok(r, pl_attr_u64(g3, "clusters_split", d->split) == 0) &&
             aok(r, pl_attr_u64(g3, "linked", (uint64_t)d->linked) == 0);
        if (ok && d->has_truth)
            ok = aok(r, pl_attr_u64(g3, "true_pairs", d->t_true) == 0) &&
                 aok(r, pl_attr_u64(g3, "predicted_pairs", d->t_pred) == 0) &&
                 aok(r, pl_attr_u64(g3, "correct_pairs", d->t_tp) == 0) &&
                 aok(r, pl_attr_f64(g3, "true_precision", d->t_precision) == 0) &&
                 aok(r, pl_attr_f64(g3, "true_recall", d->t_recall) == 0) &&
                 aok(r, pl_attr_f64(g3, "true_f1", d->t_f1) == 0);
    }
    if (g3 >= 0)
        H5Gclose(g3);
    if (g2 >= 0)
        H5Gclose(g2);
    if (gk >= 0)
        H5Gclose(gk);
    return ok ? 0 : -1;
}

int pl_dedup_write(pl_run *r, const char *fname)
{
    struct pl_dedup_state *s = r->dedup;
    if (!s)
        return 0;
    hid_t f = pl_out_open_h5(r->comm, fname, "the dedup outputs");
    if (f < 0)
        return -1;
    int ok = 1;
    for (size_t k = 0; k < s->n && ok; k++)
        ok = pl_all_ok(r->comm, write_one(r, f, fname, &s->d[k]) == 0);
    if (pl_out_close_h5(f) < 0)
        ok = 0;
    return pl_all_ok(r->comm, ok) ? 0 : -1;
}

void pl_dedup_summary(const pl_run *r)
{
    const struct pl_dedup_state *s = r->dedup;
    if (!s || r->rank != 0)
        return;
    for (size_t k = 0; k < s->n; k++) {
        const dsrc *d = &s->d[k];
        pl_info("linkage dedup %s: %llu rows, %llu clusters (%llu of one "
                "record), %llu pairs compared, %llu accepted, %llu weak "
                "bridges cut, %llu clusters split along their links; "
                "lambda %.3g, %.3f s", d->name,
                (unsigned long long)d->nrows,
                (unsigned long long)d->clusters,
                (unsigned long long)d->sizes[0],
                (unsigned long long)d->pairs,
                (unsigned long long)d->accepted,
                (unsigned long long)d->bridges,
                (unsigned long long)d->split, d->mo.lambda, d->seconds);
        pl_info("linkage dedup %s: seconds (rank 0): model %.3f, pairs "
                "%.3f, bridges, clusters and pids %.3f, report %.3f; cpu "
                "seconds (rank 0) %.3f", d->name, d->t_phase[0],
                d->t_phase[1], d->t_phase[2], d->t_phase[3], d->cpu);
        if (d->has_truth)
            pl_info("linkage dedup %s: true pairwise precision %.4f recall "
                    "%.4f F1 %.4f", d->name, d->t_precision, d->t_recall,
                    d->t_f1);
    }
}

void pl_dedup_free(pl_run *r)
{
    struct pl_dedup_state *s = r->dedup;
    if (!s)
        return;
    for (size_t k = 0; k < s->n; k++) {
        free(s->d[k].cluster);
        if (s->d[k].pid)
            pl_wipe(s->d[k].pid, s->d[k].count * 16);
        free(s->d[k].pid);
    }
    free(s->d);
    free(s);
    r->dedup = NULL;
}
