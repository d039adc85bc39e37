/* main.c — pseudolink: parse the subcommand and dispatch. */
#include "cmd/keygen.h"
#include "cmd/export.h"
#include "base/log.h"
#include "base/secure.h"
#include "cmd/reveal.h"
#include "cmd/plan.h"
#include "cmd/produce.h"
#include "cmd/run.h"
#include "cmd/synth.h"
#include "cmd/usage.h"
#include "cmd/verify.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The end of --help or --version: 0, or 1 when stdout could not take the
 * text (a full disk, /dev/full): an answer that was lost is not a success
 * (a closed pipe still ends the process with SIGPIPE, silently, as usual). */
static int stdout_done(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return PL_EXIT_OK;
    fprintf(stderr, "pseudolink: error: cannot write to standard output: "
            "%s\n", strerror(errno));
    return PL_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        pl_help_print(stderr, NULL);
        return PL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    /* --help, -h and --version: on stdout, exit 0, without MPI_Init (no
     * mpirun needed), before anything is read (cmd/usage.h). */
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        pl_version_print(stdout);
        return stdout_done();
    }
    if (strcmp(cmd, "--help-all") == 0) {      /* for help2man */
        pl_help_all(stdout);
        return stdout_done();
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        const char *what = argc > 2 ? argv[2] : NULL;
        if (pl_help_print(stdout, what) == 0)
            return stdout_done();
        cmd = what;             /* help NOSUCH: unknown command below */
    } else if (pl_help_asked(argc - 1, argv + 1) &&
               pl_help_print(stdout, cmd) == 0) {
        return stdout_done();
    } else {
        /* Every command may read a key or a record: no core dumps, before
         * anything is read (base/secure.h, docs/RELIABILITY.md). A process
         * that is not dumpable cannot be read by its MPI peers through CMA
         * (process_vm_readv needs ptrace rights), so Open MPI's shared-
         * memory transport must copy through its buffers instead. */
        if (pl_no_core_dumps(cmd) < 0)
            return PL_EXIT_ERROR;
        /* A closed stdout (`| head`, a watcher gone) is a write error each
         * command handles (a run goes on, publishes all or nothing and
         * records itself in the audit log; reveal and export say "cannot
         * write" and exit 1), not a death by SIGPIPE that would leave a
         * run unrecorded with its temporary directory behind. */
        signal(SIGPIPE, SIG_IGN);
        setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
        if (strcmp(cmd, "run") == 0)
            return pl_run_main(argc - 1, argv + 1);
        if (strcmp(cmd, "produce") == 0)
            return pl_produce_main(argc - 1, argv + 1);
        if (strcmp(cmd, "synth") == 0)
            return pl_synth_main(argc - 1, argv + 1);
        if (strcmp(cmd, "reveal") == 0)
            return pl_reveal_main(argc - 1, argv + 1);
        if (strcmp(cmd, "rewrap") == 0)
            return pl_rewrap_main(argc - 1, argv + 1);
        if (strcmp(cmd, "plan") == 0)
            return pl_plan_main(argc - 1, argv + 1);
        if (strcmp(cmd, "verify") == 0)
            return pl_verify_main(argc - 1, argv + 1);
        if (strcmp(cmd, "digest") == 0)
            return pl_digest_main(argc - 1, argv + 1);
        if (strcmp(cmd, "keygen") == 0)
            return pl_keygen_main(argc - 1, argv + 1);
        if (strcmp(cmd, "export") == 0)
            return pl_export_main(argc - 1, argv + 1);
    }
    char shown[PL_LOG_LINE];
    pl_log_escape(cmd, shown, sizeof shown);    /* no raw control bytes */
    fprintf(stderr, "pseudolink: unknown command '%s'\n", shown);
    pl_help_print(stderr, NULL);
    return PL_EXIT_USAGE;
}
