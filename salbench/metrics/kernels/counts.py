"""Private numba kernels of the metrics core.

Everything here works on flat, C-contiguous arrays of fixed types and is
compiled ``nogil=True, cache=True`` (serial, no ``parallel=True``): the
evaluation engine runs several images at once on threads, and the on-disk cache
keeps the JIT cost to the first run after install.

The design follows PySODMetrics' histogram trick, taken one step further: a
single pass over the pixels builds a 2 x 256 histogram of the *raw* 8-bit map
split by the binarised GT (plus the integer sum ``|pred - gt|`` that the soft
MAE of the ``r3net`` protocol needs). Min-max normalisation, quantisation,
MAE, the adaptive-threshold counts and all 256-point curves are then derived
from those 512 counts, so no per-threshold pass over the image is ever made.

Public, validated entry points live in :mod:`salbench.metrics.pair`; nothing here
checks its inputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NB = 256  # == numeric.N_BINS; a literal so the kernels stay constant-folded


@njit(nogil=True, cache=True)
def hist_u8(pred, gt, gt_min_fg, want_absdiff, part, hist):
    """One pass: ``hist[1, v]`` counts GT-foreground pixels whose map value is
    ``v`` (GT foreground: ``gt >= gt_min_fg``), ``hist[0, v]`` the background
    ones; with ``want_absdiff`` also returns ``sum |pred - gt|`` over the raw
    8-bit values (the soft MAE of the ``r3net`` protocol), else 0.

    Four interleaved partial histograms break the store-to-load dependency that
    long runs of equal values (saliency maps are mostly 0) would otherwise
    create. ``part`` (8 x 256 int64 scratch) and ``hist`` (2 x 256 int64, the
    result) come from the caller, like every array of these kernels: an
    allocation inside a kernel compiles one more numba overload on the first
    run (~0.1-0.2 s each).
    """
    n = pred.size
    for j in range(part.size):
        part[j] = 0
    n4 = n - (n % 4)
    for i in range(0, n4, 4):
        for k in range(4):
            part[k * 2 * _NB + np.int64(pred[i + k]) + (_NB if gt[i + k] >= gt_min_fg else 0)] += 1
    for i in range(n4, n):
        part[np.int64(pred[i]) + (_NB if gt[i] >= gt_min_fg else 0)] += 1
    absdiff = 0
    if want_absdiff:
        for i in range(n):
            d = np.int64(pred[i]) - np.int64(gt[i])
            absdiff += d if d >= 0 else -d
    for j in range(_NB):
        hist[0, j] = 0
        hist[1, j] = 0
    for k in range(4):
        for j in range(_NB):
            hist[0, j] += part[k * 2 * _NB + j]
            hist[1, j] += part[k * 2 * _NB + _NB + j]
    return absdiff


@njit(nogil=True, cache=True)
def quadrant_hist_u8(pred, gt, gt_min_fg, want_absdiff, part, qhist, hist, info):
    """The histogram pass of :func:`hist_u8` on 2-D arrays, split into the four
    quadrants of the S-measure as well.

    First a pass over the GT alone: its foreground count and centroid. The
    S-measure's quadrants are split at the rounded (half-to-even) centroid + 1
    (MATLAB's ``1:X``, as PySODMetrics does; the index sums are integers below
    2**53, hence exact). Then one pass over the pixels: ``qhist[q, g, v]``
    counts the pixels of quadrant ``q`` (0: top left, 1: top right, 2: bottom
    left, 3: bottom right) with GT class ``g`` (1: ``gt >= gt_min_fg``) and raw
    map value ``v``; ``hist`` (2 x 256) is their sum over the quadrants, as
    :func:`hist_u8` gives it. ``info = [cy, cx, n_fg]``; with an empty or full
    GT there are no quadrants (``cy = cx = 0``: everything counts in quadrant 3).
    ``part`` (2 x 4 x 2 x 256 int64 scratch): two interleaved partial
    histograms, against the store-to-load dependency of runs of equal values.
    Returns ``sum |pred - gt|`` over the raw values when ``want_absdiff``.
    """
    h, w = pred.shape
    n_fg = 0
    sum_r = 0
    sum_c = 0
    for r in range(h):
        row_n = 0
        row_c = 0
        for c in range(w):
            f = 1 if gt[r, c] >= gt_min_fg else 0
            row_n += f
            row_c += f * c
        n_fg += row_n
        sum_r += r * row_n
        sum_c += row_c
    cy = 0
    cx = 0
    if 0 < n_fg < h * w:
        cy = int(np.rint(sum_r / n_fg)) + 1
        cx = int(np.rint(sum_c / n_fg)) + 1
        cy = min(cy, h)
        cx = min(cx, w)
    info[0] = cy
    info[1] = cx
    info[2] = n_fg
    for j in range(part.size):
        part[j] = 0
    qsize = 2 * _NB
    psize = 4 * qsize
    absdiff = 0
    zero_bin = _NB if 0 >= gt_min_fg else 0  # where a pixel with map 0 and GT 0 counts
    for r in range(h):
        for half in range(2):  # columns left of cx, then the rest
            c0 = 0 if half == 0 else cx
            c1 = cx if half == 0 else w
            base = ((0 if r < cy else 2) + half) * qsize
            # row slices indexed from 0: no negative-index handling in the loop
            pa = part[base:base + qsize]
            pb = part[psize + base:psize + base + qsize]
            prow = pred[r, c0:c1]
            grow = gt[r, c0:c1]
            n = c1 - c0
            c = 0
            zeros = 0
            # four pixels at a time; when map and GT are all 0 (most of the background
            # of most maps) they are only counted: a run of increments of one bin is a
            # chain of dependent stores and loads (SOD maps: the pass ~30 % faster;
            # never slower on dense or random maps)
            while c + 3 < n:
                if (prow[c] | grow[c] | prow[c + 1] | grow[c + 1]
                        | prow[c + 2] | grow[c + 2] | prow[c + 3] | grow[c + 3]) == 0:
                    zeros += 4
                else:
                    pa[np.int64(prow[c]) + (_NB if grow[c] >= gt_min_fg else 0)] += 1
                    pb[np.int64(prow[c + 1]) + (_NB if grow[c + 1] >= gt_min_fg else 0)] += 1
                    pa[np.int64(prow[c + 2]) + (_NB if grow[c + 2] >= gt_min_fg else 0)] += 1
                    pb[np.int64(prow[c + 3]) + (_NB if grow[c + 3] >= gt_min_fg else 0)] += 1
                c += 4
            while c < n:
                pa[np.int64(prow[c]) + (_NB if grow[c] >= gt_min_fg else 0)] += 1
                c += 1
            pa[zero_bin] += zeros
        if want_absdiff:
            for c in range(w):
                d = np.int64(pred[r, c]) - np.int64(gt[r, c])
                absdiff += d if d >= 0 else -d
    for j in range(_NB):
        hist[0, j] = 0
        hist[1, j] = 0
    for q in range(4):
        for g in range(2):
            for j in range(_NB):
                k = q * qsize + g * _NB + j
                v = part[k] + part[psize + k]
                qhist[q, g, j] = v
                hist[g, j] += v
    return absdiff


@njit(nogil=True, cache=True)
def hist_levels(levels, gtb, hist):
    """2 x 256 histogram (into ``hist``) of already-quantised levels (int64,
    0..255) split by a boolean GT (float-input path)."""
    for j in range(_NB):
        hist[0, j] = 0
        hist[1, j] = 0
    for i in range(levels.size):
        hist[np.int64(gtb[i]), levels[i]] += 1
    return hist


@njit(nogil=True, cache=True, inline="always")
def value_table(vmin, vmax, minmax, val, lev):
    """Float value of each raw 8-bit level and its quantised level.

    Reproduces MATLAB's ``mapminmax(im2double(x))`` as PySODMetrics 1.6.2 does
    it, operation for operation, so every value is bit-identical: ``p = v/255``;
    if ``minmax`` and the map is not constant, ``p = (p - min) / (max - min)``
    with ``min = vmin/255``, ``max = vmax/255``; the quantised level is
    ``int(p * 255)`` (numpy's truncating ``astype(uint8)``).
    """
    lo = vmin / 255.0
    hi = vmax / 255.0
    scale = minmax and (hi != lo)
    for v in range(_NB):
        p = v / 255.0
        if scale:
            p = (p - lo) / (hi - lo)
        val[v] = p
        lev[v] = np.int64(p * 255.0)


@njit(nogil=True, cache=True, inline="always")
def requantise(hist, lev, out):
    """Move raw-level counts to their quantised levels (into ``out``).

    Only occupied levels move: a level outside the map's [min, max] has no
    pixel, and its ``lev`` lies outside 0..255 (negative below the minimum,
    above 255 past the maximum), so it must never be used as an index."""
    for v in range(_NB):
        out[0, v] = 0
        out[1, v] = 0
    for v in range(_NB):
        if hist[0, v] + hist[1, v] != 0:
            out[0, lev[v]] += hist[0, v]
            out[1, lev[v]] += hist[1, v]


@njit(nogil=True, cache=True, inline="always")
def weighted_sums(hist, val):
    """``(sum of p over all pixels, sum |p - gt_hard|)`` from a raw histogram and
    the value table."""
    s = 0.0
    e = 0.0
    for v in range(_NB):
        b = hist[0, v]
        f = hist[1, v]
        p = val[v]
        s += (b + f) * p
        e += b * p + f * (1.0 - p)
    return s, e


@njit(nogil=True, cache=True, inline="always")
def counts_at_or_above(hist, val, thr):
    """``(tp, predicted positives)`` for the binarisation ``p >= thr``."""
    tp = 0
    pp = 0
    for v in range(_NB):
        if val[v] >= thr:
            tp += hist[1, v]
            pp += hist[0, v] + hist[1, v]
    return tp, pp


@njit(nogil=True, cache=True, inline="always")
def nearest_gap(hist, val, thr):
    """Smallest ``|p - thr|`` over the occupied levels (tie detection)."""
    best = np.inf
    for v in range(_NB):
        if hist[0, v] + hist[1, v] > 0:
            d = abs(val[v] - thr)
            if d < best:
                best = d
    return best


@njit(nogil=True, cache=True, inline="always")
def _pr(tp, pp, t, pr_eps):
    """Precision and recall of one binarisation.

    ``pr_eps < 0``: PySODMetrics' zero guards (P = TP / P with P == 0 -> 1,
    R = TP / max(T, 1)). ``pr_eps >= 0``: Hou et al. / R3Net,
    ``(tp + eps) / (p + eps)`` and ``(tp + eps) / (t + eps)``.
    """
    if pr_eps < 0.0:
        p = tp / (pp if pp > 0 else 1.0)
        r = tp / (t if t > 1.0 else 1.0)
    else:
        p = (tp + pr_eps) / (pp + pr_eps)
        r = (tp + pr_eps) / (t + pr_eps)
    return p, r


@njit(nogil=True, cache=True, inline="always")
def f_from_pr(p, r, beta2):
    """F-measure with PySODMetrics' guard: 0 where the numerator is 0."""
    num = (1.0 + beta2) * p * r
    if num == 0.0:
        return 0.0
    return num / (beta2 * p + r)


