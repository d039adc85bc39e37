/* keyset.c — see keyset.h. */
#include "crypto/keyset.h"
#include "base/log.h"

#include <string.h>

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
