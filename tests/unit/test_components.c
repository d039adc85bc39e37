/* test_components.c — the owner's persons: twins, ambiguity and the
 * connected components of the key graph (stage/owner.h), checked against
 * a sequential union-find written here, with pids recomputed with
 * OpenSSL's HMAC() from the rule of docs/FORMATS.md section 3.
 *
 * Runs as a singleton (make test) or under mpirun -np N
 * (tests/e2e/twins.sh): each rank adds its share of the keys and edges
 * (by index modulo the rank count); the result must be the same.
 */
#include "unit.h"
#include "stage/owner.h"
#include "par/exchange.h"

#include <mpi.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define MAXK 4096

static uint8_t keys[MAXK][PL_KEY_REC];
static size_t nk;
static size_t edges[MAXK][2];
static size_t ne;
static int me, size;

/* A key from a p1 index (uniform p1: SHA-256 of the index) and a rank. */
static size_t key(unsigned p1, uint8_t rank)
{
    uint8_t in[8];
    memcpy(in, &p1, sizeof p1);
    memcpy(in + 4, "p1ix", 4);
    uint8_t *k = keys[nk];
    SHA256(in, sizeof in, k);
    k[PL_P1_BYTES] = rank;
    for (size_t i = 0; i < nk; i++)
        if (memcmp(keys[i], k, PL_KEY_REC) == 0)
            return i;
    return nk++;
}

static void edge(size_t a, size_t b)
{
    edges[ne][0] = a;
    edges[ne++][1] = b;
}

/* ---- the reference: sequential, from the documented rules ---- */

static int nranks[MAXK], amb[MAXK];
static uint8_t nodes[MAXK][PL_KEY_REC], labels[MAXK][PL_KEY_REC];
static size_t parent[MAXK];

static size_t find(size_t x)
{
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

/* The documented rules, sequentially: ranks per p1, nodes, ambiguity,
 * union-find over equal nodes and edges, smallest node per component. */
static void prepare(void)
{
    for (size_t i = 0; i < nk; i++) {
        nranks[i] = 0;
        for (size_t j = 0; j < nk; j++)
            nranks[i] += memcmp(keys[j], keys[i], PL_P1_BYTES) == 0 &&
                         keys[j][32];
        amb[i] = keys[i][32] == 0 && nranks[i] >= 2;
        memcpy(nodes[i], keys[i], PL_KEY_REC);
        if (nranks[i] <= 1)
            nodes[i][32] = 0;
        parent[i] = i;
    }
    for (size_t a = 0; a < nk; a++)
        for (size_t b = a + 1; b < nk; b++)
            if (!amb[a] && !amb[b] && memcmp(nodes[a], nodes[b], 33) == 0)
                parent[find(a)] = find(b);
    for (size_t e = 0; e < ne; e++)
        if (!amb[edges[e][0]] && !amb[edges[e][1]])
            parent[find(edges[e][0])] = find(edges[e][1]);
    for (size_t i = 0; i < nk; i++)
        memset(labels[i], 0xff, PL_KEY_REC);
    for (size_t j = 0; j < nk; j++)
        if (!amb[j] && memcmp(nodes[j], labels[find(j)], 33) < 0)
            memcpy(labels[find(j)], nodes[j], 33);
}

/* Expected pid of key i (returns the candidates when ambiguous). */
static int expect(size_t i, const uint8_t *pk, uint8_t pid[16])
{
    if (amb[i])
        return nranks[i];
    const uint8_t *label = labels[find(i)];
    uint8_t full[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), pk, 32, label, label[32] ? 33 : 32, full, &len);
    memcpy(pid, full, 16);
    return 0;
}

/* ---- the product, over the ranks ---- */

static uint64_t rounds;
/* Opposition lists' p1 (sorted), for run_owner; the reference marks every
 * component with a key of an opposed p1. */
static uint8_t opp[8][PL_P1_BYTES];
static size_t nopp;
static size_t opposed_keys;

static int cmp_p1(const void *a, const void *b)
{
    return memcmp(a, b, PL_P1_BYTES);
}

static int on_list(size_t i)
{
    for (size_t k = 0; k < nopp; k++)
        if (memcmp(opp[k], keys[i], PL_P1_BYTES) == 0)
            return 1;
    return 0;
}

