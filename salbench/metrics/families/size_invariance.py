"""Size-invariant metrics (Li et al., ICML 2024) as PySODMetrics 1.6.2's
``size_invariance.py`` computes them: ``SizeInvarianceMAE`` and
``SizeInvarianceFmeasureV2`` with the fourteen FmeasureV2 handlers of
:mod:`salbench.metrics.families.confusion`.

Targets of an image (``parse_connected_components``): the 4-connected
components of the GT (skimage ``label(connectivity=1)``) with area >= 50; if
none reaches 50, every component of the largest area; with no component at
all (empty GT) the whole image is the single "target". Each target is the
bounding box of its component: the map is set to 0 and the GT to background
outside the box, and every FmeasureV2 statistic is taken over the whole
image (so the pixels outside the box count as background at level 0: they
are FP at the lowest threshold, and at the adaptive threshold when it is 0).
The adaptive threshold of a target is ``min(2 mean(pred · box), 1)`` over the
whole image.

Aggregations, as PySODMetrics' ``examples/test_metrics.py`` reduces
``get_results`` (``reduce_dynamic_results_for_max_avg`` / ``_for_auc``) and
``examples/metric_recorder.py`` forms the sample curve:

* sample-based (``sample_based=True``): per image, the mean over its targets
  of each target's curve max (``si_<m>_max``), curve mean (``si_<m>_mean``),
  adaptive value (``si_<m>_adp``), ``pred > 0.5`` value (``si_<m>_bin``),
  AUC-PR / AUC-ROC (``si_auc_pr`` / ``si_auc_roc``) and curve
  (``si_<m>_curve``); the dataset value is the mean over images;
* overall (``sample_based=False``): ``si_<m>_ds_curve`` is the mean curve
  over all targets of the dataset, ``si_<m>_ds_max`` / ``si_<m>_ds_mean``
  its max / mean, ``si_ds_auc_pr`` / ``si_ds_auc_roc`` the areas under it;
  ``si_<m>_ds_bin`` the metric of the ``pred > 0.5`` counts summed over all
  targets. The reference has no overall adaptive value.
* ``si_mae``: with targets, ``Σ_t |pred - gt|_box_t / area_t · f`` plus the
  background term ``r · |pred - gt|_bg / area_bg · f``, where bg is the
  pixels outside every box, ``r = area_bg / (N - area_bg)`` and
  ``f = 1 / (T + r)``; without targets ``mean |pred - gt|``.

Undefined cases, as the reference behaves:

* GT entirely foreground: the reference raises (AssertionError, no
  background label); every per-image score is NaN and the image contributes
  nothing (it drops out of every mean).
* boxes covering the whole image (no background pixel outside them):
  the reference's ``si_mae`` is ``0 / 0`` = NaN for the image, and its
  dataset mean (``np.mean``) is NaN; here the per-image ``si_mae`` is NaN and
  the dataset ``si_mae`` is NaN too (int key ``si_mae_undefined``). The other
  keys are unaffected.

Target masks: the reference encodes target ``k`` as bit ``k - 1`` of a
float64 sum of the boxes. Up to 53 targets the encoding is exact and each
mask is its box (the compiled box passes). With 54-63 targets the float sum
can round (a pixel under boxes whose bits lie 53 or more apart loses or
gains bits): the family rebuilds the reference's float encoding and scores
any target whose mask is not its box on that mask, with NumPy, as the
reference does. Deviation: with 64 or more targets the reference raises
OverflowError; here every target is then its box.
"""

from __future__ import annotations

import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.families.confusion import (
    BASE, METRICS, ROW, cal_auc, dynamic_counts, handler_table, metric_spec)
from salbench.metrics.numeric import ADAPTIVE_CAP, ADAPTIVE_FACTOR, ADAPTIVE_TIE_TOL, BIN_THRESHOLD, N_BINS

#: PySODMetrics ``parse_connected_components``: least area of a valid target
AREA_THRESHOLD: int = 50

_REF_FM = "SizeInvarianceFmeasureV2"
_PRE, _REC, _FPR = BASE.index("precision"), BASE.index("recall"), BASE.index("fpr")


