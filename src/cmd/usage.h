/* usage.h — the command line's own documentation: every subcommand's
 * --help text, the exit statuses, --version. One table in usage.c; the
 * man page (help2man, `make man`) and docs/CLI.md are made from the same
 * text (tests/e2e/cli.sh checks docs/CLI.md against it).
 *
 * Nothing here needs MPI_Init, HDF5 or a key: `pseudolink CMD --help` and
 * `pseudolink --version` work without mpirun. A new subcommand adds one
 * entry to the table in usage.c.
 */
#ifndef PL_CMD_USAGE_H
#define PL_CMD_USAGE_H

#include <stdio.h>

/* Exit statuses of every subcommand (docs/CLI.md). */
enum { PL_EXIT_OK = 0, PL_EXIT_ERROR = 1, PL_EXIT_USAGE = 2,
       PL_EXIT_REFUSED = 3 };

/* One short line: "success", "error: nothing was published", ... */
const char *pl_exit_meaning(int status);

/* argv[1..argc-1] holds --help or -h. */
int pl_help_asked(int argc, char **argv);

/* The --help text of subcommand `cmd` on f (usage line, what it does,
 * options, one example, exit statuses); 0, or -1 for an unknown command
 * (nothing printed). NULL: the overview of every command. */
int pl_help_print(FILE *f, const char *cmd);

/* The overview, then every subcommand's text (for help2man). */
void pl_help_all(FILE *f);

/* Version, git commit, the libraries' versions (Open MPI, HDF5, OpenSSL,
 * libyaml) as linked at run time. */
void pl_version_print(FILE *f);

#endif
