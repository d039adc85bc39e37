#!/usr/bin/env bash
# On a real single-host Slurm cluster (started here, stopped at the end):
# the planned script runs with sbatch under srun (PMIx) and under mpirun;
# scancel (SIGTERM) and the time-limit warning (SIGUSR1) stop a run without
# publishing anything; every profile's script passes `sbatch --test-only`.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/slurm.sh"
trap 'slurm_stop; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM   # so that the EXIT trap runs on a signal too

if ! slurm_start; then
  if [ -n "$SLURM_SKIP" ]; then missing "Slurm: $SLURM_SKIP"; exit 0; fi
  notok "single-host Slurm cluster starts: $SLURM_FAIL"; exit 1
fi
ok "single-host Slurm cluster starts (slurmctld, slurmd, private munged)"

keys
"$PL" synth --persons 100000 --sources 3 --seed 7 --producer-key "$TMP/keys/producer.key" \
  -o "$TMP/store.h5" >/dev/null || { notok "synth store"; exit 1; }
# job FILE OUT [BATCH_ROWS]: the laptop job on the synthetic store.
job() {
  sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/custodians/#$ROOT/inputs/custodians/#g" \
      -e "s#^store: .*#store: $TMP/store.h5#" \
      -e "s#^output: .*#output: $2#" "$ROOT/jobs/laptop.yaml" >"$1"
  [ -n "${3:-}" ] && printf 'options:\n  batch_rows: %s\n' "$3" >>"$1"
  return 0
}
mkdir -p "$TMP/work"; cd "$TMP/work"

