/* custody_cfg.c — see custody_cfg.h. */
#include "job/custody_cfg.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef const pl_yaml_doc doc_t;
typedef const pl_yaml_node node_t;

static const char *const custody_keys[] = {"threshold", "custodians", NULL};
static const char *const custodian_keys[] = {"name", "role", "public_key",
                                             NULL};
static const char *const previous_keys[] = {"correspondence",
                                            "platform_key_rotated", NULL};
static const char *const bool_names[] = {"false", "true", NULL};

static int get_word(doc_t *d, node_t *map, const char *path, const char *key,
                    char out[PL_CUST_NAME_MAX])
{
    node_t *v;
    const char *s;
    char sub[PL_YAML_PATH_MAX], shown[PL_YAML_SHOW_MAX];
    pl_yaml_path(sub, path, key);
    if (pl_yaml_require(d, map, path, key, PL_YAML_SCALAR, &v) ||
        pl_yaml_string(d, v, sub, &s))
        return -1;
    size_t n = strlen(s);
    int ok = n > 0 && n < PL_CUST_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
             s[i] == '.';
    if (!ok) {
        pl_yaml_error(d, v->line, v->col, sub, "invalid %s '%s' (expected "
                      "letters, digits, '_', '-', '.', at most %d "
                      "characters)", key, pl_yaml_show(s, v->len, shown),
                      PL_CUST_NAME_MAX - 1);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_custodian(doc_t *d, node_t *v, const char *path,
                           pl_custody_cfg *cc)
{
    pl_custodian *c = &cc->c[cc->n];
    if (pl_yaml_expect(d, v, path, PL_YAML_MAPPING) ||
        pl_yaml_check_keys(d, v, path, custodian_keys) ||
        get_word(d, v, path, "name", c->name) ||
        get_word(d, v, path, "role", c->role) ||
        pl_yaml_path_str(d, v, path, "public_key", 1, &c->public_key))
        return -1;
    cc->n++;
    for (size_t j = 0; j + 1 < cc->n; j++) {
        if (strcmp(cc->c[j].name, c->name) == 0) {
            node_t *nv = pl_yaml_get(v, "name");
            pl_yaml_error(d, nv->line, nv->col, path, "duplicate custodian "
                          "name '%s' (also at index %zu)", c->name, j);
            return -1;
        }
    }
    return 0;
}

static int parse_custody(doc_t *d, node_t *m, pl_custody_cfg *cc)
{
    node_t *v, *list;
    uint64_t t;
    char sub[PL_YAML_PATH_MAX];
    if (pl_yaml_check_keys(d, m, "custody", custody_keys) ||
        pl_yaml_require(d, m, "custody", "threshold", PL_YAML_SCALAR, &v) ||
        pl_yaml_u64(d, v, "custody.threshold", &t))
        return -1;
    if (t < 2 || t > 255) {
        pl_yaml_error(d, v->line, v->col, "custody.threshold", "expected an "
                      "integer from 2 to 255 (opening the key needs "
                      "custodians of at least two distinct roles), got %llu",
                      (unsigned long long)t);
        return -1;
    }
    cc->threshold = (unsigned)t;
    if (pl_yaml_require(d, m, "custody", "custodians", PL_YAML_SEQUENCE,
                        &list))
        return -1;
    cc->c = pl_xcalloc(list->n_items, sizeof *cc->c);
    for (size_t i = 0; i < list->n_items; i++) {
        pl_yaml_path_index(sub, "custody.custodians", i);
        if (parse_custodian(d, list->items[i], sub, cc))
            return -1;
    }
    const char **roles = pl_xcalloc(cc->n, sizeof *roles);
    size_t nr = pl_custody_roles(cc, roles);
    free(roles);
    if (nr < cc->threshold || nr > 255) {
        pl_yaml_error(d, list->line, list->col, "custody.custodians",
                      "%zu distinct role%s for a threshold of %u: expected "
                      "at least %u distinct roles (at most 255)", nr,
                      nr == 1 ? "" : "s", cc->threshold, cc->threshold);
        return -1;
    }
    cc->given = 1;
    return 0;
}

int pl_custody_cfg_parse(doc_t *d, node_t *root, pl_custody_cfg *cc)
{
    node_t *m;
    memset(cc, 0, sizeof *cc);
    if (pl_yaml_optional(d, root, "", "custody", PL_YAML_MAPPING, &m))
        return -1;
    if (m && parse_custody(d, m, cc))
        return -1;
    if (pl_yaml_optional(d, root, "", "previous", PL_YAML_MAPPING, &m))
        return -1;
    if (!m)
        return 0;
    if (pl_yaml_check_keys(d, m, "previous", previous_keys) ||
        pl_yaml_path_str(d, m, "previous", "correspondence", 1, &cc->previous))
        return -1;
    node_t *rot;
    int yes = 0;
    if (pl_yaml_optional(d, m, "previous", "platform_key_rotated",
                         PL_YAML_SCALAR, &rot) ||
        (rot && pl_yaml_enum(d, rot, "previous.platform_key_rotated",
                             bool_names, &yes)))
        return -1;
    cc->platform_key_rotated = yes;
    if (!cc->given) {
        pl_yaml_error(d, m->line, m->col, "previous", "an incremental run "
                      "needs a 'custody' section (the new correspondence "
                      "file is wrapped to its custodians)");
        return -1;
    }
    return 0;
}

int pl_custody_cfg_load(const char *path, pl_custody_cfg *cc)
{
    memset(cc, 0, sizeof *cc);
    FILE *f = fopen(path, "rb");
    if (!f) {
        pl_err("%s: cannot read custody file: %s", path, strerror(errno));
        return -1;
    }
    char *buf = pl_xmalloc((size_t)PL_YAML_MAX_BYTES + 1);
    size_t len = fread(buf, 1, (size_t)PL_YAML_MAX_BYTES + 1, f);
    fclose(f);
    if (len > PL_YAML_MAX_BYTES) {
        pl_err("%s: file is too large (limit %d bytes)", path,
               PL_YAML_MAX_BYTES);
        free(buf);
        return -1;
    }
    pl_yaml_doc doc;
    int rc = pl_yaml_parse(&doc, path, buf, len, 0);
    node_t *m = NULL;
    if (rc == 0 && (!doc.root || doc.root->kind != PL_YAML_MAPPING)) {
        pl_yaml_error(&doc, 0, 0, "", "expected a mapping with a 'custody' "
                      "section");
        rc = -1;
    }
    if (rc == 0)
        rc = pl_yaml_require(&doc, doc.root, "", "custody", PL_YAML_MAPPING,
                             &m) ? -1 : parse_custody(&doc, m, cc);
    pl_yaml_free(&doc);
    free(buf);
    if (rc != 0)
        pl_custody_cfg_free(cc);
    return rc;
}

void pl_custody_cfg_free(pl_custody_cfg *cc)
{
    for (size_t i = 0; cc->c && i < cc->n; i++)
        free(cc->c[i].public_key);
    free(cc->c);
    free(cc->previous);
    memset(cc, 0, sizeof *cc);
}
