#!/usr/bin/env bash
# Command-line tests of convcl: malformed SPECs, shapes and files are each answered
# with "convcl: error: ..." and exit status 2 (usage) or 1 (runtime), never a signal,
# and leave no output file behind; tiny layers run on the CPU (and on OpenCL when a
# device is listed) give hand-computed results. .npy fixtures are written with
# python3's standard library only (CI has python3 but not numpy).
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 CONVCL_BINARY" >&2
  exit 2
fi
BIN=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/out.npy
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  if [ -s "$WORK/stderr" ]; then sed 's/^/    stderr: /' "$WORK/stderr" >&2; fi
}

# expect_error NAME STATUS WANT ARGS...: convcl exits with STATUS, prints
# "convcl: error:" and WANT on stderr, and leaves neither OUT nor a temporary file.
expect_error() {
  local name=$1 status=$2 want=$3
  shift 3
  rm -f "$OUT"
  "$BIN" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  local rc=$?
  if [ "$rc" -ne "$status" ]; then
    fail "$name: exit status $rc, want $status"
  elif ! grep -q '^convcl: error: ' "$WORK/stderr"; then
    fail "$name: no 'convcl: error:' line on stderr"
  elif ! grep -qF -- "$want" "$WORK/stderr"; then
    fail "$name: stderr lacks '$want'"
  elif [ -e "$OUT" ] || compgen -G "$WORK/*.tmp-*" >/dev/null; then
    fail "$name: an output file was left behind"
  else
    pass
  fi
}

# expect_ok NAME ARGS...: convcl exits 0; its stdout is in $WORK/stdout.
expect_ok() {
  local name=$1
  shift
  "$BIN" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "$name: exit status $rc, want 0"
    return 1
  fi
  pass
  return 0
}

# stdout_has NAME TEXT: the last command's stdout contains TEXT.
stdout_has() {
  if grep -qF -- "$2" "$WORK/stdout"; then pass; else fail "$1: stdout lacks '$2'"; fi
}

# ---- Usage -----------------------------------------------------------------------
C2='nn.Conv2d(3, 8, 3)'
expect_ok "--help" --help && stdout_has "--help" "usage: convcl"
expect_ok "help" help && stdout_has "help" "usage: convcl"
expect_ok "run --help" run --help && stdout_has "run --help" "usage: convcl"
expect_ok "--version" --version && stdout_has "--version" "convcl "
expect_error "no command" 2 "no command given"
expect_error "unknown command" 2 "unknown command 'frobnicate'" frobnicate
expect_error "unknown option" 2 "unknown option '--foo'" info "$C2" --input 1x3x8x8 --foo 1
expect_error "option for another command" 2 "unknown option '--weight'" info "$C2" --input 1x3x8x8 --weight w.npy
expect_error "option without value" 2 "option --input needs a value" info "$C2" --input
expect_error "option twice" 2 "option --input given twice" info "$C2" --input 1x3x8x8 --input 1x3x8x8
expect_error "extra argument" 2 "unexpected argument 'extra'" info "$C2" extra --input 1x3x8x8
expect_error "devices argument" 2 "unexpected argument 'x'" devices x
expect_error "json with value" 2 "--json takes no value" info "$C2" --input 1x3x8x8 --json=1
expect_error "no spec" 2 "a SPEC is needed" info --input 1x3x8x8
expect_error "no input" 2 "info needs --input" info "$C2"
expect_error "unknown algo" 2 "unknown algorithm 'fastest'" info "$C2" --input 1x3x8x8 --algo fastest

