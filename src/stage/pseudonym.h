/* pseudonym.h — the two pseudonymisation stages.
 *
 * Stage 1 (producer): p1 = HMAC-SHA256(producer_key, M) where
 *   M = nir (15 bytes) || birth_date as 8 ASCII digits || sex as 1 ASCII
 *       digit (24 bytes). The birth rank is not hashed: it travels beside
 *       p1 (a key is p1 || rank, PL_KEY_REC) so that a source without a
 *       rank column gives the same p1 as one with it.
 * Stage 2 (platform): pid, 16 bytes, assigned by the owner rank of the
 *   person's label (owner.h): keyed: first 16 bytes of
 *   HMAC-SHA256(platform_key, label) where label = p1 (32 bytes) for a
 *   person known by p1 alone, p1 || rank (33 bytes) for one of several
 *   persons sharing a p1 (twins); random: 16 bytes from OpenSSL's CSPRNG,
 *   checked globally unique.
 */
#ifndef PL_PSEUDONYM_H
#define PL_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hmac.h"

#define PL_P1_BYTES  32
#define PL_PID_BYTES 16
#define PL_P1_MSG    24
/* A key as it travels and is stored: p1 (32) || birth rank (1; 0 = none). */
#define PL_KEY_REC   (PL_P1_BYTES + 1)

/* Build the stage-1 message (PL_P1_MSG bytes). nir must be 15 bytes. */
void pl_p1_message(uint8_t out[PL_P1_MSG], const char *nir,
                   int32_t birth_date, int sex);

/* One p1 from validated identity fields: the one implementation of stage 1
 * (run and produce call it, or hash pl_p1_message in batches). */
void pl_p1_compute(const pl_hmac_key *producer, const char *nir,
                   int32_t birth_date, int sex, uint8_t p1[PL_P1_BYTES]);

/* Stage 1 at batch speed for the rows idx[0..n) of a batch: nir at
 * nir + i * nir_stride (15 significant bytes), birth_date and sex as read
 * (int64, already validated); p1 of the k-th listed row to p1s + 32 k.
 * The one stage-1 computation of `run` (ingest.c) and `produce`
 * (produce.c); its messages are built by pl_p1_message in a small buffer,
 * wiped after each chunk. The birth rank is not hashed (it travels beside
 * p1). */
void pl_p1_batch(const pl_hmac_key *producer, const char *nir,
                 size_t nir_stride, const int64_t *birth_date,
                 const int64_t *sex, const size_t *idx, size_t n,
                 uint8_t *p1s);

/* Keyed pid of a label (key[PL_KEY_REC]: hashed as 32 bytes when its rank
 * byte is 0, as 33 bytes otherwise). */
void pl_pid_keyed(const pl_hmac_key *platform, const uint8_t key[PL_KEY_REC],
                  uint8_t pid[PL_PID_BYTES]);

/* Keyed pids of n labels (contiguous, PL_KEY_REC bytes each) to pids
 * (contiguous, PL_PID_BYTES each): the same values as pl_pid_keyed, at
 * batch speed. */
void pl_pid_keyed_batch(const pl_hmac_key *platform, const uint8_t *keys,
                        size_t n, uint8_t *pids);

#endif
