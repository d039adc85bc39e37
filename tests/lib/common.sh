# Shared helpers for the end-to-end tests (sourced).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
PL=$ROOT/pseudolink
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
TMP=$(mktemp -d /tmp/pseudolink-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
# missing WHAT: this machine lacks WHAT, a component the test needs. Under
# CI=true that is a failure naming it; elsewhere a "skip - WHAT" line that
# tests/run.sh counts (never a silent pass).
missing() {
  if [ "${CI:-}" = true ]; then echo "not ok - missing: $* (CI=true)"; else echo "skip - $*"; fi
}
# check NAME CMD...: ok when CMD succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n"; fi; }

# wait_log PID LOG REGEX TRIES STEP: poll LOG every STEP seconds, at most
# TRIES times, until a line matches REGEX (grep -E) or PID has ended.
wait_log() {
  local pid=$1 log=$2 re=$3 tries=$4 step=$5 _
  for _ in $(seq 1 "$tries"); do
    grep -Eq "$re" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep "$step"
  done
  return 1
}

# mpirun wrapper: np, then pseudolink arguments.
plrun() { local np=$1; shift; mpirun -np "$np" "$PL" "$@"; }

# Copy the fixture keys into $TMP with mode 0600 (git keeps 0644).
keys() {
  mkdir -p "$TMP/keys"
  cp "$ROOT"/inputs/keys/*.key "$TMP/keys/"
  chmod 600 "$TMP"/keys/*.key
}

# A job file for the regression store with overrides: jobfile PATH [MODE].
regression_job() {
  local out=$1 mode=${2:-keyed}
  keys
  sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^mode: .*#mode: $mode#" \
      -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
      "$ROOT/jobs/regression.yaml" >"$out"
}
