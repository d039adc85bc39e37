#!/usr/bin/env bash
# reveal as a custodian uses it: pids from standard input and from a file
# (comments, blank lines, repeats), TSV and JSON Lines read back by Python
# against an independent decryption, --reason required, every attempt in the
# output directory's chain (refusals, partial answers, bad lists, missing
# reason) with the pids asked for and found and the custodians, no p1 in a
# message or the log, no answer without an audit line; the offline opening
# of docs/CORRESPONDENCE.md (docs/shamir_combine.py) from shares unwrapped
# the documented way and piped, giving the same p1 as reveal.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
K=$TMP/cust
mkdir -p "$K"
cp "$ROOT"/inputs/custodians/*.pem "$ROOT"/inputs/custodians/*.pass "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
key() { echo "--key $K/$1.key.pem --passphrase-file $K/$1.pass"; }

job=$TMP/job.yaml
regression_job "$job" keyed
out=$TMP/out C=$TMP/out/correspondence.h5 LOG=$TMP/out/audit.log
if ! plrun 2 run "$job" --out "$out" >"$TMP/run.log" 2>&1; then
  notok "run with custody"; cat "$TMP/run.log"; exit 1
fi
rev() { "$PL" reveal --corr "$C" "$@"; }
lines() { wc -l <"$LOG"; }
last() { tail -n 1 "$LOG"; }

# The truth, without pseudolink: every record "pid p1 rank" (bob + dave;
# rank 0 = a key without one).
$PY tests/e2e/corr_decrypt.py "$C" "$K/bob.key.pem" "$K/bob.pass" "$K/dave.key.pem" "$K/dave.pass" >"$TMP/truth" 2>"$TMP/e"
check "independent decryption of the table (truth)" test -s "$TMP/truth"
cut -d' ' -f1 "$TMP/truth" | sort -R --random-source="$TMP/truth" >"$TMP/all.pids"
read -r PID P1 _ <"$TMP/truth"
read -r PID2 _ < <(sed -n 2p "$TMP/truth")
UNK=0123456789abcdef0123456789abcdef

# readback FMT OUT WANT-PIDS: stdout parsed by Python (csv / json) equals
# the truth for exactly WANT-PIDS, in that order.
readback() {
  $PY - "$1" "$2" "$3" "$TMP/truth" <<'PY'
import csv, json, sys
fmt, out, want, truth = sys.argv[1:]
t = {}
for l in open(truth):
    q, k, rk = l.split()
    t.setdefault(q, []).append((k, int(rk)))
want = list(dict.fromkeys(l.strip().lower() for l in open(want) if l.strip()))
# One line per key of each pid, pids in the order asked, keys in order.
exp = [(p, k, rk or None) for p in want for k, rk in sorted(t[p])]
if fmt == "tsv":
    rows = list(csv.reader(open(out, newline=""), delimiter="\t"))
    ok = rows[0] == ["pid", "p1", "birth_rank"] and all(len(r) == 3 for r in rows)
    got = [(r[0], r[1], int(r[2]) if r[2] else None) for r in rows[1:]]
else:
    recs = [json.loads(l) for l in open(out)]
    ok = all(set(r) == {"pid", "p1", "birth_rank"} for r in recs)
    got = [(r["pid"], r["p1"], r["birth_rank"]) for r in recs]
sys.exit(0 if ok and got == exp else 1)
PY
}

# --- from standard input, TSV -----------------------------------------------
n=$(wc -l <"$TMP/all.pids")
{ echo "# ticket REQ-1: every person"; echo; sed -n '1,5p' "$TMP/all.pids"
  echo "   $(sed -n 6p "$TMP/all.pids" | tr a-f A-F)   # upper case, blanks"
  printf '%s\r\n' "$(sed -n 7p "$TMP/all.pids")"; sed -n '8,$p' "$TMP/all.pids"
  sed -n 3p "$TMP/all.pids"; echo "# end"; } >"$TMP/list"
n0=$(lines)
rev $(key alice) $(key carol) --reason REQ-1 --pids - <"$TMP/list" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "stdin: all $n pids (comments, blank lines, CRLF, upper case, a repeat): exit 0" test $rc -eq 0
check "stdin: TSV with header read by Python's csv gives every p1, each pid once, in the order asked" readback tsv "$TMP/o" "$TMP/all.pids"
$PY - "$(last)" "$n" "$PID" <<'PY'
import json, sys
j, n = json.loads(sys.argv[1]), int(sys.argv[2])
c = {x["name"]: (x["role"], x["served"]) for x in j["custodians"]}
ok = (j["command"] == "reveal" and j["reason"] == "REQ-1" and j["outcome"] == "success"
      and len(j["pids_requested"]) == n and j["pids_found"] == j["pids_requested"]
      and j["counts"] == {"pids_requested": n, "pids_found": n}
      and c == {"alice": ("security_officer", True), "carol": ("data_protection_officer", True)}
      and sys.argv[3] in j["pids_requested"])
print(("ok" if ok else "not ok") + " - stdin reveal audited: reason, %d pids requested and found, custodians and roles" % n)
PY
check "one audit line per reveal" test "$(lines)" -eq $((n0 + 1))
grep -q "audit $LOG head $(tail -n1 "$LOG" | tr -d '\n' | sha256sum | cut -c1-64)" "$TMP/e"
check "stderr gives the chain's new head" test $? -eq 0

# --- from a file and an argument, JSON Lines --------------------------------
printf '%s\n' "$PID2" "$PID" >"$TMP/two"
printf '%s\n' "$PID" >"$TMP/arg"; cat "$TMP/arg" "$TMP/two" >"$TMP/want"
rev $(key bob) $(key dave) --reason REQ-2 --format json --pids "$TMP/two" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "file + argument, --format json: exit 0" test $rc -eq 0
check "JSON Lines read by Python: {pid, p1} per distinct pid, arguments first" readback json "$TMP/o" "$TMP/want"

# --- missing --reason: usage error, nothing printed, refusal audited ----------
n0=$(lines)
rev $(key alice) $(key carol) "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "no --reason: exit 2, nothing on stdout" test $rc -eq 2 -a ! -s "$TMP/o"
check "no --reason: says it is required" grep -q -- "--reason TEXT is required" "$TMP/e"
last | grep -q '"pids_requested":\["'"$PID"'"\].*"outcome":"failure","error":"reveal: --reason TEXT is required'
check "no --reason: the refusal is audited with the pids asked for" test $? -eq 0 -a "$(lines)" -eq $((n0 + 1))
rev $(key alice) $(key carol) --reason "  " "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "blank --reason: exit 2, nothing on stdout" test $rc -eq 2 -a ! -s "$TMP/o"
# A reason is one line of UTF-8 text: a newline, a control byte or invalid
# UTF-8 would make the audit log unreadable as JSON Lines (Python, jq).
for r in $'REQ-1\xff' $'REQ-1\n{"outcome":"success"}' $'REQ\x1b[2J'; do
  rev $(key alice) $(key carol) --reason "$r" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
  [ $rc -eq 2 ] && [ ! -s "$TMP/o" ] && grep -q -- "--reason: expected one line of printable UTF-8 text" "$TMP/e" || break
done
check "--reason with invalid UTF-8, a newline or an escape sequence: exit 2, no p1, says why" test $rc -eq 2 -a ! -s "$TMP/o"
n0=$(lines)
"$PL" rewrap --corr "$C" $(key alice) $(key carol) --custody "$job" --reason $'REQ\n2' >"$TMP/o" 2>"$TMP/e"; rc=$?
check "rewrap --reason with a newline: exit 2, says why, the table untouched" \
  test $rc -eq 2 -a -n "$(grep 'rewrap: --reason: expected one line' "$TMP/e")" -a "$(lines)" -eq "$n0"
rev $(key alice) $(key carol) --reason "ticket n° «42»" "$PID" >"$TMP/o" 2>"$TMP/e"
check "--reason in UTF-8 (accents, guillemets) accepted" test $? -eq 0 -a -s "$TMP/o"
$PY - "$LOG" <<'PY'
import json, sys
bad = []
for n, l in enumerate(open(sys.argv[1], "rb"), 1):
    try:
        json.loads(l.decode("utf-8", errors="strict"))
    except ValueError as e:
        bad.append("%d: %s" % (n, e))
try:
    j = json.loads(open(sys.argv[1], "rb").read().splitlines()[-2])
    ok = not bad and j["reason"] == "REQ\\x1b[2J" and j["outcome"] == "failure"
except ValueError:
    ok = False
print(("ok" if ok else "not ok") + " - every audit line is strict UTF-8 JSON; a refused reason is recorded escaped " + "; ".join(bad)[:300])
PY

# --- refusal: one role ------------------------------------------------------
rev $(key alice) --reason REQ-3 --pids - <"$TMP/two" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "one role: refused, exit 1, nothing on stdout" test $rc -eq 1 -a ! -s "$TMP/o"
last | grep -q '"reason":"REQ-3","custodians":\[{"name":"alice","role":"security_officer","fingerprint":"sha256:[0-9a-f]*","served":false}\],"pids_requested":\["'"$PID2"'","'"$PID"'"\].*"outcome":"failure","error":"[^"]*missing: 1 more of the roles'
check "one role: audited with the custodian who tried, the pids and the reason" test $? -eq 0

# --- partial answer ---------------------------------------------------------
printf '%s\n%s\n%s\n' "$PID" "$UNK" "$PID2" | rev $(key alice) $(key carol) --reason REQ-4 --pids - >"$TMP/o" 2>"$TMP/e"; rc=$?
printf '%s\n' "$PID" "$PID2" >"$TMP/want"
check "partial: exit 1" test $rc -eq 1
check "partial: the pids found are printed (TSV)" readback tsv "$TMP/o" "$TMP/want"
check "partial: stderr counts and names the pid not found" \
  sh -c "grep -q '1 of 3 pids are not in this correspondence file' '$TMP/e' && grep -q 'pid $UNK is not in' '$TMP/e'"
last | grep -q '"pids_requested":\["'"$PID"'","'"$UNK"'","'"$PID2"'"\],"pids_found":\["'"$PID"'","'"$PID2"'"\],"counts":{"pids_requested":3,"pids_found":2}.*"outcome":"failure","error":"1 of 3 pids are not in this table"'
check "partial: audited with the pids asked for and found" test $? -eq 0

# --- bad pid lists ----------------------------------------------------------
{ echo "# bad"; echo "$PID"; echo "$P1"; echo; printf 'zz%s\n' "${PID:2}"; echo "$PID $PID2"; } >"$TMP/bad"
n0=$(lines)
rev $(key alice) $(key carol) --reason REQ-5 --pids "$TMP/bad" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "bad list: exit 1, nothing on stdout" test $rc -eq 1 -a ! -s "$TMP/o"
check "bad list: a p1 on line 3 named by file:line, expected pid" grep -q "$TMP/bad:3: expected a pid (32 hex digits, one per line), found 64 characters" "$TMP/e"
check "bad list: a non-hex digit named by file:line:column" grep -q "$TMP/bad:5:1: expected a pid" "$TMP/e"
check "bad list: two pids on one line refused" grep -q "$TMP/bad:6: expected a pid" "$TMP/e"
check "bad list: the bad entries are never shown" sh -c "! grep -q -e '$P1' -e 'zz${PID:2}' '$TMP/e'"
last | grep -q '"reason":"REQ-5".*"outcome":"failure","error":"[^"]*bad:3: expected a pid'
check "bad list: audited" test $? -eq 0 -a "$(lines)" -eq $((n0 + 1))
# A huge line (no newline) is one bad line, not held in memory.
head -c 64000000 /dev/zero | tr '\0' 0 >"$TMP/huge"
$PY - "$PL" "$C" "$K" "$TMP/huge" <<'PY'
import resource, subprocess, sys
pl, c, k, huge = sys.argv[1:]
keys = ["--key", k + "/alice.key.pem", "--passphrase-file", k + "/alice.pass",
        "--key", k + "/carol.key.pem", "--passphrase-file", k + "/carol.pass"]
p = subprocess.run([pl, "reveal", "--corr", c, "--reason", "REQ-5b", "--pids", "-"] + keys,
                   stdin=open(huge, "rb"), capture_output=True)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
ok = (p.returncode == 1 and not p.stdout and rss < 40
      and b"standard input:1: expected a pid (32 hex digits, one per line), found 64000000 characters" in p.stderr)
print(("ok" if ok else "not ok") + " - a 64 MB line: one bad line named by its length, %d MiB peak (< 40)" % rss)
PY
rm -f "$TMP/huge"
printf '%s\0%s\n' "${PID:0:16}" "${PID:17}" | rev $(key alice) $(key carol) --reason REQ-5c --pids - >"$TMP/o" 2>"$TMP/e"; rc=$?
check "a NUL byte inside a pid: named by its column" test $rc -eq 1 -a -n "$(grep 'standard input:1:17: expected a pid (32 hex digits): character 17 is not a hex digit' "$TMP/e")"
# --pids - on a terminal says what it waits for (a pty; pids typed, Ctrl-D).
$PY - "$PL" "$C" "$K" "$PID" <<'PY'
import os, pty, select, sys, time
pl, c, k, pid = sys.argv[1:]
child, fd = pty.fork()
if child == 0:
    os.execv(pl, [pl, "reveal", "--corr", c, "--reason", "REQ-5d", "--pids", "-",
                  "--key", k + "/alice.key.pem", "--passphrase-file", k + "/alice.pass",
                  "--key", k + "/carol.key.pem", "--passphrase-file", k + "/carol.pass"])
out, t0 = b"", time.time()
while b"Ctrl-D" not in out and time.time() - t0 < 10:
    if select.select([fd], [], [], 0.5)[0]:
        out += os.read(fd, 4096)
os.write(fd, pid.encode() + b"\n\x04")
try:
    while True:
        d = os.read(fd, 4096)
        if not d:
            break
        out += d
except OSError:
    pass
_, st = os.waitpid(child, 0)
ok = (b"reading pids from the terminal" in out and os.WEXITSTATUS(st) == 0
      and pid.encode() + b"\t" in out)
print(("ok" if ok else "not ok") + " - --pids - on a terminal: says it reads the terminal until Ctrl-D, then answers")
PY
printf 'pid\n' | rev $(key alice) $(key carol) --reason REQ-6 --pids - >"$TMP/o" 2>"$TMP/e"; rc=$?
check "bad stdin: named 'standard input:1'" test $rc -eq 1 -a -n "$(grep 'standard input:1: expected a pid' "$TMP/e")"
rev $(key alice) $(key carol) --reason REQ-7 "${PID:0:31}" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "bad argument: named by its position" test $rc -eq 1 -a -n "$(grep 'pid argument 1: expected a pid (32 hex digits), found 31 characters' "$TMP/e")"
rev $(key alice) $(key carol) --reason REQ-8 --pids "$TMP/nonexistent" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "missing list file: named, audited" test $rc -eq 1 -a -n "$(grep "nonexistent: cannot open the pid list" "$TMP/e")" -a -n "$(last | grep '"reason":"REQ-8"')"
rev $(key alice) $(key carol) "$PID" --reason >"$TMP/o" 2>"$TMP/e"; rc=$?
check "--reason as the last argument: exit 2, says its value is missing" test $rc -eq 2 -a -n "$(grep -- '--reason: missing its value' "$TMP/e")"
rev $(key alice) $(key carol) --reason R --format csv "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "--format csv: usage error (exit 2)" test $rc -eq 2 -a ! -s "$TMP/o"

# --- no audit line, no answer ------------------------------------------------
printf '{"v":1' >"$TMP/torn.log"
rev $(key alice) $(key carol) --reason REQ-9 --audit "$TMP/torn.log" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "audit log cannot be appended to: no p1 printed, exit 1" test $rc -eq 1 -a ! -s "$TMP/o"

rev $(key alice) $(key carol) --reason REQ-9a --pids - <&- >"$TMP/o" 2>"$TMP/e"; rc=$?
check "standard input closed with --pids -: says so, no p1" test $rc -eq 1 -a ! -s "$TMP/o" -a -n "$(grep 'standard input is closed' "$TMP/e")"
n0=$(lines)
rev $(key alice) $(key carol) --reason REQ-9b "$PID" >&- 2>"$TMP/e"; rc=$?
check "standard output closed: refused before any p1 (exit 2, says so), no success line" \
  test $rc -eq 2 -a -n "$(grep 'standard output is closed' "$TMP/e")" -a "$(lines)" -eq "$n0"

# The log's file system full (here: the file size limit, ulimit -f) in the
# middle of the line: the reason is said, the partial line is cut back.
cp "$LOG" "$TMP/full.log"; sz=$(stat -c %s "$TMP/full.log")
( trap '' XFSZ; ulimit -f $(( sz / 1024 + 1 ))   # cut within 1024 bytes of a > 3000-byte line
  exec "$PL" reveal --corr "$C" $(key alice) $(key carol) --reason "REQ-9d $(printf '%03000d' 0)" --audit "$TMP/full.log" "$PID" ) >"$TMP/o" 2>"$TMP/e"; rc=$?
check "log full mid-line: no p1, exit 1, the reason (File too large) said, the partial line cut back, chain intact" \
  sh -c "test $rc -eq 1 -a ! -s '$TMP/o' && grep -q 'cannot append to the audit log: File too large' '$TMP/e' && test \$(stat -c %s '$TMP/full.log') -eq $sz && '$PL' verify --audit '$TMP/full.log' >/dev/null"

# A copy whose custodian name was altered (not UTF-8, a newline): the line
# stays UTF-8 JSON, the name escaped.
mkdir -p "$TMP/tam"; cp "$(readlink -f "$C")" "$TMP/tam/correspondence.h5"
$PY -c 'import h5py,sys; d=h5py.File(sys.argv[1],"r+")["custody/name"]; v=d[:]; v[0]=b"ali\xffce\n"; d[...]=v' "$TMP/tam/correspondence.h5"
"$PL" reveal --corr "$TMP/tam/correspondence.h5" $(key alice) $(key carol) --reason REQ-9f "$PID" >/dev/null 2>&1
$PY - "$TMP/tam/audit.log" <<'PY'
import json, sys
try:
    j = json.loads(open(sys.argv[1], "rb").read().splitlines()[-1].decode("utf-8"))
    ok = j["custodians"][0]["name"] == "ali\\xffce\\x0a"
except (ValueError, IndexError, KeyError):
    ok = False
print(("ok" if ok else "not ok") + " - an altered custodian name (not UTF-8, a newline) is recorded escaped: the line stays UTF-8 JSON")
PY

cp "$(readlink -f "$C")" "$TMP/tam/correspondence.h5"
$PY -c 'import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],"r+"); del f.attrs["run_id"]; f.attrs.create("run_id", np.array(b"\xff\n" + b"0" * 14, dtype="S16"))' "$TMP/tam/correspondence.h5"
"$PL" reveal --corr "$TMP/tam/correspondence.h5" $(key alice) $(key carol) --reason REQ-9g "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "an altered run_id (not hex): refused as altered, the line stays UTF-8" \
  sh -c "test $rc -eq 1 -a ! -s '$TMP/o' && grep -q \"attribute 'run_id' is not 16 lowercase hex digits\" '$TMP/e' && tail -n 1 '$TMP/tam/audit.log' | iconv -f UTF-8 -t UTF-8 >/dev/null"

# A mistyped --corr: the system's reason, and no new audit.log left in the
# directory it points to.
mkdir -p "$TMP/typo"
"$PL" reveal --corr "$TMP/typo/corespondence.h5" $(key alice) $(key carol) --reason REQ-9e "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "mistyped --corr: exit 1, 'No such file or directory', says it is not audited, no stray audit.log" \
  test $rc -eq 1 -a ! -s "$TMP/o" -a ! -e "$TMP/typo/audit.log" -a -n "$(grep 'corespondence.h5: cannot open correspondence file: No such file or directory' "$TMP/e")" -a -n "$(grep 'not audited' "$TMP/e")"

# A table reached through a symlink from elsewhere is audited in its own
# directory's chain, not in a new log next to the symlink.
mkdir -p "$TMP/elsewhere"; ln -s "$C" "$TMP/elsewhere/corr.h5"
n0=$(lines)
"$PL" reveal --corr "$TMP/elsewhere/corr.h5" $(key alice) $(key carol) --reason REQ-9c "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "table through a symlink elsewhere: audited in the output directory's chain, no stray log" \
  test $rc -eq 0 -a "$(lines)" -eq $((n0 + 1)) -a ! -e "$TMP/elsewhere/audit.log" -a -n "$(last | grep '"reason":"REQ-9c"')"

"$PL" rewrap --corr "$TMP/elsewhere/corr.h5" $(key alice) $(key carol) --custody "$job" --reason REQ-9h >"$TMP/o" 2>"$TMP/e"; rc=$?
"$PL" verify --audit "$LOG" "$out" >"$TMP/v" 2>&1
check "rewrap through a symlink elsewhere: recorded in the output directory's chain under its name there, verify passes" \
  test $rc -eq 0 -a $? -eq 0 -a ! -e "$TMP/elsewhere/audit.log"

# --- the log: no p1, a valid chain -------------------------------------------
$PY - "$LOG" "$TMP/truth" <<'PY'
import sys
log = open(sys.argv[1]).read()
hits = sum(1 for l in open(sys.argv[2]) if l.split()[1] in log)
print(("ok" if hits == 0 else "not ok") + " - no p1 in the audit log (%d found)" % hits)
PY
"$PL" verify --audit "$LOG" "$out" >"$TMP/v" 2>&1
check "verify passes on the directory's chain after these reveals" test $? -eq 0

# --- the README's reveal workflow, copy-pasted (on this run's table) ---------
mkdir -p "$TMP/readme"; ln -s "$ROOT/inputs" "$TMP/readme/inputs"; ln -s "$PL" "$TMP/readme/pseudolink"
$PY - README.md "$TMP/readme" <<'PY'
import sys
s = open(sys.argv[1]).read()
i = s.index("$ cp inputs/custodians/{alice,carol}")
j = s.index("\npid\tp1\tbirth_rank\n", i)
k = s.index("\npseudolink: ", j)
open(sys.argv[2] + "/cmds.sh", "w").write(s[i + 2:j].replace("\n$ ", "\n") + "\n")
open(sys.argv[2] + "/want", "w").write(s[j + 1:k + 1])
PY
(cd "$TMP/readme" && sed "s#out/regression/#$out/#" cmds.sh | bash >out.tsv 2>err); rc=$?
check "README reveal workflow, copy-pasted: exit 1 (one pid unknown) and exactly the answer it shows" \
  test $rc -eq 1 -a -n "$(diff "$TMP/readme/want" "$TMP/readme/out.tsv" >/dev/null && echo same)"

# --- offline opening: docs/CORRESPONDENCE.md, appendix ------------------------
wrapped() {  # the documented one-liner: NAME -> NAME.wrapped
  $PY -c 'import h5py,sys; c=h5py.File(sys.argv[1],"r")["custody"]; j=[bytes(n).rstrip(b"\0").decode() for n in c["name"][:]].index(sys.argv[2]); o,l=c["wrapped_offset"][j],c["wrapped_length"][j]; sys.stdout.buffer.write(c["wrapped"][o:o+l].tobytes())' "$C" "$1" >"$TMP/$1.wrapped"
}
unwrap() {  # share of NAME on stdout, never in a file
  openssl pkeyutl -decrypt -inkey "$K/$1.key.pem" -passin "file:$K/$1.pass" -in "$TMP/$1.wrapped" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
}
for c in alice carol dave; do wrapped $c; done
{ unwrap alice; unwrap carol; } | $PY docs/shamir_combine.py "$C" "$PID" "$PID2" >"$TMP/off" 2>"$TMP/e"; rc=$?
rev $(key alice) $(key carol) --reason REQ-10 "$PID" "$PID2" >"$TMP/on" 2>/dev/null
check "shamir_combine.py: shares piped from openssl open the table, same p1 as pseudolink reveal" \
  test $rc -eq 0 -a -s "$TMP/off" -a -n "$(diff "$TMP/off" "$TMP/on" >/dev/null && echo same)"
{ unwrap dave; unwrap carol; } | $PY docs/shamir_combine.py "$C" >"$TMP/offall" 2>"$TMP/e"
printf 'pid\tp1\tbirth_rank\n' >"$TMP/want"
awk '{ print $1 "\t" $2 "\t" ($3 == 0 ? "" : $3) }' "$TMP/truth" >>"$TMP/want"
sort "$TMP/offall" >"$TMP/offall.s"; sort "$TMP/want" >"$TMP/want.s"
check "shamir_combine.py without pids: the whole table (dave + carol), as the independent decryption" diff -q "$TMP/offall.s" "$TMP/want.s"
{ unwrap alice; unwrap carol; } | $PY -c 'import sys; d=sys.stdin.buffer.read(); print(d[:33].hex()); print(d[33:].hex())' |
  $PY docs/shamir_combine.py "$C" "$PID" >"$TMP/offhex" 2>"$TMP/e"
check "shamir_combine.py: shares as hex lines" diff -q "$TMP/offhex" <(head -2 "$TMP/on")
n0=$(lines)
unwrap alice | $PY docs/shamir_combine.py "$C" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "shamir_combine.py: one role refused, nothing printed" test $rc -ne 0 -a ! -s "$TMP/o" -a -n "$(grep '1 share(s) of distinct roles, 2 needed' "$TMP/e")"
{ unwrap alice; unwrap carol | $PY -c 'import sys; d=bytearray(sys.stdin.buffer.read()); d[5]^=1; sys.stdout.buffer.write(d)'; } |
  $PY docs/shamir_combine.py "$C" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "shamir_combine.py: an altered share fails the key check" test $rc -ne 0 -a ! -s "$TMP/o" -a -n "$(grep 'key check failed' "$TMP/e")"
# Hostile input: a clean message, never a traceback, never a share.
unwrap alice | $PY -c 'import sys; print(sys.stdin.buffer.read().hex() + "0")' >"$TMP/sh.hex"
$PY docs/shamir_combine.py "$C" "$PID" <"$TMP/sh.hex" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "shamir_combine.py: a hex share of odd length: a message naming it, no traceback, no share bytes" \
  sh -c "test $rc -ne 0 -a ! -s '$TMP/o' && grep -q 'a share in hex must be 66 hex digits' '$TMP/e' && ! grep -q -e Traceback -e '$(cut -c3-20 "$TMP/sh.hex")' '$TMP/e'"
$PY docs/shamir_combine.py "$out/linked.h5" "$PID" <"$TMP/sh.hex" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "shamir_combine.py: not a correspondence file: named, no traceback" \
  sh -c "test $rc -ne 0 && grep -q 'linked.h5: not a readable correspondence file' '$TMP/e' && ! grep -q Traceback '$TMP/e'"
cp "$(readlink -f "$C")" "$TMP/altered.h5"
$PY -c 'import h5py,sys; d=h5py.File(sys.argv[1],"r+")["shards/ciphertext"]; d[7]^=1' "$TMP/altered.h5"
{ unwrap alice; unwrap carol; } | $PY docs/shamir_combine.py "$TMP/altered.h5" "$PID" >"$TMP/o" 2>"$TMP/e"; rc=$?
check "shamir_combine.py: an altered shard: authentication failed, no traceback, nothing printed" \
  sh -c "test $rc -ne 0 -a ! -s '$TMP/o' && grep -q 'authentication failed' '$TMP/e' && ! grep -q Traceback '$TMP/e'"
check "an offline opening leaves no audit line" test "$(lines)" -eq "$n0"
$PY - docs/CORRESPONDENCE.md docs/shamir_combine.py <<'PY'
import sys
doc, src = open(sys.argv[1]).read(), open(sys.argv[2]).read()
app = doc[doc.index("## Appendix: offline opening"):]
code = app[app.index("```python\n") + 10:]
code = code[:code.index("```")]
print(("ok" if code == src else "not ok") + " - the script quoted in docs/CORRESPONDENCE.md's appendix is docs/shamir_combine.py")
PY
