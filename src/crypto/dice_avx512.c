/* dice_avx512.c — the AVX-512 VPOPCNTDQ kernel of dice.h.
 *
 * Only these functions carry the target attribute; dice.c calls them only
 * when the CPU has avx512f and avx512vpopcntdq. vpopcntq counts the bits
 * of 8 words at once. For 1024-bit filters (16 words) the query stays in
 * two registers; 8 candidates are counted into 8 vectors of 8 partial
 * counts, which one transposing add tree (unpack, shuffle_i64x2) turns into
 * one vector of the 8 totals, instead of 8 separate horizontal sums.
 * Other widths: 8-word chunks, the last one with a masked load.
 */
#include "crypto/dice.h"

#if defined(__x86_64__) && !defined(PL_NO_SIMD)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512vpopcntdq")))
#define INL static inline __attribute__((always_inline)) TGT

/* out[0..7] = the lane sums of v[0..7]. */
INL void sum8(const __m512i v[8], uint32_t *out)
{
    __m512i t[4], u[2];
    for (int i = 0; i < 4; i++)
        t[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi64(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        u[i] = _mm512_add_epi64(
            _mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0x88),
            _mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0xDD));
    __m512i w = _mm512_add_epi64(_mm512_shuffle_i64x2(u[0], u[1], 0x88),
                                 _mm512_shuffle_i64x2(u[0], u[1], 0xDD));
    _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi64_epi32(w));
}

/* Bits of q and c (q == NULL: of c) over nwords, any width. */
INL uint32_t count_one(const uint64_t *q, const uint64_t *c, size_t nwords)
{
    __m512i acc = _mm512_setzero_si512();
    size_t w = 0;
    for (; w + 8 <= nwords; w += 8) {
        __m512i x = _mm512_loadu_si512(c + w);
        if (q)
            x = _mm512_and_si512(x, _mm512_loadu_si512(q + w));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
    }
    if (w < nwords) {
        __mmask8 m = (__mmask8)((1u << (nwords - w)) - 1);
        __m512i x = _mm512_maskz_loadu_epi64(m, c + w);
        if (q)
            x = _mm512_and_si512(x, _mm512_maskz_loadu_epi64(m, q + w));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
    }
    return (uint32_t)_mm512_reduce_add_epi64(acc);
}

TGT static void avx512_and_count(const uint64_t *q, const uint64_t *c,
                                 size_t nwords, size_t stride, size_t n,
                                 uint32_t *out)
{
    size_t i = 0;
    if (nwords == 16) {
        __m512i q0 = _mm512_loadu_si512(q), q1 = _mm512_loadu_si512(q + 8);
        for (; i + 8 <= n; i += 8, c += 8 * stride) {
            __m512i v[8];
            for (int j = 0; j < 8; j++) {
                const uint64_t *cj = c + j * stride;
                __m512i a = _mm512_and_si512(q0, _mm512_loadu_si512(cj));
                __m512i b = _mm512_and_si512(q1, _mm512_loadu_si512(cj + 8));
                v[j] = _mm512_add_epi64(_mm512_popcnt_epi64(a),
                                        _mm512_popcnt_epi64(b));
            }
            sum8(v, out + i);
        }
    }
    for (; i < n; i++, c += stride)
        out[i] = count_one(q, c, nwords);
}

TGT static void avx512_count(const uint64_t *c, size_t nwords, size_t stride,
                             size_t n, uint32_t *out)
{
    size_t i = 0;
    if (nwords == 16) {
        for (; i + 8 <= n; i += 8, c += 8 * stride) {
            __m512i v[8];
            for (int j = 0; j < 8; j++) {
                const uint64_t *cj = c + j * stride;
                v[j] = _mm512_add_epi64(
                    _mm512_popcnt_epi64(_mm512_loadu_si512(cj)),
                    _mm512_popcnt_epi64(_mm512_loadu_si512(cj + 8)));
            }
            sum8(v, out + i);
        }
    }
    for (; i < n; i++, c += stride)
        out[i] = count_one(NULL, c, nwords);
}

const pl_dice_kernel pl_dice_avx512 = {"avx512", avx512_count,
                                       avx512_and_count};
#endif
