#!/usr/bin/env bash
# Linkage on keyed Bloom-filter encodings (docs/LINKAGE.md "Encoded
# fields"; called by bench/run.sh, or alone: NP=2 PPRL_SIZES="1M" bash
# bench/pprl_link.sh). For each size S: the store of bench/linkage.sh (same
# seed: the same persons and records) with its names encoded per field
# (synth --linkage --linkage-secret --per-field; cached in bench/data/);
# jobs/linkage_pprl.yaml run with NP ranks (compare: dice, lsh blocking). Prints one line per size: total and linkage seconds, pairs
# compared, pairs per second per core (pairs / linkage seconds / NP), the
# true precision, recall and F1 from /truth, peak RSS per rank.
# Target (issue 15): 1M encoded records linked to 1M in <= 10 s wall at
# -np 2; F1 within one point of bench/linkage.sh's (clear names, same data).
set -u
cd "$(dirname "$0")/.."
NP=${NP:-2}
SIZES=${PPRL_SIZES:-1M}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
DATA=bench/data
mkdir -p "$DATA/keys" bench/out
[ -s "$DATA/keys/link.key" ] || ./pseudolink keygen "$DATA/keys/link.key" >/dev/null
cp inputs/keys/*.key "$DATA/keys/" && chmod 600 "$DATA"/keys/*.key
count() { case $1 in *M) echo $(( ${1%M} * 1000000 )) ;; *k) echo $(( ${1%k} * 1000 )) ;; *) echo "$1" ;; esac; }
printf '%-6s %8s %8s %8s %8s %12s %14s %14s %9s %9s %9s %8s\n' pprl wall total link cpu0 pairs "pairs/s/core" "pairs/cpu-s" precision recall F1 rssMiB
for size in $SIZES; do
  n=$(count "$size")
  store=$DATA/pprl-$size.h5
  if [ ! -s "$store" ]; then
    ./pseudolink synth --linkage --persons "$n" --records "$n" --seed 5 -o "$store.part" \
      --linkage-secret "$DATA/keys/link.key" --per-field >&2 &&
      mv "$store.part" "$store" || { echo "$size: synth failed"; continue; }
  fi
  out=$DATA/out-pprl-$size
  rm -rf "$out"
  job=$DATA/pprl-$size.yaml
  sed -e "s#inputs/keys/#$DATA/keys/#g" -e "s#^store: .*#store: $store#" \
      -e "s#^output: .*#output: $out#" jobs/linkage_pprl.yaml >"$job"
  log=bench/out/run-pprl-$size.log
  w0=$(date +%s.%N)
  mpirun -np "$NP" ./pseudolink run "$job" >"$log" 2>&1 || { echo "$size: run failed, see $log"; continue; }
  w1=$(date +%s.%N)
  total=$(awk '$1 == "total" && NF == 3 { print $2 }' "$log")
  link=$(sed -n 's/^linkage .* -> .*, \([0-9.]*\) s$/\1/p' "$log")
  pairs=$(sed -n 's/^linkage .* new; \([0-9]*\) pairs compared.*/\1/p' "$log")
  q=$(sed -n 's/^linkage .*: true precision \([0-9.]*\) recall \([0-9.]*\) F1 \([0-9.]*\)/\1 \2 \3/p' "$log")
  rss=$(sed -n 's/^peak RSS per rank (max) \([0-9.]*\) MiB.*/\1/p' "$log")
  cpu=$(sed -n 's/.*cpu seconds (rank 0): read \([0-9.]*\), link \([0-9.]*\)$/\1 \2/p' "$log" | awk '{ print $1 + $2 }')
  printf '%-6s %8.2f %8.2f %8.2f %8.2f %12s %14.0f %14.0f %9s %9s %9s %8s\n' "$size" \
    "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" "$total" "$link" "$cpu" "$pairs" \
    "$(awk -v p="$pairs" -v t="$link" -v n="$NP" 'BEGIN { print (t > 0) ? p / t / n : 0 }')" \
    "$(awk -v p="$pairs" -v c="$cpu" -v n="$NP" 'BEGIN { print (c > 0) ? p / c / n : 0 }')" \
    $q "$rss"
  rm -rf "$out"
done
echo "# pprl: names compared as Bloom-filter encodings (Dice), columns as for linkage;"
echo "# linkage: wall = whole mpirun; total = the run's own total; link = the linkage stage (slowest rank's view, rank 0);"
echo "# cpu0 = rank 0's CPU seconds in the linkage (read + link; MPI waits poll, so they count); pairs/cpu-s = pairs / cpu0 / NP;"
echo "# pairs/s/core = pairs compared / link / NP; precision, recall, F1 = true ones from /truth (synth --linkage, default error rates)"
