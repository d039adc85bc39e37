/* test_assign.c — the distributed greedy matching (par/assign.h) against a
 * sequential greedy written here: edges sorted by weight descending, then
 * left id, then right id, then input index, each taken when both of its
 * endpoints are free. Random bipartite graphs with many equal weights (and
 * repeated edges), a long chain of decreasing weights (many rounds), a
 * star, an empty graph, a NaN weight refused.
 *
 * Runs as a singleton (make test) or under mpirun -np N
 * (tests/e2e/assign.sh): the edges of a left vertex go to one rank (a hash
 * of its id), in a rank-dependent order; the result must be the same.
 */
#include "unit.h"
#include "par/assign.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int me, size;
static uint64_t rng;

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const pl_as_edge *g_e;
static int ref_cmp(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const pl_as_edge *a = &g_e[i], *b = &g_e[j];
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    if (a->l != b->l)
        return a->l < b->l ? -1 : 1;
    if (a->r != b->r)
        return a->r < b->r ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Sequential greedy: m[i] = 1 for the matched edges. */
static void greedy(const pl_as_edge *e, size_t n, uint8_t *m)
{
    size_t *ix = malloc((n + 1) * sizeof *ix);
    for (size_t i = 0; i < n; i++)
        ix[i] = i;
    g_e = e;
    qsort(ix, n, sizeof *ix, ref_cmp);
    /* ids are small here: used flags by id */
    uint64_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].l > mx)
            mx = e[i].l;
        if (e[i].r > mx)
            mx = e[i].r;
    }
    uint8_t *ul = calloc(mx + 1, 1), *ur = calloc(mx + 1, 1);
    memset(m, 0, n);
    for (size_t k = 0; k < n; k++) {
        const pl_as_edge *a = &e[ix[k]];
        if (!ul[a->l] && !ur[a->r]) {
            ul[a->l] = ur[a->r] = 1;
            m[ix[k]] = 1;
        }
    }
    free(ix);
    free(ul);
    free(ur);
}

static int owner(uint64_t l)
{
    return (int)((l * 0x9e3779b97f4a7c15ull) >> 40) % size;
}

/* pl_assign of this rank's k edges mine (gi: their index in e), the
 * matching gathered over the ranks and compared with the sequential
 * greedy's on all n edges e; frees mine and gi. 1 when equal. */
static int assign_check(const pl_as_edge *e, size_t n, pl_as_edge *mine,
                        size_t *gi, size_t k, uint64_t *rounds)
{
    uint8_t *m = calloc(k + 1, 1);
    pl_as_stats st = {0};
    int rc = pl_assign(MPI_COMM_WORLD, mine, k, m, &st);
    uint8_t *got = calloc(n + 1, 1), *all = calloc(n + 1, 1);
    for (size_t i = 0; i < k; i++)
        got[gi[i]] = m[i];
    MPI_Allreduce(got, all, (int)n, MPI_UINT8_T, MPI_MAX, MPI_COMM_WORLD);
    uint8_t *ref = calloc(n + 1, 1);
    greedy(e, n, ref);
    int same = rc == 0 && (n == 0 || memcmp(all, ref, n) == 0);
    if (rounds)
        *rounds = st.rounds;
    free(mine);
    free(gi);
    free(m);
    free(got);
    free(all);
    free(ref);
    return same;
}

/* Distributed run of the global edge list e (every rank has it): this
 * rank passes the edges of the left vertices it owns, in reverse order of
 * index within each left vertex's group when `shuffle` (copies of one edge
 * keep their order). Returns 1 when the matching equals the greedy's. */
static int run(const pl_as_edge *e, size_t n, uint64_t *rounds)
{
    pl_as_edge *mine = malloc((n + 1) * sizeof *mine);
    size_t *gi = malloc((n + 1) * sizeof *gi);
    size_t k = 0;
    /* rank-dependent order: a rotation of this rank's edges keeping the
     * relative order of equal (l, r) pairs is too fiddly; instead two
     * passes, odd-indexed edges of distinct pairs first */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if (owner(e[i].l) != me)
                continue;
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = e[j].l == e[i].l && e[j].r == e[i].r;
            int first = dup ? 1 : (int)((e[i].l + e[i].r + (uint64_t)me) & 1);
            if (first != pass)
                continue;
            mine[k] = e[i];
            gi[k++] = i;
        }
    return assign_check(e, n, mine, gi, k, rounds);
}

/* run() for a large graph: this rank's edges in index order (no scan for
 * repeated pairs, which is quadratic). */
