/* store.c — see store.h. */
#include "stage/store.h"
#include "base/log.h"
#include "base/json.h"
#include "base/mem.h"
#include "job/linkage_config.h"
#include "par/mpi.h"
#include "par/h5.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "a 32-bit signed integer", "a fixed-length string of 6 bytes", ... */
static void describe_type(hid_t t, char *out, size_t n)
{
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(out, n, "a %zu-bit %s integer", H5Tget_size(t) * 8,
                 H5Tget_sign(t) == H5T_SGN_NONE ? "unsigned" : "signed");
        break;
    case H5T_FLOAT:
        snprintf(out, n, "a %zu-bit float", H5Tget_size(t) * 8);
        break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) > 0)
            snprintf(out, n, "a variable-length string");
        else
            snprintf(out, n, "a fixed-length string of %zu bytes",
                     H5Tget_size(t));
        break;
    case H5T_COMPOUND: snprintf(out, n, "a compound type"); break;
    case H5T_ENUM:     snprintf(out, n, "an enum type"); break;
    case H5T_VLEN:     snprintf(out, n, "a variable-length sequence"); break;
    case H5T_ARRAY:    snprintf(out, n, "an array type"); break;
    case H5T_OPAQUE:   snprintf(out, n, "an opaque type"); break;
    case H5T_REFERENCE: snprintf(out, n, "a reference type"); break;
    case H5T_BITFIELD: snprintf(out, n, "a bitfield type"); break;
    default:           snprintf(out, n, "an unsupported type"); break;
    }
}

/* Dataset shape: rank and dims (up to 2). Returns rank, -1 on failure. */
static int dset_shape(hid_t d, hsize_t dims[2])
{
    hid_t sp = H5Dget_space(d);
    if (sp < 0)
        return -1;
    int nd = H5Sget_simple_extent_ndims(sp);
    dims[0] = dims[1] = 0;
    if (nd >= 1 && nd <= 2)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    return nd;
}

typedef struct {
    const char *store;          /* for messages */
    const char *source;
    char *const *allow_nir;     /* allow_nir_like of the job */
    size_t n_allow_nir;
} ctx_t;

static int in_list(char *const *list, size_t n, const char *s);

