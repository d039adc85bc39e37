#!/usr/bin/env bash
# Bad input: each case must fail with a message naming the file and the
# object, exit non-zero, and publish nothing.
source "$(dirname "$0")/../lib/common.sh"
STORE=$ROOT/inputs/regression.h5
base=$TMP/base.yaml
regression_job "$base" keyed

# expect_fail NAME JOB PATTERN [NP]: run fails, stderr matches PATTERN
# (an extended regex), nothing published in the job's output dir.
expect_fail() {
  local name=$1 job=$2 pat=$3 np=${4:-2} out=$TMP/out-$RANDOM
  plrun "$np" run "$job" --out "$out" >"$TMP/log" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then notok "$name: exits non-zero (got 0)"; cat "$TMP/log"; return; fi
  if grep -Eq -- "$pat" "$TMP/log"; then ok "$name: message names it"; else
    notok "$name: message matches /$pat/"; cat "$TMP/log"; fi
  # The only file a failed run leaves is its audit log (one failure line).
  if [ -e "$out/linked.h5" ] || ls -A "$out" 2>/dev/null | grep -vqx audit.log; then
    notok "$name: nothing published"; ls -la "$out"
  else ok "$name: nothing published"; fi
}

# with_store NAME PYTHON-BODY: write a broken copy of the store with h5py.
mkstore() {
  /usr/bin/python3 - "$STORE" "$1" <<PY
import sys, shutil, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
f = h5py.File(sys.argv[2], "r+")
$2
f.close()
PY
}
jobwith() { # jobwith OUT sed-expr...
  local out=$1; shift
  sed "$@" "$base" >"$out"
}

jobwith "$TMP/j1.yaml" -e "s#^store: .*#store: $TMP/missing.h5#"
expect_fail "missing store" "$TMP/j1.yaml" "missing.h5: cannot open store: No such file"

echo "not hdf5" >"$TMP/text.h5"
jobwith "$TMP/j2.yaml" -e "s#^store: .*#store: $TMP/text.h5#"
expect_fail "store is not HDF5" "$TMP/j2.yaml" "text.h5: cannot open store: not an HDF5 file"

head -c 3000 "$STORE" >"$TMP/trunc.h5"
jobwith "$TMP/j3.yaml" -e "s#^store: .*#store: $TMP/trunc.h5#"
expect_fail "truncated store" "$TMP/j3.yaml" "trunc.h5: (cannot open store|/sources)"

jobwith "$TMP/j4.yaml" -e "s#^  deaths:#  nosuch:#"
expect_fail "missing source" "$TMP/j4.yaml" "regression.h5: /sources/nosuch: source group not found"

jobwith "$TMP/j5.yaml" -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date, nosuch]#"
expect_fail "missing column" "$TMP/j5.yaml" "/sources/hospital_stays/nosuch: kept column not found"

jobwith "$TMP/j5b.yaml" -e "s#identity: {p1: p1,#identity: {p1: p2,#"
expect_fail "missing identity column" "$TMP/j5b.yaml" "/sources/pharmacy/p2: p1 column not found"

mkstore "$TMP/unequal.h5" 'g = f["sources/deaths"]; d = g["cause"][:]; del g["cause"]; g["cause"] = d[:-1]'
jobwith "$TMP/j6.yaml" -e "s#^store: .*#store: $TMP/unequal.h5#"
expect_fail "columns of unequal length" "$TMP/j6.yaml" "unequal.h5: /sources/deaths: columns of unequal length"

mkstore "$TMP/type1.h5" 'g = f["sources/hospital_stays"]; n = len(g["birth_date"]); del g["birth_date"]; g["birth_date"] = np.zeros(n, dtype="S8")'
jobwith "$TMP/j7.yaml" -e "s#^store: .*#store: $TMP/type1.h5#"
expect_fail "wrong type: birth_date as string" "$TMP/j7.yaml" "type1.h5: /sources/hospital_stays/birth_date: birth_date column: expected a 1-D integer dataset, found a fixed-length string"

