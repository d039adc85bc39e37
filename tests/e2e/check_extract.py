#!/usr/bin/python3
"""Independent check of a project extract against linked.h5 (h5py only).

usage: check_extract.py LINKED EXTRACT KEYFILE SPEC
SPEC is a JSON object: {"sources": {src: {"columns": [...], "filter":
{col: {"prefix": [...]} | {"from": a, "to": b}}}}, "generalise": {col:
"year"|"month"|{"prefix": n}|{"bands": [...]}}, "qi": [...], "sensitive":
col|null, "k": k}. Prints TAP lines "ok - ..." / "not ok - ...".
"""
import hashlib, hmac, json, sys
import h5py

linked_path, extract_path, key_path, spec = sys.argv[1:5]
spec = json.loads(spec)
key = bytes.fromhex(open(key_path).read().strip())
name = extract_path.rsplit("/", 1)[-1]
L = h5py.File(linked_path, "r")
X = h5py.File(extract_path, "r")


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + name + ": " + what)


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def pseudo(pid_hex):
    return hmac.new(key, bytes.fromhex(s(pid_hex)), hashlib.sha256).digest()[:16].hex()


def band(edges, x):
    fmt = lambda v: ("%.10g" % v)
    i = 0
    while i < len(edges) and x >= edges[i]:
        i += 1
    if i == 0:
        return "<" + fmt(edges[0])
    if i == len(edges):
        return ">=" + fmt(edges[-1])
    return "[%s,%s)" % (fmt(edges[i - 1]), fmt(edges[i]))


def generalise(col, v):
    g = spec.get("generalise", {}).get(col)
    if g is None:
        return s(v) if isinstance(v, bytes) else v
    if g == "year":
        v = int(v)
        return v // 10000 if v >= 10000000 else v // 100 if v >= 100000 else v
    if g == "month":
        v = int(v)
        return v // 100 if v >= 10000000 else v
    if "prefix" in g:
        return s(v)[: g["prefix"]]
    if "bands" in g:
        return band(g["bands"], float(v))
    raise ValueError(g)


def passes(src, i):
    for col, f in spec["sources"][src].get("filter", {}).items():
        v = L["linked"][src][col][i]
        if "prefix" in f:
            if not any(s(v).startswith(p) for p in f["prefix"]):
                return False
        elif not (f.get("from", -2**63) <= int(v) <= f.get("to", 2**63)):
            return False
    return True


platform_pids = set(s(p) for p in L["persons"]["pid"][:])
all_pseudo = set()
rows = {}
for src, cfg in spec["sources"].items():
    lg, xg = L["linked"][src], X["linked"][src]
    sel = [i for i in range(len(lg["pid"])) if passes(src, i)]
    rows[src] = sel
    check(sorted(xg.keys()) == sorted(["pid"] + cfg["columns"]),
          "%s holds exactly pid + the granted columns %s" % (src, cfg["columns"]))
    xp = [s(p) for p in xg["pid"][:]]
    check(len(xp) == len(sel), "%s: %d rows pass the filters" % (src, len(sel)))
    check(xp == [pseudo(lg["pid"][i]) for i in sel],
          "%s: pid = HMAC-SHA256(project key, platform pid)[:16]" % src)
    all_pseudo.update(xp)
    for col in cfg["columns"]:
        want = [generalise(col, lg[col][i]) for i in sel]
        enum = h5py.check_enum_dtype(xg[col].dtype)  # bands: HDF5 enum
        label = {v: k for k, v in (enum or {}).items()}
        got = [label[v.item()] if enum else s(v) if isinstance(v, bytes)
               else v.item() for v in xg[col][:]]
        check(got == want, "%s/%s generalised as %s" % (
            src, col, spec.get("generalise", {}).get(col, "none")))
check(not (all_pseudo & platform_pids), "no platform pid appears in the extract")
check("row" not in X["links"] or max(X["links"]["row"][:], default=0) <
      max(len(r) for r in rows.values()), "links.row indexes the extract's rows")

# Links and persons, recomputed from the extract's own rows.
srcs = [s(v) for v in X["links"].attrs["sources"]]
want = sorted((s(X["linked"][sn]["pid"][i]), si, i)
              for si, sn in enumerate(srcs) for i in range(len(X["linked"][sn]["pid"])))
got = list(zip([s(p) for p in X["links"]["pid"][:]], X["links"]["source"][:].tolist(),
               X["links"]["row"][:].tolist()))
check(got == want, "links = (pseudonym, source, extract row), sorted")
persons = sorted(set(p for p, _, _ in want))
check([s(p) for p in X["persons"]["pid"][:]] == persons, "persons: one row per pseudonym")
ok = all(X["persons"][sn][j] == sum(1 for p, si, _ in want if p == persons[j] and srcs[si] == sn)
         for sn in srcs for j in range(len(persons)))
check(ok, "persons: per-source record counts")

# k-anonymity and l-diversity, counted independently.
k, qi, sens = spec["k"], spec["qi"], spec.get("sensitive")
for src in spec["sources"]:
    xg = X["linked"][src]
    if not all(c in xg for c in qi) or (sens and sens not in xg):
        continue
    classes = {}
    n = len(xg["pid"])
    cols = {c: xg[c][:] for c in qi + ([sens] if sens else [])}
    for i in range(n):
        key_ = tuple(bytes(cols[c][i]) if isinstance(cols[c][i], bytes) else cols[c][i].item() for c in qi)
        c = classes.setdefault(key_, {"recs": 0, "persons": set(), "sens": set()})
        c["recs"] += 1
        c["persons"].add(s(xg["pid"][i]))
        if sens:
            c["sens"].add(bytes(cols[sens][i]))
    small = [c for c in classes.values() if len(c["persons"]) < k]
    exp = {
        "classes": len(classes),
        "smallest_class": min((len(c["persons"]) for c in classes.values()), default=0),
        "classes_below_k": len(small),
        "records_below_k": sum(c["recs"] for c in small),
        "persons_below_k": len(set().union(*[c["persons"] for c in small])) if small else 0,
        "records": n,
        "l_diversity": min((len(c["sens"]) for c in classes.values()), default=0) if sens else 0,
    }
    a = X["risk"][src].attrs
    got = {kk: int(a[kk]) for kk in exp}
    check(got == exp, "risk on %s matches an independent count %s" % (src, exp))
