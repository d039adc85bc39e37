#!/usr/bin/env bash
# The job across simulated cluster nodes (tests/lib/nodes.sh): network
# namespaces with their own host names and addresses on a private bridge,
# MPI over TCP between them.
#  - the regression and extracts jobs at 2 nodes x 2 ranks and 3 nodes x 1
#    rank under mpirun give outputs h5diff-identical to one rank on one node;
#  - a node lost mid-run (its processes killed; its link set down) makes the
#    run fail within a bounded time, publishing nothing; the earlier outputs
#    stay byte-identical and pass `pseudolink verify`; the next run recovers
#    the lock and succeeds;
#  - a slow and lossy node (tc netem, else tbf + nftables random drop)
#    still gives identical outputs;
#  - the planned sbatch script runs on a real two-node Slurm (one slurmd per
#    node; srun --mpi=pmix, and mpirun inside the allocation) with identical
#    outputs.
#
# Usage: bash tests/e2e/multinode.sh          (the test, part of make test)
#        bash tests/e2e/multinode.sh --keep   (bring 3 nodes and the Slurm
#          cluster up, print how to use them, leave them up until Enter)
#        bash tests/e2e/multinode.sh --sweep  (remove what runs killed with
#          SIGKILL left: namespaces, processes, /tmp directories; every run
#          does this first, only for harnesses whose pid is dead)
# INT, TERM, HUP and QUIT stop the test at once and remove everything.
# Under CI=true, a missing capability (namespaces, Slurm, munge) is a
# failure naming it; elsewhere a counted "skip - ..." line. A kernel
# without sch_netem only loses the netem case (tbf + nftables always run).
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/nodes.sh"
source "$ROOT/tests/lib/slurm.sh"
KEEP=0; [ "${1:-}" = --keep ] && KEEP=1
if [ "${1:-}" = --sweep ]; then rm -rf "$TMP"; slurm_sweep; nodes_sweep; exit 0; fi
echo $$ >"$TMP/.owner"   # for nodes_sweep, should this run be SIGKILLed
KEEP_SLEEP=
cleanup() {
  # A second Ctrl-C (or a TERM) must not cut the cleanup short.
  trap '' INT TERM HUP QUIT
  [ -n "$KEEP_SLEEP" ] && kill "$KEEP_SLEEP" 2>/dev/null
  slurm_stop; nodes_down; rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; trap 'exit 131' QUIT


bash "$ROOT/tests/lib/deps.sh" iproute2 util-linux nftables procps >"$TMP/deps.log" 2>&1 ||
  { cat "$TMP/deps.log"; missing "packages iproute2 util-linux nftables procps: not installable"; exit 0; }
if ! nodes_check; then missing "simulated nodes need $NODES_SKIP"; exit 0; fi
# nft (the TCP byte counter, the random drops) and tc (the rate limits,
# netem) serve single cases: without one, those cases are reported missing
# by name and the others still run.
HAVE_NFT=1 HAVE_TC=1
command -v nft >/dev/null || HAVE_NFT=
command -v tc >/dev/null || HAVE_TC=
nodes_up 3 || { notok "3 simulated nodes come up"; exit 1; }
ok "3 simulated nodes up (namespaces $NODES_PFX-node1..3 on a private bridge, $NODES_NET.0/24)"

hf22=$(nodes_hostfile 2 node1 node2)
hf31=$(nodes_hostfile 1 node1 node2 node3)
hf21=$(nodes_hostfile 1 node1 node2)

if [ "$KEEP" = 1 ]; then
  chmod 600 "$ROOT"/inputs/keys/*.key
  slurm_start_nodes node1 node2 || echo "# Slurm not started: ${SLURM_SKIP:-}${SLURM_FAIL:-}"
  cat <<EOF
# Simulated nodes up: ${NODES[*]} ($NODES_NET.1-${#NODES[@]}); helper scripts in $NODES_DIR
#   a shell on node2:       $NODES_DIR/on node2
#   one command on node3:   $NODES_DIR/on node3 hostname
#   the regression job from node1 on 2 nodes x 2 ranks, MPI over TCP:
#     export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # as root
#     cd $ROOT && $NODES_DIR/on node1 mpirun --hostfile $hf22 -np 4 \\
#       $(nodes_mca) -x PATH \\
#       ./pseudolink run jobs/regression.yaml --out /tmp/mn-out
#   take node2 away:        ip -n $NODES_PFX-node2 link set eth0 down   (up again: ... up)
#   slow it down:           ip netns exec $NODES_PFX-node2 tc qdisc add dev eth0 root tbf rate 10mbit burst 16kb latency 200ms
EOF
  [ -n "${SLURM_CONF:-}" ] &&
    echo "#   Slurm on node1+node2:   $NODES_DIR/on node1 env SLURM_CONF=$SLURM_CONF sinfo   (sbatch, srun --mpi=pmix -N 2 ...)
#     MPI jobs under Slurm: export OMPI_MCA_btl_tcp_if_include=$NODES_NET.0/24 OMPI_MCA_oob_tcp_if_include=$NODES_NET.0/24 \\
#       OMPI_MCA_btl_vader_backing_directory=$NODES_SHM OMPI_MCA_orte_tmpdir_base=$NODES_DIR/tmp"
  if [ -t 0 ]; then
    echo "# Press Enter to stop everything and remove the namespaces."
    read -r _
  else
    echo "# kill -INT $$ (or -TERM) to stop everything and remove the namespaces."
    # Short sleeps, not `sleep infinity`: that one outlived a SIGKILLed
    # harness in the host's namespace, where no sweep finds it.
    while :; do sleep 2 & KEEP_SLEEP=$!; wait "$KEEP_SLEEP"; done
  fi
  exit 0
fi

# ---- jobs and single-node references -----------------------------------
regression_job "$TMP/reg.yaml" keyed
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
  "$ROOT/jobs/extracts.yaml" >"$TMP/ext.yaml"
plrun 1 run "$TMP/reg.yaml" --out "$TMP/ref-reg" >"$TMP/ref-reg.log" 2>&1 ||
  { notok "reference: regression job at -np 1 on one node"; cat "$TMP/ref-reg.log"; }
# The extracts job refuses `cardio` on purpose: status 3, the rest published.
plrun 1 run "$TMP/ext.yaml" --out "$TMP/ref-ext" >"$TMP/ref-ext.log" 2>&1
[ $? -eq 3 ] || { notok "reference: extracts job at -np 1 exits 3"; tail "$TMP/ref-ext.log"; }

# same REF OUT FILES...: every FILE identical (h5diff) in REF and OUT.
same() {
  local ref=$1 out=$2 f; shift 2
  for f in "$@"; do
    [ -f "$out/$f" ] || { echo "# $out/$f missing"; return 1; }
    h5diff -q "$ref/$f" "$out/$f" >/dev/null 2>&1 || { echo "# $f differs"; return 1; }
  done
}

# ---- mpirun across nodes -----------------------------------------------
# node2 counts the TCP bytes it receives from node1 (nftables counter):
# the MPI traffic between nodes must show there.
if [ -n "$HAVE_NFT" ]; then
nsenter --net=/run/netns/"$NODES_PFX-node2" nft -f - <<EOF
table inet plcount {
  chain in { type filter hook input priority 0; policy accept; ip saddr $NODES_NET.1 meta l4proto tcp counter; }
}
EOF
else
  missing "command nft (package nftables): the check that the 2x2 ranks talked over TCP between the nodes (nftables byte counter)"
fi
for layout in "2x2 $hf22 4" "3x1 $hf31 3"; do
  set -- $layout; name=$1 hf=$2 np=$3
  t0=$SECONDS
  node_mpirun node1 "$hf" "$np" "$PL" run "$TMP/reg.yaml" --out "$TMP/reg-$name" \
    >"$TMP/reg-$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    ok "regression job on $name nodes x ranks under mpirun (TCP) ($((SECONDS - t0)) s)"
    check "regression $name: linked.h5 identical to one rank on one node (h5diff)" \
      same "$TMP/ref-reg" "$TMP/reg-$name" linked.h5
    if [ "$name" = 2x2 ] && [ -n "$HAVE_NFT" ]; then
      bytes=$(nsenter --net=/run/netns/"$NODES_PFX-node2" nft list table inet plcount |
        sed -n 's/.*counter packets [0-9]* bytes \([0-9]*\).*/\1/p')
      check "regression 2x2: the ranks talked over TCP between the nodes (node2 received ${bytes:-0} bytes from node1)" \
        test "${bytes:-0}" -gt 50000
      nsenter --net=/run/netns/"$NODES_PFX-node2" nft delete table inet plcount
    fi
  else
    notok "regression job on $name nodes x ranks under mpirun: status $rc"; tail -n 20 "$TMP/reg-$name.log"
  fi
  node_mpirun node1 "$hf" "$np" "$PL" run "$TMP/ext.yaml" --out "$TMP/ext-$name" \
    >"$TMP/ext-$name.log" 2>&1
  rc=$?
  check "extracts job on $name: exits 3 (cardio refused), like on one node (got $rc)" test $rc -eq 3
  check "extracts $name: linked.h5 and extracts/diabetes.h5 identical to one node (h5diff)" \
    same "$TMP/ref-ext" "$TMP/ext-$name" linked.h5 extracts/diabetes.h5
done
# The ranks on distinct nodes really talk through the network: with shared
# memory only (btl vader,self), the same layout cannot connect them.
NODES_BTL=vader,self NODES_TIMEOUT=60 node_mpirun node1 "$hf21" 2 "$PL" run "$TMP/reg.yaml" \
  --out "$TMP/noshm" >"$TMP/noshm.log" 2>&1
rc=$?
# (Open MPI 4.1.4 garbles its own "unable to reach each other" help text
# here: ORTE_ERROR_LOG ... show_help.c; the status is what counts.)
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ ! -e "$TMP/noshm/linked.h5" ] &&
  ! grep -q "can only be listed once" "$TMP/noshm.log"
