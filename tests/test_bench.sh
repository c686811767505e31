#!/usr/bin/env bash
# Smoke test of convcl-bench: the quick suite once on every device, its CSV checked for
# shape (the 19 stable columns, every quick layer on every device, each output within
# 1e-4 of the reference), a command-line layer as JSON, and bad input answered with
# exit status 2 and a message. No timing is asserted: this runs beside other work.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 CONVCL_BENCH_BINARY" >&2
  exit 2
fi
BIN=$1
SUITES=$(cd "$(dirname "$0")/../bench/suites" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_bench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  if [ -s "$WORK/stderr" ]; then sed 's/^/    stderr: /' "$WORK/stderr" | tail -20 >&2; fi
}

# expect_error NAME WANT ARGS...: exits with status 2 and WANT in its error message.
expect_error() {
  local name=$1 want=$2
  shift 2
  "$BIN" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  local rc=$?
  if [ "$rc" -ne 2 ]; then
    fail "$name: exit status $rc, want 2"
  elif ! grep -q '^convcl-bench: error: ' "$WORK/stderr"; then
    fail "$name: no 'convcl-bench: error:' line on stderr"
  elif ! grep -qF -- "$want" "$WORK/stderr"; then
    fail "$name: stderr lacks '$want'"
  else
    pass
  fi
}

# ---- Usage ---------------------------------------------------------------------
if "$BIN" --help >"$WORK/stdout" 2>"$WORK/stderr" && grep -q '^usage: convcl-bench' "$WORK/stdout"; then
  pass
else
  fail "--help: no usage text or a non-zero exit status"
fi
expect_error "unknown suite" "unknown suite 'no_such_suite'" --suite no_such_suite
expect_error "bad --layer SPEC" "SPEC" --layer "nn.Conv2d(3, 8" --input 1x3x8x8
expect_error "bad --layer shape" "expected input[1, 4, 8, 8] to have 3 channels" \
  --layer "nn.Conv2d(3, 8, 3)" --input 1x4x8x8
expect_error "--layer without --input" "each --layer needs its --input" --layer "nn.Conv2d(3, 8, 3)"
printf '# a comment\n\nok | nn.Conv2d(3, 8, 3) | 1x3x8x8\nbroken | nn.Conv2d(3, 8, 3)\n' >"$WORK/bad.txt"
expect_error "suite parse error names file:line" "$WORK/bad.txt:4:" --suite "$WORK/bad.txt"
expect_error "unknown device" "unknown device 'nowhere'" --suite quick --device nowhere
expect_error "unknown algorithm" "unknown algorithm 'nothing'" --suite quick --algo nothing
expect_error "unknown format" "unknown format 'xml'" --suite quick --format xml
expect_error "bad --runs" "--runs expects a whole number" --suite quick --runs 0
expect_error "bad cpu:T" \
  "device 'cpu:0': the CPU path's thread count must be a whole number from 1 to 1024" \
  --suite quick --device cpu:0

# ---- A command-line layer as JSON, on every device -------------------------------
# Layers in no suite; the devices this JSON lists are the ones the CSV must cover.
"$BIN" --layer "nn.Conv2d(5, 7, (3, 2), stride=(2, 1), padding=1, dilation=2)" --input 2x5x11x9 \
  --layer "nn.ConvTranspose1d(6, 4, 3, stride=2, output_padding=1)" --input 1x6x13 \
  --device all --runs 1 --warmup 0 --verify --format json --output "$WORK/cli.json" \
  >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
devices=""
if [ "$rc" -ne 0 ]; then
  fail "--layer --format json: exit status $rc"
elif ! command -v python3 >/dev/null; then
  echo "skipped: the JSON check needs python3"
  devices="cpu"
elif devices=$(python3 - "$WORK/cli.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
ids = [d["id"] for d in doc["devices"]]
assert ids and ids[0] == "cpu", ids
assert all(isinstance(d["peak_gflops"], (int, float)) for d in doc["devices"]), doc["devices"]
seen = set()
for row in doc["rows"]:
    assert len(row) == 19, sorted(row)
    assert row["suite"] == "cli", row
    assert isinstance(row["median_ms"], (int, float)), row
    assert row["max_rel_err"] <= 1e-4, row
    seen.add((row["layer"], row["device"]))
want = {(layer, d) for layer in ("layer1", "layer2") for d in ids}
assert seen == want, (seen, want)
print(" ".join(ids))
EOF
); then
  pass
else
  fail "--layer --format json: the JSON does not check out"
fi

