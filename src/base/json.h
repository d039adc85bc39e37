/* json.h — a small strict JSON reader for the audit log (verify.c).
 * Depth and size limited; builds a tree of objects/arrays/strings/numbers.
 * Strings are decoded (\uXXXX escapes limited to the BMP; \u0000 rejected,
 * so C strings are exact). */
#ifndef PL_JSON_H
#define PL_JSON_H

#include <stddef.h>

typedef enum { PL_J_NULL, PL_J_BOOL, PL_J_NUM, PL_J_STR, PL_J_ARR,
               PL_J_OBJ } pl_jkind;

typedef struct pl_jnode {
    pl_jkind kind;
    char *str;                  /* STR: value; NUM: the literal text */
    char **keys;                /* OBJ */
    struct pl_jnode **items;    /* OBJ values / ARR items */
    size_t n;
    int boolean;
} pl_jnode;

/* Parse exactly one value (with surrounding whitespace) from buf[len].
 * NULL on error, with a short reason in err. */
pl_jnode *pl_json_parse(const char *buf, size_t len, char *err, size_t elen);
void pl_json_free(pl_jnode *n);
/* Member of an object (NULL if absent or not an object). */
const pl_jnode *pl_json_get(const pl_jnode *obj, const char *key);
/* String member or NULL. */
const char *pl_json_str(const pl_jnode *obj, const char *key);

/* JSON string escaping of s (quotes, backslash, control characters as
 * \u00XX) into a new buffer (caller frees). */
char *pl_json_escape(const char *s);

#endif
