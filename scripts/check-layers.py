#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks that pinio's Rust modules import only downward and never in a circle.

The layers, bottom up, are the folders of src/ (see the crate doc in src/pinio.rs):

    glue < pages < disk < requests < pins < chardev < (the crate root, integration)

A module may import from its own layer and from the layers below (and what the module!
macro generates at the crate root, such as LocalModule). Production code only:
the bodies of #[kunit_tests(...)] modules and src/integration.rs (test fixtures spanning
layers) are left out. Besides the layer order, the graph of modules (one per file) must have
no cycle. Every offending edge is printed as "FILE: LAYER -> LAYER (use ...)"; the exit status
is 1 if there is any.

    scripts/check-layers.py [SRC_DIR]     check (default: the repository's src/)
    scripts/check-layers.py --self-test   prove the check fails on an upward import and on a
                                          cycle, by checking a copy of src/ with one added
"""
import os
import re
import shutil
import sys
import tempfile

LAYERS = ["glue", "pages", "disk", "requests", "pins", "chardev"]
TOP = len(LAYERS)  # the crate root and the test-only modules
TEST_ONLY = {"integration"}
# What the module! macro generates at the crate root, for every module's use.
MACRO_ITEMS = {"crate::LocalModule", "crate::THIS_MODULE"}


def module_of(src, path):
    """The module path of a file: src/disk/store.rs -> ('disk', 'store')."""
    rel = os.path.relpath(path, src)[:-3]
    parts = tuple(rel.split(os.sep))
    return () if parts == ("pinio",) else parts


def layer_of(module):
    if not module:
        return TOP
    return LAYERS.index(module[0]) if module[0] in LAYERS else TOP


def strip_tests_and_comments(text):
    """The production code of a file: no comments, no #[kunit_tests] module bodies."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[(kunit_tests\([^)]*\)|cfg\(test\))\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def use_paths(code):
    """Every path a `use` declaration names, flattened: 'crate::disk::store::Alloc', ..."""
    paths = []

    def expand(prefix, body):
        depth, start, items = 0, 0, []
        for k, ch in enumerate(body):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(body[start:k])
                start = k + 1
        items.append(body[start:])
        for item in (x.strip() for x in items):
            if not item:
                continue
            m = re.match(r"^([\w:]*?)::\{(.*)\}$", item, re.S)
            if m:
                expand(prefix + m.group(1) + "::", m.group(2))
            else:
                p = prefix + item.split(" as ")[0].strip()
                paths.append(p[: -len("::self")] if p.endswith("::self") else p)

    for m in re.finditer(r"\buse\s+([^;]+);", code):
        expand("", m.group(1).replace("\n", " "))
    # Paths written out in code: crate::a::b, super::a.
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", code):
        paths.append(m.group(1))
    return paths


def resolve(modules, current, path):
    """The module (file) a path refers to, or None for the kernel crate and items."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] == "super":
        # A file's parent is its folder's module (src/disk/store.rs -> disk).
        base, rest = current[:-1], parts[1:]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif parts[0] == "self":
        base, rest = current, parts[1:]
    else:
        return None
    target = base
    for p in rest:
        if target + (p,) in modules:
            target = target + (p,)
        else:
            break
    return target if target != current else None


def check(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = p
    modules = set(files)
    edges, problems = {}, []
    for mod, path in sorted(files.items()):
        if mod and mod[0] in TEST_ONLY:
            continue
        with open(path) as f:
            code = strip_tests_and_comments(f.read())
        for use in use_paths(code):
            if use in MACRO_ITEMS:
                continue
            target = resolve(modules, mod, use)
            if target is None or (target and target[0] in TEST_ONLY):
                continue
            # A folder's module declares its children: that is structure, not an import.
            if target[: len(mod)] == mod and len(target) > len(mod):
                continue
            edges.setdefault(mod, {}).setdefault(target, use)
            if layer_of(target) > layer_of(mod):
                problems.append("%s: upward import, layer %s -> layer %s (%s)" % (
                    os.path.relpath(path, os.path.dirname(src)), name(mod), name(target), use))
    # Cycles among modules (files), each reported once, as a path.
    state, stack, seen_cycles = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, {})):
            # An edge to an ancestor folder module (a child using its parent's items) is
            # the parent's own code: still an edge.
            if state.get(t) == 1:
                cyc = stack[stack.index(t):] + [t]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    problems.append("import cycle: " + " -> ".join(
                        "%s (%s)" % ("::".join(a) or "crate", edges[a][b])
                        for a, b in zip(cyc, cyc[1:])))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return problems


def name(mod):
    return "::".join(mod) if mod else "crate root"


def self_test(src):
    """The check must fail on an upward import and on a cycle, naming the edge."""
    cases = [
        ("pages/view.rs", "use crate::chardev::open_file::OpenFile;\n", "pages::view -> layer chardev"),
        ("disk/bus.rs", "use crate::requests::engine::Engine;\n", "disk::bus -> layer requests"),
        ("disk/dma_device.rs", "use super::mapping::DmaSegment;\n", "import cycle"),
    ]
    ok = True
    for rel, line, expect in cases:
        tmp = tempfile.mkdtemp()
        try:
            copy = os.path.join(tmp, "src")
            shutil.copytree(src, copy)
            with open(os.path.join(copy, rel)) as f:
                text = f.read()
            with open(os.path.join(copy, rel), "w") as f:
                f.write(line + text)
            problems = check(copy)
            flat = "\n".join(problems).replace("layer ", "")
            want = expect.replace("layer ", "")
            if not any(want.split(" -> ")[0] in p and (want.split(" -> ")[-1] in p) for p in flat.split("\n")):
                print("self-test: adding '%s' to %s was not reported (got: %s)" % (
                    line.strip(), rel, problems or "nothing"))
                ok = False
            else:
                print("self-test: adding '%s' to %s is reported: %s" % (
                    line.strip(), rel, next(p for p in problems if want.split(" -> ")[0] in p)))
        finally:
            shutil.rmtree(tmp)
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(os.path.dirname(here), "src")
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        clean = check(src)
        if clean:
            print("self-test needs a clean tree first:\n" + "\n".join(clean))
            return 1
        return 0 if self_test(src) else 1
    if args:
        src = args[0]
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print("layers: %d problem(s); the order is %s" % (len(problems), " < ".join(LAYERS)))
        return 1
    print("layers: every import goes downward (%s), no cycle" % " < ".join(LAYERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
