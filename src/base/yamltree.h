/* yamltree.h — a small, strict YAML document tree on top of libyaml.
 *
 * Parses one YAML document (libyaml event API) into scalars, sequences and
 * mappings, each node carrying its 1-based line:column. Refused, with a
 * message naming file and line:column: anchors and aliases (YAML bombs),
 * nesting deeper than PL_YAML_MAX_DEPTH, duplicate or non-scalar mapping
 * keys, more than one document, input larger than PL_YAML_MAX_BYTES, and
 * syntax errors. Tags are ignored: every scalar is kept as its text.
 *
 * Messages have the form "<file>:<line>:<col>: <key.path>: <what>" and go
 * through pl_err unless the document is quiet. The getters below report
 * their own errors that way and return -1; on success they return 0.
 */
#ifndef PL_YAMLTREE_H
#define PL_YAMLTREE_H

#include <stddef.h>
#include <stdint.h>

/* Same value as in config.h on purpose: config.c includes both headers, so
 * the two definitions cannot drift apart without a compile error. */
#define PL_YAML_MAX_DEPTH 32
#define PL_YAML_MAX_BYTES (1024 * 1024)
#define PL_YAML_SHOW_MAX 64     /* buffer size for pl_yaml_show */
#define PL_YAML_PATH_MAX 256    /* buffer size for key paths */

typedef enum { PL_YAML_SCALAR, PL_YAML_SEQUENCE, PL_YAML_MAPPING } pl_yaml_kind;

typedef struct pl_yaml_node pl_yaml_node;
typedef struct { pl_yaml_node *key, *value; } pl_yaml_pair;

struct pl_yaml_node {
    pl_yaml_kind kind;
    int line, col;              /* 1-based, where the node starts */
    /* PL_YAML_SCALAR: NUL-terminated text (may hold inner NULs: see len). */
    char *str;
    size_t len;
    int is_null;                /* plain "", "~", "null", "Null", "NULL" */
    /* PL_YAML_SEQUENCE */
    pl_yaml_node **items;
    size_t n_items;
    /* PL_YAML_MAPPING, in file order */
    pl_yaml_pair *pairs;
    size_t n_pairs;
};

typedef struct {
    const char *file;           /* name used in messages (not copied) */
    int quiet;                  /* non-zero: print nothing */
    pl_yaml_node *root;         /* NULL for an empty stream */
} pl_yaml_doc;

/* Parse `buf` (len bytes). `file` must outlive the document. On error
 * prints one message, leaves doc->root NULL and returns -1. */
int  pl_yaml_parse(pl_yaml_doc *doc, const char *file, const char *buf,
                   size_t len, int quiet);
/* Free the whole tree; safe on a zeroed or already freed document. */
void pl_yaml_free(pl_yaml_doc *doc);

/* Print "<file>:<line>:<col>: <path>: <message>" (line 0 omits the
 * position, an empty path omits the path), unless doc->quiet. */
void pl_yaml_error(const pl_yaml_doc *doc, int line, int col, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Printable, truncated copy of file text for messages: non-printable or
 * non-ASCII bytes become '?', more than 60 characters end in "...". */
const char *pl_yaml_show(const char *s, size_t len, char buf[PL_YAML_SHOW_MAX]);
/* "a string", "null", "a sequence" or "a mapping", for messages. */
const char *pl_yaml_describe(const pl_yaml_node *node);
/* Key paths: "parent.key" (or "key" at top level), "parent[i]". */
void pl_yaml_path(char out[PL_YAML_PATH_MAX], const char *parent,
                  const char *key);
void pl_yaml_path_index(char out[PL_YAML_PATH_MAX], const char *parent,
                        size_t i);

/* Lookups in a mapping; NULL when `map` is not a mapping or key absent. */
const pl_yaml_pair *pl_yaml_find(const pl_yaml_node *map, const char *key);
const pl_yaml_node *pl_yaml_get(const pl_yaml_node *map, const char *key);

/* Type check. PL_YAML_SCALAR means a non-null scalar (a string). */
int pl_yaml_expect(const pl_yaml_doc *doc, const pl_yaml_node *node,
                   const char *path, pl_yaml_kind kind);
/* Every key of `map` must be in the NULL-terminated `allowed` list:
 * "unknown key 'x' (expected one of: a, b, c)", at the key. */
int pl_yaml_check_keys(const pl_yaml_doc *doc, const pl_yaml_node *map,
                       const char *path, const char *const allowed[]);
/* Value of `key` in `map` (at `path`), which must be of `kind`.
 * require: absent is "missing required key 'k'", at the mapping.
 * optional: absent gives *out = NULL and returns 0. */
int pl_yaml_require(const pl_yaml_doc *doc, const pl_yaml_node *map,
                    const char *path, const char *key, pl_yaml_kind kind,
                    const pl_yaml_node **out);
int pl_yaml_optional(const pl_yaml_doc *doc, const pl_yaml_node *map,
                     const char *path, const char *key, pl_yaml_kind kind,
                     const pl_yaml_node **out);

/* Scalar conversions; `path` names the node in messages. */
/* A string without inner NUL bytes (the text stays owned by the tree). */
int pl_yaml_string(const pl_yaml_doc *doc, const pl_yaml_node *node,
                   const char *path, const char **out);
/* Plain decimal digits, no sign, no leading zero, fits in uint64_t. */
int pl_yaml_u64(const pl_yaml_doc *doc, const pl_yaml_node *node,
                const char *path, uint64_t *out);
/* One of the NULL-terminated `choices` (exact match); *out = its index.
 * "expected 'a' or 'b', got 'c'" / "expected one of 'a', 'b', 'c', got 'd'" */
int pl_yaml_enum(const pl_yaml_doc *doc, const pl_yaml_node *node,
                 const char *path, const char *const choices[], int *out);
/* A sequence of strings, copied: *out has *n strings (free with
 * pl_yaml_strings_free). On error nothing is allocated. */
int pl_yaml_strings(const pl_yaml_doc *doc, const pl_yaml_node *node,
                    const char *path, char ***out, size_t *n);
void pl_yaml_strings_free(char **v, size_t n);

/* A non-empty path-like string under `key` of `map` (store, output, key
 * files), copied to *out; absent and not required leaves *out alone. */
int pl_yaml_path_str(const pl_yaml_doc *doc, const pl_yaml_node *map,
                     const char *path, const char *key, int required,
                     char **out);

/* A name that is also safe as a file or HDF5 object name: letters, digits
 * and '_', 1..maxlen-1 characters; `what` names it in the message
 * ("source", "column", ...). */
int pl_yaml_name(const pl_yaml_doc *doc, const pl_yaml_node *key,
                 const char *path, const char *what, size_t maxlen);

#endif
