#!/usr/bin/env bash
# Issue 12, publication and audit: a run publishes its whole set or none
# (par/generation.h), the audit line is durable before anything is
# published, a file of an earlier run never stands as current, only our own
# leftovers are removed, custodians' work goes into the same chain, and the
# chain's head can be anchored. Every fault is real: a rename the kernel
# refuses, a full file system (tmpfs), a store whose bytes live elsewhere.
source "$(dirname "$0")/../lib/common.sh"
job=$TMP/job.yaml
regression_job "$job" keyed
out=$TMP/out
K=$TMP/cust
mkdir -p "$K"
cp "$ROOT"/inputs/custodians/*.pem "$ROOT"/inputs/custodians/*.pass "$K/"
chmod 600 "$K"/*.key.pem "$K"/*.pass
key() { echo --key "$K/$1.key.pem" --passphrase-file "$K/$1.pass"; }
digests() { (cd "$1" && for f in linked.h5 correspondence.h5; do
  [ -e "$f" ] && sha256sum "$f"; done; ls -A) 2>/dev/null; }

# --- The layout, and the head printed and anchored ------------------------
plrun 2 run "$job" --out "$out" >"$TMP/r1.log" 2>&1
check "first run publishes" test $? -eq 0 -a -e "$out/linked.h5" -a -e "$out/correspondence.h5"
check "linked.h5 is current/linked.h5, current one generation" \
  test "$(readlink "$out/linked.h5")" = current/linked.h5 -a -d "$out/current" -a -L "$out/current"
check "the set has a manifest naming every file with its digest" \
  grep -q "^file [0-9a-f]\{64\} [0-9]* correspondence.h5$" "$out/current/MANIFEST"
head1=$(sed -n 's/^audit head: //p' "$TMP/r1.log")
check "the run prints the audit chain's head" test ${#head1} -eq 64
"$PL" verify --audit "$out/audit.log" --expect-head "$head1" "$out" >"$TMP/v" 2>&1
check "verify --expect-head passes on the printed head" test $? -eq 0

# A manifest digest equals the audit line's and the independent Merkle tool.
m=$(awk '$NF == "linked.h5" {print $2}' "$out/current/MANIFEST")
d=$("$PL" digest "$out/linked.h5" | cut -d' ' -f1)
check "manifest digest = pseudolink digest of linked.h5" test "$m" = "$d"

# --- A run without custody: the earlier correspondence is not current ------
sed '/^custody:/,/^[a-z]/{/^custody:/d;/^  /d}' "$job" >"$TMP/nocust.yaml"
grep -q custody "$TMP/nocust.yaml" && notok "test setup: custody section not removed"
plrun 2 run "$TMP/nocust.yaml" --out "$out" >"$TMP/r2.log" 2>&1
check "run without custody publishes" test $? -eq 0
check "no correspondence.h5 of the earlier run stands beside the new set" test ! -e "$out/correspondence.h5"
check "the summary lists exactly the new set" grep -qx "published: $out/linked.h5" "$TMP/r2.log"
check "only one generation remains" test "$(ls -d "$out"/.pseudolink-gen-* | wc -l)" -eq 1
"$PL" verify --audit "$out/audit.log" "$out" >"$TMP/v" 2>&1
check "verify passes on the directory after the custody-less run" test $? -eq 0
plrun 2 run "$job" --out "$out" >"$TMP/r3.log" 2>&1 || notok "third run"

# --- A publication the kernel refuses: nothing changes ---------------------
before=$(digests "$out")
g=$(readlink "$out/current")
rm "$out/current" && mv "$out/$g" "$out/current"   # a directory: rename onto it fails
before=$(digests "$out")
plrun 2 run "$job" --out "$out" >"$TMP/r4.log" 2>&1; rc=$?
check "failing rename: non-zero exit" test $rc -ne 0
check "failing rename: says nothing was published" grep -q "nothing was published" "$TMP/r4.log"
check "failing rename: the message carries the system's reason" grep -q "current: cannot point it at .*: Is a directory" "$TMP/r4.log"
after=$(digests "$out")
check "failing rename: the previous set unchanged" test "$after" = "$before"
[ "$after" = "$before" ] || diff <(echo "$before") <(echo "$after")
tail -n 2 "$out/audit.log" | head -n 1 | grep -q '"command":"run".*"outcome":"success"' &&
  tail -n 1 "$out/audit.log" | grep -q '"command":"publish".*"outcome":"failure"'
check "failing rename: the run's line, then a publish-failure line" test $? -eq 0
check "failing rename: the run's sealed directory was removed" test -z "$(ls -A "$out" | grep pseudolink-)"
"$PL" verify --audit "$out/audit.log" "$out" >"$TMP/v" 2>&1
check "failing rename: verify still passes on the unchanged directory" test $? -eq 0
mv "$out/current" "$out/$g" && ln -s "$g" "$out/current"

# --- The audit line cannot be written: nothing is published ---------------
if mkdir -p "$TMP/alog" && mount -t tmpfs -o size=64k tmpfs "$TMP/alog" 2>/dev/null; then
  before=$(digests "$out")
  : >"$TMP/alog/audit.log"
  dd if=/dev/zero of="$TMP/alog/fill" bs=4k 2>/dev/null
  plrun 2 run "$job" --out "$out" --audit "$TMP/alog/audit.log" >"$TMP/r5.log" 2>&1; rc=$?
  check "audit log full: non-zero exit" test $rc -ne 0
  check "audit log full: names the log and the reason" grep -q "alog/audit.log: cannot append to the audit log: No space left on device" "$TMP/r5.log"
  check "audit log full: nothing published, no leftover" test "$(digests "$out")" = "$before"
  umount "$TMP/alog"
else
  missing "tmpfs mounts (root): audit-log-full case"
fi

# --- A full output file system: nothing published, the old set intact -----
if mkdir -p "$TMP/small" && mount -t tmpfs -o size=1200k tmpfs "$TMP/small" 2>/dev/null; then
  trap 'umount "$TMP/small" 2>/dev/null; rm -rf "$TMP"' EXIT
  plrun 2 run "$job" --out "$TMP/small/o" >"$TMP/s1.log" 2>&1
  check "small tmpfs: the first set fits" test $? -eq 0
  before=$(digests "$TMP/small/o")
  # Fill most of what is left, so the second set cannot be written.
  avail=$(df -k --output=avail "$TMP/small" | tail -1)
  dd if=/dev/zero of="$TMP/small/fill" bs=1k count=$((avail - 40)) 2>/dev/null
  sums() { (cd "$TMP/small/o" && sha256sum linked.h5 correspondence.h5); }
  sum0=$(sums)
  plrun 2 run "$job" --out "$TMP/small/o" >"$TMP/s2.log" 2>&1; rc=$?
  check "full file system: non-zero exit" test $rc -ne 0
  check "full file system: the message carries the system's reason" grep -q "No space left on device" "$TMP/s2.log"
  check "full file system: nothing published, the previous set intact" test "$(sums)" = "$sum0"
  rm -f "$TMP/small/fill"
  # HDF5 1.10 can stall in the collective close after a write error; the
  # close watchdog then ends the run (par/output.c) before it can clean up
  # or write its line: the next run does both.
  plrun 2 run "$job" --out "$TMP/small/o" >"$TMP/s3.log" 2>&1
  check "after a full file system: the next run succeeds" test $? -eq 0
  check "after a full file system: no temporary of the failed run is left" test -z "$(ls -A "$TMP/small/o" | grep tmp)"
  dead=$(sed -n 's#.*\.pseudolink-run\.tmp-\([0-9a-f]*\): removed the temporary.*#\1#p' "$TMP/s3.log")
  grep -q "\"run_id\":\"${dead:-none}\".*\"outcome\":\"failure\"" "$TMP/small/o/audit.log" ||
    grep -q '"outcome":"failure"' <(sed -n 2p "$TMP/small/o/audit.log")
  check "the failed run is audited (by itself, or by the next run that found it)" test $? -eq 0
  "$PL" verify --audit "$TMP/small/o/audit.log" "$TMP/small/o" >"$TMP/v" 2>&1
  check "full file system: verify passes afterwards" test $? -eq 0
  umount "$TMP/small"
else
  missing "tmpfs mounts (root): full-file-system case"
fi

# --- Only our own leftovers are removed -----------------------------------
mkdir -p "$out/.pseudolink-run.tmp-0123456789abcdef" "$out/.pseudolink-gen-fedcba9876543210"
echo "not ours" >"$out/.pseudolink-gen-fedcba9876543210/RUN_ID"
echo "a user's file" >"$out/.linked.h5.tmp-0123456789abcdef"
mkdir -p "$out/.pseudolink-run.tmp-00000000000000aa" && echo 00000000000000aa >"$out/.pseudolink-run.tmp-00000000000000aa/RUN_ID"
plrun 2 run "$job" --out "$out" >"$TMP/r6.log" 2>&1 || notok "run with lookalikes"
check "lookalikes: a user's .tmp- file is left alone" test -f "$out/.linked.h5.tmp-0123456789abcdef"
check "lookalikes: a directory without our marker is left alone" test -d "$out/.pseudolink-run.tmp-0123456789abcdef"
check "lookalikes: a directory whose marker names another run is left alone" test -d "$out/.pseudolink-gen-fedcba9876543210"
check "a real leftover of ours (marker matches) is removed, with a warning" \
  test ! -e "$out/.pseudolink-run.tmp-00000000000000aa" -a -n "$(grep 'removed the temporary of an unfinished run' "$TMP/r6.log")"
rm -rf "$out"/.pseudolink-run.tmp-0123456789abcdef "$out"/.pseudolink-gen-fedcba9876543210 "$out/.linked.h5.tmp-0123456789abcdef"

# --- Hostile symlinks: a run never removes anything outside <out> ---------
# `current` aimed out of the directory, or at the directory itself; a
# "generation" that is a symlink to another directory's published set; a
# marked directory owned by another user.
mkdir -p "$TMP/victim/sub" && echo precious >"$TMP/victim/a" && echo x >"$TMP/victim/sub/b"
plrun 2 run "$job" --out "$TMP/h" >"$TMP/h0.log" 2>&1 || notok "hostile: first run"
ln -sfn ../victim "$TMP/h/cur.new" && mv -T "$TMP/h/cur.new" "$TMP/h/current"
plrun 2 run "$job" --out "$TMP/h" >"$TMP/h1.log" 2>&1
check "current -> ../victim: the run publishes, the victim outside <out> is untouched" \
  test $? -eq 0 -a -f "$TMP/victim/a" -a -f "$TMP/victim/sub/b" -a "$(readlink "$TMP/h/current")" != ../victim
ln -sfn . "$TMP/h/cur.new" && mv -T "$TMP/h/cur.new" "$TMP/h/current"
plrun 2 run "$job" --out "$TMP/h" >"$TMP/h2.log" 2>&1
check "current -> .: the run does not wipe its own directory (audit log, new set)" \
  test $? -eq 0 -a -s "$TMP/h/audit.log" -a -f "$TMP/h/linked.h5"
"$PL" verify --audit "$TMP/h/audit.log" "$TMP/h" >"$TMP/v" 2>&1
check "current -> .: verify passes afterwards" test $? -eq 0
g=$(readlink "$out/current")
ln -s "$out/$g" "$TMP/h/$g"
plrun 2 run "$job" --out "$TMP/h" >"$TMP/h3.log" 2>&1
check "a planted symlink named like a generation: the set it points at is untouched" \
  test -f "$out/$g/linked.h5" -a -f "$out/$g/RUN_ID" -a -L "$TMP/h/$g"
rm -f "$TMP/h/$g"
mkdir -p "$TMP/h/.pseudolink-gen-00000000000000bb" && echo 00000000000000bb >"$TMP/h/.pseudolink-gen-00000000000000bb/RUN_ID"
echo theirs >"$TMP/h/.pseudolink-gen-00000000000000bb/data"
chown -R nobody "$TMP/h/.pseudolink-gen-00000000000000bb"
plrun 2 run "$job" --out "$TMP/h" >"$TMP/h4.log" 2>&1
check "a marked directory owned by another user is not ours: left alone" \
  test -f "$TMP/h/.pseudolink-gen-00000000000000bb/data"

# --- Rank 0 killed (SIGKILL, by gdb) at the phase boundaries of publishing -
# after sealing, before the audit line; after the line, before the swap.
if command -v gdb >/dev/null; then
  killed_at() {  # BREAKPOINT OUT: rank 0 dies there
    timeout 120 mpirun -np 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then
      exec gdb -q -batch -ex "break $0" -ex run -ex kill --args "$1" run "$2" --out "$3"
      else exec "$1" run "$2" --out "$3"; fi' "$1" "$PL" "$job" "$2" >"$TMP/kill.log" 2>&1
  }
  plrun 2 run "$job" --out "$TMP/k" >"$TMP/k0.log" 2>&1 || notok "kill: first run"
  for bp in pl_audit_append pl_gen_publish; do
    s0=$(sha256sum <"$TMP/k/linked.h5")
    killed_at $bp "$TMP/k"
    check "killed at $bp: linked.h5 is still the whole previous set" test "$(sha256sum <"$TMP/k/linked.h5")" = "$s0"
    "$PL" verify --audit "$TMP/k/audit.log" "$TMP/k" >"$TMP/v" 2>&1; rc=$?
    if [ $bp = pl_gen_publish ]; then
      check "killed before the swap: verify fails naming the unpublished run, not tampering" \
        test $rc -ne 0 -a -n "$(grep 'recorded as a success but its set is not current' "$TMP/v")" -a -z "$(grep 'changed since' "$TMP/v")"
    fi
    dead=$(ls -A "$TMP/k" | sed -n 's/^\.pseudolink-gen-//p' | grep -vx "$(readlink "$TMP/k/current" | sed 's/^\.pseudolink-gen-//')")
    plrun 2 run "$job" --out "$TMP/k" >"$TMP/k1.log" 2>&1
    check "killed at $bp: the next run succeeds" test $? -eq 0
    check "killed at $bp: the next run audits the dead run's sealed set" \
      test -n "$dead" -a -n "$(grep "\"command\":\"publish\".*\"run_id\":\"$dead\".*\"found_by\".*\"outcome\":\"failure\"" "$TMP/k/audit.log")"
    "$PL" verify --audit "$TMP/k/audit.log" "$TMP/k" >"$TMP/v" 2>&1
    check "killed at $bp: verify passes after the next run" test $? -eq 0
  done
  # A rewrap while a run stands between its audit line and the swap: it
  # would write into the generation the run is about to remove (its line a
  # success, its file gone). It waits for no one: refused, audited.
  cat >"$TMP/new2.yaml" <<Y
custody:
  threshold: 2
  custodians:
    - {name: carol, role: data_protection_officer, public_key: $K/carol.pub.pem}
    - {name: dave, role: research_director, public_key: $K/dave.pub.pem}
Y
  RW="$PL rewrap --corr $TMP/k/correspondence.h5 $(key alice) $(key carol) --custody $TMP/new2.yaml"
  export RW TMP
  timeout 120 mpirun -np 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then
    exec gdb -q -batch -ex "break pl_gen_publish" -ex run -ex "shell $RW >$TMP/rwrace.log 2>&1; echo \$? >$TMP/rwrace.rc" -ex continue --args "$1" run "$2" --out "$3"
    else exec "$1" run "$2" --out "$3"; fi' x "$PL" "$job" "$TMP/k" >"$TMP/kill.log" 2>&1
  check "rewrap during a run's publication: refused (the output lock)" \
    test "$(cat "$TMP/rwrace.rc")" != 0 -a -n "$(grep 'another run is using the output directory' "$TMP/rwrace.log")"
  "$PL" verify --audit "$TMP/k/audit.log" "$TMP/k" >"$TMP/v" 2>&1
  check "rewrap during a run's publication: verify passes (no lost rewrap recorded as done)" test $? -eq 0
else
  missing "gdb: rank 0 killed while publishing"
fi

# --- A refused extract leaves no byte on disk, in any name -----------------
sed -e "s#inputs/keys/#$TMP/keys/#g" -e "s#^store: .*#store: $ROOT/inputs/regression.h5#" \
  "$ROOT/jobs/extracts.yaml" >"$TMP/x.yaml"
plrun 2 run "$TMP/x.yaml" --out "$TMP/x" >"$TMP/x.log" 2>&1; rc=$?
check "extracts: exit 3 (cardio refused)" test $rc -eq 3
check "refused extract: no file of it anywhere under the output" test -z "$(find "$TMP/x" -name '*cardio*')"
check "exit 3: the summary lists linked.h5 and the diabetes extract only" \
  grep -qx "published: $TMP/x/linked.h5, $TMP/x/extracts/diabetes.h5" "$TMP/x.log"
"$PL" verify --audit "$TMP/x/audit.log" "$TMP/x" >"$TMP/v" 2>&1
check "exit 3: verify checks every published file, extracts included" \
  test $? -eq 0 -a -n "$(grep 'extracts/diabetes.h5 matches' "$TMP/v")"

# --- Stores whose bytes live in other files are refused -------------------
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 - "$ROOT/inputs/regression.h5" "$TMP" <<'PY'
import h5py, numpy as np, shutil, sys
src, tmp = sys.argv[1], sys.argv[2]
with h5py.File(f'{tmp}/other.h5', 'w') as o:
    o['x'] = np.arange(4, dtype='i4')
for kind in ['extlink', 'external', 'vds']:
    dst = f'{tmp}/st_{kind}.h5'
    shutil.copy(src, dst)
    with h5py.File(dst, 'a') as f:
        if kind == 'extlink':
            f['/sources/extra'] = h5py.ExternalLink(f'{tmp}/other.h5', '/x')
        elif kind == 'external':
            f.create_dataset('/aux/ext', data=np.arange(10),
                             external=[(f'{tmp}/raw.bin', 0, h5py.h5f.UNLIMITED)])
        else:
            lay = h5py.VirtualLayout(shape=(4,), dtype='i4')
            lay[:] = h5py.VirtualSource(f'{tmp}/other.h5', 'x', shape=(4,))
            f.create_virtual_dataset('/aux/vds', lay)
PY
  for k in extlink:/sources/extra external:/aux/ext vds:/aux/vds; do
    n=${k%%:*} obj=${k#*:}
    plrun 2 run "$job" --store "$TMP/st_$n.h5" --out "$TMP/o_$n" >"$TMP/o_$n.log" 2>&1; rc=$?
    check "store with $n: refused, naming $obj" test $rc -ne 0 -a -n "$(grep "st_$n.h5: $obj is" "$TMP/o_$n.log")"
    check "store with $n: nothing published" test ! -e "$TMP/o_$n/linked.h5"
  done
else
  missing "h5py (package python3-h5py): external-data stores"
fi

# --- Custodians' work goes into the directory's own chain -----------------
pid=$(/usr/bin/python3 -c "import h5py;print(h5py.File('$out/linked.h5')['/linked/pharmacy/pid'][0].decode())" 2>/dev/null)
n0=$(wc -l <"$out/audit.log")
"$PL" reveal --corr "$out/correspondence.h5" $(key alice) --reason T-1 "$pid" >"$TMP/o" 2>"$TMP/e"; rc=$?
tail -n 1 "$out/audit.log" | grep -q '"command":"reveal".*"reason":"T-1".*"pids_requested":\["'"$pid"'"\].*"outcome":"failure"'
check "a refused reveal (one role) is audited in <out>/audit.log with its reason and pids" test $? -eq 0 -a $rc -ne 0
"$PL" reveal --corr "$out/correspondence.h5" $(key alice) $(key carol) --reason T-2 "$pid" 0123456789abcdef0123456789abcdef >"$TMP/o" 2>"$TMP/e"; rc=$?
tail -n 1 "$out/audit.log" | grep -q '"pids_found":\["'"$pid"'"\].*"outcome":"failure","error":"1 of 2 pids'
check "a partial reveal is audited with what was found" test $? -eq 0 -a $rc -ne 0
"$PL" reveal --corr "$out/correspondence.h5" $(key alice) $(key carol) --reason T-3 "$pid" >"$TMP/o" 2>"$TMP/e"
check "a reveal prints the p1 after its audit line (head on stderr)" test -s "$TMP/o" -a -n "$(grep 'audit .*audit.log head [0-9a-f]\{64\}' "$TMP/e")"
check "three custodian lines added to the run's chain" test "$(wc -l <"$out/audit.log")" -eq $((n0 + 3))
"$PL" verify --audit "$out/audit.log" "$out" >"$TMP/v" 2>&1
check "verify passes after normal custodian work (reveals)" test $? -eq 0
cat >"$TMP/new.yaml" <<Y
custody:
  threshold: 2
  custodians:
    - {name: carol, role: data_protection_officer, public_key: $K/carol.pub.pem}
    - {name: dave, role: research_director, public_key: $K/dave.pub.pem}
Y
"$PL" rewrap --corr "$out/correspondence.h5" $(key alice) $(key carol) --custody "$TMP/new.yaml" >"$TMP/o" 2>&1
check "in-place rewrap succeeds and keeps the stable name a link" test $? -eq 0 -a -L "$out/correspondence.h5"
"$PL" verify --audit "$out/audit.log" "$out" >"$TMP/v" 2>&1
check "verify passes after an in-place rewrap" test $? -eq 0
h=$(grep -o 'head [0-9a-f]*' "$TMP/o" | tail -1 | cut -d' ' -f2)
b=$(od -An -tu1 -j3000 -N1 "$out/linked.h5" | tr -d ' ')
printf "\\$(printf %o $((b ^ 255)))" | dd of="$out/linked.h5" bs=1 seek=3000 conv=notrunc 2>/dev/null
"$PL" verify --audit "$out/audit.log" "$out" >"$TMP/v" 2>&1
check "verify still fails after real tampering (a byte of linked.h5)" test $? -ne 0
head -n -1 "$out/audit.log" >"$TMP/cut.log"
"$PL" verify --audit "$TMP/cut.log" --expect-head "$h" >"$TMP/v" 2>&1
check "verify --expect-head fails on a truncated tail" test $? -ne 0 -a -n "$(grep 'not the expected' "$TMP/v")"

# --- A planted `current` pointing outside is never followed ---------------
mkdir -p "$TMP/victim/.pseudolink-gen-00000000000000bb"
echo 00000000000000bb >"$TMP/victim/.pseudolink-gen-00000000000000bb/RUN_ID"
echo precious >"$TMP/victim/.pseudolink-gen-00000000000000bb/data"
rm -f "$out/current" && ln -s "../victim/.pseudolink-gen-00000000000000bb" "$out/current"
plrun 2 run "$job" --out "$out" >"$TMP/r7.log" 2>&1
check "planted current: the run publishes its own set" test $? -eq 0 -a "$(readlink "$out/current" | cut -c1-16)" = .pseudolink-gen-
check "planted current: nothing outside the output directory removed" test -f "$TMP/victim/.pseudolink-gen-00000000000000bb/data"

# --- A very full file system: a clean failure, never a crash --------------
if mkdir -p "$TMP/tiny" && mount -t tmpfs -o size=64k tmpfs "$TMP/tiny" 2>/dev/null; then
  plrun 2 run "$job" --out "$TMP/tiny/o" >"$TMP/t.log" 2>&1; rc=$?
  check "64 KiB file system: exit status 1, not a crash (status $rc)" test $rc -eq 1
  check "64 KiB file system: no segmentation fault at shutdown" test -z "$(grep -i 'segmentation fault' "$TMP/t.log")"
  check "64 KiB file system: nothing published" test ! -e "$TMP/tiny/o/linked.h5"
  umount "$TMP/tiny"
else
  missing "tmpfs mounts (root): very-full-file-system case"
fi