check "the nodes share no memory transport: with btl vader,self alone the run across 2 nodes fails (status $rc)" \
  test $? -eq 0

# ---- a node lost mid-run ---------------------------------------------------
# Earlier outputs in $out (2 nodes x 1 rank), then a slow run on the same
# directory (a bigger synthetic store in tiny batches), and node2 is lost
# once the run has made its temporary. The run must end non-zero within
# LOSS_BOUND seconds of the loss (node_mpirun's own timeout is the backstop
# past that), publish nothing, leave the earlier outputs byte-identical and
# verifiable, and the next run must take the directory over and succeed.
LOSS_BOUND=45
out=$TMP/loss
node_mpirun node1 "$hf21" 2 "$PL" run "$TMP/reg.yaml" --out "$out" >"$TMP/loss0.log" 2>&1 ||
  { notok "node loss: first run publishes"; tail "$TMP/loss0.log"; }
"$PL" synth --persons 60000 --sources 3 --seed 7 -o "$TMP/big.h5" >/dev/null 2>&1 || notok "synth big store"
sed -e "s#^store: .*#store: $TMP/big.h5#" -e "s#batch_rows: 500#batch_rows: 10#" \
    -e "s#identity: {p1: p1.*#identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}#" \
    -e "/drop: \[quantity\]/d" -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date]#" \
    "$TMP/reg.yaml" >"$TMP/slow.yaml"
