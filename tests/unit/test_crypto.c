/* test_crypto.c — HMAC-SHA256 (RFC 4231 vectors, and against OpenSSL's own
 * HMAC on random inputs), the stage-1 message layout, keyed pids, the
 * owner partition and the row blocks. */
#include "par/exchange.h"
#include "crypto/hmac.h"
#include "stage/pseudonym.h"
#include "stage/store.h"
#include "unit.h"
#include "par/mpi.h"
#include "base/hex.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int rfc(const uint8_t *key, size_t klen, const uint8_t *msg,
               size_t mlen, const char *expect)
{
    pl_hmac_key k;
    uint8_t out[32];
    char h[65];
    pl_hmac_init(&k, key, klen);
    pl_hmac(&k, msg, mlen, out);
    pl_hmac_key_wipe(&k);
    hex(out, 32, h);
    return strcmp(h, expect) == 0;
}

static void test_rfc4231(void)
{
    uint8_t k[131], d[50];
    memset(k, 0x0b, 20);
    CHECK(rfc(k, 20, (const uint8_t *)"Hi There", 8,
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
          "RFC 4231 test case 1");
    CHECK(rfc((const uint8_t *)"Jefe", 4,
              (const uint8_t *)"what do ya want for nothing?", 28,
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
          "RFC 4231 test case 2");
    memset(k, 0xaa, 20);
    memset(d, 0xdd, 50);
    CHECK(rfc(k, 20, d, 50,
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
          "RFC 4231 test case 3");
    for (int i = 0; i < 25; i++)
        k[i] = (uint8_t)(i + 1);
    memset(d, 0xcd, 50);
    CHECK(rfc(k, 25, d, 50,
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
          "RFC 4231 test case 4");
    memset(k, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK(rfc(k, 131, (const uint8_t *)m6, strlen(m6),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
          "RFC 4231 test case 6 (key longer than a block)");
    const char *m7 = "This is a test using a larger than block-size key and a "
                     "larger than block-size data. The key needs to be hashed "
                     "before being used by the HMAC algorithm.";
    CHECK(rfc(k, 131, (const uint8_t *)m7, strlen(m7),
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
          "RFC 4231 test case 7 (long key and data)");
}

static void test_against_openssl(void)
{
    int same = 1;
    for (int t = 0; t < 2000; t++) {
        uint8_t key[32], msg[100], a[32], b[32];
        unsigned blen = 0;
        size_t mlen = (size_t)(t % 100);
        RAND_bytes(key, sizeof key);
        RAND_bytes(msg, sizeof msg);
        pl_hmac_key k;
        pl_hmac_init(&k, key, sizeof key);
        pl_hmac(&k, msg, mlen, a);
        HMAC(EVP_sha256(), key, sizeof key, msg, mlen, b, &blen);
        same &= blen == 32 && memcmp(a, b, 32) == 0;
        uint8_t batch[3 * 32], out[3 * 16];
        memcpy(batch, msg, 32);
        memcpy(batch + 32, msg + 32, 32);
        memcpy(batch + 64, msg + 64, 32);
        pl_hmac_batch(&k, batch, 32, 32, 3, out, 16, 16);
        HMAC(EVP_sha256(), key, sizeof key, msg + 32, 32, b, &blen);
        same &= memcmp(out + 16, b, 16) == 0;
        pl_hmac_key_wipe(&k);
    }
    CHECK(same, "pl_hmac and pl_hmac_batch equal OpenSSL HMAC() on 2000 random inputs");
}

/* Every message length 0..100 (the two-compression path up to 55 bytes,
 * the general path above, and the 55/56 boundary), full and truncated
 * outputs, strided batches: all equal OpenSSL's HMAC(). */
static void test_batch_lengths(void)
{
    enum { N = 7, STRIDE = 104, OSTRIDE = 40 };
    uint8_t key[45], msgs[N * STRIDE], out[N * OSTRIDE], ref[32];
    int same = 1;
    RAND_bytes(key, sizeof key);
    pl_hmac_key k;
    pl_hmac_init(&k, key, sizeof key);
    for (size_t len = 0; len <= 100; len++) {
        RAND_bytes(msgs, sizeof msgs);
        for (size_t outlen = 16; outlen <= 32; outlen += 16) {
            pl_hmac_batch(&k, msgs, len, STRIDE, N, out, outlen, OSTRIDE);
            for (size_t i = 0; i < N; i++) {
                unsigned blen = 0;
                HMAC(EVP_sha256(), key, sizeof key, msgs + i * STRIDE, len,
                     ref, &blen);
                same &= memcmp(out + i * OSTRIDE, ref, outlen) == 0;
            }
        }
    }
    pl_hmac_key_wipe(&k);
    CHECK(same, "pl_hmac_batch equals OpenSSL HMAC() for every length 0..100, "
          "16- and 32-byte outputs, strided");
}

static void test_p1_message(void)
{
    uint8_t m[PL_P1_MSG];
    pl_p1_message(m, "295109912611193", 19951001, 2);
    CHECK(memcmp(m, "295109912611193199510012", 24) == 0,
          "stage-1 message: nir || YYYYMMDD || sex digit, 24 bytes (no rank)");
    pl_p1_message(m, "253072B07300470", 9990101, 1);
    CHECK(memcmp(m + 15, "09990101", 8) == 0,
          "stage-1 date is zero-padded to 8 digits");

    uint8_t key[32], p1[32], ref[32], pid[16];
    unsigned len = 0;
    memset(key, 7, sizeof key);
    pl_hmac_key k;
    pl_hmac_init(&k, key, sizeof key);
    pl_p1_compute(&k, "295109912611193", 19951001, 2, p1);
    pl_p1_message(m, "295109912611193", 19951001, 2);
    HMAC(EVP_sha256(), key, 32, m, 24, ref, &len);
    CHECK(memcmp(p1, ref, 32) == 0, "p1 = HMAC-SHA256(producer key, message)");
    uint8_t lab[PL_KEY_REC];
    memcpy(lab, p1, 32);
    lab[32] = 0;
    pl_pid_keyed(&k, lab, pid);
    HMAC(EVP_sha256(), key, 32, p1, 32, ref, &len);
    CHECK(memcmp(pid, ref, 16) == 0, "keyed pid = first 16 bytes of HMAC(platform key, p1)");
    lab[32] = 2;
    pl_pid_keyed(&k, lab, pid);
    HMAC(EVP_sha256(), key, 32, lab, 33, ref, &len);
    CHECK(memcmp(pid, ref, 16) == 0, "keyed pid of twin rank 2 = HMAC(platform key, p1 || 0x02)[:16]");
    uint8_t labs[3 * PL_KEY_REC], pids3[48], one[16];
    for (int i = 0; i < 3; i++) {
        memcpy(labs + i * PL_KEY_REC, p1, 32);
        labs[i * PL_KEY_REC + 32] = (uint8_t)i;
    }
    pl_pid_keyed_batch(&k, labs, 3, pids3);
    int bs = 1;
    for (int i = 0; i < 3; i++) {
        pl_pid_keyed(&k, labs + i * PL_KEY_REC, one);
        bs &= memcmp(one, pids3 + 16 * i, 16) == 0;
    }
    CHECK(bs, "pl_pid_keyed_batch equals pl_pid_keyed for labels with and without a rank");
    char h[32];
    uint8_t z[16] = {0x01, 0xab, 0xff};
    pl_hex16(z, h);
    CHECK(memcmp(h, "01abff00000000000000000000000000", 32) == 0, "pid hex is lowercase");
    int all = 1;
    for (int b = 0; b < 256; b++) {
        uint8_t q[16];
        char want[40];
        for (int i = 0; i < 16; i++)
            q[i] = (uint8_t)(b + 17 * i);
        for (int i = 0; i < 16; i++)
            snprintf(want + 2 * i, 3, "%02x", q[i]);
        pl_hex16(q, h);
        all &= memcmp(h, want, 32) == 0;
    }
    CHECK(all, "pid hex matches printf %%02x for every byte value in every position");
    pl_hmac_key_wipe(&k);
}

static void test_partition(void)
{
    uint8_t lo[8] = {0}, hi[8], mid[8] = {0x80};
    memset(hi, 0xff, 8);
    CHECK(pl_owner_of(lo, 7) == 0 && pl_owner_of(hi, 7) == 6 &&
          pl_owner_of(mid, 2) == 1 && pl_owner_of(mid, 1) == 0,
          "owner ranges cover 0..size-1 in key order");
    int mono = 1, prev = 0;
    for (unsigned v = 0; v < 65536; v += 7) {
        uint8_t k[8] = {(uint8_t)(v >> 8), (uint8_t)v};
        int o = pl_owner_of(k, 5);
        mono &= o >= prev;
        prev = o;
    }
    CHECK(mono, "owner_of is monotonic (range partition keeps global order)");
    uint64_t f, c, sum = 0, next = 0;
    int contiguous = 1;
    for (int r = 0; r < 7; r++) {
        pl_block(100, r, 7, &f, &c);
        contiguous &= f == next && (c == 14 || c == 15);
        next = f + c;
        sum += c;
    }
    CHECK(contiguous && sum == 100, "row blocks are contiguous and balanced");
    pl_block(2, 3, 4, &f, &c);
    CHECK(c == 0, "a rank may get zero rows");
}

int main(void)
{
    test_rfc4231();
    test_against_openssl();
    test_batch_lengths();
    test_p1_message();
    test_partition();
    return unit_done();
}
