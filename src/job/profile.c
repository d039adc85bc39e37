/* profile.c — see profile.h. */
#include "job/profile.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/yamltree.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const top_keys[] = {"throughput", "profiles", NULL};
static const char *const tp_keys[] = {"records_per_rank_second",
                                      "base_rank_mb", NULL};
static const char *const prof_keys[] = {
    "description", "cores_per_node", "memory_per_node_gb", "usable_memory_gb",
    "account", "account_form", "account_source", "launcher", "srun_mpi",
    "mpi_module", "smt", "cpu_bind", "scratch", "lustre_osts", "run_as_root",
    "modules", "queues", NULL};
static const char *const queue_keys[] = {
    "name", "partition", "qos", "use", "allocation", "memory",
    "mem_per_cpu_mb", "min_nodes", "max_nodes", "max_walltime", "source",
    NULL};

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        pl_err("%s: cannot read the node profiles: %s", path,
               strerror(errno));
        return -1;
    }
    *buf = pl_xmalloc((size_t)PL_YAML_MAX_BYTES + 1);
    *len = fread(*buf, 1, (size_t)PL_YAML_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || *len > PL_YAML_MAX_BYTES) {
        pl_err("%s: cannot read the node profiles: %s", path,
               err ? "read error" : "file too large");
        free(*buf);
        return -1;
    }
    return 0;
}

/* A required string, copied into out (n bytes). */
static int get_str(doc_t *d, node_t *map, const char *path, const char *key,
                   char *out, size_t n)
{
    node_t *v;
    const char *s;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key);
    if (pl_yaml_require(d, map, path, key, PL_YAML_SCALAR, &v) ||
        pl_yaml_string(d, v, sub, &s))
        return -1;
    if (strlen(s) >= n) {
        pl_yaml_error(d, v->line, v->col, sub, "value too long (limit %zu)",
                      n - 1);
        return -1;
    }
    snprintf(out, n, "%s", s);
    return 0;
}

/* A string where the word `none` means empty. */
static int get_opt_name(doc_t *d, node_t *map, const char *path,
                        const char *key, char *out, size_t n)
{
    if (get_str(d, map, path, key, out, n))
        return -1;
    if (strcmp(out, "none") == 0)
        out[0] = '\0';
    return 0;
}

/* A number, or `unknown` (-> 0), or `auto` when allowed (-> *is_auto). */
static int get_figure(doc_t *d, node_t *map, const char *path,
                      const char *key, uint64_t *out, int *is_auto)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key);
    if (pl_yaml_require(d, map, path, key, PL_YAML_SCALAR, &v))
        return -1;
    if (is_auto)
        *is_auto = 0;
    if (strcmp(v->str, "unknown") == 0) {
        *out = PL_UNKNOWN;
        return 0;
    }
    if (is_auto && strcmp(v->str, "auto") == 0) {
        *is_auto = 1;
        return 0;
    }
    if (pl_yaml_u64(d, v, sub, out))
        return -1;
    if (*out == 0) {
        pl_yaml_error(d, v->line, v->col, sub,
                      "expected a positive number, `unknown`%s",
                      is_auto ? " or `auto`" : "");
        return -1;
    }
    return 0;
}

/* An optional figure: absent -> `dflt`. */
static int get_opt_figure(doc_t *d, node_t *map, const char *path,
                          const char *key, uint64_t dflt, uint64_t *out)
{
    if (!pl_yaml_get(map, key)) {
        *out = dflt;
        return 0;
    }
    return get_figure(d, map, path, key, out, NULL);
}

