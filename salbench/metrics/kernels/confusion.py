"""numba kernels of the confusion-count families (FmeasureV2, size-invariant
FmeasureV2): the adaptive- and fixed-threshold TP / FP counts of a map, over
the whole image or over one bounding box, in one pass over the pixels.

Serial, fixed-type, ``nogil=True, cache=True``; inputs are trusted (the
families validate nothing here)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def threshold_counts(pred, gt, thr_adp, thr_bin, out):
    """One pass over flat ``pred`` (float64) and ``gt`` (bool): ``out[0]`` =
    #(pred >= thr_adp & gt), ``out[1]`` = #(pred >= thr_adp & ~gt),
    ``out[2]`` = #(pred > thr_bin & gt), ``out[3]`` = #(pred > thr_bin & ~gt)."""
    tpa = 0
    fpa = 0
    tpb = 0
    fpb = 0
    for i in range(pred.size):
        v = pred[i]
        a = 1 if v >= thr_adp else 0
        b = 1 if v > thr_bin else 0
        if gt[i]:
            tpa += a
            tpb += b
        else:
            fpa += a
            fpb += b
    out[0] = tpa
    out[1] = fpa
    out[2] = tpb
    out[3] = fpb


@njit(cache=True, nogil=True, inline="always")
def _div(num, den):
    return num / den if den != 0.0 else 0.0


@njit(cache=True, nogil=True)
def handler_rows(tp, fp, tn, fn, beta2, f1_beta, out):
    """The eleven FmeasureV2 handler rows (precision, recall, Fβ, F1, IoU,
    Dice, BER, κ, OA, specificity, FPR) of 1-D int64 counts into ``out``
    (11, n), with PySODMetrics' operations in its order (integer sums, then
    one float64 division; 0 where a denominator is 0), so every value is the
    reference's bit for bit."""
    for j in range(tp.shape[0]):
        a, b, c, d = tp[j], fp[j], tn[j], fn[j]
        p = _div(np.float64(a), np.float64(a + b))
        r = _div(np.float64(a), np.float64(a + d))
        oa = _div(np.float64(a + c), np.float64(a + b + c + d))
        n = a + b + c + d
        hyp = _div(np.float64((a + b) * (a + d) + (c + d) * (c + a)), np.float64(n ** 2))
        spec = _div(np.float64(c), np.float64(c + b))
        out[0, j] = p
        out[1, j] = r
        out[2, j] = _div((beta2 + 1) * p * r, beta2 * p + r)
        out[3, j] = _div((f1_beta + 1) * p * r, f1_beta * p + r)
        out[4, j] = _div(np.float64(a), np.float64(a + b + d))
        out[5, j] = _div(np.float64(2 * a), np.float64(a + d + a + b))
        fg = _div(np.float64(a), np.float64(a + d))
        bg = _div(np.float64(c), np.float64(c + b))
        out[6, j] = 1 - 0.5 * (fg + bg)
        out[7, j] = _div(oa - hyp, 1 - hyp)
        out[8, j] = oa
        out[9, j] = spec
        out[10, j] = _div(np.float64(b), np.float64(c + b))
