# Simulated cluster nodes on this one machine (sourced after common.sh).
#
# Each node is a Linux network namespace with its own address in a private
# /24 (NODES_NET.1, .2, ...) and, for every process started in it, its own
# host name (a UTS namespace) and its own /etc/hosts (a mount namespace
# with a bind mount; nothing outside changes). The nodes are joined by a
# bridge that lives in a namespace of its own: nothing is added to the
# host's network namespace, and no node has a route anywhere but the
# private subnet, so no traffic leaves the namespaces made here.
#
#   nodes_up N        make N nodes node1..nodeN (namespaces $NODES_PFX-*)
#   node_exec NODE CMD...   run CMD on NODE (net + uts + mount namespace,
#                           host name NODE, the nodes' /etc/hosts)
#   node_mpirun NODE ARGS...  mpirun launched from NODE, across the nodes of
#                           NODES_HOSTFILE, MPI over TCP on the private subnet
#   node_kill NODE    SIGKILL every process inside NODE's namespace
#   nodes_down        stop every process in every node (by pid, from
#                     `ip netns pids`) and delete the namespaces
#   nodes_sweep       remove what harnesses that died without cleaning up
#                     (SIGKILL, a crash) left behind; nodes_up runs it
#
# Open MPI reaches the other nodes without ssh: plm_rsh_agent names
# $NODES_DIR/rsh, which runs the orted command line inside the node's
# namespaces with a clean environment, the way ssh would.
# The namespaces of one harness share a prefix with the harness's pid, so
# several test runs (other worktrees) never collide.
NODES_PFX=${NODES_PFX:-pl$$}
NODES_NET=${NODES_NET:-10.77.0}
NODES_DIR=
# Open MPI's per-node files (vader segments /dev/shm/vader_segment.HOST.
# JOBID.RANK, session directories /tmp/ompi.HOST.UID) are named by host
# name, and every harness's nodes are called node1, node2...: two runs at
# once (other worktrees) would share them, and under srun the job id is
# Slurm's (job 1 in both clusters): ranks of the two runs then map each
# other's segments and crash. Each harness has its own directories for
# them (nodes_mca; multinode.sh exports them for the Slurm jobs).
NODES_SHM=
NODES=()
NODES_SKIP=

# nodes_check: can this machine make network namespaces, veth pairs and a
# bridge? Sets NODES_SKIP to what is missing and returns 1 when not.
nodes_check() {
  NODES_SKIP=
  local c
  for c in ip nsenter unshare mount hostname sysctl; do
    command -v "$c" >/dev/null || { NODES_SKIP="command $c (packages iproute2, util-linux, procps)"; return 1; }
  done
  [ "$(id -u)" -eq 0 ] || { NODES_SKIP="root (network namespaces need CAP_SYS_ADMIN)"; return 1; }
  local t=${NODES_PFX}-probe
  if ! ip netns add "$t" 2>/dev/null; then
    NODES_SKIP="network namespaces (ip netns add failed: kernel CONFIG_NET_NS?)"; return 1
  fi
  if ! ip -n "$t" link add b0 type bridge 2>/dev/null; then
    ip netns del "$t"; NODES_SKIP="bridge devices (kernel CONFIG_BRIDGE)"; return 1
  fi
  if ! ip -n "$t" link add v0 type veth peer name v1 2>/dev/null; then
    ip netns del "$t"; NODES_SKIP="veth devices (kernel CONFIG_VETH)"; return 1
  fi
  if ! nsenter --net=/run/netns/"$t" unshare --uts --mount sh -c \
      'hostname probe && mount --bind /dev/null /etc/hostname' 2>/dev/null; then
    ip netns del "$t"; NODES_SKIP="UTS and mount namespaces (unshare --uts --mount failed)"; return 1
  fi
  ip netns del "$t"
  return 0
}

# nodes_owner_dead PID: PID is no longer a harness (gone, or reused by a
# program that is not bash); a live bash counts as alive (safe side).
nodes_owner_dead() {
  [ -n "$1" ] && [ "$1" != $$ ] || return 1
  [ -d "/proc/$1" ] || return 0
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = bash ] || return 0
  return 1
}

