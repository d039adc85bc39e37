/* synth_pprl.c — see synth_pprl.h. */
#include "cmd/synth_pprl.h"

#include "base/log.h"
#include "base/mem.h"
#include "crypto/bloom.h"
#include "crypto/keyfile.h"
#include "crypto/package.h"
#include "par/h5.h"

#include <hdf5.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAMEW 32
static const char *const names[] = {"last_name", "first_name", "birth_name"};
#define NF 3

static int encode_source(hid_t f, const char *store, const char *src,
                         const uint8_t *secret, int clk)
{
    char path[128];
    int ok = 1;
    hid_t g = -1;
    snprintf(path, sizeof path, "/sources/%s", src);
    g = H5Gopen2(f, path, H5P_DEFAULT);
    if (g < 0)
        return -1;
    hid_t d = H5Dopen2(g, names[0], H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t n = 0;
    if (sp >= 0)
        H5Sget_simple_extent_dims(sp, &n, NULL);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    hid_t st = pl_str_type(NAMEW);
    char (*v[NF])[NAMEW];
    for (int i = 0; i < NF; i++) {
        v[i] = pl_xcalloc_huge(n * NAMEW + 1);
        d = H5Dopen2(g, names[i], H5P_DEFAULT);
        ok &= d >= 0 && H5Dread(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                v[i]) >= 0;
        if (d >= 0)
            H5Dclose(d);
    }
    H5Tclose(st);
    unsigned bits = clk ? 1024 : 512;
    size_t ncol = clk ? 1 : NF, bytes = bits / 8;
    pl_bloom_field bf[NF];
    for (int i = 0; i < NF; i++)
        ok &= pl_bloom_field_init(&bf[i], secret, PL_KEY_BYTES, names[i], 20,
                                  2, 1) == 0;
    uint8_t sid[16];
    ok &= pl_bloom_secret_id(secret, PL_KEY_BYTES, sid) == 0;
    uint8_t *out = pl_xcalloc_huge(n * bytes + 8);
    for (size_t c = 0; ok && c < ncol; c++) {
        memset(out, 0, n * bytes);
        for (hsize_t r = 0; ok && r < n; r++) {
            uint64_t fl[16];
            memset(fl, 0, sizeof fl);
            for (int i = 0; i < NF && ok; i++) {
                if (!clk && (size_t)i != c)
                    continue;
                ok = pl_bloom_add(&bf[i], fl, bits, v[i][r],
                                  strnlen(v[i][r], NAMEW), NULL, 0) == 0;
            }
            memcpy(out + r * bytes, fl, bytes);
        }
        pl_pkg_enc e;
        memset(&e, 0, sizeof e);
        snprintf(e.version, sizeof e.version, "%s", PL_PKG_ENC_VERSION);
        e.bits = bits;
        e.q = 2;
        e.pad = 1;
        snprintf(e.salt, sizeof e.salt, "none");
        for (int b = 0; b < 16; b++)
            snprintf(e.secret_id + 2 * b, 3, "%02x", sid[b]);
        for (int i = 0; i < NF; i++) {
            if (!clk && (size_t)i != c)
                continue;
            snprintf(e.fields[e.nfields].name, PL_PKG_NAME_MAX, "%s",
                     names[i]);
            e.fields[e.nfields++].k = 20;
        }
        char col[64];
        snprintf(col, sizeof col, clk ? "clk" : "bf_%s", names[c]);
        char *txt = pl_pkg_enc_text(col, &e);
        hsize_t dims[2] = {n, bytes};
        hid_t s2 = H5Screate_simple(2, dims, NULL);
        hid_t dd = H5Dcreate2(g, col, H5T_NATIVE_UINT8, s2, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
        ok = dd >= 0 && (n == 0 || H5Dwrite(dd, H5T_NATIVE_UINT8, H5S_ALL,
                                             H5S_ALL, H5P_DEFAULT, out) >= 0)
             && pl_attr_str(dd, "encoding", txt) == 0;
        if (dd >= 0)
            H5Dclose(dd);
        H5Sclose(s2);
        free(txt);
    }
    for (int i = 0; i < NF; i++) {
        pl_bloom_field_wipe(&bf[i]);
        pl_wipe(v[i], n * NAMEW);
        free(v[i]);
        if (ok)
            ok = H5Ldelete(g, names[i], H5P_DEFAULT) >= 0;
    }
    free(out);
    H5Gclose(g);
    if (!ok)
        pl_err("synth: %s: /sources/%s: cannot encode the names: %s", store,
               src, pl_h5_reason());
    return ok ? 0 : -1;
}

int pl_synth_pprl_encode(const char *store, const char *secret_persons,
                         const char *secret_registry, int clk)
{
    uint8_t kp[PL_KEY_BYTES], kr[PL_KEY_BYTES];
    if (pl_key_load(secret_persons, "linkage secret", kp, 0) != 0)
        return -1;
    if (pl_key_load(secret_registry, "linkage secret", kr, 0) != 0) {
        OPENSSL_cleanse(kp, sizeof kp);
        return -1;
    }
    hid_t f = H5Fopen(store, H5F_ACC_RDWR, H5P_DEFAULT);
    int rc = f >= 0 && encode_source(f, store, "persons", kp, clk) == 0 &&
             encode_source(f, store, "registry", kr, clk) == 0 ? 0 : -1;
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    if (f < 0)
        pl_err("synth: %s: cannot reopen the store: %s", store,
               pl_h5_reason());
    OPENSSL_cleanse(kp, sizeof kp);
    OPENSSL_cleanse(kr, sizeof kr);
    return rc;
}
