#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (scripts/run-tests.sh): every pinio kselftest in this directory, each
# followed by a record of its exit status and of the system-wide FOLL_PIN balance. Like
# kselftest's own runner, it stops a program that runs past the "timeout=" of ./settings.
cd "$(dirname "$0")" || exit 1
pins() {
	cat /proc/sys/vm/stat_refresh >/dev/null 2>&1
	awk '/^nr_foll_pin_acquired/ {a=$2} /^nr_foll_pin_released/ {r=$2} END {print a-r}' /proc/vmstat
}
limit=$(sed -n 's/^timeout=\([0-9]*\)$/\1/p' settings 2>/dev/null)
for t in ${PINIO_TESTS:-./*_test}; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "@@begin $name"
	if [ -n "$limit" ] && [ "$limit" != 0 ]; then
		timeout -s KILL "$limit" "$t"
	else
		"$t"
	fi
	rc=$?
	echo "@@end $name $rc pins_outstanding=$(pins)"
done
exit 0
