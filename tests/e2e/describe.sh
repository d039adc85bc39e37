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
    # 1022 bytes, the longest that fits: the extract's "generalised" note
    # must still be there, whole, and the text stay UTF-8.
    f["sources/deaths/death_date"].attrs["description"] = "é" * 511
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
$PY - "$L" "$X" <<'EOF'
import sys, h5py
L, X = (h5py.File(p, "r") for p in sys.argv[1:3])
try:
    d = X["linked/deaths/death_date"].attrs["description"]
except Exception as e:          # not UTF-8: h5py cannot decode it
    d = repr(e)
ok = (L["linked/deaths/death_date"].attrs["description"] == "é" * 511 and
      isinstance(d, str) and len(d.encode()) <= 1023 and
      d.endswith("...; generalised to the month: an integer YYYYMM, not a date"))
print(("ok" if ok else "not ok") + " - extract: a long store description is shortened at a character boundary, "
      "the 'not a date' note kept whole")
EOF

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

# Where --csv points. A FIFO (or a device, /dev/stdout) is written in
# place, never replaced by a regular file; a symbolic link keeps pointing
# where it did and its target gets the CSV; an HDF5 file (the output's own
# linked.h5) and a directory are refused.
mkfifo "$TMP/fifo"
timeout 20 cat "$TMP/fifo" >"$TMP/fromfifo" &
cat_pid=$!
timeout 20 "$PL" export "$L" --source deaths --csv "$TMP/fifo" 2>"$TMP/fifo.err"; rc=$?
wait $cat_pid
check "export --csv FIFO: written in place (the reader gets the CSV), still a FIFO" \
  test "$rc" -eq 0 -a -p "$TMP/fifo" -a -z "$(cmp "$TMP/fromfifo" "$TMP/l3.csv" 2>&1)"
if mknod "$TMP/full" c 1 7 2>/dev/null; then
  "$PL" export "$L" --source deaths --csv "$TMP/full" 2>"$TMP/full.err"; rc=$?
  check "export --csv a full device: exit 1 with the system's reason, the device left a device" \
    test "$rc" -eq 1 -a -c "$TMP/full" -a -n "$(grep "$TMP/full: cannot write: No space left on device" "$TMP/full.err")"
else
  missing "mknod (not root): export to a full device not tried"
fi
echo old >"$TMP/target.csv"; ln -s target.csv "$TMP/link.csv"
"$PL" export "$L" --source deaths --csv "$TMP/link.csv" 2>/dev/null; rc=$?
check "export --csv SYMLINK: the link stays, the file it names gets the CSV" \
  test "$rc" -eq 0 -a -L "$TMP/link.csv" -a -z "$(cmp "$TMP/target.csv" "$TMP/l3.csv" 2>&1)"
mkdir "$TMP/adir"
"$PL" export "$L" --source deaths --csv "$TMP/adir" 2>"$TMP/dir.err"; rc=$?
check "export --csv DIRECTORY: refused with a clear message, nothing left next to it" \
  test "$rc" -eq 1 -a -n "$(grep "$TMP/adir: is a directory" "$TMP/dir.err")" -a -z "$(ls -d "$TMP"/adir.* 2>/dev/null)"

# A hostile file: soft and external links (which could bring another
# file's data, the correspondence table's say, into the CSV), fixed-length
# strings too wide to buffer, a killed export.
$PY - "$L" "$TMP" "$C" <<'EOF'
import sys, shutil, h5py, numpy as np
L, T, C = sys.argv[1:4]
n = h5py.File(L, "r")["linked/deaths/pid"].shape[0]
with h5py.File(f"{T}/other.h5", "w") as o:
    o["x"] = np.arange(n)
for name in ("extgrp", "extds", "soft", "wide", "long", "longname"):
    shutil.copy(L, f"{T}/{name}.h5")
with h5py.File(f"{T}/extgrp.h5", "r+") as f:
    f["linked/evil"] = h5py.ExternalLink(C, "/custody")
with h5py.File(f"{T}/extds.h5", "r+") as f:
    f["linked/deaths/x"] = h5py.ExternalLink(f"{T}/other.h5", "/x")
