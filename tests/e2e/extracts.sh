#!/usr/bin/env bash
# Project extracts: project pseudonyms, granted columns only, filters,
# generalisation, k-anonymity figures checked by an independent count,
# stability across runs and rank counts, refusal, bad extract configs.
source "$(dirname "$0")/../lib/common.sh"
CHK="/usr/bin/python3 $ROOT/tests/e2e/check_extract.py"
keys
# extracts_job OUT: jobs/extracts.yaml with the fixture paths rewritten.
extracts_job() {
  sed -e "s#inputs/keys/#$TMP/keys/#g" \
      -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
      "$ROOT/jobs/extracts.yaml" >"$1"
}
SPEC_D='{"sources": {"hospital_stays": {"columns": ["stay_date","diagnosis","los","cost"],
  "filter": {"diagnosis": {"prefix": ["E10","E11"]}, "stay_date": {"from": 20150101, "to": 20231231}}},
  "deaths": {"columns": ["death_date"]}},
 "generalise": {"stay_date": "year", "death_date": "month", "los": {"bands": [0,3,7,30]},
  "cost": {"bands": [0,1000,5000]}}, "qi": ["stay_date","los"], "sensitive": "cost", "k": 2}'
SPEC_C='{"sources": {"hospital_stays": {"columns": ["stay_date","diagnosis"], "filter": {"diagnosis": {"prefix": ["I"]}}},
  "pharmacy": {"columns": ["atc"]}},
 "generalise": {"stay_date": "year", "diagnosis": {"prefix": 1}, "atc": {"prefix": 3}},
 "qi": ["stay_date","diagnosis"], "sensitive": null, "k": 5}'

job=$TMP/job.yaml
extracts_job "$job"
for run in np1 np3 np1b; do
  np=${run:2:1}
  plrun "$np" run "$job" --out "$TMP/$run" >"$TMP/$run.log" 2>&1
  rc=$?
  check "$run: a run with a refused extract exits with status 3" test "$rc" -eq 3
done
check "linked.h5 and the passing extract are published" \
  test -f "$TMP/np1/linked.h5" -a -f "$TMP/np1/extracts/diabetes.h5"
check "the refused extract leaves no file" \
  test ! -e "$TMP/np1/extracts/cardio.h5" -a ! -e "$TMP/np3/extracts/cardio.h5"
left=$(find "$TMP"/np* -name '.*tmp*' | wc -l)
check "no temporary file left" test "$left" -eq 0
grep -q "extract 'cardio': quasi-identifiers (stay_date, diagnosis) on source 'hospital_stays': [0-9]* of [0-9]* classes have fewer than k=5 persons (smallest class: 1, short by 4)" "$TMP/np1.log"
check "refusal names the quasi-identifier combination and the shortfall" test $? -eq 0
# Counts only: no diagnosis code, date or pseudonym in the risk messages.
# (The UTC timestamp that starts the run's error lines is not a value.)
! grep "extract '" "$TMP/np1.log" | sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z //' |
  grep -Eq "[A-Z][0-9]{2}|20[0-9]{6}|[0-9a-f]{32}"
check "risk messages hold counts only, no values" test $? -eq 0
grep -q "^extract diabetes: [0-9]* records, [0-9]* persons: published" "$TMP/np1.log" &&
grep -q "^  risk hospital_stays: 27 classes, smallest 1, below k=2: 8 classes" "$TMP/np1.log"
check "summary prints the extract and its risk figures" test $? -eq 0

$CHK "$TMP/np1/linked.h5" "$TMP/np1/extracts/diabetes.h5" "$TMP/keys/project_diabetes.key" "$SPEC_D"
check "project pseudonyms identical at -np 1 and -np 3" \
  h5diff "$TMP/np1/extracts/diabetes.h5" "$TMP/np3/extracts/diabetes.h5"
check "project pseudonyms stable across two runs" \
  h5diff "$TMP/np1/extracts/diabetes.h5" "$TMP/np1b/extracts/diabetes.h5"

