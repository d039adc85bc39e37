#!/usr/bin/env bash
# Outputs read by independent readers with the documented names and types:
# h5dump (HDF5's own tool) and h5py (what epidemiologists use).
source "$(dirname "$0")/../lib/common.sh"
job=$TMP/job.yaml
regression_job "$job" keyed
plrun 2 run "$job" --out "$TMP/out" >"$TMP/run.log" 2>&1 || { notok "run"; cat "$TMP/run.log"; exit 1; }
F=$TMP/out/linked.h5

hdr=$(h5dump -H "$F")
want() { # object-path type-fragment
  h5dump -H -d "$1" "$F" 2>/dev/null | tr -s ' \n' ' ' | grep -q -- "$2"
}
check "h5dump: /linked/hospital_stays/pid is a 32-byte string" want /linked/hospital_stays/pid "STRSIZE 32"
check "h5dump: /linked/hospital_stays/row is uint64" want /linked/hospital_stays/row "H5T_STD_U64LE"
check "h5dump: /linked/hospital_stays/stay_date is int32" want /linked/hospital_stays/stay_date "H5T_STD_I32LE"
check "h5dump: /linked/hospital_stays/diagnosis keeps its string type" want /linked/hospital_stays/diagnosis "STRSIZE 6"
check "h5dump: /links/source is uint16" want /links/source "H5T_STD_U16LE"
check "h5dump: /links/row is uint64" want /links/row "H5T_STD_U64LE"
check "h5dump: /persons/pharmacy is uint32" want /persons/pharmacy "H5T_STD_U32LE"
check "h5dump: /rejects/hospital_stays/reason is uint8" want /rejects/hospital_stays/reason "H5T_STD_U8LE"
echo "$hdr" | grep -q 'DATASET "quantity"'
check "dropped column pharmacy/quantity is not in the output" test $? -ne 0
echo "$hdr" | grep -q 'DATASET "nir"\|DATASET "p1"\|DATASET "birth_date"'
check "no identity column is carried into the output" test $? -ne 0

if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 tests/e2e/read_outputs.py "$ROOT/inputs/regression.h5" "$F"
else
  missing "h5py (package python3-h5py): outputs not read back"
fi
