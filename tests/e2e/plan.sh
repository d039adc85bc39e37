#!/usr/bin/env bash
# `pseudolink plan` without Slurm: the script per profile, the numbers, the
# refusal of a job that cannot fit, errors in the profiles file.
source "$(dirname "$0")/../lib/common.sh"
keys
"$PL" synth --persons 100000 --sources 3 --seed 3 -o "$TMP/store.h5" >/dev/null ||
  { notok "synth store"; exit 1; }
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/store.h5#" \
    -e "s#^output: .*#output: $TMP/out#" -e 's#identity: {p1: p1[^}]*}#identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}#' \
    "$ROOT/jobs/laptop.yaml" >"$TMP/job.yaml"
# Rows of the store, from h5ls (independent of the program).
ROWS=$(h5ls -r "$TMP/store.h5" | sed -n 's#^/sources/[^/]*/nir *Dataset {\([0-9]*\)}#\1#p' |
  awk '{s += $1} END {print s}')

# plan_ok NAME "PLAN ARGS" PATTERN...: plan succeeds, the script is valid
# bash and holds every pattern (grep -E, one per line); a pattern starting
# with ! must NOT match.
plan_ok() {
  local n=$1 args=$2 f=$TMP/$1.sbatch; shift 2
  # shellcheck disable=SC2086
  if ! "$PL" plan $args "$TMP/job.yaml" -o "$f" >"$TMP/$n.log" 2>&1; then
    notok "$n: plan $args"; cat "$TMP/$n.log"; return
  fi
  local miss=
  for pat in "$@"; do
    if [ "${pat#!}" != "$pat" ]; then grep -Eq -- "${pat#!}" "$f" && miss="$miss [not: ${pat#!}]"
    else grep -Eq -- "$pat" "$f" || miss="$miss [$pat]"; fi
  done
  bash -n "$f" || miss="$miss [bash -n]"
  grep -q '@[A-Z_]*@' "$f" && miss="$miss [unfilled @PLACEHOLDER@]"
  if [ -z "$miss" ]; then ok "$n: plan $args: script follows the site's rules"
  else notok "$n: plan $args: missing$miss"; fi
}
# plan_refused NAME "PLAN ARGS" PATTERN...: plan fails, writes no script,
# and its error holds every pattern.
plan_refused() {
  local n=$1 args=$2 f=$TMP/$1.sbatch; shift 2
  rm -f "$f"
  # shellcheck disable=SC2086
  "$PL" plan $args "$TMP/job.yaml" -o "$f" >"$TMP/$n.log" 2>&1
  local rc=$? miss=
  for pat in "$@"; do grep -Eq -- "$pat" "$TMP/$n.log" || miss="$miss [$pat]"; done
  [ $rc -ne 0 ] || miss="$miss [exit 0]"
  [ -e "$f" ] && miss="$miss [script written]"
  if [ -z "$miss" ]; then ok "$n: plan $args: refused, naming the limit and its source"
  else notok "$n: plan $args: refusal lacks$miss"; cat "$TMP/$n.log"; fi
}
common=('^#SBATCH --signal=B:USR1@300$' '^#SBATCH --output=%x-%j.out$' '^#SBATCH --time=' '^#SBATCH --nodes=1$')
# Production machines: no root-only variables, no undocumented --mpi=pmix.
prod=('!^export OMPI_ALLOW_RUN_AS_ROOT' "!^SRUN_MPI='pmix'")
LUMI_PART=https://docs.lumi-supercomputer.eu/runjobs/scheduled-jobs/partitions/

