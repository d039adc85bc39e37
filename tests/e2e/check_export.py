#!/usr/bin/python3
"""`pseudolink export` output read back with Python's csv module and
compared with h5py's reading of the same datasets, following
docs/FORMATS.md section 7 only. Prints ok / not ok lines.

usage: check_export.py FILE.h5 GROUP CSV
"""
import csv
import datetime
import math
import sys
import h5py

path, group, csv_path = sys.argv[1:4]
failed = 0


def check(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + f"export {group}: " + what)
    failed += 0 if cond else 1


def expected(ds, parent):
    """The documented CSV text of each value of ds."""
    enum = h5py.check_enum_dtype(ds.dtype)
    fmt = ds.attrs.get("date_format")
    if enum:
        label = {v: k for k, v in enum.items()}
        return [label[int(v)] for v in ds[:]]
    if ds.dtype.kind == "S":
        return list(ds.asstr()[:])
    if ds.ndim == 2:
        return [bytes(r).hex() for r in ds[:]]
    if ds.name.endswith("/links/source"):
        names = [s.decode() for s in parent.attrs["sources"]]
        return [names[int(v)] for v in ds[:]]
    if ds.dtype.kind in "iu" and fmt in ("YYYYMMDD", "YYYYMM"):
        out = []
        for v in ds[:].tolist():
            if fmt == "YYYYMM":
                v = v * 100 + 1
            y, m, d = v // 10000, v // 100 % 100, v % 100
            try:
                datetime.date(y, m, d)
                out.append(f"{y:04d}-{m:02d}-{d:02d}" if fmt == "YYYYMMDD" else f"{y:04d}-{m:02d}")
            except ValueError:
                out.append("")
        return out
    if ds.dtype.kind in "iu":
        return [str(v) for v in ds[:].tolist()]
    return ds[:].tolist()          # floats: compared as numbers


with h5py.File(path, "r") as f, open(csv_path, newline="", encoding="utf-8") as fh:
    raw = open(csv_path, "rb").read()
    rows = list(csv.reader(fh, strict=True))
    g = f[group]
    names = [n for n in g if isinstance(g[n], h5py.Dataset)]
    check(len(rows) >= 1 and sorted(rows[0]) == sorted(names),
          f"header names every dataset of the group ({rows[0] if rows else None})")
    check(raw.endswith(b"\r\n") and raw.count(b"\r\n") >= len(rows),
          "records end with CRLF (RFC 4180)")
    body = rows[1:]
    n = len(g[names[0]])
    check(len(body) == n, f"one record per row ({len(body)} of {n})")
    check(all(len(r) == len(rows[0]) for r in body), "every record has every field")
    for j, col in enumerate(rows[0]):
        if col not in g:
            continue
        want = expected(g[col], g)
        got = [r[j] if j < len(r) else None for r in body]
        if g[col].dtype.kind == "f":
            def same(gv, w):
                try:
                    return (w != w and gv == "") or (gv != "" and float(gv) == w)
                except (TypeError, ValueError):
                    return False
            ok = len(got) == len(want) and all(same(gv, w) for gv, w in zip(got, want))
        else:
            ok = got == want
        check(ok, f"{col}: every value as h5py reads it"
              + ("" if ok else f" (first differences: {[(a, b) for a, b in zip(got, want) if a != b][:3]})"))

sys.exit(1 if failed else 0)
