#!/usr/bin/env bash
# make test: boot the debug kernel, run every kselftest (TAP) and the module's Rust KUnit suites
# (KTAP in dmesg at insmod), check the kernel log, check every C file with the kernel's
# checkpatch.pl (one result per file, scripts/checkpatch.sh), and end with
# "N passed, N failed". The programs that need boot options (BOOT2_PROGS) run in a second boot
# with PINIO_BOOT2_APPEND (scripts/lib.sh) on the kernel command line and PINIO_BOOT2_PARAMS as
# pinio's module parameters (every DMA mapping bounced through swiotlb, a 32-bit DMA mask, the
# movable zone and CMA area of the experiments); those of them also in BOOT1_TOO run in the
# first boot as well. The two boots run at the same time, in two guests; the KUnit suites and
# the kernel log are checked in both. Each program's wall time is printed at the end.
#
# PINIO_KERNEL=PATH (make test KDIR=PATH) boots that kernel tree instead. A test that skips
# because the tree lacks an option it needs (scripts/check-kernel.sh lists them, the test names
# the option) is then reported as skipped, with the reason, and not counted as failed; the
# line ends "N passed, N failed, N skipped". Any other skip counts as failed, as always.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BOOT2_APPEND=$PINIO_BOOT2_APPEND
BOOT2_PARAMS=$PINIO_BOOT2_PARAMS
# The second boot: the experiments that need its boot options, and the data-path, async and
# DMA tests (pinio_dma_test has the ioctl-DMA cases), where a missing unmap or sync, or a wrong
# direction, loses data. Not pinio_pin_test: its long-term pins of pages already pinned
# short-term fail there (EFAULT, ENOMEM), as they must when a FOLL_LONGTERM pin has to migrate
# a page out of ZONE_MOVABLE or CMA. The fuzzer is split between the boots, to balance them
# (the first has the longer programs): here its read/write, file-operation and asynchronous
# models (rw_model, misc_fops, async_model), whose calls then bounce; the ioctl models, whose
# long-term pins fail here as pinio_pin_test's (ENOMEM), stay in the first (BOOT1_ENV,
# BOOT2_ENV). Not pinio_load_test (with movablecore= the store cannot get the memory it
# expects), nor pinio_fault_test (long-term pins), nor pinio_abi_test (it checks the default
# dma_mask_bits), nor pinio_matrix_test (its MAP_PRIVATE hugetlb cells get EFAULT when the pool's
# pages are in ZONE_MOVABLE: see the program).
BOOT2_PROGS=${PINIO_BOOT2_PROGS:-"pinio_exp_boot_test pinio_dma_test pinio_io_test pinio_async_test pinio_fuzz_test"}
# Of those, the ones the normal (non-bounce) path needs too: the data path, and the DMA test,
# which checks there that nothing bounces; and the fuzzer's other half. And pinio_exp_test,
# which the third boot runs again (a program of BOOT3_PROGS outside BOOT2_PROGS would run
# there only).
BOOT1_TOO=${PINIO_BOOT1_TOO:-"pinio_io_test pinio_dma_test pinio_fuzz_test pinio_exp_test"}
# The environment of each boot's programs (NAME=VALUE|NAME=VALUE...). run_kselftests.sh gives a program
# the harness options in PINIO_ARGS_<program>. The fuzzer runs short here (2000 calls per
# test; make stress runs 10000); in the second boot pinio_io_test runs only pinio's variant
# (-V ram0: brd maps nothing through pinio's device, and the first boot compares the two).
# pinio_exp_boot_test's bounce_leak needs the third boot (a small pool, dma_leak_experiment=1):
# left out of the second.
BOOT1_ENV=${PINIO_BOOT1_ENV:-"PINIO_FUZZ_OPS=2000|PINIO_ARGS_pinio_fuzz_test=-t ioctl_model -t ioctl_garbage -t handles"}
BOOT2_ENV=${PINIO_BOOT2_ENV:-"PINIO_ARGS_pinio_io_test=-V ram0|PINIO_FUZZ_OPS=2000|PINIO_ARGS_pinio_fuzz_test=-t rw_model -t misc_fops -t async_model|PINIO_ARGS_pinio_exp_boot_test=-T bounce_leak"}

