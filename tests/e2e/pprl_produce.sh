#!/usr/bin/env bash
# Two producers, one without NIR, linked on the platform from their
# packages alone (issue 15; docs/PRODUCER.md "A producer without NIR",
# docs/LINKAGE.md "Encoded fields", docs/PACKAGE.md 3.1):
#  - synth writes the clear exports of cnam (persons, with NIR) and of a
#    registry (no NIR); each producer runs `produce` with its own signing
#    key and the same linkage secret (jobs/producer_cnam_persons.yaml,
#    jobs/producer_registry.yaml): names encoded, birth date / sex /
#    commune in clear, the registry's source without identity (no p1);
#  - the platform (jobs/linkage_pprl_packages.yaml, no store) links the
#    two packages on Dice + clear package columns; true precision and
#    recall from synth's truth, joined by row here only (never in a
#    package);
#  - no clear name in any package (decrypted by pkg_decrypt.py, from the
#    doc), log or output;
#  - producers with another secret, another q or another hardening are
#    refused naming the package and the field, nothing published;
#  - per-field encodings with xor_fold + balance and q = 3: parameters in
#    the manifest, filter width, balanced weight, and they link.
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
TRANS="--transport-key $K/hdh_transport.key.pem --transport-passphrase-file $K/hdh_transport.pass"
SIGN_REG="--signing-key $K/registry_signing.key.pem --signing-passphrase-file $K/registry_signing.pass"
SIGN_CNAM="--signing-key $K/cnam_signing.key.pem --signing-passphrase-file $K/cnam_signing.pass"

"$PL" synth --linkage --persons 6000 --records 4000 --seed 11 -o "$TMP/clear.h5" \
  --exports "$TMP/exp" >/dev/null
check "synth --exports: a persons export with NIR, a registry export without" $PY -c "
import h5py,sys
p=h5py.File('$TMP/exp/persons.h5')['sources/persons']; r=h5py.File('$TMP/exp/registry.h5')['sources/registry']
ok = len(p['nir'])==6000 and 'nir' not in r and 'p1' not in r and len(r['site'])==4000 and 'truth' not in h5py.File('$TMP/exp/registry.h5')
sys.exit(0 if ok else 1)"

# prodjob SRC-JOB OUT-NAME [SED-EXPR]: a producer job on the test's files
prodjob() {
  sed -e "s#inputs/linkage_exports/#$TMP/exp/#" -e "s#inputs/keys/#$TMP/keys/#g" \
      -e "s#inputs/transfer/#$K/#g" -e "s#out/producer/#$TMP/prod/#g" \
      -e "${3:-s#^##}" "$ROOT/jobs/$1" >"$TMP/$2.yaml"
}
# produce NAME SIGN SECRET: one producer's delivery
produce() {
  rm -rf "$TMP/prod/$1"
  plrun 2 produce "$TMP/$1.yaml" $2 --linkage-secret "$3" --out "$TMP/prod/$1" \
    >"$TMP/$1.log" 2>&1
}
prodjob producer_registry.yaml reg
prodjob producer_cnam_persons.yaml cnam
produce reg "$SIGN_REG" "$K/link.key"
check "produce: a registry without NIR (no identity, no stage-1 key) delivers a package" \
  test $? -eq 0 -a -f "$TMP/prod/reg/registry_delivery.pkg.h5"
produce cnam "$SIGN_CNAM" "$K/link.key"
check "produce: cnam's persons with NIR and the same linkage secret" \
  test $? -eq 0 -a -f "$TMP/prod/cnam/cnam_persons.pkg.h5"
REG=$TMP/prod/reg/registry_delivery.pkg.h5 CNAM=$TMP/prod/cnam/cnam_persons.pkg.h5
$PY "$ROOT/tests/e2e/pkg_decrypt.py" "$REG" "$K/registry_signing.pub.pem" \
  "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_reg.txt" 2>"$TMP/dec.err"
check "pkg_decrypt.py (from the doc) verifies and decrypts the registry's package" test $? -eq 0
$PY "$ROOT/tests/e2e/pkg_decrypt.py" "$CNAM" "$K/cnam_signing.pub.pem" \
  "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_cnam.txt" 2>>"$TMP/dec.err"