mkstore "$TMP/type2.h5" 'g = f["sources/pharmacy"]; n = len(g["p1"]); del g["p1"]; g["p1"] = np.zeros((n, 16), dtype="u1")'
jobwith "$TMP/j8.yaml" -e "s#^store: .*#store: $TMP/type2.h5#"
expect_fail "wrong shape: p1 of width 16" "$TMP/j8.yaml" "type2.h5: /sources/pharmacy/p1: p1 column: expected a 2-D uint8 dataset of shape \(N, 32\)"

mkstore "$TMP/type3.h5" 'g = f["sources/hospital_stays"]; n = len(g["nir"]); del g["nir"]; g.create_dataset("nir", (n,), dtype=h5py.string_dtype())'
jobwith "$TMP/j9.yaml" -e "s#^store: .*#store: $TMP/type3.h5#"
expect_fail "wrong type: variable-length NIR" "$TMP/j9.yaml" "type3.h5: /sources/hospital_stays/nir: nir column: expected .*found a variable-length string"

printf 'store: [unclosed\n' >"$TMP/j10.yaml"
expect_fail "bad YAML" "$TMP/j10.yaml" "j10.yaml:[0-9]+:[0-9]+: .*YAML syntax error"

jobwith "$TMP/j11.yaml" -e "s#^mode: .*#mode: keyed\nfrobnicate: 1#"
expect_fail "unknown key" "$TMP/j11.yaml" "j11.yaml:[0-9]+:[0-9]+: unknown key 'frobnicate'"

jobwith "$TMP/j11b.yaml" -e "s#batch_rows: 500#batch_rows: lots#"
expect_fail "wrong type in job" "$TMP/j11b.yaml" "j11b.yaml:[0-9]+:[0-9]+: options.batch_rows"

jobwith "$TMP/j12.yaml" -e "s#$TMP/keys/producer.key#$TMP/keys/none.key#"
expect_fail "key file missing" "$TMP/j12.yaml" "none.key: cannot open producer key: No such file"

cp "$TMP/keys/platform.key" "$TMP/keys/open.key"; chmod 644 "$TMP/keys/open.key"
jobwith "$TMP/j13.yaml" -e "s#$TMP/keys/platform.key#$TMP/keys/open.key#"
expect_fail "key file too open" "$TMP/j13.yaml" "open.key: platform key is accessible by group or others \(mode 0644\)"

touch "$TMP/afile"
jobwith "$TMP/j14.yaml" -e "s#^output: .*#output: $TMP/afile/out#"
plrun 2 run "$TMP/j14.yaml" >"$TMP/log" 2>&1
rc=$?
grep -q "afile/out: cannot create output directory: Not a directory" "$TMP/log"
check "output dir not writable: clear message, non-zero exit" test $? -eq 0 -a $rc -ne 0

# A failed run leaves an earlier run's outputs untouched.
plrun 2 run "$base" --out "$TMP/keep" >"$TMP/log" 2>&1 || { notok "baseline run"; cat "$TMP/log"; }
sum1=$(sha256sum "$TMP/keep/linked.h5" | cut -d' ' -f1)
plrun 2 run "$TMP/j13.yaml" --out "$TMP/keep" >"$TMP/log" 2>&1
sum2=$(sha256sum "$TMP/keep/linked.h5" | cut -d' ' -f1)
check "a failed run leaves the previous linked.h5 intact" test "$sum1" = "$sum2"
check "a failed run leaves no temporary" test -z "$(ls -A "$TMP/keep" | grep tmp)" -a -f "$TMP/keep/linked.h5"

# Command line errors.
"$PL" run >"$TMP/log" 2>&1; rc=$?
check "run without a job file: usage, non-zero" test $rc -ne 0
"$PL" frobnicate >"$TMP/log" 2>&1; rc=$?
check "unknown command: non-zero" test $rc -ne 0
