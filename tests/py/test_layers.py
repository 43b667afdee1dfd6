#!/usr/bin/env python3
"""The architecture's rules, read from every #include in the tree (docs/ARCHITECTURE.md).

Layers, bottom up; a file may include files of its own layer or lower ones, never higher:
  0 src/            the model core: config, layouts, transformer, model, optimizer, checkpoints, tokenizer,
                    shards and loader, and the utilities they share
  1 cpu/, cuda/     the backends (side by side: neither includes the other)
  2 legal/          the legal application: statutes, law-QA, retrieval, prompt layout, eval, serving
  3 programs        train.cpp, infer.cpp, cli/, data/ (prep and its stages)
    tests/, bench/, fuzz/ stand on top and may include anything.
Also: every project include is written by its path from the repository root; no two files include each
other in a loop; no two headers share a name; no source file outside generated tables and tests is longer
than MAX_LINES (a file that long is doing two jobs).

The checker first runs on two small made-up trees (a back-arrow, a loop) and must report both: a checker
that cannot fail proves nothing. Exit status 1 with one line per problem.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = re.compile(r"\.(h|hpp|cpp|cc|cu|cuh|inc)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
MAX_LINES = 500
# Too long by nature, with the reason: generated Unicode tables (scripts/gen_*.py).
LONG_OK = {"src/unicode_tables.inc", "src/nfc_tables.inc"}

# (layer, group) per top-level place; files in the same layer but another group may not include each other.
PLACES = [
    ("src/", 0, "core"),
    ("cpu/", 1, "cpu"),
    ("cuda/", 1, "cuda"),
    ("legal/", 2, "legal"),
    ("cli/", 3, "programs"),
    ("data/", 3, "programs"),
    ("train.cpp", 3, "programs"),
    ("infer.cpp", 3, "programs"),
    ("tests/", 9, "top"),
    ("bench/", 9, "top"),
    ("fuzz/", 9, "top"),
]


def place(path):
    for prefix, layer, group in PLACES:
        if path == prefix or path.startswith(prefix):
            return layer, group
    return None


def check(files, read):
    """files: repository-relative paths; read(path) -> text. Returns a list of problem lines."""
    problems = []
    known = set(files)
    graph = {}
    for f in files:
        if not SOURCE.search(f):
            continue
        where = place(f)
        if where is None:
            problems.append(f"{f}: a source file outside the known layers (add its folder to PLACES)")
            continue
        graph[f] = []
        for inc in INCLUDE.findall(read(f)):
            if inc not in known:
                problems.append(f'{f}: #include "{inc}" is not a path from the repository root')
                continue
            graph[f].append(inc)
            to = place(inc)
            if to is None:
                continue
            (la, ga), (lb, gb) = where, to
            if lb > la:
                problems.append(f'{f}: #include "{inc}" points up (layer {la} {ga} -> layer {lb} {gb})')
            elif lb == la and ga != gb and la != 9:
                problems.append(f'{f}: #include "{inc}" crosses sideways ({ga} -> {gb})')
    # include loops: depth-first search, reporting each back edge once
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if state.get(m) == 1:
                problems.append("include loop: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    # header names
    seen = {}
    for f in sorted(files):
        if re.search(r"\.(h|hpp|cuh)$", f):
            seen.setdefault(os.path.basename(f), []).append(f)
    for name, paths in sorted(seen.items()):
        if len(paths) > 1:
            problems.append(f"two headers named {name}: {', '.join(paths)}")
    # file length
    for f in sorted(graph):
        if f in LONG_OK or f.startswith("tests/"):
            continue
        n = read(f).count("\n")
        if n > MAX_LINES:
            problems.append(f"{f}: {n} lines (> {MAX_LINES}: split it by job)")
    return problems


def self_test():
    tree = {
        "src/a.h": '#include "src/b.h"\n',
        "src/b.h": '#include "src/a.h"\n',  # a loop
        "src/c.h": '#include "legal/x.h"\n',  # a back-arrow: core -> legal
        "cpu/k.h": '#include "cuda/k2.cuh"\n',  # sideways between backends
        "cuda/k2.cuh": "",
        "legal/x.h": '#include "x2.h"\n',  # not a path from the root
        "legal/x2.h": "",
        "legal/sub/x2.h": "",  # a second x2.h
    }
    got = check(list(tree), lambda p: tree[p])
    want = ["include loop", "points up", "crosses sideways", "not a path from the repository root",
            "two headers named x2.h"]
    missing = [w for w in want if not any(w in g for g in got)]
    if missing:
        print("test_layers: the checker misses: " + ", ".join(missing))
        sys.exit(1)


def main():
    self_test()
    out = subprocess.check_output(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    files = [f for f in out.decode().split("\n") if f and os.path.isfile(os.path.join(ROOT, f))]

    def read(p):
        with open(os.path.join(ROOT, p), encoding="utf-8", errors="replace") as fh:
            return fh.read()

    problems = check(files, read)
    for p in problems:
        print("test_layers: " + p)
    n = sum(1 for f in files if SOURCE.search(f))
    print(f"test_layers: {n} source files, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
