/* keyset.h — the custodians' private keys presented on a command line
 * (`--key PEM [--passphrase-file F]`, `--prev-key ...`): paths only; the
 * keys are opened by whoever needs them (crypto/corrfile.h). */
#ifndef PL_CRYPTO_KEYSET_H
#define PL_CRYPTO_KEYSET_H

#include <stddef.h>

#define PL_KEYS_MAX 16

typedef struct {
    const char *key[PL_KEYS_MAX];
    size_t n_key;
    const char *pass[PL_KEYS_MAX];      /* passphrase files */
    size_t n_pass;
} pl_keyset;

/* Consume argv[*i] if it is `kopt` FILE or `popt` FILE: returns 1 (and
 * advances *i), 0 if not ours, -1 after a message (too many). */
int pl_keyset_arg(pl_keyset *ks, const char *kopt, const char *popt,
                  int argc, char **argv, int *i);

#endif
