/* custody.c — see custody.h. */
#include "crypto/custody.h"
#include "base/secure.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ui.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Passphrases */

static int passfile_read(const char *path, char buf[PL_PASS_MAX])
{
    struct stat st;
    int fd = pl_open_regular(path, "passphrase file", &st, 0);
    if (fd < 0)
        return -1;
    if (st.st_mode & 077) {
        pl_err("%s: passphrase file must be a regular file of mode 0600, "
               "not accessible by group or others (mode %04o; chmod 600 %s)", path,
               (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, PL_PASS_MAX - 1);
    close(fd);
    if (n < 0) {
        pl_err("%s: cannot read passphrase file: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        pl_err("%s: passphrase file is empty (expected the passphrase on "
               "its first line)", path);
        return -1;
    }
    return 0;
}

int pl_passphrase_get(const char *passfile, const char *what, int confirm,
                      char buf[PL_PASS_MAX])
{
    if (passfile)
        return passfile_read(passfile, buf);
    const char *env = getenv("PSEUDOLINK_PASSPHRASE");
    if (env && env[0]) {
        if (strlen(env) >= PL_PASS_MAX) {
            pl_err("PSEUDOLINK_PASSPHRASE is too long (at most %d bytes)",
                   PL_PASS_MAX - 1);
            return -1;
        }
        memcpy(buf, env, strlen(env) + 1);
        return 0;
    }
    if (!isatty(STDIN_FILENO)) {
        pl_err("%s: no passphrase: give --passphrase-file FILE (mode 0600) "
               "or set PSEUDOLINK_PASSPHRASE (stdin is not a terminal, "
               "cannot prompt)", what);
        return -1;
    }
    char prompt[512];
    snprintf(prompt, sizeof prompt, "passphrase for %s: ", what);
    if (EVP_read_pw_string(buf, PL_PASS_MAX, prompt, confirm) != 0 ||
        !buf[0]) {
        OPENSSL_cleanse(buf, PL_PASS_MAX);
        pl_err("%s: no passphrase given", what);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Key generation */

static int write_pem_file(const char *path, mode_t mode, EVP_PKEY *k,
                          const char *pass)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        pl_err("%s: cannot create: %s%s", path, strerror(errno),
               errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return -1;
    }
    fchmod(fd, mode);           /* the umask must not loosen or tighten it */
    BIO *b = BIO_new_fd(fd, BIO_CLOSE);
    int ok = b != NULL;
    if (ok && pass)
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0,
                                           NULL, (void *)pass) == 1;
    else if (ok)
        ok = PEM_write_bio_PUBKEY(b, k) == 1;
    ok = ok && BIO_flush(b) == 1 && fsync(fd) == 0;
    BIO_free(b);
    if (!ok) {
        pl_err("%s: cannot write the key", path);
        unlink(path);
        return -1;
    }
    return 0;
}

static char *key_path(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = pl_xmalloc(n);
    snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

static const char *kind_name(pl_pkey_kind kind)
{
    return kind == PL_PKEY_ED25519 ? "Ed25519 signing"
         : kind == PL_PKEY_X25519 ? "X25519 transport" : "custodian";
}

int pl_pkey_keygen(pl_pkey_kind kind, const char *name, const char *dir,
                   const char *passfile, int bits)
{
    if (kind == PL_PKEY_RSA && bits < PL_RSA_MIN_BITS) {
        pl_err("keygen: %d-bit keys are too short (at least %d)", bits,
               PL_RSA_MIN_BITS);
        return -1;
    }
    char *priv = key_path(dir, name, ".key.pem");
    char *pub = key_path(dir, name, ".pub.pem");
    char pass[PL_PASS_MAX];
    int rc = -1;
    EVP_PKEY *k = NULL;
    if (access(priv, F_OK) == 0 || access(pub, F_OK) == 0) {
        pl_err("%s: %s key files '%s' already exist (refusing "
               "to overwrite a key)", access(priv, F_OK) == 0 ? priv : pub,
               kind_name(kind), name);
    } else if (pl_passphrase_get(passfile, priv, 1, pass) == 0) {
        k = kind == PL_PKEY_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                                    (size_t)bits)
          : EVP_PKEY_Q_keygen(NULL, NULL, kind == PL_PKEY_ED25519
                                              ? "ED25519" : "X25519");
        if (!k)
            pl_err("keygen: OpenSSL could not generate an %s key",
                   kind_name(kind));
        else if (write_pem_file(priv, 0600, k, pass) == 0) {
            rc = write_pem_file(pub, 0644, k, NULL);
            if (rc != 0)
                unlink(priv);
        }
    }
    OPENSSL_cleanse(pass, sizeof pass);
    EVP_PKEY_free(k);
    free(priv);
    free(pub);
    return rc;
}

int pl_custody_keygen(const char *name, const char *dir, const char *passfile,
                      int bits)
{
    return pl_pkey_keygen(PL_PKEY_RSA, name, dir, passfile, bits);
}

/* ------------------------------------------------------------------------ */
/* Loading */

static int check_kind(pl_pkey_kind kind, EVP_PKEY *k, const char *path,
                      int quiet)
{
    if (kind != PL_PKEY_RSA) {
        int want = kind == PL_PKEY_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519;
        if (EVP_PKEY_get_base_id(k) != want) {
            if (!quiet)
                pl_err("%s: not an %s key (pseudolink keygen --%s)", path,
                       kind == PL_PKEY_ED25519 ? "Ed25519" : "X25519",
                       kind == PL_PKEY_ED25519 ? "signing" : "transport");
            return -1;
        }
        return 0;
    }
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        if (!quiet)
            pl_err("%s: not an RSA key (custodian keys are RSA, at least %d "
                   "bits)", path, PL_RSA_MIN_BITS);
        return -1;
    }
    if (EVP_PKEY_get_bits(k) < PL_RSA_MIN_BITS) {
        if (!quiet)
            pl_err("%s: RSA key of %d bits is too short (at least %d)", path,
                   EVP_PKEY_get_bits(k), PL_RSA_MIN_BITS);
        return -1;
    }
    return 0;
}

EVP_PKEY *pl_custody_load_public(const char *path, int quiet)
{
    return pl_pkey_load_public(PL_PKEY_RSA, path, quiet);
}

EVP_PKEY *pl_pkey_load_public(pl_pkey_kind kind, const char *path, int quiet)
{
    char what[64];
    snprintf(what, sizeof what, "%s public key", kind_name(kind));
    int fd = pl_open_regular(path, what, NULL, quiet);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        if (!quiet)
            pl_err("%s: cannot read public key: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    /* A private key where a public one is expected: a job file (shared,
     * archived) must never name one. Only the PEM header is looked at. */
    int priv = 0;
    if (!k) {
        char head[128];
        rewind(f);
        while (!priv && fgets(head, sizeof head, f))
            priv = strncmp(head, "-----BEGIN ", 11) == 0 &&
                   strstr(head, "PRIVATE KEY-----") != NULL;
        pl_wipe(head, sizeof head);
    }
    fclose(f);
    ERR_clear_error();
    if (!k && priv) {
        if (!quiet)
            pl_err("%s: this is a private key, where the %s is expected: a "
                   "job file names public keys only (private keys are "
                   "given on the command line, never in a job file)", path,
                   what);
        return NULL;
    }
    if (!k) {
        if (!quiet)
            pl_err("%s: not a valid public key PEM (expected \"-----BEGIN "
                   "PUBLIC KEY-----\", as written by pseudolink keygen "
                   "--%s)", path, kind == PL_PKEY_RSA ? "custodian"
                   : kind == PL_PKEY_ED25519 ? "signing" : "transport");
        return NULL;
    }
    if (check_kind(kind, k, path, quiet) != 0) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

EVP_PKEY *pl_custody_load_private(const char *path, const char *passfile)
{
    return pl_pkey_load_private(PL_PKEY_RSA, path, passfile);
}

EVP_PKEY *pl_pkey_load_private(pl_pkey_kind kind, const char *path,
                               const char *passfile)
{
    struct stat st;
    char what[64];
    snprintf(what, sizeof what, "%s private key", kind_name(kind));
    int fd = pl_open_regular(path, what, &st, 0);
    if (fd < 0)
        return NULL;
    if (st.st_mode & 077) {
        pl_err("%s: private key must be a regular file of mode 0600, not "
               "accessible by group or others (mode %04o; chmod 600 %s)", path,
               (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        pl_err("%s: cannot read private key: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    char pass[PL_PASS_MAX];
    EVP_PKEY *k = NULL;
    if (pl_passphrase_get(passfile, path, 0, pass) == 0) {
        k = PEM_read_PrivateKey(f, NULL, NULL, pass);
        if (!k) {
            unsigned long e = ERR_peek_last_error();
            int bad_pass = ERR_GET_REASON(e) == EVP_R_BAD_DECRYPT ||
                           ERR_GET_REASON(e) == PEM_R_BAD_DECRYPT;
            pl_err("%s: cannot read the private key: %s", path,
                   bad_pass ? "wrong passphrase"
                            : "wrong passphrase, or not a valid encrypted "
                              "private key PEM");
        }
    }
    ERR_clear_error();
    OPENSSL_cleanse(pass, sizeof pass);
    fclose(f);
    if (k && check_kind(kind, k, path, 0) != 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

int pl_custody_fingerprint(EVP_PKEY *k, uint8_t fpr[PL_FPR_BYTES])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return -1;
    int ok = EVP_Digest(der, (size_t)n, fpr, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    return ok ? 0 : -1;
}

void pl_fpr_hex(const uint8_t fpr[PL_FPR_BYTES], char out[72])
{
    memcpy(out, "sha256:", 7);
    pl_hex(fpr, PL_FPR_BYTES, out + 7);
}

/* ------------------------------------------------------------------------ */
/* OAEP */

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *k, int enc)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    if (!c)
        return NULL;
    if ((enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) <= 0) {
        EVP_PKEY_CTX_free(c);
        return NULL;
    }
    return c;
}

int pl_custody_wrap(EVP_PKEY *pub, const uint8_t *in, size_t n, uint8_t **out,
                    size_t *outlen)
{
    EVP_PKEY_CTX *c = oaep_ctx(pub, 1);
    size_t len = 0;
    int ok = c && EVP_PKEY_encrypt(c, NULL, &len, in, n) > 0;
    *out = ok ? pl_xmalloc(len) : NULL;
    ok = ok && EVP_PKEY_encrypt(c, *out, &len, in, n) > 0;
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    if (!ok) {
        free(*out);
        *out = NULL;
        return -1;
    }
    *outlen = len;
    return 0;
}

int pl_custody_unwrap(EVP_PKEY *priv, const uint8_t *in, size_t n,
                      uint8_t *out, size_t cap, size_t *outlen)
{
    EVP_PKEY_CTX *c = oaep_ctx(priv, 0);
    size_t len = (size_t)EVP_PKEY_get_size(priv);
    uint8_t *tmp = pl_xmalloc(len);
    int ok = c && EVP_PKEY_decrypt(c, tmp, &len, in, n) > 0 && len <= cap;
    if (ok) {
        memcpy(out, tmp, len);
        *outlen = len;
    }
    OPENSSL_cleanse(tmp, (size_t)EVP_PKEY_get_size(priv));
    free(tmp);
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    return ok ? 0 : -1;
}

size_t pl_custody_roles(const pl_custody_cfg *cc, const char **roles)
{
    size_t nr = 0;
    for (size_t i = 0; i < cc->n; i++) {
        size_t j = 0;
        while (j < nr && strcmp(roles[j], cc->c[i].role) != 0)
            j++;
        if (j == nr)
            roles[nr++] = cc->c[i].role;
    }
    return nr;
}
