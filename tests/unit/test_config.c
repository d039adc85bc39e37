/* test_config.c — job file parsing (config.c) and the YAML tree (yamltree.c).
 * Only creates files under /tmp (mkstemp / tmpfile). CHECK evaluates its
 * condition twice, so calls with side effects are made before it. */
#include "job/config.h"
#include "job/extract_config.h"
#include "job/linkage_config.h"
#include "base/log.h"
#include "unit.h"
#include "base/yamltree.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char msg[8192];              /* stderr captured by the last call */

/* Run pl_job_parse with stderr captured into `msg`. */
static int parse_capture(pl_job *job, const char *yaml, size_t len)
{
    FILE *t = tmpfile();
    if (!t) {
        perror("tmpfile");
        exit(2);
    }
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    int rc = pl_job_parse(job, "t.yaml", yaml, len, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(t);
    size_t n = fread(msg, 1, sizeof msg - 1, t);
    msg[n] = '\0';
    fclose(t);
    return rc;
}

static int load_capture(pl_job *job, const char *path)
{
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    int rc = pl_job_load(job, path, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(t);
    size_t n = fread(msg, 1, sizeof msg - 1, t);
    msg[n] = '\0';
    fclose(t);
    return rc;
}

static int is_zeroed(const pl_job *job)
{
    static const pl_job zero;
    return memcmp(job, &zero, sizeof zero) == 0;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ------------------------------------------------------------------------ */

static const char valid_yaml[] =
    "# a complete job\n"
    "store: inputs/store.h5\n"
    "output: out/run1\n"
    "mode: keyed\n"
    "keys:\n"
    "  producer: inputs/keys/producer.key\n"
    "  platform: inputs/keys/platform.key\n"
    "sources:\n"
    "  pharmacy:\n"
    "    identity:\n"
    "      nir: NIR\n"
    "      birth_date: DOB\n"
    "      sex: SEX\n"
    "      birth_rank: RANK\n"
    "    keep: [drug, date]\n"
    "  hospital:\n"
    "    identity: {p1: P1}\n"
    "    drop:\n"
    "      - comment\n"
    "options:\n"
    "  batch_rows: 1000\n"
    "  exchange_cap: 18446744073709551615\n"
    "  io: independent\n";

static void test_valid(void)
{
    pl_job job;
    int rc = parse_capture(&job, valid_yaml, strlen(valid_yaml));
    CHECK(rc == 0, "valid job parses");
    CHECK(msg[0] == '\0', "valid job prints nothing");
    if (rc)
        return;
    CHECK(strcmp(job.path, "t.yaml") == 0, "path");
    CHECK(strcmp(job.store, "inputs/store.h5") == 0, "store");
    CHECK(strcmp(job.output, "out/run1") == 0, "output");
    CHECK(job.mode == PL_MODE_KEYED, "mode keyed");
    CHECK(strcmp(job.producer_key, "inputs/keys/producer.key") == 0,
          "keys.producer");
    CHECK(strcmp(job.platform_key, "inputs/keys/platform.key") == 0,
          "keys.platform");
    CHECK(job.n_sources == 2, "two sources");
    const pl_source_cfg *a = &job.sources[0], *b = &job.sources[1];
    CHECK(strcmp(a->name, "pharmacy") == 0 && a->line == 9 && a->col == 3,
          "source 0 name and position");
    CHECK(!a->has_p1 && strcmp(a->nir, "NIR") == 0 &&
          strcmp(a->birth_date, "DOB") == 0 && strcmp(a->sex, "SEX") == 0 &&
          strcmp(a->birth_rank, "RANK") == 0 && a->p1[0] == '\0',
          "source 0 identity");
    CHECK(a->keep_given && a->n_keep == 2 && strcmp(a->keep[0], "drug") == 0 &&
          strcmp(a->keep[1], "date") == 0 && a->n_drop == 0 && !a->drop,
          "source 0 keep");
    CHECK(strcmp(b->name, "hospital") == 0 && b->line == 16 && b->col == 3,
          "source 1 name and position");
    CHECK(b->has_p1 && strcmp(b->p1, "P1") == 0 && b->nir[0] == '\0' &&
          b->sex[0] == '\0' && b->birth_rank[0] == '\0' &&
          a->also_nir[0] == '\0', "source 1 identity p1");
    CHECK(!b->keep_given && b->n_keep == 0 && b->n_drop == 1 &&
          strcmp(b->drop[0], "comment") == 0, "source 1 drop");
    CHECK(job.batch_rows == 1000, "options.batch_rows");
    CHECK(job.exchange_cap == UINT64_MAX, "options.exchange_cap max uint64");
    CHECK(job.io == PL_IO_INDEPENDENT, "options.io");

    uint8_t want[32];
    EVP_Digest(valid_yaml, strlen(valid_yaml), want, NULL, EVP_sha256(), NULL);
    CHECK(memcmp(job.sha256, want, 32) == 0, "sha256 of the bytes");
    pl_job_free(&job);
    CHECK(is_zeroed(&job), "pl_job_free zeroes the job");
    pl_job_free(&job);
    CHECK(is_zeroed(&job), "pl_job_free twice is safe");
}

static void test_also(void)
{
    static const char y[] =
        "store: s\noutput: o\nmode: keyed\n"
        "keys: {producer: p, platform: q}\n"
        "sources:\n"
        "  claims:\n"
        "    identity: {nir: own, birth_date: D, sex: S,\n"
        "               also: {nir: parent, birth_rank: R}}\n"
        "  drugs:\n"
        "    identity: {p1: P1, birth_rank: R}\n";
    pl_job job;
    int rc = parse_capture(&job, y, strlen(y));
    CHECK(rc == 0, "identity.also and p1 + birth_rank parse");
    if (rc)
        return;
    const pl_source_cfg *a = &job.sources[0], *b = &job.sources[1];
    CHECK(strcmp(a->nir, "own") == 0 && strcmp(a->also_nir, "parent") == 0 &&
          strcmp(a->also_birth_rank, "R") == 0 && a->birth_rank[0] == '\0',
          "identity.also: second NIR and its rank column");
    CHECK(b->has_p1 && strcmp(b->p1, "P1") == 0 &&
          strcmp(b->birth_rank, "R") == 0, "p1 source with a birth_rank column");
    pl_job_free(&job);
}

static void test_defaults(void)
{
    static const char y[] =
        "store: s.h5\noutput: o\nmode: random\nkeys: {}\n"
        "sources:\n  claims:\n    identity: {p1: pseudo}\n";
    pl_job job;
    int rc = parse_capture(&job, y, strlen(y));
    CHECK(rc == 0, "minimal random job without keys parses");
    if (rc)
        return;
    CHECK(job.mode == PL_MODE_RANDOM, "mode random");
    CHECK(!job.producer_key && !job.platform_key, "no keys given");
    CHECK(job.batch_rows == 1048576, "default batch_rows");
    CHECK(job.exchange_cap == 0, "default exchange_cap");
    CHECK(job.io == PL_IO_INDEPENDENT, "default io");
    CHECK(!job.sources[0].keep_given && !job.sources[0].keep &&
          !job.sources[0].drop, "no keep/drop");
    pl_job_free(&job);
}

/* ------------------------------------------------------------------------ */

#define B "store: s\noutput: o\nmode: random\nkeys:\n  producer: p\n"
#define ONE_SRC "sources:\n  a:\n    identity: {p1: P}\n"

typedef struct {
    const char *name, *yaml, *want;     /* want: substring of the message */
} err_case;

static const err_case cases[] = {
    {"unknown top-level key", "store: s\noutput: o\nmode: keyed\ncolour: x\n",
     "t.yaml:4:1: unknown key 'colour' (expected one of: store, output, "
     "mode, keys, sources, options"},
    {"unknown identity key", B "sources:\n  pharmacy:\n    identity:\n"
     "      nir: N\n      p2: X\n",
     "t.yaml:10:7: sources.pharmacy.identity: unknown key 'p2' (expected one "
     "of: nir, birth_date, sex, birth_rank, p1, also)"},
    {"identity.also: unknown key", B "sources:\n  a:\n    identity:\n"
     "      nir: N\n      birth_date: D\n      sex: S\n"
     "      also: {nir: M, rank: R}\n",
     "t.yaml:12:22: sources.a.identity.also: unknown key 'rank' (expected "
     "one of: nir, birth_rank)"},
    {"identity.also: nir missing", B "sources:\n  a:\n    identity:\n"
     "      nir: N\n      birth_date: D\n      sex: S\n"
     "      also: {birth_rank: R}\n",
     "t.yaml:12:13: sources.a.identity.also: missing required key 'nir'"},
    {"identity.also: column used twice", B "sources:\n  a:\n    identity:\n"
     "      nir: N\n      birth_date: D\n      sex: S\n"
     "      also: {nir: D}\n",
     "t.yaml:12:19: sources.a.identity.also.nir: column 'D' is already used "
     "for 'birth_date'"},
    {"identity.also: not a mapping", B "sources:\n  a:\n    identity:\n"
     "      nir: N\n      birth_date: D\n      sex: S\n      also: M\n",
     "sources.a.identity.also: expected a mapping"},
    {"p1 with nir", B "sources:\n  a:\n    identity: {p1: P, nir: N}\n",
     "t.yaml:8:23: sources.a.identity: 'p1' cannot be combined with 'nir'"},
    {"p1 rank column = p1", B "sources:\n  a:\n    identity: {p1: P, birth_rank: P}\n",
     "sources.a.identity.birth_rank: column 'P' is already used for 'p1'"},
    {"unknown source key", B "sources:\n  a:\n    identity: {p1: P}\n"
     "    columns: [x]\n", "t.yaml:9:5: sources.a: unknown key 'columns'"},
    {"unknown options key", B ONE_SRC "options:\n  threads: 4\n",
     "t.yaml:10:3: options: unknown key 'threads'"},
    {"unknown keys key", "store: s\noutput: o\nmode: random\nkeys:\n"
     "  producer: p\n  platfrom: q\n" ONE_SRC,
     "t.yaml:6:3: keys: unknown key 'platfrom'"},
    {"missing store", "output: o\nmode: random\n" ONE_SRC,
     "t.yaml:1:1: missing required key 'store'"},
    {"missing output", "store: s\nmode: random\n" ONE_SRC,
     "t.yaml:1:1: missing required key 'output'"},
    {"missing mode", "store: s\noutput: o\n" ONE_SRC,
     "t.yaml:1:1: missing required key 'mode'"},
    {"missing keys", "store: s\noutput: o\nmode: random\n" ONE_SRC,
     "t.yaml:1:1: missing required key 'keys'"},
    {"missing sources", B, "t.yaml:1:1: missing required key 'sources'"},
    {"empty sources", B "sources: {}\n",
     "t.yaml:6:10: sources: expected at least one source"},
    {"null sources", B "sources:\n", "sources: expected a mapping, got null"},
    {"bad mode", "store: s\noutput: o\nmode: fast\n",
     "t.yaml:3:7: mode: expected 'keyed' or 'random', got 'fast'"},
    {"keep and drop", B "sources:\n  a:\n    identity: {p1: P}\n"
     "    keep: [x]\n    drop: [y]\n",
     "t.yaml:10:5: sources.a: 'keep' and 'drop' cannot both be given"},
    {"p1 mixed with nir", B "sources:\n  a:\n    identity: {nir: N, p1: P}\n",
     "t.yaml:8:16: sources.a.identity: 'p1' cannot be combined with 'nir'"},
    {"missing sex", B "sources:\n  a:\n    identity: {nir: N, birth_date: D}\n",
     "t.yaml:8:15: sources.a.identity: missing required key 'sex'"},
    {"empty identity", B "sources:\n  a:\n    identity: {}\n",
     "sources.a.identity: missing required key 'nir' (or 'p1'"},
    {"missing identity", B "sources:\n  a:\n    keep: [x]\n",
     "t.yaml:8:5: sources.a: missing required key 'identity'"},
    {"sources is a sequence", B "sources:\n  - a\n  - b\n",
     "t.yaml:7:3: sources: expected a mapping, got a sequence"},
    {"store is a mapping", "store: {a: b}\n",
     "t.yaml:1:8: store: expected a string, got a mapping"},
    {"store is null", "store:\noutput: o\n",
     "store: expected a string, got null"},
    {"store is empty string", "store: ''\n",
     "t.yaml:1:8: store: expected a non-empty path"},
    {"column is a sequence", B "sources:\n  a:\n    identity: {p1: [P]}\n",
     "t.yaml:8:20: sources.a.identity.p1: expected a string, got a sequence"},
    {"billion laughs", "a: &a [\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a]\n"
     "c: [*b,*b,*b]\n", "t.yaml:1:4: a: YAML anchors"},
    {"alias", "store: *x\n", "t.yaml:1:8: store: YAML aliases"},
    {"duplicate key", "store: s\noutput: o\nstore: t\n",
     "t.yaml:3:1: duplicate key 'store' (first at 1:1)"},
    {"duplicate source", B "sources:\n  a:\n    identity: {p1: P}\n"
     "  a:\n    identity: {p1: Q}\n",
     "t.yaml:9:3: sources: duplicate key 'a' (first at 7:3)"},
    {"batch_rows -1", B ONE_SRC "options:\n  batch_rows: -1\n",
     "t.yaml:10:15: options.batch_rows: expected a non-negative decimal "
     "integer, got '-1'"},
    {"batch_rows abc", B ONE_SRC "options: {batch_rows: abc}\n",
     "options.batch_rows: expected a non-negative decimal integer, got 'abc'"},
    {"batch_rows overflow", B ONE_SRC
     "options: {batch_rows: 99999999999999999999999}\n",
     "options.batch_rows: integer '99999999999999999999999' is too large"},
    {"batch_rows 2^64", B ONE_SRC
     "options: {batch_rows: 18446744073709551616}\n", "is too large"},
    {"batch_rows 1e6", B ONE_SRC "options: {batch_rows: 1e6}\n", "got '1e6'"},
    {"batch_rows 0x10", B ONE_SRC "options: {batch_rows: 0x10}\n",
     "got '0x10'"},
    {"batch_rows 010", B ONE_SRC "options: {batch_rows: 010}\n", "got '010'"},
    {"batch_rows 0", B ONE_SRC "options: {batch_rows: 0}\n",
     "options.batch_rows: expected an integer from 1 to 4294967296, got 0"},
    {"batch_rows 2^64-1", B ONE_SRC
     "options: {batch_rows: 18446744073709551615}\n",
     "options.batch_rows: expected an integer from 1 to 4294967296, got "
     "18446744073709551615"},
    {"memory_per_rank 2^64-1", B ONE_SRC
     "options: {memory_per_rank: 18446744073709551615}\n",
     "options.memory_per_rank: expected at most 1024T"},
    {"batch_rows null", B ONE_SRC "options: {batch_rows: }\n",
     "options.batch_rows: expected a string, got null"},
    {"exchange_cap -5", B ONE_SRC "options: {exchange_cap: -5}\n",
     "options.exchange_cap: expected a non-negative decimal integer"},
    {"bad io", B ONE_SRC "options: {io: fast}\n",
     "options.io: expected 'collective' or 'independent', got 'fast'"},
    {"syntax error", "store: [a, b\noutput: o\n",
     "t.yaml:2:7: YAML syntax error: did not find expected ',' or ']' "
     "(while parsing a flow sequence started at 1:8)"},
    {"empty document", "", "t.yaml: job file is empty"},
    {"comment-only document", "# nothing here\n", "job file is empty"},
    {"null document", "---\n...\n", "job file is empty"},
    {"multiple documents", "store: s\n---\nstore: t\n",
     "t.yaml:2:1: more than one YAML document"},
    {"top level is a sequence", "- store\n- output\n",
     "t.yaml:1:1: the top level must be a mapping"},
    {"top level is a string", "hello\n", "got a string"},
    {"keyed without platform", "store: s\noutput: o\nmode: keyed\nkeys:\n"
     "  producer: p\n" ONE_SRC,
     "t.yaml:5:3: keys: missing required key 'platform' (required in keyed "
     "mode)"},
    {"nir source without producer", "store: s\noutput: o\nmode: random\n"
     "keys: {}\nsources:\n  a:\n    identity: {nir: N, birth_date: D, sex: S}\n",
     "t.yaml:4:7: keys: missing required key 'producer' (source 'a'"},
    {"source name with /", B "sources:\n  a/b:\n    identity: {p1: P}\n",
     "t.yaml:7:3: sources: invalid source name 'a/b'"},
    {"source name too long", B "sources:\n  "
     "a123456789012345678901234567890123456789012345678901234567890123:\n"
     "    identity: {p1: P}\n", "invalid source name"},
    {"column with /", B "sources:\n  a:\n    identity: {p1: x/y}\n",
     "sources.a.identity.p1: column name 'x/y' must not contain '/'"},
    {"column too long", B "sources:\n  a:\n    identity: {p1: "
     "P123456789012345678901234567890123456789012345678901234567890123}\n",
     "sources.a.identity.p1: column name 'P1234"},
    {"empty column", B "sources:\n  a:\n    identity: {p1: \"\"}\n",
     "sources.a.identity.p1: expected a column name, got an empty string"},
    {"same column twice in identity", B "sources:\n  a:\n    identity: "
     "{nir: N, birth_date: N, sex: S}\n",
     "sources.a.identity.birth_date: column 'N' is already used for 'nir'"},
    {"keep holds an identity column", B "sources:\n  a:\n    identity: "
     "{nir: N, birth_date: D, sex: S}\n    keep: [x, D]\n",
     "t.yaml:9:15: sources.a.keep[1]: column 'D' is the identity column "
     "'birth_date'"},
    {"duplicate in drop", B "sources:\n  a:\n    identity: {p1: P}\n"
     "    drop:\n      - x\n      - y\n      - x\n",
     "t.yaml:12:9: sources.a.drop[2]: duplicate column 'x' (also at index 0)"},
    {"keep is a string", B "sources:\n  a:\n    identity: {p1: P}\n"
     "    keep: x\n", "sources.a.keep: expected a sequence, got a string"},
    {"non-scalar key", "? [a, b]\n: c\n",
     "t.yaml:1:3: mapping keys must be strings"},
    {"long key is truncated", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: 1\n",
     "unknown key 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "...' (expected"},
    {"control byte is replaced", "\"a\\x01b\\tc\": 1\n",
     "unknown key 'a?b?c'"},
    {"columns: unknown attribute", B ONE_SRC "columns:\n  los: {unit: days}\n",
     "t.yaml:10:9: columns.los: unknown key 'unit' (expected one of: "
     "description, units, code_system, date_format)"},
    {"columns: bad date_format", B ONE_SRC "columns:\n  d:\n"
     "    date_format: DD/MM/YYYY\n",
     "t.yaml:11:18: columns.d.date_format: expected one of 'YYYYMMDD', "
     "'YYYYMM', 'YYYY', got 'DD/MM/YYYY'"},
    {"columns: empty description", B ONE_SRC "columns:\n  x: "
     "{description: \"\"}\n",
     "t.yaml:10:20: columns.x.description: expected a non-empty text"},
    {"columns: control character", B ONE_SRC "columns:\n  x: "
     "{units: \"a\\nb\"}\n",
     "columns.x.units: control characters are not allowed"},
    {"columns: entry not a mapping", B ONE_SRC "columns:\n  x: days\n",
     "t.yaml:10:6: columns.x: expected a mapping, got a string"},
    {"columns: bad column name", B ONE_SRC "columns:\n  a/b: {units: x}\n",
     "t.yaml:10:3: columns: column name 'a/b' must not contain '/'"},
};

/* columns: the data dictionary, read into the job. */
static void test_columns(void)
{
    const char *y = B ONE_SRC "columns:\n"
        "  los: {description: \"durée de séjour\", units: days}\n"
        "  stay_date: {description: first day, date_format: YYYYMMDD}\n"
        "  diagnosis: {code_system: ICD-10}\n";
    pl_job job;
    int rc = parse_capture(&job, y, strlen(y));
    CHECK(rc == 0, "columns: a valid dictionary parses (%s)", msg);
    if (rc)
        return;
    const pl_column_meta *los = pl_job_column(&job, "los");
    const pl_column_meta *sd = pl_job_column(&job, "stay_date");
    const pl_column_meta *dg = pl_job_column(&job, "diagnosis");
    CHECK(job.n_columns == 3 && los && sd && dg &&
          strcmp(los->description, "durée de séjour") == 0 &&
          strcmp(los->units, "days") == 0 && !los->code_system &&
          strcmp(sd->date_format, "YYYYMMDD") == 0 &&
          strcmp(dg->code_system, "ICD-10") == 0 && !dg->description &&
          !pl_job_column(&job, "cost"),
          "columns: entries and their fields as written (UTF-8 kept)");
    pl_job_free(&job);
}

static void test_errors(void)
{
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        pl_job job;
        memset(&job, 0xab, sizeof job);        /* parse must not trust it */
        int rc = parse_capture(&job, cases[i].yaml, strlen(cases[i].yaml));
        CHECK(rc == -1, "error case: %s: rejected", cases[i].name);
        CHECK(is_zeroed(&job), "error case: %s: job left freed",
              cases[i].name);
        CHECK(count_lines(msg) == 1 &&
              strncmp(msg, "pseudolink: error: t.yaml", 25) == 0,
              "error case: %s: one message naming the file", cases[i].name);
        CHECK(strstr(msg, cases[i].want) != NULL,
              "error case: %s: message has \"%s\"", cases[i].name,
              cases[i].want);
        if (!strstr(msg, cases[i].want))
            printf("#   got: %s", msg);
    }
}

/* Generated inputs: deep nesting and an oversized buffer. */
static void test_limits(void)
{
    char deep[512];
    int k = snprintf(deep, sizeof deep, "store: s\nx: ");
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k++] = '\n';
    pl_job job;
    int rc = parse_capture(&job, deep, (size_t)k);
    CHECK(rc == -1, "depth 100 rejected");
    CHECK(strstr(msg, "t.yaml:2:35: x[0][0][0]") &&
          strstr(msg, "nesting deeper than 32 levels"),
          "depth 100 message names line:col and path");

    size_t big = PL_YAML_MAX_BYTES + 10;
    char *buf = malloc(big);
    memset(buf, '#', big);
    rc = parse_capture(&job, buf, big);
    CHECK(rc == -1 && is_zeroed(&job),
          "input over 1 MiB rejected");
    CHECK(strstr(msg, "t.yaml: YAML input too large") != NULL,
          "too large message");
    free(buf);

    rc = parse_capture(&job, "store: s\n\001\n", 11);
    CHECK(rc == -1 &&
          strstr(msg, "invalid YAML input at byte") != NULL,
          "control character in the input rejected");
}

/* The tree: depth boundary, getters. */
static void test_yamltree(void)
{
    char y[256];
    pl_yaml_doc doc;
    int k = 0;
    for (int i = 0; i < PL_YAML_MAX_DEPTH; i++)
        y[k++] = '[';
    for (int i = 0; i < PL_YAML_MAX_DEPTH; i++)
        y[k++] = ']';
    int rc = pl_yaml_parse(&doc, "y", y, (size_t)k, 1);
    CHECK(rc == 0,
          "depth exactly PL_YAML_MAX_DEPTH accepted");
    pl_yaml_free(&doc);
    memmove(y + 1, y, (size_t)k);
    y[0] = '[';
    y[++k] = ']';
    rc = pl_yaml_parse(&doc, "y", y, (size_t)k + 1, 1);
    CHECK(rc == -1 && !doc.root,
          "depth PL_YAML_MAX_DEPTH + 1 rejected (quietly)");

    static const char t[] = "n: 18446744073709551615\nl: [a, 'b', \"c\"]\n"
                            "e: two\nq: '~'\nz: ~\n";
    rc = pl_yaml_parse(&doc, "y", t, strlen(t), 1);
    CHECK(rc == 0, "tree parses");
    const pl_yaml_node *r = doc.root;
    uint64_t v = 0;
    CHECK(r && r->kind == PL_YAML_MAPPING && r->n_pairs == 5,
          "root mapping with 5 pairs");
    rc = pl_yaml_u64(&doc, pl_yaml_get(r, "n"), "n", &v);
    CHECK(rc == 0 &&
          v == UINT64_MAX, "u64 max");
    char **sv;
    size_t n;
    rc = pl_yaml_strings(&doc, pl_yaml_get(r, "l"), "l", &sv, &n);
    CHECK(rc == 0 &&
          n == 3 && strcmp(sv[0], "a") == 0 && strcmp(sv[2], "c") == 0,
          "sequence of strings");
    pl_yaml_strings_free(sv, n);
    rc = pl_yaml_strings(&doc, pl_yaml_get(r, "e"), "e", &sv, &n);
    CHECK(rc == -1 &&
          !sv && n == 0, "strings on a scalar fails");
    static const char *const ch[] = {"one", "two", "three", NULL};
    int idx = -1;
    rc = pl_yaml_enum(&doc, pl_yaml_get(r, "e"), "e", ch, &idx);
    CHECK(rc == 0 &&
          idx == 1, "enum index");
    const pl_yaml_node *q = pl_yaml_get(r, "q"), *z = pl_yaml_get(r, "z");
    CHECK(!q->is_null && strcmp(q->str, "~") == 0 && z->is_null,
          "quoted '~' is a string, plain ~ is null");
    CHECK(pl_yaml_get(r, "missing") == NULL && pl_yaml_find(r, "l") &&
          pl_yaml_find(r, "l")->key->line == 2, "find/get");
    const pl_yaml_node *item = pl_yaml_get(r, "l")->items[1];
    CHECK(item->line == 2 && item->col == 8, "line:col of a sequence item");
    pl_yaml_free(&doc);
    CHECK(doc.root == NULL, "tree freed");
    pl_yaml_free(&doc);

    char shown[PL_YAML_SHOW_MAX];
    char longs[100];
    memset(longs, 'z', sizeof longs);
    pl_yaml_show(longs, sizeof longs, shown);
    CHECK(strlen(shown) == 63 && strcmp(shown + 60, "...") == 0,
          "pl_yaml_show truncates to 60 characters + ...");
}

/* pl_job_load: files under /tmp only. */
static void test_load(void)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    ssize_t w = write(fd, valid_yaml, strlen(valid_yaml));
    close(fd);
    CHECK(w == (ssize_t)strlen(valid_yaml), "write job file");
    pl_job job;
    int rc = load_capture(&job, path);
    CHECK(rc == 0, "pl_job_load valid file");
    uint8_t want[32];
    EVP_Digest(valid_yaml, strlen(valid_yaml), want, NULL, EVP_sha256(), NULL);
    CHECK(memcmp(job.sha256, want, 32) == 0 && strcmp(job.path, path) == 0 &&
          job.n_sources == 2, "pl_job_load sha256, path and content");
    pl_job_free(&job);

    FILE *f = fopen(path, "wb");
    char line[1024];
    memset(line, '#', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 1025 && f; i++)
        fwrite(line, 1, sizeof line, f);
    if (f)
        fclose(f);
    rc = load_capture(&job, path);
    CHECK(rc == -1 && is_zeroed(&job) &&
          strstr(msg, ": job file is too large") != NULL,
          "pl_job_load refuses a file over 1 MiB");
    unlink(path);

    rc = load_capture(&job, path);
    CHECK(rc == -1 && is_zeroed(&job),
          "pl_job_load missing file fails");
    char want_msg[256];
    snprintf(want_msg, sizeof want_msg,
             "%s: cannot read job file: No such file or directory", path);
    CHECK(strstr(msg, want_msg) != NULL, "missing file message: %s", want_msg);
    rc = load_capture(&job, "/tmp");
    CHECK(rc == -1 &&
          strstr(msg, "/tmp: cannot read job file: Is a directory"),
          "pl_job_load directory fails");

    pl_job z;
    memset(&z, 0, sizeof z);
    pl_job_free(&z);
    CHECK(is_zeroed(&z), "pl_job_free on a zeroed job");
}

static void test_quiet(void)
{
    pl_job job;
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(t), 2);
    int rc = pl_job_parse(&job, "t.yaml", "store: [", 8, 1);
    int rc2 = pl_job_load(&job, "/tmp/does/not/exist.yaml", 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long size = ftell(t);
    fclose(t);
    CHECK(rc == -1 && rc2 == -1 && size == 0, "quiet prints nothing");
}

/* linkage.keep: each source to link carries the columns it lists (none
 * otherwise); an extract may name a source to link. */
static void test_linkage_keep(void)
{
#define LK "store: s\noutput: o\nmode: keyed\nkeys: {platform: q}\n"      \
           "sources:\n  persons:\n    identity: {p1: p1}\n"                  \
           "linkage:\n  persons: persons\n  sources: [registry, cohort]\n"   \
           "  fields:\n    birth_date: {compare: date}\n"                    \
           "  blocking: [birth_date]\n"
    static const char y[] = LK "  keep: {cohort: [diagnosis, stage]}\n"
        "extracts:\n  onco:\n    key: k\n"
        "    sources: {cohort: {columns: [stage]}}\n";
    pl_job job;
    int rc = parse_capture(&job, y, strlen(y));
    CHECK(rc == 0, "linkage.keep and an extract of a source to link parse");
    if (rc)
        return;
    const pl_linkage_cfg *c = job.linkage;
    CHECK(c->n_sources == 2 && strcmp(c->src[0].name, "registry") == 0 &&
          c->src[0].keep_given && c->src[0].n_keep == 0 &&
          strcmp(c->src[1].name, "cohort") == 0 && c->src[1].n_keep == 2 &&
          strcmp(c->src[1].keep[1], "stage") == 0,
          "linkage.keep: listed columns, none for a source not listed");
    CHECK(job.n_extracts == 1 &&
          job.extracts[0].src[0].job_index == job.n_sources + 1,
          "an extract names a source to link: job_index n_sources + k");
    pl_job_free(&job);
    static const struct { const char *yaml, *want; } bad[] = {
        {LK "  keep: {other: [x]}\n",
         "t.yaml:14:10: linkage.keep.other: 'other' is not a source of "
         "linkage.sources"},
        {LK "  keep: {registry: [birth_date]}\n",
         "t.yaml:14:21: linkage.keep.registry[0]: column 'birth_date' is the "
         "column of matching field 'birth_date'"},
        {LK "  keep: {registry: [a, a]}\n",
         "t.yaml:14:24: linkage.keep.registry[1]: duplicate column 'a'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = parse_capture(&job, bad[i].yaml, strlen(bad[i].yaml));
        CHECK(rc == -1 && strstr(msg, bad[i].want) != NULL,
              "linkage.keep error %zu: \"%s\"", i, bad[i].want);
        if (!strstr(msg, bad[i].want))
            printf("#   got: %s", msg);
    }
#undef LK
}

int main(void)
{
    test_valid();
    test_also();
    test_defaults();
    test_errors();
    test_columns();
    test_limits();
    test_yamltree();
    test_load();
    test_quiet();
    test_linkage_keep();
    return unit_done();
}
