#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""make docs: render Documentation/*.rst to HTML in build/docs/ with docutils, and check them.

    scripts/docs.py [--out DIR] [--check-only]

Plain docutils, not Sphinx: the kernel's toctree and :ref: do not exist here. Documents link
to each other with anonymous reST hyperlinks to the source file, `text <device.rst>`__ or
`text <device.rst#section-id>`__, which read correctly in the source tree and which this script
turns into links to the rendered .html pages. index.rst is the table of contents: it must link
to every other document.

Fails (exit 1, every problem listed) on:
- any docutils message of level WARNING or above, while parsing or writing (the Python API's
  equivalent of rst2html --report=warning --halt=warning, but all files are checked and all
  messages reported before failing);
- a document whose first line is not ".. SPDX-License-Identifier: GPL-2.0", or without a title;
- a relative link that is not to a Documentation/*.rst file, or to a #fragment that the target
  document does not define (section ids are their titles, lowercased, with hyphens);
- a document that index.rst does not link to;
- a test named in a literal as ``PROGRAM: TEST`` (``pinio_io_test: multi_bio_efault_after_moving``)
  that tests-kselftest/ does not define, or a KUnit case ``SUITE: CASE`` that src/ does not;
- README.md longer than 200 lines, or a relative link in README.md or bench/README.md to a
  file that does not exist.
"""

import argparse
import glob
import io
import os
import re
import sys

try:
    from docutils import nodes
    from docutils.core import publish_doctree, publish_from_doctree
except ImportError:
    sys.exit("[pinio] error: docutils is missing: scripts/setup.sh installs it "
             "(Debian's python3-docutils)")

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_DIR = os.path.join(TOP, "Documentation")
SPDX = ".. SPDX-License-Identifier: GPL-2.0"
README_MAX_LINES = 200

SETTINGS = {
    "report_level": 2,  # WARNING and above are reported ...
    "halt_level": 5,  # ... and collected here instead of stopping at the first
    "input_encoding": "utf-8",
    "output_encoding": "utf-8",
    "syntax_highlight": "none",
    "raw_enabled": False,
    "file_insertion_enabled": False,
    "_disable_config": True,
    "embed_stylesheet": True,
    "doctitle_xform": True,
    "sectsubtitle_xform": False,
}

# ``pinio_io_test: name`` or ``pinio_io_test: fixture.name``; KUnit: ``pinio_dio: case``.
TEST_REF = re.compile(r"^(pinio_[a-z0-9_]+): ([a-z0-9_]+(?:\.[a-z0-9_]+)?)$")


def kselftest_names():
    """{program: set of test names, plain and fixture.name} from tests-kselftest/*.c."""
    names = {}
    tests = os.path.join(TOP, "tests-kselftest")
    pat = re.compile(r"^(TEST|TEST_F|TEST_F_TIMEOUT|TEST_SIGNAL)\(\s*([a-z0-9_]+)(?:,\s*([a-z0-9_]+))?",
                     re.M)
    for path in glob.glob(os.path.join(tests, "*.c")):
        base = os.path.basename(path)[:-2]
        prog = base if base.endswith("_test") else base + "_test"
        found = set()
        with open(path, encoding="utf-8") as f:
            for m in pat.finditer(f.read()):
                if m.group(1) in ("TEST", "TEST_SIGNAL"):
                    found.add(m.group(2))
                else:
                    found.add(m.group(3))
                    found.add(m.group(2) + "." + m.group(3))
        names[prog] = found
    # One source, two programs (tests-kselftest/Makefile).
    if "pinio_abi_test" in names:
        names["pinio_abi32_test"] = names["pinio_abi_test"]
    return names


def kunit_names():
    """{suite: set of case names} from the #[kunit_tests(SUITE)] modules of src/."""
    names = {}
    for path in glob.glob(os.path.join(TOP, "src", "**", "*.rs"), recursive=True):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r"#\[kunit_tests\(([a-z0-9_]+)\)\]", text):
            names.setdefault(m.group(1), set()).update(
                re.findall(r"\bfn ([a-z0-9_]+)\s*\(", text[m.end():]))
    return names


def is_external(uri):
    return re.match(r"^[a-z][a-z0-9+.-]*:", uri) is not None


def parse(path, problems):
    """The doctree of one document; docutils' own messages go to problems."""
    stream = io.StringIO()
    with open(path, encoding="utf-8") as f:
        source = f.read()
    rel = os.path.relpath(path, TOP)
    if source.split("\n", 1)[0] != SPDX:
        problems.append(f"{rel}:1: the first line must be '{SPDX}'")
    doctree = publish_doctree(source, source_path=rel,
                              settings_overrides=dict(SETTINGS, warning_stream=stream))
    problems.extend(line for line in stream.getvalue().splitlines() if line.strip())
    if not doctree.get("title"):
        problems.append(f"{rel}: no document title (an over- and underlined heading first)")
    return doctree


def internal_links(doctree):
    """(node, target file, fragment) of every relative link."""
    for ref in doctree.findall(nodes.reference):
        uri = ref.get("refuri")
        if uri is None or is_external(uri):
            continue
        target, _, frag = uri.partition("#")
        yield ref, target, frag


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(TOP, "build", "docs"))
    ap.add_argument("--check-only", action="store_true", help="check, write no HTML")
    args = ap.parse_args()

    problems = []
    docs = sorted(glob.glob(os.path.join(DOC_DIR, "*.rst")))
    if not any(os.path.basename(d) == "index.rst" for d in docs):
        problems.append("Documentation/index.rst is missing")
    trees = {os.path.basename(d): parse(d, problems) for d in docs}
    ids = {name: {i for node in tree.findall(nodes.Element) for i in node.get("ids", [])}
           for name, tree in trees.items()}

    ksft, kunit = kselftest_names(), kunit_names()
    for name, tree in trees.items():
        rel = "Documentation/" + name
        for ref, target, frag in internal_links(tree):
            if not target:
                target = name
            if "/" in target or not target.endswith(".rst"):
                problems.append(f"{rel}: link to '{ref['refuri']}': only Documentation/*.rst "
                                "files can be linked (write other paths as ``literals``)")
                continue
            if target not in trees:
                problems.append(f"{rel}: link to '{ref['refuri']}': no such document")
                continue
            if frag and frag not in ids[target]:
                problems.append(f"{rel}: link to '{ref['refuri']}': {target} has no "
                                f"section or target '{frag}'")
        for lit in tree.findall(nodes.literal):
            m = TEST_REF.match(lit.astext())
            if not m:
                continue
            prog, test = m.groups()
            if prog in ksft:
                if test not in ksft[prog]:
                    problems.append(f"{rel}: ``{lit.astext()}``: no test '{test}' in "
                                    f"tests-kselftest/ for {prog}")
            elif prog in kunit:
                if test not in kunit[prog]:
                    problems.append(f"{rel}: ``{lit.astext()}``: no KUnit case '{test}' "
                                    f"in suite {prog} (src/)")
            else:
                problems.append(f"{rel}: ``{lit.astext()}``: no test program or KUnit suite "
                                f"named {prog}")

    if "index.rst" in trees:
        linked = {t for _, t, _ in internal_links(trees["index.rst"])}
        for name in trees:
            if name != "index.rst" and name not in linked:
                problems.append(f"Documentation/{name}: not linked from Documentation/index.rst")

    readme = os.path.join(TOP, "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if len(lines) > README_MAX_LINES:
        problems.append(f"README.md: {len(lines)} lines, more than {README_MAX_LINES}")
    for md in (readme, os.path.join(TOP, "bench", "README.md")):
        if not os.path.exists(md):
            continue
        with open(md, encoding="utf-8") as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if path and not is_external(path) and \
                    not os.path.exists(os.path.join(os.path.dirname(md), path)):
                problems.append(f"{os.path.relpath(md, TOP)}: link to missing file '{target}'")

    if not problems and not args.check_only:
        os.makedirs(args.out, exist_ok=True)
        for name, tree in trees.items():
            for ref, target, frag in internal_links(tree):
                if target.endswith(".rst"):
                    ref["refuri"] = target[:-4] + ".html" + ("#" + frag if frag else "")
            stream = io.StringIO()
            html = publish_from_doctree(tree, writer_name="html5",
                                        settings_overrides=dict(SETTINGS, warning_stream=stream))
            problems.extend(line for line in stream.getvalue().splitlines() if line.strip())
            with open(os.path.join(args.out, name[:-4] + ".html"), "wb") as f:
                f.write(html)

    if problems:
        for p in problems:
            print(f"[pinio] docs: {p}", file=sys.stderr)
        print(f"[pinio] docs: {len(problems)} problem(s) in Documentation/", file=sys.stderr)
        return 1
    where = "checked" if args.check_only else f"rendered to {os.path.relpath(args.out, TOP)}/"
    print(f"[pinio] docs: {len(trees)} documents {where}, no warnings, every link resolved",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
