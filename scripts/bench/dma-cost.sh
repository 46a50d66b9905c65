#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of the DMA mapping cost measurement (scripts/dma-cost.sh runs it on the release
# kernel): /dev/pinio with its DMA mappings (dma_map=1, the default) against the direct copy
# it replaced (dma_map=0, a benchmark knob), and brd O_DIRECT, in one boot. The module is
# reloaded with the other setting for each cell, in an order rotated per round; one iobench
# line per run (label pinio-dma, pinio-direct or brd).
#
#   dma-cost.sh ROUNDS DURATION_MS "SIZES" "OPS"
set -u
rounds=${1:-5} ms=${2:-1000} sizes=${3:-"4096 65536 1048576 16777216"} ops=${4:-"read write"}
store=$((64 << 20))

load() { # dma_map value
	rmmod pinio 2>/dev/null
	insmod /pinio/pinio.ko $(cat /pinio/params) dma_map="$1" || { echo "ERROR insmod"; exit 1; }
	./iobench --path /dev/pinio --fill "$store" --direct >/dev/null || { echo "ERROR fill"; exit 1; }
}

run() { # label path op bs round
	./iobench --path "$2" --direct --label "$1" --op "$3" --bs "$4" --threads 1 \
		--span "$store" --duration-ms "$ms" --warmup-ms 200 --tag "round=$5" ||
		{ echo "ERROR iobench $1 $3 $4"; exit 1; }
}

./iobench --path /dev/ram0 --fill "$store" --direct >/dev/null || { echo "ERROR fill brd"; exit 1; }
r=0
while [ "$r" -lt "$rounds" ]; do
	for op in $ops; do
		for bs in $sizes; do
			if [ $((r % 2)) = 0 ]; then order="1 0"; else order="0 1"; fi
			for m in $order; do
				load "$m"
				if [ "$m" = 1 ]; then label=pinio-dma; else label=pinio-direct; fi
				run "$label" /dev/pinio "$op" "$bs" "$r"
			done
			run brd /dev/ram0 "$op" "$bs" "$r"
		done
	done
	r=$((r + 1))
done
# Leave pinio loaded with its defaults.
load 1
# DMA-API debug's own counters, where the kernel has it (dma_debug=off: "disabled").
d=/sys/kernel/debug/dma-api
if [ -d $d ]; then
	echo "INFO dma-api disabled=$(cat $d/disabled) error_count=$(cat $d/error_count)" \
		"nr_total_entries=$(cat $d/nr_total_entries) min_free_entries=$(cat $d/min_free_entries)"
fi
