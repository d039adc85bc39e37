#!/usr/bin/env bash
# The CSV reader of `produce` (base/csv.c, par/csv_split.c) end to end:
#  - the MPI split at 3 ranks (tests/bin/csv_split under mpirun):
#    parts of random tricky files equal one pass, line numbers included;
#  - a cross-check with Python's csv module: files written by csv.writer
#    (delimiters , ; tab, given or detected; CRLF or LF; minimal or full
#    quoting; quotes, delimiters and newlines in fields; UTF-8 with 4-byte
#    characters, or Latin-1), read by pseudolink's reader (one rank, and 3
#    ranks for some), must give exactly Python's records and start lines.
source "$(dirname "$0")/../lib/common.sh"
BIN=$ROOT/tests/bin/csv_split
[ -x "$BIN" ] || { notok "tests/bin/csv_split is built"; exit 1; }

mpirun -np 3 "$BIN" >"$TMP/split.log" 2>&1
rc=$?
grep -E '^(ok|not ok) - ' "$TMP/split.log"
[ $rc -eq 0 ] || { notok "mpirun -np 3 csv_split exits 0"; tail -n 20 "$TMP/split.log"; }

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