# ---- Malformed SPECs ---------------------------------------------------------------
expect_error "unbalanced" 2 "unbalanced parentheses" info 'nn.Conv2d(3, 8, 3' --input 1x3x8x8
expect_error "extra paren" 2 "unbalanced parentheses" info 'nn.Conv2d(3, 8, 3))' --input 1x3x8x8
expect_error "trailing text" 2 "unexpected text after the closing ')'" info 'nn.Conv2d(3, 8, 3) x' --input 1x3x8x8
expect_error "empty spec" 2 "empty SPEC" info '' --input 1x3x8x8
expect_error "unknown layer" 2 "unknown layer 'nn.Linear'" info 'nn.Linear(3, 8)' --input 1x3
expect_error "unknown kwarg" 2 "Conv2d got an unexpected keyword argument 'foo'" info 'nn.Conv2d(3, 8, 3, foo=1)' --input 1x3x8x8
expect_error "duplicate arg" 2 "got multiple values for argument 'stride'" info 'nn.Conv2d(3, 8, 3, 2, stride=2)' --input 1x3x8x8
expect_error "missing arg" 2 "missing 1 required positional argument: 'kernel_size'" info 'nn.Conv2d(3, 8)' --input 1x3x8x8
expect_error "too many args" 2 "positional arguments but 12 were given" info 'nn.Conv2d(3, 8, 3, 1, 0, 1, 1, True, "zeros", None, None, 1)' --input 1x3x8x8
expect_error "tuple length" 2 "kernel_size must be an int or a tuple of 2 ints, but got (3, 3, 3)" info 'nn.Conv2d(3, 8, (3, 3, 3))' --input 1x3x8x8
expect_error "float arg" 2 "in_channels must be an int, but got 3.0" info 'nn.Conv2d(3.0, 8, 3)' --input 1x3x8x8
expect_error "padding string" 2 "invalid padding string 'full'" info 'nn.Conv2d(3, 8, 3, padding="full")' --input 1x3x8x8
expect_error "padding mode" 2 "padding_mode must be one of" info 'nn.Conv2d(3, 8, 3, padding_mode="wrap")' --input 1x3x8x8
expect_error "transposed same" 2 "takes no string padding" info 'nn.ConvTranspose2d(3, 8, 3, padding="same")' --input 1x3x8x8
expect_error "dtype" 2 "float32 only" info 'nn.Conv2d(3, 8, 3, dtype=torch.float64)' --input 1x3x8x8
expect_error "int64 overflow" 2 "does not fit in a 64-bit integer" info 'nn.Conv2d(3, 8, 99999999999999999999)' --input 1x3x8x8
long_spec="nn.Conv2d(3, 8, ($(printf '1, %.0s' $(seq 1 20000))1))"
expect_error "long spec" 2 "kernel_size must be an int or a tuple of 2 ints" info "$long_spec" --input 1x3x8x8

# ---- Malformed shapes -------------------------------------------------------------
expect_error "zero size" 2 "sizes must be positive" info "$C2" --input 1x3x0x8
expect_error "negative size" 2 "sizes must be positive" info "$C2" --input=-1x3x8x8
expect_error "bad shape" 2 "invalid shape '1x3xfoo'" info "$C2" --input 1x3xfoo
expect_error "six dims" 2 "more than 5 dimensions" info "$C2" --input 1x1x1x1x1x1
expect_error "huge size" 2 "does not fit" info "$C2" --input 99999999999999999999x3x8x8

