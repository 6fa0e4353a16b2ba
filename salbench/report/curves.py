"""Dataset-level metrics that are not a mean of per-image scalars, from the
per-image curves ``run --keep-curves`` stores: max F (and mean F under
``r3net``, whose F comes from the mean precision and recall), max E, max / mean
IoU and Dice. Each is a function of the *mean* per-image curves, so a
bootstrap resample (or an image subset) recomputes it from the weighted mean
of the stored curves: one matrix product for all resamples.

The values equal what :class:`salbench.metrics.Evaluator` computes for the
same images up to the order of the float64 summation (the Evaluator's sums
are exact; here NumPy sums, ~1e-16).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from salbench.store.schema import IMAGE_CURVE_ROWS

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