# LUMI-C: a sub-node job goes to small (per-core billing), with
# --mem-per-cpu; a whole-node job to standard with --mem=0; plain srun (Cray
# MPICH), ranks bound to cores, SMT hint; the output directory is striped
# (Lustre); no LUMI/23.09, no cray-openssl.
plan_ok lumi-small "--profile lumi-c --account project_465000001" "${common[@]}" "${prod[@]}" \
  '^#SBATCH --partition=small$' '^#SBATCH --mem-per-cpu=1750M ' '!^#SBATCH --mem=' \
  '^#SBATCH --account=project_465000001$' '^#SBATCH --hint=nomultithread' \
  '^LAUNCHER=srun ' "^SRUN_MPI='' " "^CPU_BIND='--cpu-bind=cores' " \
  'lfs setstripe --stripe-count 1 --stripe-size 1M "\$OUTDIR"' "^OUTDIR='$TMP/out'\$" \
  '^module load LUMI partition/C$' '!LUMI/23.09' '!cray-openssl'
plan_ok lumi-standard "--profile lumi-c --account p --tasks-per-node 128" "${common[@]}" "${prod[@]}" \
  '^#SBATCH --partition=standard$' '^#SBATCH --mem=0 ' '!--mem-per-cpu' '^# Queue: partition standard \(profiles.lumi-c.queues\[0\], whole-node allocation\)' "^#   nodes 1..512, walltime up to 48:00:00; limits from $LUMI_PART"
plan_ok lumi-2nodes "--profile lumi-c --account p --nodes 2" '^#SBATCH --nodes=2$' '^#SBATCH --partition=standard$'
plan_ok lumi-debug "--profile lumi-c --account p --debug" '^#SBATCH --partition=debug$' '^#SBATCH --time=00:15:00$'
plan_refused lumi-noaccount "--profile lumi-c" \
  'profiles.lumi-c.account: required \(jobs are billed to a project.*billing.*\): plan needs --account NAME'
plan_refused lumi-debug8 "--profile lumi-c --account p --debug --nodes 8" \
  'cannot run on lumi-c at 8 nodes: no debug queue' \
  "profiles.lumi-c.queues\[2\] \(partition debug\): 8 nodes is over its limit of 4 \(limit from $LUMI_PART"
plan_refused lumi-600 "--profile lumi-c --account p --nodes 600" \
  "queues\[0\] \(partition standard\): 600 nodes is over its limit of 512 \(limit from $LUMI_PART" \
  "queues\[1\] \(partition small\): 600 nodes is over its limit of 4 "
plan_refused lumi-debugwall "--profile lumi-c --account p --debug --walltime 01:00:00" \
  "queues\[2\] \(partition debug\): --walltime 01:00:00 is over its limit of 00:30:00 \(limit from $LUMI_PART"
plan_refused lumi-80h "--profile lumi-c --account p --walltime 80:00:00" \
  'partition standard\): --walltime 80:00:00 is over its limit of 48:00:00' \
  'partition small\): --walltime 80:00:00 is over its limit of 72:00:00'
plan_refused lumi-forcedpart "--profile lumi-c --account p --partition small --nodes 5" \
  'partition small\): 5 nodes is over its limit of 4'

# MareNostrum 5: QoS gp_ehpc; scratch is GPFS: no lfs setstripe; the
# account rule is not documented: a commented line, exit 0.
plan_ok mn5 "--profile mn5-gpp" "${common[@]}" "${prod[@]}" '^#SBATCH --qos=gp_ehpc$' \
  '^##SBATCH --account=CHANGE_ME .*not documented' '!lfs setstripe --stripe-count' 'no lfs setstripe: scratch is GPFS' \
  "^SRUN_MPI='' "
plan_ok mn5-debug "--profile mn5-gpp --debug" '^#SBATCH --qos=gp_debug$'
plan_ok mn5-account "--profile mn5-gpp --account ehpc123" '^#SBATCH --account=ehpc123$'
# Leonardo DCGP: partition and QoS.
plan_ok leonardo "--profile leonardo-dcgp" "${common[@]}" "${prod[@]}" '^#SBATCH --partition=dcgp_usr_prod$' \
  '^#SBATCH --qos=normal$' 'lfs setstripe'