# A third boot, after the second, with a small bounce pool (swiotlb=128: 256 slots of 2 KiB on
# two vCPUs, one area each; forced, tracked, a 32-bit DMA mask): pinio_async_test's
# starved_bounce_pool runs out of bounce slots there, waits for them, and must still complete
# every request, and fio's verification matrix (pinio_fio_test.sh), whose 23 concurrent jobs
# starve the pool too (about 90 waits for slots a run), must give ram0's verdicts all the
# same; here it is off the first boot's longer path, and Debian's fio with its 84 MB of
# libraries in the initramfs stays out of the second boot, whose memory layout the experiments
# depend on. With the experiments' switches (dma_leak_experiment=1, overlap_warn=1),
# pinio_exp_boot_test's bounce_leak fills the pool with kept mappings, and pinio_exp_test's
# overlapping_reads runs again, bounced and logged (it runs in the first boot too: BOOT1_TOO).
# A program of this list that is not in BOOT2_PROGS runs in this boot only (unless BOOT1_TOO).
BOOT3_APPEND=${PINIO_BOOT3_APPEND:-"swiotlb=128,force swiotlb=track_hiwater"}
BOOT3_PARAMS=${PINIO_BOOT3_PARAMS:-"dma_mask_bits=32 dma_leak_experiment=1 overlap_warn=1"}
BOOT3_PROGS=${PINIO_BOOT3_PROGS:-"pinio_async_test pinio_fio_test.sh pinio_exp_boot_test pinio_exp_test"}
BOOT3_ENV=${PINIO_BOOT3_ENV:-"PINIO_ARGS_pinio_async_test=-t starved_bounce_pool|PINIO_ARGS_pinio_exp_boot_test=-t bounce_leak|PINIO_ARGS_pinio_exp_test=-t overlapping_reads"}

