/* verify.c — see verify.h. */
#include "cmd/verify.h"
#include "base/hex.h"
#include "crypto/audit.h"
#include "crypto/digest.h"
#include "base/json.h"
#include "crypto/keyfile.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name, *path, *digest;
    uint64_t size, leaf;
    long line;
} rec_file;

typedef struct {
    rec_file *f;
    size_t n;
} files_t;

static int same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return a && b && realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

/* Record (or replace: later lines win) one output entry. */
static void note(files_t *fs, const pl_jnode *o, long line, int by_name)
{
    const char *name = pl_json_str(o, "name"), *path = pl_json_str(o, "path");
    const char *dg = pl_json_str(o, "merkle_sha256");
    const pl_jnode *sz = pl_json_get(o, "size"), *lf = pl_json_get(o, "leaf");
    if (!name || !path || !dg || !sz || !lf || sz->kind != PL_J_NUM ||
        lf->kind != PL_J_NUM)
        return;
    const char *key = by_name ? name : path;
    size_t i = 0;
    while (i < fs->n && strcmp(by_name ? fs->f[i].name : fs->f[i].path, key))
        i++;
    if (i == fs->n) {
        fs->f = pl_xrealloc(fs->f, (fs->n + 1) * sizeof *fs->f);
        memset(&fs->f[fs->n++], 0, sizeof *fs->f);
    }
    rec_file *r = &fs->f[i];
    free(r->name);
    free(r->path);
    free(r->digest);
    r->name = pl_xstrdup(name);
    r->path = pl_xstrdup(path);
    r->digest = pl_xstrdup(dg);
    r->size = strtoull(sz->str, NULL, 10);
    r->leaf = strtoull(lf->str, NULL, 10);
    r->line = line;
}

static void files_free(files_t *fs);

static void files_copy(files_t *dst, const files_t *src)
{
    files_free(dst);
    dst->f = pl_xcalloc(src->n + 1, sizeof *dst->f);
    dst->n = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->f[i] = src->f[i];
        dst->f[i].name = pl_xstrdup(src->f[i].name);
        dst->f[i].path = pl_xstrdup(src->f[i].path);
        dst->f[i].digest = pl_xstrdup(src->f[i].digest);
    }
}

/* The set of files that should be there now, line by line (restricted to
 * OUTDIR's lines when some line names it as its output_dir): a successful
 * run publishes a whole new set (its outputs replace the previous set); a
 * "publish" failure line of that run takes it back; other commands (rewrap)
 * replace the files they name. */
static void collect(const pl_jnode *j, long line, const char *outdir,
                    int only_matching, files_t *fs, files_t *before,
                    char *last_run, size_t lrlen)
{
    const char *outcome = pl_json_str(j, "outcome");
    const char *cmd = pl_json_str(j, "command");
    const char *run_id = pl_json_str(j, "run_id");
    if (only_matching && !same_dir(pl_json_str(j, "output_dir"), outdir))
        return;
    if (cmd && strcmp(cmd, "publish") == 0 && run_id &&
        strcmp(run_id, last_run) == 0) {
        files_copy(fs, before);
        last_run[0] = '\0';
        return;
    }
    if (!outcome || strcmp(outcome, "success") != 0)
        return;
    const pl_jnode *outs = pl_json_get(j, "outputs");
    if (cmd && strcmp(cmd, "run") == 0) {
        files_copy(before, fs);
        files_free(fs);
        snprintf(last_run, lrlen, "%s", run_id ? run_id : "");
    }
    for (size_t i = 0; outs && outs->kind == PL_J_ARR && i < outs->n; i++)
        note(fs, outs->items[i], line, outdir != NULL);
}

/* Pass 1 over the log: the chain. Pass 2 (same read): outputs. Returns
 * the number of lines, or -1 after naming the first broken line. */