def targets(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-open boxes ``(r0, r1, c0, c1)`` of the targets of a bool GT, in
    the reference's order (raster order of the components' first pixels);
    empty arrays when the GT has no component."""
    from salbench.metrics.kernels.components import label4

    n, area, r0, r1, c0, c1 = label4(gt)
    if n == 0:
        return r0, r1, c0, c1
    keep = area >= AREA_THRESHOLD
    if not keep.any():
        keep = area == area.max()
    return r0[keep], r1[keep], c0[keep], c1[keep]


def _box_counts(pred, gt, box) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    """The counts of one target: TP and FP (258: 256 thresholds, adaptive,
    binary), FG, box area, ``sum |pred - gt|`` over the box."""
    from salbench.metrics.kernels.components import box_adaptive, box_pass

    r0, r1, c0, c1 = (int(v) for v in box)
    size = gt.size
    area = (r1 - r0) * (c1 - c0)
    hist = np.empty((2, N_BINS), np.int64)
    ci = np.empty(3, np.int64)
    cf = np.empty(2, np.float64)
    box_pass(pred, gt, r0, r1, c0, c1, BIN_THRESHOLD, hist, ci, cf)
    hist[0, 0] += size - area  # outside the box: map 0, background
    thr = min(ADAPTIVE_FACTOR * (cf[0] / size), ADAPTIVE_CAP)
    ca = np.empty(2, np.int64)
    if box_adaptive(pred, gt, r0, r1, c0, c1, thr, ca) <= ADAPTIVE_TIE_TOL:
        mask = np.zeros(gt.shape, bool)
        mask[r0:r1, c0:c1] = True
        thr = min(ADAPTIVE_FACTOR * (pred * mask).mean(), ADAPTIVE_CAP)  # the reference's own float
        box_adaptive(pred, gt, r0, r1, c0, c1, thr, ca)
    if thr <= 0:
        ca[1] += size - area  # 0 >= thr outside the box
    tps, fps, _, _ = dynamic_counts(hist)
    tp = np.concatenate([tps, ca[0:1], ci[1:2]])
    fp = np.concatenate([fps, ca[1:2], ci[2:3]])
    return tp, fp, int(ci[0]), area, float(cf[1])


#: targets the reference's float64 bit encoding holds exactly (53-bit mantissa)
EXACT_TARGETS: int = 53
#: targets from which the reference's int64 bit extraction overflows
OVERFLOW_TARGETS: int = 64


def reference_masks(shape, r0, r1, c0, c1) -> list:
    """The reference's target masks (``encode_bboxwise_tgts_bitwise`` then
    ``get_kth_bit``) for 54-63 targets: per target the bool mask where it
    differs from the target's box, else None."""
    weights = np.zeros(shape, np.float64)
    for k in range(r0.size):
        weights[r0[k]:r1[k], c0[k]:c1[k]] += float(1 << k)
    n = weights.astype(np.int64)
    out = []
    for k in range(r0.size):
        mask = ((n >> k) & 1) > 0
        box = np.zeros(shape, bool)
        box[r0[k]:r1[k], c0[k]:c1[k]] = True
        out.append(None if np.array_equal(mask, box) else mask)
    return out


def _mask_counts(pred, gt, mask) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    """:func:`_box_counts` for an arbitrary target mask, with the
    reference's NumPy operations."""
    p, g = pred * mask, gt & mask
    fg = int(np.count_nonzero(g))
    q = (p * 255).astype(np.uint8)
    hist = np.stack([np.bincount(q[~g], minlength=N_BINS), np.bincount(q[g], minlength=N_BINS)])
    tps, fps, _, _ = dynamic_counts(hist.astype(np.int64))
    a = p >= min(ADAPTIVE_FACTOR * p.mean(), ADAPTIVE_CAP)
    b = p > BIN_THRESHOLD
    tp = np.concatenate([tps, [np.count_nonzero(a[g]), np.count_nonzero(b[g])]])
    fp = np.concatenate([fps, [np.count_nonzero(a[~g]), np.count_nonzero(b[~g])]])
    return tp, fp, fg, int(np.count_nonzero(mask)), float(np.abs(p - g).sum())