static int get_walltime(doc_t *d, node_t *map, const char *path,
                        const char *key, uint64_t *out)
{
    char s[32];
    if (get_str(d, map, path, key, s, sizeof s))
        return -1;
    if (strcmp(s, "unknown") == 0) {
        *out = 0;
        return 0;
    }
    int64_t v = pl_parse_hms(s);
    if (v <= 0) {
        node_t *n = pl_yaml_get(map, key);
        char sub[PL_YAML_PATH_MAX];
        pl_yaml_path(sub, path, key);
        pl_yaml_error(d, n->line, n->col, sub,
                      "expected HH:MM:SS or `unknown`, got '%s'", s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int get_choice(doc_t *d, node_t *map, const char *path,
                      const char *key, const char *const choices[], int *out)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, key);
    return pl_yaml_require(d, map, path, key, PL_YAML_SCALAR, &v) ||
                   pl_yaml_enum(d, v, sub, choices, out)
               ? -1
               : 0;
}

/* `auto` figures: this machine's cores and memory. Usable memory is 80 %
 * of the physical memory: the OS, file cache and the Slurm daemons keep
 * the rest. */
static void fill_auto(pl_profile *p, int cores_auto)
{
    if (cores_auto) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        p->cores_per_node = c > 0 ? (uint64_t)c : 1;
    }
    if (p->memory_auto) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        uint64_t gb = pages > 0 && psz > 0
                          ? (uint64_t)pages * (uint64_t)psz / 1000000000ULL
                          : 1;
        p->memory_gb = gb ? gb : 1;
        p->usable_gb = p->memory_gb * 8 / 10 ? p->memory_gb * 8 / 10 : 1;
    }
}

static int parse_modules(doc_t *d, node_t *map, const char *path,
                         pl_profile *p)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, "modules");
    if (pl_yaml_require(d, map, path, "modules", PL_YAML_SEQUENCE, &v))
        return -1;
    char **list;
    size_t n;
    if (pl_yaml_strings(d, v, sub, &list, &n))
        return -1;
    if (n > PL_PROF_MAX_MODULES) {
        pl_yaml_error(d, v->line, v->col, sub, "at most %d lines",
                      PL_PROF_MAX_MODULES);
        pl_yaml_strings_free(list, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        p->modules[i] = list[i];
    p->n_modules = n;
    free(list);
    return 0;
}

static int parse_queue(doc_t *d, node_t *m, const char *path, pl_queue *q)
{
    static const char *const uses[] = {"production", "debug", NULL};
    static const char *const allocs[] = {"whole-node", "per-core", "unknown",
                                         NULL};
    static const char *const mems[] = {"per-node", "all", "per-cpu", "none",
                                       NULL};
    if (pl_yaml_expect(d, m, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, path, queue_keys) ||
        get_str(d, m, path, "name", q->name, sizeof q->name) ||
        get_opt_name(d, m, path, "partition", q->partition,
                     sizeof q->partition) ||
        get_opt_name(d, m, path, "qos", q->qos, sizeof q->qos) ||
        get_choice(d, m, path, "use", uses, &q->debug) ||
        get_choice(d, m, path, "allocation", allocs, &q->allocation) ||
        get_choice(d, m, path, "memory", mems, &q->memory) ||
        get_opt_figure(d, m, path, "mem_per_cpu_mb", 0, &q->mem_per_cpu_mb) ||
        get_opt_figure(d, m, path, "min_nodes", 1, &q->min_nodes) ||
        get_figure(d, m, path, "max_nodes", &q->max_nodes, NULL) ||
        get_walltime(d, m, path, "max_walltime", &q->max_walltime_s) ||
        get_str(d, m, path, "source", q->source, sizeof q->source))
        return -1;
    snprintf(q->where, sizeof q->where, "%s", path);
    if (q->memory == PL_MEM_PER_CPU && q->mem_per_cpu_mb == 0) {
        pl_yaml_error(d, m->line, m->col, path, "memory: per-cpu needs "
                      "mem_per_cpu_mb (the site's figure, in MB)");
        return -1;
    }
    if (q->max_nodes && q->min_nodes > q->max_nodes) {
        pl_yaml_error(d, m->line, m->col, path, "min_nodes %llu is above "
                      "max_nodes %llu", (unsigned long long)q->min_nodes,
                      (unsigned long long)q->max_nodes);
        return -1;
    }
    return 0;
}

static int parse_queues(doc_t *d, node_t *map, const char *path,
                        pl_profile *p)
{
    node_t *v;
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, "queues");
    if (pl_yaml_require(d, map, path, "queues", PL_YAML_SEQUENCE, &v))
        return -1;
    if (v->n_items == 0 || v->n_items > PL_PROF_MAX_QUEUES) {
        pl_yaml_error(d, v->line, v->col, sub, "expected 1 to %d queues, "
                      "got %zu", PL_PROF_MAX_QUEUES, v->n_items);
        return -1;
    }
    int have_prod = 0;
    for (size_t i = 0; i < v->n_items; i++) {
        char qp[PL_YAML_PATH_MAX];
        pl_yaml_path_index(qp, sub, i);
        if (parse_queue(d, v->items[i], qp, &p->queues[i]))
            return -1;
        have_prod |= !p->queues[i].debug;
    }
    p->n_queues = v->n_items;
    if (!have_prod) {
        pl_yaml_error(d, v->line, v->col, sub, "no queue with `use: "
                      "production`");
        return -1;
    }
    return 0;
}

