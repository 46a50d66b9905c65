#!/usr/bin/env bash
# make upstream-test: proof that the upstream series is real. In order, each step failing the
# run:
#   1. generate the series (scripts/upstream/patches.sh);
#   2. apply it with git am to the git copy of the downloaded tree ($PINIO_CACHE/upstream/,
#      made once), on a branch reset to the tree as downloaded;
#   3. scripts/checkpatch.pl --strict --no-signoff on every patch: no error, no warning, no
#      check (--no-signoff: the series carries no Signed-off-by; whoever sends it adds theirs);
#   4. rustfmt --check (the tree's .rustfmt.toml) on every Rust file the series adds or changes;
#   5. build the kernel with it, CLIPPY=1: the debug test kernel's config plus
#      scripts/upstream/config (KUnit, CONFIG_RUST_KERNEL_DOCTESTS); no compiler or clippy
#      warning at all (the tree builds without any). The build directory is kept and reused,
#      so that a new version of the series rebuilds only what it changes; a kernel already
#      built from the same series is not rebuilt;
#   6. boot it (scripts/vm --no-module) and read the KTAP of the KUnit suite
#      rust_doctests_kernel from the kernel log: every doctest must pass, the series' own
#      (rust_doctest_kernel_{page_view,page_copy,mm_gup,iov_*}_rs_N) among them, and the boot
#      must show no splat (scripts/vm fails the run on one).
# Logs and the summary go to build/upstream/ (summary.txt).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

check_kernel_series
"$PINIO_TOP/scripts/setup.sh" >&2
series_dir=$("$UPSTREAM_DIR/patches.sh")
mkdir -p "$UPSTREAM_OUT"
summary=$UPSTREAM_OUT/summary.txt
: >"$summary"
note() { say "$*"; echo "$*" >>"$summary"; }
mapfile -t patches < <(find "$series_dir" -name '0*.patch' ! -name '0000-*' | sort)
[ ${#patches[@]} -gt 0 ] || die "no patches in $series_dir"

repo=$(ensure_upstream_repo)
out=$(upstream_build_dir)
mkdir -p "$UPSTREAM_CACHE"
exec 9>"$out.lock"
flock -n 9 || { say "upstream: another make upstream-test holds $out; waiting ..."; flock 9; }

# --- 2. git am --------------------------------------------------------------------------
git -C "$repo" am --abort >/dev/null 2>&1 || true
git -C "$repo" checkout -q -f -B upstream-series pinio-base
git -C "$repo" clean -fdqx
if ! git -C "$repo" am -q --whitespace=error-all "${patches[@]}" >"$UPSTREAM_OUT/am.log" 2>&1; then
	cat "$UPSTREAM_OUT/am.log" >&2
	git -C "$repo" am --abort >/dev/null 2>&1 || true
	die "git am: the series does not apply to $(cat "$repo/.pinio-version")"
fi
note "git am: ${#patches[@]} patches applied to Linux $(cat "$repo/.pinio-version") ($repo, branch upstream-series)"

# --- 3. checkpatch ------------------------------------------------------------------------
bad=0
: >"$UPSTREAM_OUT/checkpatch.log"
for p in "${patches[@]}"; do
	res=$(cd "$repo" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --no-signoff --color=never "$p" 2>&1) || true
	printf '== %s\n%s\n' "$(basename "$p")" "$res" >>"$UPSTREAM_OUT/checkpatch.log"
	total=$(printf '%s\n' "$res" | sed -n 's/^total: \(.*\) lines checked$/\1/p')
	[ -n "$total" ] || { printf '%s\n' "$res" >&2; die "checkpatch did not finish on $(basename "$p")"; }
	case $total in
	"0 errors, 0 warnings, 0 checks, "*) ;;
	*) bad=1; say "checkpatch: $(basename "$p"): $total"; printf '%s\n' "$res" | grep -E '^(ERROR|WARNING|CHECK):' -A3 >&2 ;;
	esac
done
[ $bad = 0 ] || die "checkpatch --strict is not clean (build/upstream/checkpatch.log)"
note "checkpatch --strict: ${#patches[@]} patches, 0 errors, 0 warnings, 0 checks"

