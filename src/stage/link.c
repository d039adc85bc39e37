/* link.c — see link.h. Link records are routed batch by batch as the
 * ingest produces pids, so the only link state is the bounded sort and,
 * after it, the persons table (persons-sized, like the owner's
 * dictionary). */
#include "stage/link.h"
#include "base/mem.h"
#include "base/progress.h"
#include "par/exchange.h"
#include "par/mpi.h"
#include "stage/pseudonym.h"

#include <stdlib.h>
#include <string.h>

struct pl_links {
    pl_linksort     sort;
    size_t          n_sources;
    uint64_t        chunk;
    uint8_t        *person_key;         /* [n_persons][16] */
    uint32_t       *person_counts;      /* [n_persons][n_sources] */
    pl_links_counts c;
    pl_route_bufs   bufs;
};

pl_links *pl_links_new(size_t n_sources, uint64_t run, uint64_t merge,
                       const char *dir, uint64_t chunk)
{
    pl_links *l = pl_xcalloc(1, sizeof *l);
    pl_linksort_init(&l->sort, run ? run : 1u << 20,
                     merge ? merge : 64u << 20, dir);
    l->n_sources = n_sources;
    l->chunk = chunk ? chunk : 1;
    return l;
}

void pl_links_free(pl_links *l)
{
    if (!l)
        return;
    pl_linksort_free(&l->sort);
    pl_route_bufs_free(&l->bufs);
    free(l->person_key);
    free(l->person_counts);
    free(l);
}

/* Route callback: received link records go into the bounded sort. */
static int collect(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)reply;
    return pl_linksort_add(ctx, recv, n);
}

int pl_links_add(pl_links *l, MPI_Comm comm, const uint8_t *recs, size_t n,
                 uint64_t cap, pl_route_stats *stats)
{
    return pl_route_owned(comm, recs, n, PL_LINK_BYTES, cap, collect,
                          &l->sort, 0, NULL, &l->bufs, stats);
}

/* One row per key with the per-source record counts, from one pass over
 * the sorted links. */
static int build_persons(pl_links *l, MPI_Comm comm)
{
    size_t ns = l->n_sources;
    uint8_t *key = NULL, last[PL_PID_BYTES];
    uint32_t *counts = NULL;
    uint64_t n = 0, cap = 0, multi = 0, got, chunk = l->chunk, seen = 0;
    uint8_t *buf = pl_xmalloc(chunk * PL_LINK_BYTES);
    pl_linkiter it;
    int ok = pl_linkiter_open(&it, &l->sort) == 0;
    while (ok && (got = pl_linkiter_next(&it, buf, chunk)) > 0) {
        for (uint64_t i = 0; i < got; i++) {
            const uint8_t *rec = buf + i * PL_LINK_BYTES;
            if (n == 0 || memcmp(last, rec, PL_PID_BYTES) != 0) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 1024;
                    key = pl_xrealloc(key, cap * PL_PID_BYTES);
                    counts = pl_xrealloc(counts, cap * ns * sizeof *counts);
                }
                memcpy(key + n * PL_PID_BYTES, rec, PL_PID_BYTES);
                memset(counts + n * ns, 0, ns * sizeof *counts);
                memcpy(last, rec, PL_PID_BYTES);
                n++;
            }
            counts[(n - 1) * ns + pl_link_source(rec)]++;
        }
        /* Rank 0's share of the merge, scaled to every rank's. */
        seen += got;
        if (l->c.n_links)
            pl_progress_set((uint64_t)((double)seen / (double)l->c.n_links *
                                       (double)l->c.links_total));
    }
    ok = ok && !it.err;
    pl_linkiter_close(&it);
    free(buf);
    for (uint64_t q = 0; q < n; q++) {
        int in = 0;
        for (size_t si = 0; si < ns; si++)
            in += counts[q * ns + si] > 0;
        multi += in >= 2;
    }
    l->person_key = key ? key : pl_xmalloc(PL_PID_BYTES);
    l->person_counts = counts ? counts : pl_xcalloc(ns ? ns : 1, 4);
    l->c.n_persons = n;
    if (!pl_all_ok(comm, ok))
        return -1;
    pl_exscan(comm, n, &l->c.persons_off, &l->c.persons_total);
    PL_MPI_CHECK(MPI_Allreduce(&multi, &l->c.persons_multi, 1, MPI_UINT64_T,
                               MPI_SUM, comm));
    return 0;
}

