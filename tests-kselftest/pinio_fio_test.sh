#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fio's verification matrix on /dev/pinio and on the brd ramdisk /dev/ram0, in one boot: the
# same job file (fixed random seeds, so the same offsets, sizes and read/write mix) runs on
# each device, and each job must give the same verdict on both. A job passes when, on pinio
# and on ram0, fio's error is the one the job expects (0, or EINVAL / EILSEQ for the jobs that
# show that a failure is seen) and the bytes read and written are the same. Every job writes
# with a verify header (crc32c, md5, ...), reads back and checks (verify_fatal=1: the first
# bad block ends the job with EILSEQ).
#
# fio is Debian's, unchanged (scripts/vm --add-prog fio). Output is KTAP (the kernel's
# ktap_helpers.sh, next to this script in the guest), one result per job.
#
#   PINIO_FIO_MATRIX=short   make test (default): 23 jobs of 256 KiB to 2 MiB, every engine
#   PINIO_FIO_MATRIX=long    make stress: 287 jobs, every engine x depth x block size x pattern
#   PINIO_FIO_DEVS="A B"     the devices (default "/dev/pinio /dev/ram0"; the first is the one
#                            under test, the second the reference)
#   PINIO_FIO_JOBS=REGEX     only the jobs whose names match (grep -E)
#   PINIO_FIO_KEEP=DIR       keep the job files and fio's output there
#
# The store and ram0 must be at least 64 MiB (the defaults are).
cd "$(dirname "$0")" || exit 1
. ./ktap_helpers.sh

matrix=${PINIO_FIO_MATRIX:-short}
devs=${PINIO_FIO_DEVS:-"/dev/pinio /dev/ram0"}
tmp=${PINIO_FIO_KEEP:-/tmp/pinio-fio.$$}
mkdir -p "$tmp"

# job NAME EXPECT SIZE OPTION...: one line of the matrix. EXPECT is fio's error on both devices
# (0, EAGAIN, EINVAL, EILSEQ); SIZE the bytes the job writes and verifies. Jobs run side by side, each
# on a range of its own, in groups of at most WINDOW bytes; "new_group" among the options
# starts a new group, "same_range" puts the job on the previous job's range (after it, in a
# group of its own).
job() {
	echo "$*"
}
WINDOW=$((60 << 20))

