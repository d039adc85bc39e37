#!/usr/bin/env bash
# The distributed greedy one-to-one matching of the linkage (par/assign.h):
# tests/bin/test_assign (run alone by tests/run.sh as a singleton) under
# mpirun -np 2, 3 and 4, where each left vertex's edges sit on one rank and
# right vertices on others: the matching must be the sequential greedy's.
source "$(dirname "$0")/../lib/common.sh"
for np in 2 3 4; do
  mpirun -np "$np" "$ROOT/tests/bin/test_assign" 2>&1 |
    sed -E "s/^(not )?ok - /&mpirun -np $np: /" | grep -E '^(not )?ok - '
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || notok "test_assign under mpirun -np $np exited with status $rc"
done
