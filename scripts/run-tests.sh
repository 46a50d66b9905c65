#!/usr/bin/env bash
# make test: boot the debug kernel, run every kselftest (TAP) and the module's Rust KUnit suites
# (KTAP in dmesg at insmod), check the kernel log, and end with "N passed, N failed". Programs
# that need boot options run in a second boot with BOOT2_APPEND on its command line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# The second boot: the programs that need boot options, with PINIO_BOOT2_APPEND (scripts/lib.sh)
# on the kernel command line.
BOOT2_APPEND=$PINIO_BOOT2_APPEND
BOOT2_PROGS=${PINIO_BOOT2_PROGS:-"pinio_exp_boot_test"}

tests_dir=$PINIO_TOP/build/tests
log=$PINIO_TOP/build/test-guest.log
dmesg_log=$PINIO_TOP/build/test-dmesg.log
log2=$PINIO_TOP/build/test-guest-boot2.log
dmesg_log2=$PINIO_TOP/build/test-dmesg-boot2.log
mapfile -t progs < <(ls "$tests_dir"/*_test 2>/dev/null)
[ ${#progs[@]} -gt 0 ] || die "no test programs in $tests_dir (make tests)"
progs1=() progs2=()
for p in "${progs[@]}"; do
	case " $BOOT2_PROGS " in
	*" $(basename "$p") "*) progs2+=("$p") ;;
	*) progs1+=("$p") ;;
	esac
done

# boot LOG DMESG APPEND PROG...: one debug-kernel boot running PROG... (kselftests); its output
# in LOG, its kernel log in DMESG; returns scripts/vm's status.
boot() {
	local out=$1 kmsg=$2 append=$3 adds=() p
	shift 3
	for p in "$@" "$PINIO_TOP/tests-kselftest/run_kselftests.sh" ${PINIO_TEST_EXTRA:-}; do
		adds+=(--add "$p")
	done
	"$PINIO_TOP/scripts/vm" --kernel debug --log "$kmsg" ${append:+--append "$append"} \
		"${adds[@]}" ${PINIO_VM_ARGS:-} -- ./run_kselftests.sh 2>&1 | tee "$out"
	return "${PIPESTATUS[0]}"
}

# Results of an earlier run must not be read as this one's.
rm -f "$log" "$dmesg_log" "$log2" "$dmesg_log2"
t0=$(date +%s)
set +e
say "running ${#progs1[@]} kselftest programs and the KUnit suites in one debug-kernel boot"
boot "$log" "$dmesg_log" "" "${progs1[@]}"
vm_rc=$?
vm_rc2=0
if [ ${#progs2[@]} -gt 0 ]; then
	say "second boot ($BOOT2_APPEND): ${#progs2[@]} program(s) and the KUnit suites"
	boot "$log2" "$dmesg_log2" "$BOOT2_APPEND" "${progs2[@]}"
	vm_rc2=$?
fi
set -e

pass=0 fail=0 skip=0
failed=()
skipped=()
# kselftests: each program's top-level TAP, between the runner's @@begin and @@end lines. A
# skip counts as a failure: in this guest everything is expected to run. A program whose
# results do not match its plan (it crashed, or stopped early) fails too.
while IFS='|' read -r kind name detail; do
	case $kind in
	pass) pass=$((pass + 1)) ;;
	skip) skip=$((skip + 1)); skipped+=("$name: $detail") ;;
	fail) fail=$((fail + 1)); failed+=("$name: $detail") ;;
	esac
done < <(cat "$log" "$log2" 2>/dev/null | tr -d '\r' | awk '
	/^@@begin / { prog = $2; plan = -1; n = 0; next }
	/^@@end / {
		if (prog != "" && plan < 0)
			print "fail|" prog "|no TAP plan"
		else if (prog != "" && plan == 0 && planskip)
			print "skip|" prog "|skipped as a whole"
		else if (prog != "" && n != plan)
			print "fail|" prog "|" n " results for a plan of " plan
		prog = ""; planskip = 0; next
	}
	prog == "" { next }
	/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; planskip = /# SKIP/; next }
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
	if [ "$rc" != 0 ] && [ "$rc" != 4 ]; then
		fail=$((fail + 1))
		failed+=("$name exited $rc")
	fi
	if [ "${pins#pins_outstanding=}" != 0 ]; then
		fail=$((fail + 1))
		failed+=("$name left ${pins#pins_outstanding=} FOLL_PIN pins outstanding")
	fi
done < <(cat "$log" "$log2" 2>/dev/null | tr -d '\r' | grep '^@@end ')
for p in "${progs[@]}"; do
	if ! cat "$log" "$log2" 2>/dev/null | grep -q "^@@end $(basename "$p") "; then
		fail=$((fail + 1))
		failed+=("$(basename "$p") did not finish")
	fi
done

# KUnit: every suite the module declares (#[kunit_tests(NAME)] in src/) must have reported,
# at insmod, as many cases as its plan, each passing, in each boot.
kunit_cases=0
mapfile -t suites < <(grep -ho 'kunit_tests(pinio[a-z0-9_]*)' "$PINIO_TOP"/src/*.rs |
	sed 's/kunit_tests(\(.*\))/\1/' | sort -u)
[ ${#suites[@]} -gt 0 ] || die "no #[kunit_tests] suites found in src/"
# kunit_boot DMESG TAG: count the KUnit results of one boot's kernel log.
kunit_boot() {
	local kmsg=$1 tag=$2 suite
	for suite in "${suites[@]}"; do
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

t1=$(date +%s)
echo
echo "kselftest + KUnit (${#suites[@]} suites, $kunit_cases cases) + clean kernel log," \
	"$((${#progs2[@]} ? 2 : 1)) boot(s), $((t1 - t0)) s"
for f in "${skipped[@]+"${skipped[@]}"}"; do
	echo "SKIPPED (counted as failed): $f"
done
for f in "${failed[@]+"${failed[@]}"}"; do
	echo "FAILED: $f"
done
fail=$((fail + skip))
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
