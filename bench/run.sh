#!/usr/bin/env bash
# `make bench`: speed, memory and scale of `pseudolink run` (not a test:
# nothing here fails on a slow machine).
#
# Generates (once, cached in bench/data/) synthetic 3-source stores of about
# 1M, 4M, 10M and 16M records with `pseudolink synth`, runs the keyed job on
# each with NP ranks (default 2), and prints a table: per-stage seconds
# (slowest rank), records/s per core, peak RSS per rank, and the ratio of the
# run to two floors measured on this machine in the same run:
#   HMAC floor  SHA-256 compressions the job cannot avoid (2 per stage-1
#               record of a nir source + 2 per distinct p1 for the pid),
#               at this CPU's single-block rate (bench/bin/hmac_rate), /NP;
#               column hmacmb: the same HMACs at the multi-buffer batch rate
#               of the kernel the run uses (pl_hmac_batch_32, sha256mb.h);
#   I/O floor   a plain sequential read of the store file and write of the
#               output's bytes (dd), same sizes.
# Before the table: bench/bin/dice_rate, Dice comparisons of 1024-bit
# Bloom filters per second per core for each popcount kernel.
# The table is also written to bench/out/bench-<UTC time>.txt (and
# bench/out/latest.txt) to compare versions.
# Then the same job on one store (TCP_SIZE, default the first of SIZES)
# with 2 ranks, three ways, to measure what a network costs the exchange:
#   shm    one simulated node, ranks over shared memory (btl vader,self)
#   tcp1   one simulated node, ranks over TCP (btl tcp,self)
#   tcp2   two simulated nodes, one rank each, TCP across the private
#          bridge (tests/lib/nodes.sh; needs root and network namespaces)
# all three with mpi_yield_when_idle 1 (what two nodes sharing 2 cores
# need), TCP_REPS (3) rounds interleaved, the fastest of each printed.
# Then `produce` on a CSV export at -np NP (bench/produce_csv.sh), and last
# the CSV reader's rate on one core (bench/bin/csv_rate, CSV_ROWS).
# Then probabilistic linkage, 1M records without NIR to 1M persons
# (bench/linkage.sh: pairs compared per second per core, true quality).
# Env: NP (ranks), SIZES (records, e.g. "1M 4M"), MEM (memory_per_rank),
#      LINKAGE_SIZES (linkage bench sizes, default 1M; "none" to skip),
#      PPRL_SIZES (linkage on encodings, bench/pprl_link.sh; default 1M),
#      DEDUP_SIZES (deduplication of a registry, bench/dedup.sh; default 1M),
#      TCP_SIZE (store of the TCP runs; "none" to leave them out).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
NP=${NP:-2}
SIZES=${SIZES:-"1M 4M 10M 16M"}
MEM=${MEM:-2GiB}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
DATA=$ROOT/bench/data
OUT=$ROOT/bench/out
mkdir -p "$DATA" "$OUT" "$DATA/keys"
cp inputs/keys/*.key "$DATA/keys/" && chmod 600 "$DATA"/keys/*.key

persons_for() {   # ~3.55 rows per person with 3 sources
  case $1 in
    *M) echo $(( ${1%M} * 1000000 * 100 / 355 )) ;;
    *) echo $(( $1 * 100 / 355 )) ;;
  esac
}

store_for() {
  local size=$1 f="$DATA/store-$1.h5"
  if [ ! -s "$f" ]; then
    echo "generating $f ..." >&2
    ./pseudolink synth --persons "$(persons_for "$size")" --sources 3 --seed 5 \
      --producer-key "$DATA/keys/producer.key" -o "$f.part" >&2 &&
      mv "$f.part" "$f"
  fi
  echo "$f"
}

job_for() {
  local store=$1 out=$2 job=$DATA/job-$(basename "$1" .h5).yaml
  cat >"$job" <<YAML
store: $store
output: $out
mode: keyed
keys:
  producer: $DATA/keys/producer.key
  platform: $DATA/keys/platform.key
sources:
  hospital_stays:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
  pharmacy:
    identity: {p1: p1}
  deaths:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
options:
  memory_per_rank: $MEM
YAML
  echo "$job"
}

# value of a "name seconds rate" summary line
stage() { awk -v s="$1" '$1 == s { print $2; exit }' "$2"; }

hmac_rate=$(bench/bin/hmac_rate)
echo "$hmac_rate" | sed 's/^/# hmac_rate: /'
block=$(echo "$hmac_rate" | awk '$1 == "sha256_block" { print $2 }')
kernel=$(echo "$hmac_rate" | awk '$1 == "sha256_kernel" { print $2 }')
mbrate=$(echo "$hmac_rate" | awk -v k="$kernel" '$1 == k ".pl_hmac_batch_32" { print $2 }')
# Dice comparisons of 1024-bit Bloom filters per second on one core, per
# popcount kernel (bench/dice_rate.c; target >= 170 M/s/core).
dice_rate=$(bench/bin/dice_rate)
echo "$dice_rate" | sed 's/^/# dice_rate: /'
dkernel=$(echo "$dice_rate" | awk '$1 == "dice_kernel" { print $2 }')
drate=$(echo "$dice_rate" | awk -v k="$dkernel" '$1 == k ".batch_1024:counts" { print $2 }')

stamp=$(date -u +%Y%m%dT%H%M%SZ)
table=$OUT/bench-$stamp.txt
{
  echo "# pseudolink bench $stamp, $(git rev-parse --short HEAD 2>/dev/null), -np $NP, memory_per_rank $MEM"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
  echo "$hmac_rate" | sed 's/^/# /'
  echo "# sha256 kernel $kernel: $mbrate HMAC/s/core on 32-byte messages (single-block floor $(awk -v b="$block" 'BEGIN { printf "%.0f", b / 2 }'))"
  echo "$dice_rate" | sed 's/^/# /'
  echo "# popcount kernel $dkernel: $(awk -v r="$drate" 'BEGIN { printf "%.0f", r / 1e6 }') M Dice comparisons of 1024-bit filters/s/core (target 170 M)"
  printf '%-6s %10s %7s %7s %7s %7s %7s %7s %7s %7s %8s %12s %9s %8s %8s %8s %8s\n' \
    records rows read valid stage1 exch link write total wall spillMB \
    "rec/s/core" rssMiB hmacflr hmacmb ioflr "x_floor"
} | tee "$table"

for size in $SIZES; do
  store=$(store_for "$size") || continue
  out=$DATA/out-$size
  rm -rf "$out"
  job=$(job_for "$store" "$out")
  log=$OUT/run-$size.log
  w0=$(date +%s.%N)
  mpirun -np "$NP" ./pseudolink run "$job" >"$log" 2>&1 || {
    echo "$size: run failed, see $log"; continue; }
  w1=$(date +%s.%N)
  wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')
  rows=$(awk '$1 == "total" && NF == 4 { print $2; exit }' "$log")
  persons=$(sed -n 's/^persons \([0-9]*\),.*/\1/p' "$log")
  nir_rows=$(awk '($1 == "hospital_stays" || $1 == "deaths") && NF == 4 { s += $4 } END { print s }' "$log")
  total=$(awk '$1 == "total" && NF == 3 { print $2 }' "$log")
  rss=$(sed -n 's/^peak RSS per rank (max) \([0-9.]*\) MiB.*/\1/p' "$log")
  spill=$(sed -n 's/.*links spilled \([0-9]*\) bytes.*/\1/p' "$log")
  # Floors: HMAC compressions over NP cores; sequential read + write.
  hf=$(awk -v a="$nir_rows" -v p="$persons" -v b="$block" -v n="$NP" \
        'BEGIN { printf "%.2f", 2 * (a + p) / b / n }')
  hmb=$(awk -v a="$nir_rows" -v p="$persons" -v m="$mbrate" -v n="$NP" \
        'BEGIN { printf "%.2f", (m > 0) ? (a + p) / m / n : 0 }')
  inb=$(stat -c %s "$store")
  outb=$(stat -c %s "$out/linked.h5")
  t0=$(date +%s.%N)
  dd if="$store" of=/dev/null bs=4M status=none
  dd if=/dev/zero of="$DATA/ioflr.tmp" bs=4M count=$(( (outb + 4194303) / 4194304 )) conv=fsync status=none
  t1=$(date +%s.%N)
  rm -f "$DATA/ioflr.tmp"
  iof=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%-6s %10s %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %8.1f %12.0f %9s %8s %8s %8s %8.2f\n' \
    "$size" "$rows" "$(stage read "$log")" "$(stage validate "$log")" \
    "$(stage stage1 "$log")" "$(stage exchange "$log")" "$(stage link "$log")" \
    "$(stage write "$log")" "$total" "$wall" "$(awk -v s="$spill" 'BEGIN{print s/1048576}')" \
    "$(awk -v r="$rows" -v t="$total" -v n="$NP" 'BEGIN { print r / t / n }')" \
    "$rss" "$hf" "$hmb" "$iof" \
    "$(awk -v t="$total" -v h="$hf" -v i="$iof" 'BEGIN { print t / (h + i) }')" | tee -a "$table"
  rm -rf "$out"