@njit(nogil=True, cache=True, inline="always")
def emeasure_counts(tp, pp, t, n, em_eps):
    """E-measure (Fan et al. IJCAI 2018) of one binarisation from its counts,
    as PySODMetrics 1.6.2 evaluates it: the enhanced alignment matrix takes
    only four values (TP, FP, FN, TN regions), so the sum is four products.
    Empty GT: the sum is the number of predicted-background pixels; full GT:
    the number of predicted-foreground pixels."""
    if t == 0.0:
        s = n - pp
    elif t == n:
        s = pp
    else:
        fg_fg = tp
        fg_bg = pp - tp
        bg_fg = t - tp
        bg_bg = (n - pp) - bg_fg
        mp = pp / n
        mg = t / n
        dp_f = 1.0 - mp
        dp_b = 0.0 - mp
        dg_f = 1.0 - mg
        dg_b = 0.0 - mg
        s = 0.0
        # (pred fg, gt fg), (pred fg, gt bg), (pred bg, gt fg), (pred bg, gt bg)
        for k in range(4):
            if k == 0:
                a, b, c = dp_f, dg_f, fg_fg
            elif k == 1:
                a, b, c = dp_f, dg_b, fg_bg
            elif k == 2:
                a, b, c = dp_b, dg_f, bg_fg
            else:
                a, b, c = dp_b, dg_b, bg_bg
            align = 2.0 * (a * b) / (a * a + b * b + em_eps)
            s += (align + 1.0) ** 2 / 4.0 * c
    return s / (n - 1.0 + em_eps)