# ---- Layers the library rejects, in PyTorch's words ----------------------------------
expect_error "groups" 1 "divisible by groups" info 'nn.Conv2d(3, 8, 3, groups=2)' --input 1x3x8x8
expect_error "groups zero" 1 "groups must be a positive integer" info 'nn.Conv2d(3, 8, 3, groups=0)' --input 1x3x8x8
expect_error "negative stride" 1 "non-positive stride is not supported" info 'nn.Conv2d(3, 8, 3, stride=-1)' --input 1x3x8x8
expect_error "negative padding" 1 "negative padding is not supported" info 'nn.Conv2d(3, 8, 3, padding=-1)' --input 1x3x8x8
expect_error "zero kernel" 1 "kernel size should be greater than zero" info 'nn.Conv2d(3, 8, 0)' --input 1x3x8x8
expect_error "zero dilation" 1 "dilation should be greater than zero" info 'nn.Conv2d(3, 8, 3, dilation=0)' --input 1x3x8x8
expect_error "same strided" 1 "padding='same' is not supported for strided convolutions" info 'nn.Conv2d(3, 8, 3, stride=2, padding="same")' --input 1x3x8x8
expect_error "kernel too large" 1 "Kernel size can't be greater than actual input size" info 'nn.Conv2d(1, 1, 5)' --input 1x1x3x3
expect_error "input channels" 1 "to have 3 channels, but got 4 channels instead" info "$C2" --input 1x4x8x8
expect_error "reflect pad" 1 "Padding size should be less than the corresponding input dimension" info 'nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")' --input 1x1x3x3
expect_error "transposed mode" 1 'Only "zeros" padding mode is supported for ConvTranspose2d' info 'nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")' --input 1x1x3x3
expect_error "output padding" 1 "output padding must be smaller than either stride or dilation" info 'nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)' --input 1x1x3x3
expect_error "output size range" 1 "valid sizes range from [9, 9] to [10, 10]" info 'nn.ConvTranspose2d(1, 1, 3, stride=2)' --input 1x1x4x4 --output-size 11x11
expect_error "output size conv" 2 "--output-size applies to ConvTranspose layers only" info "$C2" --input 1x3x8x8 --output-size 8x8
expect_error "output size rank" 2 "--output-size needs 2 sizes" info 'nn.ConvTranspose2d(1, 1, 3)' --input 1x1x4x4 --output-size 6
expect_error "input rank" 1 "Expected" info "$C2" --input 3x8
expect_error "huge input" 1 "too many elements" info 'nn.Conv2d(1, 1, 1)' --input 1x1x9223372036854775807x9223372036854775807
expect_error "huge channels" 1 "exceeds the supported maximum" info 'nn.Conv2d(9223372036854775807, 9223372036854775807, 3)' --input 1x9223372036854775807x8x8
expect_error "huge stride" 1 "exceeds the supported maximum" info 'nn.Conv2d(1, 1, 3, stride=9223372036854775807)' --input 1x1x8x8
expect_error "bad device" 1 "device 'nonsense'" info "$C2" --input 1x3x8x8 --device nonsense

# ---- info ------------------------------------------------------------------------
README_SPEC='nn.Conv2d(in_channels=1,out_channels=32,kernel_size=5,stride=1,padding=2)'
if expect_ok "README info" info "$README_SPEC" --input 1x1x28x28; then
  stdout_has "README info output" "1x32x28x28"
  stdout_has "README info parameters" "832"
  stdout_has "README info weight" "32x1x5x5"
  stdout_has "README info algorithm" "implicit_gemm"
fi
if expect_ok "info --algo direct" info "$README_SPEC" --input 1x1x28x28 --device cpu --algo direct; then
  stdout_has "info --algo direct" "direct"
fi
expect_ok "info unbatched" info "$C2" --input 3x9x9 && stdout_has "info unbatched" "8x7x7"
expect_ok "info cpu" info "$C2" --input 1x3x8x8 --device cpu --algo direct && stdout_has "info cpu" "cpu"
expect_ok "devices" devices && stdout_has "devices" "cpu"

HAVE_PYTHON=0
if command -v python3 >/dev/null 2>&1; then HAVE_PYTHON=1; fi

if [ "$HAVE_PYTHON" = 1 ]; then
  if expect_ok "info --json" info "$README_SPEC" --input 1x1x28x28 --json; then
    if python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["output"] == [1, 32, 28, 28], d["output"]
assert d["parameters"] == 832, d["parameters"]
assert d["weight"] == [32, 1, 5, 5] and d["bias"] == [32]
assert all("algo" in r or "error" in r for r in d["devices"])
' <"$WORK/stdout"; then pass; else fail "info --json: not the expected JSON"; fi
  fi
  # Escaping: quotes and a backslash in the SPEC text still give valid JSON.
  if expect_ok "info --json quotes" info 'nn.Conv2d(3, 8, 3, padding_mode="zeros", device="a\b")' --input 1x3x8x8 --json; then
    if python3 -c 'import json, sys; json.load(sys.stdin)' <"$WORK/stdout"; then pass; else fail "info --json quotes: invalid JSON"; fi
  fi
else
  echo "SKIP: python3 not found: JSON and run checks skipped"
fi

# ---- run -------------------------------------------------------------------------
if [ "$HAVE_PYTHON" = 1 ]; then
  cat >"$WORK/npy.py" <<'EOF'
