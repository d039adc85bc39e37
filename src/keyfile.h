/* keyfile.h — 32-byte secret keys stored as 64 hex characters.
 *
 * A key file must be a regular file of mode 0600 or stricter (like ssh, we
 * refuse a key readable by group or others), containing exactly 64 hex
 * digits and an optional trailing newline. Key bytes never appear in a
 * message.
 */
#ifndef PL_KEYFILE_H
#define PL_KEYFILE_H

#include <stdint.h>

#define PL_KEY_BYTES 32

/* Read `path` into key[32]. `what` names the role in messages
 * ("producer key"). Returns 0, or -1 after printing a message (unless quiet). */
int pl_key_load(const char *path, const char *what, uint8_t key[PL_KEY_BYTES],
                int quiet);

/* Value of one hex digit (either case), -1 for any other character. */
int pl_hexval(int c);

/* Write a fresh random key to `path` (must not exist), mode 0600. */
int pl_key_generate(const char *path);

#endif
