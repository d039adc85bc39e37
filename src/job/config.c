/* config.c — the job file; see config.h. Structure and type checks come
 * from yamltree; this file knows the schema and the rules between keys. */
#include "job/config.h"
#include "job/encode_cfg.h"
#include "base/parse.h"

#include "job/csv_cfg.h"
#include "job/extract_config.h"
#include "job/linkage_config.h"
#include "base/log.h"
#include "base/yamltree.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH_ROWS 1048576u

static const char *const top_keys[] = {
    "store", "output", "mode", "keys", "sources", "options",
    "custody", "previous", "extracts", "audit_log", "columns", "producers",
    "opposition", "linkage", NULL};
static const char *const column_meta_keys[] = {
    "description", "units", "code_system", "date_format", NULL};
const char *const pl_date_formats[] = {"YYYYMMDD", "YYYYMM", "YYYY", NULL};
static const char *const prod_top_keys[] = {
    "producer", "package", "store", "output", "keys", "sources",
    "opposition", "options", "audit_log", NULL};
static const char *const keys_keys[] = {"producer", "platform", NULL};
static const char *const prod_keys_keys[] = {"producer", "transport", NULL};
static const char *const source_keys[] = {"identity", "keep", "drop",
                                          "allow_nir_like", "encode", NULL};
static const char *const prod_source_keys[] = {"identity", "keep", "drop",
                                               "allow_nir_like", "csv",
                                               "encode", NULL};
static const char *const pkg_source_keys[] = {"package", "keep", "drop",
                                              "allow_nir_like", NULL};
static const char *const identity_keys[] = {
    "nir", "birth_date", "sex", "birth_rank", "p1", "also", NULL};
static const char *const also_keys[] = {"nir", "birth_rank", NULL};
static const char *const option_keys[] = {
    "batch_rows", "exchange_cap", "io", "memory_per_rank",
    "max_reject_fraction", NULL};
static const char *const prod_option_keys[] = {
    "batch_rows", "block_rows", "io", "max_reject_fraction", NULL};
/* Indexed by pl_mode and pl_io_mode. */
static const char *const mode_names[] = {"keyed", "random", NULL};
static const char *const io_names[] = {"collective", "independent", NULL};

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

/* Set while a producer's job file is parsed (one parse at a time). */
static int prod_job;

/* ------------------------------------------------------------------------ */
/* Values */

/* A column name in the store: non-empty, < PL_NAME_MAX, no '/' (it would
 * name an HDF5 group path, not a dataset). */
