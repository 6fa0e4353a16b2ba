"""Context measure Cβ and camouflage context measure Cωβ (Wang, Ji, Shao, Cheng
and Fan, "Context-measure: Contextualizing Metric for Camouflage",
arXiv:2512.07076, 2025), as PySODMetrics 1.6.2's ``ContextMeasure`` and
``CamouflageContextMeasure`` (``context_measure.py``) compute them, with their
defaults (α = 6; Cβ: β² = 1; Cωβ: β² = 1.2, γ = 8, λ = 20, 7x7 patches at stride
3, a 20x20 dilation for the surrounding background). Keys: ``cm`` (reference
key ``cm``) and ``cm_w`` (reference key ``ccm``); higher is better.

Per image, with ``pred`` = :attr:`ImageInput.pred` and ``gt`` = :attr:`ImageInput.gt`:

* K: the Gaussian of covariance ``α² Σ / tr Σ`` (Σ the covariance of the GT
  pixel coordinates, ddof 1; zero diagonal entries replaced by eps; ``diag(1/4,
  1/4)`` and a 3x3 window for at most one GT pixel), sampled on the window
  ``±round(3 α σ_row / √tr Σ)`` x ``±round(3 α σ_col / √tr Σ)`` and normalised;
* forward ``mF = Σ pred · [pred > 0] · (K ⋆ gt) / (Σ pred + eps)`` with
  ``K ⋆ gt`` in float32 (the reference's ``cv2.filter2D(..., CV_32F)``);
  reverse ``wR = Σ e/(e-1) · gt · (1 - exp(-K ⋆ pred)) · (gt + cd) / (Σ gt + Σ cd + eps)``
  (float64); both filters with OpenCV's reflect-101 border;
* score ``(1 + β²) mF wR / (β² mF + wR + eps)``.

Cβ uses ``cd = 0``. Cωβ's camouflage degree ``cd`` needs the RGB image: this
family reads it from ``x.image`` (H x W x 3 uint8, RGB order, as the
reference's ``img`` argument); without it ``cm_w`` is NaN for the image and the
image leaves ``cm_w`` out of its contribution. ``cd`` is 0 outside the GT; inside
it is ``(exp(γ s) - 1) / (exp(γ) - 1)`` with ``s = 1 - clip(ΔE2000 / 100, 0, 1)``
between the image and its foreground rebuilt from the nearest background
patches (Lab 7x7 patch values plus λ times the standardised patch position) of
the ring ``dilate(gt, 20x20) - gt``; no foreground or no background patch → ``cd = 0``.

Differences from the reference:

* nearest patches: the reference asks scikit-learn's ``NearestNeighbors``
  (brute force through a float32/float64 matrix product, whose rounding can
  pick a different patch when two distances nearly tie). Here the search is
  exact (:func:`salbench.metrics.kernels.context.nearest_patches`: integer Lab
  part, float64 position part, first index on exact ties);
* the filters run with the same OpenCV calls on boxes only: ``K ⋆ gt`` on the
  GT's box grown by the window radius (it is 0 outside), ``K ⋆ pred`` on the
  GT's box (it is read at the GT pixels only);
  the camouflage degree's dilation, Lab conversion and patches only on the box
  of the GT grown by the ring (where the ring lies), on the image's patch grid;
  the GT covariance comes from exact integer moments (NumPy's ``np.cov`` differs
  in the last bits); sums over the image are taken in another order;
* the reconstruction, ``rgb2lab`` and ``deltaE_ciede2000`` are numba ports of
  the reference's and scikit-image's formulas, evaluated at the GT pixels only
  (the only ones where ``cd`` is not 0); the sines and cosines come from a
  polynomial within 1 ulp of libm's (:mod:`salbench.metrics.kernels.ciede2000`).

The values agree with the reference to about 1e-13 (150 SOD pairs measured,
1e-10 tested). Cost: Cβ is two OpenCV filters here as in the reference, so it
is only as much faster as the GT's boxes are smaller than the image (about 3x
on SOD); Cωβ adds the patch search (an exact search pruned by a lower bound)
and the colour differences; both together run 9.5-10x faster than the
reference's two classes (``benchmarks/README.md`` has the figures).

Images narrower or lower than the 7 px patch have no patch here (``cd = 0``);
the reference's patch extraction raises on them.

Edge cases, as the reference: an empty GT scores 0 (``K ⋆ gt = 0``, ``wR =
0/eps``); an all-zero map scores 0; a full GT is defined. When the GT pixels
lie on one slanted straight line (two diagonal pixels, a diagonal stroke) the
covariance is singular: the reference raises ``LinAlgError`` (or, if NumPy's
rounded ``np.cov`` happens to be invertible, returns a value from a degenerate
window); here both scores are NaN for the image and it leaves both keys out.
"""

