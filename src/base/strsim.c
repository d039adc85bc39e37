/* strsim.c — see strsim.h. */
#include "base/strsim.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>  /* x86-64 baseline: no run-time dispatch */
#endif

/* ---- the one name normalisation (strsim.h; docs/PPRL.md 1.2) ---- */

/* U+00C0..U+00FF folded to lowercase ASCII ("" = removed: multiplication
 * and division signs). */
static const char *const latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
    "i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", "",
    "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
    "i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", "",
    "o", "u", "u", "u", "u", "y", "th", "y"};

/* U+0100..U+017F (Latin Extended-A): the base letter of the canonical
 * decomposition, so that a precomposed (NFC) letter folds as its
 * decomposed (NFD) form does; letters without a decomposition by their
 * look (Đ d, Ħ h, ı i, Ĳ ij, ĸ k, Ŀ Ł l, ŉ Ŋ n, Œ oe, Ŧ t, ſ s). */
static const char *const latin_ext_a[128] = {
    "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
    "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
    "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
    "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
    "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
    "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
    "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s"};

size_t pl_utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t l;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        l = 2, min = 0x80, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        l = 3, min = 0x800, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        l = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n < l)
        return 0;
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return l;
}

enum { K_TEXT, K_SEP, K_DROP, K_OTHER };

/* The class of one code point and, for K_TEXT, its lowercase fold. */
static int classify(unsigned cp, const char **rep, char one[2])
{
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') {
            one[0] = (char)(cp - 'A' + 'a');
            *rep = one;
            return K_TEXT;
        }
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
            one[0] = (char)cp;
            *rep = one;
            return K_TEXT;
        }
        return cp == ' ' || cp == '-' || cp == '\'' || cp == '.' ||
               cp == '_' || cp == '\t' ? K_SEP : K_DROP;
    }
    if (cp < 0xA0)                      /* C1 controls */
        return K_DROP;
    if (cp == 0xA0 || cp == 0x2BC || cp == 0x2018 || cp == 0x2019 ||
        (cp >= 0x2010 && cp <= 0x2015))
        return K_SEP;
    if (cp >= 0xC0 && cp <= 0xFF)
        *rep = latin1[cp - 0xC0];
    else if (cp >= 0x100 && cp <= 0x17F)
        *rep = latin_ext_a[cp - 0x100];
    else if (cp >= 0x218 && cp <= 0x21B)        /* Romanian S, T comma */
        *rep = cp < 0x21A ? "s" : "t";
    else if (cp >= 0x300 && cp <= 0x36F)        /* combining marks (NFD) */
        return K_DROP;
    else
        return K_OTHER;
    return **rep ? K_TEXT : K_DROP;
}

long pl_norm_text(const char *in, size_t len, char *out, size_t cap,
                  unsigned flags)
{
    const unsigned char *s = (const unsigned char *)in;
    int clear = (flags & PL_NORM_CLEAR) != 0;
    size_t o = 0;
    int space = 0;              /* a separator is pending (clear) */
    if (cap == 0)
        return clear ? 0 : -1;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t l = pl_utf8_next(s + i, len - i, &cp);
        if (!l) {
            if (!clear) {
                memset(out, 0, o);
                return -1;
            }
            i++;                /* an invalid byte is dropped */
            continue;
        }
        if (clear && cp == 0)
            break;              /* a NUL ends a fixed-length field */
        const char *rep = NULL;
        char one[2] = {0, 0};
        int k = classify(cp, &rep, one);
        if (k == K_SEP)
            space = 1;
        if (k == K_SEP || k == K_DROP || (k == K_OTHER && clear)) {
            i += l;
            continue;
        }
        size_t rl = k == K_OTHER ? l : rep == one ? 1 : strlen(rep);
        if (space && o > 0 && clear) {
            if (o + 1 + rl > cap - 1)
                break;
            out[o++] = ' ';
        }
        space = 0;
        if (o + rl > cap - 1) {
            if (clear)
                break;          /* truncated at a character boundary */
            memset(out, 0, o);
            return -1;
        }
        if (k == K_OTHER)
            memcpy(out + o, s + i, l);
        else
            for (size_t j = 0; j < rl; j++)
                out[o + j] = clear && rep[j] >= 'a' && rep[j] <= 'z'
                                 ? (char)(rep[j] - 32) : rep[j];
        o += rl;
        i += l;
    }
    out[o] = '\0';
    return (long)o;
}

size_t pl_name_norm(const char *in, size_t inlen, char *out, size_t cap)
{
    long n = pl_norm_text(in, inlen, out, cap, PL_NORM_CLEAR);
    return n > 0 ? (size_t)n : 0;
}

