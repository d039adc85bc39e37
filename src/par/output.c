/* output.c — see output.h. */
#include "par/output.h"
#include "base/log.h"
#include "base/mem.h"
#include "par/h5.h"
#include "par/mpi.h"

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
    return pl_root_ok(comm, ok) ? 0 : -1;
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
                  MPI_Comm comm)
{
    memset(f, 0, sizeof *f);
    f->file = -1;
    f->final = pl_xasprintf("%s/%s", dir, name);
    f->tmp = pl_xstrdup(f->final);
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
static int broken;

int pl_out_broken(void) { return broken; }

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
    /* After a write error (ENOSPC) a failed close leaves a broken file
     * object that HDF5 closes again when the library shuts down (at
     * MPI_Finalize) and crashes in H5F__close_cb: remember it, so that the
     * job ends without that shutdown (pl_out_broken). */
    if (rc < 0)
        broken = 1;
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    return rc;
}

hid_t pl_out_open_h5(MPI_Comm comm, const char *path, const char *what)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    H5Pset_coll_metadata_write(fapl, 1);
    H5Pset_all_coll_metadata_ops(fapl, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (!pl_all_ok(comm, f >= 0)) {
        pl_err0("%s: cannot open for %s: %s", path, what, pl_h5_reason());
        if (f >= 0)
            H5Fclose(f);
        return -1;
    }
    return f;
}

int pl_out_close_h5(hid_t file)
{
    return close_or_exit(file, CLOSE_TIMEOUT) < 0 ? -1 : 0;
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
    /* Datasets listed in the order they were written (pid, row, the job's
     * payload order): what `pseudolink export` and h5py's
     * track_order readers show. */
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED |
                                     H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(f->file, path, lcpl, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    H5Pclose(lcpl);
    if (g < 0)
        pl_err0("%s: cannot create group %s: %s", f->tmp, path,
                pl_h5_reason());
    return g;
}

int pl_out_write_full(pl_outfile *f, MPI_Comm comm, hid_t dxpl, hid_t loc,
                      const char *name, hid_t type, uint64_t total,
                      uint64_t off, uint64_t n, const void *buf)
{
    hid_t d = pl_out_dataset(f, loc, name, type, total);
    if (!pl_all_ok(comm, d >= 0)) {
        if (d >= 0)
            H5Dclose(d);
        return -1;
    }
    int rc = pl_out_write(f, d, name, type, off, n, buf, dxpl);
    H5Dclose(d);
    return pl_all_ok(comm, rc == 0) ? 0 : -1;
}

void pl_out_free(pl_outfile *f)
{
    free(f->tmp);
    free(f->final);
    f->tmp = f->final = NULL;
}
