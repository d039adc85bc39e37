#!/usr/bin/env bash
# Audit trail: one hash-chained line per run/keygen, digests an auditor can
# recompute, key fingerprints (never keys), and `verify` naming the first
# broken line or the changed file.
source "$(dirname "$0")/../lib/common.sh"
job=$TMP/job.yaml
regression_job "$job" keyed
out=$TMP/out log=$TMP/audit.log

plrun 2 run "$job" --out "$out" --audit "$log" >"$TMP/r1" 2>&1 || { notok "run 1"; cat "$TMP/r1"; }
"$PL" keygen "$TMP/new.key" --audit "$log" >"$TMP/kg" 2>&1 || notok "keygen with --audit"
cp "$TMP/keys/platform.key" "$TMP/keys/open.key"; chmod 644 "$TMP/keys/open.key"
sed "s#$TMP/keys/platform.key#$TMP/keys/open.key#" "$job" >"$TMP/bad.yaml"
plrun 2 run "$TMP/bad.yaml" --out "$out" --audit "$log" >"$TMP/r2" 2>&1 && notok "bad run should fail"
plrun 2 run "$job" --out "$out" --audit "$log" >"$TMP/r3" 2>&1 || notok "run 3"

check "four lines: run, keygen, failed run, run" test "$(wc -l <"$log")" -eq 4
check "log is mode 0640" test "$(stat -c %a "$log")" = 640
check "failed run recorded with its error" grep -q '"outcome":"failure","error":"[^"]*open.key: platform key is accessible by group or others' "$log"
check "keygen recorded" grep -q '"command":"keygen"' "$log"

"$PL" verify --audit "$log" "$out" >"$TMP/v" 2>&1; rc=$?
check "verify: intact log and outputs pass" test $rc -eq 0
check "verify: says the chain is intact" grep -q "4 lines, hash chain intact" "$TMP/v"

# An independent recomputation (what an auditor would script).
/usr/bin/python3 - "$log" "$out/linked.h5" "$TMP/keys" "$ROOT/inputs/regression.h5" <<'PY'
import sys, json, hashlib, hmac
log, linked, keydir, store = sys.argv[1:]
def merkle(path, leaf):
    data = open(path, "rb").read()
    leaves = b"".join(hashlib.sha256(data[i:i+leaf]).digest() for i in range(0, len(data), leaf))
    return hashlib.sha256(len(data).to_bytes(8, "big") + leaf.to_bytes(8, "big") + leaves).hexdigest()
def say(c, n): print(("ok - " if c else "not ok - ") + n)
prev, lines = "0" * 64, open(log, "rb").read().split(b"\n")[:-1]
good = True
for l in lines:
    j = json.loads(l)
    good &= j["prev"] == prev
    prev = hashlib.sha256(l).hexdigest()
say(good, "python: every prev is the SHA-256 of the line before")
last = json.loads(lines[-1])
o = [o for o in last["outputs"] if o["path"].endswith("/linked.h5")][0]
say(o["merkle_sha256"] == merkle(linked, o["leaf"]), "python: linked.h5 Merkle digest recomputed")
i = last["inputs"][0]
say(i["merkle_sha256"] == merkle(store, i["leaf"]), "python: store Merkle digest recomputed")
say(last["job_sha256"] == hashlib.sha256(open(last["job"], "rb").read()).hexdigest(), "python: job SHA-256")
for role in ("producer", "platform"):
    k = bytes.fromhex(open(f"{keydir}/{role}.key").read().strip())
    fp = hmac.new(k, b"pseudolink key fingerprint v1", hashlib.sha256).hexdigest()[:32]
    say(last["keys"][role] == fp, f"python: {role} key fingerprint is HMAC(key, label)[:16]")
    raw = open(log, "rb").read()
    say(k.hex().encode() not in raw and hashlib.sha256(k).hexdigest().encode() not in raw,
        f"python: neither the {role} key nor its SHA-256 is in the log")
say(last["counts"]["rows"] == 3417 and last["counts"]["rejected"] == 38, "python: counts recorded")
PY

