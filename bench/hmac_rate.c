/* hmac_rate.c — single-core HMAC-SHA256 micro-benchmark for `make bench`.
 *
 * Prints "name rate_per_second" lines:
 *   sha256_block      SHA256_Transform on one 64-byte block (the floor:
 *                     an HMAC of <= 55 bytes costs two of these)
 *   hmac_floor        sha256_block / 2
 *   pl_hmac_32/40     pl_hmac() per call, 32- and 40-byte messages
 *   pl_hmac_batch_32  pl_hmac_batch() on batches of 4096 32-byte messages,
 *                     with the kernel pl_hmac_batch would choose (sha256mb.h)
 *   update_final_32   the previous path (state copy + SHA256_Update/Final)
 *   evp_q_mac_32      one-shot EVP_Q_mac (what a naive caller pays)
 * then, for every multi-buffer SHA-256 kernel this CPU runs ("scalar",
 * "avx2", "avx512"; see sha256mb.h):
 *   <kernel>.sha256_block_mb   blocks per second through its compression
 *                              (lanes blocks per call)
 *   <kernel>.pl_hmac_batch_32  pl_hmac_batch() on 32- and 40-byte messages
 *   <kernel>.pl_hmac_batch_40  (batches of 4096) with that kernel
 * and "sha256_kernel <name>", the kernel a run uses on this machine.
 * Each figure is the best of 3 timed runs of about 0.3 s.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "crypto/hmac.h"
#include "crypto/sha256mb.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile uint8_t sink;
static pl_hmac_key K;
static uint8_t msgs[4096 * 40], outs[4096 * 32];

typedef void (*work_fn)(size_t n);

static void w_block(size_t n)
{
    SHA256_CTX c;
    SHA256_Init(&c);
    uint8_t blk[64] = {1};
    for (size_t i = 0; i < n; i++) {
        blk[0] = (uint8_t)i;
        SHA256_Transform(&c, blk);
    }
    sink = (uint8_t)c.h[0];
}

static void w_hmac(size_t n, size_t len)
{
    uint8_t out[32];
    for (size_t i = 0; i < n; i++) {
        msgs[0] = (uint8_t)i;
        pl_hmac(&K, msgs, len, out);
    }
    sink = out[0];
}
static void w_hmac32(size_t n) { w_hmac(n, 32); }
static void w_hmac40(size_t n) { w_hmac(n, 40); }

static void w_batch(size_t n, size_t len)
{
    for (size_t i = 0; i < n; i += 4096) {
        size_t m = n - i < 4096 ? n - i : 4096;
        msgs[0] = (uint8_t)i;
        pl_hmac_batch(&K, msgs, len, len, m, outs, 32, 32);
    }
    sink = outs[0];
}
static void w_batch32(size_t n) { w_batch(n, 32); }
static void w_batch40(size_t n) { w_batch(n, 40); }

/* Blocks through the active kernel's compression, `lanes` per call. */
static void w_block_mb(size_t n)
{
    const pl_sha256mb *mb = pl_sha256mb_active();
    uint32_t st[8 * PL_MB_LANES_MAX] = {1};
    for (size_t i = 0; i < n; i += mb->lanes) {
        msgs[0] = (uint8_t)i;
        mb->compress(st, msgs, 64);
    }
    sink = (uint8_t)st[0];
}

static void w_update(size_t n)
{
    uint8_t inner[32], out[32];
    for (size_t i = 0; i < n; i++) {
        msgs[0] = (uint8_t)i;
        SHA256_CTX c = K.inner;
        SHA256_Update(&c, msgs, 32);
        SHA256_Final(inner, &c);
        c = K.outer;
        SHA256_Update(&c, inner, 32);
        SHA256_Final(out, &c);
    }
    sink = out[0];
}

static void w_evp(size_t n)
{
    static const uint8_t key[32] = {7};
    uint8_t out[32];
    size_t ol = 0;
    for (size_t i = 0; i < n; i++) {
        msgs[0] = (uint8_t)i;
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, msgs, 32, out,
                  32, &ol);
    }
    sink = out[0];
}

/* Calls per second: calibrate to ~0.3 s, best of 3. */
static double rate(work_fn f)
{
    size_t n = 1000;
    double t;
    for (;;) {
        double t0 = now();
        f(n);
        t = now() - t0;
        if (t > 0.05)
            break;
        n *= 4;
    }
    n = (size_t)(n * 0.3 / t) + 1;
    double best = 0;
    for (int k = 0; k < 3; k++) {
        double t0 = now();
        f(n);
        double r = n / (now() - t0);
        if (r > best)
            best = r;
    }
    return best;
}

int main(void)
{
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 37 + 1);
    for (size_t i = 0; i < sizeof msgs; i++)
        msgs[i] = (uint8_t)(i * 11);
    pl_hmac_init(&K, key, sizeof key);
    double blk = rate(w_block);
    printf("sha256_block %.0f\n", blk);
    printf("hmac_floor %.0f\n", blk / 2);
    printf("pl_hmac_32 %.0f\n", rate(w_hmac32));
    printf("pl_hmac_40 %.0f\n", rate(w_hmac40));
    printf("pl_hmac_batch_32 %.0f\n", rate(w_batch32));
    printf("update_final_32 %.0f\n", rate(w_update));
    printf("evp_q_mac_32 %.0f\n", rate(w_evp));
    printf("sha256_kernel %s\n", pl_sha256mb_active()->name);
    static const char *const kernels[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (pl_sha256mb_use(kernels[i]) != 0)
            continue;
        printf("%s.sha256_block_mb %.0f\n", kernels[i], rate(w_block_mb));
        printf("%s.pl_hmac_batch_32 %.0f\n", kernels[i], rate(w_batch32));
        printf("%s.pl_hmac_batch_40 %.0f\n", kernels[i], rate(w_batch40));
    }
    pl_hmac_key_wipe(&K);
    return 0;
}
