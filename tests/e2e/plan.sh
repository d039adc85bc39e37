#!/usr/bin/env bash
# `pseudolink plan` without Slurm: the script per profile, the numbers, the
# refusal of a job that cannot fit, errors in the profiles file.
source "$(dirname "$0")/../lib/common.sh"
keys
"$PL" synth --persons 100000 --sources 3 --seed 3 -o "$TMP/store.h5" >/dev/null ||
  { notok "synth store"; exit 1; }
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/store.h5#" \
    -e "s#^output: .*#output: $TMP/out#" -e 's#identity: {p1: p1}#identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}#' \
    "$ROOT/jobs/laptop.yaml" >"$TMP/job.yaml"
# Rows of the store, from h5ls (independent of the program).
ROWS=$(h5ls -r "$TMP/store.h5" | sed -n 's#^/sources/[^/]*/nir *Dataset {\([0-9]*\)}#\1#p' |
  awk '{s += $1} END {print s}')

# plan_ok PROFILE PATTERN...: plan succeeds, the script is valid bash and
# holds every pattern (grep -E, one per line).
plan_ok() {
  local p=$1 f=$TMP/$1.sbatch; shift
  if ! "$PL" plan --profile "$p" "$TMP/job.yaml" -o "$f" >"$TMP/$p.log" 2>&1; then
    notok "plan --profile $p"; cat "$TMP/$p.log"; return
  fi
  local miss=
  for pat in "$@"; do grep -Eq -- "$pat" "$f" || miss="$miss [$pat]"; done
  bash -n "$f" || miss="$miss [bash -n]"
  grep -q '@[A-Z_]*@' "$f" && miss="$miss [unfilled @PLACEHOLDER@]"
  if [ -z "$miss" ]; then ok "plan --profile $p: script has its machine's settings"
  else notok "plan --profile $p: missing$miss"; fi
}
common=('^#SBATCH --signal=B:USR1@300$' '^#SBATCH --output=%x-%j.out$' '^#SBATCH --time=' '^#SBATCH --nodes=1$')
plan_ok lumi-c "${common[@]}" '^#SBATCH --partition=standard$' '^LAUNCHER=srun ' "^SRUN_MPI='pmix'" \
  '^#SBATCH --account=CHANGE_ME' '^module load LUMI/'
plan_ok mn5-gpp "${common[@]}" '^#SBATCH --qos=gp_ehpc$' '^#SBATCH --account=CHANGE_ME' '^LAUNCHER=srun '
plan_ok leonardo-dcgp "${common[@]}" '^#SBATCH --partition=dcgp_usr_prod$'
plan_ok karolina "${common[@]}" '^#SBATCH --partition=qcpu$' '^LAUNCHER=mpirun '
plan_ok vega "${common[@]}" '^#SBATCH --partition=cpu$' '^#SBATCH --hint=nomultithread' '^##SBATCH --account'
plan_ok meluxina "${common[@]}" '^#SBATCH --partition=cpu$' '^#SBATCH --qos=default$'
plan_ok discoverer "${common[@]}" '^#SBATCH --partition=cn$' 'maximum is unknown'
plan_ok deucalion "${common[@]}" '^#SBATCH --partition=normal-x86$' '^#SBATCH --mem=0$' 'node memory unknown'
plan_ok laptop "${common[@]}" '^LAUNCHER=mpirun '
plan_ok local "${common[@]}" '^#SBATCH --partition=debug$'

"$PL" plan --profile mn5-gpp --debug "$TMP/job.yaml" | grep -q '^#SBATCH --qos=gp_debug$'
check "plan --debug picks the debug QoS (mn5-gpp: gp_debug)" test $? -eq 0
"$PL" plan --profile mn5-gpp --account ehpc123 "$TMP/job.yaml" | grep -q '^#SBATCH --account=ehpc123$'
check "plan --account fills the account" test $? -eq 0

