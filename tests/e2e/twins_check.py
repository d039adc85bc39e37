"""Recompute, from docs/FORMATS.md section 3 alone (Python hmac/hashlib,
h5py; no pseudolink code), every pid and ambiguity of a `synth --twins`
run: keys (p1 || rank), one person per p1 seen with one rank or none, one
per rank when several, rankless keys of those ambiguous; claims rows join
their two keys; persons = connected components, labelled by their smallest
node (p1 || rank, bytewise); pid = HMAC-SHA256(platform, label)[:16], the
label hashed as p1 alone when its rank is 0. With a decrypted
correspondence (corr_decrypt.py output) also checks that the table holds
every key of every person, and nothing else. Prints ok / not ok lines.

usage: twins_check.py STORE LINKED PRODUCER_KEY PLATFORM_KEY [CORR_TXT]"""
import hashlib, hmac, sys
import h5py


def key(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


store_path, out_path = sys.argv[1], sys.argv[2]
producer, platform = key(sys.argv[3]), key(sys.argv[4])
corr = sys.argv[5] if len(sys.argv) > 5 else None
st, out = h5py.File(store_path, "r"), h5py.File(out_path, "r")


def p1(nir, bd, sex):
    return hmac.new(producer, bytes(nir) + b"%08d%d" % (bd, sex),
                    hashlib.sha256).digest()


# Row keys per source: list of (row, key1, key2 or None); key = p1 + rank.
rows = {}
for src in st["sources"]:
    g, why = st["sources"][src], st["truth"][src]["reason"][:]
    n = len(why)
    rk = g["birth_rank"][:] if "birth_rank" in g and src != "claims" else None
    out_rows = []
    if "p1" in g:
        for r in range(n):
            out_rows.append((r, bytes(g["p1"][r]) + bytes([rk[r]]), None))
    else:
        nir = g["own_nir" if src == "claims" else "nir"][:]
        bd, sx = g["birth_date"][:], g["sex"][:]
        for r in range(n):
            if why[r]:
                continue
            k1 = p1(nir[r], bd[r], sx[r]) + bytes([rk[r] if rk is not None else 0])
            k2 = None
            if src == "claims":
                k2 = p1(g["nir"][r], bd[r], sx[r]) + bytes([g["birth_rank"][r]])
            out_rows.append((r, k1, k2))
    rows[src] = out_rows

allkeys = set()
for rs in rows.values():
    for _, a, b in rs:
        allkeys.add(a)
        if b:
            allkeys.add(b)
ranks = {}
for k in allkeys:
    if k[32]:
        ranks.setdefault(k[:32], set()).add(k[32])


def ambiguous(k):
    return k[32] == 0 and len(ranks.get(k[:32], ())) >= 2


def node(k):
    return k if len(ranks.get(k[:32], ())) >= 2 else k[:32] + b"\0"


parent = {}


def find(x):
    parent.setdefault(x, x)
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


for rs in rows.values():
    for _, a, b in rs:
        if not ambiguous(a):
            find(node(a))
        if b and not ambiguous(b):
            find(node(b))
        if b and not ambiguous(a) and not ambiguous(b):
            parent[find(node(a))] = find(node(b))
label = {}
for n in list(parent):
    r = find(n)
    if r not in label or n < label[r]:
        label[r] = n


def pid(k):
    lab = label[find(node(k))]
    msg = lab if lab[32] else lab[:32]
    return hmac.new(platform, msg, hashlib.sha256).digest()[:16].hex()


failed = 0


def check(ok, msg):
    global failed
    failed += not ok
    print(("ok" if ok else "not ok") + " - " + msg)


bad = amb_bad = nrows = namb = 0
for src, rs in rows.items():
    lrow = list(out["linked"][src]["row"][:])
    lpid = [p.decode() for p in out["linked"][src]["pid"][:]]
    got = dict(zip(lrow, lpid))
    ag = out["ambiguous"][src] if "ambiguous" in out and src in out["ambiguous"] else None
    arow = list(ag["row"][:]) if ag else []
    acand = list(ag["candidates"][:]) if ag else []
    gamb = dict(zip(arow, acand))
    for r, a, b in rs:
        if ambiguous(a) and (b is None or ambiguous(b)):
            namb += 1
            amb_bad += gamb.get(r) != len(ranks[a[:32]]) or r in got
            continue
        nrows += 1
        want = pid(a) if not ambiguous(a) else pid(b)
        bad += got.get(r) != want or r in gamb
    amb_bad += len(gamb) != sum(1 for r, a, b in rs if ambiguous(a) and (b is None or ambiguous(b)))
check(bad == 0, "every linked row's pid = HMAC(platform, smallest node of "
      "its component)[:16], recomputed from the store (%d rows, %d differ)"
      % (nrows, bad))
check(amb_bad == 0 and namb > 0, "every ambiguous row (rankless key of a "
      "p1 with several ranks) is in /ambiguous with its candidates, and "
      "only those (%d rows, %d wrong)" % (namb, amb_bad))
check(int(out.attrs["records_ambiguous"]) == namb,
      "linked.h5@records_ambiguous counts them (%d)" % namb)
persons = {label[find(n)] for n in parent}
check(len(out["persons"]["pid"]) == len(persons),
      "/persons has one row per component of the key graph (%d)" % len(persons))

if corr:
    table = set()
    for line in open(corr):
        q, k, r = line.split()
        table.add((q, bytes.fromhex(k) + bytes([int(r)])))
    want = {(pid(k), k) for k in allkeys if not ambiguous(k)}
    check(table == want, "the correspondence holds every key (p1, rank) of "
          "every person with its pid, and nothing else (%d keys, %d in the "
          "table)" % (len(want), len(table)))
sys.exit(1 if failed else 0)
