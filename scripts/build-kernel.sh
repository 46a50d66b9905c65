#!/usr/bin/env bash
# Build (or find in the cache) the pinio test kernel of one flavour: debug or release.
# tinyconfig + tests-kselftest/config + tests-kselftest/config.<flavour>, built out of tree in
# $PINIO_CACHE/build/<version>-<flavour>-<key>, where <key> hashes the kernel version, the
# fragments and the toolchain. Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
case $flavour in debug | release) ;; *) die "usage: $0 debug|release" ;; esac

check_kernel_series
src=$(kernel_src) || die "no kernel source: run scripts/setup.sh first"
out=$(kernel_build_dir "$flavour")
# One build per tree at a time: concurrent callers wait for it and then use it.
mkdir -p "$PINIO_BUILD_ROOT"
exec 9>"$out.lock"
if ! flock -n 9; then
	say "$flavour kernel: another build of $out is running; waiting for it ..."
	flock 9
fi
if [ -f "$out/.pinio-built" ]; then
	say "$flavour kernel: cached in $out"
	echo "$out"
	exit 0
fi

kmake() {
	make -C "$src" O="$out" LLVM="$LLVM_SUFFIX" RUSTC="$RUSTC" HOSTRUSTC="$RUSTC" \
		BINDGEN="$BINDGEN" RUSTFMT="$RUSTFMT" RUSTDOC=/usr/bin/rustdoc "$@"
}

rm -rf "$out"
mkdir -p "$out"
frags=("$PINIO_TOP/tests-kselftest/config" "$PINIO_TOP/tests-kselftest/config.$flavour")
{
	kmake -s tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null
	kmake -s olddefconfig
} >"$out/config.log" 2>&1 || { cat "$out/config.log" >&2; die "configuring the $flavour kernel failed"; }

# merge_config only warns when Kconfig drops an option: insist on every one.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$out/.config" || { say "config: wanted $line, got: $(grep "^${line%%=*}=" "$out/.config" || echo 'not set')"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		! grep -q "^$opt=" "$out/.config" || { say "config: wanted $opt off, got $(grep "^$opt=" "$out/.config")"; bad=1; } ;;
	esac
done < <(cat "${frags[@]}")
[ $bad = 0 ] || die "the $flavour kernel config misses options (see above); Kconfig dependencies changed?"

jobs=$(($(nproc) + 1))
timed "building the $flavour kernel $(cat "$src/.pinio-version") in $out (-j$jobs; several minutes)" \
	bash -c "$(declare -f kmake); src='$src' out='$out' LLVM_SUFFIX='$LLVM_SUFFIX' RUSTC='$RUSTC' BINDGEN='$BINDGEN' RUSTFMT='$RUSTFMT' \
		kmake -j$jobs all >'$out/build.log' 2>&1 || { tail -40 '$out/build.log' >&2; exit 1; }"
touch "$out/.pinio-built"
# Older trees of this version and flavour (other configs or toolchains) are not used any
# more; those of other versions (another KERNEL_SERIES) are, and so is one that another build
# (of another clone's config, in a shared cache) holds the lock of right now.
for old in "$PINIO_BUILD_ROOT/$(cat "$src/.pinio-version")-$flavour"-*; do
	case $old in "$out" | *.lock) continue ;; esac
	flock -n "$old.lock" rm -rf "$old" || say "$flavour kernel: $old is being built; kept"
done
echo "$out"
