"""Relaxed boundary F-measure of BASNet (Qin, Zhang, Huang, Gao, Dehghan and
Jagersand, "BASNet: Boundary-Aware Salient Object Detection", CVPR 2019, §5.2,
"relaxed F-measure of boundary", relaxFbβ), which no public toolbox ships.

Per image:

* the map is binarised as ``pred > 0.5`` on the normalised map
  (:attr:`ImageInput.pred`; the paper says "thresholding with 0.5"; ``>`` is the
  binarisation PySODMetrics uses for its DIS metric HCE, so an 8-bit map that
  lands exactly on 0.5 is background in both); the GT is :attr:`ImageInput.gt`;
* the boundary of a binary mask is ``XOR(mask, erode(mask))`` with the 3x3
  **square** structuring element: the set pixels with an unset pixel among their
  eight neighbours. Pixels outside the image count as set (OpenCV's default
  erosion border): an object cut by the image frame has no boundary there,
  since the frame is not an edge of the object;
* relaxed boundary precision ``P`` = the fraction of predicted boundary pixels
  with a GT boundary pixel within **Euclidean distance** ``rho`` (default 3,
  the paper's ρ), i.e. in the disk ``dy² + dx² <= rho²`` — the paper's "within a
  range of ρ pixels", read as a distance, the same that
  ``distance_transform_edt(~gt_boundary) <= rho`` gives; relaxed boundary recall
  ``R`` = the fraction of GT boundary pixels with a predicted boundary pixel
  within ``rho``;
* ``relaxFbβ = (1 + β²) P R / (β² P + R)`` with β² = 0.3
  (:data:`salbench.metrics.numeric.BETA2`).

Edge cases (every value is defined, every image contributes): ``P = 0`` when the
prediction has no boundary pixel, ``R = 0`` when the GT has none (empty or full
GT), ``F = 0`` when ``P = R = 0``. An empty map on an empty GT therefore scores
0, as does any image whose GT has no boundary.

Dataset values: the mean of each per-image value over the images.
"""

from __future__ import annotations

import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.kernels.boundary import boundary_counts
from salbench.metrics.numeric import BETA2, BIN_THRESHOLD

#: BASNet's relaxation radius ρ (pixels); the map is binarised at
#: :data:`salbench.metrics.numeric.BIN_THRESHOLD`.
RELAX_RHO: float = 3.0

_REF = "Qin et al., BASNet, CVPR 2019 (relaxed boundary F-measure)"


def relax_boundary_scores(pred: np.ndarray, gt: np.ndarray, rho: float = RELAX_RHO,
                          beta2: float = BETA2) -> tuple[float, float, float]:
    """``(relaxFbβ, P, R)`` of one image: ``pred`` the normalised map in [0, 1]
    (binarised at ``> 0.5``), ``gt`` the bool GT (module docstring)."""
    n_p, n_g, m_p, m_g = boundary_counts(pred > BIN_THRESHOLD, gt, rho)
    p = m_p / n_p if n_p else 0.0
    r = m_g / n_g if n_g else 0.0
    f = (1 + beta2) * p * r / (beta2 * p + r) if p + r > 0 else 0.0
    return float(f), float(p), float(r)


class RelaxedBoundaryFamily(Family):
    """BASNet's relaxed boundary F-measure, precision and recall per image and
    their means over the images (module docstring)."""

    name = "boundary"
    image_keys = ("relax_bf", "relax_bp", "relax_br")
    image_mean_keys = image_keys
    keys = ("relax_bf", "relax_bp", "relax_br")
    curve_keys = ()

    def __init__(self, rho: float = RELAX_RHO) -> None:
        self.rho = float(rho)

    def specs(self) -> tuple[MetricSpec, ...]:
        """One row per key (F, precision, recall)."""
        rho = f"{self.rho:g}"
        rows = (
            ("relax_bf", f"relaxed boundary F-measure (β²=0.3): boundaries of the map binarised at 0.5 "
                         f"and of the GT matched within Euclidean distance {rho}",
             "relaxFbβ", r"relax$F_b^\beta$"),
            ("relax_bp", f"relaxed boundary precision: share of predicted boundary pixels within {rho} px "
                         "of a GT boundary pixel", "relaxPb", r"relax$P_b$"),
            ("relax_br", f"relaxed boundary recall: share of GT boundary pixels within {rho} px "
                         "of a predicted boundary pixel", "relaxRb", r"relax$R_b$"),
        )
        return tuple(MetricSpec(key=k, family=self.name, definition=d, reference=_REF,
                                higher_is_better=True, header_md=md, header_tex=tex,
                                protocols=("pysodmetrics",))
                     for k, d, md, tex in rows)

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """The image's relaxFbβ, P and R (always defined) and its contribution."""
        f, p, r = relax_boundary_scores(x.pred, x.gt, self.rho)
        scores = {"relax_bf": f, "relax_bp": p, "relax_br": r}
        return scores, {k: np.array([v], np.float64) for k, v in scores.items()}

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """The mean of each key over the images (NaN without images)."""
        return {k: float(state[k][0]) if k in state else float("nan") for k in self.keys}
