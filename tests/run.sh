#!/usr/bin/env bash
# Run every test: the C unit tests (tests/bin/test_*) and the end-to-end
# scripts (tests/e2e/*.sh). Each prints "ok - ..." / "not ok - ..." lines,
# and "skip - WHAT" for a check it could not make here (outside CI only:
# under CI=true a test that lacks what it needs prints "not ok" instead);
# this script counts them and ends with "N passed, N failed", or
# "N passed, N failed, N skipped" when something was skipped.
# A test program that exits non-zero without a "not ok" line counts as one
# failure (a crash must never look like a pass).
#
# TEST_JOBS (default 2): end-to-end scripts run that many at a time. A
# clean `make test` spends three quarters of its wall time waiting (mpirun
# start-up and tear-down, fsync, polling for a process to reach a state),
# so two at a time on a 2-core machine saves minutes. The scripts listed in
# SERIAL run alone afterwards: they kill ranks, time stalls, attach gdb,
# mount file systems or start a Slurm cluster or network namespaces, and
# must not share the machine with another test. Every script has its own
# temporary directory (tests/lib/common.sh); none writes into the tree.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD:$PATH"
logdir=$(mktemp -d /tmp/pseudolink-tests.XXXXXX)
jobs_max=${TEST_JOBS:-2}
SERIAL=" sanitize slurm multinode faults integrity misuse progress publish "
# Two jobs' ranks on the same cores: an MPI rank that waits yields its core
# instead of spinning (Open MPI only knows it is oversubscribed within one
# job).
[ "$jobs_max" -gt 1 ] && export OMPI_MCA_mpi_yield_when_idle=1

# run_one NAME CMD...: runs one test, its output in $logdir/NAME.log; its
# counts in $logdir/NAME.res ("pass fail skip seconds"); prints its line.
run_one() {
  local name=$1; shift
  local base; base=$(basename "$name")
  local log="$logdir/$base.log"
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
  echo "$p $f $s" >"$logdir/$base.res"
  {
    printf '%-40s %4d passed %3d failed%s  (%ds)\n' "$name" "$p" "$f" \
      "$([ "$s" -gt 0 ] && echo " $s skipped")" $((SECONDS - t0))
    [ "$s" -gt 0 ] && grep '^skip - ' "$log" | sed 's/^/    /'
    if [ "$f" -ne 0 ]; then
      grep '^not ok - ' "$log" | sed 's/^/    /'
      echo "    --- last lines of $log:"
      tail -n 15 "$log" | sed 's/^/    | /'
    fi
  } >"$logdir/$base.out"
  # one write: lines of tests that end together do not interleave
  cat "$logdir/$base.out"
}

only=${TESTS:-}
for t in tests/bin/test_*; do
  [ -x "$t" ] || continue
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  run_one "$t" "$t"
done
serial=()
running=0
for t in tests/e2e/*.sh; do
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  n=$(basename "$t" .sh)
  if [ "$jobs_max" -le 1 ] || [[ "$SERIAL" == *" $n "* ]]; then
    serial+=("$t"); continue
  fi
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$t" bash "$t" &
  running=$((running + 1))
done
wait
for t in "${serial[@]}"; do
  run_one "$t" bash "$t"
done
pass=0 fail=0 skip=0
for r in "$logdir"/*.res; do
  [ -e "$r" ] || continue
  read -r p f s <"$r"
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo "logs: $logdir"
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