# The numbers, recomputed here from the formula documented in src/cmd/plan.h.
"$PL" plan --profile lumi-c --tasks-per-node 4 --persons 100000 "$TMP/job.yaml" >"$TMP/n.sbatch"
LARGEST=$(h5ls -r "$TMP/store.h5" | sed -n 's#^/sources/[^/]*/nir *Dataset {\([0-9]*\)}#\1#p' | sort -n | tail -n 1)
want=$(python3 - "$ROWS" "$LARGEST" <<'EOF'
import sys, math
rows, largest, ranks, persons = int(sys.argv[1]), int(sys.argv[2]), 4, 100000
n, p = math.ceil(rows / ranks), math.ceil(persons / ranks)
slots = 1024
while slots < 2 * p: slots *= 2
batch = min(1048576, math.ceil(largest / ranks))   # batch buffers: largest source's block
total = 100e6 + slots * 49 * 3 // 2 + 384 * batch + 144 * n
print(n, math.ceil(total / 1e6))
EOF
)
n=${want% *} mb=${want#* }
grep -q "^#   $n records per rank, 25000 persons per rank" "$TMP/n.sbatch"
check "records per rank = ceil($ROWS / 4) = $n" test $? -eq 0
grep -q "= $mb MB\$" "$TMP/n.sbatch"
check "memory per rank estimate = $mb MB (formula recomputed independently)" test $? -eq 0
grep -q '^#SBATCH --ntasks-per-node=4$' "$TMP/n.sbatch"
check "--tasks-per-node is honoured" test $? -eq 0

# Small stores get fewer ranks than cores (50 000 records per rank).
"$PL" plan --profile lumi-c "$TMP/job.yaml" | grep -q "^#SBATCH --ntasks-per-node=$((ROWS / 50000))\$"
check "a small store gets $((ROWS / 50000)) ranks, not 128" test $? -eq 0

# A node too small: refused with the reason, no script written.
cat >"$TMP/tiny.yaml" <<'EOF'
throughput:
  records_per_rank_second: 400000
  base_rank_mb: 100
profiles:
  tiny:
    description: "16 cores, 1 GB"
    cores_per_node: 16
    memory_per_node_gb: 1
    usable_memory_gb: 1
    partition: p
    debug_partition: none
    qos: none
    debug_qos: none
    max_walltime: "01:00:00"
    debug_max_walltime: unknown
    max_nodes: 4
    account: optional
    account_form: "x"
    launcher: srun
    srun_mpi: none
    smt: off
    modules: []
EOF
"$PL" plan --profiles "$TMP/tiny.yaml" --profile tiny --tasks-per-node 16 "$TMP/job.yaml" \
  -o "$TMP/tiny.sbatch" >"$TMP/tiny.log" 2>&1
rc=$?
check "refuses a job whose memory per rank exceeds the node's (exit $rc)" test $rc -ne 0
grep -q "cannot fit on tiny: memory per rank estimate [0-9]* MB is over the node's 62 MB per rank" "$TMP/tiny.log"
check "the refusal explains the numbers" test $? -eq 0
check "no script is written when refused" test ! -e "$TMP/tiny.sbatch"
# More nodes when one cannot hold the owner dictionaries: 2 tasks per node
# (500 MB each) and 10^8 persons: 1.5 x 49 B x 2^27 slots per rank on one
# node; nodes are added until a rank's share fits: 2 x 24 ranks hold
# 2 083 334 persons each, in 2^22 slots (308 MB) — 23 nodes would need 2^23.
grow=(--profiles "$TMP/tiny.yaml" --profile tiny --tasks-per-node 2 --persons 100000000)
sed -i 's/^    max_nodes: 4$/    max_nodes: 64/' "$TMP/tiny.yaml"
"$PL" plan "${grow[@]}" "$TMP/job.yaml" >"$TMP/grow.sbatch" 2>"$TMP/grow.log"
check "plan adds nodes until the memory per rank fits" grep -q '^#SBATCH --nodes=24$' "$TMP/grow.sbatch"
"$PL" plan "${grow[@]}" --nodes 1 "$TMP/job.yaml" >/dev/null 2>"$TMP/forced.log"
rc=$?
grep -q "cannot fit on tiny: .* at 1 node .*use more --nodes" "$TMP/forced.log"
check "--nodes 1 refused (exit $rc), suggests more nodes" test $? -eq 0 -a $rc -ne 0
sed -i 's/^    max_nodes: 64$/    max_nodes: 8/' "$TMP/tiny.yaml"
"$PL" plan "${grow[@]}" "$TMP/job.yaml" >/dev/null 2>&1
check "refused when even max_nodes (8) cannot hold it" test $? -ne 0

# Errors.
"$PL" plan --profile nosuch "$TMP/job.yaml" >/dev/null 2>"$TMP/e1.log"
rc=$?
grep -q "no profile named 'nosuch' (known: lumi-c, mn5-gpp" "$TMP/e1.log"
check "unknown profile: error lists the known ones" test $? -eq 0 -a $rc -ne 0
sed 's/^    launcher: srun/    launcher: srun\n    cpus: 3/' "$TMP/tiny.yaml" >"$TMP/bad.yaml"
"$PL" plan --profiles "$TMP/bad.yaml" --profile tiny "$TMP/job.yaml" >/dev/null 2>"$TMP/e2.log"
grep -Eq "bad.yaml:[0-9]+:[0-9]+: profiles.tiny: unknown key 'cpus'" "$TMP/e2.log"
check "unknown key in the profiles file: file:line:col and key path" test $? -eq 0
sed 's/^    max_walltime: .*/    max_walltime: "soon"/' "$TMP/tiny.yaml" >"$TMP/bad2.yaml"
"$PL" plan --profiles "$TMP/bad2.yaml" --profile tiny "$TMP/job.yaml" >/dev/null 2>"$TMP/e3.log"
grep -q "profiles.tiny.max_walltime: expected HH:MM:SS or \`unknown\`, got 'soon'" "$TMP/e3.log"
check "malformed walltime in the profiles file is refused" test $? -eq 0
sed "s#^store: .*#store: $TMP/none.h5#" "$TMP/job.yaml" >"$TMP/nostore.yaml"
"$PL" plan --profile lumi-c "$TMP/nostore.yaml" >/dev/null 2>"$TMP/e4.log"
rc=$?
grep -q "none.h5: cannot open store" "$TMP/e4.log"
check "missing store: named, non-zero exit" test $? -eq 0 -a $rc -ne 0
