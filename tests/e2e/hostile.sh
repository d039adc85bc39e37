#!/usr/bin/env bash
# Hostile and broken input: corrupted stores, degenerate sources, odd bytes
# in identifiers, YAML bombs, integer overflows. Each case must end in a
# clear error (file and object named, non-zero exit, nothing published) or
# in rejects -- never a crash, a hang or silently wrong counts. Every run is
# wrapped in `timeout 60` so that a hang is a failure, not a stuck CI.
source "$(dirname "$0")/../lib/common.sh"
STORE=$ROOT/inputs/regression.h5
base=$TMP/base.yaml
regression_job "$base" keyed
PY=/usr/bin/python3

# hrun NP JOB OUT: run under a timeout; sets rc, output in $TMP/log.
hrun() {
  timeout 60 mpirun -np "$1" "$PL" run "$2" --out "$3" >"$TMP/log" 2>&1
  rc=$?
}

# not_crashed NAME: the last run neither hung nor died of a signal.
not_crashed() {
  if [ "$rc" -eq 124 ]; then notok "$1: hung (timeout 60 s)"; return 1; fi
  if [ "$rc" -ge 128 ] || grep -Eqi 'signal [0-9]+|segmentation|core dumped|AddressSanitizer|runtime error' "$TMP/log"; then
    notok "$1: crashed (status $rc)"; tail -n 20 "$TMP/log"; return 1
  fi
  ok "$1: no crash, no hang"
}

# published_nothing OUT: only the failed run's audit.log may remain.
published_nothing() {
  ! [ -e "$1/linked.h5" ] && ! ls -A "$1" 2>/dev/null | grep -vqx audit.log
}

# expect_fail NAME JOB PATTERN [NP]
expect_fail() {
  local name=$1 job=$2 pat=$3 np=${4:-2} out=$TMP/out-$RANDOM
  hrun "$np" "$job" "$out"
  not_crashed "$name" || return
  if [ "$rc" -eq 0 ]; then notok "$name: exits non-zero (got 0)"; tail -n 20 "$TMP/log"; return; fi
  if grep -Eq -- "$pat" "$TMP/log"; then ok "$name: message matches"; else
    notok "$name: message matches /$pat/"; tail -n 20 "$TMP/log"; fi
  check "$name: nothing published" published_nothing "$out"
}

# counts_add_up STORE OUT: for every source, linked + rejected rows equal
# the rows in the store, and rejected rows are distinct and in range.
counts_add_up() {
  $PY - "$1" "$2/linked.h5" <<'PY'
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r"); o = h5py.File(sys.argv[2], "r")
bad = 0
for name in s["sources"]:
    g = s["sources"][name]
    n = len(g[next(iter(g))])
    lk = len(o["linked"][name]["row"]) if name in o["linked"] else 0
    rj = o["rejects"][name]["row"][:] if name in o["rejects"] else np.array([])
    if lk + len(rj) != n or len(set(rj.tolist())) != len(rj) or (len(rj) and (rj.min() < 0 or rj.max() >= n)):
        print("source", name, "rows", n, "linked", lk, "rejected", len(rj)); bad = 1
sys.exit(bad)
PY
}

# fail_or_consistent NAME STORECOPY: a corrupted store either fails cleanly
# (message names the store, nothing published) or runs with consistent counts.
fail_or_consistent() {
  local name=$1 st=$2 out=$TMP/out-$RANDOM
  sed "s#^store: .*#store: $st#" "$base" >"$TMP/fc.yaml"
  hrun 2 "$TMP/fc.yaml" "$out"
  not_crashed "$name" || return
  if [ "$rc" -ne 0 ]; then
    if grep -q "$(basename "$st")" "$TMP/log"; then ok "$name: error names the store"
    else notok "$name: error names the store"; tail -n 20 "$TMP/log"; fi
    check "$name: nothing published" published_nothing "$out"
  else
    check "$name: ran; linked + rejected = rows read" counts_add_up "$st" "$out"
  fi
}

# corrupt COPY MODE OFFSET LEN: zero or bit-flip LEN bytes at OFFSET.
corrupt() {
  cp "$STORE" "$1"
  $PY - "$1" "$2" "$3" "$4" <<'PY'
import sys
p, mode, off, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(n)
    b = bytes(n) if mode == "zero" else bytes(x ^ 0xFF for x in b)
    f.seek(off); f.write(b)
PY
}

