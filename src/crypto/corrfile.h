/* corrfile.h — the encrypted correspondence file (docs/CORRESPONDENCE.md
 * is the reference): reading its index and custody metadata, opening the
 * data key with custodians' private keys, decrypting shards, and writing
 * the custody metadata (shared by `run` and `rewrap`).
 */
#ifndef PL_CORRFILE_H
#define PL_CORRFILE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/custody.h"
#include "crypto/gcm.h"
#include "crypto/keyset.h"

#define PL_CORR_NAME   "correspondence.h5"
#define PL_CORR_FORMAT "pseudolink-correspondence"
#define PL_CORR_KEY    PL_GCM_KEY       /* AES-256 data key */
#define PL_CORR_NONCE  PL_GCM_NONCE
#define PL_CORR_TAG    PL_GCM_TAG
#define PL_CORR_REC    49       /* p1 (32) || rank (1) || pid (16) */
#define PL_CORR_VERSION 2       /* 1: p1 hashed the rank, 48-byte records */
#define PL_CORR_AAD    50
#define PL_CORR_RUNID  16       /* ASCII hex characters */
#define PL_SHARE_PLAIN 33       /* x (1) || share (32), OAEP plaintext */

/* Custody metadata, as stored under /custody. */
typedef struct {
    unsigned threshold;
    size_t n_roles;
    char (*roles)[PL_CUST_NAME_MAX];
    size_t n;                   /* custodians */
    char (*name)[PL_CUST_NAME_MAX];
    char (*role)[PL_CUST_NAME_MAX];
    uint8_t (*fpr)[PL_FPR_BYTES];
    uint8_t *wrapped;           /* back to back */
    uint64_t *woff, *wlen, wtotal;
    uint8_t key_check[32];
} pl_custody_meta;

typedef struct {
    char *path;
    hid_t file;
    char run_id[PL_CORR_RUNID + 1];
    uint64_t records;
    size_t n_shards;
    uint32_t *rank;
    uint64_t *off, *len, *nrec;
    uint8_t (*nonce)[PL_CORR_NONCE];
    uint8_t (*tag)[PL_CORR_TAG];
    uint64_t ct_total;
    pl_custody_meta cm;
} pl_corr_file;

#define PL_CORR_FPR_HEX 16     /* bytes of the platform key fingerprint */

/* Serial open (one process) and read of everything but the ciphertext. */
int  pl_corr_open(pl_corr_file *cf, const char *path);
void pl_corr_close(pl_corr_file *cf);

/* The root attribute `platform_key_fpr` (32 lowercase hex characters: the
 * fingerprint of the platform key of a keyed run, crypto/keyfile.h): 1 and
 * hex filled, 0 when the file has none (random mode, or written before the
 * attribute existed), -1 after a message. */
int pl_corr_platform_fpr(const pl_corr_file *cf, char hex[2 * PL_CORR_FPR_HEX + 1]);

/* Open the data key with the presented private keys: they must cover
 * `threshold` distinct roles of the file's custodians. used[] (cm.n
 * entries, zeroed by the caller, may be NULL) gets 1 for the custodians
 * whose shares served, 2 for those whose key was presented and recognised
 * but whose share did not serve (a refusal, or a second key of a role);
 * it is filled on failure too, for the audit record. */
int pl_corr_unlock(pl_corr_file *cf, const pl_keyset *ks,
                   uint8_t key[PL_CORR_KEY], int *used);

/* Decrypt shard i: *plain gets nrec[i] records (malloc'd; the caller
 * wipes and frees). Every failure names the file and the shard. */
int pl_corr_shard(pl_corr_file *cf, size_t i, const uint8_t key[PL_CORR_KEY],
                  uint8_t **plain);

/* AAD of a shard (layout in docs/CORRESPONDENCE.md). */
void pl_corr_aad(uint8_t aad[PL_CORR_AAD], const char *run_id,
                 uint32_t rank, uint32_t n_shards, uint64_t records);
/* key_check = HMAC-SHA256(key, "pseudolink-key-check-v1" || run_id). */
void pl_corr_key_check(const uint8_t key[PL_CORR_KEY], const char *run_id,
                       uint8_t out[32]);
/* Split the data key over the roles of cc and wrap each role's share to
 * every custodian of that role (loads their public keys). */
int  pl_custody_meta_build(pl_custody_meta *cm, const pl_custody_cfg *cc,
                           const uint8_t key[PL_CORR_KEY],
                           const char *run_id);
/* Sizes only (n_roles, n, wtotal, threshold) as on the building rank, so
 * that other ranks can create the same datasets. */
void pl_custody_meta_shape(pl_custody_meta *cm, unsigned threshold,
                           size_t n_roles, size_t n, uint64_t wtotal);
/* Create /custody in `file`; only a rank with mine != 0 writes data
 * (collective creation under MPI-IO; serial files: mine = 1). */
int  pl_custody_meta_write(hid_t file, const char *fname,
                           const pl_custody_meta *cm, int mine, hid_t dxpl);
void pl_custody_meta_free(pl_custody_meta *cm);

#endif
