/* output.c — see output.h. */
#include "output.h"
#include "log.h"
#include "runaudit.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* After a write error (EFBIG under `ulimit -f`, ENOSPC), HDF5 1.10's
 * H5Fclose can leave ranks in different collectives (metadata flush
 * barrier vs. truncate broadcast) and wait forever. A failed run must not
 * hang: if a close has not returned after CLOSE_TIMEOUT seconds, the rank
 * says so and exits; the launcher stops the others and the next run removes
 * the temporary (lock.h). Closing only flushes metadata (the data is
 * already written), so the limit is generous for a healthy file system. */
#define CLOSE_TIMEOUT 30

static int mkdir_p(const char *dir)
{
    char *p = pl_xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0750) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

int pl_out_dir(const char *dir, MPI_Comm comm)
{
    int rank, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        struct stat sb;
        if (mkdir_p(dir) != 0) {
            pl_err0("%s: cannot create output directory: %s", dir,
                    strerror(errno));
            ok = 0;
        } else if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            pl_err0("%s: output path exists and is not a directory", dir);
            ok = 0;
        } else if (access(dir, W_OK | X_OK) != 0) {
            pl_err0("%s: output directory is not writable: %s", dir,
                    strerror(errno));
            ok = 0;
        }
    }
    PL_MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    return ok ? 0 : -1;
}

static char *path_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *path_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = pl_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Every dataset of 1 MiB or more starts on a multiple of the file
 * system's preferred I/O size (st_blksize: the stripe size on Lustre,
 * 4 KiB on ext4), so that no two ranks' writes share a stripe through a
 * misaligned start. Rank 0 decides so that every rank (and every rank
 * count) lays the file out identically. */
static hsize_t out_alignment(const char *dir, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    uint64_t a = 4096;
    struct stat st;
    if (rank == 0 && stat(dir, &st) == 0 && st.st_blksize >= 4096 &&
        st.st_blksize <= (64 << 20))
        a = (uint64_t)st.st_blksize;
    PL_MPI_CHECK(MPI_Bcast(&a, 1, MPI_UINT64_T, 0, comm));
    return (hsize_t)a;
}

int pl_out_create(pl_outfile *f, const char *dir, const char *name,
                  const char *tag, MPI_Comm comm)
{
    memset(f, 0, sizeof *f);
    f->file = -1;
    f->final = path_printf("%s/%s", dir, name);
    /* Hidden and tagged: never mistaken for a finished output. */
    f->tmp = path_printf("%s/.%s.tmp-%s", dir, name, tag);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    H5Pset_coll_metadata_write(fapl, 1);
    H5Pset_all_coll_metadata_ops(fapl, 1);
    H5Pset_alignment(fapl, PL_ALIGN_THRESHOLD, out_alignment(dir, comm));
    /* Files are created 0640 (research outputs are not world-readable):
     * the umask decides for MPI-IO, so set it for the creation. */
    mode_t old = umask(027);
    f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    umask(old);
    H5Pclose(fapl);
    if (f->file < 0) {
        pl_err0("%s: cannot create output file: %s", f->tmp, pl_h5_reason());
        return -1;
    }
    return 0;
}

static void on_discard_timeout(int sig);

/* H5Fclose, but a collective that stalls after a write error ends the
 * process (see on_discard_timeout) instead of hanging the run. */
static herr_t close_or_exit(hid_t file, unsigned timeout)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_discard_timeout;
    sigaction(SIGALRM, &sa, &old);
    alarm(timeout);
    herr_t rc = H5Fclose(file);
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    return rc;
}

int pl_out_close(pl_outfile *f)
{
    if (f->file < 0)
        return 0;
    herr_t rc = close_or_exit(f->file, CLOSE_TIMEOUT);
    f->file = -1;
    if (rc < 0) {
        pl_err("%s: cannot finish writing the file: %s", f->tmp,
               pl_h5_reason());
        return -1;
    }
    return 0;
}

int pl_out_publish(pl_outfile *f, MPI_Comm comm)
{
    int rank, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0 && rename(f->tmp, f->final) != 0) {
        pl_err("%s: cannot publish (rename from %s): %s", f->final, f->tmp,
               strerror(errno));
        ok = 0;
    }
    PL_MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    /* Every published file goes into the run's audit line (all ranks keep
     * the same list: its digest is computed collectively). */
    if (ok)
        pl_run_published(f->final);
    free(f->tmp);
    free(f->final);
    f->tmp = f->final = NULL;
    return ok ? 0 : -1;
}

static void on_discard_timeout(int sig)
{
    static const char msg[] = "pseudolink: error: closing a failed output "
        "file did not finish (an HDF5 collective stalled after a write "
        "error); exiting, nothing was published\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done in a signal handler */
    }
    _exit(1);
}

void pl_out_discard(pl_outfile *f, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (f->file >= 0) {
        close_or_exit(f->file, CLOSE_TIMEOUT);
        f->file = -1;
    }
    MPI_Barrier(comm);
    if (rank == 0 && f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->final);
    f->tmp = f->final = NULL;
}

hid_t pl_out_group(pl_outfile *f, const char *path)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f->file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0)
        pl_err0("%s: cannot create group %s: %s", f->tmp, path,
                pl_h5_reason());
    return g;
}

hid_t pl_out_dataset(pl_outfile *f, hid_t loc, const char *name, hid_t type,
                     uint64_t n)
{
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (d < 0)
        pl_err0("%s: cannot create dataset %s: %s", f->tmp, name,
                pl_h5_reason());
    return d;
}

int pl_out_write(pl_outfile *f, hid_t dset, const char *what, hid_t type,
                 uint64_t off, uint64_t count, const void *buf, hid_t dxpl)
{
    hid_t fsp = H5Dget_space(dset);
    if (H5Sget_simple_extent_npoints(fsp) == 0) {
        /* An empty dataset has no storage: nothing to write on any rank
         * (and a collective write of nothing fails in HDF5 1.10). */
        H5Sclose(fsp);
        return 0;
    }
    hsize_t start[1] = {off}, cnt[1] = {count}, mdim[1] = {count ? count : 1};
    hid_t msp = H5Screate_simple(1, mdim, NULL);
    if (count == 0) {
        H5Sselect_none(fsp);
        H5Sselect_none(msp);
    } else {
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    }
    herr_t rc = H5Dwrite(dset, type, msp, fsp, dxpl, count ? buf : NULL);
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        pl_err("%s: %s: write of %llu elements at %llu failed: %s", f->tmp,
               what, (unsigned long long)count, (unsigned long long)off,
               pl_h5_reason());
        return -1;
    }
    return 0;
}

static int agree(MPI_Comm comm, int ok)
{
    int all = 0;
    PL_MPI_CHECK(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    return all;
}

int pl_out_write_full(pl_outfile *f, MPI_Comm comm, hid_t dxpl, hid_t loc,
                      const char *name, hid_t type, uint64_t total,
                      uint64_t off, uint64_t n, const void *buf)
{
    hid_t d = pl_out_dataset(f, loc, name, type, total);
    if (!agree(comm, d >= 0)) {
        if (d >= 0)
            H5Dclose(d);
        return -1;
    }
    int rc = pl_out_write(f, d, name, type, off, n, buf, dxpl);
    H5Dclose(d);
    return agree(comm, rc == 0) ? 0 : -1;
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

hid_t pl_str_type(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n ? n : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_ASCII);
    return t;
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