# digests: SHA-256 of every published file but the audit log (a failed run
# appends its failure line there, as it should).
# Dot files (the dead run's temporary and lock) are the next run's to clean.
# The published set, through its stable names (hidden entries are a run's
# private directories and the lock, not outputs).
digests() { (cd "$out" && find -L . -path './.*' -prune -o -type f ! -name audit.log -print | sort | xargs sha256sum); }

# loss_case NAME HOW: HOW is a command that takes node2 away.
loss_case() {
  local name=$1; shift
  local before t0 t1 rc bg log=$TMP/loss-$name.log
  before=$(digests)
  NODES_TIMEOUT=$((LOSS_BOUND + 60)) node_mpirun node1 "$hf21" 2 "$PL" run "$TMP/slow.yaml" --out "$out" \
    >"$log" 2>&1 &
  bg=$!
  for _ in $(seq 1200); do
    ls -A "$out" | grep -q '\.tmp-' && break
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
  done
  if ! ls -A "$out" | grep -q '\.tmp-'; then
    notok "node loss ($name): the slow run never started writing"; tail "$log"; wait "$bg"; return
  fi
  t0=$SECONDS
  "$@"
  wait "$bg"; rc=$?
  t1=$((SECONDS - t0))
  check "node loss ($name): the run exits non-zero (status $rc)" test $rc -ne 0
  check "node loss ($name): it ends within $LOSS_BOUND s of the loss (took $t1 s)" test "$t1" -le "$LOSS_BOUND"
  [ $rc -eq 124 ] && echo "# node loss ($name): mpirun did not notice, timeout stopped it"
  check "node loss ($name): nothing published, earlier outputs byte-identical (SHA-256)" \
    test "$(digests)" = "$before"
  check "node loss ($name): pseudolink verify passes on the earlier outputs" \
    "$PL" verify --audit "$out/audit.log" "$out"
  # Anything of the lost run still alive on the surviving node goes now
  # (a real cluster's resource manager does the same).
  node_kill node1
  [ "$name" = link-down ] && ip -n "$NODES_PFX-node2" link set eth0 up
  node_kill node2
  node_mpirun node1 "$hf21" 2 "$PL" run "$TMP/reg.yaml" --out "$out" >"$TMP/loss-next.log" 2>&1; rc=$?
  check "node loss ($name): the next run succeeds on the same directory (status $rc)" test $rc -eq 0
  [ $rc -eq 0 ] || tail -n 5 "$TMP/loss-next.log"
  grep -Eq "stale lock|temporary of an unfinished run" "$TMP/loss-next.log"
  check "node loss ($name): the next run recovered the dead run's lock or temporary" test $? -eq 0
  grep -E "stale lock|temporary of an unfinished run" "$TMP/loss-next.log" | sed "s#$TMP/##; s/^/# /"
  check "node loss ($name): lock released, no temporary left" \
    test ! -e "$out/.pseudolink.lock" -a -z "$(ls -A "$out" | grep '\.tmp-')"
  check "node loss ($name): the new outputs identical to one node (h5diff)" same "$TMP/ref-reg" "$out" linked.h5
}
loss_case killed node_kill node2
loss_case link-down ip -n "$NODES_PFX-node2" link set eth0 down

