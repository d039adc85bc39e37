#!/usr/bin/env bash
# Deduplication speed and quality (docs/LINKAGE.md "Deduplication"; called
# by bench/run.sh, or alone: NP=2 DEDUP_SIZES="1M" bash bench/dedup.sh).
# For each size S: a `synth --linkage --dup-rate 0.3` store (cached in
# bench/data/) of S persons with p1 and S registry records without NIR,
# about 30 % of them more copies of a recent row's person;
# jobs/linkage.yaml with the registry only deduplicated (linkage.dedup,
# no linkage.sources), run with NP ranks. Prints one line per size: wall,
# the run's total and the dedup's seconds, pairs compared and accepted,
# clusters, bridges cut, true pairwise precision, recall, F1, peak RSS.
# The threshold is the default (thresholds.dedup = upper, 10); DEDUP_UPPER=W
# runs at thresholds.dedup W instead.
set -u
cd "$(dirname "$0")/.."
NP=${NP:-2}
SIZES=${DEDUP_SIZES:-1M}
UPPER=${DEDUP_UPPER:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
DATA=bench/data
mkdir -p "$DATA/keys" bench/out
cp inputs/keys/*.key "$DATA/keys/" && chmod 600 "$DATA"/keys/*.key
count() { case $1 in *M) echo $(( ${1%M} * 1000000 )) ;; *k) echo $(( ${1%k} * 1000 )) ;; *) echo "$1" ;; esac; }
printf '%-6s %8s %8s %8s %8s %10s %10s %9s %7s %9s %9s %9s %8s\n' dedup wall total dedup cpu0 pairs accepted clusters bridges precision recall F1 rssMiB
for size in $SIZES; do
  n=$(count "$size")
  store=$DATA/dedup-$size.h5
  if [ ! -s "$store" ]; then
    ./pseudolink synth --linkage --persons "$n" --records "$n" --dup-rate 0.3 --seed 5 -o "$store.part" >&2 &&
      mv "$store.part" "$store" || { echo "$size: synth failed"; continue; }
  fi
  out=$DATA/out-dedup-$size
  rm -rf "$out"
  job=$DATA/dedup-$size.yaml
  th=()
  [ -n "$UPPER" ] && th=(-e "s#^  thresholds: {lower: 0, upper: 10}#  thresholds: {lower: 0, upper: 10, dedup: $UPPER}#")
  sed -e "s#inputs/keys/#$DATA/keys/#g" -e "s#^store: .*#store: $store#" \
      -e "s#^output: .*#output: $out#" -e "s#^  sources: \[registry\]#  dedup: [registry]#" \
      "${th[@]}" jobs/linkage.yaml >"$job"
  if [ $(( 2 * n / NP )) -gt 5000000 ]; then
    printf 'options:\n  memory_per_rank: 8GiB\n' >>"$job"
  fi
  log=bench/out/run-dedup-$size.log
  w0=$(date +%s.%N)
  mpirun -np "$NP" ./pseudolink run "$job" >"$log" 2>&1 || { echo "$size: run failed, see $log"; continue; }
  w1=$(date +%s.%N)
  total=$(awk '$1 == "total" && NF == 3 { print $2 }' "$log")
  line=$(grep '^linkage dedup registry: [0-9]* rows' "$log")
  sec=$(sed -n 's/^linkage dedup .*, \([0-9.]*\) s$/\1/p' <<<"$line")
  pairs=$(sed -n 's/.* \([0-9]*\) pairs compared.*/\1/p' <<<"$line")
  acc=$(sed -n 's/.* \([0-9]*\) accepted.*/\1/p' <<<"$line")
  ncl=$(sed -n 's/.* rows, \([0-9]*\) clusters.*/\1/p' <<<"$line")
  br=$(sed -n 's/.* \([0-9]*\) weak bridges cut.*/\1/p' <<<"$line")
  q=$(sed -n 's/^linkage dedup .*: true pairwise precision \([0-9.]*\) recall \([0-9.]*\) F1 \([0-9.]*\)/\1 \2 \3/p' "$log")
  cpu=$(sed -n 's/^linkage dedup .*cpu seconds (rank 0) \([0-9.]*\)$/\1/p' "$log")
  rss=$(sed -n 's/^peak RSS per rank (max) \([0-9.]*\) MiB.*/\1/p' "$log")
  printf '%-6s %8.2f %8.2f %8.2f %8.2f %10s %10s %9s %7s %9s %9s %9s %8s\n' "$size" \
    "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" "$total" "$sec" "$cpu" "$pairs" "$acc" "$ncl" "$br" $q "$rss"
  rm -rf "$out"
done
echo "# dedup: wall = whole mpirun; total = the run's own total; dedup = the deduplication (rank 0: model, pairs, bridges, components, pids, report);"
echo "# cpu0 = rank 0's CPU seconds in the deduplication (MPI waits poll, so they count)"
echo "# thresholds.dedup ${UPPER:-10, the default (upper)}; precision, recall, F1 = true pairwise ones of the clustering from /truth (synth --linkage --dup-rate 0.3, default error rates)"
