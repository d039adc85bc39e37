#!/usr/bin/env bash
# Deduplicating a source without a NIR (linkage.dedup, docs/LINKAGE.md
# "Deduplication"): a synth registry with several records per person
# (--dup-rate) plus a designed weak bridge between two dense groups
# (dedup_bridge.py); clusters, pids and the report read with h5py and
# checked against /truth (pairwise precision >= 0.98, recall >= 0.95), the
# same outputs at -np 1, 2, 3, a source only deduplicated, the default
# threshold's quality on 50 000 records (precision >= 0.99, recall >= 0.97),
# and the job file's errors (file:line:column).
source "$(dirname "$0")/../lib/common.sh"
keys
"$PL" synth --linkage --persons 2500 --records 3000 --dup-rate 0.3 --seed 11 -o "$TMP/fs.h5" >/dev/null
check "synth --dup-rate: several registry rows of one person in /truth" /usr/bin/python3 -c "
import h5py, numpy as np, sys
t = h5py.File('$TMP/fs.h5')['truth/registry/person'][:]
_, c = np.unique(t, return_counts=True)
sys.exit(0 if (c >= 2).sum() > 400 and (c >= 3).sum() > 50 else 1)"
"$PL" synth --linkage --persons 10 --records 10 --seed 1 --dup-rate 1.5 -o "$TMP/x.h5" >"$TMP/x.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q -- "--dup-rate must be a number from 0 to 0.9" "$TMP/x.log" && [ ! -e "$TMP/x.h5" ] &&
  ok "synth --dup-rate 1.5 refused (exit 2)" || notok "synth --dup-rate 1.5 refused (exit $rc)"
B=$(/usr/bin/python3 tests/e2e/dedup_bridge.py "$TMP/fs.h5")

sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/fs.h5#" \
    -e "s#^  sources: \[registry\]#  sources: [registry]\n  dedup: [registry]#" \
    "$ROOT/jobs/linkage.yaml" >"$TMP/job.yaml"
for np in 1 2 3; do
  if plrun "$np" run "$TMP/job.yaml" --out "$TMP/np$np" >"$TMP/np$np.log" 2>&1; then
    ok "linkage and dedup run at -np $np"
  else
    notok "linkage and dedup run at -np $np"; tail -20 "$TMP/np$np.log"
  fi
done
/usr/bin/python3 tests/e2e/check_dedup.py "$TMP/fs.h5" "$TMP/np2/linked.h5" "$TMP/keys/platform.key" 0.98 0.95 "$B" 1
for np in 2 3; do
  for g in /linked/registry /linkage/registry /review/registry; do
    check "identical $g at -np 1 and -np $np" h5diff "$TMP/np1/linked.h5" "$TMP/np$np/linked.h5" "$g" "$g"
  done
done
for np in 1 2 3; do /usr/bin/python3 tests/e2e/check_links.py "$TMP/np$np/linked.h5" "linked and deduplicated, -np $np"; done
for np in 2 3; do
  for g in /links /persons; do
    check "identical $g at -np 1 and -np $np" h5diff "$TMP/np1/linked.h5" "$TMP/np$np/linked.h5" "$g" "$g"
  done
done
grep -q "linkage dedup registry: true pairwise precision" "$TMP/np2.log" &&
  ok "summary prints the dedup quality" || notok "summary prints the dedup quality"
/usr/bin/python3 -c "
import h5py; f=h5py.File('$TMP/fs.h5')
for c in ('last_name','first_name'):
    for v in f['sources/registry/'+c][:200]:
        v=v.decode('utf-8','replace').strip()
        if len(v)>=6: print(v)" | sort -u >"$TMP/names"
if grep -qiF -f "$TMP/names" "$TMP"/np*.log; then notok "no name in the run's messages"; else ok "no name in the run's messages"; fi

# a source only deduplicated (not linked): /linked/registry holds pid, row
# and cluster, every cluster a new person
sed -e "s#^  dedup: \[registry\]##" -e "s#^  sources: \[registry\]#  dedup: [registry]#" \
    "$TMP/job.yaml" >"$TMP/only.yaml"
for np in 1 2; do
  plrun "$np" run "$TMP/only.yaml" --out "$TMP/only$np" >"$TMP/only$np.log" 2>&1 ||
    { notok "dedup only at -np $np"; tail -20 "$TMP/only$np.log"; }