"""Writes and checks .npy files with the standard library only."""
import ast, struct, sys

def write(path, shape, values, descr="<f4", fortran=False, cut=0, extra=b"", raw=None):
    shape = tuple(shape)
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, shape)
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    fmt = {"<f4": "<%df", ">f4": ">%df", "<f8": "<%dd"}[descr]
    data = raw if raw is not None else struct.pack(fmt % len(values), *values)
    data = data[: len(data) - cut] + extra
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)

def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:8] == b"\x93NUMPY\x01\x00", "magic/version"
    (hlen,) = struct.unpack("<H", blob[8:10])
    assert (10 + hlen) % 64 == 0, "header not padded to 64"
    header = ast.literal_eval(blob[10 : 10 + hlen].decode())
    assert header["descr"] == "<f4" and header["fortran_order"] is False, header
    shape = header["shape"]
    count = 1
    for d in shape:
        count *= d
    data = blob[10 + hlen :]
    assert len(data) == 4 * count, "data size"
    return shape, list(struct.unpack("<%df" % count, data))

def check(path, shape, want):
    got_shape, got = read(path)
    if tuple(got_shape) != tuple(shape):
        sys.exit("%s: shape %r, want %r" % (path, got_shape, tuple(shape)))
    for i, (g, w) in enumerate(zip(got, want)):
        if abs(g - w) > 1e-5 * max(1.0, abs(w)):
            sys.exit("%s: element %d is %r, want %r" % (path, i, g, w))

