#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (scripts/bench.sh boots it with scripts/vm): every benchmark of `make bench`
# in one boot. Settings come as NAME=VALUE arguments (defaults: quick mode). Everything goes to
# stdout as lines the host parses: INFO, PIN, GUPTEST, IO, FILL, PROGRESS, ERROR.
set -u
for kv in "$@"; do
	export "${kv?}"
done
: "${PIN_ROUNDS:=3}" "${PIN_SIZES:=4K,16K,64K,256K,1M,4M,16M,64M}" "${PIN_PPC:=1,512,all}"
: "${PIN_MIN_PAGES:=4096}" "${PIN_MIN_REPS:=3}" "${PIN_MAX_REPS:=100}"
: "${GUPTEST_MIB:=16}" "${GUPTEST_REPS:=5}"
: "${IO_ROUNDS:=3}" "${IO_SIZES:=4K 64K 1M 16M}" "${IO_THREADS:=1 2 4}" "${IO_OPS:=read write}"
: "${IO_MS:=100}" "${IO_WARMUP_MS:=15}" "${EXPECT_CPUS:=}"
: "${URING_ROUNDS:=3}" "${URING_SIZES:=4K 64K 1M}" "${URING_QDS:=1 8 32}" "${URING_OPS:=read write}"
: "${URING_MS:=100}" "${URING_WARMUP_MS:=15}"
: "${DMA_ROUNDS:=2}" "${DMA_MS:=100}" "${DMA_SIZES:=4096 65536 1048576 16777216}"
: "${DMA_OPS:=read write}" "${PARTS:=pin io uring dma fio}"
: "${FIO_ROUNDS:=2}" "${FIO_SIZES:=4k 64k 1m}" "${FIO_ENGINES:=psync-1 io_uring-1 io_uring-16 libaio-16}"
: "${FIO_OPS:=randread randwrite}" "${FIO_RUNTIME:=1}" "${FIO_RAMP:=0.25}"
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
cd "$(dirname "$0")" || exit 1
TMPFS_FILE=/tmp/pinio-bench.dat
# Results are collected in files and printed after each phase: stdout is a serial port, and
# a UART draining during a timed section interrupts it. Only short PROGRESS lines go out live.
PIN_OUT=/tmp/bench-pin.out
GUP_OUT=/tmp/bench-guptest.out
IO_OUT=/tmp/bench-io.out
URING_OUT=/tmp/bench-uring.out
DMA_OUT=/tmp/bench-dma.out
FIO_OUT=/tmp/bench-fio.out

info() { echo "INFO $*"; }
progress() { echo "PROGRESS $*"; }

