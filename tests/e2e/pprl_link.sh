#!/usr/bin/env bash
# Linkage on keyed Bloom-filter encodings (issue 15; docs/LINKAGE.md
# "Encoded fields", docs/PPRL.md, docs/PACKAGE.md 3.1):
#  - produce encodes clear fields into a b<N> package column with its
#    parameters in the signed manifest; pkg_decrypt.py (from the doc) reads
#    them; the clear field is not in the package, the secret's identifier
#    is in the audit line, the secret never;
#  - a run links on Dice (compare: dice, field:lsh blocking) with F1 within
#    one point of the clear-field linkage of the same synth data;
#  - mismatched secrets, an encoded field compared with a clear one,
#    filters of the wrong length and mismatched packages are refused
#    naming the package (or store) and the field, nothing published;
#  - no name in any log or output.
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
"$PL" keygen "$K/link.key" >/dev/null && "$PL" keygen "$K/other.key" >/dev/null
SECRET_HEX=$(head -c 64 "$K/link.key")

# === synth: the same persons and registry, clear and encoded ===============
"$PL" synth --linkage --persons 6000 --records 4000 --seed 11 -o "$TMP/clear.h5" >/dev/null
"$PL" synth --linkage --persons 6000 --records 4000 --seed 11 -o "$TMP/enc.h5" \
  --linkage-secret "$K/link.key" --per-field >/dev/null
check "synth --linkage-secret: bf_<name> encodings with their parameters, no clear name column" \
  $PY -c "
import h5py,sys; f=h5py.File('$TMP/enc.h5'); g=f['sources/registry']
ok = g['bf_last_name'].shape == (4000, 64) and 'last_name' not in g and b'secret_id' in g['bf_last_name'].attrs['encoding']
sys.exit(0 if ok else 1)"
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/clear.h5#" \
    "$ROOT/jobs/linkage.yaml" >"$TMP/clear.yaml"
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/enc.h5#" \
    "$ROOT/jobs/linkage_pprl.yaml" >"$TMP/enc.yaml"
plrun 2 run "$TMP/clear.yaml" --out "$TMP/clear" >"$TMP/clear.log" 2>&1
check "clear-field linkage at -np 2" test $? -eq 0
plrun 2 run "$TMP/enc.yaml" --out "$TMP/enc" >"$TMP/enc.log" 2>&1
check "linkage on encodings (compare: dice, lsh blocking) at -np 2" test $? -eq 0
$PY - "$TMP/clear.h5" "$TMP/clear/linked.h5" "$TMP/enc/linked.h5" <<'PY'
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")
tp, tq = s["truth/persons/person"][:], s["truth/registry/person"][:]
def f1(path):
    f = h5py.File(path, "r")
    g = f["linked/registry"]
    st, pid = g["match_status"][:], g["pid"][:]
    lp = f["linked/persons"]
    row2pid = dict(zip(lp["row"][:], lp["pid"][:]))
    person_pid = {tp[r]: p for r, p in row2pid.items()}
    want = np.array([person_pid.get(t) for t in tq], dtype=object)
    linked = st == 1
    tpos = sum(1 for i in np.nonzero(linked)[0] if want[i] is not None and want[i] == pid[i])
    pos = sum(1 for w in want if w is not None)
    p = tpos / max(1, linked.sum()); r = tpos / max(1, pos)
    return 2 * p * r / max(1e-12, p + r), p, r
fc, pc, rc = f1(sys.argv[2]); fe, pe, re_ = f1(sys.argv[3])
print("# F1 clear %.4f (P %.4f R %.4f), F1 encoded %.4f (P %.4f R %.4f), difference %.2f points"
      % (fc, pc, rc, fe, pe, re_, 100 * (fc - fe)))
print(("ok" if fc - fe <= 0.01 else "not ok") + " - F1 on encodings within one point of the clear-field linkage")
PY
check "/linkage/registry carries the encoding parameters (secret_id, bits, q, fields)" $PY -c "
import h5py,sys; a=h5py.File('$TMP/enc/linked.h5')['linkage/registry'].attrs['encodings']
t=[x.decode() if isinstance(x,bytes) else x for x in a]
sys.exit(0 if len(t)==3 and all('secret_id' in x and 'bits 512' in x and 'q 2' in x for x in t) else 1)"
check "the audit line carries linkage_encodings" grep -q '"linkage_encodings":\[{"field":"last_name","version":"pseudolink-pprl-v1","secret_id":"[0-9a-f]\{32\}","bits":512' "$TMP/enc/audit.log"
grep -q "linkage encoding last_name: pseudolink-pprl-v1 secret_id" "$TMP/enc.log" && ok "the summary prints the encoding parameters" || notok "the summary prints the encoding parameters"