# --- 1. corrupted store -------------------------------------------------
# Metadata lives in the first ~2 KiB (superblock, object headers, B-trees,
# local heaps); datasets are contiguous from 2120 on (hospital_stays/nir).
corrupt "$TMP/m1.h5" zero 96 400;    fail_or_consistent "metadata zeroed 96+400" "$TMP/m1.h5"
corrupt "$TMP/m2.h5" flip 600 300;   fail_or_consistent "metadata flipped 600+300" "$TMP/m2.h5"
corrupt "$TMP/m3.h5" flip 1200 900;  fail_or_consistent "metadata flipped 1200+900" "$TMP/m3.h5"
corrupt "$TMP/m4.h5" zero 1500 600;  fail_or_consistent "metadata zeroed 1500+600" "$TMP/m4.h5"
corrupt "$TMP/d1.h5" flip 5000 3000; fail_or_consistent "data flipped: NIRs" "$TMP/d1.h5"
corrupt "$TMP/d2.h5" zero 26000 4000; fail_or_consistent "data zeroed: birth dates, sex" "$TMP/d2.h5"
corrupt "$TMP/d3.h5" flip 80000 5000; fail_or_consistent "data flipped: p1" "$TMP/d3.h5"

# --- 2. degenerate and odd stores (written with h5py) -----------------------
mkstore() {
  $PY - "$STORE" "$1" <<PY
import sys, shutil, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
f = h5py.File(sys.argv[2], "r+")
$2
f.close()
PY
}
storejob() { sed "s#^store: .*#store: $2#" "$base" >"$1"; }

# Zero-length source: every dataset of deaths has 0 rows.
mkstore "$TMP/empty.h5" '
g = f["sources/deaths"]
for k in list(g):
    d = g[k]; dt = d.dtype; sh = (0,) + d.shape[1:]; del g[k]; g.create_dataset(k, sh, dtype=dt)'
storejob "$TMP/e.yaml" "$TMP/empty.h5"
hrun 2 "$TMP/e.yaml" "$TMP/out-empty"
if not_crashed "zero-length source"; then
  if [ "$rc" -eq 0 ]; then
    check "zero-length source: ran; linked + rejected = rows read" counts_add_up "$TMP/empty.h5" "$TMP/out-empty"
    grep -Eq '^deaths +0 +0 +0' "$TMP/log"
    check "zero-length source: summary shows 0 rows for deaths" test $? -eq 0
  else
    grep -q "empty.h5: /sources/deaths" "$TMP/log"
    check "zero-length source: error names file and source" test $? -eq 0
  fi
fi

# A NIR column declared as a 1 MB fixed string (chunked, never written, so
# the file stays small): refused by type, before any read.
mkstore "$TMP/huge.h5" '
g = f["sources/hospital_stays"]; n = len(g["nir"]); del g["nir"]
g.create_dataset("nir", (n,), dtype="S1000000", chunks=(1,), compression="gzip")'
storejob "$TMP/h.yaml" "$TMP/huge.h5"
expect_fail "NIR of string size 1000000" "$TMP/h.yaml" "huge.h5: /sources/hospital_stays/nir: .*expected .*15 bytes"

# NUL inside a NIR -> nir_length (1); a non-ASCII byte -> nir_charset (2).
mkstore "$TMP/bytes.h5" '
d = f["sources/hospital_stays/nir"]
d[0] = b"185017512\x0045678"
d[1] = b"18501751234\xe9567"
d[2] = b"\xff" * 15
d[3] = b"\x00" * 15'
storejob "$TMP/b.yaml" "$TMP/bytes.h5"
hrun 2 "$TMP/b.yaml" "$TMP/out-bytes"
if not_crashed "NUL and non-ASCII bytes in NIRs" && [ "$rc" -eq 0 ]; then
  ok "NUL and non-ASCII bytes in NIRs: run succeeds"
  $PY - "$TMP/out-bytes/linked.h5" <<'PY'
import sys, h5py
o = h5py.File(sys.argv[1], "r")["rejects/hospital_stays"]
r = dict(zip(o["row"][:].tolist(), o["reason"][:].tolist()))
for row, want, what in [(0, 1, "NUL inside"), (1, 2, "non-ASCII byte"),
                        (2, 2, "all 0xFF"), (3, 1, "all NUL")]:
    got = r.get(row)
    print(("ok" if got == want else "not ok") +
          f" - NIR with {what}: rejected with reason {want} (got {got})")
