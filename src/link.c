/* link.c — the cross-link index and the persons table.
 *
 * Link records (pid, source, row) go to the rank owning their pid range
 * (pl_owner_of on the pid), which sorts them locally: concatenated in rank
 * order, the ranks' runs form one globally sorted index, so this is the
 * only global sort of the job and it needs a single exchange. All links of
 * one pid land on one rank, so persons are a local group-by on top.
 */
#include "exchange.h"
#include "log.h"
#include "pseudonym.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *buf;
    uint64_t n, cap;
} link_vec;

static int collect(const uint8_t *recv, size_t n, uint8_t *reply, void *ctx)
{
    (void)reply;
    link_vec *v = ctx;
    if (v->n + n > v->cap) {
        v->cap = (v->n + n) + (v->n + n) / 2;
        v->buf = pl_xrealloc(v->buf, v->cap * PL_LINK_BYTES);
    }
    memcpy(v->buf + v->n * PL_LINK_BYTES, recv, n * PL_LINK_BYTES);
    v->n += n;
    return 0;
}

static int cmp_link(const void *a, const void *b)
{
    return memcmp(a, b, PL_LINK_KEY);
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* This rank's link records, in source then row order. */
static uint8_t *local_links(pl_run *r, uint64_t *n_out)
{
    uint64_t n = 0;
    for (size_t si = 0; si < r->store.n_src; si++)
        n += r->ss[si].kept;
    uint8_t *recs = pl_xcalloc(n ? n : 1, PL_LINK_BYTES);
    uint64_t k = 0;
    for (size_t si = 0; si < r->store.n_src; si++) {
        const pl_source *s = &r->store.src[si];
        const pl_src_state *ss = &r->ss[si];
        for (uint64_t i = 0; i < s->count; i++) {
            if (ss->reason[i])
                continue;
            uint8_t *rec = recs + k++ * PL_LINK_BYTES;
            memcpy(rec, ss->pid + i * PL_PID_BYTES, PL_PID_BYTES);
            put_be(rec + 16, si, 2);
            put_be(rec + 18, s->first + i, 8);
        }
    }
    *n_out = n;
    return recs;
}

/* One row per pid with the per-source record counts. */
static void build_persons(pl_run *r)
{
    size_t ns = r->store.n_src;
    uint64_t np = 0;
    for (uint64_t i = 0; i < r->n_links; i++)
        np += i == 0 || memcmp(r->links + (i - 1) * PL_LINK_BYTES,
                               r->links + i * PL_LINK_BYTES, PL_PID_BYTES);
    r->person_pid = pl_xmalloc((np ? np : 1) * PL_PID_BYTES);
    r->person_counts = pl_xcalloc((np ? np : 1) * ns, sizeof(uint32_t));
    uint64_t p = 0, multi = 0;
    for (uint64_t i = 0; i < r->n_links; i++) {
        const uint8_t *rec = r->links + i * PL_LINK_BYTES;
        if (i == 0 || memcmp(rec - PL_LINK_BYTES, rec, PL_PID_BYTES) != 0)
            memcpy(r->person_pid + p++ * PL_PID_BYTES, rec, PL_PID_BYTES);
        size_t src = (size_t)rec[16] << 8 | rec[17];
        r->person_counts[(p - 1) * ns + src]++;
    }
    for (uint64_t q = 0; q < np; q++) {
        int in = 0;
        for (size_t si = 0; si < ns; si++)
            in += r->person_counts[q * ns + si] > 0;
        multi += in >= 2;
    }
    r->n_persons = np;
    pl_exscan(r->comm, np, &r->persons_off, &r->persons_total);
    PL_MPI_CHECK(MPI_Allreduce(&multi, &r->persons_multi, 1, MPI_UINT64_T,
                               MPI_SUM, r->comm));
}

int pl_link(pl_run *r)
{
    uint64_t n;
    uint8_t *recs = local_links(r, &n);
    uint8_t *grouped = pl_xmalloc((n ? n : 1) * PL_LINK_BYTES);
    uint64_t *counts = pl_xcalloc((size_t)r->size, sizeof *counts);
    pl_group_by_owner(recs, n, PL_LINK_BYTES, r->size, counts, grouped, NULL);
    free(recs);
    link_vec v = {0};
    pl_route_stats st = {0};
    int rc = pl_route(r->comm, grouped, counts, PL_LINK_BYTES, r->cap, collect,
                      &v, 0, NULL, &st);
    r->exchange_rounds += st.rounds;
    free(grouped);
    free(counts);
    if (rc != 0) {
        free(v.buf);
        return -1;
    }
    if (v.n > 1)
        qsort(v.buf, v.n, PL_LINK_BYTES, cmp_link);
    r->links = v.buf;
    r->n_links = v.n;
    pl_exscan(r->comm, v.n, &r->links_off, &r->links_total);
    build_persons(r);
    return 0;
}