tests_dir=$PINIO_TOP/build/tests
log=$PINIO_TOP/build/test-guest.log
dmesg_log=$PINIO_TOP/build/test-dmesg.log
log2=$PINIO_TOP/build/test-guest-boot2.log
dmesg_log2=$PINIO_TOP/build/test-dmesg-boot2.log
log3=$PINIO_TOP/build/test-guest-boot3.log
dmesg_log3=$PINIO_TOP/build/test-dmesg-boot3.log
mapfile -t progs < <(ls "$tests_dir"/*_test 2>/dev/null)
[ ${#progs[@]} -gt 0 ] || die "no test programs in $tests_dir (make tests)"
# The shell-script tests (kselftest's TEST_PROGS) run from the source directory.
mapfile -t scripts < <(ls "$PINIO_TOP"/tests-kselftest/*_test.sh 2>/dev/null)
# The guests get the programs without their debug information (a third of their size): less
# initramfs for the kernel to unpack at boot under TCG.
guest_dir=$PINIO_TOP/build/tests-guest
mkdir -p "$guest_dir"
for i in "${!progs[@]}"; do
	g=$guest_dir/$(basename "${progs[$i]}")
	if [ "${progs[$i]}" -nt "$g" ] || [ ! -f "$g" ]; then
		objcopy --strip-debug "${progs[$i]}" "$g.tmp" && mv "$g.tmp" "$g" || g=${progs[$i]}
	fi
	progs[$i]=$g
done
progs+=("${scripts[@]+"${scripts[@]}"}")
progs1=() progs2=() progs3=()
for p in "${progs[@]}"; do
	boot3_only=0
	case " $BOOT3_PROGS " in
	*" $(basename "$p") "*)
		progs3+=("$p")
		boot3_only=1
		;;
	esac
	case " $BOOT2_PROGS " in
	*" $(basename "$p") "*)
		progs2+=("$p")
		case " $BOOT1_TOO " in *" $(basename "$p") "*) progs1+=("$p") ;; esac
		;;
	*)
		case " $BOOT1_TOO " in *" $(basename "$p") "*) boot3_only=0 ;; esac
		[ "$boot3_only" = 1 ] || progs1+=("$p")
		;;
	esac
done

# The shell-script tests print KTAP with the kernel's own helpers.
ktap_helpers=$(kernel_src)/tools/testing/selftests/kselftest/ktap_helpers.sh
[ -f "$ktap_helpers" ] || die "no $ktap_helpers (scripts/setup.sh fetches the kernel source)"

checkpatch_log=$PINIO_TOP/build/checkpatch.log
kernel=${PINIO_KERNEL:-debug}
missing_config=
case $kernel in
debug | release) what="the $kernel kernel" ;;
*)
	what="kernel tree $kernel"
	# scripts/vm prints the whole report (and refuses a tree that cannot run the suite).
	missing_config=$("$PINIO_TOP/scripts/check-kernel.sh" --quiet "$kernel") || exit 1
	;;
esac
# Whether $1 is an option the tree of one's own lacks (never with the project's kernels).
option_missing() {
	case " $missing_config " in *" $1 "*) [ -n "$1" ] ;; *) false ;; esac
}

# boot TAG LOG DMESG APPEND PARAMS ENV PROG...: one boot running PROG... (kselftests), APPEND
# added to the kernel command line, PARAMS (NAME=VALUE ...) given to pinio, ENV
# (NAME=VALUE|NAME=VALUE...) in the programs' environment; its output in LOG (and on stdout,
# each line prefixed with TAG), its kernel log in DMESG; scripts/vm's status.
boot() {
	local tag=$1 out=$2 kmsg=$3 append=$4 params=$5 envs=() adds=() p
	[ -z "$6" ] || IFS='|' read -r -a envs <<<"$6"
	shift 6
	for p in "$@" "$PINIO_TOP/tests-kselftest/run_kselftests.sh" \
		"$PINIO_TOP/tests-kselftest/settings" "$tests_dir/gup_longterm" "$ktap_helpers" \
		${PINIO_TEST_EXTRA:-}; do
		adds+=(--add "$p")
	done
	# pinio_matrix_test: the kernel's gup_longterm (above, not a *_test: the runner does not
	# run it), and e2fsprogs' mke2fs for its ext4 disk.
	adds+=(--add-prog mke2fs)
	# Clients nobody here wrote, as Debian ships them, for the tests that drive them.
	case " $* " in
	*/pinio_fio_test.sh\ *) adds+=(--add-prog fio) ;;
	esac
	for p in $params; do
		adds+=(--param "$p")
	done
	"$PINIO_TOP/scripts/vm" --kernel "$kernel" --log "$kmsg" ${append:+--append "$append"} \
		"${adds[@]}" ${PINIO_VM_ARGS:-} -- env "${envs[@]}" ./run_kselftests.sh 2>&1 |
		stamp "$out" "$tag"
	return "${PIPESTATUS[0]}"
}
# stamp LOG TAG: each line of stdin into LOG, into LOG.times prefixed with the host's time as
# it came in (seconds since the epoch), and on stdout prefixed with TAG.
stamp() {
	perl -e '
		use Time::HiRes qw(time);
		my ($out, $tag) = @ARGV;
		open(my $log, ">", $out) or die "$out: $!";
		open(my $ts, ">", "$out.times") or die "$out.times: $!";
		$_->autoflush(1) for $log, $ts, \*STDOUT;
		while (my $l = <STDIN>) {
			print $log $l;
			printf $ts "%.3f %s", time, $l;
			print "$tag$l";
		}' "$1" "$2"
}
# slowest_tests N LOG.times...: the N slowest tests (kselftest harness: from "#  RUN NAME" to
# "ok N NAME"), by the host's clock, each named PROGRAM:TEST (boot 2's prefixed "boot 2:").
slowest_tests() {
	local n=$1 f
	shift
	for f in "$@"; do
		[ -f "$f" ] || continue
		tr -d '\r' <"$f" | awk -v boot="$(case $f in "$log.times") ;; "$log2.times") echo "boot 2:" ;; *) echo "boot 3:" ;; esac)" '
			$2 == "@@begin" { prog = $3; next }
			$2 == "#" && $3 == "RUN" { start[$4] = $1; next }
			/^[0-9.]+ (not )?ok [0-9]+ / {
				name = ($2 == "not") ? $5 : $4
				if (name in start) {
					printf "%8.1f s  %s%s:%s\n", $1 - start[name], boot, prog, name
					delete start[name]
				}
			}'
	done | sort -rn | awk -v n="$n" 'NR <= n' # reads all: "head" would end sort by SIGPIPE (pipefail)
}

