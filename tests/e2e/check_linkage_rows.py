#!/usr/bin/python3
"""Read a linkage source's rows in linked.h5 with h5py from docs/FORMATS.md
and docs/LINKAGE.md alone: they are cross-linked like an identity source's.
  check_linkage_rows.py STORE LINKED_H5 SOURCE [COLUMN...]
Checks: every row of /linked/SOURCE is in /links once, with its pid; /links
is sorted by (pid, source, row) over the whole file; /persons counts the
links of each person per source; a new person (status 2, 3) is a pid of its
own, a linked record's pid a person of the persons source; the payload
columns (default: every /linked/SOURCE dataset that is not pid, row or
match_*) equal the store's /sources/SOURCE columns at those rows."""
import sys
import h5py
import numpy as np

store, linked, src = sys.argv[1:4]
s = h5py.File(store, "r")
f = h5py.File(linked, "r")


def check(cond, name):
    print(("ok - " if cond else "not ok - ") + src + ": " + name)


def text(a):
    return [v.decode() if isinstance(v, bytes) else v for v in a]


g = f["linked/" + src]
pid, row, status = text(g["pid"][:]), g["row"][:], g["match_status"][:]
names = text(f["links"].attrs["sources"])
check(src in names and text(f.attrs["sources"]) == names and
      all(n in f["persons"] for n in names),
      "in /links@sources, the root @sources and /persons/<source>")
si = names.index(src) if src in names else -1
lp, ls, lr = text(f["links/pid"][:]), f["links/source"][:], f["links/row"][:]
keys = list(zip(lp, ls.tolist(), lr.tolist()))
check(keys == sorted(keys) and len(set(keys)) == len(keys),
      "/links sorted by (pid, source, row) over the whole file, no duplicate")
mine = {r: p for p, q, r in keys if q == si}
check(len(mine) == len(row) == int((ls == si).sum()) and
      all(mine.get(int(r)) == p for r, p in zip(row, pid)),
      "every row of /linked/%s in /links once, with its pid (%d rows)" % (src, len(row)))
pp = text(f["persons/pid"][:])
cnt = {n: f["persons/" + n][:] for n in names}
links_of = {}
for p, q, r in keys:
    links_of.setdefault(p, [0] * len(names))[q] += 1
check(pp == sorted(links_of) and
      all(list(int(cnt[n][i]) for n in names) == links_of[p] for i, p in enumerate(pp)) and
      int(f.attrs["persons"]) == len(pp),
      "/persons: one row per pid of /links, the links per source counted, @persons")
persons_src = f["linkage/" + src].attrs["persons"]
persons_src = persons_src.decode() if isinstance(persons_src, bytes) else persons_src
pi = names.index(persons_src)
at = {p: i for i, p in enumerate(pp)}
new = [p for p, st in zip(pid, status) if st in (2, 3)]
lnk = [p for p, st in zip(pid, status) if st == 1]
check(len(set(new)) == len(new) and
      all(cnt[persons_src][at[p]] == 0 and cnt[src][at[p]] == 1 for p in new),
      "each new person (status 2, 3) a pid of its own in /persons (%d)" % len(new))
check(len(set(lnk)) == len(lnk) and all(cnt[persons_src][at[p]] >= 1 for p in lnk) and
      len(pp) == len(set(lp) - set(new)) + len(new),
      "each linked record (status 1) counted with its person (%d)" % len(lnk))
cols = sys.argv[4:] or [c for c in g if c not in ("pid", "row") and not c.startswith("match_")]
ok = len(cols) > 0
for c in cols:
    ok = ok and c in g and (g[c][:] == s["sources/%s/%s" % (src, c)][:][row]).all()
    d = s["sources/%s/%s" % (src, c)].attrs.get("description")
    if ok and d is not None:
        ok = g[c].attrs.get("description") == d
check(ok, "payload %s equals the store's columns at those rows (and their description)" % cols)