@njit(nogil=True, cache=True, inline="always")
def image_curves(qhist, strict, pr_eps, beta2, em_eps, out):
    """All 256-point curves of one image from its quantised 2 x 256 histogram.

    Row order of the result: precision, recall, F, E, IoU, Dice; column ``t``
    is threshold ``t`` (ascending). ``strict``: pixel counted as foreground at
    threshold t iff ``level > t`` (R3Net); else ``level >= t`` (PySODMetrics).
    IoU = TP / (TP + FP + FN) and Dice = 2TP / (2TP + FP + FN), 0 where the
    denominator is 0 (PySODMetrics' FmeasureV2 handlers). Written into ``out``.
    """
    t = 0.0
    n = 0.0
    for v in range(_NB):
        t += qhist[1, v]
        n += qhist[0, v] + qhist[1, v]
    acc_tp = 0.0
    acc_pp = 0.0
    for th in range(_NB - 1, -1, -1):
        if not strict:
            acc_tp += qhist[1, th]
            acc_pp += qhist[0, th] + qhist[1, th]
        tp = acc_tp
        pp = acc_pp
        p, r = _pr(tp, pp, t, pr_eps)
        out[0, th] = p
        out[1, th] = r
        out[2, th] = f_from_pr(p, r, beta2)
        out[3, th] = emeasure_counts(tp, pp, t, n, em_eps)
        den = pp + t - tp
        out[4, th] = tp / den if den != 0.0 else 0.0
        den = pp + t
        out[5, th] = 2.0 * tp / den if den != 0.0 else 0.0
        if strict:
            acc_tp += qhist[1, th]
            acc_pp += qhist[0, th] + qhist[1, th]


