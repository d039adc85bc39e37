/* package.h — transfer packages: what a producer sends to the platform
 * (docs/PACKAGE.md is the byte-for-byte contract).
 *
 * One HDF5 file per delivery. A fresh random 32-byte data key per package
 * encrypts every column of every source (p1 first, then the declared
 * payload columns) with AES-256-GCM in row blocks of `block_rows` rows:
 * each block its own nonce (source, column, block indices) and tag, its AAD
 * binding the package id, source, column and block index, so that a rank
 * decrypts just the blocks of its row range (hyperslab reads, MPI-IO). The
 * data key is wrapped to the platform's X25519 transport key (ephemeral
 * X25519, HKDF-SHA256, AES-256-GCM). A canonical text manifest (package id,
 * kind, producer, creation time, signer and transport fingerprints, the
 * wrap, sources, row counts, columns and types, every block's row range and
 * SHA-256 digest of ciphertext||tag) is signed with the producer's Ed25519
 * key.
 *
 * Writer (producer side): pl_pkg_create, pl_pkg_add_source per source,
 * pl_pkg_write per column batch, pl_pkg_finish. Reader (platform side):
 * pl_pkg_open verifies before any record is read, pl_pkg_read decrypts row
 * ranges in memory. Every function is collective over `comm` unless said
 * otherwise; each returns 0 or -1 with the same verdict on every rank,
 * after a message naming the package file and what failed. No key byte,
 * p1 or plaintext ever appears in a message.
 */
#ifndef PL_CRYPTO_PACKAGE_H
#define PL_CRYPTO_PACKAGE_H

#include <hdf5.h>
#include <mpi.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define PL_PKG_ID_BYTES   16
#define PL_PKG_NAME_MAX   64
#define PL_PKG_BLOCK_ROWS 65536         /* default rows per block */
#define PL_PKG_FORMAT     "pseudolink-package 1"

/* Column types: "p1" (32 bytes), "i8".."i64", "u8".."u64", "f32", "f64"
 * (little-endian), "s<N>" (fixed-length string of N bytes, NUL-padded),
 * "b<N>" (a keyed Bloom-filter encoding of N bytes, N a multiple of 8,
 * crypto/bloom.h; its parameters are an `encoding` entry). */
typedef struct {
    char   name[PL_PKG_NAME_MAX];
    char   type[8];
    size_t size;                /* bytes per row */
} pl_pkg_col;

/* The encoding parameters of a "b<N>" column (docs/PACKAGE.md section 3,
 * docs/PPRL.md section 4): never the secret, only its identifier. */
#define PL_PKG_ENC_FIELDS 16
#define PL_PKG_ENC_VERSION "pseudolink-pprl-v1"
typedef struct {
    char     name[PL_PKG_NAME_MAX];
    unsigned k;
} pl_pkg_enc_field;
typedef struct {
    size_t   col;               /* column index in its source */
    char     version[32];       /* PL_PKG_ENC_VERSION */
    unsigned bits;              /* filter width before hardening */
    unsigned q, pad;            /* q-gram length; 1: padded */
    unsigned harden;            /* crypto/bloom.h PL_BLOOM_* flags */
    char     salt[16];          /* "none" or "birth_year" */
    char     secret_id[33];     /* hex of pl_bloom_secret_id */
    pl_pkg_enc_field fields[PL_PKG_ENC_FIELDS];
    size_t   nfields;
} pl_pkg_enc;

/* Width in bits of the filters an encoding sends (after hardening). */
unsigned pl_pkg_enc_out_bits(const pl_pkg_enc *e);
/* The harden token of the manifest: none, xor_fold, balance,
 * xor_fold+balance. */
const char *pl_pkg_enc_harden_name(unsigned flags);

/* The manifest lines of encoding e of `column` (section 3.1), allocated;
 * and their parser from *p (advanced past them) for a column of `width`
 * bytes: NULL, or a short reason. Not collective. A store dataset of
 * encodings carries the same text as its `encoding` attribute. */
char *pl_pkg_enc_text(const char *column, const pl_pkg_enc *e);
const char *pl_pkg_enc_parse(const char **p, const char *end,
                             const char *column, size_t width,
                             pl_pkg_enc *e);

/* The type string of an HDF5 (native) type, with its size; -1 when the
 * type cannot travel (not integer, float or fixed-length string). Not
 * collective. */
int   pl_pkg_type_of(hid_t t, char type[8], size_t *size);
/* The native HDF5 type of a type string (caller closes); -1 if unknown. */
hid_t pl_pkg_h5type(const char *type);

/* ---- writer ---------------------------------------------------------- */

typedef struct pl_pkg_writer pl_pkg_writer;

/* Create the package file at `path` (in the run's private directory,
 * par/output.h). kind: "data" or "opposition". transport: the platform's
 * X25519 public key, signing: the producer's Ed25519 private key — both on
 * rank 0 only (NULL elsewhere). NULL on every rank after a message. */
