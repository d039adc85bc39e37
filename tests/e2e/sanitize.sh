#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer): builds the
# library, the unit tests and the binary into build-san/ (`make
# sanitize-build`) and runs every unit test plus a small end-to-end subset
# with them. Leaks inside Open MPI / PMIx / hwloc / HDF5 are suppressed by
# tests/san.supp; any other report fails the test.
source "$(dirname "$0")/../lib/common.sh"
SAN=$ROOT/build-san
if make --no-print-directory -s -j"$(nproc 2>/dev/null || echo 2)" -C "$ROOT" sanitize-build >"$TMP/build.log" 2>&1; then
  ok "sanitized build (build-san/)"
else
  notok "sanitized build (build-san/)"; tail -n 30 "$TMP/build.log"; exit 1
fi
# fast_unwind_on_malloc=0: Open MPI's libraries have no frame pointers, so
# only the slow unwinder gives leak stacks deep enough for the suppressions.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$ROOT/tests/san.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Unit tests with an exhaustive matrix (test_sha256mb) take its edges only
# here: the plain build (tests/run.sh) runs the whole matrix.
export PL_TEST_QUICK=1

# san_clean NAME LOG: no sanitizer report in LOG.
san_clean() {
  if grep -Eq 'Sanitizer|runtime error:' "$2"; then
    notok "$1: sanitizer report"; grep -v '^\[' "$2" | grep -A 30 -E 'Sanitizer|runtime error:' | head -n 60
  else ok "$1: no sanitizer report"; fi
}

for t in "$SAN"/tests/test_*; do
  n=$(basename "$t")
  # A test that calls MPI_Init runs under mpirun -np 1: as an MPI singleton
  # LeakSanitizer's tracer crashes on Open MPI's threads (signal 11, every
  # time on this machine), which would hide the test's own result.
  run=("$t")
  grep -q MPI_Init "$ROOT/tests/unit/$n.c" 2>/dev/null &&
    run=(mpirun -np 1 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS -x PL_TEST_QUICK "$t")
  if "${run[@]}" >"$TMP/$n.log" 2>&1 && ! grep -q '^not ok' "$TMP/$n.log"; then ok "$n (sanitized) passes"
  else notok "$n (sanitized) passes"; tail -n 20 "$TMP/$n.log"; fi
  san_clean "$n" "$TMP/$n.log"
done

# The regression job at -np 2 with the sanitized binary, checked for truth.
job=$TMP/job.yaml
regression_job "$job" keyed
if mpirun -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
     "$SAN/pseudolink" run "$job" --out "$TMP/reg" >"$TMP/reg.log" 2>&1; then
  ok "regression job (sanitized, -np 2) runs"
  tests/bin/check_linked "$ROOT/inputs/regression.h5" "$TMP/reg/linked.h5" |
    sed -E 's/^(not )?ok - /&sanitized: /'
else notok "regression job (sanitized, -np 2) runs"; tail -n 30 "$TMP/reg.log"; fi
san_clean "regression job" "$TMP/reg.log"

# produce on the CSV fixture (stage/export_csv.c: split, batches, wipes)
# at -np 2, and a CSV error in the last rank's part at -np 3.
K=$TMP/tk; mkdir -p "$K"; cp "$ROOT"/inputs/transfer/atih_signing.* "$ROOT"/inputs/transfer/hdh_transport.pub.pem "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/transfer/#$K/#g" -e "s#^output: .*#output: $TMP/csvprod#" \
  "$ROOT/jobs/producer_atih.yaml" >"$TMP/atih.yaml"
CSIGN="--signing-key $K/atih_signing.key.pem --signing-passphrase-file $K/atih_signing.pass"
mpirun -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS "$SAN/pseudolink" produce "$TMP/atih.yaml" $CSIGN >"$TMP/csvprod.log" 2>&1
check "produce on the CSV export (sanitized, -np 2)" test $? -eq 0
san_clean "produce on CSV" "$TMP/csvprod.log"
/usr/bin/python3 -c "
import sys; L = open(sys.argv[1], 'rb').read().split(b'\r\n')[:-1]
p = L[7000].split(b';'); p[7] = b'x'; L[7000] = b';'.join(p)
open(sys.argv[2], 'wb').write(b'\r\n'.join(L) + b'\r\n')" "$ROOT/inputs/atih_stays.csv" "$TMP/bad.csv"
sed -e "s#inputs/atih_stays.csv#$TMP/bad.csv#" -e "s#^output: .*#output: $TMP/csvbad#" "$TMP/atih.yaml" >"$TMP/bad.yaml"
mpirun -np 3 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS "$SAN/pseudolink" produce "$TMP/bad.yaml" $CSIGN >"$TMP/csvbad.log" 2>&1
rc=$?
check "produce on a bad CSV (sanitized, -np 3) fails, naming the line" \
  bash -c "[ $rc -ne 0 ] && grep -q 'bad.csv:[0-9]*:[0-9]*: column .DUREE. (field 8)' '$TMP/csvbad.log' && [ ! -e '$TMP/csvbad/current' ]"