plan_ok leonardo-debug "--profile leonardo-dcgp --debug" '^#SBATCH --qos=dcgp_qos_dbg$'
# Karolina: qcpu allocates whole nodes, so no --mem; mpirun; an account is
# required; qcpu_exp allows 8 nodes per user.
plan_ok karolina "--profile karolina --account DD-24-01" "${common[@]}" "${prod[@]}" \
  '^#SBATCH --partition=qcpu$' '^# \(no --mem: qcpu allocates whole nodes' '!^#SBATCH --mem' '^LAUNCHER=mpirun '
plan_ok karolina-exp "--profile karolina --account DD-24-01 --debug" '^#SBATCH --partition=qcpu_exp$'
plan_refused karolina-exp9 "--profile karolina --account DD-24-01 --debug --nodes 9" \
  'partition qcpu_exp\): 9 nodes is over its limit of 8 \(limit from https://docs.it4i.cz/general/resources-allocation-policy/'
plan_refused karolina-noaccount "--profile karolina" 'profiles.karolina.account: required'
# Vega (SMT on) and MeluXina (SMT not documented): --hint=nomultithread.
plan_ok vega "--profile vega" "${common[@]}" "${prod[@]}" '^#SBATCH --partition=cpu$' \
  '^#SBATCH --hint=nomultithread   # SMT on' '^##SBATCH --account' '^LAUNCHER=mpirun '
plan_ok meluxina "--profile meluxina" "${common[@]}" "${prod[@]}" '^#SBATCH --partition=cpu$' \
  '^#SBATCH --qos=default$' '^#SBATCH --hint=nomultithread'
plan_ok discoverer "--profile discoverer" "${common[@]}" "${prod[@]}" '^#SBATCH --partition=cn$' 'maximum is unknown'
plan_ok deucalion "--profile deucalion" "${common[@]}" "${prod[@]}" '^#SBATCH --partition=normal-x86$' \
  '^#SBATCH --mem=0 ' 'node memory unknown'
# Local/test profiles: root-only variables, PMIx for Debian's Open MPI.
plan_ok laptop "--profile laptop" "${common[@]}" '^LAUNCHER=mpirun ' '^export OMPI_ALLOW_RUN_AS_ROOT=1'
plan_ok local "--profile local" "${common[@]}" '^#SBATCH --partition=debug$' "^SRUN_MPI='pmix' " \
  '^export OMPI_ALLOW_RUN_AS_ROOT=1' '!lfs setstripe --stripe-count'

# Every production profile: no root-only variable, no --mpi=pmix, and an
# account either given or refused/commented -- never CHANGE_ME uncommented.
bad=
for p in lumi-c mn5-gpp leonardo-dcgp karolina vega meluxina discoverer deucalion; do
  "$PL" plan --profile "$p" --account x "$TMP/job.yaml" >"$TMP/all-$p.sbatch" 2>/dev/null || bad="$bad $p(plan)"
  grep -q '^export OMPI_ALLOW_RUN_AS_ROOT' "$TMP/all-$p.sbatch" && bad="$bad $p(root)"
  grep -q "^SRUN_MPI='pmix'" "$TMP/all-$p.sbatch" && bad="$bad $p(pmix)"
  "$PL" plan --profile "$p" "$TMP/job.yaml" 2>/dev/null | grep -q '^#SBATCH --account=CHANGE_ME' && bad="$bad $p(CHANGE_ME)"
done
check "production profiles: no OMPI_ALLOW_RUN_AS_ROOT, no --mpi=pmix, no live --account=CHANGE_ME${bad:+ (broken:$bad)}" test -z "$bad"

# Lustre stripe from the expected output size: store size + 48 B per row,
# one stripe per 4 GiB, at most the OSTs and the ranks (recomputed here).
size=$(stat -c %s "$TMP/store.h5")
want=$(python3 -c "import math; b=$size+48*$ROWS; c=max(1,min(32,7,math.ceil(b/4/2**30))); print(c, '4M' if b>=16*2**30 else '1M', '%.1f' % (b/2**30))")
read -r cnt ssz gib <<<"$want"
grep -q "^# Output directory on Lustre: expected output $gib GiB " "$TMP/lumi-small.sbatch" &&
  grep -q "^# cross-link index) -> $cnt stripe" "$TMP/lumi-small.sbatch" &&
  grep -q "lfs setstripe --stripe-count $cnt --stripe-size $ssz " "$TMP/lumi-small.sbatch"
