"""NumPy / SciPy equivalents of the MATLAB built-ins the authors' code calls:
``rgb2gray`` (:func:`rgb2gray`), ``edge(I, 'sobel')`` and ``edge(I, 'canny')``
with their automatic thresholds (:func:`edge_sobel`, :func:`edge_canny`),
``graythresh`` (:func:`graythresh`), ``imwrite`` of a double map
(:func:`to_uint8_map`), the ``(x - min) / (max - min + eps)`` normalisation
every method applies (:func:`minmax`) and MATLAB's ``eps`` (:data:`MATLAB_EPS`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: MATLAB's ``eps`` (``np.spacing(1)``), which the RBD code adds to denominators.
MATLAB_EPS: float = float(np.finfo(np.float64).eps)


def to_uint8_map(values01: np.ndarray) -> np.ndarray:
    """MATLAB's ``imwrite`` of a double image in [0, 1] (``im2uint8``: round half away)."""
    v = np.clip(np.nan_to_num(values01, nan=0.0), 0.0, 1.0)
    return np.floor(v * 255.0 + 0.5).astype(np.uint8)


def minmax(x: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """``(x - min) / (max - min + eps)``; a constant vector maps to zeros
    (MATLAB would give NaN, which ``imwrite`` writes as 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    lo = x.min()
    rng = x.max() - lo + eps
    if not rng > 0:
        return np.zeros_like(x)
    return (x - lo) / rng


def rgb2gray(rgb01: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` on a double image (its exact luma coefficients)."""
    return rgb01[..., 0] * 0.298936021293775 + rgb01[..., 1] * 0.587043074451121 \
        + rgb01[..., 2] * 0.114020904255103


def edge_sobel(gray: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(I, 'sobel')`` with its automatic threshold and thinning:
    ``b = bx² + by²`` from the ``fspecial('sobel')/8`` masks (replicate border),
    cutoff ``4·mean(b)``, and a pixel is an edge when ``b > cutoff`` and it is a
    local maximum across the dominant gradient direction (``>`` the previous,
    ``>=`` the next neighbour, which makes a step edge one pixel thin)."""
    g = gray.astype(np.float64)
    p = np.pad(g, 1, mode="edge")
    # correlation with [1 0 -1; 2 0 -2; 1 0 -1]/8 and its transpose
    bx = ((p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2]) - (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:])) / 8.0
    by = ((p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:]) - (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:])) / 8.0
    b = bx * bx + by * by
    cutoff = 4.0 * b.mean()
    if not cutoff > 0:
        return np.zeros(g.shape, dtype=bool)
    ax, ay = np.abs(bx), np.abs(by)
    bp = np.pad(b, 1, mode="edge")
    left, right = bp[1:-1, :-2], bp[1:-1, 2:]
    up, down = bp[:-2, 1:-1], bp[2:, 1:-1]
    # MATLAB's thinning: strictly above the previous neighbour, at least the next
    horiz = (ax >= ay) & (b > left) & (b >= right)
    vert = (ay >= ax) & (b > up) & (b >= down)
    return (b > cutoff) & (horiz | vert)


def edge_canny(gray: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(I, 'canny')`` with its default thresholds: σ = √2, the high
    threshold at the 70th percentile of the 64-bin histogram of the
    max-normalised gradient magnitude, the low one at 0.4 × high; non-maximum
    suppression and hysteresis from scikit-image."""
    from skimage.feature import canny

    g = gray.astype(np.float64)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return np.zeros(g.shape, dtype=bool)
    sigma = np.sqrt(2.0)
    sm = ndi.gaussian_filter(g, sigma, mode="nearest", truncate=4.0)
    mag = np.hypot(ndi.sobel(sm, axis=1), ndi.sobel(sm, axis=0))
    mmax = mag.max()
    if not mmax > 0:
        return np.zeros(g.shape, dtype=bool)
    counts, _ = np.histogram(mag / mmax, bins=64, range=(0.0, 1.0))
    k = int(np.argmax(np.cumsum(counts) > 0.7 * mag.size)) + 1
    high = k / 64.0 * mmax
    low = 0.4 * high
    return canny(g, sigma=sigma, low_threshold=low, high_threshold=high, mode="nearest")


def graythresh(values01: np.ndarray) -> float:
    """MATLAB ``graythresh`` (Otsu on the 256-bin histogram of ``im2uint8(x)``;
    ties between maxima resolved by their mean index, as MATLAB does)."""
    q = np.floor(np.clip(values01, 0, 1) * 255.0 + 0.5).astype(np.int64).ravel()
    if q.size == 0:
        return 0.0
    counts = np.bincount(q, minlength=256).astype(np.float64)
    p = counts / counts.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(1, 257))
    mu_t = mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sb = (mu_t * omega - mu) ** 2 / (omega * (1 - omega))
    finite = np.isfinite(sb)
    if not finite.any():
        return 0.0
    maxval = sb[finite].max()
    idx = np.mean(np.nonzero(finite & (sb == maxval))[0]) + 1  # 1-based as in MATLAB
    return float((idx - 1) / 255.0)
