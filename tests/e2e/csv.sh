#!/usr/bin/env bash
# The CSV reader of `produce` (base/csv.c, par/csv_split.c) end to end:
#  - the MPI split at 3 ranks (tests/bin/csv_split under mpirun):
#    parts of random tricky files equal one pass, line numbers included;
#  - a cross-check with Python's csv module: files written by csv.writer
#    (delimiters , ; tab, given or detected; CRLF or LF; minimal or full
#    quoting; quotes, delimiters and newlines in fields; UTF-8 with 4-byte
#    characters, or Latin-1), read by pseudolink's reader (one rank, and 3
#    ranks for some), must give exactly Python's records and start lines;
#  - errors under mpirun: in rank 0's part, and in a later rank's part
#    (printed once, the first in file order, never the value).
source "$(dirname "$0")/../lib/common.sh"
BIN=$ROOT/tests/bin/csv_split
[ -x "$BIN" ] || { notok "tests/bin/csv_split is built"; exit 1; }

mpirun -np 3 "$BIN" >"$TMP/split.log" 2>&1
rc=$?
grep -E '^(ok|not ok) - ' "$TMP/split.log"
[ $rc -eq 0 ] || { notok "mpirun -np 3 csv_split exits 0"; tail -n 20 "$TMP/split.log"; }
check "a file only the last rank cannot open: that rank says why, once" \
  test "$(grep -c 'rank 2\] error: /tmp/csv_split_nodelocal.missing: cannot open CSV file: No such file or directory' "$TMP/split.log")" = 1

PY=/usr/bin/python3
mkdir -p "$TMP/x"
N=40
if ! $PY tests/e2e/csv_gen.py "$TMP/x" $N 7 2>"$TMP/gen.log"; then
  notok "csv_gen.py writes the files"; cat "$TMP/gen.log"; exit 1
fi
for i in $(seq 0 $((N - 1))); do
  echo "$TMP/x/$i.csv $TMP/x/$i.got $(cat "$TMP/x/$i.args")"
done >"$TMP/list1"
sed 's#\.got #.got3 #' "$TMP/list1" >"$TMP/list3"
"$BIN" --dump-list "$TMP/list1" >"$TMP/dump1.log" 2>&1
mpirun -np 3 "$BIN" --dump-list "$TMP/list3" >"$TMP/dump3.log" 2>&1
for np in 1 3; do
  same=0 diffs=""
  for i in $(seq 0 $((N - 1))); do
    got=$TMP/x/$i.got; [ $np = 3 ] && got=$TMP/x/$i.got3
    if cmp -s "$got" "$TMP/x/$i.want"; then same=$((same + 1)); else diffs="$diffs $i"; fi
  done
  if [ $same -eq $N ]; then
    ok "Python csv.writer files read by $np rank(s): every record and start line as Python's ($N files)"
  else
    notok "Python csv.writer files read by $np rank(s): every record and start line as Python's ($same/$N; differ:$diffs)"
    i=${diffs# }; i=${i%% *}
    cat "$TMP/dump$np.log"; cat "$TMP/x/$i.args"; diff "$TMP/x/$i.want" "$got" | head -n 10
  fi
done

# A CSV error under mpirun: non-zero exit, file:line:col, not the value.
printf 'a,b\n1,2\n"x\ny",2\nSECRET_VALUE,2,3\n' >"$TMP/bad.csv"
mpirun -np 2 "$BIN" --dump "$TMP/bad.csv" , utf-8 a b >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
check "a CSV error under mpirun exits non-zero" test $rc -ne 0
check "the error names file:line:col and the field" \
  grep -q "bad.csv:5:16: field 3: too many fields (expected 2, as in the header)" "$TMP/bad.err"
check "the error never shows the value" bash -c "! grep -q SECRET_VALUE '$TMP/bad.err' '$TMP/bad.out'"

# An error in another rank's part is printed, once, as one pass gives it:
# readers on ranks > 0 are quiet (the header's errors are rank 0's to
# print), so the verdict prints the first failing rank's message. The
# stray quote of the second file flips the parity the later ranks start
# from: their own (spurious) errors must not be printed.
$PY - "$TMP" <<'PY'
import sys
t = sys.argv[1]
for name, bad_at, bad in (("late", 1900, "SECRET_NIR_1,2,3"),
                          ("stray", 700, 'SECRET_NIR_2,x"y')):
    with open("%s/%s.csv" % (t, name), "w") as f:
        f.write("a,b\n")
        for i in range(2000):     # stray: quoted newlines after the quote
            f.write(bad + "\n" if i == bad_at else
                    '%d,"v\n%d"\n' % (i, i) if name == "stray" else
                    '%d,"v,%d"\n' % (i, i))
PY
for t in "late:1902:16: field 3: too many fields (expected 2, as in the header)" \
         "stray:1402:15: column 'b' (field 2): quote inside an unquoted field"; do
  f=${t%%:*} want=${t#*:}
  mpirun -np 4 "$BIN" --dump "$TMP/$f.csv" , utf-8 a b >"$TMP/$f.out" 2>"$TMP/$f.err"
  rc=$?
  n=$(grep -c 'error: ' "$TMP/$f.err")
  if [ $rc -ne 0 ] && [ "$n" -eq 1 ] && grep -q "$f.csv:$want" "$TMP/$f.err" &&
     ! grep -q SECRET_NIR "$TMP/$f.err" "$TMP/$f.out"; then
    ok "4 ranks, an error in a later rank's part ($f.csv): printed once, file:line:col as one pass, no value"
  else
    notok "4 ranks, an error in a later rank's part ($f.csv): printed once, file:line:col as one pass, no value (rc $rc, $n messages)"
    grep error "$TMP/$f.err"
  fi
done
