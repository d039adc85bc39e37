/* custody_cfg.h — the `custody` and `previous` sections of a job file.
 *
 *   custody:
 *     threshold: 2              # distinct roles needed to open the key (>= 2)
 *     custodians:               # at least `threshold` distinct roles
 *       - {name: alice, role: security_officer, public_key: alice.pub.pem}
 *       - ...
 *   previous:
 *     correspondence: out/run1/correspondence.h5
 *     platform_key_rotated: true  # optional: keys.platform differs from the
 *                                 # previous run's on purpose (keyed mode)
 *
 * Names and roles: letters, digits, '_', '-', '.', at most 63 characters;
 * names are unique. Private keys are never named in a job file: they are
 * given on the command line of `run` (--prev-key) by the custodians.
 */
#ifndef PL_CUSTODY_CFG_H
#define PL_CUSTODY_CFG_H

#include <stddef.h>

#include "base/yamltree.h"
#include "crypto/custody.h"


/* Parse root.custody and root.previous (both optional). Errors name the
 * file, the key path and line:column; returns 0 or -1. */
int  pl_custody_cfg_parse(const pl_yaml_doc *d, const pl_yaml_node *root,
                          pl_custody_cfg *cc);
/* Read the `custody` section of a YAML file (other top-level keys are
 * ignored: a job file can be given). Required there. */
int  pl_custody_cfg_load(const char *path, pl_custody_cfg *cc);
void pl_custody_cfg_free(pl_custody_cfg *cc);

#endif
