/* extract_int.h — private to extract.c and extract_risk.c: the state of
 * one run's extracts. */
#ifndef PL_EXTRACT_INT_H
#define PL_EXTRACT_INT_H

#include "stage/extract.h"
#include "job/extract_config.h"
#include "par/output.h"
#include "stage/generalise.h"
#include "stage/link.h"
#include "stage/risk.h"

#define XP_OK      0
#define XP_WARNED  1            /* published, risk threshold missed */
#define XP_REFUSED 2            /* not published */

typedef struct {
    const pl_extract_src *cfg;
    const pl_source *s;
    size_t      si;             /* index in the store */
    const pl_src_state *ss;     /* its counts (r->ss[si], or r->lss[k]) */
    size_t     *col;            /* granted column -> payload index */
    pl_gen_col *gen;            /* per granted column */
    size_t     *fcol;           /* filter -> payload index */
    pl_vkind   *fkind;
    uint8_t    *sel;            /* [s->count]: row is in the extract */
    uint8_t    *pseudo;         /* [n][16], selected rows in row order */
    uint8_t    *rowpid;         /* [count][16] pid of kept rows, read back
                                 * from linked.h5; freed once mapped */
    uint64_t    n, off, total;
    int         risk;           /* holds every quasi-identifier */
    size_t     *qi;             /* quasi-identifier -> granted index */
    long        sens;           /* sensitive -> granted index, -1 none */
    uint8_t    *rrec;           /* [n][PL_RISK_REC] */
    pl_risk_stats st;
} xsrc;

typedef struct {
    const pl_extract_cfg *cfg;
    pl_hmac_key key;
    xsrc      *src;
    size_t     n_src;
    pl_links  *links;           /* keyed by the project pseudonym */
    pl_outfile f;
    int        status;          /* XP_* */
    int        open;            /* temporary exists */
} xproj;

struct pl_extract_set {
    xproj  *p;
    size_t  n;
    char   *dir;                /* <out>/extracts */
};

/* extract_risk.c: evaluate (collective; reports a violation once) and
 * write the /risk group. */
int pl_xrisk_eval(pl_run *r, xproj *p);
int pl_xrisk_write(pl_run *r, xproj *p);

#endif
