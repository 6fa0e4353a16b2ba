"""Numba kernels of the camouflage degree of the camouflage context measure
(:mod:`salbench.metrics.families.context`): scikit-image's ``rgb2lab`` (D65, 2°)
and ``deltaE_ciede2000`` formulas on pairs of 8-bit RGB colours, in chunks:
numba passes around NumPy's vectorised ``cbrt`` and ``arctan2`` (the calls
scikit-image makes).
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
def _xyz_kernel(px, lin, m, white, t, row):
    """``t[row + k, i]``: component k of the XYZ / white of the 8-bit sRGB colour ``px[i]``."""
    for i in range(px.shape[0]):
        cr, cg, cb = lin[px[i, 0]], lin[px[i, 1]], lin[px[i, 2]]
        t[row, i] = (cr * m[0, 0] + cg * m[0, 1] + cb * m[0, 2]) / white[0]
        t[row + 1, i] = (cr * m[1, 0] + cg * m[1, 1] + cb * m[1, 2]) / white[1]
        t[row + 2, i] = (cr * m[2, 0] + cg * m[2, 1] + cb * m[2, 2]) / white[2]


@njit(cache=True, nogil=True)
def _lab_f(t, cube_root):
    """``rgb2lab``'s f of one XYZ / white component ``t``, given its cube root."""
    return cube_root if t > 0.008856 else 7.787 * t + 16.0 / 116.0


@njit(cache=True, nogil=True)
def _pow7(c):
    c2 = c * c
    return c2 * c2 * c2 * c


@njit(cache=True, nogil=True)
def _chroma_kernel(t, cb, lt, cc, yx):
    """From XYZ / white (``t``) and its cube roots (``cb``): the Lab colours
    (``rgb2lab``), then the ΔE2000 lightness term ``lt``, the chromas ``cc[0]``,
    ``cc[1]`` of the G-scaled (a, b) and the (b, a') pairs ``yx`` for their hues."""
    for i in range(t.shape[1]):
        f0, f1, f2 = _lab_f(t[0, i], cb[0, i]), _lab_f(t[1, i], cb[1, i]), _lab_f(t[2, i], cb[2, i])
        f3, f4, f5 = _lab_f(t[3, i], cb[3, i]), _lab_f(t[4, i], cb[4, i]), _lab_f(t[5, i], cb[5, i])
        l1, a1, b1 = 116.0 * f1 - 16.0, 500.0 * (f0 - f1), 200.0 * (f1 - f2)
        l2, a2, b2 = 116.0 * f4 - 16.0, 500.0 * (f3 - f4), 200.0 * (f4 - f5)
        cbar = 0.5 * (np.sqrt(a1 * a1 + b1 * b1) + np.sqrt(a2 * a2 + b2 * b2))
        c7 = _pow7(cbar)
        scale = 1 + 0.5 * (1 - np.sqrt(c7 / (c7 + 6103515625.0)))
        x1 = a1 * scale
        x2 = a2 * scale
        cc[0, i] = np.sqrt(x1 * x1 + b1 * b1)
        cc[1, i] = np.sqrt(x2 * x2 + b2 * b2)
        yx[0, i] = b1
        yx[1, i] = b2
        yx[2, i] = x1
        yx[3, i] = x2
        lbar = 0.5 * (l1 + l2)
        tmp = (lbar - 50) * (lbar - 50)
        lt[i] = (l2 - l1) / (1 + 0.015 * tmp / np.sqrt(20 + tmp))


@njit(cache=True, nogil=True)
def _hue_weight(hbar, k):
    """ΔE2000's T(h̄) = 1 - 0.17 cos(h̄ - 30°) + 0.24 cos 2h̄ + 0.32 cos(3h̄ + 6°)
    - 0.20 cos(4h̄ - 63°), from one sine / cosine of h̄ (multiple-angle and
    angle-addition formulas; ``k``: cos / sin of 30°, 6°, 63°)."""
    s1 = np.sin(hbar)
    c1 = np.cos(hbar)
    c2 = c1 * c1 - s1 * s1
    s2 = 2.0 * s1 * c1
    c3 = c2 * c1 - s2 * s1
    s3 = s2 * c1 + c2 * s1
    c4 = c2 * c2 - s2 * s2
    s4 = 2.0 * s2 * c2
    return (1 - 0.17 * (c1 * k[0] + s1 * k[1]) + 0.24 * c2
            + 0.32 * (c3 * k[2] - s3 * k[3]) - 0.20 * (c4 * k[4] + s4 * k[5]))


