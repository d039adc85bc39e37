/* owner.c — see owner.h. */
#include "stage/owner.h"
#include "par/exchange.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void pl_owner_init(pl_owner *o, pl_mode mode, const pl_hmac_key *platform)
{
    memset(o, 0, sizeof *o);
    o->mode = mode;
    o->platform = platform;
    o->cap = 1024;
    o->slots = pl_xmalloc(o->cap * PL_DICT_ENTRY);
    o->used = pl_xcalloc(o->cap, 1);
}

void pl_owner_free(pl_owner *o)
{
    if (o->slots)
        OPENSSL_cleanse(o->slots, o->cap * PL_DICT_ENTRY);
    free(o->slots);
    free(o->used);
    OPENSSL_cleanse(o, sizeof *o);
}

/* The owner rank was chosen from bytes 0..7 of p1; the slot comes from
 * bytes 8..15, which are independent of them. */
static size_t slot_of(const uint8_t *p1, size_t cap)
{
    uint64_t h;
    memcpy(&h, p1 + 8, sizeof h);
    return (size_t)(h & (cap - 1));
}

static void grow(pl_owner *o)
{
    size_t ncap = o->cap * 2;
    uint8_t *ns = pl_xmalloc_huge(ncap * PL_DICT_ENTRY);
    uint8_t *nu = pl_xcalloc_huge(ncap);
    for (size_t i = 0; i < o->cap; i++) {
        if (!o->used[i])
            continue;
        const uint8_t *e = o->slots + i * PL_DICT_ENTRY;
        size_t j = slot_of(e, ncap);
        while (nu[j])
            j = (j + 1) & (ncap - 1);
        memcpy(ns + j * PL_DICT_ENTRY, e, PL_DICT_ENTRY);
        nu[j] = o->used[i];             /* pending stays pending */
    }
    pl_wipe(o->slots, o->cap * PL_DICT_ENTRY);
    free(o->slots);
    free(o->used);
    o->slots = ns;
    o->used = nu;
    o->cap = ncap;
    o->grows++;
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

/* Slot states: a pending entry holds its p1 and waits for its pid (new in
 * the batch being served; the pids of a batch are computed together). */
enum { SLOT_EMPTY = 0, SLOT_PID = 1, SLOT_PENDING = 2 };

/* Slot holding p1, or the empty slot where it goes. */
static size_t find(const pl_owner *o, const uint8_t *p1)
{
    size_t j = slot_of(p1, o->cap);
    while (o->used[j] &&
           memcmp(o->slots + j * PL_DICT_ENTRY, p1, PL_P1_BYTES) != 0)
        j = (j + 1) & (o->cap - 1);
    return j;
}

int pl_owner_preload(pl_owner *o, const uint8_t *p1, const uint8_t *pid)
{
    if (2 * (o->n + 1) > o->cap)
        grow(o);
    size_t j = find(o, p1);
    uint8_t *e = o->slots + j * PL_DICT_ENTRY;
    if (o->used[j])
        return memcmp(e + PL_P1_BYTES, pid, PL_PID_BYTES) == 0 ? 0 : -1;
    memcpy(e, p1, PL_P1_BYTES);
    memcpy(e + PL_P1_BYTES, pid, PL_PID_BYTES);
    o->used[j] = SLOT_PID;
    o->n++;
    return 0;
}

/* Pids of the m new p1 in `fresh` (keyed: one batch HMAC; random: CSPRNG
 * draws in arrival order), stored in their pending slots: at[k], or found
 * again when the table grew since (at == NULL). */
static int assign(pl_owner *o, const uint8_t *fresh, const size_t *at,
                  size_t m)
{
    uint8_t *pids = pl_xmalloc(m * PL_PID_BYTES + 1);
    int rc = 0;
    if (o->mode == PL_MODE_KEYED) {
        pl_pid_keyed_batch(o->platform, fresh, m, pids);
    } else {
        for (size_t k = 0; k < m && rc == 0; k++)
            rc = random_pid(o, pids + k * PL_PID_BYTES);
    }
    for (size_t k = 0; k < m && rc == 0; k++) {
        size_t j = at ? at[k] : find(o, fresh + k * PL_P1_BYTES);
        memcpy(o->slots + j * PL_DICT_ENTRY + PL_P1_BYTES,
               pids + k * PL_PID_BYTES, PL_PID_BYTES);
        o->used[j] = SLOT_PID;
    }
    OPENSSL_cleanse(pids, m * PL_PID_BYTES);
    free(pids);
    return rc;
}

static int cmp_p1(const void *a, const void *b)
{
    return memcmp(a, b, PL_P1_BYTES);
}

void pl_owner_export(const pl_owner *o, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < o->cap; i++)
        if (o->used[i])
            memcpy(out + k++ * PL_DICT_ENTRY, o->slots + i * PL_DICT_ENTRY,
                   PL_DICT_ENTRY);
    qsort(out, k, PL_DICT_ENTRY, cmp_p1);
}