with h5py.File(f"{T}/soft.h5", "r+") as f:
    f["linked/deaths/x"] = h5py.SoftLink("/linked/deaths/x")
with h5py.File(f"{T}/wide.h5", "r+") as f:
    f["linked/deaths"].create_dataset("w", shape=(n,), dtype="S100000000")
with h5py.File(f"{T}/longname.h5", "r+") as f:
    f["linked/deaths"].create_dataset("n" * 300, data=np.zeros(n, "i4"))
with h5py.File(f"{T}/long.h5", "r+") as f:    # 2^27 rows of fill value
    g = f["linked"].create_group("long")
    g.create_dataset("a", shape=(2**27,), dtype="i8", chunks=(1 << 16,))
EOF
for c in "extgrp evil /linked/evil: refused: an external link, not a group" \
         "extds deaths /linked/deaths/x: refused: an external link, not a dataset" \
         "soft deaths /linked/deaths/x: refused: a soft link, not a dataset" \
         "wide deaths /linked/deaths/w: cannot export strings of 100000000 bytes" \
         "longname deaths /linked/deaths: a dataset name of 300 bytes (at most 255)"; do
  set -- $c; f=$1 src=$2; shift 2
  rm -f "$TMP"/h.csv*
  "$PL" export "$TMP/$f.h5" --source "$src" --csv "$TMP/h.csv" 2>"$TMP/h.err"; rc=$?
  check "export of a file with $f: exit 1, '$*', nothing written" \
    test "$rc" -eq 1 -a -z "$(ls "$TMP"/h.csv* 2>/dev/null)" -a -n "$(grep -F "$TMP/$f.h5: $*" "$TMP/h.err")"
done
# (a file-size limit keeps a broken handler from filling the disk)
(ulimit -f 409600; exec "$PL" export "$TMP/long.h5" --source long --csv "$TMP/k.csv" 2>/dev/null) &
kpid=$!
for i in $(seq 50); do [ -n "$(ls "$TMP"/k.csv.tmp-* 2>/dev/null)" ] && break; sleep 0.1; done
sleep 0.3; kill -TERM $kpid; wait $kpid; rc=$?
check "export stopped by SIGTERM: killed by it (status $rc), neither OUT nor its temporary left" \
  test "$rc" -eq 143 -a ! -e "$TMP/k.csv" -a -z "$(ls "$TMP"/k.csv* 2>/dev/null)"

# Last: with the bug, this replaced linked.h5.
"$PL" export "$X" --source hospital_stays --csv "$TMP/out/linked.h5" 2>"$TMP/h5.err"; rc=$?
check "export --csv the output's own linked.h5: refused, linked.h5 untouched" \
  test "$rc" -eq 1 -a -L "$TMP/out/linked.h5" -a -n "$(grep "refused: this is an HDF5 file" "$TMP/h5.err")" -a \
       -n "$("$PL" export "$L" --source deaths 2>/dev/null | head -1)"

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

# Store attributes are published in clear and printed by researchers:
# control characters (a terminal escape), a text too long to keep whole,
# invalid UTF-8 and a NIR-looking value stop the run, naming the attribute
# and never echoing the value.
nir13=1851275123456; nir="${nir13:0:1} ${nir13:1:2} ${nir13:3:2} ${nir13:5:2} ${nir13:7:3} ${nir13:10:3} $(printf %02d $((97 - nir13 % 97)))"
bad_store attresc 'd["death_date"].attrs["description"] = "date\x1b[2J\x1b]0;owned\x07"'
check "a store description with terminal escapes: refused, naming the attribute" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-attresc/linked.h5" -a -n "$(grep "/sources/deaths/death_date: attribute 'description' holds control characters" "$TMP/attresc.log")" -a -z "$(grep -F 'owned' "$TMP/attresc.log")"
bad_store attrlong 'd["death_date"].attrs["units"] = "d" * 300'
check "a store units attribute longer than 255 bytes: refused (never cut), naming it" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-attrlong/linked.h5" -a -n "$(grep "/sources/deaths/death_date: attribute 'units' is too long" "$TMP/attrlong.log")"
bad_store attrlatin 'd["death_date"].attrs["code_system"] = np.bytes_(b"d\xe9c\xe8s")'
check "a store code_system in Latin-1: refused, naming it" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-attrlatin/linked.h5" -a -n "$(grep "/sources/deaths/death_date: attribute 'code_system' is not UTF-8 text" "$TMP/attrlatin.log")"
bad_store attrnir "d['death_date'].attrs['description'] = 'date of death (checked for $nir)'"
check "a store description holding a NIR: refused, naming it, the NIR in no message" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-attrnir/linked.h5" -a -n "$(grep "/sources/deaths/death_date: attribute 'description' holds a value that looks like a NIR" "$TMP/attrnir.log")" -a -z "$(grep -F "${nir13:7:6}" "$TMP/attrnir.log")" -a -z "$(grep -F "123 456" "$TMP/attrnir.log")"