# The node of rank 0 (the lock holder) lost: mpirun on node3 (a login
# node), ranks on node1 and node2, node1's processes killed. The lock names
# host node1 and a dead pid. A next run whose rank 0 is on another node
# cannot tell that pid is dead and refuses, naming the holder (the product
# never lets two runs share a directory; recovering a lock from another
# host is not implemented, see docs/SCALING.md); a next run with rank 0 on
# node1 again recovers it.
hf12=$(nodes_hostfile 1 node1 node2); hf21b=$(nodes_hostfile 1 node2 node1)
before=$(digests)
NODES_TIMEOUT=$((LOSS_BOUND + 60)) node_mpirun node3 "$hf12" 2 "$PL" run "$TMP/slow.yaml" --out "$out" \
  >"$TMP/loss-r0.log" 2>&1 &
bg=$!
for _ in $(seq 1200); do
  ls -A "$out" | grep -q '\.tmp-' && break
  kill -0 "$bg" 2>/dev/null || break
  sleep 0.05
done
if ! ls -A "$out" | grep -q '\.tmp-'; then
  notok "rank 0's node lost: the slow run never started writing"; tail "$TMP/loss-r0.log"; wait "$bg"
else
  holder=$(cut -d' ' -f1 "$out/.pseudolink.lock" 2>/dev/null)
  t0=$SECONDS; node_kill node1; wait "$bg"; rc=$?; t1=$((SECONDS - t0))
  check "rank 0's node lost (lock held by $holder): the run exits non-zero within $LOSS_BOUND s (status $rc, $t1 s)" \
    test $rc -ne 0 -a "$t1" -le "$LOSS_BOUND" -a "$holder" = node1
  check "rank 0's node lost: nothing published, earlier outputs byte-identical (SHA-256)" test "$(digests)" = "$before"
  check "rank 0's node lost: pseudolink verify passes on the earlier outputs" \
    "$PL" verify --audit "$out/audit.log" "$out"
  node_kill node2; node_kill node3
  node_mpirun node3 "$hf21b" 2 "$PL" run "$TMP/reg.yaml" --out "$out" >"$TMP/loss-r0-next.log" 2>&1; rc=$?
  grep -q "another run is using the output directory .*(host node1, pid [0-9]*); if that run is dead, remove the lock file by hand" \
    "$TMP/loss-r0-next.log"
  check "rank 0's node lost: a next run with rank 0 on node2 refuses, naming the lost holder (status $rc)" \
    test $? -eq 0 -a $rc -ne 0
  check "rank 0's node lost: that refusal published nothing" test "$(digests)" = "$before"
  node_mpirun node3 "$hf12" 2 "$PL" run "$TMP/reg.yaml" --out "$out" >"$TMP/loss-r0-next.log" 2>&1; rc=$?
  grep -q "removing the stale lock of a dead run (host node1" "$TMP/loss-r0-next.log"
  check "rank 0's node lost: the next run with rank 0 on node1 recovers the stale lock and succeeds (status $rc)" \
    test $? -eq 0 -a $rc -eq 0
  check "rank 0's node lost: lock released, no temporary left, outputs identical to one node" \
    eval 'test ! -e "$out/.pseudolink.lock" -a -z "$(ls -A "$out" | grep "\.tmp-")" && same "$TMP/ref-reg" "$out" linked.h5'
