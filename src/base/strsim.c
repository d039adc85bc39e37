/* strsim.c — see strsim.h. */
#include "base/strsim.h"

#include <string.h>

/* U+00C0..U+00FF folded to ASCII ("" = dropped: multiplication and
 * division signs). */
static const char *const latin1[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E",
    "I", "I", "I", "I", "D", "N", "O", "O", "O", "O", "O", "",
    "O", "U", "U", "U", "U", "Y", "TH", "SS",
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E",
    "I", "I", "I", "I", "D", "N", "O", "O", "O", "O", "O", "",
    "O", "U", "U", "U", "U", "Y", "TH", "Y"};

/* U+0100..U+017F (Latin Extended-A) folded to ASCII: the base letter of
 * the canonical decomposition, so that a precomposed (NFC) letter folds as
 * its decomposed (NFD) form does; letters without a decomposition by their
 * look (Đ D, Ħ H, ı I, Ĳ IJ, ĸ K, Ŀ Ł L, ŉ Ŋ N, Œ OE, Ŧ T, ſ S). */
static const char *const latin_ext_a[128] = {
    "A", "A", "A", "A", "A", "A", "C", "C", "C", "C", "C", "C", "C", "C", "D", "D",
    "D", "D", "E", "E", "E", "E", "E", "E", "E", "E", "E", "E", "G", "G", "G", "G",
    "G", "G", "G", "G", "H", "H", "H", "H", "I", "I", "I", "I", "I", "I", "I", "I",
    "I", "I", "IJ", "IJ", "J", "J", "K", "K", "K", "L", "L", "L", "L", "L", "L", "L",
    "L", "L", "L", "N", "N", "N", "N", "N", "N", "N", "N", "N", "O", "O", "O", "O",
    "O", "O", "OE", "OE", "R", "R", "R", "R", "R", "R", "S", "S", "S", "S", "S", "S",
    "S", "S", "T", "T", "T", "T", "T", "T", "U", "U", "U", "U", "U", "U", "U", "U",
    "U", "U", "U", "U", "W", "W", "Y", "Y", "Y", "Z", "Z", "Z", "Z", "Z", "Z", "S"};

size_t pl_name_norm(const char *in, size_t inlen, char *out, size_t cap)
{
    size_t o = 0;
    int space = 0;              /* a separator is pending */
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < inlen && in[i]; i++) {
        unsigned char c = (unsigned char)in[i];
        const char *rep = NULL;
        char one[2] = {0, 0};
        if (c >= 'a' && c <= 'z') {
            one[0] = (char)(c - 32);
            rep = one;
        } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            one[0] = (char)c;
            rep = one;
        } else if (c == ' ' || c == '-' || c == '\'' || c == '.' ||
                   c == '_' || c == '\t') {
            space = 1;
            continue;
        } else if (c == 0xC3 && i + 1 < inlen &&
                   ((unsigned char)in[i + 1] & 0xC0) == 0x80) {
            rep = latin1[(unsigned char)in[i + 1] - 0x80];
            i++;
        } else if ((c == 0xC4 || c == 0xC5) && i + 1 < inlen &&
                   ((unsigned char)in[i + 1] & 0xC0) == 0x80) {
            rep = latin_ext_a[(c & 1) << 6 |
                              ((unsigned char)in[i + 1] & 0x3F)];
            i++;
        } else if (c == 0xC8 && i + 1 < inlen &&
                   (unsigned char)in[i + 1] >= 0x98 &&
                   (unsigned char)in[i + 1] <= 0x9B) {
            rep = (unsigned char)in[i + 1] < 0x9A ? "S" : "T";
            i++;                /* U+0218..U+021B: Romanian S, T comma */
        } else if (c == 0xC2 && i + 1 < inlen &&
                   (unsigned char)in[i + 1] == 0xA0) {
            i++;                /* U+00A0 no-break space */
            space = 1;
            continue;
        } else if (c == 0xE2 && i + 2 < inlen &&
                   (unsigned char)in[i + 1] == 0x80 &&
                   (((unsigned char)in[i + 2] >= 0x90 &&
                     (unsigned char)in[i + 2] <= 0x94) ||
                    (unsigned char)in[i + 2] == 0x98 ||
                    (unsigned char)in[i + 2] == 0x99)) {
            /* U+2010..U+2014 hyphens and dashes, U+2018/U+2019 quotes */
            i += 2;
            space = 1;
            continue;
        } else {
            /* another byte: skip a whole UTF-8 sequence */
            if (c >= 0xC0)
                while (i + 1 < inlen &&
                       ((unsigned char)in[i + 1] & 0xC0) == 0x80)
                    i++;
            continue;
        }
        size_t rl = rep == one ? 1 : strlen(rep);
        if (rl == 0)
            continue;
        if (space && o > 0) {
            if (o + 1 + rl > cap - 1)
                break;
            out[o++] = ' ';
        }
        space = 0;
        if (o + rl > cap - 1)
            break;
        memcpy(out + o, rep, rl);
        o += rl;
    }
    out[o] = '\0';
    return o;
}

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
    size_t win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0, hi = i + win + 1 < lb ? i + win + 1 : lb;
        for (size_t j = lo; j < hi; j++)
            if (!(mb >> j & 1) && a[i] == b[j]) {
                ma |= 1ull << i;
                mb |= 1ull << j;
                m++;
                break;
            }
    }
    if (m == 0)
        return 0.0;
    size_t t = 0, j = 0;
    for (size_t i = 0; i < la; i++)
        if (ma >> i & 1) {
            while (!(mb >> j & 1))
                j++;
            if (a[i] != b[j])
                t++;
            j++;
        }
    double md = (double)m;
    double jaro = (md / (double)la + md / (double)lb +
                   (md - (double)t / 2.0) / md) / 3.0;
    size_t p = 0;
    while (p < 4 && p < la && p < lb && a[p] == b[p])
        p++;
    return jaro + (double)p * 0.1 * (1.0 - jaro);
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