/* Open /sources/<s>/<col>, or say what is missing. */
static hid_t open_column(const ctx_t *c, hid_t group, const char *col,
                         const char *role)
{
    htri_t ex = H5Lexists(group, col, H5P_DEFAULT);
    if (ex <= 0) {
        pl_err0("%s: /sources/%s/%s: %s column not found (named in the job "
                "file)", c->store, c->source, col, role);
        return -1;
    }
    H5O_info_t oi;
    if (H5Oget_info_by_name(group, col, &oi, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_DATASET) {
        pl_err0("%s: /sources/%s/%s: expected a dataset (%s column), found "
                "another kind of object", c->store, c->source, col, role);
        return -1;
    }
    hid_t d = H5Dopen2(group, col, H5P_DEFAULT);
    if (d < 0)
        pl_err0("%s: /sources/%s/%s: cannot open dataset: %s", c->store,
                c->source, col, pl_h5_reason());
    return d;
}

/* Check class/shape of an identity column; returns 0 or -1 (reported). */
static int check_identity(const ctx_t *c, hid_t d, const char *col,
                          const char *role, size_t *nir_size)
{
    hid_t t = H5Dget_type(d);
    hsize_t dims[2];
    int nd = dset_shape(d, dims);
    char found[96];
    describe_type(t, found, sizeof found);
    int ok;
    const char *expected;
    if (strcmp(role, "nir") == 0) {
        expected = "a 1-D fixed-length ASCII string dataset of 15 bytes "
                   "(NULLPAD or NULLTERM; 16 with a terminator)";
        size_t sz = H5Tget_size(t);
        ok = nd == 1 && H5Tget_class(t) == H5T_STRING &&
             H5Tis_variable_str(t) == 0 && (sz == 15 || sz == 16);
        if (ok)
            *nir_size = sz;
    } else if (strcmp(role, "p1") == 0) {
        expected = "a 2-D uint8 dataset of shape (N, 32)";
        ok = nd == 2 && dims[1] == 32 && H5Tget_class(t) == H5T_INTEGER &&
             H5Tget_size(t) == 1;
    } else {
        expected = "a 1-D integer dataset";
        ok = nd == 1 && H5Tget_class(t) == H5T_INTEGER;
    }
    H5Tclose(t);
    if (!ok) {
        pl_err0("%s: /sources/%s/%s: %s column: expected %s, found %s "
                "(%d-D)", c->store, c->source, col, role, expected, found,
                nd);
        return -1;
    }
    return 0;
}

/* Payload columns are carried with their native type: integers and floats
 * of any width, fixed-length strings. */
static int payload_type(const ctx_t *c, hid_t d, const char *col,
                        pl_column *out)
{
    hid_t t = H5Dget_type(d);
    hsize_t dims[2];
    int nd = dset_shape(d, dims);
    H5T_class_t cl = H5Tget_class(t);
    int ok = nd == 1 &&
             (cl == H5T_INTEGER || cl == H5T_FLOAT ||
              (cl == H5T_STRING && H5Tis_variable_str(t) == 0));
    if (!ok) {
        char found[96];
        describe_type(t, found, sizeof found);
        pl_err0("%s: /sources/%s/%s: payload column: expected a 1-D dataset "
                "of integers, floats or fixed-length strings, found %s "
                "(%d-D); drop it in the job file or convert it", c->store,
                c->source, col, found, nd);
        H5Tclose(t);
        return -1;
    }
    out->mem_type = cl == H5T_STRING ? H5Tcopy(t)
                                     : H5Tget_native_type(t, H5T_DIR_ASCEND);
    out->size = H5Tget_size(out->mem_type);
    out->nir_scan = pl_scan_kind_of(cl == H5T_STRING ? 2
                                    : cl == H5T_FLOAT ? 1 : 0, out->size,
                                    H5Tget_sign(t) != H5T_SGN_NONE);
    if (in_list(c->allow_nir, c->n_allow_nir, col))
        out->nir_scan = PL_SCAN_NONE;   /* the job says it may be carried */
    out->dset = d;
    snprintf(out->name, sizeof out->name, "%s", col);
    H5Tclose(t);
    return 0;
}

typedef struct {
    char **names;
    size_t n;
} namelist;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *li,
                           void *data)
{
    (void)li;
    namelist *nl = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_DATASET)
        return 0;               /* subgroups and others are not columns */
    nl->names = pl_xrealloc(nl->names, (nl->n + 1) * sizeof *nl->names);
    nl->names[nl->n++] = pl_xstrdup(name);
    return 0;
}

static void namelist_free(namelist *nl)
{
    for (size_t i = 0; i < nl->n; i++)
        free(nl->names[i]);
    free(nl->names);
}

