#!/usr/bin/env bash
# Privacy-preserving linkage building blocks (crypto/bloom.h, crypto/dice.h):
#   - the Bloom-filter encoding recomputed from docs/PPRL.md alone with
#     Python's hmac/hashlib (tests/e2e/pprl_vectors.py): the C encoder's
#     vectors, the doc's own test vectors, the normalisation table;
#   - PSEUDOLINK_POPCOUNT selects each popcount kernel this CPU runs; an
#     unknown value falls back to the best one with a warning.
source "$(dirname "$0")/../lib/common.sh"
has() { grep -qw "$1" /proc/cpuinfo; }

"$ROOT/tests/bin/test_bloom" --vectors >"$TMP/vectors" &&
  "$ROOT/tests/bin/test_bloom" --normalise-table >"$TMP/table"
check "test_bloom prints its vectors and normalisation table" test $? -eq 0
/usr/bin/python3 "$ROOT/tests/e2e/pprl_vectors.py" "$ROOT/docs/PPRL.md" \
  "$TMP/vectors" "$TMP/table" || echo "not ok - pprl_vectors.py failed"

# The check can fail: one bit of one C vector changed.
awk '/^vector 0 / { sub(/filter=./, "filter=f") } { print }' "$TMP/vectors" >"$TMP/bad"
/usr/bin/python3 "$ROOT/tests/e2e/pprl_vectors.py" "$ROOT/docs/PPRL.md" \
  "$TMP/bad" "$TMP/table" >"$TMP/bad.log" 2>&1
grep -q '^not ok - C encoder = Python from the doc: 0 ' "$TMP/bad.log"
check "a changed filter byte is caught by pprl_vectors.py" test $? -eq 0

kernels=portable
has popcnt && kernels="$kernels popcnt"
has avx512f && has avx512_vpopcntdq && kernels="$kernels avx512"
best=${kernels##* }
for k in portable popcnt avx512; do
  case " $kernels " in
    *" $k "*)
      got=$(PSEUDOLINK_POPCOUNT=$k "$ROOT/tests/bin/test_dice" --active 2>&1)
      check "PSEUDOLINK_POPCOUNT=$k selects the $k kernel" test "$got" = "$k" ;;
    *) echo "skip - PSEUDOLINK_POPCOUNT=$k: not supported by this CPU" ;;
  esac
done
check "without PSEUDOLINK_POPCOUNT the best kernel ($best) is used" \
  test "$(env -u PSEUDOLINK_POPCOUNT "$ROOT/tests/bin/test_dice" --active)" = "$best"
got=$(PSEUDOLINK_POPCOUNT=sse9 "$ROOT/tests/bin/test_dice" --active 2>"$TMP/warn")
test "$got" = "$best" && grep -q 'PSEUDOLINK_POPCOUNT=sse9: unknown value' "$TMP/warn"
check "an unknown PSEUDOLINK_POPCOUNT warns and falls back to $best" test $? -eq 0
