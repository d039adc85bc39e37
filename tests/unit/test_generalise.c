/* test_generalise.c — generalisation rules, filters and the extracts
 * section of the job file. */
#include "job/config.h"
#include "job/extract_config.h"
#include "stage/generalise.h"
#include "base/log.h"
#include "unit.h"
#include "par/h5.h"

#include <string.h>

static void apply_str(const pl_gen_rule *g, const char *in, size_t insz,
                      char *out)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, insz);
    pl_gen_col c;
    char why[128];
    uint8_t buf[64] = {0};
    memcpy(buf, in, strlen(in));
    pl_gen_setup(&c, g, t, why, sizeof why);
    memset(out, 0, 64);
    pl_gen_apply(&c, buf, 1, (uint8_t *)out);
    pl_gen_close(&c);
    H5Tclose(t);
}

static int32_t apply_date(pl_gen_kind k, int32_t v)
{
    pl_gen_rule g = {.kind = k};
    pl_gen_col c;
    char why[128];
    int32_t out = 0;
    pl_gen_setup(&c, &g, H5T_NATIVE_INT32, why, sizeof why);
    pl_gen_apply(&c, (const uint8_t *)&v, 1, (uint8_t *)&out);
    pl_gen_close(&c);
    return out;
}

static void test_rules(void)
{
    char out[64];
    pl_gen_rule dep = {.kind = PL_GEN_DEPARTMENT};
    apply_str(&dep, "75056", 5, out);
    CHECK(strcmp(out, "75") == 0, "commune 75056 -> department 75");
    apply_str(&dep, "2A004", 5, out);
    CHECK(strcmp(out, "2A") == 0, "Corsica 2A004 -> 2A");
    apply_str(&dep, "97411", 5, out);
    CHECK(strcmp(out, "974") == 0, "overseas 97411 -> 974");
    pl_gen_rule pre = {.kind = PL_GEN_PREFIX, .prefix = 3};
    apply_str(&pre, "E119", 6, out);
    CHECK(strcmp(out, "E11") == 0, "prefix 3 of E119 is E11");
    pl_gen_rule pre2 = {.kind = PL_GEN_PREFIX, .prefix = 2};
    apply_str(&pre2, "E\xc3\xa9" "1", 6, out);
    CHECK(strcmp(out, "E") == 0, "prefix 2 of 'E\u00e91' does not cut the "
          "2-byte UTF-8 character (gives 'E')");
    apply_str(&pre, "E\xc3\xa9" "1", 6, out);
    CHECK(strcmp(out, "E\xc3\xa9") == 0, "prefix 3 of 'E\u00e91' keeps the "
          "whole character");
    CHECK(apply_date(PL_GEN_YEAR, 20230415) == 2023, "year of 20230415");
    CHECK(apply_date(PL_GEN_YEAR, 202304) == 2023, "year of 202304");
    CHECK(apply_date(PL_GEN_MONTH, 20230415) == 202304, "month of 20230415");
    double e[] = {0, 3, 7, 30};
    char lab[PL_BAND_LABEL + 1] = {0};
    pl_band_label(e, 4, 5, lab);
    CHECK(strcmp(lab, "[3,7)") == 0, "5 in band [3,7)");
    pl_band_label(e, 4, -1, lab);
    CHECK(strcmp(lab, "<0") == 0, "-1 below the first edge");
    pl_band_label(e, 4, 30, lab);
    CHECK(strcmp(lab, ">=30") == 0, "30 in the top band");
    {   /* bands are an HDF5 enum: value = band index, in band order */
        pl_gen_rule b = {.kind = PL_GEN_BANDS, .bands = e, .n_bands = 4};
        pl_gen_col bc;
        char bwhy[128], name[PL_BAND_LABEL + 1];
        int ok = pl_gen_setup(&bc, &b, H5T_NATIVE_DOUBLE, bwhy,
                              sizeof bwhy) == 0 &&
                 H5Tget_class(bc.out_type) == H5T_ENUM &&
                 H5Tget_nmembers(bc.out_type) == 6 && bc.out_size == 1;
        const char *want[] = {"<0", "[0,3)", "[3,7)", "[7,30)", ">=30",
                              "NaN"};
        for (uint8_t v = 0; ok && v < 6; v++)
            ok = H5Tenum_nameof(bc.out_type, &v, name, sizeof name) >= 0 &&
                 strcmp(name, want[v]) == 0;
        CHECK(ok, "bands: enum on uint8, labels <0 [0,3) [3,7) [7,30) >=30 "
              "NaN in value order");
        double xs[3] = {5, -1, 1e9};
        uint8_t idx[3] = {9, 9, 9};
        pl_gen_apply(&bc, (const uint8_t *)xs, 3, idx);
        CHECK(idx[0] == 2 && idx[1] == 0 && idx[2] == 4,
              "bands: 5 -> [3,7), -1 -> <0, 1e9 -> >=30 (as enum values)");
        pl_gen_close(&bc);
    }
    pl_gen_col c;
    char why[128];
    pl_gen_rule y = {.kind = PL_GEN_YEAR};
    hid_t s5 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s5, 5);
    CHECK(pl_gen_setup(&c, &y, s5, why, sizeof why) == -1,
          "year on a string column is refused (%s)", why);
    H5Tclose(s5);
}