static int in_list(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int is_identity(const pl_source_cfg *s, const char *col)
{
    return strcmp(col, s->nir) == 0 || strcmp(col, s->birth_date) == 0 ||
           strcmp(col, s->sex) == 0 || strcmp(col, s->birth_rank) == 0 ||
           strcmp(col, s->p1) == 0 || strcmp(col, s->also_nir) == 0 ||
           strcmp(col, s->also_birth_rank) == 0;
}

/* Every dataset of the source must have the same length: a column shorter
 * than the others would silently misalign records. */
static int check_lengths(const ctx_t *c, hid_t g, const namelist *nl,
                         uint64_t *nrows)
{
    const char *first = NULL;
    for (size_t i = 0; i < nl->n; i++) {
        hid_t d = H5Dopen2(g, nl->names[i], H5P_DEFAULT);
        hsize_t dims[2];
        int nd = d < 0 ? -1 : dset_shape(d, dims);
        if (d >= 0)
            H5Dclose(d);
        if (nd < 1) {
            pl_err0("%s: /sources/%s/%s: cannot read the dataset's shape "
                    "(expected a 1-D column)", c->store, c->source,
                    nl->names[i]);
            return -1;
        }
        if (!first) {
            first = nl->names[i];
            *nrows = dims[0];
        } else if (dims[0] != *nrows) {
            pl_err0("%s: /sources/%s: columns of unequal length: '%s' has "
                    "%llu rows, '%s' has %llu; every column of a source must "
                    "have the same length", c->store, c->source, first,
                    (unsigned long long)*nrows, nl->names[i],
                    (unsigned long long)dims[0]);
            return -1;
        }
    }
    if (!first) {
        pl_err0("%s: /sources/%s: the group holds no dataset", c->store,
                c->source);
        return -1;
    }
    return 0;
}

static int open_identity(const ctx_t *c, pl_source *s)
{
    const pl_source_cfg *cfg = s->cfg;
    struct { const char *col, *role; hid_t *out; size_t *sz; } ids[] = {
        {cfg->nir, "nir", &s->nir, &s->nir_size},
        {cfg->birth_date, "birth_date", &s->birth_date, NULL},
        {cfg->sex, "sex", &s->sex, NULL},
        {cfg->birth_rank, "birth_rank", &s->birth_rank, NULL},
        {cfg->p1, "p1", &s->p1, NULL},
        {cfg->also_nir, "nir", &s->also_nir, &s->also_nir_size},
        {cfg->also_birth_rank, "birth_rank", &s->also_birth_rank, NULL},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (ids[i].col[0] == '\0')
            continue;
        size_t unused;
        *ids[i].out = open_column(c, s->group, ids[i].col, ids[i].role);
        if (*ids[i].out < 0 ||
            check_identity(c, *ids[i].out, ids[i].col, ids[i].role,
                           ids[i].sz ? ids[i].sz : &unused) != 0)
            return -1;
    }
    return 0;
}

/* Choose the payload columns: `keep` in its order, or every non-identity
 * column not in `drop`, in the store's (name) order. */
static int open_payload(const ctx_t *c, pl_source *s, const namelist *nl)
{
    const pl_source_cfg *cfg = s->cfg;
    for (size_t i = 0; i < cfg->n_drop; i++)
        if (!in_list(nl->names, nl->n, cfg->drop[i])) {
            pl_err0("%s: /sources/%s/%s: column named in 'drop' not found",
                    c->store, c->source, cfg->drop[i]);
            return -1;
        }
    char **want = cfg->keep_given ? cfg->keep : nl->names;
    size_t nwant = cfg->keep_given ? cfg->n_keep : nl->n;
    s->payload = pl_xcalloc(nwant, sizeof *s->payload);
    for (size_t i = 0; i < nwant; i++) {
        const char *col = want[i];
        if (!cfg->keep_given &&
            (is_identity(cfg, col) || in_list(cfg->drop, cfg->n_drop, col)))
            continue;
        hid_t d = open_column(c, s->group, col, "kept");
        if (d < 0)
            return -1;
        if (payload_type(c, d, col, &s->payload[s->n_payload]) != 0) {
            H5Dclose(d);
            return -1;
        }
        s->n_payload++;
    }
    return 0;
}

/* A column of nrows > 0 rows whose storage was never allocated (declared,
 * never written) reads as its fill value: counted for the run's warnings. */
static void note_unwritten(pl_source *s, hid_t d, const char *col)
{
    H5D_space_status_t st;
    if (d < 0 || s->nrows == 0 || H5Dget_space_status(d, &st) < 0 ||
        st == H5D_SPACE_STATUS_ALLOCATED)
        return;
    if (s->n_unwritten++ == 0)
        snprintf(s->unwritten, sizeof s->unwritten, "%s", col);
}

static void find_unwritten(pl_source *s)
{
    const pl_source_cfg *cfg = s->cfg;
    hid_t ids[] = {s->nir, s->birth_date, s->sex, s->birth_rank, s->p1,
                   s->also_nir, s->also_birth_rank};
    const char *cols[] = {cfg->nir, cfg->birth_date, cfg->sex,
                          cfg->birth_rank, cfg->p1, cfg->also_nir,
                          cfg->also_birth_rank};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        note_unwritten(s, ids[i], cols[i]);
    for (size_t i = 0; i < s->n_payload; i++)
        note_unwritten(s, s->payload[i].dset, s->payload[i].name);
}

/* allow_nir_like names columns of the store (a typo would protect
 * nothing and allow nothing). */
static int check_allowed(const ctx_t *c, const namelist *nl)
{
    for (size_t i = 0; i < c->n_allow_nir; i++)
        if (!in_list(nl->names, nl->n, c->allow_nir[i])) {
            pl_err0("%s: /sources/%s/%s: column named in 'allow_nir_like' "
                    "not found", c->store, c->source, c->allow_nir[i]);
            return -1;
        }
    return 0;
}

static int open_source(const pl_store *st, pl_source *s, MPI_Comm comm)
{
    ctx_t c = {st->path, s->cfg->name, s->cfg->allow_nir,
               s->cfg->n_allow_nir};
    char gpath[PL_NAME_MAX + 16];
    snprintf(gpath, sizeof gpath, "/sources/%s", s->cfg->name);
    if (H5Lexists(st->file, "/sources", H5P_DEFAULT) <= 0 ||
        H5Lexists(st->file, gpath, H5P_DEFAULT) <= 0) {
        pl_err0("%s: %s: source group not found (source '%s' of the job "
                "file; expected a group /sources/<name>)", st->path, gpath,
                s->cfg->name);
        return -1;
    }
    s->group = H5Gopen2(st->file, gpath, H5P_DEFAULT);
    if (s->group < 0) {
        pl_err0("%s: %s: expected a group: %s", st->path, gpath,
                pl_h5_reason());
        return -1;
    }
    namelist nl = {0};
    H5Literate(s->group, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &nl);
    int rc = check_lengths(&c, s->group, &nl, &s->nrows);
    if (rc == 0)
        rc = open_identity(&c, s);
    if (rc == 0)
        rc = check_allowed(&c, &nl);
    if (rc == 0)
        rc = open_payload(&c, s, &nl);
    if (rc == 0)
        find_unwritten(s);
    namelist_free(&nl);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    pl_block(s->nrows, rank, size, &s->first, &s->count);
    return rc;
}

/* The audit line's input digest covers the store file's bytes. HDF5 can
 * also read bytes from other files: external links, external raw storage
 * and virtual datasets. Such a store is refused (rank 0, serial open),
 * naming the object, rather than digesting a file that is not all of the
 * input. */
typedef struct {
    const char *path;
    int bad;
} visit_ctx;

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info,
                         void *vctx)
{
    visit_ctx *c = vctx;
    (void)g;
    if (info->type == H5L_TYPE_EXTERNAL) {
        pl_err0("%s: /%s is an external link (its data lives in another "
                "file, which the audit digest would not cover): copy the data "
                "into the store (h5repack or h5copy) and run again", c->path,
                name);
        c->bad = 1;
        return 1;
    }
    return 0;
}

