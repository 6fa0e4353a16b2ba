"""numba kernels of the confusion-count families (FmeasureV2, size-invariant
FmeasureV2): the adaptive- and fixed-threshold TP / FP counts of a map, over
the whole image or over one bounding box, in one pass over the pixels.

Serial, fixed-type, ``nogil=True, cache=True``; inputs are trusted (the
families validate nothing here)."""

from __future__ import annotations

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
