/* profile.h — EuroHPC node profiles (slurm/profiles.yaml), for `plan`.
 *
 * The file is parsed strictly with the project's YAML tree (yamltree.h):
 * unknown keys, wrong types and missing keys are errors naming the file,
 * the key path and line:column. A figure that the file marks `unknown` is
 * kept as 0 (PL_UNKNOWN) and the planner says what it assumes instead;
 * `auto` figures are read from this machine (cores, memory).
 */
#ifndef PL_PROFILE_H
#define PL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define PL_UNKNOWN 0
#define PL_PROF_STR 128
#define PL_PROF_MAX_MODULES 16

typedef struct {
    char     name[PL_PROF_STR];
    char     description[256];
    uint64_t cores_per_node;
    uint64_t memory_gb, usable_gb;      /* PL_UNKNOWN when not known */
    int      memory_auto;               /* figures read from this machine */
    char     partition[PL_PROF_STR], debug_partition[PL_PROF_STR];
    char     qos[PL_PROF_STR], debug_qos[PL_PROF_STR];  /* "" = none */
    uint64_t max_walltime_s, debug_max_walltime_s;      /* 0 = unknown */
    uint64_t max_nodes;                 /* 0 = unknown */
    int      account_required;
    char     account_form[PL_PROF_STR];
    char     launcher[16];              /* "srun" or "mpirun" */
    char     srun_mpi[32];              /* "" = none */
    int      smt;
    char    *modules[PL_PROF_MAX_MODULES];
    size_t   n_modules;
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
