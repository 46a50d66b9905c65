#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (scripts/run-tests.sh): every pinio kselftest in this directory, each
# followed by a record of its exit status and of the system-wide FOLL_PIN balance.
cd "$(dirname "$0")" || exit 1
pins() {
	cat /proc/sys/vm/stat_refresh >/dev/null 2>&1
	awk '/^nr_foll_pin_acquired/ {a=$2} /^nr_foll_pin_released/ {r=$2} END {print a-r}' /proc/vmstat
}
for t in ${PINIO_TESTS:-./*_test}; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "@@begin $name"
	"$t"
	rc=$?
	echo "@@end $name $rc pins_outstanding=$(pins)"
done
exit 0
