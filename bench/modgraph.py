#!/usr/bin/env python3
"""The import graph of the core crate's top-level modules, and its cycles.

Usage: bench/modgraph.py [--dot] [SRC_DIR]   (default crates/core/src)

Every `crate::a::...` path in a module's files (use lines and inline paths,
comments and `#[cfg(test)]` code left out) is an edge from that module to
`a`. A module is a top-level file `a.rs` or folder `a/`; a folder's
submodules count as the folder (format `qcow2` = qcow2/*.rs). `use super::`
inside a folder stays inside it. Exit status 1 when the graph has a cycle,
with each strongly connected component printed.
"""
import os
import re
import sys

PATH = re.compile(r"\bcrate::(?:\{([^}]*)\}|([a-z_][a-z0-9_]*))")


def strip(text):
    """Source text without comments, string literals and test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # `#[cfg(test)] mod tests { ... }` to the end of the file (tests sit last).
    m = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    return text


def module_of(src, path):
    rel = os.path.relpath(path, src)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def graph(src):
    mods = set()
    edges = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(root, f)
            m = module_of(src, p)
            if m in ("lib", "main"):
                continue
            # Test-only files (tests.rs, testutil.rs) are not part of the library.
            if f in ("tests.rs", "testutil.rs") or m == "testutil":
                continue
            mods.add(m)
            with open(p, encoding="utf-8") as fh:
                text = strip(fh.read())
            for group, name in PATH.findall(text):
                names = [name] if name else [
                    x.strip().split("::")[0] for x in group.split(",") if x.strip()
                ]
                for n in names:
                    if n and n != m and n != "self":
                        edges.setdefault(m, set()).add(n)
    # Re-exports at the crate root (`crate::Disk`) point at lib.rs: resolve
    # them through its `pub use a::X` lines.
    lib = os.path.join(src, "lib.rs")
    reexport = {}
    if os.path.exists(lib):
        with open(lib, encoding="utf-8") as fh:
            for a, items in re.findall(r"pub use (\w+)::\{?([^;}]*)\}?;", strip(fh.read())):
                for it in items.split(","):
                    it = it.strip().split(" as ")[-1].strip()
                    if it:
                        reexport[it] = a
    out = {}
    for m, ns in edges.items():
        for n in ns:
            n = reexport.get(n, n)
            if n in mods and n != m:
                out.setdefault(m, set()).add(n)
    return mods, out


def sccs(nodes, edges):
    index, low, stack, on, res, i = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = i[0]
        i[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
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
            res.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in res if len(c) > 1]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else "crates/core/src"
    mods, edges = graph(src)
    if "--dot" in sys.argv:
        print("digraph core {")
        for m in sorted(edges):
            for n in sorted(edges[m]):
                print(f'  "{m}" -> "{n}";')
        print("}")
        return 0
    for m in sorted(mods):
        print(f"{m:10} -> {', '.join(sorted(edges.get(m, ()))) or '-'}")
    cyc = sccs(mods, edges)
    if cyc:
        for c in cyc:
            print("cycle:", " <-> ".join(c))
        return 1
    print(f"no cycle among {len(mods)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
