#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Guest instructions per O_DIRECT read()/write(), by kernel function: pinio with its DMA
# mapping (dma_map=1), pinio copying straight (the dma_map=0 benchmark knob) and brd, on the
# release kernel. A QEMU TCG plugin (scripts/bench/tbprof.c) counts every instruction the
# guest executes; each cell boots twice, with COUNT operations and with none, and the
# difference divided by COUNT is the cost of one operation, free of the host's load and of
# timer noise, which wall-clock ratios under TCG are not (`make bench` part "insns"). A count
# is not a time (under TCG a return, an indirect jump or a memory access costs more than
# arithmetic): these figures explain the wall-clock ratios, they do not replace them.
#
#   scripts/insns.sh [SIZES [OPS]]      default "4096 65536 1048576" "read write"
#
# Output: $PINIO_BENCH_OUT/insns (default bench/results/insns): latest.md, latest.csv (totals),
# functions.csv (per function), meta.txt. The block counts themselves (about 30 MB) stay in
# build/bench/insns-raw/; `scripts/bench/insns.py SYSTEM_MAP RAW OUT` recomputes the report.
#
# Environment: PINIO_INSNS_KERNEL=debug counts on the debug kernel instead (DMA-API debug,
# KASAN, lockdep, ...: what make test runs on), into .../insns-debug, =PATH on a kernel build
# tree of the debug configuration (with PINIO_INSNS_NAME); PINIO_INSNS_COUNT=N runs
# N operations per cell instead of 256 MiB worth (the debug kernel is far slower);
# PINIO_INSNS_APPEND adds to the guest's kernel command line (e.g. dma_debug=off), and
# PINIO_INSNS_NAME=NAME puts such a run's results in insns-NAME; PINIO_INSNS_WHO picks
# contenders (default "pinio-dma pinio-direct brd").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

sizes=${1:-"4096 65536 1048576"} ops=${2:-"read write"}
who_all=${PINIO_INSNS_WHO:-"pinio-dma pinio-direct brd"}
flavour=${PINIO_INSNS_KERNEL:-release}
kernel=$flavour
if [ -d "$flavour" ]; then
	# A build tree of the debug flavour's configuration (e.g. with a kernel patch applied).
	kdir=$(cd "$flavour" && pwd)
	flavour=debug
	[ -n "${PINIO_INSNS_NAME:-}" ] || die "PINIO_INSNS_KERNEL=PATH needs PINIO_INSNS_NAME"
else
	kdir=$("$PINIO_TOP/scripts/build-kernel.sh" "$flavour")
fi
# (PINIO_INSNS_NAME=NAME: results in insns-NAME, e.g. for a run with PINIO_INSNS_APPEND.)
name=${PINIO_INSNS_NAME:-$([ "$flavour" = release ] || echo "$flavour")}
out=${PINIO_BENCH_OUT:-$PINIO_TOP/bench/results}/insns${name:+-$name}
bdir=$PINIO_TOP/build/bench
raw=$bdir/insns-raw${name:+-$name}
append=${PINIO_INSNS_APPEND:-}
head=$(git -C "$PINIO_TOP" rev-parse --short HEAD 2>/dev/null || echo none)$(
	git -C "$PINIO_TOP" diff --quiet HEAD -- src rust-bindings include Kbuild 2>/dev/null ||
		echo -dirty)
make -s -C "$PINIO_TOP" FLAVOUR="$flavour" module >&2
make -s -C "$PINIO_TOP/scripts/bench" KSRC="$(kernel_src)" OUTPUT="$bdir" "$bdir/iobench" >&2
gcc -O2 -Wall -shared -fPIC -fvisibility=hidden -o "$bdir/tbprof.so" \
	"$PINIO_TOP/scripts/bench/tbprof.c"
cp "$PINIO_TOP/scripts/bench/insns-guest.sh" "$bdir/"
rm -rf "$raw"
mkdir -p "$raw"

# About 256 MiB moved per cell: enough operations that the boot-to-boot noise (a few thousand
# instructions of timer and scheduler work) is a small fraction of one operation.
count_for() { echo "${PINIO_INSNS_COUNT:-$(((256 << 20) / $1))}"; }

cell() { # who op bs count -> raw/<who>-<op>-<bs>-<count>.{prof,out}
	local name=$1-$2-$3-$4
	# --no-module: the guest script loads pinio itself, once, so that every block of pinio's
	# text that runs belongs to the one instance whose symbols it prints.
	"$PINIO_TOP/scripts/vm" --kernel "$kernel" --quiet --smp 1 --timeout 1800 --no-module \
		${append:+--append "$append"} \
		--qemu-arg -plugin --qemu-arg "$bdir/tbprof.so,out=$raw/$name.prof" \
		--add "$PINIO_TOP/build/$flavour/pinio.ko" --add "$bdir/iobench" \
		--add "$bdir/insns-guest.sh" \
		-- sh ./insns-guest.sh "$1" "$2" "$3" "$4" >"$raw/$name.out" 2>"$raw/$name.err" ||
		die "insns: the $name run failed (build/bench/insns-raw/$name.err)"
	grep -q '^DONE' "$raw/$name.out" || die "insns: the $name run did not finish"
}

t0=$(date +%s)
for bs in $sizes; do
	for who in $who_all; do
		say "insns: $who, $bs bytes (+$(($(date +%s) - t0)) s)"
		cell "$who" read "$bs" 0
		for op in $ops; do
			cell "$who" "$op" "$bs" "$(count_for "$bs")"
		done
	done
done
mkdir -p "$out"
rm -rf "$out/raw"
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "git_head=$head"
	echo "qemu=$(qemu-system-x86_64 --version | head -1)"
	echo "kernel=$(basename "$kdir")"
	echo "flavour=$flavour"
	echo "append=$append"
	echo "wall_seconds=$(($(date +%s) - t0))"
} >"$raw/meta.txt"
cp "$raw/meta.txt" "$out/meta.txt"
python3 "$PINIO_TOP/scripts/bench/insns.py" "$kdir/System.map" "$raw" "$out"
say "insns: $out/latest.md"
