/* colmeta.c — see colmeta.h. */
#include "stage/colmeta.h"
#include "base/log.h"
#include "par/h5.h"
#include "stage/nir.h"

#include <stdio.h>
#include <string.h>

static const char *const meta_names[] = {
    "description", "units", "code_system", "date_format"};

static char *meta_field(pl_colmeta *m, size_t i, size_t *n)
{
    char *f[] = {m->description, m->units, m->code_system, m->date_format};
    *n = i == 0 ? sizeof m->description : PL_META_SHORT;
    return f[i];
}

static const char *dict_field(const pl_column_meta *c, size_t i)
{
    if (!c)
        return NULL;
    const char *f[] = {c->description, c->units, c->code_system,
                       c->date_format};
    return f[i];
}

int pl_colmeta_payload(const pl_job *job, const pl_store *st,
                       const pl_source *s, const pl_column *col,
                       pl_colmeta *m)
{
    memset(m, 0, sizeof *m);
    const pl_column_meta *dict = pl_job_column(job, col->name);
    for (size_t i = 0; i < 4; i++) {
        size_t n;
        char *out = meta_field(m, i, &n);
        /* One byte more than fits: a longer text is refused, never cut.
         * A package source has no store dataset (its columns are
         * encrypted blocks, docs/PACKAGE.md): the job's columns: only. */
        char v[PL_META_TEXT_MAX + 1];
        int got = s->pkg ? 0
                         : pl_attr_read_text(col->dset, meta_names[i], v, n + 1);
        if (got < 0) {
            pl_err0("%s: /sources/%s/%s: attribute '%s' must be a string",
                    st->path, s->cfg->name, col->name, meta_names[i]);
            return -1;
        }
        if (got == 0 && dict_field(dict, i))
            snprintf(v, sizeof v, "%s", dict_field(dict, i));
        else if (got == 0)
            continue;
        /* Published in clear and printed by researchers: text, short,
         * and never an identifier (the payload's NIR rule). */
        const char *bad = NULL;
        size_t len = strlen(v);
        if (len >= n)
            bad = "is too long";
        else if (!pl_utf8_valid(v, len))
            bad = "is not UTF-8 text";
        for (size_t k = 0; !bad && k < len; k++)
            if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
                bad = "holds control characters";
        if (!bad && pl_nir_in_text(v))
            bad = "holds a value that looks like a NIR (identifiers are "
                  "never published in clear)";
        if (bad) {
            char want[96] = "";
            if (!strstr(bad, "NIR"))
                snprintf(want, sizeof want, " (expected at most %zu bytes "
                         "of UTF-8 text, no control characters)", n - 1);
            if (got)
                pl_err0("%s: /sources/%s/%s: attribute '%s' %s%s", st->path,
                        s->cfg->name, col->name, meta_names[i], bad, want);
            else
                pl_err0("%s: columns.%s.%s %s%s",
                        job->path ? job->path : "job", col->name,
                        meta_names[i], bad, want);
            return -1;
        }
        memcpy(out, v, len + 1);
    }
    if (m->date_format[0]) {
        int known = 0;
        for (size_t i = 0; pl_date_formats[i]; i++)
            known |= strcmp(m->date_format, pl_date_formats[i]) == 0;
        if (!known) {
            pl_err0("%s: /sources/%s/%s: attribute 'date_format' must be "
                    "YYYYMMDD, YYYYMM or YYYY", st->path, s->cfg->name,
                    col->name);
            return -1;
        }
    }
    if (!m->description[0])
        snprintf(m->description, sizeof m->description, "column '%s' of "
                 "source '%s', carried from the %s (no description in "
                 "the %s or the job's columns:)", col->name, s->cfg->name,
                 col->dset < 0 ? "package" : "store",
                 col->dset < 0 ? "package" : "store");
    return 0;
}

void pl_colmeta_note(pl_colmeta *m, int code, const char *note)
{
    char *f = code ? m->code_system : m->description;
    size_t cap = code ? sizeof m->code_system : sizeof m->description;
    const char *sep = code ? ", " : "; ";
    size_t n = strlen(f), add = strlen(note) + 2;
    if (add + 4 >= cap)
        return;                 /* never: the notes are short */
    if (n + add >= cap) {
        n = cap - add - 4;      /* room for "...", the note and NUL */
        while (n && ((unsigned char)f[n] & 0xc0) == 0x80)
            n--;                /* not inside a UTF-8 character */
        memcpy(f + n, "...", 3);
        n += 3;
    }
    snprintf(f + n, cap - n, "%s%s", sep, note);
}

int pl_colmeta_write(hid_t loc, const pl_colmeta *m)
{
    const char *f[] = {m->description, m->units, m->code_system,
                       m->date_format};
    int rc = 0;
    for (size_t i = 0; i < 4; i++)
        if (f[i][0])
            rc |= pl_attr_text(loc, meta_names[i], f[i]);
    return rc;
}

int pl_colmeta_put(hid_t loc, const char *description, const char *units,
                   const char *code_system)
{
    int rc = pl_attr_text(loc, "description", description);
    if (units)
        rc |= pl_attr_text(loc, "units", units);
    if (code_system)
        rc |= pl_attr_text(loc, "code_system", code_system);
    return rc;
}

int pl_colmeta_put_path(hid_t file, const char *path,
                        const char *description, const char *units,
                        const char *code_system)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return -1;
    int rc = pl_colmeta_put(d, description, units, code_system);
    H5Dclose(d);
    return rc;
}

int pl_colmeta_index(hid_t file, const char *const *names, size_t ns,
                     int extract)
{
    const char *pid = extract
        ? "project pseudonym of the person: HMAC-SHA256(project key, "
          "platform pid), first 16 bytes, 32 lowercase hex characters"
        : "pid: the person's platform pseudonym, 16 bytes as 32 lowercase "
          "hex characters";
    char buf[PL_META_TEXT_MAX];
    int rc = 0;
    snprintf(buf, sizeof buf, "%s; the cross-link index is sorted by "
             "(pid, source, row)", pid);
    rc |= pl_colmeta_put_path(file, "/links/pid", buf, NULL, NULL);
    rc |= pl_colmeta_put_path(file, "/links/source", "source of the "
                              "record: index into the attribute "
                              "/links@sources (source names, in job order)",
                              NULL, NULL);
    rc |= pl_colmeta_put_path(file, "/links/row", extract
                              ? "row of the record in this extract's "
                                "/linked/<source> (0-based)"
                              : "row of the record in /sources/<source> of "
                                "the input store (0-based)",
                              "row index", NULL);
    snprintf(buf, sizeof buf, "%s; one row per person, sorted", pid);
    rc |= pl_colmeta_put_path(file, "/persons/pid", buf, NULL, NULL);
    for (size_t i = 0; i < ns; i++) {
        char path[PL_NAME_MAX + 16];
        snprintf(path, sizeof path, "/persons/%s", names[i]);
        snprintf(buf, sizeof buf, "number of records of this person in "
                 "source '%s'", names[i]);
        rc |= pl_colmeta_put_path(file, path, buf, "records", NULL);
    }
    return rc;
}
