"""Human Correction Effort (HCE) of DIS (Qin, Dai, Hu, Fan, Shao and Van Gool,
"Highly Accurate Dichotomous Image Segmentation", ECCV 2022), as PySODMetrics
1.6.2's ``HumanCorrectionEffortMeasure`` (``sod_metrics.py``) computes it, with
its parameters ``relax = 5`` and ``epsilon = 2.0``.

Per image (lower is better; an integer count of mouse clicks):

* the map is binarised at ``pred > 0.5`` on the normalised map
  (:attr:`ImageInput.pred`, exactly the reference's normalised input) and the
  GT is :attr:`ImageInput.gt` (``gt > 128``); no other input is needed;
* ``TP = pred & gt``, ``FP = pred & ~gt``, ``FN = gt & ~pred``; the union is
  eroded ``relax`` times with the 3x3 cross (``skimage.morphology.disk(1)``,
  OpenCV's default border, so the outside never erodes);
* relaxed FP: ``FP & eroded_union`` dilated ``relax`` times, each time cut back
  to ``~gt``, then ``& FP``; relaxed FN likewise with ``~pred``, then ``& FN``,
  plus the GT skeleton pixels (Zhang-Suen, ``skimage.morphology.skeletonize``)
  that are not true positives;
* for each of the two relaxed masks: OpenCV contours (``RETR_TREE``,
  ``CHAIN_APPROX_NONE``), runs of contour points where the dilated condition
  holds (FP: ``TP | FN_``; FN: ``~(TP | FP_ | FN_)``), each run approximated by
  ``cv2.approxPolyDP(run, epsilon, closed=False)`` and its vertices counted,
  plus the number of 8-connected components with no kept point;
* HCE = the four counts summed.

HCE is defined for every image, also with an empty GT (skeleton empty), a full
GT, or no foreground in the map: the reference returns a finite count in every
case, and so does this family; every image contributes. The dataset value is
the mean over images (PySODMetrics' ``np.mean``, equal here since the sum of
integer counts is exact).

Speed: the reference's time goes to scikit-image's skeletonisation and the
per-point Python loop; both are numba kernels here
(:mod:`salbench.metrics.kernels.hce`), and so are the crop to the union box,
the erosion and the two relaxations (3x3-cross steps on padded arrays, the FP
and FN growths packed as two bits of one array). Contours and the polygon
approximation call the same OpenCV functions as the reference; the connected
components of ``skimage.measure.label`` (8-connectivity) come from the contour
tree (each component has exactly one outer border; a hole border belongs to
its parent's component): only their number and the component of each contour
point matter. All the work is done in the box around ``pred | gt`` grown by
``relax + 2``.
"""

from __future__ import annotations

import cv2
import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.kernels.hce import filter_boundaries, hce_inputs, relax_masks, skeleton_u8
from salbench.metrics.numeric import BIN_THRESHOLD

#: PySODMetrics 1.6.2 ``HumanCorrectionEffortMeasure`` defaults: the number of
#: relaxation steps and the approxPolyDP tolerance (pixels); the map is binarised
#: at :data:`salbench.metrics.numeric.BIN_THRESHOLD`.
HCE_RELAX: int = 5
HCE_EPSILON: float = 2.0

_REF = "Qin et al., ECCV 2022 (DIS); PySODMetrics 1.6.2 HumanCorrectionEffortMeasure"


def _count(mask: np.ndarray, state: np.ndarray, want_fn: bool, epsilon: float) -> int:
    """Polygon control points of the kept runs plus independent components of ``mask``."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 0
    pts, off, total = filter_boundaries(contours, hierarchy, state, want_fn)
    for i in range(off.shape[0] - 1):
        total += len(cv2.approxPolyDP(pts[off[i]:off[i + 1]].reshape(-1, 1, 2), epsilon, False))
    return total


def hce_value(pred: np.ndarray, gt: np.ndarray, relax: int = HCE_RELAX,
              epsilon: float = HCE_EPSILON) -> int:
    """HCE of one image: ``pred`` the normalised float map in [0, 1], ``gt``
    the bool GT (see the module docstring).

    Everything happens in the box around ``pred | gt`` grown by ``relax + 2``
    pixels (clipped to the image): outside it all masks are empty, every
    dilation and erosion that reaches a pixel inside the box stays inside it,
    and where the box meets the image edge the kernels see OpenCV's border."""
    p8, g8 = hce_inputs((np.asarray(pred) > BIN_THRESHOLD).view(np.uint8),
                        np.asarray(gt, dtype=bool).view(np.uint8), relax + 2)
    if p8.size == 0:
        return 0
    state, fp_, fn_ = relax_masks(p8, g8, skeleton_u8(g8), relax)
    return _count(fp_, state, False, epsilon) + _count(fn_, state, True, epsilon)


class HCEFamily(Family):
    """Human Correction Effort per image (an integer) and its mean over the
    images, as PySODMetrics 1.6.2 computes it (see the module docstring)."""

    name = "hce"
    image_keys = ("hce",)
    image_mean_keys = image_keys
    keys = ("hce",)
    curve_keys = ()

    def __init__(self, relax: int = HCE_RELAX, epsilon: float = HCE_EPSILON) -> None:
        self.relax = int(relax)
        self.epsilon = float(epsilon)

    def specs(self) -> tuple[MetricSpec, ...]:
        """The single ``hce`` row."""
        return (MetricSpec(
            key="hce", family=self.name,
            definition="Human correction effort: polygon control points plus independent regions "
                       "needed to fix the relaxed FP/FN of the map binarised at 0.5",
            reference=_REF, higher_is_better=False,
            header_md="HCE", header_tex=r"$\mathrm{HCE}_\gamma$"),)

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """The image's HCE (always defined) and its contribution to the mean."""
        v = float(hce_value(x.pred, x.gt, self.relax, self.epsilon))
        return {"hce": v}, {"hce": np.array([v], np.float64)}

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """Mean HCE over the images (NaN without images)."""
        v = state.get("hce")
        return {"hce": float(v[0]) if v is not None else float("nan")}
