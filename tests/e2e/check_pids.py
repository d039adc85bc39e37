"""Recompute every keyed pid of linked.h5 from the store, independently of
pseudolink (Python's hmac/hashlib): p1 = HMAC-SHA256(producer key, nir ||
birth date as 8 digits || sex digit [|| birth_rank byte]) for identity
sources, the stored p1 for p1 sources; pid = HMAC-SHA256(platform key,
p1)[:16] in lowercase hex. Prints ok / not ok lines.
usage: check_pids.py STORE LINKED PRODUCER_KEY PLATFORM_KEY SRC:KIND...
  KIND: nir (identity without rank), nir+rank, p1"""
import hashlib, hmac, sys
import h5py


def key(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


store_path, out_path = sys.argv[1], sys.argv[2]
producer, platform = key(sys.argv[3]), key(sys.argv[4])
failed = 0
with h5py.File(store_path, "r") as st, h5py.File(out_path, "r") as f:
    for spec in sys.argv[5:]:
        src, kind = spec.split(":")
        g, lg = st["sources"][src], f["linked"][src]
        rows, pids = lg["row"][:], lg["pid"][:]
        if kind == "p1":
            p1s = [bytes(g["p1"][r]) for r in rows]
        else:
            nir, bd, sex = g["nir"][:], g["birth_date"][:], g["sex"][:]
            rank = g["birth_rank"][:] if kind == "nir+rank" else None
            p1s = []
            for r in rows:
                m = bytes(nir[r]) + b"%08d%d" % (bd[r], sex[r])
                if rank is not None:
                    m += bytes([rank[r]])
                p1s.append(hmac.new(producer, m, hashlib.sha256).digest())
        bad = sum(hmac.new(platform, p1, hashlib.sha256).digest()[:16].hex()
                  != pid.decode() for p1, pid in zip(p1s, pids))
        ok = len(rows) > 0 and bad == 0
        failed += not ok
        print("%s - %s: all %d pids = HMAC(platform, p1)[:16] recomputed "
              "from the store (%d differ)" % ("ok" if ok else "not ok", src,
                                               len(rows), bad))
sys.exit(1 if failed else 0)