done
if [ -e "$TMP/only2/linked.h5" ]; then
  /usr/bin/python3 tests/e2e/check_dedup.py "$TMP/fs.h5" "$TMP/only2/linked.h5" "$TMP/keys/platform.key" 0.98 0.95 "$B" 0 |
    sed 's/^\(not \)\{0,1\}ok - /&dedup only: /'
  check "dedup only: /linked/registry has pid, row, cluster and no link columns" /usr/bin/python3 -c "
import h5py, sys; f=h5py.File('$TMP/only2/linked.h5')
sys.exit(0 if sorted(f['linked/registry']) == ['cluster','pid','row'] and list(f['linkage/registry']) == ['dedup'] and 'registry' not in f.get('review', {}) else 1)"
  for g in /linked/registry /linkage/registry; do
    check "dedup only: identical $g at -np 1 and -np 2" h5diff "$TMP/only1/linked.h5" "$TMP/only2/linked.h5" "$g" "$g"
  done
fi

# --- quality at the default threshold where namesakes abound -------------
# 50 000 records (synth --dup-rate 0.3, default error rates), the registry
# only deduplicated at the default thresholds (thresholds.dedup = upper):
# the issue's target, pairwise precision >= 0.99 and recall >= 0.97. At this
# size the records of different persons sharing last, first and birth name
# are many; an EM with u fixed at the random pairs' takes them for matches
# (docs/LINKAGE.md "Deduplication", 1: precision 0.98 here, 0.86 at 1 M).
# dedup_quality TAG JOB P R CHECKS PREFIX FAILED: deduplicate $TMP/TAG.h5
# with JOB's fields at -np 2; check_dedup.py's lines matching CHECKS (its
# targets P and R), named PREFIX: ...; FAILED names a failed run.
dedup_quality() {
  local tag=$1 job=$2 p=$3 r=$4 want=$5 prefix=$6 failed=$7
  sed -e "s#^store: .*#store: $TMP/$tag.h5#" "$job" >"$TMP/$tag.yaml"
  if plrun 2 run "$TMP/$tag.yaml" --out "$TMP/$tag" >"$TMP/$tag.log" 2>&1; then
    /usr/bin/python3 tests/e2e/check_dedup.py "$TMP/$tag.h5" "$TMP/$tag/linked.h5" "$TMP/keys/platform.key" "$p" "$r" -1 0 |
      grep -E "^(not )?ok - ($want)" | sed "s/^\(not \)\{0,1\}ok - /&$prefix: /"
  else
    notok "$failed"; tail -20 "$TMP/$tag.log"
  fi
}
"$PL" synth --linkage --persons 50000 --records 50000 --dup-rate 0.3 --seed 5 -o "$TMP/q.h5" >/dev/null
dedup_quality q "$TMP/only.yaml" 0.99 0.97 "pairwise|true pairwise|@em_free_u" \
  "50 000 records, default threshold" "dedup of 50 000 records"