static int parse_profile(doc_t *d, node_t *m, const char *path, pl_profile *p)
{
    static const char *const accounts[] = {"optional", "required", "unknown",
                                           NULL};
    static const char *const launchers[] = {"srun", "mpirun", NULL};
    static const char *const tri[] = {"off", "on", "unknown", NULL};
    static const char *const binds[] = {"none", "cores", "unknown", NULL};
    static const char *const fss[] = {"unknown", "lustre", "gpfs", "local",
                                      NULL};
    static const char *const roots[] = {"no", "allowed", NULL};
    int cores_auto = 0, usable_auto = 0, la = 0;
    char mpi[32];
    if (pl_yaml_expect(d, m, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, m, path, prof_keys) ||
        get_str(d, m, path, "description", p->description,
                sizeof p->description) ||
        get_figure(d, m, path, "cores_per_node", &p->cores_per_node,
                   &cores_auto) ||
        get_figure(d, m, path, "memory_per_node_gb", &p->memory_gb,
                   &p->memory_auto) ||
        get_figure(d, m, path, "usable_memory_gb", &p->usable_gb,
                   &usable_auto) ||
        get_choice(d, m, path, "account", accounts, &p->account) ||
        get_str(d, m, path, "account_form", p->account_form,
                sizeof p->account_form) ||
        get_str(d, m, path, "account_source", p->account_source,
                sizeof p->account_source) ||
        get_choice(d, m, path, "launcher", launchers, &la) ||
        get_str(d, m, path, "srun_mpi", mpi, sizeof mpi) ||
        get_str(d, m, path, "mpi_module", p->mpi_module,
                sizeof p->mpi_module) ||
        get_choice(d, m, path, "smt", tri, &p->smt) ||
        get_choice(d, m, path, "cpu_bind", binds, &p->cpu_bind) ||
        get_choice(d, m, path, "scratch", fss, &p->scratch) ||
        get_figure(d, m, path, "lustre_osts", &p->lustre_osts, NULL) ||
        get_choice(d, m, path, "run_as_root", roots, &p->run_as_root) ||
        parse_modules(d, m, path, p) || parse_queues(d, m, path, p))
        return -1;
    if (usable_auto != p->memory_auto) {
        pl_yaml_error(d, m->line, m->col, path, "memory_per_node_gb and "
                      "usable_memory_gb must both be `auto` or neither");
        return -1;
    }
    if (cores_auto == 0 && p->cores_per_node == PL_UNKNOWN) {
        pl_yaml_error(d, m->line, m->col, path, "cores_per_node cannot be "
                      "`unknown`: the planner needs it");
        return -1;
    }
    /* srun --mpi: a plugin name, `none` (plain srun, no flag) or
     * `unknown` (not documented: no flag, the site's MpiDefault). */
    p->srun_mpi_known = strcmp(mpi, "unknown") != 0;
    snprintf(p->srun_mpi, sizeof p->srun_mpi, "%s",
             strcmp(mpi, "none") == 0 || !p->srun_mpi_known ? "" : mpi);
    snprintf(p->launcher, sizeof p->launcher, "%s", launchers[la]);
    fill_auto(p, cores_auto);
    return 0;
}

