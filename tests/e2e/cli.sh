#!/usr/bin/env bash
# A conventional command line (issue 16; docs/CLI.md): every subcommand
# main.c dispatches answers --help and -h on stdout with exit 0 (usage
# line, options, example, exit statuses) without mpirun; docs/CLI.md holds
# the same text; --version names the commit and the four libraries; the
# man page made from the same text installs with `make install DESTDIR=`
# and renders.
source "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3

# --- 1. --help / -h of every subcommand -------------------------------------
cmds=$(grep -o 'strcmp(cmd, "[a-z]*") == 0)$' "$ROOT/src/cmd/main.c" | sed 's/.*"\([a-z]*\)".*/\1/' | sort -u)
check "main.c dispatches at least 8 subcommands ($(echo $cmds))" test "$(echo "$cmds" | wc -w)" -ge 8
for c in $cmds; do
  for h in --help -h; do
    "$PL" "$c" "$h" >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
    if [ "$rc" -eq 0 ] && head -n 1 "$TMP/h.out" | grep -q "^Usage: pseudolink $c " &&
       grep -q '^Options:$' "$TMP/h.out" && grep -q '^Example:$' "$TMP/h.out" &&
       grep -q "^  pseudolink $c \|^  mpirun .*pseudolink $c " "$TMP/h.out" &&
       grep -q '^Exit status:$' "$TMP/h.out" && grep -q '^  3 ' "$TMP/h.out" && [ ! -s "$TMP/h.err" ]; then
      ok "$c $h: exit 0, usage line, options, example, exit statuses on stdout"
    else
      notok "$c $h (rc=$rc)"; head -n 3 "$TMP/h.out" "$TMP/h.err"
    fi
  done
done
# After other arguments too, and `help CMD`.
"$PL" run jobs/none.yaml --out /nonexistent --help >"$TMP/h.out" 2>&1; rc=$?
check "run JOB --out DIR --help: the help, nothing run (exit 0)" \
  test "$rc" -eq 0 -a "$(head -c 21 "$TMP/h.out")" = "Usage: pseudolink run"
"$PL" help reveal >"$TMP/h.out" 2>&1; rc=$?
check "help reveal: the reveal help (exit 0)" test "$rc" -eq 0 -a "$(head -c 24 "$TMP/h.out")" = "Usage: pseudolink reveal"
"$PL" --help >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
check "--help: exit 0, the overview lists every command" \
  test "$rc" -eq 0 -a "$(for c in $cmds; do grep -c "^  $c " "$TMP/h.out"; done | grep -c '^1$')" -eq "$(echo "$cmds" | wc -w)"
"$PL" >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
check "no command: exit 2, the overview on stderr" test "$rc" -eq 2 -a ! -s "$TMP/h.out" -a -s "$TMP/h.err"
"$PL" frobnicate >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
check "unknown command: exit 2" test "$rc" -eq 2
"$PL" run >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
check "run without a job: exit 2 (usage)" test "$rc" -eq 2
"$PL" synth --persons x -o "$TMP/s.h5" >"$TMP/h.out" 2>"$TMP/h.err"; rc=$?
check "synth --persons x: exit 2 (usage)" test "$rc" -eq 2
# A bad or missing option value is a usage error (2) in every command, never
# taken for a file (1) or answered with the wrong status.
usage2() {
  local name=$1; shift
  "$PL" "$@" >"$TMP/u.out" 2>"$TMP/u.err"; rc=$?
  check "$name: exit 2 (usage), rc=$rc: $(head -n 1 "$TMP/u.err" | cut -c1-90)" test "$rc" -eq 2
}
usage2 "digest --leaf without a value" digest --leaf
usage2 "digest --leaf 0 after a file" digest "$TMP/u.out" --leaf 0
usage2 "verify --expect-head not a hash" verify --audit "$TMP/none.log" --expect-head zz
usage2 "keygen --bits abc" keygen --custodian x --dir "$TMP" --bits abc
usage2 "keygen --bits 12" keygen --custodian x --dir "$TMP" --bits 12
usage2 "run --progress without a value" run jobs/regression.yaml --progress
check "run --progress without a value: says the option needs a value" grep -q -- "--progress needs a value" "$TMP/u.err"
# keygen --custodian after another of its options (the order the usage
# line does not impose).
mkdir -p "$TMP/kd"
PSEUDOLINK_PASSPHRASE=correct-horse-battery "$PL" keygen --dir "$TMP/kd" --custodian eve --bits 3072 >"$TMP/u.out" 2>"$TMP/u.err"; rc=$?
check "keygen --dir D --custodian NAME: the pair is written (rc=$rc)" test "$rc" -eq 0 -a -e "$TMP/kd/eve.pub.pem"
# --help and --version whose output cannot be written: an error, not 0.
"$PL" --version >/dev/full 2>"$TMP/u.err"; rc=$?
check "--version >/dev/full: exit 1 with the reason (rc=$rc)" test "$rc" -eq 1 -a -n "$(grep "No space left" "$TMP/u.err")"
"$PL" run --help >/dev/full 2>"$TMP/u.err"; rc=$?
check "run --help >/dev/full: exit 1 with the reason (rc=$rc)" test "$rc" -eq 1 -a -n "$(grep "No space left" "$TMP/u.err")"
# Without MPI_Init: with an MPI environment that makes MPI_Init fail (a
# point-to-point layer that does not exist), the help still answers.
OMPI_MCA_pml=bogus "$PL" run --help >/dev/null 2>&1; rc=$?
check "run --help where MPI_Init would fail (it is never called): exit 0" test "$rc" -eq 0
OMPI_MCA_pml=bogus "$PL" --version >/dev/null 2>&1; rc=$?
check "--version where MPI_Init would fail: exit 0" test "$rc" -eq 0
OMPI_MCA_pml=bogus "$PL" run >/dev/null 2>&1; rc=$?
check "... (that environment does break MPI_Init: 'run' alone gives rc=$rc, not its usage status 2)" test "$rc" -ne 2 -a "$rc" -ne 0

