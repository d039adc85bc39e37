/* run.h — state of one `pseudolink run`, shared by its stages:
 *   ingest.c  read, validate, stage 1, exchange -> pid per row
 *   link.c    cross-link index (global sort by pid) and persons
 *   linked.c  write <out>/linked.h5
 *   run.c     the driver: command line, set-up, publish, summary
 */
#ifndef PL_RUN_H
#define PL_RUN_H

#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "hmac.h"
#include "output.h"
#include "owner.h"
#include "store.h"

enum pl_stage { PL_T_READ, PL_T_VALIDATE, PL_T_STAGE1, PL_T_EXCHANGE,
                PL_T_LINK, PL_T_WRITE, PL_T_COUNT };

typedef struct {
    uint8_t  *pid;              /* [count][16]; rows of this rank's block */
    uint8_t  *reason;           /* [count]; 0 = valid */
    uint64_t  kept, rejected;   /* local */
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

/* Rows of batch [lo, lo+B) that exist in a block of `count` rows. */
static inline uint64_t pl_batch_count(uint64_t count, uint64_t lo, uint64_t B)
{
    return lo < count ? (count - lo < B ? count - lo : B) : 0;
}

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

    uint8_t  *links;            /* sorted, this rank's pid range */
    uint64_t  n_links, links_off, links_total;
    uint8_t  *person_pid;       /* [n_persons][16] */
    uint32_t *person_counts;    /* [n_persons][n_sources] */
    uint64_t  n_persons, persons_off, persons_total, persons_multi;
    uint64_t  exchange_rounds;
    /* budget.c / linksort.c: links sort in bounded memory. The sorted links
     * are read back with pl_linkiter on `lsort` (r->links stays NULL). */
    struct pl_linksort *lsort;
    uint64_t  link_run, merge_bytes, links_spilled;

    double    t[PL_T_COUNT];    /* seconds, this rank */
    volatile sig_atomic_t *stop;       /* set by SIGTERM/SIGINT/SIGUSR1 */
    struct pl_corr_state *corr;        /* correspondence.c */
    struct pl_extract_set *extracts;   /* extract.c; NULL when none */
} pl_run;

/* Collective: 1 if `ok` holds on every rank. */
int pl_all_ok(MPI_Comm comm, int ok);
/* Exclusive prefix sum and total of a per-rank count. */
void pl_exscan(MPI_Comm comm, uint64_t local, uint64_t *off, uint64_t *total);
/* One whole dataset from every rank's slice (collective; shared status). */
static inline int pl_write_full(pl_run *r, pl_outfile *f, hid_t loc,
                                const char *name, hid_t type, uint64_t total,
                                uint64_t off, uint64_t n, const void *buf)
{
    return pl_out_write_full(f, r->comm, r->dxpl, loc, name, type, total, off,
                             n, buf);
}
/* Batches every rank iterates (lockstep for collective I/O). */
uint64_t pl_batches(MPI_Comm comm, uint64_t local, uint64_t batch);

int pl_ingest(pl_run *r);       /* ingest.c */
int pl_link(pl_run *r);         /* link.c */
void pl_link_free(pl_run *r);   /* link.c: the links sort */
/* linked.c: writes the closed, unpublished temporary; discards it (and
 * returns -1 on every rank) on failure. */
int pl_write_linked(pl_run *r, pl_outfile *f, const char *dir,
                    const char *tag);

/* run.c: `pseudolink run` (initialises and finalises MPI). */
int pl_run_main(int argc, char **argv);

#endif