@njit(nogil=True, cache=True, inline="always")
def adaptive_scores(tp, pp, t, n, pr_eps, beta2, em_eps, zero_if_no_tp):
    """Adaptive F and E from the counts at the adaptive threshold.

    ``zero_if_no_tp``: PySODMetrics' ``cal_adaptive_fm`` returns 0 when the
    intersection is empty (before any division)."""
    if zero_if_no_tp and tp == 0.0:
        f = 0.0
    elif pr_eps < 0.0:
        p = tp / pp
        r = tp / t
        f = (1.0 + beta2) * p * r / (beta2 * p + r)
    else:
        p, r = _pr(tp, pp, t, pr_eps)
        f = f_from_pr(p, r, beta2)
    e = emeasure_counts(tp, pp, t, n, em_eps)
    return f, e


@njit(nogil=True, cache=True)
def u8_summary(hist, absdiff, minmax, soft_mae, strict, pr_eps, beta2, em_eps,
               thr_override, tie_tol, adaptive_factor, adaptive_cap,
               curves, scalars, val, lev, qhist):
    """Everything of one image after :func:`hist_u8`, in one call.

    Fills the caller's arrays: ``curves`` (6 x 256) of
    :func:`image_curves`, ``scalars = [mae, adp_f, adp_e, tie]`` and ``val``, the value
    table (the normalised map value of each raw level). The adaptive threshold
    is ``min(factor * mean, cap)`` with the mean taken from the histogram, or
    ``thr_override`` when that is >= 0. ``tie`` is 1 when an occupied map
    value lies within ``tie_tol`` of the threshold: the caller then recomputes
    the mean exactly as the reference sums it and calls again with
    ``thr_override``.
    """
    n_nb = hist.shape[1]
    vmin = 0
    while vmin < n_nb - 1 and hist[0, vmin] + hist[1, vmin] == 0:
        vmin += 1
    vmax = n_nb - 1
    while vmax > 0 and hist[0, vmax] + hist[1, vmax] == 0:
        vmax -= 1
    value_table(vmin, vmax, minmax, val, lev)
    if minmax:
        requantise(hist, lev, qhist)
    else:
        for v in range(n_nb):  # a loop: an array copy would compile numba's shape-error formatting
            qhist[0, v] = hist[0, v]
            qhist[1, v] = hist[1, v]
    n = 0.0
    t = 0.0
    for v in range(n_nb):
        n += hist[0, v] + hist[1, v]
        t += hist[1, v]
    sum_p, sum_err = weighted_sums(hist, val)
    if soft_mae:
        mae = absdiff / 255.0 / n
    else:
        mae = sum_err / n
    if thr_override >= 0.0:
        thr = thr_override
        tie = 0.0
    else:
        thr = min(adaptive_factor * (sum_p / n), adaptive_cap)
        tie = 1.0 if nearest_gap(hist, val, thr) <= tie_tol else 0.0
    tp_a, pp_a = counts_at_or_above(hist, val, thr)
    adp_f, adp_e = adaptive_scores(float(tp_a), float(pp_a), t, n, pr_eps, beta2, em_eps, pr_eps < 0.0)
    image_curves(qhist, strict, pr_eps, beta2, em_eps, curves)
    scalars[0] = mae
    scalars[1] = adp_f
    scalars[2] = adp_e
    scalars[3] = tie


