/* package.c — see package.h and docs/PACKAGE.md. */
#include "crypto/package.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/custody.h"
#include "crypto/gcm.h"
#include "par/h5.h"
#include "par/mpi.h"
#include "par/output.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WRAP_BYTES (32 + PL_GCM_NONCE + 32 + PL_GCM_TAG)
#define SIG_BYTES 64
#define WRAP_INFO "pseudolink package v1 key wrap"
#define MANIFEST_MAX (1u << 30)

/* ------------------------------------------------------------------------ */
/* Types */

int pl_pkg_type_of(hid_t t, char type[8], size_t *size)
{
    size_t sz = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
            return -1;
        snprintf(type, 8, "%c%zu", H5Tget_sign(t) == H5T_SGN_NONE ? 'u' : 'i',
                 sz * 8);
        break;
    case H5T_FLOAT:
        if (sz != 4 && sz != 8)
            return -1;
        snprintf(type, 8, "f%zu", sz * 8);
        break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) != 0 || sz < 1 || sz > 65535)
            return -1;
        snprintf(type, 8, "s%zu", sz);
        break;
    default:
        return -1;
    }
    *size = sz;
    return 0;
}

hid_t pl_pkg_h5type(const char *type)
{
    static const struct { const char *n; hid_t *t; } tab[] = {
        {"i8", &H5T_NATIVE_INT8_g}, {"i16", &H5T_NATIVE_INT16_g},
        {"i32", &H5T_NATIVE_INT32_g}, {"i64", &H5T_NATIVE_INT64_g},
        {"u8", &H5T_NATIVE_UINT8_g}, {"u16", &H5T_NATIVE_UINT16_g},
        {"u32", &H5T_NATIVE_UINT32_g}, {"u64", &H5T_NATIVE_UINT64_g},
        {"f32", &H5T_NATIVE_FLOAT_g}, {"f64", &H5T_NATIVE_DOUBLE_g},
    };
    H5open();
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(type, tab[i].n) == 0)
            return H5Tcopy(*tab[i].t);
    if (type[0] == 's') {
        char *end;
        unsigned long n = strtoul(type + 1, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 65535 && type[1] != '0')
            return pl_str_type(n);
    }
    return -1;
}

/* Size of a type string, 0 if unknown. */
static size_t type_size(const char *type)
{
    if (strcmp(type, "p1") == 0)
        return 32;
    if (type[0] == 'b') {               /* b<N>: a Bloom-filter encoding */
        char *end;
        unsigned long n = strtoul(type + 1, &end, 10);
        return *end == '\0' && type[1] >= '1' && type[1] <= '9' &&
               n % 8 == 0 && n <= 4096 ? n : 0;
    }
    hid_t t = pl_pkg_h5type(type);
    if (t < 0)
        return 0;
    size_t n = H5Tget_size(t);
    H5Tclose(t);
    return n;
}

unsigned pl_pkg_enc_out_bits(const pl_pkg_enc *e)
{
    unsigned b = e->bits;
    if (e->harden & 1)          /* PL_BLOOM_XOR_FOLD */
        b /= 2;
    if (e->harden & 2)          /* PL_BLOOM_BALANCE */
        b *= 2;
    return b;
}

const char *pl_pkg_enc_harden_name(unsigned flags)
{
    static const char *const n[] = {"none", "xor_fold", "balance",
                                    "xor_fold+balance"};
    return n[flags & 3];
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= PL_PKG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Block crypto: nonce = u32be(source) || u32be(column) || u32be(block);
 * AAD = id (16) || source || 0x00 || column || 0x00 || u64be(block). */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static void block_nonce(uint8_t n[PL_GCM_NONCE], uint32_t s, uint32_t c,
                        uint32_t b)
{
    put32(n, s);
    put32(n + 4, c);
    put32(n + 8, b);
}

static size_t block_aad(uint8_t *aad, const uint8_t id[PL_PKG_ID_BYTES],
                        const char *src, const char *col, uint64_t b)
{
    size_t o = 0;
    memcpy(aad, id, PL_PKG_ID_BYTES);
    o += PL_PKG_ID_BYTES;
    size_t ls = strlen(src), lc = strlen(col);
    memcpy(aad + o, src, ls + 1);
    o += ls + 1;
    memcpy(aad + o, col, lc + 1);
    o += lc + 1;
    for (int i = 7; i >= 0; i--)
        aad[o++] = (uint8_t)(b >> (8 * i));
    return o;
}

static void block_digest(const uint8_t *ct, size_t n,
                         const uint8_t tag[PL_GCM_TAG], uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, ct, n);
    EVP_DigestUpdate(c, tag, PL_GCM_TAG);
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

/* ------------------------------------------------------------------------ */
/* Key wrap: X25519(ephemeral, transport) -> HKDF-SHA256 (salt = eph_pub ||
 * transport_pub, info = WRAP_INFO || id) -> 32-byte KEK -> AES-256-GCM of
 * the data key, AAD = id. wrap = eph_pub || nonce || ct || tag. */

static int kek_derive(EVP_PKEY *mine, EVP_PKEY *peer, const uint8_t eph[32],
                      const uint8_t tpub[32], const uint8_t id[16],
                      uint8_t kek[32])
{
    uint8_t shared[32], salt[64], info[sizeof WRAP_INFO - 1 + 16];
    size_t slen = sizeof shared;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
    int ok = c && EVP_PKEY_derive_init(c) > 0 &&
             EVP_PKEY_derive_set_peer(c, peer) > 0 &&
             EVP_PKEY_derive(c, shared, &slen) > 0 && slen == 32;
    EVP_PKEY_CTX_free(c);
    memcpy(salt, eph, 32);
    memcpy(salt + 32, tpub, 32);
    memcpy(info, WRAP_INFO, sizeof WRAP_INFO - 1);
    memcpy(info + sizeof WRAP_INFO - 1, id, 16);
    EVP_KDF *kdf = ok ? EVP_KDF_fetch(NULL, "HKDF", NULL) : NULL;
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kc) {
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                             (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, 32),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 64),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
                                              sizeof info),
            OSSL_PARAM_construct_end()};
        ok = EVP_KDF_derive(kc, kek, 32, p) > 0;
    } else
        ok = 0;
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(shared, sizeof shared);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static int raw_pub(EVP_PKEY *k, uint8_t out[32])
{
    size_t n = 32;
    return EVP_PKEY_get_raw_public_key(k, out, &n) > 0 && n == 32 ? 0 : -1;
}

