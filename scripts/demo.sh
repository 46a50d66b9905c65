#!/usr/bin/env bash
# make run: a newcomer's tour. Boots the debug test kernel with pinio loaded (and the boot
# options and parameters of make test's second boot) and shows the O_DIRECT data path through
# pinned pages and its DMA mappings bounced through swiotlb,
# the O_DIRECT + fork experiment in both retention modes (with pins held by an ioctl, then with
# a real asynchronous read in flight), and three experiments of the background mails: long-term
# pins migrate out of movable memory, the GUP-after-fork leak is closed, pinned pages are not
# swapped out.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ctl=$PINIO_TOP/build/tests/pinio-ctl
[ -x "$ctl" ] || die "no $ctl (make tests)"
params=()
for p in $PINIO_BOOT2_PARAMS; do
	params+=(--param "$p")
done
exec "$PINIO_TOP/scripts/vm" --kernel "${PINIO_KERNEL:-${FLAVOUR:-debug}}" \
	--append "$PINIO_BOOT2_APPEND" "${params[@]}" --add "$ctl" -- sh -c '
step() { printf "\n=== %s\n" "$*"; }
step "the device"
ls -l /dev/pinio
./pinio-ctl info
step "O_DIRECT write and read back of a 4 MiB pattern (user pages pinned, device copies, pages unpinned)"
./pinio-ctl rw --size 4M
step "pinio counters (/sys/kernel/debug/pinio/counters)"
cat /sys/kernel/debug/pinio/counters | grep -E "^(reads|writes|extract_calls|pages_|bytes_)"
step "the same through DMA mappings that all bounce (swiotlb=force, dma_mask_bits=32)"
./pinio-ctl dma --size 1M
step "O_DIRECT + fork with the pre-2020 semantics: FOLL_GET references"
./pinio-ctl cow --mode get
step "the same with FOLL_PIN, as the block layer does since 2020"
./pinio-ctl cow --mode pin
step "O_DIRECT + fork with an io_uring read in flight, data path taking FOLL_GET references"
./pinio-ctl dio-fork --mode get
step "the same with the data path extracting pages (FOLL_PIN)"
./pinio-ctl dio-fork --mode pin
step "every scenario (./pinio-ctl list)"
./pinio-ctl list
step "FOLL_LONGTERM moves pages out of ZONE_MOVABLE and CMA first (2019 FOLL_LONGTERM mail)"
./pinio-ctl longterm
step "CVE-2020-29374: a read-only FOLL_GET after fork no longer leaks what the parent writes later"
./pinio-ctl cve-2020-29374
step "pinned pages are not swapped out, their neighbours are"
./pinio-ctl reclaim
step "pins balanced afterwards (/proc/vmstat)"
grep foll_pin /proc/vmstat
'
