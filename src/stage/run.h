/* run.h — state of one `pseudolink run`, shared by its stages:
 *   ingest.c  count pass (rows kept/rejected per rank), then batch by batch:
 *             read, validate, stage 1, exchange -> pids of the batch, which
 *             go straight to linked.c (rows) and link.c (link records)
 *   link.c    cross-link index (global sort by pid) and persons
 *   linked.c  <out>/linked.h5, written as the batches stream in
 *   run.c     the driver: command line, set-up, publish, summary
 * Nothing is kept per input row: memory is the batch buffers, the owner's
 * dictionary (persons) and the bounded links sort (docs/SCALING.md).
 */
#ifndef PL_RUN_H
#define PL_RUN_H

#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "job/config.h"
#include "crypto/hmac.h"
#include "par/output.h"
#include "stage/owner.h"
#include "stage/store.h"

enum pl_stage { PL_T_READ, PL_T_VALIDATE, PL_T_STAGE1, PL_T_EXCHANGE,
                PL_T_LINK, PL_T_WRITE, PL_T_COUNT };

typedef struct {
    uint64_t  kept, rejected;   /* local, from the count pass */
    uint64_t  kept_off, rej_off;        /* exclusive prefix over ranks */
    uint64_t  kept_total, rej_total;    /* global */
} pl_src_state;

/* A cross-link record: pid, source (big-endian u16), row (big-endian u64),
 * so that memcmp over PL_LINK_KEY bytes is the (pid, source, row) order. */
#define PL_LINK_BYTES 32
#define PL_LINK_KEY   26

static inline void pl_link_pack(uint8_t *rec, const uint8_t *pid,
                                unsigned source, uint64_t row)
{
    memcpy(rec, pid, 16);
    rec[16] = (uint8_t)(source >> 8);
    rec[17] = (uint8_t)source;
    for (int b = 7; b >= 0; b--, row >>= 8)
        rec[18 + b] = (uint8_t)row;
    memset(rec + PL_LINK_KEY, 0, PL_LINK_BYTES - PL_LINK_KEY);
}

static inline unsigned pl_link_source(const uint8_t *rec)
{
    return (unsigned)rec[16] << 8 | rec[17];
}

/* Sorted link records -> the three /links columns (linked.c). */
void pl_link_split(const uint8_t *recs, uint64_t n, char *hex, uint16_t *src,
                   uint64_t *row);

typedef struct {
    MPI_Comm  comm;
    int       rank, size;
    pl_job   *job;
    pl_store  store;
    pl_src_state *ss;
    hid_t     dxpl;             /* transfer property (collective or not) */
    pl_hmac_key producer, platform;
    pl_owner  owner;
    uint64_t  cap;              /* exchange cap per destination */

    uint64_t  n_links, links_off, links_total;  /* this rank's pid range */
    uint8_t  *person_pid;       /* [n_persons][16] */
    uint32_t *person_counts;    /* [n_persons][n_sources] */
    uint64_t  n_persons, persons_off, persons_total, persons_multi;
    uint64_t  exchange_rounds;
    /* budget.c / linksort.c: links sort in bounded memory. The sorted links
     * are read back with pl_linkiter on `lsort`. */
    struct pl_linksort *lsort;
    uint64_t  link_run, merge_bytes, links_spilled;
    uint8_t  *link_recs, *link_grouped;        /* [batch_rows] scratch */

    double    t[PL_T_COUNT];    /* seconds, this rank */
    volatile sig_atomic_t *stop;       /* set by SIGTERM/SIGINT/SIGUSR1 */
    struct pl_corr_state *corr;        /* correspondence.c */
    struct pl_extract_set *extracts;   /* extract.c; NULL when none */
    pl_outfile linked;                 /* <out>/linked.h5 (temporary) */
    struct pl_linked_writer *lw;       /* linked.c, while batches stream */
} pl_run;

/* One whole dataset from every rank's slice (collective; shared status). */
static inline int pl_write_full(pl_run *r, pl_outfile *f, hid_t loc,
                                const char *name, hid_t type, uint64_t total,
                                uint64_t off, uint64_t n, const void *buf)
{
    return pl_out_write_full(f, r->comm, r->dxpl, loc, name, type, total, off,
                             n, buf);
}

/* ingest.c: the count pass (kept/rejected rows, prefix sums), then the
 * batch loop that feeds pl_linked_batch and pl_link_batch. */
int pl_ingest_count(pl_run *r);
int pl_ingest(pl_run *r);

/* link.c: the links sort is fed batch by batch (pids of the valid rows
 * of rows [lo, lo+cnt) of source si, in row order), then sorted and
 * grouped into persons. */
void pl_link_begin(pl_run *r);
int pl_link_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                  const uint8_t *why, const uint8_t *pids);
int pl_link_finish(pl_run *r);
void pl_link_free(pl_run *r);   /* the links sort */

/* linked.c: create r->linked with every dataset sized from the count pass,
 * write each batch, then links/persons/attributes and close (unpublished).
 * All collective; -1 on every rank together. pl_linked_abort discards. */
int pl_linked_begin(pl_run *r, const char *tag);
int pl_linked_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                    const uint8_t *why, const uint8_t *pids);
int pl_linked_end(pl_run *r);
void pl_linked_abort(pl_run *r);

/* run.c: `pseudolink run` (initialises and finalises MPI). */
int pl_run_main(int argc, char **argv);

#endif