short_matrix() {
	v="verify=crc32c verify_fatal=1"
	m="verify=md5 verify_fatal=1"
	# Synchronous engines: psync, pvsync2 with RWF_HIPRI and RWF_NOWAIT; 1 MiB (one bio of 256
	# pages) and 2 MiB (block/fops.c's multi-bio path); sizes from 512 bytes to 128 KiB. Small:
	# under the debug kernel and TCG the 13 MiB of the whole matrix take half a minute.
	job psync-write-4k 0 256k ioengine=psync rw=write bs=4k $v
	job psync-randrw-16k 0 256k ioengine=psync rw=randrw bs=16k $m
	job psync-write-1m 0 2m ioengine=psync rw=write bs=1m $v
	job psync-write-2m-multibio 0 2m ioengine=psync rw=write bs=2m $m
	job psync-bsrange 0 512k ioengine=psync rw=randwrite bsrange=512-128k $v
	job pvsync2-randwrite-8k 0 256k ioengine=pvsync2 rw=randwrite bs=8k $v
	job pvsync2-hipri 0 256k ioengine=pvsync2 hipri=1 rw=randwrite bs=4k $v
	job pvsync2-nowait 0 256k ioengine=pvsync2 nowait=1 rw=randwrite bs=16k $v
	# libaio: queue depths 1, 8, 32; a verify backlog (reads interleaved with the writes).
	job libaio-qd1-4k 0 256k ioengine=libaio iodepth=1 rw=randwrite bs=4k $v
	job libaio-qd8-randrw 0 256k ioengine=libaio iodepth=8 rw=randrw bs=16k $v
	job libaio-qd32-16k 0 1m ioengine=libaio iodepth=32 iodepth_batch_submit=8 rw=randwrite bs=16k $m
	job libaio-backlog 0 256k ioengine=libaio iodepth=16 rw=randwrite bs=8k verify_backlog=16 $v
	# io_uring: depths 1, 8, 32; registered buffers (BVEC iterators) and files, SQPOLL,
	# non-vectored, RWF_NOWAIT, forced async (io-wq).
	job uring-qd1-4k 0 256k ioengine=io_uring iodepth=1 rw=randwrite bs=4k $v
	job uring-qd8-randrw 0 512k ioengine=io_uring iodepth=8 rw=randrw bs=16k $v
	job uring-qd32-4k 0 512k ioengine=io_uring iodepth=32 rw=randwrite bs=4k $v
	job uring-fixedbufs 0 1m ioengine=io_uring iodepth=8 fixedbufs=1 rw=randwrite bs=64k $v
	job uring-regfiles 0 256k ioengine=io_uring iodepth=8 registerfiles=1 rw=randwrite bs=16k $m
	job uring-sqpoll 0 256k ioengine=io_uring iodepth=16 sqthread_poll=1 registerfiles=1 rw=randwrite bs=8k $v
	job uring-nonvec-nowait 0 256k ioengine=io_uring iodepth=8 nonvectored=1 nowait=1 rw=randwrite bs=16k $v
	job uring-force-async 0 2m ioengine=io_uring iodepth=8 force_async=2 rw=randwrite bs=1m $v
	# Failures must be seen as failures: a block size that is not a multiple of 512 bytes is
	# EINVAL on both; data read back against a pattern it was not written with is EILSEQ.
	job misaligned-bs EINVAL 8000 ioengine=psync rw=write bs=1000 $v
	job pattern-write 0 256k new_group ioengine=psync rw=write bs=64k verify=pattern verify_pattern=0x5a5a5a5a verify_fatal=1
	job pattern-mismatch EILSEQ 256k same_range ioengine=psync rw=read bs=64k verify=pattern verify_pattern=0xa5a5a5a5 verify_fatal=1
}

# The long form: every engine and depth, block sizes from 512 bytes to 4 MiB (the multi-bio
# path), three patterns, several jobs at once on one range each.
long_matrix() {
	for pat in write randwrite randrw; do
		for bs in 512 4k 64k 1m 4m; do
			case $bs in 512) sz=256k ;; 4k) sz=512k ;; 64k) sz=1m ;; 1m) sz=2m ;; *) sz=8m ;; esac
			for e in psync pvsync2 pvsync2-hipri pvsync2-nowait \
				libaio-1 libaio-4 libaio-16 libaio-64 \
				uring-1 uring-4 uring-16 uring-64 uring-fixedbufs uring-regfiles \
				uring-sqpoll uring-nonvec uring-nowait uring-async; do
				case $e in
				psync) o="ioengine=psync" ;;
				pvsync2) o="ioengine=pvsync2" ;;
				pvsync2-hipri) o="ioengine=pvsync2 hipri=1" ;;
				pvsync2-nowait) o="ioengine=pvsync2 nowait=1" ;;
				libaio-*) o="ioengine=libaio iodepth=${e#libaio-}" ;;
				uring-[0-9]*) o="ioengine=io_uring iodepth=${e#uring-}" ;;
				uring-fixedbufs) o="ioengine=io_uring iodepth=16 fixedbufs=1" ;;
				uring-regfiles) o="ioengine=io_uring iodepth=16 registerfiles=1" ;;
				uring-sqpoll) o="ioengine=io_uring iodepth=16 sqthread_poll=1" ;;
				uring-nonvec) o="ioengine=io_uring iodepth=16 nonvectored=1" ;;
				uring-nowait) o="ioengine=io_uring iodepth=16 nowait=1" ;;
				uring-async) o="ioengine=io_uring iodepth=16 force_async=1" ;;
				esac
				case $((${#pat} + ${#bs} + ${#e})) in
				*[02468]) vf=crc32c ;;
				*) vf=md5 ;;
				esac
				# RWF_NOWAIT on block/fops.c's multi-bio path (more than 256
				# pages) is EAGAIN at once, on brd and pinio alike.
				x=0
				case $e-$bs in *nowait-4m) x=EAGAIN ;; esac
				job "$e-$pat-$bs" $x $sz $o rw=$pat bs=$bs verify=$vf verify_fatal=1
			done
		done
	done
	# Three engines at once, four jobs each, in a group of their own.
	g=new_group
	for e in psync libaio io_uring; do
		for j in 0 1 2 3; do
			job "$e-bsrange-$j" 0 4m $g ioengine=$e iodepth=8 rw=randrw bsrange=512-1m \
				verify=crc32c verify_fatal=1 verify_backlog=64
			g=
		done
	done
	job sha256-randwrite 0 8m ioengine=io_uring iodepth=4 rw=randwrite bs=128k verify=sha256 verify_fatal=1
	job xxhash-write 0 8m ioengine=libaio iodepth=4 rw=write bs=256k verify=xxhash verify_fatal=1
	job misaligned-bs EINVAL 8000 ioengine=libaio iodepth=4 rw=write bs=1000 verify=crc32c verify_fatal=1
	job pattern-write 0 256k new_group ioengine=psync rw=write bs=64k verify=pattern verify_pattern=0x5a5a5a5a verify_fatal=1
	job pattern-mismatch EILSEQ 256k same_range ioengine=psync rw=read bs=64k verify=pattern verify_pattern=0xa5a5a5a5 verify_fatal=1
}