def same(a, b, tol):
    sa, da = read(a)
    sb, db = read(b)
    if sa != sb or any(abs(x - y) > tol * max(1.0, abs(y)) for x, y in zip(da, db)):
        sys.exit("%s and %s differ" % (a, b))

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        check(sys.argv[2], ast.literal_eval(sys.argv[3]), ast.literal_eval(sys.argv[4]))
    elif cmd == "same":
        same(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "fixtures":
        d = sys.argv[2]
        nine = [float(v) for v in range(1, 10)]
        four = [1.0, 2.0, 3.0, 4.0]
        write(d + "/x.npy", (1, 1, 3, 3), nine)
        write(d + "/x_unbatched.npy", (1, 3, 3), nine)
        write(d + "/w.npy", (1, 1, 2, 2), four)
        write(d + "/ones3.npy", (1, 1, 3, 3), [1.0] * 9)
        write(d + "/ones2.npy", (1, 1, 2, 2), [1.0] * 4)
        write(d + "/b.npy", (1,), [0.5])
        write(d + "/t.npy", (1, 1, 2, 2), four)
        write(d + "/x4.npy", (1, 4, 3, 3), [1.0] * 36)
        write(d + "/x9.npy", (1, 9), nine)
        write(d + "/w_rank.npy", (1, 1, 2), [1.0, 2.0])
        write(d + "/b2.npy", (2,), [0.5, 0.5])
        write(d + "/f8.npy", (1, 1, 3, 3), nine, descr="<f8")
        write(d + "/be.npy", (1, 1, 3, 3), nine, descr=">f4")
        write(d + "/fortran.npy", (1, 1, 3, 3), nine, fortran=True)
        write(d + "/trunc.npy", (1, 1, 3, 3), nine, cut=4)
        write(d + "/extra.npy", (1, 1, 3, 3), nine, extra=b"\0\0\0\0")
        write(d + "/dims6.npy", (1, 1, 1, 1, 3, 3), nine)
        write(d + "/huge.npy", (1, 1, 1 << 40, 1 << 40), [], raw=b"")
        with open(d + "/text.npy", "w") as f:
            f.write("not an array\n")
EOF
  NPY="python3 $WORK/npy.py"
  if $NPY fixtures "$WORK"; then pass; else fail "writing the .npy fixtures"; fi
  CONV='nn.Conv2d(1, 1, 2)'
  CONV_NB='nn.Conv2d(1, 1, 2, bias=False)'
  X=$WORK/x.npy
  W=$WORK/w.npy

  # Input 1..9 as 3x3, kernel [[1, 2], [3, 4]]: 1+4+12+20 = 37, 47, 67, 77; bias 0.5.
  for dev in cpu opencl; do
    if [ "$dev" = opencl ]; then
      # Only where 'convcl devices' lists an OpenCL device.
      "$BIN" devices 2>/dev/null | grep -q '^[ *] opencl:' || {
        echo "SKIP: no OpenCL device listed: OpenCL run checks skipped"
        continue
      }
    fi
    rm -f "$OUT"
    if expect_ok "run conv $dev" run "$CONV" --input "$X" --weight "$W" --bias "$WORK/b.npy" --output "$OUT" --device "$dev"; then
      if $NPY check "$OUT" "(1, 1, 2, 2)" "[37.5, 47.5, 67.5, 77.5]"; then pass; else fail "run conv $dev: values"; fi
      stdout_has "run conv $dev summary" "1x1x3x3 -> 1x1x2x2"
      cp "$OUT" "$WORK/conv_$dev.npy"
    fi
    if expect_ok "run no bias $dev" run "$CONV_NB" --input "$X" --weight "$W" --output "$OUT" --device "$dev" --algo direct; then
      if $NPY check "$OUT" "(1, 1, 2, 2)" "[37, 47, 67, 77]"; then pass; else fail "run no bias $dev: values"; fi
    fi
    if expect_ok "run unbatched $dev" run "$CONV_NB" --input "$WORK/x_unbatched.npy" --weight "$W" --output "$OUT" --device "$dev"; then
      if $NPY check "$OUT" "(1, 2, 2)" "[37, 47, 67, 77]"; then pass; else fail "run unbatched $dev: values"; fi
    fi
    # Reflect padding of 1..9 by one, then a 3x3 box sum.
    if expect_ok "run reflect $dev" run 'nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect", bias=False)' \
      --input "$X" --weight "$WORK/ones3.npy" --output "$OUT" --device "$dev"; then
      if $NPY check "$OUT" "(1, 1, 3, 3)" "[33, 36, 39, 42, 45, 48, 51, 54, 57]"; then pass; else fail "run reflect $dev: values"; fi
    fi
    # Transposed: the full convolution of [[1, 2], [3, 4]] with itself.
    if expect_ok "run transposed $dev" run 'nn.ConvTranspose2d(1, 1, 2, bias=False)' --input "$WORK/t.npy" \
      --weight "$W" --output "$OUT" --device "$dev"; then
      if $NPY check "$OUT" "(1, 1, 3, 3)" "[1, 4, 4, 6, 20, 16, 9, 24, 16]"; then pass; else fail "run transposed $dev: values"; fi
    fi
    # Stride 2 places 2x2 blocks; --output-size 5x5 adds a zero row and column.
    if expect_ok "run output size $dev" run 'nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False)' --input "$WORK/t.npy" \
      --weight "$WORK/ones2.npy" --output "$OUT" --output-size 5x5 --device "$dev"; then
      if $NPY check "$OUT" "(1, 1, 5, 5)" "[1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 3, 3, 4, 4, 0, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0]"; then
        pass
      else
        fail "run output size $dev: values"
      fi
    fi
  done
  if [ -e "$WORK/conv_opencl.npy" ]; then
    if $NPY same "$WORK/conv_opencl.npy" "$WORK/conv_cpu.npy" 1e-5; then pass; else fail "OpenCL and CPU results differ"; fi
  fi

  # Overwriting an existing output replaces it.
  echo "old" >"$OUT"
  if expect_ok "run overwrite" run "$CONV_NB" --input "$X" --weight "$W" --output "$OUT" --device cpu; then
    if $NPY check "$OUT" "(1, 1, 2, 2)" "[37, 47, 67, 77]"; then pass; else fail "run overwrite: values"; fi
  fi

  # Failures: each leaves no output behind (expect_error checks).
  expect_error "run missing bias" 2 "pass --bias b.npy, or write bias=False" run "$CONV" --input "$X" --weight "$W" --output "$OUT"
  expect_error "run unwanted bias" 2 "but the SPEC says bias=False" run "$CONV_NB" --input "$X" --weight "$W" --bias "$WORK/b.npy" --output "$OUT"
  expect_error "run no output" 2 "run needs --input x.npy, --weight w.npy and --output y.npy" run "$CONV_NB" --input "$X" --weight "$W"
  expect_error "run weight shape" 1 "weight of shape [1, 1, 2, 2] expected, but $WORK/w_rank.npy has [1, 1, 2]" run "$CONV_NB" --input "$X" --weight "$WORK/w_rank.npy" --output "$OUT"
  expect_error "run weight for other layer" 1 "weight of shape [1, 1, 3, 3] expected" run 'nn.Conv2d(1, 1, 3, bias=False)' --input "$X" --weight "$W" --output "$OUT"
  expect_error "run bias shape" 1 "bias of shape [1] expected, but $WORK/b2.npy has [2]" run "$CONV" --input "$X" --weight "$W" --bias "$WORK/b2.npy" --output "$OUT"
  expect_error "run input channels" 1 "to have 1 channels, but got 4 channels instead" run "$CONV_NB" --input "$WORK/x4.npy" --weight "$W" --output "$OUT"
  expect_error "run input rank" 1 "Expected" run "$CONV_NB" --input "$WORK/x9.npy" --weight "$W" --output "$OUT"
  expect_error "run f8" 1 "dtype '<f8' is not supported: convcl reads little-endian float32 ('<f4')" run "$CONV_NB" --input "$WORK/f8.npy" --weight "$W" --output "$OUT"
  expect_error "run big-endian" 1 "dtype '>f4' is not supported" run "$CONV_NB" --input "$WORK/be.npy" --weight "$W" --output "$OUT"
  expect_error "run fortran" 1 "fortran_order is True" run "$CONV_NB" --input "$WORK/fortran.npy" --weight "$W" --output "$OUT"
  expect_error "run truncated" 1 "truncated" run "$CONV_NB" --input "$WORK/trunc.npy" --weight "$W" --output "$OUT"
  expect_error "run extra data" 1 "unexpected data after the array" run "$CONV_NB" --input "$WORK/extra.npy" --weight "$W" --output "$OUT"
  expect_error "run six dims" 1 "more than 5 dimensions" run "$CONV_NB" --input "$WORK/dims6.npy" --weight "$W" --output "$OUT"
  expect_error "run huge shape" 1 "huge.npy" run "$CONV_NB" --input "$WORK/huge.npy" --weight "$W" --output "$OUT"
  expect_error "run not npy" 1 "not a .npy file" run "$CONV_NB" --input "$WORK/text.npy" --weight "$W" --output "$OUT"
  expect_error "run directory" 1 "is a directory" run "$CONV_NB" --input "$WORK" --weight "$W" --output "$OUT"
  expect_error "run missing input" 1 "No such file or directory" run "$CONV_NB" --input "$WORK/nope.npy" --weight "$W" --output "$OUT"
  expect_error "run missing weight" 1 "No such file or directory" run "$CONV_NB" --input "$X" --weight "$WORK/nope.npy" --output "$OUT"
  expect_error "run bad device" 1 "cannot open device 'nonsense'" run "$CONV_NB" --input "$X" --weight "$W" --output "$OUT" --device nonsense
  expect_error "run output size" 1 "valid sizes range from" run 'nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False)' --input "$WORK/t.npy" --weight "$WORK/ones2.npy" --output "$OUT" --output-size 6x6
  expect_error "run output dir" 1 "no_such_dir/y.npy" run "$CONV_NB" --input "$X" --weight "$W" --output "$WORK/no_such_dir/y.npy"
  if [ -e "$WORK/no_such_dir" ]; then fail "run output dir: directory created"; else pass; fi
  mkdir "$WORK/outdir"
  expect_error "run output is a directory" 1 "outdir" run "$CONV_NB" --input "$X" --weight "$W" --output "$WORK/outdir"
  if [ -z "$(ls -A "$WORK/outdir")" ] && ! compgen -G "$WORK/outdir.tmp-*" >/dev/null; then pass; else fail "run output is a directory: files left behind"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
