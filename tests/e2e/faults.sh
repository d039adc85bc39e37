#!/usr/bin/env bash
# Faults: a rank killed mid-run, SIGTERM (scancel/walltime), a file-size
# limit, two runs on one output directory, stale locks and temporaries.
# In every case the run fails, nothing is published, an earlier run's
# outputs stay intact and the next run cleans up after the dead one.
source "$(dirname "$0")/../lib/common.sh"

base=$TMP/base.yaml
regression_job "$base" keyed
out=$TMP/out
plrun 2 run "$base" --out "$out" >"$TMP/log" 2>&1 || { notok "baseline run"; cat "$TMP/log"; }
cp "$out/linked.h5" "$TMP/linked.orig"
# snap: remember the published linked.h5 before a fault (HDF5 object
# timestamps make reruns differ in a few bytes, so re-snap after reruns).
snap() { sum0=$(sha256sum "$out/linked.h5" | cut -d' ' -f1); listing0=$(ls "$out"); }
snap
intact() { check "$1: earlier linked.h5 intact" test "$(sha256sum "$out/linked.h5" | cut -d' ' -f1)" = "$sum0"; }
no_tmp() { check "$1: no temporary left" test -z "$(ls -A "$out" | grep '\.tmp-')"; }
no_lock() { check "$1: lock released" test ! -e "$out/.pseudolink.lock"; }

# --- A slow run: a bigger synthetic store read and written in tiny batches.
"$PL" synth --persons 60000 --sources 3 --seed 7 -o "$TMP/big.h5" >/dev/null 2>&1 || notok "synth big store"
sed -e "s#^store: .*#store: $TMP/big.h5#" -e "s#batch_rows: 500#batch_rows: 10#" \
    -e "s#identity: {p1: p1.*#identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}#" \
    -e "/drop: \[quantity\]/d" -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date]#" \
    "$base" >"$TMP/slow.yaml"

