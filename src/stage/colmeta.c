/* colmeta.c — see colmeta.h. */
#include "stage/colmeta.h"
#include "base/log.h"
#include "par/h5.h"

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
        /* A package column has no dataset of ours (dset -1): its
         * metadata comes from the job's columns: dictionary. */
        int got = col->dset < 0 ? 0
                  : pl_attr_read_text(col->dset, meta_names[i], out, n);
        if (got < 0) {
            pl_err0("%s: /sources/%s/%s: attribute '%s' must be a string",
                    st->path, s->cfg->name, col->name, meta_names[i]);
            return -1;
        }
        if (got == 0 && dict_field(dict, i))
            snprintf(out, n, "%s", dict_field(dict, i));
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
