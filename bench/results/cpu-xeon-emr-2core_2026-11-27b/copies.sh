#!/bin/bash
# Per layer of LAYERS (lines "name C K H W k stride pad"), R times: copies alone on
# core 0, then alone on core 1; two 1-thread copies at once, one per core; one 2-thread
# run. Prints "name rep core0 core1 both0 both1 two", median ms each.
# usage: copies.sh COPIES_BINARY LAYERS   (R=5, D=0.6 seconds per measurement)
bin=$1 layers=$2 R=${R:-5} D=${D:-0.6}
at() { python3 -c "import time; print(time.time() + 0.3)"; }
while read -r name args; do
  for rep in $(seq "$R"); do
    a0=$(taskset -c 0 "$bin" "$(at)" "$D" 1 $args)
    a1=$(taskset -c 1 "$bin" "$(at)" "$D" 1 $args)
    s=$(at)
    b0=$(mktemp) b1=$(mktemp)
    taskset -c 0 "$bin" "$s" "$D" 1 $args >"$b0" &
    taskset -c 1 "$bin" "$s" "$D" 1 $args >"$b1"
    wait
    two=$("$bin" "$(at)" "$D" 2 $args)
    echo "$name $rep $a0 $a1 $(cat "$b0") $(cat "$b1") $two"
    rm -f "$b0" "$b1"
  done
done <"$layers"
