/* corrread.c — reading a correspondence file and opening its data key
 * (interface in corrfile.h). Every message names the file and the object;
 * none contains key bytes or p1. */
#include "crypto/corrfile.h"
#include "crypto/hmac.h"
#include "base/log.h"
#include "par/output.h"
#include "crypto/shamir.h"
#include "base/mem.h"
#include "par/h5.h"
#include "crypto/keyset.h"
#include "crypto/gcm.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Number of elements of dataset `path`, checking its rank and, for 2-D,
 * its second dimension. -1 after a message. */
static int64_t ds_len(pl_corr_file *cf, const char *path, int nd,
                      hsize_t d1)
{
    hid_t d = H5Dopen2(cf->file, path, H5P_DEFAULT);
    if (d < 0) {
        pl_h5_reason();
        pl_err("%s: missing dataset %s (not a complete correspondence file)",
               cf->path, path);
        return -1;
    }
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int r = H5Sget_simple_extent_ndims(sp);
    if (r == nd)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    if (r != nd || (nd == 2 && dims[1] != d1)) {
        pl_err("%s: %s: expected a %d-D dataset%s", cf->path, path, nd,
               nd == 2 ? " with a second dimension as documented" : "");
        return -1;
    }
    return (int64_t)dims[0];
}

/* Read all of `path` (which must have `n` rows) into buf. */
static int ds_read(pl_corr_file *cf, const char *path, hid_t mtype, int nd,
                   hsize_t d1, uint64_t n, void *buf)
{
    int64_t len = ds_len(cf, path, nd, d1);
    if (len < 0)
        return -1;
    if ((uint64_t)len != n) {
        pl_err("%s: %s: expected %llu rows, found %lld (the index or the "
               "custody metadata was altered)", cf->path, path,
               (unsigned long long)n, (long long)len);
        return -1;
    }
    if (n == 0)
        return 0;
    hid_t d = H5Dopen2(cf->file, path, H5P_DEFAULT);
    herr_t rc = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    if (rc < 0) {
        pl_err("%s: cannot read %s: %s", cf->path, path, pl_h5_reason());
        return -1;
    }
    return 0;
}

static int attr_read(pl_corr_file *cf, const char *obj, const char *name,
                     hid_t mtype, void *buf)
{
    if (H5Aexists_by_name(cf->file, obj, name, H5P_DEFAULT) <= 0) {
        pl_h5_reason();
        pl_err("%s: %s: missing attribute '%s' (not a pseudolink "
               "correspondence file)", cf->path, obj, name);
        return -1;
    }
    hid_t a = H5Aopen_by_name(cf->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, mtype, buf);
    if (a >= 0)
        H5Aclose(a);
    if (rc < 0) {
        pl_err("%s: %s: cannot read attribute '%s' as documented: %s",
               cf->path, obj, name, pl_h5_reason());
        return -1;
    }
    return 0;
}

static int read_header(pl_corr_file *cf)
{
    char fmt[64] = "";
    uint64_t version = 0;
    hid_t s64 = pl_str_type(sizeof fmt - 1), s16 = pl_str_type(PL_CORR_RUNID);
    int rc = attr_read(cf, "/", "format", s64, fmt);
    if (rc == 0 && strcmp(fmt, PL_CORR_FORMAT) != 0) {
        pl_err("%s: attribute 'format' is not '%s' (not a correspondence "
               "file)", cf->path, PL_CORR_FORMAT);
        rc = -1;
    }
    rc = rc ? rc : attr_read(cf, "/", "version", H5T_NATIVE_UINT64, &version);
    if (rc == 0 && version == 1) {
        pl_err("%s: format version 1 (an older pseudolink, whose first "
               "pseudonyms hashed the birth rank) is not compatible with "
               "this one (version %d): its p1 differ from today's; start "
               "afresh, without previous.correspondence", cf->path,
               PL_CORR_VERSION);
        rc = -1;
    } else if (rc == 0 && version != PL_CORR_VERSION) {
        pl_err("%s: format version %llu is not supported (expected %d)",
               cf->path, (unsigned long long)version, PL_CORR_VERSION);
        rc = -1;
    }
    rc = rc ? rc : attr_read(cf, "/", "run_id", s16, cf->run_id);
    rc = rc ? rc : attr_read(cf, "/", "records", H5T_NATIVE_UINT64,
                             &cf->records);
    H5Tclose(s64);
    H5Tclose(s16);
    cf->run_id[PL_CORR_RUNID] = '\0';
    /* Bound into the AAD and the key check, and recorded in audit lines:
     * what a run writes, 16 lowercase hex digits, or the file was altered. */
    if (rc == 0 && strspn(cf->run_id, "0123456789abcdef") != PL_CORR_RUNID) {
        pl_err("%s: attribute 'run_id' is not %d lowercase hex digits (the "
               "file was altered)", cf->path, PL_CORR_RUNID);
        rc = -1;
    }
    return rc;
}

