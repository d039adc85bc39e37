/* sha256mb_avx512.c — the 16-lane kernel of sha256mb.h (AVX-512 F/BW/VL).
 *
 * Only these functions carry the AVX-512 target attribute; the rest of the
 * program is built for plain x86-64 and sha256mb.c calls them only when the
 * CPU has the features. Rotations are vprord, the three-input functions
 * (Ch, Maj, the three-way XORs of the sigmas) one vpternlogd each.
 *
 * Message blocks are loaded as 16 rows of 64 bytes (byte-masked loads read
 * exactly the message bytes, the padding is ORed in), transposed to 16
 * word vectors and byte-swapped. The outer HMAC block needs no load: its
 * words are the inner digest, already transposed, and constants. Tags go
 * back through the inverse transpose and byte-masked stores of outlen bytes.
 */
#include "crypto/sha256mb.h"

#if PL_MB_X86
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl")))
#define INL static inline __attribute__((always_inline)) TGT

typedef __m512i v16;

static const uint32_t K[64] = PL_SHA256_K_INIT;

#define ADD(x, y) _mm512_add_epi32((x), (y))
#define ROR(x, n) _mm512_ror_epi32((x), (n))
#define SHR(x, n) _mm512_srli_epi32((x), (n))
#define XOR3(x, y, z) _mm512_ternarylogic_epi32((x), (y), (z), 0x96)
#define CH(e, f, g) _mm512_ternarylogic_epi32((e), (f), (g), 0xCA)
#define MAJ(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0xE8)
#define BSIG0(x) XOR3(ROR(x, 2), ROR(x, 13), ROR(x, 22))
#define BSIG1(x) XOR3(ROR(x, 6), ROR(x, 11), ROR(x, 25))
#define SSIG0(x) XOR3(ROR(x, 7), ROR(x, 18), SHR(x, 3))
#define SSIG1(x) XOR3(ROR(x, 17), ROR(x, 19), SHR(x, 10))
#define KW(i) ADD(w[(i) & 15], _mm512_set1_epi32((int)K[i]))

/* One round; the caller rotates the variable names instead of the values. */
#define RND(a, b, c, d, e, f, g, h, i)                                       \
    do {                                                                     \
        v16 t1_ = ADD(ADD(h, BSIG1(e)), ADD(CH(e, f, g), KW(i)));            \
        d = ADD(d, t1_);                                                     \
        h = ADD(ADD(t1_, BSIG0(a)), MAJ(a, b, c));                           \
    } while (0)
/* W[i] in place of W[i-16] in the 16-word ring. */
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

/* s[8] += compression of w[16] (both transposed); w is consumed. */
INL void compress16(v16 *s, v16 *w)
{
    v16 a = s[0], b = s[1], c = s[2], d = s[3];
    v16 e = s[4], f = s[5], g = s[6], h = s[7];
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

/* 16x16 transpose of 32-bit words: r[j] word m -> r[m] word j. The first two
 * steps transpose 4x4 blocks inside each 128-bit lane; the last two move the
 * 128-bit lanes. */
INL void transpose16(v16 *r)
{
    v16 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* Now r[4g+k], 128-bit lane L = word 4L+k of rows 4g..4g+3. */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        v16 x = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x88);
        v16 y = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xDD);
        v16 x2 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x88);
        v16 y2 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xDD);
        t[k] = _mm512_shuffle_i32x4(x, x2, 0x88);
        t[4 + k] = _mm512_shuffle_i32x4(y, y2, 0x88);
        t[8 + k] = _mm512_shuffle_i32x4(x, x2, 0xDD);
        t[12 + k] = _mm512_shuffle_i32x4(y, y2, 0xDD);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* Byte order inside each 32-bit word reversed (big-endian <-> host). */
INL v16 bswap_mask(void)
{
    return _mm512_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                            0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                            0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                            0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
}

/* w[16] = message words of 16 blocks `stride` apart: the bytes selected by
 * m of each row, ORed with pad, as big-endian words. */
