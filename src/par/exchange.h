/* exchange.h — moving fixed-size records to the rank that owns them.
 *
 * Only keys travel between ranks (32-byte p1 out, 16-byte pid back; 32-byte
 * link records for the global sort). Records go in rounds of at most `cap`
 * records per destination, so that no MPI count or displacement exceeds
 * INT_MAX whatever the data size, and a round's staging memory stays bounded.
 * Every rank calls pl_route() the same number of times; a rank with nothing
 * to send still takes part in every round.
 */
#ifndef PL_EXCHANGE_H
#define PL_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per round on every rank with the records it received
 * (n may be 0). When the route has replies, it writes n replies of
 * reply_size bytes, in the order received. */
typedef int (*pl_serve_fn)(const uint8_t *recv, size_t n, uint8_t *reply,
                           void *ctx);

typedef struct {
    uint64_t rounds;            /* all-to-all rounds done */
    uint64_t sent, received;    /* records */
} pl_route_stats;

/* `send` holds the records grouped by destination; counts[d] records go to
 * rank d. Replies (if reply_size > 0) are written to `reply` in send order.
 * cap = 0 chooses a cap from INT_MAX and the staging limit. Returns 0, or -1
 * when serve() failed on any rank (every rank returns -1 together). */
int pl_route(MPI_Comm comm, const uint8_t *send, const uint64_t *counts,
             size_t recsize, uint64_t cap, pl_serve_fn serve, void *ctx,
             size_t reply_size, uint8_t *reply, pl_route_stats *stats);

/* Where a round's n records (n may be 0) are to be received: room for n
 * records of recsize bytes in the caller's memory, valid until serve()
 * returns. Never NULL (allocate with the pl_x* functions). */
typedef uint8_t *(*pl_recv_fn)(size_t n, void *ctx);

/* pl_route without replies, each round received straight into where()'s
 * memory and then given to serve() there: a serve() that gathers every
 * round's records (the linkage's blocking) makes no copy of them, and
 * pl_route's own receive buffer is not used. The caller wipes its
 * memory; pl_route_into wipes its staging copy as pl_route does. */
int pl_route_into(MPI_Comm comm, const uint8_t *send, const uint64_t *counts,
                  size_t recsize, uint64_t cap, pl_recv_fn where,
                  pl_serve_fn serve, void *ctx, pl_route_stats *stats);

/* pl_route keeps its receive buffers between calls; this frees them. */
void pl_route_release(void);

/* Owner rank of a key from its first 8 bytes, read big-endian: a range
 * partition, so concatenating ranks in order keeps keys sorted. Keys are
 * HMAC outputs or random, hence uniform: ranges are balanced. */
static inline int pl_owner_of(const uint8_t *key, int size)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | key[i];
    return (int)(((unsigned __int128)v * (unsigned)size) >> 64);
}

/* Group n records of recsize bytes by destination (stable): fills
 * counts[size] and writes the grouped records to `out`; if perm is not NULL,
 * perm[i] = position in `out` of input record i. */
void pl_group_by_owner(const uint8_t *in, size_t n, size_t recsize,
                       int size, uint64_t *counts, uint8_t *out,
                       size_t *perm);

/* ------------------------------------------------------------------------
 * Route to owners: the one way records reach the rank that owns their key.
 * Every caller (stage-2 pids, link records, risk classes, duplicate pids,
 * an incremental run's known persons) goes through pl_route_owned. */

/* Buffers pl_route_owned keeps between calls (a batch loop routes dozens of
 * batches of the same size): zero-initialise, free with
 * pl_route_bufs_free. Memory: n * (recsize + 8 + reply_size) bytes for the
 * largest n routed, plus one count per rank. */
typedef struct {
    uint8_t  *grouped, *replies;
    size_t   *perm;
    uint64_t *counts;
    size_t    grouped_bytes, replies_bytes, perm_n;
    int       size;
} pl_route_bufs;

void pl_route_bufs_free(pl_route_bufs *b);

/* Collective: send n records of recsize bytes (keyed by their first 8
 * bytes, pl_owner_of) to their owner rank, where serve() receives them.
 * When reply_size > 0, replies + i * reply_size receives the answer to
 * record i, in input order. bufs may be NULL (buffers for this call only).
 * The grouped copy of the records is wiped after the call: they may be
 * identifiers. Returns 0, or -1 on every rank when serve() failed on any. */
int pl_route_owned(MPI_Comm comm, const uint8_t *recs, size_t n,
                   size_t recsize, uint64_t cap, pl_serve_fn serve, void *ctx,
                   size_t reply_size, uint8_t *replies, pl_route_bufs *bufs,
                   pl_route_stats *stats);

/* Collective: route n records to their owners and collect what this rank
 * receives into *out (malloc'd, *nout records, unsorted; free()).
 * Returns 0 or -1 on every rank. */
int pl_route_gather(MPI_Comm comm, const uint8_t *recs, uint64_t n,
                    size_t recsize, uint64_t cap, uint8_t **out,
                    uint64_t *nout, pl_route_stats *stats);

#endif
