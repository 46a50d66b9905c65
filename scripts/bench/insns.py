#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Report of scripts/insns.sh: guest instructions per operation, by function.

insns.py SYSTEM_MAP RAW OUTDIR reads RAW/<who>-<op>-<bs>-<count>.{prof,out} (tbprof's
"VADDR INSNS EXECS" lines; the guest's KSYM and CTR lines) and RAW/meta.txt, and writes
OUTDIR/latest.csv (instructions per operation), OUTDIR/functions.csv (per function) and
OUTDIR/latest.md. A block's instructions go to the symbol that contains its first instruction
(vmlinux's System.map, pinio's /proc/kallsyms lines from the same boot); user-space blocks are
"[user]". One operation's cost is (boot with COUNT operations - boot with none) / COUNT.
"""
import bisect
import collections
import csv
import glob
import os
import re
import subprocess
import sys

WHO = ["pinio-dma", "pinio-direct", "brd"]


def kernel_symbols(system_map):
    """vmlinux's text symbols, and the range of its init text (freed after boot)."""
    syms, init = [], {}
    for line in open(system_map):
        parts = line.split()
        if len(parts) < 3:
            continue
        if parts[2] in ("_sinittext", "_einittext"):
            init[parts[2]] = int(parts[0], 16)
        if parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return syms, (init.get("_sinittext", 0), init.get("_einittext", 0))


def profile(stem, vmlinux):
    syms = list(vmlinux[0])
    init_lo, init_hi = vmlinux[1]
    counters = {}
    for line in open(stem + ".out"):
        parts = line.split()
        if line.startswith("KSYM ") and len(parts) >= 4 and parts[2] in "tTwW":
            syms.append((int(parts[1], 16), parts[3]))
        elif line.startswith("CTR ") and len(parts) == 3:
            counters[parts[1]] = int(parts[2])
    syms.sort()
    addrs = [a for a, _ in syms]
    # x86-64's module area starts at 0xffffffffa0000000; below pinio's first symbol there is
    # nothing of this boot's to name.
    first_module = min((a for a, _ in syms if a >= 0xFFFFFFFFA0000000), default=1 << 64)
    by_sym = collections.Counter()
    for line in open(stem + ".prof"):
        vaddr, insns, execs = line.split()
        vaddr = int(vaddr, 16)
        # Init code runs only while booting, and some of it (calibrate_APIC_clock(), the
        # delay loops) for as long as the host takes: boot-to-boot noise, left out.
        if init_lo <= vaddr < init_hi:
            continue
        if vaddr < 0xFFFF800000000000:
            name = "[user]"
        elif vaddr >= 0xFFFFFFFFA0000000 and vaddr < first_module:
            name = "[module space, no symbol]"
        else:
            i = bisect.bisect_right(addrs, vaddr) - 1
            name = syms[i][1] if i >= 0 else "?"
        by_sym[name] += int(insns) * int(execs)
    return by_sym, counters


def demangle(names):
    try:
        res = subprocess.run(["llvm-cxxfilt-19"], input="\n".join(names),
                             capture_output=True, text=True, check=True)
        out = res.stdout.split("\n")
        return dict(zip(names, out))
    except (OSError, subprocess.CalledProcessError):
        return {n: n for n in names}


def short(name):
    # Rust generics make names hundreds of characters long: keep the path, drop the arguments.
    name = re.sub(r"::<.*", "::<..>", name)
    return name if len(name) <= 70 else name[:67] + "..."


def main():
    system_map, raw, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    vmlinux = kernel_symbols(system_map)
    runs = {}
    for prof in glob.glob(os.path.join(raw, "*.prof")):
        stem = prof[:-5]
        m = re.match(r"(pinio-dma|pinio-direct|brd)-(read|write)-(\d+)-(\d+)$",
                     os.path.basename(stem))
        if m:
            runs[(m[1], m[2], int(m[3]), int(m[4]))] = profile(stem, vmlinux)
    cells = {}
    for (who, op, bs, count), (prof, ctr) in runs.items():
        if count == 0:
            continue
        base = runs.get((who, "read", bs, 0))
        if not base:
            continue
        per_op = {k: (prof[k] - base[0][k]) / count for k in set(prof) | set(base[0])}
        segs = None
        if ctr.get("dma_maps"):
            segs = ctr.get("dma_segments", 0) / ctr["dma_maps"]
        cells[(who, op, bs)] = (per_op, segs, count)
    names = sorted({k for per_op, _, _ in cells.values() for k in per_op})
    dem = demangle(names)
    # Instances of one generic function (their arguments dropped by short()) count as one.
    for key, (per_op, segs, count) in cells.items():
        merged = collections.Counter()
        for k, v in per_op.items():
            merged[short(dem.get(k, k))] += v
        cells[key] = (merged, segs, count)
    dem = {}

    with open(os.path.join(outdir, "latest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["who", "op", "bs", "count", "insns_per_op", "segments_per_mapping"])
        for (who, op, bs), (per_op, segs, count) in sorted(cells.items()):
            w.writerow([who, op, bs, count, round(sum(per_op.values())),
                        "" if segs is None else round(segs, 2)])

    with open(os.path.join(outdir, "functions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["who", "op", "bs", "function", "insns_per_op"])
        for (who, op, bs), (per_op, _, _) in sorted(cells.items()):
            for k in sorted(per_op, key=lambda k: -per_op[k]):
                if abs(per_op[k]) >= 1:
                    w.writerow([who, op, bs, k, round(per_op[k], 1)])

    meta = dict(l.strip().split("=", 1) for l in open(os.path.join(raw, "meta.txt")) if "=" in l)
    md = ["# Guest instructions per operation (scripts/insns.sh)", "",
          f"{meta.get('date', '?')}, pinio {meta.get('git_head', '?')}, "
          f"{meta.get('flavour', 'release')} kernel {meta.get('kernel', '?')}"
          f"{' booted with ' + meta['append'] if meta.get('append') else ''}, "
          f"{meta.get('qemu', '?')}, one vCPU, {meta.get('wall_seconds', '?')} s.", "",
          "Instructions the guest executed for one O_DIRECT `pread`/`pwrite` of the size "
          "(user space and kernel, the copy included), counted by a QEMU TCG plugin: "
          "(a boot with COUNT operations - a boot with none) / COUNT. *x/y* is y's count over "
          "x's, so > 1 means x executes fewer instructions. `pinio-dma` is the module as "
          "shipped (every transfer mapped with `dma_map_sg()`), `pinio-direct` the `dma_map=0` "
          "knob (pages copied directly, no mapping), `brd` the kernel's ramdisk. "
          "*segments* is pinio's `dma_segments / dma_maps`: how many DMA segments a mapping "
          "had after merging physically contiguous pages (it varies with where the buffer's "
          "pages happen to lie). The kernel's init text is left out: it runs only while "
          "booting, some of it (the APIC timer calibration, delay loops) for as long as the "
          "host takes. What differs between two boots besides the operations (timer and "
          "scheduler work during them) is noise: functions with a few instructions per "
          "operation of either sign.", "",
          "| op | size | pinio-dma | pinio-direct | brd | dma cost (direct/dma) | "
          "brd/pinio-dma | brd/pinio-direct | segments |",
          "|---|---|---|---|---|---|---|---|---|"]
    for op in ("read", "write"):
        for bs in sorted({c[2] for c in cells if c[1] == op}):
            tot = {who: sum(cells[(who, op, bs)][0].values())
                   for who in WHO if (who, op, bs) in cells}
            if len(tot) < 3:
                continue
            segs = cells[("pinio-dma", op, bs)][1]
            size = f"{bs >> 10} KiB" if bs < 1 << 20 else f"{bs >> 20} MiB"
            md.append(f"| {op} | {size} | {tot['pinio-dma']:.0f} | {tot['pinio-direct']:.0f} | "
                      f"{tot['brd']:.0f} | **{tot['pinio-direct'] / tot['pinio-dma']:.3f}** | "
                      f"**{tot['brd'] / tot['pinio-dma']:.3f}** | "
                      f"{tot['brd'] / tot['pinio-direct']:.3f} | "
                      f"{'' if segs is None else f'{segs:.1f}'} |")
    for op in ("read", "write"):
        for bs in sorted({c[2] for c in cells if c[1] == op}):
            if ("pinio-dma", op, bs) not in cells or ("pinio-direct", op, bs) not in cells:
                continue
            d = cells[("pinio-dma", op, bs)][0]
            x = cells[("pinio-direct", op, bs)][0]
            diff = {k: d.get(k, 0) - x.get(k, 0) for k in set(d) | set(x)}
            top = [k for k in sorted(diff, key=lambda k: -abs(diff[k])) if abs(diff[k]) >= 1][:14]
            size = f"{bs >> 10} KiB" if bs < 1 << 20 else f"{bs >> 20} MiB"
            md += ["", f"### What the mapping adds to a {size} {op}: pinio-dma - pinio-direct, "
                   f"by function ({sum(diff.values()):+.0f} in all)", "",
                   "| function | pinio-dma | pinio-direct | difference |", "|---|---|---|---|"]
            for k in top:
                md.append(f"| `{short(dem.get(k, k))}` | {d.get(k, 0):.0f} | {x.get(k, 0):.0f} | "
                          f"{diff[k]:+.0f} |")
    for op in ("read", "write"):
        bs = 65536
        if ("pinio-dma", op, bs) not in cells or ("brd", op, bs) not in cells:
            continue
        for who in ("pinio-dma", "brd"):
            per = cells[(who, op, bs)][0]
            top = sorted(per, key=lambda k: -per[k])[:12]
            md += ["", f"### Where a 64 KiB {op} goes: {who} ({sum(per.values()):.0f})", "",
                   "| function | instructions |", "|---|---|"]
            md += [f"| `{short(dem.get(k, k))}` | {per[k]:.0f} |" for k in top]
    with open(os.path.join(outdir, "latest.md"), "w") as f:
        f.write("\n".join(md) + "\n")


main()
