"""ResNet-50 thread scaling from convcl-bench CSVs of --device cpu:1,cpu:2.

usage: python3 scaling.py FILE.csv...

Per file (one run): the geometric mean over the layers of (time on 1 thread / time on
2 threads) for convcl and for each oneDNN baseline, each against itself, and convcl's
over oneDNN blocked's; then the medians over the files.
"""
import csv
import math
import statistics
import sys


def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v))


columns = ("convcl", "onednn_blocked", "onednn_nchw", "convcl/blocked")
runs = []
for path in sys.argv[1:]:
    convcl, base = {}, {}
    for r in csv.DictReader(open(path)):
        convcl[r["layer"], r["device"]] = float(r["median_ms"])
        base[r["layer"], r["device"], r["baseline"]] = float(r["baseline_ms"])
    layers = sorted({layer for layer, _ in convcl})
    c = geomean([convcl[l, "cpu:1"] / convcl[l, "cpu:2"] for l in layers])
    b = geomean([base[l, "cpu:1", "onednn_blocked"] / base[l, "cpu:2", "onednn_blocked"] for l in layers])
    n = geomean([base[l, "cpu:1", "onednn_nchw"] / base[l, "cpu:2", "onednn_nchw"] for l in layers])
    runs.append((c, b, n, c / b))
    print(f"{path}: " + "  ".join(f"{k} {v:.2f}" for k, v in zip(columns, runs[-1])))
print(f"{len(runs)} runs, medians: " +
      "  ".join(f"{k} {statistics.median(r[i] for r in runs):.2f}" for i, k in enumerate(columns)))
print("ranges: " + "  ".join(f"{k} {min(r[i] for r in runs):.2f}-{max(r[i] for r in runs):.2f}"
                            for i, k in enumerate(columns)))
