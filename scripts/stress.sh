#!/usr/bin/env bash
# make stress: the long form of pinio's reliability tests, in one boot of the debug kernel
# (KASAN, lockdep, DEBUG_VM, DEBUG_PAGEALLOC, kmemleak, fault injection).
#
#   scripts/stress.sh [--seeds "S1 S2 ..."] [--duration S] [--hostile N] [--threads N]
#                     [--owners N] [--victims N] [--fuzz-ops N] [--size-mib N] [--quick]
#
# For each seed: pinio_stress_test's mixed run (owners verifying their data, hostile
# processes, victims killed mid-call) for --duration seconds, and pinio_fuzz_test with
# --fuzz-ops calls per test; then, once, fio's long verification matrix on pinio and ram0
# (pinio_fio_test.sh, PINIO_FIO_MATRIX=long: 278 jobs, every engine and depth, 512 bytes to
# 4 MiB, the same verdict on both), pinio_fault_test (fail-nth sweep, random fault
# injection, RLIMIT_MEMLOCK, per-file cap, memory pressure with most of the guest's memory)
# and, last, unload while busy, unload, loads with allocations of the module's init failing,
# reload. scripts/vm then unloads the module and scans
# kmemleak, and fails on any kernel splat.
#
# Seeds: --seeds, else $PINIO_STRESS_SEEDS, else three random ones (printed: rerun with
# --seeds to repeat a run's operations). Defaults: 120 s per seed, 4 hostile processes x 4
# threads, 3 owner threads, 2 victims at once, 10000 fuzzer calls per test, a 128 MiB store.
# --quick: one seed, 30 s, fio's short matrix, for trying the script itself. The tests' time
# limits are fixed (TEST_F_TIMEOUT), so --duration is at most 1800 s and --fuzz-ops at most
# 20000.
#
# Output: the guest's output in build/stress-guest.log, its kernel log in
# build/stress-dmesg.log, and a summary table (markdown) printed and saved to
# build/stress-summary.md. Exit status: 0 if every test passed and the kernel stayed clean
# (scripts/vm's result line says whether it did).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

seeds=${PINIO_STRESS_SEEDS:-}
duration=${PINIO_STRESS_DURATION:-120}
hostile=4 threads=4 owners=3 victims=2 fuzz_ops=10000 size_mib=128 fio_matrix=long

while [ $# -gt 0 ]; do
	case $1 in
	--seeds) seeds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--hostile) hostile=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--owners) owners=$2; shift 2 ;;
	--victims) victims=$2; shift 2 ;;
	--fuzz-ops) fuzz_ops=$2; shift 2 ;;
	--size-mib) size_mib=$2; shift 2 ;;
	--quick) duration=30; fuzz_ops=3000; fio_matrix=short; [ -n "$seeds" ] || seeds=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | sed 's/^/0x/'); shift ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "scripts/stress.sh: unknown option $1 (see --help)" ;;
	esac
done
if [ -z "$seeds" ]; then
	for _ in 1 2 3; do
		seeds="$seeds $(od -An -N6 -tx2 /dev/urandom | tr -d ' ' | sed 's/^/0x/')"
	done
fi
seeds=$(echo $seeds)
nseeds=$(echo "$seeds" | wc -w)

tests_dir=$PINIO_TOP/build/tests
for p in pinio_stress_test pinio_fuzz_test pinio_fault_test; do
	[ -x "$tests_dir/$p" ] || die "no $tests_dir/$p (make tests)"
done
# fio's long verification matrix (pinio_fio_test.sh) prints KTAP with the kernel's helpers.
ktap_helpers=$(kernel_src)/tools/testing/selftests/kselftest/ktap_helpers.sh
[ -f "$ktap_helpers" ] || die "no $ktap_helpers (scripts/setup.sh fetches the kernel source)"
command -v fio >/dev/null || die "no fio on the host (scripts/setup.sh installs it)"
out=$PINIO_TOP/build
log=$out/stress-guest.log
dmesg_log=$out/stress-dmesg.log
summary=$out/stress-summary.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The guest's script: every run between "@@run NAME SEED" and "@@end NAME SEED STATUS".
{
	echo '#!/bin/sh'
	echo 'cd "$(dirname "$0")" || exit 1'
	echo 'export PINIO_STORE_WINDOW=0:all'
	echo 'run() { name=$1; seed=$2; shift 2; echo "@@run $name $seed"; "$@"; echo "@@end $name $seed $?"; }'
	for s in $seeds; do
		echo "run stress $s ./pinio_stress_test --seed $s --duration $duration --hostile $hostile --threads $threads --owners $owners --victims $victims -t mixed"
		echo "run fuzz $s ./pinio_fuzz_test --seed $s --ops $fuzz_ops"
	done
	first=${seeds%% *}
	echo "run fio $first env PINIO_FIO_MATRIX=$fio_matrix ./pinio_fio_test.sh"
	echo "run fault $first env PINIO_PRESSURE=full ./pinio_fault_test --seed $first"
	echo "run teardown $first env PINIO_INIT_FAULTS=1 ./pinio_stress_test --seed $first -t ioctl_counters_balanced -t unload_busy"
	echo 'exit 0'
} >"$work/stress-guest.sh"
chmod +x "$work/stress-guest.sh"

