/* fuzz_nir.c — libFuzzer target: pl_identity_check on arbitrary bytes.
 * Layout of an input: 1 byte NIR length (0..255), that many NIR bytes, then
 * 4 bytes birth_date, 1 byte sex, 1 byte birth_rank (missing bytes = 0).
 * The result must be a valid reason code; NIRs shorter than 15 bytes or
 * with a byte outside [0-9AB] must never be accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stage/nir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n = data[0];
    if (n > size - 1)
        n = size - 1;
    /* A separate heap copy of exactly n bytes: ASan catches any read past
     * the NIR field. */
    char *nir = malloc(n ? n : 1);
    memcpy(nir, data + 1, n);
    uint8_t tail[6] = {0};
    size_t rest = size - 1 - n;
    memcpy(tail, data + 1 + n, rest < sizeof tail ? rest : sizeof tail);
    int32_t date;
    memcpy(&date, tail, 4);
    int rank = tail[5] == 0xFF ? -1 : tail[5];
    int r = pl_identity_check(nir, (int)n, date, tail[4], rank);
    if (r < PL_OK || r >= PL_R_COUNT)
        abort();
    if (r == PL_OK) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
            if (nir[i] != '\0' && nir[i] != ' ')
                len = i + 1;
        if (len != 15)
            abort();
        for (size_t i = 0; i < 15; i++)
            if (!((nir[i] >= '0' && nir[i] <= '9') || nir[i] == 'A' || nir[i] == 'B'))
                abort();
    }
    free(nir);
    return 0;
}