static int run_big(const pl_as_edge *e, size_t n)
{
    pl_as_edge *mine = malloc((n + 1) * sizeof *mine);
    size_t *gi = malloc((n + 1) * sizeof *gi);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (owner(e[i].l) == me) {
            mine[k] = e[i];
            gi[k++] = i;
        }
    return assign_check(e, n, mine, gi, k, NULL);
}

static void random_graph(pl_as_edge *e, size_t n, uint64_t nl, uint64_t nr,
                         int levels, int dups)
{
    for (size_t i = 0; i < n; i++) {
        if (dups && i > 0 && next() % 8 == 0) {
            e[i] = e[next() % i];       /* a repeated edge */
            if (next() % 2)
                e[i].w = (double)(int)(next() % (uint64_t)levels) - 2.0;
            continue;
        }
        e[i].l = next() % nl;
        e[i].r = next() % nr;
        e[i].w = (double)(int)(next() % (uint64_t)levels) - 2.0;
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t cap = 20000;
    pl_as_edge *e = malloc(cap * sizeof *e);
    uint64_t rounds = 0;
    int allok = 1;

    /* dense, three weights: ties decide most of the matching */
    for (int t = 0; t < 30; t++) {
        rng = 1000 + (uint64_t)t;
        random_graph(e, 300, 25, 25, 3, 0);
        allok &= run(e, 300, &rounds);
    }
    if (me == 0)
        CHECK(allok, "30 dense graphs (25 x 25, 300 edges, 3 weights): "
              "the greedy matching on %d rank(s)", size);
    /* sparse, larger, with repeated edges */
    allok = 1;
    uint64_t maxr = 0;
    for (int t = 0; t < 5; t++) {
        rng = 2000 + (uint64_t)t;
        random_graph(e, 6000, 3000, 2500, 7, 1);
        allok &= run(e, 6000, &rounds);
        if (rounds > maxr)
            maxr = rounds;
    }
    if (me == 0)
        CHECK(allok, "5 sparse graphs (3000 x 2500, 6000 edges, 7 weights, "
              "repeated edges) on %d rank(s), %llu rounds at most", size,
              (unsigned long long)maxr);
    /* a chain l0-r0-l1-r1-... of decreasing weights: one match a round */
    size_t n = 0;
    for (uint64_t i = 0; i < 120; i++) {
        e[n++] = (pl_as_edge){i, i, 1000.0 - 2.0 * (double)i};
        e[n++] = (pl_as_edge){i + 1, i, 999.0 - 2.0 * (double)i};
    }
    allok = run(e, n, &rounds);
    if (me == 0)
        CHECK(allok && rounds >= 60, "a chain of 240 decreasing edges "
              "(%llu rounds)", (unsigned long long)rounds);
    /* a star: one right vertex, many lefts of equal weight: the lowest
     * left id wins */
    n = 0;
    for (uint64_t i = 0; i < 200; i++)
        e[n++] = (pl_as_edge){199 - i, 7, 1.5};
    allok = run(e, n, &rounds);
    if (me == 0)
        CHECK(allok, "a star of 200 equal edges: the lowest left id wins");
    /* negative zero equals zero: ties by id */
    n = 0;
    e[n++] = (pl_as_edge){2, 1, -0.0};
    e[n++] = (pl_as_edge){1, 1, 0.0};
    e[n++] = (pl_as_edge){1, 2, -0.0};
    allok = run(e, n, &rounds);
    if (me == 0)
        CHECK(allok, "-0.0 and 0.0 tie");
    allok = run(e, 0, &rounds);
    if (me == 0)
        CHECK(allok, "no edge at all");
    /* large graphs, twice in a row: their arrays are over 8 MiB, so the
     * second takes the first's from the large-block cache (base/mem.h),
     * resident and not zeroed: the matching must not depend on it */
    {
        size_t nb = 400000;
        pl_as_edge *g = malloc(nb * sizeof *g);
        allok = 1;
        for (int t = 0; t < 2; t++) {
            rng = 3000 + (uint64_t)t;
            random_graph(g, nb, 150000, 150000, 9, 0);
            allok &= run_big(g, nb);
        }
        free(g);
        if (me == 0)
            CHECK(allok, "2 large graphs in a row (150000 x 150000, %zu "
                  "edges, 9 weights), the second on recycled memory, on %d "
                  "rank(s)", nb, size);
    }
    /* a NaN weight on one rank: -1 on every rank */
    pl_as_edge bad = {3, 4, NAN};
    uint8_t m = 0;
    int rc = pl_assign(MPI_COMM_WORLD, &bad, me == size - 1 ? 1 : 0, &m,
                       NULL);
    int rcs = 0;
    MPI_Allreduce(&rc, &rcs, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (me == 0)
        CHECK(rcs == -size, "a NaN weight: -1 on every rank");
    free(e);
    MPI_Finalize();
    return unit_done();
}