# log_clean FILE: no terminal control characters (other than newline/tab).
log_clean() { ! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$1"; }

# ---- full runs, one per launcher -------------------------------------------
# One job file for both (its hash is recorded in the outputs); each run's
# output directory is moved aside afterwards.
job "$TMP/full.yaml" "$TMP/out"
for L in srun mpirun; do
  if ! "$PL" plan --profile local --launcher $L "$TMP/full.yaml" -o "$TMP/$L.sbatch" >/dev/null; then
    notok "$L: plan --profile local"; continue
  fi
  j=$(sbatch --parsable "$TMP/$L.sbatch") || { notok "$L: sbatch accepts the planned script"; continue; }
  slurm_wait "$j" 180
  log=$TMP/work/pseudolink-full-$j.out
  st=$(slurm_job_field "$j" JobState) ec=$(slurm_job_field "$j" ExitCode)
  [ -d "$TMP/out" ] && mv "$TMP/out" "$TMP/out-$L"
  if [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && [ -f "$TMP/out-$L/linked.h5" ]; then
    ok "$L: sbatch job $j COMPLETED and published linked.h5"
  else
    notok "$L: sbatch job $j: state $st, exit $ec"; cat "$log" 2>/dev/null | tail -n 20
    continue
  fi
  # ~355 000 rows: 7 ranks' worth at 50 000 per rank, capped by the cores.
  n=$(nproc); [ "$n" -gt 7 ] && n=7
  check "$L: plan sized $n ranks on this node" grep -q "^#SBATCH --ntasks-per-node=$n\$" "$TMP/$L.sbatch"
  grep -q "launcher $L" "$log" && grep -q '^persons [0-9]*, in 2+ sources' "$log" &&
    grep -q "^published: $TMP/out/linked.h5" "$log"
  check "$L: summary and published path are in the job's log ($(basename "$log"))" test $? -eq 0
  check "$L: the log holds no terminal control characters" log_clean "$log"
  # docs/CLI.md: the run's timestamped header first, its stages, its end.
  TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'
  grep -Eq "^$TS pseudolink .* run started: job " "$log" && grep -Eq "^$TS stage ingest: [0-9]+ rows" "$log" &&
    grep -Eq "^$TS finished after [0-9.]+ s: exit status 0, success" "$log"
  check "$L: the job's log shows the run's header, stages and last line" test $? -eq 0
  tests_ok=$("$ROOT/tests/bin/check_linked" "$TMP/store.h5" "$TMP/out-$L/linked.h5" | grep -c '^not ok')
  check "$L: outputs match the store's ground truth (check_linked)" test "$tests_ok" -eq 0
done
if [ -f "$TMP/out-srun/linked.h5" ] && [ -f "$TMP/out-mpirun/linked.h5" ]; then
  check "keyed outputs identical under srun and mpirun" \
    h5diff -q "$TMP/out-srun/linked.h5" "$TMP/out-mpirun/linked.h5"
fi

# ---- a job on transfer packages: plan passes the transport key to run ------
# (docs/SLURM.md) cnam's package made here, the platform job planned with
# --transport-key and run by sbatch: without the key in the script the run
# on the compute node would fail (exit 1).
K=$TMP/tk; mkdir -p "$K"
cp "$ROOT"/inputs/transfer/*.pem "$ROOT"/inputs/transfer/*.pass "$K/"; chmod 600 "$K"/*.key.pem "$K"/*.pass
pfix() { sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/transfer/#$K/#g" \
             -e "s#inputs/custodians/#$ROOT/inputs/custodians/#g" -e "s#inputs/\([a-z]*\).h5#$ROOT/inputs/\1.h5#g" \
             -e "s#out/producer/#$TMP/prod/#g" -e "s#^output: out/#output: $TMP/#" "$@"; }
pfix "$ROOT/jobs/producer_cnam.yaml" >"$TMP/prod.yaml"
pfix "$ROOT/jobs/platform.yaml" | sed -e '/^  atih: /d' -e 's#/atih/atih_delivery.pkg.h5#/cnam/cnam_delivery.pkg.h5#' \
  -e 's#keep: \[stay_date, diagnosis, los, unit\]#keep: [stay_date, diagnosis, los]#' -e '/^opposition:/,$d' >"$TMP/plat.yaml"
"$PL" produce "$TMP/prod.yaml" --signing-key "$K/cnam_signing.key.pem" \
  --signing-passphrase-file "$K/cnam_signing.pass" >"$TMP/prod.log" 2>&1 || { notok "produce cnam's package"; tail -5 "$TMP/prod.log"; }
"$PL" plan --profile local --launcher srun "$TMP/plat.yaml" -o "$TMP/pkg.sbatch" >"$TMP/pkgplan0.log" 2>&1
check "package job: plan without --transport-key refused, naming the job and the option" \
  eval '[ ! -e "$TMP/pkg.sbatch" ] && grep -q "plat.yaml reads transfer packages.*--transport-key PEM" "$TMP/pkgplan0.log"'
if "$PL" plan --profile local --launcher srun --tasks-per-node 2 "$TMP/plat.yaml" -o "$TMP/pkg.sbatch" \
     --transport-key "$K/hdh_transport.key.pem" --transport-passphrase-file "$K/hdh_transport.pass" >/dev/null &&
   j=$(sbatch --parsable "$TMP/pkg.sbatch"); then
  slurm_wait "$j" 180
  st=$(slurm_job_field "$j" JobState) ec=$(slurm_job_field "$j" ExitCode)
  log=$TMP/work/pseudolink-plat-$j.out
  if [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && [ -f "$TMP/platform/linked.h5" ] &&
     grep -q "^published: $TMP/platform/linked.h5" "$log"; then
    ok "package job: sbatch job $j decrypted the package with the planned key and published"
  else notok "package job: sbatch job $j: state $st, exit $ec"; tail -n 20 "$log" 2>/dev/null; fi
  check "package job: the script holds the key's path, never a key byte" \
    eval 'grep -q "^RUN_ARGS=(--transport-key .$K/hdh_transport.key.pem. --transport-passphrase-file" "$TMP/pkg.sbatch" && ! grep -q "PRIVATE KEY" "$TMP/pkg.sbatch"'
else notok "package job: plan --transport-key and sbatch"; fi

# ---- stopping mid-run -------------------------------------------------------
# batch_rows 10: thousands of batches, so the run lasts long enough to be
# interrupted; the ranks check the stop flag between batches.
# ranks_ready JOBFILE N: N pseudolink processes running JOBFILE have a
# SIGUSR1 handler (bit 10 of SigCgt in /proc/PID/status).
ranks_ready() {
  local i p n
  for i in $(seq 240); do
    n=0
    for p in $(pgrep -f "pseudolink run $1"); do
      [ "$(cat /proc/$p/comm 2>/dev/null)" = pseudolink ] || continue
      local cgt
      cgt=$(sed -n 's/^SigCgt:\s*//p' /proc/$p/status 2>/dev/null)
      [ -n "$cgt" ] && (( 0x$cgt & 0x200 )) && n=$((n + 1))
    done
    [ "$n" -ge "$2" ] && return 0
    sleep 0.25
  done
  return 1
}
stop_case() {
  local L=$1 sig=$2 out=$TMP/stop-$1-$2 j log st ec
  job "$TMP/stop.yaml" "$out" 10
  "$PL" plan --profile local --launcher "$L" --tasks-per-node 2 "$TMP/stop.yaml" \
    -o "$TMP/stop.sbatch" >/dev/null || { notok "$L/$sig: plan"; return; }
  j=$(sbatch --parsable "$TMP/stop.sbatch") || { notok "$L/$sig: sbatch"; return; }
  log=$TMP/work/pseudolink-stop-$j.out
  if ! slurm_wait_running "$j"; then notok "$L/$sig: job $j never ran"; return; fi
  # Signal only once both ranks catch SIGUSR1 (they install their handlers
  # after MPI_Init; before that a signal would just kill them), then 1 s.
  if ! ranks_ready "$TMP/stop.yaml" 2; then
    notok "$L/$sig: the ranks of job $j never started"; scancel "$j"; slurm_wait "$j" 30; return
  fi
  sleep 1
  if [ "$sig" = TERM ]; then scancel "$j"; else scancel --batch --signal=USR1 "$j"; fi
  slurm_wait "$j" 90
  st=$(slurm_job_field "$j" JobState) ec=$(slurm_job_field "$j" ExitCode)
  local name="$L, SIG$sig ($([ $sig = TERM ] && echo scancel || echo 'scancel --batch --signal=USR1'))"
  if [ -e "$out/linked.h5" ]; then
    notok "$name: nothing published (linked.h5 exists: the run ended before the signal?)"
    tail -n 5 "$log"; return
  fi
  ok "$name: nothing published"
  # The failed run's audit line is expected; nothing else.
  left=$(find "$out" -type f ! -name audit.log 2>/dev/null | wc -l)
  check "$name: no temporary output left behind" test "$left" -eq 0
  grep -q "pseudolink.sbatch: received SIG$sig" "$log" &&
    grep -q "pseudolink.sbatch: stopped by SIG$sig: no output was published" "$log"
  check "$name: the job log says it stopped and published nothing" test $? -eq 0
  if [ "$sig" = USR1 ] || [ "$L" = srun ]; then
    # The ranks' own line (with mpirun under SIGTERM, mpirun stops relaying
    # the ranks' output: the script's line above stands for it).
    grep -q "pseudolink: error: stopped by signal [0-9]* (.*) in stage [a-z]" "$log"
    check "$name: the ranks report the stop themselves, with the stage" test $? -eq 0
  fi
  if [ "$sig" = TERM ]; then
    check "$name: job state CANCELLED (got $st)" test "$st" = CANCELLED
  else
    check "$name: job FAILED with a non-zero exit (got $st, $ec)" \
      test "$st" = FAILED -a "$ec" != 0:0
  fi
}
for L in srun mpirun; do
  for sig in TERM USR1; do stop_case $L $sig; done
done

# ---- every profile's script is accepted by sbatch --test-only ---------------
job "$TMP/t.yaml" "$TMP/out-t"
profiles=$(sed -n 's/^  \([a-z0-9-]*\):$/\1/p' "$ROOT/slurm/profiles.yaml")
for p in $profiles; do
  # Map the machine to this cluster: its partition, no QoS or account, and
  # what one node here can hold.
  "$PL" plan --profile "$p" --partition debug --qos none --account none \
    --tasks-per-node "$(nproc)" "$TMP/t.yaml" -o "$TMP/t-$p.sbatch" >/dev/null &&
  sed -i -e 's/^#SBATCH --mem=.*/#SBATCH --mem=1G/' -e 's/^#SBATCH --mem-per-cpu=.*/#SBATCH --mem=1G/' "$TMP/t-$p.sbatch" &&
  sbatch --test-only "$TMP/t-$p.sbatch" >"$TMP/t-$p.log" 2>&1
  check "profile $p: planned script accepted by sbatch --test-only" test $? -eq 0
done
