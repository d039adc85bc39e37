/* keygen.c — see keygen.h. */
#include "cmd/keygen.h"
#include "base/log.h"
#include "crypto/audit.h"
#include "crypto/custody.h"
#include "crypto/keyfile.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keygen audit line: the new key's fingerprint when it was written. */
static int keygen_audit(const char *log, const char *path, int success)
{
    pl_audit_rec *a = pl_audit_begin("keygen");
    uint8_t key[PL_KEY_BYTES];
    pl_audit_str(a, "key_file", path);
    if (success && pl_key_load(path, "new key", key, 1) == 0)
        pl_audit_key(a, "new", key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    int rc = pl_audit_append(log, a, success,
                             success ? NULL : pl_log_first_error());
    pl_audit_free(a);
    return rc;
}

static int custodian_keygen(int argc, char **argv)
{
    const char *name = NULL, *dir = ".", *pass = NULL;
    int bits = PL_RSA_MIN_BITS;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--custodian") == 0) name = argv[++i];
        else if (v && strcmp(argv[i], "--dir") == 0) dir = argv[++i];
        else if (v && strcmp(argv[i], "--passphrase-file") == 0)
            pass = argv[++i];
        else if (v && strcmp(argv[i], "--bits") == 0) {
            char *end;
            long b = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || b < PL_RSA_MIN_BITS || b > 16384) {
                pl_err("keygen: --bits expects an RSA modulus size from %d "
                       "to 16384, got '%s'", PL_RSA_MIN_BITS, argv[i]);
                return 2;
            }
            bits = (int)b;
        } else {
            fprintf(stderr, "usage: pseudolink keygen --custodian NAME "
                    "[--dir DIR] [--passphrase-file FILE] [--bits N]\n");
            return 2;
        }
    }
    if (!name || !name[0] || strchr(name, '/')) {
        pl_err("keygen: --custodian NAME is required (no '/')");
        return 2;
    }
    return pl_custody_keygen(name, dir, pass, bits) == 0 ? 0 : 1;
}

/* keygen --signing NAME (a producer's Ed25519 pair) or --transport NAME
 * (the platform's X25519 pair): the same files and passphrase rules as a
 * custodian's (crypto/custody.h). */
static int pair_keygen(int argc, char **argv, const char *flag,
                       pl_pkey_kind kind)
{
    const char *name = NULL, *dir = ".", *pass = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], flag) == 0) name = argv[++i];
        else if (v && strcmp(argv[i], "--dir") == 0) dir = argv[++i];
        else if (v && strcmp(argv[i], "--passphrase-file") == 0)
            pass = argv[++i];
        else {
            fprintf(stderr, "usage: pseudolink keygen %s NAME [--dir DIR] "
                    "[--passphrase-file FILE]\n", flag);
            return 2;
        }
    }
    if (!name || !name[0] || strchr(name, '/')) {
        pl_err("keygen: %s NAME is required (no '/')", flag);
        return 2;
    }
    return pl_pkey_keygen(kind, name, dir, pass, 0) == 0 ? 0 : 1;
}

int pl_keygen_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {    /* in any place among its options */
        if (strcmp(argv[i], "--custodian") == 0)
            return custodian_keygen(argc, argv);
        if (strcmp(argv[i], "--signing") == 0)
            return pair_keygen(argc, argv, "--signing", PL_PKEY_ED25519);
        if (strcmp(argv[i], "--transport") == 0)
            return pair_keygen(argc, argv, "--transport", PL_PKEY_X25519);
    }
    const char *audit = NULL;
    if (argc == 4 && strcmp(argv[2], "--audit") == 0)
        audit = argv[3];
    if ((argc != 2 && !audit) || argv[1][0] == '-') {
        fprintf(stderr, "usage: pseudolink keygen FILE [--audit LOG] | keygen "
                "--custodian|--signing|--transport NAME [--dir DIR] "
                "[--passphrase-file FILE]\n");
        return 2;
    }
    int ok = pl_key_generate(argv[1]) == 0;
    if (audit && keygen_audit(audit, argv[1], ok) != 0)
        ok = 0;
    return ok ? 0 : 1;
}
