/* plan.c — see plan.h. */
#include "cmd/plan.h"
#include "job/config.h"
#include "base/log.h"
#include "base/parse.h"
#include "job/profile.h"
#include "base/mem.h"
#include "par/h5.h"
#include "stage/owner.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB 1000000ULL
#define GB 1000000000ULL
#define STARTUP_S 60            /* launch, open, publish: per run */
#define MIN_WALL_S 900          /* never ask for less than 15 minutes */
#define SIGNAL_S 300            /* USR1 this long before the time limit */
#define NODES_SEARCH_MAX 4096   /* when the profile's max_nodes is unknown */
/* Below this many records per rank, start-up and the all-to-all latency
 * cost more than another rank saves: small stores get fewer ranks. */
#define MIN_ROWS_PER_RANK 50000

typedef struct {
    const char *profile, *profiles, *tmpl, *job, *out, *walltime;
    const char *partition, *qos, *account, *launcher;
    const char *transport, *transport_pass;   /* passed on to `run` */
    uint64_t nodes, tpn, persons;
    int debug;
} plan_args;

typedef struct {
    uint64_t rows, rows_max_src;        /* whole store; largest source */
    size_t n_src;
} store_rows;

typedef struct {
    uint64_t nodes, tpn, ranks;
    uint64_t rows_per_rank, persons_per_rank, batch;
    uint64_t avail_rank;                /* bytes per rank on a node */
    uint64_t est_s, wall_s, max_wall_s, mem_node_gb;
    pl_mem_estimate mem;
    int mem_known;
    const pl_queue *q;                  /* the queue the job goes to */
    uint64_t out_bytes;                 /* expected size of the outputs */
} sizing;

/* The queues a plan may use: the profile's, filtered by --debug,
 * --partition and --qos; or one made of --partition/--qos alone when the
 * profile lists no such queue (limits then unknown, said in the script). */
typedef struct {
    const pl_queue *q[PL_PROF_MAX_QUEUES];
    size_t n;
    pl_queue given;
} queue_set;

