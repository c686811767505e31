"""Issue 5's ResNet-50 targets from convcl-bench CSVs of --device cpu:1,cpu:2.

usage: python3 targets.py FILE.csv...

Per device and baseline, the geometric mean over the layers of ratio (baseline time
over convcl's: above 1, convcl is faster), its median and range over the files; then
each 3x3 stride-1 layer's ratio to oneDNN blocked on 2 threads, median and range.
"""
import csv
import math
import statistics
import sys


def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v))


suite, layers = {}, {}
for path in sys.argv[1:]:
    per = {}
    for r in csv.DictReader(open(path)):
        per.setdefault((r["device"], r["baseline"]), []).append(float(r["ratio"]))
        if (r["device"], r["baseline"]) == ("cpu:2", "onednn_blocked") and "3x3" in r["layer"] \
                and not r["layer"].endswith("_s2"):
            layers.setdefault(r["layer"], []).append(float(r["ratio"]))
    for key, ratios in per.items():
        suite.setdefault(key, []).append(geomean(ratios))
for (device, baseline), v in sorted(suite.items()):
    print(f"{device} vs {baseline}: median {statistics.median(v):.2f}, range {min(v):.2f}-{max(v):.2f}")
for layer, v in layers.items():
    print(f"{layer} on cpu:2 vs onednn_blocked: median {statistics.median(v):.2f}, "
          f"range {min(v):.2f}-{max(v):.2f}, under 1.2 in {sum(x < 1.2 for x in v)} of {len(v)}")
