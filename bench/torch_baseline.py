#!/usr/bin/env python3
"""Times PyTorch (CPU, or cuDNN on a CUDA GPU) on convcl-bench's layers and writes
convcl-bench's CSV columns, so its rows can be set beside convcl's (bench/plot.py merges
the files).

  /usr/bin/python3 bench/torch_baseline.py --suite resnet50 --threads 2 --output torch.csv
  /usr/bin/python3 bench/torch_baseline.py --suite quick --device cuda
  /usr/bin/python3 bench/torch_baseline.py --layer 'nn.Conv2d(3, 8, 3)' --input 1x3x64x64

Suites are the bench's files (bench/suites/NAME.txt, or a path): one layer a line,
'name | SPEC | input shape', '#' comments. SPEC is a PyTorch constructor call
(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), with or without nn./torch.nn.)
or a module repr (bare words such as padding=same are read as strings). It is parsed,
never executed: only the six convolution classes and literal arguments are accepted.

Each layer: one forward for first_ms, --warmup untimed, then --runs timed (median and
min), under torch.no_grad(), on random data resident on the device. GFLOP/s follows the
bench's convention (direct-convolution FLOPs: conv 2*N*K*(C/g)*prod(k)*prod(O),
transposed 2*N*C*(K/g)*prod(k)*prod(I)). On CUDA, TF32 is off so cuDNN computes in FP32
as convcl does; --verify shows it (max_rel_err about 1e-6; TF32 gives about 1e-4).
"""

import argparse
import ast
import copy
import csv
import os
import platform
import re
import statistics
import sys
import time

import torch
from torch import nn

COLUMNS = ["suite", "layer", "spec", "input", "device", "algo", "plan_cold_ms", "plan_warm_ms",
           "first_ms", "median_ms", "min_ms", "gflops", "peak_pct", "workspace_bytes",
           "max_rel_err", "baseline", "baseline_ms", "ratio", "note"]

CONV_CLASSES = {c.__name__: c for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                                        nn.ConvTranspose2d, nn.ConvTranspose3d)}
SUITES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suites")


class SpecError(ValueError):
    pass


def _literal(node):
    """A literal argument; a bare name (a repr's padding=same) is its string."""
    if isinstance(node, ast.Name):
        return node.id
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise SpecError("only literal arguments are allowed, got '%s'" % ast.unparse(node))


def parse_spec(text):
    """SPEC -> a convolution module, without evaluating any code."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise SpecError("not a constructor call: %s" % e.msg)
    if not isinstance(call, ast.Call):
        raise SpecError("expected a constructor call such as nn.Conv2d(3, 8, 3)")
    func, path = call.func, []
    while isinstance(func, ast.Attribute):
        path.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        raise SpecError("expected a convolution class name")
    path.insert(0, func.id)
    name = path[-1]
    if name not in CONV_CLASSES or path[:-1] not in ([], ["nn"], ["torch", "nn"]):
        raise SpecError("unknown module '%s' (expected one of %s)"
                        % (".".join(path), ", ".join(CONV_CLASSES)))
    args = [_literal(a) for a in call.args]
    kwargs = {k.arg: _literal(k.value) for k in call.keywords if k.arg is not None}
    if len(kwargs) != len(call.keywords):
        raise SpecError("**kwargs are not allowed")
    try:
        return CONV_CLASSES[name](*args, **kwargs)
    except (TypeError, ValueError, RuntimeError) as e:
        raise SpecError("%s: %s" % (name, e))


def parse_shape(text):
    """'1x3x224x224', '1,3,224,224' or '(1, 3, 224, 224)' -> list of ints."""
    parts = [p for p in re.split(r"[x,\s()]+", text.strip()) if p]
    if not 1 <= len(parts) <= 5 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpecError("input shape '%s': expected 1 to 5 positive integers like 1x3x224x224"
                        % text)
    return [int(p) for p in parts]


def suite_files(name):
    """The (suite name, path) pairs --suite NAME means, as convcl-bench resolves them."""
    if "/" in name or name.endswith(".txt"):
        return [(os.path.splitext(os.path.basename(name))[0], name)]
    if name == "all":
        names = sorted(f[:-4] for f in os.listdir(SUITES_DIR)
                       if f.endswith(".txt") and not f.startswith(".") and f != "quick.txt")
        return [(n, os.path.join(SUITES_DIR, n + ".txt")) for n in names]
    return [(name, os.path.join(SUITES_DIR, name + ".txt"))]


def read_suite(suite, path):
    layers = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [s.strip() for s in line.split("|")]
            if len(fields) != 3 or not fields[0]:
                raise SpecError("%s:%d: expected 'name | SPEC | input shape'" % (path, lineno))
            layers.append((suite, fields[0], fields[1], fields[2]))
    return layers


def flops(module, input_shape, output_shape):
    """Direct-convolution FLOPs, 2 per multiply-add, as convcl_conv_flops counts them."""
    k = 1
    for v in module.kernel_size:
        k *= v
    n = input_shape[0]
    spatial = input_shape[2:] if module.transposed else output_shape[2:]
    total = 2 * n * module.out_channels * module.in_channels // module.groups * k
    for v in spatial:
        total *= v
    return total


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fp32_only():
    """FP32 as convcl computes it: no TF32 in cuDNN's convolutions or in matmuls."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        # torch >= 2.9 has per-backend precision; mixing it with the allow_tf32 flags is
        # an error there, so only the new one is set.
        conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def max_rel_err(module, x, y):
    """max |y - ref| / max |ref|, ref = the same module in float64 on the CPU."""
    ref_module = copy.deepcopy(module).to("cpu", torch.float64)
    with torch.no_grad():
        ref = ref_module(x.to("cpu", torch.float64))
    scale = ref.abs().max().item()
    err = (y.to("cpu", torch.float64) - ref).abs().max().item()
    return err / scale if scale > 0 else err