# start_slow: run the slow job on $out in the background (pid in $bg) and
# wait until its temporary exists (so the kill lands mid-write).
start_slow() {
  local job=${1:-$TMP/slow.yaml} what=${2:-'\.tmp-'}
  mpirun -np 2 "$PL" run "$job" --out "$out" >"$TMP/slow.log" 2>&1 &
  bg=$!
  for _ in $(seq 1 1200); do
    ls -A "$out" | grep -q "$what" && return 0
    kill -0 "$bg" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
ranks() { pgrep -P "$bg" -x pseudolink; }

# 1. SIGTERM to every rank (what scancel and the walltime do).
if start_slow; then
  kill -TERM $(ranks) 2>/dev/null
  wait "$bg"; rc=$?
  check "SIGTERM: run exits non-zero" test $rc -ne 0
  check "SIGTERM: says it stopped and published nothing" grep -q "stopped by signal 15.*nothing was published" "$TMP/slow.log"
  intact "SIGTERM"; no_tmp "SIGTERM"; no_lock "SIGTERM"
  check "SIGTERM: failure recorded in the audit log" grep -q '"outcome":"failure","error":"stopped by signal 15' "$out/audit.log"
else
  notok "SIGTERM: slow run did not reach its write stage"; cat "$TMP/slow.log"
fi

# 2. kill -9 of one rank mid-run.
if start_slow; then
  all=$(ranks); victim=$(echo "$all" | tail -n 1)
  kill -9 "$victim"
  wait "$bg"; rc=$?
  check "kill -9 of a rank: run exits non-zero" test $rc -ne 0
  # mpirun may return while the surviving rank is still being torn down.
  for _ in $(seq 1 300); do kill -0 $all 2>/dev/null || break; sleep 0.1; done
  gone=1; for p in $all; do kill -0 "$p" 2>/dev/null && gone=0; done
  check "kill -9: no orphan rank left" test $gone -eq 1
  intact "kill -9"
  check "kill -9: nothing new published" test "$(ls "$out")" = "$listing0"
  # The dead run left its temporary and (if rank 0 died too) its lock:
  # the next run must remove them and succeed.
  plrun 2 run "$base" --out "$out" >"$TMP/log" 2>&1; rc=$?
  [ $rc -eq 0 ] || cat "$TMP/log"
  check "after kill -9: next run succeeds" test $rc -eq 0
  grep -q "removed the temporary of an unfinished run" "$TMP/log"
  check "after kill -9: next run removed the stale temporary" test $? -eq 0
  no_tmp "after kill -9"; no_lock "after kill -9"
  h5diff -q "$TMP/linked.orig" "$out/linked.h5"
  check "after kill -9: rerun output has the same content (h5diff)" test $? -eq 0
else
  notok "kill -9: slow run did not reach its write stage"; cat "$TMP/slow.log"
fi

# 3. A stale lock (same host, dead pid) is recognised and removed.
sleep 0.1 & dead=$!; wait $dead
echo "$(hostname) $dead 1" >"$out/.pseudolink.lock"
plrun 2 run "$base" --out "$out" >"$TMP/log" 2>&1; rc=$?
check "stale lock: run succeeds" test $rc -eq 0
check "stale lock: warned about" grep -q "removing the stale lock of a dead run (host $(hostname), pid $dead)" "$TMP/log"
no_lock "stale lock"

snap
# 4. A live lock (another run in progress) makes the second run refuse.
sleep 30 & live=$!
echo "$(hostname) $live 1" >"$out/.pseudolink.lock"
plrun 2 run "$base" --out "$out" >"$TMP/log" 2>&1; rc=$?
check "live lock: second run refuses" test $rc -ne 0
check "live lock: names the holder" grep -q "another run is using the output directory .*pid $live" "$TMP/log"
check "live lock: lock of the other run left alone" test -e "$out/.pseudolink.lock"
intact "live lock"
kill "$live"; wait "$live" 2>/dev/null
rm -f "$out/.pseudolink.lock"

snap
# 5. Two real runs at once on the same directory: exactly one may run,
# the other refuses on the lock (or both succeed one after the other if
# the first finished before the second started; never a corrupt output).
# Even slower (batches of 2 rows), waiting only for its lock.
sed "s#batch_rows: 10#batch_rows: 2#" "$TMP/slow.yaml" >"$TMP/slower.yaml"
start_slow "$TMP/slower.yaml" '\.pseudolink\.lock' || { notok "concurrent: slow run did not start"; tail -n 5 "$TMP/slow.log"; }
plrun 2 run "$base" --out "$out" >"$TMP/log2" 2>&1; rc=$?
check "concurrent run refuses while another holds the directory" test $rc -ne 0
check "concurrent run: message names the lock" grep -q "pseudolink.lock: another run is using the output directory" "$TMP/log2"
kill -TERM $(ranks) 2>/dev/null; wait "$bg"
intact "concurrent"; no_tmp "concurrent"; no_lock "concurrent"

snap
# 6. File-size limit: SIGXFSZ is ignored, the write fails with EFBIG and a
# message naming the file; nothing published.
# The limit is set inside each rank only (mpirun's own PMIx files would hit
# it otherwise); 200 KiB is half of linked.h5.
mpirun -np 2 bash -c 'ulimit -f 200; exec "$0" "$@"' "$PL" run "$base" --out "$out" >"$TMP/log" 2>&1; rc=$?
[ $rc -eq 1 ] || cat "$TMP/log"
check "ulimit -f: run exits non-zero (not killed by SIGXFSZ)" test $rc -eq 1
check "ulimit -f: message names the temporary file" grep -Eq "\.linked\.h5\.tmp-[0-9a-f]+|closing a failed output file" "$TMP/log"
check "ulimit -f: nothing was published" grep -q "nothing was published" "$TMP/log"
intact "ulimit -f"
# If HDF5's close stalled, the watchdog ended the ranks and left the
# temporary and the lock: the next run must clean both.
plrun 2 run "$base" --out "$out" >"$TMP/log" 2>&1; rc=$?
[ $rc -eq 0 ] || { cat "$TMP/log"; ps -ef | grep "i6/pseudolink run" | grep -v grep; }
check "after ulimit -f: next run succeeds" test $rc -eq 0
no_tmp "after ulimit -f"; no_lock "after ulimit -f"
snap

# 7. Unwritable audit log: refused before any work, nothing published.
mkdir -p "$TMP/ro"; chmod 500 "$TMP/ro"
if [ "$(id -u)" -ne 0 ]; then
  plrun 2 run "$base" --out "$out" --audit "$TMP/ro/audit.log" >"$TMP/log" 2>&1; rc=$?
  check "unwritable audit log: run refuses" test $rc -ne 0
else
  # root ignores modes: use a directory as the log instead.
  plrun 2 run "$base" --out "$out" --audit "$TMP/ro" >"$TMP/log" 2>&1; rc=$?
  check "audit log is a directory: run refuses" test $rc -ne 0
fi
check "bad audit log: message names it" grep -q "$TMP/ro.*audit log" "$TMP/log"
intact "bad audit log"; no_lock "bad audit log"

# SIGTERM during the linkage's scoring (a long linkage at 10 M records
# takes a minute, more than the scheduler's grace period before SIGKILL):
# the run stops between blocking rules, in the link stage, not after the
# whole linkage; nothing published.
keys
"$PL" synth --linkage --persons 400000 --records 400000 --seed 5 -o "$TMP/lk.h5" >/dev/null 2>&1 || notok "synth linkage store"
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/lk.h5#" \
    "$ROOT/jobs/linkage_bench.yaml" >"$TMP/lk.yaml"
mpirun -np 2 "$PL" run "$TMP/lk.yaml" --out "$TMP/lkout" >"$TMP/lk.log" 2>&1 &
bg=$!
wait_log "$bg" "$TMP/lk.log" 'stage link \(sort, merge, persons\)' 1200 0.05
sleep 0.3                       # into the model fit or the first rules
kill -TERM $(ranks) 2>/dev/null
wait "$bg"; rc=$?
check "SIGTERM during the linkage: run exits non-zero" test $rc -ne 0
check "SIGTERM during the linkage: stops in the link stage (between blocking rules), publishes nothing" \
  grep -q "stopped by signal 15 (Terminated) in stage link (sort, merge, persons).*nothing was published" "$TMP/lk.log"
check "SIGTERM during the linkage: no linked.h5" test ! -e "$TMP/lkout/linked.h5"
