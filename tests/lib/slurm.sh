# A Slurm cluster for the tests (sourced after common.sh).
#
# slurm_start: installs the Debian packages if missing, then starts a
# private munged (as the munge user, own key and socket under DIR), a
# slurmctld and a slurmd (as root, state, spool and logs under DIR, ports
# chosen at random) on this host, and exports SLURM_CONF.
# slurm_start_nodes NODE...: the same across simulated nodes
# (tests/lib/nodes.sh, after nodes_up): slurmctld on the first node, one
# slurmd per node (NodeAddr = the node's address, its own spool directory
# and its own PMIx temporary directory). Client commands must then run on
# a node: slurm_cmd sbatch ... (works for both kinds of cluster).
# Both return non-zero with SLURM_SKIP set to the reason when Slurm cannot
# be installed (the installation's output is printed, for the test's log),
# and with SLURM_FAIL set, naming what is missing, when a precondition
# fails or a daemon does not start. DIR is a fresh /tmp/pseudolink-slurm.XXXXXX.
# slurm_stop: stops the daemons it started, by their pid, and removes DIR.
# slurm_sweep: what a harness killed by SIGKILL left: the processes of its
# DIR (munged in the host's namespace, host-mode slurmctld/slurmd, jobs) and
# DIR itself, for each DIR whose .owner pid is dead; slurm_start* run it.
SLURM_PKGS="slurmctld slurmd slurm-client munge"
SLURM_DIR=
SLURM_PIDS=()
SLURM_NODES=()

# slurm_install: the packages; their installation's output goes to the
# test's log when it fails.
slurm_install() {
  local log
  log=$(mktemp /tmp/pseudolink-slurm-deps.XXXXXX)
  if ! bash "$ROOT/tests/lib/deps.sh" $SLURM_PKGS >"$log" 2>&1; then
    echo "# installing $SLURM_PKGS failed; its output:"
    sed 's/^/#   /' "$log"
    SLURM_SKIP="cannot install $SLURM_PKGS: $(tail -n 1 "$log")"
    rm -f "$log"; return 1
  fi
  rm -f "$log"
}

# slurm_preconditions: what the daemons need from the machine, each named.
slurm_preconditions() {
  if [ ! -d /sys/fs/cgroup ] || [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ]; then
    SLURM_FAIL="precondition: /sys/fs/cgroup is not mounted (slurmd reads the cgroup file system at start: mount -t cgroup2 none /sys/fs/cgroup)"
    return 1
  fi
  # The configuration uses addresses, not names; a host name that does not
  # resolve (or whose lookup hangs on an unreachable DNS server) is only
  # reported, so that a slow start can be traced to it.
  local t0=$SECONDS h
  h=$(hostname)
  timeout 5 getent hosts "$h" >/dev/null 2>&1 ||
    echo "# note: host name $h does not resolve ($((SECONDS - t0)) s; not in /etc/hosts?): Slurm here uses 127.0.0.1 / node addresses and does not need it"
  if ! id munge >/dev/null 2>&1; then
    SLURM_FAIL="precondition: no munge user (package munge not installed properly)"; return 1
  fi
}

# slurm_munged: a private munged under $SLURM_DIR.
slurm_munged() {
  local d=$SLURM_DIR
  mkdir -p "$d"/{munge,mrun,state,log}
  chown munge: "$d/munge" "$d/mrun"; chmod 700 "$d/munge"; chmod 755 "$d/mrun"
  su -s /bin/sh munge -c "mungekey -c -k '$d/munge/munge.key'" >/dev/null 2>&1 ||
    { SLURM_FAIL="mungekey failed"; return 1; }
  su -s /bin/sh munge -c "/usr/sbin/munged --socket='$d/mrun/munge.sock' \
      --key-file='$d/munge/munge.key' --pid-file='$d/mrun/munged.pid' \
      --log-file='$d/munge/munged.log' --seed-file='$d/munge/munge.seed'" ||
    { SLURM_FAIL="munged did not start: $(tail -n 2 "$d/munge/munged.log" 2>/dev/null)"; return 1; }
  SLURM_PIDS+=("$(cat "$d/mrun/munged.pid")")
}

# slurm_conf_common PORT: the settings both kinds of cluster share.
slurm_conf_common() {
  local d=$SLURM_DIR port=$1
  cat <<EOF
ClusterName=pltest
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/mrun/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool-%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
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
EOF
}