# --- what the guest is and runs on ---------------------------------------------------------
# The kernel moves from tsc-early to tsc about a second after boot (after the refined TSC
# calibration): wait for it, up to 20 s.
csf=/sys/devices/system/clocksource/clocksource0/current_clocksource
i=0
while [ "$(cat $csf 2>/dev/null)" != tsc ] && [ $i -lt 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
cs=$(cat $csf 2>/dev/null)
info "clocksource=$cs"
info "available_clocksource=$(cat /sys/devices/system/clocksource/clocksource0/available_clocksource 2>/dev/null | tr ' ' ,)"
info "uname_r=$(uname -r)"
info "proc_version=$(cat /proc/version)"
info "nproc=$(nproc)"
info "guest_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
info "guest_hypervisor_flag=$(grep -c -w hypervisor /proc/cpuinfo)"
info "mem_total_kb=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
info "thp_enabled=$(cat /sys/kernel/mm/transparent_hugepage/enabled)"
info "cmdline=$(cat /proc/cmdline)"
info "pinio_params=$(cat /pinio/params 2>/dev/null)"
info "cpu_flags_copy=$(grep -m1 ^flags /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'erms|fsrm|fsrs|rep_good' | tr '\n' ,)"
store=$((512 * $(cat /sys/block/ram0/size)))
info "brd_bytes=$store"
if [ "$cs" != tsc ]; then
	echo "ERROR the guest clocksource is '$cs', not tsc: timings would be meaningless"
	exit 3
fi
if [ -n "$EXPECT_CPUS" ] && [ "$(nproc)" != "$EXPECT_CPUS" ]; then
	echo "ERROR the guest has $(nproc) CPUs online, not $EXPECT_CPUS"
	exit 3
fi
pins() {
	# Fold the per-CPU vmstat deltas first, or the counters lag by up to a second.
	echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null
	awk '/^nr_foll_pin_acquired/ {a=$2} /^nr_foll_pin_released/ {r=$2} END {print a-r}' /proc/vmstat
}
info "foll_pins_outstanding_before=$(pins)"

# How fast each copy idiom runs here (under TCG `rep movsb` is slow; see copycal.c).
./copycal 1048576

# --- 1. pinning: pinio PIN/UNPIN against gup_test, interleaved in one process -----------------
if part pin; then
progress "pin: $PIN_ROUNDS rounds, sizes $PIN_SIZES, pages per call $PIN_PPC, 4k and thp"
./pinbench --rounds "$PIN_ROUNDS" --sizes "$PIN_SIZES" --ppc "$PIN_PPC" --mem 4k,thp \
	--min-pages "$PIN_MIN_PAGES" --min-reps "$PIN_MIN_REPS" --max-reps "$PIN_MAX_REPS" \
	>"$PIN_OUT" || { cat "$PIN_OUT"; echo "ERROR pinbench failed"; exit 1; }
cat "$PIN_OUT"

# The stock selftest binary, as a cross-check of pinbench's use of the gup_test ioctl.
progress "pin: the stock gup_test binary at $GUPTEST_MIB MiB"
for mib in $GUPTEST_MIB; do
	for mem in T t; do
		for n in 512 -1; do
			for cmd in a L; do
				./gup_test -$cmd -$mem -m "$mib" -n "$n" -r "$GUPTEST_REPS" \
					>/tmp/gup_test.out 2>&1 ||
					{ cat /tmp/gup_test.out; echo "ERROR gup_test -$cmd -$mem"; exit 1; }
				sed -n "s/^# \([A-Z_]*\): Time: get:\([0-9]*\) put:\([0-9]*\) us.*/GUPTEST cmd=$cmd mem=$mem mib=$mib n=$n name=\1 get_us=\2 put_us=\3/p" \
					/tmp/gup_test.out >>"$GUP_OUT"
			done
		done
	done
done
cat "$GUP_OUT"
fi

# --- 2. data path: /dev/pinio vs brd O_DIRECT vs tmpfs buffered ------------------------------
if part io || part uring; then
progress "io: filling the three targets ($store bytes each)"
./iobench --path /dev/pinio --fill "$store" --direct || { echo "ERROR fill pinio"; exit 1; }
./iobench --path /dev/ram0 --fill "$store" --direct || { echo "ERROR fill brd"; exit 1; }
./iobench --path "$TMPFS_FILE" --fill "$store" || { echo "ERROR fill tmpfs"; exit 1; }
fi

run_io() { # target op bs threads round
	case $1 in
	pinio) set -- /dev/pinio --direct "$@" ;;
	brd) set -- /dev/ram0 --direct "$@" ;;
	tmpfs) set -- "$TMPFS_FILE" "" "$@" ;;
	esac
	./iobench --path "$1" $2 --label "$3" --op "$4" --bs "$5" --threads "$6" --span "$store" \
		--duration-ms "$IO_MS" --warmup-ms "$IO_WARMUP_MS" --tag "round=$7" >>"$IO_OUT" ||
		{ echo "ERROR iobench $3 $4 $5 $6"; exit 1; }
}

r=0
part io || r=$IO_ROUNDS
while [ "$r" -lt "$IO_ROUNDS" ]; do
	t0=$(date +%s)
	cell=0
	for op in $IO_OPS; do
		for th in $IO_THREADS; do
			for bs in $IO_SIZES; do
				# The three contenders back to back, in an order rotated per cell and round.
				case $(((r + cell) % 3)) in
				0) order="pinio brd tmpfs" ;;
				1) order="brd tmpfs pinio" ;;
				2) order="tmpfs pinio brd" ;;
				esac
				for t in $order; do
					run_io "$t" "$op" "$bs" "$th" "$r"
				done
				cell=$((cell + 1))
			done
		done
	done
	r=$((r + 1))
	progress "io round $r/$IO_ROUNDS done in $(($(date +%s) - t0)) s"
