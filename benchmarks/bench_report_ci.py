"""Benchmark: `salbench report --ci` (1000 resamples) on 20 methods x 5 datasets
with the registered test-set sizes (ECSSD 1000, HKU-IS 4447, PASCAL-S 850,
SOD 300, DUT-OMRON 5168 images), synthetic per-image scores in a fresh store.
Prints the time of the report command (store building not counted).

    python benchmarks/bench_report_ci.py [--methods 20] [--metrics mae,S,meanF,wF,meanE,maxF]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from salbench.commands import report
from salbench.store.results import ResultsStore

SIZES = {"ECSSD": 1000, "HKU-IS": 4447, "PASCAL-S": 850, "SOD": 300, "DUT-OMRON": 5168}
KEYS = ("mae", "max_f", "mean_f", "adp_f", "s_measure", "max_e", "mean_e", "adp_e", "weighted_f")

ap = argparse.ArgumentParser()
ap.add_argument("--methods", type=int, default=20)
ap.add_argument("--metrics", default="mae,S,meanF,wF,meanE,maxF")
a = ap.parse_args()
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as d:
    path = Path(d) / "results" / "salbench.sqlite"
    t = time.perf_counter()
    with ResultsStore(path) as s:
        for m in range(a.methods):
            for ds, n in SIZES.items():
                vals = rng.uniform(0, 1, (n, len(KEYS)))
                per = {f"img{i:05d}": dict(zip(KEYS, map(float, vals[i]))) for i in range(n)}
                summ = {"count": n, **{k: float(vals[:, j].mean()) for j, k in enumerate(KEYS)}}
                s.put_results(f"method{m:02d}", ds, "pysodmetrics", summ, per)
    print(f"store with {a.methods} methods x {len(SIZES)} datasets "
          f"({a.methods * sum(SIZES.values())} per-image rows) built in {time.perf_counter() - t:.1f} s")
    args = argparse.ArgumentParser()
    report.add_arguments(args)
    ns = args.parse_args(["--results", str(path.parent), "--ci", "--metrics", a.metrics,
                          "-o", str(Path(d) / "out.md")])
    t = time.perf_counter()
    report.main(ns)
    dt = time.perf_counter() - t
    print(f"salbench report --ci (1000 resamples, metrics {a.metrics}): {dt:.2f} s")
