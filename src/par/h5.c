/* h5.c — see h5.h. */
#include "par/h5.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char h5_reason_buf[PL_H5_REASON_MAX];

#define H5_REASON_DEPTH 2       /* innermost entries kept (+ the API's) */

typedef struct {
    const char *desc[H5_REASON_DEPTH];
    size_t n;
    const char *api;            /* outermost description */
    hid_t inner_maj;            /* major class of the innermost entry */
} reason_walk;

/* Upward: innermost (where the error was detected) first, the API call
 * last. */
static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    reason_walk *w = data;
    if (n == 0)
        w->inner_maj = e->maj_num;
    if (!e->desc || !e->desc[0])
        return 0;
    if (w->n < H5_REASON_DEPTH &&
        (w->n == 0 || strcmp(w->desc[w->n - 1], e->desc) != 0))
        w->desc[w->n++] = e->desc;
    w->api = e->desc;
    return 0;
}

/* The stack `estack` as text into out; 0 when it is empty. `err` is errno
 * as the failed call left it. */
static size_t format_stack(hid_t estack, int err, char *out, size_t n)
{
    reason_walk w = {{0}, 0, NULL, -1};
    size_t o = 0;
    out[0] = '\0';
    H5Ewalk2(estack, H5E_WALK_UPWARD, h5_walk, &w);
    /* "can't write data: driver write request failed: file write failed" */
    if (w.api && w.n && w.api != w.desc[w.n - 1] &&
        strcmp(w.api, w.desc[w.n - 1]) != 0)
        o += (size_t)snprintf(out, n, "%s: ", w.api);
    for (size_t i = w.n; i-- > 0 && o < n;)
        o += (size_t)snprintf(out + o, n - o, "%s%s", w.desc[i],
                              i ? ": " : "");
    /* HDF5's I/O layers (MPI-IO above all) do not put the system's reason
     * on the stack: errno, as the failed call left it, has it. */
    int io = w.inner_maj == H5E_IO || w.inner_maj == H5E_VFL;
    if (o && o < n && io && err)
        o += (size_t)snprintf(out + o, n - o, " (%s)", strerror(err));
    return o < n ? o : n - 1;
}

/* The last failed API call's reason, saved when it failed: the next API
 * call (an H5Sclose or H5Pclose on the way to the message) clears the
 * stack itself. */
static char h5_last_buf[PL_H5_REASON_MAX];

static herr_t save_reason(hid_t estack, void *data)
{
    (void)data;
    int err = errno;
    format_stack(estack, err, h5_last_buf, sizeof h5_last_buf);
    errno = err;
    return 0;
}

const char *pl_h5_reason(void)
{
    int saved = errno;          /* as the failed call left it */
    size_t n = sizeof h5_reason_buf;
    if (format_stack(H5E_DEFAULT, saved, h5_reason_buf, n) == 0 &&
        h5_last_buf[0])
        snprintf(h5_reason_buf, n, "%s", h5_last_buf);
    H5Eclear2(H5E_DEFAULT);
    h5_last_buf[0] = '\0';
    if (h5_reason_buf[0] == '\0')      /* never an empty reason */
        snprintf(h5_reason_buf, n, "%s", saved ? strerror(saved)
                 : "HDF5 gave no reason (empty error stack)");
    /* MPI-IO may report a short write with no errno (a full file system
     * seen from a rank whose write came up short): say so rather than end
     * on a bare "failed". */
    size_t l = strlen(h5_reason_buf);
    if (l >= 6 && strcmp(h5_reason_buf + l - 6, "failed") == 0 && l + 40 < n)
        snprintf(h5_reason_buf + l, n - l, " (no system error code)");
    return h5_reason_buf;
}

/* Silence HDF5's own stack dumps (we report errors ourselves), but keep
 * each failure's text for pl_h5_reason. */
void pl_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, save_reason, NULL);
}

hid_t pl_str_type(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n ? n : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_ASCII);
    return t;
}

