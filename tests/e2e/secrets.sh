#!/usr/bin/env bash
# Keys: keygen writes 0600 keys and never overwrites; no NIR, p1 or key
# byte appears in any unencrypted output or log line.
source "$(dirname "$0")/../lib/common.sh"

"$PL" keygen "$TMP/k1" >"$TMP/kg.log" 2>&1
check "keygen writes a key" test -f "$TMP/k1"
check "keygen key is mode 0600" test "$(stat -c %a "$TMP/k1")" = 600
check "keygen key is 64 hex chars" grep -Eqx '[0-9a-f]{64}' "$TMP/k1"
"$PL" keygen "$TMP/k1" >"$TMP/kg2.log" 2>&1; rc=$?
check "keygen refuses to overwrite a key" test $rc -ne 0
grep -q "refusing to overwrite" "$TMP/kg2.log"
check "keygen says why it refused" test $? -eq 0
"$PL" keygen "$TMP/k2" >/dev/null 2>&1
check "two keys differ" test "$(cat "$TMP/k1")" != "$(cat "$TMP/k2")"

job=$TMP/job.yaml
regression_job "$job" keyed
plrun 2 run "$job" --out "$TMP/out" >"$TMP/run.log" 2>&1 || { notok "run"; cat "$TMP/run.log"; }
check "linked.h5 is mode 0640" test "$(stat -L -c %a "$TMP/out/linked.h5")" = 640
check "audit.log is mode 0640" test "$(stat -c %a "$TMP/out/audit.log")" = 640
# Every file the run produced (the encrypted correspondence file, when there
# is one, is the only exception) and every log line.
produced=$(find "$TMP/out" -type f ! -name 'correspondence*' | sort)
check "the run produced linked.h5 and audit.log" test "$(echo "$produced" | wc -l)" -ge 2

if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 - "$ROOT/inputs/regression.h5" "$TMP/keys" $produced "$TMP/run.log" <<'PY'
import sys, glob, h5py, hmac, hashlib
store, keydir, outs = sys.argv[1], sys.argv[2], sys.argv[3:]
needles = []
with h5py.File(store, "r") as f:
    prod = bytes.fromhex(open(keydir + "/producer.key").read().strip())
    for s in f["sources"]:
        g = f["sources"][s]
        if "nir" in g:
            nirs, bd, sx = g["nir"][:], g["birth_date"][:], g["sex"][:]
            br = g["birth_rank"][:] if "birth_rank" in g else None
            for i in range(len(nirs)):
                n = bytes(nirs[i])[:15]
                if len(n) == 15:
                    needles.append(n)
                m = n + b"%08d" % bd[i] + b"%d" % sx[i] + (bytes([br[i]]) if br is not None else b"")
                needles.append(hmac.new(prod, m, hashlib.sha256).digest())
        if "p1" in g:
            needles += [bytes(r) for r in g["p1"][:]]
for k in glob.glob(keydir + "/*.key"):
    kb = bytes.fromhex(open(k).read().strip())
    needles += [kb, kb.hex().encode()]
extra = [n.hex().encode() for n in needles if len(n) == 32]
needles += extra
found = 0
for o in outs:
    data = open(o, "rb").read()
    for n in set(needles):
        if n in data:
            found += 1
            break
    print(("not ok - " if found else "ok - ") + "no NIR, p1 (raw or hex) or key in " + o.split("/")[-1])
    found = 0
print("ok - searched for %d identifier/key patterns" % len(set(needles)))
PY
else
  missing "h5py (package python3-h5py): outputs not searched for identifiers"
fi
