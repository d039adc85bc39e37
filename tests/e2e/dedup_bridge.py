#!/usr/bin/python3
"""Append to a synth --linkage store's registry six records of two persons
absent from the persons source (dedup.sh): A = rows n, n+1, n+2 and
B = rows n+3, n+4, n+5. Each group is a triangle of accepted pairs; one
strong pair joins A's third record to B's first (same birth date, commune,
first name, another last name) and lies on no triangle: a weak bridge
between two dense groups, which linkage.dedup cuts.
Then three records of two near-identical persons P1, P2 appended to the
persons source (first names differ): C1 = P1 (linked to P1), C2 = P2
(linked to P2), C3 = P1 without first name (unlinked: both taken), rows
n+6..n+8, one cluster of accepted pairs linked to two persons: split.
  dedup_bridge.py STORE   (prints n)"""
import sys
import h5py
import numpy as np

A1 = (b"QWERTAZ", b"ZORBANEL", b"", 19620710, 1, b"99001")
A3 = (b"QWERTAZ", b"ZORBANEL", b"", 19620707, 1, b"99003")
B1 = (b"PLOKIMUR", b"ZORBANEL", b"", 19620707, 1, b"99003")
B2 = (b"PLOKIMUR", b"ZORBANEL", b"", 19620704, 1, b"99002")
P1 = (b"XENOPHIRA", b"CALYPSANE", b"XENOPHIRA", 19771123, 2, b"98765")
P2 = (b"XENOPHIRA", b"THEODOLIE", b"XENOPHIRA", 19771123, 2, b"98765")
C3 = (b"XENOPHIRA", b"", b"XENOPHIRA", 19771123, 2, b"98764")
ROWS = [A1, A1, A3, B1, B2, B2, P1, P2, C3]
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
            [t, np.array([big] * 3 + [big + 1] * 3 +
                         [big + 2, big + 3, big + 2], dtype=t.dtype)]))
    p = f["sources/persons"]
    for j, c in enumerate(COLS):
        old = p[c][:]
        new = np.array([P1[j], P2[j]], dtype=old.dtype)
        del p[c]
        p.create_dataset(c, data=np.concatenate([old, new]))
    old = p["p1"][:]
    del p["p1"]
    p.create_dataset("p1", data=np.concatenate(
        [old, np.frombuffer(bytes(range(64)), dtype=np.uint8).reshape(2, 32)]))
    for c in list(f["truth/persons"]):
        old = f["truth/persons"][c][:]
        add = [big + 2, big + 3] if c == "person" else [0, 0]
        del f["truth/persons"][c]
        f["truth/persons"].create_dataset(
            c, data=np.concatenate([old, np.array(add, dtype=old.dtype)]))
print(n)
