#!/usr/bin/env bash
# Multi-buffer SHA-256 kernels (src/crypto/sha256mb.h) in real runs:
#   - PSEUDOLINK_SHA256 selects each kernel this CPU runs; an unknown value
#     falls back to the best one with a warning;
#   - the regression job (keyed, -np 2) gives h5diff-identical linked.h5
#     with the scalar kernel and every SIMD kernel, matches the ground truth,
#     and every pid is recomputed from the store by Python (check_pids.py);
#   - the extracts job: identical project extracts, scalar vs best kernel.
source "$(dirname "$0")/../lib/common.sh"
has() { grep -qw "$1" /proc/cpuinfo; }
kernels=scalar
has avx2 && kernels="$kernels avx2"
has avx512f && has avx512bw && has avx512vl && kernels="$kernels avx512"
best=${kernels##* }
# Default choice (sha256mb.c): avx512, else OpenSSL's SHA-NI one-stream
# compression ("scalar") rather than 8 AVX2 lanes, else avx2, else scalar.
default=$best
[ "$best" = avx2 ] && has sha_ni && default=scalar

for k in scalar avx2 avx512; do
  case " $kernels " in
    *" $k "*)
      got=$(PSEUDOLINK_SHA256=$k tests/bin/test_sha256mb --active 2>&1)
      check "PSEUDOLINK_SHA256=$k selects the $k kernel" test "$got" = "$k" ;;
    *) echo "skip - PSEUDOLINK_SHA256=$k: not supported by this CPU" ;;
  esac
done
check "without PSEUDOLINK_SHA256 the default kernel ($default) is used" \
  test "$(env -u PSEUDOLINK_SHA256 tests/bin/test_sha256mb --active)" = "$default"
got=$(PSEUDOLINK_SHA256=sse9 tests/bin/test_sha256mb --active 2>"$TMP/warn")
test "$got" = "$default" && grep -q 'PSEUDOLINK_SHA256=sse9: unknown value' "$TMP/warn"
check "an unknown PSEUDOLINK_SHA256 warns and falls back to $default" test $? -eq 0

# krun KERNEL JOB OUT: the job at -np 2 with that kernel.
krun() {
  PSEUDOLINK_SHA256=$1 mpirun -np 2 -x PSEUDOLINK_SHA256 "$PL" run "$2" \
    --out "$3" >"$3.log" 2>&1
}

regression_job "$TMP/job.yaml" keyed
for k in $kernels; do
  if krun "$k" "$TMP/job.yaml" "$TMP/reg-$k"; then
    ok "$k: regression job runs"
  else
    notok "$k: regression job runs"; tail -n 20 "$TMP/reg-$k.log"; continue
  fi
  grep -q "^sha256 kernel $k (" "$TMP/reg-$k.log"
  check "$k: the run summary names the kernel" test $? -eq 0
  tests/bin/check_linked "$ROOT/inputs/regression.h5" "$TMP/reg-$k/linked.h5" |
    sed -E "s/^(not )?ok - /&$k: /"
  /usr/bin/python3 tests/e2e/check_pids.py "$ROOT/inputs/regression.h5" \
    "$TMP/reg-$k/linked.h5" "$TMP/keys/producer.key" "$TMP/keys/platform.key" \
    hospital_stays:nir+rank deaths:nir+rank pharmacy:p1 >"$TMP/pids-$k" 2>&1 ||
    grep -q '^not ok' "$TMP/pids-$k" || notok "$k: check_pids.py failed"
  sed -E "s/^(not )?ok - /&$k: /" "$TMP/pids-$k"
  [ "$k" = scalar ] && continue
  h5diff "$TMP/reg-scalar/linked.h5" "$TMP/reg-$k/linked.h5" >"$TMP/diff-$k"
  check "$k: linked.h5 identical to the scalar kernel's (h5diff)" test $? -eq 0
done

sed -e "s#inputs/keys/#$TMP/keys/#g" \
    -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
    "$ROOT/jobs/extracts.yaml" >"$TMP/extracts.yaml"
for k in scalar $best; do
  krun "$k" "$TMP/extracts.yaml" "$TMP/x-$k"   # status 3: cardio is refused
done
h5diff "$TMP/x-scalar/extracts/diabetes.h5" "$TMP/x-$best/extracts/diabetes.h5" \
  >"$TMP/diff-x"
check "extracts: diabetes.h5 identical with scalar and $best kernels" test $? -eq 0