fi

# ---- a slow and lossy node --------------------------------------------------
# tc netem (delay + loss) on node2's link when the kernel has it; always
# also a rate limit (tbf, both directions) and random drops of what node2
# receives (nftables numgen), inside node2's namespace and on its bridge
# port, which every kernel with namespaces here has had.
n2() { nsenter --net=/run/netns/"$NODES_PFX-node2" "$@"; }
if [ -z "$HAVE_TC" ] || [ -z "$HAVE_NFT" ]; then
  missing "command$([ -z "$HAVE_TC" ] && echo " tc (package iproute2)")$([ -z "$HAVE_NFT" ] && echo " nft (package nftables)"): the slow and lossy node case (tc netem/tbf, nftables random drop)"
else
if n2 tc qdisc add dev eth0 root netem delay 20ms 5ms loss 2% 2>"$TMP/netem.err"; then
  node_mpirun node1 "$hf31" 3 "$PL" run "$TMP/reg.yaml" --out "$TMP/netem" >"$TMP/netem.log" 2>&1
  rc=$?
  check "netem node (20 ms +- 5 ms, 2% loss): the run succeeds (status $rc)" test $rc -eq 0
  check "netem node: linked.h5 identical to one node (h5diff)" same "$TMP/ref-reg" "$TMP/netem" linked.h5
  drops=$(n2 tc -s qdisc show dev eth0 | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -n 1)
  echo "# netem dropped ${drops:-?} packets"
  n2 tc qdisc del dev eth0 root
else
  # Not a failure: the slow and lossy case below (tbf + nftables) tests the
  # same property on kernels without sch_netem (this VM's, for one).
  echo "# no tc netem on node2 ($(head -n 1 "$TMP/netem.err"); kernel without CONFIG_NET_SCH_NETEM): delay+loss case left to tbf + nftables below"
fi
n2 tc qdisc add dev eth0 root tbf rate 20mbit burst 16kb latency 200ms &&
ip -n "$NODES_PFX-br" link show v2 >/dev/null &&
nsenter --net=/run/netns/"$NODES_PFX-br" tc qdisc add dev v2 root tbf rate 20mbit burst 16kb latency 200ms &&
n2 nft -f - <<EOF2
table inet pllossy {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr $NODES_NET.0/24 tcp dport != 0 numgen random mod 100 < 3 counter drop
  }
}
EOF2
if [ $? -ne 0 ]; then
  notok "slow and lossy node2 (tbf 20 Mbit/s, nftables 3% random drop) set up"