check "pkg_decrypt.py verifies and decrypts cnam's package" test $? -eq 0
$PY - "$TMP/exp/registry.h5" "$TMP/dec_reg.txt" "$TMP/dec_cnam.txt" <<'PY'
import sys, h5py
g = h5py.File(sys.argv[1], "r")["sources/registry"]
reg = [l.split() for l in open(sys.argv[2]) if l.startswith("registry ")]
cn = [l.split() for l in open(sys.argv[3]) if l.startswith("persons ")]
kv = lambda r: dict(x.split("=") for x in r[3:])
r0, c0 = kv(reg[0]), kv(cn[0])
ok = (len(reg) == 4000 and all(r[2] == "-" for r in reg) and
      sorted(r0) == sorted(["birth_date", "sex", "commune", "site", "bf_last_name",
                            "bf_first_name", "bf_birth_name"]) and
      all(int.from_bytes(bytes.fromhex(kv(r)["birth_date"]), "little", signed=True) == int(g["birth_date"][i])
          for i, r in enumerate(reg[:200])))
print(("ok" if ok else "not ok") + " - the registry's package: every row, no p1, birth date / sex / commune / site in clear, three encodings, no name column")
ok = (len(cn) == 6000 and len(cn[0][2]) == 64 and
      sorted(c0) == sorted(["commune", "birth_date", "sex", "bf_last_name", "bf_first_name", "bf_birth_name"]))
print(("ok" if ok else "not ok") + " - cnam's package: p1, birth date and sex in clear (encode.clear_identity), commune, three encodings")
PY

# === the platform links the two packages ===================================
platjob() {
  sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#inputs/transfer/#$K/#g" \
      -e "s#out/producer/cnam_persons/cnam_persons.pkg.h5#${2:-$CNAM}#" \
      -e "s#out/producer/registry/registry_delivery.pkg.h5#${3:-$REG}#" \
      -e "s#^output: .*#output: $TMP/plat#" -e "${4:-s#^##}" \
      "$ROOT/jobs/linkage_pprl_packages.yaml" >"$TMP/$1.yaml"
}
platjob plat
rm -rf "$TMP/plat"
plrun 2 run "$TMP/plat.yaml" $TRANS >"$TMP/plat.log" 2>&1
check "run links the registry's package to cnam's (no store, no clear name) at -np 2" test $? -eq 0
quality() {  # LINKED.H5 MIN-F1 LABEL
$PY - "$TMP/clear.h5" "$1" "$2" "$3" <<'PY'
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")
tp, tq = s["truth/persons/person"][:], s["truth/registry/person"][:]
f = h5py.File(sys.argv[2], "r")
g = f["linked/registry"]
st, pid, row = g["match_status"][:], g["pid"][:], g["row"][:]
lp = f["linked/persons"]
person_pid = {tp[r]: p for r, p in zip(lp["row"][:], lp["pid"][:])}
want = [person_pid.get(tq[r]) for r in row]      # truth joined by row
linked = st == 1
tpos = sum(1 for i in np.nonzero(linked)[0] if want[i] is not None and want[i] == pid[i])
pos = sum(1 for w in want if w is not None)
p = tpos / max(1, linked.sum()); r = tpos / max(1, pos); f1 = 2 * p * r / max(1e-12, p + r)
print("# %s: true precision %.4f recall %.4f F1 %.4f (%d linked of %d rows)" % (sys.argv[4], p, r, f1, linked.sum(), len(st)))
print(("ok" if f1 >= float(sys.argv[3]) and p >= 0.99 else "not ok") +
      " - %s: precision >= 0.99 and F1 >= %s (truth joined by row, not in any package)" % (sys.argv[4], sys.argv[3]))
PY
}
quality "$TMP/plat/linked.h5" 0.97 "linkage of the two packages"
# linkage.keep on a package source: its payload travels to /linked, and its
# rows are cross-linked in /links like the persons' (docs/LINKAGE.md)
$PY - "$TMP/exp/registry.h5" "$TMP/plat/linked.h5" <<'PY'
import sys, h5py, numpy as np
e = h5py.File(sys.argv[1], "r"); f = h5py.File(sys.argv[2], "r")
g = f["linked/registry"]; site = e["sources/registry/site"][:]
ok = "site" in g and (g["site"][:] == site[g["row"][:]]).all()
print(("ok" if ok else "not ok") + " - linkage.keep: the package's 'site' column in /linked/registry, row by row")
L = f["links"]; names = [n.decode() if isinstance(n, bytes) else n for n in L.attrs["sources"]]
k = names.index("registry"); sel = L["source"][:] == k
ok = sel.sum() == len(site) and sorted(L["row"][:][sel]) == list(range(len(site)))
print(("ok" if ok else "not ok") + " - every registry row of the package is in /links once")
PY
check "the audit line lists both packages and says no identified data was held" \
  bash -c "grep -q '\"identified_data\":\"none' '$TMP/plat/audit.log' && grep -q 'registry_delivery.pkg.h5\",\"id\"' '$TMP/plat/audit.log' && grep -q '\"linkage_encodings\":\[{\"field\":\"last_name\"' '$TMP/plat/audit.log'"