static long check_chain(const char *log, const char *outdir, int pass,
                        int *matching, files_t *fs, char head[65])
{
    FILE *f = fopen(log, "rb");
    if (!f) {
        pl_err("%s: cannot read the audit log: %s", log, strerror(errno));
        return -1;
    }
    char *line = NULL, prev[65], err[128];
    size_t cap = 0;
    ssize_t len;
    long n = 0, rc = 0;
    files_t before = {0};
    char last_run[64] = "";
    long last_run_line = 0;
    memset(prev, '0', 64);
    prev[64] = '\0';
    while ((len = getline(&line, &cap, f)) > 0) {
        n++;
        if (line[len - 1] != '\n') {
            pl_err("%s:%ld: incomplete last line (torn write or edit)", log,
                   n);
            rc = -1;
            break;
        }
        pl_jnode *j = pl_json_parse(line, (size_t)len - 1, err, sizeof err);
        const char *p = j ? pl_json_str(j, "prev") : NULL;
        if (!j || j->kind != PL_J_OBJ) {
            pl_err("%s:%ld: broken line: not a JSON object (%s)", log, n,
                   j ? "another JSON value" : err);
            rc = -1;
        } else if (!p || strcmp(p, prev) != 0) {
            pl_err("%s:%ld: broken chain: \"prev\" is not the SHA-256 of "
                   "line %ld (a line was changed, removed or inserted)",
                   log, n, n - 1);
            rc = -1;
        } else if (pass == 1 && outdir &&
                   same_dir(pl_json_str(j, "output_dir"), outdir)) {
            *matching = 1;
        } else if (pass == 2) {
            char was[64];
            snprintf(was, sizeof was, "%s", last_run);
            collect(j, n, outdir, *matching, fs, &before, last_run,
                    sizeof last_run);
            if (strcmp(was, last_run) != 0)
                last_run_line = n;
        }
        pl_json_free(j);
        if (rc)
            break;
        uint8_t md[32];
        EVP_Digest(line, (size_t)len - 1, md, NULL, EVP_sha256(), NULL);
        pl_hex(md, 32, prev);
    }
    free(line);
    fclose(f);
    /* A run whose line was written but whose set never became current
     * (killed between the audit line and the swap; the next run records
     * it): OUTDIR/current names another generation. What is published is
     * the set before it. */
    char cur[PATH_MAX], cp[PATH_MAX];
    ssize_t cl;
    snprintf(cp, sizeof cp, "%s/current", outdir ? outdir : "");
    if (pass == 2 && rc == 0 && outdir && last_run[0] &&
        (cl = readlink(cp, cur, sizeof cur - 1)) > 0) {
        cur[cl] = '\0';
        const char *t = strncmp(cur, ".pseudolink-gen-", 16) == 0 ? cur + 16
                                                                  : cur;
        if (strcmp(t, last_run) != 0) {
            pl_err("%s:%ld: run %s is recorded as a success but its set is "
                   "not current (%s/current -> %s): it was never published "
                   "and no line says so yet (the next run on the directory "
                   "records it); checking the set before it", log,
                   last_run_line, last_run, outdir, cur);
            files_copy(fs, &before);
            rc = 1;
        }
    }
    files_free(&before);
    if (head)
        memcpy(head, prev, 65);
    return rc ? -1 : n;
}

static int check_file(const rec_file *r, const char *outdir)
{
    char path[PATH_MAX], hex[65];
    uint8_t root[32];
    uint64_t size;
    if (outdir)
        snprintf(path, sizeof path, "%s/%s", outdir, r->name);
    else
        snprintf(path, sizeof path, "%s", r->path);
    if (access(path, F_OK) != 0) {
        pl_err("%s: missing (recorded on audit line %ld)", path, r->line);
        return -1;
    }
    if (pl_digest_file(path, r->leaf ? r->leaf : PL_DIGEST_LEAF, root,
                       &size) != 0)
        return -1;
    pl_hex(root, 32, hex);
    if (size != r->size || strcmp(hex, r->digest) != 0) {
        pl_err("%s: changed since audit line %ld (recorded %" PRIu64
               " bytes, Merkle SHA-256 %.16s..., now %" PRIu64
               " bytes, %.16s...)", path, r->line, r->size, r->digest, size,
               hex);
        return -1;
    }
    printf("ok: %s matches audit line %ld\n", path, r->line);
    return 0;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev
           && sa.st_ino == sb.st_ino;
}

/* Files in OUTDIR (and its extracts/) that no line of the current set
 * records (a dropped-in file). `sub` is "" or "extracts/". */
static int unrecorded(const char *outdir, const char *sub, const char *log,
                      const files_t *fs)
{
    char dpath[PATH_MAX];
    snprintf(dpath, sizeof dpath, "%s/%s", outdir, sub);
    DIR *d = opendir(dpath);
    if (!d) {
        if (sub[0] && errno == ENOENT)
            return 0;
        pl_err("%s: cannot list the output directory: %s", dpath,
               strerror(errno));
        return -1;
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[2 * PATH_MAX], name[PATH_MAX + 300];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dpath, e->d_name);
        snprintf(name, sizeof name, "%s%s", sub, e->d_name);
        if (e->d_name[0] == '.' || stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)
            || same_file(p, log))
            continue;
        size_t i = 0;
        while (i < fs->n && strcmp(fs->f[i].name, name) != 0)
            i++;
        if (i == fs->n) {
            pl_err("%s: not recorded by any successful run in the audit log",
                   p);
            bad = 1;
        }
    }
    closedir(d);
    return bad ? -1 : 0;
}

