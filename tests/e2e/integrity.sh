#!/usr/bin/env bash
# Data integrity under hostile stores and faults (docs/RELIABILITY.md,
# "Data integrity"): NIR-like payload columns are never published in clear,
# integer identity columns are range-checked at any width, all-rejected and
# never-written sources are not a quiet success, I/O failures carry the
# system's reason, control characters never reach a terminal. Stores are
# made with h5py; every run is under `timeout 60`.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
STORE=$ROOT/inputs/regression.h5
base=$TMP/base.yaml
regression_job "$base" keyed

# irun NP JOB OUT [ARGS...]: run under a timeout; rc, stdout in $TMP/out.log,
# stderr in $TMP/err.log, both in $TMP/log.
irun() {
  local np=$1 job=$2 out=$3; shift 3
  timeout 60 mpirun -np "$np" "$PL" run "$job" --out "$out" "$@" \
    >"$TMP/out.log" 2>"$TMP/err.log"
  rc=$?
  cat "$TMP/out.log" "$TMP/err.log" >"$TMP/log"
}
published_nothing() {
  ! [ -e "$1/linked.h5" ] && ! ls -A "$1" 2>/dev/null | grep -vqx audit.log
}
# refused NAME PATTERN OUT: non-zero, not crashed, message, nothing published.
refused() {
  local name=$1 pat=$2 out=$3
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ]; then
    notok "$name: refused with a non-zero exit (got $rc)"; tail -n 5 "$TMP/log"
  else ok "$name: refused with a non-zero exit"; fi
  if grep -Eq -- "$pat" "$TMP/err.log"; then ok "$name: message names it"; else
    notok "$name: message matches /$pat/"; tail -n 5 "$TMP/log"; fi
  check "$name: nothing published" published_nothing "$out"
}
# mkstore OUT PYTHON: copy of the regression store, edited by PYTHON
# (f: the h5py file, np: numpy).
mkstore() {
  cp "$STORE" "$1"
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
exec(sys.argv[2])
f.close()
PY
}
jobwith() { local out=$1; shift; sed "$@" "$base" >"$out"; }

# --------------------------------------------------------------------------
# 1. NIR-like payload columns.
mkstore "$TMP/nirlike.h5" 'g = f["sources/deaths"]; g["parent_nir"] = g["nir"][:]'
jobwith "$TMP/n1.yaml" -e "s#^store: .*#store: $TMP/nirlike.h5#"
irun 2 "$TMP/n1.yaml" "$TMP/o-n1"
refused "parent NIR column, neither keep nor drop" \
  "nirlike.h5: /sources/deaths/parent_nir: payload column looks like NIRs \([0-9]+ of 50 non-empty" "$TMP/o-n1"
$PY - "$STORE" "$TMP/log" <<'PY' && ok "NIR-like refusal: no NIR value in the messages" || notok "NIR-like refusal: no NIR value in the messages"
import sys, h5py
log = open(sys.argv[2], "rb").read()
vals = set(h5py.File(sys.argv[1], "r")["sources/deaths/nir"][:].tolist())
sys.exit(1 if any(v and v in log for v in vals) else 0)
PY

mkstore "$TMP/nirlike2.h5" 'g = f["sources/hospital_stays"]; g["mother_nir"] = g["nir"][:]'
jobwith "$TMP/n2.yaml" -e "s#^store: .*#store: $TMP/nirlike2.h5#" \
  -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date, mother_nir]#"
irun 2 "$TMP/n2.yaml" "$TMP/o-n2"
refused "parent NIR column in an explicit keep" \
  "/sources/hospital_stays/mother_nir: payload column looks like NIRs" "$TMP/o-n2"

jobwith "$TMP/n3.yaml" -e "s#^store: .*#store: $TMP/nirlike2.h5#" \
  -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date, mother_nir]\n    allow_nir_like: [mother_nir]#"
irun 2 "$TMP/n3.yaml" "$TMP/o-n3"
check "allow_nir_like: the job's opt-in lets the column through" test "$rc" -eq 0
$PY -c "import h5py,sys; sys.exit(0 if 'mother_nir' in h5py.File(sys.argv[1],'r')['linked/hospital_stays'] else 1)" "$TMP/o-n3/linked.h5" 2>/dev/null
check "allow_nir_like: the allowed column is carried" test $? -eq 0

