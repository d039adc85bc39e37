#!/usr/bin/env bash
# The encrypted correspondence table: round trip at -np 1..4 against the
# store's truth, threshold and role rules, bad keys, tampering, independent
# decryption (Python cryptography, openssl pkeyutl), incremental runs and
# rewrap. Custodian keys: the TEST-ONLY fixtures in inputs/custodians/ (one
# extra key is generated here, for keygen and rewrap).
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
STORE=$ROOT/inputs/regression.h5
K=$TMP/cust
mkdir -p "$K"
cp "$ROOT"/inputs/custodians/*.pem "$ROOT"/inputs/custodians/*.pass "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
key() { echo "--key $K/$1.key.pem --passphrase-file $K/$1.pass"; }
reveal() { local corr=$1; shift; "$PL" reveal --corr "$corr" --audit "$TMP/audit.jsonl" --reason "TEST-1" "$@"; }

job=$TMP/job.yaml
regression_job "$job" keyed

# pids of the first 40 pharmacy rows and the p1 the store holds for them.
truth() {  # linked.h5 -> lines "pid p1hex rank" (reveal's output for a key with a rank)
  $PY - "$1" "$STORE" <<'PY'
import sys, h5py
l, s = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
pid, row = l["/linked/pharmacy/pid"][:40], l["/linked/pharmacy/row"][:40]
p1, rk = s["/sources/pharmacy/p1"], s["/sources/pharmacy/birth_rank"]
for p, r in zip(pid, row):
    print(p.decode(), bytes(p1[r]).hex(), int(rk[r]))
PY
}

# --- round trip at -np 1..4 -------------------------------------------------
for np in 1 2 3 4; do
  out=$TMP/np$np
  if ! plrun "$np" run "$job" --out "$out" >"$out.log" 2>&1; then
    notok "-np $np: run"; cat "$out.log"; continue
  fi
  check "-np $np: correspondence.h5 published next to linked.h5" test -f "$out/correspondence.h5"
  check "-np $np: correspondence.h5 is mode 0640" test "$(stat -L -c %a "$out/correspondence.h5")" = 640
  check "-np $np: one shard per rank" test "$(h5ls "$out/correspondence.h5/shards/rank" | grep -o '{[0-9]*}')" = "{$np}"
  truth "$out/linked.h5" >"$out.truth"
  reveal "$out/correspondence.h5" $(key alice) $(key carol) $(cut -d' ' -f1 "$out.truth") >"$out.rev" 2>"$out.err"
  # TSV with a header; each distinct pid once, in the order asked.
  { printf 'pid\tp1\tbirth_rank\n'; awk '!seen[$0]++' "$out.truth" | tr ' ' '\t'; } >"$out.want"
  check "-np $np: reveal (alice+carol) gives the store's p1 for 40 pharmacy pids" diff -q "$out.want" "$out.rev"
done
C=$TMP/np2/correspondence.h5
read -r PID P1 RANK < "$TMP/np2.truth"
EXP=$(printf 'pid\tp1\tbirth_rank\n%s\t%s\t%s' "$PID" "$P1" "$RANK")

# --- threshold and roles ----------------------------------------------------
reveal "$C" $(key alice) "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "one custodian (t-1 roles) refused" test $rc -ne 0 -a ! -s "$TMP/o"
grep -q "missing: 1 more of the roles data_protection_officer, research_director" "$TMP/e"
check "refusal names the missing roles" test $? -eq 0
reveal "$C" $(key alice) $(key bob) "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "two custodians of one role (alice+bob) refused" test $rc -ne 0 -a ! -s "$TMP/o"
grep -q "keys of one role count once" "$TMP/e"
check "same-role refusal says so" test $? -eq 0
for pair in "alice carol" "alice dave" "bob carol" "bob dave" "carol dave"; do
  set -- $pair
  out=$(reveal "$C" $(key $1) $(key $2) "$PID" 2>"$TMP/e")
  check "distinct roles $1+$2 accepted, p1 correct" test "$out" = "$EXP"
done
out=$(reveal "$C" $(key alice) $(key carol) $(key dave) "$PID" 2>"$TMP/e")
check "three roles accepted too" test "$out" = "$EXP"
n=$(grep -c '"outcome":"success"' "$TMP/audit.jsonl")
grep '"event":"reveal"' "$TMP/audit.jsonl" | tail -1 | grep -q '"name":"carol","role":"data_protection_officer"'
check "audit log has one record per successful reveal, naming the custodians ($n)" test $? -eq 0 -a "$n" -eq 10
! grep -q "$P1" "$TMP/audit.jsonl"
check "audit log holds no p1" test $? -eq 0
"$PL" verify --audit "$TMP/audit.jsonl" >"$TMP/v" 2>&1
check "reveal lines form a valid hash chain (pseudolink verify)" test $? -eq 0
reveal "$C" $(key alice) $(key carol) 0123456789abcdef0123456789abcdef >"$TMP/o" 2>"$TMP/e"; rc=$?
check "unknown pid: non-zero exit, named" grep -q "0123456789abcdef0123456789abcdef is not in" "$TMP/e"

# --- bad keys ---------------------------------------------------------------
printf 'wrong\n' >"$TMP/wrong.pass"; chmod 600 "$TMP/wrong.pass"
reveal "$C" --key "$K/alice.key.pem" --passphrase-file "$TMP/wrong.pass" $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"
check "wrong passphrase refused" grep -q "alice.key.pem: cannot read the private key: wrong passphrase" "$TMP/e"
cp "$K/alice.key.pem" "$TMP/loose.pem"; chmod 644 "$TMP/loose.pem"
reveal "$C" --key "$TMP/loose.pem" --passphrase-file "$K/alice.pass" $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"
check "private key of mode 0644 refused" grep -q "loose.pem: private key must be a regular file of mode 0600" "$TMP/e"
sed '5s/./X/' "$K/alice.key.pem" >"$TMP/corrupt.pem"; chmod 600 "$TMP/corrupt.pem"
reveal "$C" --key "$TMP/corrupt.pem" --passphrase-file "$K/alice.pass" $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "corrupted PEM refused" test $rc -ne 0 -a ! -s "$TMP/o"
grep -q "corrupt.pem: cannot read the private key" "$TMP/e"
check "corrupted PEM: message names the file" test $? -eq 0
printf 'eve-test-only\n' >"$K/eve.pass"; chmod 600 "$K/eve.pass"
"$PL" keygen --custodian eve --dir "$K" --passphrase-file "$K/eve.pass" >/dev/null 2>&1
check "keygen --custodian: private key 0600, encrypted PEM" test "$(stat -c %a "$K/eve.key.pem")" = 600 -a "$(head -1 "$K/eve.key.pem")" = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
check "keygen --custodian: RSA 3072 public key" sh -c "openssl pkey -pubin -in '$K/eve.pub.pem' -text -noout | grep -q '3072 bit'"
"$PL" keygen --custodian eve --dir "$K" --passphrase-file "$K/eve.pass" >/dev/null 2>"$TMP/e"
check "keygen --custodian refuses to overwrite" grep -q "refusing to overwrite" "$TMP/e"
reveal "$C" $(key eve) $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"
check "key of a non-custodian refused" grep -q "eve.key.pem: this key (sha256:[0-9a-f]*) belongs to no custodian" "$TMP/e"

# --- tampering --------------------------------------------------------------
tamper() {  # name dataset index -> flips one byte of a copy
  local f=$TMP/t_$1.h5
  cp "$C" "$f"
  $PY - "$f" "$2" "$3" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+"); d = f[sys.argv[2]]; i = int(sys.argv[3])
flat = d[...].reshape(-1).copy(); flat[i] ^= np.array(1, dtype=flat.dtype)
d[...] = flat.reshape(d.shape)
PY
  echo "$f"
}
for spec in "ct /shards/ciphertext 100 shard 0 (rank 0): authentication failed" \
            "ct1 /shards/ciphertext -1 shard 1 (rank 1): authentication failed" \
            "nonce /shards/nonce 13 shard 1 (rank 1): authentication failed" \
            "tag /shards/tag 0 shard 0 (rank 0): authentication failed" \
            "records /shards/records 1 shard 1 (rank 1): index entry is inconsistent" \
            "rank /shards/rank 0 shard 0 (rank 1): authentication failed" \
            "wrapped /custody/wrapped 500 share wrapped to custodian 'bob' cannot be opened" \
            "check /custody/key_check 3 key check failed"; do
  set -- $spec; name=$1 ds=$2 idx=$3; shift 3; want="$*"
  f=$(tamper "$name" "$ds" "$idx")
  reveal "$f" $(key bob) $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
  if [ $rc -ne 0 ] && [ ! -s "$TMP/o" ] && grep -qF "$want" "$TMP/e"; then
    ok "flipped byte in $ds detected: $want"
  else notok "flipped byte in $ds detected: $want"; cat "$TMP/e"; fi
done

# --- independent decryption -------------------------------------------------
$PY tests/e2e/corr_decrypt.py "$C" "$K/bob.key.pem" "$K/bob.pass" "$K/dave.key.pem" "$K/dave.pass" >"$TMP/all.txt" 2>"$TMP/e"
check "Python cryptography decrypts the file from the documented format" test $? -eq 0 -a -s "$TMP/all.txt"
$PY - "$TMP/all.txt" "$TMP/np2/linked.h5" "$STORE" <<'PY'
import sys, h5py
m = {}
for line in open(sys.argv[1]):
    q, k, rk = line.split()
    m.setdefault(q, set()).add((k, int(rk)))
l, s = h5py.File(sys.argv[2], "r"), h5py.File(sys.argv[3], "r")
pid, row = l["/linked/pharmacy/pid"][:], l["/linked/pharmacy/row"][:]
p1, rk = s["/sources/pharmacy/p1"], s["/sources/pharmacy/birth_rank"]
bad = sum((bytes(p1[r]).hex(), int(rk[r])) not in m.get(p.decode(), ())
          for p, r in zip(pid, row))
persons = len(l["/persons/pid"])
print(("ok" if bad == 0 else "not ok") + " - independent decryption: every pharmacy row's pid maps to its key (p1, rank) (%d rows, %d wrong)" % (len(pid), bad))
print(("ok" if len(m) == persons else "not ok") + " - correspondence covers every person, one key each here (%d, persons %d)" % (len(m), persons))
PY
$PY -c "
import h5py,sys; c=h5py.File(sys.argv[1])['custody']; o,l=c['wrapped_offset'][0],c['wrapped_length'][0]
open(sys.argv[2],'wb').write(c['wrapped'][o:o+l].tobytes())" "$C" "$TMP/w0.bin"
openssl pkeyutl -decrypt -inkey "$K/alice.key.pem" -passin "file:$K/alice.pass" -in "$TMP/w0.bin" \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -out "$TMP/s0.bin" 2>"$TMP/e"
check "openssl pkeyutl unwraps alice's share: 33 bytes, x = 1" test "$(stat -c %s "$TMP/s0.bin" 2>/dev/null)" = 33 -a "$(head -c1 "$TMP/s0.bin" | od -An -tu1 | tr -d ' ')" = 1

# --- no p1 in clear ---------------------------------------------------------
$PY - "$STORE" "$TMP/np2/correspondence.h5" <<'PY'
import sys, h5py
p1 = [bytes(r) for r in h5py.File(sys.argv[1], "r")["/sources/pharmacy/p1"][:]]
data = open(sys.argv[2], "rb").read()
hits = sum(1 for p in set(p1) if p in data or p.hex().encode() in data)
print(("ok" if hits == 0 else "not ok") + " - no p1 (raw or hex) in correspondence.h5 (%d found)" % hits)
PY

# --- incremental runs -------------------------------------------------------
sed -e '/^  hospital_stays:/,/^  pharmacy:/{/^  pharmacy:/!d}' "$job" >"$TMP/first.yaml"
sed -i 's/^mode: .*/mode: random/' "$TMP/first.yaml"
plrun 2 run "$TMP/first.yaml" --out "$TMP/inc1" >"$TMP/inc1.log" 2>&1
check "incremental: first random run (pharmacy, deaths)" test -f "$TMP/inc1/correspondence.h5"
sed -e 's/^mode: .*/mode: random/' "$job" >"$TMP/second.yaml"
printf 'previous:\n  correspondence: %s\n' "$TMP/inc1/correspondence.h5" >>"$TMP/second.yaml"
plrun 2 run "$TMP/second.yaml" --out "$TMP/inc2" >"$TMP/inc2n.log" 2>&1; rc=$?
check "incremental without custodian keys: random run refuses to start" test $rc -ne 0 -a ! -e "$TMP/inc2/linked.h5"
grep -q "refusing to start" "$TMP/inc2n.log"
check "incremental refusal says why" test $? -eq 0
plrun 2 run "$TMP/second.yaml" --out "$TMP/inc2" --prev-key "$K/alice.key.pem" --prev-key "$K/bob.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/bob.pass" >"$TMP/inc2b.log" 2>&1; rc=$?
check "incremental with two keys of one role refused" test $rc -ne 0 -a ! -e "$TMP/inc2/linked.h5"
plrun 3 run "$TMP/second.yaml" --out "$TMP/inc2" --prev-key "$K/alice.key.pem" --prev-key "$K/dave.key.pem" \
  --prev-passphrase-file "$K/alice.pass" --prev-passphrase-file "$K/dave.pass" >"$TMP/inc2.log" 2>&1