static int wrap_key(EVP_PKEY *tpub, const uint8_t id[16],
                    const uint8_t key[32], uint8_t wrap[WRAP_BYTES])
{
    uint8_t tp[32], kek[32];
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    int ok = eph && raw_pub(eph, wrap) == 0 && raw_pub(tpub, tp) == 0 &&
             RAND_bytes(wrap + 32, PL_GCM_NONCE) == 1 &&
             kek_derive(eph, tpub, wrap, tp, id, kek) == 0 &&
             pl_gcm_encrypt(kek, wrap + 32, id, 16, key, 32,
                            wrap + 32 + PL_GCM_NONCE,
                            wrap + 32 + PL_GCM_NONCE + 32) == 0;
    OPENSSL_cleanse(kek, sizeof kek);
    EVP_PKEY_free(eph);     /* frees (and clears) the ephemeral secret */
    return ok ? 0 : -1;
}

static int unwrap_key(EVP_PKEY *tpriv, const uint8_t id[16],
                      const uint8_t wrap[WRAP_BYTES], uint8_t key[32])
{
    uint8_t tp[32], kek[32];
    EVP_PKEY *eph = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, wrap,
                                                32);
    int ok = eph && raw_pub(tpriv, tp) == 0 &&
             kek_derive(tpriv, eph, wrap, tp, id, kek) == 0 &&
             pl_gcm_decrypt(kek, wrap + 32, id, 16, wrap + 32 + PL_GCM_NONCE,
                            32, key, wrap + 32 + PL_GCM_NONCE + 32) == 0;
    OPENSSL_cleanse(kek, sizeof kek);
    EVP_PKEY_free(eph);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static void fpr_of(EVP_PKEY *k, char out[72])
{
    uint8_t f[PL_FPR_BYTES];
    if (pl_custody_fingerprint(k, f) != 0)
        memset(f, 0, sizeof f);
    pl_fpr_hex(f, out);
}

/* ------------------------------------------------------------------------ */
/* A growing text buffer (the manifest). */

typedef struct { char *s; size_t n, cap; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(k > 0 ? k : 0) + 256;
        b->s = pl_xrealloc(b->s, b->cap);
    }
}

/* ------------------------------------------------------------------------ */
/* Writer */

typedef struct {
    char      name[PL_PKG_NAME_MAX];
    pl_pkg_col *cols;
    size_t    ncols;
    uint64_t  local_rows, row_off, rows;
    uint64_t  local_blocks, block_off, nblocks;
    hid_t    *data;
    uint8_t  *tags, *dig;       /* [ncols][local_blocks][16 | 32] */
    uint64_t *lbrows;           /* [local_blocks] */
    pl_pkg_enc *enc;            /* [nenc] */
    size_t    nenc;
} wsrc;

struct pl_pkg_writer {
    MPI_Comm comm;
    int      rank, size;
    pl_outfile f;
    hid_t    g_src, g_tags;
    char     kind[16], producer[PL_PKG_NAME_MAX], created[32];
    char     signer[72], transport[72];
    uint8_t  id[PL_PKG_ID_BYTES], key[32], wrap[WRAP_BYTES];
    uint64_t block_rows;
    EVP_PKEY *signing;
    wsrc    *src;
    size_t   nsrc;
    uint8_t *ct;                /* block ciphertext scratch */
    size_t   ct_cap;
};

pl_pkg_writer *pl_pkg_create(const char *path, const char *kind,
                             const char *producer, uint64_t block_rows,
                             EVP_PKEY *transport, EVP_PKEY *signing,
                             MPI_Comm comm)
{
    pl_pkg_writer *w = pl_xcalloc(1, sizeof *w);
    w->comm = comm;
    MPI_Comm_rank(comm, &w->rank);
    MPI_Comm_size(comm, &w->size);
    w->f.file = -1;
    w->g_src = w->g_tags = -1;
    w->block_rows = block_rows ? block_rows : PL_PKG_BLOCK_ROWS;
    w->signing = signing;
    snprintf(w->kind, sizeof w->kind, "%s", kind);
    snprintf(w->producer, sizeof w->producer, "%s", producer);
    int ok = 1;
    if (w->rank == 0) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->created, sizeof w->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fpr_of(signing, w->signer);
        fpr_of(transport, w->transport);
        ok = RAND_bytes(w->id, sizeof w->id) == 1 &&
             RAND_bytes(w->key, sizeof w->key) == 1 &&
             wrap_key(transport, w->id, w->key, w->wrap) == 0;
        if (!ok)
            pl_err("%s: cannot make the package's data key or wrap it to "
                   "the transport key (OpenSSL failed)", path);
    }
    if (!pl_root_ok(comm, ok)) {
        pl_pkg_abort(w);
        return NULL;
    }
    /* Every rank encrypts its own blocks: the data key reaches them all
     * (memory only; wiped by finish/abort). */
    PL_MPI_CHECK(MPI_Bcast(w->id, sizeof w->id, MPI_BYTE, 0, comm));
    PL_MPI_CHECK(MPI_Bcast(w->key, sizeof w->key, MPI_BYTE, 0, comm));
    char *dir = pl_xstrdup(path), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    ok = pl_out_create(&w->f, slash ? dir : ".", base, comm) == 0;
    free(dir);
    if (ok) {
        w->g_src = pl_out_group(&w->f, "/sources");
        w->g_tags = pl_out_group(&w->f, "/tags");
        ok = w->g_src >= 0 && w->g_tags >= 0 &&
             pl_attr_str(w->f.file, "format", PL_PKG_FORMAT) == 0;
    }
    if (!pl_all_ok(comm, ok)) {
        pl_pkg_abort(w);
        return NULL;
    }
    return w;
}

