#!/usr/bin/env python3
"""The layer rule of src/ (README, "Repository layout"), checked two ways.

Layers, bottom to top: base, par, crypto, job, stage, cmd. A file calls and
includes only files of its own layer or below, and no two files depend on
each other through a loop.

1. Includes: every #include "x/y.h" names an existing header of a layer at
   or below the including file's; the include graph between files has no
   cycle.
2. Symbols: from the built objects (nm), the module that references a
   symbol and the module that defines it; every edge points to the same
   layer or below, and the graph has no cycle. The SHA-256 dispatch table
   and its lane kernels (crypto/sha256mb*) reference each other by design
   and count as one module.

Prints TAP-like "ok - " / "not ok - " lines. Usage: layers.py SRC BUILD
"""
import os
import re
import subprocess
import sys

LAYERS = ["base", "par", "crypto", "job", "stage", "cmd"]
RANK = {name: i for i, name in enumerate(LAYERS)}
FAILED = False


def ok(msg):
    print("ok - " + msg)


def notok(msg, details=()):
    global FAILED
    FAILED = True
    print("not ok - " + msg)
    for d in list(details)[:40]:
        print("    " + d)


def module(rel):
    """'crypto/sha256mb_avx2.c' -> 'crypto/sha256mb'; 'stage/extract_int.h'
    belongs to the extract module."""
    m = rel.rsplit(".", 1)[0]
    if m.startswith("crypto/sha256mb"):
        return "crypto/sha256mb"
    if m == "stage/extract_int":
        return "stage/extract"
    return m


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_edges(kind, edges, unit="modules"):
    bad = [f"{a} -> {b} ({why})" for a, b, why in edges
           if RANK[b.split("/")[0]] > RANK[a.split("/")[0]]]
    if bad:
        notok(f"{kind}: every dependency points to its own layer or below",
              bad)
    else:
        ok(f"{kind}: every dependency points to its own layer or below "
           f"({len(edges)} edges)")
    graph = {}
    for a, b, _ in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
    cycles = find_cycles(graph)
    if cycles:
        notok(f"{kind}: no two {unit} depend on each other through a loop",
              [" <-> ".join(c) for c in cycles])
    else:
        ok(f"{kind}: no dependency loop between {unit} ({len(graph)} "
           f"{unit})")


def main():
    src, build = sys.argv[1], sys.argv[2]
    files = []
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(root, n), src))
    files.sort()
    misplaced = [f for f in files if f.split("/")[0] not in RANK
                 or f.count("/") != 1]
    if misplaced:
        notok("every source file is in a layer folder (" +
              ", ".join(LAYERS) + ")", misplaced)
    else:
        ok(f"every source file is in a layer folder ({len(files)} files)")
    files = [f for f in files if f not in misplaced]

    edges, broken, sysinc = [], [], []
    for f in files:
        text = open(os.path.join(src, f), encoding="utf-8").read()
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            inc = m.group(1)
            if inc not in files:
                broken.append(f"{f}: #include \"{inc}\" (not src/<layer>/"
                              f"<file>.h)")
                continue
            edges.append((f, inc, f"{f} includes {inc}"))
        if f.startswith("base/"):
            for m in re.finditer(r'^\s*#\s*include\s+<(mpi|hdf5)\.h>',
                                 text, re.M):
                sysinc.append(f"{f}: <{m.group(1)}.h>")
    if broken:
        notok("includes name an existing header by its layer path", broken)
    else:
        ok("includes name an existing header by its layer path")
    if sysinc:
        notok("base uses neither MPI nor HDF5", sysinc)
    else:
        ok("base uses neither MPI nor HDF5")
    check_edges("includes", edges, "files")

    objs = []
    for f in files:
        if f.endswith(".c"):
            o = os.path.join(build, f[:-2] + ".o")
            if not os.path.exists(o):
                notok(f"built object {o} exists (run make build first)")
                return
            objs.append((f, o))
    defined, undefined = {}, {}
    for f, o in objs:
        out = subprocess.run(["nm", "-P", o], capture_output=True,
                             text=True, check=True).stdout
        undefined[f] = set()
        for line in out.splitlines():
            p = line.split()
            if len(p) < 2:
                continue
            if p[1] == "U":
                undefined[f].add(p[0])
            elif p[1] in "TDBRWVC":
                defined.setdefault(p[0], f)
    sym_edges = []
    for f, syms in undefined.items():
        for s in sorted(syms):
            if s in defined and module(defined[s]) != module(f):
                sym_edges.append((module(f), module(defined[s]),
                                  f"{f} calls {s} of {defined[s]}"))
    check_edges("symbols", sym_edges)


main()
sys.exit(1 if FAILED else 0)
