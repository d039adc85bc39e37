/* reveal.h — custodians' subcommands (no MPI):
 *
 *   reveal --corr FILE --key PEM [--key PEM]... [--passphrase-file FILE]...
 *          --reason TEXT [--pids FILE|-] [--format tsv|json] [--audit FILE]
 *          [PID...]
 *       prints the p1 of each distinct pid found (TSV "pid\tp1" with a
 *       header, or JSON Lines), once the keys cover `threshold` distinct
 *       roles; pids not found are named on stderr (exit 1); appends an
 *       audit record first (no record, no answer); exit 2 on a usage error
 *       (no --reason, or one that is not a line of printable UTF-8,
 *       included: that refusal is audited too)
 *   rewrap --corr FILE --key PEM... [--passphrase-file FILE]...
 *          --custody NEW.yaml [--out FILE] [--audit FILE]
 *       re-wraps the data key to the custodians of NEW.yaml (its `custody`
 *       section); the shards are copied unchanged
 *
 * The audit log is the output directory's hash-chained log (crypto/
 * audit.h), by default <output directory of FILE>/audit.log; one record
 * per attempt, refusals included (docs/CORRESPONDENCE.md, docs/AUDIT.md).
 * Both return the process exit status.
 */
#ifndef PL_REVEAL_H
#define PL_REVEAL_H

int pl_reveal_main(int argc, char **argv);
int pl_rewrap_main(int argc, char **argv);

#endif
