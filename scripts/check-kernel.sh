#!/usr/bin/env bash
# Check a kernel build tree of one's own (scripts/vm --kernel PATH, make test KDIR=PATH) for
# what pinio's suite needs, before booting it. The options are those of tests-kselftest/config
# and config.debug; tests-kselftest/kconfig-needs says what each is for.
#
#   scripts/check-kernel.sh [--quiet] KDIR
#
# Prints the report on stderr and, on stdout, the missing options that only disable some tests
# (one line, space-separated; the guest gets it as $PINIO_MISSING_CONFIG). Exits 1, saying why,
# if the tree cannot run the suite at all (no bzImage or Module.symvers, no Rust, no module
# unload, no debugfs, ...).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

quiet=0
[ "${1:-}" != --quiet ] || { quiet=1; shift; }
[ $# = 1 ] || die "usage: $0 [--quiet] KDIR"
kdir=$1
note() { [ "$quiet" = 1 ] || say "$@"; }

[ -d "$kdir" ] || die "kernel tree $kdir: no such directory"
config=$kdir/.config
[ -f "$config" ] || die "kernel tree $kdir has no .config: give the build directory (O=) of a configured and built kernel"
[ -f "$kdir/arch/x86/boot/bzImage" ] || die "kernel tree $kdir has no arch/x86/boot/bzImage: build it first (make -C $kdir, or with O=)"
[ -f "$kdir/Module.symvers" ] || die "kernel tree $kdir has no Module.symvers: build it with a full 'make' (modules_prepare is not enough for an external module)"
release=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || echo unknown)

needs=$PINIO_TOP/tests-kselftest/kconfig-needs
need_of() { awk -v o="$1" '$1 == o { print $2; exit }' "$needs"; }
what_of() { awk -v o="$1" '$1 == o { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$needs"; }

# Every option the project's kernels set (=y, or a value), from both fragments.
mapfile -t wanted < <(grep -h '^CONFIG_[A-Z0-9_]*=' "$PINIO_TOP/tests-kselftest/config" \
	"$PINIO_TOP/tests-kselftest/config.debug" | cut -d= -f1 | awk '!seen[$0]++')

fatal=()
missing_tests=()
missing_debug=()
for opt in "${wanted[@]}"; do
	need=$(need_of "$opt")
	[ "$need" != ignore ] || continue
	have=$(sed -n "s/^$opt=//p" "$config")
	case $have in
	y) continue ;;
	m) how="=m (the guest has no module tree: needs =y)" ;;
	*) how="is not set" ;;
	esac
	case ${need:-debug} in
	boot) fatal+=("$opt $how: $(what_of "$opt")") ;;
	tests) missing_tests+=("$opt") ;;
	*) missing_debug+=("$opt") ;;
	esac
done

note "kernel tree $kdir: $release"
# The same refusal as Kbuild's, before anything is built or booted.
check_series "$(tree_series "$kdir")" "kernel tree $kdir ($release)" \
	"PINIO_ANY_SERIES=1 make test KDIR=$kdir"
if [ ${#fatal[@]} -gt 0 ]; then
	say "kernel tree $kdir cannot run pinio's suite:"
	for f in "${fatal[@]}"; do
		say "  $f"
	done
	die "add these options to $config (make olddefconfig), rebuild, and try again"
fi
if [ ${#missing_tests[@]} -gt 0 ]; then
	note "  missing options, their tests are skipped (with the reason) in this run:"
	for opt in "${missing_tests[@]}"; do
		note "    $opt $(grep -q "^$opt=m" "$config" && echo "=m (needs =y)" || echo "is not set"): $(what_of "$opt")"
	done
fi
if [ ${#missing_debug[@]} -gt 0 ]; then
	note "  not a debug run: ${#missing_debug[@]} option(s) of tests-kselftest/config.debug are not set:"
	note "    ${missing_debug[*]}"
	note "    (the suite runs; the kernel-log checks for the reports these produce have nothing to catch)"
else
	note "  debug run: every option of tests-kselftest/config.debug is set"
fi
[ ${#missing_tests[@]} -gt 0 ] || note "  every option the tests need is set"
echo "${missing_tests[*]+"${missing_tests[*]}"}"