# A NIR as a number: int64, uint64, float64; a 13-character NIR without key.
mkstore "$TMP/nirint.h5" '
g = f["sources/deaths"]; v = g["nir"][:]
num = np.array([int(x) if x.isdigit() else 0 for x in v], dtype=np.int64)
g["parent_i64"] = num'
jobwith "$TMP/n4.yaml" -e "s#^store: .*#store: $TMP/nirint.h5#"
irun 2 "$TMP/n4.yaml" "$TMP/o-n4"
refused "NIR as int64" "/sources/deaths/parent_i64: payload column looks like NIRs" "$TMP/o-n4"
mkstore "$TMP/nirf64.h5" '
g = f["sources/deaths"]; v = g["nir"][:]
g["parent_f64"] = np.array([float(int(x)) if x.isdigit() else np.nan for x in v])
g["parent_u64"] = np.array([int(x) if x.isdigit() else 0 for x in v], dtype=np.uint64)'
jobwith "$TMP/n5.yaml" -e "s#^store: .*#store: $TMP/nirf64.h5#"
irun 2 "$TMP/n5.yaml" "$TMP/o-n5"
refused "NIR as float64" "/sources/deaths/parent_f64: payload column looks like NIRs" "$TMP/o-n5"
check "NIR as uint64: refused in the same run" grep -q "/sources/deaths/parent_u64: payload column looks like NIRs" "$TMP/err.log"
mkstore "$TMP/nir13.h5" 'g = f["sources/deaths"]; g["parent13"] = np.array([x[:13] for x in g["nir"][:]], dtype="S13")'
jobwith "$TMP/n6.yaml" -e "s#^store: .*#store: $TMP/nir13.h5#"
irun 2 "$TMP/n6.yaml" "$TMP/o-n6"
refused "13-character NIR without its key (S13)" "/sources/deaths/parent13: payload column looks like NIRs" "$TMP/o-n6"

# Wider strings: a NIR padded in an S32 column, one written with spaces.
mkstore "$TMP/nirfmt.h5" '
g = f["sources/deaths"]; v = g["nir"][:]
g["parent_wide"] = np.array(v, dtype="S32")
g["parent_fmt"] = np.array([b" ".join([x[0:1], x[1:3], x[3:5], x[5:7], x[7:10], x[10:13], x[13:15]]) for x in v], dtype="S24")'
jobwith "$TMP/n6b.yaml" -e "s#^store: .*#store: $TMP/nirfmt.h5#"
irun 2 "$TMP/n6b.yaml" "$TMP/o-n6b"
refused "NIR written with spaces (S24)" "/sources/deaths/parent_fmt: payload column looks like NIRs" "$TMP/o-n6b"
check "NIR padded in a 32-byte string: refused in the same run" grep -q "/sources/deaths/parent_wide: payload column looks like NIRs" "$TMP/err.log"

# Control: random 15-digit numbers (seeded) are not NIRs (~0.5 % pass the
# key by chance, below the 1 % threshold over 1451 rows).
mkstore "$TMP/random15.h5" '
g = f["sources/hospital_stays"]; n = len(g["nir"])
rng = np.random.default_rng(12)
g["order_id"] = rng.integers(10**14, 10**15, n, dtype=np.int64)
g["ref"] = np.array([b"%015d" % x for x in rng.integers(10**14, 10**15, n)], dtype="S15")'
jobwith "$TMP/n7.yaml" -e "s#^store: .*#store: $TMP/random15.h5#" \
  -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date, order_id, ref]#"
irun 2 "$TMP/n7.yaml" "$TMP/o-n7"
check "random 15-digit codes (int64 and S15) are carried, not refused" test "$rc" -eq 0

# allow_nir_like: strict in the job file, checked against the store.
jobwith "$TMP/n8.yaml" -e "s#^    drop: \[quantity\]#    drop: [quantity]\n    allow_nir_like: [p1]#"
irun 1 "$TMP/n8.yaml" "$TMP/o-n8"
refused "allow_nir_like naming an identity column" "n8.yaml:[0-9]+:[0-9]+: sources.pharmacy.allow_nir_like\[0\]: column 'p1' is the identity column" "$TMP/o-n8"
jobwith "$TMP/n9.yaml" -e "s#^    drop: \[quantity\]#    drop: [quantity]\n    allow_nir_like: [nosuch]#"
irun 1 "$TMP/n9.yaml" "$TMP/o-n9"
refused "allow_nir_like naming a column not in the store" "/sources/pharmacy/nosuch: column named in 'allow_nir_like' not found" "$TMP/o-n9"

