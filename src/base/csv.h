/* csv.h — strict RFC 4180 CSV reader with declared, typed columns, read in
 * bounded batches, and the pieces of a quote-aware split of one file
 * between ranks (the MPI part is par/csv_split.h).
 *
 * Why our own parser and not Debian's libcsv (libcsv-dev): libcsv calls a
 * function per field and per record and copies every field into its own
 * buffer, knows nothing of positions (line:column), encodings, UTF-8
 * validity or types, and cannot start in the middle of a file with a known
 * quote parity, which the split needs; it is also LGPL-2.1, which a static
 * pseudolink binary would have to accommodate. What we need is small: one
 * loop over the bytes that stops only on the delimiter, '"', CR, LF, NUL
 * and non-ASCII bytes (SSE2, 16 bytes a step, then a 256-entry class
 * table), fields converted in place straight into the column arrays (no
 * per-field allocation, no callback), the file read in blocks with pread,
 * and the split's counting pass vectorised. bench/csv_rate.c measures it
 * (docs/CSV.md: 8 M rows/s per core on 10 columns).
 *
 * Accepted syntax (RFC 4180, strict):
 *  - records end with LF or CRLF; the last may end at end of file; an
 *    empty line is a record of one empty field (so a wrong field count
 *    when more than one column is declared);
 *  - a field is either unquoted (no '"', CR or LF in it) or enclosed in
 *    '"', in which "" is one quote and delimiters, CR and LF are data;
 *    after the closing quote only the delimiter or the end of the record
 *    may follow; a CR outside quotes must be followed by LF;
 *  - delimiter ',', ';' or TAB, configured, or 0 = detected from the header:
 *    the first of ',' ';' TAB that splits the header into exactly the
 *    declared column names (else the one giving the most fields, so that
 *    the error names what is wrong);
 *  - the first record is the header; a UTF-8 byte order mark before it is
 *    skipped; every header name must be declared exactly once and every
 *    declared column must be in the header (in any order);
 *  - encoding UTF-8 (validated: overlong forms, surrogates, > U+10FFFF
 *    refused) or ISO-8859-1 (each byte is the code point of the same value,
 *    converted to UTF-8; bytes 0x80-0x9F, C1 controls there and the usual
 *    sign of a Windows-1252 file, are refused); a NUL byte is refused in
 *    both.
 *
 * Column types and what lands in the batch (little-endian native arrays):
 *   PL_CSV_I8..I64, U8..U64  optional '-' (signed only) and decimal digits,
 *                            range-checked for the width
 *   PL_CSV_STR               `len` bytes, UTF-8, NUL-padded (HDF5 fixed-
 *                            length NULLPAD string, as the store's nir);
 *                            a longer value (after conversion) is an error
 *   PL_CSV_DATE              int32 YYYYMMDD (the store's birth_date), from
 *                            YYYYMMDD, YYYY-MM-DD or DD/MM/YYYY (one format
 *                            per column), a real Gregorian date, year
 *                            0001-9999 (the identity check then applies its
 *                            own 1850-2099 rule: stage/nir.h)
 *   PL_CSV_SKIP              checked for syntax and UTF-8, not stored (a
 *                            column the producer must declare and drop)
 * A typed column declared `lenient` stores 0 (numbers, dates) or an empty
 * string for a value it cannot take, and sets the row's byte in bad[] to
 * 1, instead of failing: identity columns then get the reject code the
 * store would give (0 is nir_length / birth_date / sex / birth_rank).
 *
 * Errors: one message, "file:line:col: column 'NAME' (field K): what"
 * (line and col 1-based, col in bytes of the physical line, lines counted
 * over the whole file even when a rank reads only a part), through pl_err
 * unless quiet; the same text is kept in pl_csv_error(). No message ever
 * holds a field's value or length (at most the position of a bad byte in
 * it), nor a header text that is not a
 * declared name (a file without its header would otherwise print its first
 * row): identity fields are secret. After an error the reader only returns
 * -1.
 *
 * A file reader checks, when it reaches the end of its range, that the file
 * has the size and modification time it had at open (and a read that
 * finds the file shorter fails at once): a file truncated, appended to or
 * rewritten by another process while it is read is refused ("the file
 * changed while it was being read"), never read in part. That last check
 * comes with the read that returns the range's last record (or 0 records);
 * the batches before a failed read are void, as before any error.
 *
 * Nothing here is collective; a reader belongs to one thread.
 */
