/* usage.c — see usage.h. */
#include "cmd/usage.h"
#include "base/version.h"

#include <hdf5.h>
#include <mpi.h>
#include <openssl/crypto.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    const char *name;
    const char *summary;        /* one line for the overview */
    const char *usage;          /* after "Usage: " (lines after the first
                                 * are indented by the text itself) */
    const char *about;
    const char *options;        /* "  --opt VALUE   what\n" lines */
    const char *example;
} cmd_help;

static const cmd_help CMDS[] = {
    {"run", "the MPI job: pseudonymise, cross-link, publish (mpirun/srun)",
     "pseudolink run JOB.yaml [--store FILE] [--out DIR] [--audit FILE]\n"
     "         [--prev-key PEM [--prev-passphrase-file FILE]]...\n"
     "         [--progress SECONDS]\n"
     "         [--transport-key PEM [--transport-passphrase-file FILE]]",
     "The MPI job (start it with mpirun -np N or srun): read the store,\n"
     "pseudonymise, cross-link, write <out>/linked.h5, the correspondence\n"
     "table and the project extracts, all published at once or not at all.\n"
     "Rank 0 prints a timestamped line when the run starts, when each stage\n"
     "starts, every SECONDS during long stages (rows done of total, rate,\n"
     "ETA), and a summary at the end; errors and warnings carry the same\n"
     "UTC timestamp. SIGUSR1, SIGTERM or SIGINT stop it at the next batch:\n"
     "it says which stage it was in and how far it got, publishes nothing.",
     "  JOB.yaml              the job file (docs/FORMATS.md)\n"
     "  --store FILE          the input store (overrides the job's store:)\n"
     "  --out DIR             the output directory (overrides output:)\n"
     "  --audit FILE          the audit log (default: the job's audit_log:,\n"
     "                        else DIR/audit.log)\n"
     "  --prev-key PEM        incremental run: a custodian's private key to\n"
     "                        open the previous correspondence table (one per\n"
     "                        role up to the threshold)\n"
     "  --prev-passphrase-file FILE\n"
     "                        the passphrase of the --prev-key before it\n"
     "  --progress SECONDS    seconds between progress lines (default 10;\n"
     "                        0 turns them off)\n"
     "  --transport-key PEM   the platform's X25519 private key, to open the\n"
     "                        job's transfer packages (docs/PACKAGE.md);\n"
     "                        read on rank 0 only\n"
     "  --transport-passphrase-file FILE\n"
     "                        its passphrase\n"
     "  -h, --help            this text",
     "mpirun -np 4 pseudolink run jobs/regression.yaml --progress 30"},
    {"produce", "producer: stage 1 on its export, signed encrypted package",
     "pseudolink produce PRODUCER_JOB.yaml --signing-key PEM\n"
     "         [--signing-passphrase-file FILE] [--out DIR] [--audit FILE]\n"
     "         [--linkage-secret FILE]",
     "Run by a data producer on its own machines (alone or under mpirun):\n"
     "validate identities (same checks and reject codes as run), compute p1\n"
     "with the producer key, drop every direct identifier, and write one\n"
     "transfer package per delivery, encrypted for the platform's transport\n"
     "key and signed with the producer's Ed25519 key (docs/PRODUCER.md,\n"
     "docs/PACKAGE.md), plus rejects.csv (row and code, never a value).\n"
     "All outputs are published at once or not at all; audited.",
     "  PRODUCER_JOB.yaml     the producer's job file (docs/PRODUCER.md)\n"
     "  --signing-key PEM     the producer's Ed25519 private key\n"
     "  --signing-passphrase-file FILE\n"
     "                        its passphrase\n"
     "  --out DIR             the output directory (overrides output:)\n"
     "  --audit FILE          the audit log (default DIR/audit.log)\n"
     "  --linkage-secret FILE the linkage secret (keygen FILE) of sources\n"
     "                        with encode: (docs/PRODUCER.md); never in a\n"
     "                        job file\n"
     "  -h, --help            this text",
     "mpirun -np 2 pseudolink produce jobs/producer_cnam.yaml "
     "--signing-key cnam.key.pem --signing-passphrase-file cnam.pass"},
    {"synth", "write a synthetic input store (tests, benchmarks)",
     "pseudolink synth --persons N --sources K --seed S [--invalid F]\n"
     "         [--producer-key FILE] [--twins] -o FILE\n"
     "   or: pseudolink synth --linkage --persons N --records M --seed S\n"
     "         [--errors F] [--dup-rate F] [--same-birth-date F]\n"
     "         [--linkage-secret FILE [--registry-secret FILE] [--per-field]]\n"
     "         [--exports DIR] -o FILE",
     "Write a synthetic input store, with the ground truth under /truth\n"
     "(for tests and benchmarks; no real person is in it).",
     "  --persons N           number of distinct persons (1..1000000000)\n"
     "  --sources K           number of sources, 1..8, taken in order:\n"
     "                        hospital_stays, pharmacy, deaths, consultations,\n"
     "                        labs, imaging, nursing, transport\n"
     "  --seed S              seed (unsigned 64-bit); same seed, same file\n"
     "  --invalid F           share of rows with one identity defect (0..1,\n"
     "                        default 0.02)\n"
     "  --producer-key FILE   pharmacy carries p1 (HMAC with this key)\n"
     "                        instead of the identity columns\n"
     "  --twins               10 % twins, and three more sources:\n"
     "                        visits_norank (no rank), claims (two\n"
     "                        identities), registry (own NIR only), with\n"
     "                        the truth of ambiguity\n"
     "  -o, --output FILE     the store to write (replaced if it exists)\n"
     "  --linkage             a store for probabilistic linkage instead:\n"
     "                        /sources/persons (p1 and matching fields) and\n"
     "                        /sources/registry (no NIR: M noisy copies,\n"
     "                        10 % new persons), truth in /truth\n"
     "  --records M           --linkage: registry records\n"
     "  --errors F            --linkage: multiply the default error rates by\n"
     "                        F (0..5, default 1)\n"
     "  --dup-rate F          --linkage: share of registry rows that are one\n"
     "                        more noisy copy of a recent row's person\n"
     "                        (0..0.9, default 0; linkage.dedup finds them)\n"
     "  --linkage-secret FILE --linkage: names encoded (Bloom filters, CLK\n"
     "                        column clk) with this secret, clear names\n"
     "                        removed (docs/LINKAGE.md)\n"
     "  --registry-secret FILE\n"
     "                        --linkage: the registry's secret (default:\n"
     "                        the same)\n"
     "  --per-field           --linkage: one filter per name, bf_<name>\n"
     "  --exports DIR         --linkage: also the producers' clear exports,\n"
     "                        DIR/persons.h5 (with NIR) and DIR/registry.h5\n"
     "                        (no NIR), for produce (docs/PRODUCER.md)\n"
     "  --same-birth-date F   --linkage: a share F (0..1) of the persons born\n"
     "                        on 1980-01-01 (a very large block; default 0)\n"
     "  -h, --help            this text",
     "pseudolink synth --persons 1000 --sources 3 --seed 1 -o store.h5"},
    {"plan", "size a Slurm job for a machine, write its sbatch script",
     "pseudolink plan --profile NAME [--profiles FILE] [--template FILE]\n"
     "         [--nodes N] [--tasks-per-node N] [--persons N]\n"
     "         [--walltime HH:MM:SS] [--partition P] [--qos Q] [--account A]\n"
     "         [--launcher srun|mpirun] [--debug]\n"
     "         [--transport-key PEM [--transport-passphrase-file FILE]]\n"
     "         [-o FILE] JOB.yaml",
     "Size a Slurm job for a machine from the store's row counts and write\n"
     "its sbatch script, every number explained in its comments\n"
     "(docs/SLURM.md). Refuses a job that does not fit the site's limits,\n"
     "naming the limit and where it comes from.",
     "  --profile NAME        the machine (slurm/profiles.yaml: lumi-c,\n"
     "                        mn5-gpp, leonardo-dcgp, karolina, vega,\n"
     "                        meluxina, discoverer, deucalion, laptop, local)\n"
     "  --profiles FILE       another profiles file\n"
     "  --template FILE       another sbatch template\n"
     "  --nodes N             force the node count\n"
     "  --tasks-per-node N    force the ranks per node\n"
     "  --persons N           expected distinct persons (sharpens the memory\n"
     "                        estimate)\n"
     "  --walltime HH:MM:SS   force the time limit\n"
     "  --partition P         force the partition\n"
     "  --qos Q               force the QoS\n"
     "  --account A           the project to bill ('none': no --account)\n"
     "  --launcher srun|mpirun  override the profile's launcher\n"
     "  --debug               the debug partition/QoS\n"
     "  --transport-key PEM   passed on to `run` (required when the job\n"
     "                        reads transfer packages or opposition lists)\n"
     "  --transport-passphrase-file FILE  passed on to `run` with it\n"
     "  -o FILE               write the script there (default: stdout)\n"
     "  -h, --help            this text",
     "pseudolink plan --profile lumi-c --account project_465000000 "
     "jobs/x.yaml -o x.sbatch"},
    {"keygen", "write a new secret key or a custodian key pair",
     "pseudolink keygen FILE [--audit LOG]\n"
     "   or: pseudolink keygen --custodian NAME [--dir DIR]\n"
     "         [--passphrase-file FILE] [--bits N]\n"
     "   or: pseudolink keygen --signing NAME | --transport NAME [--dir DIR]\n"
     "         [--passphrase-file FILE]",
     "Write a new 32-byte secret key (hex, mode 0600; the file must not\n"
     "exist), or a key pair NAME.key.pem (0600, encrypted when a passphrase\n"
     "is given) and NAME.pub.pem: a custodian's RSA pair, a producer's\n"
     "Ed25519 signing pair, or the platform's X25519 transport pair.",
     "  FILE                  the key file to create\n"
     "  --audit LOG           append a keygen line (the key's fingerprint)\n"
     "  --custodian NAME      a custodian key pair instead (no '/')\n"
     "  --signing NAME        a producer's Ed25519 signing pair\n"
     "  --transport NAME      the platform's X25519 transport pair\n"
     "  --dir DIR             where the pair is written (default .)\n"
     "  --passphrase-file FILE  encrypt the private key with this passphrase\n"
     "  --bits N              RSA modulus size (default and minimum 3072,\n"
     "                        at most 16384)\n"
     "  -h, --help            this text",
     "pseudolink keygen keys/producer.key --audit out/audit.log"},
    {"reveal", "p1 of pids from the correspondence table (custodians)",
     "pseudolink reveal --corr FILE --key PEM [--key PEM]...\n"
     "         [--passphrase-file FILE]... --reason TEXT [--pids FILE|-]\n"
     "         [--format tsv|json] [--audit FILE] [PID...]",
     "Print the p1 of each pid from the correspondence table, once the keys\n"
     "cover the threshold of distinct custodian roles (docs/CORRESPONDENCE.md).\n"
     "Every attempt is audited (refusals and partial answers too) and the\n"
     "audit line is durable before anything is printed. Output: TSV with a\n"
     "header (pid, p1, birth_rank) or JSON Lines, one line per key of each\n"
     "pid (birth_rank empty / null for a key without one); pids not found\n"
     "are named on stderr (exit 1, the found ones still printed).",
     "  --corr FILE           the correspondence table (correspondence.h5)\n"
     "  --key PEM             a custodian's private key (one per role)\n"
     "  --passphrase-file FILE  the passphrase of the --key before it\n"
     "  --reason TEXT         why (a ticket or request number); required,\n"
     "                        recorded in the audit line\n"
     "  --pids FILE|-         pids one per line (# comments, blank lines\n"
     "                        allowed); - for standard input\n"
     "  --format tsv|json     output format (default tsv)\n"
     "  --audit FILE          the audit log (default: the table's directory's\n"
     "                        audit.log)\n"
     "  PID                   platform pseudonyms (32 hex digits)\n"
     "  -h, --help            this text",
     "pseudolink reveal --corr out/x/correspondence.h5 --key alice.key.pem "
     "--key carol.key.pem --reason TICKET-42 --pids pids.txt"},
    {"rewrap", "re-wrap the correspondence key for new custodians",
     "pseudolink rewrap --corr FILE --key PEM [--key PEM]...\n"
     "         [--passphrase-file FILE]... --custody NEW.yaml [--out FILE]\n"
     "         [--audit FILE] [--reason TEXT]",
     "Re-wrap the correspondence table's data key for new custodians\n"
     "(the records are not re-encrypted); audited.",
     "  --corr FILE           the correspondence table\n"
     "  --key PEM             a current custodian's private key (one per role)\n"
     "  --passphrase-file FILE  the passphrase of the --key before it\n"
     "  --custody NEW.yaml    the new custodians and threshold\n"
     "  --out FILE            write the new table there (default: replace\n"
     "                        FILE atomically)\n"
     "  --audit FILE          the audit log\n"
     "  --reason TEXT         why, recorded in the audit line\n"
     "  -h, --help            this text",
     "pseudolink rewrap --corr out/x/correspondence.h5 --key alice.key.pem "
     "--key carol.key.pem --custody new-custodians.yaml"},
    {"verify", "check the audit chain and the outputs' digests",
     "pseudolink verify --audit LOG [--expect-head HASH] [OUTDIR]",
     "Check the audit log's hash chain and, with OUTDIR, that every output\n"
     "file there matches the digests its run recorded (docs/AUDIT.md).",
     "  --audit LOG           the audit log\n"
     "  --expect-head HASH    the chain's head as anchored elsewhere\n"
     "  OUTDIR                the output directory to check\n"
     "  -h, --help            this text",
     "pseudolink verify --audit out/x/audit.log out/x"},
    {"digest", "Merkle digest of files (parallel under mpirun)",
     "pseudolink digest [--leaf BYTES] FILE...",
     "Print the Merkle digest of each file (docs/AUDIT.md); parallel under\n"
     "mpirun or srun, serial alone.",
     "  --leaf BYTES          leaf size (default 4 MiB)\n"
     "  FILE                  the files\n"
     "  -h, --help            this text",
     "pseudolink digest out/x/linked.h5"},
    {"export", "one source of an output file as CSV (R, Stata, SAS)",
     "pseudolink export FILE.h5 --source NAME [--csv OUT|-]",
     "Write one source of an output file (linked.h5 or an extract) as CSV\n"
     "with a header (RFC 4180); never the correspondence table\n"
     "(docs/FORMATS.md section 7). One process, no mpirun.",
     "  FILE.h5               linked.h5 or extracts/<project>.h5\n"
     "  --source NAME         a source (/linked/NAME), /links, /persons or\n"
     "                        /rejects/NAME\n"
     "  --csv OUT|-           the CSV file (written whole or not at all), or -\n"
     "                        for standard output (the default)\n"
     "  -h, --help            this text",
     "pseudolink export out/linked.h5 --source hospital_stays --csv stays.csv"},
};
#define N_CMDS (sizeof CMDS / sizeof *CMDS)

