#!/usr/bin/env python3
"""Draws convcl-bench CSVs as a PNG: GFLOP/s per layer, one bar series per convcl
(device, algo) and per baseline, a dashed line at each device's measured peak.

  /usr/bin/python3 bench/plot.py results/cpu.csv [torch.csv ...] -o results/cpu.png

Several CSVs are merged by (suite, layer), so a bench/torch_baseline.py CSV overlays its
'torch-cpu'/'cuda:0' rows on convcl's. A baseline's GFLOP/s is the row's GFLOP/s scaled
by convcl's time over the baseline's (the same FLOPs, the baseline's time). Peak
GFLOP/s = gflops / (peak_pct / 100) from any row of that device.
"""

import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def load(paths):
    """(layer keys in first-seen order, {series: {layer key: GFLOP/s}} in first-seen
    order, {device: peak GFLOP/s}, {device: its first convcl series})."""
    layers, series, peaks, own = [], {}, {}, {}

    def put(name, key, value):
        # A layer measured twice for one series (a rerun in a second file) shows its best.
        s = series.setdefault(name, {})
        s[key] = max(value, s.get(key, 0.0))

    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = (row.get("suite", ""), row.get("layer", ""))
                gflops, median = number(row.get("gflops")), number(row.get("median_ms"))
                if gflops is None:
                    continue
                if key not in layers:
                    layers.append(key)
                device = row.get("device", "")
                name = "%s %s" % (device, row.get("algo", ""))
                put(name, key, gflops)
                own.setdefault(device, name)
                peak_pct = number(row.get("peak_pct"))
                if peak_pct is not None:
                    peaks.setdefault(device, gflops / (peak_pct / 100.0))
                baseline_ms = number(row.get("baseline_ms"))
                if row.get("baseline") and baseline_ms is not None and median is not None:
                    put("%s (%s)" % (row["baseline"], device), key,
                        gflops * median / baseline_ms)
    return layers, series, peaks, own


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", nargs="+", help="convcl-bench or torch_baseline.py CSV files")
    ap.add_argument("-o", "--output", required=True, help="PNG to write")
    ap.add_argument("--title", default="convcl-bench: GFLOP/s per layer")
    args = ap.parse_args()

    try:
        layers, series, peaks, own = load(args.csv)
    except (OSError, csv.Error) as e:
        print("plot: %s" % e, file=sys.stderr)
        return 1
    if not layers:
        print("plot: no measured rows (with gflops) in %s" % ", ".join(args.csv), file=sys.stderr)
        return 1

    # Suite names matter only when layers come from more than one suite.
    suites = {s for s, _ in layers}
    labels = ["%s/%s" % k if len(suites) > 1 else k[1] for k in layers]
    # First-seen order keeps each device's convcl series beside its baselines.
    names = list(series)
    n = len(names)
    width = 0.8 / n
    fig_w = min(48.0, max(10.0, len(layers) * (0.3 + 0.12 * n)))
    fig, ax = plt.subplots(figsize=(fig_w, 7.5))
    colors = plt.get_cmap("tab20" if n > 10 else "tab10")
    for i, name in enumerate(names):
        xs = [j + (i - (n - 1) / 2) * width for j, k in enumerate(layers) if k in series[name]]
        ys = [series[name][k] for k in layers if k in series[name]]
        ax.bar(xs, ys, width, label=name, color=colors(i % colors.N))
    for device, peak in peaks.items():
        # The peak line takes the colour of the device's own bars.
        ax.axhline(peak, linestyle="--", linewidth=1.4,
                   color=colors(names.index(own[device]) % colors.N),
                   label="peak %s (%.0f GFLOP/s)" % (device, peak))

    ax.set_yscale("log")
    values = [v for s in series.values() for v in s.values()] + list(peaks.values())
    ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    ax.set_ylabel("GFLOP/s (direct-convolution FLOPs / median time, log scale)")
    ax.set_title(args.title)
    ax.grid(axis="y", which="major", alpha=0.4)
    ax.legend(fontsize=8, ncol=2 if n + len(peaks) > 6 else 1, loc="upper left",
              bbox_to_anchor=(1.005, 1.0))
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print("plot: wrote %s (%d layers, %d series)" % (args.output, len(layers), n),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
