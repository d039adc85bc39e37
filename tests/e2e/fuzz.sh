#!/usr/bin/env bash
# libFuzzer targets (clang -fsanitize=fuzzer,address,undefined):
#   fuzz_job  pl_job_parse on arbitrary bytes (yamltree + config)
#   fuzz_nir  pl_identity_check on arbitrary NIR/date/sex/rank
#   fuzz_csv  the CSV reader on arbitrary bytes, one pass against its split
# Each replays its seed corpus (tests/fuzz/corpus/<target>/, which also holds
# the regression inputs) and then fuzzes for FUZZ_SECONDS (default 6) on a
# scratch copy of the corpus. `make fuzz-long` sets FUZZ_SECONDS=600.
source "$(dirname "$0")/../lib/common.sh"
SECS=${FUZZ_SECONDS:-6}
BIN=$ROOT/tests/fuzz/bin
HDF5_PC=$(pkg-config --exists hdf5-mpi && echo hdf5-mpi || echo hdf5-openmpi)
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Isrc $(pkg-config --cflags $HDF5_PC yaml-0.1 libcrypto) $(mpicc --showme:compile)"
LIBS="$(pkg-config --libs $HDF5_PC yaml-0.1 libcrypto) $(mpicc --showme:link) -lm"
declare -A SRCS=(
  [job]="src/job/config.c src/base/yamltree.c src/base/log.c src/base/mem.c src/base/parse.c src/job/custody_cfg.c src/job/extract_config.c src/crypto/custody.c src/base/hex.c src/base/secure.c src/job/csv_cfg.c src/base/csv.c src/job/linkage_config.c src/job/encode_cfg.c"
  [nir]="src/stage/nir.c"
  [csv]="src/base/csv.c src/base/log.c src/base/mem.c src/base/secure.c"
)
mkdir -p "$BIN"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for t in job nir csv; do
  # shellcheck disable=SC2086
  if clang $CFLAGS -o "$BIN/fuzz_$t" "tests/fuzz/fuzz_$t.c" ${SRCS[$t]} $LIBS >"$TMP/build_$t.log" 2>&1; then
    ok "fuzz_$t builds"
  else notok "fuzz_$t builds"; tail -n 20 "$TMP/build_$t.log"; continue; fi
  corpus=$ROOT/tests/fuzz/corpus/$t
  # Replay: every seed and regression input, once.
  if (cd "$TMP" && "$BIN/fuzz_$t" "$corpus"/* >"$TMP/replay_$t.log" 2>&1); then
    ok "fuzz_$t: replays $(ls "$corpus" | wc -l) corpus inputs"
  else notok "fuzz_$t: replays the corpus"; tail -n 30 "$TMP/replay_$t.log"; fi
  mkdir -p "$TMP/corpus_$t" "$TMP/crash_$t"
  if (cd "$TMP" && "$BIN/fuzz_$t" -max_total_time="$SECS" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$TMP/crash_$t/" \
        "$TMP/corpus_$t" "$corpus" >"$TMP/fuzz_$t.log" 2>&1); then
    ok "fuzz_$t: ${SECS} s of fuzzing, no crash ($(grep -o 'Done [0-9]* runs' "$TMP/fuzz_$t.log"))"
  else
    notok "fuzz_$t: ${SECS} s of fuzzing, no crash"; grep -v '^#' "$TMP/fuzz_$t.log" | tail -n 40
    # Keep the crashing input for a regression case.
    mkdir -p "$ROOT/tests/fuzz/crashes"; cp "$TMP/crash_$t"/* "$ROOT/tests/fuzz/crashes/" 2>/dev/null
  fi
done
