"""Numba kernels of the S-measure, per image as PySODMetrics 1.6.2
``Smeasure.cal_sm`` computes it (a port of the authors' MATLAB code).

S-measure (Fan et al., "Structure-measure: a new way to evaluate foreground maps",
ICCV 2017), α = :data:`salbench.metrics.numeric.S_ALPHA`:

* mean GT 0 → ``1 - mean(pred)``; mean GT 1 → ``mean(pred)``;
* otherwise ``max(0, α·S_object + (1-α)·S_region)``. ``S_object`` weights the
  foreground score of ``pred`` and the background score of ``1 - pred`` by the GT
  ratio, each ``2μ / (μ² + 1 + σ + eps)`` with σ the ddof=1 standard deviation
  (σ = 0 for a single pixel). ``S_region`` splits both maps at the rounded
  (half-to-even) GT centroid + 1 into four quadrants and sums their SSIM
  weighted by area, with PySODMetrics' rules: variances divided by
  ``N - 1 + eps``, SSIM = ``α/(β + eps)`` if ``α != 0``, 1 if ``α == β == 0``,
  else 0.

  The SSIM branch ``α == β == 0`` depends on the *exact* value of a quadrant's mean
  when the quadrant of ``pred`` is constant (the variance is exactly 0 only if the
  mean rounds back to the constant, which depends on the summation order). For a
  constant quadrant of a value other than 0 or 1 (whose sums are exact in any
  order) the kernel therefore asks the wrapper for ``np.mean`` of that slice —
  what PySODMetrics computes — and is called again with it, so it takes the same
  branch. For any other quadrant, and all other sums, the result is continuous in
  them, so they are summed in whatever order vectorises (differences ~1e-14).

  Difference from PySODMetrics: when the centroid falls on the last row or column
  (foreground only there), one or two quadrants are empty and PySODMetrics returns
  NaN (``mean`` of an empty slice times a zero weight). Here an empty quadrant
  contributes 0 — the limit of its zero area weight — so the result is finite.

Kernels are compiled lazily (on first use, then loaded from numba's on-disk
cache) for one set of types: the callers check the dtypes, make the arrays
contiguous and pass in every array a kernel writes, so no kernel allocates.
Small helpers are inlined into their caller (``inline="always"``): each
separately compiled function adds ~0.1 s to the first run's JIT. The loop helpers are compiled with
``fastmath`` flags that the S-measure kernel itself must not have (its branches
depend on exact values). 8-bit maps take the histogram route
(:func:`_s_measure_hist_kernel`, from per-quadrant histograms).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from salbench.metrics import numeric

_EPS = numeric.EPS_PYSOD
_ALPHA = numeric.S_ALPHA



#: LLVM may reassociate the sums of these loops (so it can vectorise them). Only
#: sums whose order cannot change a branch get it: integer-valued counts (exact in
#: any order) and continuous sums (their rounding differs by ~1e-16 relative).
_FAST = {"reassoc", "nsz"}


@njit(cache=True, nogil=True, inline="always")
def _s_object(total, sq_dev, n):
    """``2μ / (μ² + 1 + σ + eps)`` from the sum and the sum of squared deviations."""
    mean = total / n
    if n > 1:
        std = np.sqrt(sq_dev / (n - 1))
    else:
        std = 0.0
    return 2.0 * mean / (mean * mean + 1.0 + std + _EPS)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _first_pass(pred, gt):
    """Foreground count, Σ row, Σ column (exact integers), Σ_fg p and Σ p."""
    h, w = pred.shape
    cnt = 0.0
    sum_r = 0.0
    sum_c = 0.0
    fg_sum = 0.0
    all_sum = 0.0
    for r in range(h):
        rc = 0.0
        rf = 0.0
        for c in range(w):
            g = 1.0 if gt[r, c] else 0.0
            p = pred[r, c]
            rc += g
            sum_c += g * c
            rf += g * p
            all_sum += p
        cnt += rc
        sum_r += r * rc
        fg_sum += rf
    return cnt, sum_r, sum_c, fg_sum, all_sum


@njit(cache=True, nogil=True, fastmath=_FAST)
def _quadrant_pass(pred, gt, r0, r1, c0, c1, x, fg_mean, bg_mean):
    """One pass over a quadrant: its GT count, ``Σ(p-x)²``, ``Σ(p-x)``, ``Σ g(p-x)``,
    and the object score's squared deviations ``Σ_fg (p-μ_fg)²``, ``Σ_bg ((1-p)-μ_bg)²``."""
    cnt = 0.0
    sx = 0.0
    s_dx = 0.0
    s_gdx = 0.0
    fg_sq = 0.0
    bg_sq = 0.0
    for r in range(r0, r1):
        for c in range(c0, c1):
            g = 1.0 if gt[r, c] else 0.0
            p = pred[r, c]
            dx = p - x
            cnt += g
            sx += dx * dx
            s_dx += dx
            s_gdx += g * dx
            df = p - fg_mean
            db = (1.0 - p) - bg_mean
            fg_sq += g * (df * df)
            bg_sq += (1.0 - g) * (db * db)
    return cnt, sx, s_dx, s_gdx, fg_sq, bg_sq