# bytes N[k|m]: N in bytes, in $bytes (no command substitution: in a guest under TCG every
# fork costs a noticeable fraction of a second).
bytes() {
	case $1 in
	*k) bytes=$((${1%k} << 10)) ;;
	*m) bytes=$((${1%m} << 20)) ;;
	*) bytes=$1 ;;
	esac
}

case $matrix in
short) short_matrix ;;
long) long_matrix ;;
*) ktap_print_header; ktap_skip_all "PINIO_FIO_MATRIX=$matrix: short or long"; exit "$KSFT_SKIP" ;;
esac >"$tmp/matrix"
if [ -n "${PINIO_FIO_JOBS:-}" ]; then
	grep -E "^(${PINIO_FIO_JOBS})( |\$)" "$tmp/matrix" >"$tmp/matrix.sel"
	mv "$tmp/matrix.sel" "$tmp/matrix"
fi

ktap_print_header
if ! command -v fio >/dev/null; then
	ktap_skip_all "no fio in this guest (scripts/vm --add-prog fio)"
	exit "$KSFT_SKIP"
fi
for d in $devs; do
	if [ ! -e "$d" ]; then
		ktap_skip_all "no $d"
		exit "$KSFT_SKIP"
	fi
done
set -- $devs
dev1=$1 dev2=$2
case $matrix in short) limit=300 ;; *) limit=3600 ;; esac
ktap_print_msg "$(fio --version), $matrix matrix, on $dev1 against $dev2"
ktap_set_plan "$(wc -l <"$tmp/matrix")"

