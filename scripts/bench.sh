#!/usr/bin/env bash
# make bench: what pinning costs, and how pinio's pinned-page data path compares with what the
# kernel already does, measured side by side in ONE boot of the release test kernel.
#
#   scripts/bench.sh                 full run (about 20 minutes on a 2-core host)
#   PINIO_BENCH_QUICK=1 scripts/bench.sh     quick run for development (a couple of minutes)
#   PINIO_BENCH_PARTS=uring PINIO_BENCH_QUICK=1 PINIO_BENCH_OUT=/tmp/b scripts/bench.sh
#                                    only the io_uring part, quick, results elsewhere
#   scripts/bench.sh --report-only   recompute bench/results/ from bench/results/raw/
#
# Environment: PINIO_BENCH_QUICK=1, PINIO_BENCH_PARTS (any of "pin io uring fio dma insns",
# default all),
# PINIO_BENCH_SMP (guest vCPUs, default 2),
# PINIO_BENCH_OUT (results directory, default bench/results), PINIO_BENCH_ERMS=1 (keep the ERMS
# CPU flag; by default the guest boots with clearcpuid=erms, see below).
#
# 1. Pinning: pinio's PIN/UNPIN ioctls (pin_user_pages_fast, with and without FOLL_LONGTERM)
#    against the kernel's gup_test (/sys/kernel/debug/gup_test: PIN_FAST_BENCHMARK = gup_test -a,
#    PIN_LONGTERM_BENCHMARK = gup_test -L), same pre-faulted buffers, 4 KiB pages and THP,
#    1, 512 and all pages per call (scripts/bench/pinbench.c); the stock gup_test binary as a
#    cross-check.
# 2. Data path: /dev/pinio against O_DIRECT on the brd ramdisk /dev/ram0 (same size) and
#    buffered read/write of a tmpfs file, 1, 2 and 4 threads (scripts/bench/iobench.c).
# 3. io_uring: pinio's asynchronous engine against brd O_DIRECT through io_uring, queue
#    depths 1, 8 and 32, one submitter; at depth 1 also both synchronous paths, so that the
#    engine's cost per request shows (iobench --qd).
# 3b. fio: the data path again with Debian's fio as the load generator, so that the figures
#    can be reproduced with a tool every storage engineer has: pinio against brd O_DIRECT,
#    random reads and writes over the whole device, psync and libaio/io_uring at queue depths
#    1 and 16, 4 KiB to 1 MiB, time-based runs (the method: bench/README.md).
# 4. DMA mapping: pinio with its DMA mappings (dma_map=1, the default) against the direct copy
#    of the pages (the dma_map=0 benchmark knob) and brd O_DIRECT, one thread, the module
#    reloaded for each cell (scripts/bench/dma-cost.sh).
# 5. Instructions: the same three contenders' guest instructions per operation, by kernel
#    function, counted by a QEMU TCG plugin in boots of their own (scripts/insns.sh, results
#    in insns/): what the wall-clock ratios of part 4 cannot show on a loaded host, and why.
# Contenders are interleaved (rotated order, many rounds); medians with spread are reported.
# The run is refused unless the guest ran on the tsc clocksource and had the vCPUs asked for.
#
# The guest's vCPUs are sockets (scripts/vm passes -smp N,sockets=N,cores=1: the test kernel has
# no ACPI and finds CPUs in SeaBIOS's MP table, one per socket), and the bench checks that the
# guest really had them. One thing about the guest the bench sets itself:
# - clearcpuid=erms: with ERMS (and no FSRM, as with QEMU's "max" CPU) copy_to_user() and
#   copy_from_user() use `rep movsb`, which TCG emulates one byte per iteration, several times
#   slower than the `rep movsq`/move loops memcpy() uses there, which is not so on hardware
#   (copycal's figures in latest.md show it). Without ERMS the user copies use `rep movsq`, so
#   the buffered path is not penalised by an emulator artefact. memcpy() does not depend on
#   ERMS (only on FSRM, which the guest CPU lacks either way).
#
# Outputs (bench/results/): latest.csv, latest.md, *.png, raw/ (the guest's output, per-round
# tables, dmesg, run settings).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${PINIO_BENCH_OUT:-$PINIO_TOP/bench/results}
raw=$out/raw
bdir=$PINIO_TOP/build/bench
smp=${PINIO_BENCH_SMP:-2}
quick=${PINIO_BENCH_QUICK:-0}
parts=${PINIO_BENCH_PARTS:-pin io uring fio dma insns}
# Part 5 boots on its own (scripts/insns.sh); the others share the one boot.
want_insns=0
case " $parts " in *" insns "*) want_insns=1 ;; esac
parts=$(printf '%s\n' $parts | grep -vx insns | tr '\n' ' ' | sed 's/ *$//') || true
append=
[ "${PINIO_BENCH_ERMS:-0}" = 1 ] || append=clearcpuid=erms
report_only=0
case ${1:-} in
--report-only) report_only=1 ;;
"") ;;
*) die "usage: scripts/bench.sh [--report-only]" ;;
esac

