/* produce.h — `pseudolink produce PRODUCER_JOB.yaml --signing-key PEM
 * [--signing-passphrase-file FILE] [--out DIR] [--audit FILE]`, run by a
 * data producer on its own machines, with or without mpirun
 * (docs/PRODUCER.md). Writes the delivery's packages and reject report
 * into <output>/ as one set (par/generation.h), audited in
 * <output>/audit.log. Exit status 0 success, 1 error (nothing published),
 * 2 usage. */
#ifndef PL_CMD_PRODUCE_H
#define PL_CMD_PRODUCE_H

int pl_produce_main(int argc, char **argv);

#endif