INL void load16(v16 *w, const uint8_t *p, size_t stride, __mmask64 m,
                v16 pad, v16 bs)
{
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        w[j] = _mm512_or_si512(_mm512_maskz_loadu_epi8(m, p + j * stride),
                               pad);
    transpose16(w);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        w[i] = _mm512_shuffle_epi8(w[i], bs);
}

INL void broadcast8(v16 *s, const uint32_t h[8])
{
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_set1_epi32((int)h[i]);
}

/* Digests s[8] (transposed, host order) -> the first bytes (mask om) of
 * each lane's big-endian digest at out + lane * ostride. */
INL void store_tags(v16 *s, uint8_t *out, size_t ostride, __mmask32 om,
                    v16 bs)
{
    v16 t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_shuffle_epi8(s[i], bs);
#pragma GCC unroll 2
    for (int g = 0; g < 8; g += 4) {
        t[g] = _mm512_unpacklo_epi32(s[g], s[g + 1]);
        t[g + 1] = _mm512_unpackhi_epi32(s[g], s[g + 1]);
        t[g + 2] = _mm512_unpacklo_epi32(s[g + 2], s[g + 3]);
        t[g + 3] = _mm512_unpackhi_epi32(s[g + 2], s[g + 3]);
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    /* u[k] lane L = words 0..3 of lane 4L+k, u[4+k] lane L its words 4..7:
     * interleave them into 32-byte rows. */
    const v16 lo = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const v16 hi = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        v16 a = _mm512_permutex2var_epi64(u[k], lo, u[4 + k]);
        v16 b = _mm512_permutex2var_epi64(u[k], hi, u[4 + k]);
        _mm256_mask_storeu_epi8(out + k * ostride, om,
                                _mm512_castsi512_si256(a));
        _mm256_mask_storeu_epi8(out + (4 + k) * ostride, om,
                                _mm512_extracti64x4_epi64(a, 1));
        _mm256_mask_storeu_epi8(out + (8 + k) * ostride, om,
                                _mm512_castsi512_si256(b));
        _mm256_mask_storeu_epi8(out + (12 + k) * ostride, om,
                                _mm512_extracti64x4_epi64(b, 1));
    }
}

static TGT void compress(uint32_t *state, const uint8_t *blocks,
                         size_t stride)
{
    v16 s[8], w[16];
    #pragma GCC unroll 16
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_loadu_si512(state + 16 * i);
    load16(w, blocks, stride, ~(__mmask64)0, _mm512_setzero_si512(),
           bswap_mask());
    compress16(s, w);
    #pragma GCC unroll 16
    for (int i = 0; i < 8; i++)
        _mm512_storeu_si512(state + 16 * i, s[i]);
}

static TGT void hmac(const uint32_t inner[8], const uint32_t outer[8],
                     const uint8_t *msgs, size_t len, size_t stride, size_t n,
                     uint8_t *out, size_t outlen, size_t ostride)
{
    uint8_t padb[64];
    pl_sha256mb_pad(padb, len);
    const v16 pad = _mm512_loadu_si512(padb);
    const v16 bs = bswap_mask();
    const __mmask64 m = ((__mmask64)1 << len) - 1;      /* len <= 55 */
    const __mmask32 om = outlen >= 32 ? ~(__mmask32)0
                                      : ((__mmask32)1 << outlen) - 1;
    for (size_t g = 0; g < n; g += 16) {
        v16 s[8], w[16];
        broadcast8(s, inner);
        load16(w, msgs + g * stride, stride, m, pad, bs);
        compress16(s, w);
        /* Outer block: inner digest || 0x80 || zeros || 768 bits. */
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            w[i] = s[i];
        w[8] = _mm512_set1_epi32((int)0x80000000u);
#pragma GCC unroll 6
        for (int i = 9; i < 15; i++)
            w[i] = _mm512_setzero_si512();
        w[15] = _mm512_set1_epi32((64 + 32) * 8);
        broadcast8(s, outer);
        compress16(s, w);
        store_tags(s, out + g * ostride, ostride, om, bs);
    }
}

const pl_sha256mb pl_sha256mb_avx512 = {"avx512", 16, compress, hmac};

#endif