report() {
	say "bench: writing $out/latest.{csv,md} and plots"
	python3 "$PINIO_TOP/scripts/bench/report.py" --raw "$raw" --out "$out" ||
		die "bench: report failed"
	# The plots are of the pinning and data path parts together (report.py writes their
	# variables); a run of one of them alone gets its tables only.
	if [ -f "$out/plot-vars.gp" ] && ls "$out"/plot-io-*.dat >/dev/null 2>&1; then
		(cd "$out" && gnuplot "$PINIO_TOP/scripts/bench/plots.gp") || die "bench: gnuplot failed"
	fi
	rm -f "$out"/plot-*.dat "$out"/plot-vars.gp
	say "bench: results in ${out#"$PINIO_TOP"/}/ (latest.md, latest.csv, *.png, raw/)"
}

if [ "$report_only" = 1 ]; then
	[ -f "$raw/guest.log" ] || die "no raw data in $raw"
	report
	exit 0
fi

# The run is one function, so bash has parsed all of it before it starts: an edit of this
# file during a 20-minute run cannot break the run.
main() {
	# --- settings -----------------------------------------------------------------------------
	threads="1 $smp 4"
	threads=$(printf '%s\n' $threads | sort -n -u | tr '\n' ' ')
	if [ "$quick" = 1 ]; then
		mode=quick
		settings=(
			PIN_ROUNDS=3 PIN_SIZES=4K,16K,64K,256K,1M,4M,16M,64M PIN_PPC=1,512,all
			PIN_MIN_PAGES=4096 PIN_MIN_REPS=3 PIN_MAX_REPS=100
			GUPTEST_MIB=16 GUPTEST_REPS=5
			IO_ROUNDS=3 "IO_SIZES=4K 64K 1M 16M" "IO_THREADS=$threads" IO_MS=100 IO_WARMUP_MS=15
			URING_ROUNDS=3 "URING_SIZES=4K 64K 1M" "URING_QDS=1 8 32" URING_MS=100
			URING_WARMUP_MS=15 DMA_ROUNDS=2 DMA_MS=100 FIO_ROUNDS=2 "FIO_SIZES=4k 1m"
			"FIO_ENGINES=psync-1 io_uring-16" FIO_RUNTIME=0.5 FIO_RAMP=0.1
			EXPECT_CPUS="$smp" "PARTS=$parts"
		)
	else
		mode=full
		settings=(
			PIN_ROUNDS=20 PIN_SIZES=4K,16K,64K,256K,1M,4M,16M,64M,256M PIN_PPC=1,512,all
			PIN_MIN_PAGES=16384 PIN_MIN_REPS=3 PIN_MAX_REPS=300
			"GUPTEST_MIB=1 16 256" GUPTEST_REPS=9
			IO_ROUNDS=20 "IO_SIZES=4K 16K 64K 256K 1M 4M 16M" "IO_THREADS=$threads" IO_MS=250
			IO_WARMUP_MS=25 URING_ROUNDS=12 "URING_SIZES=4K 16K 64K 256K 1M"
			"URING_QDS=1 8 32" URING_MS=250 URING_WARMUP_MS=25 DMA_ROUNDS=8 DMA_MS=250
			FIO_ROUNDS=5 "FIO_SIZES=4k 64k 1m" "FIO_ENGINES=psync-1 io_uring-1 io_uring-16 libaio-16"
			FIO_RUNTIME=1 FIO_RAMP=0.25 EXPECT_CPUS="$smp" "PARTS=$parts"
		)
	fi

	# --- build --------------------------------------------------------------------------------
	module=$PINIO_TOP/build/release/pinio.ko
	# Always through make: a pinio.ko left from older sources must not be measured.
	say "bench: building the release module"
	make -s -C "$PINIO_TOP" FLAVOUR=release module >&2
	ksrc=$(kernel_src) || die "no kernel source cached (scripts/setup.sh)"
	make -s -C "$PINIO_TOP/scripts/bench" KSRC="$ksrc" OUTPUT="$bdir" >&2 ||
		die "bench: building the benchmark programs failed"
	cp "$PINIO_TOP/scripts/bench/guest.sh" "$bdir/bench-guest.sh"
	dma_add=()
	[ ! -f "$PINIO_TOP/scripts/bench/dma-cost.sh" ] ||
		dma_add=(--add "$PINIO_TOP/scripts/bench/dma-cost.sh")
	case " $parts " in
	*" fio "*)
		command -v fio >/dev/null || die "bench: no fio on the host (scripts/setup.sh installs it)"
		dma_add+=(--add-prog fio)
		;;
	esac

	# --- run ----------------------------------------------------------------------------------
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/raw"
	{
		echo "mode=$mode"
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
		echo "host_cpus=$(nproc)"
		echo "host_kernel=$(uname -r)"
		echo "host_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "qemu=$(qemu-system-x86_64 --version | head -1)"
		echo "fio=$(fio --version 2>/dev/null || echo none) (Debian $(dpkg-query -W -f='${Version}' fio 2>/dev/null || echo '?'))"
		echo "smp=$smp"
		echo "parts=$parts"
		echo "guest_append=$append"
		echo "git_head=$(git -C "$PINIO_TOP" rev-parse --short HEAD 2>/dev/null || echo none)$(
			git -C "$PINIO_TOP" diff --quiet HEAD -- src rust-bindings include Kbuild 2>/dev/null ||
				echo -dirty)"
		echo "module_sha256=$(sha256sum "$module" | cut -c1-16)"
		for s in "${settings[@]}"; do echo "setting $s"; done
	} >"$tmp/raw/meta.txt"

	# Run a snapshot of scripts/vm: bash reads a script as it goes, so an edit to scripts/vm during
	# a 20-minute run would break the run's end. Its lib.sh is the real one (for PINIO_TOP).
	cp "$PINIO_TOP/scripts/vm" "$tmp/vm"
	printf '. %q\n' "$PINIO_TOP/scripts/lib.sh" >"$tmp/lib.sh"

	say "bench: $mode run in one boot of the release kernel ($smp vCPUs); progress follows"
	t0=$(date +%s)
	set +e
	"$tmp/vm" --kernel release --module "$module" --timeout 3600 \
		--smp "$smp" ${append:+--append "$append"} \
		--log "$tmp/raw/dmesg.log" \
		--add "$bdir/pinbench" --add "$bdir/iobench" --add "$bdir/gup_test" --add "$bdir/copycal" \
		--add "$bdir/bench-guest.sh" "${dma_add[@]}" \
		-- sh ./bench-guest.sh "${settings[@]}" 2> >(tee "$tmp/raw/vm.log" >&2) |
		tee "$tmp/guest.out" |
		while IFS= read -r line; do
			line=${line%$'\r'}
			case $line in
			PROGRESS* | ERROR* | "INFO clocksource="* | "INFO uname_r="* | "INFO pin_buffer"*)
				say "bench: +$(($(date +%s) - t0)) s: $line" ;;
			esac
		done
	vm_rc=${PIPESTATUS[0]}
	set -e
	t1=$(date +%s)
	wait # for the tee of stderr
	tr -d '\r' <"$tmp/guest.out" >"$tmp/raw/guest.log"
	echo "wall_seconds=$((t1 - t0))" >>"$tmp/raw/meta.txt"
	echo "host_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$tmp/raw/meta.txt"
	accel=$(sed -n 's/.*booting the release kernel (\([a-z]*\), .*/\1/p' "$tmp/raw/vm.log" | head -1)
	echo "accel=${accel:-unknown}" >>"$tmp/raw/meta.txt"

	if [ "$vm_rc" != 0 ] || ! grep -q '^DONE' "$tmp/raw/guest.log"; then
		failed=$PINIO_TOP/build/bench-failed
		rm -rf "$failed"
		mkdir -p "$failed"
		cp "$tmp/raw"/* "$failed/"
		die "bench: the guest run failed (status $vm_rc); its output is in ${failed#"$PINIO_TOP"/}/"
	fi
	# A real clocksource, or nothing is reported: with jiffies every figure is a 4 ms artefact.
	last_cs=$(sed -n 's/.*Switched to clocksource \([a-z_-]*\).*/\1/p' "$tmp/raw/dmesg.log" | tail -1)
	if [ "$last_cs" != tsc ] || grep -q "clocksource 'tsc' as unstable" "$tmp/raw/dmesg.log"; then
		die "bench: the guest did not run on the tsc clocksource" \
			"(last switch: '${last_cs:-none}'); refusing to report"
	fi

	rm -rf "$raw"
	mkdir -p "$raw"
	cp "$tmp/raw"/* "$raw/"
	say "bench: guest ran $((t1 - t0)) s"
	report
}

if [ -n "$parts" ]; then
	main
fi
if [ "$want_insns" = 1 ]; then
	PINIO_BENCH_OUT=$out "$PINIO_TOP/scripts/insns.sh"
fi
exit
