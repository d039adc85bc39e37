/* budget.c — see budget.h. */
#include "stage/budget.h"
#include "stage/link.h"
#include "stage/linksort.h"
#include "base/log.h"
#include "par/mpi.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Bytes per batch row of every buffer sized by batch_rows: identity
 * columns and the second identity (integers as int64), p1 of both, keys,
 * second keys and edges, replies, pids, indices, reasons, candidates
 * (~390 with the grouped copy), link records and their grouped copy (64),
 * payload in/out (2 x the widest column, >= 64), exchange receive buffers (p1/link records and
 * replies, ~96 with the uneven-destination margin). */
#define ROW_BYTES 640
#define MIN_BATCH 256
#define MAX_BATCH (16u << 20)
#define MIN_RUN   256

void pl_budget_apply(pl_run *r)
{
    pl_job *j = r->job;
    uint64_t m = j->memory_per_rank ? j->memory_per_rank : PL_DEFAULT_MEMORY;
    if (!j->batch_rows_given) {
        uint64_t b = m / 4 / ROW_BYTES;
        j->batch_rows = b < MIN_BATCH ? MIN_BATCH : b > MAX_BATCH ? MAX_BATCH : b;
    }
    /* Uniform keys send ~batch/size records per destination: twice that
     * is one round in practice, and a round receives at most 2 batches. */
    if (j->exchange_cap == 0)
        r->cap = 2 * j->batch_rows / (uint64_t)r->size + 1;
    r->link_run = m / 2 / (2 * PL_LINK_BYTES);
    if (r->link_run < MIN_RUN)
        r->link_run = MIN_RUN;
    r->merge_bytes = m / 8;
}

static double gib(uint64_t b) { return (double)b / (1ull << 30); }

/* A Slurm "MB" figure from the environment (SLURM_MEM_PER_NODE, ...): 0
 * when absent or not a positive number (0 there means "all of it"). */
static uint64_t env_mb(const char *name)
{
    const char *s = getenv(name);
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || (*end && *end != 'M') || v == 0 || v > (UINT64_MAX >> 20))
        return 0;
    return (uint64_t)v << 20;
}

/* The memory this job may use on this node, when it is tighter than the
 * node's RAM: the cgroup v2 memory.max of this process's cgroup and its
 * ancestors (Slurm's task/cgroup limit), SLURM_MEM_PER_NODE, and
 * SLURM_MEM_PER_CPU x the job's CPUs here (SLURM_CPUS_ON_NODE, else the
 * ranks on the node). `what` names the limit that applied. */
static uint64_t job_memory(uint64_t phys, int local, char *what, size_t n)
{
    uint64_t best = phys;
    snprintf(what, n, "this node's memory");
    char line[4096], path[4200];
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::/", 4) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        for (char *cg = line + 3; *cg;) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s%smemory.max", cg,
                     cg[strlen(cg) - 1] == '/' ? "" : "/");
            FILE *m = fopen(path, "r");
            unsigned long long v;
            if (m && fscanf(m, "%llu", &v) == 1 && v > 0 && v < best) {
                best = v;
                snprintf(what, n, "the cgroup limit %s", path);
            }
            if (m)
                fclose(m);
            char *slash = strrchr(cg, '/');
            if (!slash || slash == cg)
                break;
            *slash = '\0';
        }
    }
    if (f)
        fclose(f);
    uint64_t node = env_mb("SLURM_MEM_PER_NODE");
    if (node && node < best) {
        best = node;
        snprintf(what, n, "the Slurm job limit SLURM_MEM_PER_NODE=%s MB",
                 getenv("SLURM_MEM_PER_NODE"));
    }
    uint64_t cpu = env_mb("SLURM_MEM_PER_CPU");
    const char *c = getenv("SLURM_CPUS_ON_NODE");
    long cpus = c ? atol(c) : 0;
    if (cpus <= 0)
        cpus = local;
    if (cpu && cpu * (uint64_t)cpus < best) {
        best = cpu * (uint64_t)cpus;
        snprintf(what, n, "the Slurm job limit SLURM_MEM_PER_CPU=%s MB x %ld "
                 "CPUs", getenv("SLURM_MEM_PER_CPU"), cpus);
    }
    return best;
}

/* A budget the node cannot hold would end in the kernel's OOM killer half
 * way through a run; refuse it before anything is read. The default budget
 * is shrunk instead (a laptop running several ranks), with a note. */
int pl_budget_check(pl_run *r)
{
    MPI_Comm node;
    int local = 1, lrank = 0;
    PL_MPI_CHECK(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, 0,
                                     MPI_INFO_NULL, &node));
    MPI_Comm_size(node, &local);
    MPI_Comm_rank(node, &lrank);
    MPI_Comm_free(&node);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    uint64_t phys = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    char what[4400];
    if (phys)
        phys = job_memory(phys, local, what, sizeof what);
    pl_job *j = r->job;
    uint64_t m = j->memory_per_rank ? j->memory_per_rank : PL_DEFAULT_MEMORY;
    int fits = phys == 0 || m <= phys / (uint64_t)local;
    if (!fits && j->memory_per_rank == 0) {
        uint64_t cap = phys / (uint64_t)local / 2;
        if (r->rank == 0)
            pl_info("memory per rank: default budget %.1f GiB lowered to "
                    "%.2f GiB (%d ranks share %.1f GiB on this node: %s)",
                    gib(m), gib(cap), local, gib(phys), what);
        j->memory_per_rank = cap ? cap : 1;
        return 0;
    }
    int ok = pl_all_ok(r->comm, fits);
    if (!fits && lrank == 0)
        pl_err("%s: options.memory_per_rank: %.1f GiB per rank x %d ranks "
               "on this node is more than the %.1f GiB this job may use "
               "here (%s); lower it, run fewer ranks per node or ask Slurm "
               "for more memory", j->path, gib(m), local, gib(phys), what);
    return ok ? 0 : -1;
}

void pl_budget_report(pl_run *r)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t mine[4] = {(uint64_t)ru.ru_maxrss, 0, 0, 0}, max[4];
    const pl_links_counts *lc = pl_links_count(pl_link_index(r));
    mine[1] = lc->n_persons * (PL_PID_BYTES + 4 * (r->store.n_src +
                                                   r->store.n_lsrc));
    mine[2] = pl_owner_bytes(&r->owner);              /* allocated */
    mine[3] = lc->spilled;
    PL_MPI_CHECK(MPI_Reduce(mine, max, 4, MPI_UINT64_T, MPI_MAX, 0, r->comm));
    if (r->rank != 0)
        return;
    uint64_t m = r->job->memory_per_rank ? r->job->memory_per_rank
                                         : PL_DEFAULT_MEMORY;
    pl_info("memory per rank: budget %.1f MiB, batch_rows %llu, links run "
            "%llu records", m / 1048576.0,
            (unsigned long long)r->job->batch_rows,
            (unsigned long long)r->link_run);
    pl_info("peak RSS per rank (max) %.1f MiB; growth terms (max rank): "
            "persons table %.1f MiB, pid dictionary %.1f MiB, links spilled "
            "%llu bytes", max[0] / 1024.0, max[1] / 1048576.0,
            max[2] / 1048576.0, (unsigned long long)max[3]);
}
