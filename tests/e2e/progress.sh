#!/usr/bin/env bash
# A run you can watch (issue 16; docs/CLI.md): rank 0's header, stage and
# progress lines arrive through a pipe while the run is still going, each
# with a UTC timestamp; errors carry the same prefix; a stopped run says
# which stage it was in and how far it got; the last line says what the
# exit status means; `mpirun -q` drops Open MPI's banner on exit 3.
source "$(dirname "$0")/../lib/common.sh"
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
now() { date +%s.%N; }

base=$TMP/base.yaml
regression_job "$base" keyed
# A slow run (as in faults.sh): a synthetic store in tiny batches, ~1 s on an idle machine.
"$PL" synth --persons 2500 --sources 3 --seed 7 -o "$TMP/big.h5" >/dev/null 2>&1 || notok "synth big store"
sed -e "s#^store: .*#store: $TMP/big.h5#" -e "s#batch_rows: 500#batch_rows: 2#" \
    -e "s#identity: {p1: p1[,}].*#identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}#" \
    -e "/drop: \[quantity\]/d" -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date]#" \
    "$base" >"$TMP/slow.yaml"

# --- 1. Progress lines through a pipe, before the run ends ----------------
# watch OUT ARGS...: run the slow job with stdout into a FIFO read line by
# line here; notes when the first progress line is read and whether mpirun
# was still running then, and when mpirun ended.
watch() {
  local out=$1; shift
  rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
  "${launch[@]}" "$PL" run "$TMP/slow.yaml" --out "$out" "$@" >"$TMP/fifo" 2>"$TMP/err.log" &
  local bg=$!
  first_t="" alive=no early=no
  : >"$TMP/out.log"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$TMP/out.log"
    if [ -z "$first_t" ] && [[ $line =~ ^$TS\ progress\  ]]; then
      first_t=$(now)
      kill -0 "$bg" 2>/dev/null && alive=yes
      [ ! -e "$out/linked.h5" ] && early=yes
    fi
  done <"$TMP/fifo"
  wait "$bg"; rc=$?
  end_t=$(now)
}
# One rank without mpirun first: its stdout is then the FIFO itself (under
# mpirun on one host it is a pty, line-buffered whatever the program does;
# under srun a pipe): only the program's own flushing makes lines arrive.
launch=()
watch "$TMP/o1s" --progress 0.1
check "progress, one rank without mpirun: the run succeeds (rc=$rc)" test "$rc" -eq 0
check "progress, one rank without mpirun: a progress line read while it ran, before linked.h5 was published" \
  test "$alive" = yes -a "$early" = yes
launch=(mpirun -np 2)
watch "$TMP/o1" --progress 0.1
check "progress: the run succeeds (rc=$rc)" test "$rc" -eq 0
check "progress: a progress line was read while mpirun was still running" test "$alive" = yes
check "progress: ... and before linked.h5 was published" test "$early" = yes
gap=$(awk -v a="${first_t:-0}" -v b="$end_t" 'BEGIN { printf "%.2f", b - a }')
ok "progress: (the first progress line came ${gap} s before the end)"
check "progress: a line has time, stage, rows done of total, percentage, rate, ETA" \
  grep -Eq "^$TS progress (check|ingest): [0-9]+ of [0-9]+ rows \([0-9]+\.[0-9] %\), [0-9]+ rows/s, ETA [0-9]+ (s|min [0-9]{2} s)$" "$TMP/out.log"
check "progress: the header comes first (version, job, ranks)" \
  grep -Eq "^$TS pseudolink [^ ]+ \([^)]+\) run started: job $TMP/slow.yaml, .*2 ranks" <(head -n 1 "$TMP/out.log")
for st in prepare check ingest link "write linked.h5" correspondence publish; do
  check "progress: a line when stage '$st' starts" grep -Eq "^$TS stage $st" "$TMP/out.log"
done
check "progress: the stages in order" test "$(grep -Eo "^$TS stage [a-z]+" "$TMP/out.log" | awk '{print $3}' | uniq | tr '\n' ' ')" = \
  "prepare check ingest link write correspondence publish "
check "progress: the last line says the exit status and what it means" \
  grep -Eq "^$TS finished after [0-9.]+ s: exit status 0, success$" <(tail -n 1 "$TMP/out.log")