void pl_plan_memory(uint64_t rows_per_rank, uint64_t persons_per_rank,
                    uint64_t batch_rows, uint64_t base_bytes,
                    pl_mem_estimate *m)
{
    uint64_t slots = 1024;      /* owner.c starts at 1024 and doubles */
    while (3 * slots < 4 * persons_per_rank)    /* at most 3/4 full */
        slots *= 2;
    m->dict = slots * (PL_OWNER_ENTRY + 1) * 3 / 2;
    m->ingest = 640 * batch_rows;
    m->link = 144 * rows_per_rank;
    m->base = base_bytes;
    m->total = m->base + m->dict + m->ingest + m->link;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static int usage(void)
{
    pl_err0("usage: pseudolink plan --profile NAME [--profiles FILE] "
            "[--template FILE] [--nodes N] [--tasks-per-node N] "
            "[--persons N] [--walltime HH:MM:SS] [--partition P] [--qos Q] "
            "[--account A] [--launcher srun|mpirun] [--debug] "
            "[--transport-key PEM [--transport-passphrase-file FILE]] "
            "[-o FILE] JOB.yaml");
    return 2;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v == 0 || s[0] == '-') {
        pl_err0("plan: %s expects a positive integer, got '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, plan_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **str = NULL;
        uint64_t *num = NULL;
        if (strcmp(o, "--profile") == 0) str = &a->profile;
        else if (strcmp(o, "--profiles") == 0) str = &a->profiles;
        else if (strcmp(o, "--template") == 0) str = &a->tmpl;
        else if (strcmp(o, "-o") == 0) str = &a->out;
        else if (strcmp(o, "--walltime") == 0) str = &a->walltime;
        else if (strcmp(o, "--partition") == 0) str = &a->partition;
        else if (strcmp(o, "--qos") == 0) str = &a->qos;
        else if (strcmp(o, "--account") == 0) str = &a->account;
        else if (strcmp(o, "--launcher") == 0) str = &a->launcher;
        else if (strcmp(o, "--transport-key") == 0) str = &a->transport;
        else if (strcmp(o, "--transport-passphrase-file") == 0)
            str = &a->transport_pass;
        else if (strcmp(o, "--nodes") == 0) num = &a->nodes;
        else if (strcmp(o, "--tasks-per-node") == 0) num = &a->tpn;
        else if (strcmp(o, "--persons") == 0) num = &a->persons;
        else if (strcmp(o, "--debug") == 0) { a->debug = 1; continue; }
        else if (o[0] == '-' || a->job) {
            pl_err0("plan: unexpected argument '%s'", o);
            return -1;
        } else {
            a->job = o;
            continue;
        }
        if (!v) {
            pl_err0("plan: %s needs a value", o);
            return -1;
        }
        i++;
        if (str)
            *str = v;
        else if (parse_u64(o, v, num))
            return -1;
    }
    if (a->launcher && strcmp(a->launcher, "srun") != 0 &&
        strcmp(a->launcher, "mpirun") != 0) {
        pl_err0("plan: --launcher expects 'srun' or 'mpirun', got '%s'",
                a->launcher);
        return -1;
    }
    if (!a->job || !a->profile) {
        pl_err0("plan: %s", !a->job ? "missing the job file"
                                    : "missing --profile NAME");
        return -1;
    }
    return 0;
}

/* slurm/<file> next to the binary (a checkout), else relative to the
 * current directory. $PSEUDOLINK_SLURM_DIR overrides both. */
static void default_path(const char *file, char *out, size_t n)
{
    const char *env = getenv("PSEUDOLINK_SLURM_DIR");
    if (env && *env) {
        snprintf(out, n, "%s/%s", env, file);
        return;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(out, n, "%s/slurm/%s", exe, file);
            if (w > 0 && (size_t)w < n && access(out, R_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "slurm/%s", file);
}

/* Rows of each source: the length of its identity column (store.c checks
 * at run time that every column has that length). */
/* A package source's rows, for sizing only (run verifies the package):
 * its p1 ciphertext holds 32 bytes per row (docs/PACKAGE.md). */
static int package_rows(const pl_source_cfg *s, uint64_t *rows)
{
    hid_t f = H5Fis_hdf5(s->package) > 0
                  ? H5Fopen(s->package, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    char path[3 * PL_NAME_MAX];
    snprintf(path, sizeof path, "/sources/%s/p1", s->name);
    hid_t d = -1, sp = -1;
    if (f >= 0 && H5Lexists(f, "/sources", H5P_DEFAULT) > 0 &&
        H5Lexists(f, path, H5P_DEFAULT) > 0)
        d = H5Dopen2(f, path, H5P_DEFAULT);
    hsize_t n = 0;
    if (d >= 0 && (sp = H5Dget_space(d)) >= 0 &&
        H5Sget_simple_extent_ndims(sp) == 1)
        H5Sget_simple_extent_dims(sp, &n, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    pl_h5_reason();
    if (d < 0) {
        pl_err("%s: %s: not found: expected a transfer package holding "
               "source '%s' (docs/PACKAGE.md; named in %s)", s->package,
               path, s->name, "the job file");
        return -1;
    }
    *rows = n / 32;
    return 0;
}

static int read_rows(const pl_job *job, store_rows *sr)
{
    memset(sr, 0, sizeof *sr);
    pl_h5_quiet();
    int all_pkg = 1;
    for (size_t i = 0; i < job->n_sources; i++)
        all_pkg &= job->sources[i].package != NULL;
    for (size_t i = 0; i < job->n_sources; i++) {
        uint64_t n;
        if (!job->sources[i].package)
            continue;
        if (package_rows(&job->sources[i], &n) != 0)
            return -1;
        sr->rows += n;
        if (n > sr->rows_max_src)
            sr->rows_max_src = n;
    }
    sr->n_src = job->n_sources;
    if (all_pkg)
        return 0;
    if (access(job->store, R_OK) != 0) {
        pl_err("%s: cannot open store (job file %s): %s", job->store,
               job->path, strerror(errno));
        return -1;
    }
    pl_h5_quiet();
    if (H5Fis_hdf5(job->store) <= 0) {
        pl_err("%s: cannot open store: not an HDF5 file", job->store);
        return -1;
    }
    hid_t f = H5Fopen(job->store, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        pl_err("%s: cannot open store: %s", job->store, pl_h5_reason());
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < job->n_sources && rc == 0; i++) {
        const pl_source_cfg *s = &job->sources[i];
        if (s->package)
            continue;
        char path[3 * PL_NAME_MAX];
        snprintf(path, sizeof path, "/sources/%s/%s", s->name,
                 s->has_p1 ? s->p1 : s->nir);
        hid_t d = H5Lexists(f, "/sources", H5P_DEFAULT) > 0 &&
                          H5Lexists(f, path, H5P_DEFAULT) > 0
                      ? H5Dopen2(f, path, H5P_DEFAULT)
                      : -1;
        hsize_t dims[2] = {0, 0};
        hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
        if (sp < 0 || H5Sget_simple_extent_ndims(sp) < 1) {
            pl_err("%s: %s: expected the identity column of source '%s' "
                   "(named in %s)", job->store, path, s->name, job->path);
            rc = -1;
        } else {
            H5Sget_simple_extent_dims(sp, dims, NULL);
            sr->rows += dims[0];
            if (dims[0] > sr->rows_max_src)
                sr->rows_max_src = dims[0];
        }
        if (sp >= 0) H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
    }
    sr->n_src = job->n_sources;
    H5Fclose(f);
    return rc;
}

/* Usable bytes per node; 0 when unknown. */
static uint64_t usable_bytes(const pl_profile *p)
{
    if (p->usable_gb)
        return p->usable_gb * GB;
    return p->memory_gb * GB * 7 / 8;
}

static void size_for(sizing *z, const store_rows *sr, const pl_job *job,
                     const pl_throughput *t, uint64_t persons,
                     uint64_t nodes)
{
    z->nodes = nodes;
    z->ranks = nodes * z->tpn;
    z->rows_per_rank = ceil_div(sr->rows, z->ranks);
    z->persons_per_rank = ceil_div(persons, z->ranks);
    uint64_t per_src = ceil_div(sr->rows_max_src, z->ranks);
    z->batch = job->batch_rows < per_src ? job->batch_rows : per_src;
    pl_plan_memory(z->rows_per_rank, z->persons_per_rank, z->batch,
                   t->base_rank_mb * MB, &z->mem);
    z->est_s = STARTUP_S + ceil_div(z->rows_per_rank,
                                    t->records_per_rank_second);
}

static int mem_fits(const sizing *z)
{
    return !z->mem_known || z->mem.total <= z->avail_rank;
}

static void print_mb(char *b, size_t n, uint64_t bytes)
{
    snprintf(b, n, "%.0f MB", (double)bytes / MB);
}

static void hms(char *b, size_t n, uint64_t s)
{
    snprintf(b, n, "%02llu:%02llu:%02llu", (unsigned long long)(s / 3600),
             (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
}

/* The walltime a job asks for when --walltime is not given: twice the
 * estimate plus the stop margin, at least 15 min, rounded up to 5 min. */
static uint64_t wanted_wall(uint64_t est_s)
{
    uint64_t w = 2 * est_s + SIGNAL_S;
    return w < MIN_WALL_S ? MIN_WALL_S : ceil_div(w, 300) * 300;
}

static const char *queue_label(const pl_queue *q, char *b, size_t n)
{
    snprintf(b, n, "%s%s%s%s%s", q->partition[0] ? "partition " : "",
             q->partition, q->partition[0] && q->qos[0] ? ", " : "",
             q->qos[0] ? "QoS " : "", q->qos);
    if (!b[0])
        snprintf(b, n, "the site's default partition");
    return b;
}

/* Why `q` cannot take `nodes` nodes for `wall_s` seconds (forced: the
 * walltime is the user's; otherwise the estimate must fit x2 + margin):
 * "" when it can. */
static void queue_refusal(const pl_queue *q, uint64_t nodes, uint64_t wall_s,
                          int forced_wall, char *why, size_t n)
{
    char b1[32], b2[32];
    why[0] = '\0';
    if (q->max_nodes && nodes > q->max_nodes)
        snprintf(why, n, "%llu nodes is over its limit of %llu",
                 (unsigned long long)nodes,
                 (unsigned long long)q->max_nodes);
    else if (nodes < q->min_nodes)
        snprintf(why, n, "%llu node%s is under its minimum of %llu",
                 (unsigned long long)nodes, nodes > 1 ? "s" : "",
                 (unsigned long long)q->min_nodes);
    else if (q->max_walltime_s && wall_s > q->max_walltime_s) {
        hms(b1, sizeof b1, wall_s);
        hms(b2, sizeof b2, q->max_walltime_s);
        snprintf(why, n, "%s %s is over its limit of %s",
                 forced_wall ? "--walltime" : "the walltime needed", b1, b2);
    }
}

/* The queue for this size: the first candidate, in file order, whose
 * limits the job fits; a job smaller than a node goes first to a queue
 * that allocates per core (whole-node queues bill the whole node). */
static const pl_queue *pick_queue(const queue_set *qs, const sizing *z,
                                  const pl_profile *p, uint64_t wall_s,
                                  int forced_wall)
{
    char why[160];
    int sub_node = z->nodes == 1 && z->tpn < p->cores_per_node;
    for (int pass = sub_node ? 0 : 1; pass < 2; pass++)
        for (size_t i = 0; i < qs->n; i++) {
            const pl_queue *q = qs->q[i];
            if (pass == 0 && q->allocation != PL_ALLOC_PER_CORE)
                continue;
            queue_refusal(q, z->nodes, wall_s, forced_wall, why, sizeof why);
            if (!why[0])
                return q;
        }
    return NULL;
}

static int set_queues(queue_set *qs, const pl_profile *p, const plan_args *a)
{
    memset(qs, 0, sizeof *qs);
    const char *qos = a->qos && strcmp(a->qos, "none") == 0 ? "" : a->qos;
    for (size_t i = 0; i < p->n_queues; i++) {
        const pl_queue *q = &p->queues[i];
        if (a->partition && strcmp(q->partition, a->partition) != 0)
            continue;
        if (qos && strcmp(q->qos, qos) != 0)
            continue;
        if (!a->partition && !qos && q->debug != a->debug)
            continue;
        if ((a->partition || qos) && a->debug && !q->debug)
            continue;
        qs->q[qs->n++] = q;
    }
    if (qs->n)
        return 0;
    if (!a->partition && !qos) {
        pl_err("%s: profiles.%s: no queue with `use: %s` (plan %s)", p->path,
               p->name, a->debug ? "debug" : "production",
               a->debug ? "--debug" : "without --debug");
        return -1;
    }
    /* Not a queue of the profile: the user's choice, limits unknown. */
    pl_queue *g = &qs->given;
    const pl_queue *like = NULL;
    for (size_t i = 0; i < p->n_queues && !like; i++)
        if (!a->partition || strcmp(p->queues[i].partition, a->partition) == 0)
            like = &p->queues[i];
    snprintf(g->name, sizeof g->name, "given");
    snprintf(g->partition, sizeof g->partition, "%s",
             a->partition ? a->partition : like ? like->partition : "");
    snprintf(g->qos, sizeof g->qos, "%s", qos ? qos : like ? like->qos : "");
    g->debug = a->debug;
    g->allocation = PL_ALLOC_UNKNOWN;
    g->memory = PL_MEM_PER_NODE;
    g->min_nodes = 1;
    snprintf(g->source, sizeof g->source, "%.160s: not a queue there (given "
             "with --partition/--qos): limits unknown, not checked", p->path);
    snprintf(g->where, sizeof g->where, "command line");
    qs->q[qs->n++] = g;
    return 0;
}

/* The refusal when no candidate queue takes the job: every queue and the
 * limit it breaks, with the limit's source. */
static void refuse_queues(const queue_set *qs, const sizing *z,
                          const pl_job *job, const pl_profile *p,
                          uint64_t wall_s, int forced_wall, const char *hint)
{
    char why[160], lab[2 * PL_PROF_STR + 32];
    pl_err("%s: cannot run on %s at %llu node%s: no %squeue of the profile "
           "allows it; %s", job->path, p->name, (unsigned long long)z->nodes,
           z->nodes > 1 ? "s" : "", qs->q[0]->debug ? "debug " : "", hint);
    for (size_t i = 0; i < qs->n; i++) {
        const pl_queue *q = qs->q[i];
        queue_refusal(q, z->nodes, wall_s, forced_wall, why, sizeof why);
        pl_err("%s: %s (%s): %s (limit from %s)", p->path, q->where,
               queue_label(q, lab, sizeof lab), why[0] ? why : "fits",
               q->source);
    }
}

/* The smallest node count that fits a queue's limits and the memory, or
 * the forced one; -1 (explained) when none does. */
static int choose_nodes(sizing *z, const store_rows *sr, const pl_job *job,
                        const pl_profile *p, const pl_throughput *t,
                        const plan_args *a, const queue_set *qs,
                        uint64_t forced_wall)
{
    uint64_t persons = a->persons ? a->persons : sr->rows;
    uint64_t max = 0;
    for (size_t i = 0; i < qs->n; i++) {
        uint64_t m = qs->q[i]->max_nodes ? qs->q[i]->max_nodes
                                         : NODES_SEARCH_MAX;
        max = m > max ? m : max;
    }
    uint64_t lo = a->nodes ? a->nodes : 1, hi = a->nodes ? a->nodes : max;
    uint64_t first_ok = 0;              /* fewest nodes the memory fits */
    for (uint64_t n = lo; n <= hi; n++) {
        size_for(z, sr, job, t, persons, n);
        if (!mem_fits(z))
            continue;
        if (!first_ok)
            first_ok = n;
        uint64_t w = forced_wall ? forced_wall : 2 * z->est_s + SIGNAL_S;
        z->q = pick_queue(qs, z, p, w, forced_wall != 0);
        if (z->q)
            return 0;
        if (a->nodes || (forced_wall && n >= max))
            break;
    }
    if (first_ok) {
        /* Name the limits at the size that fits the memory: more nodes
         * change nothing when a forced walltime is the obstacle. */
        if (!a->nodes && forced_wall)
            size_for(z, sr, job, t, persons, first_ok);
        uint64_t w = forced_wall ? forced_wall : 2 * z->est_s + SIGNAL_S;
        refuse_queues(qs, z, job, p, w, forced_wall != 0,
                      a->nodes ? "choose --nodes within a queue's limits"
                      : forced_wall ? "choose a shorter --walltime"
                                    : "split the store");
        return -1;
    }
    char need[32], have[32];
    print_mb(need, sizeof need, z->mem.total);
    print_mb(have, sizeof have, z->avail_rank);
    pl_err("%s: cannot fit on %s: memory per rank estimate %s is over "
           "the node's %s per rank (%llu GB usable / %llu tasks per node)"
           " at %llu node%s (%llu rows per rank); %s", job->path, p->name,
           need, have, (unsigned long long)(z->avail_rank * z->tpn / GB),
           (unsigned long long)z->tpn, (unsigned long long)z->nodes,
           z->nodes > 1 ? "s" : "", (unsigned long long)z->rows_per_rank,
           a->nodes ? "use more --nodes or fewer --tasks-per-node"
                    : "use fewer --tasks-per-node or a profile with more "
                      "memory per core");
    return -1;
}

static void set_walltime(sizing *z, uint64_t forced_wall)
{
    z->max_wall_s = z->q->max_walltime_s;
    if (forced_wall) {
        z->wall_s = forced_wall;
        if (z->wall_s < z->est_s + SIGNAL_S)
            pl_warn("plan: --walltime %llu s is shorter than the estimate "
                    "(%llu s + %d s stop margin)",
                    (unsigned long long)forced_wall,
                    (unsigned long long)z->est_s, SIGNAL_S);
        return;
    }
    uint64_t w = wanted_wall(z->est_s);
    if (z->max_wall_s && w > z->max_wall_s)
        w = z->max_wall_s;
    z->wall_s = w;
}

/* ---- the script ------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = (s->len + (size_t)n + 1) * 2;
        s->buf = pl_xrealloc(s->buf, s->cap);
    }
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

static void comments(sbuf *c, const sizing *z, const store_rows *sr,
                     const pl_job *job, const pl_profile *p,
                     const pl_throughput *t, const plan_args *a)
{
    char b1[32], b2[32];
    sb_add(c, "# ---- plan (pseudolink plan --profile %s%s) ----\n", p->name,
           a->debug ? " --debug" : "");
    sb_add(c, "# Machine: %s\n", p->description);
    sb_add(c, "# Store %s: %llu rows in %zu source%s (largest %llu).\n",
           job->store, (unsigned long long)sr->rows, sr->n_src,
           sr->n_src > 1 ? "s" : "", (unsigned long long)sr->rows_max_src);
    sb_add(c, "# Ranks: %llu node%s x %llu tasks per node (one rank per "
           "physical core%s) = %llu ranks;\n#   %llu records per rank, %llu "
           "persons per rank (%s), batches of %llu rows.\n",
           (unsigned long long)z->nodes, z->nodes > 1 ? "s" : "",
           (unsigned long long)z->tpn,
           z->tpn < p->cores_per_node && !a->tpn
               ? "; fewer than the node's cores: at least 50000 records "
                 "per rank is worth a rank"
               : "",
           (unsigned long long)z->ranks, (unsigned long long)z->rows_per_rank,
           (unsigned long long)z->persons_per_rank,
           a->persons ? "from --persons"
                      : "upper bound: every row a distinct person; "
                        "--persons N sharpens it",
           (unsigned long long)z->batch);
    sb_add(c, "# Memory per rank (estimate, upper bound; formula in "
           "src/plan.h):\n");
    sb_add(c, "#   base %llu MB + owner dictionary %llu MB\n#   + ingest "
           "640 B x batch %llu MB + link 144 B/row %llu MB = %llu MB\n",
           (unsigned long long)(z->mem.base / MB),
           (unsigned long long)(z->mem.dict / MB),
           (unsigned long long)(z->mem.ingest / MB),
           (unsigned long long)(z->mem.link / MB),
           (unsigned long long)ceil_div(z->mem.total, MB));
    print_mb(b1, sizeof b1, z->avail_rank);
    if (z->mem_known)
        sb_add(c, "#   node: %llu GB usable%s / %llu tasks = %s per rank: "
               "fits.\n", (unsigned long long)(z->avail_rank * z->tpn / GB),
               p->usable_gb ? ""
                            : " (usable not published: 7/8 of installed)",
               (unsigned long long)z->tpn, b1);
    else
        sb_add(c, "#   node memory unknown for this machine: NOT checked; "
               "--mem=0 asks for all of it.\n");
    hms(b1, sizeof b1, z->est_s);
    hms(b2, sizeof b2, z->wall_s);
    sb_add(c, "# Time: %llu records per rank / %llu records/s per rank "
           "(measured, slurm/profiles.yaml)\n#   + %d s start-up = %s "
           "expected; walltime %s (%s)%s.\n",
           (unsigned long long)z->rows_per_rank,
           (unsigned long long)t->records_per_rank_second, STARTUP_S, b1, b2,
           a->walltime ? "from --walltime" : "2 x expected + stop margin, "
                                             "at least 15 min",
           z->max_wall_s ? "" : "; this queue's maximum is unknown");
    sb_add(c, "# Stop: SIGUSR1 %d s before the limit; the ranks stop at a "
           "batch boundary and publish nothing.\n", SIGNAL_S);
    const pl_queue *q = z->q;
    char lab[2 * PL_PROF_STR + 32], mx[32], mw[32];
    snprintf(mx, sizeof mx, "%llu", (unsigned long long)q->max_nodes);
    hms(mw, sizeof mw, q->max_walltime_s);
    sb_add(c, "# Queue: %s (%s, %s allocation), chosen for %llu node%s and "
           "%s:\n#   nodes %llu..%s, walltime up to %s; limits from %s.\n",
           queue_label(q, lab, sizeof lab), q->where,
           q->allocation == PL_ALLOC_WHOLE_NODE ? "whole-node"
           : q->allocation == PL_ALLOC_PER_CORE ? "per-core" : "unknown",
           (unsigned long long)z->nodes, z->nodes > 1 ? "s" : "", b2,
           (unsigned long long)q->min_nodes,
           q->max_nodes ? mx : "unknown", q->max_walltime_s ? mw : "unknown",
           q->source);
}

static void directives(sbuf *s, const char *opt, const char *value,
                       const char *why_absent)
{
    if (value && *value)
        sb_add(s, "#SBATCH --%s=%s", opt, value);
    else
        sb_add(s, "# (no --%s: %s)", opt, why_absent);
}

typedef struct {
    const char *key;
    char *value;
} subst;

/* hits[k]: how many times subs[k].key appeared (NULL: not counted). */
static int fill_template(const char *tmpl, const subst *subs, size_t ns,
                         sbuf *out, unsigned *hits)
{
    FILE *f = fopen(tmpl, "rb");
    if (!f) {
        pl_err("%s: cannot read the sbatch template: %s", tmpl,
               strerror(errno));
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        for (char *p = line; *p;) {
            size_t k = 0;
            for (; k < ns; k++)
                if (strncmp(p, subs[k].key, strlen(subs[k].key)) == 0)
                    break;
            if (k < ns) {
                if (hits)
                    hits[k]++;
                sb_add(out, "%s", subs[k].value);
                p += strlen(subs[k].key);
            } else {
                sb_add(out, "%c", *p++);
            }
        }
    }
    fclose(f);
    return 0;
}

/* Single-quote for the shell. */
static char *shq(const char *s)
{
    sbuf b = {0};
    sb_add(&b, "'");
    for (; *s; s++)
        sb_add(&b, *s == '\'' ? "'\\''" : "%c", *s);
    sb_add(&b, "'");
    return b.buf;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = pl_xstrdup("");
    va_end(ap);
    return s;
}

static char *job_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = xfmt("pseudolink-%.40s", b);
    char *dot = strrchr(s, '.');
    if (dot && dot > s + 11)
        *dot = '\0';
    for (char *p = s; *p; p++)
        if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            *p = '_';
    return s;
}

/* The memory request, by the queue's rule. */
static void mem_line(sbuf *m, const sizing *z, const pl_queue *q)
{
    switch (q->memory) {
    case PL_MEM_ALL:
        sb_add(m, "#SBATCH --mem=0   # the whole node's memory (%s allocates "
               "whole nodes; source: Queue below)", q->partition);
        break;
    case PL_MEM_NONE:
        sb_add(m, "# (no --mem: %s allocates whole nodes, a memory request "
               "means nothing there; source: Queue below)", q->partition);
        break;
    case PL_MEM_PER_CPU: {
        /* One rank per CPU (--cpus-per-task=1): per CPU = per rank. */
        uint64_t need = ceil_div(z->mem.total * 3 / 2, MB);
        uint64_t v = need > q->mem_per_cpu_mb ? need : q->mem_per_cpu_mb;
        sb_add(m, "#SBATCH --mem-per-cpu=%lluM   # per-core allocation: the "
               "site suggests %llu MB per core%s (source: Queue below)",
               (unsigned long long)v, (unsigned long long)q->mem_per_cpu_mb,
               v > q->mem_per_cpu_mb ? "; 1.5 x the estimate per rank is "
                                       "more (billing may count memory)" : "");
        break;
    }
    default:
        if (z->mem_node_gb)
            sb_add(m, "#SBATCH --mem=%lluG", (unsigned long long)z->mem_node_gb);
        else
            sb_add(m, "#SBATCH --mem=0   # node memory unknown: all of it");
    }
}

/* lfs setstripe on the output directory when scratch is Lustre: the
 * outputs are written there (under temporary names) and inherit it.
 * Count: one stripe per 4 GiB of expected output, at most the file
 * system's OSTs (8 when unknown) and the ranks (every rank writes);
 * size: 1 MiB (Lustre's default), 4 MiB from 16 GiB of output. */
static void stripe_block(sbuf *b, const sizing *z, const pl_job *job,
                         const pl_profile *p)
{
    if (p->scratch != PL_FS_LUSTRE) {
        sb_add(b, "# (no lfs setstripe: scratch is %s here)",
               p->scratch == PL_FS_GPFS    ? "GPFS, not Lustre"
               : p->scratch == PL_FS_LOCAL ? "a local file system"
                                           : "of an unknown kind");
        return;
    }
    uint64_t osts = p->lustre_osts ? p->lustre_osts : 8;
    uint64_t cnt = ceil_div(z->out_bytes, 4ULL << 30);
    if (cnt < 1) cnt = 1;
    if (cnt > osts) cnt = osts;
    if (cnt > z->ranks) cnt = z->ranks;
    const char *sz = z->out_bytes >= (16ULL << 30) ? "4M" : "1M";
    char *dir = shq(job->output);
    sb_add(b, "# Output directory on Lustre: expected output %.1f GiB (store "
           "size + 48 B/row: pid column and\n# cross-link index) -> %llu "
           "stripe%s of %s (one per 4 GiB, at most %llu OSTs%s and the %llu "
           "ranks).\nOUTDIR=%s\nif mkdir -p \"$OUTDIR\" && lfs setstripe "
           "--stripe-count %llu --stripe-size %s \"$OUTDIR\"; then\n"
           "  say \"output directory $OUTDIR striped: %llu x %s\"\nelse\n"
           "  say \"warning: lfs setstripe on $OUTDIR failed: outputs get the "
           "file system's default layout\"\nfi",
           (double)z->out_bytes / (1ULL << 30), (unsigned long long)cnt,
           cnt > 1 ? "s" : "", sz, (unsigned long long)osts,
           p->lustre_osts ? "" : " (count unknown: 8 assumed)",
           (unsigned long long)z->ranks, dir, (unsigned long long)cnt, sz,
           (unsigned long long)cnt, sz);
    free(dir);
}

/* The arguments the script adds to `pseudolink run`, shell-quoted:
 * absolute paths, since the job starts in the submit directory but the
 * ranks may resolve paths elsewhere. */
static char *run_args(const plan_args *a)
{
    sbuf b = {0};
    sb_add(&b, "%s", "");
    const char *opt[2] = {"--transport-key", "--transport-passphrase-file"};
    const char *val[2] = {a->transport, a->transport_pass};
    for (int i = 0; i < 2; i++) {
        if (!val[i])
            continue;
        char abs[PATH_MAX];
        char *q = shq(realpath(val[i], abs) ? abs : val[i]);
        sb_add(&b, "%s%s %s", b.len ? " " : "", opt[i], q);
        free(q);
    }
    return b.buf;
}

static int render(const sizing *z, const store_rows *sr, const pl_job *job,
                  const pl_profile *p, const pl_throughput *t,
                  const plan_args *a, const char *tmpl, sbuf *out)
{
    sbuf cm = {0}, mods = {0}, part = {0}, qos = {0}, acc = {0}, mem = {0},
         hint = {0}, stripe = {0}, root = {0};
    const pl_queue *q = z->q;
    comments(&cm, z, sr, job, p, t, a);
    cm.buf[cm.len - 1] = '\0';          /* the template has the newline */
    for (size_t i = 0; i < p->n_modules; i++)
        sb_add(&mods, "%s%s", i ? "\n" : "", p->modules[i]);
    if (!p->n_modules)
        sb_add(&mods, "# (no modules: the Debian packages provide MPI, "
               "HDF5, OpenSSL, libyaml)");
    if (p->mpi_module[0])
        sb_add(&mods, "\n# MPI: %s", p->mpi_module);
    directives(&part, "partition", q->partition, "the site default");
    directives(&qos, "qos", q->qos, "none for this queue");
    if (a->account && strcmp(a->account, "none") != 0)
        sb_add(&acc, "#SBATCH --account=%s", a->account);
    else if (a->account)
        sb_add(&acc, "# (no --account: --account none%s)",
               p->account == PL_TRI_YES ? "; this site requires one: "
                                          "sbatch will refuse without it"
                                        : "");
    else if (p->account == PL_TRI_UNKNOWN)
        sb_add(&acc, "##SBATCH --account=CHANGE_ME   # whether this site "
               "requires one is not documented (%s)", p->account_form);
    else
        sb_add(&acc, "##SBATCH --account=CHANGE_ME   # optional here (%s)",
               p->account_form);
    mem_line(&mem, z, q);
    if (p->smt == PL_TRI_YES)
        sb_add(&hint, "#SBATCH --hint=nomultithread   # SMT on: one rank per "
               "physical core");
    else if (p->smt == PL_TRI_UNKNOWN)
        sb_add(&hint, "#SBATCH --hint=nomultithread   # SMT not documented: "
               "one rank per physical core either way");
    else
        sb_add(&hint, "# (SMT off: no --hint)");
    stripe_block(&stripe, z, job, p);
    if (p->run_as_root)
        sb_add(&root, "# Open MPI run as root (containers, CI: local/test "
               "profiles only).\nexport OMPI_ALLOW_RUN_AS_ROOT=1 "
               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
    else
        sb_add(&root, "# (no OMPI_ALLOW_RUN_AS_ROOT: production machine)");
    const char *launcher = a->launcher ? a->launcher : p->launcher;
    const char *bind = p->cpu_bind != PL_TRI_YES ? ""
                       : strcmp(launcher, "srun") == 0 ? "--cpu-bind=cores"
                                                       : "--bind-to core";
    char cwd[PATH_MAX], exe[PATH_MAX], jobabs[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = '\0';
    if (!getcwd(cwd, sizeof cwd) || !realpath(job->path, jobabs)) {
        pl_err("%s: cannot resolve the job file's path: %s", job->path,
               strerror(errno));
        return -1;
    }
    subst subs[] = {
        {"@JOB_NAME@", job_name(job->path)},
        {"@NODES@", xfmt("%llu", (unsigned long long)z->nodes)},
        {"@TASKS_PER_NODE@", xfmt("%llu", (unsigned long long)z->tpn)},
        {"@MEM_LINE@", mem.buf},
        {"@WALLTIME@", xfmt("%02llu:%02llu:%02llu",
                            (unsigned long long)(z->wall_s / 3600),
                            (unsigned long long)(z->wall_s / 60 % 60),
                            (unsigned long long)(z->wall_s % 60))},
        {"@PARTITION_LINE@", part.buf},
        {"@QOS_LINE@", qos.buf},
        {"@ACCOUNT_LINE@", acc.buf},
        {"@HINT_LINE@", hint.buf},
        {"@SIGNAL_SECONDS@", xfmt("%d", SIGNAL_S)},
        {"@PLAN_COMMENTS@", cm.buf},
        {"@MODULES@", mods.buf},
        {"@ROOT_ENV@", root.buf},
        {"@STRIPE@", stripe.buf},
        {"@PSEUDOLINK@", shq(exe)},
        {"@JOB@", shq(jobabs)},
        {"@LAUNCHER@", pl_xstrdup(launcher)},
        {"@SRUN_MPI@", shq(p->srun_mpi)},
        {"@CPU_BIND@", shq(bind)},
        {"@WORKDIR@", pl_xstrdup(cwd)},
        {"@RUN_ARGS@", run_args(a)},
    };
    size_t ns = sizeof subs / sizeof subs[0];
    unsigned hits[sizeof subs / sizeof subs[0]] = {0};
    int rc = fill_template(tmpl, subs, ns, out, hits);
    /* A site's own template written before @RUN_ARGS@ existed would drop
     * the transport key silently: the job would fail on the compute nodes
     * after waiting in the queue. */
    if (rc == 0 && a->transport && !hits[ns - 1]) {
        pl_err("%s: the sbatch template has no @RUN_ARGS@: the run would "
               "not get --transport-key; add RUN_ARGS=(@RUN_ARGS@) and pass "
               "\"${RUN_ARGS[@]}\" to `pseudolink run` (see "
               "slurm/pseudolink.sbatch)", tmpl);
        rc = -1;
    }
    for (size_t i = 0; i < ns; i++)
        free(subs[i].value);
    return rc;
}

static int write_out(const char *path, const sbuf *s)
{
    if (!path) {
        fwrite(s->buf, 1, s->len, stdout);
        return fflush(stdout) == 0 ? 0 : -1;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        pl_err("%s: cannot write the script: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int plan(const plan_args *a, pl_job *job, pl_profile *p,
                pl_throughput *t)
{
    char prof_path[PATH_MAX], tmpl[PATH_MAX];
    default_path("profiles.yaml", prof_path, sizeof prof_path);
    default_path("pseudolink.sbatch", tmpl, sizeof tmpl);
    if (pl_profile_load(a->profiles ? a->profiles : prof_path, a->profile, p,
                        t) ||
        pl_job_load(job, a->job, 0))
        return -1;
    if (p->account == PL_TRI_YES && !a->account) {
        pl_err("%s: profiles.%s.account: required (%s): plan needs "
               "--account NAME, your project (e.g. %s), or --account none",
               p->path, p->name, p->account_source, p->account_form);
        return -1;
    }
    uint64_t forced_wall = 0;
    if (a->walltime) {
        int64_t w = pl_parse_hms(a->walltime);
        if (w <= 0) {
            pl_err0("plan: --walltime expects HH:MM:SS, got '%s'",
                    a->walltime);
            return -1;
        }
        forced_wall = (uint64_t)w;
    }
    queue_set qs;
    if (set_queues(&qs, p, a))
        return -1;
    /* The same rule as `run` (cmd/run.c): packages and opposition lists
     * are read with the platform's transport key. Refused here, on the
     * login node, rather than after the job has waited in the queue. */
    int needs_key = job->n_opposition > 0;
    for (size_t i = 0; i < job->n_sources; i++)
        needs_key |= job->sources[i].package != NULL;
    if (needs_key && !a->transport) {
        pl_err("plan: %s reads transfer packages or opposition lists: "
               "give the platform's "
               "transport private key with --transport-key PEM "
               "[--transport-passphrase-file FILE]; the script passes them "
               "to `pseudolink run`", job->path);
        return -1;
    }
    if (!a->transport && a->transport_pass) {
        pl_err("plan: --transport-passphrase-file without --transport-key");
        return -1;
    }
    const char *tk[2] = {a->transport, a->transport_pass};
    for (int i = 0; i < 2; i++)
        if (tk[i] && access(tk[i], F_OK) != 0) {
            pl_err("plan: %s: %s: %s", i ? "--transport-passphrase-file"
                                         : "--transport-key",
                   tk[i], strerror(errno));
            return -1;
        }
    if (a->transport && !needs_key)
        pl_warn("plan: %s reads no transfer package: --transport-key is "
                "passed on but not needed", job->path);
    store_rows sr;
    if (read_rows(job, &sr))
        return -1;
    sizing z;
    memset(&z, 0, sizeof z);
    z.tpn = a->tpn ? a->tpn : p->cores_per_node;
    if (!a->tpn && !a->nodes && sr.rows / MIN_ROWS_PER_RANK < z.tpn)
        z.tpn = sr.rows / MIN_ROWS_PER_RANK ? sr.rows / MIN_ROWS_PER_RANK : 1;
    uint64_t usable = usable_bytes(p);
    z.mem_known = usable != 0;
    z.avail_rank = usable / z.tpn;
    if (choose_nodes(&z, &sr, job, p, t, a, &qs, forced_wall))
        return -1;
    set_walltime(&z, forced_wall);
    /* Ask for what the ranks need plus half, within what a node offers. */
    uint64_t want = ceil_div(z.mem.total * z.tpn * 3 / 2, GB);
    z.mem_node_gb = !z.mem_known ? 0 : want < usable / GB ? want : usable / GB;
    struct stat st;
    z.out_bytes = (stat(job->store, &st) == 0 ? (uint64_t)st.st_size : 0) +
                  48 * sr.rows;
    sbuf out = {0};
    int rc = render(&z, &sr, job, p, t, a, a->tmpl ? a->tmpl : tmpl, &out);
    if (rc == 0)
        rc = write_out(a->out, &out);
    if (rc == 0 && a->out)
        pl_info("plan: wrote %s: %llu node%s x %llu tasks, partition %s%s%s, "
                "--time=%02llu:%02llu:%02llu, launcher %s", a->out,
                (unsigned long long)z.nodes, z.nodes > 1 ? "s" : "",
                (unsigned long long)z.tpn,
                z.q->partition[0] ? z.q->partition : "(default)",
                z.q->qos[0] ? ", QoS " : "", z.q->qos,
                (unsigned long long)(z.wall_s / 3600),
                (unsigned long long)(z.wall_s / 60 % 60),
                (unsigned long long)(z.wall_s % 60),
                a->launcher ? a->launcher : p->launcher);
    free(out.buf);
    return rc;
}

int pl_plan_main(int argc, char **argv)
{
    plan_args a;
    if (parse_args(argc, argv, &a))
        return usage();
    pl_job job;
    pl_profile p;
    pl_throughput t;
    memset(&job, 0, sizeof job);
    memset(&p, 0, sizeof p);
    int rc = plan(&a, &job, &p, &t);
    pl_job_free(&job);
    pl_profile_free(&p);
    return rc ? 1 : 0;
}
