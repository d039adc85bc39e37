/* export.c — see export.h. One process, serial HDF5 (no MPI needed). */
#include "cmd/export.h"
#include "cmd/usage.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/corrfile.h"
#include "par/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_BATCH 65536      /* rows read per column per step, at most */
#define EXPORT_BATCH_BYTES (64u << 20) /* ... and at most this per step */
#define EXPORT_MAX_STR (1u << 20)      /* bytes of a fixed-length string */
#define EXPORT_MAX_COLS 4096


typedef enum { K_INT, K_UINT, K_FLOAT, K_ENUM, K_STR, K_VSTR, K_HEX } kind_t;

typedef struct {
    char    name[256];
    hid_t   dset, mtype;        /* memory type */
    kind_t  kind;
    size_t  size;               /* bytes per row in memory */
    uint64_t width;             /* K_HEX: bytes per row (2-D) */
    int     date;               /* 8: YYYYMMDD, 6: YYYYMM, 0: none */
    char  **labels;             /* source index -> name (/links/source) */
    size_t  n_labels;
    uint8_t *buf;
    uint64_t bad_dates;
} column;

typedef struct {
    const char *file, *group;
    hid_t   f, g;
    column *col;
    size_t  n;
    uint64_t rows;
    uint64_t batch;             /* rows per step */
    int     said_why;       /* collect() said why it stopped */
} table;

/* ------------------------------------------------------------------------ */
/* Refusals */

/* The correspondence table holds the pid <-> p1 mapping: never exported,
 * whatever its file name. Recognised by its format attribute or its
 * groups (a copy without the attribute is still refused). */
static int is_correspondence(hid_t f)
{
    char fmt[128];
    if (pl_attr_read_text(f, "format", fmt, sizeof fmt) == 1 &&
        strncmp(fmt, PL_CORR_FORMAT, strlen(PL_CORR_FORMAT)) == 0)
        return 1;
    const char *marks[] = {"shards", "custody"};
    for (size_t i = 0; i < 2; i++) {
        htri_t e = H5Lexists(f, marks[i], H5P_DEFAULT);
        if (e > 0)
            return 1;
    }
    pl_h5_reason();
    return 0;
}

