/* sha256mb_avx2.c — the 8-lane kernel of sha256mb.h (AVX2).
 *
 * Same structure as sha256mb_avx512.c with 256-bit vectors. AVX2 has no
 * vector rotate, no three-input logic and no byte-masked load, so:
 * rotations are two shifts and an OR, Ch and Maj take three and four
 * operations, and the messages are copied into pre-padded 64-byte blocks on
 * the stack (wiped on return) before the 8x8 transposes.
 */
#include "crypto/sha256mb.h"

#if PL_MB_X86
#include <immintrin.h>
#include <openssl/crypto.h>
#include <string.h>

#define TGT __attribute__((target("avx2")))
#define INL static inline __attribute__((always_inline)) TGT

typedef __m256i v8;

static const uint32_t K[64] = PL_SHA256_K_INIT;

#define ADD(x, y) _mm256_add_epi32((x), (y))
#define XOR(x, y) _mm256_xor_si256((x), (y))
#define AND(x, y) _mm256_and_si256((x), (y))
#define OR(x, y) _mm256_or_si256((x), (y))
#define SHR(x, n) _mm256_srli_epi32((x), (n))
#define ROR(x, n) OR(_mm256_srli_epi32((x), (n)), _mm256_slli_epi32((x), 32 - (n)))
#define CH(e, f, g) XOR(AND(XOR(f, g), e), g)
#define MAJ(a, b, c) OR(AND(a, b), AND(c, OR(a, b)))
#define BSIG0(x) XOR(XOR(ROR(x, 2), ROR(x, 13)), ROR(x, 22))
#define BSIG1(x) XOR(XOR(ROR(x, 6), ROR(x, 11)), ROR(x, 25))
#define SSIG0(x) XOR(XOR(ROR(x, 7), ROR(x, 18)), SHR(x, 3))
#define SSIG1(x) XOR(XOR(ROR(x, 17), ROR(x, 19)), SHR(x, 10))
#define KW(i) ADD(w[(i) & 15], _mm256_set1_epi32((int)K[i]))

#define RND(a, b, c, d, e, f, g, h, i)                                       \
    do {                                                                     \
        v8 t1_ = ADD(ADD(h, BSIG1(e)), ADD(CH(e, f, g), KW(i)));             \
        d = ADD(d, t1_);                                                     \
        h = ADD(ADD(t1_, BSIG0(a)), MAJ(a, b, c));                           \
    } while (0)
#define SCHED(i)                                                             \
    (w[(i) & 15] = ADD(ADD(w[(i) & 15], SSIG0(w[((i) + 1) & 15])),            \
                       ADD(w[((i) + 9) & 15], SSIG1(w[((i) + 14) & 15]))))
#define RNDS(a, b, c, d, e, f, g, h, i)                                      \
    do {                                                                     \
        SCHED(i);                                                            \
        RND(a, b, c, d, e, f, g, h, i);                                      \
    } while (0)
#define R8(R, i)                                                             \
    R(a, b, c, d, e, f, g, h, (i));                                          \
    R(h, a, b, c, d, e, f, g, (i) + 1);                                      \
    R(g, h, a, b, c, d, e, f, (i) + 2);                                      \
    R(f, g, h, a, b, c, d, e, (i) + 3);                                      \
    R(e, f, g, h, a, b, c, d, (i) + 4);                                      \
    R(d, e, f, g, h, a, b, c, (i) + 5);                                      \
    R(c, d, e, f, g, h, a, b, (i) + 6);                                      \
    R(b, c, d, e, f, g, h, a, (i) + 7)

INL void compress8(v8 *s, v8 *w)
{
    v8 a = s[0], b = s[1], c = s[2], d = s[3];
    v8 e = s[4], f = s[5], g = s[6], h = s[7];
    R8(RND, 0);
    R8(RND, 8);
    R8(RNDS, 16);
    R8(RNDS, 24);
    R8(RNDS, 32);
    R8(RNDS, 40);
    R8(RNDS, 48);
    R8(RNDS, 56);
    s[0] = ADD(s[0], a);
    s[1] = ADD(s[1], b);
    s[2] = ADD(s[2], c);
    s[3] = ADD(s[3], d);
    s[4] = ADD(s[4], e);
    s[5] = ADD(s[5], f);
    s[6] = ADD(s[6], g);
    s[7] = ADD(s[7], h);
}