#ifndef PL_BASE_CSV_H
#define PL_BASE_CSV_H

#include <stddef.h>
#include <stdint.h>

#define PL_CSV_MAX_COLS    4096
#define PL_CSV_MAX_RECORD  (64u << 20)   /* longest record, bytes */
#define PL_CSV_MAX_STR     65536         /* longest declared string */
#define PL_CSV_ERR_MAX     512

typedef enum {
    PL_CSV_SKIP = 0,
    PL_CSV_I8, PL_CSV_I16, PL_CSV_I32, PL_CSV_I64,
    PL_CSV_U8, PL_CSV_U16, PL_CSV_U32, PL_CSV_U64,
    PL_CSV_STR, PL_CSV_DATE
} pl_csv_type;

typedef enum {
    PL_CSV_YYYYMMDD = 0,        /* 19850412 */
    PL_CSV_ISO      = 1,        /* 1985-04-12 */
    PL_CSV_DMY      = 2         /* 12/04/1985 */
} pl_csv_datefmt;

typedef enum { PL_CSV_UTF8 = 0, PL_CSV_LATIN1 = 1 } pl_csv_encoding;

typedef struct {
    const char    *header;      /* the header text (UTF-8), exact match */
    pl_csv_type    type;
    uint32_t       len;         /* PL_CSV_STR: bytes, 1..PL_CSV_MAX_STR */
    pl_csv_datefmt datefmt;     /* PL_CSV_DATE */
    int            lenient;     /* bad value -> 0 / "" and bad[row] = 1 */
} pl_csv_col;

typedef struct {
    char             delim;     /* ',', ';', '\t', or 0: detect */
    pl_csv_encoding  encoding;
    const pl_csv_col *cols;     /* declared columns (copied by open) */
    size_t           ncols;     /* 1..PL_CSV_MAX_COLS */
} pl_csv_spec;

/* Column arrays of up to `cap` records. col[j] (declared column j) holds
 * n * pl_csv_width(type) bytes, NULL for PL_CSV_SKIP; bad[j] is non-NULL
 * for lenient columns; line[i] is the line record i starts on (the row's
 * number in a reject report). */
typedef struct {
    size_t    cap, n, ncols;
    void    **col;
    uint8_t **bad;
    uint64_t *line;
    size_t   *width;            /* bytes per value of each column */
} pl_csv_batch;

/* Bytes per value of a column (0 for SKIP). */
size_t pl_csv_width(const pl_csv_col *c);
/* "int8", ..., "string", "date", "skip"; and the inverse (-1 unknown). */
const char *pl_csv_type_name(pl_csv_type t);
int pl_csv_type_parse(const char *s);
/* Date text -> int32 YYYYMMDD; -1 if not a real date in that format. */
int32_t pl_csv_parse_date(const char *s, size_t len, pl_csv_datefmt f);

typedef struct pl_csv pl_csv;

/* Open `path` (or a buffer: `name` is used in messages, `buf` must outlive
 * the reader), check the spec, read and check the header. The reader then
 * covers every record of the file. NULL on error (message printed unless
 * quiet; a spec error also). */
pl_csv *pl_csv_open(const char *path, const pl_csv_spec *spec, int quiet);
pl_csv *pl_csv_open_mem(const char *name, const void *buf, size_t len,
                        const pl_csv_spec *spec, int quiet);
/* Wipes the buffers (they held identity fields) and frees. NULL is fine. */
void pl_csv_close(pl_csv *c);

/* After open: the delimiter in use, where the data begins (byte offset of
 * the first record after the header, and its line), the file size. */
