/* synth_fs.h — `pseudolink synth --linkage`: a store for probabilistic
 * linkage (docs/LINKAGE.md): persons with an identity (p1) and matching
 * fields, and a source without NIR whose rows are noisy copies of them.
 *
 * Names are built from generated syllable tables with Zipf-like
 * frequencies (no real person, no real name list). Error model, per row
 * of the source to link (rates scale with --errors, default 1.0):
 *   last name: typo 6 % (insert, delete, substitute or transpose),
 *   phonetic variant 4 % (O/AU/EAU, F/PH, I/Y, K/C/QU, final T/D), married
 *   name 40 % of women (the birth name stays), missing 2 %;
 *   first name: typo 4 %, missing 2 %; birth name: typo 2 %, missing 8 %;
 *   birth date: day and month swapped 2 %, another day 2 %, missing 1 %;
 *   sex missing 1 %; commune: moved 10 %, missing 3 %; lower case 30 %.
 * 10 % of the rows are persons absent from the persons source.
 * Truth: /truth/<source>/person for both sources (person index).
 */
#ifndef PL_SYNTH_FS_H
#define PL_SYNTH_FS_H

/* argv[0] is "--linkage"; returns the exit status. */
int pl_synth_fs_main(int argc, char **argv);

#endif
