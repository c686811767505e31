#!/usr/bin/env python3
"""PyTorch conformance through the CLI: random layers, fresh each seed, run by
`convcl run` on each device and compared with PyTorch (a quarter with "+relu", checked
against torch.relu); random invalid layers must be
refused by both, convcl with a message and exit status 1 or 2 (never a signal).

Usage: conformance.py CONVCL [--count N] [--seed S] [--device D ...]
Needs PyTorch and NumPy (Debian's python3-torch); exits 77 (skipped) without them.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:  # CTest counts 77 as skipped
    print(f"skipped: {e}")
    sys.exit(77)

# max |convcl - torch| / max |torch|, the bound the issue sets for every layer.
TOLERANCE = 1e-4


def tup(v):
    return v[0] if len(set(v)) == 1 and random.random() < 0.5 else tuple(v)


def random_layer(rng):
    """A random layer as constructor kwargs, its class and an input shape; may be invalid."""
    rank = rng.choice([1, 2, 3])
    transposed = rng.random() < 0.3
    groups = rng.choice([1, 1, 1, 2, 3, 4])
    cin = groups * rng.randint(1, 3)
    cout = groups * rng.randint(1, 3)
    if rng.random() < 0.05:
        cin += 1  # groups no longer divides in_channels
    small = [1, 2, 3, 5, 8, 13, 21] if rank < 3 else [1, 2, 3, 5, 7]
    spatial = [rng.choice(small) for _ in range(rank)]
    kernel = [rng.choice([1, 1, 2, 3, 3, 4, 5]) for _ in range(rank)]
    stride = [rng.choice([1, 1, 1, 2, 3]) for _ in range(rank)]
    dilation = [rng.choice([1, 1, 1, 2, 3]) for _ in range(rank)]
    kwargs = dict(kernel_size=tup(kernel), stride=tup(stride), dilation=tup(dilation),
                  groups=groups, bias=rng.random() < 0.7)
    if transposed:
        kwargs["padding"] = tup([rng.randint(0, 3) for _ in range(rank)])
        kwargs["output_padding"] = tup([rng.randint(0, 2) for _ in range(rank)])
    else:
        kind = rng.random()
        if kind < 0.15:
            kwargs["padding"] = "same"
        elif kind < 0.25:
            kwargs["padding"] = "valid"
        else:
            kwargs["padding"] = tup([rng.randint(0, 4) for _ in range(rank)])
        kwargs["padding_mode"] = rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
    cls = getattr(nn, f"{'ConvTranspose' if transposed else 'Conv'}{rank}d")
    shape = [rng.randint(1, 3), cin] + spatial
    return cls, cin, cout, kwargs, shape


def spec_text(rng, cls, cin, cout, kwargs, module):
    """Alternates between PyTorch's repr and a constructor call a user would write."""
    if rng.random() < 0.5:
        return repr(module)
    prefix = rng.choice(["", "nn.", "torch.nn."])
    args = [str(cin), str(cout)]
    for key, value in kwargs.items():
        args.append(f"{key}={value!r}")
    return f"{prefix}{cls.__name__}({', '.join(args)})"


def save(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("convcl")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--device", action="append")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    devices = args.device or ["cpu", "opencl"]
    probe = subprocess.run([args.convcl, "devices"], capture_output=True, text=True)
    if "opencl:" not in probe.stdout and "opencl" in devices:
        print("no OpenCL device: checking the CPU path only")
        devices = [d for d in devices if d != "opencl"]
    print(f"seed {seed}, {args.count} layers, devices {devices}")

    ran = refused = failures = 0
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        x_path, w_path, b_path, y_path = (os.path.join(tmp, n) for n in ("x.npy", "w.npy", "b.npy", "y.npy"))
        for i in range(args.count):
            cls, cin, cout, kwargs, shape = random_layer(rng)
            relu = rng.random() < 0.25
            x = torch.randn(shape)
            module = want = err = None
            try:
                module = cls(cin, cout, **kwargs)
                with torch.no_grad():
                    y = module.double()(x.double())
                    want = (torch.relu(y) if relu else y).numpy()
            except (ValueError, RuntimeError) as e:
                err = e
            spec = spec_text(rng, cls, cin, cout, kwargs, module) if module else \
                f"nn.{cls.__name__}({cin}, {cout}, " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
            if relu:
                spec += rng.choice(["+relu", " + nn.ReLU()"])
            save(x_path, x.numpy())
            # A layer PyTorch builds but cannot run gets its real weights, so convcl must
            # refuse it for the same reason, not for a weight file that does not fit.
            save(w_path, module.weight.detach().numpy() if module else np.zeros([1]))
            has_bias = module is not None and module.bias is not None
            if has_bias:
                save(b_path, module.bias.detach().numpy())
            for device in devices:
                cmd = [args.convcl, "run", spec, "--input", x_path, "--weight", w_path,
                       "--output", y_path, "--device", device]
                if has_bias:
                    cmd[cmd.index("--output"):cmd.index("--output")] = ["--bias", b_path]
                if os.path.exists(y_path):
                    os.unlink(y_path)
                proc = subprocess.run(cmd, capture_output=True, text=True)
                where = f"layer {i} ({spec}, input {shape}) on {device}"
                if err is not None:
                    if proc.returncode not in (1, 2) or not proc.stderr.strip() or os.path.exists(y_path):
                        failures += 1
                        print(f"FAIL {where}: PyTorch refuses ({err}) but convcl exited "
                              f"{proc.returncode}: {proc.stderr.strip()}")
                    else:
                        refused += 1
                    continue
                if proc.returncode != 0:
                    failures += 1
                    print(f"FAIL {where}: exit {proc.returncode}: {proc.stderr.strip()}")
                    continue
                got = np.load(y_path)
                scale = max(float(np.abs(want).max()), 1e-30)
                rel = float(np.abs(got.astype(np.float64) - want).max()) / scale if got.shape == want.shape else float("inf")
                if not rel <= TOLERANCE:
                    failures += 1
                    print(f"FAIL {where}: shape {got.shape} vs {want.shape}, max relative error {rel:.3g}")
                else:
                    ran += 1
                    worst = max(worst, rel)
    print(f"seed {seed}: {ran} runs matched PyTorch (worst max relative error {worst:.3g}), "
          f"{refused} invalid layers refused")
    print(f"{ran + refused} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
