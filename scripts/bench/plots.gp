# SPDX-License-Identifier: GPL-2.0
# The figures of `make bench`, from the plot-*.dat series report.py writes (x median q1 q3).
# Run in the results directory: gnuplot scripts/bench/plots.gp
load "plot-vars.gp"

set terminal pngcairo size 1400,640 font "sans,10"
set grid
set key below font ",9" maxrows 4
set logscale x 2
set format x "%.0f"
set style data linespoints
set bars small
kib(x) = x

# Colour per contender, line style per memory kind.
c_pf = "#1f77b4"; c_ga = "#ff7f0e"; c_pl = "#2ca02c"; c_gl = "#d62728"
c_pinio = "#1f77b4"; c_brd = "#ff7f0e"; c_tmpfs = "#2ca02c"

# --- pin cost against size, all pages in one call ----------------------------------------
set output "pin_vs_size.png"
set multiplot layout 1,2 title "Pin cost per page against size (all pages in one call; median, IQR bars; gup\\_test only where its 1 µs resolution suffices)"
set logscale y 10
set xlabel "size (KiB)"
do for [what in "pin unpin"] {
	set ylabel what." ns per page"
	set title what
	plot \
	  "plot-".what."-4k-all-pinio-fast.dat" u 1:2:3:4 w yerrorlines lc rgb c_pf pt 7 dt 1 t "pinio fast, 4k", \
	  "plot-".what."-4k-all-gup-a.dat"      u 1:2:3:4 w yerrorlines lc rgb c_ga pt 5 dt 1 t "gup\\_test -a, 4k", \
	  "plot-".what."-4k-all-pinio-lt.dat"   u 1:2:3:4 w yerrorlines lc rgb c_pl pt 9 dt 1 t "pinio longterm, 4k", \
	  "plot-".what."-4k-all-gup-L.dat"      u 1:2:3:4 w yerrorlines lc rgb c_gl pt 11 dt 1 t "gup\\_test -L, 4k", \
	  "plot-".what."-thp-all-pinio-fast.dat" u 1:2:3:4 w yerrorlines lc rgb c_pf pt 6 dt 2 t "pinio fast, THP", \
	  "plot-".what."-thp-all-gup-a.dat"      u 1:2:3:4 w yerrorlines lc rgb c_ga pt 4 dt 2 t "gup\\_test -a, THP", \
	  "plot-".what."-thp-all-pinio-lt.dat"   u 1:2:3:4 w yerrorlines lc rgb c_pl pt 8 dt 2 t "pinio longterm, THP", \
	  "plot-".what."-thp-all-gup-L.dat"      u 1:2:3:4 w yerrorlines lc rgb c_gl pt 10 dt 2 t "gup\\_test -L, THP"
}
unset multiplot

# --- pin cost against size and pages per call ----------------------------------------------
set output "pin_ppc.png"
set multiplot layout 1,2 title "Pin cost per page against size and pages per call (pin\\_user\\_pages\\_fast: pinio fast = lines, gup\\_test -a = points)"
do for [mem in "4k thp"] {
	set title (mem eq "4k" ? "4 KiB pages" : "THP (MADV\\_HUGEPAGE)")
	set ylabel "pin ns per page"
	plot for [i=1:words(ppcs)] "plot-pin-".mem."-".word(ppcs,i)."-pinio-fast.dat" u 1:2 w lines lw 2 lc i t "pinio, ".word(ppcs,i)." pages/call", \
	     for [i=1:words(ppcs)] "plot-pin-".mem."-".word(ppcs,i)."-gup-a.dat" u 1:2 w points pt 7 ps 1.2 lc i t "gup\\_test -a, ".word(ppcs,i)." pages/call"
}
unset multiplot