static const struct {
    int status;
    const char *meaning, *more;         /* more: a second line, or "" */
} EXITS[] = {
    {PL_EXIT_OK, "success", ""},
    {PL_EXIT_ERROR, "error: the message says what and where; a run "
                    "published nothing", "(also a run stopped by SIGUSR1, "
                    "SIGTERM or SIGINT)"},
    {PL_EXIT_USAGE, "usage: a bad or missing argument", ""},
    {PL_EXIT_REFUSED, "run: published, but an extract was refused by its "
                      "privacy policy", "(docs/EXTRACTS.md)"},
};

const char *pl_exit_meaning(int status)
{
    for (size_t i = 0; i < sizeof EXITS / sizeof *EXITS; i++)
        if (EXITS[i].status == status)
            return EXITS[i].meaning;
    return "unknown status";
}

int pl_help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static void exit_table(FILE *f)
{
    fputs("Exit status:\n", f);
    for (size_t i = 0; i < sizeof EXITS / sizeof *EXITS; i++) {
        fprintf(f, "  %-5d %s\n", EXITS[i].status, EXITS[i].meaning);
        if (EXITS[i].more[0])
            fprintf(f, "        %s\n", EXITS[i].more);
    }
    fputs("  >128  killed by a signal (status - 128), e.g. the scheduler's "
          "SIGKILL\n", f);
}

