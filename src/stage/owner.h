/* owner.h — persons on the owner rank: keys, twins, several keys, pids.
 *
 * A key is p1 || birth rank (PL_KEY_REC bytes, rank 0 = none given). Each
 * key has one owner rank (pl_owner_of on p1's first bytes): every rank of
 * one p1 meets on the same owner. The owner keeps every key it has seen
 * (persons' keys, not records) and, once all are known, answers pid
 * requests. Phases, in order:
 *
 *  1. pl_owner_add_serve (serve fn, count pass): record keys (no reply).
 *     pl_owner_edge_serve (serve fn): keyA || keyB of a row that gives two
 *     identities, routed to owner(keyA), kept as an edge of the key graph.
 *     pl_owner_preload (incremental): a key known with its pid.
 *  2. pl_owner_resolve (collective): per p1, the ranks seen. None or one:
 *     one person, node p1 || 0. Several: one person per rank, node
 *     p1 || rank; a key of that p1 without a rank is ambiguous between
 *     them (never guessed). Edges between resolved nodes join persons:
 *     persons are the connected components of the node graph, labelled by
 *     their smallest node (bytewise), found by min-label propagation with
 *     hooking and pointer jumping over the owner ranks (three all-to-alls a
 *     round, rounds bounded by PL_CC_MAX_ROUNDS; exact and the same
 *     whatever the rank count). Each component gets its pid at its label's
 *     owner: the previous run's pid of its smallest preloaded key, else
 *     keyed pl_pid_keyed(label) or a random draw; every key gets its
 *     component's pid; merges and splits since the previous run are
 *     listed (lineage).
 *     Opposition (o->opp, the opposition lists' p1): the droit
 *     d'opposition is a person's, so a person one of whose keys has an
 *     opposed p1 is opposed as a whole, every key of it, also those that
 *     only another key links: no pid, no correspondence entry.
 *  3. pl_owner_serve (serve fn, main pass): a key -> PL_OWNER_REPLY bytes:
 *     status (0 resolved, n >= 2: ambiguous between n persons, 1: unknown
 *     key) || pid || opposed (1: the key's person is opposed, pid zero).
 * Returns: serve fns 0 or -1 (the route agrees); collectives -1 on every
 * rank together, messages via base/log.h. Memory: one entry per key
 * (PL_OWNER_ENTRY bytes, table at most 3/4 full), edges (66 bytes), and
 * during pl_owner_resolve one entry per edge node and per person.
 */
#ifndef PL_OWNER_H
#define PL_OWNER_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "job/config.h"
#include "crypto/hmac.h"
#include "stage/pseudonym.h"

#define PL_OWNER_ENTRY (PL_KEY_REC + PL_PID_BYTES + 2)
#define PL_OWNER_REPLY (1 + PL_PID_BYTES + 1)
#define PL_EDGE_REC    (2 * PL_KEY_REC)
#define PL_CC_MAX_ROUNDS 64
/* A lineage event: old pid || new pid || event (PL_LIN_MERGE/SPLIT). */
#define PL_LIN_REC     (2 * PL_PID_BYTES + 1)
enum { PL_LIN_MERGE = 1, PL_LIN_SPLIT = 2 };
/* Reply status of an unknown key (1 cannot be a number of candidates). */
#define PL_OWNER_UNKNOWN 1

/* An open-addressing table of fixed-size entries keyed by their first
 * PL_KEY_REC bytes (owner.c). */
typedef struct {
    uint8_t *slots, *used;
    size_t   cap, n, esz;
    uint64_t grows;
} pl_kmap;