int pl_corr_platform_fpr(const pl_corr_file *ccf, char hex[2 * PL_CORR_FPR_HEX + 1])
{
    pl_corr_file *cf = (pl_corr_file *)ccf;     /* attr_read reads only */
    htri_t e = H5Aexists_by_name(cf->file, "/", "platform_key_fpr",
                                 H5P_DEFAULT);
    if (e < 0) {
        pl_err("%s: /: cannot look up attribute 'platform_key_fpr': %s",
               cf->path, pl_h5_reason());
        return -1;
    }
    if (e == 0)
        return 0;
    memset(hex, 0, 2 * PL_CORR_FPR_HEX + 1);
    hid_t t = pl_str_type(2 * PL_CORR_FPR_HEX);
    int rc = attr_read(cf, "/", "platform_key_fpr", t, hex);
    H5Tclose(t);
    hex[2 * PL_CORR_FPR_HEX] = '\0';
    if (rc == 0 && strspn(hex, "0123456789abcdef") != 2 * PL_CORR_FPR_HEX) {
        pl_err("%s: attribute 'platform_key_fpr' is not 32 lowercase hex "
               "characters", cf->path);
        rc = -1;
    }
    return rc == 0 ? 1 : -1;
}

static int read_index(pl_corr_file *cf)
{
    int64_t s = ds_len(cf, "/shards/rank", 1, 0);
    int64_t ct = ds_len(cf, "/shards/ciphertext", 1, 0);
    if (s < 0 || ct < 0)
        return -1;
    size_t n = cf->n_shards = (size_t)s;
    cf->ct_total = (uint64_t)ct;
    cf->rank = pl_xcalloc(n, sizeof *cf->rank);
    cf->off = pl_xcalloc(n, sizeof *cf->off);
    cf->len = pl_xcalloc(n, sizeof *cf->len);
    cf->nrec = pl_xcalloc(n, sizeof *cf->nrec);
    cf->nonce = pl_xcalloc(n, sizeof *cf->nonce);
    cf->tag = pl_xcalloc(n, sizeof *cf->tag);
    return ds_read(cf, "/shards/rank", H5T_NATIVE_UINT32, 1, 0, n, cf->rank) ||
           ds_read(cf, "/shards/offset", H5T_NATIVE_UINT64, 1, 0, n, cf->off) ||
           ds_read(cf, "/shards/length", H5T_NATIVE_UINT64, 1, 0, n, cf->len) ||
           ds_read(cf, "/shards/records", H5T_NATIVE_UINT64, 1, 0, n,
                   cf->nrec) ||
           ds_read(cf, "/shards/nonce", H5T_NATIVE_UINT8, 2, PL_CORR_NONCE, n,
                   cf->nonce) ||
           ds_read(cf, "/shards/tag", H5T_NATIVE_UINT8, 2, PL_CORR_TAG, n,
                   cf->tag) ? -1 : 0;
}

