#!/usr/bin/env bash
# make test: boot the debug kernel, run every kselftest (TAP) and the module's Rust KUnit
# suites (KTAP in dmesg at insmod), check the kernel log, and end with "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tests_dir=$PINIO_TOP/build/tests
log=$PINIO_TOP/build/test-guest.log
dmesg_log=$PINIO_TOP/build/test-dmesg.log
mapfile -t progs < <(ls "$tests_dir"/*_test 2>/dev/null)
[ ${#progs[@]} -gt 0 ] || die "no test programs in $tests_dir (make tests)"

# The second boot: the data-path, async and ioctl-DMA tests again with every DMA mapping
# bounced through swiotlb, where a missing unmap or a wrong direction loses the device's
# writes; pinio's DMA mask is 32 bits there (the bounce pool is below 4 GiB). Its extra kernel
# command line, module parameters and programs are variables, so that other options that
# coexist with these can share the boot.
second_append=${PINIO_SECOND_BOOT_APPEND:-swiotlb=force}
second_params=${PINIO_SECOND_BOOT_PARAMS:-dma_mask_bits=32}
second_tests=${PINIO_SECOND_BOOT_TESTS:-pinio_io_test pinio_dma_test pinio_async_test pinio_pin_test}
second_log=$PINIO_TOP/build/test-guest-2.log
second_dmesg=$PINIO_TOP/build/test-dmesg-2.log

pass=0 fail=0 skip=0
failed=()
skipped=()

# boot LABEL LOG DMESG APPEND PARAMS PROGRAM...: one guest run of run_kselftests.sh over
# PROGRAMs (paths), its results counted into pass/fail/skip (names prefixed with LABEL).
boot() {
	local label=$1 log=$2 dmesg_log=$3 append=$4 params=$5
	shift 5
	local progs=("$@") adds=() names=() app=() p vm_rc
	[ -z "$append" ] || app=(--append "$append")
	for p in $params; do
		app+=(--param "$p")
	done
	for p in "${progs[@]}" "$PINIO_TOP/tests-kselftest/run_kselftests.sh" ${PINIO_TEST_EXTRA:-}; do
		adds+=(--add "$p")
	done
	for p in "${progs[@]}"; do
		names+=("./$(basename "$p")")
	done
	# Results of an earlier run must not be read as this one's.
	rm -f "$log" "$dmesg_log"
	say "${label}running ${#progs[@]} kselftest programs"
	set +e
	"$PINIO_TOP/scripts/vm" --kernel debug --log "$dmesg_log" "${adds[@]}" \
		"${app[@]+"${app[@]}"}" ${PINIO_VM_ARGS:-} \
		-- env PINIO_TESTS="${names[*]}" ./run_kselftests.sh 2>&1 | tee "$log"
	vm_rc=${PIPESTATUS[0]}
	set -e
	local kind name detail rc pins
	# kselftests: each program's top-level TAP, between the runner's @@begin and @@end lines. A
	# skip counts as a failure: in this guest everything is expected to run. A program whose
	# results do not match its plan (it crashed, or stopped early) fails too.
	while IFS='|' read -r kind name detail; do
		case $kind in
		pass) pass=$((pass + 1)) ;;
		skip) skip=$((skip + 1)); skipped+=("$label$name: $detail") ;;
		fail) fail=$((fail + 1)); failed+=("$label$name: $detail") ;;
		esac
	done < <(tr -d '\r' <"$log" | awk '
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
			failed+=("$label$name exited $rc")
		fi
		if [ "${pins#pins_outstanding=}" != 0 ]; then
			fail=$((fail + 1))
			failed+=("$label$name left ${pins#pins_outstanding=} FOLL_PIN pins outstanding")
		fi
	done < <(tr -d '\r' <"$log" | grep '^@@end ')
	for p in "${progs[@]}"; do
		if ! grep -q "^@@end $(basename "$p") " "$log"; then
			fail=$((fail + 1))
			failed+=("$label$(basename "$p") did not finish")
		fi
	done
	# The guest's kernel log must be clean and rmmod must succeed (scripts/vm checks both).
	if [ "$vm_rc" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("${label}guest run failed (kernel splat, kmemleak, rmmod or timeout; exit $vm_rc)")
	fi
}

t0=$(date +%s)
boot "" "$log" "$dmesg_log" "" "" "${progs[@]}"
second_progs=()
for t in $second_tests; do
	[ -x "$tests_dir/$t" ] && second_progs+=("$tests_dir/$t")
done
if [ -n "$second_append" ] && [ ${#second_progs[@]} -gt 0 ]; then
	boot "[$second_append${second_params:+ $second_params}] " "$second_log" "$second_dmesg" \
		"$second_append" "$second_params" "${second_progs[@]}"
fi

# KUnit: every suite the module declares (#[kunit_tests(NAME)] in src/) must have reported,
# at insmod, as many cases as its plan, each passing.
kunit_cases=0
mapfile -t suites < <(grep -ho 'kunit_tests(pinio[a-z0-9_]*)' "$PINIO_TOP"/src/*.rs |
	sed 's/kunit_tests(\(.*\))/\1/' | sort -u)
[ ${#suites[@]} -gt 0 ] || die "no #[kunit_tests] suites found in src/"
for suite in "${suites[@]}"; do
	while IFS='|' read -r kind name; do
		case $kind in
		ok) pass=$((pass + 1)); kunit_cases=$((kunit_cases + 1)) ;;
		skip) skip=$((skip + 1)); kunit_cases=$((kunit_cases + 1))
			skipped+=("kunit $suite: $name") ;;
		fail) fail=$((fail + 1)); kunit_cases=$((kunit_cases + 1))
			failed+=("kunit $suite: $name") ;;
		missing) fail=$((fail + 1)); failed+=("kunit $suite: $name") ;;
		esac
	done < <(sed -E 's/^\[[^]]*\] ?//' "$dmesg_log" 2>/dev/null | awk -v suite="$suite" '
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

t1=$(date +%s)
echo
echo "kselftest + KUnit (${#suites[@]} suites, $kunit_cases cases) + clean kernel log, $((t1 - t0)) s"
for f in "${skipped[@]+"${skipped[@]}"}"; do
	echo "SKIPPED (counted as failed): $f"
done
for f in "${failed[@]+"${failed[@]}"}"; do
	echo "FAILED: $f"
done
fail=$((fail + skip))
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
