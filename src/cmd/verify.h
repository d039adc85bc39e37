/* verify.h — subcommands around the audit log (docs/AUDIT.md):
 *   pseudolink verify --audit LOG [OUTDIR]
 *       checks every line's "prev" against the SHA-256 of the line before
 *       and that each line is a JSON object; then, for the last successful
 *       line of each output file, recomputes its Merkle digest (in OUTDIR
 *       by its name when OUTDIR is given, else at its recorded path) and
 *       compares. Names the first broken line or every changed file; exit 0
 *       only when everything matches.
 *   pseudolink digest [--leaf BYTES] FILE...
 *       prints the Merkle digest (digest.h) of each file; parallel under
 *       mpirun.
 */
#ifndef PL_VERIFY_H
#define PL_VERIFY_H

int pl_verify_main(int argc, char **argv);
int pl_digest_main(int argc, char **argv);

#endif