budget=$((nseeds * (duration + 240 + fuzz_ops / 40) + 1200 + 1800))
say "stress: seeds $seeds; ${duration} s each; $hostile hostile processes x $threads threads," \
	"$owners owner threads, $victims victims at once; $fuzz_ops fuzzer calls per test;" \
	"store ${size_mib} MiB (guest time limit ${budget} s)"
t0=$(date +%s)
"$PINIO_TOP/scripts/vm" --kernel "${PINIO_KERNEL:-debug}" --timeout "$budget" --log "$dmesg_log" \
	--param "size_mib=$size_mib" --param max_pin_mib=256 \
	--add "$tests_dir/pinio_stress_test" --add "$tests_dir/pinio_fuzz_test" \
	--add "$tests_dir/pinio_fault_test" --add "$work/stress-guest.sh" \
	--add "$PINIO_TOP/tests-kselftest/pinio_fio_test.sh" --add "$ktap_helpers" --add-prog fio \
	-- ./stress-guest.sh >"$log" 2>"$work/vm.err"
vm_rc=$?
t1=$(date +%s)
tr -d '\r' <"$log" >"$work/guest.log"
cat "$work/vm.err" >>"$log"

# ---- the summary -----------------------------------------------------------------------
# scripts/vm's result line (see scripts/vm --help); without one, nothing was checked.
vm_result=$(sed -n 's/^pinio-vm: result //p' "$work/vm.err" | tail -1)
vm_field() { printf '%s\n' $vm_result | sed -n "s/^$1=//p"; }
verdict() { [ "$(vm_field "$1")" = "$2" ] && echo held || echo BROKEN; }
splat=$(verdict splat 0)
leak=$(verdict kmemleak 0)
rmmod=$(verdict rmmod ok)
finished=$(verdict finished 1)