# nodes_sweep: a harness killed with SIGKILL runs no trap: its namespaces
# (pl<PID>-*, with whatever still runs in them: mpirun, orted, ranks,
# slurmd, slurmctld) and its /tmp/pseudolink-nodes.* directory stay. Remove
# those of harnesses whose PID is dead, never those of a live one (another
# worktree's run). The Slurm side (munged runs in the host's namespace) is
# slurm_sweep's.
nodes_sweep() {
  local ns pid p d
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^pl[0-9]+-(br|probe|node[0-9]+)$'); do
    pid=${ns#pl}; pid=${pid%%-*}
    nodes_owner_dead "$pid" || continue
    echo "# nodes_sweep: removing namespace $ns of dead harness $pid"
    for _ in 1 2 3; do
      p=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$p" ] && break
      # shellcheck disable=SC2086
      kill -9 $p 2>/dev/null; sleep 0.2
    done
    ip netns del "$ns" 2>/dev/null
  done
  for d in /tmp/pseudolink-nodes.* /tmp/pseudolink-e2e.*; do
    [ -f "$d/.owner" ] || continue
    nodes_owner_dead "$(cat "$d/.owner" 2>/dev/null)" || continue
    echo "# nodes_sweep: removing $d of dead harness $(cat "$d/.owner")"
    rm -rf "$d"
  done
  for d in /dev/shm/pseudolink-nodes-pl*; do
    [ -d "$d" ] || continue
    pid=${d#/dev/shm/pseudolink-nodes-pl}; pid=${pid%%-*}
    [[ $pid =~ ^[0-9]+$ ]] || continue
    nodes_owner_dead "$pid" && { echo "# nodes_sweep: removing $d of dead harness $pid"; rm -rf "$d"; }
  done
  return 0
}

nodes_up() {
  local n=$1 i ns
  nodes_sweep
  NODES_DIR=$(mktemp -d /tmp/pseudolink-nodes.XXXXXX)
  chmod 755 "$NODES_DIR"
  echo $$ >"$NODES_DIR/.owner"
  NODES_SHM=/dev/shm/pseudolink-nodes-$NODES_PFX
  mkdir -p "$NODES_SHM" "$NODES_DIR/tmp"
  ip netns add "$NODES_PFX-br" || return 1
  ip -n "$NODES_PFX-br" link set lo up
  ip -n "$NODES_PFX-br" link add br0 type bridge || return 1
  ip -n "$NODES_PFX-br" link set br0 up
  printf '127.0.0.1 localhost\n' >"$NODES_DIR/hosts"
  : >"$NODES_DIR/hostfile"
  for i in $(seq "$n"); do
    ns=$NODES_PFX-node$i
    ip netns add "$ns" || return 1
    NODES+=("node$i")
    ip -n "$ns" link set lo up
    # veth pair made in the bridge's namespace, one end moved to the node.
    ip -n "$NODES_PFX-br" link add "v$i" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$NODES_PFX-br" link set "v$i" master br0 up
    ip -n "$ns" addr add "$NODES_NET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    # A peer that stops answering is given up after ~6 s of retransmissions
    # (tcp_retries2 4) instead of the default ~15 min (15): how long a run
    # waits for a node whose link is gone. Per network namespace: the
    # host's own setting is untouched.
    nsenter --net=/run/netns/"$ns" sysctl -q -w net.ipv4.tcp_retries2="${NODES_TCP_RETRIES2:-4}"
    printf '%s.%d node%d\n' "$NODES_NET" "$i" "$i" >>"$NODES_DIR/hosts"
  done
  # The launcher Open MPI calls instead of ssh: rsh NODE COMMAND-LINE...
  cat >"$NODES_DIR/rsh" <<EOF
#!/bin/sh
# plm_rsh_agent for the simulated nodes: run the command line inside the
# node's namespaces, with a clean environment (like ssh).
node=\$1; shift
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  HOME=\${HOME:-/root} LANG=C.UTF-8 \\
  nsenter --net=/run/netns/$NODES_PFX-\$node \\
  unshare --uts --mount sh -c 'mount --bind "\$0" /etc/hosts && hostname "\$1" && exec sh -c "\$2"' \\
  "$NODES_DIR/hosts" "\$node" "\$*"
EOF
  # For a person (multinode.sh --keep): on NODE [CMD...], a shell by default.
  cat >"$NODES_DIR/on" <<EOF
#!/bin/sh
# on NODE [CMD...]: run CMD (default: bash) on a simulated node, keeping
# the caller's environment.
node=\$1; shift; [ \$# -eq 0 ] && set -- bash
exec nsenter --net=/run/netns/$NODES_PFX-\$node \\
  unshare --uts --mount sh -c 'mount --bind "\$0" /etc/hosts && hostname "\$1" && shift && exec "\$@"' \\
  "$NODES_DIR/hosts" "\$node" "\$@"
EOF
  chmod 755 "$NODES_DIR/rsh" "$NODES_DIR/on"
}

# node_addr NODE: its address (nodeN -> $NODES_NET.N).
node_addr() { echo "$NODES_NET.${1#node}"; }

# node_exec NODE CMD...: CMD runs on NODE (exec'd: a background node_exec's
# $! is the command's own pid).
node_exec() {
  local node=$1; shift
  nsenter --net=/run/netns/"$NODES_PFX-$node" \
    unshare --uts --mount sh -c 'mount --bind "$0" /etc/hosts && hostname "$1" && shift && exec "$@"' \
    "$NODES_DIR/hosts" "$node" "$@"
}

# nodes_hostfile SLOTS NODE...: an Open MPI hostfile, SLOTS ranks per node.
nodes_hostfile() {
  local slots=$1 f; shift
  f=$NODES_DIR/hostfile-$slots-$(echo "$@" | tr ' ' '-')
  : >"$f"
  for n in "$@"; do echo "$n slots=$slots" >>"$f"; done
  echo "$f"
}

# The MCA settings of a run across the nodes (also used by bench/run.sh).
# The oob keepalive settings make mpirun notice a node that went silent
# (link down) in ~25 s; Open MPI's default is 300 s + 9 x 20 s
# (docs/SCALING.md says what an operator should set);
# NODES_BTL overrides the transports (default tcp,vader,self).
nodes_mca() {
  echo --mca plm_rsh_agent "$NODES_DIR/rsh" \
    --mca btl "${NODES_BTL:-tcp,vader,self}" \
    --mca btl_tcp_if_include "$NODES_NET.0/24" --mca oob_tcp_if_include "$NODES_NET.0/24" \
    --mca mpi_yield_when_idle 1 \
    --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 5 \
    --mca oob_tcp_keepalive_probes 3 \
    --mca btl_vader_backing_directory "$NODES_SHM" --mca orte_tmpdir_base "$NODES_DIR/tmp"
}

# node_mpirun NODE HOSTFILE NP ARGS...: mpirun started on NODE, under
# `timeout ${NODES_TIMEOUT:-120}` (status 124 when it had to stop it).
node_mpirun() {
  local node=$1 hf=$2 np=$3; shift 3
  # In the background and waited for: a harness's INT/TERM trap runs at
  # once (bash defers traps until a foreground command ends: up to the
  # timeout here) and its cleanup kills the run by namespace.
  # shellcheck disable=SC2046
  node_exec "$node" timeout -k 10 "${NODES_TIMEOUT:-120}" mpirun --hostfile "$hf" -np "$np" $(nodes_mca) \
    -x PATH "$@" </dev/null &
  wait $!
}

# node_pids NODE: every process in the node's network namespace.
node_pids() { ip netns pids "$NODES_PFX-$1" 2>/dev/null; }

node_kill() {
  local p
  for p in $(node_pids "$1"); do kill -9 "$p" 2>/dev/null; done
}

nodes_down() {
  local ns p i
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NODES_PFX-"); do
    for i in 1 2 3; do
      p=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$p" ] && break
      # shellcheck disable=SC2086
      kill -TERM $p 2>/dev/null
      sleep 0.3
      p=$(ip netns pids "$ns" 2>/dev/null)
      # shellcheck disable=SC2086
      [ -n "$p" ] && kill -9 $p 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null
  done
  NODES=()
  [ -n "$NODES_DIR" ] && rm -rf "$NODES_DIR"
  [ -n "$NODES_SHM" ] && rm -rf "$NODES_SHM"
  NODES_DIR= NODES_SHM=
}
