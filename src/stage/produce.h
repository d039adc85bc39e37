/* produce.h — the producer's stage 1 (`pseudolink produce`,
 * docs/PRODUCER.md): read the export (export.h), validate every identity
 * with run's checks and reject codes (nir.h), refuse payload columns that
 * look like NIRs unless allowed, compute p1 (pseudonym.h: the one stage-1
 * function), drop every direct identifier and write the delivery's
 * packages (crypto/package.h) into `dir` (the run's private directory,
 * par/generation.h):
 *   <package>.pkg.h5             the data sources: p1 + kept payload
 *   <package>.opposition.pkg.h5  the opposition sources: p1 only (when the
 *                                job lists any)
 *   rejects.csv                  source,row,code,reason — row numbers and
 *                                codes, never a value
 * Collective; -1 on every rank together, after a message.
 */
#ifndef PL_STAGE_PRODUCE_H
#define PL_STAGE_PRODUCE_H

#include <mpi.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "crypto/hmac.h"
#include "crypto/package.h"
#include "job/config.h"
#include "stage/export.h"

typedef struct {
    uint64_t rows, rejected, packaged;          /* global */
    uint64_t reasons[16];
} pl_produce_count;

typedef struct {
    pl_produce_count *src;      /* per job source */
    char  data_id[2 * PL_PKG_ID_BYTES + 1], opp_id[2 * PL_PKG_ID_BYTES + 1];
    char  data_file[PL_NAME_MAX + 32], opp_file[PL_NAME_MAX + 32];
    int   has_data, has_opp;
    double seconds;             /* slowest rank */
    double cpu_seconds;         /* CPU time of the busiest rank (user +
                                   system: a rate on a shared machine) */
} pl_produce_result;

/* The linkage secret for sources with `encode:` (produce --linkage-secret
 * FILE; crypto/bloom.h): copied (wiped by the next call; NULL clears it).
 * Not collective; every rank gives the same secret. */
void pl_produce_linkage_secret(const uint8_t *secret, size_t len);

/* transport and signing: rank 0 only (NULL elsewhere). */
int pl_produce(const pl_job *job, pl_export *x, const pl_hmac_key *producer,
               EVP_PKEY *transport, EVP_PKEY *signing, const char *dir,
               MPI_Comm comm, pl_produce_result *res);

#endif
