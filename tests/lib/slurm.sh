# A single-host Slurm cluster for the tests (sourced after common.sh).
#
# slurm_start: installs the Debian packages if missing, then starts a
# private munged (as the munge user, own key and socket under DIR), a
# slurmctld and a slurmd (as root, state, spool and logs under DIR, ports
# chosen at random) and exports SLURM_CONF. Returns non-zero with
# SLURM_SKIP set to the reason when Slurm cannot be installed, and with
# SLURM_FAIL set when it is installed but does not start. DIR is a fresh
# /tmp/pseudolink-slurm.XXXXXX.
# slurm_stop: stops the daemons it started, by their pid, and removes DIR.
SLURM_PKGS="slurmctld slurmd slurm-client munge"
SLURM_DIR=
SLURM_PIDS=()

slurm_start() {
  SLURM_SKIP= SLURM_FAIL=
  local deplog
  deplog=$(mktemp /tmp/pseudolink-slurm-deps.XXXXXX)
  if ! bash "$ROOT/tests/lib/deps.sh" $SLURM_PKGS >"$deplog" 2>&1; then
    SLURM_SKIP="cannot install $SLURM_PKGS: $(tail -n 1 "$deplog")"
    rm -f "$deplog"; return 1
  fi
  rm -f "$deplog"
  # Its own directory, traversable: munged runs as the munge user.
  SLURM_DIR=$(mktemp -d /tmp/pseudolink-slurm.XXXXXX)
  chmod 755 "$SLURM_DIR"
  local d=$SLURM_DIR host mem port
  host=$(hostname -s)
  mkdir -p "$d"/{munge,mrun,state,spool,log}
  chown munge: "$d/munge" "$d/mrun"; chmod 700 "$d/munge"; chmod 755 "$d/mrun"
  su -s /bin/sh munge -c "mungekey -c -k '$d/munge/munge.key'" >/dev/null 2>&1 ||
    { SLURM_FAIL="mungekey failed"; return 1; }
  su -s /bin/sh munge -c "/usr/sbin/munged --socket='$d/mrun/munge.sock' \
      --key-file='$d/munge/munge.key' --pid-file='$d/mrun/munged.pid' \
      --log-file='$d/munge/munged.log' --seed-file='$d/munge/munge.seed'" ||
    { SLURM_FAIL="munged did not start: $(tail -n 2 "$d/munge/munged.log" 2>/dev/null)"; return 1; }
  SLURM_PIDS+=("$(cat "$d/mrun/munged.pid")")
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  cat >"$d/slurm.conf" <<EOF
ClusterName=pltest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/mrun/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=15
MinJobAge=600
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -f "$SLURM_CONF" || { SLURM_FAIL="slurmctld did not start"; return 1; }
  slurm_wait_pid "$d/slurmctld.pid"
  slurmd -f "$SLURM_CONF" || { SLURM_FAIL="slurmd did not start"; return 1; }
  slurm_wait_pid "$d/slurmd.pid"
  local i
  for i in $(seq 60); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && return 0
    sleep 0.5
  done
  SLURM_FAIL="the node did not become idle: $(sinfo 2>&1 | tail -n 1); $(tail -n 3 "$d"/log/*.log)"
  return 1
}

slurm_wait_pid() {
  local i
  for i in $(seq 40); do
    if [ -s "$1" ]; then SLURM_PIDS+=("$(cat "$1")"); return 0; fi
    sleep 0.25
  done
}

slurm_stop() {
  local p i
  # Jobs first, so no step outlives the daemons.
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --full --quiet --user=root 2>/dev/null
    for _ in $(seq 120); do
      [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.25
    done
  fi
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do
    p=${SLURM_PIDS[i]}
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  done
  SLURM_PIDS=()
  # Anything a job of this cluster started and left behind (its environment
  # names our slurm.conf) dies with the cluster: no state left behind.
  if [ -n "${SLURM_CONF:-}" ]; then
    local env
    for e in /proc/[0-9]*/environ; do
      env=$(tr '\0' '\n' <"$e" 2>/dev/null) || continue
      grep -qx "SLURM_CONF=$SLURM_CONF" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env" &&
        p=${e#/proc/} && kill -9 "${p%/environ}" 2>/dev/null
    done
  fi
  [ -n "$SLURM_DIR" ] && rm -rf "$SLURM_DIR"
}

# slurm_wait JOBID [SECONDS]: until the job has left the queue.
slurm_wait() {
  local i
  for i in $(seq $((${2:-120} * 2))); do
    squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
    sleep 0.5
  done
  return 1
}

# slurm_wait_running JOBID: until the job runs (0) or has left the queue (1).
slurm_wait_running() {
  local i st
  for i in $(seq 120); do
    st=$(squeue -h -j "$1" -o %T 2>/dev/null)
    [ "$st" = RUNNING ] && return 0
    [ -z "$st" ] && return 1
    sleep 0.5
  done
  return 1
}

# slurm_job_field JOBID FIELD: e.g. JobState, ExitCode (from scontrol).
slurm_job_field() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