typedef struct {
    pl_mode  mode;
    const pl_hmac_key *platform;    /* keyed mode only */
    uint64_t cap;                   /* exchange cap (0 = automatic) */
    pl_kmap  keys;                  /* key || pid || state || node rank */
    uint8_t *edges;                 /* keyA || keyB */
    size_t   n_edges, edges_cap;
    uint64_t ambiguous_keys;        /* local, after resolve */
    uint64_t persons;               /* local components (labels owned) */
    uint8_t *person_pids;           /* their pids (random mode only) */
    uint64_t cc_rounds;             /* label propagation rounds */
    const uint8_t *opp;             /* opposed p1, sorted (32 bytes each), */
    uint64_t n_opp;                 /* the same on every rank, or none */
    uint64_t opposed_linked;        /* local, after resolve: opposed keys
                                     * whose own p1 is not on a list */
    /* Incremental runs, after resolve: persons merged or split since the
     * previous run, on the owner of the old pid, sorted (old, new, event):
     * a person whose keys held several previous pids keeps one (its
     * smallest key's), the others are (old, kept, merge); a previous
     * pid held by a key that is now ambiguous (its p1 holds several
     * persons) is (old, new, split) for each of them. */
    uint8_t *lineage;
    size_t   n_lineage;
    uint8_t  rnd[4096];             /* CSPRNG pool for random pids */
    size_t   rnd_left;
    int      resolved;
} pl_owner;

void pl_owner_init(pl_owner *o, pl_mode mode, const pl_hmac_key *platform,
                   uint64_t cap);
void pl_owner_free(pl_owner *o);

/* Phase 1 serve fns: recv holds PL_KEY_REC / PL_EDGE_REC records. */
int pl_owner_add_serve(const uint8_t *recv, size_t n, uint8_t *reply,
                       void *ctx);
int pl_owner_edge_serve(const uint8_t *recv, size_t n, uint8_t *reply,
                        void *ctx);

/* Incremental runs: a known key -> pid before the count pass (the pid is
 * kept whatever the mode). -1 if the key is already held with another
 * pid. */
int pl_owner_preload(pl_owner *o, const uint8_t key[PL_KEY_REC],
                     const uint8_t *pid);

/* Phase 2, collective. */
int pl_owner_resolve(pl_owner *o, MPI_Comm comm);

/* Phase 3 serve fn: PL_KEY_REC records -> PL_OWNER_REPLY replies. */
int pl_owner_serve(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx);

/* Random mode: check collectively that no two persons received the same
 * pid. Returns the global number of duplicated pids (0 expected), or -1. */
int64_t pl_owner_duplicates(const pl_owner *o, MPI_Comm comm);

/* Keys with a pid (every key but the ambiguous ones), after resolve. */
size_t pl_owner_count(const pl_owner *o);
/* Copy them (key || pid, PL_KEY_REC + PL_PID_BYTES bytes) to out, sorted
 * by key; out holds pl_owner_count() entries. */
void pl_owner_export(const pl_owner *o, uint8_t *out);

/* Connected components of any graph whose nodes are PL_KEY_REC bytes
 * (owned by pl_owner_of on their first 8 bytes; bytes 8..15 should be
 * well mixed, they pick the table slot): the key graph above, and the
 * accepted pairs of a deduplicated source (stage/dedup.h). adj holds na
 * edges (node || node, PL_EDGE_REC), each given both ways, on the owner
 * of its first node. Collective: nm gets node || label for every node of
 * an edge owned here, the label being the smallest node (bytewise) of its
 * component; min-label propagation with hooking and pointer jumping,
 * exact and the same whatever the rank count. *rounds: rounds done.
 * Returns 0, or -1 on every rank (nm freed) after saying that `graph` did
 * not settle in PL_CC_MAX_ROUNDS rounds ("refusing to guess `what`"). */
int  pl_cc_label(MPI_Comm comm, uint64_t cap, const uint8_t *adj,
                 uint64_t na, const char *graph, const char *what,
                 pl_kmap *nm, uint64_t *rounds);
/* Serve fn (ctx: the pl_kmap of pl_cc_label): PL_KEY_REC nodes -> their
 * label (PL_KEY_REC bytes; a node without an edge is its own label). */
int  pl_cc_serve_label(const uint8_t *recv, size_t n, uint8_t *reply,
                       void *ctx);
void pl_kmap_free(pl_kmap *m);

/* Bytes allocated by the key table (memory report). */
static inline size_t pl_owner_bytes(const pl_owner *o)
{
    return o->keys.cap * (o->keys.esz + 1) + o->edges_cap * PL_EDGE_REC;
}

#endif