from __future__ import annotations

import math
from fractions import Fraction

import cv2
import numpy as np

from salbench.metrics.families.base import Family, ImageInput, MetricSpec
from salbench.metrics.kernels.ciede2000 import camouflage_weights
from salbench.metrics.kernels.context import (forward_sums, grid_patches, gt_moments, nearest_patches, reconstruct,
                                              standardise)
from salbench.metrics.numeric import EPS_PYSOD

#: PySODMetrics 1.6.2 defaults: kernel scale α, β² of Cβ and of Cωβ, the
#: camouflage-degree exponent γ, the position weight λ, the patch side and
#: stride, and the side of the dilation that makes the surrounding background.
CM_ALPHA: float = 6.0
CM_BETA2: float = 1.0
CMW_BETA2: float = 1.2
CMW_GAMMA: float = 8.0
CMW_LAMBDA: float = 20.0
CMW_PATCH: int = 7
CMW_STRIDE: int = CMW_PATCH // 2
CMW_RING: int = 20

_REF = "Wang et al., arXiv:2512.07076 (Context-measure); PySODMetrics 1.6.2 context_measure.py"


def gaussian_window(gt: np.ndarray, alpha: float = CM_ALPHA) -> np.ndarray:
    """The normalised Gaussian window K of the GT (module docstring), or None
    when the covariance cannot be inverted. A covariance that is singular up to
    rounding (determinant <= 0, or an inverse so large that the window
    overflows) gives a window that is not finite, as in the reference, without
    NumPy's warnings; the caller scores that image NaN."""
    n, sr, sc, srr, scc, src = gt_moments(gt)
    if n <= 1:
        cov, xd, yd = np.diag([0.25, 0.25]), 1, 1
    else:
        # np.cov of the pixel coordinates, here from exact integer moments
        den = n * (n - 1)
        cov = np.array([[float(Fraction(n * srr - sr * sr, den)), float(Fraction(n * src - sr * sc, den))],
                        [float(Fraction(n * src - sr * sc, den)), float(Fraction(n * scc - sc * sc, den))]])
        if cov[0, 0] == 0:
            cov[0, 0] = EPS_PYSOD
        if cov[1, 1] == 0:
            cov[1, 1] = EPS_PYSOD
        total = np.sqrt(cov[0, 0] + cov[1, 1])
        xd = round(3 * (alpha * np.sqrt(cov[0, 0]) / total))
        yd = round(3 * (alpha * np.sqrt(cov[1, 1]) / total))
        cov = alpha ** 2 * cov / (total ** 2)
    det = np.linalg.det(cov)
    try:
        inv = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        return None
    x, y = np.meshgrid(np.arange(-xd, xd + 1), np.arange(-yd, yd + 1), indexing="ij")
    z = np.stack([x, y], axis=-1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", z, inv, z)) / (2 * np.pi * np.sqrt(det))
        return k / np.sum(k)


def _filter_on(src: np.ndarray, box: tuple[int, int, int, int], k: np.ndarray, dtype, ddepth: int) -> np.ndarray:
    """``cv2.filter2D(src, ddepth, k)`` of the whole image (reflect-101 border)
    on the rows ``box[0]:box[1]``, columns ``box[2]:box[3]`` only: the filter runs
    on that box grown by the window radius (``src`` converted to ``dtype``
    there), padded by reflection where it leaves the image."""
    rx, ry = k.shape[0] // 2, k.shape[1] // 2
    h, w = src.shape
    r0, r1, c0, c1 = box
    a0, a1, b0, b1 = r0 - rx, r1 + rx, c0 - ry, c1 + ry
    pads = (max(-a0, 0), max(a1 - h, 0), max(-b0, 0), max(b1 - w, 0))
    part = np.ascontiguousarray(src[max(a0, 0):min(a1, h), max(b0, 0):min(b1, w)], dtype=dtype)
    if any(pads):
        part = cv2.copyMakeBorder(part, *pads, cv2.BORDER_REFLECT_101)
    return cv2.filter2D(part, ddepth, k)[rx:rx + r1 - r0, ry:ry + c1 - c0]


def _gt_box(gt: np.ndarray) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)``: the half-open bounding box of a non-empty bool mask."""
    rows = np.flatnonzero(gt.any(axis=1))
    cols = np.flatnonzero(gt.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _grown(box: tuple[int, int, int, int], dr: int, dc: int, shape) -> tuple[int, int, int, int]:
    """``box`` grown by ``dr`` rows and ``dc`` columns on each side, clipped to an image of ``shape``."""
    return max(box[0] - dr, 0), min(box[1] + dr, shape[0]), max(box[2] - dc, 0), min(box[3] + dc, shape[1])


def _filtered(pred: np.ndarray, gt: np.ndarray, k: np.ndarray, gbox: tuple[int, int, int, int]):
    """``(box, K ⋆ gt, K ⋆ pred at the GT pixels)``: ``K ⋆ gt`` (float32) on
    ``box``, the GT's box ``gbox`` grown by the window radius (it is 0
    outside); ``K ⋆ pred`` (float64) on ``gbox`` only, then at its GT pixels
    (row-major). Each equals the full-image ``cv2.filter2D`` of the reference
    there."""
    grown = _grown(gbox, k.shape[0] // 2, k.shape[1] // 2, gt.shape)
    fg = _filter_on(gt, grown, k, np.float32, cv2.CV_32F)
    fp = _filter_on(pred, gbox, k, np.float64, -1)[gt[gbox[0]:gbox[1], gbox[2]:gbox[3]]]
    return (slice(grown[0], grown[1]), slice(grown[2], grown[3])), fg, fp


def camouflage_degree(img: np.ndarray, gt: np.ndarray, gamma: float = CMW_GAMMA,
                      lam: float = CMW_LAMBDA, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The camouflage degree at the GT pixels (row-major, float64; it is 0
    elsewhere), from the RGB uint8 image (module docstring).

    Everything runs on the GT's box grown by the ring's side (clipped to the
    image), with the image's coordinates: the ring ``dilate(gt) - gt`` lies in
    it (the 20x20 dilation reaches 10 px), OpenCV's Lab conversion is per pixel,
    and the patch grid is the image's. The reference masks the image with the
    ring before taking background patches; the patches lie wholly in the ring,
    so the reconstruction reads the image itself. ``box``: the GT's bounding
    box where the caller has it (:func:`_gt_box`)."""
    mask = np.asarray(gt, dtype=bool)
    n_fg = int(np.count_nonzero(mask))
    if n_fg == 0:
        return np.zeros(0)
    r0, r1, c0, c1 = _grown(box if box is not None else _gt_box(mask), CMW_RING, CMW_RING, mask.shape)
    fg = mask[r0:r1, c0:c1].view(np.uint8)
    bg = cv2.dilate(fg, np.ones((CMW_RING, CMW_RING), np.uint8), iterations=1) - fg
    lab = cv2.cvtColor(np.ascontiguousarray(img[r0:r1, c0:c1]), cv2.COLOR_RGB2LAB)
    fg_idx, fg_feat = grid_patches(lab, fg, CMW_PATCH, CMW_STRIDE, (r0, c0))
    bg_idx, bg_feat = grid_patches(lab, bg, CMW_PATCH, CMW_STRIDE, (r0, c0))
    if len(fg_idx) == 0 or len(bg_idx) == 0:
        return np.zeros(n_fg)
    sc = standardise(np.vstack([bg_idx, fg_idx]))
    x_xy = (lam * sc[:len(bg_idx)]).astype(np.float32)
    q_xy = (lam * sc[len(bg_idx):]).astype(np.float32)
    nn = nearest_patches(fg_feat, bg_feat, q_xy, x_xy)
    seen = np.empty((n_fg, img.shape[2]), np.uint8)  # the image at the GT pixels
    rec = reconstruct(img, fg_idx, bg_idx[nn], CMW_PATCH, EPS_PYSOD, mask, seen=seen)
    return camouflage_weights(rec, seen, gamma)


