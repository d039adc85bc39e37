/* reveal.h — custodians' subcommands (no MPI):
 *
 *   reveal --corr FILE --key PEM [--key PEM]... [--passphrase-file FILE]...
 *          [--audit FILE] PID...
 *       prints "PID P1HEX" per pid found, once the keys cover `threshold`
 *       distinct roles; appends an audit record first
 *   rewrap --corr FILE --key PEM... [--passphrase-file FILE]...
 *          --custody NEW.yaml [--out FILE] [--audit FILE]
 *       re-wraps the data key to the custodians of NEW.yaml (its `custody`
 *       section); the shards are copied unchanged
 *
 * The audit log is JSON Lines, one record per reveal/rewrap; by default
 * <directory of FILE>/audit.jsonl.
 */
#ifndef PL_REVEAL_H
#define PL_REVEAL_H

int pl_reveal_main(int argc, char **argv);
int pl_rewrap_main(int argc, char **argv);

#endif
