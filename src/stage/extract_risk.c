/* extract_risk.c — the risk part of project extracts: evaluation through
 * risk.c, the refusal/warning message (counts only, never a value of a
 * small class) and the /risk group. */
#include "stage/extract_int.h"
#include "base/log.h"
#include "par/mpi.h"
#include "par/h5.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Risk */

static int violated(const pl_extract_cfg *e, const pl_risk_stats *st)
{
    return st->small_classes > 0 || (e->l > 0 && st->classes_below_l > 0);
}

static void qi_list(const pl_extract_cfg *e, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t q = 0; q < e->n_qi && o < n; q++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", q ? ", " : "",
                              e->qi[q]);
}

/* Counts only: never a value of a small class. */
static void report_violation(const pl_run *r, const xproj *p, const xsrc *x)
{
    const pl_extract_cfg *e = p->cfg;
    const pl_risk_stats *st = &x->st;
    char qis[512], lpart[256] = "";
    qi_list(e, qis, sizeof qis);
    if (e->l > 0 && st->classes_below_l > 0)
        snprintf(lpart, sizeof lpart, "; %llu classes have fewer than l=%llu "
                 "distinct values of '%s' (fewest: %llu)",
                 (unsigned long long)st->classes_below_l,
                 (unsigned long long)e->l, e->sensitive,
                 (unsigned long long)st->l_min);
    char msg[1400];
    snprintf(msg, sizeof msg, "extract '%s': quasi-identifiers (%s) on "
             "source '%s': %llu of %llu classes have fewer than k=%llu "
             "persons (smallest class: %llu, short by %llu); %llu records "
             "and %llu persons are in those classes%s", e->name, qis,
             x->s->cfg->name, (unsigned long long)st->small_classes,
             (unsigned long long)st->classes, (unsigned long long)e->k,
             (unsigned long long)st->smallest,
             (unsigned long long)(e->k - st->smallest),
             (unsigned long long)st->records_small,
             (unsigned long long)st->persons_small, lpart);
    if (r->rank != 0)
        return;
    if (e->refuse)
        pl_err0("%s; on_violation: refuse, so the extract is not published",
                msg);
    else
        pl_warn("%s; published anyway (on_violation: warn)", msg);
}

int pl_xrisk_eval(pl_run *r, xproj *p)
{
    const pl_extract_cfg *e = p->cfg;
    for (size_t s = 0; s < p->n_src; s++) {
        xsrc *x = &p->src[s];
        if (!x->risk)
            continue;
        if (pl_risk_eval(r->comm, x->rrec, x->n, e->k, e->l, r->cap,
                         x->sens >= 0, &x->st) != 0)
            return -1;
        if (violated(e, &x->st)) {
            report_violation(r, p, x);
            p->status = e->refuse ? XP_REFUSED : XP_WARNED;
        }
    }
    return 0;
}

int pl_xrisk_write(pl_run *r, xproj *p)
{
    const pl_extract_cfg *e = p->cfg;
    if (!e->has_risk)
        return 0;
    hid_t g = pl_out_group(&p->f, "/risk");
    if (!pl_all_ok(r->comm, g >= 0))
        return -1;
    int rc = pl_attr_strlist(g, "quasi_identifiers",
                             (const char *const *)e->qi, e->n_qi);
    rc |= pl_attr_u64(g, "k", e->k);
    rc |= pl_attr_str(g, "sensitive", e->sensitive);
    rc |= pl_attr_u64(g, "l", e->l);
    rc |= pl_attr_str(g, "on_violation", e->refuse ? "refuse" : "warn");
    for (size_t s = 0; s < p->n_src && rc == 0; s++) {
        const xsrc *x = &p->src[s];
        if (!x->risk)
            continue;
        char path[PL_NAME_MAX + 8];
        snprintf(path, sizeof path, "/risk/%s", x->s->cfg->name);
        hid_t sg = pl_out_group(&p->f, path);
        if (sg < 0) {
            rc = -1;
            break;
        }
        const pl_risk_stats *st = &x->st;
        rc |= pl_attr_u64(sg, "records", st->records);
        rc |= pl_attr_u64(sg, "classes", st->classes);
        rc |= pl_attr_u64(sg, "smallest_class", st->smallest);
        rc |= pl_attr_u64(sg, "classes_below_k", st->small_classes);
        rc |= pl_attr_u64(sg, "records_below_k", st->records_small);
        rc |= pl_attr_u64(sg, "persons_below_k", st->persons_small);
        rc |= pl_attr_u64(sg, "l_diversity", st->l_min);
        rc |= pl_attr_u64(sg, "classes_below_l", st->classes_below_l);
        rc |= pl_attr_str(sg, "status", violated(e, st) ? "violated" : "ok");
        H5Gclose(sg);
    }
    H5Gclose(g);
    return pl_all_ok(r->comm, rc == 0) ? 0 : -1;
}