@njit(nogil=True, cache=True)
def counts_summary(qhist, tp_a, pp_a, strict, pr_eps, beta2, em_eps, curves):
    """Curves (into ``curves``) and adaptive F / E from a quantised histogram
    and the adaptive counts (float-input path)."""
    t = 0.0
    n = 0.0
    for v in range(qhist.shape[1]):
        t += qhist[1, v]
        n += qhist[0, v] + qhist[1, v]
    adp_f, adp_e = adaptive_scores(tp_a, pp_a, t, n, pr_eps, beta2, em_eps, pr_eps < 0.0)
    image_curves(qhist, strict, pr_eps, beta2, em_eps, curves)
    return adp_f, adp_e


@njit(nogil=True, cache=True)
def exact_add(x, limbs, scale, max_value):
    """Add the float64 values ``x`` (n) exactly into the fixed-point ``limbs``
    (L, n) of :class:`salbench.metrics.exactsum.ExactSum`: ``x = a·scale + b + Σ_k
    d_k·scale**-(k-1)`` (``scale`` = 2**32), every step exact (a power-of-two
    scaling, ``floor``, and a subtraction of operands within a factor 2). All
    values are checked first, so a bad one adds nothing: returns ``-1 - j`` for
    the first value outside [0, max_value) (or NaN) at index j, else the number
    of limbs in use (at least 2)."""
    n = x.shape[0]
    for j in range(n):
        v = x[j]
        if not (v >= 0.0 and v < max_value):
            return -1 - j
    nl = limbs.shape[0]
    used = 2
    for j in range(n):
        v = x[j]
        ip = np.floor(v)
        frac = v - ip
        if ip >= scale:
            top = np.floor(ip / scale)
            limbs[0, j] += np.int64(top)
            ip -= top * scale
        limbs[1, j] += np.int64(ip)
        k = 2
        while frac != 0.0 and k < nl:
            frac *= scale
            d = np.floor(frac)
            limbs[k, j] += np.int64(d)
            frac -= d
            k += 1
        if k > used:
            used = k
    return used
