#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (scripts/run-tests.sh): every pinio kselftest in this directory (the
# programs *_test and the scripts *_test.sh), each followed by a record of its exit status
# and of the system-wide FOLL_PIN balance, and by a "# @@time NAME SECONDS" line with its
# wall time. Like kselftest's own runner, it stops a
# program that runs past the "timeout=" of ./settings.
cd "$(dirname "$0")" || exit 1
pins() {
	cat /proc/sys/vm/stat_refresh >/dev/null 2>&1
	awk '/^nr_foll_pin_acquired/ {a=$2} /^nr_foll_pin_released/ {r=$2} END {print a-r}' /proc/vmstat
}
limit=$(sed -n 's/^timeout=\([0-9]*\)$/\1/p' settings 2>/dev/null)
# A program that cannot even start without a kernel option: skipped as a whole, naming the
# option, when the runner says the kernel lacks it ($PINIO_MISSING_CONFIG, see pinio_test.h).
needs() {
	case $1 in
	pinio_abi32_test) echo CONFIG_IA32_EMULATION ;;
	esac
}
for t in ${PINIO_TESTS:-./*_test ./*_test.sh}; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "@@begin $name"
	t0=$(date +%s)
	opt=$(needs "$name")
	case " ${PINIO_MISSING_CONFIG:-} " in
	*" ${opt:-none} "*)
		echo "1..0 # SKIP $opt is not set in this kernel"
		rc=4
		;;
	*)
		# Harness options for this program from $PINIO_ARGS_<name>, e.g. "-V ram0" (a
		# script's name with its dot as an underscore: PINIO_ARGS_pinio_fio_test_sh).
		eval "args=\${PINIO_ARGS_$(echo "$name" | tr . _):-}"
		if [ -n "$limit" ] && [ "$limit" != 0 ]; then
			timeout -s KILL "$limit" "$t" $args
		else
			"$t" $args
		fi
		rc=$?
		;;
	esac
	echo "@@end $name $rc pins_outstanding=$(pins)"
	echo "# @@time $name $(($(date +%s) - t0))"
done
exit 0