pl_pkg_writer *pl_pkg_create(const char *path, const char *kind,
                             const char *producer, uint64_t block_rows,
                             EVP_PKEY *transport, EVP_PKEY *signing,
                             MPI_Comm comm);
/* Declare a source: this rank holds local_rows rows (its rows follow the
 * lower ranks'); cols[0] is p1. Returns the source index or -1. */
int pl_pkg_add_source(pl_pkg_writer *w, const char *name, uint64_t local_rows,
                      const pl_pkg_col *cols, size_t ncols);
/* Declare the encoding of column e->col (of type b<N>) of source si;
 * every b<N> column needs one before pl_pkg_finish. Same call on every
 * rank; -1 after a message when the column is not b<N> of the width the
 * parameters give. */
int pl_pkg_add_encoding(pl_pkg_writer *w, int si, const pl_pkg_enc *e);
/* Encrypt and write rows [lo, lo+cnt) of this rank's rows of column ci of
 * source si from buf (cnt * size bytes): whole blocks (lo a multiple of
 * block_rows, cnt too except for this rank's last rows). Not collective
 * (independent I/O: ranks write as their rows come); -1 on this rank after
 * a message, callers agree with pl_all_ok. */
int pl_pkg_write(pl_pkg_writer *w, int si, size_t ci, uint64_t lo,
                 uint64_t cnt, const void *buf);
/* Tags, manifest and signature; closes the file. hex_id (33 bytes) gets
 * the package id. Frees w whatever the outcome. */
int pl_pkg_finish(pl_pkg_writer *w, char hex_id[2 * PL_PKG_ID_BYTES + 1]);
/* Abandon (frees w, removes nothing: the run's directory is discarded). */
void pl_pkg_abort(pl_pkg_writer *w);

/* ---- reader ---------------------------------------------------------- */

typedef struct {
    char      name[PL_PKG_NAME_MAX];
    uint64_t  rows, nblocks;
    pl_pkg_col *cols;
    size_t    ncols;
    uint64_t *bfirst, *brows;   /* [nblocks] */
    uint8_t  *digest;           /* [ncols][nblocks][32] */
    hid_t    *data, *tags;      /* [ncols] datasets */
    pl_pkg_enc *enc;            /* [nenc]: the b<N> columns' encodings */
    size_t    nenc;
} pl_pkg_src;

/* A producer the platform job trusts: its name and Ed25519 public key. */
typedef struct {
    const char *name;
    EVP_PKEY   *key;            /* rank 0 only */
} pl_pkg_signer;

typedef struct {
    char    *path;
    hid_t    file;
    uint8_t  id[PL_PKG_ID_BYTES];
    char     id_hex[2 * PL_PKG_ID_BYTES + 1];
    char     kind[16], producer[PL_PKG_NAME_MAX], created[32];
    char     signer[72];        /* "sha256:" + hex of the signing key */
    char     digest[72];        /* "sha256:" + hex of manifest||signature */
    uint64_t block_rows;
    pl_pkg_src *src;
    size_t   nsrc;
    uint8_t  key[32];           /* the data key, every rank; wiped by close */
} pl_pkg;

/* Open and verify: rank 0 reads the manifest and the signature, checks the
 * signature against the trusted signer named by the manifest (unsigned, an
 * unknown signer, a producer name not matching its key, a bad signature:
 * refused), unwraps the data key with transport (the platform's X25519
 * private key, rank 0 only); the key and manifest then reach every rank,
 * which opens the file (MPI-IO) and checks every dataset's size against the
 * manifest (a truncated or altered package is refused). */
int  pl_pkg_open(pl_pkg *p, const char *path, const pl_pkg_signer *trusted,
                 size_t ntrusted, EVP_PKEY *transport, MPI_Comm comm);
void pl_pkg_close(pl_pkg *p);
/* Source index by name, -1 when the package has none of that name (not
 * collective, no message). */
int  pl_pkg_source(const pl_pkg *p, const char *name);
/* The encoding of column ci of source si, NULL when it is not encoded
 * (not collective, no message). */
const pl_pkg_enc *pl_pkg_encoding(const pl_pkg *p, int si, size_t ci);
/* This rank's rows of source si: a balanced contiguous range (pl_block;
 * not collective). */
void pl_pkg_rank_rows(const pl_pkg *p, int si, int rank, int size,
                      uint64_t *first, uint64_t *count);
/* Decrypt rows [first, first+count) of column ci of source si into out:
 * each block overlapping them is read (hyperslab), its digest checked
 * against the signed manifest and its GCM tag verified. Not collective in
 * its verdict (-1 on this rank after a message; callers agree with
 * pl_all_ok) but its reads are collective when dxpl says so: every rank
 * calls it the same number of times (count may be 0). */
int  pl_pkg_read(const pl_pkg *p, int si, size_t ci, uint64_t first,
                 uint64_t count, void *out, hid_t dxpl);

#endif
