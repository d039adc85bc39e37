/* keygen.h — `pseudolink keygen` (no MPI):
 *   keygen FILE [--audit LOG]
 *       a new 32-byte secret key (producer, platform, project), 64 hex
 *       digits, mode 0600; with --audit, a hash-chained audit line that
 *       carries its fingerprint (never the key)
 *   keygen --custodian NAME [--dir DIR] [--passphrase-file FILE] [--bits N]
 *       a custodian's RSA pair: DIR/NAME.key.pem (encrypted, 0600) and
 *       DIR/NAME.pub.pem (crypto/custody.h)
 */
#ifndef PL_CMD_KEYGEN_H
#define PL_CMD_KEYGEN_H

/* argv after "keygen"; returns the exit status. */
int pl_keygen_main(int argc, char **argv);

#endif