/* NAME -> group path; NULL after a message. */
static char *group_path(const char *file, const char *name)
{
    const char *n = name[0] == '/' ? name + 1 : name;
    if (strcmp(n, "links") == 0 || strcmp(n, "persons") == 0)
        return pl_xasprintf("/%s", n);
    const char *prefixes[] = {"linked/", "rejects/"};
    for (size_t i = 0; i < 2; i++)
        if (strncmp(n, prefixes[i], strlen(prefixes[i])) == 0) {
            const char *s = n + strlen(prefixes[i]);
            if (s[0] && !strchr(s, '/'))
                return pl_xasprintf("/%s", n);
        }
    if (n[0] && !strchr(n, '/') && name[0] != '/')
        return pl_xasprintf("/linked/%s", n);
    char shown[PL_LOG_LINE];
    pl_log_escape(name, shown, sizeof shown);
    pl_err("%s: --source '%s': expected a source name, /linked/NAME, "
           "/links, /persons or /rejects/NAME", file, shown);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Columns */

static int date_kind(hid_t d)
{
    char fmt[64];
    if (pl_attr_read_text(d, "date_format", fmt, sizeof fmt) != 1)
        return 0;
    return strcmp(fmt, "YYYYMMDD") == 0 ? 8 : strcmp(fmt, "YYYYMM") == 0
                                                  ? 6 : 0;
}

/* /links/source: an index into the group's `sources` attribute. */
static int source_labels(const table *t, column *c)
{
    hid_t a = H5Aopen(t->g, "sources", H5P_DEFAULT);
    if (a < 0) {
        pl_h5_reason();
        return 0;
    }
    hid_t at = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = 0;
    if (H5Tget_class(at) == H5T_STRING && !H5Tis_variable_str(at)) {
        size_t w = H5Tget_size(at);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        char *buf = pl_xcalloc((size_t)(n > 0 ? n : 1), w);
        hid_t m = H5Tcopy(at);
        if (n > 0 && H5Aread(a, m, buf) >= 0) {
            c->labels = pl_xcalloc((size_t)n, sizeof *c->labels);
            c->n_labels = (size_t)n;
            for (hssize_t i = 0; i < n; i++) {
                c->labels[i] = pl_xcalloc(w + 1, 1);
                memcpy(c->labels[i], buf + (size_t)i * w, w);
            }
        } else if (n > 0)
            rc = -1;
        H5Tclose(m);
        free(buf);
    }
    H5Tclose(at);
    H5Sclose(sp);
    H5Aclose(a);
    if (rc)
        pl_err("%s: %s@sources: cannot read the source names: %s", t->file,
               t->group, pl_h5_reason());
    return rc;
}

/* Kind and memory type of the dataset; -1 after a message. */
static int column_type(const table *t, column *c, int nd, hsize_t *dims)
{
    hid_t ft = H5Dget_type(c->dset);
    H5T_class_t cl = H5Tget_class(ft);
    int rc = 0;
    c->mtype = -1;
    if (nd == 2 && cl == H5T_INTEGER && H5Tget_size(ft) == 1 &&
        H5Tget_sign(ft) == H5T_SGN_NONE && dims[1] > 0 && dims[1] <= 64) {
        c->kind = K_HEX;
        c->width = dims[1];
        c->mtype = H5Tcopy(H5T_NATIVE_UINT8);
        c->size = (size_t)dims[1];
    } else if (nd != 1) {
        rc = -1;
    } else if (cl == H5T_INTEGER) {
        int u = H5Tget_sign(ft) == H5T_SGN_NONE;
        c->kind = u ? K_UINT : K_INT;
        c->mtype = H5Tcopy(u ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64);
        c->size = 8;
        c->date = date_kind(c->dset);
    } else if (cl == H5T_FLOAT) {
        c->kind = K_FLOAT;
        c->mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
        c->size = 8;
    } else if (cl == H5T_ENUM) {
        c->kind = K_ENUM;
        c->mtype = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        c->size = H5Tget_size(c->mtype);
    } else if (cl == H5T_STRING) {
        int v = H5Tis_variable_str(ft) > 0;
        c->kind = v ? K_VSTR : K_STR;
        c->mtype = H5Tcopy(ft);     /* same charset: HDF5 converts none */
        c->size = v ? sizeof(char *) : H5Tget_size(ft);
        if (c->size > EXPORT_MAX_STR) {
            pl_err("%s: %s/%s: cannot export strings of %zu bytes (at most "
                   "%u)", t->file, t->group, c->name, c->size,
                   EXPORT_MAX_STR);
            H5Tclose(ft);
            return -1;
        }
    } else
        rc = -1;
    H5Tclose(ft);
    if (rc)
        pl_err("%s: %s/%s: cannot export this dataset (expected 1-D "
               "integers, floats, enums or strings, or 2-D uint8 pids)",
               t->file, t->group, c->name);
    return rc;
}

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info,
                      void *data)
{
    table *t = data;
    if (info->type != H5L_TYPE_HARD) {
        /* pseudolink writes none: a soft or external link could bring in
         * another file's data (the correspondence table's, say). */
        pl_err("%s: %s/%s: refused: %s link, not a dataset of this file "
               "(pseudolink outputs hold none)", t->file, t->group, name,
               info->type == H5L_TYPE_EXTERNAL ? "an external" : "a soft");
        t->said_why = 1;
        return -1;
    }
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0)
        return -1;
    if (oi.type != H5O_TYPE_DATASET)
        return 0;                   /* subgroups are not columns */
    if (t->n >= EXPORT_MAX_COLS || strlen(name) >= sizeof t->col[0].name) {
        if (t->n >= EXPORT_MAX_COLS)
            pl_err("%s: %s: more than %d datasets: not an output group",
                   t->file, t->group, EXPORT_MAX_COLS);
        else
            pl_err("%s: %s: a dataset name of %zu bytes (at most %zu): "
                   "not an output group", t->file, t->group, strlen(name),
                   sizeof t->col[0].name - 1);
        t->said_why = 1;    /* said why */
        return -1;
    }
    column *c = &t->col[t->n++];
    memset(c, 0, sizeof *c);
    c->dset = -1;
    c->mtype = -1;
    snprintf(c->name, sizeof c->name, "%s", name);
    return 0;
}

