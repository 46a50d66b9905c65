#!/usr/bin/env bash
# The upstream series' check in make test, in seconds: regenerate the series from pinio's
# pages layer (scripts/upstream/patches.sh, into a scratch directory) and apply its patches in
# order to a scratch copy of the files they touch, taken from the downloaded tree. Fails if
# the generator refuses the sources (a rule of scripts/upstream/rust_rewrite.py broken in
# src/pages/) or if a patch does not apply. Skips, saying so, when no kernel tree has been
# downloaded yet: it never downloads one (make test's own steps do).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree=$(kernel_src 2>/dev/null) || {
	say "upstream series: SKIPPED: no downloaded kernel tree of $KERNEL_SERIES (make setup downloads it)"
	exit 0
}
t0=$(date +%s%N)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$UPSTREAM_DIR/patches.sh" "$tmp/series" >/dev/null 2>"$tmp/gen.log" ||
	{ cat "$tmp/gen.log" >&2; die "upstream series: generating it failed"; }
mapfile -t patches < <(find "$tmp/series" -name '0*.patch' ! -name '0000-*' | sort)
[ ${#patches[@]} -gt 0 ] || die "upstream series: no patch generated"
mkdir "$tmp/tree"
git -C "$tmp/tree" init -q
sed -n 's|^--- a/||p' "${patches[@]}" | sort -u | while IFS= read -r f; do
	[ -f "$tree/$f" ] || die "upstream series: $f, which a patch changes, is not in $tree"
	mkdir -p "$tmp/tree/$(dirname "$f")"
	cp "$tree/$f" "$tmp/tree/$f"
done
for p in "${patches[@]}"; do
	git -C "$tmp/tree" apply --whitespace=error-all "$p" 2>"$tmp/apply.log" ||
		{ cat "$tmp/apply.log" >&2; die "upstream series: $(basename "$p") does not apply to Linux $(cat "$tree/.pinio-version")"; }
done
t1=$(date +%s%N)
say "upstream series: ${#patches[@]} patches regenerated from src/pages/ and applied to Linux $(cat "$tree/.pinio-version") in $(((t1 - t0) / 1000000)) ms"
