#!/usr/bin/env bash
# The regression job at -np 1..4: ground truth, rejects, determinism.
source "$(dirname "$0")/../lib/common.sh"
STORE=$ROOT/inputs/regression.h5
job=$TMP/job.yaml
regression_job "$job" keyed

for np in 1 2 3 4; do
  if plrun "$np" run "$job" --out "$TMP/np$np" >"$TMP/np$np.log" 2>&1; then
    ok "regression job runs at -np $np"
  else
    notok "regression job runs at -np $np"; cat "$TMP/np$np.log"; continue
  fi
  tests/bin/check_linked "$STORE" "$TMP/np$np/linked.h5" | sed -E "s/^(not )?ok - /&-np $np: /"
done

grep -q '^persons [0-9]*, in 2+ sources [0-9]*' "$TMP/np2.log" &&
grep -q '^hospital_stays ' "$TMP/np2.log" &&
grep -q '^exchange ' "$TMP/np2.log"
check "summary prints per-source counts and per-stage timings" test $? -eq 0

for np in 2 3 4; do
  check "keyed: every dataset and attribute identical at -np 1 and -np $np" \
    h5diff "$TMP/np1/linked.h5" "$TMP/np$np/linked.h5"
done

# Collective MPI-IO transfers (the default is independent): same bytes.
sed 's/^options:/options:\n  io: collective/' "$job" >"$TMP/coll.yaml"
if plrun 3 run "$TMP/coll.yaml" --out "$TMP/coll" >"$TMP/coll.log" 2>&1; then
  same=1
  for g in /linked /links /persons /rejects; do
    h5diff "$TMP/np1/linked.h5" "$TMP/coll/linked.h5" "$g" "$g" >/dev/null || same=0
  done
  check "io: collective at -np 3 gives the same datasets and attributes" test $same -eq 1
else
  notok "io: collective at -np 3 gives the same datasets and attributes"
  cat "$TMP/coll.log"
fi

# Random mode: still links correctly, but pids are fresh draws.
regression_job "$TMP/random.yaml" random
if plrun 3 run "$TMP/random.yaml" --out "$TMP/random" >"$TMP/random.log" 2>&1; then
  ok "random mode runs at -np 3"
  tests/bin/check_linked "$STORE" "$TMP/random/linked.h5" | sed -E 's/^(not )?ok - /&random: /'
  ! h5diff -q -d /persons/pid "$TMP/np1/linked.h5" "$TMP/random/linked.h5" /persons/pid >/dev/null 2>&1
  check "random-mode pids differ from keyed pids" test $? -eq 0
else
  notok "random mode runs at -np 3"; cat "$TMP/random.log"
fi

# A leftover temporary is never mistaken for output, and no temporary stays.
left=$(find "$TMP"/np* "$TMP/random" -name '.*tmp*' | wc -l)
check "no temporary file left after successful runs" test "$left" -eq 0
