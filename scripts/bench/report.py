#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw output of one `make bench` boot into bench/results/.

    report.py --raw bench/results/raw --out bench/results

Reads raw/guest.log (the guest's PIN/GUPTEST/IO/URING/INFO lines), raw/meta.txt and
raw/dmesg.log; writes raw/pin_rounds.csv, raw/io_rounds.csv and raw/uring_rounds.csv (one row
per round, for recomputation), latest.csv, latest.md and the plot-*.dat files that plots.gp
draws (only when the pinning and data path parts ran).

Statistics: each contender's figure for a configuration is the median over rounds of its
per-round value (for pinning, the per-round value is itself the median over the round's
repetitions); spread is the inter-quartile range over rounds. ratio > 1 always means pinio is
better: reference_time / pinio_time for times, pinio / reference for throughput. The paired
ratio (per round, pinio and reference measured back to back) is given in latest.md as a
check on the ratio of medians.
"""
import argparse
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

# gup_test reports whole microseconds (ktime_us_delta() truncates): a comparison is reported
# only where its median per-call time is at least this many microseconds, i.e. the truncation
# costs at most 1/RES_MIN_US of the value.
RES_MIN_US = 20

PAIRS = [("pinio-fast", "gup-a", "gup_test-a"), ("pinio-lt", "gup-L", "gup_test-L")]
# pinio's bench mode (PINIO_PIN_BENCH): pin and unpin in one ioctl, like with like with gup_test
# (the slow one through pin_user_pages() under the mmap lock, as gup_test -L).
BENCH_PAIRS = [("pinio-bench", "gup-a", "gup_test-a, same ioctl"),
               ("pinio-Lb", "gup-L", "gup_test-L, same ioctl")]
IO_REFS = [("brd", "brd-odirect"), ("tmpfs", "tmpfs-buffered")]


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def med(v):
    return statistics.median(v)


def quart(v):
    """(q1, q3) over rounds; the value itself when there is one round."""
    if len(v) < 2:
        return v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[2]


def fmt(x):
    if x is None:
        return ""
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000:
        return f"{x:.0f}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def human(size):
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= div and size % div == 0:
            return f"{size // div} {unit}iB"
    return f"{size} B"


def load(raw):
    meta, settings, info = {}, {}, {}
    with open(os.path.join(raw, "meta.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("setting "):
                k, _, v = line[8:].partition("=")
                settings[k] = v
            elif "=" in line:
                k, _, v = line.partition("=")
                meta[k] = v
    pin, gupt, io, buffers, copycal, uring, dmacost, fio = [], [], [], [], [], [], [], []
    with open(os.path.join(raw, "guest.log"), errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("PIN "):
                pin.append(kv(line))
            elif line.startswith("IO "):
                io.append(kv(line))
            elif line.startswith("URING "):
                uring.append(kv(line))
            elif line.startswith("DMACOST "):
                dmacost.append(kv(line))
            elif line.startswith("FIO "):
                fio.append(kv(line))
            elif line.startswith("GUPTEST "):
                gupt.append(kv(line))
            elif line.startswith("COPYCAL "):
                copycal.append(kv(line))
            elif line.startswith("INFO pin_buffer"):
                buffers.append(kv(line))
            elif line.startswith("INFO "):
                k, _, v = line[5:].partition("=")
                info[k] = v
    info["copycal"] = copycal
    info["uring"] = uring
    info["dmacost"] = dmacost
    info["fio"] = fio
    return meta, settings, info, pin, gupt, io, buffers


def write_rounds(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


class Stat:
    """A contender's per-round values for one configuration."""

    def __init__(self, values):
        self.values = values
        self.median = med(values)
        self.q1, self.q3 = quart(values)
        self.min, self.max = min(values), max(values)

    def spread(self):
        return f"{fmt(self.q1)}–{fmt(self.q3)}"


def pin_stats(pin):
    """(mem, size, ppc, who, 'pin'|'unpin') -> per-round ns/page (list) and per-call raw."""
    per_page = defaultdict(dict)  # key -> {round: ns/page}
    per_call = defaultdict(dict)  # key -> {round: per-call value in own unit}
    for p in pin:
        size, pages = int(p["size"]), int(p["pages"])
        scale = 1000.0 if p["unit"] == "us" else 1.0
        for what in ("pin", "unpin"):
            key = (p["mem"], size, p["ppc"], p["who"], what)
            v = float(p[f"{what}_med"])
            per_call[key][int(p["round"])] = v
            per_page[key][int(p["round"])] = v * scale / pages
    return per_page, per_call


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    meta, settings, info, pin, gupt, io, buffers = load(args.raw)
    uring, dmacost, fio = info["uring"], info["dmacost"], info["fio"]
    if not (uring or dmacost or fio or pin or io):
        sys.exit("report.py: no PIN or IO lines in the guest log")
    if fio:
        write_rounds(os.path.join(args.raw, "fio_rounds.csv"), fio,
                     ["round", "label", "engine", "qd", "op", "bs", "MBps", "iops", "p50_us",
                      "p99_us"])
    if uring:
        write_rounds(os.path.join(args.raw, "uring_rounds.csv"), uring,
                     ["round", "label", "op", "bs", "qd", "threads", "ops", "bytes",
                      "elapsed_ns", "MBps", "mean_ns", "p50_ns", "p99_ns", "max_ns", "samples"])
    if dmacost:
        write_rounds(os.path.join(args.raw, "dma_rounds.csv"), dmacost,
                     ["round", "label", "op", "bs", "threads", "ops", "bytes", "elapsed_ns",
                      "MBps", "mean_ns", "p50_ns", "p99_ns", "max_ns", "samples"])
    if not pin and not io:
        # Only the io_uring and DMA parts (PINIO_BENCH_PARTS=uring and/or dma).
        rows = []
        lines = (uring_md(uring, rows) if uring else []) + \
            (fio_md(fio, rows) if fio else []) + \
            (dma_md(dmacost, rows) if dmacost else [])
        os.makedirs(args.out, exist_ok=True)
        write_csv(args.out, rows)
        with open(os.path.join(args.out, "latest.md"), "w") as f:
            f.write("\n".join(md_header(meta, settings, info) + lines) + "\n")
        return

    write_rounds(os.path.join(args.raw, "pin_rounds.csv"), pin,
                 ["round", "mem", "size", "pages", "ppc", "who", "unit", "n", "pin_med",
                  "pin_min", "pin_max", "pin_sum", "unpin_med", "unpin_min", "unpin_max",
                  "unpin_sum"])
    write_rounds(os.path.join(args.raw, "io_rounds.csv"), io,
                 ["round", "label", "op", "bs", "threads", "ops", "bytes", "elapsed_ns", "MBps",
                  "mean_ns", "p50_ns", "p99_ns", "max_ns", "samples"])

    rows = []  # CSV rows
    per_page, per_call = pin_stats(pin)
    mems = [m for m in ("4k", "thp") if any(k[0] == m for k in per_page)]
    sizes = sorted({k[1] for k in per_page})
    ppcs = [p for p in ("1", "512", "all") if any(k[2] == p for k in per_page)]
    unresolved = []  # (bench, ref, size, pinio value, bound text)
    pinres = {}  # (what, mem, ppc, who, size) -> Stat
    for what in ("pin", "unpin"):
        for mem in mems:
            for ppc in ppcs:
                for size in sizes:
                    for mine, theirs, refname in PAIRS + BENCH_PAIRS:
                        a = per_page.get((mem, size, ppc, mine, what))
                        b = per_page.get((mem, size, ppc, theirs, what))
                        if not a or not b:
                            continue
                        sa = Stat(list(a.values()))
                        sb = Stat(list(b.values()))
                        pinres[(what, mem, ppc, mine, size)] = sa
                        call_us = med(list(per_call[(mem, size, ppc, theirs, what)].values()))
                        bench = f"{what}_ns_per_page/ppc={ppc}/{mem}"
                        if call_us >= RES_MIN_US:
                            pinres[(what, mem, ppc, theirs, size)] = sb
                            paired = [b[r] / a[r] for r in a if r in b and a[r] > 0]
                            rows.append(dict(benchmark=bench, reference=refname,
                                             size_bytes=size, pinio=sa.median,
                                             reference_value=sb.median, unit="ns/page",
                                             ratio=sb.median / sa.median if sa.median else None,
                                             paired=paired, sa=sa, sb=sb))
                        else:
                            pages = size // 4096
                            hi = (call_us + 1) * 1000.0 / pages
                            unresolved.append((bench, refname, size, sa.median,
                                               f"{int(call_us)}–{int(call_us) + 1} µs/call "
                                               f"({fmt(call_us * 1000.0 / pages)}–{fmt(hi)} ns/page)"))

    # --- data path ---
    iod = defaultdict(dict)  # (label, op, threads, bs) -> {round: record}
    for r in io:
        iod[(r["label"], r["op"], int(r["threads"]), int(r["bs"]))][int(r["round"])] = r
    ops = [o for o in ("read", "write") if any(k[1] == o for k in iod)]
    threads = sorted({k[2] for k in iod})
    bss = sorted({k[3] for k in iod})
    iores = {}  # (label, op, threads, bs, metric) -> Stat
    metrics = [("MBps", "MB/s", lambda r: float(r["MBps"]), True),
               ("p50_us", "us", lambda r: int(r["p50_ns"]) / 1000.0, False),
               ("p99_us", "us", lambda r: int(r["p99_ns"]) / 1000.0, False)]
    for op in ops:
        for mname, unit, get, higher_better in metrics:
            for th in threads:
                for bs in bss:
                    mine = iod.get(("pinio", op, th, bs))
                    if not mine:
                        continue
                    a = {rd: get(rec) for rd, rec in mine.items()}
                    sa = Stat(list(a.values()))
                    iores[("pinio", op, th, bs, mname)] = sa
                    for label, refname in IO_REFS:
                        theirs = iod.get((label, op, th, bs))
                        if not theirs:
                            continue
                        b = {rd: get(rec) for rd, rec in theirs.items()}
                        sb = Stat(list(b.values()))
                        iores[(label, op, th, bs, mname)] = sb
                        if higher_better:
                            ratio = sa.median / sb.median if sb.median else None
                            paired = [a[r] / b[r] for r in a if r in b and b[r] > 0]
                        else:
                            ratio = sb.median / sa.median if sa.median else None
                            paired = [b[r] / a[r] for r in a if r in b and a[r] > 0]
                        rows.append(dict(benchmark=f"{op}_{mname}/threads={th}",
                                         reference=refname, size_bytes=bs, pinio=sa.median,
                                         reference_value=sb.median, unit=unit, ratio=ratio,
                                         paired=paired, sa=sa, sb=sb))

    uring_lines = (uring_md(uring, rows) if uring else []) + \
        (fio_md(fio, rows) if fio else []) + \
        (dma_md(dmacost, rows) if dmacost else [])
    os.makedirs(args.out, exist_ok=True)
    write_csv(args.out, rows)

    # --- plot data: one file per series: x median q1 q3 ---
    def series(name, points):
        with open(os.path.join(args.out, f"plot-{name}.dat"), "w") as f:
            f.write("# x median q1 q3\n")
            for x, s in points:
                f.write(f"{x} {s.median} {s.q1} {s.q3}\n")
            if not points:
                f.write("NaN NaN NaN NaN\n")

    for what in ("pin", "unpin"):
        for mem in mems:
            for ppc in ppcs:
                for who in ("pinio-fast", "gup-a", "pinio-lt", "gup-L"):
                    pts = [(s / 1024, pinres[(what, mem, ppc, who, s)]) for s in sizes
                           if (what, mem, ppc, who, s) in pinres]
                    series(f"{what}-{mem}-{ppc}-{who}", pts)
    for label in ("pinio", "brd", "tmpfs"):
        for op in ops:
            for mname, *_ in metrics:
                for th in threads:
                    pts = [(bs / 1024, iores[(label, op, th, bs, mname)]) for bs in bss
                           if (label, op, th, bs, mname) in iores]
                    series(f"io-{label}-{op}-{mname}-t{th}", pts)
                for bs in bss:
                    pts = [(th, iores[(label, op, th, bs, mname)]) for th in threads
                           if (label, op, th, bs, mname) in iores]
                    series(f"iot-{label}-{op}-{mname}-{bs // 1024}k", pts)
    nproc = int(info.get("nproc", "2"))
    thr_sizes = [b for b in (64 * 1024, 1 << 20) if b in bss] or bss[:2]
    with open(os.path.join(args.out, "plot-vars.gp"), "w") as f:
        f.write(f"nproc = {nproc}\n")
        f.write(f"ppcs = \"{' '.join(ppcs)}\"\n")
        f.write(f"thr_sizes = \"{' '.join(str(b // 1024) for b in thr_sizes)}\"\n")
        f.write(f"threads = \"{' '.join(str(t) for t in threads)}\"\n")

    write_md(args, meta, settings, info, rows, unresolved, pinres, iores, gupt, buffers,
             mems, sizes, ppcs, ops, threads, bss, per_page, uring_lines)


def write_csv(out, rows):
    with open(os.path.join(out, "latest.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["benchmark", "reference", "size_bytes", "pinio", "reference_value", "unit",
                    "ratio"])
        for r in rows:
            w.writerow([r["benchmark"], r["reference"], r["size_bytes"], fmt(r["pinio"]),
                        fmt(r["reference_value"]), r["unit"],
                        "" if r["ratio"] is None else f"{r['ratio']:.3f}"])


def md_header(meta, settings, info):
    """The run's identification, for a latest.md of the io_uring part alone."""
    accel = meta.get("accel", "unknown").upper()
    return [f"# pinio benchmarks ({meta.get('mode', '?')} run, parts: "
            f"{settings.get('PARTS', '?')})", "",
            "| | |", "|---|---|",
            f"| date (UTC) | {meta.get('date', '?')} |",
            f"| guest kernel | {info.get('uname_r', '?')} (release flavour), pinio "
            f"{meta.get('git_head', '?')} |",
            f"| guest ran on | QEMU {accel}, {info.get('nproc', '?')} vCPUs, clocksource "
            f"{info.get('clocksource', '?')} |",
            f"| host CPU | {meta.get('host_cpu', '?')} ({meta.get('host_cpus', '?')} CPUs), "
            f"load average before/after {meta.get('host_loadavg_before', '?')} / "
            f"{meta.get('host_loadavg_after', '?')} |",
            f"| store / brd | {human(int(info.get('brd_bytes', '0')))} each |",
            f"| wall time | {meta.get('wall_seconds', '?')} s |", ""]


def uring_md(uring, rows):
    """The io_uring tables; appends their comparisons to @rows. Returns markdown lines."""
    L = []
    add = L.append
    d = defaultdict(dict)  # (label, op, qd, bs) -> {round: record}
    for r in uring:
        d[(r["label"], r["op"], int(r["qd"]), int(r["bs"]))][int(r["round"])] = r
    ops = [o for o in ("read", "write") if any(k[1] == o for k in d)]
    qds = sorted({k[2] for k in d if k[2] > 0})
    bss = sorted({k[3] for k in d})
    rounds = len({r["round"] for r in uring})

    def stat(label, op, qd, bs, get):
        recs = d.get((label, op, qd, bs))
        if not recs:
            return None, None
        v = {rd: get(rec) for rd, rec in recs.items()}
        return v, Stat(list(v.values()))

    mbps = lambda r: float(r["MBps"])  # noqa: E731
    p50 = lambda r: int(r["p50_ns"]) / 1000.0  # noqa: E731
    mean = lambda r: int(r["mean_ns"]) / 1000.0  # noqa: E731

    add(f"## io_uring: pinio's engine against brd O_DIRECT ({rounds} rounds)")
    add("")
    add("One submitting thread keeps *queue depth* requests in flight (iobench --qd: one ring, "
        "completions reaped in batches, replacements submitted together). With no service "
        "time (latency_us 0, default queue depth) pinio serves each request in the "
        "submitter's context and answers it at once, as brd completes each bio inside "
        "submit_bio(). Throughput MB/s "
        "(10^6 B/s) and p50 time from submission to reaping, median [IQR]; ratio > 1: pinio "
        "better.")
    add("")
    add("| op | queue depth | size | pinio MB/s | brd MB/s | ratio (paired) | pinio p50 µs | "
        "brd p50 µs |")
    add("|---|---|---|---|---|---|---|---|")
    for op in ops:
        for qd in qds:
            for bs in bss:
                a, sa = stat("pinio", op, qd, bs, mbps)
                b, sb = stat("brd", op, qd, bs, mbps)
                if not sa or not sb:
                    continue
                paired = [a[r] / b[r] for r in a if r in b and b[r] > 0]
                ratio = sa.median / sb.median if sb.median else None
                rows.append(dict(benchmark=f"uring_{op}_MBps/qd={qd}", reference="brd-uring",
                                 size_bytes=bs, pinio=sa.median, reference_value=sb.median,
                                 unit="MB/s", ratio=ratio, paired=paired, sa=sa, sb=sb))
                la, sla = stat("pinio", op, qd, bs, p50)
                lb, slb = stat("brd", op, qd, bs, p50)
                rows.append(dict(benchmark=f"uring_{op}_p50_us/qd={qd}", reference="brd-uring",
                                 size_bytes=bs, pinio=sla.median, reference_value=slb.median,
                                 unit="us", ratio=slb.median / sla.median if sla.median else None,
                                 paired=[lb[r] / la[r] for r in la if r in lb and la[r] > 0],
                                 sa=sla, sb=slb))
                add(f"| {op} | {qd} | {human(bs)} | {fmt(sa.median)} [{sa.spread()}] | "
                    f"{fmt(sb.median)} [{sb.spread()}] | **{ratio:.2f}** "
                    f"({fmt(med(paired)) if paired else ''}) | {fmt(sla.median)} | "
                    f"{fmt(slb.median)} |")
    add("")
    add("### What the engine costs per request (queue depth 1)")
    add("")
    add("Mean time per request through io_uring at queue depth 1 against the same device's "
        "synchronous `pread`/`pwrite` (O_DIRECT) in the same rounds; *cost* is the per-round "
        "difference, median [IQR], in µs: io_uring's own overhead over a synchronous call, "
        "and for pinio its queue slot; both complete inline.")
    add("")
    add("| op | size | pinio io_uring µs | pinio sync µs | pinio engine cost µs | "
        "brd io_uring µs | brd sync µs | brd io_uring cost µs |")
    add("|---|---|---|---|---|---|---|---|")
    for op in ops:
        for bs in bss:
            cells = []
            for label in ("pinio", "brd"):
                u, su = stat(label, op, 1, bs, mean)
                y, sy = stat(f"{label}-sync", op, 0, bs, mean)
                if not su or not sy:
                    cells += ["", "", ""]
                    continue
                diff = Stat([u[r] - y[r] for r in u if r in y] or [0.0])
                cells += [fmt(su.median), fmt(sy.median), f"{fmt(diff.median)} [{diff.spread()}]"]
                rows.append(dict(benchmark=f"uring_{op}_mean_us/qd=1",
                                 reference=f"{label}-sync" if label == "pinio" else "brd-sync-vs-uring",
                                 size_bytes=bs, pinio=su.median, reference_value=sy.median,
                                 unit="us", ratio=sy.median / su.median if su.median else None,
                                 paired=[], sa=su, sb=sy))
            add(f"| {op} | {human(bs)} | " + " | ".join(cells) + " |")
    add("")
    for qd in qds:
        v = [r["ratio"] for r in rows if r["benchmark"].startswith("uring_") and
             r["benchmark"].endswith(f"_MBps/qd={qd}") and r["ratio"]]
        if v:
            add(f"- queue depth {qd}: pinio/brd throughput {med(v):.2f} (median over "
                f"{len(v)} rows, {min(v):.2f}–{max(v):.2f}).")
    add("")
    return L


def fio_md(fio, rows):
    """fio's pinio-against-brd table; appends its comparisons to @rows. Returns markdown."""
    L = []
    add = L.append
    d = defaultdict(dict)  # (engine, qd, op, bs) -> label -> {round: record}
    for r in fio:
        key = (r["engine"], int(r["qd"]), r["op"], int(r["bs"]))
        d[key].setdefault(r["label"], {})[int(r["round"])] = r
    rounds = len({r["round"] for r in fio})
    add(f"## fio: pinio against brd O_DIRECT ({rounds} rounds)")
    add("")
    add("Debian's fio, one job per run on the whole device: `--direct=1 --rw=randread|randwrite "
        "--norandommap --randrepeat=0 --time_based`, the engine and `--iodepth` of the row "
        "(the method and the command line to repeat a row: bench/README.md). pinio and brd "
        "back to back per cell, their order alternating. Throughput MB/s (fio's bw, "
        "10^6 B/s), median [IQR] over rounds; *ratio* pinio/brd of the medians, > 1: pinio "
        "better (the median of per-round ratios in brackets); p50/p99: fio's completion "
        "latency (clat), medians over rounds.")
    add("")
    add("| op | engine | depth | size | pinio MB/s | brd MB/s | ratio (paired) | "
        "pinio clat p50/p99 µs | brd clat p50/p99 µs |")
    add("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(d, key=lambda k: (k[2], k[0] != "psync", k[0], k[1], k[3])):
        eng, qd, op, bs = key
        a, b = d[key].get("pinio"), d[key].get("brd")
        if not a or not b:
            continue
        va = {rd: float(x["MBps"]) for rd, x in a.items()}
        vb = {rd: float(x["MBps"]) for rd, x in b.items()}
        sa, sb = Stat(list(va.values())), Stat(list(vb.values()))
        paired = [va[r] / vb[r] for r in va if r in vb and vb[r] > 0]
        ratio = sa.median / sb.median if sb.median else None
        rows.append(dict(benchmark=f"fio_{op}_MBps/{eng}/qd={qd}", reference="brd-fio",
                         size_bytes=bs, pinio=sa.median, reference_value=sb.median,
                         unit="MB/s", ratio=ratio, paired=paired, sa=sa, sb=sb))

        def lat(recs, p):
            return fmt(med([float(x[p]) for x in recs.values()]))
        add(f"| {op} | {eng} | {qd} | {human(bs)} | {fmt(sa.median)} [{sa.spread()}] | "
            f"{fmt(sb.median)} [{sb.spread()}] | "
            f"**{ratio:.2f}** ({fmt(med(paired)) if paired else ''}) | "
            f"{lat(a, 'p50_us')} / {lat(a, 'p99_us')} | {lat(b, 'p50_us')} / {lat(b, 'p99_us')} |")
    v = [r["ratio"] for r in rows if r["benchmark"].startswith("fio_") and r["ratio"]]
    if v:
        add("")
        add(f"- pinio/brd throughput under fio: {med(v):.2f} (median over {len(v)} rows, "
            f"{min(v):.2f}–{max(v):.2f}).")
    add("")
    return L


def dma_md(dmacost, rows):
    """The DMA mapping's cost; appends its comparisons to @rows. Returns markdown lines."""
    L = []
    add = L.append
    d = defaultdict(dict)  # (label, op, bs) -> {round: MB/s}
    for r in dmacost:
        d[(r["label"], r["op"], int(r["bs"]))][int(r["round"])] = float(r["MBps"])
    ops = [o for o in ("read", "write") if any(k[1] == o for k in d)]
    bss = sorted({k[2] for k in d})
    rounds = len({r["round"] for r in dmacost})
    add(f"## The DMA mapping's cost ({rounds} rounds)")
    add("")
    add("`/dev/pinio` as shipped (every transfer maps its pages with `dma_map_sg()` on the "
        "faux device and copies through the DMA addresses, `dma_map=1`) against the same "
        "module loaded with the `dma_map=0` benchmark knob (the pages copied directly, as "
        "before the mapping existed) and brd O_DIRECT; one thread, `pread`/`pwrite`, the "
        "module reloaded for each cell in a rotated order. Throughput MB/s, median [IQR]; "
        "*dma/direct* < 1 is what the mapping costs; paired ratios are medians of per-round "
        "ratios. No swiotlb: the guest's memory is below 4 GiB, so dma-direct maps in place.")
    add("")
    add("| op | size | pinio dma_map=1 | pinio dma_map=0 | brd O_DIRECT | dma/direct (paired) "
        "| dma/brd (paired) |")
    add("|---|---|---|---|---|---|---|")
    for op in ops:
        for bs in bss:
            a, x, b = (d.get((lab, op, bs), {}) for lab in ("pinio-dma", "pinio-direct", "brd"))
            if not a or not x or not b:
                continue
            sa, sx, sb = Stat(list(a.values())), Stat(list(x.values())), Stat(list(b.values()))
            px = [a[r] / x[r] for r in a if r in x and x[r] > 0]
            pb = [a[r] / b[r] for r in a if r in b and b[r] > 0]
            rows.append(dict(benchmark=f"dma_{op}_MBps", reference="pinio-dma_map=0",
                             size_bytes=bs, pinio=sa.median, reference_value=sx.median,
                             unit="MB/s", ratio=sa.median / sx.median, paired=px, sa=sa, sb=sx))
            rows.append(dict(benchmark=f"dma_{op}_MBps", reference="brd-odirect",
                             size_bytes=bs, pinio=sa.median, reference_value=sb.median,
                             unit="MB/s", ratio=sa.median / sb.median, paired=pb, sa=sa, sb=sb))
            add(f"| {op} | {human(bs)} | {fmt(sa.median)} [{sa.spread()}] | "
                f"{fmt(sx.median)} [{sx.spread()}] | {fmt(sb.median)} [{sb.spread()}] | "
                f"**{sa.median / sx.median:.3f}** ({fmt(med(px)) if px else ''}) | "
                f"**{sa.median / sb.median:.2f}** ({fmt(med(pb)) if pb else ''}) |")
    add("")
    return L


def write_md(args, meta, settings, info, rows, unresolved, pinres, iores, gupt, buffers,
             mems, sizes, ppcs, ops, threads, bss, per_page, uring_lines):
    L = []
    add = L.append
    nproc = info.get("nproc", "?")
    accel = meta.get("accel", "unknown").upper()
    rounds_pin = settings.get("PIN_ROUNDS", "?")
    rounds_io = settings.get("IO_ROUNDS", "?")
    add(f"# pinio benchmarks ({meta.get('mode', '?')} run)")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| date (UTC) | {meta.get('date', '?')} |")
    add(f"| guest kernel | {info.get('uname_r', '?')} (release flavour), pinio "
        f"{meta.get('git_head', '?')} |")
    add(f"| guest ran on | QEMU {accel}, {nproc} vCPUs, "
        f"{int(info.get('mem_total_kb', '0')) // 1024} MiB, clocksource "
        f"{info.get('clocksource', '?')} |")
    add(f"| host CPU | {meta.get('host_cpu', '?')} ({meta.get('host_cpus', '?')} CPUs), "
        f"load average before/after {meta.get('host_loadavg_before', '?')} / "
        f"{meta.get('host_loadavg_after', '?')} |")
    add(f"| guest CPU | {info.get('guest_cpu', '?')}, copy-related flags: "
        f"{info.get('cpu_flags_copy', '?').strip(',') or 'none'}"
        + (f" (booted with `{meta['guest_append']}`)" if meta.get("guest_append") else "") + " |")
    add(f"| store / brd / tmpfs file | {human(int(info.get('brd_bytes', '0')))} each |")
    add(f"| rounds | pinning {rounds_pin}, data path {rounds_io} "
        f"({settings.get('IO_MS', '?')} ms per run); wall time {meta.get('wall_seconds', '?')} s |")
    add("")
    add("All figures come from one boot, with the contenders interleaved (order rotated every "
        "round). Each figure is the median over rounds; ranges are inter-quartile ranges over "
        "rounds. **ratio > 1 means pinio is better** (reference time / pinio time, or pinio "
        "throughput / reference throughput); the paired ratio is the median of per-round "
        f"ratios. Under {accel} absolute times mean little: compare within a row.")
    add("")

    # Key ratios: each group summarised over its rows in latest.csv.
    def group(pred):
        return [r["ratio"] for r in rows if r["ratio"] is not None and pred(r)]

    def summary(v):
        if not v:
            return "–"
        return f"**{med(v):.2f}** ({min(v):.2f}–{max(v):.2f}, {len(v)} rows)"

    n_cpu = int(nproc) if nproc.isdigit() else 2
    add("## Key ratios")
    add("")
    add("Median of the ratios in `latest.csv` for each group (min–max, number of rows); > 1: "
        "pinio better.")
    add("")
    add("| comparison | ratio |")
    add("|---|---|")
    for mem, memname in (("4k", "4 KiB pages"), ("thp", "THP")):
        add(f"| pin ns/page, pinio vs gup_test -a (both `pin_user_pages_fast`), {memname} | " +
            summary(group(lambda r: r["benchmark"].startswith("pin_") and
                          r["benchmark"].endswith("/" + mem) and r["reference"] == "gup_test-a")) + " |")
    for mem, memname in (("4k", "4 KiB pages"), ("thp", "THP")):
        add(f"| pin ns/page, pinio LONGTERM (fast path) vs gup_test -L (slow path), {memname} | " +
            summary(group(lambda r: r["benchmark"].startswith("pin_") and
                          r["benchmark"].endswith("/" + mem) and r["reference"] == "gup_test-L")) + " |")
    add("| unpin ns/page, pinio vs gup_test (-a and -L, both memories) | " +
        summary(group(lambda r: r["benchmark"].startswith("unpin_") and
                      r["reference"] in ("gup_test-a", "gup_test-L"))) + " |")
    for what in ("pin", "unpin"):
        for mine, theirs, refname in BENCH_PAIRS:
            for mem, memname in (("4k", "4 KiB pages"), ("thp", "THP")):
                v = group(lambda r: r["benchmark"].startswith(what + "_") and
                          r["benchmark"].endswith("/" + mem) and r["reference"] == refname)
                if v:
                    add(f"| {what} ns/page, pinio bench mode vs {refname.replace('gup_test-', 'gup_test -')}, "
                        f"{memname} | " + summary(v) + " |")
    for label, refname, refdesc in (("brd", "brd-odirect", "brd O_DIRECT"),
                                    ("tmpfs", "tmpfs-buffered", "tmpfs buffered")):
        for op in ops:
            for th in sorted({1, n_cpu} & set(threads)):
                add(f"| {op} MB/s, {th} thread{'s' if th > 1 else ''}, pinio vs {refdesc} (all sizes) | " +
                    summary(group(lambda r: r["benchmark"] == f"{op}_MBps/threads={th}" and
                                  r["reference"] == refname)) + " |")
        add(f"| p99 latency, pinio vs {refdesc} (all sizes, ops, threads) | " +
            summary(group(lambda r: "_p99_" in r["benchmark"] and r["reference"] == refname)) + " |")
    for qd in (1, 8, 32):
        v = group(lambda r: r["benchmark"].endswith(f"_MBps/qd={qd}"))
        if v:
            add(f"| io_uring MB/s, queue depth {qd}, pinio vs brd O_DIRECT (all sizes, ops) | "
                + summary(v) + " |")
    for refname, refdesc in (("pinio-dma_map=0", "the direct copy (dma_map=0)"),
                             ("brd-odirect", "brd O_DIRECT")):
        v = group(lambda r: r["benchmark"].startswith("dma_") and r["reference"] == refname)
        if v:
            add(f"| MB/s with the DMA mapping, pinio vs {refdesc} (all sizes, ops) | "
                + summary(v) + " |")
    big = max(sizes)
    a4 = pinres.get(("pin", "4k", "all", "pinio-fast", big))
    at = pinres.get(("pin", "thp", "all", "pinio-fast", big))
    a1 = pinres.get(("pin", "4k", "1", "pinio-fast", big))
    if a4 and at:
        add(f"| pin cost per page, 4 KiB pages / THP (pinio, {human(big)}, all pages in one call) | "
            f"{a4.median / at.median:.0f}× ({fmt(a4.median)} vs {fmt(at.median)} ns/page) |")
    if a4 and a1:
        add(f"| pin cost per page, 1 page per call / all in one call (pinio, 4 KiB pages, {human(big)}) | "
            f"{a1.median / a4.median:.1f}× ({fmt(a1.median)} vs {fmt(a4.median)} ns/page) |")
    add("")

    # Pinning tables: ppc=all and ppc=1 at a few sizes.
    key_sizes = [s for s in sizes if s in (64 << 10, 1 << 20, 16 << 20, 64 << 20, 256 << 20)]
    by = {(r["benchmark"], r["reference"], r["size_bytes"]): r for r in rows}
    unres = {(u[0], u[1], u[2]): u for u in unresolved}

    def pin_tables(pairs, title, heads):
        add(title)
        add("")
        for what in ("pin", "unpin"):
            add(f"**{what}**, ns/page, median [IQR]:")
            add("")
            add("| memory | pages/call | size | " +
                " | ".join(f"{m} | {t} | ratio (paired)" for m, t in heads) + " |")
            add("|---|---|---|" + "---|---|---|" * len(heads))
            for mem in mems:
                for ppc in [p for p in ("all", "1") if p in ppcs]:
                    for size in key_sizes:
                        cells = []
                        for mine, theirs, refname in pairs:
                            bench = f"{what}_ns_per_page/ppc={ppc}/{mem}"
                            sa = pinres.get((what, mem, ppc, mine, size))
                            if sa is None:
                                cells += ["", "", ""]
                                continue
                            cells.append(f"{fmt(sa.median)} [{sa.spread()}]")
                            r = by.get((bench, refname, size))
                            if r:
                                cells.append(f"{fmt(r['sb'].median)} [{r['sb'].spread()}]")
                                cells.append(f"**{r['ratio']:.2f}** ({fmt(med(r['paired']))})")
                            else:
                                u = unres.get((bench, refname, size))
                                cells.append(f"< res.: {u[4]}" if u else "")
                                cells.append("n/a")
                        add(f"| {mem} | {ppc} | {human(size)} | " + " | ".join(cells) + " |")
            add("")

    pin_tables(PAIRS, "## Pinning: ns per page (pin / unpin), pinio against gup_test",
               [("pinio fast", "gup_test -a"), ("pinio longterm", "gup_test -L")])
    if any(k[3] in ("pinio-bench", "pinio-Lb") for k in per_page):
        pin_tables(BENCH_PAIRS, "## Pinning in one ioctl (`PINIO_PIN_BENCH`), pinio against gup_test",
                   [("pinio bench", "gup_test -a"),
                    ("pinio bench, slow longterm", "gup_test -L")])
        add("Bench mode pins and unpins in the same ioctl, with gup_test's untimed walk over the "
            "pages between the two, as `PIN_FAST_BENCHMARK` does; the slow longterm contender "
            "pins through `pin_user_pages()` under the mmap lock, as `PIN_LONGTERM_BENCHMARK` "
            "(which also holds the lock across its unpin).")
        add("")
    # THP coverage
    for b in buffers:
        if b.get("mem") == "thp":
            add(f"THP buffer: {float(b.get('thp_fraction', '-1')) * 100:.0f}% of "
                f"{human(int(b['size']))} backed by huge pages (AnonHugePages).")
        elif b.get("mem") == "4k":
            add(f"4 KiB buffer: {b.get('anon_huge_kb')} kB in huge pages (MADV_NOHUGEPAGE).")
    add("")

    # Stock gup_test cross-check.
    if gupt:
        add("Cross-check, the stock `gup_test` binary against pinbench's own calls of the same "
            "ioctl (median per-call µs over its repetitions; pinbench figure at the same size):")
        add("")
        add("The stock binary maps `/dev/zero` without 2 MiB alignment, so with `-t` its first "
            "and last partial 2 MiB are 4 KiB pages (at 1 MiB: no huge page at all); it runs "
            "after pinbench, not interleaved, so host noise hits it unevenly.")
        add("")
        add("| gup_test | memory | size | pages/call | get µs | put µs | pinbench get µs | pinbench put µs |")
        add("|---|---|---|---|---|---|---|---|")
        groups = defaultdict(list)
        for g in gupt:
            groups[(g["cmd"], g["mem"], int(g["mib"]), g["n"])].append(g)
        for (cmd, mem, mib, n), gs in sorted(groups.items()):
            get = med([int(g["get_us"]) for g in gs])
            put = med([int(g["put_us"]) for g in gs])
            m = "thp" if mem == "t" else "4k"
            ppc = "all" if n == "-1" else n
            size = mib << 20
            who = "gup-a" if cmd == "a" else "gup-L"
            pk = (m, size, ppc, who, "pin")
            ours = per_page.get(pk)
            ours_put = per_page.get((m, size, ppc, who, "unpin"))
            pages = size // 4096
            o1 = fmt(med(list(ours.values())) * pages / 1000) if ours else "–"
            o2 = fmt(med(list(ours_put.values())) * pages / 1000) if ours_put else "–"
            add(f"| -{cmd} -{mem} | {m} | {mib} MiB | {ppc} | {fmt(get)} | {fmt(put)} | {o1} | {o2} |")
        add("")

    # Data path tables.
    def io_table(metric, unit, th_list, title):
        add(title)
        add("")
        head = "| op | threads | size | pinio | brd O_DIRECT | ratio (paired) | tmpfs buffered | ratio (paired) |"
        add(head)
        add("|---|---|---|---|---|---|---|---|")
        for op in ops:
            for th in th_list:
                for bs in bss:
                    sa = iores.get(("pinio", op, th, bs, metric))
                    if not sa:
                        continue
                    cells = [f"{fmt(sa.median)} [{sa.spread()}]"]
                    for label, refname in IO_REFS:
                        r = by.get((f"{op}_{metric}/threads={th}", refname, bs))
                        if r:
                            cells.append(f"{fmt(r['sb'].median)} [{r['sb'].spread()}]")
                            cells.append(f"**{r['ratio']:.2f}** ({fmt(med(r['paired']))})")
                        else:
                            cells += ["", ""]
                    add(f"| {op} | {th} | {human(bs)} | " + " | ".join(cells) + " |")
        add("")

    n = int(nproc) if nproc.isdigit() else 2
    th_main = sorted({1, n} & set(threads))
    io_table("MBps", "MB/s", th_main, f"## Data path: throughput, MB/s (10^6 B/s), median [IQR]")
    lat_sizes = [b for b in bss if b in (4096, 64 << 10, 1 << 20, 16 << 20)]
    saved = list(bss)
    bss[:] = lat_sizes
    io_table("p50_us", "µs", [1], "## Data path: latency per operation, p50 µs, 1 thread")
    io_table("p99_us", "µs", th_main, "## Data path: latency per operation, p99 µs")
    bss[:] = saved

    add("## Growth: throughput against threads, MB/s (median)")
    add("")
    add("| op | size | contender | " + " | ".join(f"{t} thr" for t in threads) + " |")
    add("|---|---|---|" + "---|" * len(threads))
    for op in ops:
        for bs in [b for b in bss if b in (4096, 64 << 10, 1 << 20)]:
            for label in ("pinio", "brd", "tmpfs"):
                vals = [iores.get((label, op, t, bs, "MBps")) for t in threads]
                add(f"| {op} | {human(bs)} | {label} | " +
                    " | ".join(fmt(v.median) if v else "" for v in vals) + " |")
    add("")
    add("Pin cost against size (4 KiB pages vs THP, pages per call 1/512/all): see "
        "`pin_vs_size.png` and `pin_ppc.png`; the full set of comparisons is in `latest.csv`.")
    add("")

    L.extend(uring_lines)

    add("## Notes and caveats")
    add("")
    add(f"- **Emulation.** The guest ran under QEMU {accel}"
        + (" (nested KVM does not work on these hosts)" if accel == "TCG" else "")
        + ": every instruction is translated, so absolute times are far from bare metal, and "
          "operations that are cheap in hardware (TLB-heavy page-table walks, atomics, "
          "`rep movs` copies) are distorted by different factors. Only ratios between "
          "contenders measured in the same boot mean anything, and even those can shift on "
          "real hardware. The host was not idle when the load average above says otherwise.")
    cc = {c["idiom"]: float(c["MBps"]) for c in info.get("copycal", [])}
    if cc:
        erms_note = (
            "This run booted the guest with `clearcpuid=erms`, so the kernel's user copies used "
            "`rep movsq` (`rep_movs_alternative`) and the buffered path is not penalised by "
            "TCG's slow `rep movsb`; `memcpy()` (pinio, brd) does not depend on ERMS. "
            if "clearcpuid=erms" in meta.get("guest_append", "") else
            "**This run kept ERMS**: the kernel's `copy_to_user()`/`copy_from_user()` used "
            "`rep movsb`, so the tmpfs figures are dominated by TCG's emulation of it and the "
            "ratios against tmpfs overstate pinio's advantage several times. ")
        add("- **Copy idioms under emulation.** In this guest, copying 1 MiB from user space ran "
            f"at {fmt(cc.get('rep_movsb'))} MB/s with `rep movsb`, {fmt(cc.get('rep_movsq'))} "
            f"MB/s with `rep movsq` and {fmt(cc.get('mov_loop_8x4'))} MB/s with an unrolled "
            "8-byte move loop (copycal). On hardware with ERMS `rep movsb` is about as fast as "
            "the others; under TCG it moves one byte per emulated iteration. " + erms_note +
            "The copy idiom, not the I/O path, can therefore decide a comparison here.")
    add("- **vCPUs.** The test kernel has no ACPI and finds CPUs in SeaBIOS's MP table, which "
        "lists one CPU per socket: the bench boots QEMU with `-smp N,sockets=N,cores=1` "
        f"(QEMU's default `-smp N` is one socket of N cores, i.e. one CPU for this guest); the "
        f"guest had {nproc} CPUs online.")
    add("- **Clocksource.** The run is refused unless the guest kernel switched to the `tsc` "
        "clocksource (scripts/vm passes `tsc_early_khz` and `tsc=reliable`); this run: "
        f"`{info.get('clocksource', '?')}`.")
    add(f"- **gup_test resolution.** gup_test reports whole microseconds per ioctl "
        "(`ktime_us_delta()` truncates), pinio reports nanoseconds; both time only the pin "
        "calls and only the unpin call, in the kernel, with `ktime_get()`. A gup_test figure "
        f"is compared only where its median per-call time is at least {RES_MIN_US} µs "
        f"(truncation error below {100 // RES_MIN_US}%, always towards gup_test looking "
        "faster). Smaller configurations are shown as \"< res.\" with the interval the true "
        f"value lies in, and have no row in `latest.csv` ({len(unresolved)} comparisons "
        "dropped). Per-call overhead at small sizes is measured precisely by the pages/call = 1 "
        "rows at large sizes instead.")
    add("- **gup_test -L is not pinio's LONGTERM.** `gup_test -L` (PIN_LONGTERM_BENCHMARK) "
        "calls `pin_user_pages(FOLL_LONGTERM)` with `mmap_lock` held, i.e. the slow page-walk "
        "path; pinio's `PINIO_PIN_LONGTERM` calls `pin_user_pages_fast(FOLL_LONGTERM)`, which "
        "takes the lockless fast path and falls back only for pages it cannot pin there. The "
        "ratio against gup_test -L therefore mostly measures fast vs slow GUP, not pinio. "
        "pinio's `pin_ns` covers only the pin calls: its long-term accounting (per-folio "
        "`pinned_vm` charge) happens after the timed section, as gup_test has none.")
    add("- **Same work on both sides.** Both pin with `FOLL_WRITE` (gup_test's default), on "
        "the same pre-faulted private anonymous buffer (one write per page before the first "
        "pin, as gup_test does), in the same process; gup_test unpins with "
        "`unpin_user_pages()`, pinio with `unpin_user_pages_dirty_lock(.., false)`, which is "
        "the same call. THP memory is `MADV_HUGEPAGE` on a 2 MiB-aligned buffer (as "
        "`gup_test -t`; `gup_test -H` is hugetlbfs, not measured); 4 KiB memory is "
        "`MADV_NOHUGEPAGE` (`gup_test -T`). The stock `gup_test` binary only takes whole MiB "
        "sizes, so pinbench drives the same debugfs ioctl for every size; the cross-check "
        "table compares the two.")
    add("- **Data path.** pinio (`/dev/pinio`, opened `O_DIRECT`) and brd (`/dev/ram0`, "
        "`O_DIRECT`) both pin the caller's pages, copy with `memcpy` through kernel mappings "
        "and unpin; tmpfs buffered I/O copies with `copy_to_user`/`copy_from_user` and pins "
        "nothing. All three targets were written in full before the first measurement, so no "
        "run reads holes or allocates backing pages. Each thread works on its own region "
        "(span / threads), sequentially, wrapping; buffers are page-aligned, pre-faulted 4 KiB "
        "pages. Throughput is bytes / wall time of the timed phase (after an untimed warm-up); "
        "p50/p99 are nearest-rank percentiles over every timed operation of every thread, "
        "timed with `clock_gettime(CLOCK_MONOTONIC)` (vDSO, tsc). With more threads than "
        f"vCPUs ({nproc}) the extra threads time-share, so their latencies include waiting "
        "for a CPU. The tmpfs contender is one file, so concurrent buffered writers serialise "
        "on its inode lock (`i_rwsem`), as they would with one file in practice; brd and pinio "
        "take no such lock.")
    add("- **Threads and host cores.** Each vCPU is one host thread (multi-threaded TCG), so "
        "the guest scales with threads only while the host has a free core per vCPU. The host "
        "load average is in the table above; wide IQRs at 2 and 4 threads mean that some "
        "rounds had both host cores and others did not. Run `make bench` on an idle host.")
    add("- **Noise.** Every figure has its IQR over rounds; where the IQRs of two contenders "
        "overlap, treat the ratio as \"no measurable difference\". Raw per-round data is in "
        "`raw/` (`pin_rounds.csv`, `io_rounds.csv`, the guest's full output, its dmesg and "
        "the run settings); `scripts/bench.sh --report-only` recomputes everything from it.")
    add("- **Boot to boot.** Within one boot the interleaved rounds agree closely (tight IQRs), "
        "but small ratios move between boots: in development, the same module binary gave "
        "pinio/gup_test -a pin ratios of 0.91 to 1.01 at 1 page per call (4 KiB pages) in "
        "four boots with identical settings. pinio's pin loop is about 25 instructions per "
        "call around `pin_user_pages_fast()` (checked with objdump), a little more than "
        "gup_test's; under TCG a few guest instructions and the call from module text into "
        "core kernel text are worth 10–30 ns. Treat differences under about 10% as noise "
        "of the emulator, not of pinio.")
    add("- **Warm and cold.** Two things each side touches just before its timed sections are "
        "matched: pinio's page array is zeroed when allocated (`__GFP_ZERO`), as gup_test's "
        "`kvcalloc()` is, so neither pays first-touch costs inside the timed pin; and pinbench "
        "issues an untimed `PINIO_IOC_QUERY` between PIN and UNPIN, which walks every pinned "
        "page as gup_test's untimed `verify_dma_pinned()` does. Before these two changes "
        "pinio's THP pins came out 4-6% slower. What remains is the unpin of THP-backed "
        "memory at the largest sizes (256 MiB: 65536 pages in one `unpin_user_pages()` call "
        "on both sides, about 5 ns/page), where pinio is up to about 10% slower. The timed "
        "section is that one call on both sides; what differs is that gup_test makes it in "
        "the same ioctl as the pin and walk, while pinio's unpin is a separate syscall after "
        "user space ran, possibly on the other vCPU (each TCG vCPU has its own software TLB "
        "to refill over 4 MiB of `struct page`s and a 512 KiB array). Pinning the benchmark "
        "to one vCPU did not remove the gap in a check run; it is not pinio code, which "
        "adds nothing to the timed call, but it is not explained further either.")
    add(f"- **Pins balance.** FOLL_PIN pins outstanding system-wide (vmstat, folded): "
        f"{info.get('foll_pins_outstanding_before', '?')} before, "
        f"{info.get('foll_pins_outstanding_after', '?')} after the run.")
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
