/* linked.h — the linked.h5 layout (docs/FORMATS.md is the reader's
 * reference), written in parallel: /linked/<source> (pid, row, payload),
 * /rejects, /links, /persons and the root attributes. Its index part
 * (/links, /persons, the common root attributes) is written by the same
 * code for every extract (stage/extract.h), whose layout is the same.
 *
 * Every dataset is created collectively with its global length; each rank
 * writes its slice at its prefix-sum offset, so row order (input order for
 * sources, key order for links and persons) never depends on the number
 * of ranks and keyed outputs are identical for any rank count. All
 * functions are collective; -1 on every rank together.
 */
#ifndef PL_STAGE_LINKED_H
#define PL_STAGE_LINKED_H

#include <signal.h>

#include "par/output.h"
#include "stage/link.h"
#include "stage/run.h"

/* <run dir>/linked.h5, every dataset sized from the count pass. */
int  pl_linked_begin(pl_run *r);
/* The ingest's batch sink (stage/ingest.h): rows, pids, payload, rejects. */
int  pl_linked_batch(pl_run *r, size_t si, uint64_t lo, uint64_t cnt,
                     const uint8_t *why, const uint8_t *pids);
/* After the links index is finished: /links, /persons, the attributes;
 * the file is closed and handed to the caller in *out (unpublished). */
int  pl_linked_end(pl_run *r, pl_outfile *out);
/* Discard the temporary (any time before pl_linked_end succeeded). */
void pl_linked_abort(pl_run *r);

/* /links and /persons of a linked-layout file from an index; names[ns]
 * are its sources; links are written `chunk` records at a time; a set
 * *stop ends the writing with -1. */
int pl_linked_write_index(pl_outfile *f, MPI_Comm comm, hid_t dxpl,
                          pl_links *l, const char *const *names, size_t ns,
                          uint64_t chunk, volatile sig_atomic_t *stop);
/* Root attributes every linked-layout file has: persons, mode, sources. */
int pl_linked_write_root(hid_t root, pl_mode mode, uint64_t persons,
                         const char *const *names, size_t ns);

#endif