def time_layer(module, x, device, warmup, runs):
    """(first_ms, [ms of each timed run], the first run's output)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def once():
            start.record()
            y = module(x)
            end.record()
            end.synchronize()
            return start.elapsed_time(end), y
    else:
        def once():
            t0 = time.perf_counter()
            y = module(x)
            return (time.perf_counter() - t0) * 1e3, y

    with torch.no_grad():
        first, y = once()
        for _ in range(warmup):
            once()
        times = [once()[0] for _ in range(runs)]
    return first, times, y


def default_threads():
    """What convcl's CPU path uses: CONVCL_NUM_THREADS, else every online processor."""
    text = os.environ.get("CONVCL_NUM_THREADS", "")
    return int(text) if text.isdigit() and int(text) > 0 else os.cpu_count() or 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", default=[],
                    help="suite name (bench/suites/NAME.txt), 'all', or a path; repeatable")
    ap.add_argument("--layer", action="append", default=[], help="a SPEC; pair with --input")
    ap.add_argument("--input", action="append", default=[], help="input shape of a --layer")
    ap.add_argument("--batch", type=int, help="override every layer's batch size")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="CPU threads (default: as convcl's CPU path, CONVCL_NUM_THREADS "
                         "or every online processor)")
    ap.add_argument("--verify", action="store_true",
                    help="fill max_rel_err: max |y - ref| / max |ref| against the layer in "
                         "float64 on the CPU")
    ap.add_argument("--output", help="CSV file (default stdout)")
    args = ap.parse_args()
    if len(args.layer) != len(args.input):
        ap.error("each --layer needs its --input")
    if not args.suite and not args.layer:
        ap.error("give --suite or --layer/--input")
    if args.runs < 1 or args.warmup < 0 or args.threads < 1 or (args.batch is not None
                                                                 and args.batch < 1):
        ap.error("--runs, --threads and --batch must be positive, --warmup not negative")

    try:
        layers = []
        for s in args.suite:
            for suite, path in suite_files(s):
                if not os.path.exists(path):
                    ap.error("unknown suite '%s': no file %s" % (s, path))
                layers += read_suite(suite, path)
        for i, (spec, shape) in enumerate(zip(args.layer, args.input), 1):
            layers.append(("cli", "layer%d" % i, spec, shape))
    except (OSError, SpecError) as e:
        print("torch_baseline: %s" % e, file=sys.stderr)
        return 1

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("torch_baseline: --device %s: CUDA is not available to this torch"
                  % args.device, file=sys.stderr)
            return 1
        # cuDNN picks its fastest algorithm per shape on the first call (first_ms
        # includes that search).
        fp32_only()
        torch.backends.cudnn.benchmark = True
        device_col, algo = "cuda:%d" % (device.index or 0), "cudnn"
        device_name = torch.cuda.get_device_name(device)
        note = "%s, torch %s" % (device_name, torch.__version__)
    elif device.type == "cpu":
        torch.set_num_threads(args.threads)
        device_col, algo = "torch-cpu", "torch"
        device_name = cpu_name()
        note = "torch %s, %d thread%s" % (torch.__version__, args.threads,
                                          "" if args.threads == 1 else "s")
    else:
        ap.error("--device must be cpu, cuda or cuda:N")
    print("torch %s, cuDNN %s, device %s (%s)" % (torch.__version__,
                                                   torch.backends.cudnn.version(), device_col,
                                                   device_name), file=sys.stderr)

    out = open(args.output, "w", newline="") if args.output else sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    torch.manual_seed(0)
    status = 0
    for i, (suite, name, spec, shape_text) in enumerate(layers, 1):
        row = dict.fromkeys(COLUMNS, "")
        row.update(suite=suite, layer=name, spec=spec, input=shape_text, device=device_col,
                   algo=algo, note=note)
        try:
            module = parse_spec(spec)
            shape = parse_shape(shape_text)
            if len(shape) == len(module.kernel_size) + 1:
                shape = [1] + shape  # unbatched, as PyTorch and convcl-bench take it
            if args.batch:
                shape[0] = args.batch
            row["input"] = "x".join(map(str, shape))
            module = module.to(device).eval()
            x = torch.randn(shape, device=device)
            first, times, y = time_layer(module, x, device, args.warmup, args.runs)
            median = statistics.median(times)
            row.update(first_ms="%.4f" % first, median_ms="%.4f" % median,
                       min_ms="%.4f" % min(times),
                       gflops="%.3f" % (flops(module, shape, list(y.shape)) / (median * 1e6)))
            if args.verify:
                row["max_rel_err"] = "%.3g" % max_rel_err(module, x, y)
            print("[%d/%d] %s/%s: %.3f ms, %s GFLOP/s%s"
                  % (i, len(layers), suite, name, median, row["gflops"],
                     ", max_rel_err " + row["max_rel_err"] if args.verify else ""),
                  file=sys.stderr)
        except (SpecError, RuntimeError, ValueError, TypeError) as e:
            row["note"] = "failed: %s" % str(e).splitlines()[0]
            print("[%d/%d] %s/%s: %s" % (i, len(layers), suite, name, row["note"]),
                  file=sys.stderr)
            status = 1
        writer.writerow([row[c] for c in COLUMNS])
        out.flush()
    if out is not sys.stdout:
        out.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