done
{
  echo "# columns: stage seconds are the slowest rank's; rec/s/core = rows / total / NP;"
  echo "# wall = the whole mpirun (MPI start-up, store and output digests for the audit log, finalize);"
  echo "# hmacflr = seconds of unavoidable SHA-256 compressions at this CPU's single-block rate over NP cores;"
  echo "# hmacmb = the same HMACs at the multi-buffer pl_hmac_batch rate of kernel $kernel over NP cores;"
  echo "# ioflr = seconds of dd reading the store + writing the output's bytes; x_floor = total / (hmacflr + ioflr)"
} | tee -a "$table"

# ---- the producer -> platform chain (docs/PRODUCER.md) ---------------------
# On one store (PKG_SIZE, default the first of SIZES): `produce` of its two
# nir sources (validation, HMAC, AES-256-GCM, signing, writing: rows/s per
# core), then the platform's run with those sources from the package
# (decrypted in memory) against the same run from the plain store (which
# computes stage 1 itself). Fastest of PKG_REPS (2) interleaved runs.
PKG_SIZE=${PKG_SIZE:-${SIZES%% *}}
if [ "$PKG_SIZE" != none ]; then
  store=$(store_for "$PKG_SIZE")
  TK=$DATA/transfer
  mkdir -p "$TK"
  cp inputs/transfer/cnam_signing.* inputs/transfer/hdh_transport.* "$TK/"
  chmod 600 "$TK"/*.key.pem "$TK"/*.pass
  pjob=$DATA/produce-$PKG_SIZE.yaml
  cat >"$pjob" <<YAML
producer: cnam
package: bench
store: $store
output: $DATA/prod-$PKG_SIZE
keys:
  producer: $DATA/keys/producer.key
  transport: $TK/hdh_transport.pub.pem
sources:
  hospital_stays:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
  deaths:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
options:
  batch_rows: 1048576
YAML
  plat=$DATA/platform-$PKG_SIZE.yaml
  cat >"$plat" <<YAML
store: $store
output: $DATA/out-plat
mode: keyed
keys:
  platform: $DATA/keys/platform.key
producers:
  cnam: {signing_key: $TK/cnam_signing.pub.pem}
sources:
  hospital_stays:
    package: $DATA/prod-$PKG_SIZE/bench.pkg.h5
  pharmacy:
    identity: {p1: p1}
  deaths:
    package: $DATA/prod-$PKG_SIZE/bench.pkg.h5
options:
  memory_per_rank: $MEM
YAML
  pbest="" sbest="" kbest="" prate=""
  for rep in $(seq "${PKG_REPS:-2}"); do
    rm -rf "$DATA/prod-$PKG_SIZE"
    mpirun -np "$NP" ./pseudolink produce "$pjob" --signing-key "$TK/cnam_signing.key.pem" \
      --signing-passphrase-file "$TK/cnam_signing.pass" >"$OUT/produce-$PKG_SIZE.log" 2>&1 ||
      { echo "produce failed, see $OUT/produce-$PKG_SIZE.log" | tee -a "$table"; break; }
    t=$(awk '/ s, .* rows\/s$/ { print $1 }' "$OUT/produce-$PKG_SIZE.log")
    if [ -z "$pbest" ] || awk -v a="$t" -v b="$pbest" 'BEGIN { exit !(a < b) }'; then
      pbest=$t; prate=$(awk '/ s, .* rows\/s$/ { print $3 }' "$OUT/produce-$PKG_SIZE.log"); fi
    rm -rf "$DATA/out-plat"
    mpirun -np "$NP" ./pseudolink run "$plat" --transport-key "$TK/hdh_transport.key.pem" \
      --transport-passphrase-file "$TK/hdh_transport.pass" >"$OUT/run-pkg-$PKG_SIZE.log" 2>&1 ||
      { echo "run from packages failed, see $OUT/run-pkg-$PKG_SIZE.log" | tee -a "$table"; break; }
    t=$(awk '$1 == "total" && NF == 3 { print $2 }' "$OUT/run-pkg-$PKG_SIZE.log")
    if [ -z "$kbest" ] || awk -v a="$t" -v b="$kbest" 'BEGIN { exit !(a < b) }'; then kbest=$t; fi
    rm -rf "$DATA/out-plat"
    sjob=$(job_for "$store" "$DATA/out-plat")
    mpirun -np "$NP" ./pseudolink run "$sjob" >"$OUT/run-store-$PKG_SIZE.log" 2>&1 ||
      { echo "run from the store failed" | tee -a "$table"; break; }
    t=$(awk '$1 == "total" && NF == 3 { print $2 }' "$OUT/run-store-$PKG_SIZE.log")
    if [ -z "$sbest" ] || awk -v a="$t" -v b="$sbest" 'BEGIN { exit !(a < b) }'; then sbest=$t; fi
    rm -rf "$DATA/out-plat"
  done
  if [ -n "$pbest" ] && [ -n "$kbest" ] && [ -n "$sbest" ]; then
    {
      echo "# producer -> platform, $PKG_SIZE store, -np $NP, fastest of ${PKG_REPS:-2}"
      printf '%-34s %9s %14s\n' step seconds "rows/s/core"
      printf '%-34s %9.3f %14.0f\n' "produce (2 nir sources)" "$pbest" "$(awk -v r="$prate" -v n="$NP" 'BEGIN { print r / n }')"
      printf '%-34s %9.3f %14s\n' "run from packages (+ pharmacy)" "$kbest" "-"
      printf '%-34s %9.3f %14s\n' "run from the plain store" "$sbest" "-"
      echo "# packages / store = $(awk -v a="$kbest" -v b="$sbest" 'BEGIN { printf "%.3f", a / b }') (target <= 1.10)"
    } | tee -a "$table"
  fi
  rm -rf "$DATA/prod-$PKG_SIZE"
fi

# ---- shared memory vs TCP between two simulated nodes ----------------------
TCP_SIZE=${TCP_SIZE:-${SIZES%% *}}
if [ "$TCP_SIZE" != none ]; then
  source "$ROOT/tests/lib/nodes.sh"
  if ! nodes_check; then
    echo "# tcp: not measured, simulated nodes need $NODES_SKIP" | tee -a "$table"
  else
    trap 'nodes_down' EXIT
    nodes_up 2 >/dev/null
    store=$(store_for "$TCP_SIZE")
    {
      echo "# $TCP_SIZE store, 2 ranks, mpi_yield_when_idle 1, fastest of ${TCP_REPS:-3} interleaved runs; stage seconds (slowest rank), wall = whole mpirun"
      printf '%-6s %-36s %7s %7s %7s %7s %7s %8s\n' run transport exch link write total wall exch/shm
    } | tee -a "$table"
    # TCP_REPS rounds, the three ways interleaved (this VM's speed drifts);
    # the fastest of each is printed.
    declare -A best
    for rep in $(seq "${TCP_REPS:-3}"); do
      for how in shm tcp1 tcp2; do
        out=$DATA/out-tcp-$how
        rm -rf "$out"
        job=$(job_for "$store" "$out")
        log=$OUT/run-$TCP_SIZE-$how.log
        case $how in
          shm)  hf=$(nodes_hostfile 2 node1); btl=vader,self ;;
          tcp1) hf=$(nodes_hostfile 2 node1); btl=tcp,self ;;
          tcp2) hf=$(nodes_hostfile 1 node1 node2); btl=tcp,self ;;
        esac
        w0=$(date +%s.%N)
        if ! NODES_BTL=$btl NODES_TIMEOUT=600 node_mpirun node1 "$hf" 2 ./pseudolink run "$job" >"$log" 2>&1; then
          echo "$how: run failed, see $log" | tee -a "$table"; continue
        fi
        w1=$(date +%s.%N)
        row="$(stage exchange "$log") $(stage link "$log") $(stage write "$log") $(awk '$1 == "total" && NF == 3 { print $2 }' "$log") $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')"
        # keep the run with the smallest total
        if [ -z "${best[$how]:-}" ] || awk -v a="$(echo "$row" | cut -d' ' -f4)" -v b="$(echo "${best[$how]}" | cut -d' ' -f4)" 'BEGIN { exit !(a < b) }'; then
          best[$how]=$row
        fi
        rm -rf "$out"
      done
    done
    shm_exch=$(echo "${best[shm]:-0}" | cut -d' ' -f1)
    for how in shm tcp1 tcp2; do
      [ -n "${best[$how]:-}" ] || continue
      case $how in
        shm) what="1 node, shared memory" ;; tcp1) what="1 node, TCP" ;;
        tcp2) what="2 nodes x 1 rank, TCP over a bridge" ;;
      esac
      set -- ${best[$how]}
      printf '%-6s %-36s %7.2f %7.2f %7.2f %7.2f %7.2f %8s\n' "$how" "$what" "$1" "$2" "$3" "$4" "$5" \
        "$(awk -v e="$1" -v s="$shm_exch" 'BEGIN { if (s > 0) printf "%.2f", e / s; else print "-" }')" | tee -a "$table"
    done
    nodes_down
    trap - EXIT
  fi
fi
# `produce` on a CSV export (bench/produce_csv.sh; CSV_REPEAT, CSV_REPS).
{ echo; NP=$NP bash bench/produce_csv.sh; } | tee -a "$table"
# The CSV reader of `produce` (base/csv.h), one core: 10 columns, 1M rows.
{
  echo
  echo "# CSV reader, one core ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1))"
  bench/bin/csv_rate "${CSV_ROWS:-1000000}" 3 || echo "csv_rate: failed"
} | tee -a "$table"

# Probabilistic linkage (bench/linkage.sh; LINKAGE_SIZES="none" to skip).
[ "${LINKAGE_SIZES:-1M}" != none ] && NP=$NP bash bench/linkage.sh | tee -a "$table"
# The same on encodings (bench/pprl_link.sh; PPRL_SIZES="none" to skip).
[ "${PPRL_SIZES:-1M}" != none ] && NP=$NP bash bench/pprl_link.sh | tee -a "$table"
# Deduplication of a source (bench/dedup.sh; DEDUP_SIZES="none" to skip).
[ "${DEDUP_SIZES:-1M}" != none ] && NP=$NP bash bench/dedup.sh | tee -a "$table"
cp "$table" "$OUT/latest.txt"
echo "table written to $table"
