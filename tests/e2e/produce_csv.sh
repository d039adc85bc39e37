#!/usr/bin/env bash
# `produce` on a CSV export (issue 13; docs/PRODUCER.md, docs/CSV.md): the
# shipped atih job (inputs/atih_stays.csv: Latin-1, ';', CRLF, quoted
# fields, a field over two lines) gives, through the platform's run on the
# shipped jobs/platform.yaml, the same linked result as the plain store run
# on the same rows; the reject report's rows are the CSV lines the records
# start on, with the store's codes; -np 1, 2 and 3 give the same decrypted
# package content; each structural CSV error fails the produce naming
# file:line:column and the column, never a value, with nothing published;
# no NIR, name or p1 in clear in anything produce wrote.
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
            -e "s#inputs/custodians/#$TMP/cust/#g" -e "s#inputs/\([a-z_]*\)\.\(h5\|csv\)#$ROOT/inputs/\1.\2#g" \
            -e "s#out/producer/#$TMP/prod/#g" -e "s#^output: out/#output: $TMP/#" "$@"; }
CSV=$ROOT/inputs/atih_stays.csv
fix "$ROOT/jobs/producer_atih.yaml" >"$TMP/atih.yaml"
fix "$ROOT/jobs/producer_cnam.yaml" >"$TMP/cnam.yaml"
fix "$ROOT/jobs/platform.yaml" | sed '/^opposition:/,$d' >"$TMP/plat.yaml"
fix "$ROOT/jobs/laptop.yaml" >"$TMP/plain.yaml"
SIGN="--signing-key $K/atih_signing.key.pem --signing-passphrase-file $K/atih_signing.pass"
SIGNC="--signing-key $K/cnam_signing.key.pem --signing-passphrase-file $K/cnam_signing.pass"
TRANS="--transport-key $K/hdh_transport.key.pem --transport-passphrase-file $K/hdh_transport.pass"
PKG=$TMP/prod/atih/atih_delivery.pkg.h5
dec() { $PY "$ROOT/tests/e2e/pkg_decrypt.py" "$1" "$K/atih_signing.pub.pem" \
          "$K/hdh_transport.key.pem" "$K/hdh_transport.pass" | grep -v '^package '; }

echo "# t=$SECONDS"
# === the shipped CSV producer, 2 ranks =======================================
plrun 2 produce "$TMP/atih.yaml" $SIGN >"$TMP/atih.log" 2>&1
check "produce (2 ranks) from the CSV export" test $? -eq 0 -a -f "$PKG"
check "produce's audit line digests the CSV file as its input" \
  grep -q "\"command\":\"produce\".*\"inputs\":\[{\"path\":\"$CSV\".*\"outcome\":\"success\"" "$TMP/prod/atih/audit.log"
"$PL" verify --audit "$TMP/prod/atih/audit.log" "$TMP/prod/atih" >"$TMP/verify.log" 2>&1
check "verify: the CSV produce's audit chain and outputs" test $? -eq 0
dec "$PKG" >"$TMP/dec2.txt" 2>"$TMP/dec2.err"
check "pkg_decrypt.py verifies and decrypts the CSV package" test $? -eq 0 -a -s "$TMP/dec2.txt"

# === -np 1 and -np 3: the same content =====================================
for np in 1 3; do
  # -np 3 in batches of 1000 records: many batches, rewinds, a last
  # batch some ranks do not have.
  sed -e "s#^output: .*#output: $TMP/prod/atih$np#" -e "s#batch_rows: 131072#batch_rows: $([ $np = 3 ] && echo 1000 || echo 131072)#" \
    "$TMP/atih.yaml" >"$TMP/atih$np.yaml"
  if [ $np = 1 ]; then "$PL" produce "$TMP/atih$np.yaml" $SIGN; else plrun $np produce "$TMP/atih$np.yaml" $SIGN; fi >"$TMP/atih$np.log" 2>&1 \
    || notok "produce -np $np"
  dec "$TMP/prod/atih$np/atih_delivery.pkg.h5" >"$TMP/dec$np.txt" 2>/dev/null
done
check "-np 1, 2 and 3 (batches of 1000): identical decrypted p1 and payload, row by row" \
  bash -c "cmp -s '$TMP/dec1.txt' '$TMP/dec2.txt' && cmp -s '$TMP/dec1.txt' '$TMP/dec3.txt' && test -s '$TMP/dec1.txt'"
check "-np 1, 2 and 3: identical reject reports" \
  bash -c "cmp -s '$TMP/prod/atih1/rejects.csv' '$TMP/prod/atih/rejects.csv' && cmp -s '$TMP/prod/atih3/rejects.csv' '$TMP/prod/atih/rejects.csv'"