# === refusals, nothing published ===========================================
bad() {  # NAME JOB EXPECTED-REGEX
  local name=$1 job=$2 want=$3
  rm -rf "$TMP/bad"
  if plrun 1 run "$job" --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then
    notok "$name: refused"
  elif grep -qE -- "$want" "$TMP/bad.log" && [ ! -e "$TMP/bad/linked.h5" ]; then
    ok "$name: refused, nothing published"
  else
    notok "$name: refused with '$want'"; cat "$TMP/bad.log"
  fi
}
"$PL" synth --linkage --persons 600 --records 400 --seed 3 -o "$TMP/mis.h5" \
  --linkage-secret "$K/link.key" --registry-secret "$K/other.key" --per-field >/dev/null
sed -e "s#^store: .*#store: $TMP/mis.h5#" "$TMP/enc.yaml" >"$TMP/mis.yaml"
bad "a producer with another linkage secret" "$TMP/mis.yaml" \
  "mis.h5: /sources/registry/bf_last_name: linkage.fields.last_name: its encoding differs from the persons side's .* in secret_id"
sed -e 's#column: bf_first_name#column: commune#' "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "an encoded field compared with a clear one" "$TMP/bad.yaml" \
  "/sources/persons/commune: linkage.fields.first_name \(compare: dice\) expects an encoding.*cannot be compared with a clear one"
cp "$TMP/enc.h5" "$TMP/short.h5"
$PY -c "
import h5py; f=h5py.File('$TMP/short.h5','r+'); g=f['sources/registry']; a=g['bf_birth_name'].attrs['encoding']
v=g['bf_birth_name'][:, :56]; del g['bf_birth_name']; g['bf_birth_name']=v; g['bf_birth_name'].attrs['encoding']=a"
sed -e "s#^store: .*#store: $TMP/short.h5#" "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "filters of the wrong length" "$TMP/bad.yaml" \
  "/sources/registry/bf_birth_name: attribute 'encoding': an encoded column's width is not the one its encoding gives"
cp "$TMP/enc.h5" "$TMP/noattr.h5"
$PY -c "
import h5py; f=h5py.File('$TMP/noattr.h5','r+'); del f['sources/persons/bf_last_name'].attrs['encoding']"
sed -e "s#^store: .*#store: $TMP/noattr.h5#" "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "missing encoding parameters" "$TMP/bad.yaml" \
  "/sources/persons/bf_last_name: attribute 'encoding': missing"

# === produce with encodings ================================================
$PY -c "
import h5py, numpy as np
s=h5py.File('$ROOT/inputs/laptop.h5'); o=h5py.File('$TMP/export.h5','w')
for src in ('hospital_stays','deaths'):
    for c in s['sources/'+src]:
        o['sources/'+src+'/'+c]=s['sources/'+src][c][:]
n=len(o['sources/hospital_stays/nir'])
o['sources/hospital_stays/last_name']=np.array([('QUENTINOVSKA%d'%(i%97)).encode() for i in range(n)],dtype='S32')"
fix() { sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/transfer/#$K/#g" \
            -e "s#inputs/laptop.h5#$TMP/export.h5#" -e "s#out/producer/#$TMP/prod/#g" "$@"; }
fix "$ROOT/jobs/producer_cnam.yaml" |
  sed 's#^    keep: \[stay_date, diagnosis, los\]#&\n    encode: {fields: [last_name, birth_date], k: {last_name: 25}, salt: birth_year, harden: [balance]}#' >"$TMP/prod.yaml"
SIGN="--signing-key $K/cnam_signing.key.pem --signing-passphrase-file $K/cnam_signing.pass"
PKG=$TMP/prod/cnam/cnam_delivery.pkg.h5
plrun 2 produce "$TMP/prod.yaml" $SIGN --linkage-secret "$K/link.key" >"$TMP/produce.log" 2>&1
check "produce --linkage-secret with sources.hospital_stays.encode" test $? -eq 0 -a -f "$PKG"
"$PL" produce "$TMP/prod.yaml" $SIGN --out "$TMP/prod2" >"$TMP/nosecret.log" 2>&1
check "produce without --linkage-secret: refused naming the source" \
  grep -q "sources.hospital_stays.encode: the linkage secret is missing" "$TMP/nosecret.log"
$PY "$ROOT/tests/e2e/pkg_decrypt.py" "$PKG" "$K/cnam_signing.pub.pem" \
  "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec.txt" 2>"$TMP/dec.err"
