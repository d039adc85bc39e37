/* run.h — `pseudolink run JOB.yaml [--store FILE] [--out DIR]
 * [--prev-key PEM [--prev-passphrase-file FILE]]... [--audit FILE]`, the
 * MPI job. The driver: it initialises and finalises MPI, calls the stages
 * (stage/) in data order, publishes and prints the summary. Exit status 0
 * success, 1 error (nothing published), 2 usage, 3 an extract refused by
 * its risk policy (docs/EXTRACTS.md).
 */
#ifndef PL_CMD_RUN_H
#define PL_CMD_RUN_H

int pl_run_main(int argc, char **argv);

#endif
