/* corrfile.c — see corrfile.h; the layout is in docs/CORRESPONDENCE.md. */
#include "corrfile.h"
#include "hmac.h"
#include "log.h"
#include "output.h"
#include "shamir.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char aad_magic[] = "pseudolink-corr-v1";          /* 18 bytes */
static const char check_magic[] = "pseudolink-key-check-v1";   /* 23 bytes */

int pl_keyset_arg(pl_keyset *ks, const char *kopt, const char *popt,
                  int argc, char **argv, int *i)
{
    int is_k = strcmp(argv[*i], kopt) == 0;
    int is_p = strcmp(argv[*i], popt) == 0;
    if ((!is_k && !is_p) || *i + 1 >= argc)
        return 0;
    size_t *n = is_k ? &ks->n_key : &ks->n_pass;
    if (*n >= PL_KEYS_MAX) {
        pl_err("%s: at most %d allowed", argv[*i], PL_KEYS_MAX);
        return -1;
    }
    (is_k ? ks->key : ks->pass)[(*n)++] = argv[++*i];
    return 1;
}

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

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce,
               const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
               uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c != NULL;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
                                 enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, PL_CORR_NONCE,
                                   NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
    ok = ok && EVP_CipherUpdate(c, NULL, &len, aad, (int)aadlen) == 1;
    /* Chunks below INT_MAX bytes: shards may be large. */
    for (size_t done = 0; ok && done < n;) {
        size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
        ok = EVP_CipherUpdate(c, out + done, &len, in + done, (int)k) == 1;
        done += k;
    }
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, PL_CORR_TAG,
                                 tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + n, &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, PL_CORR_TAG,
                                 tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int pl_gcm_encrypt(const uint8_t key[PL_CORR_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, uint8_t tag[PL_CORR_TAG])
{
    return gcm(1, key, nonce, aad, aadlen, in, n, out, tag);
}

int pl_gcm_decrypt(const uint8_t key[PL_CORR_KEY], const uint8_t *nonce,
                   const uint8_t *aad, size_t aadlen, const uint8_t *in,
                   size_t n, uint8_t *out, const uint8_t tag[PL_CORR_TAG])
{
    uint8_t t[PL_CORR_TAG];
    memcpy(t, tag, sizeof t);
    int rc = gcm(0, key, nonce, aad, aadlen, in, n, out, t);
    if (rc != 0)
        OPENSSL_cleanse(out, n);
    return rc;
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

int pl_corr_put(hid_t loc, const char *fname, const char *name, hid_t type,
                uint64_t d0, uint64_t d1, const void *buf, int mine,
                hid_t dxpl)
{
    hsize_t dims[2] = {d0, d1};
    int nd = d1 ? 2 : 1;
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    herr_t rc = d < 0 ? -1 : 0;
    if (rc == 0 && d0 * (d1 ? d1 : 1) > 0) {
        hid_t msp = H5Screate_simple(nd, dims, NULL);
        if (!mine) {
            H5Sselect_none(sp);
            H5Sselect_none(msp);
        }
        rc = H5Dwrite(d, type, msp, sp, dxpl, buf);
        H5Sclose(msp);
    }
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    if (rc < 0) {
        pl_err("%s: cannot write dataset %s: %s", fname, name,
               pl_h5_reason());
        return -1;
    }
    return 0;
}

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
    rc = rc || pl_corr_put(g, fname, "roles", st, cm->n_roles, 0, cm->roles,
                           mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "role_x", H5T_NATIVE_UINT8, cm->n_roles,
                           0, x, mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "name", st, cm->n, 0, cm->name, mine,
                           dxpl);
    rc = rc || pl_corr_put(g, fname, "role", st, cm->n, 0, cm->role, mine,
                           dxpl);
    rc = rc || pl_corr_put(g, fname, "fingerprint", H5T_NATIVE_UINT8, cm->n,
                           PL_FPR_BYTES, cm->fpr, mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "wrapped", H5T_NATIVE_UINT8, cm->wtotal,
                           0, cm->wrapped, mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "wrapped_offset", H5T_NATIVE_UINT64,
                           cm->n, 0, cm->woff, mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "wrapped_length", H5T_NATIVE_UINT64,
                           cm->n, 0, cm->wlen, mine, dxpl);
    rc = rc || pl_corr_put(g, fname, "key_check", H5T_NATIVE_UINT8, 32, 0,
                           cm->key_check, mine, dxpl);
    free(x);
    H5Tclose(st);
    H5Gclose(g);
    return rc ? -1 : 0;
}
