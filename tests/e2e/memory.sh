#!/usr/bin/env bash
# Bounded memory per rank (docs/SCALING.md): with a 24 MiB budget, stores of
# ~0.35 M and ~1.4 M records run; the links sort spills; peak RSS stays
# within budget + the documented fixed overhead (32 MiB) + the growth terms
# the run reports (owner dictionary, 1.5x while it doubles, and persons);
# and going from the small to the 4x larger store, RSS grows by no more
# than those terms: nothing else (no per-row state) grows with the records.
# The spilled run's output is identical to an in-memory run's.
source "$(dirname "$0")/../lib/common.sh"
keys
FIXED_MIB=32
BUDGET_MIB=24

store() {   # persons file
  "$PL" synth --persons "$1" --sources 3 --seed 11 \
    --producer-key "$TMP/keys/producer.key" -o "$2" >/dev/null
}
job() {     # store out budget file
  cat >"$4" <<YAML
store: $1
output: $2
mode: keyed
keys:
  producer: $TMP/keys/producer.key
  platform: $TMP/keys/platform.key
sources:
  hospital_stays:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
  pharmacy:
    identity: {p1: p1}
  deaths:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
options:
  memory_per_rank: $3
YAML
}
# "rss dict persons spilled" (MiB, MiB, MiB, bytes) from a run's summary
terms() {
  sed -n 's/^peak RSS per rank (max) \([0-9.]*\) MiB; growth terms (max rank): persons table \([0-9.]*\) MiB, pid dictionary \([0-9.]*\) MiB, links spilled \([0-9]*\) bytes$/\1 \3 \2 \4/p' "$1"
}

store 100000 "$TMP/small.h5"
store 400000 "$TMP/big.h5"
declare -A T
for s in small big; do
  job "$TMP/$s.h5" "$TMP/out-$s" "${BUDGET_MIB}MiB" "$TMP/$s.yaml"
  if plrun 1 run "$TMP/$s.yaml" >"$TMP/$s.log" 2>&1; then
    ok "$s store runs with a ${BUDGET_MIB} MiB budget"
  else
    notok "$s store runs with a ${BUDGET_MIB} MiB budget"; cat "$TMP/$s.log"
  fi
  T[$s]=$(terms "$TMP/$s.log")
  read -r rss dict persons spilled <<<"${T[$s]:-0 0 0 0}"
  check "$s: the links sort spilled ($spilled bytes)" test "${spilled:-0}" -gt 0
  bound=$(awk -v b="$BUDGET_MIB" -v f="$FIXED_MIB" -v d="$dict" -v p="$persons" \
    'BEGIN { print b + f + 1.5 * d + p }')
  check "$s: peak RSS $rss MiB <= budget + fixed + growth terms = $bound MiB" \
    awk -v r="$rss" -v m="$bound" 'BEGIN { exit !(r > 0 && r <= m) }'
done
read -r r1 d1 p1 _ <<<"${T[small]:-0 0 0 0}"
read -r r2 d2 p2 _ <<<"${T[big]:-0 0 0 0}"
rows1=$(awk '$1 == "total" && NF == 4 { print $2 }' "$TMP/small.log")
rows2=$(awk '$1 == "total" && NF == 4 { print $2 }' "$TMP/big.log")
check "the larger store has 4x the records ($rows1 -> $rows2)" \
  awk -v a="${rows1:-0}" -v b="${rows2:-0}" 'BEGIN { exit !(a > 0 && b > 3.5 * a) }'
check "RSS growth $r1 -> $r2 MiB is explained by the growth terms (+8 MiB)" \
  awk -v r1="$r1" -v r2="$r2" -v d1="$d1" -v d2="$d2" -v p1="$p1" -v p2="$p2" \
  'BEGIN { exit !(r2 - r1 <= 1.5 * (d2 - d1) + (p2 - p1) + 8) }'

# Same output without spilling, at another rank count.
job "$TMP/big.h5" "$TMP/out-mem" 1GiB "$TMP/mem.yaml"
if plrun 2 run "$TMP/mem.yaml" >"$TMP/mem.log" 2>&1; then
  ok "big store in memory at -np 2"