static herr_t visit_obj(hid_t loc, const char *name, const H5O_info_t *info,
                        void *vctx)
{
    visit_ctx *c = vctx;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t dcpl = H5Dget_create_plist(d);
    const char *why = NULL;
    if (H5Pget_layout(dcpl) == H5D_VIRTUAL)
        why = "a virtual dataset (it maps data of other files)";
    else if (H5Pget_external_count(dcpl) > 0)
        why = "stored in external raw data files";
    H5Pclose(dcpl);
    H5Dclose(d);
    if (why) {
        pl_err0("%s: /%s is %s, which the audit digest of the store would not "
                "cover: copy the data into the store (h5repack) and run again",
                c->path, name, why);
        c->bad = 1;
        return 1;
    }
    return 0;
}

static int self_contained(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        pl_err0("%s: cannot open store: %s", path, pl_h5_reason());
        return -1;
    }
    visit_ctx c = {path, 0};
    H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_link, &c);
    if (!c.bad)
        H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_obj, &c,
                  H5O_INFO_BASIC);
    H5Fclose(f);
    pl_h5_reason();             /* clear what the visits left */
    return c.bad ? -1 : 0;
}

/* Existence and signature are checked on rank 0 first, so that a missing or
 * foreign file gets one clear message rather than an MPI-IO error per rank. */
static int precheck(const char *path, MPI_Comm comm)
{
    int rank, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            pl_err0("%s: cannot open store: %s", path, strerror(errno));
            ok = 0;
        } else if (!S_ISREG(sb.st_mode)) {
            pl_err0("%s: cannot open store: not a regular file", path);
            ok = 0;
        } else if (H5Fis_hdf5(path) <= 0) {
            pl_err0("%s: cannot open store: not an HDF5 file (no HDF5 "
                    "signature found)", path);
            ok = 0;
        } else if (self_contained(path) != 0) {
            ok = 0;
        }
    }
    ok = pl_root_ok(comm, ok);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Sources from transfer packages */

/* Column 0 is p1 in a source with an identity; a linkage source
 * delivered without identity has none (docs/PACKAGE.md). */
static size_t pkg_first_col(const pl_pkg_src *ps)
{
    return ps->ncols && strcmp(ps->cols[0].type, "p1") == 0 ? 1 : 0;
}

static int pkg_col_index(const pl_pkg_src *ps, const char *name)
{
    for (size_t c = pkg_first_col(ps); c < ps->ncols; c++)
        if (strcmp(ps->cols[c].name, name) == 0)
            return (int)c;
    return -1;
}

static const char *pkg_names(const pl_pkg *p, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->nsrc && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s'%s'", i ? ", " : "",
                              p->src[i].name);
    return buf;
}