echo "# t=$SECONDS"
# === the chain: CSV package (hospital_stays) + HDF5 package (deaths) =======
plrun 2 produce "$TMP/cnam.yaml" $SIGNC >"$TMP/cnam.log" 2>&1 || notok "cnam produce"
plrun 2 run "$TMP/plain.yaml" --out "$TMP/plain" >"$TMP/plain.log" 2>&1 || notok "plain run"
plrun 2 run "$TMP/plat.yaml" $TRANS --out "$TMP/plat" >"$TMP/plat.log" 2>&1
check "platform run on the shipped job: atih's CSV package and cnam's HDF5 package" test $? -eq 0
$PY - "$TMP/plain/linked.h5" "$TMP/plat/linked.h5" "$TMP/prod/atih/rejects.csv" "$CSV" <<'PY' >"$TMP/rt.txt" 2>&1
import sys, h5py, numpy as np, csv, io
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = []
for s in ("hospital_stays", "pharmacy", "deaths"):
    for k in a["linked/" + s]:
        if k != "row" and not np.array_equal(a["linked/%s/%s" % (s, k)][:], b["linked/%s/%s" % (s, k)][:]):
            bad.append(s + "/" + k)
for k in ("persons/pid", "links/pid", "links/source"):
    if not np.array_equal(a[k][:], b[k][:]): bad.append(k)
# The accented payload column arrived as UTF-8.
units = {bytes(u).rstrip(b"\0").decode("utf-8") for u in b["linked/hospital_stays/unit"][:]}
if len(units) != 12 or "Pôle \"mère-enfant\"" not in units or "Réanimation\nchirurgicale" not in units or "Urgences; UHCD" not in units:
    bad.append("unit")
# The CSV line each record starts on (Python's csv module, independent).
text = open(sys.argv[4], encoding="latin-1", newline="").read()
starts, line = [], 1
r = csv.reader(io.StringIO(text, newline=""), delimiter=";")
next(r); line = r.line_num + 1
for rec in r:
    starts.append(line); line = r.line_num + 1
mine = sorted((int(x["row"]), int(x["code"])) for x in csv.DictReader(open(sys.argv[3])))
theirs = sorted((starts[int(rw)], int(c)) for rw, c in
                zip(a["rejects/hospital_stays/row"][:], a["rejects/hospital_stays/reason"][:]))
if mine != theirs or not mine: bad.append("rejects %d %d" % (len(mine), len(theirs)))
if starts[-1] == len(starts) + 1: bad.append("no multi-line record")
print("diff", bad)
PY
check "linked output from the CSV package = from the plain store (pids, payload, persons, links)" grep -q '^diff \[\]$' "$TMP/rt.txt"
check "the accented, quoted, multi-line payload column arrives in UTF-8" bash -c "! grep -q \"'unit'\" '$TMP/rt.txt'"
check "rejects.csv rows are the CSV lines the records start on, codes the store's" bash -c "! grep -q \"'rejects\" '$TMP/rt.txt' && grep -q '^diff' '$TMP/rt.txt'"
cat "$TMP/rt.txt" | grep -v '^diff \[\]$' | head -5

echo "# t=$SECONDS"
# === no leak =================================================================
files=$(find -L "$TMP/prod/atih" -type f | sort)
$PY - "$CSV" "$TMP/dec2.txt" $files "$TMP"/atih*.log <<'PY' >"$TMP/leak.txt" 2>&1
import sys, csv
rows = list(csv.reader(open(sys.argv[1], encoding="latin-1", newline=""), delimiter=";"))[1:]
nirs = {r[0].encode() for r in rows if len(r[0]) == 15}
names = set()
for r in rows:
    names |= {r[4].encode("utf-8"), r[4].encode("latin-1")}
p1s = set()
for l in open(sys.argv[2]):
    p = l.split(" ")
    if len(p) >= 3 and len(p[2]) == 64:
        p1s.add(bytes.fromhex(p[2])); p1s.add(p[2].encode())
leaks = 0
for path in sys.argv[3:]:
    data = open(path, "rb").read()
    hit = any(nm in data for nm in names)
    for w, needles in ((15, nirs), (32, p1s), (64, p1s)):
        hit = hit or any(data[i:i + w] in needles for i in range(len(data) - w + 1))
    if hit: leaks += 1; print("leak", path)