# --------------------------------------------------------------------------
# 2. Integer identity columns of any width are range-checked.
mkstore "$TMP/wide.h5" '
g = f["sources/deaths"]
br = g["birth_rank"][:].astype(np.int64); bd = g["birth_date"][:].astype(np.int64)
sx = g["sex"][:].astype(np.int64)
br[0] = -1; br[1] = 0; br[2] = 256; br[3] = 257; br[4] = 2**40; br[5] = -(2**40)
bd[6] = bd[6] + 2**32; bd[7] = bd[7] - 2**32
sx[8] = sx[8] + 2**32; sx[9] = sx[9] + 256
for k, v in (("birth_rank", br), ("birth_date", bd), ("sex", sx)):
    del g[k]; g[k] = v'
jobwith "$TMP/w1.yaml" -e "s#^store: .*#store: $TMP/wide.h5#"
irun 2 "$TMP/w1.yaml" "$TMP/o-w1"
check "int64 identity columns: the run completes" test "$rc" -eq 0
$PY - "$TMP/o-w1/linked.h5" <<'PY' >"$TMP/wide.txt"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
rows = f["rejects/deaths/row"][:].tolist(); why = f["rejects/deaths/reason"][:].tolist()
got = dict(zip(rows, why))
want = {0: 12, 1: 12, 2: 12, 3: 12, 4: 12, 5: 12, 6: 8, 7: 8, 8: 9, 9: 9}
for r, c in want.items():
    print("ok" if got.get(r) == c else "bad", r, c, got.get(r))
