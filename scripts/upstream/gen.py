#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make upstream-patches: the pages layer of pinio as a git format-patch series for the
kernel's Rust crate, generated from pinio's own sources so that the two cannot drift.

    gen.py --tree KERNEL_SRC --out DIR [--top PINIO] [--rustfmt PATH] [--author 'N <E>']

Reads the series' plan and messages (series.py, cover-letter.txt next to this file), pinio's
src/pages/*.rs (rewritten by rust_rewrite.py) and rust-bindings/pinio_shim.c (turned into
rust/helpers/ helpers by c_helpers.py), and the files of the downloaded tree the series
changes. Writes DIR/*.patch (0000 is the cover letter). The commits are made in a scratch
repository holding only those files; the patches are byte for byte those a clone of the whole
tree would give (blob ids are content hashes), and apply to the tree with git am or git apply.
Nothing in the tree is written to.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import c_helpers  # noqa: E402
import series  # noqa: E402
from rust_rewrite import RewriteError, Rewriter  # noqa: E402


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def insert_mod(text, name, fname):
    """`pub mod NAME;` in a parent module file: among its `pub mod` lines, sorted, or after its
    use statements."""
    lines = text.split("\n")
    mods = [i for i, line in enumerate(lines) if re.fullmatch(r"pub mod \w+;", line)]
    new = f"pub mod {name};"
    if new in lines:
        raise RewriteError(f"{fname}: already has {new}")
    if mods:
        run = [mods[0]]
        while run[-1] + 1 in mods:
            run.append(run[-1] + 1)
        at = next((i for i in run if lines[i] > new), run[-1] + 1)
        lines.insert(at, new)
        return "\n".join(lines)
    # After the last top-level use statement before the first item.
    last_use_end = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("use "):
            while not lines[i].rstrip().endswith(";"):
                i += 1
            last_use_end = i
        elif line and not line.startswith(("//", "#!", " ")) and last_use_end is not None:
            break
        i += 1
    if last_use_end is None:
        raise RewriteError(f"{fname}: no use statement to put `{new}` after")
    lines[last_use_end + 1:last_use_end + 1] = ["", new]
    return "\n".join(lines)


def insert_sorted_line(text, new, pattern, fname):
    """`new` among the lines matching `pattern`, before the first greater one (or after the
    last); before an #ifdef that guards that line."""
    lines = text.split("\n")
    if new in lines:
        raise RewriteError(f"{fname}: already has {new}")
    idx = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    if not idx:
        raise RewriteError(f"{fname}: no line like {pattern}")
    at = next((i for i in idx if lines[i] > new), None)
    if at is None:
        at = idx[-1] + 1
        if at < len(lines) and lines[at].startswith("#endif"):
            at += 1
    elif at > 0 and lines[at - 1].startswith("#if"):
        at -= 1
    lines.insert(at, new)
    return "\n".join(lines)


def insert_maintainers(text, entry, path):
    """`F:\tPATH` in the MAINTAINERS entry titled `entry`, sorted among its F: lines."""
    lines = text.split("\n")
    try:
        start = lines.index(entry)
    except ValueError:
        raise RewriteError(f"MAINTAINERS: no entry {entry!r}") from None
    end = next(i for i in range(start, len(lines)) if lines[i] == "")
    new = f"F:\t{path}"
    if new in lines[start:end]:
        raise RewriteError(f"MAINTAINERS: {entry} already has {path}")
    files = [i for i in range(start, end) if lines[i].startswith("F:\t")]
    if not files:
        raise RewriteError(f"MAINTAINERS: {entry} has no F: line")
    at = next((i for i in files if lines[i] > new), files[-1] + 1)
    lines.insert(at, new)
    return "\n".join(lines)


def rustfmt(text, rustfmt_bin, config_dir):
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "file.rs")
        with open(f, "w", encoding="utf-8") as out:
            out.write(text)
        r = subprocess.run([rustfmt_bin, "--edition", "2021", "--config-path", config_dir, f],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RewriteError(f"rustfmt failed:\n{r.stderr}")
        return read(f)


def use_block(text):
    m = re.search(r"^use .*?(?=\n\n|\n(?!use |    |\}))", text, re.S | re.M)
    return m.group(0) if m else ""


def git(repo, *args, env=None, input=None):
    e = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=repo)
    e.update(env or {})
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, env=e,
                       input=input)
    if r.returncode != 0:
        raise RewriteError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def build(top, tree, rustfmt_bin):
    """The series as [(subject, body, {path: new text})], plus the base texts."""
    rw = Rewriter(series.MODULES)
    shim_defs = c_helpers.shim_definitions(read(os.path.join(top, "rust-bindings/pinio_shim.c")))
    helper_dir = os.path.join(tree, "rust/helpers")
    tree_helpers = {}
    for dirpath, _, files in os.walk(helper_dir):
        for f in files:
            if f.endswith(".c"):
                p = os.path.join(dirpath, f)
                tree_helpers[os.path.relpath(p, tree)] = read(p)
    have = c_helpers.existing_helpers(tree_helpers)

    base, state = {}, {}

    def get(path):
        if path not in state:
            full = os.path.join(tree, path)
            base[path] = read(full) if os.path.exists(full) else None
            state[path] = base[path]
        return state[path]

    provided = set(have)
    reused = set()
    patches = []
    for patch in series.PATCHES:
        changed = {}

        def put(path, text):
            state[path] = text
            changed[path] = text

        # C helpers.
        for hfile, names in patch.get("helpers", {}).items():
            path = f"rust/helpers/{hfile}"
            text = get(path)
            new_file = text is None
            if new_file:
                text = series.HELPER_FILE_HEAD[hfile]
            for name in names:
                if name in have:
                    raise RewriteError(f"rust_helper_{name} is in the tree already: reuse it")
                if name not in shim_defs:
                    raise RewriteError(f"no pinio_{name}() in rust-bindings/pinio_shim.c")
                ret, params, body = shim_defs[name]
                text = text.rstrip("\n") + "\n\n" + c_helpers.render_helper(name, ret, params, body)
                provided.add(name)
            put(path, text)
            if new_file:
                inc = f'#include "{hfile}"'
                put("rust/helpers/helpers.c", insert_sorted_line(
                    get("rust/helpers/helpers.c"), inc, r'#include "[\w/-]+\.c"',
                    "rust/helpers/helpers.c"))
        # MAINTAINERS: every file the series adds goes to an entry.
        for entry, path in patch.get("maintainers", []):
            put("MAINTAINERS", insert_maintainers(get("MAINTAINERS"), entry, path))
        # Lines added to existing files (e.g. the uapi bindings' header).
        for path, line, pattern in patch.get("lines", []):
            put(path, insert_sorted_line(get(path), line, pattern, path))
        # Rust modules.
        for m in patch.get("modules", []):
            parent, name = series.MODULES[m]
            src = os.path.join(top, "src/pages", m + ".rs")
            text, shims = rw.rewrite(read(src), m, os.path.relpath(src, top))
            for s in shims:
                if s not in provided:
                    raise RewriteError(
                        f"src/pages/{m}.rs calls pinio_{s}(), but no patch up to this one "
                        f"adds rust_helper_{s}() and the tree has none")
                if s in have:
                    reused.add(s)
            emitted = use_block(text)
            text = rustfmt(text, rustfmt_bin, tree)
            if use_block(text) != emitted:
                raise RewriteError(
                    f"src/pages/{m}.rs: rustfmt changed the generated imports:\n{emitted}\n"
                    f"---\n{use_block(text)}")
            for n, line in enumerate(text.split("\n"), 1):
                if len(line) > 100:
                    raise RewriteError(
                        f"src/pages/{m}.rs -> rust/kernel/{parent}/{name}.rs:{n}: longer than "
                        f"100 columns after the rewrites: {line.strip()}")
            put(f"rust/kernel/{parent}/{name}.rs", text)
            ppath = f"rust/kernel/{parent}.rs"
            put(ppath, insert_mod(get(ppath), name, ppath))
        patches.append((patch["subject"], patch["body"], changed))
    return base, patches, sorted(reused)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--tree", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rustfmt", default="rustfmt")
    ap.add_argument("--author", default="")
    ap.add_argument("--date", default="")
    args = ap.parse_args()

    try:
        base, patches, reused = build(args.top, args.tree, args.rustfmt)
    except RewriteError as e:
        print(f"upstream: {e}", file=sys.stderr)
        return 1

    version = read(os.path.join(args.tree, ".pinio-version")).strip() \
        if os.path.exists(os.path.join(args.tree, ".pinio-version")) else "unknown"
    author = args.author or "pinio <pinio@invalid>"
    m = re.fullmatch(r"(.*?)\s*<(.*)>", author)
    name, email = (m.group(1), m.group(2)) if m else (author, "pinio@invalid")
    date = args.date or "2026-01-01T00:00:00+00:00"
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date}

    repo = tempfile.mkdtemp(prefix="pinio-upstream-")
    try:
        git(repo, "init", "-q")
        git(repo, "config", "core.abbrev", "12")
        for path, text in base.items():
            if text is None:
                continue
            full = os.path.join(repo, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"Linux {version} (the files the series touches)",
            env=env)
        for subject, body, changed in patches:
            for path, text in changed.items():
                full = os.path.join(repo, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w", encoding="utf-8") as f:
                    f.write(text if text.endswith("\n") else text + "\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-F", "-", env=env, input=f"{subject}\n\n{body.strip()}\n")

        if os.path.isdir(args.out):
            for f in os.listdir(args.out):
                if f.endswith(".patch"):
                    os.unlink(os.path.join(args.out, f))
        os.makedirs(args.out, exist_ok=True)
        git(repo, "format-patch", "-q", "--cover-letter", "--no-signature", "--zero-commit",
            "-o", os.path.abspath(args.out), "HEAD~%d" % len(patches), env=env)
        cover_path = [f for f in sorted(os.listdir(args.out)) if f.startswith("0000-")][0]
        cover_path = os.path.join(args.out, cover_path)
        subject, blurb = series.cover_letter(version, reused)
        text = read(cover_path)
        if "*** SUBJECT HERE ***" not in text or "*** BLURB HERE ***" not in text:
            raise RewriteError("git format-patch's cover letter has no placeholders")
        text = text.replace("*** SUBJECT HERE ***", subject)
        text = text.replace("*** BLURB HERE ***", blurb.strip())
        with open(cover_path, "w", encoding="utf-8") as f:
            f.write(text)
    except RewriteError as e:
        print(f"upstream: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    for f in sorted(os.listdir(args.out)):
        print(os.path.join(args.out, f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
