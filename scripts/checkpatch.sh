#!/usr/bin/env bash
# The kernel's scripts/checkpatch.pl (--no-tree -f, as for a file of the kernel) on every
# C file and header of the project (git's tracked and not ignored ones): the tests, the
# benchmarks, the C shims, the uapi header. An ERROR fails a file; warnings are shown, not
# counted. make test runs it; make checkpatch too.
#
#   scripts/checkpatch.sh [FILE...]
#
# Prints one line per file, "@@checkpatch ok FILE" or "@@checkpatch FAIL FILE N errors",
# each FAIL followed by its ERROR lines and every file's WARNING lines; exits 1 if any
# file failed, 2 if checkpatch.pl could not be run.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

src=$(kernel_src) || { say "checkpatch: no kernel source (scripts/setup.sh)"; exit 2; }
cp=$src/scripts/checkpatch.pl
[ -f "$cp" ] || { say "checkpatch: no $cp"; exit 2; }

cd "$PINIO_TOP" || exit 2
if [ $# -gt 0 ]; then
	files=("$@")
elif git rev-parse --git-dir >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | sort -u)
else
	mapfile -t files < <(find include rust-bindings scripts tests-kselftest -name '*.[ch]' | sort)
fi

# A file's result is kept, keyed by its name and bytes and by checkpatch.pl and the data it
# reads (the kernel source's version): a warm make test checks again only what changed.
cache=$PINIO_CACHE/checkpatch
mkdir -p "$cache" 2>/dev/null || cache=
tool_key=$(cat "$cp" "$src/scripts/spelling.txt" "$src/scripts/const_structs.checkpatch" \
	2>/dev/null | sha256sum | cut -c1-16)
failed=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	key=$( { echo "$tool_key $f"; cat "$f"; } | sha256sum | cut -c1-32)
	if [ -n "$cache" ] && [ -f "$cache/$key" ]; then
		out=$(cat "$cache/$key")
	else
		out=$(perl "$cp" --no-tree -f --terse --show-types "$f" 2>&1)
		case $out in
		*"total: "* | "") [ -z "$cache" ] || printf '%s' "$out" >"$cache/$key" ;;
		*) printf '%s\n' "$out"; say "checkpatch: $f: no result"; exit 2 ;;
		esac
	fi
	errors=$(printf '%s\n' "$out" | grep -c ': ERROR:')
	if [ "$errors" = 0 ]; then
		echo "@@checkpatch ok $f"
	else
		echo "@@checkpatch FAIL $f $errors errors"
		failed=1
	fi
	printf '%s\n' "$out" | grep -E ': (ERROR|WARNING):' | sed 's/^/  /'
done
exit $failed