static int read_custody(pl_corr_file *cf)
{
    pl_custody_meta *cm = &cf->cm;
    uint64_t t = 0;
    int64_t nr = ds_len(cf, "/custody/roles", 1, 0);
    int64_t n = ds_len(cf, "/custody/name", 1, 0);
    int64_t w = ds_len(cf, "/custody/wrapped", 1, 0);
    if (nr < 0 || n < 0 || w < 0 ||
        attr_read(cf, "/custody", "threshold", H5T_NATIVE_UINT64, &t))
        return -1;
    pl_custody_meta_shape(cm, (unsigned)t, (size_t)nr, (size_t)n,
                          (uint64_t)w);
    if (t < 2 || t > (uint64_t)nr) {
        pl_err("%s: /custody: threshold %llu is not between 2 and the "
               "number of roles (%lld)", cf->path, (unsigned long long)t,
               (long long)nr);
        return -1;
    }
    hid_t st = pl_str_type(PL_CUST_NAME_MAX);
    uint8_t *x = pl_xcalloc((size_t)nr, 1);
    int rc = ds_read(cf, "/custody/roles", st, 1, 0, (uint64_t)nr, cm->roles) ||
             ds_read(cf, "/custody/role_x", H5T_NATIVE_UINT8, 1, 0,
                     (uint64_t)nr, x) ||
             ds_read(cf, "/custody/role", st, 1, 0, (uint64_t)n, cm->role) ||
             ds_read(cf, "/custody/name", st, 1, 0, (uint64_t)n, cm->name) ||
             ds_read(cf, "/custody/fingerprint", H5T_NATIVE_UINT8, 2,
                     PL_FPR_BYTES, (uint64_t)n, cm->fpr) ||
             ds_read(cf, "/custody/wrapped_offset", H5T_NATIVE_UINT64, 1, 0,
                     (uint64_t)n, cm->woff) ||
             ds_read(cf, "/custody/wrapped_length", H5T_NATIVE_UINT64, 1, 0,
                     (uint64_t)n, cm->wlen) ||
             ds_read(cf, "/custody/wrapped", H5T_NATIVE_UINT8, 1, 0,
                     (uint64_t)w, cm->wrapped) ||
             ds_read(cf, "/custody/key_check", H5T_NATIVE_UINT8, 1, 0, 32,
                     cm->key_check) ? -1 : 0;
    H5Tclose(st);
    for (int64_t r = 0; rc == 0 && r < nr; r++)
        if (x[r] != r + 1) {
            pl_err("%s: /custody/role_x[%lld] is %u, expected %lld", cf->path,
                   (long long)r, x[r], (long long)r + 1);
            rc = -1;
        }
    free(x);
    for (int64_t i = 0; rc == 0 && i < n; i++)
        if (cm->woff[i] > cm->wtotal || cm->wlen[i] > cm->wtotal - cm->woff[i]) {
            pl_err("%s: /custody/wrapped_offset[%lld]: wrapped share of "
                   "custodian '%s' lies outside /custody/wrapped", cf->path,
                   (long long)i, cm->name[i]);
            rc = -1;
        }
    return rc;
}

int pl_corr_open(pl_corr_file *cf, const char *path)
{
    memset(cf, 0, sizeof *cf);
    cf->path = pl_xstrdup(path);
    FILE *probe = fopen(path, "rb");   /* the system's reason, plainly */
    if (!probe) {
        pl_err("%s: cannot open correspondence file: %s", path,
               strerror(errno));
        free(cf->path);
        cf->path = NULL;
        return -1;
    }
    fclose(probe);
    cf->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (cf->file < 0) {
        pl_err("%s: cannot open correspondence file: %s", path,
               pl_h5_reason());
        return -1;
    }
    if (read_header(cf) || read_index(cf) || read_custody(cf)) {
        pl_corr_close(cf);
        return -1;
    }
    return 0;
}

void pl_corr_close(pl_corr_file *cf)
{
    if (cf->file > 0)
        H5Fclose(cf->file);
    free(cf->path);
    free(cf->rank);
    free(cf->off);
    free(cf->len);
    free(cf->nrec);
    free(cf->nonce);
    free(cf->tag);
    pl_custody_meta_free(&cf->cm);
    memset(cf, 0, sizeof *cf);
    cf->file = -1;
}

/* ------------------------------------------------------------------------ */
/* Shards */

