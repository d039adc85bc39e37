#!/usr/bin/env bash
# The test vectors of docs/FORMATS.md section 3, read from the doc:
# recomputed with `openssl mac` and Python hmac, then pseudolink runs on a
# store holding them (twins with ranks 1 and 2, the same persons in a
# source without rank) and must give the documented pids and ambiguity.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
DOC=$ROOT/docs/FORMATS.md
PK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
QK=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
tr '\n' ' ' <"$DOC" | grep -qF 'producer key = the 32 bytes `00 01 02 … 1f`, platform key = `20 21 22 … 3f`'
check "FORMATS.md states the keys of its test vectors" test $? -eq 0

# | `NIR` | date | sex | `M` | `p1` |   and   | `NIR` | `pid` | `pid r1` | `pid r2` |
grep -E '^\| `[0-9AB]{15}` \| [0-9]{8} \|' "$DOC" | tr -d '`' | awk -F' *\\| *' '{print $2, $3, $4, $5, $6}' >"$TMP/p1.txt"
grep -E '^\| `[0-9AB]{15}` \| `[0-9a-f]{32}` \|' "$DOC" | tr -d '`' | awk -F' *\\| *' '{print $2, $3, $4, $5}' >"$TMP/pid.txt"
check "FORMATS.md has 3 p1 vectors and 3 pid vectors" test "$(wc -l <"$TMP/p1.txt")" -eq 3 -a "$(wc -l <"$TMP/pid.txt")" -eq 3

unhex() { $PY -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$1"; }
bad=0
while read -r nir bd sex m p1; do
  [ "$m" = "$nir$bd$sex" ] || bad=1
  got=$(printf '%s' "$m" | openssl mac -digest SHA256 -macopt "hexkey:$PK" HMAC | tr 'A-F' 'a-f')
  [ "$got" = "$p1" ] || bad=1
  read -r _ one r1 r2 < <(grep "^$nir " "$TMP/pid.txt")
  g1=$(unhex "$p1" | openssl mac -digest SHA256 -macopt "hexkey:$QK" HMAC | tr 'A-F' 'a-f' | cut -c1-32)
  g2=$( (unhex "$p1"; printf '\001') | openssl mac -digest SHA256 -macopt "hexkey:$QK" HMAC | tr 'A-F' 'a-f' | cut -c1-32)
  g3=$( (unhex "$p1"; printf '\002') | openssl mac -digest SHA256 -macopt "hexkey:$QK" HMAC | tr 'A-F' 'a-f' | cut -c1-32)
  [ "$g1 $g2 $g3" = "$one $r1 $r2" ] || bad=1
done <"$TMP/p1.txt"
check "openssl mac: M, p1 and the three pids of every vector as documented" test $bad -eq 0

$PY - "$TMP/p1.txt" "$TMP/pid.txt" "$PK" "$QK" <<'PY'
import hashlib, hmac, sys
pk, qk = bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
pids = {l.split()[0]: l.split()[1:] for l in open(sys.argv[2])}
bad = 0
for l in open(sys.argv[1]):
    nir, bd, sex, m, p1 = l.split()
    q = hmac.new(pk, nir.encode() + b"%08d%d" % (int(bd), int(sex)), hashlib.sha256).digest()
    bad += q.hex() != p1
    want = [hmac.new(qk, q + t, hashlib.sha256).digest()[:16].hex() for t in (b"", b"\1", b"\2")]
    bad += want != pids[nir]
print(("ok" if bad == 0 else "not ok") + " - Python hmac: the same vectors (%d wrong)" % bad)
PY

# pseudolink on the vectors.
printf '%s\n' "$PK" >"$TMP/p.key"; printf '%s\n' "$QK" >"$TMP/q.key"; chmod 600 "$TMP/p.key" "$TMP/q.key"
$PY - "$TMP/p1.txt" "$TMP/v.h5" <<'PY'
import sys, h5py, numpy as np
v = [l.split() for l in open(sys.argv[1])]
def src(g, rows, rank):
    g["nir"] = np.array([v[i][0].encode() for i in rows], dtype="S15")
    g["birth_date"] = np.array([int(v[i][1]) for i in rows], dtype=np.int32)
    g["sex"] = np.array([int(v[i][2]) for i in rows], dtype=np.uint8)
    if rank:
        g["birth_rank"] = np.array(rank, dtype=np.uint8)
with h5py.File(sys.argv[2], "w") as f:
    src(f.create_group("sources/twins"), [0, 0, 1], [1, 2, 1])
    src(f.create_group("sources/norank"), [1, 2, 0], None)
PY
cat >"$TMP/v.yaml" <<EOF
store: $TMP/v.h5
output: $TMP/out
mode: keyed
keys: {producer: $TMP/p.key, platform: $TMP/q.key}
sources:
  twins:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
  norank:
    identity: {nir: nir, birth_date: birth_date, sex: sex}
EOF
for np in 1 2; do
  if plrun $np run "$TMP/v.yaml" --out "$TMP/out$np" >"$TMP/run$np.log" 2>&1; then
    $PY - "$TMP/out$np/linked.h5" "$TMP/pid.txt" "$np" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p = [l.split() for l in open(sys.argv[2])]
tw = [x.decode() for x in f["linked/twins/pid"][:]]
nr = [x.decode() for x in f["linked/norank/pid"][:]]
ok = tw == [p[0][2], p[0][3], p[1][1]] and nr == [p[1][1], p[2][1]]
print(("ok" if ok else "not ok") + " - -np %s: twins get HMAC(platform, p1 || rank), a person seen "
      "with one rank or none HMAC(platform, p1), as documented" % sys.argv[3])
amb = (list(f["ambiguous/norank/row"][:]), list(f["ambiguous/norank/candidates"][:]))
print(("ok" if amb == ([2], [2]) else "not ok") + " - -np %s: the twins' key without rank is "
      "ambiguous between 2 persons, listed in /ambiguous/norank (%s)" % (sys.argv[3], amb))
PY
  else
    notok "-np $np: pseudolink runs on the vectors"; tail -3 "$TMP/run$np.log"
  fi
done
