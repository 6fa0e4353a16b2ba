"""PySODMetrics 1.6.2's FmeasureV2 family: fourteen confusion-count metrics of
a saliency map at the 256 thresholds, at the adaptive threshold and at the
fixed ``pred > 0.5`` threshold.

Metrics ``m`` (handler of ``py_sod_metrics/fmeasurev2.py``): ``precision``
(PrecisionHandler), ``recall`` (RecallHandler), ``fm`` (FmeasureHandler,
β² = 0.3), ``f1`` (FmeasureHandler, beta = 1), ``iou`` (IOUHandler),
``dice`` (DICEHandler), ``ber`` (BERHandler), ``kappa`` (KappaHandler),
``oa`` (OverallAccuracyHandler), ``specificity`` (SpecificityHandler),
``sensitivity`` / ``tpr`` (SensitivityHandler / TPRHandler, both
RecallHandler), ``tnr`` (TNRHandler = SpecificityHandler), ``fpr``
(FPRHandler). Every handler divides with PySODMetrics' ``divide`` (a zero
denominator gives 0), so no value is ever undefined: no per-image NaN.

Aggregations, as FmeasureV2.get_results gives them and PySODMetrics'
``examples/test_metrics.py`` reduces them:

* ``v2_<m>_curve``: the mean over images of the per-image 256-point curve,
  in PySODMetrics' order (index i: binarisation ``q >= 255 - i`` of the
  quantised map ``q = (pred * 255).astype(uint8)``);
* ``v2_<m>_max`` / ``v2_<m>_mean``: max / mean of that mean curve (per image:
  of the image's curve);
* ``v2_<m>_adp``: mean over images of the value at ``pred >= min(2 mean, 1)``;
* ``v2_<m>_bin``: mean over images of the value at ``pred > 0.5``
  (handler ``with_binary=True, sample_based=True``);
* ``v2_<m>_ds_bin``: the metric of the TP / FP / TN / FN at ``pred > 0.5``
  summed over the dataset (``sample_based=False``). The reference defines no
  other dataset-based value: a ``sample_based=False`` handler still returns
  the per-image mean for its dynamic and adaptive results, so there are no
  ``ds_max`` / ``ds_mean`` / ``ds_adp`` / ``ds_curve`` keys;
* ``v2_auc_pr`` / ``v2_auc_roc``: the trapezoidal area under the mean
  precision-recall and TPR-FPR curves, sorted by x (stable), as
  ``examples/test_metrics.py``'s ``cal_auc``.

The dynamic counts come from :attr:`ImageInput.qhist` (no pass over the
pixels); the adaptive and binary counts from one compiled pass over
``pred``.
"""

from __future__ import annotations

import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.numeric import BETA2, BIN_THRESHOLD, N_BINS

#: β of PySODMetrics' F1 handler (``FmeasureHandler(beta=1)``; an int, as there)
F1_BETA: int = 1

#: the distinct handlers, in the row order of :func:`handler_table`
BASE: tuple[str, ...] = ("precision", "recall", "fm", "f1", "iou", "dice", "ber",
                         "kappa", "oa", "specificity", "fpr")
#: reported metrics that are another handler under a second name
ALIASES: dict[str, str] = {"sensitivity": "recall", "tpr": "recall", "tnr": "specificity"}
#: every reported metric, in output order
METRICS: tuple[str, ...] = ("precision", "recall", "fm", "f1", "iou", "dice", "ber", "kappa",
                            "oa", "specificity", "sensitivity", "tpr", "tnr", "fpr")
ROW: dict[str, int] = {m: BASE.index(ALIASES.get(m, m)) for m in METRICS}

#: (definition, PySODMetrics handler, higher is better, display name) per metric
INFO: dict[str, tuple[str, str, bool, str]] = {
    "precision": ("precision TP / (TP + FP)", "PrecisionHandler", True, "Pre"),
    "recall": ("recall TP / (TP + FN)", "RecallHandler", True, "Rec"),
    "fm": ("F-measure (1 + β²) P R / (β² P + R), β² = 0.3", "FmeasureHandler", True, "F_β"),
    "f1": ("F1 2 P R / (P + R)", "FmeasureHandler(beta=1)", True, "F_1"),
    "iou": ("IoU TP / (TP + FP + FN)", "IOUHandler", True, "IoU"),
    "dice": ("Dice 2 TP / (2 TP + FP + FN)", "DICEHandler", True, "Dice"),
    "ber": ("balanced error rate 1 - (TPR + TNR) / 2", "BERHandler", False, "BER"),
    "kappa": ("Cohen's kappa (OA - p_e) / (1 - p_e)", "KappaHandler", True, "κ"),
    "oa": ("overall accuracy (TP + TN) / N", "OverallAccuracyHandler", True, "OA"),
    "specificity": ("specificity TN / (TN + FP)", "SpecificityHandler", True, "Spec"),
    "sensitivity": ("sensitivity TP / (TP + FN)", "SensitivityHandler", True, "Sen"),
    "tpr": ("true positive rate TP / (TP + FN)", "TPRHandler", True, "TPR"),
    "tnr": ("true negative rate TN / (TN + FP)", "TNRHandler", True, "TNR"),
    "fpr": ("false positive rate FP / (FP + TN)", "FPRHandler", False, "FPR"),
}
_TEX = {"F_β": r"F_{\beta}", "F_1": "F_{1}", "κ": r"\kappa"}


