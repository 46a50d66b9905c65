#!/usr/bin/env bash
# make upstream-patches: generate the upstream series (scripts/upstream/gen.py) from pinio's
# pages layer against the downloaded kernel tree of KERNEL_SERIES, into
# build/upstream/series/ (or $1): 0000-cover-letter.patch and one file a patch. Prints the
# directory on stdout. The tree is only read.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

check_kernel_series
tree=$(kernel_src) || die "no kernel source: run scripts/setup.sh (make setup) first"
out=${1:-$UPSTREAM_OUT/series}
# The author of the patches: whoever generates them (git config), as git format-patch would.
author="$(git -C "$PINIO_TOP" config user.name 2>/dev/null || true)"
email="$(git -C "$PINIO_TOP" config user.email 2>/dev/null || true)"
args=()
[ -z "$author" ] || [ -z "$email" ] || args+=(--author "$author <$email>")
python3 "$UPSTREAM_DIR/gen.py" --top "$PINIO_TOP" --tree "$tree" --out "$out" \
	--rustfmt "$RUSTFMT" "${args[@]+"${args[@]}"}" >/dev/null ||
	die "generating the upstream series failed (see above)"
say "upstream series: $(find "$out" -name '0*.patch' ! -name '0000-*' | wc -l) patches and a cover letter in $out"
echo "$out"
