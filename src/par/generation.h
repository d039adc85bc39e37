/* generation.h — an output directory whose whole set of files changes in
 * one atomic step.
 *
 * A run writes every output into a directory of its own,
 *     <out>/.pseudolink-run.tmp-<tag>/        (while it is being written)
 * holding a file RUN_ID (the tag and a newline) that marks it as ours. When
 * the set is complete it is sealed: renamed to
 *     <out>/.pseudolink-gen-<tag>/
 * and published by one rename(2) of a new symlink over <out>/current
 * (-> .pseudolink-gen-<tag>). The stable names people and tools use,
 * <out>/linked.h5 etc., are symlinks into current/ made once: a file the
 * new set does not have (a correspondence table after a run without
 * custody) dangles instead of standing there from an earlier run. The
 * previous generation stays complete and current until the swap, and is
 * removed after it. A directory whose RUN_ID is missing or says another
 * tag is not ours and is never removed.
 *
 * Every function is called by every rank; rank 0 does the file system work
 * and the status is shared (-1 on every rank together, after a message).
 */
#ifndef PL_PAR_GENERATION_H
#define PL_PAR_GENERATION_H

#include <mpi.h>
#include <stddef.h>

#define PL_GEN_CURRENT "current"

typedef struct {
    char *out;                  /* the output directory */
    char *dir;                  /* where this run writes (tmp, then gen) */
    char  tag[17];
    int   sealed, published;
} pl_generation;

/* Create <out>/.pseudolink-run.tmp-<tag>/ (0750) with its RUN_ID. */
int  pl_gen_begin(pl_generation *g, const char *out, const char *tag,
                  MPI_Comm comm);
/* Rename the finished directory to .pseudolink-gen-<tag> (g->dir follows),
 * after fsync of every file in it (`files`, relative names, n of them). */
int  pl_gen_seal(pl_generation *g, const char *const *files, size_t n,
                 MPI_Comm comm);
/* Make it current (one rename), make sure each stable name in `names`
 * is the symlink current/<name>, remove the previous generation. A
 * failure after the swap is only a warning: the new set is published. */
int  pl_gen_publish(pl_generation *g, const char *const *names, size_t n,
                    MPI_Comm comm);
/* Remove this run's directory (unsealed or sealed, never the current). */
void pl_gen_discard(pl_generation *g, MPI_Comm comm);
void pl_gen_free(pl_generation *g);

/* Not collective (rank 0, holding the output directory's lock): remove
 * every directory of ours that is not current (a dead or superseded run),
 * each with a warning; dead(tag, sealed, ctx) (may be NULL) is told the tag
 * of each run that died before publishing its outputs: before sealing them
 * (sealed 0), or sealed but never made current (sealed 1: begun after the
 * current generation). */
void pl_gen_clean(const char *out,
                  void (*dead)(const char *tag, int sealed, void *ctx),
                  void *ctx);

/* Not collective: the current generation's directory (malloc'd), or NULL
 * when the output directory has none yet. */
char *pl_gen_current(const char *out);

#endif
