#!/usr/bin/env bash
# Issue 14 part 1: twins, ambiguity and several keys per person, on a
# `synth --twins` store (sources with and without a birth rank, a source
# with two identities, a source keyed by an own NIR only). Against the
# store's truth (check_linked), against an independent recomputation of
# every pid from docs/FORMATS.md (twins_check.py), identical at -np 1/2/3
# (h5diff and h5py), the correspondence covering every key, ambiguity in
# the summary and the audit line, incremental runs keeping pids when
# persons merge, bad identity.also syntax.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
keys
K=$TMP/cust
mkdir -p "$K"
cp "$ROOT"/inputs/custodians/*.pem "$ROOT"/inputs/custodians/*.pass "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
STORE=$TMP/twins.h5
"$PL" synth --persons 600 --sources 3 --seed 7 --twins \
  --producer-key "$TMP/keys/producer.key" -o "$STORE" >"$TMP/synth.log" 2>&1
check "synth --twins writes a store with twins" grep -q "twins" "$TMP/synth.log"

job() {  # job FILE [SOURCES...]: the twins job with these sources (default all)
  local f=$1; shift
  local want=${*:-"hospital_stays pharmacy deaths visits_norank claims registry"}
  {
    cat <<EOF
store: $STORE
output: $TMP/out
mode: keyed
keys:
  producer: $TMP/keys/producer.key
  platform: $TMP/keys/platform.key
custody:
  threshold: 2
  custodians:
    - {name: alice, role: security_officer, public_key: $K/alice.pub.pem}
    - {name: carol, role: data_protection_officer, public_key: $K/carol.pub.pem}
sources:
EOF
    for s in $want; do
      case $s in
        pharmacy) echo "  pharmacy:"; echo "    identity: {p1: p1, birth_rank: birth_rank}" ;;
        visits_norank|registry) echo "  $s:"; echo "    identity: {nir: nir, birth_date: birth_date, sex: sex}" ;;
        claims) echo "  claims:"; echo "    identity: {nir: own_nir, birth_date: birth_date, sex: sex, also: {nir: nir, birth_rank: birth_rank}}" ;;
        *) echo "  $s:"; echo "    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}" ;;
      esac
    done
    printf 'options:\n  batch_rows: 97\n  exchange_cap: 16\n'
  } >"$f"
}
job "$TMP/job.yaml"

for np in 1 2 3; do
  if plrun "$np" run "$TMP/job.yaml" --out "$TMP/np$np" --audit "$TMP/audit$np.jsonl" >"$TMP/np$np.log" 2>&1; then
    ok "twins job runs at -np $np"
  else
    notok "twins job runs at -np $np"; tail -5 "$TMP/np$np.log"; continue
  fi
  tests/bin/check_linked "$STORE" "$TMP/np$np/linked.h5" | sed -E "s/^(not )?ok - /&-np $np: /"
done

$PY tests/e2e/corr_decrypt.py "$TMP/np2/correspondence.h5" "$K/alice.key.pem" "$K/alice.pass" \
  "$K/carol.key.pem" "$K/carol.pass" >"$TMP/corr.txt" 2>"$TMP/e"
check "correspondence decrypts from the documented format" test -s "$TMP/corr.txt"
$PY tests/e2e/twins_check.py "$STORE" "$TMP/np2/linked.h5" "$TMP/keys/producer.key" \
  "$TMP/keys/platform.key" "$TMP/corr.txt"

for np in 2 3; do
  check "keyed: linked.h5 identical at -np 1 and -np $np (h5diff)" \
    h5diff -q "$TMP/np1/linked.h5" "$TMP/np$np/linked.h5"
done
$PY - "$TMP/np1/linked.h5" "$TMP/np2/linked.h5" "$TMP/np3/linked.h5" <<'PY'
import sys, h5py, numpy as np
def walk(f):
    out = {}
    def v(name, obj):
        out[name + "@"] = {k: np.asarray(a).tolist() for k, a in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()].tolist()
    f.visititems(v)
    out["/@"] = {k: np.asarray(a).tolist() for k, a in f.attrs.items()}
    return out
ref = walk(h5py.File(sys.argv[1], "r"))
for p in sys.argv[2:]:
    same = walk(h5py.File(p, "r")) == ref
    print(("ok" if same else "not ok") + " - h5py: every dataset and attribute "
          "(persons, /ambiguous, /links) identical at -np 1 and " + p.split("/")[-2])
PY

amb=$($PY -c "import h5py,sys; print(int(h5py.File(sys.argv[1])['/'].attrs['records_ambiguous']))" "$TMP/np2/linked.h5")
grep -q "^ambiguous (a key of several persons, no rank) $amb:" "$TMP/np2.log"
check "summary counts the ambiguous rows ($amb)" test $? -eq 0
grep '"command":"run"' "$TMP/audit2.jsonl" | tail -1 | grep -q "\"ambiguous\":$amb[,}]"
check "audit line counts the ambiguous rows" test $? -eq 0
check "no NIR or p1 in the run's log" bash -c "! grep -v '^audit head:' '$TMP/np2.log' | grep -Eq '[0-9]{15}|[0-9a-f]{64}'"

# The component algorithm itself, distributed over 3 ranks.
mpirun -np 3 tests/bin/test_components 2>&1 | sed -E 's/^(not )?ok - /&mpirun -np 3: /' | grep -E '^(not )?ok - '

# --- incremental: persons merge -------------------------------------------
# Run 1 has no claims: a registry person (own NIR) is a person of its own.
# Run 2 adds claims, which join both: one person, keeping one of its pids.
job "$TMP/first.yaml" hospital_stays pharmacy deaths visits_norank registry
plrun 2 run "$TMP/first.yaml" --out "$TMP/inc1" >"$TMP/inc1.log" 2>&1
check "incremental: first run without claims" test -f "$TMP/inc1/correspondence.h5"
job "$TMP/second.yaml"
printf 'previous:\n  correspondence: %s\n' "$TMP/inc1/correspondence.h5" >>"$TMP/second.yaml"
plrun 3 run "$TMP/second.yaml" --out "$TMP/inc2" --prev-key "$K/alice.key.pem" --prev-key "$K/carol.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/carol.pass" >"$TMP/inc2.log" 2>&1
check "incremental: second run with claims" test -f "$TMP/inc2/linked.h5"
tests/bin/check_linked "$STORE" "$TMP/inc2/linked.h5" | sed -E "s/^(not )?ok - /&incremental: /" | grep -E "same pid|distinct"
$PY - "$STORE" "$TMP/inc1/linked.h5" "$TMP/inc2/linked.h5" <<'PY'
import sys, h5py
s, a, b = (h5py.File(p, "r") for p in sys.argv[1:])
def pids(f, src):
    t = s["truth"][src]["person"][:]
    return {int(t[r]): p.decode() for r, p in zip(f["linked"][src]["row"][:], f["linked"][src]["pid"][:])}
old = {}
for src in ("hospital_stays", "pharmacy", "deaths", "visits_norank", "registry"):
    for q, p in pids(a, src).items():
        old.setdefault(q, set()).add(p)
new = {}
for src in b["linked"]:
    for q, p in pids(b, src).items():
        new[q] = p
kept = sum(1 for q, p in new.items() if q in old and p in old[q])
known = sum(1 for q in new if q in old)
merged = sum(1 for q in old if len(old[q]) > 1)
print(("ok" if kept == known and merged > 0 else "not ok") +
      " - incremental: every known person keeps one of its pids, also the %d "
      "that two keys merged (%d of %d)" % (merged, kept, known))
want = {(o, new[q], "merge") for q in old if q in new for o in old[q] if o != new[q]}
lg = b["lineage"]
got = set(zip((x.decode() for x in lg["old_pid"][:]), (x.decode() for x in lg["new_pid"][:]),
              (x.decode() for x in lg["event"][:])))
print(("ok" if got == want and len(want) == merged else "not ok") +
      " - /lineage lists every merge as (old pid, kept pid, merge), and nothing else "
      "(%d expected, %d listed)" % (len(want), len(got)))
rows = list(zip(lg["old_pid"][:], lg["new_pid"][:], lg["event"][:]))
print(("ok" if rows == sorted(rows) else "not ok") + " - /lineage is sorted")
PY
# reveal: one line per key (TSV birth_rank column, JSON birth_rank), for a
# person of several keys and for a key without a rank, as decrypted.
C2=$TMP/inc2/correspondence.h5
$PY tests/e2e/corr_decrypt.py "$C2" "$K/alice.key.pem" "$K/alice.pass" "$K/carol.key.pem" "$K/carol.pass" >"$TMP/rv.truth" 2>/dev/null
RP=$(awk '{n[$1]++} END {for (p in n) if (n[p] > 1) print p}' "$TMP/rv.truth" | sort | head -1)
ZP=$(awk '$3 == 0 {print $1}' "$TMP/rv.truth" | sort | head -1)
for fmt in tsv json; do
  "$PL" reveal --corr "$C2" --audit "$TMP/rv.log" --reason T-1 --format $fmt --key "$K/alice.key.pem" \
    --passphrase-file "$K/alice.pass" --key "$K/carol.key.pem" --passphrase-file "$K/carol.pass" "$RP" "$ZP" >"$TMP/rv.$fmt" 2>/dev/null
done
$PY - "$TMP/rv.truth" "$TMP/rv.tsv" "$TMP/rv.json" "$RP" "$ZP" <<'PY'
import csv, json, sys
t = {}
for l in open(sys.argv[1]):
    q, k, rk = l.split()
    t.setdefault(q, []).append((k, int(rk)))
want = [(p, k, rk or None) for p in dict.fromkeys(sys.argv[4:]) for k, rk in sorted(t[p])]
rows = list(csv.reader(open(sys.argv[2], newline=""), delimiter="\t"))
tsv = rows[0] == ["pid", "p1", "birth_rank"] and [(r[0], r[1], int(r[2]) if r[2] else None) for r in rows[1:]] == want
js = [(j["pid"], j["p1"], j["birth_rank"]) for j in map(json.loads, open(sys.argv[3]))] == want
print(("ok" if tsv and js and len(t[sys.argv[4]]) > 1 and any(r is None for _, _, r in want) else "not ok") +
      " - reveal: one line per key, TSV and JSON, a person of %d keys and a key without a rank" % len(t[sys.argv[4]]))
PY
# Every dataset says what it holds (docs/FORMATS.md 7), the twins' ones too.
$PY - "$TMP/inc2/linked.h5" <<'PY'
import sys, h5py
f, none, seen = h5py.File(sys.argv[1], "r"), [], set()
def visit(name, o):
    if isinstance(o, h5py.Dataset):
        seen.add(name.split("/")[0])
        d = o.attrs.get("description")
        if not d or not (d.decode() if isinstance(d, bytes) else str(d)).strip():
            none.append(name)
f.visititems(visit)
ok = not none and {"ambiguous", "lineage"} <= seen
print(("ok" if ok else "not ok") + " - every dataset of an incremental twins run, /ambiguous and /lineage "
      "included, has a description (%s)" % (", ".join(none[:5]) or "none missing"))
PY

# Persons split: run 1 saw twins only without a rank (one person each
# pair); run 2 sees their ranks: two persons, the old pid split.
job "$TMP/only.yaml" visits_norank
plrun 1 run "$TMP/only.yaml" --out "$TMP/sp1" >"$TMP/sp1.log" 2>&1
job "$TMP/sp.yaml" visits_norank claims
printf 'previous:\n  correspondence: %s\n' "$TMP/sp1/correspondence.h5" >>"$TMP/sp.yaml"
plrun 2 run "$TMP/sp.yaml" --out "$TMP/sp2" --prev-key "$K/alice.key.pem" --prev-key "$K/carol.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/carol.pass" >"$TMP/sp2.log" 2>&1
check "incremental: a run that learns the twins' ranks" test -f "$TMP/sp2/linked.h5"
$PY - "$STORE" "$TMP/sp1/linked.h5" "$TMP/sp2/linked.h5" <<'PY'
import sys, h5py
s, a, b = (h5py.File(p, "r") for p in sys.argv[1:])
t = s["truth/visits_norank"]
amb = t["ambiguous"][:]
person = t["person"][:]
old = {int(person[r]): p.decode() for r, p in zip(a["linked/visits_norank/row"][:], a["linked/visits_norank/pid"][:])}
th = s["truth/claims/person"][:]
new = {int(th[r]): p.decode() for r, p in zip(b["linked/claims/row"][:], b["linked/claims/pid"][:])}
nir = s["sources/claims/nir"][:]
same = {}
for q, n in zip(th, nir):
    same.setdefault(bytes(n), set()).add(int(q))
sib = {q: g for g in same.values() for q in g}
want = set()
for r in range(len(amb)):
    q = int(person[r])
    if amb[r]:
        want |= {(old[q], new[x], "split") for x in sib[q]}
lg = b["lineage"]
got = set(zip((x.decode() for x in lg["old_pid"][:]), (x.decode() for x in lg["new_pid"][:]),
              (x.decode() for x in lg["event"][:])))
print(("ok" if want and want == got else "not ok") +
      " - /lineage lists (old pid, new pid, split) for each twin a rankless person became "
      "(%d expected, %d listed)" % (len(want), len(got)))
PY

# A previous correspondence of format version 1 (p1 hashed the rank) is
# refused before anything is read or published, with a message that says
# why (docs/CORRESPONDENCE.md), no key material in it.
cp "$TMP/inc1/correspondence.h5" "$TMP/v1.h5"
$PY -c "import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],'r+'); f.attrs.modify('version', np.uint64(1))" "$TMP/v1.h5"
sed "s#correspondence: .*#correspondence: $TMP/v1.h5#" "$TMP/second.yaml" >"$TMP/v1.yaml"
plrun 2 run "$TMP/v1.yaml" --out "$TMP/v1out" --prev-key "$K/alice.key.pem" --prev-key "$K/carol.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/carol.pass" >"$TMP/v1.log" 2>&1; rc=$?
grep -q "v1.h5: format version 1 (an older pseudolink, whose first pseudonyms hashed the birth rank) is not compatible" "$TMP/v1.log"
check "incremental: a version 1 correspondence refused, clear message, nothing published" \
  test $? -eq 0 -a $rc -ne 0 -a ! -e "$TMP/v1out/linked.h5" -a ! -e "$TMP/v1out/correspondence.h5"
check "incremental: the refusal shows no NIR, p1 or key" bash -c "! grep -v '^audit head:' '$TMP/v1.log' | grep -Eq '[0-9]{15}|[0-9a-f]{32}'"

# A row whose second identity fails the NIR checks keeps its first key and
# is not joined by the second: said (a warning in the summary and the
# audit line, with the count), never silent.
check "no warning about identity.also when every second identity is valid" \
  bash -c "! grep -q 'identity.also' '$TMP/np2.log'"
cp "$STORE" "$TMP/badalso.h5"
$PY - "$TMP/badalso.h5" "$TMP/np2/linked.h5" <<'PY'
import sys, h5py
f, l = h5py.File(sys.argv[1], "r+"), h5py.File(sys.argv[2], "r")
rows = sorted(int(r) for r in l["linked/claims/row"][:])[:7]
d = f["sources/claims/nir"]
for r in rows:
    d[r] = b"000000000000000"
PY
sed "s#^store: .*#store: $TMP/badalso.h5#" "$TMP/job.yaml" >"$TMP/badalso.yaml"
plrun 2 run "$TMP/badalso.yaml" --out "$TMP/badalso" --audit "$TMP/badalso.jsonl" >"$TMP/badalso.log" 2>&1
grep -q "^warning: .*/sources/claims: 7 rows kept by their first identity, whose second identity (identity.also) fails the NIR checks: not joined by it" "$TMP/badalso.log"
check "identity.also failing the NIR checks: counted in a warning (7 rows)" test $? -eq 0
grep '"command":"run"' "$TMP/badalso.jsonl" | tail -1 | grep -q 'claims: 7 rows kept by their first identity'
check "identity.also failing the NIR checks: the warning is in the audit line" test $? -eq 0

