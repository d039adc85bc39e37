/* synth_pprl.h — `synth --linkage --linkage-secret FILE`: the store's
 * names encoded as a producer would (crypto/bloom.h, docs/PPRL.md), for
 * tests and benches of linkage on encodings (docs/LINKAGE.md, "Encoded
 * fields"). After the store is written, last_name, first_name and
 * birth_name of /sources/persons and /sources/registry become one CLK
 * column `clk` (clk = 1: 1024 bits, k = 20 per field, bigrams, padded, no
 * salt, no hardening) or one column bf_<field> each (clk = 0: 512 bits,
 * k = 20), 2-D uint8 (rows, bytes) with the `encoding` attribute
 * (docs/PACKAGE.md 3.1 lines), and the clear name columns are removed.
 * The registry may be encoded with another secret (a producer with
 * mismatched parameters, for the refusal tests). Not collective. Returns
 * 0, or -1 after a message (names the file and the key file, never a
 * value or key byte).
 */
#ifndef PL_SYNTH_PPRL_H
#define PL_SYNTH_PPRL_H

int pl_synth_pprl_encode(const char *store, const char *secret_persons,
                         const char *secret_registry, int clk);

#endif