int pl_pkg_add_source(pl_pkg_writer *w, const char *name, uint64_t local_rows,
                      const pl_pkg_col *cols, size_t ncols)
{
    w->src = pl_xrealloc(w->src, (w->nsrc + 1) * sizeof *w->src);
    wsrc *s = &w->src[w->nsrc];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ncols = ncols;
    s->cols = pl_xcalloc(ncols, sizeof *s->cols);
    memcpy(s->cols, cols, ncols * sizeof *cols);
    s->local_rows = local_rows;
    pl_exscan(w->comm, local_rows, &s->row_off, &s->rows);
    s->local_blocks = (local_rows + w->block_rows - 1) / w->block_rows;
    pl_exscan(w->comm, s->local_blocks, &s->block_off, &s->nblocks);
    s->tags = pl_xcalloc(ncols * (s->local_blocks + 1), PL_GCM_TAG);
    s->dig = pl_xcalloc(ncols * (s->local_blocks + 1), 32);
    s->lbrows = pl_xcalloc(s->local_blocks + 1, sizeof *s->lbrows);
    for (uint64_t b = 0; b < s->local_blocks; b++)
        s->lbrows[b] = local_rows - b * w->block_rows < w->block_rows
                           ? local_rows - b * w->block_rows : w->block_rows;
    s->data = pl_xcalloc(ncols, sizeof *s->data);
    for (size_t c = 0; c < ncols; c++)
        s->data[c] = -1;
    w->nsrc++;
    hid_t g = H5Gcreate2(w->g_src, name, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    int ok = g >= 0;
    for (size_t c = 0; c < ncols && ok; c++)
        ok = (s->data[c] = pl_out_dataset(&w->f, g, cols[c].name,
                                          H5T_NATIVE_UINT8,
                                          s->rows * cols[c].size)) >= 0;
    if (g >= 0)
        H5Gclose(g);
    if (!ok)
        pl_err0("%s: cannot create /sources/%s: %s", w->f.tmp, name,
                pl_h5_reason());
    return pl_all_ok(w->comm, ok) ? (int)(w->nsrc - 1) : -1;
}

int pl_pkg_add_encoding(pl_pkg_writer *w, int si, const pl_pkg_enc *e)
{
    wsrc *s = &w->src[si];
    if (e->col >= s->ncols || s->cols[e->col].type[0] != 'b' ||
        s->cols[e->col].size * 8 != pl_pkg_enc_out_bits(e) ||
        e->nfields == 0 || e->nfields > PL_PKG_ENC_FIELDS) {
        pl_err0("%s: /sources/%s: encoding of column %zu: not a b<N> column "
                "of the width its parameters give", w->f.tmp, s->name,
                e->col);
        return -1;
    }
    s->enc = pl_xrealloc(s->enc, (s->nenc + 1) * sizeof *s->enc);
    s->enc[s->nenc++] = *e;
    return 0;
}

/* The manifest lines of an encoding (section 3). */
static void sb_encoding(sbuf *m, const pl_pkg_col *cols, const pl_pkg_enc *e)
{
    char *t = pl_pkg_enc_text(cols[e->col].name, e);
    sb_add(m, "%s", t);
    free(t);
}

int pl_pkg_write(pl_pkg_writer *w, int si, size_t ci, uint64_t lo,
                 uint64_t cnt, const void *buf)
{
    wsrc *s = &w->src[si];
    const pl_pkg_col *col = &s->cols[ci];
    size_t bytes = cnt * col->size;
    if (bytes > w->ct_cap) {
        w->ct = pl_xrealloc(w->ct, bytes);
        w->ct_cap = bytes;
    }
    int ok = lo % w->block_rows == 0;
    uint8_t aad[PL_PKG_ID_BYTES + 2 * PL_PKG_NAME_MAX + 8], nonce[12];
    for (uint64_t r = 0; r < cnt && ok; r += w->block_rows) {
        uint64_t lb = (lo + r) / w->block_rows;
        uint64_t gb = s->block_off + lb;
        uint64_t n = s->lbrows[lb];
        if (r + n > cnt) {      /* batches cover whole blocks */
            ok = 0;
            break;
        }
        block_nonce(nonce, (uint32_t)si, (uint32_t)ci, (uint32_t)gb);
        size_t al = block_aad(aad, w->id, s->name, col->name, gb);
        uint8_t *tag = s->tags + (ci * s->local_blocks + lb) * PL_GCM_TAG;
        ok = pl_gcm_encrypt(w->key, nonce, aad, al,
                            (const uint8_t *)buf + r * col->size,
                            n * col->size, w->ct + r * col->size, tag) == 0;
        block_digest(w->ct + r * col->size, n * col->size, tag,
                     s->dig + (ci * s->local_blocks + lb) * 32);
    }
    if (!ok)
        pl_err("%s: /sources/%s/%s: cannot encrypt rows %llu..%llu",
               w->f.tmp, s->name, col->name, (unsigned long long)lo,
               (unsigned long long)(lo + cnt));
    char what[2 * PL_PKG_NAME_MAX + 16];
    snprintf(what, sizeof what, "/sources/%s/%s", s->name, col->name);
    ok &= pl_h5_write_rows(w->f.tmp, s->data[ci], what, H5T_NATIVE_UINT8,
                           (s->row_off + lo) * col->size, ok ? bytes : 0, 0,
                           w->ct, H5P_DEFAULT) == 0;
    return ok ? 0 : -1;
}

/* Rank 0 gathers n_i * unit bytes from every rank (in rank order). */
static uint8_t *gather(MPI_Comm comm, const void *mine, uint64_t n,
                       size_t unit, int rank, int size)
{
    int cnt = (int)(n * unit);
    int *counts = pl_xcalloc((size_t)size, sizeof *counts);
    int *displ = pl_xcalloc((size_t)size, sizeof *displ);
    PL_MPI_CHECK(MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, comm));
    size_t total = 0;
    for (int r = 0; r < size && rank == 0; r++) {
        displ[r] = (int)total;
        total += (size_t)counts[r];
    }
    uint8_t *all = rank == 0 ? pl_xmalloc(total + 1) : NULL;
    PL_MPI_CHECK(MPI_Gatherv(mine, cnt, MPI_BYTE, all, counts, displ,
                             MPI_BYTE, 0, comm));
    free(counts);
    free(displ);
    return all;
}

static void writer_free(pl_pkg_writer *w)
{
    for (size_t i = 0; i < w->nsrc; i++) {
        wsrc *s = &w->src[i];
        for (size_t c = 0; c < s->ncols; c++)
            if (s->data[c] >= 0)
                H5Dclose(s->data[c]);
        free(s->data); free(s->cols); free(s->tags); free(s->dig);
        free(s->lbrows); free(s->enc);
    }
    free(w->src);
    if (w->ct)
        pl_wipe(w->ct, w->ct_cap);
    free(w->ct);
    OPENSSL_cleanse(w->key, sizeof w->key);
    free(w);
}

void pl_pkg_abort(pl_pkg_writer *w)
{
    if (!w)
        return;
    if (w->g_src >= 0) H5Gclose(w->g_src);
    if (w->g_tags >= 0) H5Gclose(w->g_tags);
    w->g_src = w->g_tags = -1;
    for (size_t i = 0; i < w->nsrc; i++)
        for (size_t c = 0; c < w->src[i].ncols; c++)
            if (w->src[i].data[c] >= 0) {
                H5Dclose(w->src[i].data[c]);
                w->src[i].data[c] = -1;
            }
    if (w->f.file >= 0)
        pl_out_close(&w->f);
    pl_out_free(&w->f);
    writer_free(w);
}

