#!/usr/bin/env bash
# Fuzzes each libFuzzer target for a bounded time on a copy of its committed corpus and
# fails on any crash, leak, sanitizer report or timeout.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET (60)] [BUILD_DIR (build/fuzz)]
# BUILD_DIR is a -DCONVCL_FUZZ=ON build. Findings are left in BUILD_DIR/fuzz-findings;
# add each one, once fixed, to tests/fuzz/corpus/<target>/ and to the target's unit test.
set -euo pipefail
seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${2:-$here/../../build/fuzz}" && pwd)
findings="$build/fuzz-findings"
mkdir -p "$findings"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The plan target's CPU path spreads each run over two threads, as on CI's two cores.
export CONVCL_NUM_THREADS=${CONVCL_NUM_THREADS:-2}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for target in spec npy plan; do
  # Fuzzing adds inputs to its corpus directory: a copy keeps the committed one as is.
  cp -r "$here/corpus/$target" "$work/$target"
  dict=()
  [ -f "$here/$target.dict" ] && dict=("-dict=$here/$target.dict")
  echo "== fuzz_$target: ${seconds} s"
  if "$build/tests/fuzz/fuzz_$target" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$findings/$target-" \
      "$work/$target" >"$work/$target.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
      "$work/$target.log" || true
  else
    failed=1
    tail -n 60 "$work/$target.log"
    echo "fuzz_$target FAILED: reproducer in $findings/$target-*"
  fi
done
exit "$failed"
