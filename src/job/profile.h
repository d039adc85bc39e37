/* profile.h — EuroHPC node profiles (slurm/profiles.yaml), for `plan`.
 *
 * The file is parsed strictly with the project's YAML tree (yamltree.h):
 * unknown keys, wrong types and missing keys are errors naming the file,
 * the key path and line:column. A figure that the file marks `unknown` is
 * kept as 0 (PL_UNKNOWN) and the planner says what it assumes instead;
 * `auto` figures are read from this machine (cores, memory).
 *
 * A profile lists its queues: each a partition (and QoS) with its own
 * limits (nodes, walltime), allocation (whole nodes or per core), memory
 * flag and the page the figures come from (`source`). The planner picks
 * the first queue, in file order, that the job fits, and refuses a forced
 * --nodes/--walltime/--debug/--partition/--qos that breaks a limit, naming
 * the limit and its source.
 */
#ifndef PL_PROFILE_H
#define PL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define PL_UNKNOWN 0
#define PL_PROF_STR 128
#define PL_PROF_SRC 256
#define PL_PROF_MAX_MODULES 16
#define PL_PROF_MAX_QUEUES 8

/* Tri-state answers of the profile (`on`/`off`/`unknown` and the like). */
enum { PL_TRI_NO = 0, PL_TRI_YES = 1, PL_TRI_UNKNOWN = 2 };

/* How a queue allocates nodes. */
enum { PL_ALLOC_WHOLE_NODE, PL_ALLOC_PER_CORE, PL_ALLOC_UNKNOWN };

/* The memory request a queue wants in the script. */
enum {
    PL_MEM_PER_NODE,            /* --mem=<1.5 x estimate x tasks>G */
    PL_MEM_ALL,                 /* --mem=0: the whole node's memory */
    PL_MEM_PER_CPU,             /* --mem-per-cpu=<max(site value, need)>M */
    PL_MEM_NONE                 /* no memory flag (whole nodes, ignored) */
};

/* Scratch file system of the site (where outputs go). */
enum { PL_FS_UNKNOWN, PL_FS_LUSTRE, PL_FS_GPFS, PL_FS_LOCAL };

typedef struct {
    char     name[PL_PROF_STR];         /* label used in messages */
    char     partition[PL_PROF_STR];    /* "" = site default */
    char     qos[PL_PROF_STR];          /* "" = none */
    int      debug;                     /* use: debug (plan --debug) */
    int      allocation;                /* PL_ALLOC_* */
    int      memory;                    /* PL_MEM_* */
    uint64_t mem_per_cpu_mb;            /* PL_MEM_PER_CPU: site figure */
    uint64_t min_nodes, max_nodes;      /* 0 = unknown */
    uint64_t max_walltime_s;            /* 0 = unknown */
    char     source[PL_PROF_SRC];       /* where the limits come from */
    char     where[PL_PROF_SRC];        /* "profiles.X.queues[i]" */
} pl_queue;

typedef struct {
    char     name[PL_PROF_STR];
    char     description[256];
    char     path[PL_PROF_SRC];         /* the profiles file */
    uint64_t cores_per_node;
    uint64_t memory_gb, usable_gb;      /* PL_UNKNOWN when not known */
    int      memory_auto;               /* figures read from this machine */
    int      account;                   /* PL_TRI_YES = required */
    char     account_form[PL_PROF_STR];
    char     account_source[PL_PROF_SRC];
    char     launcher[16];              /* "srun" or "mpirun" */
    char     srun_mpi[32];              /* "" = no --mpi flag */
    int      srun_mpi_known;            /* 0: not documented (site default) */
    char     mpi_module[PL_PROF_STR];   /* which module provides the MPI */
    int      smt;                       /* PL_TRI_* */
    int      cpu_bind;                  /* PL_TRI_YES: bind ranks to cores */
    int      scratch;                   /* PL_FS_* */
    uint64_t lustre_osts;               /* 0 = unknown */
    int      run_as_root;               /* local/test profiles only */
    char    *modules[PL_PROF_MAX_MODULES];
    size_t   n_modules;
    pl_queue queues[PL_PROF_MAX_QUEUES];
    size_t   n_queues;
} pl_profile;

typedef struct {
    uint64_t records_per_rank_second;   /* measured throughput */
    uint64_t base_rank_mb;              /* resident memory of an idle rank */
} pl_throughput;

/* Load profile `name` from `path`. Errors (file, unknown profile with the
 * list of known ones, bad keys) are printed; returns 0 or -1. */
int  pl_profile_load(const char *path, const char *name, pl_profile *p,
                     pl_throughput *t);
void pl_profile_free(pl_profile *p);

/* Names of every profile in the file, comma-separated into buf (for
 * messages and `plan --list`). Returns 0 or -1 (printed). */
int  pl_profile_names(const char *path, char *buf, size_t n);

#endif