/* How far ahead the serve loop prefetches slots: a dictionary of millions
 * of persons is far larger than the caches, and every lookup is a miss
 * unless it was requested earlier. */
#define PREFETCH_AHEAD 16

static inline void prefetch_slot(const pl_owner *o, const uint8_t *p1)
{
    size_t j = slot_of(p1, o->cap);
    __builtin_prefetch(o->slots + j * PL_DICT_ENTRY);
    __builtin_prefetch(o->used + j);
}

/* Known p1 are answered at once; new ones are inserted pending, get their
 * pids together (assign), and are answered in a second pass, as are later
 * copies of a new p1 in the same batch. Slots found in the first pass are
 * remembered for the others unless the table grew meanwhile. */
int pl_owner_serve(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    pl_owner *o = ctx;
    uint8_t *fresh = pl_xmalloc(n * PL_P1_BYTES + 1);
    size_t *fresh_at = pl_xmalloc((n + 1) * sizeof *fresh_at);
    size_t *late_at = pl_xmalloc((n + 1) * sizeof *late_at);
    const size_t none = (size_t)-1;
    uint64_t grows = o->grows;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p1 = recv + i * PL_P1_BYTES;
        if (i + PREFETCH_AHEAD < n)
            prefetch_slot(o, p1 + PREFETCH_AHEAD * PL_P1_BYTES);
        if (2 * (o->n + 1) > o->cap)
            grow(o);
        size_t j = find(o, p1);
        uint8_t *e = o->slots + j * PL_DICT_ENTRY;
        late_at[i] = none;
        if (o->used[j] == SLOT_PID) {
            memcpy(reply + i * PL_PID_BYTES, e + PL_P1_BYTES, PL_PID_BYTES);
            continue;
        }
        late_at[i] = j;
        if (o->used[j] == SLOT_EMPTY) {
            memcpy(e, p1, PL_P1_BYTES);
            memset(e + PL_P1_BYTES, 0, PL_PID_BYTES);
            o->used[j] = SLOT_PENDING;
            o->n++;
            fresh_at[m] = j;
            memcpy(fresh + m++ * PL_P1_BYTES, p1, PL_P1_BYTES);
        }
    }
    int moved = o->grows != grows;
    int rc = assign(o, fresh, moved ? NULL : fresh_at, m);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (late_at[i] != none) {
            size_t j = moved ? find(o, recv + i * PL_P1_BYTES) : late_at[i];
            memcpy(reply + i * PL_PID_BYTES,
                   o->slots + j * PL_DICT_ENTRY + PL_P1_BYTES, PL_PID_BYTES);
        }
    pl_wipe(fresh, m * PL_P1_BYTES);
    free(fresh);
    free(fresh_at);
    free(late_at);
    if (rc != 0)
        pl_err("OpenSSL's random generator failed while assigning "
               "platform pseudonyms");
    return rc;
}

static int cmp_pid(const void *a, const void *b)
{
    return memcmp(a, b, PL_PID_BYTES);
}

int64_t pl_owner_duplicates(const pl_owner *o, MPI_Comm comm)
{
    /* Each pid goes to the rank owning its range; equal pids meet there. */
    uint8_t *pids = pl_xmalloc(o->n * PL_PID_BYTES + 1);
    size_t k = 0;
    for (size_t i = 0; i < o->cap; i++)
        if (o->used[i])
            memcpy(pids + k++ * PL_PID_BYTES,
                   o->slots + i * PL_DICT_ENTRY + PL_P1_BYTES, PL_PID_BYTES);
    uint8_t *mine = NULL;
    uint64_t m = 0;
    int rc = pl_route_gather(comm, pids, o->n, PL_PID_BYTES, 0, &mine, &m,
                             NULL);
    int64_t dups = 0;
    if (rc == 0 && m > 1)
        qsort(mine, m, PL_PID_BYTES, cmp_pid);
    for (uint64_t i = 1; rc == 0 && i < m; i++)
        dups += memcmp(mine + (i - 1) * PL_PID_BYTES,
                       mine + i * PL_PID_BYTES, PL_PID_BYTES) == 0;
    int64_t all = 0;
    PL_MPI_CHECK(MPI_Allreduce(&dups, &all, 1, MPI_INT64_T, MPI_SUM, comm));
    free(pids);
    free(mine);
    return rc != 0 ? -1 : all;
}
