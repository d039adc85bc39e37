/* link.c — the cross-link index and the persons table.
 *
 * Link records (pid, source, row) go to the rank owning their pid range
 * (pl_owner_of on the pid), which sorts them locally: concatenated in rank
 * order, the ranks' runs form one globally sorted index, so this is the
 * only global sort of the job and it needs a single exchange. All links of
 * one pid land on one rank, so persons are a local group-by on top.
 * Records are routed batch by batch as the ingest produces pids, so the
 * only link state is the bounded sort itself.
 */
#include "par/exchange.h"
#include "stage/linksort.h"
#include "base/log.h"
#include "stage/pseudonym.h"
#include "stage/run.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <stdlib.h>
#include <string.h>

/* Route callback: received link records go into the bounded sort. */
static int collect(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)reply;
    return pl_linksort_add(ctx, recv, n);
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

void pl_link_begin(pl_run *r)
{
    r->lsort = pl_xmalloc(sizeof *r->lsort);
    pl_linksort_init(r->lsort, r->link_run ? r->link_run : 1u << 20,
                     r->merge_bytes ? r->merge_bytes : 64u << 20,
                     r->job->output);
    uint64_t B = r->job->batch_rows ? r->job->batch_rows : 1;
    r->link_recs = pl_xmalloc(B * PL_LINK_BYTES);
    r->link_grouped = pl_xmalloc(B * PL_LINK_BYTES);
}

/* One batch: this rank's link records go to the owner of their pid, which
 * feeds them to the bounded sort (spilling sorted runs if needed).
 * Collective (pl_route); the status is shared by every rank. */
int pl_link_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                  const uint8_t *why, const uint8_t *pids)
{
    double t0 = MPI_Wtime();
    const pl_source *s = &r->store.src[si];
    uint8_t *recs = r->link_recs, *grouped = r->link_grouped;
    uint64_t *counts = pl_xcalloc((size_t)r->size, sizeof *counts);
    uint64_t m = 0;
    for (uint64_t i = 0; i < cnt; i++)
        if (!why[i]) {
            pl_link_pack(recs + m * PL_LINK_BYTES, pids + m * PL_PID_BYTES,
                         (unsigned)si, s->first + lo + i);
            m++;
        }
    pl_group_by_owner(recs, m, PL_LINK_BYTES, r->size, counts, grouped, NULL);
    pl_route_stats st = {0};
    int rc = pl_route(r->comm, grouped, counts, PL_LINK_BYTES, r->cap, collect,
                      r->lsort, 0, NULL, &st);
    r->exchange_rounds += st.rounds;
    free(counts);
    r->t[PL_T_LINK] += MPI_Wtime() - t0;
    return rc;
}

int pl_link_finish(pl_run *r)
{
    double t0 = MPI_Wtime();
    if (!pl_all_ok(r->comm, pl_linksort_finish(r->lsort) == 0))
        return -1;
    r->n_links = r->lsort->total;
    r->links_spilled = r->lsort->spilled_bytes;
    pl_exscan(r->comm, r->n_links, &r->links_off, &r->links_total);
    int rc = build_persons(r);
    r->t[PL_T_LINK] += MPI_Wtime() - t0;
    return rc;
}

/* Frees the links sort (run_free hook). */
void pl_link_free(pl_run *r)
{
    free(r->link_recs);
    free(r->link_grouped);
    r->link_recs = r->link_grouped = NULL;
    if (r->lsort) {
        pl_linksort_free(r->lsort);
        free(r->lsort);
        r->lsort = NULL;
    }
}