sum_stat() {	# sum of "@@stat TEST NAME VALUE" over all runs
	awk -v t="$1" -v n="$2" '$2 == "@@stat" && $3 == t && $4 == n { s += $5 } END { printf "%.0f\n", s }' \
		"$work/guest.log"
}
ratio_stat() {	# "@@stat TEST NAME A/B": sums of A and B
	awk -v t="$1" -v n="$2" '$2 == "@@stat" && $3 == t && $4 == n {
		split($5, x, "/"); a += x[1]; b += x[2] } END { printf "%d of %d", a, b }' "$work/guest.log"
}
invariant() {	# held in every run that reported it?
	awk -v n="$1" '$2 == "@@invariant" && $4 == n { seen = 1; if ($5 != "held") bad = 1 }
		END { print seen ? (bad ? "BROKEN" : "held") : "not run" }' "$work/guest.log"
}
run_result() {	# NAME SEED -> passed/FAILED (N of M TAP tests)
	awk -v n="$1" -v s="$2" '
		$1 == "@@run" && $2 == n && $3 == s { in_run = 1; next }
		$1 == "@@end" && $2 == n && $3 == s { in_run = 0; rc = $4; done = 1 }
		in_run && /^ok [0-9]/ { ok++ }
		in_run && /^not ok [0-9]/ { nok++; sub(/^not ok [0-9]+ /, ""); failed = failed " " $0 }
		END {
			if (!done) { print "did not finish"; exit }
			printf "%s (%d of %d TAP tests ok)%s", (nok || rc) ? "FAILED" : "passed", ok, ok + nok,
				failed ? ":" failed : ""
		}' "$work/guest.log"
}
all_ok=1
{
	echo "## pinio stress run"
	echo
	if [ -n "${PINIO_KERNEL:-}" ]; then
		kname="kernel tree $PINIO_KERNEL"
	else
		kname="debug kernel ($(bash -c ". $PINIO_TOP/scripts/lib.sh && kernel_src" | sed 's,.*/linux-,,'))"
	fi
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $kname, $((t1 - t0)) s in one boot."
	echo "Seeds: \`$seeds\` (rerun: \`scripts/stress.sh --seeds \"$seeds\"\`)."
	echo "Per seed: ${duration} s of mixed stress ($owners owner threads, $hostile hostile processes x $threads threads, $victims victims alive at once) and $fuzz_ops fuzzer calls per fuzz test; store ${size_mib} MiB, per-file cap 256 MiB."
	echo
	echo "| runs | seed | result |"
	echo "|---|---|---|"
	for s in $seeds; do
		for n in stress fuzz; do
			r=$(run_result $n "$s")
			case $r in passed*) ;; *) all_ok=0 ;; esac
			echo "| $n | \`$s\` | $r |"
		done
	done
	for n in fio fault teardown; do
		r=$(run_result $n "${seeds%% *}")
		case $r in passed*) ;; *) all_ok=0 ;; esac
		echo "| $n | \`${seeds%% *}\` | $r |"
	done
	echo
	echo "| operations (mixed stress, all seeds) | count |"
	echo "|---|---:|"
	for k in read pread readv preadv2 pwrite pwritev pwritev2 write_pos splice_in splice_out \
		sendfile lseek pin unpin query dma_to dma_from set_config fork munmap mprotect madvise \
		dup_close inflight_close reopen owner_writes owner_reads; do
		echo "| $k | $(sum_stat mixed $k) |"
	done
	echo "| bytes verified by owners | $(sum_stat mixed owner_verified_bytes) |"
	echo "| results: full / short / EINVAL / EFAULT / ENOMEM / ENOSPC / EPERM | $(sum_stat mixed ok) / $(sum_stat mixed short_count) / $(sum_stat mixed e_inval) / $(sum_stat mixed e_fault) / $(sum_stat mixed e_nomem) / $(sum_stat mixed e_nospc) / $(sum_stat mixed e_perm) |"
	echo
	echo "| events | count |"
	echo "|---|---:|"
	echo "| victims spawned | $(sum_stat mixed victims) |"
	echo "| processes killed with SIGKILL (victims) | $(sum_stat mixed killed) |"
	echo "| ... of which inside a pinio call (pinio on the kernel stack) | $(sum_stat mixed killed_in_call) |"
	echo "| forked children killed with SIGKILL | $(sum_stat mixed children_killed) |"
	echo "| fuzzer calls (ioctl model, ioctl garbage, read/write model, other fops) | $(sum_stat ioctl_model calls) / $(sum_stat ioctl_garbage calls) / $(sum_stat rw_model calls) / $(sum_stat misc_fops calls) |"
	echo "| read/write calls compared with /dev/ram0 | $(sum_stat rw_model ramdisk_compared) |"
	echo "| faults injected: fail-nth sweep over every call kind | $(sum_stat fail_nth_each_call faults_injected) |"
	echo "| faults injected: random (make-it-fail, intervals 1..29) | $(sum_stat fail_random faults_injected) |"
	echo "| faults injected: module init (load after load, n-th allocation failing) | $(sum_stat unload_busy init_faults_injected) |"
	echo "| calls failed by random injection: PIN / open / pread+preadv | $(ratio_stat fail_random pin) / $(ratio_stat fail_random open) / $(sum_stat fail_random pread) + $(sum_stat fail_random preadv) |"
	echo "| memory pressure: MiB touched by the hog / MiB DMA-verified meanwhile | $(sum_stat memory_pressure hog_mib) / $(sum_stat memory_pressure verified_mib) |"
	echo "| RLIMIT_MEMLOCK: long-term pins accepted / refused with ENOMEM | $(sum_stat memlock_exhaustion pins) / $(sum_stat memlock_exhaustion enomem) |"
	echo
	echo "| invariant | result |"
	echo "|---|---|"
	echo "| no kernel splat (BUG, WARNING, Oops, KASAN, lockdep, bad page) | $splat |"
	echo "| kmemleak clean after the final rmmod | $leak |"
	echo "| final rmmod pinio succeeded | $rmmod |"
	echo "| guest finished within its time limit | $finished |"
	echo "| nr_foll_pin_acquired == nr_foll_pin_released after each run | $(invariant foll_pin_acquired_eq_released) |"
	echo "| VmPin 0 in every process after closing its files | $(invariant vmpin_zero_in_every_process) |"
	echo "| owners' data intact (every read verified) | $(invariant owner_data_intact) |"
	echo "| data-path pins all released (debugfs counters) | $(invariant data_path_pins_released) |"
	echo "| every call's result sane (documented errno, count <= asked) | $(invariant sane_results) |"
	echo "| no worker hung | $(invariant no_hang) |"
	echo "| device works after each run | $(invariant device_works_after) |"
} >"$summary"
for v in $splat $leak $rmmod $finished; do
	[ "$v" = held ] || all_ok=0
done
grep -q '| BROKEN |' "$summary" && all_ok=0
[ "$vm_rc" = 0 ] || all_ok=0

cat "$summary"
echo
if [ "$all_ok" = 1 ]; then
	say "stress: all passed in $((t1 - t0)) s; summary in $summary"
	exit 0
fi
say "stress: FAILED (guest exit $vm_rc); see $log, $dmesg_log and $summary"
grep -E '^# FAIL|^not ok|^# .*(Expected|FAIL)' "$work/guest.log" | head -30 >&2
sed -n '1,40p' "$work/vm.err" >&2
exit 1