static int get_column(doc_t *d, node_t *v, const char *path,
                      char out[PL_NAME_MAX])
{
    const char *s;
    char shown[PL_YAML_SHOW_MAX];
    if (pl_yaml_string(d, v, path, &s))
        return -1;
    const char *bad = NULL;
    if (!s[0])
        bad = "expected a column name, got an empty string";
    else if (strlen(s) >= PL_NAME_MAX)
        bad = "is too long";
    else if (strchr(s, '/'))
        bad = "must not contain '/'";
    if (!bad) {
        memcpy(out, s, strlen(s) + 1);
        return 0;
    }
    if (!s[0])
        pl_yaml_error(d, v->line, v->col, path, "%s", bad);
    else
        pl_yaml_error(d, v->line, v->col, path,
                      "column name '%s' %s (at most %d characters, no '/')",
                      pl_yaml_show(s, v->len, shown), bad, PL_NAME_MAX - 1);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Sources */

/* Identity column fields of a source, in identity_keys order. */
static char *identity_field(pl_source_cfg *s, size_t i)
{
    char *f[] = {s->nir, s->birth_date, s->sex, s->birth_rank, s->p1,
                 s->also_nir, s->also_birth_rank};
    return f[i];
}

/* The identity key of `s` that uses column `col`, or NULL. */
static const char *identity_use(pl_source_cfg *s, const char *col)
{
    static const char *const names[] = {"nir", "birth_date", "sex",
        "birth_rank", "p1", "also.nir", "also.birth_rank"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(identity_field(s, i), col) == 0)
            return names[i];
    return NULL;
}

static int parse_identity_p1(doc_t *d, node_t *id, const char *path,
                             pl_source_cfg *s)
{
    for (size_t i = 0; i < id->n_pairs; i++) {
        node_t *k = id->pairs[i].key;
        char shown[PL_YAML_SHOW_MAX];
        if (strcmp(k->str, "p1") != 0 && strcmp(k->str, "birth_rank") != 0) {
            pl_yaml_error(d, k->line, k->col, path,
                          "'p1' cannot be combined with '%s' (give either "
                          "p1 and optionally birth_rank, or nir, birth_date, "
                          "sex and optionally birth_rank and also)",
                          pl_yaml_show(k->str, k->len, shown));
            return -1;
        }
    }
    char sub[PL_YAML_PATH_MAX];
    pl_yaml_path(sub, path, "p1");
    s->has_p1 = 1;
    if (get_column(d, pl_yaml_get(id, "p1"), sub, s->p1))
        return -1;
    node_t *v = pl_yaml_get(id, "birth_rank");
    if (!v)
        return 0;
    pl_yaml_path(sub, path, "birth_rank");
    char col[PL_NAME_MAX];
    if (pl_yaml_expect(d, v, sub, PL_YAML_SCALAR) || get_column(d, v, sub, col))
        return -1;
    if (strcmp(col, s->p1) == 0) {
        pl_yaml_error(d, v->line, v->col, sub, "column '%s' is already used "
                      "for 'p1'", col);
        return -1;
    }
    memcpy(s->birth_rank, col, sizeof col);
    return 0;
}

/* identity.also: {nir: COL, birth_rank: COL}, the row's second identity
 * (same birth_date and sex). */
static int parse_also(doc_t *d, node_t *id, const char *ipath,
                      pl_source_cfg *s)
{
    node_t *a;
    char apath[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    if (pl_yaml_optional(d, id, ipath, "also", PL_YAML_MAPPING, &a))
        return -1;
    if (!a)
        return 0;
    pl_yaml_path(apath, ipath, "also");
    if (pl_yaml_check_keys(d, a, apath, also_keys))
        return -1;
    for (size_t i = 0; i < 2; i++) {
        node_t *v;
        pl_yaml_path(sub, apath, also_keys[i]);
        if ((i == 0 ? pl_yaml_require : pl_yaml_optional)(
                d, a, apath, also_keys[i], PL_YAML_SCALAR, &v))
            return -1;
        if (!v)
            continue;
        char col[PL_NAME_MAX];
        if (get_column(d, v, sub, col))
            return -1;
        const char *other = identity_use(s, col);
        if (other) {
            pl_yaml_error(d, v->line, v->col, sub, "column '%s' is already "
                          "used for '%s'", col, other);
            return -1;
        }
        memcpy(i == 0 ? s->also_nir : s->also_birth_rank, col, sizeof col);
    }
    return 0;
}

static int parse_identity(doc_t *d, node_t *src, const char *path,
                          pl_source_cfg *s)
{
    node_t *id;
    char ipath[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    pl_yaml_path(ipath, path, "identity");
    if (pl_yaml_require(d, src, path, "identity", PL_YAML_MAPPING, &id) ||
        pl_yaml_check_keys(d, id, ipath, identity_keys))
        return -1;
    if (pl_yaml_get(id, "p1"))
        return parse_identity_p1(d, id, ipath, s);
    if (!pl_yaml_get(id, "nir")) {
        pl_yaml_error(d, id->line, id->col, ipath, "missing required key "
                      "'nir' (or 'p1' for a source that holds first "
                      "pseudonyms)");
        return -1;
    }
    for (size_t i = 0; i < 4; i++) {            /* nir .. birth_rank */
        node_t *v;
        const char *key = identity_keys[i];
        pl_yaml_path(sub, ipath, key);
        if ((i < 3 ? pl_yaml_require : pl_yaml_optional)(
                d, id, ipath, key, PL_YAML_SCALAR, &v))
            return -1;
        if (!v)
            continue;
        char col[PL_NAME_MAX];
        if (get_column(d, v, sub, col))
            return -1;
        const char *other = identity_use(s, col);
        if (other) {
            pl_yaml_error(d, v->line, v->col, sub, "column '%s' is already "
                          "used for '%s'", col, other);
            return -1;
        }
        memcpy(identity_field(s, i), col, sizeof col);
    }
    return parse_also(d, id, ipath, s);
}

/* keep or drop: a list of distinct payload columns. Entries are added to
 * the job as they are read, so pl_job_free releases them on error. */
static int parse_columns(doc_t *d, node_t *seq, const char *path,
                         pl_source_cfg *s, char ***list, size_t *n)
{
    char sub[PL_YAML_PATH_MAX], col[PL_NAME_MAX];
    if (pl_yaml_expect(d, seq, path, PL_YAML_SEQUENCE))
        return -1;
    *list = pl_xcalloc(seq->n_items, sizeof **list);
    for (size_t i = 0; i < seq->n_items; i++) {
        node_t *v = seq->items[i];
        pl_yaml_path_index(sub, path, i);
        if (get_column(d, v, sub, col))
            return -1;
        const char *id = identity_use(s, col);
        if (id) {
            pl_yaml_error(d, v->line, v->col, sub, "column '%s' is the "
                          "identity column '%s' of this source; identity "
                          "columns are never carried as payload", col, id);
            return -1;
        }
        for (size_t j = 0; j < *n; j++) {
            if (strcmp((*list)[j], col) == 0) {
                pl_yaml_error(d, v->line, v->col, sub, "duplicate column "
                              "'%s' (also at index %zu)", col, j);
                return -1;
            }
        }
        (*list)[(*n)++] = pl_xstrdup(col);
    }
    return 0;
}

static int parse_source(doc_t *d, const pl_yaml_pair *p, pl_source_cfg *s)
{
    char path[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    memcpy(s->name, p->key->str, p->key->len + 1);
    s->line = p->key->line;
    s->col = p->key->col;
    pl_yaml_path(path, "sources", s->name);
    if (pl_yaml_expect(d, p->value, path, PL_YAML_MAPPING))
        return -1;
    if (pl_yaml_get(p->value, "package") && !prod_job) {
        /* From a transfer package: p1 and the package's columns. */
        if (pl_yaml_check_keys(d, p->value, path, pkg_source_keys) ||
            pl_yaml_path_str(d, p->value, path, "package", 1, &s->package))
            return -1;
        s->has_p1 = 1;
        memcpy(s->p1, "p1", 3);
    } else if (pl_yaml_check_keys(d, p->value, path,
                                  prod_job ? prod_source_keys : source_keys))
        return -1;
    else if (prod_job && !pl_yaml_get(p->value, "identity") &&
             pl_yaml_get(p->value, "encode")) {
        /* A producer's source without identity (a registry without NIR):
         * no p1, every row travels with its encodings and payload, for
         * linkage on the platform (docs/PRODUCER.md). */
    } else if (parse_identity(d, p->value, path, s))
        return -1;
    const pl_yaml_pair *csv = pl_yaml_find(p->value, "csv");
    if (csv) {
        pl_yaml_path(sub, path, "csv");
        s->csv = pl_xcalloc(1, sizeof *s->csv);
        if (pl_csv_cfg_parse(d, csv->value, sub, s->csv)) {
            free(s->csv);
            s->csv = NULL;
            return -1;
        }
    }
    if (prod_job && s->has_p1) {
        pl_yaml_error(d, p->key->line, p->key->col, path, "a producer's "
                      "source needs a nir identity (nir, birth_date, sex "
                      "[, birth_rank]), not p1: produce computes p1 from "
                      "it");
        return -1;
    }
    const pl_yaml_pair *enc = pl_yaml_find(p->value, "encode");
    if (enc && !prod_job) {
        pl_yaml_error(d, enc->key->line, enc->key->col, path, "'encode' is "
                      "for a producer's job (produce encodes at the "
                      "producer; the platform never sees clear names)");
        return -1;
    }
    if (enc) {
        pl_yaml_path(sub, path, "encode");
        if (pl_encode_parse(d, enc->value, sub, &s->encode))
            return -1;
        if (!s->nir[0] && s->encode->clear_id) {
            pl_yaml_path(sub, path, "encode.clear_identity");
            pl_yaml_error(d, s->encode->line, s->encode->col, sub,
                          "this source has no identity: its birth date and "
                          "sex are payload columns (list them in keep)");
            return -1;
        }
        if (!s->nir[0] && s->encode->salt == PL_ENC_SALT_BIRTH_YEAR) {
            pl_yaml_path(sub, path, "encode.salt");
            pl_yaml_error(d, s->encode->line, s->encode->col, sub,
                          "salt: birth_year takes the identity's birth "
                          "date, and this source has no identity: use "
                          "salt: none (the default)");
            return -1;
        }
    }
    const pl_yaml_pair *keep = pl_yaml_find(p->value, "keep");
    const pl_yaml_pair *drop = pl_yaml_find(p->value, "drop");
    if (keep && drop) {
        const pl_yaml_pair *later = keep->key->line > drop->key->line ||
            (keep->key->line == drop->key->line &&
             keep->key->col > drop->key->col) ? keep : drop;
        pl_yaml_error(d, later->key->line, later->key->col, path,
                      "'keep' and 'drop' cannot both be given (keep lists "
                      "the payload columns to carry, drop those to leave "
                      "out)");
        return -1;
    }
    const pl_yaml_pair *allow = pl_yaml_find(p->value, "allow_nir_like");
    if (allow) {
        pl_yaml_path(sub, path, "allow_nir_like");
        if (parse_columns(d, allow->value, sub, s, &s->allow_nir,
                          &s->n_allow_nir))
            return -1;
    }
    if (keep) {
        s->keep_given = 1;
        pl_yaml_path(sub, path, "keep");
        if (parse_columns(d, keep->value, sub, s, &s->keep, &s->n_keep))
            return -1;
        /* The encoded fields are read from the export (never packaged:
         * stage/produce.c leaves them out of the payload). */
        for (size_t i = 0; s->encode && i < s->encode->n_fields; i++) {
            int have = 0;
            for (size_t j = 0; j < s->n_keep; j++)
                have |= strcmp(s->keep[j], s->encode->fields[i]) == 0;
            have |= identity_use(s, s->encode->fields[i]) != NULL;
            if (!have) {
                s->keep = pl_xrealloc(s->keep,
                                      (s->n_keep + 1) * sizeof *s->keep);
                s->keep[s->n_keep++] = pl_xstrdup(s->encode->fields[i]);
            }
        }
        return 0;
    }
    if (drop) {
        pl_yaml_path(sub, path, "drop");
        return parse_columns(d, drop->value, sub, s, &s->drop, &s->n_drop);
    }
    return 0;
}

static int parse_sources(doc_t *d, node_t *root, pl_job *job)
{
    node_t *m;
    if (pl_yaml_require(d, root, "", "sources", PL_YAML_MAPPING, &m))
        return -1;
    if (m->n_pairs == 0) {
        pl_yaml_error(d, m->line, m->col, "sources",
                      "expected at least one source");
        return -1;
    }
    job->sources = pl_xcalloc(m->n_pairs, sizeof *job->sources);
    for (size_t i = 0; i < m->n_pairs; i++) {
        if (pl_yaml_name(d, m->pairs[i].key, "sources", "source", PL_NAME_MAX))
            return -1;
        if (parse_source(d, &m->pairs[i], &job->sources[job->n_sources++]))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* keys, options */

static int parse_keys(doc_t *d, node_t *root, pl_job *job, node_t **keys)
{
    if (prod_job)
        return pl_yaml_require(d, root, "", "keys", PL_YAML_MAPPING, keys) ||
               pl_yaml_check_keys(d, *keys, "keys", prod_keys_keys) ||
               pl_yaml_path_str(d, *keys, "keys", "producer", 0,
                                &job->producer_key) ||
               pl_yaml_path_str(d, *keys, "keys", "transport", 1,
                                &job->transport_key)
                   ? -1 : 0;
    return pl_yaml_require(d, root, "", "keys", PL_YAML_MAPPING, keys) ||
           pl_yaml_check_keys(d, *keys, "keys", keys_keys) ||
           pl_yaml_path_str(d, *keys, "keys", "producer", 0,
                            &job->producer_key) ||
           pl_yaml_path_str(d, *keys, "keys", "platform", 0,
                            &job->platform_key)
               ? -1 : 0;
}

/* Which keys are needed depends on the mode and on the sources. */
static int check_keys_needed(doc_t *d, node_t *keys, const pl_job *job)
{
    for (size_t i = 0; i < job->n_sources && !job->producer_key; i++) {
        if (job->sources[i].has_p1)
            continue;
        pl_yaml_error(d, keys->line, keys->col, "keys", "missing required "
                      "key 'producer' (source '%s' has a nir identity, "
                      "hashed with the producer key)", job->sources[i].name);
        return -1;
    }
    if (job->mode == PL_MODE_KEYED && !job->platform_key) {
        pl_yaml_error(d, keys->line, keys->col, "keys", "missing required "
                      "key 'platform' (required in keyed mode)");
        return -1;
    }
    return 0;
}

static int parse_memory(doc_t *d, node_t *v, pl_job *job)
{
    const char *txt;
    if (pl_yaml_string(d, v, "options.memory_per_rank", &txt))
        return -1;
    if (pl_parse_size(txt, &job->memory_per_rank) != 0) {
        pl_yaml_error(d, v->line, v->col, "options.memory_per_rank",
                      "expected a size > 0 in bytes, optionally with a "
                      "K/M/G/T suffix (e.g. 512MiB, 2G), got '%s'", txt);
        return -1;
    }
    if (job->memory_per_rank > PL_MAX_MEMORY) {  /* buffer sizes derive from it */
        pl_yaml_error(d, v->line, v->col, "options.memory_per_rank",
                      "expected at most %lluT, got '%s'",
                      (unsigned long long)(PL_MAX_MEMORY >> 40), txt);
        return -1;
    }
    return 0;
}

/* A number from 0 to 1 ("0.05", "1", "0"); not a percentage. */
static int parse_fraction(doc_t *d, node_t *v, const char *path, double *out)
{
    const char *txt;
    char shown[PL_YAML_SHOW_MAX], *end;
    if (pl_yaml_string(d, v, path, &txt))
        return -1;
    errno = 0;
    double x = strtod(txt, &end);
    if (!txt[0] || end == txt || *end || errno || !isfinite(x) || x < 0 ||
        x > 1) {
        pl_yaml_error(d, v->line, v->col, path, "expected a fraction from 0 "
                      "to 1 (e.g. 0.05 for 5 %%), got '%s'",
                      pl_yaml_show(txt, v->len, shown));
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_options(doc_t *d, node_t *root, pl_job *job)
{
    node_t *o, *v;
    int io;
    job->batch_rows = DEFAULT_BATCH_ROWS;
    job->exchange_cap = 0;
    job->io = PL_IO_INDEPENDENT;   /* measured faster: docs/SCALING.md */
    job->max_reject_fraction = 1.0;  /* warn only */
    if (pl_yaml_optional(d, root, "", "options", PL_YAML_MAPPING, &o))
        return -1;
    if (!o)
        return 0;
    if (pl_yaml_check_keys(d, o, "options",
                           prod_job ? prod_option_keys : option_keys))
        return -1;
    if ((v = pl_yaml_get(o, "block_rows"))) {
        if (pl_yaml_u64(d, v, "options.block_rows", &job->block_rows))
            return -1;
        if (job->block_rows == 0 || job->block_rows > (1u << 24)) {
            pl_yaml_error(d, v->line, v->col, "options.block_rows",
                          "expected an integer from 1 to %u, got %llu",
                          1u << 24, (unsigned long long)job->block_rows);
            return -1;
        }
    }
    if ((v = pl_yaml_get(o, "batch_rows"))) {
        if (pl_yaml_u64(d, v, "options.batch_rows", &job->batch_rows))
            return -1;
        /* Bounded so that batch_rows * bytes-per-row cannot overflow. */
        if (job->batch_rows == 0 || job->batch_rows > PL_MAX_BATCH_ROWS) {
            pl_yaml_error(d, v->line, v->col, "options.batch_rows",
                          "expected an integer from 1 to %llu, got %llu",
                          (unsigned long long)PL_MAX_BATCH_ROWS,
                          (unsigned long long)job->batch_rows);
            return -1;
        }
        job->batch_rows_given = 1;
    }
    if ((v = pl_yaml_get(o, "memory_per_rank")) &&
        parse_memory(d, v, job) != 0)
        return -1;
    if ((v = pl_yaml_get(o, "exchange_cap")) &&
        pl_yaml_u64(d, v, "options.exchange_cap", &job->exchange_cap))
        return -1;
    if ((v = pl_yaml_get(o, "max_reject_fraction")) &&
        parse_fraction(d, v, "options.max_reject_fraction",
                       &job->max_reject_fraction) != 0)
        return -1;
    if ((v = pl_yaml_get(o, "io"))) {
        if (pl_yaml_enum(d, v, "options.io", io_names, &io))
            return -1;
        job->io = (pl_io_mode)io;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* columns: the data dictionary */

/* One text value: non-empty, at most PL_META_TEXT_MAX - 1 bytes, no
 * control characters (it becomes an HDF5 attribute researchers print). */
static int meta_text(doc_t *d, node_t *v, const char *path, char **out)
{
    const char *s;
    if (pl_yaml_string(d, v, path, &s))
        return -1;
    const char *bad = NULL;
    if (!s[0])
        bad = "expected a non-empty text";
    else if (strlen(s) >= PL_META_TEXT_MAX)
        bad = "text is too long";
    for (const unsigned char *c = (const unsigned char *)s; !bad && *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            bad = "control characters are not allowed";
    if (bad) {
        pl_yaml_error(d, v->line, v->col, path, "%s (at most %d bytes of "
                      "UTF-8 text)", bad, PL_META_TEXT_MAX - 1);
        return -1;
    }
    *out = pl_xstrdup(s);
    return 0;
}

static int parse_column_meta(doc_t *d, const pl_yaml_pair *p,
                             pl_column_meta *m)
{
    char path[PL_YAML_PATH_MAX], sub[PL_YAML_PATH_MAX];
    /* The rules of keep/drop entries: any store column name. */
    if (get_column(d, p->key, "columns", m->name))
        return -1;
    pl_yaml_path(path, "columns", m->name);
    if (pl_yaml_expect(d, p->value, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, p->value, path, column_meta_keys))
        return -1;
    char **field[] = {&m->description, &m->units, &m->code_system,
                      &m->date_format};
    for (size_t i = 0; column_meta_keys[i]; i++) {
        node_t *v = pl_yaml_get(p->value, column_meta_keys[i]);
        if (!v)
            continue;
        pl_yaml_path(sub, path, column_meta_keys[i]);
        int which;
        if (i == 3) {
            if (pl_yaml_expect(d, v, sub, PL_YAML_SCALAR) ||
                pl_yaml_enum(d, v, sub, pl_date_formats, &which))
                return -1;
            *field[i] = pl_xstrdup(pl_date_formats[which]);
        } else if (meta_text(d, v, sub, field[i]))
            return -1;
    }
    return 0;
}

static int parse_column_dict(doc_t *d, node_t *root, pl_job *job)
{
    node_t *m;
    if (pl_yaml_optional(d, root, "", "columns", PL_YAML_MAPPING, &m))
        return -1;
    if (!m)
        return 0;
    job->columns = pl_xcalloc(m->n_pairs ? m->n_pairs : 1,
                              sizeof *job->columns);
    for (size_t i = 0; i < m->n_pairs; i++) {
        if (parse_column_meta(d, &m->pairs[i],
                              &job->columns[job->n_columns++]))
            return -1;
    }
    return 0;
}

const pl_column_meta *pl_job_column(const pl_job *job, const char *name)
{
    for (size_t i = 0; i < job->n_columns; i++)
        if (strcmp(job->columns[i].name, name) == 0)
            return &job->columns[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Whole job */

/* producers: {name: {signing_key: FILE}} (platform job). */
static int parse_producers(doc_t *d, node_t *root, pl_job *job)
{
    static const char *const pk[] = {"signing_key", NULL};
    node_t *m;
    if (pl_yaml_optional(d, root, "", "producers", PL_YAML_MAPPING, &m))
        return -1;
    if (!m)
        return 0;
    job->producers = pl_xcalloc(m->n_pairs + 1, sizeof *job->producers);
    for (size_t i = 0; i < m->n_pairs; i++) {
        char path[PL_YAML_PATH_MAX];
        const pl_yaml_pair *p = &m->pairs[i];
        if (pl_yaml_name(d, p->key, "producers", "producer", PL_NAME_MAX))
            return -1;
        pl_producer_cfg *pc = &job->producers[job->n_producers++];
        memcpy(pc->name, p->key->str, p->key->len + 1);
        pl_yaml_path(path, "producers", pc->name);
        if (pl_yaml_expect(d, p->value, path, PL_YAML_MAPPING) ||
            pl_yaml_check_keys(d, p->value, path, pk) ||
            pl_yaml_path_str(d, p->value, path, "signing_key", 1,
                             &pc->signing_key))
            return -1;
    }
    return 0;
}

/* opposition: [...] — packages (platform) or export sources (producer). */
static int parse_opposition(doc_t *d, node_t *root, pl_job *job)
{
    node_t *v;
    if (pl_yaml_optional(d, root, "", "opposition", PL_YAML_SEQUENCE, &v))
        return -1;
    if (!v)
        return 0;
    if (pl_yaml_strings(d, v, "opposition", &job->opposition,
                        &job->n_opposition))
        return -1;
    for (size_t i = 0; prod_job && i < job->n_opposition; i++) {
        size_t j = 0;
        while (j < job->n_sources &&
               strcmp(job->sources[j].name, job->opposition[i]) != 0)
            j++;
        if (j == job->n_sources) {
            pl_yaml_error(d, v->items[i]->line, v->items[i]->col,
                          "opposition", "'%s' is not a source of this job "
                          "(list the sources whose identity rows are "
                          "persons who objected)",
                          pl_yaml_show(job->opposition[i],
                                       strlen(job->opposition[i]),
                                       (char[PL_YAML_SHOW_MAX]){0}));
            return -1;
        }
    }
    return 0;
}

static int get_name(doc_t *d, node_t *root, const char *key, char *out)
{
    node_t *v;
    const char *s;
    if (pl_yaml_require(d, root, "", key, PL_YAML_SCALAR, &v) ||
        pl_yaml_string(d, v, key, &s))
        return -1;
    size_t n = strlen(s);
    int ok = n > 0 && n < PL_NAME_MAX;
    for (size_t i = 0; i < n && ok; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
    if (!ok) {
        char shown[PL_YAML_SHOW_MAX];
        pl_yaml_error(d, v->line, v->col, key, "expected a name of letters, "
                      "digits and '_' (1 to %d characters), got '%s'",
                      PL_NAME_MAX - 1, pl_yaml_show(s, v->len, shown));
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_producer_job(doc_t *d, pl_job *job)
{
    node_t *root = d->root, *keys;
    if (!root || root->kind != PL_YAML_MAPPING) {
        pl_yaml_error(d, root ? root->line : 0, root ? root->col : 0, "",
                      "the top level must be a mapping (producer, package, "
                      "store, output, keys, sources)");
        return -1;
    }
    job->mode = PL_MODE_RANDOM;         /* no platform key at a producer */
    /* The export is either HDF5 (store:) or CSV files (a csv: section in
     * every source): one reader per produce (stage/export.h). */
    node_t *srcs = pl_yaml_get(root, "sources");
    size_t ncsv = 0, nsrc = 0;
    const pl_yaml_pair *plain = NULL, *withcsv = NULL;
    for (size_t i = 0; srcs && srcs->kind == PL_YAML_MAPPING &&
                       i < srcs->n_pairs; i++) {
        const pl_yaml_pair *sp = &srcs->pairs[i];
        int has = sp->value->kind == PL_YAML_MAPPING &&
                  pl_yaml_get(sp->value, "csv") != NULL;
        nsrc++;
        ncsv += has;
        if (has && !withcsv)
            withcsv = sp;
        if (!has && !plain)
            plain = sp;
    }
    if (ncsv && ncsv < nsrc) {
        pl_yaml_error(d, plain->key->line, plain->key->col, "sources",
                      "source '%s' has no 'csv' section but source '%s' "
                      "has one: the sources of one produce are all CSV "
                      "files or all groups of the HDF5 export ('store'); "
                      "run one produce per export", plain->key->str,
                      withcsv->key->str);
        return -1;
    }
    const pl_yaml_pair *st = pl_yaml_find(root, "store");
    if (ncsv && st) {
        pl_yaml_error(d, st->key->line, st->key->col, "store", "not used "
                      "when the sources are CSV files (each source's "
                      "csv.file is its export): remove it");
        return -1;
    }
    if (pl_yaml_check_keys(d, root, "", prod_top_keys) ||
        get_name(d, root, "producer", job->producer_name) ||
        get_name(d, root, "package", job->package_name) ||
        pl_yaml_path_str(d, root, "", "store", ncsv == 0, &job->store) ||
        pl_yaml_path_str(d, root, "", "output", 1, &job->output) ||
        pl_yaml_path_str(d, root, "", "audit_log", 0, &job->audit_log) ||
        parse_keys(d, root, job, &keys) || parse_sources(d, root, job) ||
        parse_opposition(d, root, job) || parse_options(d, root, job))
        return -1;
    /* The stage-1 key hashes NIRs: needed when a source has an identity
     * (a registry without NIR sends encodings only and needs none). */
    for (size_t i = 0; i < job->n_sources && !job->producer_key; i++)
        if (job->sources[i].nir[0]) {
            pl_yaml_error(d, keys->line, keys->col, "keys", "missing "
                          "required key 'producer' (source '%s' has a nir "
                          "identity, hashed with the producer key)",
                          job->sources[i].name);
            return -1;
        }
    for (size_t i = 0; i < job->n_opposition; i++)
        for (size_t j = 0; j < job->n_sources; j++)
            if (strcmp(job->sources[j].name, job->opposition[i]) == 0 &&
                !job->sources[j].nir[0]) {
                pl_yaml_error(d, job->sources[j].line, job->sources[j].col,
                              "opposition", "source '%s' has no identity: "
                              "an opposition lists persons by their NIR",
                              job->sources[j].name);
                return -1;
            }
    if (!job->store)
        job->store = pl_xstrdup("");
    return 0;
}

static int parse_job(doc_t *d, pl_job *job)
{
    if (prod_job)
        return parse_producer_job(d, job);
    node_t *root = d->root, *v, *keys;
    int mode;
    if (!root || (root->kind == PL_YAML_SCALAR && root->is_null)) {
        pl_yaml_error(d, 0, 0, "", "job file is empty (expected a mapping "
                      "with store, output, mode, keys and sources)");
        return -1;
    }
    if (root->kind != PL_YAML_MAPPING) {
        pl_yaml_error(d, root->line, root->col, "", "the top level must be "
                      "a mapping (store, output, mode, keys, sources), got %s",
                      pl_yaml_describe(root));
        return -1;
    }
    int all_pkg = 1;
    if ((v = pl_yaml_get(root, "sources")) && v->kind == PL_YAML_MAPPING)
        for (size_t i = 0; i < v->n_pairs; i++)
            all_pkg &= pl_yaml_get(v->pairs[i].value, "package") != NULL;
    if (pl_yaml_check_keys(d, root, "", top_keys) ||
        pl_yaml_path_str(d, root, "", "store", !all_pkg, &job->store) ||
        pl_yaml_path_str(d, root, "", "output", 1, &job->output) ||
        pl_yaml_path_str(d, root, "", "audit_log", 0, &job->audit_log) ||
        pl_yaml_require(d, root, "", "mode", PL_YAML_SCALAR, &v) ||
        pl_yaml_enum(d, v, "mode", mode_names, &mode))
        return -1;
    job->mode = (pl_mode)mode;
    if (parse_keys(d, root, job, &keys) || parse_sources(d, root, job) ||
        parse_options(d, root, job) || check_keys_needed(d, keys, job) ||
        pl_custody_cfg_parse(d, root, &job->custody) ||
        pl_linkage_parse(d, root, job) ||     /* extracts may name its sources */
        pl_extracts_parse(d, root, job) || parse_column_dict(d, root, job) ||
        parse_producers(d, root, job) || parse_opposition(d, root, job))
        return -1;
    int pkgs = job->n_opposition > 0;
    for (size_t i = 0; i < job->n_sources; i++)
        pkgs |= job->sources[i].package != NULL;
    for (size_t i = 0; job->linkage && i < job->linkage->n_sources; i++)
        pkgs |= job->linkage->src[i].package != NULL;
    if (pkgs && job->n_producers == 0) {
        pl_yaml_error(d, root->line, root->col, "", "missing required key "
                      "'producers' (the job reads transfer packages: list "
                      "the producers it trusts and their public signing "
                      "keys)");
        return -1;
    }
    if (!job->store)
        job->store = pl_xstrdup("");
    return 0;
}

void pl_job_free(pl_job *job)
{
    if (!job)
        return;
    free(job->path);
    free(job->store);
    free(job->output);
    free(job->audit_log);
    free(job->producer_key);
    free(job->platform_key);
    for (size_t i = 0; job->sources && i < job->n_sources; i++) {
        pl_yaml_strings_free(job->sources[i].keep, job->sources[i].n_keep);
        pl_yaml_strings_free(job->sources[i].drop, job->sources[i].n_drop);
        pl_yaml_strings_free(job->sources[i].allow_nir,
                             job->sources[i].n_allow_nir);
        free(job->sources[i].package);
        if (job->sources[i].csv)
            pl_csv_cfg_free(job->sources[i].csv);
        free(job->sources[i].csv);
        free(job->sources[i].encode);
    }
    free(job->sources);
    for (size_t i = 0; job->columns && i < job->n_columns; i++) {
        free(job->columns[i].description);
        free(job->columns[i].units);
        free(job->columns[i].code_system);
        free(job->columns[i].date_format);
    }
    free(job->columns);
    for (size_t i = 0; i < job->n_producers; i++)
        free(job->producers[i].signing_key);
    free(job->producers);
    pl_yaml_strings_free(job->opposition, job->n_opposition);
    free(job->transport_key);
    pl_custody_cfg_free(&job->custody);
    pl_extracts_free(job);
    pl_linkage_free(job);
    memset(job, 0, sizeof *job);
}

int pl_job_parse(pl_job *job, const char *path, const char *buf, size_t len,
                 int quiet)
{
    memset(job, 0, sizeof *job);
    job->path = pl_xstrdup(path);
    if (!EVP_Digest(buf, len, job->sha256, NULL, EVP_sha256(), NULL)) {
        if (!quiet)
            pl_err("%s: cannot compute the SHA-256 of the job file", path);
        pl_job_free(job);
        return -1;
    }
    pl_yaml_doc doc;
    int rc = pl_yaml_parse(&doc, job->path, buf, len, quiet);
    if (rc == 0)
        rc = parse_job(&doc, job);
    pl_yaml_free(&doc);
    if (rc)
        pl_job_free(job);
    return rc;
}

/* Read at most PL_YAML_MAX_BYTES + 1 bytes: the size limit also holds for
 * pipes and other files whose size stat() cannot tell. */
static int read_job_file(const char *path, int quiet, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!quiet)
            pl_err("%s: cannot read job file: %s", path, strerror(errno));
        return -1;
    }
    *buf = pl_xmalloc((size_t)PL_YAML_MAX_BYTES + 1);
    *len = fread(*buf, 1, (size_t)PL_YAML_MAX_BYTES + 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err || *len > PL_YAML_MAX_BYTES) {
        if (!quiet && err)
            pl_err("%s: cannot read job file: %s", path, strerror(err));
        else if (!quiet)
            pl_err("%s: job file is too large (limit %d bytes)", path,
                   PL_YAML_MAX_BYTES);
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

int pl_job_load_producer(pl_job *job, const char *path, int quiet)
{
    prod_job = 1;
    int rc = pl_job_load(job, path, quiet);
    prod_job = 0;
    if (rc == 0)
        job->producer_job = 1;
    return rc;
}

int pl_job_load(pl_job *job, const char *path, int quiet)
{
    char *buf;
    size_t len;
    memset(job, 0, sizeof *job);
    if (read_job_file(path, quiet, &buf, &len))
        return -1;
    int rc = pl_job_parse(job, path, buf, len, quiet);
    free(buf);
    return rc;
}
