#!/bin/bash
# Runs ab (built from ab.c) on every layer of LAYERS (lines "name C K H W k stride pad"):
# LIB_A on THREADS_A threads against LIB_B on THREADS_B, in turns; prints ab's line per
# layer, then the geometric mean of the per-layer median ratios A/B.
# usage: paired.sh AB_BINARY LIB_A LIB_B THREADS_A THREADS_B LAYERS   (env ROUNDS, BLOCK)
ab=$1 a=$2 b=$3 ta=$4 tb=$5 layers=$6
while read -r name args; do
  printf "%-24s %s\n" "$name" "$("$ab" "$a" "$b" "$ta" "$tb" $args)"
done <"$layers" | awk '{print} {for (i = 1; i <= NF; i++) if ($i == "A/B") s += log($(i + 1)); n++}
  END {printf "geomean A/B %.3f\n", exp(s / n)}'
