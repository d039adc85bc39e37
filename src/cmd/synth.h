/* synth.h — synthetic store generator (`pseudolink synth`).
 *
 * Writes a store in the input format (docs/FORMATS.md) with known ground
 * truth under /truth, deterministic for a given seed.
 */
#ifndef PL_SYNTH_H
#define PL_SYNTH_H

#include <stdint.h>

typedef struct {
    uint64_t persons;           /* --persons N */
    int      sources;           /* --sources K (1..8) */
    uint64_t seed;              /* --seed S */
    double   invalid;           /* --invalid F: share of rows with a bad identity (default 0.02) */
    const char *output;         /* -o FILE */
    const char *producer_key;   /* --producer-key FILE: enables p1 sources */
    int      twins;             /* --twins: 10% twins, and the sources
                                 * visits_norank, claims, registry */
} pl_synth_opts;

int pl_synth(const pl_synth_opts *o);

/* Subcommand entry: parses argv (after "synth"), returns exit status. */
int pl_synth_main(int argc, char **argv);

#endif
