# shellcheck shell=bash
# Common settings of the upstream series scripts (scripts/upstream/): where the git copy of the
# downloaded kernel tree and the series' kernel build live. Sourced, never run.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

UPSTREAM_DIR=$PINIO_TOP/scripts/upstream
UPSTREAM_CACHE=$PINIO_CACHE/upstream
# The generated series (make upstream-patches) and the test's logs.
UPSTREAM_OUT=${UPSTREAM_OUT:-$PINIO_TOP/build/upstream}
# The config fragment of the series' test kernel, on top of the debug test kernel's.
UPSTREAM_CONFIG=$UPSTREAM_DIR/config

# The git copy of the downloaded tree of KERNEL_SERIES: $UPSTREAM_CACHE/linux-<version>, a
# repository whose tag pinio-base is the tree exactly as downloaded. Its working tree is where
# make upstream-test applies the series; the shared tree (kernel_src) is never written to.
upstream_repo() {
	local src ver
	src=$(kernel_src) || return 1
	ver=$(cat "$src/.pinio-version") || return 1
	echo "$UPSTREAM_CACHE/linux-$ver"
}

# Make the git copy if it is missing (once: a minute or two, and ~2 GiB). Prints its path.
ensure_upstream_repo() {
	local src repo tmp
	src=$(kernel_src) || die "no kernel source: run scripts/setup.sh first"
	repo=$(upstream_repo)
	if git -C "$repo" rev-parse -q --verify pinio-base >/dev/null 2>&1; then
		echo "$repo"
		return 0
	fi
	mkdir -p "$UPSTREAM_CACHE"
	exec 8>"$repo.lock"
	flock 8
	if ! git -C "$repo" rev-parse -q --verify pinio-base >/dev/null 2>&1; then
		tmp=$repo.tmp.$$
		rm -rf "$tmp"
		say "upstream: making a git copy of $src in $repo (once) ..."
		cp -a "$src" "$tmp"
		(
			cd "$tmp"
			git init -q -b pinio-base-branch
			git config user.name "pinio"
			git config user.email "pinio@invalid"
			git config core.autocrlf false
			git config gc.auto 0
			# Everything, ignored files included: the copy is the tree as downloaded.
			git add -A -f .
			GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
				git commit -q -m "Linux $(cat .pinio-version) as downloaded ($(basename "$src"))"
			git tag pinio-base
		) || { rm -rf "$tmp"; die "upstream: making the git copy failed"; }
		rm -rf "$repo"
		mv "$tmp" "$repo"
	fi
	flock -u 8
	echo "$repo"
}

# The build directory (O=) of the series' test kernel: one per kernel version, config and
# toolchain, reused (incrementally) for every version of the series.
upstream_build_dir() {
	local src ver key
	src=$(kernel_src) || return 1
	ver=$(cat "$src/.pinio-version")
	key=$({
		echo "$ver"
		cat "$PINIO_TOP/tests-kselftest/config" "$PINIO_TOP/tests-kselftest/config.debug" \
			"$UPSTREAM_CONFIG"
		"$RUSTC" --version
		"$CLIPPY_DRIVER" --version
		"clang$LLVM_SUFFIX" --version | head -1
		"$BINDGEN" --version
	} | sha256sum | cut -c1-12)
	echo "$UPSTREAM_CACHE/build-$ver-$key"
}

# make in the git copy's working tree, out of tree in $out, with clippy.
upstream_kmake() {
	local repo=$1 out=$2
	shift 2
	make -C "$repo" O="$out" LLVM="$LLVM_SUFFIX" RUSTC="$RUSTC" HOSTRUSTC="$RUSTC" \
		BINDGEN="$BINDGEN" RUSTFMT="$RUSTFMT" RUSTDOC=/usr/bin/rustdoc \
		CLIPPY=1 CLIPPY_DRIVER="$CLIPPY_DRIVER" "$@"
}

# Configure $out from tinyconfig and the three fragments; fail if an option did not stick.
upstream_configure() {
	local repo=$1 out=$2 frags bad=0 line opt
	frags=("$PINIO_TOP/tests-kselftest/config" "$PINIO_TOP/tests-kselftest/config.debug" "$UPSTREAM_CONFIG")
	mkdir -p "$out"
	{
		upstream_kmake "$repo" "$out" -s tinyconfig
		"$repo/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null
		upstream_kmake "$repo" "$out" -s olddefconfig
	} >"$out/config.log" 2>&1 || { cat "$out/config.log" >&2; die "upstream: configuring the kernel failed"; }
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			grep -qxF "$line" "$out/.config" || { say "config: wanted $line"; bad=1; } ;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }
			opt=${opt%% *}
			! grep -q "^$opt=" "$out/.config" || { say "config: wanted $opt off"; bad=1; } ;;
		esac
	done < <(cat "${frags[@]}")
	[ $bad = 0 ] || die "upstream: the kernel config misses options (see above)"
}