# --- 2. docs/CLI.md holds the same text -------------------------------------
"$PY" - "$PL" "$ROOT/docs/CLI.md" $cmds >"$TMP/doc.out" <<'EOF'
import subprocess, sys
pl, doc, cmds = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3:]
bad = 0
for c in cmds:
    out = subprocess.run([pl, c, "--help"], capture_output=True, text=True).stdout
    body, _, table = out.partition("\nExit status:\n")
    block = "```text\n" + body.rstrip("\n") + "\n```"
    if block not in doc:
        print(f"not ok - docs/CLI.md: the block of '{c}' differs from `pseudolink {c} --help`")
        bad = 1
    else:
        print(f"ok - docs/CLI.md: '{c}' block is the --help text")
# The one exit-status table: every status of --help, with its meaning.
for line in table.splitlines():
    parts = line.split(None, 1)
    if len(parts) == 2 and (parts[0].isdigit() or parts[0] == ">128"):
        row = "| " + parts[0] + " | " + parts[1]
        if not any(l.startswith(row) for l in doc.splitlines()):
            print(f"not ok - docs/CLI.md: exit table lacks '{row}'")
            bad = 1
print("ok - docs/CLI.md: the exit status table has every status of --help" if not bad else "")
EOF
cat "$TMP/doc.out" | grep -v '^$'

# --- 3. --version ---------------------------------------------------------
"$PL" --version >"$TMP/v.out" 2>"$TMP/v.err"; rc=$?
check "--version: exit 0" test "$rc" -eq 0
check "--version: first line 'pseudolink VERSION'" grep -Eq '^pseudolink [0-9]+\.[0-9]+\.[0-9]+$' <(head -n 1 "$TMP/v.out")
for re in '^MPI: Open MPI v[0-9]+\.[0-9]+' '^HDF5: [0-9]+\.[0-9]+\.[0-9]+' '^OpenSSL: OpenSSL [0-9]+\.[0-9]+' '^libyaml: [0-9]+\.[0-9]+\.[0-9]+$'; do
  check "--version: a line /$re/" grep -Eq "$re" "$TMP/v.out"
done
if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
  head=$(git -C "$ROOT" rev-parse --short=12 HEAD)
  check "--version: the commit built from ($head)" grep -Eq "^commit $head(-dirty)?$" "$TMP/v.out"
else
  check "--version: commit unknown outside git" grep -qx "commit unknown" "$TMP/v.out"
fi
# From a tarball (no .git): the Makefile passes "unknown".
mkdir -p "$TMP/tb/src/base"
cp "$ROOT/Makefile" "$TMP/tb/"; cp "$ROOT"/src/base/version.[ch] "$TMP/tb/src/base/"
make -s -C "$TMP/tb" build/base/version.o >"$TMP/tb.log" 2>&1
check "a tree without .git builds version.o with commit 'unknown'" \
  grep -q 'PL_GIT_COMMIT=unknown$' "$TMP/tb/build/version.stamp"

# --- 4. Man page, make install ------------------------------------------------
if ! command -v help2man >/dev/null || ! command -v man >/dev/null; then
  missing "help2man and man (DEPS_TEST)"
else
  make -s -C "$ROOT" install PREFIX=/usr DESTDIR="$TMP/inst" >"$TMP/inst.log" 2>&1; rc=$?
  check "make install DESTDIR=... PREFIX=/usr: exit 0" test "$rc" -eq 0
  check "make install: the binary" test -x "$TMP/inst/usr/bin/pseudolink"
  page=$TMP/inst/usr/share/man/man1/pseudolink.1
  check "make install: the man page" test -f "$page"
  MANWIDTH=100 man -l "$page" 2>"$TMP/man.err" | col -b >"$TMP/man.txt"
  check "man -l renders it: NAME, SYNOPSIS, every command, the exit statuses" \
    test -n "$(grep -x 'NAME' "$TMP/man.txt")" -a -n "$(grep -x 'SYNOPSIS' "$TMP/man.txt")" \
      -a "$(for c in $cmds; do grep -c "^   pseudolink $c:" "$TMP/man.txt"; done | grep -c '^1$')" -eq "$(echo "$cmds" | wc -w)" \
      -a -n "$(grep 'killed by a signal' "$TMP/man.txt")"
  check "man -l: the run options are there (--progress)" grep -q -- "--progress SECONDS" "$TMP/man.txt"
  groff -man -Tutf8 -ww "$page" >/dev/null 2>"$TMP/groff.err"
  check "groff renders it without warnings" test ! -s "$TMP/groff.err"
fi
