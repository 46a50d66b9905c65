#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The cost of the DMA mapping on the data path, short form: one release-kernel boot, pinio
# with its mappings (dma_map=1) against the direct copy (dma_map=0, a benchmark knob) and brd
# O_DIRECT, one thread, interleaved rounds (scripts/bench/dma-cost.sh). Prints the median MB/s
# per cell and the ratios.
#
#   scripts/dma-cost.sh [ROUNDS [DURATION_MS [SIZES [OPS]]]]
#
# PINIO_DMA_COST_KERNEL=debug measures on the debug kernel instead (DMA-API debug: what the
# mappings cost make test's guests), =PATH on a kernel build tree of the debug flavour's
# configuration (pinio.ko of the debug flavour is loaded in it); PINIO_DMA_COST_APPEND adds to
# its command line (e.g. dma_debug=off). The guest's DMA-API debug counters are printed last.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rounds=${1:-5} ms=${2:-1000} sizes=${3:-"4096 65536 1048576 16777216"} ops=${4:-"read write"}
kernel=${PINIO_DMA_COST_KERNEL:-release}
append=${PINIO_DMA_COST_APPEND:-}
flavour=release
[ "$kernel" = release ] || flavour=debug
bdir=$PINIO_TOP/build/bench
make -s -C "$PINIO_TOP" FLAVOUR="$flavour" module >&2
make -s -C "$PINIO_TOP/scripts/bench" KSRC="$(kernel_src)" OUTPUT="$bdir" "$bdir/iobench" >&2
# (One raw file per kernel and command line: two runs at once must not share one.)
out=$PINIO_TOP/build/dma-cost-$(echo "$(basename "$kernel") $append" | tr -c 'a-zA-Z0-9\n' -).raw
nice "$PINIO_TOP/scripts/vm" --kernel "$kernel" --module "$PINIO_TOP/build/$flavour/pinio.ko" \
	--quiet ${append:+--append "$append"} --add "$bdir/iobench" \
	--add "$PINIO_TOP/scripts/bench/dma-cost.sh" \
	-- sh ./dma-cost.sh "$rounds" "$ms" "$sizes" "$ops" | tr -d '\r' | tee "$out" | grep -v '^IO '
grep -q '^ERROR' "$out" && die "dma-cost: a run failed"
awk '
	/^IO / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		key = f["op"] " " f["bs"]; cells[key] = 1
		v[key, f["label"], ++n[key, f["label"]]] = f["MBps"]
	}
	function median(key, label,   m, i, j, t, a) {
		m = n[key, label]
		for (i = 1; i <= m; i++) a[i] = v[key, label, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		printf "%-6s %9s %12s %12s %9s %9s %14s\n", "op", "bs", "pinio-dma", "pinio-direct", "brd", "dma/direct", "dma/brd"
		for (key in cells) {
			split(key, k, " ")
			d = median(key, "pinio-dma"); x = median(key, "pinio-direct"); b = median(key, "brd")
			printf "%-6s %9s %12.0f %12.0f %9.0f %9.3f %14.3f\n", k[1], k[2], d, x, b, d / x, d / b
		}
	}' "$out" | sort -k1,1 -k2,2n