check "lumi-c: lfs setstripe count $cnt, size $ssz from the expected output ($gib GiB)" test $? -eq 0

# Queue chosen by size (a Leonardo-like profile: normal up to 16 nodes,
# bprod 17..128), enforced when --nodes is forced.
cat >"$TMP/qsel.yaml" <<'EOF'
throughput:
  records_per_rank_second: 400000
  base_rank_mb: 100
profiles:
  qsel:
    description: "QoS by size"
    cores_per_node: 4
    memory_per_node_gb: 16
    usable_memory_gb: 16
    account: optional
    account_form: "x"
    account_source: "test"
    launcher: srun
    srun_mpi: none
    mpi_module: "test"
    smt: off
    cpu_bind: none
    scratch: local
    lustre_osts: unknown
    run_as_root: no
    modules: []
    queues:
      - name: normal
        partition: prod
        qos: normal
        use: production
        allocation: whole-node
        memory: none
        max_nodes: 16
        max_walltime: "24:00:00"
        source: "test page A"
      - name: bprod
        partition: prod
        qos: bprod
        use: production
        allocation: whole-node
        memory: none
        min_nodes: 17
        max_nodes: 128
        max_walltime: "24:00:00"
        source: "test page B"
EOF
q=(--profiles "$TMP/qsel.yaml" --profile qsel)
"$PL" plan "${q[@]}" --nodes 16 "$TMP/job.yaml" 2>/dev/null | grep -q '^#SBATCH --qos=normal$'
check "16 nodes: QoS normal" test $? -eq 0
"$PL" plan "${q[@]}" --nodes 17 "$TMP/job.yaml" 2>/dev/null | grep -q '^#SBATCH --qos=bprod$'
check "17 nodes: QoS bprod (above normal's 16)" test $? -eq 0
"$PL" plan "${q[@]}" --nodes 129 "$TMP/job.yaml" >/dev/null 2>"$TMP/q129.log"
rc=$?
grep -q "QoS normal): 129 nodes is over its limit of 16 (limit from test page A)" "$TMP/q129.log" &&
  grep -q "QoS bprod): 129 nodes is over its limit of 128 (limit from test page B)" "$TMP/q129.log"
check "129 nodes: refused (exit $rc), each QoS's limit and source named" test $? -eq 0 -a $rc -ne 0
"$PL" plan "${q[@]}" --qos bprod --nodes 4 "$TMP/job.yaml" >/dev/null 2>"$TMP/qmin.log"
grep -q "QoS bprod): 4 nodes is under its minimum of 17 (limit from test page B)" "$TMP/qmin.log"
check "--qos bprod --nodes 4: refused, under the QoS's minimum" test $? -eq 0
# A queue the profile does not list: accepted, limits said to be unknown.
"$PL" plan "${q[@]}" --partition other "$TMP/job.yaml" 2>/dev/null | grep -q 'limits unknown, not checked'
check "--partition not in the profile: accepted, the script says its limits are unknown" test $? -eq 0