/* 8x8 transpose of 32-bit words: r[j] word m -> r[m] word j. */
INL void transpose8(v8 *r)
{
    v8 t[8], u[8];
#pragma GCC unroll 2
    for (int g = 0; g < 8; g += 4) {
        t[g] = _mm256_unpacklo_epi32(r[g], r[g + 1]);
        t[g + 1] = _mm256_unpackhi_epi32(r[g], r[g + 1]);
        t[g + 2] = _mm256_unpacklo_epi32(r[g + 2], r[g + 3]);
        t[g + 3] = _mm256_unpackhi_epi32(r[g + 2], r[g + 3]);
        u[g] = _mm256_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm256_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm256_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm256_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    /* u[4g+k], 128-bit half H = word 4H+k of rows 4g..4g+3. */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        r[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

INL v8 bswap_mask(void)
{
    return _mm256_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                            0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
}

/* w[16] = big-endian words of the 8 blocks at blk, 64 bytes apart. */
INL void load8(v8 *w, const uint8_t *blk, size_t stride, v8 bs)
{
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        w[j] = _mm256_loadu_si256((const void *)(blk + j * stride));
        w[8 + j] = _mm256_loadu_si256((const void *)(blk + j * stride + 32));
    }
    transpose8(w);
    transpose8(w + 8);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        w[i] = _mm256_shuffle_epi8(w[i], bs);
}

static TGT void compress(uint32_t *state, const uint8_t *blocks,
                         size_t stride)
{
    v8 s[8], w[16];
    #pragma GCC unroll 16
    for (int i = 0; i < 8; i++)
        s[i] = _mm256_loadu_si256((const void *)(state + 8 * i));
    load8(w, blocks, stride, bswap_mask());
    compress8(s, w);
    #pragma GCC unroll 16
    for (int i = 0; i < 8; i++)
        _mm256_storeu_si256((void *)(state + 8 * i), s[i]);
}

/* Digests s[8] -> first outlen bytes of each lane's big-endian digest. */
INL void store_tags(v8 *s, uint8_t *out, size_t outlen, size_t ostride,
                    v8 bs)
{
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        s[i] = _mm256_shuffle_epi8(s[i], bs);
    transpose8(s);
    if (outlen == 32) {
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++)
            _mm256_storeu_si256((void *)(out + j * ostride), s[j]);
    } else if (outlen == 16) {
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++)
            _mm_storeu_si128((void *)(out + j * ostride),
                             _mm256_castsi256_si128(s[j]));
    } else {
        uint8_t tmp[32];
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) {
            _mm256_storeu_si256((void *)tmp, s[j]);
            memcpy(out + j * ostride, tmp, outlen);
        }
        OPENSSL_cleanse(tmp, sizeof tmp);
    }
}

static TGT void hmac(const uint32_t inner[8], const uint32_t outer[8],
                     const uint8_t *msgs, size_t len, size_t stride, size_t n,
                     uint8_t *out, size_t outlen, size_t ostride)
{
    /* Eight padded blocks; only the message bytes change per group. */
    uint8_t blk[8 * 64];
    pl_sha256mb_pad(blk, len);
    #pragma GCC unroll 16
    for (int j = 1; j < 8; j++)
        memcpy(blk + 64 * j, blk, 64);
    const v8 bs = bswap_mask();
    for (size_t g = 0; g < n; g += 8) {
        v8 s[8], w[16];
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++)
            memcpy(blk + 64 * j, msgs + (g + j) * stride, len);
        #pragma GCC unroll 16
        for (int i = 0; i < 8; i++)
            s[i] = _mm256_set1_epi32((int)inner[i]);
        load8(w, blk, 64, bs);
        compress8(s, w);
        #pragma GCC unroll 16
        for (int i = 0; i < 8; i++)
            w[i] = s[i];
        w[8] = _mm256_set1_epi32((int)0x80000000u);
        #pragma GCC unroll 16
        for (int i = 9; i < 15; i++)
            w[i] = _mm256_setzero_si256();
        w[15] = _mm256_set1_epi32((64 + 32) * 8);
        #pragma GCC unroll 16
        for (int i = 0; i < 8; i++)
            s[i] = _mm256_set1_epi32((int)outer[i]);
        compress8(s, w);
        store_tags(s, out + g * ostride, outlen, ostride, bs);
    }
    OPENSSL_cleanse(blk, sizeof blk);
}

const pl_sha256mb pl_sha256mb_avx2 = {"avx2", 8, compress, hmac};

#endif
