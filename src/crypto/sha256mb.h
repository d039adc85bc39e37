/* sha256mb.h — multi-buffer SHA-256: one compression of many independent
 * blocks at once, one block per SIMD lane.
 *
 * Without SHA-NI a single SHA-256 stream cannot use the vector units well
 * (every round depends on the previous one). Independent messages can: with
 * the state transposed (word i of every lane in one vector), one vector
 * instruction advances the same round of 16 (AVX-512) or 8 (AVX2) messages.
 * The batch HMAC (hmac.c) runs its inner and outer compressions this way.
 *
 * Kernels: "avx512" (16 lanes; needs AVX-512 F, BW and VL), "avx2" (8 lanes)
 * and "scalar" (1 lane, OpenSSL's SHA256_Transform). They are compiled with
 * function-level target attributes, so the binary runs on any x86-64 (and
 * builds elsewhere with the scalar kernel only); the fastest one the CPU
 * runs is chosen on first use (pl_sha256mb_active).
 * PSEUDOLINK_SHA256=scalar|avx2|avx512 overrides the choice (tests exercise
 * every path, the bench shows each); a value the CPU cannot run falls back
 * to the default with a warning.
 */
#ifndef PL_SHA256MB_H
#define PL_SHA256MB_H

#include <stddef.h>
#include <stdint.h>

#define PL_MB_LANES_MAX 16

/* SIMD kernels on x86-64 (-DPL_NO_SIMD builds the scalar one only, as on
 * other architectures). */
#if defined(__x86_64__) && !defined(PL_NO_SIMD)
#define PL_MB_X86 1
#else
#define PL_MB_X86 0
#endif

typedef struct {
    const char *name;           /* "scalar", "avx2", "avx512" */
    size_t lanes;
    /* One compression of `lanes` blocks: blocks are 64 bytes, `stride`
     * bytes apart; state is transposed, state[i * lanes + j] = word i of
     * lane j (host order), updated in place. */
    void (*compress)(uint32_t *state, const uint8_t *blocks, size_t stride);
    /* n HMAC-SHA256 (n a multiple of lanes) of messages of len <= 55
     * bytes, `stride` apart, from the keyed inner and outer states (the
     * h[] words after absorbing key^ipad, key^opad): the first outlen
     * (<= 32) bytes of each tag go to out, `ostride` apart. Reads exactly
     * len bytes per message and writes exactly outlen bytes per tag.
     * NULL for the scalar kernel (hmac.c has its own loop). */
    void (*hmac)(const uint32_t inner[8], const uint32_t outer[8],
                 const uint8_t *msgs, size_t len, size_t stride, size_t n,
                 uint8_t *out, size_t outlen, size_t ostride);
} pl_sha256mb;

/* Kernel in use, chosen on the first call: PSEUDOLINK_SHA256 if set and
 * runnable, else avx512, else scalar on CPUs with SHA-NI (OpenSSL uses it),
 * else avx2, else scalar. */
const pl_sha256mb *pl_sha256mb_active(void);
/* Kernel by name, or NULL if unknown or not runnable on this CPU. */
const pl_sha256mb *pl_sha256mb_find(const char *name);
/* Use this kernel from now on (tests, bench); -1 if pl_sha256mb_find()
 * would return NULL. */
int pl_sha256mb_use(const char *name);

/* FIPS 180-4 round constants. A macro so that each kernel has its own
 * static copy the compiler can fold into constant message words. */
#define PL_SHA256_K_INIT                                                      \
    {                                                                         \
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,           \
        0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,           \
        0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,           \
        0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,           \
        0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,           \
        0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,           \
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,           \
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,           \
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,           \
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,           \
        0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,           \
        0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,           \
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,                       \
    }

/* The padded block of a `len`-byte (<= 55) message that follows one keyed
 * 64-byte block: zeros where the message goes, 0x80 at len, the total bit
 * length (64 + len) * 8 big-endian in bytes 56..63. The kernels OR the
 * message bytes into it. */
void pl_sha256mb_pad(uint8_t pad[64], size_t len);

#endif