static int pkg_payload(pl_source *s, const pl_pkg *p, const pl_pkg_src *ps)
{
    const pl_source_cfg *cfg = s->cfg;
    char *const *lists[] = {cfg->keep, cfg->drop, cfg->allow_nir};
    size_t nl[] = {cfg->n_keep, cfg->n_drop, cfg->n_allow_nir};
    static const char *const ln[] = {"keep", "drop", "allow_nir_like"};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < nl[l]; i++)
            if (pkg_col_index(ps, lists[l][i]) < 0) {
                pl_err0("%s: package source '%s': column '%s' named in "
                        "'%s' is not in the package", p->path, s->cfg->name,
                        lists[l][i], ln[l]);
                return -1;
            }
    /* A birth_rank column beside p1 is identity, not payload. */
    size_t pc = pkg_first_col(ps) + (s->pkg_rank ? 1 : 0);
    for (int l = 0; s->pkg_rank && l < 3; l++)
        if (in_list(lists[l], nl[l], "birth_rank")) {
            pl_err0("%s: package source '%s': 'birth_rank' named in '%s' "
                    "is the package's identity column (beside p1), not "
                    "payload", p->path, s->cfg->name, ln[l]);
            return -1;
        }
    s->payload = pl_xcalloc(ps->ncols, sizeof *s->payload);
    size_t nwant = cfg->keep_given ? cfg->n_keep : ps->ncols - pc;
    for (size_t i = 0; i < nwant; i++) {
        int c = cfg->keep_given ? pkg_col_index(ps, cfg->keep[i])
                                : (int)(i + pc);
        if (!cfg->keep_given &&
            in_list(cfg->drop, cfg->n_drop, ps->cols[c].name))
            continue;
        if (ps->cols[c].type[0] == 'b') {   /* an encoding: linkage only */
            if (!cfg->keep_given)
                continue;
            pl_err0("%s: package source '%s': column '%s' is a Bloom-filter "
                    "encoding: it is compared by linkage.fields (compare: "
                    "dice), never carried as payload (remove it from "
                    "'keep')", p->path, s->cfg->name, ps->cols[c].name);
            return -1;
        }
        pl_column *col = &s->payload[s->n_payload++];
        snprintf(col->name, sizeof col->name, "%s", ps->cols[c].name);
        col->dset = -1;
        col->mem_type = pl_pkg_h5type(ps->cols[c].type);
        col->size = ps->cols[c].size;
        col->pkg_col = (size_t)c;
        const char *t = ps->cols[c].type;
        col->nir_scan = pl_scan_kind_of(t[0] == 's' ? 2 : t[0] == 'f' ? 1 : 0,
                                        col->size, t[0] == 'i');
        if (in_list(cfg->allow_nir, cfg->n_allow_nir, col->name))
            col->nir_scan = PL_SCAN_NONE;
    }
    return 0;
}

/* The audit line's record of a package: path, id, kind, digest, producer,
 * signer, creation time, its sources and rows. */
static void json_add(char **json, const pl_pkg *p)
{
    uint64_t rows = 0;
    for (size_t i = 0; i < p->nsrc; i++)
        rows += p->src[i].rows;
    char *e = pl_json_escape(p->path);      /* as the job names it */
    char srcs[PL_PKG_NAME_MAX * 8 + 64] = "";
    size_t o = 0;
    for (size_t i = 0; i < p->nsrc && o < sizeof srcs - 1; i++)
        o += (size_t)snprintf(srcs + o, sizeof srcs - o, "%s\"%s\"",
                              i ? "," : "", p->src[i].name);
    char *item = pl_xasprintf(
        "%s{\"path\":\"%s\",\"id\":\"%s\",\"kind\":\"%s\","
        "\"digest\":\"%s\",\"producer\":\"%s\",\"signer\":\"%s\","
        "\"created\":\"%s\",\"sources\":[%s],\"rows\":%llu}",
        *json ? "," : "", e, p->id_hex, p->kind, p->digest, p->producer,
        p->signer, p->created, srcs, (unsigned long long)rows);
    free(e);
    char *n = pl_xasprintf("%s%s", *json ? *json : "", item);
    free(item);
    free(*json);
    *json = n;
}

/* One package id, one content: a package whose id is already in this run
 * (st->packages_json) with another digest is refused — an id is 16 random
 * bytes, so two signed manifests under one id are a producer's fault or a
 * forgery, never two deliveries. The same package again (a copy: same id,
 * same digest) is accepted. Not collective (same verdict on every rank:
 * every rank holds the same list). */
