#!/usr/bin/env bash
# Probabilistic linkage, large blocks (docs/LINKAGE.md "Large blocks"): a
# synth store where 30 % of the persons share one birth date. A block above
# max_block is split by further keys (automatic or `split:`), capped only
# when the last split key leaves it above; the warning names the rule and
# the counts, never a value; recall with the split is higher than with the
# cap alone; the pair counts (compared, found twice, not compared, blocks
# split and capped) are the ones recomputed from the store's values by
# check_split.py; outputs identical at -np 1, 2, 3; job file errors.
source "$(dirname "$0")/../lib/common.sh"
keys
"$PL" synth --linkage --persons 6000 --records 4000 --seed 11 --same-birth-date 0.3 \
  -o "$TMP/fs.h5" >/dev/null
check "synth --same-birth-date 0.3: about 30 % of the persons born on 1980-01-01" \
  /usr/bin/python3 -c "import h5py,sys; n=(h5py.File('$TMP/fs.h5')['sources/persons/birth_date'][:]==19800101).sum(); sys.exit(0 if 1600<n<2000 else 1)"
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/fs.h5#" \
    -e "s#max_block: 1000#max_block: 100#" "$ROOT/jobs/linkage.yaml" >"$TMP/base.yaml"
# rules: job NAME, then the blocking rules (one a line)
job() {
  local name=$1; shift
  awk -v rules="$(printf '    - %s\n' "$@")" '
    /^  blocking:/ { print; print rules; skip = 1; next }
    skip && /^    - / { next }
    { skip = 0; print }' "$TMP/base.yaml" >"$TMP/$name.yaml"
}
run() {  # NAME NP: run $TMP/NAME.yaml into $TMP/NAME-NP
  rm -rf "$TMP/$1-$2"
  if plrun "$2" run "$TMP/$1.yaml" --out "$TMP/$1-$2" >"$TMP/$1-$2.log" 2>&1; then
    ok "$1: linkage run at -np $2"
  else
    notok "$1: linkage run at -np $2"; tail -20 "$TMP/$1-$2.log"
  fi
}
recall() { /usr/bin/python3 -c "import h5py; print(h5py.File('$1')['linkage/registry'].attrs['true_recall'])"; }

# one rule on the birth date: split automatically (the next fields of the
# model: the names' phonetic keys), or capped only (split: [])
job auto 'birth_date'
job cap '{rule: birth_date, split: []}'
run auto 2
run cap 2
w='linkage: blocking rule .birth_date.: 1 block above max_block \(100 records a side\) split by last_name:phonetic, first_name:phonetic, birth_name:phonetic; 0 still above it capped; [0-9]+ pairs not compared'
grep -qE "$w" "$TMP/auto-2.log" && ok "the split is warned with the rule, the split keys and the counts" ||
  { notok "the split is warned with the rule, the split keys and the counts"; grep warning "$TMP/auto-2.log"; }
grep -qE 'linkage: blocking rule .birth_date.: 1 block above max_block \(100 records a side\) capped, [0-9]+ pairs not compared' "$TMP/cap-2.log" &&
  ok "split: [] caps the block, as before" || notok "split: [] caps the block, as before"
