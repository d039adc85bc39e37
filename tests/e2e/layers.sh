#!/usr/bin/env bash
# The layer rule of src/ (base -> par -> crypto -> job -> stage -> cmd):
# includes and symbol references point to the same layer or below, and no
# two modules depend on each other through a loop. Details: layers.py.
source "$(dirname "$0")/../lib/common.sh"
python3 "$ROOT/tests/e2e/layers.py" "$ROOT/src" "$ROOT/build"

# The check must be able to fail: a copy of src/ where a base file includes
# a stage header, and one where two headers include each other.
cp -r "$ROOT/src" "$TMP/src"
sed -i '0,/#include "base\/log.h"/s//#include "base\/log.h"\n#include "stage\/run.h"/' \
  "$TMP/src/base/mem.c"
if python3 "$ROOT/tests/e2e/layers.py" "$TMP/src" "$ROOT/build" >"$TMP/bad.log" 2>&1; then
  notok "a base file including a stage header is caught"
else
  grep -q 'not ok - includes: every dependency points' "$TMP/bad.log" &&
  grep -q 'base/mem.c -> stage/run.h' "$TMP/bad.log"
  check "a base file including a stage header is caught (names base/mem.c -> stage/run.h)" test $? -eq 0
fi
cp -r "$ROOT/src" "$TMP/src2"
sed -i '0,/#include <stdint.h>/s//#include <stdint.h>\n#include "stage\/owner.h"/' "$TMP/src2/stage/pseudonym.h"
python3 "$ROOT/tests/e2e/layers.py" "$TMP/src2" "$ROOT/build" >"$TMP/loop.log" 2>&1
grep -q 'not ok - includes: no two files depend on each other through a loop' "$TMP/loop.log"
check "two headers including each other are caught" test $? -eq 0