# Parallel Merkle digest: 2 ranks and small leaves give the serial answer.
d1=$("$PL" digest --leaf 4096 "$out/linked.h5" | cut -d' ' -f1)
d2=$(mpirun -np 2 "$PL" digest --leaf 4096 "$out/linked.h5" | cut -d' ' -f1)
check "digest: 2 ranks agree with the serial digest (many leaves)" test -n "$d1" -a "$d1" = "$d2"
d3=$(/usr/bin/python3 -c '
import sys, hashlib
d = open(sys.argv[1], "rb").read(); L = 4096
lv = b"".join(hashlib.sha256(d[i:i+L]).digest() for i in range(0, len(d), L))
print(hashlib.sha256(len(d).to_bytes(8, "big") + L.to_bytes(8, "big") + lv).hexdigest())' "$out/linked.h5")
check "digest: matches the documented construction" test "$d1" = "$d3"
# Every SHA-256 kernel (multi-buffer leaves 16/8 at a time, or one by one)
# gives the same root, for leaves of 4 KiB and of 64 KiB + a short last one.
for kern in scalar avx2 avx512; do
  if ! grep -qw "$( [ $kern = avx512 ] && echo avx512f || echo ${kern/scalar/fpu})" /proc/cpuinfo; then
    echo "skip - digest: $kern kernel: this CPU lacks it"; continue
  fi
  d4=$(PSEUDOLINK_SHA256=$kern "$PL" digest --leaf 4096 "$out/linked.h5" 2>/dev/null | cut -d' ' -f1)
  d5=$(PSEUDOLINK_SHA256=$kern mpirun -np 2 "$PL" digest --leaf 65536 "$out/linked.h5" 2>/dev/null | cut -d' ' -f1)
  d6=$("$PL" digest --leaf 65536 "$out/linked.h5" | cut -d' ' -f1)
  check "digest: $kern kernel gives the documented root (4 KiB and 64 KiB leaves)" \
    test "$d4" = "$d3" -a -n "$d5" -a "$d5" = "$d6"
done

# Tampering: change line 2 -> verify names line 3.
cp "$log" "$TMP/t1.log"
sed -i '2s/"command":"keygen"/"command":"keygem"/' "$TMP/t1.log"
"$PL" verify --audit "$TMP/t1.log" >"$TMP/v" 2>&1; rc=$?
check "tampered line: verify fails" test $rc -ne 0
check "tampered line: names line 3" grep -q "t1.log:3: broken chain" "$TMP/v"
# Removing a line.
sed '2d' "$log" >"$TMP/t2.log"
"$PL" verify --audit "$TMP/t2.log" >"$TMP/v" 2>&1; rc=$?
check "removed line: verify fails naming line 2" test $rc -ne 0 -a -n "$(grep 't2.log:2: broken chain' "$TMP/v")"
# A torn last line.
cp "$log" "$TMP/t3.log"; printf '{"v":1' >>"$TMP/t3.log"
"$PL" verify --audit "$TMP/t3.log" >"$TMP/v" 2>&1; rc=$?
check "torn line: verify fails naming line 5" test $rc -ne 0 -a -n "$(grep 't3.log:5: incomplete' "$TMP/v")"
plrun 2 run "$job" --out "$out" --audit "$TMP/t3.log" >"$TMP/r4" 2>&1; rc=$?
check "torn log: run refuses before doing anything" test $rc -ne 0 -a -n "$(grep 'does not end with a complete line' "$TMP/r4")"
# A changed output.
cp -a "$out" "$TMP/out2"
printf '\x01' | dd of="$TMP/out2/linked.h5" bs=1 seek=200000 conv=notrunc 2>/dev/null
"$PL" verify --audit "$log" "$TMP/out2" >"$TMP/v" 2>&1; rc=$?
check "changed output: verify fails" test $rc -ne 0
check "changed output: names linked.h5" grep -q "out2/linked.h5: changed since audit line 4" "$TMP/v"
# A file dropped into the output directory.
cp -a "$out" "$TMP/out3"; echo x >"$TMP/out3/extra.csv"
"$PL" verify --audit "$log" "$TMP/out3" >"$TMP/v" 2>&1; rc=$?
check "unrecorded file: verify fails naming it" test $rc -ne 0 -a -n "$(grep 'extra.csv: not recorded' "$TMP/v")"

# audit_log in the job file; default <output>/audit.log.
sed "s#^mode: keyed#mode: keyed\naudit_log: $TMP/fromjob.log#" "$job" >"$TMP/j2.yaml"
plrun 2 run "$TMP/j2.yaml" --out "$TMP/o2" >/dev/null 2>&1
check "audit_log from the job file" test "$(wc -l <"$TMP/fromjob.log")" -eq 1
plrun 2 run "$job" --out "$TMP/o3" >/dev/null 2>&1
check "default audit log is <output>/audit.log" test -s "$TMP/o3/audit.log"
"$PL" verify --audit "$TMP/o3/audit.log" "$TMP/o3" >/dev/null 2>&1
check "verify of the default log" test $? -eq 0
