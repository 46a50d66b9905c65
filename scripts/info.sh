#!/usr/bin/env bash
# make info: the kernel trees, bzImages, module outputs and tool versions pinio uses.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

kdir_arg=${1:-}
row() { printf '%-22s %s\n' "$1" "$2"; }
src=$(kernel_src 2>/dev/null) || src="(none: run scripts/setup.sh)"
row "kernel series" "$KERNEL_SERIES ($KERNEL_SUITE); supported: $(supported_series_text)"
row "kernel source" "$src"
row "cache" "$PINIO_CACHE"
for flavour in debug release; do
	dir=$(kernel_build_dir "$flavour" 2>/dev/null) || dir=
	if [ -n "$dir" ] && [ -f "$dir/.pinio-built" ]; then
		row "$flavour kernel tree" "$dir"
		row "$flavour bzImage" "$dir/arch/x86/boot/bzImage"
	else
		row "$flavour kernel tree" "${dir:-?} (not built yet: make kernels)"
	fi
	row "$flavour pinio.ko" "$PINIO_TOP/build/$flavour/pinio.ko$([ -f "$PINIO_TOP/build/$flavour/pinio.ko" ] || echo ' (not built)')"
done
[ -z "$kdir_arg" ] || row "KDIR (given)" "$kdir_arg"
row "rustc" "$("$RUSTC" --version 2>/dev/null || echo "missing: $RUSTC")"
row "bindgen" "$("$BINDGEN" --version 2>/dev/null || echo "missing: $BINDGEN")"
row "clang" "$("clang$LLVM_SUFFIX" --version 2>/dev/null | head -1 || echo missing)"
row "clippy-driver" "$("$CLIPPY_DRIVER" --version 2>/dev/null || echo missing)"
row "rustfmt" "$("$RUSTFMT" --version 2>/dev/null || echo missing)"
row "qemu" "$(qemu-system-x86_64 --version 2>/dev/null | head -1 || echo missing)"
row "LIBCLANG_PATH" "$LIBCLANG_PATH"