static void files_free(files_t *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->f[i].name);
        free(fs->f[i].path);
        free(fs->f[i].digest);
    }
    free(fs->f);
    fs->f = NULL;
    fs->n = 0;
}

int pl_verify_main(int argc, char **argv)
{
    const char *log = NULL, *outdir = NULL, *expect = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--audit") == 0 && i + 1 < argc)
            log = argv[++i];
        else if (strcmp(argv[i], "--expect-head") == 0 && i + 1 < argc)
            expect = argv[++i];
        else if (argv[i][0] != '-' && !outdir)
            outdir = argv[i];
        else {
            pl_err("verify: unexpected argument '%s'", argv[i]);
            log = NULL;
            break;
        }
    }
    if (!log) {
        fprintf(stderr, "usage: pseudolink verify --audit LOG "
                "[--expect-head HASH] [OUTDIR]\n");
        return 2;
    }
    if (expect && (strlen(expect) != 64 ||
                   strspn(expect, "0123456789abcdef") != 64)) {
        pl_err("verify: --expect-head expects the chain's head, 64 lower-"
               "case hex digits (as 'audit head:' prints it)");
        return 2;
    }
    int matching = 0, bad = 0;
    files_t fs = {0};
    char head[65];
    long n = check_chain(log, outdir, 1, &matching, &fs, head);
    if (n < 0)
        return 1;
    printf("ok: %s: %ld line%s, hash chain intact\n", log, n,
           n == 1 ? "" : "s");
    if (expect) {
        /* The head anchored elsewhere: a rewritten or truncated tail
         * changes it. */
        if (strcmp(expect, head) != 0) {
            pl_err("%s: the chain's head is %s, not the expected %s (lines "
                   "were removed, rewritten or added since)", log, head,
                   expect);
            return 1;
        }
        printf("ok: %s: head %s as expected\n", log, head);
    }
    bad |= check_chain(log, outdir, 2, &matching, &fs, NULL) < 0;
    for (size_t i = 0; i < fs.n; i++)
        bad |= check_file(&fs.f[i], outdir) != 0;
    if (outdir)
        bad |= unrecorded(outdir, "", log, &fs) != 0 ||
               unrecorded(outdir, "extracts/", log, &fs) != 0;
    if (outdir && fs.n == 0) {
        pl_err("%s: no successful run in %s recorded an output here", outdir,
               log);
        bad = 1;
    }
    size_t nf = fs.n;
    files_free(&fs);
    if (bad)
        return 1;
    printf("ok: %zu output file%s match their recorded digests\n", nf,
           nf == 1 ? "" : "s");
    return 0;
}

int pl_digest_main(int argc, char **argv)
{
    uint64_t leaf = PL_DIGEST_LEAF;
    int first = 1, rc = 0, rank, mpi = 0;
    if (argc > 1 && strcmp(argv[1], "--leaf") == 0) {
        char *end;
        errno = 0;
        leaf = argc > 2 ? strtoull(argv[2], &end, 10) : 0;
        if (argc <= 2 || errno || *end || leaf == 0 || argv[2][0] == '-') {
            pl_err("digest: --leaf expects a positive number of bytes");
            return 2;
        }
        first = 3;
    }
    /* An option elsewhere (--leaf after a file, a typo) is not a file
     * name: a file whose name starts with '-' is given as ./-name. */
    for (int i = first; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1]) {
            pl_err("digest: unexpected option '%s' (--leaf BYTES comes "
                   "first; a file named so: ./%s)", argv[i], argv[i]);
            return 2;
        }
    if (first >= argc) {
        fprintf(stderr, "usage: pseudolink digest [--leaf BYTES] FILE...\n");
        return 2;
    }
    /* Under mpirun/srun every rank shares the work; alone it is serial. */
    mpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
          getenv("PMIX_RANK");
    if (mpi) {
        MPI_Init(&argc, &argv);
        pl_mpi_setup(MPI_COMM_WORLD);
        rank = pl_log_rank();
    } else {
        rank = 0;
    }
    for (int i = first; i < argc; i++) {
        uint8_t root[32];
        uint64_t size;
        char hex[65];
        int r = mpi ? pl_digest_file_mpi(argv[i], leaf, MPI_COMM_WORLD, root,
                                         &size, 0)
                    : pl_digest_file(argv[i], leaf, root, &size);
        if (r != 0) {
            rc = 1;
            continue;
        }
        pl_hex(root, 32, hex);
        if (rank == 0)
            printf("%s  %" PRIu64 "  %" PRIu64 "  %s\n", hex, size, leaf,
                   argv[i]);
    }
    if (mpi)
        MPI_Finalize();
    return rc;
}

