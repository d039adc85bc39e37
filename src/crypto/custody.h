/* custody.h — custodians' RSA keys: generation, loading, fingerprints and
 * RSA-OAEP wrapping of key shares.
 *
 * Keys are RSA of at least PL_RSA_MIN_BITS bits. A private key is a PKCS#8
 * PEM encrypted with a passphrase (AES-256-CBC, PBKDF2), mode 0600; the
 * public key is a SubjectPublicKeyInfo PEM. The fingerprint of a key is the
 * SHA-256 of the DER SubjectPublicKeyInfo (`openssl pkey -pubin -outform
 * DER | sha256sum`). Wrapping is RSA-OAEP with SHA-256 and MGF1-SHA-256,
 * empty label.
 *
 * Passphrases: a file (mode 0600, first line), else the environment
 * variable PSEUDOLINK_PASSPHRASE, else a prompt when stdin is a terminal.
 * They are never logged and are wiped after use.
 */
#ifndef PL_CUSTODY_H
#define PL_CUSTODY_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define PL_RSA_MIN_BITS 3072
#define PL_FPR_BYTES 32
#define PL_PASS_MAX 1024

/* A custody policy: who holds a share of a correspondence table's key and
 * in which role; `threshold` distinct roles open it. A job file's `custody`
 * and `previous` sections fill it (job/custody_cfg.h). */
#define PL_CUST_NAME_MAX 64

typedef struct {
    char name[PL_CUST_NAME_MAX];
    char role[PL_CUST_NAME_MAX];
    char *public_key;           /* path */
} pl_custodian;

typedef struct {
    int given;                  /* a custody section was present */
    unsigned threshold;
    pl_custodian *c;
    size_t n;
    char *previous;             /* previous.correspondence, or NULL */
    int platform_key_rotated;   /* previous.platform_key_rotated: true */
} pl_custody_cfg;

/* Distinct roles, in order of first appearance: roles[i] points into cc;
 * returns their number. The Shamir x coordinate of roles[i] is i + 1. */
size_t pl_custody_roles(const pl_custody_cfg *cc, const char **roles);

/* Passphrase for `what` (a key path, for the prompt and messages) into
 * buf (NUL-terminated). passfile may be NULL. confirm: ask twice at a
 * prompt (key generation). Returns 0 or -1 after a message. */
int pl_passphrase_get(const char *passfile, const char *what, int confirm,
                      char buf[PL_PASS_MAX]);

/* Write <dir>/<name>.key.pem (encrypted, 0600) and <dir>/<name>.pub.pem;
 * refuses to overwrite either. */
int pl_custody_keygen(const char *name, const char *dir, const char *passfile,
                      int bits);

/* Public key PEM (RSA, >= PL_RSA_MIN_BITS). NULL after a message. */
EVP_PKEY *pl_custody_load_public(const char *path, int quiet);
/* Encrypted private key PEM (mode 0600). NULL after a message (wrong
 * passphrase, corrupted PEM, not RSA, too short). */
EVP_PKEY *pl_custody_load_private(const char *path, const char *passfile);

/* The same for every key pair pseudolink makes: custodians' RSA, the
 * producers' Ed25519 signing keys and the platform's X25519 transport key
 * (keygen --signing / --transport; docs/PACKAGE.md). The same files
 * (<name>.key.pem encrypted PKCS#8, 0600; <name>.pub.pem), the same
 * passphrase rules; a loader refuses a key of another kind. */
typedef enum { PL_PKEY_RSA, PL_PKEY_ED25519, PL_PKEY_X25519 } pl_pkey_kind;
int pl_pkey_keygen(pl_pkey_kind kind, const char *name, const char *dir,
                   const char *passfile, int bits);
EVP_PKEY *pl_pkey_load_public(pl_pkey_kind kind, const char *path, int quiet);
EVP_PKEY *pl_pkey_load_private(pl_pkey_kind kind, const char *path,
                               const char *passfile);

int pl_custody_fingerprint(EVP_PKEY *k, uint8_t fpr[PL_FPR_BYTES]);
/* "sha256:" + 64 hex digits + NUL. */
void pl_fpr_hex(const uint8_t fpr[PL_FPR_BYTES], char out[72]);

/* OAEP-encrypt n bytes to pub; *out (malloc'd, *outlen bytes). */
int pl_custody_wrap(EVP_PKEY *pub, const uint8_t *in, size_t n, uint8_t **out,
                    size_t *outlen);
/* OAEP-decrypt into out (cap bytes); -1 (no message) when the ciphertext
 * is not valid for this key. */
int pl_custody_unwrap(EVP_PKEY *priv, const uint8_t *in, size_t n,
                      uint8_t *out, size_t cap, size_t *outlen);

#endif
