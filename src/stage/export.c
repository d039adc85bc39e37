/* export.c — see export.h: the reader registry and the HDF5 reader, which
 * is the store reader (stage/store.c) seen through the export interface. */
#include "stage/export.h"
#include "base/log.h"
#include "base/mem.h"
#include "stage/store.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pl_store st;
    hid_t    dxpl;
} h5x;

static int h5_open(pl_export *x, const char *path, const pl_job *job,
                   MPI_Comm comm)
{
    h5x *h = pl_xcalloc(1, sizeof *h);
    x->impl = h;
    h->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(h->dxpl, job->io == PL_IO_COLLECTIVE
                                  ? H5FD_MPIO_COLLECTIVE
                                  : H5FD_MPIO_INDEPENDENT);
    if (pl_store_open(&h->st, path, job, NULL, comm) != 0)
        return -1;
    x->nsrc = h->st.n_src;
    x->src = pl_xcalloc(x->nsrc, sizeof *x->src);
    for (size_t i = 0; i < x->nsrc; i++) {
        const pl_source *s = &h->st.src[i];
        pl_export_src *e = &x->src[i];
        e->cfg = s->cfg;
        e->path = x->path;
        e->nrows = s->nrows;
        e->first = s->first;
        e->count = s->count;
        e->nir_size = s->nir_size;
        e->has_rank = s->birth_rank >= 0;
        e->ncols = s->n_payload;
        e->cols = pl_xcalloc(s->n_payload + 1, sizeof *e->cols);
        for (size_t c = 0; c < s->n_payload; c++) {
            memcpy(e->cols[c].name, s->payload[c].name, PL_NAME_MAX);
            e->cols[c].mem_type = s->payload[c].mem_type;
            e->cols[c].size = s->payload[c].size;
            e->cols[c].nir_scan = s->payload[c].nir_scan;
        }
    }
    return 0;
}

static int h5_read_identity(pl_export *x, size_t si, uint64_t lo,
                            uint64_t cnt, char *nir, int64_t *bd,
                            int64_t *sex, int64_t *rank)
{
    h5x *h = x->impl;
    const pl_source *s = &h->st.src[si];
    uint64_t first = s->first + lo;
    char what[PL_NAME_MAX * 2 + 16];
    if (s->nir < 0)             /* a source without identity */
        return 0;
    hid_t nir_t = H5Dget_type(s->nir);          /* raw bytes */
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, s->cfg->nir);
    int rc = pl_store_read(&h->st, s->nir, what, nir_t, first, cnt, 0, nir,
                           h->dxpl);
    H5Tclose(nir_t);
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
             s->cfg->birth_date);
    rc |= pl_store_read(&h->st, s->birth_date, what, H5T_NATIVE_INT64, first,
                        cnt, 0, bd, h->dxpl);
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, s->cfg->sex);
    rc |= pl_store_read(&h->st, s->sex, what, H5T_NATIVE_INT64, first, cnt, 0,
                        sex, h->dxpl);
    if (s->birth_rank >= 0) {
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
                 s->cfg->birth_rank);
        rc |= pl_store_read(&h->st, s->birth_rank, what, H5T_NATIVE_INT64,
                            first, cnt, 0, rank, h->dxpl);
    }
    return rc ? -1 : 0;
}

static int h5_read_column(pl_export *x, size_t si, size_t ci, uint64_t lo,
                          uint64_t cnt, void *buf)
{
    h5x *h = x->impl;
    const pl_source *s = &h->st.src[si];
    const pl_column *c = &s->payload[ci];
    char what[PL_NAME_MAX * 2 + 16];
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name, c->name);
    return pl_store_read(&h->st, c->dset, what, c->mem_type, s->first + lo,
                         cnt, 0, buf, h->dxpl);
}

static void h5_close(pl_export *x)
{
    h5x *h = x->impl;
    if (!h)
        return;
    pl_store_close(&h->st);
    H5Pclose(h->dxpl);
    free(h);
    x->impl = NULL;
}

const pl_export_ops pl_export_hdf5 = {
    "hdf5", h5_open, h5_read_identity, h5_read_column, NULL, h5_close,
};

int pl_export_open(pl_export *x, const char *path, const pl_job *job,
                   MPI_Comm comm)
{
    memset(x, 0, sizeof *x);
    x->path = path;
    x->ops = job->n_sources && job->sources[0].csv ? &pl_export_csv
                                                    : &pl_export_hdf5;
    return x->ops->open(x, path, job, comm);
}

void pl_export_close(pl_export *x)
{
    if (x->ops)
        x->ops->close(x);
    for (size_t i = 0; i < x->nsrc; i++)
        free(x->src[i].cols);
    free(x->src);
    memset(x, 0, sizeof *x);
}
