#!/usr/bin/env bash
# Transfer packages (issue 13; docs/PACKAGE.md, docs/PRODUCER.md): a
# producer's `produce` -> the platform's `run` gives the same linked output
# as a run on the plain store; a third party verifies and decrypts a package
# from the doc alone; every tamper case (a byte of each part, truncation,
# unsigned, untrusted or mismatched signer, another transport key, another
# source) is refused with an error naming the package and what failed, and
# nothing is published; no NIR and no p1 in clear in anything produce
# writes; persons on an opposition list vanish from every output; a
# payload column that looks like NIRs is refused at the producer.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, cryptography' 2>/dev/null; then
  missing "python3-h5py and python3-cryptography (DEPS_TEST)"; exit 0
fi
keys
K=$TMP/tk
mkdir -p "$K"
cp "$ROOT"/inputs/transfer/*.pem "$ROOT"/inputs/transfer/*.pass "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
cp -r "$ROOT/inputs/custodians" "$TMP/cust"; chmod 600 "$TMP"/cust/*.key.pem "$TMP"/cust/*.pass
fix() { sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/transfer/#$K/#g" \
            -e "s#inputs/custodians/#$TMP/cust/#g" -e "s#inputs/\([a-z]*\).h5#$ROOT/inputs/\1.h5#g" \
            -e "s#out/producer/#$TMP/prod/#g" -e "s#^output: out/#output: $TMP/#" "$@"; }
fix "$ROOT/jobs/producer_cnam.yaml" >"$TMP/prod.yaml"
fix "$ROOT/jobs/producer_cnam_opposition.yaml" >"$TMP/prodopp.yaml"
# This test is about cnam's HDF5 package: hospital_stays from it too (the
# shipped job takes it from atih's CSV package: tests/e2e/produce_csv.sh).
cnamonly() { sed -e '/^  atih: /d' -e 's#/atih/atih_delivery.pkg.h5#/cnam/cnam_delivery.pkg.h5#' \
                 -e 's#keep: \[stay_date, diagnosis, los, unit\]#keep: [stay_date, diagnosis, los]#'; }
fix "$ROOT/jobs/platform.yaml" | cnamonly | sed '/^opposition:/,$d' >"$TMP/plat.yaml"
fix "$ROOT/jobs/platform.yaml" | cnamonly >"$TMP/platopp.yaml"
fix "$ROOT/jobs/laptop.yaml" >"$TMP/plain.yaml"
SIGN="--signing-key $K/cnam_signing.key.pem --signing-passphrase-file $K/cnam_signing.pass"
TRANS="--transport-key $K/hdh_transport.key.pem --transport-passphrase-file $K/hdh_transport.pass"
PKG=$TMP/prod/cnam/cnam_delivery.pkg.h5
OPP=$TMP/prod/cnam_opposition/cnam_opposition.opposition.pkg.h5

echo "# t=$SECONDS"
# === produce ================================================================
plrun 2 produce "$TMP/prod.yaml" $SIGN >"$TMP/produce.log" 2>&1
check "produce (2 ranks) from the HDF5 export" test $? -eq 0 -a -f "$PKG"
"$PL" produce "$TMP/prodopp.yaml" $SIGN >"$TMP/produce_opp.log" 2>&1
check "produce without mpirun: the opposition package" test $? -eq 0 -a -f "$OPP"
check "produce's audit line is in the producer's output dir" \
  grep -q '"command":"produce".*"outcome":"success"' "$TMP/prod/cnam/audit.log"
"$PL" verify --audit "$TMP/prod/cnam/audit.log" "$TMP/prod/cnam" >"$TMP/verify.log" 2>&1
check "verify: produce's audit chain and its outputs' digests" test $? -eq 0
check "package and reject report are mode 0640" \
  test "$(stat -L -c %a "$PKG")" = 640 -a "$(stat -L -c %a "$TMP/prod/cnam/rejects.csv")" = 640

echo "# t=$SECONDS"
# === a third party, from docs/PACKAGE.md alone ===============================
$PY "$ROOT/tests/e2e/pkg_decrypt.py" "$PKG" "$K/cnam_signing.pub.pem" \
  "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec.txt" 2>"$TMP/dec.err"
check "pkg_decrypt.py verifies the signature and decrypts every block" test $? -eq 0
# The decrypted payload is the export's, rows the producer kept, in order.
$PY - "$ROOT/inputs/laptop.h5" "$TMP/dec.txt" "$TMP/prod/cnam/rejects.csv" <<'PY' >"$TMP/cmp.txt" 2>&1
import sys, h5py, numpy as np, csv
f = h5py.File(sys.argv[1], "r"); lines = open(sys.argv[2]).read().split("\n")
rej = {}
for r in csv.DictReader(open(sys.argv[3])):
    rej.setdefault(r["source"], set()).add(int(r["row"]))
got = {}
for l in lines:
    p = l.split(" ")
    if len(p) >= 4 and p[0] in ("hospital_stays", "deaths"):
        got.setdefault(p[0], []).append(dict(kv.split("=") for kv in p[3:]))
bad = 0
for s, cols in (("hospital_stays", ["stay_date", "diagnosis", "los"]), ("deaths", ["death_date", "cause"])):
    g = f["sources/" + s]; n = g["nir"].shape[0]
    keep = [i for i in range(n) if i not in rej.get(s, set())]
    if len(keep) != len(got[s]): bad += 1; print("rows", s, len(keep), len(got[s]))
    for c in cols:
        v = g[c][:]
        for j, i in enumerate(keep):
            if v[i].tobytes().hex() != got[s][j][c][:len(v[i].tobytes()) * 2]:
                bad += 1; break
print("bad", bad)
PY
check "decrypted payload = the export's kept rows, in order" grep -q '^bad 0$' "$TMP/cmp.txt"

echo "# t=$SECONDS"
# === the round trip ==========================================================
plrun 2 run "$TMP/plain.yaml" --out "$TMP/plain" >"$TMP/plain.log" 2>&1 || notok "plain run"
plrun 2 run "$TMP/plat.yaml" $TRANS --out "$TMP/plat" >"$TMP/plat.log" 2>&1
check "run from packages (2 ranks) succeeds without a producer key" test $? -eq 0
check "the platform job names no producer key" test -z "$(grep -E '^  producer:|producer\.key' "$TMP/plat.yaml")"
$PY - "$TMP/plain/linked.h5" "$TMP/plat/linked.h5" "$TMP/prod/cnam/rejects.csv" <<'PY' >"$TMP/rt.txt" 2>&1
import sys, h5py, numpy as np, csv
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = []
for s in ("hospital_stays", "pharmacy", "deaths"):
    for k in a["linked/" + s]:
        if k != "row" and not np.array_equal(a["linked/%s/%s" % (s, k)][:], b["linked/%s/%s" % (s, k)][:]):
            bad.append(s + "/" + k)
for k in ("persons/pid", "links/pid", "links/source"):
    if not np.array_equal(a[k][:], b[k][:]): bad.append(k)
# The producer's reject report is the plain run's /rejects (rows, codes).
mine = sorted((r["source"], int(r["row"]), int(r["code"])) for r in csv.DictReader(open(sys.argv[3])))
theirs = sorted((s, int(r), int(c)) for s in ("hospital_stays", "deaths")
                for r, c in zip(a["rejects/%s/row" % s][:], a["rejects/%s/reason" % s][:]))
if mine != theirs: bad.append("rejects")
print("diff", bad)
PY
check "linked output from packages = from the plain store (pids, payload, persons, links)" grep -q '^diff \[\]$' "$TMP/rt.txt"
check "produce's rejects.csv = the plain run's /rejects (rows and codes)" grep -q '^diff \[\]$' "$TMP/rt.txt"
check "audit line records the package (id, digest, producer, signer, rows)" \
  grep -Eq '"packages":\[\{"path":"[^"]*cnam_delivery.pkg.h5","id":"[0-9a-f]{32}","kind":"data","digest":"sha256:[0-9a-f]{64}","producer":"cnam","signer":"sha256:[0-9a-f]{64}","created":"[^"]*","sources":\["hospital_stays","deaths"\],"rows":7619\}\]' "$TMP/plat/audit.log"
check "a run from packages says it held no identified data" grep -q '"identified_data":"none' "$TMP/plat/audit.log"
check "a run that computes stage 1 says it held identified data" grep -q '"identified_data":"held' "$TMP/plain/audit.log"

echo "# t=$SECONDS"
# === no leak in anything produce wrote =======================================
files=$(find -L "$TMP/prod" -type f | sort)
$PY - "$ROOT/inputs/laptop.h5" "$ROOT/inputs/opposition.h5" "$TMP/dec.txt" $files "$TMP/produce.log" "$TMP/produce_opp.log" <<'PY' >"$TMP/leak.txt" 2>&1
import sys, h5py
nirs, p1s = set(), set()
for st in sys.argv[1:3]:
    f = h5py.File(st, "r")
    for s in f["sources"]:
        if "nir" in f["sources"][s]:
            nirs |= {bytes(x)[:15] for x in f["sources"][s]["nir"][:]}
for l in open(sys.argv[3]):
    p = l.split(" ")
    if len(p) >= 3 and len(p[2]) == 64:
        p1s.add(bytes.fromhex(p[2])); p1s.add(p[2].encode())
leaks = 0
for path in sys.argv[4:]:
    data = open(path, "rb").read()
    for w, needles in ((15, nirs), (32, p1s), (64, p1s)):
        for i in range(len(data) - w + 1):
            if data[i:i + w] in needles:
                leaks += 1; print("leak", path, i); break
print("files", len(sys.argv) - 4, "nirs", len(nirs), "p1", len(p1s) // 2, "leaks", leaks)
PY
check "no NIR and no p1 (raw or hex) in any file produce wrote or its output" grep -Eq 'files [0-9]+ nirs [1-9][0-9]* p1 [1-9][0-9]* leaks 0$' "$TMP/leak.txt"

echo "# t=$SECONDS"
# === tamper cases: refused, named, nothing published =========================
# tamper NAME PATTERN JOBFILE [RUN ARGS]: the run fails, its message
# matches PATTERN, and its output directory holds no published set. One
# process (rank 0 verifies; NP=2 for the block checks every rank makes).
n=0
tamper() {
  local name=$1 pat=$2 job=$3; shift 3
  n=$((n + 1)); local out=$TMP/t$n
  # (timeout: a package that makes the reader block must fail, not hang)
  if [ "${NP:-1}" = 1 ]; then timeout -s KILL 60 "$PL" run "$job" "$@" --out "$out"; else timeout -s KILL 60 mpirun -np "$NP" "$PL" run "$job" "$@" --out "$out"; fi >"$TMP/t$n.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$pat" "$TMP/t$n.log" && [ ! -e "$out/current" ] && [ ! -e "$out/linked.h5" ]; then
    ok "$name: refused, named, nothing published"
  else notok "$name (rc=$rc, expected /$pat/)"; grep error "$TMP/t$n.log" | head -3; fi
}
# bad COPY: a copy of the package; JOB using it.
bad() { cp "$PKG" "$TMP/$1.pkg.h5"; sed "s#$PKG#$TMP/$1.pkg.h5#" "$TMP/plat.yaml" >"$TMP/$1.yaml"; }
# flip COPY OBJECT [OFFSET]: xor one byte of an HDF5 dataset's raw data.
flip() { $PY - "$TMP/$1.pkg.h5" "$2" "${3:-0}" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r"); off = f[sys.argv[2]].id.get_offset() + int(sys.argv[3]); f.close()
with open(sys.argv[1], "r+b") as g:
    g.seek(off); b = g.read(1); g.seek(off); g.write(bytes([b[0] ^ 1]))
PY
}
bad ct;   flip ct /sources/hospital_stays/stay_date 5000
NP=2 tamper "a flipped ciphertext byte" "cnam_delivery|ct.pkg.h5: package: /sources/hospital_stays/stay_date block [0-9]+: its digest does not match" "$TMP/ct.yaml" $TRANS
bad p1;   flip p1 /sources/deaths/p1 7
tamper "a flipped p1 ciphertext byte" "p1.pkg.h5: package: /sources/deaths/p1 block 0: its digest" "$TMP/p1.yaml" $TRANS
bad tag;  flip tag /tags/hospital_stays/los 3
tamper "a flipped tag byte" "tag.pkg.h5: package: /sources/hospital_stays/los block 0: its digest" "$TMP/tag.yaml" $TRANS
bad man;  flip man /manifest 900
tamper "a flipped manifest byte" "man.pkg.h5: package: (the signature does not verify|manifest refused)" "$TMP/man.yaml" $TRANS
bad wrap; flip wrap /manifest 420
tamper "a flipped byte of the wrapped key (in the manifest)" "wrap.pkg.h5: package: (the signature does not verify|manifest refused)" "$TMP/wrap.yaml" $TRANS
bad sig;  flip sig /signature 10
tamper "a flipped signature byte" "sig.pkg.h5: package: the signature does not verify" "$TMP/sig.yaml" $TRANS
bad uns;  $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); del f['signature']" "$TMP/uns.pkg.h5"
tamper "an unsigned package" "uns.pkg.h5: package: unsigned" "$TMP/uns.yaml" $TRANS
bad zero; $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f['signature'][:]=0" "$TMP/zero.pkg.h5"
tamper "an empty (zero) signature" "zero.pkg.h5: package: unsigned" "$TMP/zero.yaml" $TRANS
bad trunc; truncate -s $(( $(stat -L -c %s "$PKG") / 2 )) "$TMP/trunc.pkg.h5"
tamper "a truncated package" "trunc.pkg.h5: package: " "$TMP/trunc.yaml" $TRANS
mkfifo "$TMP/fifo.pkg.h5"; sed "s#$PKG#$TMP/fifo.pkg.h5#" "$TMP/plat.yaml" >"$TMP/fifo.yaml"
tamper "a FIFO named as a package (refused at once, never read)" "fifo.pkg.h5: package: cannot open: not a regular file" "$TMP/fifo.yaml" $TRANS
sed "s#cnam_signing.pub.pem#atih_signing.pub.pem#" "$TMP/plat.yaml" >"$TMP/untrusted.yaml"
tamper "signed by a producer the job does not list" "cnam_delivery.pkg.h5: package: signed by a key the job does not trust" "$TMP/untrusted.yaml" $TRANS
sed "s#^  cnam: #  atih: #" "$TMP/plat.yaml" >"$TMP/misnamed.yaml"
tamper "a producer name that is not its key's" "the manifest names producer 'cnam' but its signing key is the one the job trusts for 'atih'" "$TMP/misnamed.yaml" $TRANS
awk -v p="$PKG" '/^  pharmacy:/{print; getline; print "    package: " p; next} {print}' "$TMP/plat.yaml" >"$TMP/othersrc.yaml"
tamper "a package delivered for other sources" "cnam_delivery.pkg.h5: package: delivered for sources 'hospital_stays', 'deaths', not for 'pharmacy'" "$TMP/othersrc.yaml" $TRANS
(cd "$TMP" && printf 'other\n' >o.pass && chmod 600 o.pass && "$PL" keygen --transport other --passphrase-file o.pass >/dev/null 2>&1)
tamper "another platform's transport key" "package: the data key is wrapped to another transport key" "$TMP/plat.yaml" --transport-key "$TMP/other.key.pem" --transport-passphrase-file "$TMP/o.pass"
tamper "no transport key given" "give the platform's transport private key with --transport-key" "$TMP/plat.yaml"
sed "s#$PKG#$OPP#" "$TMP/plat.yaml" >"$TMP/oppassrc.yaml"
tamper "an opposition package named as a data source" "an opposition package, named as the data of source 'hospital_stays'" "$TMP/oppassrc.yaml" $TRANS
# HDF5 structure the signature does not cover: never followed, never read.
mkfifo "$TMP/elink.fifo"
bad elink; bad estore; bad vds; bad soft; bad sparse; bad huge; bad created
$PY - "$TMP" <<'PY'
import sys, h5py, numpy as np, re
T = sys.argv[1] + "/"
f = h5py.File(T + "elink.pkg.h5", "r+"); del f["sources/deaths/p1"]
f["sources/deaths/p1"] = h5py.ExternalLink(T + "elink.fifo", "/x"); f.close()
f = h5py.File(T + "estore.pkg.h5", "r+"); d = f["sources/deaths/p1"][:]; del f["sources/deaths/p1"]
open(T + "raw.bin", "wb").write(d.tobytes())
f.create_dataset("sources/deaths/p1", shape=d.shape, dtype=np.uint8, external=[(T + "raw.bin", 0, d.size)]); f.close()
f = h5py.File(T + "vds.pkg.h5", "r+"); d = f["sources/deaths/p1"][:]; del f["sources/deaths/p1"]
g = h5py.File(T + "vsrc.h5", "w"); g["x"] = d; g.close()
L = h5py.VirtualLayout(shape=d.shape, dtype=np.uint8); L[:] = h5py.VirtualSource(T + "vsrc.h5", "x", shape=d.shape)
f.create_virtual_dataset("sources/deaths/p1", L); f.close()
f = h5py.File(T + "soft.pkg.h5", "r+"); f.move("sources/deaths", "elsewhere")
f["sources/deaths"] = h5py.SoftLink("/elsewhere"); f.close()
# A 1 GiB manifest declared but never written (fill values, a tiny file).
f = h5py.File(T + "sparse.pkg.h5", "r+"); del f["manifest"]
f.create_dataset("manifest", shape=(1 << 30,), dtype=np.uint8); f.close()
# Unsigned dimensions that would allocate 2^49 bytes before the signature.
f = h5py.File(T + "huge.pkg.h5", "r+"); m = bytes(f["manifest"][:]).decode()
m = re.sub(r"^source hospital_stays .*$", "source hospital_stays rows 4294967295 blocks 4294967296 columns 4096", m, flags=re.M)
del f["manifest"]; f["manifest"] = np.frombuffer(m.encode(), dtype=np.uint8); f.close()
PY
# A signed manifest whose 'created' would inject JSON into the audit line
# (re-signed with the producer's key: the producer is trusted for its data,
# not for the platform's audit log).
$PY - "$TMP/created.pkg.h5" "$K/cnam_signing.key.pem" "$K/cnam_signing.pass" <<'PY'
import sys, re, h5py, numpy as np
from cryptography.hazmat.primitives import serialization
sk = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read().split(b"\n")[0])
f = h5py.File(sys.argv[1], "r+"); m = bytes(f["manifest"][:]).decode()
m = re.sub(r"^created .*$", 'created 2026","outcome":"forged', m, count=1, flags=re.M).encode()
del f["manifest"]; f["manifest"] = np.frombuffer(m, dtype=np.uint8)
f["signature"][:] = np.frombuffer(sk.sign(m), dtype=np.uint8)
PY
# One id, one content: a second signed manifest under the same package id
# (the producer's key re-signing it with another time) is refused; an
# identical copy of the package is not.
cp "$PKG" "$TMP/sameid.pkg.h5"; cp "$PKG" "$TMP/copy.pkg.h5"
$PY - "$TMP/sameid.pkg.h5" "$K/cnam_signing.key.pem" "$K/cnam_signing.pass" <<'PY'
import sys, re, h5py, numpy as np
from cryptography.hazmat.primitives import serialization
sk = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read().split(b"\n")[0])
f = h5py.File(sys.argv[1], "r+"); m = bytes(f["manifest"][:]).decode()
m = re.sub(r"^created (.{17})..Z$", lambda g: "created %s%02dZ" % (g.group(1), (int(g.group(0)[-3:-1]) + 1) % 60), m, count=1, flags=re.M).encode()
del f["manifest"]; f["manifest"] = np.frombuffer(m, dtype=np.uint8)
f["signature"][:] = np.frombuffer(sk.sign(m), dtype=np.uint8)
PY
for c in sameid copy; do
  awk -v p="$TMP/$c.pkg.h5" '/^  deaths:/{print; getline; print "    package: " p; next} {print}' "$TMP/plat.yaml" >"$TMP/$c.yaml"
done
tamper "two packages of one run under one id, with other contents" "sameid.pkg.h5: package: its id [0-9a-f]{32} is that of another package of this run with other contents" "$TMP/sameid.yaml" $TRANS
"$PL" run "$TMP/copy.yaml" $TRANS --out "$TMP/copyrun" >"$TMP/copyrun.log" 2>&1
check "... an identical copy of the package (same id, same digest) is accepted" test $? -eq 0
tamper "an external link to a FIFO inside the package (never followed)" "elink.pkg.h5: package: /sources/deaths/p1: is not a hard link" "$TMP/elink.yaml" $TRANS
tamper "a soft link inside the package" "soft.pkg.h5: package: /sources/deaths/p1: is not a hard link" "$TMP/soft.yaml" $TRANS
NP=2 tamper "a dataset with external storage (another file's bytes)" "estore.pkg.h5: package: /sources/deaths/p1: is not a contiguous dataset stored in the package" "$TMP/estore.yaml" $TRANS
tamper "a virtual dataset (VDS) inside the package" "vds.pkg.h5: package: /sources/deaths/p1: is not a contiguous dataset" "$TMP/vds.yaml" $TRANS
tamper "a 1 GiB manifest never written (refused before allocating it)" "sparse.pkg.h5: package: /manifest is not stored in full" "$TMP/sparse.yaml" $TRANS
tamper "unsigned huge block counts (refused before allocating, no abort)" "huge.pkg.h5: package: manifest refused at its line [0-9]+: bad 'source' line" "$TMP/huge.yaml" $TRANS
tamper "a signed 'created' that is not a UTC time (audit line injection)" "created.pkg.h5: package: manifest refused at its line 5: bad 'created' line" "$TMP/created.yaml" $TRANS
grep -q '"outcome":"failure".*cnam_delivery\|"outcome":"failure"' "$TMP/t1/audit.log" 2>/dev/null
check "a refused package run leaves a failure audit line" test $? -eq 0

echo "# t=$SECONDS"
# === opposition ==============================================================
plrun 2 run "$TMP/platopp.yaml" $TRANS --out "$TMP/opp" >"$TMP/opp.log" 2>&1
check "run with an opposition package" test $? -eq 0
$PY "$ROOT/tests/e2e/corr_decrypt.py" "$TMP/opp/correspondence.h5" "$TMP/cust/alice.key.pem" "$TMP/cust/alice.pass" \
   "$TMP/cust/carol.key.pem" "$TMP/cust/carol.pass" >"$TMP/corr_opp.txt" 2>/dev/null || notok "corr_decrypt on the opposition run"
$PY - "$TMP/plain/linked.h5" "$TMP/opp/linked.h5" "$ROOT/inputs/opposition.h5" "$ROOT/inputs/laptop.h5" "$TMP/corr_opp.txt" "$TMP/opp/audit.log" <<'PY' >"$TMP/oppchk.txt" 2>&1
import sys, h5py, numpy as np, json
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
objectors = set(h5py.File(sys.argv[3], "r")["truth/objectors/person"][:])
st = h5py.File(sys.argv[4], "r")
# The objectors' pids, from the plain run (truth person of each linked row).
gone = set()
for s in ("hospital_stays", "deaths"):
    person = st["truth/%s/person" % s][:]
    for r, p in zip(a["linked/%s/row" % s][:], a["linked/%s/pid" % s][:]):
        if person[r] in objectors: gone.add(bytes(p))
left = 0
for s in ("hospital_stays", "pharmacy", "deaths"):
    left += len(gone & {bytes(p) for p in b["linked/%s/pid" % s][:]})
left += len(gone & {bytes(p) for p in b["persons/pid"][:]}) + len(gone & {bytes(p) for p in b["links/pid"][:]})
corr = {l.split()[0].encode() for l in open(sys.argv[5]) if l.strip()}
left += len(gone & corr)
rejrows = sum(len(b["rejects/%s/row" % s]) for s in b["rejects"]) if "rejects" in b else 0
line = json.loads(open(sys.argv[6]).read().strip().split("\n")[-1])
c = line["counts"]
print("objectors", len(objectors), "pids", len(gone), "left", left,
      "persons", len(a["persons/pid"]) - len(b["persons/pid"]),
      "corr", len(corr), "audit", c.get("opposition_persons"), c.get("opposition_records"), "rejects", rejrows)
PY
check "objectors' pids appear in no linked row, person, link or correspondence entry" grep -Eq '^objectors 25 pids 25 left 0 persons 25 corr [1-9]' "$TMP/oppchk.txt"
check "opposition counts in the audit line, nothing in /rejects" grep -Eq 'audit 25 [1-9][0-9]* rejects 0$' "$TMP/oppchk.txt"
check "opposition counts in the summary" grep -Eq '^opposition: 25 persons listed, [1-9][0-9]* records left out' "$TMP/opp.log"
# The same opposition list on a run that computes stage 1 itself.
{ cat "$TMP/plain.yaml"; sed -n '/^producers:/,/^  cnam:/p' "$TMP/plat.yaml"; sed -n '/^opposition:/,$p' "$TMP/platopp.yaml"; } >"$TMP/plainopp.yaml"
"$PL" run "$TMP/plainopp.yaml" $TRANS --out "$TMP/plainopp" >"$TMP/plainopp.log" 2>&1 || notok "stage-1 run with opposition"
$PY - "$TMP/opp/linked.h5" "$TMP/plainopp/linked.h5" <<'PY' >"$TMP/opp2.txt" 2>&1
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
print("same", all(np.array_equal(a[k][:], b[k][:]) for k in
      ["persons/pid", "links/pid"] + ["linked/%s/pid" % s for s in ("hospital_stays", "pharmacy", "deaths")]))
PY
check "opposition on a stage-1 run (NIRs in the store) removes the same persons" grep -q '^same True$' "$TMP/opp2.txt"
sed "s#^  - .*#  - $PKG#" "$TMP/platopp.yaml" >"$TMP/dataasopp.yaml"
tamper "a data package listed under opposition" "a data package, listed under 'opposition'" "$TMP/dataasopp.yaml" $TRANS

echo "# t=$SECONDS"
# === producer refusals ======================================================
# A payload column holding NIRs (a parent's, say) is refused unless allowed.
$PY - "$ROOT/inputs/opposition.h5" "$TMP/nirlike.h5" <<'PY'
import sys, h5py, shutil
shutil.copy(sys.argv[1], sys.argv[2])
f = h5py.File(sys.argv[2], "r+"); g = f["sources/objectors"]
g.create_dataset("parent_ref", data=g["nir"][:])
PY
sed -e "s#$ROOT/inputs/opposition.h5#$TMP/nirlike.h5#" -e "/^opposition:/d" -e "s#^output: .*#output: $TMP/prod/nirlike#" "$TMP/prodopp.yaml" >"$TMP/nirlike.yaml"
"$PL" produce "$TMP/nirlike.yaml" $SIGN >"$TMP/nirlike.log" 2>&1; rc=$?
test $rc -ne 0 -a ! -e "$TMP/prod/nirlike/current" && grep -q "/sources/objectors/parent_ref: payload column looks like NIRs" "$TMP/nirlike.log"
check "produce refuses a payload column that looks like NIRs, naming it" test $? -eq 0
sed -i "s#^    identity: .*#&\n    allow_nir_like: [parent_ref]#" "$TMP/nirlike.yaml"
"$PL" produce "$TMP/nirlike.yaml" $SIGN >"$TMP/nirlike2.log" 2>&1
check "... and carries it when the job allows it" test $? -eq 0
# A full disk at the producer: an error with the reason, no crash, nothing
# published; the next produce succeeds.
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=200k tmpfs "$TMP/full" 2>/dev/null; then
  trap 'umount "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT
  sed "s#^output: .*#output: $TMP/full/p#" "$TMP/prod.yaml" >"$TMP/full.yaml"
  timeout -s KILL 60 "$PL" produce "$TMP/full.yaml" $SIGN >"$TMP/full.log" 2>&1; rc=$?
  check "produce on a full disk: fails without a crash, nothing published" \
    test $rc -ne 0 -a $rc -lt 124 -a ! -e "$TMP/full/p/current"
  check "produce on a full disk: the message carries the reason" grep -q "pseudolink: error: .*No space left on device" "$TMP/full.log"
  umount "$TMP/full"
else
  missing "tmpfs mount (root) for produce on a full disk"
fi
# An output directory that is the export's, a package named like the
# export: the export is moved aside, never replaced (nor lost).
mkdir -p "$TMP/same"; cp "$ROOT/inputs/laptop.h5" "$TMP/same/laptop.pkg.h5"
sed -e "s#^store: .*#store: $TMP/same/laptop.pkg.h5#" -e "s#^output: .*#output: $TMP/same#" \
    -e "s#^package: .*#package: laptop#" "$TMP/prod.yaml" >"$TMP/same.yaml"
"$PL" produce "$TMP/same.yaml" $SIGN >"$TMP/same.log" 2>&1; rc=$?
aside=$(ls "$TMP"/same/.pseudolink-old-laptop.pkg.h5-* 2>/dev/null | head -1)
check "output dir = the export's dir: the export is moved aside, not overwritten" \
  test $rc -eq 0 -a -n "$aside" -a -L "$TMP/same/laptop.pkg.h5"
check "... with the export's bytes intact and a warning naming it" \
  cmp -s "$ROOT/inputs/laptop.h5" "${aside:-/nonexistent}"
grep -q "same/laptop.pkg.h5: an earlier file .* moved to" "$TMP/same.log" || notok "warning for the moved export"
# Private keys come on the command line only, never in a job file.
sed "s#hdh_transport.pub.pem#hdh_transport.key.pem#" "$TMP/prod.yaml" >"$TMP/privjob.yaml"
"$PL" produce "$TMP/privjob.yaml" $SIGN >"$TMP/privjob.log" 2>&1; rc=$?
test $rc -ne 0 && grep -q "hdh_transport.key.pem: this is a private key.*never in a job file" "$TMP/privjob.log"
check "a producer job naming the platform's private key is refused, saying why" test $? -eq 0
sed "s#cnam_signing.pub.pem#cnam_signing.key.pem#" "$TMP/plat.yaml" >"$TMP/privplat.yaml"
tamper "a platform job naming a producer's private signing key" "cnam_signing.key.pem: this is a private key.*never in a job file" "$TMP/privplat.yaml" $TRANS
"$PL" produce "$TMP/prod.yaml" --signing-key "$K/atih_signing.pub.pem" >"$TMP/badsig.log" 2>&1; rc=$?
check "produce refuses a public key as signing key" test $rc -ne 0
"$PL" produce "$TMP/prod.yaml" --signing-key "$K/hdh_transport.key.pem" --signing-passphrase-file "$K/hdh_transport.pass" >"$TMP/badsig2.log" 2>&1; rc=$?
test $rc -ne 0 && grep -q "not an Ed25519 key" "$TMP/badsig2.log"
check "produce refuses a transport key as signing key (not Ed25519)" test $? -eq 0
