#!/usr/bin/python3
"""Read a deduplication run's outputs with h5py from docs/LINKAGE.md
("Deduplication") alone and check them against the store's /truth:
  check_dedup.py STORE LINKED_H5 PLATFORM_KEY MIN_PRECISION MIN_RECALL
                 BRIDGE_ROW LINKED(0|1)
BRIDGE_ROW: the first of the six rows of dedup_bridge.py (-1: none)."""
import hashlib
import hmac
import sys

import h5py
import numpy as np

store, linked, keyf = sys.argv[1], sys.argv[2], sys.argv[3]
pmin, rmin = float(sys.argv[4]), float(sys.argv[5])
bridge, is_linked = int(sys.argv[6]), sys.argv[7] == "1"
platform = bytes.fromhex(open(keyf).read().strip())
s = h5py.File(store, "r")
f = h5py.File(linked, "r")
fails = 0


def check(cond, name):
    global fails
    print(("ok - " if cond else "not ok - ") + name)
    fails += 0 if cond else 1


truth = s["truth/registry/person"][:]
n = len(truth)
g = f["linked/registry"]
cl = g["cluster"]
check(cl.dtype == np.dtype("<u8") and cl.shape == (n,),
      "/linked/registry/cluster: uint64, one per row")
cl = cl[:]
pid = g["pid"][:]
check(g["pid"].dtype == np.dtype("S32") and (g["row"][:] == np.arange(n)).all(),
      "/linked/registry: pid (32-byte strings) and row, every row in order")
check(bool((cl <= np.arange(n)).all()) and bool((cl[cl] == cl).all()),
      "a record's cluster is the smallest row of its cluster")
# one pid per cluster, one cluster per pid
pairs = set(zip(cl.tolist(), pid.tolist()))
ncl = len(np.unique(cl))
check(len(pairs) == ncl and len({p for _, p in pairs}) == ncl,
      "records of one cluster share a pid, and no two clusters do")
d = f["linkage/registry/dedup"]
A = d.attrs
check(A["clusters"] == ncl and g.attrs["clusters"] == ncl,
      "@clusters is the number of clusters (%d)" % ncl)
sizes = np.bincount(np.unique(cl, return_counts=True)[1])
hist = np.zeros(16, dtype=np.uint64)
for k, c in enumerate(sizes):
    if k:
        hist[min(k, 16) - 1] += c
check(d["cluster_sizes"].dtype == np.dtype("<u8") and
      (d["cluster_sizes"][:] == hist).all(),
      "cluster_sizes: clusters of 1..15 records and of 16 or more")
check(A["linked"] == (1 if is_linked else 0), "@linked says whether the "
      "source is also linked")
for a in ("pairs_compared", "pairs_duplicate", "pairs_random",
          "pairs_accepted", "blocks_capped", "pairs_capped", "bridges_cut",
          "clusters_split", "em_iterations", "em_seed", "em_free_u",
          "max_degree",
          "true_pairs", "predicted_pairs", "correct_pairs"):
    check(a in A and A[a].dtype == np.dtype("<u8"), "@%s uint64" % a)
nl = d["m"].shape[0]
check(all(d[x].shape == (nl,) for x in ("u", "weight", "field", "level")) and
      np.allclose(d["weight"][:], np.log2(d["m"][:] / d["u"][:])),
      "the model: m, u, weight = log2(m/u) per (field, level)")
check(0 < A["lambda"] < 0.5 and A["pairs_accepted"] <= A["pairs_compared"],
      "lambda in (0, 0.5), accepted pairs among the compared")
check(A["em_free_u"] < 2 ** len(A["blocking"]),
      "@em_free_u: a bit per blocking rule (%d)" % A["em_free_u"])


