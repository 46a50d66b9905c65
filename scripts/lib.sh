# shellcheck shell=bash
# Common settings for pinio's scripts: where the cache lives, which kernel, which tools.
# Sourced, never run.

PINIO_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PINIO_CACHE=${PINIO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pinio}
KERNEL_SERIES=${KERNEL_SERIES:-7.3}
KERNEL_SUITE=${KERNEL_SUITE:-trixie-backports}
BINDGEN_VERSION=${BINDGEN_VERSION:-0.72.1}
LLVM_SUFFIX=${LLVM_SUFFIX:--19}

# The kernel command line of make test's second boot (and of make run): every boot option the
# tests need, in this one variable, so that new ones (e.g. swiotlb=force) join the same boot.
# - movablecore=368M: a ZONE_MOVABLE of a few tens of MiB (the top of the guest's memory is
#   mostly memblock allocations: KASAN shadow, memmap, the initramfs);
# - cma=640M@384M: a CMA area in DMA32 holding most of its free memory, so that user pages
#   reach it once ZONE_MOVABLE is full (sized for the default 1728 MiB guest);
# - brd.rd_nr=2: a second ramdisk, /dev/ram1, for swap;
# - swiotlb=force: every DMA mapping bounces through swiotlb's pool, so that a missing unmap or
#   a wrong direction loses data (pinio_dma_test, pinio_io_test, ...). The pool's 64 MiB are
#   allocated at the top of memory, where ZONE_MOVABLE is: movablecore is 64 MiB larger for it
#   (with 368M, ZONE_MOVABLE had 31 free pages left);
# - nokaslr: a kernel of one's own with CONFIG_RANDOMIZE_BASE (x86_64_defconfig) may be placed
#   anywhere in physical memory, and where it lands in 384M-1024M the fixed CMA area cannot be
#   reserved ("cma: Failed to reserve 640 MiB"); the project's kernels have no KASLR.
PINIO_BOOT2_APPEND=${PINIO_BOOT2_APPEND:-"movablecore=432M cma=640M@384M brd.rd_nr=2 swiotlb=force nokaslr"}
# pinio's module parameters in that boot: a 32-bit DMA mask (NAME=VALUE, space-separated).
PINIO_BOOT2_PARAMS=${PINIO_BOOT2_PARAMS:-"dma_mask_bits=32"}

PINIO_TOOLS=$PINIO_CACHE/tools
PINIO_SRC_ROOT=$PINIO_CACHE/src
PINIO_BUILD_ROOT=$PINIO_CACHE/build

export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm${LLVM_SUFFIX}/lib}
# Debian's rustc-web, not rustup's: only it has a matching core source.
RUSTC=${RUSTC:-/usr/bin/rustc}
BINDGEN=${BINDGEN:-$PINIO_TOOLS/bin/bindgen}
CLIPPY_DRIVER=${CLIPPY_DRIVER:-/usr/bin/clippy-driver}
RUSTFMT=${RUSTFMT:-/usr/bin/rustfmt}

say() { printf '[pinio] %s\n' "$*" >&2; }
die() { printf '[pinio] error: %s\n' "$*" >&2; exit 1; }

# Run "$@" and say how long it took.
timed() {
	local what=$1 t0 t1
	shift
	say "$what ..."
	t0=$(date +%s)
	"$@" || die "$what failed"
	t1=$(date +%s)
	say "$what: done in $((t1 - t0)) s"
}

# The extracted kernel source of the selected series (written by setup.sh).
kernel_src() {
	local f=$PINIO_SRC_ROOT/linux-$KERNEL_SERIES.path
	[ -f "$f" ] || return 1
	cat "$f"
}

# Hash of everything that decides a kernel build of flavour $1.
kernel_key() {
	local flavour=$1 src ver
	src=$(kernel_src) || return 1
	ver=$(cat "$src/.pinio-version")
	{
		echo "$ver"
		cat "$PINIO_TOP/tests-kselftest/config"
		cat "$PINIO_TOP/tests-kselftest/config.$flavour"
		"$RUSTC" --version
		"clang$LLVM_SUFFIX" --version | head -1
		"$BINDGEN" --version
	} | sha256sum | cut -c1-12
}

kernel_build_dir() {
	local flavour=$1 src key
	src=$(kernel_src) || return 1
	key=$(kernel_key "$flavour") || return 1
	echo "$PINIO_BUILD_ROOT/$(cat "$src/.pinio-version")-$flavour-$key"
}