# slurm_owner_dead PID: as nodes_owner_dead (a live bash counts as alive).
slurm_owner_dead() {
  [ -n "$1" ] && [ "$1" != $$ ] || return 1
  [ -d "/proc/$1" ] || return 0
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = bash ] || return 0
  return 1
}

slurm_sweep() {
  local d o e p hit
  for d in /tmp/pseudolink-slurm.*; do
    [ -d "$d" ] && [ -f "$d/.owner" ] || continue
    o=$(cat "$d/.owner" 2>/dev/null)
    slurm_owner_dead "$o" || continue
    echo "# slurm_sweep: removing $d of dead harness $o and its processes"
    # A daemon names DIR on its command line (munged --socket=DIR/...,
    # slurmd -f DIR/...), a job step in its environment (SLURM_CONF).
    for e in /proc/[0-9]*; do
      p=${e#/proc/}
      hit=$(tr '\0' '\n' 2>/dev/null <"$e/cmdline"; tr '\0' '\n' 2>/dev/null <"$e/environ" | grep '^SLURM_CONF=')
      grep -qF "$d/" <<<"$hit" && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$d"
  done
  return 0
}

slurm_start() {
  SLURM_SKIP= SLURM_FAIL=
  slurm_install || return 1
  slurm_preconditions || return 1
  slurm_sweep
  # Its own directory, traversable: munged runs as the munge user.
  SLURM_DIR=$(mktemp -d /tmp/pseudolink-slurm.XXXXXX)
  chmod 755 "$SLURM_DIR"
  echo $$ >"$SLURM_DIR/.owner"
  local d=$SLURM_DIR host mem port
  host=$(hostname -s)
  slurm_munged || return 1
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  # Explicit addresses: neither the daemons nor the commands look the host
  # name up (a fresh image may not list it in /etc/hosts, and a lookup that
  # goes to an unreachable DNS server blocks every command).
  {
    echo "SlurmctldHost=$host(127.0.0.1)"
    slurm_conf_common "$port"
    echo "NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP"
  } >"$d/slurm.conf"
  export SLURM_CONF=$d/slurm.conf
  slurmctld -f "$SLURM_CONF" ||
    { SLURM_FAIL="slurmctld did not start: $(tail -n 3 "$d/log/slurmctld.log" 2>/dev/null)"; return 1; }
  slurm_wait_pid "$d/slurmctld.pid" || return 1
  slurmd -N "$host" -f "$SLURM_CONF" ||
    { SLURM_FAIL="slurmd did not start: $(tail -n 3 "$d/log/slurmd-$host.log" 2>/dev/null)"; return 1; }
  slurm_wait_pid "$d/slurmd-$host.pid" || return 1
  slurm_wait_idle 1
}

slurm_start_nodes() {
  SLURM_SKIP= SLURM_FAIL=
  slurm_install || return 1
  slurm_preconditions || return 1
  slurm_sweep
  SLURM_DIR=$(mktemp -d /tmp/pseudolink-slurm.XXXXXX)
  chmod 755 "$SLURM_DIR"
  echo $$ >"$SLURM_DIR/.owner"
  local d=$SLURM_DIR mem port n
  slurm_munged || return 1
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  SLURM_NODES=("$@")
  {
    echo "SlurmctldHost=$1($(node_addr "$1"))"
    slurm_conf_common "$port"
    for n in "$@"; do
      echo "NodeName=$n NodeAddr=$(node_addr "$n") NodeHostname=$n CPUs=$(nproc) RealMemory=$mem State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$(echo "$@" | tr ' ' ',') Default=YES MaxTime=INFINITE State=UP"
  } >"$d/slurm.conf"
  # One configuration directory per node: the same slurm.conf, and an
  # mpi.conf naming the node's own PMIx temporary directory (the nodes
  # share /tmp, and two nodes' PMIx servers in one directory clash).
  for n in "$@"; do
    mkdir -p "$d/etc-$n" "$d/pmix-$n"
    cp "$d/slurm.conf" "$d/etc-$n/slurm.conf"
    echo "PMIxCliTmpDirBase=$d/pmix-$n" >"$d/etc-$n/mpi.conf"
  done
  export SLURM_CONF=$d/etc-$1/slurm.conf
  node_exec "$1" slurmctld -f "$SLURM_CONF" ||
    { SLURM_FAIL="slurmctld did not start on $1: $(tail -n 3 "$d/log/slurmctld.log" 2>/dev/null)"; return 1; }
  slurm_wait_pid "$d/slurmctld.pid" || return 1
  # node_exec enters the network namespace with nsenter, not `ip netns
  # exec`: that one remounts /sys and slurmd then misreads the cgroups.
  for n in "$@"; do
    node_exec "$n" slurmd -N "$n" -f "$d/etc-$n/slurm.conf" ||
      { SLURM_FAIL="slurmd did not start on $n: $(tail -n 3 "$d/log/slurmd-$n.log" 2>/dev/null)"; return 1; }
    slurm_wait_pid "$d/slurmd-$n.pid" || return 1
  done
  slurm_wait_idle $#
}

# slurm_cmd CMD...: a Slurm client command, on the first node when the
# cluster is made of simulated nodes (the host cannot reach them).
slurm_cmd() {
  if [ ${#SLURM_NODES[@]} -gt 0 ]; then
    node_exec "${SLURM_NODES[0]}" env SLURM_CONF="$SLURM_CONF" "$@"
  else
    "$@"
  fi
}

# slurm_wait_idle N: until N nodes are idle (30 s); SLURM_FAIL says why not.
slurm_wait_idle() {
  local i
  for i in $(seq 60); do
    [ "$(slurm_cmd timeout 10 sinfo -h -N -o %t 2>/dev/null | grep -cx idle)" -ge "$1" ] && return 0
    sleep 0.5
  done
  SLURM_FAIL="$1 node(s) did not become idle: $(slurm_cmd timeout 10 sinfo -N -h 2>&1 | tr '\n' ';') $(tail -q -n 2 "$SLURM_DIR"/log/*.log 2>/dev/null | tr '\n' ';')"
  return 1
}

# slurm_wait_pid PIDFILE: until the daemon wrote it; then the daemon must
# still be alive 0.5 s later (one that cannot bind its port writes its
# pid file first and exits), else SLURM_FAIL quotes its log.
slurm_wait_pid() {
  local i p log
  for i in $(seq 40); do
    if [ -s "$1" ]; then
      p=$(cat "$1"); SLURM_PIDS+=("$p")
      sleep 0.5
      kill -0 "$p" 2>/dev/null && return 0
      log=$SLURM_DIR/log/$(basename "$1" .pid).log
      SLURM_FAIL="$(basename "$1" .pid) exited at start: $(grep -E 'error|fatal' "$log" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
      return 1
    fi
    sleep 0.25
  done
  SLURM_FAIL="$(basename "$1" .pid) wrote no pid file in 10 s"
  return 1
}

slurm_stop() {
  local p i
  # Jobs first, so no step outlives the daemons.
  if [ -n "${SLURM_CONF:-}" ]; then
    slurm_cmd timeout 10 scancel --full --quiet --user=root 2>/dev/null
    for _ in $(seq 120); do
      [ -z "$(slurm_cmd timeout 10 squeue -h 2>/dev/null)" ] && break; sleep 0.25
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
      # 2>/dev/null before <: a process gone since the glob stays quiet.
      env=$(tr '\0' '\n' 2>/dev/null <"$e") || continue
      grep -qx "SLURM_CONF=$SLURM_CONF" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env" &&
        p=${e#/proc/} && kill -9 "${p%/environ}" 2>/dev/null
    done
  fi
  [ -n "$SLURM_DIR" ] && rm -rf "$SLURM_DIR"
  SLURM_DIR= SLURM_NODES=()
  unset SLURM_CONF
}

# slurm_wait JOBID [SECONDS]: until the job has left the queue.
slurm_wait() {
  local i
  for i in $(seq $((${2:-120} * 2))); do
    slurm_cmd timeout 10 squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
    sleep 0.5
  done
  return 1
}

# slurm_wait_running JOBID: until the job runs (0) or has left the queue (1).
slurm_wait_running() {
  local i st
  for i in $(seq 120); do
    st=$(slurm_cmd timeout 10 squeue -h -j "$1" -o %T 2>/dev/null)
    [ "$st" = RUNNING ] && return 0
    [ -z "$st" ] && return 1
    sleep 0.5
  done
  return 1
}

# slurm_job_field JOBID FIELD: e.g. JobState, ExitCode (from scontrol).
slurm_job_field() {
  slurm_cmd timeout 10 scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
