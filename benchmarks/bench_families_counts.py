"""Speed of the fmv2, si and msiou families against PySODMetrics 1.6.2.

For each family, on the same (map, GT) pairs in the same run: our
``family.image(x)`` plus ``Accumulator.add`` per image (``x`` built
beforehand by ``image_input``, which is timed separately), against the
reference class's ``step()`` with every handler the family reports. Then
the cost as ``salbench eval`` pays it: ``Evaluator(metrics=family).update``
minus ``Evaluator().update`` per image (the histogram pass is shared; 8-bit
maps build the float map only if the family reads it), against the same
reference.

    python benchmarks/bench_families_counts.py [--pairs 20] [--msiou-pairs 3] [--repeat 3]

Uses the SOD maps under ``$SALBENCH_SHARED_DATA`` (random 400x300 pairs when
absent). Prints per-image milliseconds and the ratios.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

import py_sod_metrics as ps
from salbench.metrics.families.base import Accumulator, image_input
from salbench.metrics.families.confusion import BASE, FmeasureV2Family
from salbench.metrics.families.msiou import MSIoUFamily
from salbench.metrics.families.size_invariance import SizeInvarianceFamily

HANDLERS = {"precision": ps.PrecisionHandler, "recall": ps.RecallHandler, "fm": ps.FmeasureHandler,
            "f1": ps.FmeasureHandler, "iou": ps.IOUHandler, "dice": ps.DICEHandler, "ber": ps.BERHandler,
            "kappa": ps.KappaHandler, "oa": ps.OverallAccuracyHandler, "specificity": ps.SpecificityHandler,
            "fpr": ps.FPRHandler}
assert tuple(HANDLERS) == BASE


def load_pairs(n: int):
    """``n`` SOD (map, GT) pairs cycling over four methods, or random ones."""
    root = os.environ.get("SALBENCH_SHARED_DATA")
    if root and (Path(root) / "maps" / "SOD").is_dir():
        from PIL import Image

        root = Path(root)
        ids = sorted(f.stem for f in (root / "SOD" / "gt").glob("*.png"))[:n]
        methods = ("DSS", "RBD", "Amulet", "GS")
        return "SOD", [(np.asarray(Image.open(root / "maps" / "SOD" / methods[k % 4] / f"{i}.png").convert("L")),
                        np.asarray(Image.open(root / "SOD" / "gt" / f"{i}.png").convert("L")))
                       for k, i in enumerate(ids)]
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(n):
        g = np.zeros((300, 400), np.uint8)
        g[60:200, 100:300] = 255
        pairs.append((rng.integers(0, 256, (300, 400), dtype=np.uint8), g))
    return "random 400x300", pairs


def ref_fmv2():
    """PySODMetrics FmeasureV2 with every handler fmv2 reports."""
    hs = {}
    for m, h in HANDLERS.items():
        kw = {"beta": 1} if m == "f1" else {}
        hs[m] = h(with_dynamic=True, with_adaptive=True, with_binary=True, sample_based=True, **kw)
        hs["ds_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=False, **kw)
    return [ps.FmeasureV2(metric_handlers=hs)]


def ref_si():
    """PySODMetrics SizeInvarianceFmeasureV2 (every si handler) and SizeInvarianceMAE."""
    hs = {}
    for m, h in HANDLERS.items():
        kw = {"beta": 1} if m == "f1" else {}
        hs["s_" + m] = h(with_dynamic=True, with_adaptive=True, **kw)
        hs["sb_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=True, **kw)
        hs["o_" + m] = h(with_dynamic=True, with_adaptive=False, sample_based=False, **kw)
        hs["ob_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=False, **kw)
    return [ps.SizeInvarianceFmeasureV2(metric_handlers=hs), ps.SizeInvarianceMAE()]


def ref_msiou():
    """PySODMetrics MSIoU with dynamic, adaptive and binary results."""
    return [ps.MSIoU(with_dynamic=True, with_adaptive=True, with_binary=True)]


def time_ours(family, inputs, repeat):
    """Best of ``repeat`` runs: seconds per image of image() + add()."""
    best = float("inf")
    for _ in range(repeat):
        for x in inputs:
            x.cache.clear()
        acc = Accumulator(family)
        t0 = time.perf_counter()
        for x in inputs:
            acc.add(family.image(x)[1])
        best = min(best, (time.perf_counter() - t0) / len(inputs))
    return best


def time_ref(make, pairs, repeat):
    """Best of ``repeat`` runs: seconds per image of the reference step()s."""
    best = float("inf")
    for _ in range(repeat):
        objs = make()
        t0 = time.perf_counter()
        for p, g in pairs:
            for o in objs:
                o.step(p, g)
        best = min(best, (time.perf_counter() - t0) / len(pairs))
    return best


def time_marginal(name, pairs, repeat):
    """Best of ``repeat``: seconds per image that ``Evaluator(metrics=name)``
    adds to a classic ``Evaluator`` (both on the same uint8 pairs)."""
    from salbench.metrics import Evaluator

    def run(metrics):
        best = float("inf")
        for _ in range(repeat):
            ev = Evaluator(metrics=metrics)
            t0 = time.perf_counter()
            for p, g in pairs:
                ev.update(p, g)
            best = min(best, (time.perf_counter() - t0) / len(pairs))
        return best
    run(name)  # warm
    return run(name) - run(())


def main() -> None:
    """Time the three families and print the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--msiou-pairs", type=int, default=3, help="the reference MSIoU takes ~1 s per image")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    source, pairs = load_pairs(args.pairs)
    print(f"data: {source}, {len(pairs)} pairs, shape of first {pairs[0][0].shape}")
    t0 = time.perf_counter()
    inputs = [image_input(p, g) for p, g in pairs]
    t_in = (time.perf_counter() - t0) / len(pairs)
    print(f"image_input (reference NumPy construction): {t_in * 1e3:.3f} ms/image")
    for fam_cls, make, n in ((FmeasureV2Family, ref_fmv2, len(pairs)), (SizeInvarianceFamily, ref_si, len(pairs)),
                             (MSIoUFamily, ref_msiou, min(args.msiou_pairs, len(pairs)))):
        fam = fam_cls()
        time_ours(fam, inputs[:1], 1)  # JIT / cache load
        ours = time_ours(fam, inputs[:n], args.repeat)
        ref = time_ref(make, pairs[:n], 1 if fam.name == "msiou" else args.repeat)
        print(f"{fam.name:6s} {n:3d} images: ours {ours * 1e3:8.3f} ms/image, PySODMetrics {ref * 1e3:9.3f} "
              f"ms/image, ratio {ref / ours:7.1f}x (with image_input: {ref / (ours + t_in):6.1f}x)")
        extra = time_marginal(fam.name, pairs[:n], args.repeat)
        print(f"{'':6s} in the Evaluator: +{extra * 1e3:7.3f} ms/image over the classic set, ratio "
              f"{ref / extra:7.1f}x")


if __name__ == "__main__":
    main()
