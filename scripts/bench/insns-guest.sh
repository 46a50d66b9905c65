#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/insns.sh, one cell per boot (the instruction counter covers the whole
# boot, so the host subtracts a COUNT=0 boot of the same cell):
#
#   insns-guest.sh pinio-dma|pinio-direct|brd read|write BS COUNT
#
# Loads pinio (scripts/vm --no-module: this is its only instance) with dma_map=1 or 0, writes the first 4 MiB of the device (so that reads find
# data), prints pinio's symbols (KSYM lines: the module's addresses for the host's symbol
# lookup) and runs COUNT O_DIRECT operations of BS bytes over those 4 MiB, then pinio's DMA
# counters (CTR lines).
set -u
who=$1 op=$2 bs=$3 count=$4 span=$((4 << 20))
dma=1
[ "$who" = pinio-direct ] && dma=0
path=/dev/pinio
[ "$who" = brd ] && path=/dev/ram0
insmod ./pinio.ko dma_map="$dma" || { echo "ERROR insmod"; exit 1; }
./iobench --path "$path" --fill "$span" --direct >/dev/null || { echo "ERROR fill"; exit 1; }
grep '\[pinio\]' /proc/kallsyms | sed 's/^/KSYM /'
./iobench --path "$path" --direct --label "$who" --op "$op" --bs "$bs" --span "$span" \
	--count "$count" || { echo "ERROR iobench"; exit 1; }
grep -E '^dma_(maps|segments) ' /sys/kernel/debug/pinio/counters | sed 's/^/CTR /'
echo DONE