/* Jaro–Winkler from the matched positions: ma (bits of a), mb (bits of
 * b), m of them. */
static double jw_finish(const char *a, size_t la, const char *b, size_t lb,
                        uint64_t ma, uint64_t mb, size_t m)
{
    if (m == 0)
        return 0.0;
    size_t t = 0;
    for (uint64_t x = ma, y = mb; x; x &= x - 1, y &= y - 1)
        t += a[__builtin_ctzll(x)] != b[__builtin_ctzll(y)];
    double md = (double)m;
    double jaro = (md / (double)la + md / (double)lb +
                   (md - (double)t / 2.0) / md) / 3.0;
    size_t p = 0;
    while (p < 4 && p < la && p < lb && a[p] == b[p])
        p++;
    return jaro + (double)p * 0.1 * (1.0 - jaro);
}

/* b's window of a[i]: the positions a[i] may match (bits of b). */
static inline uint64_t jw_window(size_t i, size_t win, uint64_t all)
{
    size_t lo = i > win ? i - win : 0, hi = i + win + 1;
    return (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1) & all;
}

#if defined(__SSE2__)
/* b of at most 32 bytes in b0, b1 (bytes past lb masked off by `all`):
 * a[i]'s positions in b are two byte compares and their masks, no table.
 * a[i] takes the first free position of b in its window (the lowest set
 * bit), as the character-by-character scan does. */
static double jw_sse2(const char *a, size_t la, const char *b, size_t lb,
                      __m128i b0, __m128i b1)
{
    const unsigned char *ua = (const unsigned char *)a;
    size_t win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    uint64_t all = (1ull << lb) - 1;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        __m128i ch = _mm_set1_epi8((char)ua[i]);
        uint64_t pos =
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(ch, b0)) |
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(ch, b1))
                << 16;
        uint64_t cand = pos & ~mb & jw_window(i, win, all);
        if (cand) {
            mb |= cand & -cand;
            ma |= 1ull << i;
            m++;
        }
    }
    return jw_finish(a, la, b, lb, ma, mb, m);
}
#endif

double pl_jaro_winkler(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    if (la > 64)
        la = 64;
    if (lb > 64)
        lb = 64;
#if defined(__SSE2__)
    if (lb <= 32) {             /* every linkage name (PL_FS_STR) */
        unsigned char bb[32] = {0};
        memcpy(bb, b, lb);
        return jw_sse2(a, la, b, lb,
                       _mm_loadu_si128((const __m128i *)(const void *)bb),
                       _mm_loadu_si128((const __m128i *)(const void *)(bb + 16)));
    }
#endif
    size_t win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    /* bit-parallel matching: pos[c] = positions of byte c in b */
    uint64_t pos[256];
    const unsigned char *ua = (const unsigned char *)a,
                        *ub = (const unsigned char *)b;
    for (size_t j = 0; j < lb; j++)
        pos[ub[j]] = 0;
    for (size_t i = 0; i < la; i++)
        pos[ua[i]] = 0;
    for (size_t j = 0; j < lb; j++)
        pos[ub[j]] |= 1ull << j;
    uint64_t all = lb == 64 ? ~0ull : (1ull << lb) - 1;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        uint64_t cand = pos[ua[i]] & ~mb & jw_window(i, win, all);
        if (cand) {
            mb |= cand & -cand;
            ma |= 1ull << i;
            m++;
        }
    }
    return jw_finish(a, la, b, lb, ma, mb, m);
}

int pl_jw_below(const char *a, size_t la, const char *b, size_t lb, double t)
{
    if (la == 0 || lb == 0)
        return 0;               /* JW is 0 or 1: computed, not bounded */
    if (la > 64)                /* as pl_jaro_winkler */
        la = 64;
    if (lb > 64)
        lb = 64;
    const unsigned char *ua = (const unsigned char *)a,
                        *ub = (const unsigned char *)b;
    /* a matched character of a is in b: the characters of a found in b,
     * by 6-bit classes (a coarser class only loosens the bound), bound
     * the matches m (and so does lb) */
    uint64_t sb = 0;
    for (size_t j = 0; j < lb; j++)
        sb |= 1ull << (ub[j] & 63);
    size_t ca = 0;
    for (size_t i = 0; i < la; i++)
        ca += sb >> (ua[i] & 63) & 1;
    size_t m = ca < lb ? ca : lb;
    size_t p = 0;
    while (p < 4 && p < la && p < lb && a[p] == b[p])
        p++;
    /* Jaro <= (m/la + m/lb + 1) / 3 (no transposition), and JW grows
     * with Jaro; a margin far above the rounding of either value */
    double md = (double)m;
    double j = m ? (md / (double)la + md / (double)lb + 1.0) / 3.0 : 0.0;
    return j + (double)p * 0.1 * (1.0 - j) < t - 1e-9;
}