int pl_links_finish(pl_links *l, MPI_Comm comm)
{
    pl_route_bufs_free(&l->bufs);
    if (!pl_all_ok(comm, pl_linksort_finish(&l->sort) == 0))
        return -1;
    l->c.n_links = l->sort.total;
    l->c.spilled = l->sort.spilled_bytes;
    pl_exscan(comm, l->c.n_links, &l->c.links_off, &l->c.links_total);
    return build_persons(l, comm);
}

const pl_links_counts *pl_links_count(const pl_links *l) { return &l->c; }

int pl_links_iter(pl_links *l, pl_linkiter *it)
{
    return pl_linkiter_open(it, &l->sort);
}

const uint8_t *pl_links_person_keys(const pl_links *l)
{
    return l->person_key;
}

const uint32_t *pl_links_person_counts(const pl_links *l)
{
    return l->person_counts;
}

/* ------------------------------------------------------------------------ */
/* The run's index */

struct pl_link_state {
    pl_links *links;
    uint8_t  *recs;             /* [batch_rows] link records of a batch */
};

void pl_link_begin(pl_run *r)
{
    struct pl_link_state *st = pl_xcalloc(1, sizeof *st);
    uint64_t B = r->job->batch_rows ? r->job->batch_rows : 1;
    st->links = pl_links_new(r->store.n_src + r->store.n_lsrc, r->link_run,
                             r->merge_bytes,
                             r->job->output, B);
    st->recs = pl_xmalloc(B * PL_LINK_BYTES);
    r->link = st;
}

/* One batch: this rank's link records go to the owner of their pid, which
 * feeds them to the bounded sort (spilling sorted runs if needed).
 * Collective (pl_route); the status is shared by every rank. */
int pl_link_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                  const uint8_t *why, const uint8_t *pids)
{
    double t0 = MPI_Wtime();
    const pl_source *s = &r->store.src[si];
    uint8_t *recs = r->link->recs;
    uint64_t m = 0;
    for (uint64_t i = 0; i < cnt; i++)
        if (!why[i]) {
            pl_link_pack(recs + m * PL_LINK_BYTES, pids + m * PL_PID_BYTES,
                         (unsigned)si, s->first + lo + i);
            m++;
        }
    pl_route_stats st = {0};
    int rc = pl_links_add(r->link->links, r->comm, recs, m, r->cap, &st);
    r->exchange_rounds += st.rounds;
    r->t[PL_T_LINK] += MPI_Wtime() - t0;
    return rc;
}

int pl_link_rows(pl_run *r, size_t si, uint64_t first, uint64_t n,
                 const uint8_t *pids, const uint8_t *skip)
{
    double t0 = MPI_Wtime();
    uint64_t B = r->job->batch_rows ? r->job->batch_rows : 1;
    uint64_t nb = pl_batches(r->comm, n, B);
    int ok = 1;
    for (uint64_t b = 0; b < nb && ok; b++) {
        uint64_t lo = b * B, cnt = pl_batch_count(n, lo, B), m = 0;
        for (uint64_t i = lo; i < lo + cnt; i++)
            if (!skip || !skip[i])
                pl_link_pack(r->link->recs + m++ * PL_LINK_BYTES,
                             pids + i * PL_PID_BYTES, (unsigned)si,
                             first + i);
        pl_route_stats st = {0};
        ok = pl_links_add(r->link->links, r->comm, r->link->recs, m, r->cap,
                          &st) == 0;
        r->exchange_rounds += st.rounds;
    }
    r->t[PL_T_LINK] += MPI_Wtime() - t0;
    return ok ? 0 : -1;
}

int pl_link_finish(pl_run *r)
{
    double t0 = MPI_Wtime();
    int rc = pl_links_finish(r->link->links, r->comm);
    r->t[PL_T_LINK] += MPI_Wtime() - t0;
    return rc;
}

pl_links *pl_link_index(const pl_run *r)
{
    return r->link ? r->link->links : NULL;
}

void pl_link_free(pl_run *r)
{
    if (!r->link)
        return;
    pl_links_free(r->link->links);
    free(r->link->recs);
    free(r->link);
    r->link = NULL;
}