else
  t0=$SECONDS
  node_mpirun node1 "$hf31" 3 "$PL" run "$TMP/reg.yaml" --out "$TMP/lossy" >"$TMP/lossy.log" 2>&1
  rc=$?
  check "slow and lossy node2 (tbf 20 Mbit/s, 3% of its TCP input dropped): the run succeeds (status $rc, $((SECONDS - t0)) s)" test $rc -eq 0
  check "slow and lossy node2: linked.h5 identical to one node (h5diff)" same "$TMP/ref-reg" "$TMP/lossy" linked.h5
  drops=$(n2 nft list table inet pllossy | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
  check "slow and lossy node2: packets really were dropped ($drops)" test "${drops:-0}" -gt 0
  n2 nft delete table inet pllossy
  n2 tc qdisc del dev eth0 root
  nsenter --net=/run/netns/"$NODES_PFX-br" tc qdisc del dev v2 root
fi
fi  # tc and nft

# ---- a real two-node Slurm: the planned sbatch script, srun with PMIx -------
if ! slurm_start_nodes node1 node2; then
  if [ -n "$SLURM_SKIP" ]; then missing "two-node Slurm: $SLURM_SKIP"
  else notok "two-node Slurm starts (slurmctld on node1, a slurmd on node1 and node2): $SLURM_FAIL"; fi
  exit 0
fi
ok "two-node Slurm up (slurmctld on node1, slurmd on node1 and node2, private munged)"
mkdir -p "$TMP/work"
sed -e "s#^output: .*#output: $TMP/slurm-out#" -e "s#inputs/custodians/#$ROOT/inputs/custodians/#g" \
  "$TMP/reg.yaml" >"$TMP/slurm.yaml"
# Its own one-rank reference: the job file's hash is part of the outputs.
plrun 1 run "$TMP/slurm.yaml" --out "$TMP/ref-slurm" >"$TMP/ref-slurm.log" 2>&1 ||
  { notok "reference: the Slurm job file at -np 1"; tail "$TMP/ref-slurm.log"; }
# Each launcher; mpirun inside the allocation starts its daemons with srun
# and is told the nodes' subnet through the environment sbatch passes on.
# This harness's own vader and session directories (nodes.sh, NODES_SHM).
export OMPI_MCA_btl_tcp_if_include=$NODES_NET.0/24 OMPI_MCA_oob_tcp_if_include=$NODES_NET.0/24 \
  OMPI_MCA_mpi_yield_when_idle=1 \
  OMPI_MCA_btl_vader_backing_directory=$NODES_SHM OMPI_MCA_orte_tmpdir_base=$NODES_DIR/tmp
for L in srun mpirun; do
  (cd "$TMP/work" && "$PL" plan --profile local --nodes 2 --tasks-per-node 2 --launcher $L \
    "$TMP/slurm.yaml" -o "$TMP/slurm-$L.sbatch" >/dev/null) || { notok "$L: plan --profile local --nodes 2"; continue; }
  check "$L: the planned script asks for 2 nodes x 2 tasks" grep -q "^#SBATCH --nodes=2$" "$TMP/slurm-$L.sbatch"
  rm -rf "$TMP/slurm-out"
  j=$(slurm_cmd timeout 20 sbatch --parsable "$TMP/slurm-$L.sbatch")
  if [ -z "$j" ]; then notok "$L: sbatch accepts the planned script on the two-node cluster"; continue; fi
  slurm_wait "$j" 90 || { echo "# job $j still queued after 90 s"; slurm_cmd scancel "$j"; }
  st=$(slurm_job_field "$j" JobState) ec=$(slurm_job_field "$j" ExitCode)
  nl=$(slurm_job_field "$j" NodeList)
  log=$TMP/work/pseudolink-slurm-$j.out
  check "$L: sbatch job $j on nodes $nl: COMPLETED, exit 0:0 (got $st, $ec)" test "$st" = COMPLETED -a "$ec" = 0:0
  [ "$st" = COMPLETED ] || tail -n 20 "$log" 2>/dev/null
  check "$L: the job ran on both nodes (NodeList $nl)" test "$nl" = "node[1-2]"
  grep -q "on 2 node(s), 4 ranks, launcher $L" "$log"
  check "$L: the job's log says 2 nodes, 4 ranks, launcher $L" test $? -eq 0
  check "$L: Slurm two-node run: linked.h5 identical to one rank on one node (h5diff)" \
    same "$TMP/ref-slurm" "$TMP/slurm-out" linked.h5
done
