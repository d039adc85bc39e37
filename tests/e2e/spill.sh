#!/usr/bin/env bash
# Bounded memory: a tiny memory_per_rank forces the links sort to spill
# sorted runs under the output dir and merge them; the output must be
# byte-identical (h5diff) to the in-memory run, at several rank counts.
source "$(dirname "$0")/../lib/common.sh"
STORE=$ROOT/inputs/regression.h5
regression_job "$TMP/mem.yaml" keyed
# Same job, tiny budget, batch_rows derived from it (the line removed).
sed -e '/batch_rows:/d' -e 's/^options:/options:\n  memory_per_rank: 64KiB/' \
    "$TMP/mem.yaml" >"$TMP/spill.yaml"

# Every group with its datasets and attributes (h5diff), and the root
# attributes except job_sha256 (the two job files differ by the budget).
same_output() {
  local g
  for g in /linked /links /persons /rejects; do
    h5diff "$1" "$2" "$g" "$g" || return 1
  done
  local names n=0 at
  names=$(h5dump -A -H "$1" | sed -n 's/^   ATTRIBUTE "\(.*\)" {$/\1/p' | grep -vx job_sha256)
  for at in $names; do
    [ "$(h5dump -a "/$at" "$1" | tail -n +2)" = "$(h5dump -a "/$at" "$2" | tail -n +2)" ] || return 1
    n=$((n + 1))
  done
  [ "$n" -ge 8 ]
}

if plrun 2 run "$TMP/mem.yaml" --out "$TMP/mem" >"$TMP/mem.log" 2>&1; then
  ok "in-memory run at -np 2"
else
  notok "in-memory run at -np 2"; cat "$TMP/mem.log"
fi
grep -q 'links spilled 0 bytes' "$TMP/mem.log"
check "default budget: nothing spilled on the regression store" test $? -eq 0
grep -q '^peak RSS per rank (max) [0-9.]* MiB' "$TMP/mem.log"
check "summary reports the peak RSS per rank" test $? -eq 0

for np in 1 2 3; do
  if plrun "$np" run "$TMP/spill.yaml" --out "$TMP/spill$np" >"$TMP/spill$np.log" 2>&1; then
    ok "64KiB budget run at -np $np"
  else
    notok "64KiB budget run at -np $np"; cat "$TMP/spill$np.log"; continue
  fi
  grep -Eq 'links spilled [1-9][0-9]* bytes' "$TMP/spill$np.log"
  check "-np $np: the links sort spilled" test $? -eq 0
  grep -q 'batch_rows 256,' "$TMP/spill$np.log"
  check "-np $np: batch_rows derived from memory_per_rank" test $? -eq 0
  check "-np $np: spilled output identical to the in-memory output (h5diff)" \
    same_output "$TMP/mem/linked.h5" "$TMP/spill$np/linked.h5"
  tests/bin/check_linked "$STORE" "$TMP/spill$np/linked.h5" | sed -E "s/^(not )?ok - /&spill -np $np: /"
done
left=$(find "$TMP"/spill* "$TMP/mem" -name '.*' -type f | wc -l)
check "no spill or temporary file left in the output dirs" test "$left" -eq 0

sed 's/^options:/options:\n  memory_per_rank: lots/' "$TMP/mem.yaml" >"$TMP/bad.yaml"
plrun 1 run "$TMP/bad.yaml" --out "$TMP/bad" >"$TMP/bad.log" 2>&1
rc=$?
grep -q "options.memory_per_rank: expected a size" "$TMP/bad.log" && [ $rc -ne 0 ]
check "malformed memory_per_rank is refused with the key named" test $? -eq 0