int pl_pkg_finish(pl_pkg_writer *w, char hex_id[2 * PL_PKG_ID_BYTES + 1])
{
    sbuf m = {0};
    int ok = 1;
    char hex[2 * WRAP_BYTES + 1];
    if (w->rank == 0) {
        sb_add(&m, "%s\n", PL_PKG_FORMAT);
        pl_hex(w->id, sizeof w->id, hex);
        sb_add(&m, "id %s\nkind %s\nproducer %s\ncreated %s\nsigner %s\n"
               "transport %s\n", hex, w->kind, w->producer, w->created,
               w->signer, w->transport);
        pl_hex(w->wrap, sizeof w->wrap, hex);
        sb_add(&m, "wrap %s\nblock_rows %llu\nsources %zu\n", hex,
               (unsigned long long)w->block_rows, w->nsrc);
    }
    for (size_t i = 0; i < w->nsrc; i++) {
        wsrc *s = &w->src[i];
        uint8_t *brows = gather(w->comm, s->lbrows, s->local_blocks,
                                sizeof *s->lbrows, w->rank, w->size);
        uint8_t **tags = pl_xcalloc(s->ncols, sizeof *tags);
        uint8_t **dig = pl_xcalloc(s->ncols, sizeof *dig);
        for (size_t c = 0; c < s->ncols; c++) {
            tags[c] = gather(w->comm, s->tags + c * s->local_blocks * 16,
                             s->local_blocks, 16, w->rank, w->size);
            dig[c] = gather(w->comm, s->dig + c * s->local_blocks * 32,
                            s->local_blocks, 32, w->rank, w->size);
        }
        hid_t g = H5Gcreate2(w->g_tags, s->name, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        ok &= g >= 0;
        for (size_t c = 0; c < s->ncols && g >= 0; c++)
            ok &= pl_h5_put(g, w->f.tmp, s->cols[c].name, H5T_NATIVE_UINT8,
                            s->nblocks, 16, tags[c], w->rank == 0,
                            H5P_DEFAULT) == 0;
        if (g >= 0)
            H5Gclose(g);
        if (w->rank == 0) {
            sb_add(&m, "source %s rows %llu blocks %llu columns %zu\n",
                   s->name, (unsigned long long)s->rows,
                   (unsigned long long)s->nblocks, s->ncols);
            for (size_t c = 0; c < s->ncols; c++)
                sb_add(&m, "column %s %s\n", s->cols[c].name,
                       s->cols[c].type);
            for (size_t c = 0; c < s->ncols; c++) {
                size_t ne = 0;
                for (size_t e = 0; e < s->nenc; e++)
                    if (s->enc[e].col == c && ne++ == 0)
                        sb_encoding(&m, s->cols, &s->enc[e]);
                if ((s->cols[c].type[0] == 'b') != (ne == 1)) {
                    pl_err("%s: /sources/%s/%s: an encoded column needs "
                           "exactly one encoding, another column none",
                           w->f.tmp, s->name, s->cols[c].name);
                    ok = 0;
                }
            }
            uint64_t first = 0;
            const uint64_t *br = (const uint64_t *)brows;
            for (uint64_t b = 0; b < s->nblocks; b++) {
                sb_add(&m, "block %llu %llu %llu\n", (unsigned long long)b,
                       (unsigned long long)first, (unsigned long long)br[b]);
                first += br[b];
                for (size_t c = 0; c < s->ncols; c++) {
                    pl_hex(dig[c] + b * 32, 32, hex);
                    sb_add(&m, "digest %zu %llu %s\n", c,
                           (unsigned long long)b, hex);
                }
            }
        }
        for (size_t c = 0; c < s->ncols; c++) {
            free(tags[c]);
            free(dig[c]);
        }
        free(tags);
        free(dig);
        free(brows);
    }
    uint8_t sig[SIG_BYTES] = {0};
    uint64_t mlen = 0;
    if (w->rank == 0) {
        sb_add(&m, "end\n");
        mlen = m.n;
        size_t sl = sizeof sig;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        int sok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, w->signing) > 0
                  && EVP_DigestSign(c, sig, &sl, (const uint8_t *)m.s, m.n) > 0
                  && sl == SIG_BYTES;
        EVP_MD_CTX_free(c);
        ERR_clear_error();
        if (!sok) {
            pl_err("%s: cannot sign the manifest with the signing key "
                   "(expected an Ed25519 private key)", w->f.tmp);
            ok = 0;
        }
    }
    PL_MPI_CHECK(MPI_Bcast(&mlen, 1, MPI_UINT64_T, 0, w->comm));
    ok &= pl_h5_put(w->f.file, w->f.tmp, "manifest", H5T_NATIVE_UINT8, mlen,
                    0, m.s, w->rank == 0, H5P_DEFAULT) == 0;
    ok &= pl_h5_put(w->f.file, w->f.tmp, "signature", H5T_NATIVE_UINT8,
                    SIG_BYTES, 0, sig, w->rank == 0, H5P_DEFAULT) == 0;
    free(m.s);
    pl_hex(w->id, sizeof w->id, hex_id);
    H5Gclose(w->g_src);
    H5Gclose(w->g_tags);
    w->g_src = w->g_tags = -1;
    for (size_t i = 0; i < w->nsrc; i++)
        for (size_t c = 0; c < w->src[i].ncols; c++) {
            H5Dclose(w->src[i].data[c]);
            w->src[i].data[c] = -1;
        }
    ok = pl_all_ok(w->comm, ok);
    ok &= pl_out_close(&w->f) == 0;
    pl_out_free(&w->f);
    writer_free(w);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Manifest parser (strict: the exact lines the writer makes). */

typedef struct {
    char id[40], transport[72];
    uint8_t wrap[WRAP_BYTES];
} mf_extra;

static int next_line(const char **p, const char *end, char *line, size_t n)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl || (size_t)(nl - *p) >= n)
        return -1;
    memcpy(line, *p, (size_t)(nl - *p));
    line[nl - *p] = '\0';
    *p = nl + 1;
    return 0;
}

static int hexfield(const char *h, size_t n, uint8_t *out)
{
    return strlen(h) == 2 * n && pl_unhex(h, n, out, NULL) == 0 ? 0 : -1;
}

static void src_free(pl_pkg_src *s)
{
    free(s->enc);
    free(s->cols); free(s->bfirst); free(s->brows); free(s->digest);
    free(s->data); free(s->tags);
}

/* ------------------------------------------------------------------------ */
/* Encoding lines (section 3.1) */

char *pl_pkg_enc_text(const char *column, const pl_pkg_enc *e)
{
    sbuf m = {0};
    sb_add(&m, "encoding %s version %s bits %u q %u pad %u harden %s salt %s "
           "secret_id %s fields %zu\n", column, e->version, e->bits, e->q,
           e->pad, pl_pkg_enc_harden_name(e->harden), e->salt, e->secret_id,
           e->nfields);
    for (size_t f = 0; f < e->nfields; f++)
        sb_add(&m, "field %s %u\n", e->fields[f].name, e->fields[f].k);
    return m.s;
}