check "progress: the summary is still there" grep -q "^published: $TMP/o1/linked.h5" "$TMP/out.log"
check "progress: nothing on stderr" test ! -s "$TMP/err.log"

mpirun -np 2 "$PL" run "$base" --out "$TMP/o0" --progress 0 >"$TMP/p0.log" 2>&1
check "--progress 0: no progress line, the stage lines stay" \
  test "$(grep -Ec "^$TS progress " "$TMP/p0.log")" -eq 0 -a "$(grep -Ec "^$TS stage " "$TMP/p0.log")" -ge 5
mpirun -np 1 "$PL" run "$TMP/slow.yaml" --progress soon >"$TMP/pbad.log" 2>&1; rc=$?
check "--progress soon: usage error (exit 2), names the option" \
  test "$rc" -eq 2 -a -n "$(grep -- "--progress expects seconds" "$TMP/pbad.log")"

# --- 2. Errors carry the same timestamp -------------------------------------
mpirun -np 2 "$PL" run "$base" --store "$TMP/none.h5" --out "$TMP/o2" >"$TMP/e.log" 2>"$TMP/e.err"; rc=$?
check "error: exit 1" test "$rc" -eq 1
check "error: the message starts with the UTC time" grep -Eq "^$TS pseudolink: error: .*none\.h5" "$TMP/e.err"
check "error: the last stdout line says exit status 1 and that nothing was published" \
  grep -Eq "^$TS finished after [0-9.]+ s: exit status 1, error: .*a run published nothing$" "$TMP/e.log"

# --- 3. A stopped run says where it was -------------------------------------
# SIGUSR1 to mpirun (what Slurm's --signal=B:USR1@T does through the batch
# script), once the ingest stage has shown progress.
mpirun -np 2 "$PL" run "$TMP/slow.yaml" --out "$TMP/o3" --progress 0.1 >"$TMP/s.log" 2>"$TMP/s.err" &
bg=$!
wait_log "$bg" "$TMP/s.log" "^$TS progress ingest: " 300 0.05
kill -USR1 "$bg" 2>/dev/null
wait "$bg"; rc=$?
check "stopped: exit 1" test "$rc" -eq 1
check "stopped: names the signal, the stage, rows done of total, time; nothing published" \
  grep -Eq "^$TS pseudolink: error: stopped by signal 10 \(User defined signal 1\) in stage ingest, [0-9]+ of [0-9]+ rows done \([0-9.]+ %\), [0-9]+ s into it, [0-9]+ s after the start: nothing was published$" "$TMP/s.err"
check "stopped: no linked.h5 published" test ! -e "$TMP/o3/linked.h5"
check "stopped: the audit line carries the same report" \
  grep -q '"outcome":"failure","error":"stopped by signal 10 (User defined signal 1) in stage ingest, ' "$TMP/o3/audit.log"

# A stop during publish (after the last check) cannot stop it: the run is
# published and completes (exit 0), and says the signal came too late.
# The signal may land after the run's last look at it, before its summary
# reaches the log through mpirun (then no warning is due, and the log
# cannot tell): up to three tries for one that lands inside publish.
warned=0 tries=0 pubok=1
while [ "$tries" -lt 3 ] && [ "$warned" -eq 0 ]; do
  tries=$((tries + 1))
  rm -rf "$TMP/o7"
  mpirun -q -np 2 "$PL" run "$TMP/slow.yaml" --out "$TMP/o7" --progress 0 >"$TMP/l.log" 2>"$TMP/l.err" &
  bg=$!
  wait_log "$bg" "$TMP/l.log" "^$TS stage publish" 600 0.01
  kill -USR1 "$bg" 2>/dev/null
  wait "$bg"; rc=$?
  [ "$rc" -eq 0 ] && [ -e "$TMP/o7/linked.h5" ] || pubok=0
  grep -Eq "^$TS pseudolink: .*warning: signal 10 \(User defined signal 1\) came during publish, after the last point a run can stop" "$TMP/l.err" &&
    warned=1
done
check "stop during publish: published, exit 0, every try ($tries)" test "$pubok" -eq 1
check "stop during publish: a warning says the signal came after the last point a run can stop ($tries tries)" \
  test "$warned" -eq 1