done
[ -f "$IO_OUT" ] && cat "$IO_OUT"

# --- 3. io_uring: pinio's engine vs brd O_DIRECT, queue depths -------------------------------
# One submitting thread per run. pinio's requests are queued on its engine (latency_us 0, the
# default queue depth 128) and complete from its workqueue; brd completes each bio in the
# submitter's context. At queue depth 1 the synchronous path (pread/pwrite) of both runs too,
# in the same rounds: pinio's io_uring time minus its synchronous time is what the engine
# costs per request.
run_uring() { # target op bs qd round
	case $1 in
	pinio) set -- /dev/pinio pinio "$2" "$3" "$4" "$5" ;;
	brd) set -- /dev/ram0 brd "$2" "$3" "$4" "$5" ;;
	pinio-sync) set -- /dev/pinio pinio-sync "$2" "$3" 0 "$5" ;;
	brd-sync) set -- /dev/ram0 brd-sync "$2" "$3" 0 "$5" ;;
	esac
	out=$(./iobench --path "$1" --direct --label "$2" --op "$3" --bs "$4" --qd "$5" \
		--span "$store" --duration-ms "$URING_MS" --warmup-ms "$URING_WARMUP_MS" \
		--tag "round=$6") || { echo "ERROR iobench uring $2 $3 $4 qd=$5"; exit 1; }
	# The synchronous runs are the queue depth 1 reference of this section.
	case $out in
	IO\ *) out="URING qd=0 ${out#IO }" ;;
	esac
	echo "$out" >>"$URING_OUT"
}

r=0
part uring || r=$URING_ROUNDS
while [ "$r" -lt "$URING_ROUNDS" ]; do
	t0=$(date +%s)
	cell=0
	for op in $URING_OPS; do
		for qd in $URING_QDS; do
			for bs in $URING_SIZES; do
				if [ "$qd" = 1 ]; then
					case $(((r + cell) % 4)) in
					0) order="pinio brd pinio-sync brd-sync" ;;
					1) order="brd pinio-sync brd-sync pinio" ;;
					2) order="pinio-sync brd-sync pinio brd" ;;
					3) order="brd-sync pinio brd pinio-sync" ;;
					esac
				elif [ $(((r + cell) % 2)) = 0 ]; then
					order="pinio brd"
				else
					order="brd pinio"
				fi
				for t in $order; do
					run_uring "$t" "$op" "$bs" "$qd" "$r"
				done
				cell=$((cell + 1))
			done
		done
	done
	r=$((r + 1))
	progress "uring round $r/$URING_ROUNDS done in $(($(date +%s) - t0)) s"
done
[ -f "$URING_OUT" ] && cat "$URING_OUT"
info "async_counters=$(grep -E '^async_(queued|completed)|^nowait_eagain' /sys/kernel/debug/pinio/counters 2>/dev/null | tr ' \n' '=,')"