# The numbers, recomputed here from the formula documented in src/cmd/plan.h.
"$PL" plan --profile lumi-c --account p --tasks-per-node 4 --persons 100000 "$TMP/job.yaml" >"$TMP/n.sbatch"
LARGEST=$(h5ls -r "$TMP/store.h5" | sed -n 's#^/sources/[^/]*/nir *Dataset {\([0-9]*\)}#\1#p' | sort -n | tail -n 1)
want=$(python3 - "$ROWS" "$LARGEST" <<'EOF'
import sys, math
rows, largest, ranks, persons = int(sys.argv[1]), int(sys.argv[2]), 4, 100000
n, p = math.ceil(rows / ranks), math.ceil(persons / ranks)
slots = 1024
while 3 * slots < 4 * p: slots *= 2     # owner.c: at most 3/4 full
batch = min(1048576, math.ceil(largest / ranks))   # batch buffers: largest source's block
total = 100e6 + slots * 52 * 3 // 2 + 640 * batch + 144 * n
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
"$PL" plan --profile lumi-c --account p "$TMP/job.yaml" | grep -q "^#SBATCH --ntasks-per-node=$((ROWS / 50000))\$"
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
    account: optional
    account_form: "x"
    account_source: "test"
    launcher: srun
    srun_mpi: none
    mpi_module: "test"
    smt: off
    cpu_bind: none
    scratch: unknown
    lustre_osts: unknown
    run_as_root: no
    modules: []
    queues:
      - name: p
        partition: p
        qos: none
        use: production
        allocation: unknown
        memory: per-node
        max_nodes: 4
        max_walltime: "01:00:00"
        source: "test"
EOF
"$PL" plan --profiles "$TMP/tiny.yaml" --profile tiny --tasks-per-node 16 "$TMP/job.yaml" \
  -o "$TMP/tiny.sbatch" >"$TMP/tiny.log" 2>&1
rc=$?
check "refuses a job whose memory per rank exceeds the node's (exit $rc)" test $rc -ne 0
grep -q "cannot fit on tiny: memory per rank estimate [0-9]* MB is over the node's 62 MB per rank" "$TMP/tiny.log"
check "the refusal explains the numbers" test $? -eq 0
check "no script is written when refused" test ! -e "$TMP/tiny.sbatch"
# More nodes when one cannot hold the owner dictionaries: 2 tasks per node
# (500 MB each) and 10^8 persons: 1.5 x 52 B x 2^26 slots per rank on one
# node; nodes are added until a rank's share fits: 2 x 16 ranks hold
# 3 125 000 persons each, in 2^22 slots (327 MB, at most 3/4 full) — 15
# nodes would need 2^23.
grow=(--profiles "$TMP/tiny.yaml" --profile tiny --tasks-per-node 2 --persons 100000000)
sed -i 's/^        max_nodes: 4$/        max_nodes: 64/' "$TMP/tiny.yaml"
"$PL" plan "${grow[@]}" "$TMP/job.yaml" >"$TMP/grow.sbatch" 2>"$TMP/grow.log"
check "plan adds nodes until the memory per rank fits" grep -q '^#SBATCH --nodes=16$' "$TMP/grow.sbatch"
"$PL" plan "${grow[@]}" --nodes 1 "$TMP/job.yaml" >/dev/null 2>"$TMP/forced.log"
rc=$?
grep -q "cannot fit on tiny: .* at 1 node .*use more --nodes" "$TMP/forced.log"
check "--nodes 1 refused (exit $rc), suggests more nodes" test $? -eq 0 -a $rc -ne 0
sed -i 's/^        max_nodes: 64$/        max_nodes: 8/' "$TMP/tiny.yaml"
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
sed 's/^        max_walltime: .*/        max_walltime: "soon"/' "$TMP/tiny.yaml" >"$TMP/bad2.yaml"
"$PL" plan --profiles "$TMP/bad2.yaml" --profile tiny "$TMP/job.yaml" >/dev/null 2>"$TMP/e3.log"
grep -q "profiles.tiny.queues\[0\].max_walltime: expected HH:MM:SS or \`unknown\`, got 'soon'" "$TMP/e3.log"
check "malformed walltime in the profiles file is refused" test $? -eq 0
sed "s#^store: .*#store: $TMP/none.h5#" "$TMP/job.yaml" >"$TMP/nostore.yaml"
"$PL" plan --profile lumi-c --account p "$TMP/nostore.yaml" >/dev/null 2>"$TMP/e4.log"
rc=$?
grep -q "none.h5: cannot open store" "$TMP/e4.log"
check "missing store: named, non-zero exit" test $? -eq 0 -a $rc -ne 0

# A job that reads transfer packages or opposition lists: plan refuses it
# without --transport-key (the run would fail on the compute node), checks
# the files, writes their absolute paths into RUN_ARGS, and refuses a
# template that would drop them (docs/SLURM.md).
cp "$TMP/job.yaml" "$TMP/opp.yaml"
printf 'producers:\n  cnam: {signing_key: %s}\nopposition:\n  - %s\n' \
  "$ROOT/inputs/transfer/cnam_signing.pub.pem" "$TMP/x.opposition.pkg.h5" >>"$TMP/opp.yaml"
TK=$ROOT/inputs/transfer/hdh_transport.key.pem TP=$ROOT/inputs/transfer/hdh_transport.pass
"$PL" plan --profile local "$TMP/opp.yaml" -o "$TMP/opp.sbatch" >"$TMP/o1.log" 2>&1; rc=$?
check "opposition job without --transport-key: refused, no script" \
  eval '[ $rc -eq 1 ] && [ ! -e "$TMP/opp.sbatch" ] && grep -q "opp.yaml reads transfer packages or opposition lists: give the platform.s transport private key with --transport-key" "$TMP/o1.log"'
"$PL" plan --profile local "$TMP/opp.yaml" -o "$TMP/opp.sbatch" --transport-key "$TMP/nokey.pem" >"$TMP/o2.log" 2>&1; rc=$?
check "missing --transport-key file: refused, naming it" \
  eval '[ $rc -eq 1 ] && [ ! -e "$TMP/opp.sbatch" ] && grep -q "plan: --transport-key: $TMP/nokey.pem: No such file" "$TMP/o2.log"'
(cd "$ROOT" && "$PL" plan --profile local "$TMP/opp.yaml" -o "$TMP/opp.sbatch" \
   --transport-key inputs/transfer/hdh_transport.key.pem --transport-passphrase-file inputs/transfer/hdh_transport.pass) >"$TMP/o3.log" 2>&1
check "with --transport-key (relative paths): RUN_ARGS holds their absolute paths, both launch lines pass it" \
  eval 'grep -qx "RUN_ARGS=(--transport-key .$TK. --transport-passphrase-file .$TP.) .*" "$TMP/opp.sbatch" && [ "$(grep -c "run \"\$JOB\" \${RUN_ARGS\[@\]+\"\${RUN_ARGS\[@\]}\"})" "$TMP/opp.sbatch")" = 2 ] && bash -n "$TMP/opp.sbatch"'
# The array expands to exactly the two options and their values (bash, as sbatch runs it).
check "RUN_ARGS expands to 4 words" \
  eval '[ "$(printf "%s\necho \${#RUN_ARGS[@]} \${RUN_ARGS[1]}\n" "$(grep "^RUN_ARGS=" "$TMP/opp.sbatch")" | bash)" = "4 $TK" ]'
grep -v 'RUN_ARGS' "$ROOT/slurm/pseudolink.sbatch" >"$TMP/old.sbatch.in"
"$PL" plan --profile local --template "$TMP/old.sbatch.in" "$TMP/opp.yaml" -o "$TMP/opp2.sbatch" --transport-key "$TK" >"$TMP/o4.log" 2>&1; rc=$?
check "a template without @RUN_ARGS@ is refused when a key must be passed" \
  eval '[ $rc -eq 1 ] && [ ! -e "$TMP/opp2.sbatch" ] && grep -q "old.sbatch.in: the sbatch template has no @RUN_ARGS@" "$TMP/o4.log"'
"$PL" plan --profile local "$TMP/job.yaml" -o "$TMP/nok.sbatch" >/dev/null 2>&1
check "a job without packages: RUN_ARGS empty" grep -q '^RUN_ARGS=() ' "$TMP/nok.sbatch"
