/* test_sha256mb.c — the multi-buffer SHA-256 kernels (sha256mb.h) and the
 * batch HMAC built on them, for every kernel this CPU runs (the others are
 * reported as skipped):
 *   - FIPS 180-4 vectors ("abc", the 448-bit two-block message) in one lane
 *     while the other lanes hash other blocks, every lane against OpenSSL's
 *     SHA256_Transform;
 *   - pl_hmac_batch against OpenSSL's HMAC() for message lengths 0..56 and
 *     a long one, batch sizes around the lane counts, strides equal to and
 *     larger than len, outputs of 16, 32 and 7 bytes with gaps, short,
 *     64-byte and longer-than-a-block keys; bytes outside the outputs stay
 *     untouched and the last message may end right before an unmapped page.
 * `test_sha256mb --active` prints the kernel in use (tests/e2e/sha256mb.sh
 * checks the PSEUDOLINK_SHA256 override with it).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "crypto/hmac.h"
#include "crypto/sha256mb.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const PATHS[] = {"scalar", "avx2", "avx512"};

static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                               0xa54ff53a, 0x510e527f, 0x9b05688c,
                               0x1f83d9ab, 0x5be0cd19};

static void hex_words(const uint32_t *st, size_t lanes, size_t lane,
                      char out[65])
{
    for (int i = 0; i < 8; i++)
        sprintf(out + 8 * i, "%08x", st[i * lanes + lane]);
}

/* FIPS 180-4 examples through m->compress: lane 1 hashes "abc" (one block),
 * lane 0 the two blocks of "abcdbcdecdef...nopq"; the other lanes hash
 * random blocks. Every lane must also equal SHA256_Transform. */
static void test_vectors(const pl_sha256mb *m)
{
    size_t L = m->lanes;
    uint8_t blk[2][PL_MB_LANES_MAX * 64];
    uint32_t st[8 * PL_MB_LANES_MAX];
    RAND_bytes(blk[0], sizeof blk[0]);
    RAND_bytes(blk[1], sizeof blk[1]);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    memset(blk[0], 0, 64);
    memset(blk[1], 0, 64);
    memcpy(blk[0], two, 56);            /* 448 bits: the length goes in */
    blk[0][56] = 0x80;                  /* a second block */
    blk[1][62] = 0x01;                  /* length 448 = 0x01c0 */
    blk[1][63] = 0xc0;
    if (L > 1) {
        memset(blk[0] + 64, 0, 64);
        memcpy(blk[0] + 64, "abc", 3);
        blk[0][64 + 3] = 0x80;
        blk[0][64 + 63] = 24;
    }
    for (int i = 0; i < 8; i++)
        for (size_t j = 0; j < L; j++)
            st[i * L + j] = IV[i];
    SHA256_CTX ref[PL_MB_LANES_MAX];
    for (size_t j = 0; j < L; j++) {
        SHA256_Init(&ref[j]);
        SHA256_Transform(&ref[j], blk[0] + 64 * j);
    }
    m->compress(st, blk[0], 64);
    char h[65];
    if (L > 1) {
        hex_words(st, L, 1, h);
        CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223"
                        "b00361a396177a9cb410ff61f20015ad") == 0,
              "%s: FIPS 180-4 \"abc\" in lane 1 of %zu", m->name, L);
    }
    for (size_t j = 0; j < L; j++)
        SHA256_Transform(&ref[j], blk[1] + 64 * j);
    m->compress(st, blk[1], 64);
    hex_words(st, L, 0, h);
    CHECK(strcmp(h, "248d6a61d20638b8e5c026930c3e6039"
                    "a33ce45964ff2167f6ecedd419db06c1") == 0,
          "%s: FIPS 180-4 two-block message in lane 0", m->name);
    int same = 1;
    for (size_t j = 0; j < L; j++)
        for (int i = 0; i < 8; i++)
            same &= st[i * L + j] == ref[j].h[i];
    CHECK(same, "%s: every lane equals SHA256_Transform", m->name);
    /* Blocks at a stride other than 64 (the records of a batch). */
    uint8_t wide[PL_MB_LANES_MAX * 80];
    RAND_bytes(wide, sizeof wide);
    for (int i = 0; i < 8; i++)
        for (size_t j = 0; j < L; j++)
            st[i * L + j] = IV[i];
    m->compress(st, wide, 80);
    same = 1;
    for (size_t j = 0; j < L; j++) {
        SHA256_Init(&ref[0]);
        SHA256_Transform(&ref[0], wide + 80 * j);
        for (int i = 0; i < 8; i++)
            same &= st[i * L + j] == ref[0].h[i];
    }
    CHECK(same, "%s: blocks 80 bytes apart", m->name);
}

enum { MAXN = 1000, MAXLEN = 100 };
static const size_t SIZES[] = {0, 1, 7, 8, 15, 16, 17, 33, MAXN};
static const size_t LENS_LONG[] = {56, 64, MAXLEN};

/* Messages [MAXN][stride] placed so that the last one ends exactly before
 * an unmapped page: reading one byte past it faults. */
typedef struct {
    uint8_t *map, *msgs;
    size_t maplen;
} guarded;

static int guarded_alloc(guarded *g, size_t bytes)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t data = (bytes + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
    g->maplen = data + (size_t)pg;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    if (mprotect(g->map + data, (size_t)pg, PROT_NONE) != 0)
        return -1;
    g->msgs = g->map + data - bytes;
    return 0;
}