static void overview(FILE *f)
{
    fputs("Usage: pseudolink COMMAND [ARGS]\n"
          "   or: pseudolink COMMAND --help\n"
          "   or: pseudolink --version\n"
          "\n"
          "Pseudonymise, cross-link and publish health records (NIR -> p1 ->\n"
          "pid) on an MPI cluster, with an encrypted correspondence table\n"
          "and an audit chain.\n"
          "\n"
          "Commands:\n", f);
    for (size_t i = 0; i < N_CMDS; i++)
        fprintf(f, "  %-8s %s\n", CMDS[i].name, CMDS[i].summary);
    fputs("\n", f);
    exit_table(f);
    fputs("\nDocumentation: docs/CLI.md, README.md, docs/FORMATS.md.\n", f);
}

static void one(FILE *f, const cmd_help *h)
{
    fprintf(f, "Usage: %s\n\n%s\n\nOptions:\n%s\n\nExample:\n  %s\n\n",
            h->usage, h->about, h->options, h->example);
    exit_table(f);
}

int pl_help_print(FILE *f, const char *cmd)
{
    if (!cmd) {
        overview(f);
        return 0;
    }
    for (size_t i = 0; i < N_CMDS; i++)
        if (strcmp(CMDS[i].name, cmd) == 0) {
            one(f, &CMDS[i]);
            return 0;
        }
    return -1;
}

