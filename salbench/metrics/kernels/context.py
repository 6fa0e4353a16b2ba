"""Numba kernels of the context measure and the camouflage context measure
(Wang, Ji, Shao, Cheng and Fan, "Context-measure: Contextualizing Metric for
Camouflage", arXiv:2512.07076, 2025), as PySODMetrics 1.6.2's
``context_measure.py`` computes them; the definitions are in
:mod:`salbench.metrics.families.context`.

* :func:`gt_moments` — the sums behind the GT pixel covariance (exact int64).
* :func:`nearest_patches` — the **exact** nearest background patch of every
  foreground patch under the reference's feature (147 Lab values of a 7x7 patch
  plus 2 scaled coordinates, all float32). The Lab part of each squared
  distance is an integer: its dot products are exact in float32 (every partial
  sum is an integer below 2**24), so they come from one BLAS product; the
  kernel adds the two coordinate terms in float64 and takes the first minimum.
* :func:`reconstruct` — the foreground rebuilt from the matched background
  patches (sums of uint8 patches over the overlaps, divided by the overlap
  counts started at ``eps`` exactly as the reference accumulates them, rounded
  half to even).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _moments_kernel(gt):
    h, w = gt.shape
    n = 0
    sr = 0
    sc = 0
    srr = 0
    scc = 0
    src = 0
    for r in range(h):
        for c in range(w):
            if gt[r, c]:
                n += 1
                sr += r
                sc += c
                srr += r * r
                scc += c * c
                src += r * c
    return n, sr, sc, srr, scc, src


def gt_moments(gt: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """``(n, Σr, Σc, Σr², Σc², Σrc)`` over the set pixels of a bool mask (row r, column c)."""
    return tuple(int(v) for v in _moments_kernel(np.ascontiguousarray(gt, dtype=np.bool_)))


@njit(cache=True, nogil=True)
def _argmin_kernel(dot, nq, nx, qs, xs, out):
    m, k = dot.shape
    for i in range(m):
        best = np.inf
        arg = 0
        q0 = np.float64(qs[i, 0])
        q1 = np.float64(qs[i, 1])
        for j in range(k):
            lab = nq[i] + nx[j] - 2.0 * np.float64(dot[i, j])
            d0 = q0 - np.float64(xs[j, 0])
            d1 = q1 - np.float64(xs[j, 1])
            d = lab + (d0 * d0 + d1 * d1)
            if d < best:
                best = d
                arg = j
        out[i] = arg


#: the largest query-by-reference distance block held at once (bytes)
_BLOCK_BYTES = 32 << 20


def nearest_patches(q_lab: np.ndarray, x_lab: np.ndarray, q_xy: np.ndarray, x_xy: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``x`` for every row of ``q`` (first one on
    ties): the squared distance is the exact integer distance of the uint8 Lab
    parts (``q_lab``, ``x_lab``: (n, 147)) plus, in float64, the squared
    differences of the float32 coordinate parts (``q_xy``, ``x_xy``: (n, 2))."""
    qf = np.ascontiguousarray(q_lab, dtype=np.float32)
    xf = np.ascontiguousarray(x_lab, dtype=np.float32)
    nq = np.einsum("ij,ij->i", qf, qf).astype(np.float64)
    nx = np.einsum("ij,ij->i", xf, xf).astype(np.float64)
    qxy = np.ascontiguousarray(q_xy, np.float32)
    xxy = np.ascontiguousarray(x_xy, np.float32)
    out = np.empty(qf.shape[0], np.int64)
    # blocks of query rows keep the distance matrix at most ~_BLOCK_BYTES
    rows = max(1, _BLOCK_BYTES // (4 * max(1, xf.shape[0])))
    for s in range(0, qf.shape[0], rows):
        e = min(s + rows, qf.shape[0])
        # exact: every partial sum is an integer below 147 * 255**2 < 2**24
        dot = qf[s:e] @ xf.T
        _argmin_kernel(dot, nq[s:e], nx, qxy[s:e], xxy, out[s:e])
    return out


@njit(cache=True, nogil=True)
def _reconstruct_kernel(im_bg, fx, fy, bx, by, w, eps, mask, out):
    h, wd, ch = im_bg.shape
    acc = np.zeros((h, wd, ch), np.int64)
    cnt = np.full((h, wd), eps)
    for i in range(fx.shape[0]):
        for a in range(w):
            for b in range(w):
                for c in range(ch):
                    acc[fx[i] + a, fy[i] + b, c] += im_bg[bx[i] + a, by[i] + b, c]
                cnt[fx[i] + a, fy[i] + b] += 1.0
    n = 0
    for r in range(h):
        for c in range(wd):
            if mask[r, c]:
                for k in range(ch):
                    out[n, k] = np.uint8(np.int64(np.round(acc[r, c, k] / cnt[r, c])))
                n += 1


def reconstruct(im_bg: np.ndarray, fg_xy: np.ndarray, bg_xy: np.ndarray, w: int, eps: float,
                mask: np.ndarray) -> np.ndarray:
    """The pixels under ``mask`` (row-major, (n, 3) uint8) of the image rebuilt
    from the ``w``x``w`` patches of ``im_bg`` at ``bg_xy`` (top-left row,
    column) pasted at ``fg_xy`` (clipped to the image as the reference clips):
    the patch sums over the overlaps divided by the overlap counts, which start
    at ``eps`` and grow by 1 per patch as the reference accumulates them,
    rounded half to even; 0 where no patch lands."""
    h, wd = im_bg.shape[:2]
    fx = np.clip(fg_xy[:, 0], 0, h - w).astype(np.int64)
    fy = np.clip(fg_xy[:, 1], 0, wd - w).astype(np.int64)
    bx = np.clip(bg_xy[:, 0], 0, h - w).astype(np.int64)
    by = np.clip(bg_xy[:, 1], 0, wd - w).astype(np.int64)
    m = np.ascontiguousarray(mask, np.bool_)
    out = np.empty((int(m.sum()), im_bg.shape[2]), np.uint8)
    _reconstruct_kernel(np.ascontiguousarray(im_bg, np.uint8), fx, fy, bx, by, int(w), float(eps), m, out)
    return out

#: scikit-image's sRGB -> XYZ matrix and the D65 / 2° white point of ``rgb2lab``.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_linear_table() -> np.ndarray:
    """The linearised value of each 8-bit sRGB level, with scikit-image's
    ``rgb2xyz`` operations (``v * (1/255)``, then the 0.04045 / 2.4 gamma)."""
    arr = np.multiply(np.arange(256, dtype=np.uint8), 1.0 / 255, dtype=np.float64)
    mask = arr > 0.04045
    arr[mask] = np.power((arr[mask] + 0.055) / 1.055, 2.4)
    arr[~mask] /= 12.92
    return arr


@njit(cache=True, nogil=True)
def _f(v):
    return np.cbrt(v) if v > 0.008856 else 7.787 * v + 16.0 / 116.0


@njit(cache=True, nogil=True)
def _lab(r, g, b, lin, m, white):
    """scikit-image's ``rgb2lab`` of one 8-bit RGB colour, as (L, a, b)."""
    cr, cg, cb = lin[r], lin[g], lin[b]
    fx = _f((cr * m[0, 0] + cg * m[0, 1] + cb * m[0, 2]) / white[0])
    fy = _f((cr * m[1, 0] + cg * m[1, 1] + cb * m[1, 2]) / white[1])
    fz = _f((cr * m[2, 0] + cg * m[2, 1] + cb * m[2, 2]) / white[2])
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@njit(cache=True, nogil=True)
def _polar(x, y):
    t = np.arctan2(y, x)
    if t < 0.0:
        t += 2 * np.pi
    return np.hypot(x, y), t


@njit(cache=True, nogil=True)
def _ciede2000(l1, a1, b1, l2, a2, b2, d30, d6, d63):
    """scikit-image's ``deltaE_ciede2000`` (kL = kC = kH = 1) of one pair, in its order of operations."""
    cbar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = cbar ** 7.0
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 6103515625.0)))
    scale = 1 + g
    c1, h1 = _polar(a1 * scale, b1)
    c2, h2 = _polar(a2 * scale, b2)
    lbar = 0.5 * (l1 + l2)
    tmp = (lbar - 50) * (lbar - 50)
    sl = 1 + 0.015 * tmp / np.sqrt(20 + tmp)
    l_term = (l2 - l1) / sl
    cbar = 0.5 * (c1 + c2)
    sc = 1 + 0.045 * cbar
    c_term = (c2 - c1) / sc
    h_diff = h2 - h1
    h_sum = h1 + h2
    cc = c1 * c2
    dh = h_diff
    if h_diff > np.pi:
        dh -= 2 * np.pi
    if h_diff < -np.pi:
        dh += 2 * np.pi
    if cc == 0.0:
        dh = 0.0
    dh_term = 2 * np.sqrt(cc) * np.sin(dh / 2)
    hbar = h_sum
    if cc != 0.0 and abs(h_diff) > np.pi:
        if h_sum < 2 * np.pi:
            hbar += 2 * np.pi
        else:
            hbar -= 2 * np.pi
    if cc == 0.0:
        hbar *= 2
    hbar *= 0.5
    t = (1 - 0.17 * np.cos(hbar - d30) + 0.24 * np.cos(2 * hbar)
         + 0.32 * np.cos(3 * hbar + d6) - 0.20 * np.cos(4 * hbar - d63))
    sh = 1 + 0.015 * cbar * t
    h_term = dh_term / sh
    c7 = cbar ** 7.0
    rc = 2 * np.sqrt(c7 / (c7 + 6103515625.0))
    z = (hbar * (180.0 / np.pi) - 275) / 25
    dtheta = d30 * np.exp(-(z * z))
    r_term = -np.sin(2 * dtheta) * rc * c_term * h_term
    de2 = l_term * l_term
    de2 += c_term * c_term
    de2 += h_term * h_term
    de2 += r_term
    return np.sqrt(max(de2, 0.0))