static int id_conflict(const pl_store *st, const pl_pkg *p)
{
    char needle[2 * PL_PKG_ID_BYTES + 16];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", p->id_hex);
    for (const char *q = st->packages_json; q && (q = strstr(q, needle));
         q += strlen(needle)) {
        const char *d = strstr(q, "\"digest\":\"");
        if (d && strncmp(d + 10, p->digest, strlen(p->digest)) != 0) {
            pl_err0("%s: package: its id %s is that of another package of "
                    "this run with other contents (digest %s): refused",
                    p->path, p->id_hex, p->digest);
            return 1;
        }
    }
    return 0;
}

static int open_package_source(pl_store *st, pl_source *s,
                               const pl_pkg_keys *k, int linkage_only,
                               MPI_Comm comm)
{
    /* Sources of one package share it: verified and unwrapped once. */
    pl_pkg *p = NULL;
    for (size_t i = 0; i < st->n_pkgs && !p; i++)
        if (strcmp(st->pkgs[i].path, s->cfg->package) == 0)
            p = &st->pkgs[i];
    if (!p) {
        p = &st->pkgs[st->n_pkgs];
        if (pl_pkg_open(p, s->cfg->package, k->trusted, k->ntrusted,
                        k->transport, comm) != 0)
            return -1;
        st->n_pkgs++;
        if (id_conflict(st, p))
            return -1;
        json_add(&st->packages_json, p);
    }
    s->pkg = p;
    char names[512];
    if (strcmp(p->kind, "data") != 0) {
        pl_err0("%s: package: an opposition package, named as the data of "
                "source '%s' (list it under 'opposition')", p->path,
                s->cfg->name);
        return -1;
    }
    s->pkg_si = pl_pkg_source(p, s->cfg->name);
    if (s->pkg_si < 0) {
        pl_err0("%s: package: delivered for source%s %s, not for '%s' "
                "(%s.%s): refused", p->path,
                p->nsrc == 1 ? "" : "s", pkg_names(p, names, sizeof names),
                s->cfg->name, linkage_only ? "linkage.packages" : "sources",
                linkage_only ? s->cfg->name : "package");
        return -1;
    }
    const pl_pkg_src *ps = &p->src[s->pkg_si];
    int has_p1 = strcmp(ps->cols[0].type, "p1") == 0;
    if (has_p1 != !linkage_only) {
        pl_err0("%s: package: source '%s' %s", p->path, s->cfg->name,
                has_p1 ? "holds p1 (a source with an identity): list it "
                         "under sources:, not linkage.packages"
                       : "has no p1 (a source without identity, encoded "
                         "for linkage): list it in linkage.sources and "
                         "linkage.packages, not under sources:");
        return -1;
    }
    s->nrows = ps->rows;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    pl_pkg_rank_rows(p, s->pkg_si, rank, size, &s->first, &s->count);
    if (linkage_only)           /* no p1: matching columns (probalink.c) */
        return pkg_payload(s, p, ps);
    s->p1 = ps->data[0];        /* owned by the package (not closed here) */
    if (ps->ncols > 1 && strcmp(ps->cols[1].name, "birth_rank") == 0 &&
        strcmp(ps->cols[1].type, "u8") == 0) {
        s->pkg_rank = 1;        /* read with pl_source_rank */
        s->birth_rank = ps->data[1];    /* the package's, not closed here */
    }
    return pkg_payload(s, p, ps);
}

