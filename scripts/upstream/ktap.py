#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads one KUnit suite's KTAP results from a kernel log and says how it went.

    ktap.py DMESG SUITE [OURS_REGEX [EXPECTED]]

Prints one summary line for the suite and one for the test cases whose names match OURS_REGEX
(there must be EXPECTED of them, if given, and at least one); exits 1 if the suite is missing
or unfinished, if any case failed, if the cases do not add up to the suite's plan, or if the
suite itself is reported "not ok".
"""

import re
import sys

STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, suite = sys.argv[1], sys.argv[2]
    ours_re = re.compile(sys.argv[3]) if len(sys.argv) > 3 else None
    expected = int(sys.argv[4]) if len(sys.argv) > 4 else None
    with open(path, errors="replace") as f:
        lines = [STAMP.sub("", line.rstrip("\n")) for line in f]

    start = next((i for i, line in enumerate(lines)
                  if line.strip() == f"# Subtest: {suite}"), None)
    if start is None:
        print(f"doctests: no KUnit suite {suite} in {path}")
        return 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    plan, cases, verdict, failed_lines = None, [], None, []
    for line in lines[start + 1:]:
        body = line[indent:] if line[:indent].strip() == "" else line.lstrip()
        lead = len(line) - len(line.lstrip())
        m = re.match(r"1\.\.(\d+)$", body)
        if lead == indent and m and plan is None:
            plan = int(m.group(1))
            continue
        m = re.match(r"(not ok|ok) (\d+) (\S+)(.*)$", line.strip())
        if m and lead == indent:
            skip = "# SKIP" in m.group(4)
            cases.append((m.group(3), m.group(1) == "ok", skip))
            continue
        if m and lead < indent and m.group(3) == suite:
            verdict = m.group(1) == "ok"
            break
        if lead > indent and ("ASSERTION FAILED" in line or "Expected" in line):
            failed_lines.append(line.strip())
    if verdict is None:
        print(f"doctests: suite {suite} did not finish in {path} ({len(cases)} cases seen)")
        return 1
    passed = sum(1 for _, ok, skip in cases if ok and not skip)
    skipped = sum(1 for _, ok, skip in cases if skip)
    failed = [name for name, ok, _ in cases if not ok]
    rc = 0
    print(f"doctests: KUnit suite {suite}: {passed} passed, {len(failed)} failed, {skipped} "
          f"skipped, of {len(cases)} (plan {plan}); suite {'ok' if verdict else 'not ok'}")
    if failed or not verdict or plan != len(cases):
        rc = 1
        for name in failed:
            print(f"doctests: FAILED {name}")
        for line in failed_lines[:20]:
            print(f"doctests:   {line}")
    if ours_re is not None:
        ours = [(n, ok, skip) for n, ok, skip in cases if ours_re.search(n)]
        ok_ours = sum(1 for _, ok, skip in ours if ok and not skip)
        print(f"doctests: the series' own: {ok_ours} passed of {len(ours)}"
              + (f" (expected {expected})" if expected is not None else "")
              + ": " + " ".join(n.replace("rust_doctest_kernel_", "") for n, _, _ in ours))
        if not ours or ok_ours != len(ours) or (expected is not None and len(ours) != expected):
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