# One job file per device: the jobs of a group side by side, each on its own range (offset),
# the groups one after the other (stonewall). Terse output (v3): field 3 a job's name, 5 its
# error, 6 and 47 the KiB read and written.
# Every job: O_DIRECT (pinio has no page cache; brd is compared on its O_DIRECT path), and
# the same offsets, sizes and read/write mix on both devices (fio's random generators seeded
# with a fixed seed). Jobs are threads of one process (cheaper to start than processes). A
# job's range is given as offset= and filesize= (its end), not size=:
# fio cannot ask a character device its size and takes size= for it, so a job at an offset
# past its size does nothing on pinio while it runs on ram0; with filesize= both devices get
# the range [offset, filesize) (fio's setup_files()).
jobfile() {
	echo "[global]"
	echo "filename=$1"
	echo "direct=1"
	echo "randrepeat=1"
	echo "randseed=1725"
	echo "thread"
	off=0 prev=0
	while read -r name _ span opts; do
		bytes "$span"
		span=$bytes
		echo "[$name]"
		case " $opts " in
		*" same_range "*) echo stonewall; off=$prev ;;
		*" new_group "*) echo stonewall; off=0 ;;
		*)
			if [ $((off + span)) -gt $WINDOW ]; then
				echo stonewall
				off=0
			fi
			;;
		esac
		echo "offset=$off"
		echo "filesize=$((off + span))"
		for o in $opts; do
			case $o in new_group | same_range) ;; *) echo "$o" ;; esac
		done
		prev=$off
		# Ranges start on a 1 MiB boundary.
		off=$(((off + span + (1 << 20) - 1) >> 20 << 20))
	done <"$tmp/matrix"
}
i=0
for d in $devs; do
	i=$((i + 1))
	jobfile "$d" >"$tmp/jobs.$i.fio"
	t0=$(date +%s)
	# (A request that never completes ends the run here, not at the runner's limit.)
	timeout -s KILL "$limit" fio --output-format=terse --terse-version=3 \
		--output="$tmp/terse.$i" "$tmp/jobs.$i.fio" >"$tmp/fio.$i.out" 2>&1
	echo "$?" >"$tmp/rc.$i"
	ktap_print_msg "fio on $d: exit $(cat "$tmp/rc.$i"), $(($(date +%s) - t0)) s"
done

# The verdicts, all in one awk: per job "pass|NAME|DETAIL" or "fail|NAME|DETAIL". A job's
# result on a device is "error KiB-read KiB-written", or "none" if fio printed none.
awk -F';' -v d1="$dev1" -v d2="$dev2" '
	BEGIN { errno["0"] = 0; errno["EAGAIN"] = 11; errno["EINVAL"] = 22; errno["EILSEQ"] = 84 }
	FILENAME ~ /terse\.[12]$/ {
		k = substr(FILENAME, length(FILENAME)) SUBSEP $3
		if (!(k in err) || err[k] == 0)
			err[k] = $5
		r[k] += $6
		w[k] += $47
		next
	}
	{
		split($0, f, " ")
		name = f[1]
		want = errno[f[2]]
		for (i = 1; i <= 2; i++) {
			k = i SUBSEP name
			res[i] = (k in err) ? err[k] " " r[k] " " w[k] : "none"
		}
		split(res[2], ref, " ")
		if (res[1] == "none" || res[2] == "none")
			print "fail|" name "|no result (" d1 ": " res[1] "; " d2 ": " res[2] ")"
		else if (ref[1] != want)
			# The reference did not give the expected verdict: the job itself is wrong.
			print "fail|" name "|" d2 " gave error " ref[1] " (expected " f[2] "): " res[2]
		else if (res[1] != res[2])
			print "fail|" name "|error, KiB read, KiB written: " res[1] " on " d1 ", " \
				res[2] " on " d2
		else
			print "pass|" name "|error " ref[1] ", " ref[2] " KiB read, " ref[3] " KiB written"
	}' "$tmp/terse.1" "$tmp/terse.2" "$tmp/matrix" >"$tmp/verdicts"
while IFS='|' read -r verdict name detail; do
	if [ "$verdict" = pass ]; then
		ktap_test_pass "$name ($detail)"
	else
		ktap_test_fail "$name: $detail"
	fi
done <"$tmp/verdicts"
if [ "$KTAP_CNT_FAIL" -gt 0 ]; then
	for i in 1 2; do
		ktap_print_msg "fio's messages on device $i (exit $(cat "$tmp/rc.$i")):"
		grep -v '^$' "$tmp/fio.$i.out" | tail -20 | sed 's/^/#   /'
	done
fi
[ -n "${PINIO_FIO_KEEP:-}" ] || rm -rf "$tmp"
ktap_finished