static int cmp_p1(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Every rank reads every opposition p1 (lists are small next to the
 * data); each is checked like a data package. */
static int open_opposition(pl_store *st, const pl_job *job,
                           const pl_pkg_keys *k, MPI_Comm comm)
{
    for (size_t i = 0; i < job->n_opposition; i++) {
        pl_pkg p;
        if (pl_pkg_open(&p, job->opposition[i], k->trusted, k->ntrusted,
                        k->transport, comm) != 0)
            return -1;
        int ok = 1;
        if (strcmp(p.kind, "opposition") != 0) {
            pl_err0("%s: package: a data package, listed under "
                    "'opposition' (expected an opposition package)", p.path);
            ok = 0;
        }
        for (size_t si = 0; ok && si < p.nsrc; si++) {
            uint64_t n = p.src[si].rows;
            st->opposed = pl_xrealloc(st->opposed,
                                      (st->n_opposed + n + 1) * 32);
            ok = pl_pkg_read(&p, (int)si, 0, 0, n,
                             st->opposed + st->n_opposed * 32,
                             H5P_DEFAULT) == 0;
            st->n_opposed += n;
        }
        ok = pl_all_ok(comm, ok) && !id_conflict(st, &p);
        if (ok)
            json_add(&st->packages_json, &p);
        pl_pkg_close(&p);
        if (!ok)
            return -1;
    }
    if (st->n_opposed) {
        qsort(st->opposed, st->n_opposed, 32, cmp_p1);
        uint64_t u = 1;
        for (uint64_t i = 1; i < st->n_opposed; i++)
            if (memcmp(st->opposed + i * 32, st->opposed + (u - 1) * 32, 32))
                memmove(st->opposed + u++ * 32, st->opposed + i * 32, 32);
        st->n_opposed = u;
    }
    return 0;
}

int pl_source_rank(const pl_store *st, const pl_source *s, uint64_t first,
                   uint64_t count, int64_t *buf, hid_t dxpl)
{
    if (!s->pkg) {
        char what[PL_NAME_MAX * 2 + 16];
        snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
                 s->cfg->birth_rank);
        return pl_store_read(st, s->birth_rank, what, H5T_NATIVE_INT64,
                             first, count, 0, buf, dxpl);
    }
    /* u8 from the package, widened in place (back to front). */
    uint8_t *u = (uint8_t *)buf;
    if (pl_pkg_read(s->pkg, s->pkg_si, 1, first, count, u, dxpl) != 0)
        return -1;
    for (uint64_t i = count; i-- > 0;)
        buf[i] = u[i];
    return 0;
}