@njit(cache=True, nogil=True)
def _delta_kernel(lt, cc, hue, gamma, denom, d30, k, out):
    """The rest of ΔE2000 (hue and rotation terms, in scikit-image's order of
    operations) from :func:`_chroma_kernel`'s outputs and the hues ``hue`` (
    ``arctan2`` of its pairs), then the camouflage degree."""
    for i in range(lt.shape[0]):
        c1, c2 = cc[0, i], cc[1, i]
        h1, h2 = hue[0, i], hue[1, i]
        if h1 < 0.0:
            h1 += 2 * np.pi
        if h2 < 0.0:
            h2 += 2 * np.pi
        cbar = 0.5 * (c1 + c2)
        c_term = (c2 - c1) / (1 + 0.045 * cbar)
        h_diff = h2 - h1
        h_sum = h1 + h2
        prod = c1 * c2
        dh = h_diff
        if h_diff > np.pi:
            dh -= 2 * np.pi
        if h_diff < -np.pi:
            dh += 2 * np.pi
        if prod == 0.0:
            dh = 0.0
        dh_term = 2 * np.sqrt(prod) * np.sin(dh / 2)
        hbar = h_sum
        if prod != 0.0 and abs(h_diff) > np.pi:
            if h_sum < 2 * np.pi:
                hbar += 2 * np.pi
            else:
                hbar -= 2 * np.pi
        if prod == 0.0:
            hbar *= 2
        hbar *= 0.5
        h_term = dh_term / (1 + 0.015 * cbar * _hue_weight(hbar, k))
        c7 = _pow7(cbar)
        rc = 2 * np.sqrt(c7 / (c7 + 6103515625.0))
        z = (hbar * (180.0 / np.pi) - 275) / 25
        r_term = -np.sin(2 * (d30 * np.exp(-(z * z)))) * rc * c_term * h_term
        de2 = lt[i] * lt[i]
        de2 += c_term * c_term
        de2 += h_term * h_term
        de2 += r_term
        sim = 1 - min(max(np.sqrt(max(de2, 0.0)) / 100, 0.0), 1.0)
        out[i] = (np.exp(gamma * sim) - 1) / denom


def _angle_table() -> np.ndarray:
    """cos / sin of 30°, 6° and 63° (NumPy's)."""
    d = np.deg2rad([30.0, 6.0, 63.0])
    return np.array([np.cos(d[0]), np.sin(d[0]), np.cos(d[1]), np.sin(d[1]), np.cos(d[2]), np.sin(d[2])])


def camouflage_weights(rec: np.ndarray, img: np.ndarray, gamma: float) -> np.ndarray:
    """Camouflage degree ``(exp(γ s) - 1) / (exp(γ) - 1)``, ``s = 1 - clip(ΔE2000 / 100, 0, 1)``,
    of each pair of 8-bit RGB colours (rows of ``rec`` and ``img``), with
    scikit-image's ``rgb2lab`` (D65, 2°) and ``deltaE_ciede2000`` formulas.

    Per chunk of ``_CHUNK`` pixels (so the work arrays stay in the cache): three
    numba passes with NumPy's vectorised ``cbrt`` and ``arctan2`` between them
    (as scikit-image calls them); the chromas are ``sqrt(x² + y²)`` (not
    ``hypot``), C̄⁷ is a product and the four cosines of T(h̄) come from one sine
    and cosine of h̄. The values agree with scikit-image's to rounding (ΔE to a
    few ulps; where ΔE is within ~1% of 100, ``1 - ΔE / 100`` amplifies that to
    ~1e-11 relative in a degree below ~1e-4)."""
    rec = np.ascontiguousarray(rec, np.uint8)
    img = np.ascontiguousarray(img, np.uint8)
    n = rec.shape[0]
    out = np.empty(n, np.float64)
    denom, d30 = float(np.exp(gamma) - 1), float(np.deg2rad(30))
    m = min(n, _CHUNK)
    scratch = np.empty(19 * m)  # one chunk's C-contiguous work arrays, reused
    for s in range(0, n, _CHUNK):
        k = min(n, s + _CHUNK) - s
        t, cb, cc, lt, yx = (scratch[o * m:o * m + r * k].reshape(r, k) for o, r in
                             ((0, 6), (6, 6), (12, 2), (14, 1), (15, 4)))
        _xyz_kernel(rec[s:s + k], _LIN, XYZ_FROM_RGB, WHITE_D65, t, 0)
        _xyz_kernel(img[s:s + k], _LIN, XYZ_FROM_RGB, WHITE_D65, t, 3)
        np.cbrt(t, out=cb)
        _chroma_kernel(t, cb, lt[0], cc, yx)
        hue = np.arctan2(yx[:2], yx[2:], out=t[:2])
        _delta_kernel(lt[0], cc, hue, float(gamma), denom, d30, _ANGLES, out[s:s + k])
    return out


#: pixels per pass of camouflage_weights (its scratch arrays stay in the cache)
_CHUNK = 4096
_LIN = srgb_linear_table()
_ANGLES = _angle_table()