class SizeInvarianceFamily(Family):
    """Size-invariant MAE and FmeasureV2 of PySODMetrics 1.6.2 (see the
    module docstring for the keys, target rules and aggregations).

    Contribution per image: ``si_sample`` (float64 (11, 260): per handler the
    image's max, mean, adp, bin, then its 256-point curve), ``si_auc``
    (AUC-PR, AUC-ROC), ``si_target_curve_sum`` (the sum of its targets'
    curves), int ``si_targets`` (its number of targets), int
    ``si_bin_counts`` (TP, FP, TN, FN at ``pred > 0.5`` summed over its
    targets), and ``si_mae`` or, where undefined, int ``si_mae_undefined``."""

    name = "si"
    image_keys = (tuple(f"si_{m}_{a}" for m in METRICS for a in ("max", "mean", "adp", "bin"))
                  + ("si_auc_pr", "si_auc_roc", "si_mae"))
    #: averaged over the images; not si_mae, which is undefined for the whole
    #: dataset as soon as one image's is (as in the reference)
    image_mean_keys = image_keys[:-1]
    keys = image_keys + tuple(f"si_{m}_{a}" for m in METRICS for a in ("ds_max", "ds_mean", "ds_bin")) \
        + ("si_ds_auc_pr", "si_ds_auc_roc")
    curve_keys = tuple(f"si_{m}_{a}" for m in METRICS for a in ("curve", "ds_curve"))

    def specs(self) -> tuple[MetricSpec, ...]:
        """One :class:`MetricSpec` per key (scalars, then curves)."""
        out = [metric_spec(f"si_{m}_{a}", self.name, m, a, _REF_FM)
               for m in METRICS for a in ("max", "mean", "adp", "bin")]
        auc = {"pr": "area under the precision-recall curve", "roc": "area under the ROC curve (TPR over FPR)"}
        for kind, what in auc.items():
            out.append(MetricSpec(
                key=f"si_auc_{kind}", family=self.name,
                definition=f"{what} of each target, mean over targets, mean over images",
                reference=f"PySODMetrics 1.6.2 {_REF_FM}, examples/test_metrics.py reduce_dynamic_results_for_auc",
                higher_is_better=True, header_md=f"SI-AUC-{kind.upper()}",
                header_tex=r"$\mathrm{SI\text{-}AUC\text{-}" + kind.upper() + "}$"))
        out.append(MetricSpec(
            key="si_mae", family=self.name,
            definition="size-invariant MAE: per-target box MAE and background MAE, weighted by 1/(T + r)",
            reference="PySODMetrics 1.6.2 SizeInvarianceMAE", higher_is_better=False,
            header_md="SI-MAE", header_tex=r"$\mathrm{SI\text{-}MAE}$"))
        out += [metric_spec(f"si_{m}_{a}", self.name, m, a, _REF_FM, per_image=False)
                for m in METRICS for a in ("ds_max", "ds_mean", "ds_bin")]
        for kind, what in auc.items():
            out.append(MetricSpec(
                key=f"si_ds_auc_{kind}", family=self.name,
                definition=f"{what} of the mean curves over all targets of the dataset",
                reference=f"PySODMetrics 1.6.2 {_REF_FM}, examples/test_metrics.py cal_auc",
                higher_is_better=True, header_md=f"SI-AUC-{kind.upper()}_ds",
                header_tex=r"$\mathrm{SI\text{-}AUC\text{-}" + kind.upper() + "}_{ds}$", per_image=False))
        out += [metric_spec(f"si_{m}_{a}", self.name, m, a, _REF_FM, curve=True)
                for m in METRICS for a in ("curve", "ds_curve")]
        return tuple(out)

    def _counts(self, x: ImageInput):
        """Stacked per-target TP, FP, FG, BG and the image's si_mae."""
        from salbench.metrics.kernels.components import outside_boxes
        from salbench.metrics.kernels.confusion import threshold_counts

        pred, gt = np.ascontiguousarray(x.pred), np.ascontiguousarray(x.gt)
        size = gt.size
        r0, r1, c0, c1 = targets(gt)
        if r0.size == 0:  # no component: the whole image, as FmeasureV2 / MAE
            tps, fps, fg, _ = dynamic_counts(x.qhist)
            c = np.empty(4, np.int64)
            threshold_counts(pred.reshape(-1), gt.reshape(-1), x.adaptive_threshold, BIN_THRESHOLD, c)
            tp = np.concatenate([tps, c[0:1], c[2:3]])[None]
            fp = np.concatenate([fps, c[1:2], c[3:4]])[None]
            fgs = np.array([fg], np.int64)
            return tp, fp, fgs, size - fgs, float(np.abs(pred - gt).mean())
        masks = [None] * r0.size
        if EXACT_TARGETS < r0.size < OVERFLOW_TARGETS:
            masks = reference_masks(gt.shape, r0, r1, c0, c1)
        rows = [_box_counts(pred, gt, box) if mask is None else _mask_counts(pred, gt, mask)
                for box, mask in zip(zip(r0, r1, c0, c1), masks)]
        tp = np.stack([r[0] for r in rows])
        fp = np.stack([r[1] for r in rows])
        fgs = np.array([r[2] for r in rows], np.int64)
        bg_area, bg_ad = outside_boxes(pred, gt, r0, r1, c0, c1)
        n_t = len(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = bg_area / (size - bg_area)
            factor = 1 / (n_t + ratio)
            mae = ratio * np.float64(bg_ad) / bg_area * factor if bg_area else float("nan")
        for r in rows:
            mae += r[4] / r[3] * factor
        return tp, fp, fgs, size - fgs, float(mae)

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Per-image scores and contribution (NaN scores and no contribution
        for an all-foreground GT)."""
        if x.gt.size == 0 or x.gt.all():
            return {k: float("nan") for k in self.image_keys}, {}
        tp, fp, fg, bg, mae = self._counts(x)
        table = handler_table(tp, fp, bg[:, None] - fp, fg[:, None] - tp)  # (11, T, 258)
        curves = table[:, :, :N_BINS]
        sample = np.empty((len(BASE), 4 + N_BINS))
        for i in range(len(BASE)):
            s = curves[i]
            sample[i, 0] = s.max(axis=-1).mean()
            sample[i, 1] = s.mean(axis=-1).mean()
            sample[i, 2] = np.mean(table[i, :, N_BINS])
            sample[i, 3] = np.mean(table[i, :, N_BINS + 1])
            sample[i, 4:] = s.mean(axis=0)
        pre, rec, fpr = (np.flip(curves[i], -1) for i in (_PRE, _REC, _FPR))
        auc = np.array([cal_auc(pre, rec).mean(), cal_auc(rec, fpr).mean()])
        tpb, fpb = tp[:, N_BINS + 1], fp[:, N_BINS + 1]
        counts = np.array([tpb.sum(), fpb.sum(), (bg - fpb).sum(), (fg - tpb).sum()], np.int64)
        scores = {}
        for m in METRICS:
            for j, a in enumerate(("max", "mean", "adp", "bin")):
                scores[f"si_{m}_{a}"] = float(sample[ROW[m], j])
        scores["si_auc_pr"], scores["si_auc_roc"] = float(auc[0]), float(auc[1])
        scores["si_mae"] = mae
        contrib = {"si_sample": sample, "si_auc": auc, "si_target_curve_sum": curves.sum(axis=1),
                   "si_targets": np.array([tp.shape[0]], np.int64), "si_bin_counts": counts}
        if np.isnan(mae):
            contrib["si_mae_undefined"] = np.ones(1, np.int64)
        else:
            contrib["si_mae"] = np.array([mae])
        return scores, contrib

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """Dataset values: means over the images that gave them, the overall
        curves (target-weighted) and the summed binary counts; NaN where no
        image contributed."""
        out: dict = {k: float("nan") for k in self.keys}
        out.update({k: np.full(N_BINS, np.nan) for k in self.curve_keys})
        if "si_sample" not in state:
            return out
        sample = state["si_sample"]
        n_img = int(state["_count:si_sample"])
        ds_curves = state["si_target_curve_sum"] * n_img / int(state["si_targets"][0])
        tp, fp, tn, fn = (int(v) for v in state["si_bin_counts"])
        ds_bin = handler_table(tp, fp, tn, fn)
        for m in METRICS:
            i = ROW[m]
            for j, a in enumerate(("max", "mean", "adp", "bin")):
                out[f"si_{m}_{a}"] = float(sample[i, j])
            out[f"si_{m}_curve"] = sample[i, 4:].copy()
            out[f"si_{m}_ds_curve"] = ds_curves[i].copy()
            out[f"si_{m}_ds_max"] = float(ds_curves[i].max())
            out[f"si_{m}_ds_mean"] = float(ds_curves[i].mean())
            out[f"si_{m}_ds_bin"] = float(ds_bin[i])
        out["si_auc_pr"], out["si_auc_roc"] = (float(v) for v in state["si_auc"])
        out["si_ds_auc_pr"] = float(cal_auc(np.flip(ds_curves[_PRE]), np.flip(ds_curves[_REC])))
        out["si_ds_auc_roc"] = float(cal_auc(np.flip(ds_curves[_REC]), np.flip(ds_curves[_FPR])))
        if int(state.get("si_mae_undefined", np.zeros(1))[0]) == 0 and "si_mae" in state:
            out["si_mae"] = float(state["si_mae"][0])
        return out
