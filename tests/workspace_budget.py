#!/usr/bin/env python3
"""The CPU path's workspace bound: for every layer of every bench suite, every CPU
algorithm that can run it (and AUTO's choice) must take at most max(16 MiB, a quarter
of the input and output bytes) of workspace, at each thread count given, since the
solvers size their per-thread slots by the thread count. Workspace sizes come from
`convcl info --json`, which plans nothing.

Usage: workspace_budget.py CONVCL SUITES_DIR [--threads N ...]
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys

ALGOS = ["auto", "direct", "implicit_gemm", "depthwise", "transposed_gemm", "gemm",
         "winograd_2x2", "winograd_4x4"]


def budget(shape_in, shape_out):
    io = (math.prod(shape_in) + math.prod(shape_out)) * 4
    return max(16 << 20, io // 4)


def layers(suites_dir):
    for path in sorted(glob.glob(os.path.join(suites_dir, "*.txt"))):
        for line in open(path):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, spec, shape = (part.strip() for part in line.split("|"))
            yield os.path.basename(path)[:-4], name, spec, shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("convcl")
    ap.add_argument("suites")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 64])
    args = ap.parse_args()
    checked = failed = 0
    for threads in args.threads:
        env = dict(os.environ, CONVCL_NUM_THREADS=str(threads))
        for suite, name, spec, shape in layers(args.suites):
            for algo in ALGOS:
                r = subprocess.run([args.convcl, "info", spec, "--input", shape, "--device", "cpu",
                                    "--algo", algo, "--json"], env=env, capture_output=True,
                                   text=True)
                info = json.loads(r.stdout)
                dev = info["devices"][0]
                if "error" in dev:
                    # An algorithm that cannot run the layer; AUTO always can.
                    if algo == "auto" or "cannot run" not in dev["error"]:
                        print(f"FAIL {suite}/{name} {algo}: {dev['error']}")
                        failed += 1
                    continue
                limit = budget(info["input"], info["output"])
                checked += 1
                if dev["workspace_bytes"] > limit:
                    print(f"FAIL {suite}/{name} {algo} ({dev['algo']}) on {threads} threads: "
                          f"workspace {dev['workspace_bytes']} > {limit}")
                    failed += 1
    print(f"{checked} plans checked against the workspace budget, {failed} failed")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
