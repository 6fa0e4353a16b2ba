"""Speed of the S-measure and weighted F-measure kernels against PySODMetrics 1.6.2.

Both are timed in the same run, single-threaded, on the same pairs: real SOD maps
(DSS by default) when the shared data is present, otherwise synthetic 400x300 pairs.
Inputs are prepared (PySODMetrics' normalisation) before timing; each side is timed on
its per-image call (``Smeasure.cal_sm`` / ``WeightedFmeasure.cal_wfm`` vs
``s_measure`` / ``weighted_f``, validation included). Prints pairs/s, ms/pair and the
speed-up ratio; also checks the values agree to 1e-10.

    python benchmarks/bench_structure.py [--pairs 50] [--repeat 3] [--method DSS] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def load_pairs(n: int, method: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from py_sod_metrics.utils import prepare_data

    root = Path(os.environ.get("SALBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    maps = sorted((root / "maps" / "SOD" / method).glob("*.png"))
    if maps:
        import cv2

        pairs = []
        for path in maps[:n]:
            pred = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            gt = cv2.imread(str(root / "SOD" / "gt" / path.name), cv2.IMREAD_GRAYSCALE)
            pairs.append(prepare_data(pred, gt))
        shapes = {p.shape for p, _ in pairs}
        return pairs, f"{len(pairs)} SOD/{method} pairs, shapes {sorted(shapes)[:3]}{'...' if len(shapes) > 3 else ''}"
    rng = np.random.default_rng(0)
    pairs = []
    yy, xx = np.mgrid[:300, :400]
    for _ in range(n):
        cy, cx, rad = rng.integers(80, 220), rng.integers(100, 300), rng.integers(30, 90)
        gt = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2
        u8 = np.clip((gt * 0.8 + rng.normal(0.1, 0.2, gt.shape)) * 255, 0, 255).astype(np.uint8)
        pairs.append(prepare_data(u8, gt.astype(np.uint8) * 255))
    return pairs, f"{n} synthetic 300x400 pairs (shared data not found)"


def best_time(fn, pairs, repeat: int, clock) -> tuple[float, list[float]]:
    best = float("inf")
    values: list[float] = []
    for _ in range(repeat):
        t0 = clock()
        values = [fn(p, g) for p, g in pairs]
        best = min(best, clock() - t0)
    return best, values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--method", default="DSS")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter; cpu: this thread's CPU time (steadier on a shared, loaded machine)",
    )
    args = ap.parse_args(argv)

    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    warnings.simplefilter("ignore")
    import py_sod_metrics as psm

    from salbench.metrics.kernels.structure import s_measure, weighted_f

    pairs, what = load_pairs(args.pairs, args.method)
    s_measure(*pairs[0])  # load / compile outside the timing
    weighted_f(*pairs[0])
    sm_ref, wfm_ref = psm.Smeasure(), psm.WeightedFmeasure()

    def ref_w(p, g):
        return 0.0 if not g.any() else float(wfm_ref.cal_wfm(p, g))

    rows = [
        ("S-measure", lambda p, g: float(sm_ref.cal_sm(p, g)), s_measure),
        ("weighted F", ref_w, weighted_f),
    ]
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    print(f"# {what}; best of {args.repeat}, {args.clock} clock; python {sys.version.split()[0]}, single thread")
    print(f"{'metric':<12} {'PySODMetrics':>22} {'salbench':>22} {'speed-up':>9} {'max |diff|':>11}")
    tot_ref = tot_ours = 0.0
    worst = 0.0
    for name, ref_fn, our_fn in rows:
        t_ref, v_ref = best_time(ref_fn, pairs, args.repeat, clock)
        t_our, v_our = best_time(our_fn, pairs, args.repeat, clock)
        diff = max((abs(a - b) for a, b in zip(v_ref, v_our) if not np.isnan(a)), default=0.0)
        worst = max(worst, diff)
        tot_ref += t_ref
        tot_ours += t_our
        n = len(pairs)
        print(
            f"{name:<12} {n / t_ref:8.1f} pairs/s {1e3 * t_ref / n:6.2f} ms"
            f" {n / t_our:8.1f} pairs/s {1e3 * t_our / n:6.2f} ms {t_ref / t_our:8.1f}x {diff:11.1e}"
        )
    n = len(pairs)
    print(
        f"{'both':<12} {n / tot_ref:8.1f} pairs/s {1e3 * tot_ref / n:6.2f} ms"
        f" {n / tot_ours:8.1f} pairs/s {1e3 * tot_ours / n:6.2f} ms {tot_ref / tot_ours:8.1f}x"
    )
    return 0 if worst <= 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
