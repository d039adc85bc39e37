#!/usr/bin/python3
"""check_links.py LINKED_H5: the cross-link index of a run agrees with its
/linked groups (docs/FORMATS.md section 5, docs/LINKAGE.md): /links sorted
and unique, every (pid, row) of /linked/<source> in /links and nothing
else, /persons counts, the root counts; a linkage source's linked records
carry a person's pid; with deduplication one pid a cluster, two clusters
never one, a cluster's pid a person's exactly when it holds a linked
record; /review candidates are persons. Prints "ok - links: ..." or
"not ok - links: ..." lines."""
import collections
import sys

import h5py
import numpy as np
f = h5py.File(sys.argv[1], 'r')
bad = []
def B(m): bad.append(m)
srcs = [s.decode() if isinstance(s, bytes) else s for s in f['links'].attrs['sources']]
lp = f['links/pid'].asstr()[:]; ls = f['links/source'][:]; lr = f['links/row'][:]
order = list(zip(lp, ls, lr))
if order != sorted(order): B('links not sorted')
if len(set(order)) != len(order): B('links duplicate')
pp = f['persons/pid'].asstr()[:]
if list(pp) != sorted(pp) or len(set(pp)) != len(pp): B('persons pid not sorted/unique')
if set(pp) != set(lp): B('persons pids != links pids (%d vs %d)' % (len(set(pp)), len(set(lp))))
for i, s in enumerate(srcs):
    cnt = collections.Counter(lp[ls == i])
    col = f['persons/' + s][:]
    exp = np.array([cnt.get(p, 0) for p in pp])
    if not np.array_equal(col, exp): B('persons/%s counts mismatch' % s)
    if s in f['linked']:
        g = f['linked/' + s]
        a = set(zip(g['pid'].asstr()[:], g['row'][:]))
        b = set(zip(lp[ls == i], lr[ls == i]))
        if a != b: B('linked/%s (pid,row) != links (%d vs %d, only linked %d, only links %d)' % (s, len(a), len(b), len(a-b), len(b-a)))
    else:
        B('source %s in links but no /linked' % s)
if f.attrs['persons'] != len(pp): B('root persons %d != %d' % (f.attrs['persons'], len(pp)))
multi = sum(1 for j in range(len(pp)) if sum(1 for s in srcs if f['persons/'+s][j] > 0) >= 2)
if f.attrs['persons_multi_source'] != multi: B('persons_multi_source %d != %d' % (f.attrs['persons_multi_source'], multi))
if f.attrs['records_linked'] != len(lp): B('records_linked %d != links %d' % (f.attrs['records_linked'], len(lp)))
# identity-source pids
idp = set()
for s in srcs:
    g = f['linked/' + s]
    if 'match_status' not in g: idp |= set(g['pid'].asstr()[:])
for s in f['linked']:
    g = f['linked/' + s]
    if 'match_status' in g:
        st = g['match_status'][:]; pid = g['pid'].asstr()[:]
        for k in range(len(st)):
            if st[k] == 1 and pid[k] not in idp: B('%s row %d status 1 pid not a person' % (s, g['row'][k])); break
        if 'cluster' not in g:
            n = [pid[k] for k in range(len(st)) if st[k] != 1]
            if len(set(n)) != len(n): B('%s: new persons share a pid without dedup' % s)
            if set(n) & idp: B('%s: new person pid equals a person pid' % s)
    if 'cluster' in g:
        cl = g['cluster'][:]; pid = g['pid'].asstr()[:]
        if len(cl) != len(pid): B('%s: cluster (%d) and pid (%d) of different lengths' % (s, len(cl), len(pid))); continue
        m = collections.defaultdict(set)
        for c, p in zip(cl, pid): m[c].add(p)
        if any(len(v) != 1 for v in m.values()): B('%s: cluster with several pids' % s)
        inv = collections.Counter(next(iter(v)) for v in m.values())
        if any(v > 1 for v in inv.values()): B('%s: two clusters share a pid' % s)
        if g.attrs.get('clusters', -1) != len(m): B('%s @clusters %s != %d' % (s, g.attrs.get('clusters'), len(m)))
        if 'match_status' in g:
            st = g['match_status'][:]
            # cluster pid equal to a person pid iff it contains a status-1 record
            for c in m:
                p = next(iter(m[c]))
                has1 = any(st[(cl == c)] == 1)
                if (p in idp) != has1: B('%s cluster %d: pid is a person %s, has linked %s' % (s, c, p in idp, has1)); break
if 'review' in f:
  for s in f['review']:
    rp = set(f['review/%s/pid' % s].asstr()[:])
    if rp - idp: B('review/%s pids not persons: %d' % (s, len(rp - idp)))
name = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
for b in bad:
    print("not ok - links: %s: %s" % (name, b))
if not bad:
    print("ok - links: %s: /links, /persons, /linked and the clusters agree" % name)