const char *pl_pkg_enc_parse(const char **p, const char *end,
                             const char *column, size_t width, pl_pkg_enc *e)
{
    char line[512], a[256], h[32], salt[32], sid[64];
    size_t nf;
    unsigned pad;
    memset(e, 0, sizeof *e);
    if (next_line(p, end, line, sizeof line) != 0)
        return "a line is missing or too long";
    if (sscanf(line, "encoding %255s version %31s bits %u q %u pad %u "
               "harden %31s salt %31s secret_id %63s fields %zu", a,
               e->version, &e->bits, &e->q, &pad, h, salt, sid, &nf) != 9 ||
        strcmp(a, column) != 0)
        return "bad 'encoding' line (one per b<N> column, in column order)";
    unsigned fl = 4;
    for (unsigned k = 0; k < 4; k++)
        if (strcmp(h, pl_pkg_enc_harden_name(k)) == 0)
            fl = k;
    uint8_t sidb[16];
    if (fl == 4 || pad > 1 || e->q < 1 || e->q > 8 ||
        (strcmp(salt, "none") && strcmp(salt, "birth_year")) ||
        hexfield(sid, 16, sidb) != 0 || nf < 1 || nf > PL_PKG_ENC_FIELDS ||
        e->bits == 0 || e->bits % 64 || e->bits > 16384 ||
        strcmp(e->version, PL_PKG_ENC_VERSION))
        return "bad 'encoding' line";
    e->pad = pad;
    e->harden = fl;
    snprintf(e->salt, sizeof e->salt, "%.15s", salt);
    snprintf(e->secret_id, sizeof e->secret_id, "%.32s", sid);
    if (pl_pkg_enc_out_bits(e) != width * 8)
        return "an encoded column's width is not the one its encoding gives";
    e->nfields = nf;
    for (size_t f = 0; f < nf; f++) {
        if (next_line(p, end, line, sizeof line) != 0)
            return "a line is missing or too long";
        if (sscanf(line, "field %255s %u", a, &e->fields[f].k) != 2 ||
            !valid_name(a) || e->fields[f].k < 1 || e->fields[f].k > 64)
            return "bad 'field' line";
        snprintf(e->fields[f].name, sizeof e->fields[f].name, "%.63s", a);
    }
    return NULL;
}

/* Shortest lines: "column a u8\n", "block 0 0 1\n", "digest 0 0 <64>\n". */
#define COL_LINE 12
#define BLOCK_LINE 12
#define DIGEST_LINE (12 + 64)

/* YYYY-MM-DDTHH:MM:SSZ (digits where the pattern has letters). */
static int valid_time(const char *t)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(t) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; pat[i]; i++)
        if (pat[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != pat[i])
            return 0;
    return 1;
}

/* Returns NULL, or a short reason (no data from the manifest). */
static const char *parse_manifest(pl_pkg *p, mf_extra *x, const char *buf,
                                  size_t len, const char **at)
{
    const char *end = buf + len;
    *at = buf;
    char line[512], a[256], b[256];
    unsigned long long u1, u2, u3;
    size_t nsrc;
#define LINE() do { if (next_line(at, end, line, sizeof line) != 0) \
                        return "a line is missing or too long"; } while (0)
    LINE();
    if (strcmp(line, PL_PKG_FORMAT) != 0)
        return "first line is not '" PL_PKG_FORMAT "'";
    LINE();
    if (sscanf(line, "id %39s", x->id) != 1 ||
        hexfield(x->id, PL_PKG_ID_BYTES, p->id) != 0)
        return "bad 'id' line";
    memcpy(p->id_hex, x->id, sizeof p->id_hex - 1);
    p->id_hex[sizeof p->id_hex - 1] = '\0';
    LINE();
    if (sscanf(line, "kind %15s", p->kind) != 1 ||
        (strcmp(p->kind, "data") && strcmp(p->kind, "opposition")))
        return "bad 'kind' line";
    LINE();
    if (sscanf(line, "producer %63s", p->producer) != 1 ||
        !valid_name(p->producer))
        return "bad 'producer' line";
    LINE();
    if (sscanf(line, "created %31s", p->created) != 1 ||
        !valid_time(p->created))
        return "bad 'created' line (expected YYYY-MM-DDTHH:MM:SSZ)";
    LINE();
    if (sscanf(line, "signer %71s", p->signer) != 1 ||
        strncmp(p->signer, "sha256:", 7) != 0 || strlen(p->signer) != 71)
        return "bad 'signer' line";
    LINE();
    if (sscanf(line, "transport %71s", x->transport) != 1 ||
        strlen(x->transport) != 71)
        return "bad 'transport' line";
    LINE();
    if (sscanf(line, "wrap %255s", a) != 1 ||
        hexfield(a, WRAP_BYTES, x->wrap) != 0)
        return "bad 'wrap' line";
    LINE();
    if (sscanf(line, "block_rows %llu", &u1) != 1 || u1 == 0 ||
        u1 > (1ull << 32))
        return "bad 'block_rows' line";
    p->block_rows = u1;
    LINE();
    if (sscanf(line, "sources %zu", &nsrc) != 1 || nsrc > 1024)
        return "bad 'sources' line";
    p->src = pl_xcalloc(nsrc ? nsrc : 1, sizeof *p->src);
    for (size_t i = 0; i < nsrc; i++) {
        pl_pkg_src *s = &p->src[i];
        size_t nc;
        LINE();
        p->nsrc = i + 1;
        if (sscanf(line, "source %255s rows %llu blocks %llu columns %zu", a,
                   &u1, &u2, &nc) != 4 || !valid_name(a) || nc < 1 ||
            nc > 4096 || u2 > u1 + 1 || u2 > (1ull << 32))
            return "bad 'source' line";
        /* Nothing is allocated beyond what the (not yet verified)
         * manifest's own bytes can describe: each column takes a line of
         * at least COL_LINE bytes, each block a line of BLOCK_LINE bytes
         * and one digest line of DIGEST_LINE bytes per column. */
        size_t left = (size_t)(end - *at);
        if (nc > left / COL_LINE ||
            u2 > (left - nc * COL_LINE) / (BLOCK_LINE + nc * DIGEST_LINE))
            return "bad 'source' line (more columns or blocks than the "
                   "manifest's lines)";
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->src[j].name, a) == 0)
                return "a source named twice";
        snprintf(s->name, sizeof s->name, "%.63s", a);
        s->rows = u1;
        s->nblocks = u2;
        s->ncols = nc;
        s->cols = pl_xcalloc(nc, sizeof *s->cols);
        s->bfirst = pl_xcalloc(u2 + 1, sizeof *s->bfirst);
        s->brows = pl_xcalloc(u2 + 1, sizeof *s->brows);
        s->digest = pl_xcalloc(nc * (u2 + 1), 32);
        s->data = pl_xcalloc(nc, sizeof *s->data);
        s->tags = pl_xcalloc(nc, sizeof *s->tags);
        for (size_t c = 0; c < nc; c++)
            s->data[c] = s->tags[c] = -1;
        for (size_t c = 0; c < nc; c++) {
            LINE();
            if (sscanf(line, "column %255s %255s", a, b) != 2 ||
                !valid_name(a) || strlen(b) >= 8 ||
                (s->cols[c].size = type_size(b)) == 0)
                return "bad 'column' line";
            /* p1 first, except in a data package's source without
             * identity (no p1 column at all: a registry's encodings). */
            if ((strcmp(b, "p1") == 0) != (strcmp(a, "p1") == 0) ||
                (c > 0 && strcmp(b, "p1") == 0) ||
                (c == 0 && strcmp(b, "p1") != 0 &&
                 strcmp(p->kind, "data") != 0))
                return "the first column must be p1 (type p1), and only it "
                       "(a data package's source without identity has no "
                       "p1 column)";
            for (size_t j = 0; j < c; j++)
                if (strcmp(s->cols[j].name, a) == 0)
                    return "a column named twice";
            snprintf(s->cols[c].name, sizeof s->cols[c].name, "%.63s", a);
            snprintf(s->cols[c].type, sizeof s->cols[c].type, "%s", b);
        }
        /* One encoding per b<N> column, in column order. */
        for (size_t c = 0; c < nc; c++) {
            if (s->cols[c].type[0] != 'b')
                continue;
            s->enc = pl_xrealloc(s->enc, (s->nenc + 1) * sizeof *s->enc);
            pl_pkg_enc *e = &s->enc[s->nenc++];
            const char *why = pl_pkg_enc_parse(at, end, s->cols[c].name,
                                               s->cols[c].size, e);
            if (why)
                return why;
            e->col = c;
        }
        uint64_t first = 0;
        for (uint64_t k = 0; k < s->nblocks; k++) {
            LINE();
            if (sscanf(line, "block %llu %llu %llu", &u1, &u2, &u3) != 3 ||
                u1 != k || u2 != first || u3 == 0 || u3 > p->block_rows ||
                u3 > s->rows - first)
                return "bad 'block' line (blocks must tile the rows)";
            s->bfirst[k] = first;
            s->brows[k] = u3;
            first += u3;
            for (size_t c = 0; c < s->ncols; c++) {
                size_t cc;
                LINE();
                if (sscanf(line, "digest %zu %llu %255s", &cc, &u1, a) != 3 ||
                    cc != c || u1 != k ||
                    hexfield(a, 32, s->digest + (c * s->nblocks + k) * 32))
                    return "bad 'digest' line";
            }
        }
        if (first != s->rows)
            return "the blocks do not cover the source's rows";
    }
    LINE();
    if (strcmp(line, "end") != 0 || *at != end)
        return "no 'end' line, or bytes after it";
    return NULL;
