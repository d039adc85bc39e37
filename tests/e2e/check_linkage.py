#!/usr/bin/python3
"""Read a linkage run's outputs with h5py from docs/LINKAGE.md alone and
check its quality against the store's /truth:
  check_linkage.py STORE LINKED_H5 MIN_PRECISION MIN_RECALL"""
import sys
import h5py
import numpy as np

store, linked, pmin, rmin = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = h5py.File(store, "r")
f = h5py.File(linked, "r")
fails = 0


def check(cond, name):
    global fails
    print(("ok - " if cond else "not ok - ") + name)
    fails += 0 if cond else 1


truth_p = s["truth/persons/person"][:]
truth_q = s["truth/registry/person"][:]
n = len(truth_q)
g = f["linked/registry"]
pid, row = g["pid"][:], g["row"][:]
status, weight = g["match_status"][:], g["match_weight"][:]
check(len(pid) == n and (row == np.arange(n)).all(),
      "/linked/registry: one row per input row, in order")
check(set(np.unique(status)) <= {1, 2, 3}, "match_status is 1, 2 or 3")
prob = g["match_probability"][:]
ok_w = ~np.isnan(weight)
check(np.allclose(prob[ok_w], 1 / (1 + 2.0 ** -weight[ok_w])) and (prob[~ok_w] == 0).all()
      and (weight[status == 1] >= f["linkage/registry"].attrs["upper"]).all(),
      "match_probability = 1/(1+2^-match_weight); links at or above the upper threshold")
check(all(len(p) == 32 for p in pid[:100]), "pid: 32 hex characters")
# the persons' pids, by person row (linked.h5 /linked/persons: pid, row)
pp = f["linked/persons"]
person_pid = {int(r): p for r, p in zip(pp["row"][:], pp["pid"][:])}
by_truth = {int(t): person_pid[i] for i, t in enumerate(truth_p) if i in person_pid}
linked_rows = status == 1
tp = sum(1 for i in np.nonzero(linked_rows)[0] if by_truth.get(int(truth_q[i])) == pid[i])
fp = int(linked_rows.sum()) - tp
pos = sum(1 for t in truth_q if int(t) in by_truth)
precision = tp / max(1, tp + fp)
recall = tp / max(1, pos)
print(f"# tp {tp} fp {fp} positives {pos} precision {precision:.4f} recall {recall:.4f}")
check(precision >= pmin, f"precision {precision:.4f} >= {pmin}")
check(recall >= rmin, f"recall {recall:.4f} >= {rmin}")
lp = pid[linked_rows]
check(len(set(lp)) == len(lp), "one-to-one: no person linked to two records")
new_pids = pid[status != 1]
check(len(set(new_pids)) == len(new_pids) and not (set(new_pids) & set(person_pid.values())),
      "records not linked get new pids of their own")
k = f["linkage/registry"]
a = k.attrs
check(abs(a["true_precision"] - precision) < 1e-9 and abs(a["true_recall"] - recall) < 1e-9,
      "/linkage/registry@true_precision, true_recall agree with h5py's count")
# estimated quality (docs/LINKAGE.md "Estimated quality"): precision is the
# links' mean probability; recall their sum over the records' best
# candidates' probabilities, of which match_probability is the linked
# pair's for a linked row (the best one, or a little less)
sl = prob[linked_rows].sum()
e_out = prob.sum()
check(abs(a["estimated_precision"] - sl / max(1, linked_rows.sum())) < 1e-6
      and sl / e_out - 0.01 <= a["estimated_recall"] <= sl / e_out + 1e-6,
      f"estimated precision {a['estimated_precision']:.4f} and recall "
      f"{a['estimated_recall']:.4f} from the links' and records' match probabilities")
check(k["m"].shape == k["u"].shape == k["field"].shape == k["level"].shape,
      "/linkage model: m, u, field, level of one length")
check(int(k["hist_pairs"][:].sum()) == int(a["pairs_compared"]),
      "weight histogram sums to pairs_compared")
check(0 < a["lambda"] < 1 and a["lower"] <= a["upper"], "lambda and thresholds")
rv = f["review/registry"]
rr = rv["row"][:]
check(len(rr) == len(rv["pid"]) == len(rv["weight"]) and
      all(status[r] != 1 for r in rr) and set(rv.keys()) == {"row", "pid", "weight"},
      "/review/registry: row, pid, weight only, rows not linked")
sys.exit(1 if fails else 0)
