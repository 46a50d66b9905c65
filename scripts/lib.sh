# shellcheck shell=bash
# Common settings for pinio's scripts: where the cache lives, which kernel, which tools.
# Sourced, never run.

PINIO_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PINIO_CACHE=${PINIO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pinio}
# The supported kernel series (scripts/kernel-series, newest first) and the selected one; its
# Debian suite comes from the same file unless KERNEL_SUITE is given.
PINIO_SERIES_FILE=$PINIO_TOP/scripts/kernel-series
PINIO_SUPPORTED_SERIES=$(awk '/^[0-9]/ { printf "%s%s", sep, $1; sep = " " }' "$PINIO_SERIES_FILE")
KERNEL_SERIES=${KERNEL_SERIES:-${PINIO_SUPPORTED_SERIES%% *}}
KERNEL_SUITE=${KERNEL_SUITE:-$(awk -v s="$KERNEL_SERIES" '$1 == s { print $2 }' "$PINIO_SERIES_FILE")}
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
# - swiotlb=track_hiwater: Linux 7.3 counts the pool's slots in use (pinio's swiotlb_used and
#   swiotlb_used_hiwater, debugfs' io_tlb_used_hiwater) only with track_hiwater; 7.2 always
#   counts. A swiotlb= of its own: 7.2 forces only for a value ending in "force"
#   (swiotlb=force,track_hiwater forces nothing there) and ignores a value it does not know.
PINIO_BOOT2_APPEND=${PINIO_BOOT2_APPEND:-"movablecore=432M cma=640M@384M brd.rd_nr=2 swiotlb=force swiotlb=track_hiwater nokaslr"}
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

# "7.3 and 7.2": the supported series as a sentence.
supported_series_text() {
	local all=$PINIO_SUPPORTED_SERIES
	case $all in
	*" "*) echo "$(echo "${all% *}" | sed 's/ /, /g') and ${all##* }" ;;
	*) echo "$all" ;;
	esac
}

# Refuse a kernel series pinio does not support, before anything is downloaded or built,
# unless PINIO_ANY_SERIES=1 (then only a warning). $1: the series (x.y); $2: what is of that
# series, for the message (e.g. "KERNEL_SERIES=7.1"); $3: how to try it anyway.
check_series() {
	local series=$1 what=$2 anyway=$3 list newest
	case " $PINIO_SUPPORTED_SERIES " in *" $series "*) return 0 ;; esac
	list=$(supported_series_text)
	newest=${PINIO_SUPPORTED_SERIES%% *}
	if [ "${PINIO_ANY_SERIES:-}" = 1 ]; then
		say "warning: $what: pinio supports Linux $list only; trying $series because"
		say "  PINIO_ANY_SERIES=1, at your own risk (built with $newest's Rust APIs, src/compat.rs)"
		return 0
	fi
	die "$what: pinio supports Linux $list only (scripts/kernel-series),
  and has downloaded and built nothing for $series. To try $series anyway, at your own risk
  (pinio is then built with $newest's Rust APIs: it may not compile, or may fail its tests):
    $anyway"
}

# Refuse an unsupported KERNEL_SERIES (check_series), and one that is not of the form x.y.
check_kernel_series() {
	case $KERNEL_SERIES in
	[0-9]*.[0-9]*) ;;
	*) die "KERNEL_SERIES=$KERNEL_SERIES: a kernel series is MAJOR.MINOR, e.g. ${PINIO_SUPPORTED_SERIES%% *}" ;;
	esac
	check_series "$KERNEL_SERIES" "KERNEL_SERIES=$KERNEL_SERIES" \
		"PINIO_ANY_SERIES=1 KERNEL_SERIES=$KERNEL_SERIES KERNEL_SUITE=<Debian suite with linux-source-$KERNEL_SERIES> make test"
}

# The series (x.y) of a kernel build tree, from its include/config/kernel.release.
tree_series() {
	local release
	release=$(cat "$1/include/config/kernel.release" 2>/dev/null) || return 1
	echo "$release" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p'
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
