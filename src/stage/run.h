/* run.h — the state of one `pseudolink run` that every stage shares.
 *
 * The stages, in data order (each file's header is its contract):
 *   store.c        open the store, check every source, rows per rank
 *   ingest.c       count pass (read, validate (nir.c), stage 1
 *                  (pseudonym.c), every key to its owner, which then
 *                  resolves persons (owner.c)), then batch by batch the
 *                  same and the pids from the owners, to the batch sinks:
 *   linked.c       <out>/linked.h5, written as the batches stream in
 *   link.c         the cross-link index (global sort by pid) and persons
 *   correspondence.c  the encrypted (p1, rank) -> pid table
 *   extract.c      project extracts (generalise.c, risk.c)
 *   runaudit.c     lock, publication record, audit line
 * cmd/run.c drives them. Each stage keeps its own state behind an opaque
 * pointer here; what is in the struct itself is what several stages read.
 * Nothing is kept per input row: memory is the batch buffers, the owner's
 * key table (persons' keys) and the bounded links sort (docs/SCALING.md).
 */
#ifndef PL_RUN_H
#define PL_RUN_H

#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stdint.h>

#include "crypto/hmac.h"
#include "job/config.h"
#include "stage/owner.h"
#include "stage/store.h"

enum pl_stage { PL_T_READ, PL_T_VALIDATE, PL_T_STAGE1, PL_T_EXCHANGE,
                PL_T_LINK, PL_T_WRITE, PL_T_COUNT };

/* Per source, from the count pass (ingest.c); read by every writer. */
typedef struct {
    uint64_t  kept, rejected, ambiguous;        /* local */
    uint64_t  kept_off, rej_off, amb_off;       /* exclusive prefix */
    uint64_t  kept_total, rej_total, amb_total; /* global */
    uint64_t  reasons[16];      /* global rows per reject code (nir.h) */
    uint64_t  opposed, opposed_total;   /* rows on an opposition list:
                                         * neither kept nor rejected */
    uint64_t  also_bad, also_bad_total; /* kept rows whose second identity
                                         * (identity.also) failed the NIR
                                         * checks: not joined (warning) */
} pl_src_state;

/* why[] of a batch row whose key holds several persons (twins) and that
 * has no rank to choose: not linked, listed in /ambiguous (linked.c). */
#define PL_WHY_AMBIGUOUS 0xFF

typedef struct {
    MPI_Comm  comm;
    int       rank, size;
    pl_job   *job;
    pl_store  store;
    pl_src_state *ss;
    pl_src_state *lss;          /* store.lsrc (linkage.sources): kept rows
                                 * (their decisions, no opposed record),
                                 * opposed; set by pl_probalink_links */
    const char *gendir;         /* this run's own output directory, where
                                 * every output is written (runaudit.h) */
    hid_t     dxpl;             /* transfer property (collective or not) */
    pl_hmac_key producer, platform;
    pl_owner  owner;
    /* The memory plan (budget.c): exchange cap per destination, links
     * sort run (records) and merge buffers (bytes). */
    uint64_t  cap, link_run, merge_bytes;
    uint64_t  exchange_rounds;
    double    t[PL_T_COUNT];    /* seconds, this rank */
    volatile sig_atomic_t *stop;       /* set by SIGTERM/SIGINT/SIGUSR1 */
    /* During a batch sink call: candidates of each ambiguous row of the
     * batch (0 for the others). */
    const uint8_t *batch_cand;
    /* Each stage's own state, opaque outside its file. */
    struct pl_link_state *link;        /* link.c */
    struct pl_linked_writer *lw;       /* linked.c */
    struct pl_corr_state *corr;        /* correspondence.c */
    struct pl_extract_set *extracts;   /* extract.c; NULL when none */
    struct pl_probalink_state *probalink;  /* probalink.c; NULL when none */
    struct pl_dedup_state *dedup;          /* dedup.c; NULL when none */
} pl_run;

#endif