#undef LINE
}

/* ------------------------------------------------------------------------ */
/* Reader */

/* Every link on `path` (absolute, in f) must be a hard link, checked from
 * the root down before anything is traversed: an external link (another
 * file, a FIFO, a device) or a soft link is never followed. 1 when the path
 * does not exist, -1 when a link on it is not hard. Not collective. */
static int hard_path(hid_t f, const char *path)
{
    char buf[3 * PL_PKG_NAME_MAX + 16];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *q = buf + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        H5L_info_t li;
        htri_t has;
        herr_t e = 0;
        H5E_BEGIN_TRY {
            has = H5Lexists(f, buf, H5P_DEFAULT);
            if (has > 0)
                e = H5Lget_info(f, buf, &li, H5P_DEFAULT);
        } H5E_END_TRY;
        if (has <= 0)
            return 1;
        if (e < 0 || li.type != H5L_TYPE_HARD)
            return -1;
        if (c == '\0')
            return 0;
        *q = c;
    }
}

/* Open dataset `path` of a package: hard links only, contiguous storage in
 * this file (no external storage, no virtual dataset, no filter), as
 * section 2 of docs/PACKAGE.md says. *why gets a reason on failure. */
static hid_t open_dset(hid_t f, const char *path, const char **why)
{
    int h = hard_path(f, path);
    if (h != 0) {
        *why = h > 0 ? "missing (the manifest lists it)"
                     : "is not a hard link (an external or soft link "
                       "is never followed)";
        return -1;
    }
    hid_t d;
    H5E_BEGIN_TRY { d = H5Dopen2(f, path, H5P_DEFAULT); } H5E_END_TRY;
    if (d < 0) {
        *why = "cannot be opened (truncated or damaged)";
        return -1;
    }
    hid_t dcpl = H5Dget_create_plist(d);
    int ok = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
             H5Pget_external_count(dcpl) == 0;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (!ok) {
        H5Dclose(d);
        *why = "is not a contiguous dataset stored in the package file "
               "(external storage, virtual or chunked layout refused)";
        return -1;
    }
    return d;
}

static int read_small(hid_t f, const char *name, uint8_t **out, size_t *n,
                      size_t max, const char **why)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return 1;
    hid_t d = open_dset(f, name, why);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    int rc = -1;
    /* Its bytes must be in the file: a dataset declared big but never
     * written (fill values) is refused before anything is allocated. */
    if (np < 0 || (size_t)np > max)
        *why = "is too big";
    else if (H5Dget_storage_size(d) != (hsize_t)np)
        *why = "is not stored in full (truncated or damaged)";
    else {
        *n = (size_t)np;
        *out = pl_xmalloc(*n + 1);
        rc = H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     *out) < 0 ? -1 : 0;
        if (rc)
            *why = "cannot be read (truncated or damaged)";
    }
    H5Dclose(d);
    return rc;
}