# cardio, coarser and warn only: published; cannot be joined with diabetes.
sed -i -e 's#stay_date: month, diagnosis: {prefix: 3}#stay_date: year, diagnosis: {prefix: 1}#' \
       -e 's#k: 5, on_violation: refuse#k: 5, on_violation: warn#' "$job"
plrun 2 run "$job" --out "$TMP/warn" >"$TMP/warn.log" 2>&1
check "warn policy: run exits 0" test $? -eq 0
check "warn policy: cardio extract published" test -f "$TMP/warn/extracts/cardio.h5"
$CHK "$TMP/warn/linked.h5" "$TMP/warn/extracts/cardio.h5" "$TMP/keys/project_cardio.key" "$SPEC_C"
/usr/bin/python3 - "$TMP/warn" <<'PY'
import sys, h5py
d = sys.argv[1]
L = h5py.File(d + "/linked.h5", "r")
def pids(f, src):
    return set(f["linked"][src]["pid"][:])
a = h5py.File(d + "/extracts/diabetes.h5", "r")
b = h5py.File(d + "/extracts/cardio.h5", "r")
# Persons in both extracts (through the platform pid, which only the
# platform knows) exist, yet the two projects share no pseudonym.
ok_overlap = len(set(a["persons"]["pid"][:])) > 0 and len(set(b["persons"]["pid"][:])) > 0
shared = set(a["persons"]["pid"][:]) & set(b["persons"]["pid"][:])
print(("ok" if ok_overlap and not shared else "not ok") +
      " - two projects' extracts share no pseudonym (%d shared)" % len(shared))
PY
# A refusal removes the extract an earlier run published under that name.
extracts_job "$job"
plrun 2 run "$job" --out "$TMP/warn" >"$TMP/refuse2.log" 2>&1
check "refusal removes an earlier run's extract of that project" \
  test ! -e "$TMP/warn/extracts/cardio.h5"

# Bad extract configurations: clear error with line:column, nothing published.
bad() {  # bad NAME SED-EXPR EXPECTED-MESSAGE-REGEX
  extracts_job "$TMP/bad.yaml"
  sed -i -e "$2" "$TMP/bad.yaml"
  plrun 2 run "$TMP/bad.yaml" --out "$TMP/bad_$1" >"$TMP/bad_$1.log" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && grep -Eq "$3" "$TMP/bad_$1.log" && [ ! -e "$TMP/bad_$1/linked.h5" ]; then
    ok "bad extract config refused: $1"
  else
    notok "bad extract config refused: $1 (rc $rc)"; cat "$TMP/bad_$1.log"
  fi
}
bad unknown_key 's#^    risk: {quasi#    riks: 1\n    risk: {quasi#' \
  "bad.yaml:[0-9]+:[0-9]+: extracts.diabetes: unknown key 'riks'"
bad not_carried 's#pharmacy: {columns: \[atc\]}#pharmacy: {columns: [quantity]}#' \
  "extracts.cardio.sources.pharmacy.columns: column 'quantity' is not a payload column carried"
bad year_on_string 's#diagnosis: {prefix: 3}#diagnosis: year#' \
  "extracts.cardio.generalise.diagnosis: 'year' and 'month' apply to integer"
bad qi_not_granted 's#quasi_identifiers: \[stay_date, los\]#quasi_identifiers: [stay_date, atc]#' \
  "extracts.diabetes.risk: no source of this extract is granted every quasi-identifier"
bad unknown_source 's#      deaths: {columns: \[death_date\]}#      nosuch: {columns: [x]}#' \
  "extracts.diabetes.sources.nosuch: source 'nosuch' is not a source of this job"
chmod 644 "$TMP/keys/project_cardio.key"
bad key_mode 's#^##' "project key of extract 'cardio'"
chmod 600 "$TMP/keys/project_cardio.key"
