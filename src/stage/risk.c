/* risk.c — see risk.h. */
#include "stage/risk.h"

#include "par/exchange.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <stdlib.h>
#include <string.h>

static int cmp_class_person(const void *a, const void *b)
{
    return memcmp(a, b, PL_RISK_CLASS + 16);
}

static int cmp_sensitive(const void *a, const void *b)
{
    return memcmp((const uint8_t *)a + 32, (const uint8_t *)b + 32, 8);
}

static int cmp_pid(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

typedef struct {
    uint64_t classes, smallest, small_classes, records_small, l_min,
        classes_below_l;
} local_stats;

/* Stats of one class at recs[0..n) (sorted by class, person); appends the
 * persons of a small class to `small`. Reorders the class by sensitive
 * value for l-diversity. */
static void one_class(uint8_t *recs, uint64_t n, uint64_t k, uint64_t l,
                      int has_sens, local_stats *s, uint8_t *small,
                      uint64_t *n_small)
{
    uint64_t persons = 0;
    for (uint64_t i = 0; i < n; i++)
        if (i == 0 || memcmp(recs + (i - 1) * PL_RISK_REC + PL_RISK_CLASS,
                             recs + i * PL_RISK_REC + PL_RISK_CLASS, 16))
            persons++;
    s->classes++;
    if (s->smallest == 0 || persons < s->smallest)
        s->smallest = persons;
    if (persons < k) {
        s->small_classes++;
        s->records_small += n;
        for (uint64_t i = 0; i < n; i++)
            if (i == 0 || memcmp(recs + (i - 1) * PL_RISK_REC + PL_RISK_CLASS,
                                 recs + i * PL_RISK_REC + PL_RISK_CLASS, 16))
                memcpy(small + (*n_small)++ * 16,
                       recs + i * PL_RISK_REC + PL_RISK_CLASS, 16);
    }
    if (!has_sens)
        return;
    qsort(recs, n, PL_RISK_REC, cmp_sensitive);
    uint64_t vals = 0;
    for (uint64_t i = 0; i < n; i++)
        vals += i == 0 || cmp_sensitive(recs + (i - 1) * PL_RISK_REC,
                                        recs + i * PL_RISK_REC) != 0;
    if (s->l_min == 0 || vals < s->l_min)
        s->l_min = vals;
    s->classes_below_l += vals < l;
}

static int count_small_persons(MPI_Comm comm, const uint8_t *small,
                               uint64_t n, uint64_t cap, uint64_t *total)
{
    uint8_t *mine;
    uint64_t m, uniq = 0;
    if (pl_route_gather(comm, small, n, 16, cap, &mine, &m, NULL) != 0)
        return -1;
    if (m > 1)
        qsort(mine, m, 16, cmp_pid);
    for (uint64_t i = 0; i < m; i++)
        uniq += i == 0 || memcmp(mine + (i - 1) * 16, mine + i * 16, 16);
    free(mine);
    PL_MPI_CHECK(MPI_Allreduce(&uniq, total, 1, MPI_UINT64_T, MPI_SUM, comm));
    return 0;
}

int pl_risk_eval(MPI_Comm comm, const uint8_t *recs, uint64_t n, uint64_t k,
                 uint64_t l, uint64_t cap, int has_sensitive,
                 pl_risk_stats *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *mine;
    uint64_t m;
    if (pl_route_gather(comm, recs, n, PL_RISK_REC, cap, &mine, &m,
                        NULL) != 0)
        return -1;
    if (m > 1)
        qsort(mine, m, PL_RISK_REC, cmp_class_person);
    local_stats s = {0};
    uint8_t *small = pl_xmalloc((m ? m : 1) * 16);
    uint64_t n_small = 0;
    for (uint64_t i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && memcmp(mine + i * PL_RISK_REC,
                                        mine + j * PL_RISK_REC,
                                        PL_RISK_CLASS) == 0; j++)
            ;
        one_class(mine + i * PL_RISK_REC, j - i, k, l, has_sensitive, &s,
                  small, &n_small);
    }
    free(mine);
    int rc = count_small_persons(comm, small, n_small, cap,
                                 &out->persons_small);
    free(small);
    if (rc != 0)
        return -1;
    uint64_t sums[4] = {n, s.classes, s.small_classes, s.records_small};
    uint64_t tot[4];
    PL_MPI_CHECK(MPI_Allreduce(sums, tot, 4, MPI_UINT64_T, MPI_SUM, comm));
    out->records = tot[0];
    out->classes = tot[1];
    out->small_classes = tot[2];
    out->records_small = tot[3];
    /* Minimums over ranks that have classes: an empty rank says "no
     * minimum" with UINT64_MAX. */
    uint64_t mins[2] = {s.classes ? s.smallest : UINT64_MAX,
                        s.classes ? s.l_min : UINT64_MAX}, gmin[2];
    PL_MPI_CHECK(MPI_Allreduce(mins, gmin, 2, MPI_UINT64_T, MPI_MIN, comm));
    out->smallest = gmin[0] == UINT64_MAX ? 0 : gmin[0];
    out->l_min = has_sensitive && gmin[1] != UINT64_MAX ? gmin[1] : 0;
    PL_MPI_CHECK(MPI_Allreduce(&s.classes_below_l, &out->classes_below_l, 1,
                               MPI_UINT64_T, MPI_SUM, comm));
    return 0;
}
