#!/usr/bin/env bash
# Outputs that describe themselves (issue 16; docs/FORMATS.md 5.1 and 7):
# description / units / code_system / date_format on every dataset of
# linked.h5 and of an extract (the store's attributes first, then the
# job's columns:), enums for reject reasons and bands, UTF-8 strings, all
# read back with h5py; `pseudolink export` (no mpirun) read back with
# Python's csv module against h5py; the correspondence table refused.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py' 2>/dev/null; then
  missing "h5py (package python3-h5py): outputs not read back"; exit 0
fi

# A copy of the store with metadata of its own and a text column that
# needs RFC 4180 quoting and carries UTF-8 (an accent), plus invalid dates.
STORE=$TMP/store.h5
cp "$ROOT/inputs/regression.h5" "$STORE"
$PY - "$STORE" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    los = f["sources/hospital_stays/los"]
    los.attrs["description"] = "durée du séjour"          # variable-length UTF-8
    los.attrs["units"] = "days"
    f["sources/deaths/death_date"].attrs["date_format"] = np.bytes_("YYYYMMDD")  # fixed ASCII
    d = f["sources/deaths"]
    n = len(d["death_date"])
    vals = ["ok", "a,b", 'say "hi"', "café", "two\nlines", " lead", ""]
    d.create_dataset("note", data=np.array([vals[i % len(vals)].encode() for i in range(n)], dtype="S12"))
    dd = d["death_date"][:]
    dd[:40] = 20230231                                    # not a date
    d["death_date"][:] = dd
EOF

job=$TMP/job.yaml
regression_job "$job" keyed
sed -i "s#^store: .*#store: $STORE#" "$job"
cat >>"$job" <<EOF
columns:
  los: {description: length of stay, units: nights}   # the store's own win
  cost: {description: cost of the stay, units: EUR}
  diagnosis: {description: main diagnosis, code_system: ICD-10}
  atc: {description: dispensed drug, code_system: ATC}
  stay_date: {description: first day of the stay, date_format: YYYYMMDD}
  death_date: {description: date of death}
extracts:
  diabetes:
    key: $TMP/keys/project_diabetes.key
    sources:
      hospital_stays: {columns: [stay_date, diagnosis, los, cost]}
      deaths: {columns: [death_date, note]}
    generalise: {stay_date: year, death_date: month, los: {bands: [0, 3, 7, 30]}}
EOF
if plrun 2 run "$job" --out "$TMP/out" >"$TMP/run.log" 2>&1; then
  ok "run with a columns: dictionary and an extract"
else
  notok "run with a columns: dictionary and an extract"; cat "$TMP/run.log"; exit 1
fi
L=$TMP/out/linked.h5
X=$TMP/out/extracts/diabetes.h5
$PY tests/e2e/check_meta.py "$L" "$X"