def divide(numerator, denominator):
    """PySODMetrics' ``_BaseHandler.divide``: float64 ``numerator /
    denominator``, 0 where the denominator is 0."""
    denominator = np.array(denominator, dtype=np.float64)
    np.divide(numerator, denominator, out=denominator, where=denominator != 0)
    return denominator


def _fmeasure(p, r, beta):
    return divide((beta + 1) * p * r, beta * p + r)


def _ber(tp, fp, tn, fn):
    fg = np.asarray(tp + fn, dtype=np.float64)
    bg = np.asarray(tn + fp, dtype=np.float64)
    np.divide(tp, fg, out=fg, where=fg != 0)
    np.divide(tn, bg, out=bg, where=bg != 0)
    return 1 - 0.5 * (fg + bg)


def handler_table(tp, fp, tn, fn) -> np.ndarray:
    """The :data:`BASE` handlers of PySODMetrics 1.6.2 on the counts (arrays
    of one shape, or Python ints), with the reference's operations in the
    reference's order: float64 array of shape ``(len(BASE),) + shape``."""
    p = divide(tp, tp + fp)
    r = divide(tp, tp + fn)
    oa = divide(tp + tn, tp + fp + tn + fn)
    hyp = divide((tp + fp) * (tp + fn) + (tn + fn) * (tn + tp), (tp + fp + tn + fn) ** 2)
    spec = divide(tn, tn + fp)
    return np.stack([
        p, r, _fmeasure(p, r, BETA2), _fmeasure(p, r, F1_BETA),
        divide(tp, tp + fp + fn), divide(2 * tp, tp + fn + tp + fp), _ber(tp, fp, tn, fn),
        divide(oa - hyp, 1 - hyp), oa, spec, divide(fp, tn + fp),
    ])


