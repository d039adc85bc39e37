#!/usr/bin/env bash
# Tiny stores: more ranks than rows and a zero-length source. Ranks with no
# rows still take part in every collective call; the outputs stay correct
# and identical across rank counts.
source "$(dirname "$0")/../lib/common.sh"
keys
"$PL" synth --persons 3 --sources 3 --seed 7 --producer-key "$TMP/keys/producer.key" \
  -o "$TMP/tiny.h5" >/dev/null
rows=$(h5dump -H -d /sources/deaths/death_date "$TMP/tiny.h5" | grep -c '( 0 )')
check "fixture has a zero-length source (deaths)" test "$rows" -ge 1
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/tiny.h5#" \
    "$ROOT/jobs/regression.yaml" >"$TMP/job.yaml"
for np in 1 4; do
  if plrun "$np" run "$TMP/job.yaml" --out "$TMP/np$np" >"$TMP/np$np.log" 2>&1; then
    ok "tiny store at -np $np"
    tests/bin/check_linked "$TMP/tiny.h5" "$TMP/np$np/linked.h5" | sed -E "s/^(not )?ok - /&tiny -np $np: /"
  else
    notok "tiny store at -np $np"; cat "$TMP/np$np.log"
  fi
done
check "tiny store: identical outputs at -np 1 and -np 4" h5diff "$TMP/np1/linked.h5" "$TMP/np4/linked.h5"
