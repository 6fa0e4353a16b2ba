"""Dense-CRF refinement of saliency maps, as R3Net applies it at test time.

Reproduces ``crf_refine`` of the authors' ``misc.py`` (itself taken from Hou
et al.'s ``dss_crf``), with pydensecrf (the ``pydensecrf2`` wheel):

* two labels (background, salient); with ``a = map / 255`` the unaries are
  ``-log(1 - a + ε) / (τ · σ(1 - a))`` for background and
  ``-log(a + ε) / (τ · σ(a))`` for salient, ``σ`` the logistic function,
  ``τ = 1.05``, ``ε = 1e-8`` (computed in float64, handed over as float32);
* a Gaussian pairwise term (sxy 3, compat 3) and a bilateral one
  (sxy 60, srgb 5, compat 5) on the RGB image;
* one mean-field step; the output is the salient marginal × 255 converted to
  uint8 by **truncation** (``astype('uint8')``), as the original does.

The constants live in :mod:`salbench.metrics.numeric`. :func:`dense_crf` is a plain
module-level function of NumPy arrays, so it pickles into a process pool.
"""

from __future__ import annotations

import numpy as np

from salbench.errors import SalbenchError
from salbench.metrics.numeric import (CRF_BILATERAL_COMPAT, CRF_BILATERAL_SRGB, CRF_BILATERAL_SXY,
                              CRF_EPS, CRF_GAUSSIAN_COMPAT, CRF_GAUSSIAN_SXY, CRF_ITERATIONS,
                              CRF_TAU)

__all__ = ["dense_crf", "crf_unary", "CRFUnavailable"]


class CRFUnavailable(SalbenchError, ImportError):
    """pydensecrf is not installed."""


def _densecrf():
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise CRFUnavailable(
            "the dense CRF needs pydensecrf: pip install pydensecrf2 "
            "(or run with --no-crf)") from exc
    return dcrf


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def crf_unary(prob_map: np.ndarray) -> np.ndarray:
    """The ``(2, H·W)`` float32 unary energies (background, salient) of a uint8 map."""
    a = prob_map.astype(np.float64) / 255.0
    neg = -np.log(1.0 - a + CRF_EPS) / (CRF_TAU * _sigmoid(1.0 - a))
    pos = -np.log(a + CRF_EPS) / (CRF_TAU * _sigmoid(a))
    u = np.empty((2, a.size), dtype=np.float32)
    u[0] = neg.ravel()
    u[1] = pos.ravel()
    return u


def dense_crf(image: np.ndarray, prob_map: np.ndarray) -> np.ndarray:
    """Refine ``prob_map`` (H×W uint8) with the RGB ``image`` (H×W×3 uint8);
    returns an H×W uint8 map (see the module docstring)."""
    image = np.asarray(image)
    prob_map = np.asarray(prob_map)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise SalbenchError(f"dense_crf: image must be H×W×3 uint8, got shape {image.shape} "
                            f"dtype {image.dtype}")
    if prob_map.dtype != np.uint8 or prob_map.shape != image.shape[:2]:
        raise SalbenchError(f"dense_crf: map must be H×W uint8 matching the image "
                            f"{image.shape[:2]}, got shape {prob_map.shape} dtype {prob_map.dtype}")
    dcrf = _densecrf()
    h, w = prob_map.shape
    d = dcrf.DenseCRF2D(w, h, 2)
    d.setUnaryEnergy(crf_unary(prob_map))
    d.addPairwiseGaussian(sxy=CRF_GAUSSIAN_SXY, compat=CRF_GAUSSIAN_COMPAT)
    d.addPairwiseBilateral(sxy=CRF_BILATERAL_SXY, srgb=CRF_BILATERAL_SRGB,
                           rgbim=np.require(image, np.uint8, ["C", "W"]), compat=CRF_BILATERAL_COMPAT)
    q = np.array(d.inference(CRF_ITERATIONS), dtype=np.float32)
    return (q[1] * 255).reshape(h, w).astype(np.uint8)