static void test_filters(void)
{
    char *pfx[] = {"E10", "E11"};
    pl_filter p = {.is_range = 0, .prefixes = pfx, .n_prefixes = 2};
    CHECK(pl_filter_match(&p, PL_VK_STR, 6, (const uint8_t *)"E119\0\0"),
          "prefix filter matches E119");
    CHECK(!pl_filter_match(&p, PL_VK_STR, 6, (const uint8_t *)"E13\0\0\0"),
          "prefix filter rejects E13");
    pl_filter r = {.is_range = 1, .from = 20150101, .to = 20231231};
    int32_t in = 20200101, out = 20240101;
    CHECK(pl_filter_match(&r, PL_VK_INT, 4, (const uint8_t *)&in),
          "range filter keeps a date inside");
    CHECK(!pl_filter_match(&r, PL_VK_INT, 4, (const uint8_t *)&out),
          "range filter drops a date after 'to'");
}

static const char *BASE =
    "store: s.h5\noutput: o\nmode: keyed\n"
    "keys: {producer: p.key, platform: q.key}\n"
    "sources:\n  hs:\n    identity: {nir: nir, birth_date: bd, sex: sex}\n";

static int parse(const char *extra, pl_job *job)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%s", BASE, extra);
    return pl_job_parse(job, "t.yaml", buf, strlen(buf), 1);
}

static void test_config(void)
{
    pl_job job;
    int rc = parse("extracts:\n  p1:\n    key: k\n    sources:\n"
                   "      hs: {columns: [a, b], filter: {a: {from: 1, to: 2},"
                   " b: {prefix: X}}}\n    generalise: {a: month, b: "
                   "{prefix: 2}, c: {bands: [1, 2.5]}}\n    risk: "
                   "{quasi_identifiers: [a, b], k: 3, on_violation: refuse}\n",
                   &job);
    CHECK(rc == 0 && job.n_extracts == 1, "a full extract parses");
    if (rc == 0) {
        const pl_extract_cfg *e = &job.extracts[0];
        CHECK(e->n_src == 1 && e->src[0].n_columns == 2 &&
              e->src[0].n_filters == 2 && e->n_gen == 3 && e->k == 3 &&
              e->refuse == 1 && e->gen[2].n_bands == 2 &&
              e->gen[2].bands[1] == 2.5 && e->gen[1].prefix == 2,
              "extract fields as written");
        pl_job_free(&job);
    }
    rc = parse("extracts:\n  p1: {key: k, sources: {hs: {columns: []}}, "
               "risk: {quasi_identifiers: [a]}}\n", &job);
    CHECK(rc == 0 && job.extracts[0].k == 5 && job.extracts[0].refuse == 0,
          "risk defaults: k = 5, on_violation = warn");
    if (rc == 0)
        pl_job_free(&job);
    CHECK(parse("extracts:\n  p1: {key: k, sources: {zz: {columns: []}}}\n",
                &job) == -1, "unknown source refused");
    CHECK(parse("extracts:\n  p1: {key: k, sources: {hs: {columns: [a]}}, "
                "generalise: {a: decade}}\n", &job) == -1,
          "unknown generalisation refused");
    CHECK(parse("extracts:\n  p1: {key: k, sources: {hs: {columns: [a]}}, "
                "generalise: {a: {bands: [3, 1]}}}\n", &job) == -1,
          "decreasing bands refused");
    CHECK(parse("extracts:\n  p1: {sources: {hs: {columns: [a]}}}\n",
                &job) == -1, "missing project key refused");
    CHECK(parse("extracts:\n  p-1: {key: k, sources: {hs: {columns: []}}}\n",
                &job) == -1, "project name with '-' refused");
}

int main(void)
{
    pl_h5_quiet();
    test_rules();
    test_filters();
    test_config();
    return unit_done();
}
