/* h5.h — the HDF5 helpers that every file of the job shares: error text,
 * contiguous datasets, row-range reads and writes (hyperslabs, collective
 * or independent per the transfer property), whole small datasets and
 * attributes. No run state: each takes the file's name for its messages.
 *
 * Collective use under MPI-IO: dataset and attribute creation are
 * collective (every rank, same arguments); a rank with nothing to read or
 * write still calls with count 0.
 */
#ifndef PL_PAR_H5_H
#define PL_PAR_H5_H

#include <hdf5.h>
#include <stdint.h>

/* The current HDF5 error stack as text, outer to inner (its innermost
 * entries, which carry the system's or MPI-IO's reason), for appending to
 * our own message; never "": with an empty stack, errno's text or "HDF5
 * gave no reason". Clears the stack. */
#define PL_H5_REASON_MAX 512
const char *pl_h5_reason(void);
/* Silence HDF5's own stack dumps (we report errors ourselves); each failed
 * API call's text is kept for pl_h5_reason, even once the next call has
 * cleared the stack. */
void pl_h5_quiet(void);

/* Fixed-length string type of n bytes (NULLPAD, ASCII); caller closes. */
hid_t pl_str_type(size_t n);
/* Same, tagged UTF-8 (H5T_CSET_UTF8): text in the outputs that researchers
 * read (h5py's .asstr() gives str). HDF5 does not convert between ASCII
 * and UTF-8 strings: read such a dataset with this type. */
hid_t pl_text_type(size_t n);
/* A copy of `type`, tagged UTF-8 when it is a fixed-length string (bytes
 * unchanged), else a plain copy; caller closes. */
hid_t pl_text_copy(hid_t type);

/* Contiguous dataset of d0 rows (d1 == 0: 1-D, else d0 x d1), no fill
 * (every element is written). -1 after a message naming fname. */
hid_t pl_h5_dataset(const char *fname, hid_t loc, const char *name,
                    hid_t type, uint64_t d0, uint64_t d1);

/* Rows [first, first+count) of a 1-D dataset (width 0) or of a 2-D one of
 * `width` columns, from or into buf. count may be 0 (still collective).
 * -1 after a message naming fname, `what` and the rows (by this rank). */
int pl_h5_read_rows(const char *fname, hid_t dset, const char *what,
                    hid_t type, uint64_t first, uint64_t count,
                    uint64_t width, void *buf, hid_t dxpl);
int pl_h5_write_rows(const char *fname, hid_t dset, const char *what,
                     hid_t type, uint64_t first, uint64_t count,
                     uint64_t width, const void *buf, hid_t dxpl);

/* Create dataset `name` (as pl_h5_dataset) and write all of it from the
 * rank with mine != 0 (others take part with nothing; a serial file:
 * mine = 1). -1 after a message. */
int pl_h5_put(hid_t loc, const char *fname, const char *name, hid_t type,
              uint64_t d0, uint64_t d1, const void *buf, int mine,
              hid_t dxpl);

/* Collective: the group `name` of loc, opened when it exists, else
 * created; -1 on failure. */
hid_t pl_h5_group(hid_t loc, const char *name);

/* Attributes (collective, same value on every rank). 0 or -1. */
int pl_attr_u64(hid_t loc, const char *name, uint64_t v);
/* A little-endian IEEE double (H5T_IEEE_F64LE). */
int pl_attr_f64(hid_t loc, const char *name, double v);
int pl_attr_str(hid_t loc, const char *name, const char *v);
int pl_attr_strlist(hid_t loc, const char *name, const char *const *v,
                    size_t n);
/* Scalar variable-length UTF-8 string attribute (descriptions, units):
 * h5py reads it as str. */
int pl_attr_text(hid_t loc, const char *name, const char *v);

/* Read string attribute `name` of loc (fixed-length or variable-length,
 * ASCII or UTF-8, scalar or one element) into out (NUL-terminated,
 * trailing NULs/spaces dropped, cut to n - 1 bytes). 1 when read, 0 when
 * absent, -1 when present but not a string (no message: the caller names
 * the object). Not collective (a read). */
int pl_attr_read_text(hid_t loc, const char *name, char *out, size_t n);

#endif
