/* strsim.h — string normalisation and similarity for record linkage.
 *
 * Pure functions, no allocation, no MPI; none can fail except by the
 * documented return values. Strings are byte arrays with a length (no NUL
 * needed); the similarity functions expect the output of pl_name_norm
 * (upper-case ASCII letters, digits and single spaces).
 *
 *  - pl_norm_text: THE name normalisation, one rule for the clear-field
 *    linkage and for the keyed Bloom-filter encodings (docs/PPRL.md 1.2 is
 *    its byte-level specification, docs/LINKAGE.md refers to it). Per
 *    code point: ASCII letters case-folded, digits kept; Latin letters of
 *    U+00C0..U+017F and U+0218..U+021B folded to ASCII, the base letter of
 *    their decomposition (E acute -> e, C caron -> c, L stroke -> l,
 *    AE -> ae, sharp s -> ss, OE -> oe, S comma -> s), combining marks
 *    U+0300..U+036F dropped, so NFC and NFD input agree; separators:
 *    space, tab, hyphen, apostrophe, dot, underscore, U+00A0,
 *    U+2010..U+2015, U+2018, U+2019, U+02BC; every other ASCII character,
 *    C1 control, U+00D7 and U+00F7 dropped; any other code point (other
 *    scripts) is "other". Two modes of output:
 *      PL_NORM_PPRL (0): lowercase, separators removed, other code points
 *        kept as their UTF-8 bytes, invalid UTF-8 refused (-1);
 *      PL_NORM_CLEAR: uppercase ASCII, a run of separators is one space
 *        (none leading or trailing), other code points and invalid bytes
 *        dropped, stops at a NUL, truncated at a character boundary.
 *  - pl_name_norm: pl_norm_text in PL_NORM_CLEAR mode (what the
 *    similarity functions below expect).
 *  - pl_jaro_winkler: Jaro–Winkler similarity in [0, 1] (prefix scale 0.1,
 *    prefix of at most 4), e.g. MARTHA/MARHTA 0.961; pl_jaro_winkler32
 *    the same on 32-byte readable buffers (no copy).
 *  - pl_osa_distance: Damerau–Levenshtein distance in its *optimal string
 *    alignment* form (restricted edit distance: insert, delete, substitute,
 *    transpose two adjacent characters; no substring edited twice), so
 *    CA/ABC is 3 (true DL would give 2).
 *  - pl_phonetic_fr: a French phonetic key of at most PL_PHON_MAX-1
 *    characters, in the spirit of Phonex/Soundex-FR (our own rule set,
 *    documented in docs/LINKAGE.md, not the published Phonex algorithm):
 *    PH->F, QU/Q/CK/C(hard)->K, C(E,I,Y)->S, GU(E,I)->G, G(E,I)->J,
 *    SCH/SH->CH, W->V, Y->I, X->KS inside, Z->S, EAU/AU->O, OU->U, AI/EI->E,
 *    H dropped unless in CH, silent final E/S/T/D/X dropped, then every
 *    vowel after the first letter dropped and repeated letters collapsed.
 *    DUPONT, DUPOND and DUPOND T share a key; MARTIN and MARTAIN too.
 */
#ifndef PL_STRSIM_H
#define PL_STRSIM_H

#include <stddef.h>
#include <stdint.h>

#define PL_PHON_MAX 12

enum { PL_NORM_PPRL = 0, PL_NORM_CLEAR = 1 };
/* Normalise `in` (len bytes) into `out` (at most cap-1 bytes, NUL-
 * terminated) in mode `flags` (above). Returns the output length; -1 in
 * PL_NORM_PPRL mode on invalid UTF-8 or when the result does not fit
 * (never longer than the input: cap >= len + 1 always fits), with out
 * wiped, nothing printed. */
/* One UTF-8 code point of s (n bytes, n >= 1; RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF) into *cp: its length, or 0 when invalid. */
size_t pl_utf8_next(const unsigned char *s, size_t n, unsigned *cp);
long pl_norm_text(const char *in, size_t len, char *out, size_t cap,
                  unsigned flags);
/* Normalise `in` (inlen bytes, stops at a NUL) into `out` (at most cap-1
 * bytes, NUL-terminated): pl_norm_text(PL_NORM_CLEAR). Returns the output
 * length; longer results are truncated at a character boundary. */
size_t pl_name_norm(const char *in, size_t inlen, char *out, size_t cap);

double pl_jaro_winkler(const char *a, size_t la, const char *b, size_t lb);
/* The same value, bit for bit, for a and b that are each readable for 32
 * bytes (a linkage name slot, stage/fellegi.h): bytes past la and lb are
 * ignored, b is not copied. */
double pl_jaro_winkler32(const char *a, size_t la, const char *b, size_t lb);
/* 1 when pl_jaro_winkler(a, la, b, lb) is surely below t, from a bound
 * (the characters each has of the other's) far cheaper than the value;
 * 0 when it may reach t. Most pairs of unrelated names are settled so. */
int pl_jw_below(const char *a, size_t la, const char *b, size_t lb, double t);

/* OSA distance; strings longer than 63 bytes are compared on their first
 * 63 bytes. */
int pl_osa_distance(const char *a, size_t la, const char *b, size_t lb);

/* Phonetic key of a normalised string into out[PL_PHON_MAX] (NUL-
 * terminated); returns its length (0 for a string without letters). */
size_t pl_phonetic_fr(const char *in, size_t len, char out[PL_PHON_MAX]);

/* 64-bit hash of bytes (FNV-1a then a splitmix64 finaliser), seeded. */
uint64_t pl_hash64(const void *p, size_t n, uint64_t seed);

#endif