PY
for r in 0:-1 1:0 2:256 3:257 4:2^40 5:-2^40; do
  row=${r%%:*}; v=${r#*:}
  check "birth_rank $v (int64) rejected with code 12, not truncated" grep -qx "ok $row 12 12" "$TMP/wide.txt"
done
check "birth_date + 2^32 (int64) rejected with code 8, not wrapped" grep -qx "ok 6 8 8" "$TMP/wide.txt"
check "birth_date - 2^32 (int64) rejected with code 8" grep -qx "ok 7 8 8" "$TMP/wide.txt"
check "sex 1 + 2^32 (int64) rejected with code 9, not wrapped" grep -qx "ok 8 9 9" "$TMP/wide.txt"
check "sex + 256 (int64) rejected with code 9" grep -qx "ok 9 9 9" "$TMP/wide.txt"
mkstore "$TMP/wide2.h5" '
g = f["sources/deaths"]
br = g["birth_rank"][:].astype(np.uint64); br[0] = 2**64 - 1; br[1] = 2**63
del g["birth_rank"]; g["birth_rank"] = br'
jobwith "$TMP/w2.yaml" -e "s#^store: .*#store: $TMP/wide2.h5#"
irun 2 "$TMP/w2.yaml" "$TMP/o-w2"
$PY -c "
import h5py, sys
f = h5py.File(sys.argv[1], 'r'); d = dict(zip(f['rejects/deaths/row'][:].tolist(), f['rejects/deaths/reason'][:].tolist()))
sys.exit(0 if d.get(0) == 12 and d.get(1) == 12 else 1)" "$TMP/o-w2/linked.h5" 2>/dev/null
check "birth_rank 2^64-1 and 2^63 (uint64) rejected with code 12" test $? -eq 0

# --------------------------------------------------------------------------
# 3. All rows rejected, datasets never written, options.max_reject_fraction.
mkstore "$TMP/allrej.h5" 'g = f["sources/deaths"]; n = len(g["nir"]); g["nir"][:] = np.array([b"BAD"] * n, dtype="S15")'
jobwith "$TMP/a1.yaml" -e "s#^store: .*#store: $TMP/allrej.h5#"
irun 2 "$TMP/a1.yaml" "$TMP/o-a1"
check "all rows rejected: the run completes by default (warn only)" test "$rc" -eq 0
check "all rows rejected: the summary warns, naming source and reasons" \
  grep -q "^warning: .*allrej.h5: /sources/deaths: all 50 rows rejected (nir_length 50)" "$TMP/out.log"
tail -n 1 "$TMP/o-a1/audit.log" | $PY -c "
import json, sys; w = json.loads(sys.stdin.read()).get('warnings', [])
sys.exit(0 if any('/sources/deaths: all 50 rows rejected (nir_length 50)' in x for x in w) else 1)"
check "all rows rejected: the audit line carries the warning" test $? -eq 0
tail -n 1 "$TMP/o-a1/audit.log" | $PY -c "
import json, sys; sys.exit(0 if json.loads(sys.stdin.read()).get('warnings') == [] else 1)" 2>/dev/null
irun 2 "$base" "$TMP/o-a0"
tail -n 1 "$TMP/o-a0/audit.log" | $PY -c "
import json, sys; sys.exit(0 if json.loads(sys.stdin.read()).get('warnings') == [] else 1)"
check "a clean run: no warning in the audit line" test $? -eq 0
check "a clean run: no warning in the summary" test -z "$(grep '^warning:' "$TMP/out.log")"

jobwith "$TMP/a2.yaml" -e "s#^store: .*#store: $TMP/allrej.h5#" -e "s#^options:#options:\n  max_reject_fraction: 0.5#"
irun 2 "$TMP/a2.yaml" "$TMP/o-a2"
refused "max_reject_fraction 0.5, all rejected" \
  "allrej.h5: /sources/deaths: 50 of 50 rows rejected \(nir_length 50\), more than options.max_reject_fraction 0.5" "$TMP/o-a2"
jobwith "$TMP/a3.yaml" -e "s#^options:#options:\n  max_reject_fraction: 0.05#"
irun 2 "$TMP/a3.yaml" "$TMP/o-a3"
check "max_reject_fraction 0.05, regression store (2.5 % rejected): runs" test "$rc" -eq 0
jobwith "$TMP/a4.yaml" -e "s#^options:#options:\n  max_reject_fraction: 0.02#"
irun 2 "$TMP/a4.yaml" "$TMP/o-a4"
refused "max_reject_fraction 0.02, regression store (37/1451 rejected)" \
  "/sources/hospital_stays: 37 of 1451 rows rejected \(.*\), more than options.max_reject_fraction 0.02" "$TMP/o-a4"
for bad in 1.5 -0.1 lots 5%; do
  jobwith "$TMP/a5.yaml" -e "s#^options:#options:\n  max_reject_fraction: $bad#"
  irun 1 "$TMP/a5.yaml" "$TMP/o-a5"
  refused "max_reject_fraction '$bad'" "a5.yaml:[0-9]+:[0-9]+: options.max_reject_fraction: expected a fraction from 0 to 1" "$TMP/o-a5"
done

# Declared, never written: h5py creates datasets without storage.
mkstore "$TMP/unwritten.h5" '
g = f["sources/deaths"]
for k in list(g):
    dt, n = g[k].dtype, len(g[k]); del g[k]; g.create_dataset(k, (n,), dtype=dt)'
jobwith "$TMP/u1.yaml" -e "s#^store: .*#store: $TMP/unwritten.h5#"
irun 2 "$TMP/u1.yaml" "$TMP/o-u1"
check "never-written source: the summary warns" \
  grep -q "^warning: .*unwritten.h5: /sources/deaths: 6 columns declared but never written" "$TMP/out.log"
tail -n 1 "$TMP/o-u1/audit.log" | $PY -c "
import json, sys; w = json.loads(sys.stdin.read()).get('warnings', [])
sys.exit(0 if any('/sources/deaths: 6 columns declared but never written' in x for x in w) else 1)"
check "never-written source: the audit line carries the warning" test $? -eq 0
mkstore "$TMP/unwritten_p1.h5" '
g = f["sources/pharmacy"]; n = len(g["p1"]); del g["p1"]; g.create_dataset("p1", (n, 32), dtype="u1")'
jobwith "$TMP/u2.yaml" -e "s#^store: .*#store: $TMP/unwritten_p1.h5#"
irun 2 "$TMP/u2.yaml" "$TMP/o-u2"
check "never-written p1 column (no rejects possible): the summary warns" \
  grep -q "^warning: .*/sources/pharmacy: 1 column declared but never written .*first 'p1'" "$TMP/out.log"

# --------------------------------------------------------------------------
# 4. A full file system: the message carries the system's reason.
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=256k tmpfs "$TMP/full" 2>/dev/null; then
  trap 'umount "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT
  irun 2 "$base" "$TMP/full/out"
  check "full file system: non-zero exit" test "$rc" -ne 0 -a "$rc" -lt 124
  check "full file system: no crash" test "$rc" -lt 128
  # (Open MPI's own "mca_fbtl_posix_pwritev: ..." line does not count.)
  check "full file system: our message gives the reason (No space left on device)" grep -Eq "^([0-9TZ:-]+ )?pseudolink: .*error: .*No space left on device" "$TMP/err.log"
  if grep -E "pseudolink: .*error: .*(failed|cannot [a-z ]+)(: *)?$" "$TMP/err.log" >/dev/null; then
    notok "full file system: no message ends in an empty reason"; grep -E "(failed|cannot [a-z ]+)(: *)?$" "$TMP/err.log" | head -3
  else ok "full file system: no message ends in an empty reason"; fi
  # A close that stalls after ENOSPC ends the ranks after 30 s (par/output.c)
  # and leaves the run's temporary directory as the evidence of a dead run:
  # not published, and the next run must record it and remove it.
  left=$(ls -A "$TMP/full/out" 2>/dev/null | grep -E '^\.pseudolink-run\.tmp-' | head -1)
  if [ -n "$left" ]; then
    check "full file system: nothing published (only the dead run's temporary directory)" \
      eval '! [ -e "$TMP/full/out/linked.h5" ] && ! ls -A "$TMP/full/out" | grep -vqxE "audit.log|\.pseudolink-run\.tmp-.*|\.pseudolink\.lock"'
    mount -o remount,size=64m "$TMP/full"
    irun 2 "$base" "$TMP/full/out"
    dead=${left#.pseudolink-run.tmp-}
    check "full file system: the next run succeeds" test "$rc" -eq 0
    check "full file system: the next run records the dead run and removes it" \
      eval '! [ -e "$TMP/full/out/$left" ] && grep -q "\"command\":\"run\".*\"run_id\":\"$dead\".*\"found_by\".*\"outcome\":\"failure\"" "$TMP/full/out/audit.log"'
  else
    check "full file system: nothing published" published_nothing "$TMP/full/out"
  fi
  umount "$TMP/full"
else
  missing "tmpfs mount (root) for the full file system case"
fi
# A store that is not HDF5 beyond its signature: HDF5's reason, not "".
head -c 3000 "$STORE" >"$TMP/trunc.h5"
jobwith "$TMP/t1.yaml" -e "s#^store: .*#store: $TMP/trunc.h5#"
irun 2 "$TMP/t1.yaml" "$TMP/o-t1"
if grep -Eq "trunc.h5: cannot open store: .+" "$TMP/err.log" && ! grep -Eq "cannot open store: *$" "$TMP/err.log"; then
  ok "truncated store: the open failure carries HDF5's reason"; else
  notok "truncated store: the open failure carries HDF5's reason"; tail -n 3 "$TMP/err.log"; fi

# --------------------------------------------------------------------------
# 5. Control characters in names and paths are escaped everywhere.
ctl() { LC_ALL=C grep -P '[\x00-\x08\x0b-\x1f\x7f]' "$@" >/dev/null; }
ESC=$'\x1b'
weird="$TMP/o${ESC}[31mred"$'\n'"FORGED: line"
irun 2 "$base" "$weird"
check "ESC/newline in --out: the run completes" test "$rc" -eq 0
check "ESC/newline in --out: no raw control byte in the summary" eval '! ctl "$TMP/out.log"'
check "ESC/newline in --out: the path is shown escaped" grep -qF 'o\x1b[31mred\x0aFORGED: line/linked.h5' "$TMP/out.log"
check "ESC/newline in --out: no forged line in the summary" eval '! grep -q "^FORGED" "$TMP/log"'
jobwith "$TMP/c1.yaml" -e "s#keep: \[stay_date, diagnosis, los, cost\]#keep: [stay_date, \"di\\\\eag\\\\nFORGED\\\\x7f\"]#"
irun 2 "$TMP/c1.yaml" "$TMP/o-c1"
refused "ESC in a column name" 'hospital_stays/di\\x1bag\\x0aFORGED\\x7f: kept column not found' "$TMP/o-c1"
check "ESC in a column name: no raw control byte in the messages" eval '! ctl "$TMP/log"'
check "ESC in a column name: no forged line" eval '! grep -q "^FORGED" "$TMP/log"'
printf '\xc2\x9b' >"$TMP/c1b"; csi=$(cat "$TMP/c1b")
irun 2 "$base" "$TMP/o-c2" --store "$TMP/st${ESC}]0;title${csi}x.h5"
refused "ESC and C1 CSI in --store" 'st\\x1b\]0;title\\xc2\\x9bx.h5: cannot open store' "$TMP/o-c2"
check "control bytes in --store: none raw in the messages" eval '! ctl "$TMP/log" && ! LC_ALL=C grep -q $'"'"'\xc2\x9b'"'"' "$TMP/log"'
"$PL" "frob${ESC}[2Jnicate" >"$TMP/log" 2>&1
check "ESC in an unknown command name: escaped" grep -qF "unknown command 'frob\x1b[2Jnicate'" "$TMP/log"
