"""Read linked.h5 with h5py as a researcher would, and check it against the
store: documented names and dtypes, payload carried unchanged, persons and
links consistent. Prints ok / not ok lines."""
import sys
import h5py
import numpy as np

store_path, out_path = sys.argv[1], sys.argv[2]
failed = 0


def check(cond, name):
    global failed
    print(("ok - " if cond else "not ok - ") + "h5py: " + name)
    failed += 0 if cond else 1


with h5py.File(store_path, "r") as st, h5py.File(out_path, "r") as f:
    names = [s.decode() for s in f.attrs["sources"]]
    check(names == [s.decode() for s in f["links"].attrs["sources"]],
          "root and /links agree on the source list")
    check(f.attrs["mode"] == b"keyed", "mode attribute")
    check(len(f.attrs["job_sha256"]) == 64, "job_sha256 is 64 hex chars")
    total = 0
    for s in names:
        g = f["linked"][s]
        rows = g["row"][:]
        pid = g["pid"][:]
        check(pid.dtype == np.dtype("S32"), f"{s}: pid dtype S32")
        check(rows.dtype == np.uint64, f"{s}: row dtype uint64")
        check(bool(np.all(np.diff(rows.astype(np.int64)) > 0)), f"{s}: rows in input order")
        for col in g:
            if col in ("pid", "row"):
                continue
            src = st["sources"][s][col][:]
            check(np.array_equal(g[col][:], src[rows]) and g[col].dtype == src.dtype,
                  f"{s}/{col}: payload equals the store's rows, same dtype")
        total += len(rows)
        rej = f["rejects"][s]
        check(len(rej["row"]) + len(rows) == g.attrs["rows_read"],
              f"{s}: linked + rejected = rows read")
    links = f["links"]
    check(len(links["pid"]) == total, "one link per linked record")
    src = links["source"][:]
    check(src.dtype == np.uint16 and int(src.max()) < len(names), "link sources index the name list")
    persons = f["persons"]
    pids = persons["pid"][:]
    check(len(np.unique(pids)) == len(pids) == f.attrs["persons"], "persons: one row per pid")
    multi = sum(1 for i in range(len(pids)) if sum(persons[s][i] > 0 for s in names) >= 2)
    check(multi == f.attrs["persons_multi_source"], "persons_multi_source matches the per-source counts")

sys.exit(1 if failed else 0)
