#!/usr/bin/python3
"""The pair counts of a linkage run with blocks split and capped
(docs/LINKAGE.md, "Blocking: large blocks"), recomputed from the store's
values alone with h5py and compared with /linkage/<source>'s attributes:

  check_split.py STORE LINKED_H5 MAX_BLOCK RULES

RULES: rules separated by ';', each "item+item/split,split" (no '/': not
split), items on exact or date fields only (field, field:year,
field:year_month), e.g. "birth_date/sex,commune;commune+sex/birth_date:year".

The model: a rule's block is the records sharing all its items (none
missing); a block with more than MAX_BLOCK records on a side is split by
the next split key (a missing value is a sub-block of its own), up to the
last; a leaf still above MAX_BLOCK compares the first MAX_BLOCK rows of
each side. A pair is compared once, under the first rule whose leaf
compared it: pairs_compared = |union of the rules' compared pairs|,
pairs_duplicate = sum of their sizes - the union."""
import sys
import h5py
import numpy as np

store, linked, mb, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = h5py.File(store, "r")
a = h5py.File(linked, "r")["linkage/registry"].attrs
fields = sorted({it.split(":")[0] for r in spec.split(";")
                 for part in r.split("/") for it in part.replace(",", "+").split("+")})


def column(src, f):
    v = s["sources/%s/%s" % (src, f)][:]
    if v.dtype.kind == "S":
        v = [x.rstrip(b"\0").rstrip(b" ") for x in v]
        return [x if x else None for x in v]
    return [int(x) if int(x) > 0 else None for x in v]


cols = [{f: column(src, f) for f in fields} for src in ("persons", "registry")]
n = [len(cols[0][fields[0]]), len(cols[1][fields[0]])]


def val(side, row, item):
    f, _, xf = item.partition(":")
    v = cols[side][f][row]
    if v is None:
        return None
    return v // 10000 if xf == "year" else v // 100 if xf == "year_month" else v


want = {"pairs_compared": 0, "pairs_duplicate": 0, "pairs_capped": 0,
        "blocks_capped": 0, "blocks_split": 0}
seen, total = set(), 0


def leaves(recs, splits, lev, out):
    """recs: (side, row) sorted by side then row; appends the leaves."""
    sides = [sum(1 for x in recs if x[0] == 0), sum(1 for x in recs if x[0] == 1)]
    if max(sides) <= mb or lev == len(splits):
        out.append(recs)
        return
    sub = {}
    for x in recs:
        sub.setdefault(val(x[0], x[1], splits[lev]), []).append(x)
    for k in sorted(sub, key=repr):
        leaves(sub[k], splits, lev + 1, out)


for rule in spec.split(";"):
    items, _, sp = rule.partition("/")
    items, splits = items.split("+"), [x for x in sp.split(",") if x]
    blocks = {}
    for side in (0, 1):
        for row in range(n[side]):
            k = tuple(val(side, row, it) for it in items)
            if None not in k:
                blocks.setdefault(k, []).append((side, row))
    rule_pairs = set()
    for k, recs in blocks.items():
        np_, nq = sum(1 for x in recs if x[0] == 0), sum(1 for x in recs if x[0] == 1)
        big = max(np_, nq) > mb
        if big and splits:
            want["blocks_split"] += 1
        out = []
        leaves(recs, splits if big else [], 0, out)
        compared = 0
        for leaf in out:
            P = [x[1] for x in leaf if x[0] == 0][:mb]
            Q = [x[1] for x in leaf if x[0] == 1][:mb]
            lp, lq = sum(1 for x in leaf if x[0] == 0), sum(1 for x in leaf if x[0] == 1)
            if max(lp, lq) > mb:
                want["blocks_capped"] += 1
            compared += len(P) * len(Q)
            rule_pairs.update((p, q) for p in P for q in Q)
        if big:
            want["pairs_capped"] += np_ * nq - compared
    total += len(rule_pairs)
    seen |= rule_pairs
want["pairs_compared"] = len(seen)
want["pairs_duplicate"] = total - len(seen)
bad = 0
for k, v in want.items():
    got = int(a[k])
    if got != v:
        print("%s: %d in linked.h5, %d from the store" % (k, got, v))
        bad += 1
print("pairs: %s" % want)
sys.exit(1 if bad else 0)
