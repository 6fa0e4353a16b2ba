"""Validated entry points of the two structure-aware metrics, S-measure
(:mod:`.smeasure`) and weighted F-measure (:mod:`.wfmeasure`), with the JIT
kernels. They take the map *after* PySODMetrics' normalisation (float64 in
[0, 1]) and the binarised GT (bool), check them once and call single-threaded
``nogil`` kernels, so callers may run them in threads. 8-bit maps (what
``salbench eval`` reads) take a faster route in :mod:`salbench.metrics.pair`:
S-measure from per-quadrant histograms and the weighted F on the map's values
looked up from its 256-entry table (:mod:`.host`).
"""

from __future__ import annotations

import numpy as np

from salbench.metrics.kernels import host
from salbench.metrics.kernels.smeasure import _s_measure_kernel
from salbench.metrics.kernels.wfmeasure import _weighted_f_kernel

__all__ = ["s_measure", "weighted_f", "s_and_weighted_f", "s_measure_from_hist", "weighted_f_u8"]


def _jit():
    from salbench.metrics.kernels import build

    return build.jit_kernels()



def _validate(pred, gt, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pred, np.ndarray) or not isinstance(gt, np.ndarray):
        raise ValueError(f"{name}: pred and gt must be numpy arrays, got {type(pred).__name__} and {type(gt).__name__}")
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"{name}: pred and gt must be 2-D, got shapes {pred.shape} and {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"{name}: shape mismatch, pred {pred.shape} vs gt {gt.shape}")
    if pred.size == 0:
        raise ValueError(f"{name}: empty image of shape {pred.shape}")
    if pred.dtype != np.float64:
        raise ValueError(f"{name}: pred must be float64 (the normalised map), got {pred.dtype}")
    if gt.dtype != np.bool_:
        raise ValueError(f"{name}: gt must be bool (the binarised ground truth), got {gt.dtype}")
    # the kernels are compiled for writeable C-contiguous arrays: copy other layouts
    # and read-only arrays (the kernels never write into their inputs)
    pred = np.require(pred, requirements=("C", "W"))
    gt = np.require(gt, requirements=("C", "W"))
    # NumPy's SIMD min / max (a NaN makes both comparisons false); the message is
    # worked out only on failure
    if not (pred.min() >= 0.0 and pred.max() <= 1.0):
        n_nan = int(np.isnan(pred).sum())
        if n_nan:
            raise ValueError(f"{name}: pred contains NaN ({n_nan} pixels)")
        raise ValueError(f"{name}: pred values must lie in [0, 1], got range [{pred.min()!r}, {pred.max()!r}]")
    return pred, gt


def s_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    """S-measure of one map, as PySODMetrics 1.6.2 ``Smeasure`` (α = ``numeric.S_ALPHA``).

    ``pred``: float64 2-D in [0, 1], already normalised as PySODMetrics does;
    ``gt``: bool 2-D of the same shape. Finite where PySODMetrics returns NaN
    (foreground only on the last row/column: empty quadrants count 0).
    Raises ``ValueError`` on bad input."""
    return _s_measure_valid(*_validate(pred, gt, "s_measure"))


def _s_measure_valid(pred: np.ndarray, gt: np.ndarray) -> float:
    x_exact = np.full(4, np.nan)
    info = np.zeros(6, dtype=np.int64)
    sm = _s_measure_kernel(pred, gt, x_exact, info)
    if info[2:].any():
        # constant quadrants: their mean exactly as PySODMetrics gets it (np.mean of the slice)
        cy, cx = int(info[0]), int(info[1])
        h, w = pred.shape
        bounds = ((0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w))
        for q, (r0, r1, c0, c1) in enumerate(bounds):
            if info[2 + q]:
                x_exact[q] = np.mean(pred[r0:r1, c0:c1])
        sm = _s_measure_kernel(pred, gt, x_exact, info)
    return float(sm)


def s_measure_from_hist(qhist: np.ndarray, val: np.ndarray, info: np.ndarray, shape: tuple[int, int]) -> float:
    """S-measure of an 8-bit map from the quadrant histograms of
    :func:`salbench.metrics.kernels.counts.quadrant_hist_u8` (``qhist``, ``info = [cy, cx, ...]``)
    and its value table ``val`` (level -> normalised value), with the JIT kernel
    (the metrics core calls :func:`salbench.metrics.kernels.host.s_measure_from_hist` with
    the active build). Internal: the inputs are the metrics core's own arrays,
    not checked."""
    return host.s_measure_from_hist(_jit(), qhist, val, info, shape)


def weighted_f(pred: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F-measure of one map, as PySODMetrics 1.6.2 ``WeightedFmeasure`` (β = 1).

    Same inputs as :func:`s_measure`; 0 for an all-background GT.
    Raises ``ValueError`` on bad input."""
    return _weighted_f_valid(*_validate(pred, gt, "weighted_f"))


def _weighted_f_valid(pred: np.ndarray, gt: np.ndarray) -> float:
    """The kernel on checked inputs: a float64 map and a bool GT, C-contiguous."""
    return host.weighted_f_with(_weighted_f_kernel, pred, gt)


def weighted_f_u8(pred: np.ndarray, val: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F of an 8-bit map (C-contiguous uint8) whose normalised values are
    ``val[level]`` (256 float64, as PySODMetrics normalises), against a
    C-contiguous bool GT of the same shape, with the JIT kernels. Internal: the
    metrics core's own arrays, not checked. Equal to :func:`weighted_f` of
    ``val[pred]``, which is made in a per-thread scratch buffer (no allocation
    per image)."""
    return host.weighted_f_u8(_jit(), pred, val, gt)


def s_and_weighted_f(pred: np.ndarray, gt: np.ndarray, *, prevalidated: bool = False) -> tuple[float, float]:
    """``(s_measure(pred, gt), weighted_f(pred, gt))`` with the inputs checked once.

    ``prevalidated=True`` skips the checks (two passes over the map): only for
    callers that built the arrays themselves — float64 C-contiguous values in
    [0, 1] and a bool C-contiguous GT of the same shape, as
    :mod:`salbench.metrics.pair` does; anything else gives undefined results."""
    if not prevalidated:
        pred, gt = _validate(pred, gt, "s_and_weighted_f")
    return _s_measure_valid(pred, gt), _weighted_f_valid(pred, gt)


