#!/usr/bin/env bash
# make test: boot the debug kernel once, run every kselftest (TAP) and the module's Rust KUnit
# suites (KTAP in dmesg at insmod), check the kernel log, and end with "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tests_dir=$PINIO_TOP/build/tests
log=$PINIO_TOP/build/test-guest.log
dmesg_log=$PINIO_TOP/build/test-dmesg.log
mapfile -t progs < <(ls "$tests_dir"/*_test 2>/dev/null)
[ ${#progs[@]} -gt 0 ] || die "no test programs in $tests_dir (make tests)"
adds=()
for p in "${progs[@]}" "$PINIO_TOP/tests-kselftest/run_kselftests.sh" ${PINIO_TEST_EXTRA:-}; do
	adds+=(--add "$p")
done

t0=$(date +%s)
say "running ${#progs[@]} kselftest programs and the KUnit suites in one debug-kernel boot"
set +e
"$PINIO_TOP/scripts/vm" --kernel debug --log "$dmesg_log" "${adds[@]}" ${PINIO_VM_ARGS:-} \
	-- ./run_kselftests.sh 2>&1 | tee "$log"
vm_rc=${PIPESTATUS[0]}
set -e

pass=0 fail=0 skip=0
failed=()
# kselftests: the top-level TAP result lines of each program.
while read -r line; do
	case $line in
	"ok "*"# SKIP"*) skip=$((skip + 1)) ;;
	"ok "*) pass=$((pass + 1)) ;;
	"not ok "*) fail=$((fail + 1)); failed+=("kselftest: ${line#not ok }") ;;
	esac
done < <(tr -d '\r' <"$log" | grep -E '^(not )?ok [0-9]+ ')
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
done < <(tr -d '\r' <"$log" | grep '^@@end ')
for p in "${progs[@]}"; do
	if ! grep -q "^@@end $(basename "$p") " "$log"; then
		fail=$((fail + 1))
		failed+=("$(basename "$p") did not finish")
	fi
done

# KUnit: test cases of pinio's suites, from the KTAP the module printed at insmod.
kunit_cases=0
if [ -f "$dmesg_log" ]; then
	while read -r res name; do
		kunit_cases=$((kunit_cases + 1))
		case $res in
		ok) pass=$((pass + 1)) ;;
		skip) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)); failed+=("kunit: $name") ;;
		esac
	done < <(sed -E 's/^\[[^]]*\] ?//' "$dmesg_log" | awk '
		/^    # Subtest: pinio/ { insuite = 1; next }
		/^(not )?ok [0-9]+ / { insuite = 0 }
		insuite && /^    (not )?ok [0-9]+ / {
			res = ($1 == "not") ? "fail" : "ok"
			if ($0 ~ /# SKIP/) res = "skip"
			n = ($1 == "not") ? $4 : $3
			print res, n
		}')
fi
if [ "$kunit_cases" = 0 ]; then
	fail=$((fail + 1))
	failed+=("no KUnit results from pinio in the kernel log")
fi

# The guest's kernel log must be clean and rmmod must succeed (scripts/vm checks both).
if [ "$vm_rc" = 0 ]; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	failed+=("guest run failed (kernel splat, kmemleak, rmmod or timeout; exit $vm_rc)")
fi

t1=$(date +%s)
echo
echo "kselftest + KUnit ($kunit_cases KUnit cases) + clean kernel log, $((t1 - t0)) s; $skip skipped"
for f in "${failed[@]+"${failed[@]}"}"; do
	echo "FAILED: $f"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
