#!/usr/bin/env bash
# `make bench` (also alone: bash bench/reveal.sh): speed of `pseudolink
# reveal` on a large pid list (not a test: nothing here fails on a slow
# machine).
#
# A synthetic store of PERSONS persons (default 300000, 3 sources; cached in
# bench/data/), one keyed run with custody (the TEST-ONLY custodian keys),
# then reveals from standard input of 1 pid (the floor: unwrapping the
# shares and decrypting every shard) and of NPIDS pids (default 100000)
# taken from /persons/pid in random order. The lookup is one binary search
# per record among the sorted requested pids: the NPIDS reveal should cost
# little more than the 1-pid one.
# Env: NP (ranks of the run, default 2), PERSONS, NPIDS.
set -u
cd "$(dirname "$0")/.."
NP=${NP:-2}
PERSONS=${PERSONS:-300000}
NPIDS=${NPIDS:-100000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
DATA=$PWD/bench/data
mkdir -p "$DATA/keys" "$DATA/cust"
cp inputs/keys/*.key "$DATA/keys/" && chmod 600 "$DATA"/keys/*.key
cp inputs/custodians/* "$DATA/cust/" && chmod 600 "$DATA"/cust/*
store=$DATA/reveal-store-$PERSONS.h5
if [ ! -s "$store" ]; then
  ./pseudolink synth --persons "$PERSONS" --sources 3 --seed 7 \
    --producer-key "$DATA/keys/producer.key" -o "$store.part" >&2 && mv "$store.part" "$store"
fi
out=$DATA/reveal-out-$PERSONS
job=$DATA/reveal-job-$PERSONS.yaml
cat >"$job" <<YAML
store: $store
output: $out
mode: keyed
keys:
  producer: $DATA/keys/producer.key
  platform: $DATA/keys/platform.key
custody:
  threshold: 2
  custodians:
    - {name: alice, role: security_officer, public_key: $DATA/cust/alice.pub.pem}
    - {name: carol, role: data_protection_officer, public_key: $DATA/cust/carol.pub.pem}
sources:
  hospital_stays:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
  pharmacy:
    identity: {p1: p1}
  deaths:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
YAML
if [ ! -s "$out/correspondence.h5" ]; then
  rm -rf "$out"
  mpirun -np "$NP" ./pseudolink run "$job" >"$DATA/reveal-run.log" 2>&1 || {
    echo "run failed: $DATA/reveal-run.log"; exit 1; }
fi
/usr/bin/python3 - "$out/linked.h5" "$NPIDS" >"$DATA/reveal.pids" <<'PY'
import sys, random, h5py
p = [x.decode() for x in h5py.File(sys.argv[1], "r")["/persons/pid"][:]]
random.Random(1).shuffle(p)
print("\n".join(p[:int(sys.argv[2])]))
PY
n=$(wc -l <"$DATA/reveal.pids")
records=$(h5dump -a /records "$out/correspondence.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
key="--key $DATA/cust/alice.key.pem --passphrase-file $DATA/cust/alice.pass --key $DATA/cust/carol.key.pem --passphrase-file $DATA/cust/carol.pass"
t() {  # seconds of a reveal of the pids on stdin
  local t0 t1; t0=$(date +%s.%N)
  ./pseudolink reveal --corr "$out/correspondence.h5" --audit "$DATA/reveal-audit.log" \
    --reason BENCH $key --pids - >"$DATA/reveal.out" 2>"$DATA/reveal.err" || {
    echo "reveal failed: $DATA/reveal.err" >&2; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
one=$(head -1 "$DATA/reveal.pids" | t)
many=$(t <"$DATA/reveal.pids")
rows=$(($(wc -l <"$DATA/reveal.out") - 1))
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "reveal: table of $records records; 1 pid ${one} s; $n pids from stdin ${many} s ($rows rows printed, audit line $(tail -n1 "$DATA/reveal-audit.log" | wc -c) bytes)"
