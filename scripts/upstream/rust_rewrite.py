# SPDX-License-Identifier: GPL-2.0
"""The rewrites that turn a file of pinio's pages layer (src/pages/NAME.rs) into a file of the
kernel's Rust crate (rust/kernel/PARENT/NAME.rs).

Every rewrite is mechanical and checked; anything the rules do not cover stops the generator
with the file and line, rather than producing a patch a reviewer would have to catch:

1. "// BEGIN pinio only" ... "// END pinio only" blocks are left out (pinio's FOLL_GET
   experiments and their timing); the blocks must be balanced and not nested.
2. The module-level `use` statements are parsed, their paths rewritten and merged into one
   statement per root, in the kernel's vertical import style (one item a line, "//" after the
   last item of every list), in rustfmt's order:
   - `super::M` where M is a sibling pages module: `super::M` if M lands under the same parent
     in the kernel crate, `crate::PARENT::M` if not;
   - `kernel::...` becomes `crate::...`; `crate::glue::shim` (pinio's bindgen'd C shims) goes.
3. In the rest of the file: `super::M` and `crate::pages::M` paths as above (code, comments
   and intra-doc links alike); `kernel::` becomes `crate::` outside doc comments (doc comments
   and their examples keep `kernel::`, which is what a doctest or a reader outside the crate
   writes).
4. `shim::pinio_NAME(` becomes `bindings::NAME(`: each such shim wraps the kernel inline NAME
   with NAME's prototype, and the series adds (or reuses) the helper rust_helper_NAME.
5. `pub(crate)` becomes `pub`; `pub(super)` stays (the sibling modules stay siblings).
6. No "pinio", "glue" or "shim::" may remain.
"""

import re

BEGIN = re.compile(r"^\s*// BEGIN pinio only\b")
END = re.compile(r"^\s*// END pinio only\s*$")


class RewriteError(Exception):
    pass


def strip_pinio_only(text, fname):
    out, inside, start = [], False, 0
    for n, line in enumerate(text.split("\n"), 1):
        if BEGIN.match(line):
            if inside:
                raise RewriteError(f"{fname}:{n}: nested BEGIN pinio only (the first at {start})")
            inside, start = True, n
            continue
        if END.match(line):
            if not inside:
                raise RewriteError(f"{fname}:{n}: END pinio only without a BEGIN")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise RewriteError(f"{fname}:{start}: BEGIN pinio only never ends")
    return "\n".join(out)


# --- use trees -------------------------------------------------------------------------------

TOKEN = re.compile(r"\s+|//[^\n]*|::|[{},*;]|[A-Za-z_][A-Za-z0-9_]*")


def tokenize(s, where):
    toks, i = [], 0
    while i < len(s):
        m = TOKEN.match(s, i)
        if not m:
            raise RewriteError(f"{where}: cannot read the use statement at {s[i:i + 20]!r}")
        t = m.group(0)
        i = m.end()
        if t.isspace() or t.startswith("//"):
            continue
        toks.append(t)
    return toks


def parse_use(s, where):
    """The full paths of `use TREE;` as lists of segments ('self' and '*' may end one)."""
    toks = tokenize(s, where)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take(expected=None):
        nonlocal pos
        t = peek()
        if t is None or (expected is not None and t != expected):
            raise RewriteError(f"{where}: expected {expected!r}, found {t!r}")
        pos += 1
        return t

    def tree(prefix):
        if peek() == "{":
            take("{")
            r = lst(prefix)
            take("}")
            return r
        segs = [take()]
        while peek() == "::":
            take("::")
            if peek() == "{":
                take("{")
                r = lst(prefix + segs)
                take("}")
                return r
            if peek() == "*":
                take("*")
                return [prefix + segs + ["*"]]
            segs.append(take())
        if peek() == "as":
            raise RewriteError(f"{where}: `use ... as` is not supported")
        return [prefix + segs]

    def lst(prefix):
        out = []
        while peek() != "}":
            out += tree(prefix)
            if peek() == ",":
                take(",")
        return out

    take("use")
    paths = tree([])
    take(";")
    if pos != len(toks):
        raise RewriteError(f"{where}: trailing tokens after the use statement")
    return paths


def seg_key(seg):
    """rustfmt's order of use-list items (style editions up to 2021): self, super, crate,
    snake_case, CamelCase, UPPER_SNAKE_CASE, then globs; ASCII within a class."""
    if seg == "self":
        return (0, seg)
    if seg == "super":
        return (1, seg)
    if seg == "crate":
        return (2, seg)
    if seg == "*":
        return (7, seg)
    upper_snake = all(c.isupper() or c == "_" or c.isdigit() for c in seg)
    if seg[0].islower():
        return (3, seg)
    if seg[0].isupper() and not upper_snake:
        return (4, seg)
    if upper_snake:
        return (5, seg)
    return (6, seg)


class Node:
    def __init__(self):
        self.children = {}
        self.leaf = False


def add_path(root, path):
    node = root
    for seg in path:
        node = node.children.setdefault(seg, Node())
    node.leaf = True