@njit(cache=True, nogil=True)
def _degree_kernel(rec, img, lin, m, white, gamma, denom, d30, d6, d63, out):
    for i in range(rec.shape[0]):
        p = _lab(rec[i, 0], rec[i, 1], rec[i, 2], lin, m, white)
        q = _lab(img[i, 0], img[i, 1], img[i, 2], lin, m, white)
        de = _ciede2000(p[0], p[1], p[2], q[0], q[1], q[2], d30, d6, d63)
        sim = 1 - min(max(de / 100, 0.0), 1.0)
        out[i] = (np.exp(gamma * sim) - 1) / denom


def camouflage_weights(rec: np.ndarray, img: np.ndarray, gamma: float) -> np.ndarray:
    """Camouflage degree ``(exp(γ s) - 1) / (exp(γ) - 1)``, ``s = 1 - clip(ΔE2000 / 100, 0, 1)``,
    of each pair of 8-bit RGB colours (rows of ``rec`` and ``img``), with
    scikit-image's ``rgb2lab`` (D65, 2°) and ``deltaE_ciede2000`` formulas
    (agreeing with them to a few ulps: libm's cbrt/trigonometry may differ from NumPy's)."""
    out = np.empty(rec.shape[0], np.float64)
    _degree_kernel(np.ascontiguousarray(rec, np.uint8), np.ascontiguousarray(img, np.uint8),
                   _LIN, XYZ_FROM_RGB, WHITE_D65, float(gamma), float(np.exp(gamma) - 1),
                   float(np.deg2rad(30)), float(np.deg2rad(6)), float(np.deg2rad(63)), out)
    return out


_LIN = srgb_linear_table()