int pl_corr_shard(pl_corr_file *cf, size_t i, const uint8_t key[PL_CORR_KEY],
                  uint8_t **plain)
{
    *plain = NULL;
    uint64_t n = cf->nrec[i], len = cf->len[i], off = cf->off[i];
    if (n > UINT64_MAX / PL_CORR_REC || len != n * PL_CORR_REC ||
        off > cf->ct_total || len > cf->ct_total - off) {
        pl_err("%s: shard %zu (rank %u): index entry is inconsistent "
               "(offset/length outside /shards/ciphertext or length != "
               "records * %d): the index was altered", cf->path, i,
               cf->rank[i], PL_CORR_REC);
        return -1;
    }
    uint8_t *ct = pl_xmalloc(len + 1), *pt = pl_xmalloc(len + 16);
    int rc = 0;
    if (len > 0) {
        hid_t d = H5Dopen2(cf->file, "/shards/ciphertext", H5P_DEFAULT);
        hid_t fsp = H5Dget_space(d);
        hsize_t start[1] = {off}, cnt[1] = {len};
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
        hid_t msp = H5Screate_simple(1, cnt, NULL);
        rc = H5Dread(d, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, ct) < 0;
        H5Sclose(msp);
        H5Sclose(fsp);
        H5Dclose(d);
        if (rc) {
            pl_err("%s: shard %zu: cannot read ciphertext: %s", cf->path, i,
                   pl_h5_reason());
            free(ct);
            free(pt);
            return -1;
        }
    }
    uint8_t aad[PL_CORR_AAD];
    pl_corr_aad(aad, cf->run_id, cf->rank[i], (uint32_t)cf->n_shards, n);
    rc = pl_gcm_decrypt(key, cf->nonce[i], aad, sizeof aad, ct, len, pt,
                        cf->tag[i]);
    free(ct);
    if (rc != 0) {
        pl_err("%s: shard %zu (rank %u): authentication failed (AES-GCM tag "
               "mismatch): the shard, its index entry or the run id was "
               "altered", cf->path, i, cf->rank[i]);
        free(pt);
        return -1;
    }
    *plain = pt;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Opening the data key */

typedef struct {
    EVP_PKEY *k[PL_KEYS_MAX];
    int cust[PL_KEYS_MAX];      /* custodian index of each key */
} presented;

static int find_custodian(const pl_custody_meta *cm, EVP_PKEY *k)
{
    uint8_t fpr[PL_FPR_BYTES];
    if (pl_custody_fingerprint(k, fpr) != 0)
        return -1;
    for (size_t i = 0; i < cm->n; i++)
        if (memcmp(cm->fpr[i], fpr, PL_FPR_BYTES) == 0)
            return (int)i;
    return -1;
}

static int load_presented(pl_corr_file *cf, const pl_keyset *ks, presented *p,
                          int *used)
{
    if (ks->n_pass > 1 && ks->n_pass != ks->n_key) {
        pl_err("%zu passphrase files for %zu keys: give one for every key "
               "(in the same order), or a single one for all", ks->n_pass,
               ks->n_key);
        return -1;
    }
    for (size_t i = 0; i < ks->n_key; i++) {
        const char *pf = ks->n_pass == 0 ? NULL
                         : ks->pass[ks->n_pass == 1 ? 0 : i];
        if (!(p->k[i] = pl_custody_load_private(ks->key[i], pf)))
            return -1;
        p->cust[i] = find_custodian(&cf->cm, p->k[i]);
        if (p->cust[i] < 0) {
            uint8_t f[PL_FPR_BYTES];
            char hex[72];
            pl_custody_fingerprint(p->k[i], f);
            pl_fpr_hex(f, hex);
            pl_err("%s: this key (%s) belongs to no custodian of %s", ks->key[i],
                   hex, cf->path);
            return -1;
        }
        if (used)
            used[p->cust[i]] = 2;       /* presented; 1 once it served */
        for (size_t j = 0; j < i; j++)
            if (p->cust[j] == p->cust[i]) {
                pl_err("%s and %s are the same custodian's key ('%s')",
                       ks->key[j], ks->key[i], cf->cm.name[p->cust[i]]);
                return -1;
            }
    }
    return 0;
}

/* Role coverage: which key serves each role (-1: none). Refuses, naming
 * what is missing, when fewer than threshold roles are covered. */
static int check_roles(pl_corr_file *cf, const pl_keyset *ks,
                       const presented *p, int *by_role)
{
    const pl_custody_meta *cm = &cf->cm;
    size_t covered = 0;
    for (size_t r = 0; r < cm->n_roles; r++)
        by_role[r] = -1;
    for (size_t i = 0; i < ks->n_key; i++) {
        size_t r = 0;
        while (r < cm->n_roles && strcmp(cm->roles[r], cm->role[p->cust[i]]))
            r++;
        if (r < cm->n_roles && by_role[r] < 0) {
            by_role[r] = (int)i;
            covered++;
        }
    }
    if (covered >= cm->threshold)
        return 0;
    char have[1024] = "", miss[1024] = "";
    for (size_t i = 0; i < ks->n_key; i++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s (%s)",
                 i ? ", " : "", cm->name[p->cust[i]], cm->role[p->cust[i]]);
    for (size_t r = 0; r < cm->n_roles; r++)
        if (by_role[r] < 0)
            snprintf(miss + strlen(miss), sizeof miss - strlen(miss), "%s%s",
                     miss[0] ? ", " : "", cm->roles[r]);
    pl_err("%s: opening the correspondence key needs custodians of %u "
           "distinct roles; the keys given cover %zu (%s)%s; missing: %zu "
           "more of the roles %s", cf->path, cm->threshold, covered,
           have[0] ? have : "no key",
           ks->n_key > covered ? " — keys of one role count once" : "",
           cm->threshold - covered, miss);
    return -1;
}

static int unwrap_share(pl_corr_file *cf, const pl_keyset *ks,
                        const presented *p, int ki, size_t r, uint8_t *y)
{
    const pl_custody_meta *cm = &cf->cm;
    int c = p->cust[ki];
    uint8_t plain[PL_SHARE_PLAIN + 64];
    size_t n = 0;
    int rc = pl_custody_unwrap(p->k[ki], cm->wrapped + cm->woff[c],
                               cm->wlen[c], plain, sizeof plain, &n);
    if (rc != 0 || n != PL_SHARE_PLAIN || plain[0] != r + 1) {
        pl_err("%s: /custody/wrapped: the share wrapped to custodian '%s' "
               "cannot be opened with %s (RSA-OAEP decryption failed or "
               "wrong content): the wrapped share was altered", cf->path,
               cm->name[c], ks->key[ki]);
        OPENSSL_cleanse(plain, sizeof plain);
        return -1;
    }
    memcpy(y, plain + 1, PL_CORR_KEY);
    OPENSSL_cleanse(plain, sizeof plain);
    return 0;
}

static int combine(pl_corr_file *cf, const pl_keyset *ks, const presented *p,
                   const int *by_role, uint8_t key[PL_CORR_KEY], int *used)
{
    const pl_custody_meta *cm = &cf->cm;
    uint8_t xs[255], *ys = pl_xmalloc(cm->n_roles * PL_CORR_KEY);
    unsigned k = 0;
    int rc = 0;
    for (size_t r = 0; r < cm->n_roles && rc == 0; r++) {
        if (by_role[r] < 0)
            continue;
        xs[k] = (uint8_t)(r + 1);
        rc = unwrap_share(cf, ks, p, by_role[r], r, ys + k * PL_CORR_KEY);
        if (rc == 0 && used)
            used[p->cust[by_role[r]]] = 1;
        k++;
    }
    if (rc == 0)
        rc = pl_shamir_combine(xs, ys, k, PL_CORR_KEY, key);
    OPENSSL_cleanse(ys, cm->n_roles * PL_CORR_KEY);
    free(ys);
    uint8_t chk[32];
    pl_corr_key_check(key, cf->run_id, chk);
    if (rc == 0 && CRYPTO_memcmp(chk, cm->key_check, 32) != 0) {
        pl_err("%s: the key shares do not reconstruct the data key (key "
               "check failed): /custody (roles, key_check or a wrapped "
               "share) or the run id was altered", cf->path);
        rc = -1;
    }
    if (rc != 0)
        OPENSSL_cleanse(key, PL_CORR_KEY);
    return rc;
}

int pl_corr_unlock(pl_corr_file *cf, const pl_keyset *ks,
                   uint8_t key[PL_CORR_KEY], int *used)
{
    if (ks->n_key == 0) {
        pl_err("%s: no custodian key given (--key PEM, one per custodian; "
               "%u distinct roles needed)", cf->path, cf->cm.threshold);
        return -1;
    }
    presented p;
    memset(&p, 0, sizeof p);
    int *by_role = pl_xcalloc(cf->cm.n_roles, sizeof *by_role);
    int rc = load_presented(cf, ks, &p, used);
    rc = rc ? rc : check_roles(cf, ks, &p, by_role);
    rc = rc ? rc : combine(cf, ks, &p, by_role, key, used);
    for (size_t i = 0; i < ks->n_key; i++)
        EVP_PKEY_free(p.k[i]);
    free(by_role);
    return rc;
}
