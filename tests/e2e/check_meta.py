#!/usr/bin/python3
"""Self-describing outputs, read with h5py as a researcher would (from
docs/FORMATS.md section 5.1 alone). Prints ok / not ok lines.

usage: check_meta.py LINKED EXTRACT
"""
import sys
import h5py

linked_path, extract_path = sys.argv[1:3]
failed = 0


def check(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + "metadata: " + what)
    failed += 0 if cond else 1


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return out


def utf8(ds):
    return ds.id.get_type().get_cset() == h5py.h5t.CSET_UTF8


L = h5py.File(linked_path, "r")
X = h5py.File(extract_path, "r")
for name, f in (("linked.h5", L), ("extract", X)):
    ds = datasets(f)
    bad = [n for n, d in ds.items()
           if not isinstance(d.attrs.get("description"), str) or not d.attrs.get("description")]
    check(len(ds) > 10 and not bad,
          f"{name}: all {len(ds)} datasets carry a description read as str (missing: {bad})")
    attrs_utf8 = all(d.attrs.get_id("description").get_type().get_cset() == h5py.h5t.CSET_UTF8
                     for d in ds.values())
    check(attrs_utf8, f"{name}: descriptions are UTF-8-tagged strings")
    strs = [n for n, d in ds.items() if d.dtype.kind == "S"]
    check(strs and all(utf8(ds[n]) for n in strs),
          f"{name}: every string dataset is fixed-length and UTF-8-tagged ({len(strs)})")
    check(all(h5py.check_string_dtype(ds[n].dtype).length for n in strs),
          f"{name}: string datasets are fixed-length")
    pid = f["linked/hospital_stays/pid"]
    p0 = pid.asstr()[0]
    check(isinstance(p0, str) and p0 == pid[0].decode() and len(p0) == 32,
          f"{name}: pid.asstr()[...] gives str equal to the hex pid")

st = L["linked/hospital_stays"]
a = st["los"].attrs
# the store's own attributes win over the job's columns: entry
check(a["description"] == "durée du séjour" and a["units"] == "days",
      "los: description and units from the store's attributes, not the job's")
check(st["cost"].attrs.get("units") == "EUR" and st["cost"].attrs.get("description") == "cost of the stay",
      "cost: units EUR and description from the job's columns:")
check(st["diagnosis"].attrs.get("code_system") == "ICD-10", "diagnosis: code_system ICD-10")
check(L["linked/pharmacy/atc"].attrs.get("code_system") == "ATC", "atc: code_system ATC")
check(st["stay_date"].attrs.get("date_format") == "YYYYMMDD" and st["stay_date"].dtype == "int32",
      "stay_date: int32 with date_format YYYYMMDD")
check(L["linked/deaths/death_date"].attrs.get("date_format") == "YYYYMMDD",
      "death_date: date_format from a fixed-length ASCII store attribute")
check("carried from the store" in L["linked/pharmacy/dispense_date"].attrs.get("description"),
      "a column described nowhere gets a generic description")
check(all(k not in st["row"].attrs for k in ("code_system", "date_format")) and
      st["row"].attrs.get("units") == "row index", "row: built-in description and units")
check(L["persons/deaths"].attrs.get("units") == "records", "persons/<source>: units records")

diag = st["diagnosis"].asstr()[:]
check("I639" in set(diag) and sum(d == "I639" for d in diag) ==
      sum(b == b"I639" for b in st["diagnosis"][:]),
      "diagnosis.asstr() compares equal to Python str ('I639')")
note = L["linked/deaths/note"].asstr()[:]
check(any("é" in n for n in note), "a UTF-8 store string reads back as str with its accent")

# Reject reasons: an HDF5 enum whose names are the documented codes.
reasons = ["ok", "nir_length", "nir_charset", "nir_sex", "nir_month", "nir_place",
           "nir_order", "nir_key", "birth_date", "sex", "sex_mismatch",
           "date_mismatch", "birth_rank"]
for s in ("hospital_stays", "deaths"):
    e = h5py.check_enum_dtype(L["rejects"][s]["reason"].dtype)
    check(e == {n: i for i, n in enumerate(reasons)},
          f"rejects/{s}/reason: enum on uint8 with the documented names and codes")
codes = [c.decode() for c in L["rejects"].attrs.get("reason_codes")]
check(codes == [f"{i}={n}" for i, n in enumerate(reasons)],
      "rejects@reason_codes kept for older readers")

# Extract: generalised columns say so; bands are an enum in band order.
xs = X["linked/hospital_stays"]
sd = xs["stay_date"].attrs
check(sd["date_format"] == "YYYY" and "not a date" in sd["description"] and
      sd["generalisation"] == b"year", "extract stay_date: date_format YYYY, 'not a date', generalisation year")
check(X["linked/deaths/death_date"].attrs.get("date_format") == "YYYYMM",
      "extract death_date (month): date_format YYYYMM")
e = h5py.check_enum_dtype(xs["los"].dtype)
labels = [k for k, v in sorted(e.items(), key=lambda kv: kv[1])] if e else []
check(labels == ["<0", "[0,3)", "[3,7)", "[7,30)", ">=30", "NaN"],
      f"extract los: enum labels in band order {labels}")
check(xs["los"].attrs.get("units") == "days" and "bands" in xs["los"].attrs.get("description"),
      "extract los: keeps units days, description says bands")
# Every stored value is one of the labelled bands.
xv = xs["los"][:]
check(len(xv) > 0 and e and all(int(v) in e.values() for v in xv),
      "extract los: every value is a labelled band")
check(xs["diagnosis"].attrs.get("code_system") == "ICD-10",
      "extract diagnosis keeps code_system ICD-10")

sys.exit(1 if failed else 0)