hid_t pl_text_type(size_t n)
{
    hid_t t = pl_str_type(n);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

hid_t pl_text_copy(hid_t type)
{
    hid_t t = H5Tcopy(type);
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0)
        H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

hid_t pl_h5_dataset(const char *fname, hid_t loc, const char *name,
                    hid_t type, uint64_t d0, uint64_t d1)
{
    hsize_t dims[2] = {d0, d1};
    hid_t sp = H5Screate_simple(d1 ? 2 : 1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (d < 0)
        pl_err0("%s: cannot create dataset %s: %s", fname, name,
                pl_h5_reason());
    return d;
}

/* Select rows [first, first+count) of width columns in the file space and
 * a matching memory space; count 0 selects nothing in either. */
static hid_t select_rows(hid_t fsp, uint64_t first, uint64_t count,
                         uint64_t width)
{
    hsize_t start[2] = {first, 0}, cnt[2] = {count, width};
    hsize_t mdims[2] = {count ? count : 1, width};
    hid_t msp = H5Screate_simple(width ? 2 : 1, mdims, NULL);
    if (count == 0) {
        H5Sselect_none(fsp);
        H5Sselect_none(msp);
    } else {
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    }
    return msp;
}

int pl_h5_read_rows(const char *fname, hid_t dset, const char *what,
                    hid_t type, uint64_t first, uint64_t count,
                    uint64_t width, void *buf, hid_t dxpl)
{
    hid_t fsp = H5Dget_space(dset);
    hid_t msp = select_rows(fsp, first, count, width);
    errno = 0;
    herr_t rc = H5Dread(dset, type, msp, fsp, dxpl, count ? buf : NULL);
    /* The reason now: the next API call (H5Sclose) clears the stack. */
    char why[PL_H5_REASON_MAX];
    if (rc < 0)
        snprintf(why, sizeof why, "%s", pl_h5_reason());
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        pl_err("%s: %s: read of rows %llu..%llu failed: %s", fname, what,
               (unsigned long long)first,
               (unsigned long long)(first + count), why);
        return -1;
    }
    return 0;
}

int pl_h5_write_rows(const char *fname, hid_t dset, const char *what,
                     hid_t type, uint64_t first, uint64_t count,
                     uint64_t width, const void *buf, hid_t dxpl)
{
    hid_t fsp = H5Dget_space(dset);
    if (H5Sget_simple_extent_npoints(fsp) == 0) {
        /* An empty dataset has no storage: nothing to write on any rank
         * (and a collective write of nothing fails in HDF5 1.10). */
        H5Sclose(fsp);
        return 0;
    }
    hid_t msp = select_rows(fsp, first, count, width);
    errno = 0;
    herr_t rc = H5Dwrite(dset, type, msp, fsp, dxpl, count ? buf : NULL);
    char why[PL_H5_REASON_MAX];         /* before H5Sclose clears it */
    if (rc < 0)
        snprintf(why, sizeof why, "%s", pl_h5_reason());
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        pl_err("%s: %s: write of %llu elements at %llu failed: %s", fname,
               what, (unsigned long long)count, (unsigned long long)first,
               why);
        return -1;
    }
    return 0;
}

int pl_h5_put(hid_t loc, const char *fname, const char *name, hid_t type,
              uint64_t d0, uint64_t d1, const void *buf, int mine,
              hid_t dxpl)
{
    hid_t d = pl_h5_dataset(fname, loc, name, type, d0, d1);
    if (d < 0)
        return -1;
    int rc = pl_h5_write_rows(fname, d, name, type, 0, mine ? d0 : 0, d1,
                              buf, dxpl);
    H5Dclose(d);
    return rc;
}

static int put_attr(hid_t loc, const char *name, hid_t type, hid_t sp,
                    const void *v)
{
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return -1;
    herr_t rc = H5Awrite(a, type, v);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

int pl_attr_u64(hid_t loc, const char *name, uint64_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    int rc = put_attr(loc, name, H5T_NATIVE_UINT64, sp, &v);
    H5Sclose(sp);
    return rc;
}

int pl_attr_f64(hid_t loc, const char *name, double v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                         H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

hid_t pl_h5_group(hid_t loc, const char *name)
{
    htri_t ex = H5Lexists(loc, name, H5P_DEFAULT);
    if (ex > 0)
        return H5Gopen2(loc, name, H5P_DEFAULT);
    return H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

int pl_attr_str(hid_t loc, const char *name, const char *v)
{
    hid_t t = pl_str_type(strlen(v));
    hid_t sp = H5Screate(H5S_SCALAR);
    int rc = put_attr(loc, name, t, sp, v);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int pl_attr_strlist(hid_t loc, const char *name, const char *const *v,
                    size_t n)
{
    size_t w = 1;
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]) > w)
            w = strlen(v[i]);
    char *buf = pl_xcalloc(n ? n : 1, w);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * w, v[i], strlen(v[i]));
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t t = pl_str_type(w);
    int rc = put_attr(loc, name, t, sp, buf);
    H5Tclose(t);
    H5Sclose(sp);
    free(buf);
    return rc;
}

int pl_attr_text(hid_t loc, const char *name, const char *v)
{
    /* Variable-length: h5py gives str (a fixed-length attribute reads as
     * bytes whatever its character set). */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    int rc = put_attr(loc, name, t, sp, &v);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int pl_attr_read_text(hid_t loc, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    htri_t has = H5Aexists(loc, name);
    if (has <= 0) {
        pl_h5_reason();
        return has < 0 ? -1 : 0;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    int rc = -1;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING ||
        H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    hid_t m = H5Tcopy(t);
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        if (H5Aread(a, m, &v) >= 0 && v) {
            snprintf(out, n, "%s", v);
            H5free_memory(v);
            rc = 1;
        }
    } else {
        size_t sz = H5Tget_size(t);
        char *v = pl_xcalloc(sz + 1, 1);
        if (H5Aread(a, m, v) >= 0) {
            snprintf(out, n, "%s", v);
            rc = 1;
        }
        free(v);
    }
    H5Tclose(m);
    for (size_t e = strlen(out); rc == 1 && e > 0 && out[e - 1] == ' '; e--)
        out[e - 1] = '\0';
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    pl_h5_reason();
    return rc;
}
