#!/usr/bin/env bash
# make clients: liburing's own tests that take a device, run on /dev/pinio and on the brd
# ramdisk /dev/ram0 in one boot of the debug kernel. They must give the same result on both,
# except where pinio documents a difference (the table below, one reason each), and they must
# differ there.
#
#   scripts/clients.sh [--tests "T1 T2 ..."] [--timeout S] [--report-only]
#
# --report-only: the verdicts again from the last run's build/clients-guest.log.
#
# The tests come from Debian's liburing source package of $LIBURING_SUITE (default trixie,
# liburing 2.9: the release of the suite pinio's kernel comes from; bookworm's 2.3 predates
# most of what a 7.3 kernel's io_uring does), fetched once with apt-get source through a
# private apt state (a deb-src line of its own, as scripts/setup.sh fetches the kernel),
# unpacked with dpkg-source into the cache, and built statically for the guest's busybox
# userland into build/clients/. apt checks the files against the archive's signed index;
# dpkg-source is told not to check the uploader's signature of the .dsc, for which it would
# need the Debian developers' keyring.
#
# Which tests take a device: those whose main() opens its argv[1] (runtests.sh hands every test
# the devices of its config, and the others skip or ignore it): read from the sources, less
# the two whose argument is no file (napi-test: an address; read-mshot-stdin: "stdin").
#
# Each test runs with a time limit (--timeout, default 600 s; runtests.sh's is 60 s, too short
# for the debug kernel under TCG), on pinio then on ram0, both 128 MiB (file-verify and
# sq-poll-share use 128 MiB), with 8 hugetlb pages reserved (fixed-hugepage); exit 0 is a
# pass, 77 a skip, 124 or 130 the time limit, anything else a failure. Output: build/clients-guest.log (every test's
# output), build/clients-dmesg.log, and a table (markdown) in build/clients-summary.md.
# Exit status 0 if every test matched and the kernel log stayed clean.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

LIBURING_SUITE=${LIBURING_SUITE:-trixie}
tests_opt=
limit=600
report_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--tests) tests_opt=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--report-only) report_only=1; shift ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "scripts/clients.sh: unknown option $1 (see --help)" ;;
	esac
done

# The documented differences: TEST -> "PINIO RAM0 REASON", the results (pass, skip, fail)
# expected on each device; each must show up. Every other test must give the same result on
# both. (README, "Behaviour": pinio has no page cache, so I/O without O_DIRECT takes the same
# path as with it and needs block-aligned offsets, lengths and buffers; no mmap; it is a
# character device, without the block layer's ioctls.)
expected_difference() {
	case $1 in
	cmd-discard) echo "fail pass no block-device ioctls: BLKGETSIZE64 is ENOTTY (and no discard)" ;;
	fadvise) echo "fail pass no page cache: its buffered read() into a malloc()ed buffer (16-byte aligned) is EINVAL" ;;
	file-verify) echo "fail pass no page cache: its buffered pattern fill write()s from a malloc()ed buffer: EINVAL" ;;
	fixed-hugepage) echo "fail pass no page cache: without O_DIRECT it reads into a registered buffer at offset 0x1234 of a huge page: EINVAL (brd's page cache takes any alignment)" ;;
	madvise) echo "fail pass no mmap: mmap() of the device is ENODEV" ;;
	read-write) echo "fail pass no page cache: buffered reads and writes of 8173 bytes (not a multiple of 512) are EINVAL" ;;
	ringbuf-read) echo "fail pass no page cache: its buffered fill write()s from a buffer on the stack (16-byte aligned): EINVAL" ;;
	submit-reuse) echo "fail pass no page cache: its buffered readv() goes into static arrays (not 512-byte aligned): EINVAL" ;;
	thread-exit) echo "fail pass no page cache: its buffered 512-byte writes come from malloc()ed buffers (16-byte aligned): EINVAL" ;;
	*) return 1 ;;
	esac
}

# Tests that cannot pass in this guest on either device, for reasons that are not pinio's:
# TEST -> reason. A test that does not pass on both devices and is not listed here fails.
environment() {
	case $1 in
	defer-taskrun) echo "its socket pair is TCP over 127.0.0.1 (t_create_socket_pair()): the test kernels have NET and UNIX, not INET" ;;
	fsnotify) echo "skips: needs fanotify (CONFIG_FANOTIFY is not set)" ;;
	io_uring_passthrough) echo "skips: needs an NVMe generic character device (/dev/ngXnY)" ;;
	*) return 1 ;;
	esac
}

