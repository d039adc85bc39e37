/* version.h — what this binary is: its version and the git commit it was
 * built from (the Makefile passes both to version.c with -D; "unknown"
 * when built outside a git checkout, e.g. from a release tarball). */
#ifndef PL_BASE_VERSION_H
#define PL_BASE_VERSION_H

const char *pl_version(void);           /* "0.9.0" */
const char *pl_git_commit(void);        /* "1a2b3c4d5e6f", "...-dirty",
                                         * or "unknown" */

#endif