def context_scores(pred: np.ndarray, gt: np.ndarray, image: np.ndarray | None = None,
                   alpha: float = CM_ALPHA) -> tuple[float, float]:
    """``(Cβ, Cωβ)`` of one image (Cωβ NaN without the RGB ``image``)."""
    gt = np.ascontiguousarray(gt, dtype=bool)
    if not gt.any():
        return 0.0, (0.0 if image is not None else math.nan)
    k = gaussian_window(gt, alpha)
    if k is None or not np.isfinite(k).all():
        return math.nan, math.nan
    gbox = _gt_box(gt)
    box, kg, kp = _filtered(pred, gt, k, gbox)
    num, total = forward_sums(pred, kg, box[0].start, box[1].start)
    mf = num / (total + EPS_PYSOD)
    comp = (math.e / (math.e - 1)) * (1 - np.exp(-kp))
    n_gt = float(np.count_nonzero(gt))
    wr = np.sum(comp) / (n_gt + EPS_PYSOD)
    cm = (1 + CM_BETA2) * mf * wr / (CM_BETA2 * mf + wr + EPS_PYSOD)
    if image is None:
        return float(cm), math.nan
    cd = camouflage_degree(np.ascontiguousarray(image, np.uint8), gt, box=gbox)
    # cd in GT order (row-major over the image), as kp
    wr_w = np.sum(comp * (1 + cd)) / (n_gt + np.sum(cd) + EPS_PYSOD)
    cmw = (1 + CMW_BETA2) * mf * wr_w / (CMW_BETA2 * mf + wr_w + EPS_PYSOD)
    return float(cm), float(cmw)