@njit(cache=True, nogil=True, fastmath=_FAST)
def _region_sum(pred, r0, r1, c0, c1):
    """Σ of a quadrant in any order, and how many of its values differ from its first."""
    first = pred[r0, c0]
    total = 0.0
    n_diff = 0
    for r in range(r0, r1):
        for c in range(c0, c1):
            v = pred[r, c]
            total += v
            n_diff += 1 if v != first else 0
    return total, n_diff


@njit(cache=True, nogil=True, inline="always")
def _ssim_from_stats(n, x, cnt_f, sx, s_dx, s_gdx):
    """PySODMetrics' ``Smeasure.ssim`` from one quadrant's sums (``n > 0``).

    ``Σ(g-y)² = cnt(1-y)² + (n-cnt)y²`` and ``Σ(p-x)(g-y) = Σ g(p-x) - yΣ(p-x)``;
    both are exactly 0 for a constant GT, as in PySODMetrics, where ``g - y`` is
    then exactly 0. ``x`` is the quadrant mean summed in NumPy's order."""
    cnt = int(cnt_f)
    y = cnt / n
    if cnt == 0 or cnt == n:
        sy = 0.0
        sxy = 0.0
    else:
        sy = cnt * (1.0 - y) * (1.0 - y) + (n - cnt) * y * y
        sxy = s_gdx - y * s_dx
    denom = (n - 1) + _EPS
    sigma_x = sx / denom
    sigma_y = sy / denom
    sigma_xy = sxy / denom
    alpha = 4.0 * x * y * sigma_xy
    beta = (x * x + y * y) * (sigma_x + sigma_y)
    if alpha != 0.0:
        return alpha / (beta + _EPS)
    if beta == 0.0:
        return 1.0
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _s_classes(n_fg, area, fg_sum, all_sum):
    """From the GT count and the map sums: ``(degenerate, value, n_bg, y, bg_sum,
    fg_mean, bg_mean)``. With an all-background GT the S-measure is ``1 - mean``,
    with an all-foreground one ``mean`` (``degenerate`` set, ``value`` that);
    otherwise the class sizes, the GT ratio ``y``, ``Σ_bg (1 - p)`` and the two
    class means for the object score."""
    if n_fg == 0 or n_fg == area:
        mean = all_sum / area
        return True, (1.0 - mean if n_fg == 0 else mean), 0.0, 0.0, 0.0, 0.0, 0.0
    n_bg = area - n_fg
    bg_sum = n_bg - (all_sum - fg_sum)  # Σ_bg (1 - p)
    return False, 0.0, n_bg, n_fg / area, bg_sum, fg_sum / n_fg, bg_sum / n_bg


@njit(cache=True, nogil=True, inline="always")
def _quadrant_weights(cy, cx, h, w):
    """Area weights of the four quadrants split at ``(cy, cx)`` (PySODMetrics'
    order: left top, right top, left bottom, the rest)."""
    area = h * w
    w_lt = (cx * cy) / area
    w_rt = (cy * (w - cx)) / area
    w_lb = ((h - cy) * cx) / area
    return w_lt, w_rt, w_lb, 1.0 - w_lt - w_rt - w_lb


@njit(cache=True, nogil=True, inline="always")
def _constant_quadrant_mean(c_val, q, x_exact, info):
    """Mean of quadrant ``q`` whose pixels all equal ``c_val``: exact for 0 and 1
    (sums of 0s or 1s are exact in any order), else NumPy's own mean from
    ``x_exact[q]`` if the caller has supplied it; otherwise flags ``info[2 + q]``
    for a second call and returns NaN."""
    if c_val == 0.0 or c_val == 1.0:
        return c_val
    if x_exact[q] == x_exact[q]:
        return x_exact[q]
    info[2 + q] = 1
    return np.nan


@njit(cache=True, nogil=True, inline="always")
def _s_finish(fg_sum, fg_sq, n_fg, bg_sum, bg_sq, n_bg, y, region, info):
    """``max(0, α·S_object + (1-α)·S_region)``, or NaN while a constant quadrant's
    exact mean is still to come (``info[2:]`` flags)."""
    if info[2] + info[3] + info[4] + info[5] > 0:
        return np.nan
    obj = _s_object(fg_sum, fg_sq, n_fg) * y + _s_object(bg_sum, bg_sq, n_bg) * (1.0 - y)
    sm = obj * _ALPHA + region * (1.0 - _ALPHA)
    if sm < 0.0:
        return 0.0
    return sm


