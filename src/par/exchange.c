/* exchange.c — see exchange.h. */
#include "par/exchange.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A round stages at most this many records per rank (send and receive),
 * which bounds the extra memory of the exchange at a few hundred MiB
 * whatever the batch size. */
#define PL_ROUND_RECORDS (8u << 20)

void pl_group_by_owner(const uint8_t *in, size_t n, size_t recsize,
                       int size, uint64_t *counts, uint8_t *out,
                       size_t *perm)
{
    uint64_t *pos = pl_xcalloc((size_t)size, sizeof *pos);
    memset(counts, 0, (size_t)size * sizeof *counts);
    for (size_t i = 0; i < n; i++)
        counts[pl_owner_of(in + i * recsize, size)]++;
    for (int d = 1; d < size; d++)
        pos[d] = pos[d - 1] + counts[d - 1];
    for (size_t i = 0; i < n; i++) {
        int d = pl_owner_of(in + i * recsize, size);
        size_t at = pos[d]++;
        memcpy(out + at * recsize, in + i * recsize, recsize);
        if (perm)
            perm[i] = at;
    }
    free(pos);
}

static uint64_t choose_cap(uint64_t cap, int size)
{
    uint64_t lim = (uint64_t)INT_MAX / (uint64_t)size;
    uint64_t stage = PL_ROUND_RECORDS / (uint64_t)size;
    if (stage < lim)
        lim = stage;
    if (lim == 0)
        lim = 1;
    return (cap == 0 || cap > lim) ? lim : cap;
}

typedef struct {
    int *sc, *sd, *rc, *rd;     /* this round's counts and displacements */
    uint8_t *sbuf, *rep_out;    /* staging, only when a round is partial */
} round_bufs;

/* Receive-side buffers are kept from one call to the next: a batch loop
 * calls pl_route dozens of times with the same sizes, and fresh
 * multi-megabyte buffers cost a page fault per 4 KiB each time. They are
 * wiped (they held p1 values) at the end of every call. */
static struct {
    uint8_t *rbuf, *rep_in;
    size_t rbuf_bytes, rep_bytes;
} keep;

static void *keep_grow(uint8_t **buf, size_t *have, size_t need)
{
    if (need > *have) {
        free(*buf);
        *buf = pl_xmalloc(need);
        *have = need;
    }
    return *buf;
}

void pl_route_release(void)
{
    free(keep.rbuf);
    free(keep.rep_in);
    memset(&keep, 0, sizeof keep);
}

/* Does this rank's remaining data go in one round (the usual case)? Then
 * it is sent from `send` and replies land in `reply`: no staging copies. */
static int one_round(const uint64_t *counts, const uint64_t *sent, int size,
                     uint64_t cap)
{
    for (int d = 0; d < size; d++)
        if (sent[d] != 0 || counts[d] > cap)
            return 0;
    return 1;
}

/* This round's slice per destination; staged contiguously unless direct. */
static uint64_t stage_round(round_bufs *b, const uint8_t *send,
                            const uint64_t *counts, const uint64_t *start,
                            const uint64_t *sent, int size, uint64_t cap,
                            size_t recsize, int direct)
{
    uint64_t ns = 0;
    for (int d = 0; d < size; d++) {
        uint64_t k = counts[d] - sent[d];
        if (k > cap)
            k = cap;
        b->sc[d] = (int)k;
        b->sd[d] = (int)(direct ? start[d] : ns);
        if (!direct)
            memcpy(b->sbuf + ns * recsize,
                   send + (start[d] + sent[d]) * recsize, k * recsize);
        ns += k;
    }
    return ns;
}