/* Each line of text, indented by two more spaces. */
static void indented(FILE *f, const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%s%.*s\n", n ? "  " : "", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* help2man makes "pseudolink CMD:" a subsection and the indented text
 * under it its paragraphs and option list. */
void pl_help_all(FILE *f)
{
    overview(f);
    for (size_t i = 0; i < N_CMDS; i++) {
        const cmd_help *h = &CMDS[i];
        fprintf(f, "\npseudolink %s:\n  Usage: %s\n\n", h->name, h->usage);
        indented(f, h->about);
        fputs("\n", f);
        indented(f, h->options);
        fprintf(f, "\n  Example: %s\n", h->example);
    }
}

void pl_version_print(FILE *f)
{
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(mpi, &len);   /* allowed before MPI_Init */
    mpi[strcspn(mpi, "\n")] = '\0';
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    fprintf(f, "pseudolink %s\n"
               "commit %s\n"
               "MPI: %s\n"
               "HDF5: %u.%u.%u%s\n"
               "OpenSSL: %s\n"
               "libyaml: %s\n",
            pl_version(), pl_git_commit(), mpi, maj, min, rel,
#ifdef H5_HAVE_PARALLEL
            " (parallel)",
#else
            "",
#endif
            OpenSSL_version(OPENSSL_VERSION), yaml_get_version_string());
}
