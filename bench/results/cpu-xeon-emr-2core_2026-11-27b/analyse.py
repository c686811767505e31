"""Thread scaling against what two independent copies get, from copies.sh output.

usage: python3 analyse.py copies-run*.txt

A layer's 1-thread time is the harmonic mean of its two alone times (one per core), so
neither core's speed of the moment counts double. "copies" is the throughput of two
1-thread copies running at once, one per core, over that time; "2T" is that time over
the 2-thread run's. Figures are medians over the repetitions, then geometric means
over the layers.
"""
import collections
import math
import sys

copies = collections.defaultdict(list)
two = collections.defaultdict(list)
for path in sys.argv[1:]:
    for line in open(path):
        if not line.strip():
            continue
        name, _, a0, a1, b0, b1, t2 = line.split()
        a0, a1, b0, b1, t2 = map(float, (a0, a1, b0, b1, t2))
        single = 2 / (1 / a0 + 1 / a1)
        copies[name].append(single / b0 + single / b1)
        two[name].append(single / t2)


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v))


print(f"{'layer':24s} {'copies':>7s} {'2T':>6s} {'2T/copies':>10s}")
for name in copies:
    c, t = median(copies[name]), median(two[name])
    print(f"{name:24s} {c:7.2f} {t:6.2f} {t / c:10.2f}")
c = geomean([median(v) for v in copies.values()])
t = geomean([median(v) for v in two.values()])
print(f"{'geomean':24s} {c:7.2f} {t:6.2f} {t / c:10.2f}")