PY
  counts_add_up "$TMP/bytes.h5" "$TMP/out-bytes"
  check "odd NIR bytes: linked + rejected = rows read" test $? -eq 0
  ! grep -q $'\xe9' "$TMP/log"
  check "odd NIR bytes: no raw NIR byte in the log" test $? -eq 0
elif [ "$rc" -ne 124 ]; then notok "NUL and non-ASCII bytes in NIRs: run succeeds"; tail -n 20 "$TMP/log"; fi

# p1 column of the wrong type (float).
mkstore "$TMP/p1f.h5" '
g = f["sources/pharmacy"]; n = len(g["p1"]); del g["p1"]; g["p1"] = np.zeros((n, 32), dtype="f8")'
storejob "$TMP/p.yaml" "$TMP/p1f.h5"
expect_fail "p1 of type float" "$TMP/p.yaml" "p1f.h5: /sources/pharmacy/p1: p1 column: expected a 2-D uint8"

# --- 3. hostile job files -------------------------------------------------
# Billion laughs: 9 levels of 9 aliases each.
{
  echo 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
  for i in 1 2 3 4 5 6 7 8 9; do
    p=$((i - 1)); echo "a$i: &a$i [*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p]"
  done
  cat "$base"
} >"$TMP/bomb.yaml"
expect_fail "YAML billion laughs" "$TMP/bomb.yaml" "bomb.yaml:[0-9]+:[0-9]+: .*anchors" 1

{ printf 'store: '; head -c 10000 /dev/zero | tr '\0' '['; head -c 10000 /dev/zero | tr '\0' ']'; echo; } >"$TMP/deep.yaml"
expect_fail "YAML nested 10000 deep" "$TMP/deep.yaml" "deep.yaml:[0-9]+:[0-9]+: .*(deep|depth|nest)" 1

$PY -c "
import sys
s = 'store:\n' + ''.join(' ' * (i + 1) + '- \n' for i in range(1000))
open(sys.argv[1], 'w').write(s)" "$TMP/deepblock.yaml"
expect_fail "YAML block sequences nested 1000 deep" "$TMP/deepblock.yaml" "deepblock.yaml:[0-9]+:[0-9]+: " 1

# --- 4. integer overflow in sizes ---------------------------------------
sed "s#batch_rows: 500#batch_rows: 18446744073709551616#" "$base" >"$TMP/o1.yaml"
expect_fail "batch_rows 2^64" "$TMP/o1.yaml" "o1.yaml:[0-9]+:[0-9]+: options.batch_rows"

sed "s#batch_rows: 500#batch_rows: -1#" "$base" >"$TMP/o1b.yaml"
expect_fail "batch_rows -1" "$TMP/o1b.yaml" "o1b.yaml:[0-9]+:[0-9]+: options.batch_rows"

# 2^64-1 fits in the type: it must either run (capped by the memory budget)
# or be refused with a clear message -- never overflow a size computation.
sed "s#batch_rows: 500#batch_rows: 18446744073709551615#" "$base" >"$TMP/o2.yaml"
hrun 2 "$TMP/o2.yaml" "$TMP/out-o2"
if not_crashed "batch_rows 2^64-1"; then
  if [ "$rc" -eq 0 ]; then
    check "batch_rows 2^64-1: ran; linked + rejected = rows read" counts_add_up "$STORE" "$TMP/out-o2"
  else
    grep -Eq "o2.yaml(:[0-9]+:[0-9]+)?: .*batch_rows" "$TMP/log"
    check "batch_rows 2^64-1: error names options.batch_rows" test $? -eq 0
  fi
fi

for mem in 18446744073709551615 99999999999T 16E 1e30; do
  sed "s#^options:#options:\n  memory_per_rank: $mem#" "$base" >"$TMP/mem.yaml"
  hrun 2 "$TMP/mem.yaml" "$TMP/out-mem-$RANDOM"
  if not_crashed "memory_per_rank $mem"; then
    if [ "$rc" -eq 0 ] || grep -Eq "mem.yaml(:[0-9]+:[0-9]+)?: .*memory_per_rank" "$TMP/log"; then
      ok "memory_per_rank $mem: runs or names options.memory_per_rank"
    else notok "memory_per_rank $mem: runs or names options.memory_per_rank"; tail -n 20 "$TMP/log"; fi
  fi
done