print("files", len(sys.argv) - 3, "nirs", len(nirs), "p1", len(p1s) // 2, "leaks", leaks)
PY
check "no NIR, no patient name, no p1 (raw or hex) in anything the CSV produce wrote or printed" \
  grep -Eq 'files [0-9]+ nirs [1-9][0-9]* p1 [1-9][0-9]* leaks 0$' "$TMP/leak.txt"

echo "# t=$SECONDS"
# === CSV errors: named file:line:col + column, never a value, nothing out ===
# A small export (the header and 60 records), edited per case by Python.
head -c 100000 "$CSV" | $PY -c '
import sys; d = sys.stdin.buffer.read().split(b"\r\n"); sys.stdout.buffer.write(b"\r\n".join(d[:61]) + b"\r\n")' >"$TMP/small.csv"
n=0
# bad NAME PATTERN NP IDX PYEXPR [JOBSED]: PYEXPR edits L (the records as
# bytes, L[0] the header); '@' in PATTERN is the line record L[IDX] starts
# on (records may span lines). The produce must fail with PATTERN, print
# no NIR of the file, and publish nothing.
bad() {
  local name=$1 pat=$2 np=$3 idx=$4 expr=$5 jobsed=${6:-}; n=$((n + 1))
  local f=$TMP/e$n.csv out=$TMP/prod/e$n
  local line
  line=$($PY -c "
import sys; L = open(sys.argv[1], 'rb').read().split(b'\r\n')[:-1]
print(1 + $idx + sum(x.count(b'\n') for x in L[:$idx]))
$expr
open(sys.argv[2], 'wb').write(b'\r\n'.join(L) + b'\r\n')" "$TMP/small.csv" "$f")
  pat=${pat//@/$line}
  sed -e "s#$CSV#$f#" -e "s#^output: .*#output: $out#" ${jobsed:+-e "$jobsed"} "$TMP/atih.yaml" >"$TMP/e$n.yaml"
  if [ "$np" = 1 ]; then "$PL" produce "$TMP/e$n.yaml" $SIGN; else plrun "$np" produce "$TMP/e$n.yaml" $SIGN; fi >"$TMP/e$n.log" 2>&1
  local rc=$?
  local leak
  leak=$(cut -d';' -f1 "$f" | tail -n +2 | tr -d '"' | grep -E '^[0-9AB]{13,15}$' | grep -F -f - "$TMP/e$n.log" | head -1)
  if [ $rc -ne 0 ] && grep -Eq -- "$pat" "$TMP/e$n.log" && [ -z "$leak" ] && [ ! -e "$out/current" ] && [ ! -e "$out/rejects.csv" ]; then
    ok "$name: refused at file:line:col, named, no value, nothing published"
  else notok "$name (rc=$rc, expected /$pat/)"; grep -i error "$TMP/e$n.log" | head -3; fi
}
bad "too many fields" "e1.csv:@:[0-9]+: field 10: too many fields" 1 4 'L[4] += b";x"'
bad "too few fields" "e2.csv:@:[0-9]+: column 'DUREE' \(field 8\): too few fields: 8 \(expected 9" 1 7 'L[7] = b";".join(L[7].split(b";")[:8])'
bad "unbalanced quotes (last record)" "e3.csv:@:[0-9]+: column 'UNITE' \(field 9\): unbalanced quotes" 1 60 'L[60] = b";".join(L[60].split(b";")[:8]) + b";\"Cardio"'
bad "a quote inside an unquoted field" "e4.csv:@:[0-9]+: column 'NOM' \(field 5\): quote inside an unquoted field" 1 2 'p = L[2].split(b";"); p[4] = b"Le\"f"; L[2] = b";".join(p)'
bad "invalid UTF-8 (the Latin-1 file declared utf-8)" "e5.csv:@:[0-9]+: column 'NOM' \(field 5\): invalid UTF-8" 1 1 'p = L[1].split(b";"); p[4] = b"L\xe8vre"; L[1] = b";".join(p)' 's#encoding: latin-1#encoding: utf-8#'
bad "a C1 control byte in a Latin-1 file (Windows-1252)" "e6.csv:@:[0-9]+: column 'NOM' \(field 5\): " 1 9 'p = L[9].split(b";"); p[4] += b"\x85"; L[9] = b";".join(p)'
bad "a duplicate header" "e7.csv:1:[0-9]+: duplicate header 'NIR'" 1 0 'L[0] = L[0] + b";NIR"'
bad "an undeclared header" "e8.csv:1:[0-9]+: header field 5 is not a declared column" 1 0 'L[0] = L[0].replace(b"NOM", b"PRENOM")'
bad "a bad number in a payload column" "e9.csv:@:[0-9]+: column 'DUREE' \(field 8\): expected a decimal int16" 1 11 'p = L[11].split(b";"); p[7] = b"1O"; L[11] = b";".join(p)'
bad "a bad date in a payload column" "e10.csv:@:[0-9]+: column 'DATE_SEJOUR' \(field 6\): expected a real date YYYY-MM-DD" 1 19 'p = L[19].split(b";"); p[5] = b"2019-02-30"; L[19] = b";".join(p)'
bad "an error in the last rank's part (3 ranks)" "e11.csv:@:[0-9]+: column 'DUREE' \(field 8\): expected an integer in the range of int16" 3 58 'p = L[58].split(b";"); p[7] = b"99999"; L[58] = b";".join(p)'
bad "a string longer than its declared length (payload)" "e12.csv:@:[0-9]+: column 'DIAG' \(field 7\): string longer than the declared length" 1 3 'p = L[3].split(b";"); p[6] = b"I639XYZ"; L[3] = b";".join(p)'

echo "# t=$SECONDS"
# === bad identity values (invalid: reject): rejected with the store's code ==
lines=$($PY -c "
import sys; L = open(sys.argv[1], 'rb').read().split(b'\r\n')[:-1]
at = lambda k: 1 + k + sum(x.count(b'\n') for x in L[:k])
p = L[4].split(b';'); p[1] = b'31/02/1985'; L[4] = b';'.join(p)
p = L[6].split(b';'); p[2] = b'X'; L[6] = b';'.join(p)
p = L[9].split(b';'); p[0] = b'1850A'; L[9] = b';'.join(p)
p = L[11].split(b';'); p[3] = b'-1'; L[11] = b';'.join(p)
print(at(4), at(6), at(9), at(11))
open(sys.argv[2], 'wb').write(b'\r\n'.join(L) + b'\r\n')" "$TMP/small.csv" "$TMP/lenient.csv")
read -r l1 l2 l3 l4 <<<"$lines"
sed -e "s#$CSV#$TMP/lenient.csv#" -e "s#^output: .*#output: $TMP/prod/len#" "$TMP/atih.yaml" >"$TMP/len.yaml"
"$PL" produce "$TMP/len.yaml" $SIGN >"$TMP/len.log" 2>&1
check "bad identity values in invalid: reject columns do not fail the produce" test $? -eq 0
R=$TMP/prod/len/rejects.csv
check "... each is rejected at its CSV line with the store's code (birth_date, sex, nir_length, birth_rank)" \
  bash -c "grep -q '^hospital_stays,$l1,8,birth_date\$' $R && grep -q '^hospital_stays,$l2,9,sex\$' $R && grep -q '^hospital_stays,$l3,1,nir_length\$' $R && grep -q '^hospital_stays,$l4,12,birth_rank\$' $R"

# === job errors ==============================================================
jobbad() {
  local name=$1 pat=$2 job=$3; n=$((n + 1))
  "$PL" produce "$job" $SIGN >"$TMP/j$n.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$pat" "$TMP/j$n.log"; then ok "$name"; else notok "$name (rc=$rc, expected /$pat/)"; head -3 "$TMP/j$n.log"; fi
}
sed 's#^output: #store: inputs/laptop.h5\noutput: #' "$TMP/atih.yaml" >"$TMP/j1.yaml"
jobbad "store: beside CSV sources is refused" "j1.yaml:[0-9]+:[0-9]+: store: not used when the sources are CSV files" "$TMP/j1.yaml"
sed 's#^sources:#sources:\n  deaths:\n    identity: {nir: nir, birth_date: birth_date, sex: sex}#' "$TMP/atih.yaml" >"$TMP/j2.yaml"
jobbad "a CSV source beside an HDF5 one is refused" "j2.yaml:[0-9]+:[0-9]+: sources: source 'deaths' has no 'csv' section" "$TMP/j2.yaml"
sed 's#SEXE:        {as: sex, type: uint8#SEXE:        {as: sex, type: string, length: 1#' "$TMP/atih.yaml" >"$TMP/j3.yaml"
jobbad "an identity column of the wrong type, named with its job line:col" "j3.yaml:[0-9]+:[0-9]+: sources.hospital_stays.csv.columns.SEXE: the sex identity column needs an integer type" "$TMP/j3.yaml"
sed 's#{as: los, type: int16}#{as: los, type: int16, invalid: reject}#' "$TMP/atih.yaml" >"$TMP/j4.yaml"
jobbad "invalid: reject on a payload column is refused" "sources.hospital_stays.csv.columns.DUREE: 'invalid: reject' is for identity columns" "$TMP/j4.yaml"
sed 's#keep: \[stay_date, diagnosis, los, unit\]#keep: [stay_date, diagnosis, los, unit, surname]#' "$TMP/atih.yaml" >"$TMP/j5.yaml"
jobbad "keep naming an undeclared column" "sources.hospital_stays.keep: column 'surname' is not one of" "$TMP/j5.yaml"
echo "# t=$SECONDS"
