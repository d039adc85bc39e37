/* version.c — see version.h. */
#include "base/version.h"

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif
#ifndef PL_GIT_COMMIT
#define PL_GIT_COMMIT "unknown"
#endif

const char *pl_version(void) { return PL_VERSION; }
const char *pl_git_commit(void) { return PL_GIT_COMMIT; }