# The signal reaching one rank only (a kill of that rank's pid): the
# report and the audit line still name it (the ranks agree on it).
mpirun -q -np 2 "$PL" run "$TMP/slow.yaml" --out "$TMP/o8" --progress 0.1 >"$TMP/r.log" 2>"$TMP/r.err" &
bg=$!
wait_log "$bg" "$TMP/r.log" "^$TS progress (check|ingest): " 300 0.05
sent=no
for p in $(pgrep -P "$bg"); do
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
    kill -USR1 "$p" && sent=yes
  fi
done
wait "$bg"; rc=$?
check "signal to rank 1 only: sent, exit 1 (rc=$rc)" test "$sent" = yes -a "$rc" -eq 1
check "signal to rank 1 only: rank 0's report names the signal and the stage" \
  grep -Eq "^$TS pseudolink: error: stopped by signal 10 \(User defined signal 1\) in stage (check|ingest), " "$TMP/r.err"
check "signal to rank 1 only: so does the audit line" \
  grep -q '"outcome":"failure","error":"stopped by signal 10 (User defined signal 1) in stage ' "$TMP/o8/audit.log"

# --- 3b. A closed stdout (`| head -1`) -------------------------------------
# One rank without mpirun: the reader goes away after the first line; the
# run must not die from SIGPIPE (no audit line, its temporary directory
# left): it goes on, publishes the whole set and records it.
"$PL" run "$TMP/slow.yaml" --out "$TMP/o5" --progress 0.1 2>"$TMP/h.err" | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
check "closed stdout, one rank: the run completes (rc=$rc, not 141 = SIGPIPE)" test "$rc" -eq 0
check "closed stdout, one rank: published" test -e "$TMP/o5/linked.h5" -a -e "$TMP/o5/correspondence.h5"
check "closed stdout, one rank: the audit log records the run" grep -q '"outcome":"success"' "$TMP/o5/audit.log"
check "closed stdout, one rank: no temporary directory left" test -d "$TMP/o5" -a -z "$(ls -A "$TMP/o5" 2>/dev/null | grep tmp)"
# Under mpirun it is mpirun's own stdout that closes: Open MPI 4.1.4 then
# aborts the job ("SIGPIPE detected on fd 13 - aborting"), the ranks get
# SIGTERM and the run stops as by scancel: nothing published, recorded.
mpirun -q -np 2 "$PL" run "$TMP/slow.yaml" --out "$TMP/o6" --progress 0.1 2>"$TMP/h2.err" | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
# The abort can come before or after the run's publish (a race with
# mpirun's own SIGPIPE): either way the set is whole or absent, and the
# audit log says which.
if [ -e "$TMP/o6/linked.h5" ]; then
  check "closed stdout under mpirun (the abort came after publish, rc=$rc): the whole set verifies" \
    "$PL" verify --audit "$TMP/o6/audit.log" "$TMP/o6"
  check "closed stdout under mpirun: the audit log records the success" \
    grep -q '"outcome":"success"' "$TMP/o6/audit.log"
else
  check "closed stdout under mpirun: status 1, nothing published (rc=$rc)" \
    test "$rc" -eq 1 -a -z "$(ls -A "$TMP/o6" 2>/dev/null | grep -v -e audit.log -e '^\.pseudolink')"
  check "closed stdout under mpirun: the audit log records the failure" \
    grep -q '"outcome":"failure"' "$TMP/o6/audit.log"
fi

# --- 4. Exit 3 without mpirun's banner ----------------------------------------
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
    "$ROOT/jobs/extracts.yaml" >"$TMP/x.yaml"
mpirun -q -np 2 "$PL" run "$TMP/x.yaml" --out "$TMP/x" >"$TMP/x.log" 2>&1; rc=$?
check "exit 3 (extract refused) under mpirun -q: status 3" test "$rc" -eq 3
check "exit 3 under mpirun -q: no 'non-zero exit code' banner" test -z "$(grep -i "non-zero" "$TMP/x.log")"
check "exit 3: the last line says what the status means" \
  grep -Eq "^$TS finished after [0-9.]+ s: exit status 3, run: published, but an extract was refused" <(tail -n 1 "$TMP/x.log")
mpirun -np 2 "$PL" run "$TMP/x.yaml" --out "$TMP/x2" >"$TMP/x2.log" 2>&1; rc=$?
check "exit 3 without -q: same status, Open MPI prints its banner (docs/CLI.md says why)" \
  test "$rc" -eq 3 -a -n "$(grep "non-zero exit code" "$TMP/x2.log")"