# === no name anywhere ======================================================
$PY -c "
import h5py
for src in ('persons', 'registry'):
    f = h5py.File('$TMP/clear.h5')
    for c in ('last_name','first_name','birth_name'):
        for v in f['sources/%s/%s' % (src, c)][:400]:
            v = v.rstrip(b'\0').strip()
            if len(v) >= 6:
                print(v.decode('utf-8', 'replace')); print(v.hex()); print(v.upper().hex()); print(v.lower().hex())
" | sort -u >"$TMP/names"
found=0
for f in "$TMP"/dec_reg.txt "$TMP"/dec_cnam.txt "$REG" "$CNAM" "$TMP"/prod/*/rejects.csv \
         "$TMP"/prod/*/audit.log "$TMP"/*.log "$TMP"/plat/current/* "$TMP"/plat/audit.log; do
  [ -f "$f" ] || continue
  if grep -aqiF -f "$TMP/names" "$f"; then found=1; echo "# a name in $f"; fi
  if grep -aqi "$SECRET_HEX" "$f"; then found=1; echo "# the secret in $f"; fi
done
for h in "$TMP"/plat/current/*.h5; do
  h5dump "$h" 2>/dev/null | grep -qiF -f "$TMP/names" && { found=1; echo "# a name in $h"; }
done
check "no clear name (nor the secret) in the decrypted packages, the logs or the outputs" \
  test $found -eq 0 -a "$(wc -l <"$TMP/names")" -gt 400 -a -s "$TMP/dec_reg.txt"

# === refusals: the producers' parameters differ ============================
refused() {  # NAME JOB EXPECTED-REGEX
  rm -rf "$TMP/plat"
  if plrun 1 run "$TMP/$2.yaml" $TRANS >"$TMP/bad.log" 2>&1; then
    notok "$1: refused"
  elif grep -qE -- "$3" "$TMP/bad.log" && [ ! -e "$TMP/plat/linked.h5" ]; then
    ok "$1: refused naming the package and the field, nothing published"
  else
    notok "$1: refused with '$3'"; cat "$TMP/bad.log"
  fi
}
prodjob producer_registry.yaml reg_other
produce reg_other "$SIGN_REG" "$K/other.key"
platjob mis "$CNAM" "$TMP/prod/reg_other/registry_delivery.pkg.h5"
refused "a registry with another linkage secret" mis \
  "reg_other/registry_delivery.pkg.h5: package source 'registry' column 'bf_last_name': linkage.fields.last_name: its encoding differs from the persons side's \(.*cnam_persons.pkg.h5: package source 'persons' column 'bf_last_name'\) in secret_id"
platjob badtype "$CNAM" "$REG" 's#commune:    {compare: exact}#commune:    {compare: date}#'
refused "a clear package column of the wrong type" badtype \
  "linkage.fields.commune \(compare: date\): .*cnam_persons.pkg.h5: package source 'persons' column 'commune' is of type s5, expected an integer"
platjob nocol "$CNAM" "$REG" 's#sex:        {compare: exact}#sex:        {compare: exact, column: gender}#'
refused "a clear field the package lacks" nocol \
  "linkage.fields.sex: .*cnam_persons.pkg.h5: package source 'persons' has no column 'gender'"
cat >"$TMP/noid.yaml" <<YAML
output: $TMP/plat
mode: keyed
keys: {platform: $TMP/keys/platform.key}
producers:
  registry: {signing_key: $K/registry_signing.pub.pem}
sources:
  registry: {package: $REG}
YAML
refused "a package source without identity (no p1) listed under sources:" noid \
  "registry_delivery.pkg.h5: package: source 'registry' has no p1 \(a source without identity, encoded for linkage\): list it in linkage.sources and linkage.packages"

# A trusted producer's signed manifest whose encoding says bits 1024 for a
# b64 column (a buggy or hostile producer: re-signed with its own key).
$PY - "$REG" "$TMP/forged.pkg.h5" "$K/registry_signing.key.pem" "$K/registry_signing.pass" <<'PY'
import sys, shutil, h5py, numpy as np
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), open(sys.argv[4], "rb").read().strip())
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:
    m = bytes(f["manifest"][:]).replace(b"bf_last_name version pseudolink-pprl-v1 bits 512 ",
                                        b"bf_last_name version pseudolink-pprl-v1 bits 1024 ", 1)
    del f["manifest"], f["signature"]
    f["manifest"] = np.frombuffer(m, np.uint8); f["signature"] = np.frombuffer(key.sign(m), np.uint8)
PY
platjob forged "$CNAM" "$TMP/forged.pkg.h5"
refused "a signed encoding line whose bits do not give the column's width" forged \
  "forged.pkg.h5: package: manifest refused at its line [0-9]+: an encoded column's width is not the one its encoding gives"

platjob p1aslk "$CNAM" "$CNAM"
refused "a package with p1 (cnam's) under linkage.packages" p1aslk \
  "cnam_persons.pkg.h5: package: delivered for source 'persons', not for 'registry' \(linkage.packages.registry\): refused"

# === per-field encodings hardened: xor_fold + balance, q = 3 ===============
H='s#      q: 2#      q: 3\n      harden: [xor_fold, balance]\n      filter_bits: 1024#;/filter_bits: 512/d'
prodjob producer_registry.yaml reg_h "$H"
prodjob producer_cnam_persons.yaml cnam_h "$H"
produce reg_h "$SIGN_REG" "$K/link.key" && produce cnam_h "$SIGN_CNAM" "$K/link.key"
check "produce with q: 3, harden: [xor_fold, balance], filter_bits: 1024" test $? -eq 0
$PY "$ROOT/tests/e2e/pkg_decrypt.py" "$TMP/prod/reg_h/registry_delivery.pkg.h5" "$K/registry_signing.pub.pem" \
  "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_h.txt" 2>"$TMP/dec.err"
check "the manifest carries bits 1024, q 3, harden xor_fold+balance, sent 1024 bits (b128)" \
  grep -q "^encoding registry bf_last_name bits=1024 sent=1024 q=3 harden=xor_fold+balance salt=none secret_id=[0-9a-f]\{32\} fields=last_name:20$" "$TMP/dec_h.txt"
$PY - "$TMP/dec_h.txt" "$ROOT/tests/e2e" "$SECRET_HEX" "$TMP/exp/registry.h5" <<'PY'
import sys, h5py
sys.path.insert(0, sys.argv[2])
import pprl_vectors as pv
rows = [dict(kv.split("=") for kv in l.split()[3:]) for l in open(sys.argv[1]) if l.startswith("registry ")]
w = [bin(int(r["bf_first_name"], 16)).count("1") for r in rows]
ok = len(rows) == 4000 and all(len(r["bf_first_name"]) == 256 for r in rows) and all(x == 512 for x in w)
print(("ok" if ok else "not ok") + " - the hardened filters are 128 bytes, each balanced (512 bits set of 1024)")
# recomputed from docs/PPRL.md by pprl_vectors.py (flags 3: fold, balance)
g = h5py.File(sys.argv[4], "r")["sources/registry"]
sec = bytes.fromhex(sys.argv[3]); same = 0
for i in range(20):
    v = g["first_name"][i].rstrip(b"\0").decode().rstrip(" ")
    same += pv.encode(sec, 1024, 3, b"", [("first_name", 20, 3, 1, v)]) == rows[i]["bf_first_name"]
print(("ok" if same == 20 else "not ok") + " - hardened q=3 filters are docs/PPRL.md's encoding (%d of 20 recomputed)" % same)
PY
platjob plat_h "$TMP/prod/cnam_h/cnam_persons.pkg.h5" "$TMP/prod/reg_h/registry_delivery.pkg.h5"
rm -rf "$TMP/plat"
plrun 2 run "$TMP/plat_h.yaml" $TRANS >"$TMP/plat_h.log" 2>&1
check "run links the hardened q=3 packages" test $? -eq 0
quality "$TMP/plat/linked.h5" 0.95 "hardened (xor_fold + balance, q 3) packages"
prodjob producer_registry.yaml reg_q3 's#      q: 2#      q: 3#'
produce reg_q3 "$SIGN_REG" "$K/link.key"
platjob qdiff "$CNAM" "$TMP/prod/reg_q3/registry_delivery.pkg.h5"
refused "producers that differ in q only" qdiff \
  "reg_q3/registry_delivery.pkg.h5: package source 'registry' column 'bf_last_name': linkage.fields.last_name: its encoding differs from the persons side's \(.*cnam_persons.pkg.h5: package source 'persons' column 'bf_last_name'\) in q:"
prodjob producer_registry.yaml reg_nh 's#      q: 2#      q: 3\n      filter_bits: 1024#;/filter_bits: 512/d'
produce reg_nh "$SIGN_REG" "$K/link.key"
platjob hdiff "$TMP/prod/cnam_h/cnam_persons.pkg.h5" "$TMP/prod/reg_nh/registry_delivery.pkg.h5"
refused "producers that differ in harden only" hdiff \
  "reg_nh/registry_delivery.pkg.h5: package source 'registry' column 'bf_last_name': linkage.fields.last_name: its encoding differs from the persons side's .* in harden:"

# === an encoded field narrower than 8 bytes (site: s4), also in keep ========
# (a heap overflow in produce's encoder once: it wiped 8 bytes a row)
prodjob producer_registry.yaml reg_site 's#fields: \[last_name, first_name, birth_name\]#fields: [last_name, first_name, birth_name, site]#'
timeout 60 "$PL" produce "$TMP/reg_site.yaml" $SIGN_REG --linkage-secret "$K/link.key" \
  --out "$TMP/prod/reg_site" >"$TMP/reg_site.log" 2>&1 &&
  $PY "$ROOT/tests/e2e/pkg_decrypt.py" "$TMP/prod/reg_site/registry_delivery.pkg.h5" "$K/registry_signing.pub.pem" \
    "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_site.txt" 2>"$TMP/dec.err"
check "encode a 4-byte column listed in keep too: bf_site, and no clear site in the package" \
  bash -c "grep -q '^encoding registry bf_site bits=512 ' '$TMP/dec_site.txt' && grep -q '^registry 0 - .* bf_site=' '$TMP/dec_site.txt' && ! grep -q ' site=' '$TMP/dec_site.txt'"

# === long names and NUL bytes: the whole value, up to its first NUL =========
# (a name of more than 4095 bytes was cut mid-character once: "not UTF-8")
$PY - "$TMP/exp/registry.h5" "$TMP/long.h5" <<'PY'
import sys, shutil, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:
    g = f["sources/registry"]; v = g["last_name"][:].astype("S6000"); del g["last_name"]
    v[0] = ("\u00e9" * 3000).encode(); v[1] = b"A" * 6000; v[2] = b"Dupont\0Durand"
    g["last_name"] = v
PY
prodjob producer_registry.yaml reg_long "s#^store: .*#store: $TMP/long.h5#"
: >"$TMP/dec_long.txt"
"$PL" produce "$TMP/reg_long.yaml" $SIGN_REG --linkage-secret "$K/link.key" \
  --out "$TMP/prod/reg_long" >"$TMP/reg_long.log" 2>&1 &&
  $PY "$ROOT/tests/e2e/pkg_decrypt.py" "$TMP/prod/reg_long/registry_delivery.pkg.h5" "$K/registry_signing.pub.pem" \
    "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_long.txt" 2>"$TMP/dec.err"
$PY - "$TMP/dec_long.txt" "$ROOT/tests/e2e" "$SECRET_HEX" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import pprl_vectors as pv
rows = [dict(kv.split("=") for kv in l.split()[3:]) for l in open(sys.argv[1]) if l.startswith("registry ")]
sec = bytes.fromhex(sys.argv[3])
want = ["\u00e9" * 3000, "A" * 6000, "Dupont"]
ok = len(rows) == 4000 and all(pv.encode(sec, 512, 0, b"", [("last_name", 20, 2, 1, w)]) == rows[i]["bf_last_name"]
                               for i, w in enumerate(want))
print(("ok" if ok else "not ok") + " - names of 6000 bytes encoded whole, a string ends at its first NUL (docs/PACKAGE.md 3.1)")
PY

# === producer job errors ===================================================
badprod() {  # NAME SED-EXPR EXPECTED-REGEX
  prodjob producer_registry.yaml badprod "$2"
  if "$PL" produce "$TMP/badprod.yaml" $SIGN_REG --linkage-secret "$K/link.key" --out "$TMP/prod/bad" >"$TMP/badprod.log" 2>&1; then
    notok "$1: refused"
  elif grep -qE -- "$3" "$TMP/badprod.log"; then ok "$1: refused ($3)"
  else notok "$1: refused with '$3'"; cat "$TMP/badprod.log"; fi
}
badprod "a source without identity nor encode" '/^    encode:/,$d' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.registry: missing required key 'identity'"
badprod "salt: birth_year without identity" 's#      k: 20#      k: 20\n      salt: birth_year#' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.registry.encode.salt: salt: birth_year takes the identity's birth date"
badprod "clear_identity without identity" 's#      k: 20#      k: 20\n      clear_identity: [sex]#' \
  "badprod.yaml:[0-9]+:[0-9]+: sources.registry.encode.clear_identity: this source has no identity"
badprod "an opposition source without identity" 's#^options:##;$a opposition: [registry]' \
  "badprod.yaml:[0-9]+:[0-9]+: opposition: source 'registry' has no identity"

# === a registry's CSV export, without identity ==============================
printf 'NOM;PRENOM;DATE_NAISS;SEXE;COMMUNE\nDupontel;Jean;01/02/1980;1;75056\nMartinez;Marie;15/06/1975;2;\n' >"$TMP/reg.csv"
cat >"$TMP/regcsv.yaml" <<YAML
producer: registry
package: registry_csv
output: $TMP/prod/csv
keys: {transport: $K/hdh_transport.pub.pem}
sources:
  registry:
    csv:
      file: $TMP/reg.csv
      delimiter: ";"
      columns:
        NOM: {as: last_name, type: string, length: 32}
        PRENOM: {as: first_name, type: string, length: 32}
        DATE_NAISS: {as: birth_date, type: date, format: DD/MM/YYYY}
        SEXE: {as: sex, type: uint8}
        COMMUNE: {as: commune, type: string, length: 5}
    keep: [birth_date, sex, commune]
    encode: {fields: [last_name, first_name], clk: false, filter_bits: 512}
YAML
"$PL" produce "$TMP/regcsv.yaml" $SIGN_REG --linkage-secret "$K/link.key" >"$TMP/csv.log" 2>&1 &&
  $PY "$ROOT/tests/e2e/pkg_decrypt.py" "$TMP/prod/csv/registry_csv.pkg.h5" "$K/registry_signing.pub.pem" \
    "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" >"$TMP/dec_csv.txt"
check "a registry's CSV export without identity: every row, no p1, birth date in clear, no name" \
  bash -c "grep -q '^registry 1 - birth_date=d75e2d01 sex=02 commune=0000000000 bf_last_name=' '$TMP/dec_csv.txt' && ! grep -aqi 'dupontel\|4475706f6e74656c' '$TMP/dec_csv.txt' '$TMP/prod/csv/registry_csv.pkg.h5'"