int pl_store_opposed(const pl_store *st, const uint8_t p1[32])
{
    uint64_t lo = 0, hi = st->n_opposed;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(st->opposed + mid * 32, p1, 32);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int pl_source_read(const pl_store *st, const pl_source *s,
                   const pl_column *col, uint64_t first, uint64_t count,
                   void *buf, hid_t dxpl)
{
    if (s->pkg)
        return pl_pkg_read(s->pkg, s->pkg_si, col ? col->pkg_col : 0, first,
                           count, buf, dxpl);
    char what[PL_NAME_MAX * 2 + 16];
    snprintf(what, sizeof what, "/sources/%s/%s", s->cfg->name,
             col ? col->name : s->cfg->p1);
    return pl_store_read(st, col ? col->dset : s->p1, what,
                         col ? col->mem_type : H5T_NATIVE_UINT8, first, count,
                         col ? 0 : 32, buf, dxpl);
}

static void init_source(pl_source *s, const pl_source_cfg *cfg)
{
    s->cfg = cfg;
    s->group = s->nir = s->birth_date = s->sex = s->birth_rank = s->p1 = -1;
    s->also_nir = s->also_birth_rank = -1;
}

int pl_store_open(pl_store *st, const char *path, const pl_job *job,
                  const pl_pkg_keys *keys, MPI_Comm comm)
{
    memset(st, 0, sizeof *st);
    st->file = -1;
    st->path = pl_xstrdup(path);
    st->n_src = job->n_sources;
    st->src = pl_xcalloc(st->n_src, sizeof *st->src);
    st->pkgs = pl_xcalloc(job->n_sources + 1 +
                              (job->linkage ? job->linkage->n_sources : 0),
                          sizeof *st->pkgs);
    for (size_t i = 0; i < st->n_src; i++)
        init_source(&st->src[i], &job->sources[i]);
    const pl_linkage_cfg *lk = job->linkage;
    st->n_lsrc = lk ? lk->n_sources : 0;
    st->lsrc = pl_xcalloc(st->n_lsrc + 1, sizeof *st->lsrc);
    for (size_t k = 0; k < st->n_lsrc; k++)
        init_source(&st->lsrc[k], &lk->src[k]);
    pl_pkg_keys none = {NULL, 0, NULL};
    if (!keys)
        keys = &none;
    for (size_t i = 0; i < st->n_src; i++)
        if (st->src[i].cfg->package &&
            open_package_source(st, &st->src[i], keys, 0, comm) != 0)
            return -1;
    /* Linkage sources delivered as packages (linkage.packages): no
     * identity; their matching columns are read by the linkage
     * (pl_store_find), their linkage.keep payload like any source's. */
    for (size_t k = 0; k < st->n_lsrc; k++)
        if (st->lsrc[k].cfg->package &&
            open_package_source(st, &st->lsrc[k], keys, 1, comm) != 0)
            return -1;
    /* (A producer's job lists opposition sources, not packages.) */
    if (!job->producer_job && open_opposition(st, job, keys, comm) != 0)
        return -1;
    if (!path[0])               /* every source is a package */
        return 0;
    if (precheck(path, comm) != 0)
        return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    /* Metadata reads once and broadcast, instead of every rank hitting the
     * file system for every object header. */
    H5Pset_all_coll_metadata_ops(fapl, 1);
    errno = 0;
    st->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    char why[PL_H5_REASON_MAX];         /* before H5Pclose clears it */
    if (st->file < 0)
        snprintf(why, sizeof why, "%s", pl_h5_reason());
    H5Pclose(fapl);
    if (st->file < 0) {
        pl_err0("%s: cannot open store: %s", path, why);
        return -1;
    }
    for (size_t i = 0; i < st->n_src; i++)
        if (!st->src[i].pkg && open_source(st, &st->src[i], comm) != 0)
            return -1;
    for (size_t k = 0; k < st->n_lsrc; k++)
        if (!st->lsrc[k].pkg && open_source(st, &st->lsrc[k], comm) != 0)
            return -1;
    return 0;
}

static void close_id(hid_t id)
{
    if (id >= 0)
        H5Dclose(id);
}

void pl_store_close(pl_store *st)
{
    for (size_t i = 0; i < st->n_src + st->n_lsrc; i++) {
        pl_source *s = i < st->n_src ? &st->src[i] : &st->lsrc[i - st->n_src];
        if (s->pkg)
            s->p1 = s->birth_rank = -1;     /* the package's datasets */
        close_id(s->nir);
        close_id(s->birth_date);
        close_id(s->sex);
        close_id(s->birth_rank);
        close_id(s->p1);
        close_id(s->also_nir);
        close_id(s->also_birth_rank);
        for (size_t j = 0; j < s->n_payload; j++) {
            close_id(s->payload[j].dset);
            if (s->payload[j].mem_type >= 0)
                H5Tclose(s->payload[j].mem_type);
        }
        free(s->payload);
        if (s->group >= 0)
            H5Gclose(s->group);
    }
    free(st->src);
    free(st->lsrc);
    st->lsrc = NULL;
    st->n_lsrc = 0;
    for (size_t i = 0; i < st->n_pkgs; i++)
        pl_pkg_close(&st->pkgs[i]);
    free(st->pkgs);
    free(st->packages_json);
    if (st->opposed)
        pl_wipe(st->opposed, st->n_opposed * 32);
    free(st->opposed);
    if (st->file >= 0)
        H5Fclose(st->file);
    free(st->path);
    memset(st, 0, sizeof *st);
    st->file = -1;
}

int pl_store_read(const pl_store *st, hid_t dset, const char *what,
                  hid_t mem_type, uint64_t first, uint64_t count,
                  hsize_t width, void *buf, hid_t dxpl)
{
    hid_t fsp = H5Dget_space(dset);
    hsize_t start[2] = {first, 0}, cnt[2] = {count, width};
    int nd = width ? 2 : 1;
    hsize_t mdims[2] = {count ? count : 1, width};
    hid_t msp = H5Screate_simple(nd, mdims, NULL);
    herr_t rc;
    if (count == 0) {
        H5Sselect_none(fsp);
        H5Sselect_none(msp);
    } else {
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    }
    errno = 0;
    rc = H5Dread(dset, mem_type, msp, fsp, dxpl, count ? buf : NULL);
    char why[PL_H5_REASON_MAX];         /* before H5Sclose clears it */
    if (rc < 0)
        snprintf(why, sizeof why, "%s", pl_h5_reason());
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        pl_err("%s: %s: read of rows %llu..%llu failed: %s", st->path, what,
               (unsigned long long)first,
               (unsigned long long)(first + count), why);
        return -1;
    }
    return 0;
}

const pl_source *pl_store_find(const pl_store *st, const char *name)
{
    for (size_t i = 0; i < st->n_src; i++)
        if (strcmp(st->src[i].cfg->name, name) == 0)
            return &st->src[i];
    for (size_t i = 0; i < st->n_lsrc; i++)
        if (st->lsrc[i].pkg && strcmp(st->lsrc[i].cfg->name, name) == 0)
            return &st->lsrc[i];
    return NULL;
}