if grep -qE '1980-?01-?01' "$TMP"/*.log; then notok "no value in the warnings"; else ok "no value in the warnings"; fi
ra=$(recall "$TMP/auto-2/linked.h5"); rc=$(recall "$TMP/cap-2/linked.h5")
if awk -v a="$ra" -v c="$rc" 'BEGIN { exit !(a > c + 0.1) }'; then
  ok "recall with the split ($ra) above recall with the cap ($rc)"
else
  notok "recall with the split ($ra) above recall with the cap ($rc)"
fi
run auto 3
for g in /linked/registry /review/registry /linkage/registry; do
  check "automatic split: identical $g at -np 2 and -np 3" h5diff "$TMP/auto-2/linked.h5" "$TMP/auto-3/linked.h5" "$g" "$g"
done

# rules on dates, sex and commune only, so that check_split.py recomputes
# every block from the store: splits on two levels, a leaf still capped
# after its last split key, a rule capped only, a pair counted once
job exact '{rule: birth_date, split: [sex, commune]}' \
  '{rule: sex, split: [birth_date:year, commune]}' \
  '{rule: sex, split: birth_date:year}' \
  '{rule: commune, split: []}'
for np in 1 2 3; do run exact "$np"; done
check "pair counts (compared, found twice, not compared, blocks split and capped) are the store's" \
  /usr/bin/python3 tests/e2e/check_split.py "$TMP/fs.h5" "$TMP/exact-1/linked.h5" 100 \
  "birth_date/sex,commune;sex/birth_date:year,commune;sex/birth_date:year;commune"
grep -qE "blocking rule 'sex': 2 blocks above max_block \(100 records a side\) split by birth_date:year; 2 still above it capped" "$TMP/exact-1.log" &&
  ok "a leaf still above max_block after the last split key is capped and counted" ||
  notok "a leaf still above max_block after the last split key is capped and counted"
for np in 2 3; do
  for g in /linked/registry /review/registry /linkage/registry; do
    check "split blocks: identical $g at -np 1 and -np $np" h5diff "$TMP/exact-1/linked.h5" "$TMP/exact-$np/linked.h5" "$g" "$g"
  done
done
# the same splits with the blocking in several rounds a rule (each round
# splits its own records): memory_per_rank 18MiB at -np 2 keeps about
# 8.8 MiB of records a rank (just under half) and routes them in rounds
# of 1/16 of it (1.1 MiB: 2 rounds); the same pair counts, the same outputs
{ cat "$TMP/exact.yaml"; printf 'options:\n  memory_per_rank: 18MiB\n'; } >"$TMP/rounds.yaml"
run rounds 2
check "split blocks in several blocking rounds: pair counts are the store's" \
  /usr/bin/python3 tests/e2e/check_split.py "$TMP/fs.h5" "$TMP/rounds-2/linked.h5" 100 \
  "birth_date/sex,commune;sex/birth_date:year,commune;sex/birth_date:year;commune"
for g in /linked/registry /review/registry /linkage/registry; do
  check "split blocks in several blocking rounds: identical $g" h5diff "$TMP/exact-1/linked.h5" "$TMP/rounds-2/linked.h5" "$g" "$g"
done

# ... and with each blocking round's records arriving in many small
# all-to-all rounds (exchange_cap: 16 records a destination), each
# received after the earlier ones in the blocking's buffer, which grows
# as they come (par/exchange.h pl_route_into): the same outputs
{ cat "$TMP/exact.yaml"; printf 'options:\n  exchange_cap: 16\n'; } >"$TMP/cap16.yaml"
run cap16 2
for g in /linked/registry /review/registry /linkage/registry; do
  check "blocking records in rounds of 16 a destination: identical $g" h5diff "$TMP/exact-1/linked.h5" "$TMP/cap16-2/linked.h5" "$g" "$g"
done

# job file errors: file:line:column and key path, nothing published
bad() {  # NAME EXPECTED-REGEX RULE...
  local name=$1 want=$2; shift 2
  job bad "$@"
  rm -rf "$TMP/bad"
  if "$PL" run "$TMP/bad.yaml" --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then
    notok "$name: refused"
  elif grep -qE "$want" "$TMP/bad.log" && [ ! -e "$TMP/bad/linked.h5" ]; then
    ok "$name: refused ($want)"
  else
    notok "$name: refused with '$want'"; cat "$TMP/bad.log"
  fi
}
bad "a split key naming an unknown field" \
  'bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\].split\[1\]: split key .commun. names an unknown field .commun. \(expected one of: ' \
  '{rule: birth_date, split: [sex, commun]}'
bad "a split key on a field of the rule" \
  "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[1\].split: split key 'birth_date:year' is on field 'birth_date', already in the rule 'birth_date \+ sex'" \
  'sex' '{rule: birth_date + sex, split: birth_date:year}'
bad "a split key with a transform that does not apply" \
  "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\].split\[0\]: split key 'sex:phonetic': 'phonetic' does not apply to field 'sex'" \
  '{rule: birth_date, split: [sex:phonetic]}'
bad "two items in one split key" \
  'bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\].split\[0\]: at most 1 item in a split key' \
  '{rule: birth_date, split: [sex + commune]}'
bad "an unknown key in a rule" \
  "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\]: unknown key 'splits'" \
  '{rule: birth_date, splits: [sex]}'
bad "a rule mapping without rule" \
  "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\]: missing required key 'rule'" \
  '{split: [sex]}'
bad "more than 3 split keys" \
  'bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\].split: at most 3 split keys, got 4' \
  '{rule: birth_date, split: [sex, commune, last_name, first_name]}'
