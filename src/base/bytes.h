/* bytes.h — 64-bit big-endian stores and loads: the byte order of keys
 * that travel (pl_owner_of reads a key's first bytes as big-endian) and
 * that must sort as their integer. Header only; no MPI. */
#ifndef PL_BASE_BYTES_H
#define PL_BASE_BYTES_H

#include <stdint.h>

static inline void pl_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t pl_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
