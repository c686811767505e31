#!/usr/bin/env python3
"""Geometric means of convcl-bench CSVs against a baseline CSV measured apart, such as
bench/torch_baseline.py's cuDNN rows: per (device, algo) series of the convcl CSVs, the
GFLOP/s geomean over its layers and the geomean of baseline_ms / convcl_ms (convcl's
speed as a multiple of the baseline's, above 1: convcl is faster) over the layers both
measured. A series name gets the file's tag when given as FILE=TAG.

  python3 bench/compare.py --baseline cudnn.csv convcl.csv tuned.csv=tuned
"""

import argparse
import csv
import math
import sys


def rows(path):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                median = float(row["median_ms"])
            except (KeyError, ValueError):
                continue
            if median > 0:
                yield row, median


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="CSV whose rows are the baseline")
    ap.add_argument("csv", nargs="+", help="convcl-bench CSV, optionally FILE=TAG")
    args = ap.parse_args()
    base = {}
    for row, median in rows(args.baseline):
        base.setdefault((row["suite"], row["layer"], row["input"]), median)
    series = {}
    for item in args.csv:
        path, _, tag = item.partition("=")
        for row, median in rows(path):
            # Baseline rows the bench repeats per baseline time the same run: keep one.
            name = "%s %s%s" % (row["device"], row["algo"], " (%s)" % tag if tag else "")
            key = (row["suite"], row["layer"], row["input"])
            series.setdefault(name, {}).setdefault(key, (median, float(row["gflops"])))
    print("%-40s %7s %10s %12s" % ("series", "layers", "GFLOP/s", "vs baseline"))
    for name, layers in series.items():
        ratios = [base[k] / m for k, (m, _) in layers.items() if k in base]
        print("%-40s %7d %10.1f %11.3fx (%d layers)" % (
            name, len(layers), geomean([g for _, g in layers.values()]), geomean(ratios),
            len(ratios)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
