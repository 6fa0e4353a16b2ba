"""Multi-scale IoU (Ahmadzadeh et al., ICIP 2021) as PySODMetrics 1.6.2's
``MSIoU(with_dynamic=True, with_adaptive=True, with_binary=True)``
computes it.

Per binary map B: the edge maps of B and of the GT (Sobel response nonzero,
see :mod:`salbench.metrics.kernels.msiou`), shrunk at the cell sizes 1, 2,
4, ..., 512 (a cell is set when it holds an edge pixel; the grid is anchored
at the bottom-right corner); at each scale the ratio
``(|P ∩ G| + 1) / (|G| + 1)``, and MSIoU is the trapezoidal area under the 10
ratios with spacing 1/9. As in the reference, ``|G| + 1`` is a float16 sum
plus 1 in float16 (so it rounds above 2048 GT-edge cells).

Keys: ``msiou`` (B = ``pred > 0.5``, the reference's "binary" result),
``msiou_adp`` (B = ``pred >= min(2 mean, 1)``, "adaptive"), ``msiou_curve``
(257 points, B = ``q >= t`` for t = 0..256 on ``q = (pred * 255).astype(uint8)``,
ascending t as the reference's "dynamic" result), ``msiou_max`` /
``msiou_mean`` (max / mean of the mean curve; per image, of the image's
curve). Every per-image value is defined (the +1 smoothing), so no NaN.
"""

from __future__ import annotations

import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.numeric import BIN_THRESHOLD

#: PySODMetrics ``MSIoU.cell_sizes``: ``2 ** linspace(0, 9, 10, dtype=int)``
CELL_SIZES = np.power(2, np.linspace(0, 9, num=10, dtype=int)).astype(np.int64)
#: dynamic thresholds t = 0..256 of ``q >= t``
N_THRESHOLDS: int = 257

_REF = "PySODMetrics 1.6.2 MSIoU"


def msiou_from_counts(counts: np.ndarray, gcounts: np.ndarray) -> np.ndarray:
    """MSIoU from the per-scale counts of cells with a map and a GT edge
    (``counts``, last axis the scales) and of GT-edge cells (``gcounts``),
    with the reference's arithmetic (float16 GT sum, trapezoid dx = 1/9)."""
    den = (gcounts.astype(np.float16) + np.float16(1)).astype(np.float64)
    ratios = (counts + 1) / den
    return np.trapezoid(ratios, dx=1 / (len(CELL_SIZES) - 1), axis=-1)


class MSIoUFamily(Family):
    """MSIoU of PySODMetrics 1.6.2 at the fixed, adaptive and 257 dynamic
    thresholds. Contribution per image: ``msiou_sample`` (float64 259: the
    257-point curve, the adaptive and the binary value)."""

    name = "msiou"
    image_keys = ("msiou", "msiou_adp", "msiou_max", "msiou_mean")
    #: msiou_max is the max of the mean curve, not a mean of per-image values
    image_mean_keys = ("msiou", "msiou_adp", "msiou_mean")
    keys = image_keys
    curve_keys = ("msiou_curve",)

    def specs(self) -> tuple[MetricSpec, ...]:
        """One :class:`MetricSpec` per key."""
        rows = (("msiou", "MSIoU of pred > 0.5, mean over images", "MSIoU", r"\mathrm{MSIoU}"),
                ("msiou_adp", "MSIoU at the adaptive threshold min(2 mean, 1), mean over images",
                 "MSIoU_adp", r"\mathrm{MSIoU}_{adp}"),
                ("msiou_max", "max over the 257 thresholds of the mean MSIoU curve",
                 "MSIoU_max", r"\mathrm{MSIoU}_{max}"),
                ("msiou_mean", "mean over the 257 thresholds of the mean MSIoU curve",
                 "MSIoU_mean", r"\mathrm{MSIoU}_{mean}"))
        out = [MetricSpec(key=k, family=self.name, definition=d, reference=_REF, higher_is_better=True,
                          header_md=md, header_tex=f"${tex}$") for k, d, md, tex in rows]
        out.append(MetricSpec(key="msiou_curve", family=self.name,
                              definition="MSIoU of q >= t for t = 0..256 (257 points), mean over images",
                              reference=_REF, higher_is_better=True, header_md="MSIoU curve",
                              header_tex=r"$\mathrm{MSIoU}(t)$", per_image=False, curve=True))
        return tuple(out)

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Per-image MSIoU values and the contribution."""
        from salbench.metrics.kernels.msiou import (
            cell_counts_bits, cell_counts_mask, sobel_edges, threshold_edge_bits)

        pred, gt = np.ascontiguousarray(x.pred), np.ascontiguousarray(x.gt)
        h, w = gt.shape
        gedge = np.empty((h, w), np.bool_)
        sobel_edges(gt, gedge)
        lev = (pred * 255).astype(np.uint8).astype(np.int64)
        bits = np.zeros((h, w, 5), np.uint64)
        threshold_edge_bits(lev, bits)
        counts = np.zeros((N_THRESHOLDS, len(CELL_SIZES)), np.int64)
        gcounts = np.zeros(len(CELL_SIZES), np.int64)
        cell_counts_bits(bits, gedge, CELL_SIZES, counts, gcounts)
        fixed = np.zeros((2, len(CELL_SIZES)), np.int64)
        pedge = np.empty((h, w), np.bool_)
        for row, b in enumerate((pred >= x.adaptive_threshold, pred > BIN_THRESHOLD)):
            sobel_edges(b, pedge)
            cell_counts_mask(pedge, gedge, CELL_SIZES, fixed[row])
        values = msiou_from_counts(np.concatenate([counts, fixed]), gcounts)
        curve = values[:N_THRESHOLDS]
        scores = {"msiou": float(values[-1]), "msiou_adp": float(values[-2]),
                  "msiou_max": float(curve.max()), "msiou_mean": float(curve.mean())}
        return scores, {"msiou_sample": values}

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """Dataset values from the mean per-image values (NaN for no image)."""
        if "msiou_sample" not in state:
            return {**{k: float("nan") for k in self.keys}, "msiou_curve": np.full(N_THRESHOLDS, np.nan)}
        v = state["msiou_sample"]
        curve = v[:N_THRESHOLDS].copy()
        return {"msiou": float(v[-1]), "msiou_adp": float(v[-2]), "msiou_max": float(curve.max()),
                "msiou_mean": float(curve.mean()), "msiou_curve": curve}