# --- the source: Debian's liburing, with a private apt state ------------------------------
fetch_liburing() {
	local apt_dir=$PINIO_CACHE/apt-src-$LIBURING_SUITE ver dir dl
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$PINIO_SRC_ROOT"
	cat >"$apt_dir/sources.list" <<EOL
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $LIBURING_SUITE main
EOL
	local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
		-o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	if ! ls "$apt_dir/lists/"*"_${LIBURING_SUITE}_main_source_Sources"* >/dev/null 2>&1; then
		apt-get "${opts[@]}" update -qq >&2 || die "apt-get update ($LIBURING_SUITE sources) failed"
	fi
	ver=$(apt-cache "${opts[@]}" showsrc liburing 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1)
	[ -n "$ver" ] || die "no liburing source package in Debian's $LIBURING_SUITE"
	dir=$PINIO_SRC_ROOT/liburing-$ver
	if [ ! -f "$dir/test/Makefile" ]; then
		dl=$(mktemp -d)
		(cd "$dl" && apt-get "${opts[@]}" source --download-only -qq "liburing=$ver" >&2 &&
			dpkg-source --no-check -x "liburing_${ver#*:}.dsc" src >&2) ||
			die "fetching Debian's liburing $ver source failed"
		rm -rf "$dir"
		mv "$dl/src" "$dir"
		rm -rf "$dl"
	fi
	echo "$dir"
}

