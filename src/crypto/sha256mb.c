/* sha256mb.c — see sha256mb.h: the scalar kernel and the dispatch.
 * The SIMD kernels are in sha256mb_avx512.c and sha256mb_avx2.c. */
#include "crypto/sha256mb.h"
#include "base/log.h"

#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA256_Transform: one compression */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

void pl_sha256mb_pad(uint8_t pad[64], size_t len)
{
    uint64_t bits = (uint64_t)(64 + len) * 8;
    memset(pad, 0, 64);
    pad[len] = 0x80;
    for (int i = 0; i < 8; i++)
        pad[63 - i] = (uint8_t)(bits >> (8 * i));
}

/* Scalar kernel: one lane, OpenSSL's compression (its own assembly). */
static void scalar_compress(uint32_t *state, const uint8_t *blocks,
                            size_t stride)
{
    (void)stride;
    SHA256_CTX c;
    memcpy(c.h, state, sizeof c.h);
    SHA256_Transform(&c, blocks);
    memcpy(state, c.h, sizeof c.h);
    OPENSSL_cleanse(c.h, sizeof c.h);
}

static const pl_sha256mb scalar = {"scalar", 1, scalar_compress, NULL};

#if PL_MB_X86
extern const pl_sha256mb pl_sha256mb_avx512, pl_sha256mb_avx2;

static int runnable(const pl_sha256mb *m)
{
    if (m == &pl_sha256mb_avx512)
        return __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    if (m == &pl_sha256mb_avx2)
        return __builtin_cpu_supports("avx2");
    return 1;
}

/* Best first. */
static const pl_sha256mb *const kernels[] = {&pl_sha256mb_avx512,
                                             &pl_sha256mb_avx2, &scalar};
#else
static int runnable(const pl_sha256mb *m) { (void)m; return 1; }
static const pl_sha256mb *const kernels[] = {&scalar};
#endif

#define N_KERNELS (sizeof kernels / sizeof kernels[0])

/* The process is single-threaded (MPI ranks are processes). */
static const pl_sha256mb *active;

const pl_sha256mb *pl_sha256mb_find(const char *name)
{
    for (size_t i = 0; i < N_KERNELS; i++)
        if (strcmp(kernels[i]->name, name) == 0)
            return runnable(kernels[i]) ? kernels[i] : NULL;
    return NULL;
}

static int known(const char *name)
{
    return strcmp(name, "scalar") == 0 || strcmp(name, "avx2") == 0 ||
           strcmp(name, "avx512") == 0;
}

#if PL_MB_X86
#include <cpuid.h>
/* SHA extensions (CPUID leaf 7, EBX bit 29), which OpenSSL's compression
 * uses when present. */
static int has_sha_ni(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1);
}
#else
static int has_sha_ni(void) { return 0; }
#endif

/* Default: AVX-512 if runnable (16 lanes: ~23 ns/block measured at
 * 2.5 GHz, about twice one SHA-NI stream); else, with SHA-NI, OpenSSL's
 * one-stream compression (~45 ns/block), which beats 8 AVX2 lanes
 * (~60 ns/block measured); else AVX2; else scalar. */
static const pl_sha256mb *choose(void)
{
    const pl_sha256mb *best = &scalar;
    for (size_t i = 0; i < N_KERNELS; i++)
        if (runnable(kernels[i])) {
            best = kernels[i];
            break;
        }
    if (best->lanes == 8 && has_sha_ni())
        best = &scalar;
    const char *env = getenv("PSEUDOLINK_SHA256");
    if (!env || !*env)
        return best;
    const pl_sha256mb *m = pl_sha256mb_find(env);
    if (m)
        return m;
    pl_warn("PSEUDOLINK_SHA256=%.32s: %s; using the %s SHA-256 kernel", env,
            known(env) ? "not supported by this CPU or build"
                       : "unknown value (expected scalar, avx2 or avx512)",
            best->name);
    return best;
}

const pl_sha256mb *pl_sha256mb_active(void)
{
    if (!active)
        active = choose();
    return active;
}

int pl_sha256mb_use(const char *name)
{
    const pl_sha256mb *m = pl_sha256mb_find(name);
    if (!m)
        return -1;
    active = m;
    return 0;
}