# --- opposition: an objector's cluster is the objector's -----------------
# Two persons (NIR identity, listed in an opposition package) whose cluster
# holds a record linked to them and records the one-to-one linkage left
# unlinked: none of the cluster's records is in /linked, /links, /review.
T=$TMP/tk
mkdir -p "$T"
cp "$ROOT"/inputs/transfer/*.pem "$ROOT"/inputs/transfer/*.pass "$T/"
chmod 600 "$T"/*.key.pem "$T"/*.pass
"$PL" synth --linkage --persons 300 --records 400 --dup-rate 0.4 --seed 3 -o "$TMP/os.h5" >/dev/null
/usr/bin/python3 - "$TMP/os.h5" "$TMP/on.h5" <<'PY'
import sys, h5py, numpy as np
s, o = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w")
for grp in ("sources/persons", "sources/registry", "truth/persons", "truth/registry"):
    for c in s[grp]:
        if c != "p1":
            o[grp + "/" + c] = s[grp][c][:]
bd, sex = s["sources/persons/birth_date"][:], s["sources/persons/sex"][:]
nir = []
for i in range(len(bd)):
    d = "%d%02d%02d75%03d%03d" % (sex[i], bd[i] // 10000 % 100, bd[i] // 100 % 100, 1 + i // 999, 1 + i % 999)
    nir.append((d + "%02d" % (97 - int(d) % 97)).encode())
o["sources/persons/nir"] = np.array(nir, dtype="S15")
PY
sed -e "s#^store: .*#store: $TMP/on.h5#" -e "s#^  platform: .*#&\n  producer: $TMP/keys/producer.key#" \
    -e "s#identity: {p1: p1}#identity: {nir: nir, birth_date: birth_date, sex: sex}#" "$TMP/job.yaml" >"$TMP/on.yaml"
plrun 1 run "$TMP/on.yaml" --out "$TMP/on" >"$TMP/on.log" 2>&1 || { notok "opposition: the run without it"; tail -5 "$TMP/on.log"; }
/usr/bin/python3 - "$TMP/on.h5" "$TMP/on/linked.h5" "$TMP/objectors.h5" "$TMP/objrows" <<'PY'
import sys, h5py, numpy as np, collections
s, L = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
g = L["linked/registry"]
st, cl, pid, rows = g["match_status"][:], g["cluster"][:], g["pid"][:], g["row"][:]
pp, prow = list(L["linked/persons/pid"][:]), L["linked/persons/row"][:]
m = collections.defaultdict(list)
for k in range(len(st)):
    m[cl[k]].append(k)
objs = [(int(prow[pp.index(pid[ks[0]])]), [int(rows[k]) for k in ks]) for c, ks in sorted(m.items())
        if (st[ks] == 1).any() and (st[ks] != 1).any()][:2]
b = h5py.File(sys.argv[3], "w").create_group("sources/objectors")
for c in ("nir", "birth_date", "sex"):
    b[c] = s["sources/persons/" + c][:][[i for i, _ in objs]]
open(sys.argv[4], "w").write(" ".join(str(r) for _, rs in objs for r in rs))
PY
cat >"$TMP/prodopp.yaml" <<EOF
producer: cnam
package: objectors
store: $TMP/objectors.h5
output: $TMP/prodopp
keys: {producer: $TMP/keys/producer.key, transport: $T/hdh_transport.pub.pem}
sources:
  objectors: {identity: {nir: nir, birth_date: birth_date, sex: sex}}
opposition: [objectors]
EOF
"$PL" produce "$TMP/prodopp.yaml" --signing-key "$T/cnam_signing.key.pem" \
  --signing-passphrase-file "$T/cnam_signing.pass" >"$TMP/prodopp.log" 2>&1 || notok "opposition: produce"
printf 'producers:\n  cnam: {signing_key: %s}\nopposition:\n  - %s\n' "$T/cnam_signing.pub.pem" \
  "$TMP/prodopp/objectors.opposition.pkg.h5" >>"$TMP/on.yaml"
if plrun 2 run "$TMP/on.yaml" --out "$TMP/opp" --transport-key "$T/hdh_transport.key.pem" \
    --transport-passphrase-file "$T/hdh_transport.pass" >"$TMP/opp.log" 2>&1; then
  /usr/bin/python3 tests/e2e/check_links.py "$TMP/opp/linked.h5" "opposition and dedup"
  /usr/bin/python3 - "$TMP/opp/linked.h5" "$TMP/objrows" "$TMP/opp.log" <<'PY'
import sys, re, h5py
f, obj = h5py.File(sys.argv[1], "r"), set(int(x) for x in open(sys.argv[2]).read().split())
g = f["linked/registry"]
rows = set(int(r) for r in g["row"][:])
si = [n.decode() if isinstance(n, bytes) else n for n in f["links"].attrs["sources"]].index("registry")
lrows = set(int(r) for r, s in zip(f["links/row"][:], f["links/source"][:]) if s == si)
rev = set(int(r) for r in f["review/registry/row"][:])
a = g.attrs
ok = len(obj) > 2 and not (obj & rows) and not (obj & lrows) and not (obj & rev) and \
     len(rows) == 400 - len(obj) and a["rows_linked"] + a["rows_review"] + a["rows_new"] == len(rows)
print(("ok - " if ok else "not ok - ") + "opposition and dedup: no record of an objector's cluster (%d) in /linked, "
      "/links, /review; the counts add up (%d published)" % (len(obj), len(obj & rows)))
m = re.search(r"^opposition: 2 persons listed, (\d+) records left out", open(sys.argv[3]).read(), re.M)
print(("ok - " if m and int(m.group(1)) == 2 + len(obj) else "not ok - ") +
      "opposition and dedup: the summary counts the persons' rows and their clusters (%s)" % (m and m.group(1)))
PY
else
  notok "linkage and dedup run with an opposition"; tail -5 "$TMP/opp.log"
fi

# A file-size limit hit while the linkage's and the dedup's outputs are
# added to linked.h5 (/links and /persons fit): a clean failure, nothing
# published, no crash (the limit is set inside each rank only).
sed -e "s#^store: .*#store: $TMP/os.h5#" "$TMP/job.yaml" >"$TMP/fsz.yaml"
mpirun -np 2 bash -c 'ulimit -f 100; exec "$0" "$@"' "$PL" run "$TMP/fsz.yaml" --out "$TMP/fsz" >"$TMP/fsz.log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "nothing was published" "$TMP/fsz.log" && [ ! -e "$TMP/fsz/current" ] &&
   ! grep -qi "signal\|segmentation" "$TMP/fsz.log"; then
  ok "file-size limit during the linkage outputs: exit 1, nothing published"
else
  notok "file-size limit during the linkage outputs: exit 1, nothing published (exit $rc)"; grep -i "error\|signal" "$TMP/fsz.log" | head -5
fi

# on keyed Bloom-filter encodings (docs/PPRL.md): a registry without
# clear names deduplicated on its per-field filters
"$PL" keygen "$TMP/link.key" >/dev/null
"$PL" synth --linkage --persons 2500 --records 3000 --dup-rate 0.3 --seed 11 \
  --linkage-secret "$TMP/link.key" --per-field -o "$TMP/enc.h5" >/dev/null
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $TMP/enc.h5#" \
    -e "s#^  sources: \[registry\]#  dedup: [registry]#" "$ROOT/jobs/linkage_pprl.yaml" >"$TMP/enc.yaml"
if plrun 2 run "$TMP/enc.yaml" --out "$TMP/enc" >"$TMP/enc.log" 2>&1; then
  /usr/bin/python3 tests/e2e/check_dedup.py "$TMP/enc.h5" "$TMP/enc/linked.h5" "$TMP/keys/platform.key" 0.98 0.95 -1 0 |
    grep -E "^(not )?ok - (pairwise|every cluster|records of one)" | sed 's/^\(not \)\{0,1\}ok - /&encoded: /'
else
  notok "dedup on encodings"; tail -20 "$TMP/enc.log"
fi
# 50 000 encoded records: rule 0's blocks (birth date + first name's LSH)
# hold almost only matches there, and the EM with u free splits them by
# their last names' agreement — no match / non-match split, its other
# class agreeing on the commune as matches do: that rule keeps the EM with
# u fixed (recall 0.948 without the check)
"$PL" synth --linkage --persons 50000 --records 50000 --dup-rate 0.3 --seed 5 \
  --linkage-secret "$TMP/link.key" --per-field -o "$TMP/enc50.h5" >/dev/null
dedup_quality enc50 "$TMP/enc.yaml" 0.98 0.95 "pairwise" \
  "encoded, 50 000 records" "dedup on 50 000 encoded records"

# job file errors: file:line:column and key path, nothing published
bad() {  # NAME EXPECTED-REGEX: run $TMP/bad.yaml and expect the error
  local name=$1 want=$2
  rm -rf "$TMP/bad"
  if plrun 1 run "$TMP/bad.yaml" --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then
    notok "$name: refused"
  elif grep -qE "$want" "$TMP/bad.log" && [ ! -e "$TMP/bad/linked.h5" ]; then
    ok "$name: refused ($want)"
  else
    notok "$name: refused with '$want'"; cat "$TMP/bad.log"
  fi
}
line=$(grep -n "^  dedup:" "$TMP/job.yaml" | cut -d: -f1)
sed -e "s#^  dedup: \[registry\]#  dedup: [registry, nosuch]#" "$TMP/job.yaml" >"$TMP/bad.yaml"
bad "a source not in the store" "bad.yaml:$line:21: linkage.dedup\[1\]: [^ ]*fs.h5: /sources/nosuch: no such source in the store"
sed -e "s#^  dedup: \[registry\]#  dedup: [persons]#" "$TMP/job.yaml" >"$TMP/bad.yaml"
bad "a source with an identity" "bad.yaml:$line:11: linkage.dedup\[0\]: 'persons' is a source with an identity"
sed -e "s#^  dedup: \[registry\]#  dedup: [registry, registry]#" "$TMP/job.yaml" >"$TMP/bad.yaml"
bad "a source listed twice" "bad.yaml:$line:21: linkage.dedup\[1\]: source 'registry' listed twice"
sed -e "s#^  dedup: \[registry\]#  dedup: []#" "$TMP/job.yaml" >"$TMP/bad.yaml"
bad "an empty list" "bad.yaml:$line:10: linkage.dedup: expected at least one source to deduplicate"