san_clean "produce on a bad CSV" "$TMP/csvbad.log"

# More ranks than persons, with extracts: ranks that hold no links and
# receive no risk records (empty sort runs, empty gathers) under UBSan.
"$PL" synth --persons 3 --sources 3 --seed 7 --producer-key "$TMP/keys/producer.key" \
  -o "$TMP/tiny.h5" >/dev/null
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/tiny.h5#" \
    -e "s#on_violation: refuse#on_violation: warn#" "$ROOT/jobs/extracts.yaml" >"$TMP/tinyx.yaml"
mpirun -np 5 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
  "$SAN/pseudolink" run "$TMP/tinyx.yaml" --out "$TMP/tinyx" >"$TMP/tinyx.log" 2>&1
check "tiny store with extracts (sanitized, -np 5) runs" test $? -eq 0
san_clean "tiny store with extracts" "$TMP/tinyx.log"

# Linkage, dedup and split with more ranks than records (ranks that route
# and receive no record, pair or candidate: empty gathers under UBSan).
"$PL" synth --linkage --persons 2 --records 1 --seed 7 -o "$TMP/tinyl.h5" >/dev/null
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/tinyl.h5#" -e "/^custody:/,/carol/d" \
    -e "s#^  sources: \[registry\]#  sources: [registry]\n  dedup: [registry]#" -e "s#max_block: 1000#max_block: 2#" \
    "$ROOT/jobs/linkage.yaml" >"$TMP/tinyl.yaml"
mpirun -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
  "$SAN/pseudolink" run "$TMP/tinyl.yaml" --out "$TMP/tinyl" >"$TMP/tinyl.log" 2>&1
check "linkage and dedup of 1 record on 2 ranks (sanitized) runs" test $? -eq 0
san_clean "linkage and dedup of 1 record on 2 ranks" "$TMP/tinyl.log"
# ... and of a few hundred records a rank: records at rest (their names'
# dictionary indices, stage/fellegi.h), blocks, splits and pairs on every
# rank (a misaligned record header showed only here)
"$PL" synth --linkage --persons 600 --records 400 --seed 9 -o "$TMP/smalll.h5" >/dev/null
sed -e "s#^store: .*#store: $TMP/smalll.h5#" "$TMP/tinyl.yaml" >"$TMP/smalll.yaml"
mpirun -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
  "$SAN/pseudolink" run "$TMP/smalll.yaml" --out "$TMP/smalll" >"$TMP/smalll.log" 2>&1
check "linkage and dedup of 500 records a rank (sanitized) runs" test $? -eq 0
check "... and compares pairs" grep -qE 'registry -> persons: .* [1-9][0-9]* pairs compared' "$TMP/smalll.log"
san_clean "linkage and dedup of 500 records a rank" "$TMP/smalll.log"

# One bad-input case: a clean error exit must not leak or misbehave either.
sed "s#^store: .*#store: $TMP/missing.h5#" "$job" >"$TMP/bad.yaml"
mpirun -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
  "$SAN/pseudolink" run "$TMP/bad.yaml" --out "$TMP/bad" >"$TMP/bad.log" 2>&1
rc=$?
grep -q "missing.h5: cannot open store" "$TMP/bad.log"
check "bad input (sanitized): clear error, non-zero exit" test $? -eq 0 -a $rc -ne 0
san_clean "bad input" "$TMP/bad.log"

# Hostile job file (parse-only path).
printf 'a: &x 1\nb: *x\n' >"$TMP/bomb.yaml"
# Under mpirun like the runs above: a singleton MPI_Init starts helper
# threads whose exit races LeakSanitizer's stop-the-world ("LeakSanitizer
# has encountered a fatal error"), which is no finding of ours.
mpirun -np 1 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
  "$SAN/pseudolink" run "$TMP/bomb.yaml" >"$TMP/bomb.log" 2>&1
check "YAML anchors (sanitized): refused" test $? -ne 0
san_clean "YAML anchors" "$TMP/bomb.log"

# keygen: a new 0600 key, same size as the fixtures (64 hex digits + LF).
"$SAN/pseudolink" keygen "$TMP/new.key" >"$TMP/keygen.log" 2>&1
check "keygen (sanitized): key written, mode 0600" \
  test $? -eq 0 -a "$(stat -c '%a %s' "$TMP/new.key" 2>/dev/null)" = "600 $(stat -c %s "$ROOT/inputs/keys/producer.key")"
san_clean "keygen" "$TMP/keygen.log"