# pairwise quality recomputed from the clusters and the truth
def pairs_in(keys):
    _, c = np.unique(keys, return_counts=True, axis=0)
    return int((c * (c - 1) // 2).sum())


pred = pairs_in(cl)
true = pairs_in(truth)
tp = pairs_in(np.stack([cl, truth], axis=1))
prec, rec = tp / pred, tp / true
check(A["predicted_pairs"] == pred and A["true_pairs"] == true and
      A["correct_pairs"] == tp and abs(A["true_precision"] - prec) < 1e-12 and
      abs(A["true_recall"] - rec) < 1e-12 and
      abs(A["true_f1"] - 2 * prec * rec / (prec + rec)) < 1e-12,
      "true pairwise precision / recall / F1 as recomputed")
check(prec >= pmin, "pairwise precision %.4f >= %.2f" % (prec, pmin))
check(rec >= rmin, "pairwise recall %.4f >= %.2f" % (rec, rmin))
# pids: a cluster with a record linked to a person carries its pid; the
# others a new person's pid, keyed on the cluster's smallest row
dom = hashlib.sha256(b"registry").digest()[:24]
status = g["match_status"][:] if is_linked else np.full(n, 3)
linked_pid = {}
for i in np.nonzero(status == 1)[0]:
    linked_pid.setdefault(int(cl[i]), set()).add(pid[i])
bad = 0
for c, p in pairs:
    if c in linked_pid:
        bad += linked_pid[c] != {p}
    else:
        want = hmac.new(platform, b"pseudolink/noid1" + dom +
                        int(c).to_bytes(8, "big"), hashlib.sha256).digest()
        bad += want[:16].hex().encode() != p
check(bad == 0, "every cluster's pid: its linked person's, else "
      "HMAC(platform, 'pseudolink/noid1' || SHA-256(source)[0:24] || "
      "smallest row)[:16] (%d clusters wrong)" % bad)
if is_linked:
    # a record linked to a person: its pid is that person's (from the
    # persons' own rows in /linked/persons), whatever its cluster
    tp_ = s["truth/persons/person"][:]
    ppid = f["linked/persons/pid"][:]
    prow = {int(t): i for i, t in enumerate(tp_)}
    lk = np.nonzero(status == 1)[0]
    right = sum(int(truth[i]) in prow and ppid[prow[int(truth[i])]] == pid[i]
                for i in lk)
    check(len(lk) > 0 and right >= 0.99 * len(lk),
          "linked records carry their person's pid (%d of %d)"
          % (right, len(lk)))
    # an unlinked record in a cluster with a linked one takes the person's
    joined = sum(1 for i in np.nonzero(status != 1)[0]
                 if int(cl[i]) in linked_pid)
    check(joined > 0, "%d records not linked themselves take the person's "
          "pid through their cluster" % joined)
if bridge >= 0 and is_linked:
    # the cluster of C1, C2, C3 (dedup_bridge.py) links to two persons: it
    # is split along the links; C3, linked to no one, a new person
    c = bridge + 6
    np_ = len(ppid)
    want3 = hmac.new(platform, b"pseudolink/noid1" + dom +
                     int(c + 2).to_bytes(8, "big"),
                     hashlib.sha256).digest()[:16].hex().encode()
    got = (cl[c:c + 3].tolist(), status[c:c + 3].tolist())
    check(got[0] == [c, c + 1, c + 2] and got[1][:2] == [1, 1] and
          pid[c] == ppid[np_ - 2] and pid[c + 1] == ppid[np_ - 1] and
          pid[c + 2] == want3 and A["clusters_split"] >= 1,
          "a cluster linked to two persons is split along the links "
          "(clusters, status %s)" % (got,))
if bridge >= 0:
    b = cl[bridge:bridge + 6].tolist()
    check(b == [bridge] * 3 + [bridge + 3] * 3 and A["bridges_cut"] >= 1,
          "the weak bridge between two dense groups is cut (clusters %s)"
          % b)
print("dedup: %d rows, %d clusters, precision %.4f recall %.4f, %d bridges "
      "cut" % (n, ncl, prec, rec, A["bridges_cut"]), file=sys.stderr)
sys.exit(1 if fails else 0)
