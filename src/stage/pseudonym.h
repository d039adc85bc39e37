/* pseudonym.h — the two pseudonymisation stages.
 *
 * Stage 1 (producer): p1 = HMAC-SHA256(producer_key, M) where
 *   M = nir (15 bytes) || birth_date as 8 ASCII digits || sex as 1 ASCII
 *       digit [|| birth_rank as 1 byte, when the source configures it]
 * Stage 2 (platform): pid, 16 bytes, assigned by the owner rank of p1:
 *   keyed:  first 16 bytes of HMAC-SHA256(platform_key, p1)
 *   random: 16 bytes from OpenSSL's CSPRNG, checked globally unique.
 */
#ifndef PL_PSEUDONYM_H
#define PL_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hmac.h"

#define PL_P1_BYTES  32
#define PL_PID_BYTES 16
#define PL_P1_MSG_MAX 25

/* Build the stage-1 message; returns its length (24, or 25 with a rank).
 * birth_rank < 0: not configured. nir must be 15 bytes. */
size_t pl_p1_message(uint8_t out[PL_P1_MSG_MAX], const char *nir,
                     int32_t birth_date, int sex, int birth_rank);

/* One p1 from validated identity fields. */
void pl_p1_compute(const pl_hmac_key *producer, const char *nir,
                   int32_t birth_date, int sex, int birth_rank,
                   uint8_t p1[PL_P1_BYTES]);

/* Stage 1 at batch speed for the rows idx[0..n) of a batch: nir at
 * nir + i * nir_stride (15 significant bytes), birth_date, sex and
 * birth_rank (NULL: not configured) as read (int64, already validated);
 * p1 of the k-th listed row to p1s + 32 k. The one stage-1 computation of
 * `run` (ingest.c) and `produce` (produce.c); its messages are built by
 * pl_p1_message in a small buffer, wiped after each chunk. */
void pl_p1_batch(const pl_hmac_key *producer, const char *nir,
                 size_t nir_stride, const int64_t *birth_date,
                 const int64_t *sex, const int64_t *birth_rank,
                 const size_t *idx, size_t n, uint8_t *p1s);

/* Keyed pid of one p1. */
void pl_pid_keyed(const pl_hmac_key *platform, const uint8_t p1[PL_P1_BYTES],
                  uint8_t pid[PL_PID_BYTES]);

/* Keyed pids of n p1 (contiguous, PL_P1_BYTES each) to pids (contiguous,
 * PL_PID_BYTES each): the same values as pl_pid_keyed, at batch speed. */
void pl_pid_keyed_batch(const pl_hmac_key *platform, const uint8_t *p1s,
                        size_t n, uint8_t *pids);

#endif