/* pl_route and pl_route_into: where == NULL receives into keep.rbuf. */
static int route(MPI_Comm comm, const uint8_t *send, const uint64_t *counts,
                 size_t recsize, uint64_t cap, pl_recv_fn where,
                 pl_serve_fn serve, void *ctx, size_t reply_size,
                 uint8_t *reply, pl_route_stats *stats)
{
    int size;
    MPI_Comm_size(comm, &size);
    cap = choose_cap(cap, size);
    uint64_t *start = pl_xcalloc((size_t)size, sizeof *start);
    uint64_t *sent = pl_xcalloc((size_t)size, sizeof *sent);
    for (int d = 1; d < size; d++)
        start[d] = start[d - 1] + counts[d - 1];
    round_bufs b = {0};
    b.sc = pl_xcalloc((size_t)size, sizeof(int));
    b.sd = pl_xcalloc((size_t)size, sizeof(int));
    b.rc = pl_xcalloc((size_t)size, sizeof(int));
    b.rd = pl_xcalloc((size_t)size, sizeof(int));
    uint64_t total = start[size - 1] + counts[size - 1];
    int direct = one_round(counts, sent, size, cap);
    /* A round never stages more than this rank has to send. */
    uint64_t stage = cap * (uint64_t)size < total ? cap * (uint64_t)size : total;
    if (!direct) {
        b.sbuf = pl_xmalloc(stage * recsize);
        if (reply_size)
            b.rep_out = pl_xmalloc(stage * reply_size);
    }

    MPI_Datatype rec, rep = MPI_DATATYPE_NULL;
    PL_MPI_CHECK(MPI_Type_contiguous((int)recsize, MPI_BYTE, &rec));
    PL_MPI_CHECK(MPI_Type_commit(&rec));
    if (reply_size) {
        PL_MPI_CHECK(MPI_Type_contiguous((int)reply_size, MPI_BYTE, &rep));
        PL_MPI_CHECK(MPI_Type_commit(&rep));
    }
    int status = 0;
    uint64_t nr_max = 0;
    for (;;) {
        int left = 0;
        for (int d = 0; d < size; d++)
            left |= sent[d] < counts[d];
        int any = 0;
        PL_MPI_CHECK(MPI_Allreduce(&left, &any, 1, MPI_INT, MPI_MAX, comm));
        if (!any)
            break;
        uint64_t ns = stage_round(&b, send, counts, start, sent, size, cap,
                                  recsize, direct);
        PL_MPI_CHECK(MPI_Alltoall(b.sc, 1, MPI_INT, b.rc, 1, MPI_INT, comm));
        uint64_t nr = 0;
        for (int d = 0; d < size; d++) {
            b.rd[d] = (int)nr;
            nr += (uint64_t)b.rc[d];
        }
        if (nr > nr_max)
            nr_max = nr;
        uint8_t *rbuf = where ? where(nr, ctx)
                              : keep_grow(&keep.rbuf, &keep.rbuf_bytes,
                                          (nr ? nr : 1) * recsize);
        uint8_t *rep_in = reply_size ? keep_grow(&keep.rep_in, &keep.rep_bytes,
                                                 (nr ? nr : 1) * reply_size)
                                     : NULL;
        PL_MPI_CHECK(MPI_Alltoallv(direct ? send : b.sbuf, b.sc, b.sd, rec,
                                   rbuf, b.rc, b.rd, rec, comm));
        int rc = serve(rbuf, nr, rep_in, ctx);
        int bad = rc != 0, anybad = 0;
        PL_MPI_CHECK(MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm));
        if (anybad) {
            status = -1;
            break;
        }
        if (reply_size) {
            PL_MPI_CHECK(MPI_Alltoallv(rep_in, b.rc, b.rd, rep,
                                       direct ? reply : b.rep_out, b.sc, b.sd,
                                       rep, comm));
            for (int d = 0; d < size && !direct; d++)
                memcpy(reply + (start[d] + sent[d]) * reply_size,
                       b.rep_out + (uint64_t)b.sd[d] * reply_size,
                       (size_t)b.sc[d] * reply_size);
        }
        for (int d = 0; d < size; d++)
            sent[d] += (uint64_t)b.sc[d];
        if (stats) {
            stats->rounds++;
            stats->sent += ns;
            stats->received += nr;
        }
    }
    /* Staging and receive buffers held p1 values: wipe what was used
     * (the caller's, with where, are the caller's to wipe). */
    if (keep.rbuf && !where)
        pl_wipe(keep.rbuf, nr_max * recsize);
    if (b.sbuf)
        pl_wipe(b.sbuf, stage * recsize);
    MPI_Type_free(&rec);
    if (reply_size)
        MPI_Type_free(&rep);
    free(b.sc); free(b.sd); free(b.rc); free(b.rd);
    free(b.sbuf); free(b.rep_out);
    free(start);
    free(sent);
    return status;
}

