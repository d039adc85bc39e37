#!/usr/bin/env bash
# `produce` on a CSV export (part of `make bench`; also runnable alone:
# NP=2 bash bench/produce_csv.sh): rows/s per core of the whole stage 1 at
# the producer — CSV parsing and validation (Latin-1 -> UTF-8, typed
# columns, dates), identity checks, HMAC (p1), AES-256-GCM of every block,
# the signed manifest, the reject report — at -np NP on the ATIH fixture's
# rows repeated CSV_REPEAT times (default 133: 1.0 M rows, 76 MB; made once
# in bench/data/ by inputs/gen_atih_csv.py). Fastest of CSV_REPS (3) runs;
# prints the CPU, the load average before each run, wall time of the
# produce stage (slowest rank, produce's own "s, rows/s" line), the rate
# per core (rows/s / NP) and per CPU second of the busiest rank (produce's
# "cpu" line: the rate of a core the machine does not share). Not a test: nothing fails on a slow machine.
set -u
cd "$(dirname "$0")/.."
NP=${NP:-2}
REPEAT=${CSV_REPEAT:-133}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
DATA=$PWD/bench/data
OUT=$PWD/bench/out
mkdir -p "$DATA/keys" "$DATA/transfer" "$OUT"
cp inputs/keys/*.key "$DATA/keys/" && chmod 600 "$DATA"/keys/*.key
cp inputs/transfer/atih_signing.* inputs/transfer/hdh_transport.* "$DATA/transfer/"
chmod 600 "$DATA"/transfer/*.key.pem "$DATA"/transfer/*.pass
csv=$DATA/atih-x$REPEAT.csv
if [ ! -s "$csv" ]; then
  /usr/bin/python3 inputs/gen_atih_csv.py inputs/laptop.h5 "$csv.part" "$REPEAT" && mv "$csv.part" "$csv" ||
    { echo "cannot make $csv"; exit 1; }
fi
job=$DATA/produce-csv.yaml
sed -e "s#inputs/atih_stays.csv#$csv#" -e "s#inputs/keys/#$DATA/keys/#g" \
    -e "s#inputs/transfer/#$DATA/transfer/#g" -e "s#^output: .*#output: $DATA/prod-csv#" \
    jobs/producer_atih.yaml >"$job"
best="" rate="" rows=""
for rep in $(seq "${CSV_REPS:-3}"); do
  rm -rf "$DATA/prod-csv"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  log=$OUT/produce-csv.log
  mpirun -np "$NP" ./pseudolink produce "$job" --signing-key "$DATA/transfer/atih_signing.key.pem" \
    --signing-passphrase-file "$DATA/transfer/atih_signing.pass" >"$log" 2>&1 ||
    { echo "produce (CSV) failed, see $log"; exit 1; }
  t=$(awk '/ s, .* rows\/s$/ { print $1 }' "$log")
  r=$(awk '/ s, .* rows\/s$/ { print $3 }' "$log")
  c=$(awk '/^cpu .* rows per CPU second per rank$/ { print $2, $8 }' "$log")
  echo "# run $rep: load average $load before; $t s, $r rows/s; busiest rank's CPU ${c% *} s, ${c#* } rows per CPU second"
  if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
    best=$t rate=$r bload=$load; fi
  if [ -z "${cbest:-}" ] || awk -v a="${c#* }" -v b="$cbest" 'BEGIN { exit !(a > b) }'; then cbest=${c#* }; fi
  rows=$(awk '$1 == "hospital_stays" { print $2 }' "$log")
done
rm -rf "$DATA/prod-csv"
echo "# produce on CSV ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores), -np $NP, $rows rows, $(du -m "$csv" | cut -f1) MB, fastest of ${CSV_REPS:-3} (load average $bload before it)"
printf '%-34s %9s %14s %14s %14s\n' step seconds rows/s rows/s/core rows/cpu-s
printf '%-34s %9.3f %14.0f %14.0f %14.0f\n' "produce (CSV, 1 source)" "$best" "$rate" \
  "$(awk -v r="$rate" -v n="$NP" 'BEGIN { print r / n }')" "$cbest"
echo "# rows/cpu-s: rows per CPU second of the busiest rank (user + system),"
echo "# what a core gives when the machine is shared (wall/core = it when idle)."
echo "# target: >= 1000000 rows/s/core (issue 13)"