# ---- The quick suite as CSV ------------------------------------------------------
"$BIN" --suite quick --runs 1 --warmup 0 --device all --format csv --verify \
  >"$WORK/quick.csv" 2>"$WORK/stderr"
rc=$?
layers=$(awk -F'|' '/^[[:space:]]*(#|$)/ {next} {gsub(/[[:space:]]/, "", $1); print $1}' \
  "$SUITES/quick.txt" | tr '\n' ' ')
if [ "$rc" -ne 0 ]; then
  fail "--suite quick --format csv: exit status $rc"
elif awk -v layers="$layers" -v devices="$devices" '
  # Splits an RFC 4180 line into f[1..n]; the bench writes no line breaks in fields.
  function split_csv(line, f,    n, i, c, quoted, cur) {
    n = 0; cur = ""; quoted = 0
    for (i = 1; i <= length(line); i++) {
      c = substr(line, i, 1)
      if (quoted) {
        if (c != "\"") cur = cur c
        else if (substr(line, i + 1, 1) == "\"") { cur = cur "\""; i++ }
        else quoted = 0
      } else if (c == "\"") quoted = 1
      else if (c == ",") { f[++n] = cur; cur = "" }
      else cur = cur c
    }
    f[++n] = cur
    return n
  }
  function bad(msg) { print "quick.csv line " NR ": " msg > "/dev/stderr"; errors++ }
  NR == 1 {
    want = "suite,layer,spec,input,device,algo,plan_cold_ms,plan_warm_ms,first_ms,median_ms," \
           "min_ms,gflops,peak_pct,workspace_bytes,max_rel_err,baseline,baseline_ms,ratio,note"
    if ($0 != want) bad("header is " $0)
    next
  }
  {
    n = split_csv($0, f)
    if (n != 19) { bad(n " fields"); next }
    if (f[1] != "quick") bad("suite " f[1])
    if (f[10] == "") bad("no median_ms: " f[19])
    if (f[15] == "" || f[15] + 0 > 1e-4) bad("max_rel_err " f[15])
    seen[f[2] SUBSEP f[5]] = 1
  }
  END {
    nl = split(layers, L, " "); nd = split(devices, D, " ")
    for (i = 1; i <= nl; i++)
      for (j = 1; j <= nd; j++)
        if (!((L[i] SUBSEP D[j]) in seen)) bad("no row for " L[i] " on " D[j])
    exit errors > 0
  }' "$WORK/quick.csv"; then
  pass
else
  fail "--suite quick --format csv: the CSV does not check out"
fi

# ---- cpu:T: the CPU path and the CPU baselines on T threads ------------------------
# The implicit GEMM gives each thread a workspace slot, so a layer with several tasks
# per thread takes twice the workspace on 2 threads; the peak and oneDNN's note name
# the threads they ran on.
"$BIN" --layer "nn.Conv2d(8, 8, 3, padding=1)" --input 1x8x32x32 --device cpu:1,cpu:2 \
  --algo implicit_gemm --runs 1 --warmup 0 --format json --output "$WORK/threads.json" \
  >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
if [ "$rc" -ne 0 ]; then
  fail "--device cpu:1,cpu:2: exit status $rc"
elif ! command -v python3 >/dev/null; then
  echo "skipped: the cpu:T check needs python3"
elif python3 - "$WORK/threads.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
devices = {d["id"]: d for d in doc["devices"]}
assert sorted(devices) == ["cpu:1", "cpu:2"], sorted(devices)
assert "each of 1 thread," in devices["cpu:1"]["peak_method"], devices["cpu:1"]
assert "each of 2 threads," in devices["cpu:2"]["peak_method"], devices["cpu:2"]
work = {}
for row in doc["rows"]:
    work[row["device"]] = row["workspace_bytes"]
    if row["baseline"].startswith("onednn"):
        want = "1 thread" if row["device"] == "cpu:1" else "2 threads"
        assert row["note"].endswith(want), row
assert work["cpu:2"] == 2 * work["cpu:1"], work
EOF
then
  pass
else
  fail "--device cpu:1,cpu:2: the JSON does not check out"
fi

# ---- Output files ----------------------------------------------------------------
"$BIN" --layer "nn.Conv1d(2, 2, 3)" --input 1x2x8 --device cpu --runs 1 --warmup 0 \
  --no-baselines --format csv --output "$WORK/no_such_dir/x.csv" >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "cannot write" "$WORK/stderr"; then
  pass
else
  fail "--output into a missing directory: exit status $rc, want 1 with 'cannot write'"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