int pl_route(MPI_Comm comm, const uint8_t *send, const uint64_t *counts,
             size_t recsize, uint64_t cap, pl_serve_fn serve, void *ctx,
             size_t reply_size, uint8_t *reply, pl_route_stats *stats)
{
    return route(comm, send, counts, recsize, cap, NULL, serve, ctx,
                 reply_size, reply, stats);
}

int pl_route_into(MPI_Comm comm, const uint8_t *send, const uint64_t *counts,
                  size_t recsize, uint64_t cap, pl_recv_fn where,
                  pl_serve_fn serve, void *ctx, pl_route_stats *stats)
{
    return route(comm, send, counts, recsize, cap, where, serve, ctx, 0, NULL,
                 stats);
}

/* ------------------------------------------------------------------------ */
/* Route to owners */

static void *grow(void *p, size_t *have, size_t need)
{
    if (need <= *have)
        return p;
    free(p);
    *have = need;
    return pl_xmalloc(need);
}

void pl_route_bufs_free(pl_route_bufs *b)
{
    pl_wipe(b->grouped, b->grouped_bytes);
    free(b->grouped);
    free(b->replies);
    free(b->perm);
    free(b->counts);
    memset(b, 0, sizeof *b);
}

int pl_route_owned(MPI_Comm comm, const uint8_t *recs, size_t n,
                   size_t recsize, uint64_t cap, pl_serve_fn serve, void *ctx,
                   size_t reply_size, uint8_t *replies, pl_route_bufs *bufs,
                   pl_route_stats *stats)
{
    pl_route_bufs tmp;
    memset(&tmp, 0, sizeof tmp);
    pl_route_bufs *b = bufs ? bufs : &tmp;
    int size;
    MPI_Comm_size(comm, &size);
    if (b->size != size) {
        free(b->counts);
        b->counts = pl_xcalloc((size_t)size, sizeof *b->counts);
        b->size = size;
    }
    b->grouped = grow(b->grouped, &b->grouped_bytes, (n ? n : 1) * recsize);
    if (reply_size) {
        b->replies = grow(b->replies, &b->replies_bytes,
                          (n ? n : 1) * reply_size);
        size_t pn = b->perm_n * sizeof *b->perm;
        b->perm = grow(b->perm, &pn, (n ? n : 1) * sizeof *b->perm);
        b->perm_n = pn / sizeof *b->perm;
    }
    pl_group_by_owner(recs, n, recsize, size, b->counts, b->grouped,
                      reply_size ? b->perm : NULL);
    int rc = pl_route(comm, b->grouped, b->counts, recsize, cap, serve, ctx,
                      reply_size, reply_size ? b->replies : NULL, stats);
    pl_wipe(b->grouped, n * recsize);
    if (rc == 0 && reply_size)
        for (size_t i = 0; i < n; i++)
            memcpy(replies + i * reply_size,
                   b->replies + b->perm[i] * reply_size, reply_size);
    if (b == &tmp)
        pl_route_bufs_free(&tmp);
    return rc;
}

typedef struct {
    uint8_t *buf;
    uint64_t n, cap;
    size_t   recsize;
} gather_vec;

static int gather(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)reply;
    gather_vec *v = ctx;
    if (n == 0)                 /* v->buf may still be NULL */
        return 0;
    if (v->n + n > v->cap) {
        v->cap = (v->n + n) + (v->n + n) / 2;
        v->buf = pl_xrealloc(v->buf, (v->cap ? v->cap : 1) * v->recsize);
    }
    memcpy(v->buf + v->n * v->recsize, recv, n * v->recsize);
    v->n += n;
    return 0;
}

int pl_route_gather(MPI_Comm comm, const uint8_t *recs, uint64_t n,
                    size_t recsize, uint64_t cap, uint8_t **out,
                    uint64_t *nout, pl_route_stats *stats)
{
    gather_vec v = {NULL, 0, 0, recsize};
    int rc = pl_route_owned(comm, recs, n, recsize, cap, gather, &v, 0, NULL,
                            NULL, stats);
    if (rc != 0) {
        free(v.buf);
        return -1;
    }
    *out = v.buf ? v.buf : pl_xmalloc(recsize);
    *nout = v.n;
    return 0;
}