/* Rank 0: read, verify, unwrap. Returns 0 or -1 after a message. */
static int verify_root(pl_pkg *p, mf_extra *x, uint8_t **man, size_t *mlen,
                       const pl_pkg_signer *trusted, size_t ntrusted,
                       EVP_PKEY *transport)
{
    const char *path = p->path;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        pl_err("%s: package: cannot open: %s", path,
               errno ? strerror(errno) : "not a regular file");
        return -1;
    }
    if (H5Fis_hdf5(path) <= 0) {
        pl_err("%s: package: cannot open: not an HDF5 file (%s)", path,
               errno ? strerror(errno) : "no HDF5 signature");
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        pl_err("%s: package: cannot open (truncated or damaged): %s", path,
               pl_h5_reason());
        return -1;
    }
    uint8_t *sig = NULL;
    size_t slen = 0;
    const char *mwhy = "", *swhy = "is not a 64-byte Ed25519 signature";
    int rm = read_small(f, "/manifest", man, mlen, MANIFEST_MAX, &mwhy);
    int rs = rm == 0 ? read_small(f, "/signature", &sig, &slen, 4096, &swhy)
                     : 0;
    H5Fclose(f);
    pl_h5_reason();
    int rc = -1;
    const char *why, *at = NULL;
    if (rm != 0) {
        pl_err("%s: package: /manifest %s", path,
               rm > 0 ? "is missing (not a pseudolink package)" : mwhy);
    } else if (rs != 0 || slen != SIG_BYTES) {
        pl_err("%s: package: unsigned (/signature %s): refused", path,
               rs > 0 ? "is missing" : rs < 0 ? swhy
                                      : "is not a 64-byte Ed25519 signature");
    } else if ((why = parse_manifest(p, x, (const char *)*man, *mlen,
                                     &at))) {
        /* The line reached: the one read last (no content: the reader
         * finds it with h5py, docs/PACKAGE.md section 2). */
        size_t ln = 0;
        for (const char *c = (const char *)*man; c < at; c++)
            ln += *c == '\n';
        pl_err("%s: package: manifest refused at its line %zu: %s", path,
               ln ? ln : 1, why);
    } else {
        const pl_pkg_signer *who = NULL;
        char fpr[72];
        for (size_t i = 0; i < ntrusted && !who; i++) {
            fpr_of(trusted[i].key, fpr);
            if (strcmp(fpr, p->signer) == 0)
                who = &trusted[i];
        }
        int allzero = 1;
        for (size_t i = 0; i < slen; i++)
            allzero &= sig[i] == 0;
        EVP_MD_CTX *c = who ? EVP_MD_CTX_new() : NULL;
        int vok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, who->key) > 0
                  && EVP_DigestVerify(c, sig, slen, *man, *mlen) == 1;
        EVP_MD_CTX_free(c);
        ERR_clear_error();
        char tfpr[72];
        fpr_of(transport, tfpr);
        if (allzero)
            pl_err("%s: package: unsigned (empty signature): refused", path);
        else if (!who)
            pl_err("%s: package: signed by a key the job does not trust "
                   "(signer %s, producer '%s'): refused; list the producer "
                   "and its public signing key under 'producers'", path,
                   p->signer, p->producer);
        else if (strcmp(who->name, p->producer) != 0)
            pl_err("%s: package: the manifest names producer '%s' but its "
                   "signing key is the one the job trusts for '%s': refused",
                   path, p->producer, who->name);
        else if (!vok)
            pl_err("%s: package: the signature does not verify with the "
                   "key of producer '%s' (manifest or signature altered): "
                   "refused", path, who->name);
        else if (strcmp(tfpr, x->transport) != 0)
            pl_err("%s: package: the data key is wrapped to another "
                   "transport key (%s, ours is %s): refused", path,
                   x->transport, tfpr);
        else if (unwrap_key(transport, p->id, x->wrap, p->key) != 0)
            pl_err("%s: package: the data key does not unwrap with the "
                   "transport key: refused", path);
        else
            rc = 0;
    }
    if (rc == 0) {
        uint8_t d[32];
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, EVP_sha256(), NULL);
        EVP_DigestUpdate(c, *man, *mlen);
        EVP_DigestUpdate(c, sig, slen);
        EVP_DigestFinal_ex(c, d, NULL);
        EVP_MD_CTX_free(c);
        pl_fpr_hex(d, p->digest);
    }
    free(sig);
    return rc;
}

static int dset_bytes(hid_t d, hsize_t *n0, hsize_t *n1)
{
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[2] = {0, 0};
    if (nd >= 1 && nd <= 2)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    int ok = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    H5Sclose(sp);
    H5Tclose(t);
    *n0 = dims[0];
    *n1 = nd == 2 ? dims[1] : 0;
    return ok ? nd : -1;
}

static int open_datasets(pl_pkg *p)
{
    for (size_t i = 0; i < p->nsrc; i++) {
        pl_pkg_src *s = &p->src[i];
        for (size_t c = 0; c < s->ncols; c++) {
            char dp[3 * PL_PKG_NAME_MAX], tp[3 * PL_PKG_NAME_MAX];
            snprintf(dp, sizeof dp, "/sources/%s/%s", s->name,
                     s->cols[c].name);
            snprintf(tp, sizeof tp, "/tags/%s/%s", s->name, s->cols[c].name);
            hsize_t n0, n1;
            const char *why = "";
            s->data[c] = open_dset(p->file, dp, &why);
            if (s->data[c] >= 0)
                s->tags[c] = open_dset(p->file, tp, &why);
            if (s->data[c] < 0 || s->tags[c] < 0) {
                pl_err0("%s: package: %s: %s: refused", p->path,
                        s->data[c] < 0 ? dp : tp, why);
                return -1;
            }
            if (dset_bytes(s->data[c], &n0, &n1) != 1 ||
                n0 != s->rows * s->cols[c].size) {
                pl_err0("%s: package: %s: expected %llu bytes (uint8, 1-D) "
                        "as the manifest says, found another size or type "
                        "(truncated or altered)", p->path, dp,
                        (unsigned long long)(s->rows * s->cols[c].size));
                return -1;
            }
            if (dset_bytes(s->tags[c], &n0, &n1) != 2 || n0 != s->nblocks ||
                n1 != PL_GCM_TAG) {
                pl_err0("%s: package: %s: expected (%llu, 16) uint8 as the "
                        "manifest says (truncated or altered)", p->path, tp,
                        (unsigned long long)s->nblocks);
                return -1;
            }
        }
    }
    return 0;
}

