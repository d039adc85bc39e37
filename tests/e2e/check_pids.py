"""Recompute every keyed pid of linked.h5 from the store, independently of
pseudolink (Python's hmac/hashlib), by docs/FORMATS.md section 3: p1 =
HMAC-SHA256(producer key, nir || birth date as 8 digits || sex digit) for
identity sources, the stored p1 for p1 sources; the birth rank travels
beside p1; pid = HMAC-SHA256(platform key, p1)[:16] for a p1 seen with one
rank or none, HMAC-SHA256(platform key, p1 || rank byte)[:16] for each of
several ranks (twins); lowercase hex. (No source here joins two keys.)
Prints ok / not ok lines.
usage: check_pids.py STORE LINKED PRODUCER_KEY PLATFORM_KEY SRC:KIND...
  KIND: nir (identity without rank), nir+rank, p1 (with birth_rank if the
  store has it)"""
import hashlib, hmac, sys
import h5py


def key(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


store_path, out_path = sys.argv[1], sys.argv[2]
producer, platform = key(sys.argv[3]), key(sys.argv[4])
failed = 0
keys = {}
with h5py.File(store_path, "r") as st, h5py.File(out_path, "r") as f:
    for spec in sys.argv[5:]:
        src, kind = spec.split(":")
        g, lg = st["sources"][src], f["linked"][src]
        rows = lg["row"][:]
        rank = g["birth_rank"][:] if kind == "nir+rank" or (
            kind == "p1" and "birth_rank" in g) else None
        if kind == "p1":
            p1s = [bytes(g["p1"][r]) for r in rows]
        else:
            nir, bd, sex = g["nir"][:], g["birth_date"][:], g["sex"][:]
            p1s = [hmac.new(producer, bytes(nir[r]) + b"%08d%d" % (bd[r], sex[r]),
                            hashlib.sha256).digest() for r in rows]
        keys[src] = [(p, int(rank[r]) if rank is not None else 0)
                     for p, r in zip(p1s, rows)]
    ranks = {}
    for ks in keys.values():
        for p, r in ks:
            if r:
                ranks.setdefault(p, set()).add(r)
    for src, ks in keys.items():
        pids = f["linked"][src]["pid"][:]
        bad = 0
        for (p, r), pid in zip(ks, pids):
            lab = p + bytes([r]) if len(ranks.get(p, ())) >= 2 else p
            bad += hmac.new(platform, lab, hashlib.sha256).digest()[:16].hex() != pid.decode()
        ok = len(ks) > 0 and bad == 0
        failed += not ok
        twins = sum(1 for p, r in ks if len(ranks.get(p, ())) >= 2)
        print("%s - %s: all %d pids = HMAC(platform, p1 [|| rank of a twin])[:16] "
              "recomputed from the store (%d twins' rows, %d differ)"
              % ("ok" if ok else "not ok", src, len(ks), twins, bad))
sys.exit(1 if failed else 0)
