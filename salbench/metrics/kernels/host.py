"""Numba-free helpers of the structure kernels, shared by the AOT and JIT
builds: the weighted F's Gaussian taps and importance table, per-thread
scratch buffers, and the calls that prepare arrays for the S-measure and
weighted-F kernels of either build (``kern``: any object with the kernels of
:data:`salbench.metrics.kernels.build.KERNEL_TABLE` as attributes)."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from salbench.metrics import numeric

# ---------------------------------------------------------------------------
# weighted F: constants, importance table, scratch
# ---------------------------------------------------------------------------

def _gauss_1d() -> np.ndarray:
    """Normalised 1-D factor of ``fspecial('gaussian', WFM_GAUSS_SIZE, WFM_GAUSS_SIGMA)``."""
    half = (numeric.WFM_GAUSS_SIZE - 1) / 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * numeric.WFM_GAUSS_SIGMA * numeric.WFM_GAUSS_SIGMA))
    # fspecial zeroes values below eps * max; none are for a 7x7 window with sigma 5
    g[g < np.finfo(np.float64).eps * g.max()] = 0
    return g / g.sum()


GAUSS = _gauss_1d()
#: columns of sentinels on each side of the weighted F's ``near`` buffer, so the
#: 9-column search around a pixel needs no bounds test
PAD = 4

_B_LOCK = threading.Lock()
_B_TABLE = np.empty(0, dtype=np.float64)
#: ``log(0.5) / 5`` in PySODMetrics' spelling (``np.log(0.5) / 5``).
_B_DECAY = float(np.log(0.5) / numeric.WFM_IMPORTANCE_HALF_DIST)


def _b_saturation_d2() -> int:
    """A squared distance from which on B is exactly 2.0 in float64 (about 1.01 · 265²).

    ``exp(decay·d)`` then lies below half an ulp of 2, so ``2 - exp(...)`` rounds to 2
    in NumPy as anywhere; found by bisection on NumPy's own values, with a margin."""
    lo, hi = 0, 1 << 40
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if 2 - np.exp(_B_DECAY * np.sqrt(np.float64(mid))) == 2.0:
            hi = mid
        else:
            lo = mid
    return int(hi * 1.01) + 1


B_SAT_D2 = _b_saturation_d2()


def importance_table(max_d2: int) -> np.ndarray:
    """``2 - exp(log(0.5)/5 * sqrt(d2))`` for d2 = 0..min(max_d2, B_SAT_D2), cached.

    The kernel reads entry ``min(d2, len - 1)``: exact, because a table shorter
    than ``max_d2 + 1`` ends at ``B_SAT_D2``, where (and beyond which) B is 2.0.
    Computed with NumPy in PySODMetrics' operation order (``np.log(0.5) / 5 * Dst``
    with ``Dst = sqrt(float(d2))``): the same bits. At most ~71 000 entries."""
    global _B_TABLE
    want = min(max_d2, B_SAT_D2) + 1
    table = _B_TABLE
    if table.shape[0] >= want:
        return table
    with _B_LOCK:
        if _B_TABLE.shape[0] < want:
            size = min(max(want, 2 * _B_TABLE.shape[0]), B_SAT_D2 + 1)
            dst = np.sqrt(np.arange(size, dtype=np.float64))
            _B_TABLE = 2 - np.exp(_B_DECAY * dst)
        return _B_TABLE


_TLS = threading.local()


def scratch(n: int, dtype) -> np.ndarray:
    """This thread's scratch of ``dtype`` with at least ``n`` elements (first ``n``
    returned).

    Reused across calls: a fresh image-sized array per image costs page faults
    (~0.1 ms per SOD image); one per thread and type keeps the kernels thread-safe."""
    key = np.dtype(dtype).char
    bufs = getattr(_TLS, "bufs", None)
    if bufs is None:
        bufs = _TLS.bufs = {}
    buf = bufs.get(key)
    if buf is None or buf.shape[0] < n:
        buf = bufs[key] = np.empty(n, dtype=dtype)
    return buf[:n]


def weighted_f_with(kernel: Callable, pred: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F of a checked float64 C-contiguous map against a bool
    C-contiguous GT, with ``kernel`` (either build of the weighted-F kernel)."""
    if not gt.any():
        return 0.0
    h, w = gt.shape
    return _weighted_f_fg(kernel, pred, gt, np.empty((5, max(h, w)), dtype=np.int64), False)


def _weighted_f_fg(kernel: Callable, pred: np.ndarray, gt: np.ndarray, ibuf: np.ndarray, have_nz: bool) -> float:
    """:func:`weighted_f_with` for a GT known to have foreground; ``ibuf`` int64
    (5, max(h, w)) scratch, its row 4 filled already when ``have_nz``."""
    h, w = gt.shape
    table = importance_table((h - 1) ** 2 + (w - 1) ** 2)
    taps = GAUSS.shape[0]
    near = scratch(h * (w + 2 * PAD), np.int32).reshape(h, w + 2 * PAD)
    cbuf = np.empty((2, w), dtype=np.int32)
    bbuf = np.empty((2, (w + 2 * PAD + 7) // 8 * 8), dtype=np.bool_)  # read as 64-bit words too
    fbuf = np.empty((taps + 2, w + taps - 1), dtype=np.float64)
    return float(kernel(pred, gt.view(np.uint8), table, GAUSS, near, ibuf, cbuf, bbuf, fbuf, have_nz))


def weighted_f_u8(kern, pred: np.ndarray, val: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F of an 8-bit map (C-contiguous uint8) whose normalised values are
    ``val[level]`` (256 float64), against a C-contiguous bool GT of the same
    shape. The float map is made in a per-thread scratch buffer, with the
    per-row counts of non-zero background pixels in the same pass."""
    if not gt.any():
        return 0.0
    h, w = gt.shape
    p = scratch(pred.size, np.float64).reshape(pred.shape)
    ibuf = np.empty((5, max(h, w)), dtype=np.int64)
    g8 = gt.view(np.uint8)
    kern.lookup(pred, val, g8, p, ibuf[4])
    return _weighted_f_fg(kern.weighted_f, p, gt, ibuf, True)


def s_measure_from_hist(kern, qhist: np.ndarray, val: np.ndarray, info: np.ndarray,
                        shape: tuple[int, int]) -> float:
    """S-measure of an 8-bit map from the quadrant histograms of
    ``quadrant_hist_u8`` (``qhist``, ``info = [cy, cx, ...]``) and its value
    table ``val`` (level -> normalised value)."""
    h, w = shape
    cy, cx = int(info[0]), int(info[1])
    x_exact = np.full(4, np.nan)
    flags = np.zeros(6, dtype=np.int64)
    sm = kern.s_measure_hist(qhist, val, cy, cx, h, w, x_exact, flags)
    if flags[2:].any():
        # constant quadrants: NumPy's mean of that slice of the float map, which is
        # the constant everywhere in the slice; the same strides give the same
        # summation order, so a full-size constant array stands in for the map
        bounds = ((0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w))
        for q, (r0, r1, c0, c1) in enumerate(bounds):
            if flags[2 + q]:
                level = int(np.flatnonzero(qhist[q].sum(axis=0))[0])
                x_exact[q] = np.mean(np.full((h, w), val[level])[r0:r1, c0:c1])
        sm = kern.s_measure_hist(qhist, val, cy, cx, h, w, x_exact, flags)
    return float(sm)