int pl_pkg_open(pl_pkg *p, const char *path, const pl_pkg_signer *trusted,
                size_t ntrusted, EVP_PKEY *transport, MPI_Comm comm)
{
    memset(p, 0, sizeof *p);
    p->file = -1;
    p->path = pl_xstrdup(path);
    int rank;
    MPI_Comm_rank(comm, &rank);
    mf_extra x;
    memset(&x, 0, sizeof x);
    uint8_t *man = NULL;
    size_t mlen = 0;
    int ok = 1;
    if (rank == 0) {
        errno = 0;
        ok = verify_root(p, &x, &man, &mlen, trusted, ntrusted,
                         transport) == 0;
    }
    if (!pl_root_ok(comm, ok)) {
        free(man);
        pl_pkg_close(p);        /* wipes the key */
        return -1;
    }
    /* The verified manifest and the data key reach every rank (memory). */
    uint64_t ml = mlen;
    PL_MPI_CHECK(MPI_Bcast(&ml, 1, MPI_UINT64_T, 0, comm));
    if (rank != 0)
        man = pl_xmalloc(ml + 1);
    PL_MPI_CHECK(MPI_Bcast(man, (int)ml, MPI_BYTE, 0, comm));
    PL_MPI_CHECK(MPI_Bcast(p->key, sizeof p->key, MPI_BYTE, 0, comm));
    PL_MPI_CHECK(MPI_Bcast(p->digest, sizeof p->digest, MPI_CHAR, 0, comm));
    if (rank != 0) {
        for (size_t i = 0; i < p->nsrc; i++)
            src_free(&p->src[i]);
        free(p->src);
        p->src = NULL;
        p->nsrc = 0;
        const char *at;
        ok = parse_manifest(p, &x, (const char *)man, ml, &at) == NULL;
    }
    free(man);
    if (!pl_all_ok(comm, ok)) {
        pl_pkg_close(p);
        return -1;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    p->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    ok = p->file >= 0;
    if (!ok)
        pl_err0("%s: package: cannot open with MPI-IO: %s", path,
                pl_h5_reason());
    ok = pl_all_ok(comm, ok) && open_datasets(p) == 0;
    if (!pl_all_ok(comm, ok)) {
        pl_pkg_close(p);
        return -1;
    }
    return 0;
}

void pl_pkg_close(pl_pkg *p)
{
    for (size_t i = 0; i < p->nsrc; i++) {
        pl_pkg_src *s = &p->src[i];
        for (size_t c = 0; s->data && c < s->ncols; c++) {
            if (s->data[c] >= 0) H5Dclose(s->data[c]);
            if (s->tags[c] >= 0) H5Dclose(s->tags[c]);
        }
        src_free(s);
    }
    free(p->src);
    if (p->file >= 0)
        H5Fclose(p->file);
    free(p->path);
    OPENSSL_cleanse(p->key, sizeof p->key);
    memset(p, 0, sizeof *p);
    p->file = -1;
}

const pl_pkg_enc *pl_pkg_encoding(const pl_pkg *p, int si, size_t ci)
{
    const pl_pkg_src *s = &p->src[si];
    for (size_t e = 0; e < s->nenc; e++)
        if (s->enc[e].col == ci)
            return &s->enc[e];
    return NULL;
}

int pl_pkg_source(const pl_pkg *p, const char *name)
{
    for (size_t i = 0; i < p->nsrc; i++)
        if (strcmp(p->src[i].name, name) == 0)
            return (int)i;
    return -1;
}

void pl_pkg_rank_rows(const pl_pkg *p, int si, int rank, int size,
                      uint64_t *first, uint64_t *count)
{
    /* Balanced rows, as for a store source: whole blocks would leave a
     * rank up to a block (65536 rows) ahead of the others, which at a few
     * blocks per rank is a third of the run. A block that straddles two
     * ranks is decrypted by both (pl_pkg_read checks and decrypts every
     * block it touches). */
    pl_block(p->src[si].rows, rank, size, first, count);
}

int pl_pkg_read(const pl_pkg *p, int si, size_t ci, uint64_t first,
                uint64_t count, void *out, hid_t dxpl)
{
    const pl_pkg_src *s = &p->src[si];
    const pl_pkg_col *col = &s->cols[ci];
    uint64_t b0 = 0, b1 = 0;            /* blocks [b0, b1) */
    if (count) {
        while (b0 < s->nblocks && s->bfirst[b0] + s->brows[b0] <= first)
            b0++;
        b1 = b0;
        while (b1 < s->nblocks && s->bfirst[b1] < first + count)
            b1++;
    }
    uint64_t r0 = b1 > b0 ? s->bfirst[b0] : 0;
    uint64_t nr = b1 > b0 ? s->bfirst[b1 - 1] + s->brows[b1 - 1] - r0 : 0;
    int inside = !count || (b1 > b0 && first >= r0 &&
                            first + count <= r0 + nr);
    if (!inside) {              /* a caller's bug, never the data's */
        b0 = b1 = 0;
        r0 = nr = 0;
    }
    size_t bytes = nr * col->size;
    uint8_t *ct = pl_xmalloc(bytes + 1);
    uint8_t *tags = pl_xmalloc((b1 - b0) * PL_GCM_TAG + 1);
    char what[3 * PL_PKG_NAME_MAX];
    snprintf(what, sizeof what, "/sources/%s/%s", s->name, col->name);
    int ok = inside;
    if (!inside)
        pl_err("%s: package: /sources/%s/%s: rows %llu..%llu are outside its "
               "%llu rows", p->path, s->name, col->name,
               (unsigned long long)first, (unsigned long long)(first + count),
               (unsigned long long)s->rows);
    ok &= pl_h5_read_rows(p->path, s->data[ci], what, H5T_NATIVE_UINT8,
                          r0 * col->size, bytes, 0, ct, dxpl) == 0;
    snprintf(what, sizeof what, "/tags/%s/%s", s->name, col->name);
    ok &= pl_h5_read_rows(p->path, s->tags[ci], what, H5T_NATIVE_UINT8, b0,
                          b1 - b0, PL_GCM_TAG, tags, dxpl) == 0;
    uint8_t aad[PL_PKG_ID_BYTES + 2 * PL_PKG_NAME_MAX + 8], nonce[12], d[32];
    for (uint64_t b = b0; b < b1 && ok; b++) {
        uint8_t *c = ct + (s->bfirst[b] - r0) * col->size;
        size_t n = s->brows[b] * col->size;
        const uint8_t *tag = tags + (b - b0) * PL_GCM_TAG;
        block_digest(c, n, tag, d);
        if (CRYPTO_memcmp(d, s->digest + (ci * s->nblocks + b) * 32, 32)) {
            pl_err("%s: package: /sources/%s/%s block %llu: its digest does "
                   "not match the signed manifest (altered): refused",
                   p->path, s->name, col->name, (unsigned long long)b);
            ok = 0;
            break;
        }
        block_nonce(nonce, (uint32_t)si, (uint32_t)ci, (uint32_t)b);
        size_t al = block_aad(aad, p->id, s->name, col->name, b);
        if (pl_gcm_decrypt(p->key, nonce, aad, al, c, n, c, tag) != 0) {
            pl_err("%s: package: /sources/%s/%s block %llu: does not "
                   "decrypt (GCM tag check failed): refused", p->path,
                   s->name, col->name, (unsigned long long)b);
            ok = 0;
        }
    }
    if (ok && count)
        memcpy(out, ct + (first - r0) * col->size, count * col->size);
    pl_wipe(ct, bytes);
    free(ct);
    free(tags);
    return ok ? 0 : -1;
}