@njit(cache=True, nogil=True)
def _s_measure_kernel(pred, gt, x_exact, info):
    """S-measure; ``x_exact[q]``: NumPy's mean of quadrant q where known (else NaN).

    Writes ``info = [cy, cx, need_0..need_3]``; when a constant quadrant's exact
    mean is needed and not given, sets its flag and returns NaN: the caller then
    computes that mean with NumPy itself and calls again."""
    h, w = pred.shape
    area = h * w
    for q in range(info.shape[0]):
        info[q] = 0
    cnt_f, sum_r, sum_c, fg_sum, all_sum = _first_pass(pred, gt)
    n_fg = int(cnt_f)
    degenerate, value, n_bg, y, bg_sum, fg_mean, bg_mean = _s_classes(n_fg, area, fg_sum, all_sum)
    if degenerate:
        return value

    # quadrants at the rounded centroid (+1, MATLAB's 1:X); the index sums are
    # integers below 2**53, hence exact, like NumPy's mean of ``argwhere``
    cy = int(np.rint(sum_r / n_fg)) + 1
    cx = int(np.rint(sum_c / n_fg)) + 1
    info[0] = cy
    info[1] = cx
    weights = _quadrant_weights(cy, cx, h, w)
    bounds = ((0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w))
    fg_sq = 0.0
    bg_sq = 0.0
    region = 0.0
    for q in range(4):
        r0, r1, c0, c1 = bounds[q]
        n = (r1 - r0) * (c1 - c0)
        if n <= 0:
            continue  # empty quadrant: 0 here, NaN in PySODMetrics
        # only a constant quadrant needs NumPy's bit-exact mean (see the module
        # docstring); any other mean only moves the result by rounding
        total, n_diff = _region_sum(pred, r0, r1, c0, c1)
        x = total / n
        if n_diff == 0:
            x = _constant_quadrant_mean(pred[r0, c0], q, x_exact, info)
        if info[2] + info[3] + info[4] + info[5] > 0:
            continue  # a second call follows: skip the work
        cnt_q, sx, s_dx, s_gdx, fq, bq = _quadrant_pass(pred, gt, r0, r1, c0, c1, x, fg_mean, bg_mean)
        fg_sq += fq
        bg_sq += bq
        region += _ssim_from_stats(n, x, cnt_q, sx, s_dx, s_gdx) * weights[q]
    return _s_finish(fg_sum, fg_sq, n_fg, bg_sum, bg_sq, n_bg, y, region, info)


@njit(cache=True, nogil=True)
def _s_measure_hist_kernel(qhist, val, cy, cx, h, w, x_exact, info):
    """S-measure of an 8-bit map from its quadrant histograms.

    ``qhist[q, g, v]`` (from :func:`salbench.metrics.kernels.counts.quadrant_hist_u8`): pixel
    counts per quadrant ``q``, GT class ``g`` and raw level ``v``; ``val[v]``:
    the normalised map value of level ``v`` (bit-identical to PySODMetrics'
    ``prepare_data``). Every sum of the pixel kernel is a sum over levels of
    ``count · f(val[v])``: the same numbers summed in another order (continuous
    in them, ~1e-16 relative), except a constant quadrant's mean, which decides a
    branch: as in :func:`_s_measure_kernel`, ``info[2 + q]`` asks the caller for
    NumPy's mean of that quadrant and ``x_exact[q]`` brings it back."""
    nb = val.shape[0]
    area = h * w
    for q in range(4):
        info[2 + q] = 0
    n_fg = 0.0
    fg_sum = 0.0
    all_sum = 0.0
    for q in range(4):
        for v in range(nb):
            f = qhist[q, 1, v]
            n_fg += f
            fg_sum += f * val[v]
            all_sum += (f + qhist[q, 0, v]) * val[v]
    degenerate, value, n_bg, y, bg_sum, fg_mean, bg_mean = _s_classes(n_fg, area, fg_sum, all_sum)
    if degenerate:
        return value
    weights = _quadrant_weights(cy, cx, h, w)
    sizes = (cy * cx, cy * (w - cx), (h - cy) * cx, (h - cy) * (w - cx))
    fg_sq = 0.0
    bg_sq = 0.0
    region = 0.0
    for q in range(4):
        n = sizes[q]
        if n <= 0:
            continue  # empty quadrant: 0 here, NaN in PySODMetrics
        total = 0.0
        cnt = 0.0
        occupied = 0
        first = 0
        for v in range(nb):
            k = qhist[q, 0, v] + qhist[q, 1, v]
            if k:
                if occupied == 0:
                    first = v
                occupied += 1
                total += k * val[v]
                cnt += qhist[q, 1, v]
        x = total / n
        if occupied == 1:
            x = _constant_quadrant_mean(val[first], q, x_exact, info)
        if info[2] + info[3] + info[4] + info[5] > 0:
            continue  # a second call follows: skip the work
        sx = 0.0
        s_dx = 0.0
        s_gdx = 0.0
        for v in range(nb):
            b = qhist[q, 0, v]
            f = qhist[q, 1, v]
            if b + f:
                p = val[v]
                dx = p - x
                sx += (b + f) * (dx * dx)
                s_dx += (b + f) * dx
                s_gdx += f * dx
                df = p - fg_mean
                db = (1.0 - p) - bg_mean
                fg_sq += f * (df * df)
                bg_sq += b * (db * db)
        region += _ssim_from_stats(n, x, cnt, sx, s_dx, s_gdx) * weights[q]
    return _s_finish(fg_sum, fg_sq, n_fg, bg_sum, bg_sq, n_bg, y, region, info)