/* Columns in creation order when the group tracks it, else by name. */
static int open_columns(table *t)
{
    t->col = pl_xcalloc(EXPORT_MAX_COLS, sizeof *t->col);
    hid_t gcpl = H5Gget_create_plist(t->g);
    unsigned flags = 0;
    if (gcpl >= 0) {
        H5Pget_link_creation_order(gcpl, &flags);
        H5Pclose(gcpl);
    }
    H5_index_t idx = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER
                                                     : H5_INDEX_NAME;
    hsize_t at = 0;
    if (H5Literate(t->g, idx, H5_ITER_INC, &at, collect, t) < 0) {
        if (t->said_why)
            return -1;
        pl_err("%s: %s: cannot list the group's datasets: %s", t->file,
               t->group, pl_h5_reason());
        return -1;
    }
    if (t->n == 0) {
        pl_err("%s: %s: the group holds no dataset", t->file, t->group);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        column *c = &t->col[i];
        c->dset = H5Dopen2(t->g, c->name, H5P_DEFAULT);
        if (c->dset < 0) {
            pl_err("%s: %s/%s: cannot open: %s", t->file, t->group, c->name,
                   pl_h5_reason());
            return -1;
        }
        hid_t sp = H5Dget_space(c->dset);
        hsize_t dims[2] = {0, 0};
        int nd = H5Sget_simple_extent_ndims(sp);
        if (nd >= 1 && nd <= 2)
            H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        if (column_type(t, c, nd, dims) != 0)
            return -1;
        if (i == 0)
            t->rows = dims[0];
        else if (dims[0] != t->rows) {
            pl_err("%s: %s/%s: %llu rows, but %s has %llu: the columns of a "
                   "group must have the same length", t->file, t->group,
                   c->name, (unsigned long long)dims[0], t->col[0].name,
                   (unsigned long long)t->rows);
            return -1;
        }
        if (strcmp(c->name, "source") == 0 && strcmp(t->group, "/links") == 0
            && (c->kind == K_UINT) && source_labels(t, c) != 0)
            return -1;
    }
    /* Rows per step: memory stays bounded whatever the columns' widths. */
    size_t width = 0;
    for (size_t i = 0; i < t->n; i++)
        width += t->col[i].size ? t->col[i].size : 1;
    t->batch = EXPORT_BATCH_BYTES / width;
    t->batch = t->batch < 1 ? 1 : t->batch > EXPORT_BATCH ? EXPORT_BATCH
                                                           : t->batch;
    for (size_t i = 0; i < t->n; i++)
        t->col[i].buf = pl_xmalloc(t->batch * (t->col[i].size ? t->col[i].size
                                                              : 1));
    return 0;
}

static void close_table(table *t)
{
    for (size_t i = 0; t->col && i < t->n; i++) {
        column *c = &t->col[i];
        if (c->dset >= 0)
            H5Dclose(c->dset);
        if (c->mtype >= 0)
            H5Tclose(c->mtype);
        for (size_t k = 0; k < c->n_labels; k++)
            free(c->labels[k]);
        free(c->labels);
        free(c->buf);
    }
    free(t->col);
    if (t->g >= 0)
        H5Gclose(t->g);
    if (t->f >= 0)
        H5Fclose(t->f);
}

/* ------------------------------------------------------------------------ */
/* CSV */

/* One field, RFC 4180: quoted when it holds a comma, quote, CR or LF (or
 * starts or ends with a space, which some readers would trim). */
static void put_field(FILE *o, const char *s, size_t n)
{
    int q = n && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!q) {
        fwrite(s, 1, n, o);
        return;
    }
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', o);
        fputc(s[i], o);
    }
    fputc('"', o);
}

static int valid_date(int64_t v, int digits)
{
    int64_t y = digits == 8 ? v / 10000 : v / 100;
    int m = (int)(digits == 8 ? v / 100 % 100 : v % 100);
    int d = digits == 8 ? (int)(v % 100) : 1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31};
    if (v < 0 || y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 ||
        d > mdays[m - 1])
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