def cal_auc(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoidal area under ``y(x)`` after a stable sort by ``x``
    (PySODMetrics' ``examples/test_metrics.py`` ``cal_auc``)."""
    order = np.argsort(x, axis=-1, kind="stable")
    return np.trapezoid(y=np.take_along_axis(y, order, -1), x=np.take_along_axis(x, order, -1), axis=-1)


def dynamic_counts(qhist: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """TP and FP at the 256 thresholds ``q >= 255 - i`` from a (2, 256)
    histogram (row 0 background, row 1 foreground), and FG, BG."""
    tps = np.cumsum(qhist[1, ::-1])
    fps = np.cumsum(qhist[0, ::-1])
    return tps, fps, int(tps[-1]), int(fps[-1])


def metric_spec(key: str, family: str, m: str, agg: str, reference: str, *,
                curve: bool = False, per_image: bool = True) -> MetricSpec:
    """The :class:`MetricSpec` of metric ``m`` (a key of :data:`INFO`) under
    aggregation ``agg`` (``max``, ``mean``, ``adp``, ``bin``, ``ds_max``,
    ``ds_mean``, ``ds_bin``, ``curve``, ``ds_curve``), with ``reference``
    naming the PySODMetrics class."""
    definition, handler, hib, name = INFO[m]
    what = {"max": "max over the 256 thresholds of the mean curve",
            "mean": "mean over the 256 thresholds of the mean curve",
            "adp": "mean over images at the adaptive threshold min(2 mean, 1)",
            "bin": "mean over images at pred > 0.5",
            "ds_max": "max of the curve averaged over all targets of the dataset",
            "ds_mean": "mean of the curve averaged over all targets of the dataset",
            "ds_bin": "of the TP/FP/TN/FN at pred > 0.5 summed over the dataset",
            "curve": "256-point curve (index i: q >= 255 - i), mean over images",
            "ds_curve": "256-point curve (index i: q >= 255 - i), mean over all targets"}[agg]
    tex = _TEX.get(name, r"\mathrm{" + name + "}")
    sub = agg.replace("_", "-")
    return MetricSpec(key=key, family=family, definition=f"{definition}, {what}",
                      reference=f"PySODMetrics 1.6.2 {reference} ({handler})",
                      higher_is_better=hib, header_md=f"{name}_{sub}",
                      header_tex=f"${tex}_{{{sub}}}$", per_image=per_image and not curve, curve=curve)


class FmeasureV2Family(Family):
    """FmeasureV2 of PySODMetrics 1.6.2 with all fourteen handlers (see the
    module docstring for the keys and the aggregations).

    Contribution per image: ``v2_sample`` (float64 (11, 258): the BASE
    handlers' 256-point curve, adaptive value and binary value) and
    ``v2_bin_counts`` (int64 TP, FP, TN, FN at ``pred > 0.5``)."""

    name = "fmv2"
    image_keys = tuple(f"v2_{m}_{a}" for m in METRICS for a in ("max", "mean", "adp", "bin"))
    #: the max of the mean curve is not a mean of per-image values; mean, adp and bin are
    image_mean_keys = tuple(f"v2_{m}_{a}" for m in METRICS for a in ("mean", "adp", "bin"))
    keys = image_keys + tuple(f"v2_{m}_ds_bin" for m in METRICS) + ("v2_auc_pr", "v2_auc_roc")
    curve_keys = tuple(f"v2_{m}_curve" for m in METRICS)

    def specs(self) -> tuple[MetricSpec, ...]:
        """One :class:`MetricSpec` per key (scalars, then curves)."""
        out = []
        for m in METRICS:
            for agg in ("max", "mean", "adp", "bin"):
                out.append(metric_spec(f"v2_{m}_{agg}", self.name, m, agg, "FmeasureV2"))
        for m in METRICS:
            out.append(metric_spec(f"v2_{m}_ds_bin", self.name, m, "ds_bin", "FmeasureV2", per_image=False))
        for key, what, hdr in (("v2_auc_pr", "area under the mean precision-recall curve", "AUC-PR"),
                               ("v2_auc_roc", "area under the mean ROC curve (TPR over FPR)", "AUC-ROC")):
            out.append(MetricSpec(key=key, family=self.name, definition=f"{what} (trapezoidal, sorted by x)",
                                  reference="PySODMetrics 1.6.2 FmeasureV2, examples/test_metrics.py cal_auc",
                                  higher_is_better=True, header_md=hdr, header_tex=r"$\mathrm{" + hdr + "}$",
                                  per_image=False))
        for m in METRICS:
            out.append(metric_spec(f"v2_{m}_curve", self.name, m, "curve", "FmeasureV2", curve=True))
        return tuple(out)

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Per-image max / mean / adp / bin of every metric, and the
        contribution (curves, adaptive and binary values, binary counts)."""
        tps, fps, fg, bg = dynamic_counts(x.qhist)
        if x.hist is not None and x.val is not None:  # 8-bit map: from its histogram, no pixel pass
            c = np.array(x.counts_at(x.adaptive_threshold, True) + x.counts_at(BIN_THRESHOLD, False), np.int64)
        else:
            from salbench.metrics.kernels.confusion import threshold_counts

            c = np.empty(4, np.int64)
            threshold_counts(x.pred.reshape(-1), x.gt.reshape(-1), x.adaptive_threshold, BIN_THRESHOLD, c)
        tp = np.concatenate([tps, c[0:1], c[2:3]])
        fp = np.concatenate([fps, c[1:2], c[3:4]])
        from salbench.metrics.kernels.confusion import handler_rows

        table = np.empty((len(BASE), tp.shape[0]), np.float64)
        handler_rows(tp, fp, bg - fp, fg - tp, BETA2, float(F1_BETA), table)
        curves = table[:, :N_BINS]
        vmax, vmean = curves.max(axis=1), curves.mean(axis=1)
        scores = {}
        for m in METRICS:
            i = ROW[m]
            scores[f"v2_{m}_max"] = float(vmax[i])
            scores[f"v2_{m}_mean"] = float(vmean[i])
            scores[f"v2_{m}_adp"] = float(table[i, N_BINS])
            scores[f"v2_{m}_bin"] = float(table[i, N_BINS + 1])
        counts = np.array([c[2], c[3], bg - c[3], fg - c[2]], np.int64)
        return scores, {"v2_sample": table, "v2_bin_counts": counts}

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """Dataset values from the mean per-image table and the summed
        binary counts (NaN everywhere for zero images)."""
        out: dict = {}
        if n_images == 0 or "v2_sample" not in state:
            out.update({k: float("nan") for k in self.keys})
            out.update({k: np.full(N_BINS, np.nan) for k in self.curve_keys})
            return out
        table = state["v2_sample"]
        tp, fp, tn, fn = (int(v) for v in state["v2_bin_counts"])
        ds = handler_table(tp, fp, tn, fn)
        for m in METRICS:
            i = ROW[m]
            curve = table[i, :N_BINS].copy()
            out[f"v2_{m}_max"] = float(curve.max())
            out[f"v2_{m}_mean"] = float(curve.mean())
            out[f"v2_{m}_adp"] = float(table[i, N_BINS])
            out[f"v2_{m}_bin"] = float(table[i, N_BINS + 1])
            out[f"v2_{m}_ds_bin"] = float(ds[i])
            out[f"v2_{m}_curve"] = curve
        pre, rec, fpr = (table[ROW[m], :N_BINS] for m in ("precision", "recall", "fpr"))
        out["v2_auc_pr"] = float(cal_auc(np.flip(pre), np.flip(rec)))
        out["v2_auc_roc"] = float(cal_auc(np.flip(rec), np.flip(fpr)))
        return out
