# The evaluation log of server.sh (FL_EVAL_LOG: round, accuracy, loss,
# epsilon, clients, dropouts; a header row, tabs) as an SVG: accuracy and
# loss by round above, the privacy spent (epsilon) and the clients summed
# and dropped below.  server.sh redraws it after each row; by hand:
#
#   gnuplot -e "tsv='/srv/fl/server/eval.tsv'; out='eval.svg'" plot.gp
#
# (out ending in .png: a PNG, if this gnuplot has the png terminal)
if (!exists("tsv")) tsv = "eval.tsv"
if (!exists("out")) out = "eval.svg"
if (out[strlen(out)-3:] eq ".png") {
	set terminal png size 800,700
} else {
	set terminal svg size 800,700 dynamic
}
set output out
set datafile separator "\t"
# whole rounds on the x axis, at most about 20 tics
stats tsv using 1 skip 1 nooutput
xstep = STATS_max <= 20 ? 1 : ceil(STATS_max / 20)
set xtics xstep
set xrange [STATS_min:(STATS_max > STATS_min ? STATS_max : STATS_min + 1)]
set key top left
set grid
set multiplot layout 2,1 title "fltools: the model of each round on the held-out set"
set xlabel "round"
set ylabel "accuracy"
set yrange [0:1]
set y2label "loss"
set ytics nomirror
set y2tics
plot tsv using 1:2 skip 1 with linespoints title "accuracy", \
     tsv using 1:3 skip 1 axes x1y2 with linespoints title "loss"
set ylabel "epsilon"
set autoscale y
set yrange [0:*]
set y2label "clients"
set y2range [0:*]
plot tsv using 1:4 skip 1 with linespoints title "epsilon spent", \
     tsv using 1:5 skip 1 axes x1y2 with points pt 7 title "clients summed", \
     tsv using 1:6 skip 1 axes x1y2 with points pt 6 title "dropouts"
unset multiplot
