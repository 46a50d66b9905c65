# SPDX-License-Identifier: GPL-2.0
"""The kernel's C helpers (rust/helpers/) for the shims pinio's pages layer calls.

pinio_shim.c holds `RET pinio_NAME(PARAMS) { return NAME(ARGS); }` for every static inline
or macro NAME that pinio calls from Rust. The kernel's Rust crate reaches such inlines through
`__rust_helper RET rust_helper_NAME(PARAMS)` in rust/helpers/*.c, which bindgen exposes as
`bindings::NAME`. This module reads pinio's shim definitions and writes the helpers, refusing
any shim that is more than a plain call of NAME with its own parameters (a helper must be the
inline itself, nothing of pinio's).
"""

import re

from rust_rewrite import RewriteError

DEF = re.compile(
    r"^(?P<ret>[A-Za-z_][^\n;{}()#/]*?[\s*])pinio_(?P<name>\w+)\((?P<params>[^)]*)\)\s*\n"
    r"\{\n(?P<body>.*?)\n\}$",
    re.M | re.S,
)


def shim_definitions(c_text):
    """name -> (return type, [parameters], body) of every pinio_NAME definition."""
    defs = {}
    for m in DEF.finditer(c_text):
        params = [p.strip() for p in " ".join(m.group("params").split()).split(",")]
        defs[m.group("name")] = (m.group("ret").strip(), params, m.group("body").strip())
    return defs


def param_name(p):
    m = re.search(r"(\w+)\s*$", p)
    if not m or p == "void":
        raise RewriteError(f"cannot name the parameter {p!r}")
    return m.group(1)


def check_plain(name, params, body):
    args = [] if params == ["void"] else [param_name(p) for p in params]
    call = f"{name}({', '.join(args)});"
    if body not in (call, "return " + call):
        raise RewriteError(
            f"pinio_{name}() in rust-bindings/pinio_shim.c is not a plain call of {name}() "
            f"with its own parameters ({body!r}): it cannot become rust_helper_{name}()")


def visual_len(s):
    col = 0
    for ch in s:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def render_helper(name, ret, params, body):
    """The helper's definition, in the style of rust/helpers/: on one line if it fits in 80
    columns, else with the return type on a line of its own (as rust/helpers/mm.c does for
    vma_lookup()) and the parameters wrapped, aligned with the opening parenthesis."""
    check_plain(name, params, body)
    sep = "" if ret.endswith("*") else " "
    one = f"__rust_helper {ret}{sep}rust_helper_{name}({', '.join(params)})"
    if visual_len(one) <= 80:
        return one + "\n{\n\t" + body + "\n}\n"
    head = f"rust_helper_{name}("
    col = visual_len(head)
    indent = "\t" * (col // 8) + " " * (col % 8)
    lines, line = [f"__rust_helper {ret}"], head + params[0]
    for p in params[1:]:
        if visual_len(line + ", " + p + ")") <= 80:
            line += ", " + p
        else:
            lines.append(line + ",")
            line = indent + p
    lines.append(line + ")")
    return "\n".join(lines) + "\n{\n\t" + body + "\n}\n"


def existing_helpers(helper_files):
    """The helper names the tree's rust/helpers/*.c already define."""
    names = set()
    for text in helper_files.values():
        names.update(re.findall(r"\brust_helper_(\w+)\s*\(", text))
    return names
