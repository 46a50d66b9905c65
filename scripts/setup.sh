#!/usr/bin/env bash
# Install everything pinio needs on Debian 12 x86_64: Debian's Rust toolchain that
# builds kernel 7.3, clang/LLVM 19, a pinned bindgen, QEMU and busybox for the guest, docutils
# for make docs, and the kernel source from Debian's linux-source-$KERNEL_SERIES package.
# Idempotent: a second run only says that everything is in place.
#
#   scripts/setup.sh              everything
#   scripts/setup.sh --apt-only   only the Debian packages (what make docs needs)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy rustfmt-web rust-web-analyzer clang-19 lld-19 llvm-19 libclang-19-dev
	flex bison bc libelf-dev libssl-dev cpio kmod busybox-static qemu-system-x86
	binutils xz-utils make gcc python3 gnuplot-nox
	liburing-dev libaio-dev gcc-multilib e2fsprogs
	python3-docutils
	# checkpatch's SPDX check (make upstream-test)
	python3-ply python3-git
	# fio: a client nobody here wrote, run in the guest as Debian ships it (scripts/vm
	# --add-prog fio): pinio_fio_test.sh in make test and make stress, fio in make bench.
	fio)

missing_packages() {
	local p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			echo "$p"
	done
}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
	local missing
	missing=$(missing_packages)
	if [ -z "$missing" ]; then
		say "apt packages: all installed"
		return
	fi
	# shellcheck disable=SC2086
	timed "apt-get install $(echo $missing)" \
		bash -c "$(declare -f as_root); as_root apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $(echo $missing)"
}

install_bindgen() {
	if [ -x "$BINDGEN" ] && "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
		say "bindgen $BINDGEN_VERSION: installed at $BINDGEN"
		return
	fi
	command -v cargo >/dev/null || die "cargo is needed to install bindgen-cli"
	timed "cargo install bindgen-cli $BINDGEN_VERSION" \
		cargo install --quiet --locked --root "$PINIO_TOOLS" bindgen-cli --version "$BINDGEN_VERSION"
}

# Fetch linux-source-$KERNEL_SERIES from $KERNEL_SUITE with a private apt state, so the
# machine's own sources stay untouched; apt still checks the archive signatures.
fetch_kernel_source() {
	if src=$(kernel_src) && [ -f "$src/Makefile" ] && [ -f "$src/.pinio-version" ]; then
		say "kernel source: $(cat "$src/.pinio-version") in $src"
		return
	fi
	local apt_dir=$PINIO_CACHE/apt dl
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$PINIO_SRC_ROOT"
	cat >"$apt_dir/sources.list" <<EOL
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $KERNEL_SUITE main
EOL
	local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
		-o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	timed "apt-get update ($KERNEL_SUITE)" apt-get "${opts[@]}" update -qq
	# apt-get update can exit 0 when a download failed: tell that apart from a missing package.
	ls "$apt_dir/lists/"*"_${KERNEL_SUITE}_main_binary-"*"_Packages"* >/dev/null 2>&1 ||
		die "could not fetch the package list of Debian's $KERNEL_SUITE from deb.debian.org
  (network or proxy?); nothing to look $KERNEL_SERIES up in"
	local pkg=linux-source-$KERNEL_SERIES
	local ver
	ver=$(apt-cache "${opts[@]}" policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		die "$pkg is not in Debian's $KERNEL_SUITE any more. Choose another supported series
  ($(supported_series_text)) with KERNEL_SERIES=<x.y> make test, or give the suite it lives in
  now with KERNEL_SUITE=<suite> (and update scripts/kernel-series);
  apt-cache policy 'linux-source-*' with that suite lists what is there."
	fi
	dl=$(mktemp -d)
	(cd "$dl" && timed "apt-get download $pkg=$ver" apt-get "${opts[@]}" download -qq "$pkg=$ver")
	local deb
	deb=$(ls "$dl"/*.deb)
	local tarball=usr/src/linux-source-$KERNEL_SERIES.tar.xz
	timed "unpacking $pkg $ver" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -x -C '$dl' ./$tarball"
	local upstream=${ver%%-*}
	upstream=${upstream%%+*}
	local dest=$PINIO_SRC_ROOT/linux-$ver
	rm -rf "$dest" "$dest.tmp"
	mkdir -p "$dest.tmp"
	timed "extracting kernel source to $dest" tar -xJf "$dl/$tarball" -C "$dest.tmp" --strip-components=1
	echo "$upstream" >"$dest.tmp/.pinio-version"
	mv "$dest.tmp" "$dest"
	rm -rf "$dl"
	echo "$dest" >"$PINIO_SRC_ROOT/linux-$KERNEL_SERIES.path"
	say "kernel source: $upstream (Debian $ver) in $dest"
}

# An unsupported series is refused first, in a second, before anything is installed.
check_kernel_series
install_packages
if [ "${1:-}" = --apt-only ]; then
	exit 0
fi
install_bindgen
fetch_kernel_source
say "set-up: all in place (rustc $("$RUSTC" --version | cut -d' ' -f2), bindgen $BINDGEN_VERSION, kernel $(cat "$(kernel_src)/.pinio-version"))"
