#!/usr/bin/python3
"""Append to a synth --linkage store's registry six records of two persons
absent from the persons source (dedup.sh): A = rows n, n+1, n+2 and
B = rows n+3, n+4, n+5. Each group is a triangle of accepted pairs; one
strong pair joins A's third record to B's first (same birth date, commune,
first name, another last name) and lies on no triangle: a weak bridge
between two dense groups, which linkage.dedup cuts.
  dedup_bridge.py STORE   (prints n)"""
import sys
import h5py
import numpy as np

A1 = (b"QWERTAZ", b"ZORBANEL", b"", 19620710, 1, b"99001")
A3 = (b"QWERTAZ", b"ZORBANEL", b"", 19620707, 1, b"99003")
B1 = (b"PLOKIMUR", b"ZORBANEL", b"", 19620707, 1, b"99003")
B2 = (b"PLOKIMUR", b"ZORBANEL", b"", 19620704, 1, b"99002")
ROWS = [A1, A1, A3, B1, B2, B2]
COLS = ["last_name", "first_name", "birth_name", "birth_date", "sex",
        "commune"]

with h5py.File(sys.argv[1], "r+") as f:
    g = f["sources/registry"]
    n = g["last_name"].shape[0]
    for j, c in enumerate(COLS):
        old = g[c][:]
        new = np.array([r[j] for r in ROWS], dtype=old.dtype)
        del g[c]
        g.create_dataset(c, data=np.concatenate([old, new]))
    t = f["truth/registry/person"][:]
    big = int(max(t.max(), f["truth/persons/person"][:].max())) + 1
    del f["truth/registry/person"]
    f["truth/registry"].create_dataset(
        "person", data=np.concatenate(
            [t, np.array([big] * 3 + [big + 1] * 3, dtype=t.dtype)]))
print(n)