static int parse_throughput(doc_t *d, node_t *root, pl_throughput *t)
{
    node_t *m, *v;
    if (pl_yaml_require(d, root, "", "throughput", PL_YAML_MAPPING, &m) ||
        pl_yaml_check_keys(d, m, "throughput", tp_keys))
        return -1;
    if (pl_yaml_require(d, m, "throughput", "records_per_rank_second",
                        PL_YAML_SCALAR, &v) ||
        pl_yaml_u64(d, v, "throughput.records_per_rank_second",
                    &t->records_per_rank_second))
        return -1;
    if (pl_yaml_require(d, m, "throughput", "base_rank_mb", PL_YAML_SCALAR,
                        &v) ||
        pl_yaml_u64(d, v, "throughput.base_rank_mb", &t->base_rank_mb))
        return -1;
    if (t->records_per_rank_second == 0) {
        pl_yaml_error(d, v->line, v->col, "throughput.records_per_rank_"
                      "second", "must be positive");
        return -1;
    }
    return 0;
}

/* Parse the file and hand the root to `fn`. */
static int with_doc(const char *path, pl_yaml_doc *doc, node_t **profiles)
{
    char *buf;
    size_t len;
    if (read_file(path, &buf, &len))
        return -1;
    int rc = pl_yaml_parse(doc, path, buf, len, 0);
    free(buf);
    if (rc)
        return -1;
    if (!doc->root) {
        pl_yaml_error(doc, 0, 0, "", "empty file (expected the keys "
                      "throughput and profiles)");
        return -1;
    }
    if (pl_yaml_expect(doc, doc->root, "", PL_YAML_MAPPING) ||
        pl_yaml_check_keys(doc, doc->root, "", top_keys) ||
        pl_yaml_require(doc, doc->root, "", "profiles", PL_YAML_MAPPING,
                        profiles)) {
        pl_yaml_free(doc);
        return -1;
    }
    return 0;
}

static void names_of(node_t *profiles, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < profiles->n_pairs && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "",
                                profiles->pairs[i].key->str);
}

int pl_profile_names(const char *path, char *buf, size_t n)
{
    pl_yaml_doc doc = {0};
    node_t *profiles;
    if (with_doc(path, &doc, &profiles))
        return -1;
    names_of(profiles, buf, n);
    pl_yaml_free(&doc);
    return 0;
}

int pl_profile_load(const char *path, const char *name, pl_profile *p,
                    pl_throughput *t)
{
    memset(p, 0, sizeof *p);
    memset(t, 0, sizeof *t);
    pl_yaml_doc doc = {0};
    node_t *profiles;
    if (with_doc(path, &doc, &profiles))
        return -1;
    int rc = parse_throughput(&doc, doc.root, t);
    node_t *m = pl_yaml_get(profiles, name);
    if (rc == 0 && !m) {
        char names[1024];
        names_of(profiles, names, sizeof names);
        pl_err("%s: profiles: no profile named '%s' (known: %s)", path, name,
               names);
        rc = -1;
    }
    if (rc == 0) {
        char sub[PL_YAML_PATH_MAX];
        pl_yaml_path(sub, "profiles", name);
        snprintf(p->name, sizeof p->name, "%s", name);
        snprintf(p->path, sizeof p->path, "%s", path);
        rc = parse_profile(&doc, m, sub, p);
    }
    pl_yaml_free(&doc);
    if (rc)
        pl_profile_free(p);
    return rc;
}

void pl_profile_free(pl_profile *p)
{
    for (size_t i = 0; i < p->n_modules; i++)
        free(p->modules[i]);
    p->n_modules = 0;
}
