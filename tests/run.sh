#!/usr/bin/env bash
# Run every test: the C unit tests (tests/bin/test_*) and the end-to-end
# scripts (tests/e2e/*.sh). Each prints "ok - ..." / "not ok - ..." lines,
# and "skip - WHAT" for a check it could not make here (outside CI only:
# under CI=true a test that lacks what it needs prints "not ok" instead);
# this script counts them and ends with "N passed, N failed", or
# "N passed, N failed, N skipped" when something was skipped.
# A test program that exits non-zero without a "not ok" line counts as one
# failure (a crash must never look like a pass).
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD:$PATH"
pass=0 fail=0 skip=0
logdir=$(mktemp -d /tmp/pseudolink-tests.XXXXXX)

run_one() {
  local name=$1; shift
  local log="$logdir/$(basename "$name").log"
  local t0=$SECONDS
  "$@" >"$log" 2>&1 </dev/null
  local rc=$?
  local p f s
  p=$(grep -c '^ok - ' "$log")
  f=$(grep -c '^not ok - ' "$log")
  s=$(grep -c '^skip - ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $name exited with status $rc" >>"$log"
    f=1
  fi
  # A test that checked nothing and skipped nothing has not run.
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
    echo "not ok - $name made no check" >>"$log"
    f=1
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  printf '%-40s %4d passed %3d failed%s  (%ds)\n' "$name" "$p" "$f" \
    "$([ "$s" -gt 0 ] && echo " $s skipped")" $((SECONDS - t0))
  [ "$s" -gt 0 ] && grep '^skip - ' "$log" | sed 's/^/    /'
  if [ "$f" -ne 0 ]; then
    grep '^not ok - ' "$log" | sed 's/^/    /'
    echo "    --- last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    | /'
  fi
}

only=${TESTS:-}
for t in tests/bin/test_*; do
  [ -x "$t" ] || continue
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  run_one "$t" "$t"
done
for t in tests/e2e/*.sh; do
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  run_one "$t" bash "$t"
done
echo "logs: $logdir"
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