check "incremental run with alice+dave at -np 3" test -f "$TMP/inc2/correspondence.h5"
$PY tests/e2e/corr_decrypt.py "$TMP/inc1/correspondence.h5" "$K/carol.key.pem" "$K/carol.pass" "$K/dave.key.pem" "$K/dave.pass" >"$TMP/c1.txt"
$PY tests/e2e/corr_decrypt.py "$TMP/inc2/correspondence.h5" "$K/carol.key.pem" "$K/carol.pass" "$K/dave.key.pem" "$K/dave.pass" >"$TMP/c2.txt"
$PY - "$TMP/inc1/linked.h5" "$TMP/inc2/linked.h5" "$TMP/c1.txt" "$TMP/c2.txt" <<'PY'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
same = all((a["/linked/%s/pid" % s][:] == b["/linked/%s/pid" % s][:]).all() for s in ("pharmacy", "deaths"))
print(("ok" if same else "not ok") + " - incremental: known persons keep their pid (pharmacy, deaths rows)")
c1 = set(l.strip() for l in open(sys.argv[3])); c2 = set(l.strip() for l in open(sys.argv[4]))
print(("ok" if c1 <= c2 else "not ok") + " - incremental: new correspondence covers every previous record")
old = set(l.split()[0] for l in c1)
new = [p for p in b["/linked/hospital_stays/pid"][:] if p.decode() not in old]
n2 = len(b["/persons/pid"])
print(("ok" if new and len(c2) == n2 else "not ok") + " - incremental: new persons got new pids; file covers old and new (%d records, %d persons)" % (len(c2), n2))
PY