class ContextFamily(Family):
    """Context measure ``cm`` and camouflage context measure ``cm_w`` per image
    and their means over the images (module docstring). ``cm_w`` needs the RGB
    image in ``x.image``."""

    name = "context"
    needs_image = True
    image_keys = ("cm", "cm_w")
    image_mean_keys = image_keys
    keys = ("cm", "cm_w")
    curve_keys = ()

    def specs(self) -> tuple[MetricSpec, ...]:
        """One row per key."""
        return (
            MetricSpec(key="cm", family=self.name,
                       definition="context measure: F-style mix (β²=1) of forward relevance and reverse "
                                  "completeness under a GT-shaped Gaussian context kernel",
                       reference=_REF, higher_is_better=True, header_md="Cβ",
                       header_tex=r"$C_\beta$"),
            MetricSpec(key="cm_w", family=self.name,
                       definition="camouflage context measure: the context measure (β²=1.2) with GT pixels "
                                  "weighted by their camouflage degree (needs the RGB image)",
                       reference=_REF, higher_is_better=True, header_md="Cωβ",
                       header_tex=r"$C^\omega_\beta$"),
        )

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Both scores (``cm_w`` NaN without ``x.image``); NaN scores
        are left out of the contribution."""
        cm, cmw = context_scores(x.pred, x.gt, x.image)
        scores = {"cm": cm, "cm_w": cmw}
        return scores, {k: np.array([v], np.float64) for k, v in scores.items() if not math.isnan(v)}

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """The mean of each key over the images that gave it (NaN if none did)."""
        return {k: float(state[k][0]) if k in state else float("nan") for k in self.keys}