# --- opposition is a person's ---------------------------------------------
# An objector listed by their own NIR (as in registry and claims): every
# record of that person goes, also the hospital stays keyed on the insured
# parent's NIR and their rank, which only claims' second identity links.
T=$TMP/tk
mkdir -p "$T"
cp "$ROOT"/inputs/transfer/*.pem "$ROOT"/inputs/transfer/*.pass "$T/"
chmod 600 "$T"/*.key.pem "$T"/*.pass
Q=$($PY - "$STORE" "$TMP/objectors.h5" <<'PY'
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")
c, tc = s["sources/claims"], s["truth/claims/person"][:]
hosp = set(int(x) for x in s["truth/hospital_stays/person"][:])
reg = set(int(x) for x in s["truth/registry/person"][:])
r = next(i for i in range(len(tc)) if int(tc[i]) in hosp and int(tc[i]) in reg)
o = h5py.File(sys.argv[2], "w")
g = o.create_group("sources/objectors")
g["nir"] = np.array([c["own_nir"][r]], dtype="S15")
g["birth_date"] = np.array([c["birth_date"][r]], dtype=np.int32)
g["sex"] = np.array([c["sex"][r]], dtype=np.uint8)
g["birth_rank"] = np.array([1], dtype=np.uint8)
print(int(tc[r]))
PY
)
cat >"$TMP/prodopp.yaml" <<EOF
producer: cnam
package: objectors
store: $TMP/objectors.h5
output: $TMP/prodopp
keys:
  producer: $TMP/keys/producer.key
  transport: $T/hdh_transport.pub.pem
sources:
  objectors:
    identity: {nir: nir, birth_date: birth_date, sex: sex, birth_rank: birth_rank}
opposition: [objectors]
EOF
"$PL" produce "$TMP/prodopp.yaml" --signing-key "$T/cnam_signing.key.pem" \
  --signing-passphrase-file "$T/cnam_signing.pass" >"$TMP/prodopp.log" 2>&1
OPK=$TMP/prodopp/objectors.opposition.pkg.h5
check "opposition package of one objector (own NIR)" test -f "$OPK"
{ cat "$TMP/job.yaml"; printf 'producers:\n  cnam: {signing_key: %s}\nopposition:\n  - %s\n' "$T/cnam_signing.pub.pem" "$OPK"; } >"$TMP/oppjob.yaml"
for np in 1 3; do
  plrun $np run "$TMP/oppjob.yaml" --out "$TMP/opp$np" --transport-key "$T/hdh_transport.key.pem" \
    --transport-passphrase-file "$T/hdh_transport.pass" >"$TMP/opp$np.log" 2>&1 || { notok "run with the opposition at -np $np"; tail -3 "$TMP/opp$np.log"; }
done
$PY - "$STORE" "$TMP/np2/linked.h5" "$TMP/opp1/linked.h5" "$Q" "$TMP/opp1.log" <<'PY'
import sys, re, h5py
s, a, b = (h5py.File(p, "r") for p in sys.argv[1:4])
q = int(sys.argv[4])
def rows(f):
    out = {}
    for src in f["linked"]:
        t = s["truth"][src]["person"][:]
        out[src] = [int(r) for r in f["linked"][src]["row"][:] if int(t[r]) == q]
    return out
before, after = rows(a), rows(b)
n = sum(map(len, before.values()))
left = {k: len(v) for k, v in after.items() if v}
print(("ok" if n and before.get("hospital_stays") and not left else "not ok") +
      " - opposition by own NIR: every record of the person goes, also the hospital stays "
      "keyed on the parent's NIR and rank (%d records before, left: %s)" % (n, left or "none"))
others = sum(a["linked"][k]["row"].shape[0] for k in a["linked"]) - n
kept = sum(b["linked"][k]["row"].shape[0] for k in b["linked"])
print(("ok" if kept == others else "not ok") +
      " - opposition: every other record is kept (%d of %d)" % (kept, others))
m = re.search(r"^opposition: 1 persons listed, (\d+) records left out", open(sys.argv[5]).read(), re.M)
print(("ok" if m and int(m.group(1)) == n else "not ok") +
      " - opposition: the summary counts every record of the person (%s of %d)" % (m and m.group(1), n))
PY
check "opposition: linked.h5 identical at -np 1 and -np 3 (h5diff)" h5diff -q "$TMP/opp1/linked.h5" "$TMP/opp3/linked.h5"

# Incremental: the objector was two persons in run 1 (no claims); claims
# would merge them now, but an opposed person appears in no /lineage event.
{ cat "$TMP/second.yaml"; printf 'producers:\n  cnam: {signing_key: %s}\nopposition:\n  - %s\n' "$T/cnam_signing.pub.pem" "$OPK"; } >"$TMP/oppinc.yaml"
plrun 2 run "$TMP/oppinc.yaml" --out "$TMP/oppinc" --transport-key "$T/hdh_transport.key.pem" \
  --transport-passphrase-file "$T/hdh_transport.pass" --prev-key "$K/alice.key.pem" --prev-key "$K/carol.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/carol.pass" >"$TMP/oppinc.log" 2>&1
$PY - "$STORE" "$TMP/inc1/linked.h5" "$TMP/inc2/linked.h5" "$TMP/oppinc/linked.h5" "$Q" <<'PY'
import sys, h5py
s, a, b, c = (h5py.File(p, "r") for p in sys.argv[1:5])
q = int(sys.argv[5])
def qp(f):
    out = set()
    for src in f["linked"]:
        t = s["truth"][src]["person"][:]
        out |= {p.decode() for r, p in zip(f["linked"][src]["row"][:], f["linked"][src]["pid"][:]) if int(t[r]) == q}
    return out
mine = qp(a) | qp(b)
def ev(f):
    lg = f["lineage"]
    return [(o.decode(), n.decode()) for o, n in zip(lg["old_pid"][:], lg["new_pid"][:])]
was = [e for e in ev(b) if set(e) & mine]
now = [e for e in ev(c) if set(e) & mine]
print(("ok" if was and not now and len(ev(c)) == len(ev(b)) - len(was) else "not ok") +
      " - incremental with opposition: /lineage lists no event of the opposed person "
      "(%d without the opposition, %d with), the others all" % (len(was), len(now)))
PY

# --- bad identity.also ----------------------------------------------------
sed 's/also: {nir: nir, birth_rank: birth_rank}/also: {nir: nir, rank: birth_rank}/' "$TMP/job.yaml" >"$TMP/bad1.yaml"
plrun 1 run "$TMP/bad1.yaml" --out "$TMP/bad1" >"$TMP/bad1.log" 2>&1; rc=$?
grep -q "bad1.yaml:[0-9]*:[0-9]*: sources.claims.identity.also: unknown key 'rank' (expected one of: nir, birth_rank)" "$TMP/bad1.log"
check "identity.also: unknown key refused with line:column" test $? -eq 0 -a $rc -ne 0 -a ! -e "$TMP/bad1/linked.h5"
sed 's/also: {nir: nir, birth_rank: birth_rank}/also: {nir: own_nir}/' "$TMP/job.yaml" >"$TMP/bad2.yaml"
plrun 1 run "$TMP/bad2.yaml" --out "$TMP/bad2" >"$TMP/bad2.log" 2>&1; rc=$?
grep -q "bad2.yaml:[0-9]*:[0-9]*: sources.claims.identity.also.nir: column 'own_nir' is already used for 'nir'" "$TMP/bad2.log"
check "identity.also: a column used twice refused with line:column" test $? -eq 0 -a $rc -ne 0
sed 's/also: {nir: nir, birth_rank: birth_rank}/also: {birth_rank: birth_rank}/' "$TMP/job.yaml" >"$TMP/bad3.yaml"
plrun 1 run "$TMP/bad3.yaml" --out "$TMP/bad3" >"$TMP/bad3.log" 2>&1; rc=$?
grep -q "bad3.yaml:[0-9]*:[0-9]*: sources.claims.identity.also: missing required key 'nir'" "$TMP/bad3.log"
check "identity.also without nir refused with line:column" test $? -eq 0 -a $rc -ne 0
