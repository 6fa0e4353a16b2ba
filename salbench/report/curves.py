"""Dataset-level metrics that are not a mean of per-image scalars, from the
per-image curves ``run --keep-curves`` stores: max F (and mean F under
``r3net``, whose F comes from the mean precision and recall), max E, max / mean
IoU and Dice. Each is a function of the *mean* per-image curves, so a
bootstrap resample (or an image subset) recomputes it from the weighted mean
of the stored curves: one matrix product for all resamples.

The values equal what :class:`salbench.metrics.Evaluator` computes for the
same images up to the order of the float64 summation (the Evaluator's sums
are exact; here NumPy sums, ~1e-16). The interval, paired comparison and
not-worse-than-best test of these metrics for :mod:`.analysis` are here too.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from salbench.report.bootstrap import (DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_p, holm,
                                       percentile_interval, resample_counts)
from salbench.store.schema import IMAGE_CURVE_ROWS

#: what the analysis says where a curve-aggregated metric has no stored curves
NEEDS_CURVES = "n/a (needs per-image curves)"

_ROW = {name: i for i, name in enumerate(IMAGE_CURVE_ROWS)}

#: result key -> (curve row, reduction over the 256 thresholds)
_CURVE_KEYS = {
    "max_f": ("f", "max"), "mean_f": ("f", "mean"), "max_e": ("e", "max"), "mean_e": ("e", "mean"),
    "max_iou": ("iou", "max"), "mean_iou": ("iou", "mean"),
    "max_dice": ("dice", "max"), "mean_dice": ("dice", "mean"),
}

#: loader of stored curves: (method, dataset) -> (image names, (n, 6, 256)) or None
CurveLoader = Callable[[str, str], "tuple[list[str], np.ndarray] | None"]


def covers(key: str) -> bool:
    """Whether ``key`` can be computed from stored per-image curves."""
    return key in _CURVE_KEYS


def from_mean_curves(mean: np.ndarray, key: str, protocol: str) -> np.ndarray:
    """``key`` of mean curves ``mean`` (``(..., 6, 256)``): one value per leading index."""
    from salbench.metrics import f_of
    from salbench.metrics.protocols import get_protocol

    row, how = _CURVE_KEYS[key]
    proto = get_protocol(protocol)
    if row == "f" and proto.f_aggregation == "curve_of_means":
        curve = f_of(mean[..., _ROW["precision"], :], mean[..., _ROW["recall"], :], proto.beta2)
    else:
        curve = mean[..., _ROW[row], :]
    return curve.max(axis=-1) if how == "max" else curve.mean(axis=-1)


def value(curves: np.ndarray, key: str, protocol: str) -> float:
    """``key`` over the images of ``curves`` (``(n, 6, 256)``)."""
    return float(from_mean_curves(curves.mean(axis=0), key, protocol))


def resampled(curves: np.ndarray, counts: np.ndarray, key: str, protocol: str) -> np.ndarray:
    """``key`` under each resample of ``counts`` (``(B, n)``): ``(B,)``."""
    n = curves.shape[0]
    flat = curves.reshape(n, -1)
    mean = (counts @ flat) / counts.sum(axis=1, keepdims=True)
    return from_mean_curves(mean.reshape((counts.shape[0],) + curves.shape[1:]), key, protocol)


def aligned(loader: CurveLoader | None, method: str, dataset: str,
            images) -> np.ndarray | None:
    """The stored curves of ``method`` on ``dataset`` for exactly ``images``, in
    that order, or None where any of them is missing."""
    if loader is None:
        return None
    got = loader(method, dataset)
    if got is None:
        return None
    names, arr = got
    index = {n: i for i, n in enumerate(names)}
    try:
        return arr[[index[i] for i in images]]
    except KeyError:
        return None


def store_loader(store, protocol: str) -> CurveLoader:
    """A cached :data:`CurveLoader` reading ``store`` under ``protocol``; the
    dataset may be named as stored or by its canonical name."""
    from salbench.data.datasets import canonical_name

    cache: dict = {}

    def load(method: str, dataset: str):
        key = (method, dataset)
        if key not in cache:
            got = store.image_curves(method, dataset, protocol)
            if got is None:
                for stored in store.curve_datasets(method, protocol):
                    if stored != dataset and canonical_name(stored) == canonical_name(dataset):
                        got = store.image_curves(method, stored, protocol)
                        break
            cache[key] = got
        return cache[key]
    return load


# -- statistics of curve-aggregated metrics (used by salbench.report.analysis) ---------

def interval(loader, sub, meth: str, ds: str, key: str, protocol: str, n_boot: int, seed: int,
             level: float) -> tuple:
    """The bootstrap interval of a curve-aggregated metric from stored
    per-image curves, or ``(None, None, NEEDS_CURVES)`` without them."""
    if not covers(key):
        return (None, None, NEEDS_CURVES)
    names = list(sub.loc[sub["method"] == meth, "image"])
    arr = aligned(loader, meth, ds, names) if names else None
    if arr is None:
        return (None, None, NEEDS_CURVES)
    lo, hi = percentile_interval(resampled(arr, resample_counts(len(names), n_boot, seed), key, protocol),
                                 level)
    return (float(lo), float(hi))


def _paired(loader, a: str, b: str, ds: str, common: list[str], key: str):
    """Both methods' stored curves of the ``common`` images (same order), or
    None where ``key`` is not curve-aggregated or either lacks them."""
    ca = aligned(loader, a, ds, common) if common and covers(key) else None
    cb = aligned(loader, b, ds, common) if ca is not None else None
    return None if cb is None else (ca, cb)


def _difference(ca: np.ndarray, cb: np.ndarray, counts: np.ndarray, key: str, protocol: str):
    """The resampled dataset-level differences A - B (the same resamples for both)."""
    return resampled(ca, counts, key, protocol) - resampled(cb, counts, key, protocol)


def comparison(loader, a: str, b: str, ds: str, common: list[str], key: str, protocol: str,
               counts: np.ndarray, level: float) -> dict:
    """Paired bootstrap of a curve-aggregated metric's difference A - B on
    the common images, or a note without stored curves."""
    pair = _paired(loader, a, b, ds, common, key)
    if pair is None:
        return {"note": NEEDS_CURVES}
    ca, cb = pair
    d_boot = _difference(ca, cb, counts, key, protocol)
    lo, hi = percentile_interval(d_boot, level)
    va, vb = value(ca, key, protocol), value(cb, key, protocol)
    return {"a": va, "b": vb, "diff": va - vb, "lo": float(lo), "hi": float(hi),
            "p": bootstrap_p(d_boot), "test": "paired bootstrap"}


def not_worse(per_image, dataset, metric, protocol, values, best, loader, alpha):
    """:func:`salbench.report.analysis.not_worse_than_best` of a curve-aggregated
    metric: paired bootstraps of the dataset-level difference to the best,
    Holm-corrected; ``(None, set())`` without stored curves."""
    if loader is None or not covers(metric):
        return None, set()
    sub = per_image[per_image["dataset"] == dataset]
    by_method = {m: set(sub.loc[sub["method"] == m, "image"]) for m in values}
    others = [m for m in values if m != best]
    ps = []
    for m in others:
        common = sorted(by_method[best] & by_method[m])
        pair = _paired(loader, best, m, dataset, common, metric)
        if pair is None:
            ps.append(math.nan)
            continue
        counts = resample_counts(len(common), DEFAULT_RESAMPLES, DEFAULT_SEED)
        ps.append(bootstrap_p(_difference(*pair, counts, metric, protocol)))
    if all(not math.isfinite(p) for p in ps):
        return None, set()
    adj = holm(ps)
    return best, {m for m, p in zip(others, adj) if math.isfinite(p) and p >= alpha}
