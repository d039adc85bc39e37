/* owner.h — stage 2 on the owner rank: the pid dictionary.
 *
 * Each distinct p1 has one owner rank (pl_owner_of on its first bytes). The
 * owner keeps p1 -> pid for every p1 it has seen (persons, not records) and
 * answers pid requests: the same p1 always gets the same pid within a run,
 * whichever source or rank asked. The dictionary is the correspondence
 * shard of this rank (kept in memory, wiped on free). The p1 new in a
 * received round get their keyed pids from one batch HMAC (multi-buffer
 * SHA-256), then every request of the round is answered.
 */
#ifndef PL_OWNER_H
#define PL_OWNER_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "job/config.h"
#include "crypto/hmac.h"
#include "stage/pseudonym.h"

#define PL_DICT_ENTRY (PL_P1_BYTES + PL_PID_BYTES)

typedef struct {
    pl_mode  mode;
    const pl_hmac_key *platform;    /* keyed mode only */
    uint8_t *slots;                 /* cap entries: p1 || pid */
    uint8_t *used;
    size_t   cap, n;
    uint64_t grows;                 /* table doublings so far */
    uint8_t  rnd[4096];             /* CSPRNG pool for random pids */
    size_t   rnd_left;
    int      failed;                /* CSPRNG failure */
} pl_owner;

void pl_owner_init(pl_owner *o, pl_mode mode, const pl_hmac_key *platform);
void pl_owner_free(pl_owner *o);

/* pl_serve_fn: receives p1 records (32 bytes), replies pids (16 bytes). */
int pl_owner_serve(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx);

/* Random mode: check collectively that no two p1 received the same pid.
 * Returns the global number of duplicated pids (0 expected), or -1. */
int64_t pl_owner_duplicates(const pl_owner *o, MPI_Comm comm);

/* Incremental runs: insert a known p1 -> pid before ingest (the pid is
 * kept whatever the mode). -1 if p1 is already held with another pid. */
int pl_owner_preload(pl_owner *o, const uint8_t *p1, const uint8_t *pid);
/* Copy every entry (p1 || pid, PL_DICT_ENTRY bytes) to out, sorted by p1;
 * out holds pl_owner_count() entries. */
void pl_owner_export(const pl_owner *o, uint8_t *out);

/* Distinct p1 held by this owner. */
static inline size_t pl_owner_count(const pl_owner *o) { return o->n; }

#endif