check "pkg_decrypt.py (from the doc) verifies and decrypts a package with an encoded column" test $? -eq 0
check "the manifest's encoding: 1024 bits balanced to b256, q 2, salt birth_year, fields and k" \
  grep -q "^encoding hospital_stays clk bits=1024 sent=2048 q=2 harden=balance salt=birth_year secret_id=[0-9a-f]\{32\} fields=last_name:25,birth_date:20$" "$TMP/dec.txt"
check "the clear encoded field is not a package column" bash -c "! grep -q 'last_name=' '$TMP/dec.txt'"
$PY - "$TMP/dec.txt" <<'PY'
import sys
rows = [l.split(" ") for l in open(sys.argv[1]) if l.startswith("hospital_stays ")]
clk = [dict(kv.split("=") for kv in r[3:])["clk"] for r in rows]
w = [bin(int(c, 16)).count("1") for c in clk]
print(("ok" if all(x == 1024 for x in w) and len(set(clk)) > 90 else "not ok") +
      " - decrypted filters are balanced (weight 1024 of 2048) and differ between records")
PY
# the filters are the ones docs/PPRL.md defines (recomputed in Python by
# tests/e2e/pprl_vectors.py's functions, from the export and the secret)
$PY - "$ROOT/tests/e2e" "$TMP/export.h5" "$TMP/dec.txt" "$TMP/prod/cnam/rejects.csv" "$SECRET_HEX" <<'PY'
import sys, csv, h5py
sys.path.insert(0, sys.argv[1])
import pprl_vectors as pv
exp, dec, rej, sec = sys.argv[2:6]
g = h5py.File(exp, "r")["sources/hospital_stays"]
bad = {int(r["row"]) for r in csv.DictReader(open(rej)) if r["source"] == "hospital_stays"}
rows = [i for i in range(len(g["nir"])) if i not in bad][:40]
clk = [dict(kv.split("=") for kv in l.split()[3:])["clk"] for l in open(dec) if l.startswith("hospital_stays ")][:40]
secret = bytes.fromhex(sec)
same = 0
for r, c in zip(rows, clk):
    bd = int(g["birth_date"][r]); name = g["last_name"][r].decode()
    want = pv.encode(secret, 1024, 2, b"%04d" % (bd // 10000),
                     [("last_name", 25, 2, 1, name), ("birth_date", 20, 2, 1, str(bd))])
    same += want == c
print(("ok" if same == 40 else "not ok") + " - the package's filters are docs/PPRL.md's encoding of the export's fields (%d of 40 recomputed)" % same)
PY
SID=$(grep -o '"linkage_secret_id":"[0-9a-f]*"' "$TMP/prod/cnam/audit.log" | cut -d'"' -f4)
check "produce's audit line carries the secret's identifier, the manifest the same one" \
  grep -q "secret_id=$SID " "$TMP/dec.txt"
# the platform: the package's encoding beside a store source with other parameters
cat >"$TMP/plat.yaml" <<YAML
store: $TMP/enc.h5
output: $TMP/plat
mode: keyed
keys: {platform: $TMP/keys/platform.key}
producers:
  cnam: {signing_key: $K/cnam_signing.pub.pem}
sources:
  hospital_stays:
    package: $PKG
    keep: [stay_date]
linkage:
  persons: hospital_stays
  sources: [registry]
  fields:
    names: {compare: dice, column: clk}
  blocking: [names:lsh]
YAML
mv "$TMP/enc.h5" "$TMP/enc_copy.h5"; cp "$TMP/enc_copy.h5" "$TMP/enc.h5"
$PY -c "
import h5py; f=h5py.File('$TMP/enc.h5','r+'); g=f['sources/registry']; g['clk']=g['bf_last_name'][:]
g['clk'].attrs['encoding']=g['bf_last_name'].attrs['encoding'].replace(b'bf_last_name', b'clk')"
TRANS="--transport-key $K/hdh_transport.key.pem --transport-passphrase-file $K/hdh_transport.pass"
rm -rf "$TMP/bad"
if plrun 1 run "$TMP/plat.yaml" $TRANS --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then
  notok "a package whose encoding differs from the other side's: refused"
elif grep -qE "enc.h5: /sources/registry/clk: linkage.fields.names: its encoding differs from the persons side's \($PKG: package source 'hospital_stays' column 'clk'\) in bits \(filter size\)" "$TMP/bad.log" && [ ! -e "$TMP/bad/linked.h5" ]; then
  ok "a package whose encoding differs from the other side's (filter size): refused naming the package and the field"
else
  notok "a package whose encoding differs: refused naming the package"; cat "$TMP/bad.log"
fi
sed -e 's#keep: \[stay_date\]#keep: [stay_date, clk]#' -e '/^linkage:/,$d' "$TMP/plat.yaml" >"$TMP/plat2.yaml"
rm -rf "$TMP/bad"
plrun 1 run "$TMP/plat2.yaml" $TRANS --out "$TMP/bad" >"$TMP/bad.log" 2>&1
check "an encoding named in keep: refused (never payload)" \
  grep -q "column 'clk' is a Bloom-filter encoding: it is compared by linkage.fields" "$TMP/bad.log"
sed -e '/^linkage:/,$d' "$TMP/plat.yaml" >"$TMP/plat3.yaml"
plrun 2 run "$TMP/plat3.yaml" $TRANS --out "$TMP/plat3" >"$TMP/plat3.log" 2>&1
check "run consumes a package with an encoded column (not carried)" \
  $PY -c "import h5py,sys; f=h5py.File('$TMP/plat3/linked.h5'); sys.exit(0 if 'clk' not in f['linked/hospital_stays'] and 'stay_date' in f['linked/hospital_stays'] else 1)"

# job file errors: file:line:column and the key path
badprod() {  # NAME SED-EXPR EXPECTED-REGEX
  sed -e "$2" "$TMP/prod.yaml" >"$TMP/badprod.yaml"
  if "$PL" produce "$TMP/badprod.yaml" $SIGN --linkage-secret "$K/link.key" --out "$TMP/badprod" >"$TMP/badprod.log" 2>&1; then
    notok "$1: refused"
  elif grep -qE -- "$3" "$TMP/badprod.log"; then ok "$1: refused ($3)"
  else notok "$1: refused with '$3'"; cat "$TMP/badprod.log"; fi
}
badprod "encode: an unknown key" 's#salt: birth_year#salt: birth_year, sault: 1#' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.hospital_stays.encode: unknown key 'sault'"
badprod "encode: filter_bits not a multiple of 64" 's#k: {last_name: 25}#k: {last_name: 25}, filter_bits: 1000#' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.hospital_stays.encode.filter_bits: expected a multiple of 64"
badprod "encode: k for a field not encoded" 's#k: {last_name: 25}#k: {surname: 25}#' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.hospital_stays.encode.k.surname: not one of encode.fields"
badprod "encode: a field the export lacks" 's#fields: \[last_name, birth_date\], k: {last_name: 25}#fields: [last_nam, birth_date]#' \
  "export.h5: /sources/hospital_stays/last_nam: kept column not found"
sed -e 's#^    keep: \[\]#    keep: []\n    encode: {fields: [commune]}#' "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "encode: in a platform's job" "$TMP/bad.yaml" "bad.yaml:[0-9]+:[0-9]+: sources.persons: 'encode' is for a producer's job"
sed -e 's#- birth_date + first_name:lsh#- birth_date:lsh#' "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "lsh blocking on a clear field" "$TMP/bad.yaml" "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[0\]: blocking rule 'birth_date:lsh': 'lsh' does not apply to field 'birth_date'"
sed -e 's#- last_name:lsh + first_name:lsh#- last_name + first_name:lsh#' "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "a dice field blocked on its value" "$TMP/bad.yaml" "bad.yaml:[0-9]+:[0-9]+: linkage.blocking\[2\]: blocking rule 'last_name \+ first_name:lsh': field 'last_name' \(compare: dice\) blocks only as 'last_name:lsh'"
sed -e 's#column: bf_first_name}#column: bf_first_name, levels: [0.8, 0.9]}#' "$TMP/enc.yaml" >"$TMP/bad.yaml"
bad "Dice levels out of order" "$TMP/bad.yaml" "bad.yaml:[0-9]+:[0-9]+: linkage.fields.first_name.levels\[1\]: thresholds must decrease strictly"

# === no name, no secret anywhere ===========================================
$PY -c "
import h5py
f=h5py.File('$TMP/clear.h5')
for c in ('last_name','first_name','birth_name'):
    for v in f['sources/registry/'+c][:300]:
        v=v.decode('utf-8','replace').strip()
        if len(v)>=6: print(v)
print('QUENTINOVSKA')" | sort -u >"$TMP/names"
found=0
for f in "$TMP"/enc.log "$TMP"/produce.log "$TMP"/enc/current/* "$TMP"/enc/audit.log "$TMP"/prod/cnam/current/* "$TMP"/prod/cnam/audit.log; do
  [ -f "$f" ] || continue
  if grep -aqiF -f "$TMP/names" "$f"; then found=1; echo "# a name in $f"; fi
  if grep -aqi "$SECRET_HEX" "$f"; then found=1; echo "# the secret in $f"; fi
done
h5dump "$TMP/enc/linked.h5" 2>/dev/null | grep -qiF -f "$TMP/names" && { found=1; echo "# a name in linked.h5"; }
check "no name and no secret in any log, package or output" test $found -eq 0