# The device tests of a liburing source tree: whose main() takes argv[1] as a path.
device_tests() {
	grep -l 'argv\[1\]' "$1"/test/*.c | xargs -n1 basename | sed 's/\.c$//' |
		grep -vx -e napi-test -e read-mshot-stdin
}

# The run is one function, parsed whole before it starts: an edit of this file during a run
# (it takes about 20 minutes) cannot break its end.
main() {
	src=$(fetch_liburing) || exit 1
	ver=${src##*/liburing-}
	bdir=$PINIO_TOP/build/clients/liburing-$ver
	if [ -n "$tests_opt" ]; then
		tests=$tests_opt
	else
		tests=$(device_tests "$src" | tr '\n' ' ')
	fi
	[ -n "$tests" ] || die "no device tests found in $src/test"
	ntests=$(echo $tests | wc -w)

	# --- build (static: the guest has no libc) ---------------------------------------------------
	build() {
		local t targets=()
		if [ ! -f "$bdir/config-host.mak" ]; then
			rm -rf "$bdir"
			mkdir -p "$(dirname "$bdir")"
			cp -a "$src" "$bdir"
			(cd "$bdir" && ./configure --cc=gcc --cxx=g++ >configure.log 2>&1) ||
				die "liburing's configure failed ($bdir/configure.log)"
		fi
		for t in $tests; do
			targets+=("$t.t")
		done
		make -s -C "$bdir/src" -j2 >/dev/null && make -s -C "$bdir/test" -j2 LDFLAGS=-static \
			"${targets[@]}" >"$bdir/build.log" 2>&1
	}
	say "clients: liburing $ver (Debian $LIBURING_SUITE), $ntests device tests: $tests"
	[ "$report_only" = 1 ] || build || die "building liburing's tests failed ($bdir/build.log)"

	# --- run ---------------------------------------------------------------------------------------
	out=$PINIO_TOP/build
	log=$out/clients-guest.log
	dmesg_log=$out/clients-dmesg.log
	summary=$out/clients-summary.md
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/liburing"
	if [ "$report_only" = 1 ]; then
		[ -f "$log" ] || die "no $log to report on"
		tr -d '\r' <"$log" >"$work/guest.log"
		grep '^pinio-vm: result' "$log" >"$work/vm.err"
		vm_rc=$(sed -n 's/^pinio-vm: result rc=\([0-9]*\) .*splat=0 kmemleak=0 rmmod=ok$/\1/p' \
			"$work/vm.err")
		vm_rc=${vm_rc:-1}
		t0=$(stat -c %Y "$log") t1=$t0
	fi
	[ "$report_only" = 1 ] || for t in $tests; do
		cp "$bdir/test/$t.t" "$work/liburing/"
	done
	# The guest's script: each test on each device between "@@run TEST DEV" and
	# "@@end TEST DEV STATUS SECONDS".
	{
		echo '#!/bin/sh'
		echo 'cd "$(dirname "$0")/liburing" || exit 1'
		# fixed-hugepage registers buffers in hugetlb pages.
		echo 'echo 8 >/proc/sys/vm/nr_hugepages'
		echo 'run() {'
		echo '	echo "@@run $1 $2"; t0=$(date +%s)'
		echo "	timeout -s INT $limit ./\$1.t \$2 </dev/null 2>&1"
		echo '	rc=$?; echo "@@end $1 $2 $rc $(($(date +%s) - t0))"'
		echo '}'
		for t in $tests; do
			echo "run $t /dev/pinio"
			echo "run $t /dev/ram0"
		done
		echo 'exit 0'
	} >"$work/clients-guest.sh"
	chmod +x "$work/clients-guest.sh"
	budget=$((ntests * 2 * limit + 600))
	if [ "$report_only" = 0 ]; then
		t0=$(date +%s)
		"$PINIO_TOP/scripts/vm" --kernel "${PINIO_KERNEL:-debug}" --timeout "$budget" \
			--log "$dmesg_log" --param size_mib=128 --add "$work/liburing" \
			--add "$work/clients-guest.sh" -- ./clients-guest.sh >"$log" 2>"$work/vm.err"
		vm_rc=$?
		t1=$(date +%s)
		tr -d '\r' <"$log" >"$work/guest.log"
		cat "$work/vm.err" >>"$log"
	fi

	# --- verdicts ----------------------------------------------------------------------------------
	# result TEST DEV: pass, skip, fail, timeout or none (did not finish), and its seconds.
	result() {
		awk -v t="$1" -v d="$2" '
			$1 == "@@end" && $2 == t && $3 == d {
				r = $4 == 0 ? "pass" : $4 == 77 ? "skip" : ($4 == 124 || $4 == 130) ? "timeout" : "fail"
				print r, $5; found = 1
			}
			END { if (!found) print "none -" }' "$work/guest.log"
	}
	pass=0 fail=0
	failed=()
	{
		echo "## liburing $ver's device tests on /dev/pinio and /dev/ram0"
		echo
		echo "$(date -u '+%Y-%m-%d %H:%M UTC'), Debian $LIBURING_SUITE's liburing $ver, built statically;" \
			"${PINIO_KERNEL:-debug kernel}, $((t1 - t0)) s in one boot; time limit $limit s per run."
		echo
		echo "| test | /dev/pinio | /dev/ram0 | verdict |"
		echo "|---|---|---|---|"
		for t in $tests; do
			read -r rp sp < <(result "$t" /dev/pinio)
			read -r rr sr < <(result "$t" /dev/ram0)
			if exp=$(expected_difference "$t"); then
				read -r ep er why <<<"$exp"
				if [ "$rp" = "$ep" ] && [ "$rr" = "$er" ]; then
					verdict="expected difference: $why"
					pass=$((pass + 1))
				else
					verdict="**UNEXPECTED**: a difference ($ep on pinio, $er on ram0) is documented: $why"
					fail=$((fail + 1))
					failed+=("$t")
				fi
			elif [ "$rp" = "$rr" ] && [ "$rp" = pass ]; then
				verdict=same
				pass=$((pass + 1))
			elif [ "$rp" = "$rr" ] && [ "$rp" != none ] && [ "$rp" != timeout ] &&
				why=$(environment "$t"); then
				verdict="same (not pinio's: $why)"
				pass=$((pass + 1))
			else
				verdict="**UNEXPECTED**"
				fail=$((fail + 1))
				failed+=("$t")
			fi
			echo "| $t | $rp ($sp s) | $rr ($sr s) | $verdict |"
		done
		echo
		echo "Kernel log: $(sed -n 's/^pinio-vm: result //p' "$work/vm.err" | tail -1)."
	} >"$summary"
	guest_ok=1
	[ "$vm_rc" = 0 ] || { fail=$((fail + 1)); guest_ok=0; }
	cat "$summary"
	echo
	for t in "${failed[@]+"${failed[@]}"}"; do
		echo "FAILED: $t"
		for d in /dev/pinio /dev/ram0; do
			echo "  $d:"
			awk -v t="$t" -v d="$d" '$1 == "@@run" { on = ($2 == t && $3 == d); next }
				$1 == "@@end" { on = 0 } on' "$work/guest.log" | tail -15 | sed 's/^/    /'
		done
	done
	[ "$guest_ok" = 1 ] ||
		echo "FAILED: the guest run (kernel splat, rmmod or time limit; exit $vm_rc): see $dmesg_log"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}

main "$@"
exit