static int run_owner(const uint8_t *pk, int *same, size_t *persons)
{
    pl_hmac_key plat;
    pl_hmac_init(&plat, pk, 32);
    pl_owner o;
    pl_owner_init(&o, PL_MODE_KEYED, &plat, 7);   /* small cap: rounds */
    qsort(opp, nopp, PL_P1_BYTES, cmp_p1);
    o.opp = opp[0];
    o.n_opp = nopp;
    uint8_t *mine = malloc(MAXK * PL_KEY_REC), *me_e = malloc(MAXK * 66);
    size_t nm = 0, nme = 0;
    for (size_t i = 0; i < nk; i++)
        if ((int)(i % (size_t)size) == me)
            memcpy(mine + nm++ * PL_KEY_REC, keys[i], PL_KEY_REC);
    for (size_t e = 0; e < ne; e++)
        if ((int)(e % (size_t)size) == me) {
            memcpy(me_e + nme * 66, keys[edges[e][0]], 33);
            memcpy(me_e + nme++ * 66 + 33, keys[edges[e][1]], 33);
        }
    int rc = pl_route_owned(MPI_COMM_WORLD, mine, nm, PL_KEY_REC, 7,
                            pl_owner_add_serve, &o, 0, NULL, NULL, NULL);
    rc |= pl_route_owned(MPI_COMM_WORLD, me_e, nme, 66, 7,
                         pl_owner_edge_serve, &o, 0, NULL, NULL, NULL);
    rc |= pl_owner_resolve(&o, MPI_COMM_WORLD);
    /* Every rank asks for every key. */
    uint8_t *all = malloc(MAXK * PL_KEY_REC), *rep = malloc(MAXK * 17);
    for (size_t i = 0; i < nk; i++)
        memcpy(all + i * PL_KEY_REC, keys[i], PL_KEY_REC);
    rc |= pl_route_owned(MPI_COMM_WORLD, all, nk, PL_KEY_REC, 7,
                         pl_owner_serve, &o, PL_OWNER_REPLY, rep, NULL, NULL);
    *same = rc == 0;
    prepare();
    static uint8_t copp[MAXK];
    memset(copp, 0, sizeof copp);
    for (size_t i = 0; i < nk; i++)
        if (!amb[i] && on_list(i))
            copp[find(i)] = 1;
    opposed_keys = 0;
    static const uint8_t zero[16];
    for (size_t i = 0; i < nk && rc == 0; i++) {
        uint8_t pid[16];
        int c = expect(i, pk, pid);
        const uint8_t *r = rep + i * PL_OWNER_REPLY;
        int op = !c && copp[find(i)];
        opposed_keys += op;
        if (op ? (r[0] != 0 || memcmp(r + 1, zero, 16) != 0 ||
                  r[PL_OWNER_REPLY - 1] != 1)
               : r[PL_OWNER_REPLY - 1] != 0)
            *same = 0;
        else if (!op && (c ? r[0] != c
                           : (r[0] != 0 || memcmp(r + 1, pid, 16) != 0)))
            *same = 0;
    }
    size_t exported = pl_owner_count(&o), all_exp = 0;
    MPI_Allreduce(&exported, &all_exp, 1, MPI_UNSIGNED_LONG, MPI_SUM,
                  MPI_COMM_WORLD);
    size_t want_exp = 0;
    for (size_t i = 0; i < nk; i++)
        want_exp += !amb[i] && !copp[find(i)];
    if (all_exp != want_exp)
        *same = 0;          /* no correspondence entry for opposed keys */
    uint64_t p = o.persons, tot = 0;
    MPI_Allreduce(&p, &tot, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    *persons = (size_t)tot;
    rounds = o.cc_rounds;
    pl_owner_free(&o);
    pl_hmac_key_wipe(&plat);
    free(mine);
    free(me_e);
    free(all);
    free(rep);
    return rc;
}

static void reset(void) { nk = ne = 0; }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint8_t pk[32];
    memset(pk, 0x5a, sizeof pk);
    int same;
    size_t persons;

    /* Twins: p1 0 seen with ranks 1 and 2 and without; p1 1 with rank 1
     * and without (one person); p1 2 without rank only. */
    reset();
    key(0, 1); key(0, 2); key(0, 0); key(1, 1); key(1, 0); key(2, 0);
    run_owner(pk, &same, &persons);
    if (me == 0) {
        CHECK(same, "twins: ranks 1 and 2 are two persons, the rankless key "
              "is ambiguous (2 candidates); one rank + none is one person");
        CHECK(persons == 4, "twins: 4 persons (%zu)", persons);
    }

    /* A chain of 300 keys of distinct p1 (diameter 299), a star, a cycle,
     * an edge to an ambiguous key (dropped), an edge between two twins'
     * keys of other p1 (joins them). */
    reset();
    size_t prev = key(1000, 0);
    for (unsigned i = 1; i < 300; i++) {
        size_t k = key(1000 + i, 0);
        edge(prev, k);
        prev = k;
    }
    size_t hub = key(5000, 3);
    for (unsigned i = 1; i < 40; i++)
        edge(key(5000 + i, 0), hub);
    size_t c0 = key(6000, 0), c = c0;
    for (unsigned i = 1; i < 10; i++) {
        size_t k = key(6000 + i, 0);
        edge(c, k);
        c = k;
    }
    edge(c, c0);
    key(7000, 1); key(7000, 2);
    edge(key(7001, 0), key(7000, 0));           /* ambiguous: no join */
    edge(key(7002, 0), key(7000, 2));           /* joins twin 2 */
    edge(key(7002, 0), key(7002, 0));           /* a loop */
    edge(key(1000, 0), key(1299, 0));           /* closes the chain */
    run_owner(pk, &same, &persons);
    if (me == 0) {
        CHECK(same, "components: chain of 300, star of 40, cycle of 10, "
              "edge to an ambiguous key dropped: pids = HMAC(platform, "
              "smallest node)");
        /* chain, star, cycle, twin 1, twin 2 (+7002), 7001 */
        CHECK(persons == 6, "components: 6 persons (%zu)", persons);
        CHECK(rounds <= 24, "components: a chain of 300 settles in %llu "
              "rounds (hooking and pointer jumping, not one round per hop)",
              (unsigned long long)rounds);
    }

    /* Random graph: 2000 keys over 1500 p1, ranks 0..2, 1200 edges. */
    reset();
    uint64_t x = 12345;
    for (int i = 0; i < 2000 && nk < MAXK; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        key((unsigned)(x >> 33) % 1500, (uint8_t)((x >> 20) % 7 < 5 ? 0 : (x >> 24) % 3));
    }
    for (int i = 0; i < 1200; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        edge((x >> 33) % nk, (x >> 13) % nk);
    }
    run_owner(pk, &same, &persons);
    if (me == 0)
        CHECK(same, "random key graph (%zu keys, %zu edges): every key's "
              "pid or ambiguity as the sequential union-find says", nk, ne);

    /* Opposition is a person's: a star of 30 keys and a chain of 20 keys
     * (a person of several keys), one opposed p1 each (a leaf, the middle
     * of the chain): every key of both persons is opposed, also those
     * only other keys link; a twin's own p1 opposed; the others kept. */
    reset();
    size_t hub2 = key(8000, 0), leaf = 0;
    for (unsigned i = 1; i < 30; i++)
        edge(leaf = key(8000 + i, 0), hub2);
    size_t ch = key(8100, 0), mid = 0;
    for (unsigned i = 1; i < 20; i++) {
        size_t k = key(8100 + i, 0);
        edge(ch, k);
        ch = k;
        if (i == 10)
            mid = k;
    }
    key(8200, 1); key(8200, 2); key(8200, 0);   /* twins, opposed by p1 */
    edge(key(8201, 0), key(8200, 2));           /* joins twin 2 */
    key(8202, 1); key(8203, 0); edge(key(8203, 0), key(8202, 1));  /* kept */
    memcpy(opp[0], keys[leaf], PL_P1_BYTES);
    memcpy(opp[1], keys[mid], PL_P1_BYTES);
    memcpy(opp[2], keys[key(8200, 1)], PL_P1_BYTES);
    nopp = 3;
    run_owner(pk, &same, &persons);
    if (me == 0) {
        CHECK(same, "opposition: every key of a person with an opposed key "
              "is opposed (reply flag, no pid, no correspondence entry), "
              "the others keep their pids");
        /* star 30 + chain 20 + twins 1, 2 and 8201 (the rankless twin key
         * is ambiguous) = 53 */
        CHECK(opposed_keys == 53, "opposition: 53 keys opposed (%zu)",
              opposed_keys);
    }
    nopp = 0;
    MPI_Finalize();
    return unit_done();
}
