/* link.c — the cross-link index and the persons table.
 *
 * Link records (pid, source, row) go to the rank owning their pid range
 * (pl_owner_of on the pid), which sorts them locally: concatenated in rank
 * order, the ranks' runs form one globally sorted index, so this is the
 * only global sort of the job and it needs a single exchange. All links of
 * one pid land on one rank, so persons are a local group-by on top.
 */
#include "exchange.h"
#include "linksort.h"
#include "log.h"
#include "pseudonym.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

/* Route callback: received link records go into the bounded sort. */
static int collect(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)reply;
    return pl_linksort_add(ctx, recv, n);
}

/* Where the next link record of this rank comes from (source, row). */
typedef struct {
    size_t si;
    uint64_t i;
} cursor;

/* Up to max link records of this rank, in source then row order. */
static uint64_t next_links(pl_run *r, cursor *c, uint8_t *recs, uint64_t max)
{
    uint64_t k = 0;
    while (k < max && c->si < r->store.n_src) {
        const pl_source *s = &r->store.src[c->si];
        const pl_src_state *ss = &r->ss[c->si];
        for (; c->i < s->count && k < max; c->i++) {
            if (ss->reason[c->i])
                continue;
            uint8_t *rec = recs + k++ * PL_LINK_BYTES;
            pl_link_pack(rec, ss->pid + c->i * PL_PID_BYTES, (unsigned)c->si,
                         s->first + c->i);
        }
        if (c->i == s->count) {
            c->si++;
            c->i = 0;
        }
    }
    return k;
}

typedef struct {
    uint8_t *pid;
    uint32_t *counts;
    uint64_t n, cap;
} persons_vec;

/* One row per pid with the per-source record counts, from one pass over
 * the sorted links (persons-sized, like the owner's dictionary). */
static int build_persons(pl_run *r)
{
    size_t ns = r->store.n_src;
    persons_vec v = {0};
    uint64_t chunk = r->job->batch_rows, multi = 0, got;
    uint8_t *buf = pl_xmalloc(chunk * PL_LINK_BYTES), last[PL_PID_BYTES];
    pl_linkiter it;
    int ok = pl_linkiter_open(&it, r->lsort) == 0;
    while (ok && (got = pl_linkiter_next(&it, buf, chunk)) > 0) {
        for (uint64_t i = 0; i < got; i++) {
            const uint8_t *rec = buf + i * PL_LINK_BYTES;
            if (v.n == 0 || memcmp(last, rec, PL_PID_BYTES) != 0) {
                if (v.n == v.cap) {
                    v.cap = v.cap ? v.cap * 2 : 1024;
                    v.pid = pl_xrealloc(v.pid, v.cap * PL_PID_BYTES);
                    v.counts = pl_xrealloc(v.counts,
                                           v.cap * ns * sizeof *v.counts);
                }
                memcpy(v.pid + v.n * PL_PID_BYTES, rec, PL_PID_BYTES);
                memset(v.counts + v.n * ns, 0, ns * sizeof *v.counts);
                memcpy(last, rec, PL_PID_BYTES);
                v.n++;
            }
            v.counts[(v.n - 1) * ns + pl_link_source(rec)]++;
        }
    }
    ok = ok && !it.err;
    pl_linkiter_close(&it);
    free(buf);
    for (uint64_t q = 0; q < v.n; q++) {
        int in = 0;
        for (size_t si = 0; si < ns; si++)
            in += v.counts[q * ns + si] > 0;
        multi += in >= 2;
    }
    r->person_pid = v.pid ? v.pid : pl_xmalloc(PL_PID_BYTES);
    r->person_counts = v.counts ? v.counts : pl_xcalloc(ns ? ns : 1, 4);
    r->n_persons = v.n;
    if (!pl_all_ok(r->comm, ok))
        return -1;
    pl_exscan(r->comm, v.n, &r->persons_off, &r->persons_total);
    PL_MPI_CHECK(MPI_Allreduce(&multi, &r->persons_multi, 1, MPI_UINT64_T,
                               MPI_SUM, r->comm));
    return 0;
}

/* Batch by batch: this rank's link records go to the owner of their pid,
 * which feeds them to the bounded sort (spilling sorted runs if needed). */
static int route_links(pl_run *r)
{
    uint64_t n = 0, B = r->job->batch_rows;
    for (size_t si = 0; si < r->store.n_src; si++)
        n += r->ss[si].kept;
    uint64_t bsz = n < B ? (n ? n : 1) : B;
    uint8_t *recs = pl_xmalloc(bsz * PL_LINK_BYTES);
    uint8_t *grouped = pl_xmalloc(bsz * PL_LINK_BYTES);
    uint64_t *counts = pl_xcalloc((size_t)r->size, sizeof *counts);
    uint64_t nb = pl_batches(r->comm, n, B);
    cursor c = {0, 0};
    int rc = 0;
    for (uint64_t k = 0; k < nb && rc == 0; k++) {
        uint64_t m = next_links(r, &c, recs, bsz);
        pl_group_by_owner(recs, m, PL_LINK_BYTES, r->size, counts, grouped,
                          NULL);
        pl_route_stats st = {0};
        rc = pl_route(r->comm, grouped, counts, PL_LINK_BYTES, r->cap, collect,
                      r->lsort, 0, NULL, &st);
        r->exchange_rounds += st.rounds;
    }
    free(recs);
    free(grouped);
    free(counts);
    return rc;
}

int pl_link(pl_run *r)
{
    r->lsort = pl_xmalloc(sizeof *r->lsort);
    pl_linksort_init(r->lsort, r->link_run ? r->link_run : 1u << 20,
                     r->merge_bytes ? r->merge_bytes : 64u << 20,
                     r->job->output);
    if (route_links(r) != 0)
        return -1;
    if (!pl_all_ok(r->comm, pl_linksort_finish(r->lsort) == 0))
        return -1;
    r->links = NULL;
    r->n_links = r->lsort->total;
    r->links_spilled = r->lsort->spilled_bytes;
    pl_exscan(r->comm, r->n_links, &r->links_off, &r->links_total);
    return build_persons(r);
}

/* Frees the links sort (run_free hook). */
void pl_link_free(pl_run *r)
{
    if (r->lsort) {
        pl_linksort_free(r->lsort);
        free(r->lsort);
        r->lsort = NULL;
    }
}
