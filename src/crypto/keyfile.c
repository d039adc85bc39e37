/* keyfile.c — see keyfile.h. */
#include "crypto/keyfile.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/secure.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_ERR(...) do { if (!quiet) pl_err(__VA_ARGS__); } while (0)

int pl_key_load(const char *path, const char *what, uint8_t key[PL_KEY_BYTES],
                int quiet)
{
    /* O_NOFOLLOW would refuse symlinked key dirs people legitimately use;
     * we check the file we actually opened with fstat instead. The open
     * does not block: a FIFO, a device or a socket is refused at once. */
    struct stat st;
    int fd = pl_open_regular(path, what, &st, quiet);
    if (fd < 0)
        return -1;
    if (st.st_mode & 077) {
        KEY_ERR("%s: %s is accessible by group or others (mode %04o); "
                "expected mode 0600 (chmod 600 %s)",
                path, what, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    char buf[80];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int rc = -1;
    if (n < 0) {
        KEY_ERR("%s: cannot read %s: %s", path, what, strerror(errno));
    } else if (!(n == 64 || (n == 65 && buf[64] == '\n')) ||
               st.st_size != n) {
        KEY_ERR("%s: %s has the wrong size (%lld bytes); expected 64 hex "
                "characters and an optional newline (pseudolink keygen)",
                path, what, (long long)st.st_size);
    } else {
        size_t bad = 0;
        rc = pl_unhex(buf, PL_KEY_BYTES, key, &bad);
        if (rc != 0)
            KEY_ERR("%s: %s contains a character that is not a hex "
                    "digit (at offset %zu)", path, what, bad);
        else if (pl_key_degenerate(key)) {
            KEY_ERR("%s: %s is degenerate (fewer than %d distinct byte "
                    "values among its %d bytes: all zero, a repeated "
                    "pattern or a placeholder); expected a random key "
                    "(pseudolink keygen)", path, what, PL_KEY_MIN_DISTINCT,
                    PL_KEY_BYTES);
            rc = -1;
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != 0)
        OPENSSL_cleanse(key, PL_KEY_BYTES);
    return rc;
}

int pl_key_degenerate(const uint8_t key[PL_KEY_BYTES])
{
    uint8_t seen[256] = {0};
    int distinct = 0;
    for (int i = 0; i < PL_KEY_BYTES; i++)
        if (!seen[key[i]]++)
            distinct++;
    OPENSSL_cleanse(seen, sizeof seen);
    return distinct < PL_KEY_MIN_DISTINCT;
}

int pl_key_generate(const char *path)
{
    uint8_t key[PL_KEY_BYTES];
    char hex[2 * PL_KEY_BYTES + 1];
    do {
        if (RAND_bytes(key, sizeof key) != 1) {
            pl_err("%s: OpenSSL's random generator failed", path);
            return -1;
        }
    } while (pl_key_degenerate(key));
    pl_hex(key, PL_KEY_BYTES, hex);
    hex[2 * PL_KEY_BYTES] = '\n';
    OPENSSL_cleanse(key, sizeof key);

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        pl_err("%s: cannot create key file: %s%s", path, strerror(errno),
               errno == EEXIST ? " (refusing to overwrite a key)" : "");
        OPENSSL_cleanse(hex, sizeof hex);
        return -1;
    }
    ssize_t w = write(fd, hex, sizeof hex);
    OPENSSL_cleanse(hex, sizeof hex);
    if (w != (ssize_t)sizeof hex || fsync(fd) != 0 || close(fd) != 0) {
        pl_err("%s: cannot write key file: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

#define FPR_LABEL "pseudolink key fingerprint v1"

void pl_key_fingerprint(const uint8_t *key, size_t n,
                        uint8_t fpr[PL_KEY_FPR_BYTES])
{
    uint8_t mac[32];
    unsigned int len = sizeof mac;
    HMAC(EVP_sha256(), key, (int)n, (const uint8_t *)FPR_LABEL,
         strlen(FPR_LABEL), mac, &len);
    memcpy(fpr, mac, PL_KEY_FPR_BYTES);
    OPENSSL_cleanse(mac, sizeof mac);
}