# --- 3b. fio: the same comparison with a load generator nobody here wrote ------------------
# Debian's fio (scripts/vm --add-prog fio), one job per run: O_DIRECT, random offsets over the
# whole device (norandommap, a new seed each run), time-based (FIO_RUNTIME seconds after
# FIO_RAMP seconds not counted); ENGINE-QD is fio's ioengine and iodepth. pinio and brd back to
# back per cell, in an order that alternates per cell and round. One FIO line per run:
# throughput (fio's bw, in 10^6 B/s), IOPS, and fio's completion-latency percentiles (clat:
# submission to completion).
run_fio() { # target engine-qd op bs round
	case $1 in
	pinio) dev=/dev/pinio ;;
	brd) dev=/dev/ram0 ;;
	esac
	fio --name=bench --filename="$dev" --direct=1 --ioengine="${2%-*}" --iodepth="${2##*-}" \
		--rw="$3" --bs="$4" --size="$store" --norandommap --randrepeat=0 --time_based \
		--runtime="$FIO_RUNTIME" --ramp_time="$FIO_RAMP" --output-format=terse \
		--terse-version=3 >/tmp/fio.terse 2>/tmp/fio.err ||
		{ cat /tmp/fio.err; echo "ERROR fio $1 $2 $3 $4"; exit 1; }
	# Terse v3: 5 error; read 7 bw KiB/s, 8 IOPS, 18-37 clat percentiles; write 48, 49, 59-78.
	case $4 in
	*k) bytes=$((${4%k} << 10)) ;;
	*m) bytes=$((${4%m} << 20)) ;;
	*) bytes=$4 ;;
	esac
	awk -F';' -v label="$1" -v eng="$2" -v op="$3" -v bs="$bytes" -v rd="$5" '
		function pct(lo, hi, p,   i) {
			for (i = lo; i <= hi; i++)
				if (index($i, p "=") == 1)
					return substr($i, length(p) + 2)
			return -1
		}
		{
			w = (op ~ /write/) ? 41 : 0
			split(eng, e, "-")
			if ($5 != 0) { print "ERROR fio error " $5 " " label " " eng " " op " " bs; exit }
			printf "FIO round=%s label=%s engine=%s qd=%s op=%s bs=%s MBps=%.2f iops=%s p50_us=%s p99_us=%s\n",
				rd, label, e[1], e[2], op, bs, $(7 + w) * 1024 / 1e6, $(8 + w),
				pct(18 + w, 37 + w, "50.000000%"), pct(18 + w, 37 + w, "99.000000%")
		}' /tmp/fio.terse >>"$FIO_OUT"
}
if part fio; then
	if ! command -v fio >/dev/null; then
		echo "ERROR no fio in the guest (scripts/vm --add-prog fio)"
		exit 1
	fi
	info "fio_version=$(fio --version)"
	progress "fio: filling both devices, then $FIO_ROUNDS rounds"
	for dev in /dev/pinio /dev/ram0; do
		fio --name=fill --filename=$dev --direct=1 --rw=write --bs=1m --size="$store" \
			--ioengine=psync >/dev/null 2>&1 || { echo "ERROR fio fill $dev"; exit 1; }
	done
	r=0
	while [ "$r" -lt "$FIO_ROUNDS" ]; do
		t0=$(date +%s)
		cell=0
		for op in $FIO_OPS; do
			for eng in $FIO_ENGINES; do
				for bs in $FIO_SIZES; do
					if [ $(((r + cell) % 2)) = 0 ]; then
						order="pinio brd"
					else
						order="brd pinio"
					fi
					for t in $order; do
						run_fio "$t" "$eng" "$op" "$bs" "$r"
					done
					cell=$((cell + 1))
				done
			done
		done
		r=$((r + 1))
		progress "fio round $r/$FIO_ROUNDS done in $(($(date +%s) - t0)) s"
	done
	grep '^ERROR' "$FIO_OUT" && exit 1
	cat "$FIO_OUT"
fi

# --- 4. the DMA mapping's cost: pinio with dma_map=1 against dma_map=0 and brd --------------
# Last: dma-cost.sh reloads the module for every cell (dma_map is a load-time knob).
if part dma; then
	# (Rust module parameters are not in /sys/module/pinio/parameters: the script comes
	# with the dma_map knob, and scripts/bench.sh adds it when it exists.)
	if [ -f ./dma-cost.sh ]; then
		progress "dma: $DMA_ROUNDS rounds, sizes $DMA_SIZES, pinio dma_map=1/0 and brd"
		sh ./dma-cost.sh "$DMA_ROUNDS" "$DMA_MS" "$DMA_SIZES" "$DMA_OPS" >"$DMA_OUT" ||
			{ cat "$DMA_OUT"; echo "ERROR dma-cost.sh failed"; exit 1; }
		grep '^ERROR' "$DMA_OUT" && exit 1
		sed -n 's/^IO /DMACOST /p' "$DMA_OUT"
	else
		info "dma_part=skipped (no dma-cost.sh: this tree has no dma_map knob)"
	fi
fi
info "foll_pins_outstanding_after=$(pins)"
echo "DONE"