else
  notok "big store in memory at -np 2"; cat "$TMP/mem.log"
fi
grep -q 'links spilled 0 bytes' "$TMP/mem.log"
check "1 GiB budget: nothing spilled" test $? -eq 0
same=1
for g in /linked /links /persons /rejects; do
  h5diff "$TMP/out-big/linked.h5" "$TMP/out-mem/linked.h5" "$g" "$g" >/dev/null || same=0
done
check "spilled -np 1 and in-memory -np 2 outputs are identical (h5diff)" test $same -eq 1

# A budget the node cannot give every rank is refused before anything is
# read, naming the job file and the key; nothing is published.
job "$TMP/small.h5" "$TMP/out-huge" 100TiB "$TMP/huge.yaml"
plrun 2 run "$TMP/huge.yaml" >"$TMP/huge.log" 2>&1
rc=$?
grep -Eq "huge.yaml: options.memory_per_rank: .* per rank x 2 ranks on this node is more than the .* GiB this job may use here \(this node's memory\)" "$TMP/huge.log"
check "memory_per_rank 100TiB: refused (exit $rc), names the file, the key and the node's memory" \
  test $? -eq 0 -a "$rc" -ne 0
check "memory_per_rank 100TiB: nothing published" test ! -e "$TMP/out-huge/linked.h5"

# Inside a Slurm job the check honours the job's own limit, not the node's
# RAM: 1 GiB per rank x 2 ranks is refused under SLURM_MEM_PER_NODE=1024
# (MB) and under SLURM_MEM_PER_CPU=512 x 2 CPUs, the limit named.
job "$TMP/small.h5" "$TMP/out-slurm" 1GiB "$TMP/slurm.yaml"
sed "s#out-slurm#out-slurm-default#" "$TMP/slurm.yaml" >"$TMP/slurm-d.yaml"
SLURM_MEM_PER_NODE=1024 plrun 2 run "$TMP/slurm.yaml" >"$TMP/slurm1.log" 2>&1
rc=$?
grep -q "slurm.yaml: options.memory_per_rank: 1.0 GiB per rank x 2 ranks on this node is more than the 1.0 GiB this job may use here (the Slurm job limit SLURM_MEM_PER_NODE=1024 MB)" "$TMP/slurm1.log"
check "SLURM_MEM_PER_NODE=1024: 2 x 1 GiB refused (exit $rc), the Slurm limit named" \
  test $? -eq 0 -a "$rc" -ne 0
SLURM_MEM_PER_CPU=512 SLURM_CPUS_ON_NODE=2 plrun 2 run "$TMP/slurm.yaml" >"$TMP/slurm2.log" 2>&1
rc=$?
grep -q "more than the 1.0 GiB this job may use here (the Slurm job limit SLURM_MEM_PER_CPU=512 MB x 2 CPUs)" "$TMP/slurm2.log"
check "SLURM_MEM_PER_CPU=512 x 2 CPUs: refused (exit $rc), the Slurm limit named" \
  test $? -eq 0 -a "$rc" -ne 0
check "refused under a Slurm limit: nothing published" test ! -e "$TMP/out-slurm/linked.h5"
# The default budget (no memory_per_rank) is lowered to fit the job's limit.
sed -e '/memory_per_rank/d' -e '/^options:$/d' "$TMP/slurm-d.yaml" >"$TMP/slurm-default.yaml"
SLURM_MEM_PER_NODE=2048 plrun 2 run "$TMP/slurm-default.yaml" >"$TMP/slurm3.log" 2>&1
rc=$?
grep -q "default budget .* lowered to 0.50 GiB (2 ranks share 2.0 GiB on this node: the Slurm job limit SLURM_MEM_PER_NODE=2048 MB)" "$TMP/slurm3.log"
check "SLURM_MEM_PER_NODE=2048: the default budget is lowered to the job's limit and the run succeeds (exit $rc)" \
  test $? -eq 0 -a "$rc" -eq 0