# --- data path: throughput against size ----------------------------------------------------
set output "throughput_vs_size.png"
set multiplot layout 1,2 title "Data path throughput against request size (median, IQR bars; solid: 1 thread, dashed: one per vCPU)"
unset logscale y
set logscale y 10
set xlabel "request size (KiB)"
set ylabel "MB/s"
do for [op in "read write"] {
	set title op
	plot \
	  "plot-io-pinio-".op."-MBps-t1.dat" u 1:2:3:4 w yerrorlines lc rgb c_pinio pt 7 dt 1 t "pinio, 1 thread", \
	  "plot-io-brd-".op."-MBps-t1.dat"   u 1:2:3:4 w yerrorlines lc rgb c_brd pt 5 dt 1 t "brd O\\_DIRECT, 1 thread", \
	  "plot-io-tmpfs-".op."-MBps-t1.dat" u 1:2:3:4 w yerrorlines lc rgb c_tmpfs pt 9 dt 1 t "tmpfs buffered, 1 thread", \
	  "plot-io-pinio-".op."-MBps-t".nproc.".dat" u 1:2:3:4 w yerrorlines lc rgb c_pinio pt 6 dt 2 t sprintf("pinio, %d threads", nproc), \
	  "plot-io-brd-".op."-MBps-t".nproc.".dat"   u 1:2:3:4 w yerrorlines lc rgb c_brd pt 4 dt 2 t sprintf("brd, %d threads", nproc), \
	  "plot-io-tmpfs-".op."-MBps-t".nproc.".dat" u 1:2:3:4 w yerrorlines lc rgb c_tmpfs pt 8 dt 2 t sprintf("tmpfs, %d threads", nproc)
}
unset multiplot

# --- data path: latency against size -------------------------------------------------------
set output "latency_vs_size.png"
set multiplot layout 1,2 title "Latency per operation against request size, 1 thread (solid: p50, dashed: p99; median over rounds)"
set ylabel "µs"
do for [op in "read write"] {
	set title op
	plot \
	  "plot-io-pinio-".op."-p50_us-t1.dat" u 1:2 w linespoints lc rgb c_pinio pt 7 dt 1 t "pinio p50", \
	  "plot-io-brd-".op."-p50_us-t1.dat"   u 1:2 w linespoints lc rgb c_brd pt 5 dt 1 t "brd p50", \
	  "plot-io-tmpfs-".op."-p50_us-t1.dat" u 1:2 w linespoints lc rgb c_tmpfs pt 9 dt 1 t "tmpfs p50", \
	  "plot-io-pinio-".op."-p99_us-t1.dat" u 1:2 w linespoints lc rgb c_pinio pt 6 dt 2 t "pinio p99", \
	  "plot-io-brd-".op."-p99_us-t1.dat"   u 1:2 w linespoints lc rgb c_brd pt 4 dt 2 t "brd p99", \
	  "plot-io-tmpfs-".op."-p99_us-t1.dat" u 1:2 w linespoints lc rgb c_tmpfs pt 8 dt 2 t "tmpfs p99"
}
unset multiplot

# --- data path: throughput against threads -------------------------------------------------
set output "throughput_vs_threads.png"
set multiplot layout 1,2 title sprintf("Data path throughput against threads (%d vCPUs; median, IQR bars)", nproc)
unset logscale x
set logscale x 2
set xlabel "threads"
set xtics (1, 2, 4, 8)
unset logscale y
set yrange [0:*]
set ylabel "MB/s"
do for [op in "read write"] {
	set title op
	plot for [i=1:words(thr_sizes)] "plot-iot-pinio-".op."-MBps-".word(thr_sizes,i)."k.dat" u 1:2:3:4 w yerrorlines lc rgb c_pinio pt 7 dt i t "pinio, ".word(thr_sizes,i)." KiB", \
	     for [i=1:words(thr_sizes)] "plot-iot-brd-".op."-MBps-".word(thr_sizes,i)."k.dat" u 1:2:3:4 w yerrorlines lc rgb c_brd pt 5 dt i t "brd O\\_DIRECT, ".word(thr_sizes,i)." KiB", \
	     for [i=1:words(thr_sizes)] "plot-iot-tmpfs-".op."-MBps-".word(thr_sizes,i)."k.dat" u 1:2:3:4 w yerrorlines lc rgb c_tmpfs pt 9 dt i t "tmpfs buffered, ".word(thr_sizes,i)." KiB"
}
unset multiplot
