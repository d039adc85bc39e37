/* corrfile.c — see corrfile.h; the layout is in docs/CORRESPONDENCE.md. */
#include "crypto/corrfile.h"
#include "crypto/hmac.h"
#include "base/log.h"
#include "par/h5.h"
#include "crypto/gcm.h"
#include "crypto/shamir.h"
#include "base/mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char aad_magic[] = "pseudolink-corr-v1";          /* 18 bytes */
static const char check_magic[] = "pseudolink-key-check-v1";   /* 23 bytes */

/* ------------------------------------------------------------------------ */
/* Primitives */

void pl_corr_aad(uint8_t aad[PL_CORR_AAD], const char *run_id,
                 uint32_t rank, uint32_t n_shards, uint64_t records)
{
    memcpy(aad, aad_magic, 18);
    memcpy(aad + 18, run_id, PL_CORR_RUNID);
    for (int i = 0; i < 4; i++) {
        aad[34 + i] = (uint8_t)(rank >> (24 - 8 * i));
        aad[38 + i] = (uint8_t)(n_shards >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        aad[42 + i] = (uint8_t)(records >> (56 - 8 * i));
}

void pl_corr_key_check(const uint8_t key[PL_CORR_KEY], const char *run_id,
                       uint8_t out[32])
{
    pl_hmac_key k;
    uint8_t msg[23 + PL_CORR_RUNID];
    memcpy(msg, check_magic, 23);
    memcpy(msg + 23, run_id, PL_CORR_RUNID);
    pl_hmac_init(&k, key, PL_CORR_KEY);
    pl_hmac(&k, msg, sizeof msg, out);
    pl_hmac_key_wipe(&k);
}

/* ------------------------------------------------------------------------ */
/* Writing */

void pl_custody_meta_shape(pl_custody_meta *cm, unsigned threshold,
                           size_t n_roles, size_t n, uint64_t wtotal)
{
    memset(cm, 0, sizeof *cm);
    cm->threshold = threshold;
    cm->n_roles = n_roles;
    cm->n = n;
    cm->wtotal = wtotal;
    cm->roles = pl_xcalloc(n_roles, sizeof *cm->roles);
    cm->name = pl_xcalloc(n, sizeof *cm->name);
    cm->role = pl_xcalloc(n, sizeof *cm->role);
    cm->fpr = pl_xcalloc(n, sizeof *cm->fpr);
    cm->woff = pl_xcalloc(n, sizeof *cm->woff);
    cm->wlen = pl_xcalloc(n, sizeof *cm->wlen);
    cm->wrapped = pl_xcalloc(wtotal, 1);
}

void pl_custody_meta_free(pl_custody_meta *cm)
{
    free(cm->roles);
    free(cm->name);
    free(cm->role);
    free(cm->fpr);
    free(cm->woff);
    free(cm->wlen);
    free(cm->wrapped);
    memset(cm, 0, sizeof *cm);
}

static size_t role_index(const pl_custody_meta *cm, const char *role)
{
    for (size_t r = 0; r < cm->n_roles; r++)
        if (strcmp(cm->roles[r], role) == 0)
            return r;
    return cm->n_roles;
}

/* Wrap share (x || y) of the custodian's role to custodian i's key. */
static int wrap_one(pl_custody_meta *cm, size_t i, const char *path,
                    const uint8_t *shares)
{
    EVP_PKEY *pub = pl_custody_load_public(path, 0);
    if (!pub)
        return -1;
    uint8_t plain[PL_SHARE_PLAIN], *w = NULL;
    size_t r = role_index(cm, cm->role[i]), wl = 0;
    plain[0] = (uint8_t)(r + 1);
    memcpy(plain + 1, shares + r * PL_CORR_KEY, PL_CORR_KEY);
    int rc = pl_custody_fingerprint(pub, cm->fpr[i]);
    rc = rc == 0 ? pl_custody_wrap(pub, plain, sizeof plain, &w, &wl) : -1;
    OPENSSL_cleanse(plain, sizeof plain);
    EVP_PKEY_free(pub);
    if (rc != 0) {
        pl_err("%s: cannot wrap the key share to custodian '%s'", path,
               cm->name[i]);
        return -1;
    }
    cm->woff[i] = cm->wtotal;
    cm->wlen[i] = wl;
    cm->wrapped = pl_xrealloc(cm->wrapped, cm->wtotal + wl);
    memcpy(cm->wrapped + cm->wtotal, w, wl);
    cm->wtotal += wl;
    free(w);
    return 0;
}

int pl_custody_meta_build(pl_custody_meta *cm, const pl_custody_cfg *cc,
                          const uint8_t key[PL_CORR_KEY], const char *run_id)
{
    const char **roles = pl_xcalloc(cc->n, sizeof *roles);
    size_t nr = pl_custody_roles(cc, roles);
    pl_custody_meta_shape(cm, cc->threshold, nr, cc->n, 0);
    for (size_t r = 0; r < nr; r++)
        snprintf(cm->roles[r], PL_CUST_NAME_MAX, "%s", roles[r]);
    free(roles);
    uint8_t *shares = pl_xmalloc(nr * PL_CORR_KEY);
    int rc = pl_shamir_split(key, PL_CORR_KEY, cc->threshold, (unsigned)nr,
                             shares);
    if (rc != 0)
        pl_err("cannot split the data key (OpenSSL's random generator "
               "failed)");
    for (size_t i = 0; rc == 0 && i < cc->n; i++) {
        snprintf(cm->name[i], PL_CUST_NAME_MAX, "%s", cc->c[i].name);
        snprintf(cm->role[i], PL_CUST_NAME_MAX, "%s", cc->c[i].role);
        rc = wrap_one(cm, i, cc->c[i].public_key, shares);
    }
    OPENSSL_cleanse(shares, nr * PL_CORR_KEY);
    free(shares);
    /* Two custodians sharing one key would let one person hold two
     * roles: refuse it (their fingerprints would be equal). */
    for (size_t i = 0; rc == 0 && i < cc->n; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(cm->fpr[i], cm->fpr[j], PL_FPR_BYTES) == 0) {
                pl_err("%s: custodians '%s' and '%s' have the same public "
                       "key (each custodian needs a key of their own)",
                       cc->c[i].public_key, cm->name[j], cm->name[i]);
                rc = -1;
                break;
            }
    if (rc == 0)
        pl_corr_key_check(key, run_id, cm->key_check);
    return rc;
}

int pl_custody_meta_write(hid_t file, const char *fname,
                          const pl_custody_meta *cm, int mine, hid_t dxpl)
{
    hid_t g = H5Gcreate2(file, "custody", H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    if (g < 0) {
        pl_err("%s: cannot create group /custody: %s", fname, pl_h5_reason());
        return -1;
    }
    hid_t st = pl_str_type(PL_CUST_NAME_MAX);
    uint8_t *x = pl_xcalloc(cm->n_roles, 1);
    for (size_t r = 0; r < cm->n_roles; r++)
        x[r] = (uint8_t)(r + 1);
    int rc = pl_attr_u64(g, "threshold", cm->threshold);
    rc = rc || pl_h5_put(g, fname, "roles", st, cm->n_roles, 0, cm->roles,
                           mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "role_x", H5T_NATIVE_UINT8, cm->n_roles,
                           0, x, mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "name", st, cm->n, 0, cm->name, mine,
                           dxpl);
    rc = rc || pl_h5_put(g, fname, "role", st, cm->n, 0, cm->role, mine,
                           dxpl);
    rc = rc || pl_h5_put(g, fname, "fingerprint", H5T_NATIVE_UINT8, cm->n,
                           PL_FPR_BYTES, cm->fpr, mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "wrapped", H5T_NATIVE_UINT8, cm->wtotal,
                           0, cm->wrapped, mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "wrapped_offset", H5T_NATIVE_UINT64,
                           cm->n, 0, cm->woff, mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "wrapped_length", H5T_NATIVE_UINT64,
                           cm->n, 0, cm->wlen, mine, dxpl);
    rc = rc || pl_h5_put(g, fname, "key_check", H5T_NATIVE_UINT8, 32, 0,
                           cm->key_check, mine, dxpl);
    free(x);
    H5Tclose(st);
    H5Gclose(g);
    return rc ? -1 : 0;
}