# --- rewrap: bob leaves, eve joins -----------------------------------------
cat >"$TMP/new.yaml" <<EOF2
custody:
  threshold: 2
  custodians:
    - {name: alice, role: security_officer, public_key: $K/alice.pub.pem}
    - {name: eve, role: security_officer, public_key: $K/eve.pub.pem}
    - {name: carol, role: data_protection_officer, public_key: $K/carol.pub.pem}
    - {name: dave, role: research_director, public_key: $K/dave.pub.pem}
EOF2
"$PL" rewrap --corr "$C" $(key carol) --custody "$TMP/new.yaml" --out "$TMP/rw.h5" --audit "$TMP/audit.jsonl" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "rewrap with one role refused" test $rc -ne 0 -a ! -e "$TMP/rw.h5"
"$PL" rewrap --corr "$C" $(key carol) $(key dave) --custody "$TMP/new.yaml" --out "$TMP/rw.h5" --audit "$TMP/audit.jsonl" >"$TMP/o" 2>"$TMP/e"
check "rewrap with carol+dave" test -f "$TMP/rw.h5"
check "rewrap leaves the shards byte-identical" h5diff "$C" "$TMP/rw.h5" /shards /shards
out=$(reveal "$TMP/rw.h5" $(key eve) $(key carol) "$PID" 2>"$TMP/e")
check "after rewrap: new custodian eve + carol reveal" test "$out" = "$EXP"
reveal "$TMP/rw.h5" $(key bob) $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"
check "after rewrap: departed bob refused" grep -q "bob.key.pem: this key .* belongs to no custodian" "$TMP/e"
grep -q '"event":"rewrap"' "$TMP/audit.jsonl"
check "rewrap is audited" test $? -eq 0
