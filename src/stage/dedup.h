/* dedup.h — deduplicating a source without a NIR (`linkage.dedup`,
 * docs/LINKAGE.md "Deduplication"): records of one person in one source
 * are found and given one pid.
 *
 * For each source of linkage.dedup (its records read by probalink.c,
 * whether it is also linked to the persons or not):
 *   1. its own Fellegi–Sunter model, pairs within the source: u from
 *      random pairs of its records (pl_probalink_fit with self); m and λ
 *      per blocking rule by a two-class EM whose non-match shares are
 *      free within the rule's blocks (namesakes agree there on the fields
 *      tied to the rule's own far more than random pairs do), or, when
 *      that solution is no match / non-match split (a class of matches
 *      agreeing more on every field, the other nearer random pairs on
 *      one), by pl_fs_em (u fixed);
 *      m the mean over the rules, λ the largest rule's matches over the
 *      N (N - 1) / 2 pairs;
 *   2. every pair of two of its records sharing a blocking key (row a <
 *      row b, each pair once across rules, pl_bk_run self mode) scored;
 *      pairs at w >= linkage.thresholds.dedup (default: upper) are
 *      accepted;
 *   3. weak bridges cut: an accepted edge (a, b) that lies on no triangle
 *      of accepted edges, between two records each with another accepted
 *      edge (degree >= 2, both at most PL_DD_MAX_DEGREE), is cut;
 *   4. clusters = connected components of the remaining accepted edges
 *      (pl_cc_label of stage/owner.h, distributed), a record alone being
 *      its own cluster; a cluster's id is its smallest row;
 *   5. pids at the cluster id's owner rank: a cluster with records linked
 *      to one person takes that person's pid; linked to several persons,
 *      it is split along the links (each person's records one cluster,
 *      the unlinked records another, a new person); else a new person's
 *      pid for its smallest row (pl_probalink_new_pid).
 * Everything is exact and the same whatever the rank count. Collective
 * functions return 0, or -1 on every rank after a message. No field value
 * is ever printed.
 */
#ifndef PL_STAGE_DEDUP_H
#define PL_STAGE_DEDUP_H

#include "stage/run.h"

#define PL_DD_MAX_DEGREE 64     /* above: a dense group, its edges kept */
#define PL_DD_SIZES 16          /* cluster size histogram bins */

/* Collective, after the sources are linked (pl_probalink_link, whose
 * prepare read the records of linkage.dedup's sources too): steps
 * 1-5; a source also linked gets its records' pids replaced by their
 * cluster's. 0 when there is nothing to deduplicate. */
int  pl_dedup_run(pl_run *r);
/* Collective, after pl_probalink_write: /linked/<source>/cluster (and
 * pid, row for a source only deduplicated) and /linkage/<source>/dedup
 * into the (closed) linked.h5 at fname. */
int  pl_dedup_write(pl_run *r, const char *fname);
/* Rank 0: summary lines. */
void pl_dedup_summary(const pl_run *r);
void pl_dedup_free(pl_run *r);

#endif