# Results of an earlier run must not be read as this one's.
rm -f "$log" "$dmesg_log" "$log2" "$dmesg_log2" "$log3" "$dmesg_log3" "$checkpatch_log" \
	"$log.times" "$log2.times" "$log3.times"
t0=$(date +%s)
# checkpatch runs meanwhile (half a minute of one CPU).
nice -n 10 "$PINIO_TOP/scripts/checkpatch.sh" >"$checkpatch_log" 2>&1 &
checkpatch_pid=$!
say "running ${#progs1[@]} kselftest programs and the KUnit suites in one boot of $what"
set +e
boot "" "$log" "$dmesg_log" "" "" "$BOOT1_ENV" "${progs1[@]}" &
boot1_pid=$!
vm_rc2=0
if [ ${#progs2[@]} -gt 0 ]; then
	say "meanwhile, a second boot ($BOOT2_APPEND; pinio $BOOT2_PARAMS): ${#progs2[@]} program(s) and the KUnit suites, its lines prefixed [boot 2]"
	boot "[boot 2] " "$log2" "$dmesg_log2" "$BOOT2_APPEND" "$BOOT2_PARAMS" "$BOOT2_ENV" \
		"${progs2[@]}"
	vm_rc2=$?
fi
vm_rc3=0
if [ ${#progs3[@]} -gt 0 ]; then
	say "then a third boot ($BOOT3_APPEND; pinio $BOOT3_PARAMS): ${#progs3[@]} program(s) and the KUnit suites, its lines prefixed [boot 3]"
	boot "[boot 3] " "$log3" "$dmesg_log3" "$BOOT3_APPEND" "$BOOT3_PARAMS" "$BOOT3_ENV" \
		"${progs3[@]}"
	vm_rc3=$?
fi
wait "$boot1_pid"
vm_rc=$?
set -e

pass=0 fail=0 skip=0 skip_ok=0
failed=()
skipped=()
skipped_ok=()
# kselftests: each program's top-level TAP, between the runner's @@begin and @@end lines. A
# skip counts as a failure: in this guest everything is expected to run. A program whose
# results do not match its plan (it crashed, or stopped early) fails too.
# tap_boot LOG TAG PROG...: the results of one boot's programs.
tap_boot() {
	local out=$1 tag=$2 p
	shift 2
	while IFS='|' read -r kind name detail; do
		case $kind in
		pass) pass=$((pass + 1)) ;;
		skip)
			opt=$(printf '%s\n' "$detail" | sed -n 's/.*\(CONFIG_[A-Z0-9_]*\) is not set in this kernel.*/\1/p')
			if option_missing "$opt"; then
				skip_ok=$((skip_ok + 1))
				skipped_ok+=("$tag$name: $detail")
			else
				skip=$((skip + 1))
				skipped+=("$tag$name: $detail")
			fi
			;;
		fail) fail=$((fail + 1)); failed+=("$tag$name: $detail") ;;
		esac
	done < <(tr -d '\r' <"$out" 2>/dev/null | awk '
		/^@@begin / { prog = $2; plan = -1; n = 0; next }
		/^@@end / {
			if (prog != "" && plan < 0)
				print "fail|" prog "|no TAP plan"
			else if (prog != "" && plan == 0 && planskip)
				print "skip|" prog "|skipped as a whole: " planwhy
			else if (prog != "" && n != plan)
				print "fail|" prog "|" n " results for a plan of " plan
			prog = ""; planskip = 0; next
		}
		prog == "" { next }
		/^1\.\.[0-9]+/ {
			plan = substr($1, 4) + 0; planskip = /# SKIP/
			planwhy = $0; sub(/^[^#]*# SKIP ?/, "", planwhy)
			next
		}
		/^(not )?ok [0-9]+ / {
			n++
			line = $0
			sub(/^(not )?ok [0-9]+ /, "", line)
			if ($1 == "not") print "fail|" prog "|" line
			else if ($0 ~ /# SKIP/) print "skip|" prog "|" line
			else print "pass|" prog "|"
		}')
	# A program that crashed or left pins behind is a failure of its own.
	while read -r _ name rc pins; do
		if [ "$rc" = 137 ]; then
			fail=$((fail + 1))
			failed+=("$tag$name was killed (SIGKILL: past the time limit of tests-kselftest/settings?)")
		elif [ "$rc" != 0 ] && [ "$rc" != 4 ]; then
			fail=$((fail + 1))
			failed+=("$tag$name exited $rc")
		fi
		if [ "${pins#pins_outstanding=}" != 0 ]; then
			fail=$((fail + 1))
			failed+=("$tag$name left ${pins#pins_outstanding=} FOLL_PIN pins outstanding")
		fi
	done < <(tr -d '\r' <"$out" 2>/dev/null | grep '^@@end ')
	for p in "$@"; do
		# (grep on the file, not "tr | grep -q": under pipefail, tr killed by SIGPIPE when
		# grep stops at the first match fails the pipeline; that once reported a finished
		# program.)
		if ! grep -q "^@@end $(basename "$p") " "$out" 2>/dev/null; then
			fail=$((fail + 1))
			failed+=("$tag$(basename "$p") did not finish")
		fi
	done
}
tap_boot "$log" "" "${progs1[@]}"
[ ${#progs2[@]} -eq 0 ] || tap_boot "$log2" "boot 2: " "${progs2[@]}"
[ ${#progs3[@]} -eq 0 ] || tap_boot "$log3" "boot 3: " "${progs3[@]}"

# KUnit: every suite the module declares (#[kunit_tests(NAME)] in src/) must have reported,
# at insmod, as many cases as its plan, each passing, in each boot.
kunit_cases=0
mapfile -t suites < <(grep -rho --include='*.rs' 'kunit_tests(pinio[a-z0-9_]*)' "$PINIO_TOP"/src |
	sed 's/kunit_tests(\(.*\))/\1/' | sort -u)
[ ${#suites[@]} -gt 0 ] || die "no #[kunit_tests] suites found in src/"
# kunit_boot DMESG TAG: the KUnit results of one boot's kernel log.
kunit_boot() {
	local kmsg=$1 tag=$2 suite
	for suite in "${suites[@]}"; do
		if option_missing CONFIG_KUNIT; then
			skip_ok=$((skip_ok + 1))
			skipped_ok+=("kunit$tag $suite: CONFIG_KUNIT is not set in this kernel")
			continue
		fi
		while IFS='|' read -r kind name; do
			case $kind in
			ok) pass=$((pass + 1)); kunit_cases=$((kunit_cases + 1)) ;;
			skip) skip=$((skip + 1)); kunit_cases=$((kunit_cases + 1))
				skipped+=("kunit$tag $suite: $name") ;;
			fail) fail=$((fail + 1)); kunit_cases=$((kunit_cases + 1))
				failed+=("kunit$tag $suite: $name") ;;
			missing) fail=$((fail + 1)); failed+=("kunit$tag $suite: $name") ;;
			esac
		done < <(sed -E 's/^\[[^]]*\] ?//' "$kmsg" 2>/dev/null | awk -v suite="$suite" '
			$0 == "    # Subtest: " suite { insuite = 1; seen = 1; plan = -1; next }
			insuite && /^    1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
			insuite && /^    (not )?ok [0-9]+ / {
				n++
				name = ($1 == "not") ? $4 : $3
				if ($1 == "not") print "fail|" name
				else if ($0 ~ /# SKIP/) print "skip|" name
				else print "ok|" name
				next
			}
			insuite && /^(not )?ok [0-9]+ / { insuite = 0 }
			END {
				if (!seen) print "missing|suite did not run (no KTAP in the kernel log)"
				else if (plan < 0) print "missing|no KTAP plan"
				else if (n != plan) print "missing|" n " cases for a plan of " plan
			}')
	done
}
kunit_boot "$dmesg_log" ""
[ ${#progs2[@]} -eq 0 ] || kunit_boot "$dmesg_log2" " (boot 2)"
[ ${#progs3[@]} -eq 0 ] || kunit_boot "$dmesg_log3" " (boot 3)"

# The guest's kernel log must be clean and rmmod must succeed (scripts/vm checks both).
if [ "$vm_rc" = 0 ]; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	failed+=("guest run failed (kernel splat, kmemleak, rmmod or timeout; exit $vm_rc)")
fi
if [ ${#progs2[@]} -gt 0 ]; then
	if [ "$vm_rc2" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("second guest run failed (kernel splat, kmemleak, rmmod or timeout; exit $vm_rc2)")
	fi
fi
if [ ${#progs3[@]} -gt 0 ]; then
	if [ "$vm_rc3" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("third guest run failed (kernel splat, kmemleak, rmmod or timeout; exit $vm_rc3)")
	fi
fi

# checkpatch: one result per C file; its ERROR lines with the failure.
checkpatch_rc=0
wait "$checkpatch_pid" || checkpatch_rc=$?
checkpatch_files=0
while read -r _ verdict file nerr _; do
	checkpatch_files=$((checkpatch_files + 1))
	if [ "$verdict" = ok ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("checkpatch $file: $nerr errors:
$(grep -F "  $file:" "$checkpatch_log" | grep ': ERROR:' || true)")
	fi
done < <(grep '^@@checkpatch ' "$checkpatch_log")
if [ "$checkpatch_rc" -gt 1 ] || [ "$checkpatch_files" = 0 ]; then
	fail=$((fail + 1))
	failed+=("checkpatch did not run: $(tail -1 "$checkpatch_log")")
fi

t1=$(date +%s)
echo
# Wall time per program (run_kselftests.sh's "# @@time NAME SECONDS" lines), per boot.
for out in "$log" "$log2" "$log3"; do
	[ -f "$out" ] || continue
	tr -d '\r' <"$out" | awk -v boot="$(case $out in "$log") echo 1 ;; "$log2") echo 2 ;; *) echo 3 ;; esac)" '
		/^# @@time / { line = line sprintf(" %s %ss", $3, $4); sum += $4 }
		END { if (line != "") printf "boot %s (%d s of programs):%s\n", boot, sum, line }'
done
echo "the ten slowest tests (host seconds from RUN to its result):"
slowest_tests 10 "$log.times" "$log2.times" "$log3.times"
boots=$((1 + (${#progs2[@]} ? 1 : 0) + (${#progs3[@]} ? 1 : 0)))
echo "kselftest + KUnit (${#suites[@]} suites, $kunit_cases cases) + clean kernel log + checkpatch ($checkpatch_files C files), $boots boot(s), $((t1 - t0)) s"
for f in "${skipped_ok[@]+"${skipped_ok[@]}"}"; do
	echo "SKIPPED (the kernel lacks an option): $f"
done
for f in "${skipped[@]+"${skipped[@]}"}"; do
	echo "SKIPPED (counted as failed): $f"
done
for f in "${failed[@]+"${failed[@]}"}"; do
	echo "FAILED: $f"
done
fail=$((fail + skip))
case $kernel in
debug | release) echo "$pass passed, $fail failed" ;;
*) echo "$pass passed, $fail failed, $skip_ok skipped" ;;
esac
[ "$fail" = 0 ]
