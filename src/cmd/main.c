/* main.c — pseudolink: parse the subcommand and dispatch. */
#include "cmd/keygen.h"
#include "base/log.h"
#include "base/secure.h"
#include "cmd/reveal.h"
#include "cmd/plan.h"
#include "cmd/produce.h"
#include "cmd/run.h"
#include "cmd/synth.h"
#include "cmd/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: pseudolink COMMAND [ARGS]\n"
            "\n"
            "  run JOB.yaml [--store FILE] [--out DIR]   the MPI job (under mpirun/srun)\n"
            "  produce PRODUCER_JOB.yaml --signing-key PEM [--signing-passphrase-file F]\n"
            "        [--out DIR]                         producer: stage 1, signed encrypted packages\n"
            "  synth --persons N --sources K --seed S [--invalid F]\n"
            "        [--producer-key FILE] -o FILE       write a synthetic store\n"
            "  plan --profile NAME [-o FILE] JOB.yaml    size a Slurm job, write its sbatch script\n"
            "  keygen FILE [--audit LOG]                 write a new 32-byte key (mode 0600)\n"
            "  keygen --custodian NAME [--dir DIR] [--passphrase-file F]\n"
            "                                            custodian RSA key pair\n"
            "  keygen --signing NAME | --transport NAME [--dir DIR] [--passphrase-file F]\n"
            "                                            producer Ed25519 / platform X25519 pair\n"
            "  reveal --corr FILE --key PEM... PID...    p1 of pids (threshold roles)\n"
            "  rewrap --corr FILE --key PEM... --custody NEW.yaml [--out FILE]\n"
            "                                            re-wrap the correspondence key\n"
            "  verify --audit LOG [OUTDIR]               check the audit chain and outputs\n"
            "  digest [--leaf BYTES] FILE...             Merkle digest (parallel under mpirun)\n"
            "\n"
            "See README.md and docs/FORMATS.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* Every command may read a key or a record: no core dumps, before
     * anything is read (base/secure.h, docs/RELIABILITY.md). A process that
     * is not dumpable cannot be read by its MPI peers through CMA
     * (process_vm_readv needs ptrace rights), so Open MPI's shared-memory
     * transport must copy through its buffers instead. */
    if (strcmp(cmd, "help") != 0 && strcmp(cmd, "--help") != 0 &&
        strcmp(cmd, "-h") != 0) {
        if (pl_no_core_dumps(cmd) < 0)
            return 1;
        setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    }
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
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        help(stdout);
        return 0;
    }
    char shown[PL_LOG_LINE];
    pl_log_escape(cmd, shown, sizeof shown);    /* no raw control bytes */
    fprintf(stderr, "pseudolink: unknown command '%s'\n", shown);
    help(stderr);
    return 2;
}