def render(name, node, indent):
    """The use tree `name...` for `node`, in the kernel's vertical style, as text lines
    (the first without indentation)."""
    kids = node.children
    if node.leaf and not kids:
        return [name]
    if len(kids) == 1 and not node.leaf:
        (only,) = kids
        sub = render(only, kids[only], indent)
        return [f"{name}::{sub[0]}"] + sub[1:]
    entries = sorted(list(kids) + (["self"] if node.leaf and "self" not in kids else []),
                     key=seg_key)
    lines = [f"{name}::{{"]
    pad = " " * (indent + 4)
    for i, entry in enumerate(entries):
        sub = render(entry, kids[entry], indent + 4) if entry in kids else [entry]
        last = i == len(entries) - 1
        sub[-1] += ", //" if last else ","
        lines.append(pad + sub[0])
        lines += sub[1:]
    lines.append(" " * indent + "}")
    return lines


def render_uses(paths):
    roots = {}
    for p in paths:
        root = roots.setdefault(p[0], Node())
        if len(p) == 1:
            root.leaf = True
        else:
            add_path(root, p[1:])
    out = []
    for r in sorted(roots, key=seg_key):
        lines = render(r, roots[r], 0)
        lines[-1] += ";"
        out.append("use " + lines[0])
        out += lines[1:]
    return out


# --- the whole file --------------------------------------------------------------------------


class Rewriter:
    def __init__(self, modules):
        # pinio module name -> (kernel crate parent module, module name)
        self.modules = modules

    def module_path(self, here, m):
        parent, name = self.modules[m]
        if parent == self.modules[here][0]:
            return ["super", name]
        return ["crate", parent, name]

    def rewrite_path(self, here, path, where):
        if path[0] == "super" and len(path) > 1 and path[1] in self.modules:
            return self.module_path(here, path[1]) + path[2:]
        if path[0] == "kernel":
            return ["crate"] + path[1:]
        if path[:2] == ["crate", "pages"] and len(path) > 2 and path[2] in self.modules:
            return self.module_path(here, path[2]) + path[3:]
        if path[:3] == ["crate", "glue", "shim"] and len(path) == 3:
            return None
        if path[0] in ("core", "crate") and path[:2] not in (["crate", "glue"], ["crate", "pages"]):
            return path
        raise RewriteError(f"{where}: no rule for the import {'::'.join(path)}")

    def rewrite(self, text, here, fname):
        """The kernel-crate text of pinio's module `here`, and the shim names it called."""
        text = strip_pinio_only(text, fname)
        lines = text.split("\n")

        # Shim calls first, so that the imports can gain `bindings`.
        shims = set()

        def shim_call(m):
            shims.add(m.group(1))
            return f"bindings::{m.group(1)}("

        lines = [re.sub(r"\bshim::pinio_(\w+)\(", shim_call, line) for line in lines]

        # Module-level use statements.
        paths, first, out, i = [], None, [], 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("use "):
                j = i
                while not lines[j].rstrip().endswith(";"):
                    j += 1
                    if j == len(lines):
                        raise RewriteError(f"{fname}:{i + 1}: unterminated use statement")
                stmt = "\n".join(lines[i:j + 1])
                for p in parse_use(stmt, f"{fname}:{i + 1}"):
                    q = self.rewrite_path(here, p, f"{fname}:{i + 1}")
                    if q is not None:
                        paths.append(q)
                if first is None:
                    first = len(out)
                    out.append(None)
                i = j + 1
                # A blank line that separated two groups of use statements goes too.
                if i < len(lines) and lines[i] == "" and i + 1 < len(lines) \
                        and lines[i + 1].startswith("use "):
                    i += 1
                continue
            if re.match(r"\s+use (super|crate|kernel)::", line):
                raise RewriteError(f"{fname}:{i + 1}: a use statement inside an item")
            out.append(line)
            i += 1
        if shims and ["crate", "bindings"] not in paths:
            paths.append(["crate", "bindings"])
        if first is None:
            raise RewriteError(f"{fname}: no use statement")
        # Drop duplicates, keeping the order.
        seen, uniq = set(), []
        for p in paths:
            if tuple(p) not in seen:
                seen.add(tuple(p))
                uniq.append(p)
        out[first:first + 1] = render_uses(uniq)
        lines = out

        # Paths in the rest of the file.
        def super_path(m):
            if m.group(1) not in self.modules:
                return m.group(0)
            return "::".join(self.module_path(here, m.group(1)))

        res = []
        for n, line in enumerate(lines, 1):
            line = re.sub(r"\bsuper::(\w+)", super_path, line)
            line = re.sub(r"\bcrate::pages::(\w+)", super_path, line)
            is_doc = re.match(r"\s*//[/!]", line)
            if not is_doc:
                line = re.sub(r"(?<![\w:])kernel::", "crate::", line)
            line = line.replace("pub(crate)", "pub")
            for bad in ("pinio", "glue", "shim::", "crate::pages"):
                if bad in line.lower():
                    raise RewriteError(f"{fname}:{n}: {bad!r} left in the kernel-crate text: {line.strip()}")
            res.append(line)
        return "\n".join(res), shims
