"""Naive reference implementations the tests compare salbench against.

Each is written for clarity, not speed: plain NumPy / Python transcriptions of
a published evaluation, or the reference library (PySODMetrics, pydensecrf)
called the way its users call it. None imports salbench's kernels. Optional
libraries are imported inside the functions, so importing this module needs
only NumPy (tests ``pytest.importorskip`` the library before using them).
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np


# -- PySODMetrics 1.6.2, called as a user calls it ------------------------------------

def ref_sm(pred: np.ndarray, gt: np.ndarray) -> float:
    """S-measure of one image by ``py_sod_metrics.Smeasure().cal_sm`` (float map in
    [0, 1], bool GT; NaN where PySODMetrics divides by an empty quadrant)."""
    import py_sod_metrics as psm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(psm.Smeasure().cal_sm(pred, gt))


def ref_wfm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F-measure of one image by ``py_sod_metrics.WeightedFmeasure``,
    on the map as given (``normalize=False``)."""
    import py_sod_metrics as psm

    m = psm.WeightedFmeasure()
    m.step(pred, gt, normalize=False)
    return float(m.weighted_fms[-1])


class PySODReference:
    """PySODMetrics' five metric classes plus FmeasureV2 IoU / Dice, stepped over
    uint8 (map, GT) pairs as a user runs them; ``per_image(i)`` and ``results()``
    give the values under salbench's score names (curves from threshold 0 up,
    where PySODMetrics' run from 255 down). ``structural`` adds S and weighted F."""

    def __init__(self, structural: bool = True):
        import py_sod_metrics

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fm = py_sod_metrics.Fmeasure()
        self.mae = py_sod_metrics.MAE()
        self.em = py_sod_metrics.Emeasure()
        self.structural = structural
        if structural:
            self.sm = py_sod_metrics.Smeasure()
            self.wfm = py_sod_metrics.WeightedFmeasure()
        self.v2 = py_sod_metrics.FmeasureV2(metric_handlers={
            "iou": py_sod_metrics.IOUHandler(with_dynamic=True, with_adaptive=False),
            "dice": py_sod_metrics.DICEHandler(with_dynamic=True, with_adaptive=False),
        })

    def step(self, pred: np.ndarray, gt: np.ndarray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for m in (self.fm, self.mae, self.em, self.v2) + ((self.sm, self.wfm) if self.structural else ()):
                m.step(pred=pred, gt=gt)

    def per_image(self, i: int) -> dict:
        f = self.fm.changeable_fms[i]
        e = self.em.changeable_ems[i]
        out = {"mae": self.mae.maes[i], "max_f": f.max(), "mean_f": f.mean(), "adp_f": self.fm.adaptive_fms[i],
               "max_e": e.max(), "mean_e": e.mean(), "adp_e": self.em.adaptive_ems[i]}
        if self.structural:
            out["s_measure"] = self.sm.sms[i]
            out["weighted_f"] = self.wfm.weighted_fms[i]
        return out

    def results(self) -> dict:
        fm = self.fm.get_results()
        em = self.em.get_results()["em"]
        v2 = self.v2.get_results()
        f = fm["fm"]["curve"]
        out = {"mae": self.mae.get_results()["mae"], "max_f": f.max(), "mean_f": f.mean(), "adp_f": fm["fm"]["adp"],
               "max_e": em["curve"].max(), "mean_e": em["curve"].mean(), "adp_e": em["adp"],
               # PySODMetrics curves run from threshold 255 down to 0
               "precision": fm["pr"]["p"][::-1], "recall": fm["pr"]["r"][::-1], "f_curve": f[::-1],
               "e_curve": em["curve"][::-1], "iou_curve": v2["iou"]["dynamic"][::-1],
               "dice_curve": v2["dice"]["dynamic"][::-1]}
        if self.structural:
            out["s_measure"] = self.sm.get_results()["sm"]
            out["weighted_f"] = self.wfm.get_results()["wfm"]
        return out


# -- R3Net's evaluation (zijundeng/R3Net misc.py / infer.py), step by step -------------

def r3net_pr_mae(prediction: np.ndarray, gt: np.ndarray):
    """One image, uint8 map and uint8 GT (written from the description of
    ``cal_precision_recall_mae``: /255, hard GT at > 0.5, thresholds t/255
    with ``>``, eps 1e-4 on both terms of P and R, MAE on the soft GT).
    Returns (precision list, recall list, MAE), 256 thresholds from 0 up."""
    assert prediction.dtype == np.uint8 and gt.dtype == np.uint8
    eps = 1e-4
    pred = prediction / 255.0
    soft = gt / 255.0
    mae = np.mean(np.abs(pred - soft))
    hard_gt = (soft > 0.5).astype(np.float64)
    n_gt = hard_gt.sum()
    precision, recall = [], []
    for thr in range(256):
        binary = (pred > thr / 255.0).astype(np.float64)
        tp = (binary * hard_gt).sum()
        n_pred = binary.sum()
        precision.append((tp + eps) / (n_pred + eps))
        recall.append((tp + eps) / (n_gt + eps))
    return precision, recall, mae


def r3net_dataset(pairs):
    """``infer.py``: running means of each threshold's P and R and of the MAE
    (``AvgMeter``), then F (β² = 0.3) of the averaged curves, max over t.
    Returns ``max_f``, ``mae``, ``precision``, ``recall`` and ``f`` (the curve)."""
    p_sum = [0.0] * 256
    r_sum = [0.0] * 256
    mae_sum = 0.0
    for pred, gt in pairs:
        p, r, m = r3net_pr_mae(pred, gt)
        for i in range(256):
            p_sum[i] += p[i]
            r_sum[i] += r[i]
        mae_sum += m
    n = len(pairs)
    p_avg = [s / n for s in p_sum]
    r_avg = [s / n for s in r_sum]
    f = [(1 + 0.3) * p * r / (0.3 * p + r) for p, r in zip(p_avg, r_avg)]
    return {"max_f": max(f), "mae": mae_sum / n, "precision": p_avg, "recall": r_avg, "f": f}


# -- histograms and sums ---------------------------------------------------------------

def numpy_quadrants(pred: np.ndarray, gt: np.ndarray, thr: int, cy: int, cx: int) -> np.ndarray:
    """Per-quadrant histograms of a uint8 map split at row ``cy`` / column ``cx``:
    ``out[q, c, v]`` counts pixels of quadrant q (TL, TR, BL, BR) with map value
    v and class c (1 where ``gt >= thr``), by ``np.bincount``."""
    cls = (gt.astype(np.int64) >= thr).astype(np.int64)
    idx = pred.astype(np.int64) + 256 * cls
    out = np.zeros((4, 2, 256), np.int64)
    for q, (rs, cs) in enumerate(((slice(0, cy), slice(0, cx)), (slice(0, cy), slice(cx, None)),
                                  (slice(cy, None), slice(0, cx)), (slice(cy, None), slice(cx, None)))):
        out[q] = np.bincount(idx[rs, cs].ravel(), minlength=512).reshape(2, 256)
    return out


def exact_mean(values, count: int) -> float:
    """The sum of ``values`` divided by ``count`` in exact rationals, rounded once
    to the nearest float."""
    return float(sum((Fraction(v) for v in values), Fraction(0)) / count)


# -- R3Net's dense CRF (misc.crf_refine), as a direct pydensecrf call ----------------------

def direct_crf(img: np.ndarray, annos: np.ndarray) -> np.ndarray:
    """R3Net's misc.crf_refine spelled out with literal constants (τ 1.05, eps 1e-8,
    Gaussian sxy 3 compat 3, bilateral sxy 60 srgb 5 compat 5, one step);
    ``img`` RGB uint8 (C order), ``annos`` the uint8 map. Returns the uint8 map."""
    import pydensecrf.densecrf as dcrf

    assert img.dtype == np.uint8 and annos.dtype == np.uint8
    assert img.shape[:2] == annos.shape
    a = annos / 255.0
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    n_e = -np.log(1.0 - a + 1e-8) / (1.05 * sig(1 - a))
    p_e = -np.log(a + 1e-8) / (1.05 * sig(a))
    u = np.zeros((2, img.shape[0] * img.shape[1]), dtype="float32")
    u[0, :] = n_e.flatten()
    u[1, :] = p_e.flatten()
    d = dcrf.DenseCRF2D(img.shape[1], img.shape[0], 2)
    d.setUnaryEnergy(u)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=60, srgb=5, rgbim=img, compat=5)
    res = np.array(d.inference(1)).astype("float32")[1, :] * 255
    return res.reshape(img.shape[:2]).astype("uint8")