/* Shortest decimal text that reads back as the same double. */
static void fmt_double(double x, char *out, size_t n)
{
    if (isnan(x)) {
        out[0] = '\0';          /* missing */
        return;
    }
    if (isinf(x)) {
        snprintf(out, n, x > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

static void put_value(FILE *o, column *c, uint64_t i)
{
    char tmp[160];
    const uint8_t *p = c->buf + i * c->size;
    switch (c->kind) {
    case K_INT: {
        int64_t v;
        memcpy(&v, p, 8);
        if (c->date && valid_date(v, c->date)) {
            if (c->date == 8)
                snprintf(tmp, sizeof tmp, "%04lld-%02lld-%02lld",
                         (long long)(v / 10000), (long long)(v / 100 % 100),
                         (long long)(v % 100));
            else
                snprintf(tmp, sizeof tmp, "%04lld-%02lld",
                         (long long)(v / 100), (long long)(v % 100));
        } else if (c->date) {
            c->bad_dates++;
            tmp[0] = '\0';
        } else
            snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        fputs(tmp, o);
        return;
    }
    case K_UINT: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (c->labels && v < c->n_labels) {
            put_field(o, c->labels[v], strlen(c->labels[v]));
            return;
        }
        if (c->date && v <= INT64_MAX && valid_date((int64_t)v, c->date)) {
            if (c->date == 8)
                snprintf(tmp, sizeof tmp, "%04llu-%02llu-%02llu",
                         (unsigned long long)(v / 10000),
                         (unsigned long long)(v / 100 % 100),
                         (unsigned long long)(v % 100));
            else
                snprintf(tmp, sizeof tmp, "%04llu-%02llu",
                         (unsigned long long)(v / 100),
                         (unsigned long long)(v % 100));
        } else if (c->date) {
            c->bad_dates++;
            tmp[0] = '\0';
        } else
            snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
        fputs(tmp, o);
        return;
    }
    case K_FLOAT: {
        double x;
        memcpy(&x, p, 8);
        fmt_double(x, tmp, sizeof tmp);
        fputs(tmp, o);
        return;
    }
    case K_ENUM:
        if (H5Tenum_nameof(c->mtype, p, tmp, sizeof tmp) >= 0)
            put_field(o, tmp, strlen(tmp));
        else {              /* a value without a name: its number */
            pl_h5_reason();
            uint64_t v = 0;
            memcpy(&v, p, c->size < 8 ? c->size : 8);
            fprintf(o, "%llu", (unsigned long long)v);
        }
        return;
    case K_STR: {
        size_t n = strnlen((const char *)p, c->size);
        while (n && p[n - 1] == ' ')
            n--;
        put_field(o, (const char *)p, n);
        return;
    }
    case K_VSTR: {
        const char *s;
        memcpy(&s, p, sizeof s);
        if (s)
            put_field(o, s, strlen(s));
        return;
    }
    case K_HEX:
        for (uint64_t k = 0; k < c->width; k++)
            fprintf(o, "%02x", p[k]);
        return;
    }
}

/* 0; -1 after a message (a read error); -2 on a write error, its errno
 * in write_errno, for the caller to name the destination. */
static int write_errno;

static int write_csv(table *t, FILE *o)
{
    for (size_t i = 0; i < t->n; i++) {
        if (i)
            fputc(',', o);
        put_field(o, t->col[i].name, strlen(t->col[i].name));
    }
    fputs("\r\n", o);
    for (uint64_t lo = 0; lo < t->rows; lo += t->batch) {
        uint64_t cnt = t->rows - lo < t->batch ? t->rows - lo : t->batch;
        for (size_t i = 0; i < t->n; i++) {
            column *c = &t->col[i];
            char what[600];
            snprintf(what, sizeof what, "%s/%s", t->group, c->name);
            if (pl_h5_read_rows(t->file, c->dset, what, c->mtype, lo, cnt,
                                c->kind == K_HEX ? c->width : 0, c->buf,
                                H5P_DEFAULT) != 0)
                return -1;
        }
        for (uint64_t r = 0; r < cnt; r++) {
            for (size_t i = 0; i < t->n; i++) {
                if (i)
                    fputc(',', o);
                put_value(o, &t->col[i], r);
            }
            fputs("\r\n", o);
        }
        for (size_t i = 0; i < t->n; i++)
            if (t->col[i].kind == K_VSTR) {
                hid_t sp = H5Dget_space(t->col[i].dset);
                hsize_t d[1] = {cnt};
                hid_t ms = H5Screate_simple(1, d, NULL);
                H5Dvlen_reclaim(t->col[i].mtype, ms, H5P_DEFAULT,
                                t->col[i].buf);
                H5Sclose(ms);
                H5Sclose(sp);
            }
        if (ferror(o)) {
            write_errno = errno ? errno : EIO;
            return -2;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Command */

static int open_table(table *t, const char *file, const char *source)
{
    memset(t, 0, sizeof *t);
    t->f = t->g = -1;
    t->file = file;
    struct stat sb;
    if (stat(file, &sb) != 0) {
        pl_err("%s: cannot open: %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        pl_err("%s: not a regular file", file);
        return -1;
    }
    t->f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (t->f < 0) {
        pl_err("%s: cannot open as HDF5: %s", file, pl_h5_reason());
        return -1;
    }
    if (is_correspondence(t->f)) {
        pl_err("%s: refused: this is a correspondence table (pid <-> p1, "
               "encrypted; docs/CORRESPONDENCE.md), which is never "
               "exported; export reads linked.h5 and the extracts", file);
        return -1;
    }
    char *gp = group_path(file, source);
    if (!gp)
        return -1;
    t->group = gp;
    /* Each level in turn: H5Lexists fails on a missing parent. Only hard
     * links: a soft or external one could lead into another file. */
    char *slash = strchr(gp + 1, '/');
    htri_t e = 1;
    for (int level = 0; level < 2 && e > 0; level++) {
        if (level == 0 && slash)
            *slash = '\0';
        else if (level == 0)
            continue;
        e = H5Lexists(t->f, gp + 1, H5P_DEFAULT);
        H5L_info_t li;
        if (e > 0 && H5Lget_info(t->f, gp + 1, &li, H5P_DEFAULT) >= 0 &&
            li.type != H5L_TYPE_HARD) {
            pl_err("%s: %s: refused: %s link, not a group of this file "
                   "(pseudolink outputs hold none)", file, gp,
                   li.type == H5L_TYPE_EXTERNAL ? "an external" : "a soft");
            if (slash)
                *slash = '/';
            return -1;
        }
        if (slash)
            *slash = '/';
    }
    H5O_info_t oi;
    if (e <= 0 || H5Oget_info_by_name(t->f, gp, &oi, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_GROUP) {
        pl_h5_reason();
        pl_err("%s: %s: no such group (not a pseudolink output, or no such "
               "source)", file, gp);
        return -1;
    }
    t->g = H5Gopen2(t->f, gp, H5P_DEFAULT);
    if (t->g < 0) {
        pl_err("%s: %s: cannot open: %s", file, gp, pl_h5_reason());
        return -1;
    }
    return open_columns(t);
}

/* The temporary being written, removed if a signal ends the export
 * (SIGKILL aside, nothing of a stopped export is left behind). */
static char tmp_path[PATH_MAX + 32];

static void on_signal(int sig)
{
    if (tmp_path[0])
        unlink(tmp_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGXCPU, SIGUSR1};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);   /* a file-size limit: EFBIG, not death */
}

/* The CSV on an already open stream (standard output, a FIFO, a terminal,
 * a device): written as it goes, there is nothing to rename. */
static int export_stream(table *t, FILE *o, const char *name)
{
    int std = o == stdout;
    errno = 0;
    int rc = write_csv(t, o);
    int err = rc == -2 ? write_errno : ferror(o) ? (errno ? errno : EIO) : 0;
    if (fflush(o) != 0 && !err)
        err = errno ? errno : EIO;
    if (err && std)
        pl_err("export: cannot write to standard output: %s", strerror(err));
    else if (err)
        pl_err("%s: cannot write: %s", name, strerror(err));
    return rc == 0 && !err ? 0 : -1;
}

/* True if the file at path starts with the HDF5 signature (at 0, 512,
 * 1024 or 2048: a user block shifts it). */
static int is_hdf5(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n',
                                         0x1a, '\n'};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    int hit = 0;
    for (off_t at = 0; !hit && at <= 2048; at = at ? at * 2 : 512) {
        unsigned char b[8];
        hit = pread(fd, b, 8, at) == 8 && memcmp(b, sig, 8) == 0;
    }
    close(fd);
    return hit;
}

/* The CSV to a temporary next to OUT, renamed over it once complete: OUT
 * is whole or untouched. OUT may be a symbolic link: the file it names is
 * replaced, the link stays. OUT that exists and is not a regular file (a
 * FIFO, /dev/stdout, a terminal) is written in place; a directory, the
 * input and an HDF5 file (a store, linked.h5, an extract) are refused. */
static int export_to(table *t, const char *out)
{
    if (strcmp(out, "-") == 0)
        return export_stream(t, stdout, "-");
    struct stat a, b, l;
    const char *target = out;
    char real[PATH_MAX];
    if (lstat(out, &l) == 0) {
        if (stat(out, &b) != 0) {
            pl_err("%s: cannot write through this symbolic link: %s", out,
                   strerror(errno));
            return -1;
        }
        if (stat(t->file, &a) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            pl_err("%s: refused: --csv names the input file", out);
            return -1;
        }
        if (S_ISDIR(b.st_mode)) {
            pl_err("%s: is a directory (--csv expects the CSV file's name)",
                   out);
            return -1;
        }
        if (!S_ISREG(b.st_mode)) {
            int fd = open(out, O_WRONLY | O_CLOEXEC | O_NOCTTY);
            FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
            if (!o) {
                pl_err("%s: cannot open: %s", out, strerror(errno));
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            int rc = export_stream(t, o, out);
            if (fclose(o) != 0 && rc == 0) {
                pl_err("%s: cannot write: %s", out, strerror(errno));
                rc = -1;
            }
            return rc;
        }
        if (is_hdf5(out)) {
            pl_err("%s: refused: this is an HDF5 file (a store, linked.h5 "
                   "or an extract?), never replaced by a CSV; remove it "
                   "first if that is what you mean", out);
            return -1;
        }
        if (S_ISLNK(l.st_mode)) {
            if (!realpath(out, real)) {
                pl_err("%s: cannot resolve this symbolic link: %s", out,
                       strerror(errno));
                return -1;
            }
            target = real;
        }
    }
    if (strlen(target) + 32 > sizeof tmp_path) {
        pl_err("%s: path too long", out);
        return -1;
    }
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp-%ld", target,
             (long)getpid());
    catch_signals();
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                  O_NOFOLLOW, 0640);
    if (fd < 0) {
        pl_err("%s: cannot create: %s", tmp_path, strerror(errno));
        tmp_path[0] = '\0';
        return -1;
    }
    FILE *o = fdopen(fd, "w");
    errno = 0;
    int rc = o ? write_csv(t, o) : -1;
    int err = rc == -2 ? write_errno : o && ferror(o) ? (errno ? errno : EIO)
                                                      : 0;
    if (rc == -2)
        rc = 0;                 /* the message below names OUT */
    if (o && fflush(o) != 0 && !err)
        err = errno ? errno : EIO;
    if (rc == 0 && !err && fsync(fd) != 0)
        err = errno;
    if (o ? fclose(o) != 0 && !err : close(fd) != 0)
        err = errno ? errno : EIO;
    if (rc == 0 && err)
        pl_err("%s: cannot write: %s", out, strerror(err));
    if (rc == 0 && !err && rename(tmp_path, target) != 0) {
        pl_err("%s: cannot rename to %s: %s", tmp_path, target,
               strerror(errno));
        err = 1;
    }
    if (rc != 0 || err)
        unlink(tmp_path);
    tmp_path[0] = '\0';
    return rc == 0 && !err ? 0 : -1;
}

int pl_export_main(int argc, char **argv)
{
    const char *file = NULL, *source = NULL, *out = "-";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v && (strcmp(argv[i], "--source") == 0 ||
                   strcmp(argv[i], "--csv") == 0)) {
            pl_err("export: %s needs a value (%s)", argv[i],
                   argv[i][2] == 's' ? "a source name" : "OUT, or - for "
                   "standard output");
            pl_help_print(stderr, "export");     /* cmd/usage.c */
            return 2;
        }
        if (v && strcmp(argv[i], "--source") == 0)
            source = argv[++i];
        else if (v && strcmp(argv[i], "--csv") == 0)
            out = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else {
            char shown[PL_LOG_LINE];
            pl_log_escape(argv[i], shown, sizeof shown);
            pl_err("export: unexpected argument '%s'", shown);
            pl_help_print(stderr, "export");     /* cmd/usage.c */
            return 2;
        }
    }
    if (!file || !source) {
        pl_err("export: %s", !file ? "no FILE.h5 given" : "--source NAME is "
               "required");
        pl_help_print(stderr, "export");     /* cmd/usage.c */
        return 2;
    }
    pl_h5_quiet();
    table t;
    int rc = open_table(&t, file, source) == 0 ? export_to(&t, out) : -1;
    for (size_t i = 0; rc == 0 && i < t.n; i++)
        if (t.col[i].bad_dates)
            pl_warn("%s: %s/%s: %llu values are not valid dates: written as "
                    "empty fields", file, t.group, t.col[i].name,
                    (unsigned long long)t.col[i].bad_dates);
    close_table(&t);
    free((char *)t.group);
    return rc == 0 ? 0 : 1;
}
