"""Speed of the HCE, context-measure and relaxed-boundary-F families against
PySODMetrics 1.6.2 on real SOD published-map pairs.

A pass runs the reference class's ``step()`` over all the pairs (on the uint8
pair, as it is called), another runs the family's ``image()`` over them (on
the prepared :class:`ImageInput`); the two alternate ``--repeat`` times and the
fastest pass of each is kept (the machine is shared). Printed: ms per image and
the ratio.
The cost of building the ImageInput (shared by all families) is printed apart.

    python benchmarks/bench_families_dis.py [--n 30] [--repeat 3]

Needs ``$SALBENCH_SHARED_DATA`` (or ``../shared/data``) and pysodmetrics.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import SOD_MAP_SETS as METHODS, sod_triples  # noqa: E402  (the tests' real-data loader)
from salbench.metrics.families.base import image_input
from salbench.metrics.families.boundary import RelaxedBoundaryFamily
from salbench.metrics.families.context import ContextFamily
from salbench.metrics.families.hce import HCEFamily



def load_pairs(root: Path, n: int):
    """``n`` (map, GT, RGB image) triples: SOD images at an even stride, the
    methods in turn (the tests' loader)."""
    gts = sorted((root / "SOD" / "gt").glob("*.png"))
    return sod_triples(root, n, max(1, len(gts) // n))


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def compare(name, items, xs, ref_factory, ref_call, ours, repeat):
    """Per-image mean of the best of ``repeat`` passes over all the images, the
    reference's pass and ours alternating."""
    t_ref = t_ours = np.inf
    for _ in range(repeat):
        t_ref = min(t_ref, _best(lambda: [ref_call(ref_factory(), p, g, im) for p, g, im in items], 1))
        t_ours = min(t_ours, _best(lambda: [ours(x) for x in xs], 1))
    n = len(items)
    print(f"{name:<28} ours {1e3 * t_ours / n:8.2f} ms/img   PySODMetrics {1e3 * t_ref / n:8.2f} ms/img"
          f"   ratio {t_ref / t_ours:6.1f}x")
    return t_ref / n, t_ours / n


def main(argv=None) -> None:
    import py_sod_metrics as psm
    from py_sod_metrics.context_measure import CamouflageContextMeasure, ContextMeasure

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    root = Path(os.environ.get("SALBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    items = load_pairs(root, args.n)
    xs = []
    for p, g, im in items:
        x = image_input(p, g)
        xs.append(x)
    t_in = sum(_best(lambda: image_input(p, g), args.repeat) for p, g, _ in items) / len(items)
    print(f"{len(items)} SOD pairs ({', '.join(METHODS)}), best of {args.repeat}; "
          f"ImageInput build {1e3 * t_in:.2f} ms/img (shared by all families, not counted below)")

    hce, ctx, bnd = HCEFamily(), ContextFamily(), RelaxedBoundaryFamily()
    for x, (_, _, im) in zip(xs[:2], items[:2]):  # compile / warm up
        hce.image(x)
        bnd.image(x)
        x.image = im
        ctx.image(x)
        x.image = None

    def with_image(x, im):
        x.image = im
        try:
            return ctx.image(x)
        finally:
            x.image = None

    compare("HCE", items, xs, psm.HumanCorrectionEffortMeasure,
            lambda r, p, g, im: r.step(p, g), hce.image, args.repeat)
    compare("context cm (no image)", items, xs, ContextMeasure,
            lambda r, p, g, im: r.step(p, g), ctx.image, args.repeat)
    images = {id(x): im for x, (_, _, im) in zip(xs, items)}
    compare("context cm + cm_w", items, xs, lambda: (ContextMeasure(), CamouflageContextMeasure()),
            lambda r, p, g, im: (r[0].step(p, g), r[1].step(p, g, img=im)),
            lambda x: with_image(x, images[id(x)]), args.repeat)
    t_b = sum(_best(lambda: bnd.image(x), args.repeat) for x in xs) / len(xs)
    print(f"{'relaxed boundary F':<28} ours {1e3 * t_b:8.2f} ms/img   (no reference implementation)")


if __name__ == "__main__":
    main()