/* One (key, len, stride) case on every kernel; references from HMAC(). */
static int hmac_case(const uint8_t *key, size_t klen, size_t len,
                     size_t stride, const pl_sha256mb *const *ms, size_t nm)
{
    static uint8_t ref[MAXN][32];
    static const size_t OUTS[][2] = {{32, 32}, {16, 16}, {16, 40}, {7, 9}};
    guarded g;
    /* The last message is `len` bytes, not `stride`. */
    size_t bytes = (MAXN - 1) * stride + len;
    if (guarded_alloc(&g, bytes ? bytes : 1) != 0)
        return 0;
    RAND_bytes(g.msgs, (int)bytes);
    for (size_t i = 0; i < MAXN; i++) {
        unsigned ol = 0;
        HMAC(EVP_sha256(), key, (int)klen, g.msgs + i * stride, len, ref[i],
             &ol);
    }
    pl_hmac_key k;
    pl_hmac_init(&k, key, klen);
    int same = 1;
    static uint8_t out[MAXN * 40 + 64];
    for (size_t mi = 0; mi < nm; mi++) {
        pl_sha256mb_use(ms[mi]->name);
        for (size_t si = 0; si < sizeof SIZES / sizeof *SIZES; si++) {
            size_t n = SIZES[si];
            for (size_t oi = 0; oi < sizeof OUTS / sizeof *OUTS; oi++) {
                size_t outlen = OUTS[oi][0], ostride = OUTS[oi][1];
                memset(out, 0xa5, n * ostride + 64);
                pl_hmac_batch(&k, g.msgs, len, stride, n, out, outlen,
                              ostride);
                for (size_t i = 0; i < n; i++) {
                    same &= memcmp(out + i * ostride, ref[i], outlen) == 0;
                    for (size_t b = outlen; b < ostride; b++)
                        same &= out[i * ostride + b] == 0xa5;
                }
                /* After the last tag (a 32-byte store would show here). */
                size_t end = n ? (n - 1) * ostride + outlen : 0;
                for (size_t b = end; b < end + 64; b++)
                    same &= out[b] == 0xa5;
            }
        }
    }
    pl_hmac_key_wipe(&k);
    munmap(g.map, g.maplen);
    return same;
}

static void test_hmac(const pl_sha256mb *const *ms, size_t nm,
                      const char *names)
{
    uint8_t keys[3][100];
    static const size_t klens[3] = {5, 64, 100};
    static const char *kname[3] = {"5-byte", "64-byte", "100-byte"};
    RAND_bytes(keys[0], sizeof keys);
    const char *qe = getenv("PL_TEST_QUICK");
    int quick = qe && *qe && strcmp(qe, "0") != 0;
    for (int ki = 0; ki < 3; ki++) {
        int same = 1;
        for (size_t len = 0; len <= 55; len++) {
            /* PL_TEST_QUICK (the sanitized run, tests/e2e/sanitize.sh):
             * the lengths at the block and padding edges only; the plain
             * build runs every length. */
            if (quick && !(len <= 1 || len == 23 || len == 24 ||
                           len == 25 || len == 31 || len == 32 || len == 55))
                continue;
            same &= hmac_case(keys[ki], klens[ki], len, len, ms, nm);
            same &= hmac_case(keys[ki], klens[ki], len, len + 13, ms, nm);
        }
        CHECK(same, "%s: pl_hmac_batch equals HMAC() for lengths %s, "
              "stride len and len+13, batch sizes 0..1000, outlen 32/16/7, "
              "%s key", names,
              quick ? "0,1,23,24,25,31,32,55 (PL_TEST_QUICK)" : "0..55",
              kname[ki]);
    }
    int same = 1;
    for (size_t i = 0; i < sizeof LENS_LONG / sizeof *LENS_LONG; i++)
        same &= hmac_case(keys[1], 32, LENS_LONG[i], LENS_LONG[i] + 3, ms,
                          nm);
    CHECK(same, "%s: pl_hmac_batch equals HMAC() for lengths 56, 64, 100 "
          "(general path)", names);
    /* The job's own shapes: stage-1 messages in 32-byte records with
     * 32-byte p1 out, p1 -> 16-byte pid. */
    same = hmac_case(keys[0], 32, 24, 32, ms, nm) &&
           hmac_case(keys[0], 32, 25, 32, ms, nm) &&
           hmac_case(keys[0], 32, 32, 32, ms, nm);
    CHECK(same, "%s: stage-1 (24/25 bytes, stride 32) and stage-2 (32 "
          "bytes) shapes", names);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--active") == 0) {
        printf("%s\n", pl_sha256mb_active()->name);
        return 0;
    }
    const pl_sha256mb *ms[3];
    size_t nm = 0;
    char names[64] = "";
    for (size_t i = 0; i < 3; i++) {
        const pl_sha256mb *m = pl_sha256mb_find(PATHS[i]);
        if (!m) {
            printf("ok - %s kernel # skip: not runnable here (CPU or build)\n",
                   PATHS[i]);
            continue;
        }
        CHECK(strcmp(m->name, PATHS[i]) == 0 &&
                  (m->lanes == 1 || m->hmac != NULL),
              "%s kernel available, %zu lanes", m->name, m->lanes);
        ms[nm++] = m;
        strcat(names, nm > 1 ? "/" : "");
        strcat(names, m->name);
        test_vectors(m);
    }
    CHECK(pl_sha256mb_find("sse9") == NULL && pl_sha256mb_use("sse9") == -1,
          "unknown kernel name refused");
    test_hmac(ms, nm, names);
    return unit_done();
}