# --- 4. rustfmt ---------------------------------------------------------------------------
mapfile -t rs < <(git -C "$repo" diff --name-only --diff-filter=AM pinio-base HEAD -- '*.rs')
(cd "$repo" && "$RUSTFMT" --check --edition 2021 --config-path "$repo" "${rs[@]}") >"$UPSTREAM_OUT/rustfmt.log" 2>&1 ||
	{ cat "$UPSTREAM_OUT/rustfmt.log" >&2; die "rustfmt --check: the series' Rust files are not formatted"; }
note "rustfmt --check: ${#rs[@]} Rust files clean (${rs[*]})"

# --- 5. the kernel ------------------------------------------------------------------------
key=$(cat "${patches[@]}" "$PINIO_TOP/scripts/upstream/config" | sha256sum | cut -c1-12)
if [ -f "$out/.upstream-built" ] && [ "$(cat "$out/.upstream-built")" = "$key" ] &&
	[ -f "$out/arch/x86/boot/bzImage" ]; then
	note "kernel: built from this very series before, in $out (cached)"
else
	rm -f "$out/.upstream-built"
	[ -f "$out/.config" ] || upstream_configure "$repo" "$out"
	jobs=$(($(nproc) + 1))
	t0=$(date +%s)
	say "building Linux $(cat "$repo/.pinio-version") with the series, CLIPPY=1, in $out (-j$jobs; the first build takes long, later ones rebuild what the series changes) ..."
	if ! upstream_kmake "$repo" "$out" -j"$jobs" all >"$UPSTREAM_OUT/build.log" 2>&1; then
		grep -E '^(error|warning)' -A12 "$UPSTREAM_OUT/build.log" | head -80 >&2 || tail -40 "$UPSTREAM_OUT/build.log" >&2
		die "the kernel with the series does not build (build/upstream/build.log)"
	fi
	t1=$(date +%s)
	echo "$key" >"$out/.upstream-built"
	note "kernel: built with CLIPPY=1 in $((t1 - t0)) s ($out)"
fi
if [ -f "$UPSTREAM_OUT/build.log" ] && grep -qE '^(warning|error)(\[|:)' "$UPSTREAM_OUT/build.log"; then
	grep -E '^(warning|error)(\[|:)' -A8 "$UPSTREAM_OUT/build.log" | head -80 >&2
	rm -f "$out/.upstream-built"
	die "the build warns (rustc or clippy): see build/upstream/build.log"
fi
note "build: no rustc or clippy warning"

# --- 6. the doctests, in the guest --------------------------------------------------------
dmesg=$UPSTREAM_OUT/dmesg.log
vm_out=$UPSTREAM_OUT/vm.log
if ! "$PINIO_TOP/scripts/vm" --kernel "$out" --no-module --quiet --timeout 2400 --log "$dmesg" \
	-- true >"$vm_out" 2>&1; then
	tail -40 "$vm_out" >&2
	die "the guest run failed (build/upstream/vm.log, dmesg.log)"
fi
# The series' doctests: one per "/// ```" pair in the Rust files it adds.
mapfile -t added < <(git -C "$repo" diff --name-only --diff-filter=A pinio-base HEAD -- 'rust/kernel/*.rs')
expected=$(($(cat "${added[@]/#/$repo/}" | grep -c '^ *//[/!] *```') / 2))
ours=$(printf '%s\n' "${added[@]}" | sed 's|^rust/kernel/||; s|\.rs$||; s|/|_|g' | paste -sd'|')
python3 "$UPSTREAM_DIR/ktap.py" "$dmesg" rust_doctests_kernel "rust_doctest_kernel_($ours)_rs_[0-9]+$" \
	"$expected" >"$UPSTREAM_OUT/doctests.txt" || { cat "$UPSTREAM_OUT/doctests.txt" >&2; die "doctests failed (build/upstream/doctests.txt)"; }
while IFS= read -r line; do note "$line"; done <"$UPSTREAM_OUT/doctests.txt"
note "make upstream-test: passed"