# export: no mpirun; each group against h5py.
ex() { # FILE GROUP CSV
  "$PL" export "$1" --source "$2" --csv "$3" 2>"$3.err"
}
n=0
for g in hospital_stays pharmacy deaths /links /persons /rejects/hospital_stays; do
  n=$((n + 1))
  grp=$g; case $g in /*) grp=${g#/};; *) grp=linked/$g;; esac
  if ex "$L" "$g" "$TMP/l$n.csv"; then
    $PY tests/e2e/check_export.py "$L" "$grp" "$TMP/l$n.csv"
  else notok "export $g exits 0"; cat "$TMP/l$n.csv.err"; fi
done
for g in hospital_stays deaths; do
  if ex "$X" "$g" "$TMP/x$g.csv"; then
    $PY tests/e2e/check_export.py "$X" "linked/$g" "$TMP/x$g.csv" | sed 's/^\(not \)\{0,1\}ok - /&extract: /'
  else notok "export extract $g exits 0"; cat "$TMP/x$g.csv.err"; fi
done
check "export: columns in the job's order (pid, row, then keep:)" \
  test "$(head -1 "$TMP/l1.csv" | tr -d '\r')" = "pid,row,stay_date,diagnosis,los,cost"
check "export: a quoted field with a comma, a quote and a line break survives" \
  grep -q '"two' "$TMP/l3.csv"
grep -q "death_date: 40 values are not valid dates: written as empty fields" "$TMP/l3.csv.err" 2>/dev/null ||
  grep -q "death_date: [0-9]* values are not valid dates" "$TMP/l3.csv.err"
check "export: invalid dates are empty fields, with a warning naming the column" test $? -eq 0
"$PL" export "$L" --source deaths >"$TMP/stdout.csv" 2>/dev/null
check "export to standard output (the default) gives the same bytes as --csv" \
  cmp -s "$TMP/stdout.csv" "$TMP/l3.csv"

# The correspondence table is refused, whatever its name; nothing written.
C=$TMP/out/correspondence.h5
cp "$C" "$TMP/linked.h5"
cp "$C" "$TMP/noattr.h5"        # a copy without its format attribute
$PY -c 'import sys,h5py; f=h5py.File(sys.argv[1],"r+"); del f.attrs["format"]' "$TMP/noattr.h5"
for c in "$C" "$TMP/linked.h5" "$TMP/noattr.h5"; do
  rm -f "$TMP"/c.csv*
  "$PL" export "$c" --source /links --csv "$TMP/c.csv" >"$TMP/c.out" 2>"$TMP/c.err"
  rc=$?
  if [ "$rc" -ne 0 ] && [ ! -e "$TMP/c.csv" ] && [ -z "$(ls "$TMP"/c.csv* 2>/dev/null)" ] &&
     [ ! -s "$TMP/c.out" ] && grep -q "^pseudolink: error: $c: refused: this is a correspondence table" "$TMP/c.err"; then
    ok "export refuses the correspondence table ($(basename "$c")): exit $rc, nothing written, message names the file"
  else
    notok "export refuses the correspondence table ($(basename "$c")) (rc=$rc)"; cat "$TMP/c.err"
  fi
done

# Errors name the file and the object; the previous CSV stays as it was.
cp "$TMP/l1.csv" "$TMP/keep.csv"
"$PL" export "$L" --source nosuch --csv "$TMP/keep.csv" 2>"$TMP/e1.err"; rc=$?
check "export of a missing source: non-zero, names the file and /linked/nosuch, CSV untouched" \
  test "$rc" -ne 0 -a -n "$(grep "$L: /linked/nosuch: no such group" "$TMP/e1.err")" -a "$(cmp -s "$TMP/keep.csv" "$TMP/l1.csv"; echo $?)" = 0
"$PL" export "$STORE" --source hospital_stays --csv "$TMP/s.csv" 2>"$TMP/e2.err"; rc=$?
check "export of an input store (no /linked): refused, nothing written" \
  test "$rc" -ne 0 -a ! -e "$TMP/s.csv"
"$PL" export "$L" --csv "$TMP/u.csv" 2>/dev/null; rc=$?
check "export without --source: usage error (exit 2)" test "$rc" -eq 2
"$PL" export --help | grep -q "^Usage: pseudolink export FILE.h5 --source NAME"
check "export --help prints its usage on stdout" test $? -eq 0

# Store data that cannot be described as documented stops the run before
# anything is published: Latin-1 text in a string column (outputs are
# tagged UTF-8), a date_format attribute outside the three formats.
bad_store() { # NAME PYTHON-STATEMENTS
  cp "$ROOT/inputs/regression.h5" "$TMP/$1.h5"
  $PY -c "import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r+'); d = f['sources/deaths']; n = len(d['death_date'])
$2" "$TMP/$1.h5"
  sed "s#^store: .*#store: $TMP/$1.h5#" "$job" | sed '/^extracts:/,$d' >"$TMP/$1.yaml"
  plrun 2 run "$TMP/$1.yaml" --out "$TMP/o-$1" >"$TMP/$1.log" 2>&1; rc=$?
}
bad_store latin1 'd.create_dataset("town", data=np.array([b"Orl\xe9ans"] * n, dtype="S10"))'
check "Latin-1 text in a string column: refused, naming the column, nothing published" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-latin1/linked.h5" -a -n "$(grep '/sources/deaths/town: [0-9]* values in this rank.s rows are not UTF-8 text' "$TMP/latin1.log")"
bad_store datefmt 'd["death_date"].attrs["date_format"] = "DD/MM/YYYY"'
check "a store date_format outside YYYYMMDD/YYYYMM/YYYY: refused, naming the column" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-datefmt/linked.h5" -a -n "$(grep "/sources/deaths/death_date: attribute 'date_format' must be YYYYMMDD, YYYYMM or YYYY" "$TMP/datefmt.log")"