# A destination that fills up (a file-size limit stands for a full disk):
# a message with the system's reason naming OUT, OUT as it was, no
# temporary left.
cp "$TMP/l1.csv" "$TMP/f.csv"
(ulimit -f 64; "$PL" export "$L" --source pharmacy --csv "$TMP/f.csv" 2>"$TMP/f.err"); rc=$?
check "export onto a full destination: exit 1, '$TMP/f.csv: cannot write: File too large', OUT untouched, no temporary" \
  test "$rc" -eq 1 -a -n "$(grep -F "$TMP/f.csv: cannot write: File too large" "$TMP/f.err")" -a -z "$(cmp "$TMP/f.csv" "$TMP/l1.csv" 2>&1)" -a -z "$(ls "$TMP"/f.csv.* 2>/dev/null)"

# The reading idiom of docs/FORMATS.md section 5 ("Reading it:"), run as
# printed against this output: text as str, enums as ordered categoricals,
# and the frames built from it join on pid.
if $PY -c 'import pandas' 2>/dev/null; then
  awk '/^Reading it:/{f=1} f&&/^```python/{g=1;next} g&&/^```/{exit} g' "$ROOT/docs/FORMATS.md" |
    sed "s#out/regression/linked.h5#$L#" >"$TMP/idiom.py"
  cat >>"$TMP/idiom.py" <<'PYEOF'
r = f["rejects/hospital_stays/reason"]
why = column(r)
print(("ok" if len(both) == len(stays) and isinstance(stays["diagnosis"][0], str)
       and (stays["diagnosis"] == "I639").sum() > 0 and why.ordered and list(why.categories[:2]) == ["ok", "nir_length"]
       else "not ok") + f" - FORMATS.md reading idiom: str columns, enums as ordered categoricals, links join stays on pid ({len(both)} of {len(stays)})")
PYEOF
  if ! $PY "$TMP/idiom.py" >"$TMP/idiom.out" 2>&1; then
    notok "FORMATS.md reading idiom runs as printed"; tail -3 "$TMP/idiom.out"
  else grep -E '^(not )?ok - ' "$TMP/idiom.out"; fi
else
  missing "pandas (package python3-pandas): the FORMATS.md idiom not run"
fi
"$PL" export "$L" --source deaths --csv 2>"$TMP/nv.err" >/dev/null; rc=$?
check "export --csv without its value: usage error (exit 2) saying so" \
  test "$rc" -eq 2 -a -n "$(grep -F "export: --csv needs a value" "$TMP/nv.err")"
sed -e "s#cost: {description: cost of the stay#cost: {description: 'cost (see $nir)'#" "$job" | sed '/^extracts:/,$d' >"$TMP/jnir.yaml"
plrun 2 run "$TMP/jnir.yaml" --out "$TMP/o-jnir" >"$TMP/jnir.log" 2>&1; rc=$?
check "a job columns: description holding a NIR: refused, naming the job file and entry, the NIR in no message" \
  test "$rc" -ne 0 -a ! -e "$TMP/o-jnir/linked.h5" -a -n "$(grep -F "$TMP/jnir.yaml: columns.cost.description holds a value that looks like a NIR" "$TMP/jnir.log")" -a -z "$(grep -F "123 456" "$TMP/jnir.log")"