double pl_jaro_winkler32(const char *a, size_t la, const char *b, size_t lb)
{
#if defined(__SSE2__)
    if (la == 0 || lb == 0 || la > 32 || lb > 32)
        return pl_jaro_winkler(a, la, b, lb);
    /* b's 32 bytes as they are: no copy (a copy's byte stores then a
     * 16-byte load stall on store forwarding) */
    return jw_sse2(a, la, b, lb,
                   _mm_loadu_si128((const __m128i *)(const void *)b),
                   _mm_loadu_si128((const __m128i *)(const void *)(b + 16)));
#else
    return pl_jaro_winkler(a, la, b, lb);
#endif
}

int pl_osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { N = 64 };
    if (la > N - 1)
        la = N - 1;
    if (lb > N - 1)
        lb = N - 1;
    int d0[N], d1[N], d2[N];    /* rows i-2, i-1, i */
    int *pp = d0, *p = d1, *c = d2;
    for (size_t j = 0; j <= lb; j++)
        p[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        int *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

static int vowel(char c)
{
    return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U' ||
           c == 'Y';
}

size_t pl_phonetic_fr(const char *in, size_t len, char out[PL_PHON_MAX])
{
    char s[80], t[80];
    size_t n = 0;
    for (size_t i = 0; i < len && in[i] && n < sizeof s - 1; i++)
        if (in[i] >= 'A' && in[i] <= 'Z')
            s[n++] = in[i];
    s[n] = 0;
    /* rewrite into t */
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof t - 3; i++) {
        char c = s[i], nx = i + 1 < n ? s[i + 1] : 0,
             nn = i + 2 < n ? s[i + 2] : 0;
        if (c == 'P' && nx == 'H') { t[k++] = 'F'; i++; continue; }
        if (c == 'Q') { t[k++] = 'K'; if (nx == 'U') i++; continue; }
        if (c == 'C' && nx == 'K') { t[k++] = 'K'; i++; continue; }
        if (c == 'S' && nx == 'C' && nn == 'H') { t[k++] = 'C'; t[k++] = 'H'; i += 2; continue; }
        if (c == 'S' && nx == 'H') { t[k++] = 'C'; t[k++] = 'H'; i++; continue; }
        if (c == 'C' && nx == 'H') { t[k++] = 'C'; t[k++] = 'H'; i++; continue; }
        if (c == 'C') { t[k++] = (nx == 'E' || nx == 'I' || nx == 'Y') ? 'S' : 'K'; continue; }
        if (c == 'G' && nx == 'U' && (nn == 'E' || nn == 'I')) { t[k++] = 'G'; i++; continue; }
        if (c == 'G') { t[k++] = (nx == 'E' || nx == 'I' || nx == 'Y') ? 'J' : 'G'; continue; }
        if (c == 'E' && nx == 'A' && nn == 'U') { t[k++] = 'O'; i += 2; continue; }
        if (c == 'A' && nx == 'U') { t[k++] = 'O'; i++; continue; }
        if (c == 'O' && nx == 'U') { t[k++] = 'U'; i++; continue; }
        if ((c == 'A' || c == 'E') && nx == 'I') { t[k++] = 'E'; i++; continue; }
        if (c == 'H') continue;
        if (c == 'W') { t[k++] = 'V'; continue; }
        if (c == 'Y') { t[k++] = 'I'; continue; }
        if (c == 'Z') { t[k++] = 'S'; continue; }
        if (c == 'X' && i + 1 < n) { t[k++] = 'K'; t[k++] = 'S'; continue; }
        t[k++] = c;
    }
    /* silent endings */
    while (k > 1 && (t[k - 1] == 'E' || t[k - 1] == 'S' || t[k - 1] == 'T' ||
                     t[k - 1] == 'D' || t[k - 1] == 'X'))
        k--;
    size_t o = 0;
    char last = 0;
    for (size_t i = 0; i < k && o < PL_PHON_MAX - 1; i++) {
        char c = t[i];
        if (i > 0 && vowel(c)) {
            last = c;
            continue;
        }
        if (c == last)
            continue;
        out[o++] = c;
        last = c;
    }
    out[o] = 0;
    return o;
}

uint64_t pl_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    h += 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}
