/* assign.h — distributed greedy one-to-one matching of a weighted bipartite
 * graph (used by the probabilistic linkage, docs/LINKAGE.md).
 *
 * The result is exactly the sequential greedy's: edges taken best first
 * (weight descending, ties by left id, then right id, both ascending), an
 * edge kept when neither of its endpoints is taken yet. With a strict total
 * order on the edges that matching is unique, and it is what the "locally
 * dominant edge" algorithm computes (Preis 1999; Manne and Bisseling 2007):
 * every free vertex points at its best edge to a free vertex; an edge both
 * endpoints point at is matched; a matched vertex tells its other
 * neighbours it is gone, and they point at their next edge. Here each left
 * vertex lives on the rank the caller put its edges on, each right vertex
 * on the owner of a hash of its id (a copy of each edge goes there), and
 * the messages (8 bytes: point, gone, matched) travel in all-to-all rounds
 * (pl_route) until no rank has any left. Every edge carries at most six
 * messages, so the rounds and the work are bounded by the edges; the round
 * count is the length of the longest chain of edges decided one after the
 * other (4 on the 1 M synthetic linkage; K for K x K edges of one
 * weight). Memory: about 150 bytes per edge (a copy at each endpoint's
 * owner, with its flags and indexes) plus 12 bytes per message of a
 * round; the caller's edges are not kept.
 *
 * Left and right ids are two separate id spaces (a record row and a person
 * row; a cluster id could be either). An id is any uint64_t.
 */
#ifndef PL_PAR_ASSIGN_H
#define PL_PAR_ASSIGN_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t l, r;              /* left vertex, right vertex */
    double   w;                 /* weight (not NaN) */
} pl_as_edge;

typedef struct {
    uint64_t rounds;            /* message rounds (the same on every rank) */
    uint64_t messages;          /* sent by this rank */
    uint64_t matched;           /* edges matched among this rank's edges */
} pl_as_stats;

/* Collective. e: this rank's n edges; every edge of a left vertex must be
 * on one rank (the caller's partition, e.g. the owner of a record row);
 * right vertices may have edges on any rank. matched[i] is set to 1 when
 * e[i] is in the greedy matching, else 0 (the same whatever the rank count
 * and the order of the edges). An edge given twice counts once (the first
 * copy in e is the one marked). stats may be NULL.
 * Returns 0, or -1 on every rank (matched left undefined) after a message:
 * an edge with a NaN weight (no order), more than 2^61 edges on a rank, or
 * messages found inconsistent during the rounds (which the contract rules
 * out: a left vertex split over ranks). Ids are never printed. */
int pl_assign(MPI_Comm comm, const pl_as_edge *e, size_t n,
              uint8_t *matched, pl_as_stats *stats);

#endif