char     pl_csv_delim(const pl_csv *c);
uint64_t pl_csv_data_start(const pl_csv *c);
uint64_t pl_csv_data_line(const pl_csv *c);
uint64_t pl_csv_size(const pl_csv *c);
/* Tests: initial read buffer of file readers opened after this call
 * (default 1 MiB, 0 restores it; it grows for a longer record). */
void pl_csv_set_buffer(size_t bytes);
/* Last error text ("" if none). */
const char *pl_csv_error(const pl_csv *c);
/* 1 when the reader failed (it then only returns -1). */
int pl_csv_failed(const pl_csv *c);
/* Print the reader's error through pl_err if it has one that was not
 * printed yet (a quiet reader's); nothing otherwise. */
void pl_csv_report(pl_csv *c);
/* Put the reader in the failed state with "FILE: what" (printed unless
 * quiet). Returns -1. */
int pl_csv_fail(pl_csv *c, const char *what);
/* The file's modification time at open, in ns (0 for a memory buffer). */
uint64_t pl_csv_mtime_ns(const pl_csv *c);

/* Read only the records that start in [start, end); `start` must be a
 * record start (pl_csv_data_start, or a split part's start) on line
 * `line`. The last record may run past `end`. 0, or -1 if out of range. */
int pl_csv_set_range(pl_csv *c, uint64_t start, uint64_t end, uint64_t line);

/* Batches. init allocates for `cap` records of the reader's columns
 * (cap >= 1; memory: cap * (8 + the widths + 1 per lenient column)); a
 * batch is read only from the reader it was made for. read replaces the
 * batch's content with up to b->cap records: returns the number read
 * (b->n), 0 at the end of the range, -1 on error (message printed). The
 * arrays hold identity fields: free wipes them, and so must any copy. */
void    pl_csv_batch_init(pl_csv_batch *b, const pl_csv *c, size_t cap);
int64_t pl_csv_read(pl_csv *c, pl_csv_batch *b);
void    pl_csv_batch_free(pl_csv_batch *b);

/* ---- Split on record boundaries (exact, quote-aware) ----------------
 * The data region [data_start, size) is cut into `nparts` byte chunks
 * [chunk(r), chunk(r+1)). Outside quotes the number of '"' before a byte is
 * even, inside it is odd (an accepted "" toggles twice): so an LF ends a
 * record exactly when the quotes before it are even in number. Pass 1 counts
 * quotes and LFs of each chunk (pl_csv_count); an exclusive prefix sum gives
 * each chunk's quote parity and line at its start; pl_csv_find_start then
 * finds the first record start at or after the chunk start. Part r is the
 * records starting in [start(r), start(r+1)), on line `line` first. A
 * strict parse from start(r) agrees with the parity or reports an error, so
 * a valid file is parsed exactly as in one pass; an invalid one fails (on
 * the part holding the first error, maybe others too). */
typedef struct { uint64_t start, end, line; } pl_csv_part;

uint64_t pl_csv_chunk(uint64_t data_start, uint64_t size, int nparts, int r);
/* Quotes and LFs in [off, off+len) of the reader's input. 0 or -1. */
int pl_csv_count(pl_csv *c, uint64_t off, uint64_t len, uint64_t *quotes,
                 uint64_t *lfs);
/* First record start >= b (b > data_start: chunk r > 0), given the parity
 * of the quotes in [data_start, b); *start is size when none; *lfs gets the
 * LFs in [b, *start). 0 or -1. */
int pl_csv_find_start(pl_csv *c, uint64_t b, int parity, uint64_t *start,
                      uint64_t *lfs);
/* Records starting in [start, end) (start a record start, as a part's),
 * counted from quote parity alone, without parsing: what a parse of a
 * valid file returns (an invalid one fails its parse anyway). Lets each
 * rank know its row count, hence (pl_exscan) its first global row, before
 * it reads a record. 0 or -1. */
int pl_csv_count_records(pl_csv *c, uint64_t start, uint64_t end,
                         uint64_t *n);
/* The whole plan computed in one process (tests; `produce` without MPI):
 * parts[0..nparts). 0 or -1. */
int pl_csv_plan(pl_csv *c, int nparts, pl_csv_part *parts);

#endif
