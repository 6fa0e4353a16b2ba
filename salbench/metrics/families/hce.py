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
(:mod:`salbench.metrics.kernels.hce`). Contours, the polygon approximation and
the morphology call the same OpenCV functions as the reference; the connected
components of ``skimage.measure.label`` (8-connectivity) come from the contour
tree (each
component has exactly one outer border; a hole border belongs to its parent's
component): only their number and the component of each contour point matter.
All the work is done in the box around ``pred | gt`` grown by ``relax + 2``.
"""

from __future__ import annotations

import cv2
import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.kernels.hce import filter_boundaries, relax_seeds, relax_state, zhang_skeleton

#: PySODMetrics 1.6.2 ``HumanCorrectionEffortMeasure`` defaults: the number of
#: relaxation steps, the approxPolyDP tolerance (pixels) and the binarisation of the map.
HCE_RELAX: int = 5
HCE_EPSILON: float = 2.0
HCE_PRED_THRESHOLD: float = 0.5

#: ``skimage.morphology.disk(1)``: the 3x3 cross.
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)

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


def relaxed_state(p8: np.ndarray, g8: np.ndarray, eroded: np.ndarray, skel: np.ndarray,
                  relax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(state, fp_, fn_)``: the HCE error regions as the reference builds
    them. ``fp_``, the relaxed FP: ``FP & eroded`` dilated ``relax`` times by
    the 3x3 cross, each time cut back to ``~gt``, then ``& FP``; ``fn_``, the
    relaxed FN: ``FN & eroded`` grown likewise within ``~pred``, then ``& FN``,
    plus the skeleton pixels that are not TP; ``state`` = ``TP | fp_ << 1 |
    fn_ << 2``. Inputs and outputs: uint8 0/1 arrays of one shape."""
    h, w = g8.shape
    grow = np.empty((h, 2 * w + 1), np.uint8)
    allow = np.empty((h, 2 * w + 1), np.uint8)
    relax_seeds(p8, g8, eroded, grow, allow)
    # both growths at once: the zero column between them is never crossed
    for _ in range(relax):
        grow = cv2.bitwise_and(cv2.dilate(grow, _CROSS), allow)
    state, fp_mask, fn_mask = (np.empty((h, w), np.uint8) for _ in range(3))
    relax_state(p8, g8, grow, skel, state, fp_mask, fn_mask)
    return state, fp_mask, fn_mask


def _crop(union: np.ndarray, margin: int):
    """Slices of the bounding box of ``union`` grown by ``margin`` (clipped to
    the image), or None when it is empty."""
    rows = np.flatnonzero(union.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(union.any(axis=0))
    h, w = union.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))


def hce_value(pred: np.ndarray, gt: np.ndarray, relax: int = HCE_RELAX,
              epsilon: float = HCE_EPSILON) -> int:
    """HCE of one image: ``pred`` the normalised float map in [0, 1], ``gt``
    the bool GT (see the module docstring).

    Everything happens in the box around ``pred | gt`` grown by ``relax + 2``
    pixels (clipped to the image): outside it all masks are empty, every
    dilation and erosion that reaches a pixel inside the box stays inside it,
    and where the box meets the image edge OpenCV sees the same border."""
    predb = pred > HCE_PRED_THRESHOLD
    gt = np.asarray(gt, dtype=bool)
    union = predb | gt
    box = _crop(union, relax + 2)
    if box is None:
        return 0
    p8 = np.ascontiguousarray(predb[box]).view(np.uint8)
    g8 = np.ascontiguousarray(gt[box]).view(np.uint8)
    skel = zhang_skeleton(g8.view(bool)).view(np.uint8)
    eroded = cv2.erode(np.ascontiguousarray(union[box]).view(np.uint8), _CROSS, iterations=relax)
    state, fp_, fn_ = relaxed_state(p8, g8, eroded, skel, relax)
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
