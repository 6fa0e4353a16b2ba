"""Numba kernels of the camouflage degree of the camouflage context measure
(:mod:`salbench.metrics.families.context`): scikit-image's ``rgb2lab`` (D65, 2°)
and ``deltaE_ciede2000`` formulas on pairs of 8-bit RGB colours, in chunks:
numba passes around NumPy's vectorised ``cbrt`` and ``arctan2`` (the calls
scikit-image makes) and ``exp``.

The passes are written so that LLVM vectorises their loops (numba has no vector
libm here): no libm call inside them (sines and cosines come from the inlined,
branch-free :func:`_sincos`, fdlibm's polynomials, within 1 ulp as libm's are;
both exponentials are NumPy passes between the numba ones), selects rather than
branches, and ``error_model="numpy"`` (IEEE division instead of a zero check
that raises; no divisor here can be 0, and ``camouflage_weights`` raises itself
for γ = 0 as before). The values agree with scikit-image's to rounding.
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


@njit(cache=True, nogil=True, error_model="numpy")
def _xyz_kernel(rec, img, lin, m, white, t):
    """``t[k]``, ``t[3 + k]``: component k of the XYZ / white of the 8-bit sRGB
    colours ``rec[i]``, ``img[i]``. The table look-ups come first, in a loop of
    their own, so that the loop of products and divisions vectorises."""
    for j in range(2):
        px = rec if j == 0 else img
        t0, t1, t2 = t[3 * j], t[3 * j + 1], t[3 * j + 2]
        for i in range(t0.shape[0]):
            t0[i], t1[i], t2[i] = lin[px[i, 0]], lin[px[i, 1]], lin[px[i, 2]]
        m00, m01, m02, m10, m11, m12 = m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2]
        m20, m21, m22, w0, w1, w2 = m[2, 0], m[2, 1], m[2, 2], white[0], white[1], white[2]
        for i in range(t0.shape[0]):
            cr, cg, cb = t0[i], t1[i], t2[i]
            t0[i] = (cr * m00 + cg * m01 + cb * m02) / w0
            t1[i] = (cr * m10 + cg * m11 + cb * m12) / w1
            t2[i] = (cr * m20 + cg * m21 + cb * m22) / w2


@njit(cache=True, nogil=True)
def _lab_f(t, cube_root):
    """``rgb2lab``'s f of one XYZ / white component ``t``, given its cube root."""
    return cube_root if t > 0.008856 else 7.787 * t + 16.0 / 116.0


@njit(cache=True, nogil=True)
def _pow7(c):
    c2 = c * c
    return c2 * c2 * c2 * c


@njit(cache=True, nogil=True, error_model="numpy")
def _chroma_kernel(t, cb, lt, cc, yx):
    """From XYZ / white (``t``) and its cube roots (``cb``): the Lab colours
    (``rgb2lab``), then the ΔE2000 lightness term ``lt``, the chromas ``cc[0]``,
    ``cc[1]`` of the G-scaled (a, b) and the (b, a') pairs ``yx`` for their hues."""
    t0, t1, t2, t3, t4, t5 = t[0], t[1], t[2], t[3], t[4], t[5]
    q0, q1, q2, q3, q4, q5 = cb[0], cb[1], cb[2], cb[3], cb[4], cb[5]
    cc0, cc1, yx0, yx1, yx2, yx3 = cc[0], cc[1], yx[0], yx[1], yx[2], yx[3]
    for i in range(t0.shape[0]):
        f0, f1, f2 = _lab_f(t0[i], q0[i]), _lab_f(t1[i], q1[i]), _lab_f(t2[i], q2[i])
        f3, f4, f5 = _lab_f(t3[i], q3[i]), _lab_f(t4[i], q4[i]), _lab_f(t5[i], q5[i])
        l1, a1, b1 = 116.0 * f1 - 16.0, 500.0 * (f0 - f1), 200.0 * (f1 - f2)
        l2, a2, b2 = 116.0 * f4 - 16.0, 500.0 * (f3 - f4), 200.0 * (f4 - f5)
        cbar = 0.5 * (np.sqrt(a1 * a1 + b1 * b1) + np.sqrt(a2 * a2 + b2 * b2))
        c7 = _pow7(cbar)
        scale = 1 + 0.5 * (1 - np.sqrt(c7 / (c7 + 6103515625.0)))
        x1 = a1 * scale
        x2 = a2 * scale
        cc0[i] = np.sqrt(x1 * x1 + b1 * b1)
        cc1[i] = np.sqrt(x2 * x2 + b2 * b2)
        yx0[i] = b1
        yx1[i] = b2
        yx2[i] = x1
        yx3[i] = x2
        lbar = 0.5 * (l1 + l2)
        tmp = (lbar - 50) * (lbar - 50)
        lt[i] = (l2 - l1) / (1 + 0.015 * tmp / np.sqrt(20 + tmp))


# fdlibm's pi / 2 reduction constants and its sine / cosine kernels on [-pi/4, pi/4]
_INVPIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e+00   # first 33 bits of pi/2
_PIO2_2 = 6.07710050630396597660e-11   # next 33 bits
_PIO2_2T = 2.02226624879595063154e-21  # pi/2 - (_PIO2_1 + _PIO2_2)
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@njit(cache=True, nogil=True, inline="always")
def _sincos(x):
    """(sin x, cos x), branch-free (so that loops calling it vectorise), for the
    arguments here (|x| below a few pi): fdlibm's reduction by the nearest
    multiple n of pi/2 (pi/2 in three parts, the remainder as a double-double),
    its kernels on [-pi/4, pi/4] and a select on n mod 4. Within 1 ulp, as
    libm's are (they differ from libm's in the last bit of a few % of x)."""
    fn = np.floor(x * _INVPIO2 + 0.5)
    t = x - fn * _PIO2_1  # exact
    w = fn * _PIO2_2
    r = t - w
    w = fn * _PIO2_2T - ((t - r) - w)
    y0 = r - w
    y1 = (r - y0) - w
    z = y0 * y0
    w = z * z
    # fdlibm __kernel_sin(y0, y1, 1)
    v = z * y0
    rs = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
    s = y0 - ((z * (0.5 * y1 - v * rs) - y1) - v * _S1)
    # fdlibm __kernel_cos(y0, y1)
    rcos = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    hz = 0.5 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + (z * rcos - y0 * y1))
    q = fn - 4.0 * np.floor(fn * 0.25)  # n mod 4
    sin_x = s if q == 0.0 else (c if q == 1.0 else (-s if q == 2.0 else -c))
    cos_x = c if q == 0.0 else (-s if q == 1.0 else (-c if q == 2.0 else s))
    return sin_x, cos_x


@njit(cache=True, nogil=True, inline="always")
def _hue_weight(s1, c1, k):
    """ΔE2000's T(h̄) = 1 - 0.17 cos(h̄ - 30°) + 0.24 cos 2h̄ + 0.32 cos(3h̄ + 6°)
    - 0.20 cos(4h̄ - 63°), from the sine ``s1`` and cosine ``c1`` of h̄ (multiple-angle
    and angle-addition formulas; ``k``: cos / sin of 30°, 6°, 63°)."""
    c2 = c1 * c1 - s1 * s1
    s2 = 2.0 * s1 * c1
    c3 = c2 * c1 - s2 * s1
    s3 = s2 * c1 + c2 * s1
    c4 = c2 * c2 - s2 * s2
    s4 = 2.0 * s2 * c2
    return (1 - 0.17 * (c1 * k[0] + s1 * k[1]) + 0.24 * c2
            + 0.32 * (c3 * k[2] - s3 * k[3]) - 0.20 * (c4 * k[4] + s4 * k[5]))


@njit(cache=True, nogil=True, error_model="numpy")
def _hue_kernel(cc, hue, k, terms):
    """The hue part of ΔE2000 (scikit-image's order of operations) from
    :func:`_chroma_kernel`'s chromas ``cc`` and the hues ``hue`` (``arctan2`` of its
    pairs): ``terms`` = the chroma term, the hue term, R_C and -z² (the exponent of
    the rotation's Gaussian)."""
    c_out, h_out, rc_out, z_out = terms[0], terms[1], terms[2], terms[3]
    cc0, cc1, hue0, hue1 = cc[0], cc[1], hue[0], hue[1]
    for i in range(cc0.shape[0]):
        c1, c2 = cc0[i], cc1[i]
        h1, h2 = hue0[i], hue1[i]
        h1 = h1 + 2 * np.pi if h1 < 0.0 else h1
        h2 = h2 + 2 * np.pi if h2 < 0.0 else h2
        cbar = 0.5 * (c1 + c2)
        c_term = (c2 - c1) / (1 + 0.045 * cbar)
        h_diff = h2 - h1
        h_sum = h1 + h2
        prod = c1 * c2
        dh = h_diff - 2 * np.pi if h_diff > np.pi else h_diff
        dh = h_diff + 2 * np.pi if h_diff < -np.pi else dh
        dh = 0.0 if prod == 0.0 else dh
        dh_term = 2 * np.sqrt(prod) * _sincos(dh / 2)[0]
        wrap = h_sum + 2 * np.pi if h_sum < 2 * np.pi else h_sum - 2 * np.pi
        hbar = wrap if (prod != 0.0) & (abs(h_diff) > np.pi) else h_sum
        hbar = hbar * 2 if prod == 0.0 else hbar
        hbar *= 0.5
        s1, co1 = _sincos(hbar)
        tw = _hue_weight(s1, co1, k)
        h_term = dh_term / (1 + 0.015 * cbar * tw)
        c7 = _pow7(cbar)
        z = (hbar * (180.0 / np.pi) - 275) / 25
        c_out[i] = c_term
        h_out[i] = h_term
        rc_out[i] = 2 * np.sqrt(c7 / (c7 + 6103515625.0))
        z_out[i] = -(z * z)


@njit(cache=True, nogil=True, error_model="numpy")
def _similarity_kernel(lt, terms, gamma, d30, out):
    """``out``: γ s, s = 1 - clip(ΔE2000 / 100, 0, 1), from the lightness term
    ``lt`` and :func:`_hue_kernel`'s terms, the Gaussian's exponent replaced by
    its exponential."""
    c_in, h_in, rc_in, e_in = terms[0], terms[1], terms[2], terms[3]
    for i in range(lt.shape[0]):
        c_term, h_term = c_in[i], h_in[i]
        r_term = -_sincos(2 * (d30 * e_in[i]))[0] * rc_in[i] * c_term * h_term
        de2 = lt[i] * lt[i]
        de2 += c_term * c_term
        de2 += h_term * h_term
        de2 += r_term
        sim = 1 - min(max(np.sqrt(max(de2, 0.0)) / 100, 0.0), 1.0)
        out[i] = gamma * sim


def _angle_table() -> np.ndarray:
    """cos / sin of 30°, 6° and 63° (NumPy's)."""
    d = np.deg2rad([30.0, 6.0, 63.0])
    return np.array([np.cos(d[0]), np.sin(d[0]), np.cos(d[1]), np.sin(d[1]), np.cos(d[2]), np.sin(d[2])])


def _degrees_from_cube_roots(t, cb, cc, lt, yx, gamma, denom, d30, out):
    """One chunk of :func:`camouflage_weights` from XYZ / white ``t`` (6 rows: both
    colours) and its cube roots ``cb``: the passes from the Lab colours to the
    degrees ``out``, with ``cc``, ``lt``, ``yx`` as work rows (``t[:2]`` and
    ``cb[:4]`` are overwritten)."""
    _chroma_kernel(t, cb, lt, cc, yx)
    hue = np.arctan2(yx[:2], yx[2:], out=t[:2])
    terms = cb[:4]  # the cube roots are no longer needed
    _hue_kernel(cc, hue, _ANGLES, terms)
    np.exp(terms[3], out=terms[3])
    _similarity_kernel(lt, terms, gamma, d30, out)
    np.exp(out, out=out)
    out -= 1
    out /= denom


def camouflage_weights(rec: np.ndarray, img: np.ndarray, gamma: float) -> np.ndarray:
    """Camouflage degree ``(exp(γ s) - 1) / (exp(γ) - 1)``, ``s = 1 - clip(ΔE2000 / 100, 0, 1)``,
    of each pair of 8-bit RGB colours (rows of ``rec`` and ``img``), with
    scikit-image's ``rgb2lab`` (D65, 2°) and ``deltaE_ciede2000`` formulas.

    Per chunk of ``_CHUNK`` pixels (so the work arrays stay in the cache), each
    pass vectorised: the XYZ colours (table look-ups, then the matrix), NumPy's
    ``cbrt``, the Lab colours, lightness term, G-scaled chromas and hue pairs,
    NumPy's ``arctan2``, the chroma / hue terms, R_C and the rotation's Gaussian
    exponent, NumPy's ``exp`` of it, γ s, NumPy's ``exp`` of it, then ``- 1`` and
    ``/ (exp(γ) - 1)``. The chromas are ``sqrt(x² + y²)`` (not ``hypot``), C̄⁷ is a
    product, the four cosines of T(h̄) come from one sine and cosine of h̄, and
    sines / cosines are :func:`_sincos`'s. The values agree with scikit-image's
    to rounding (ΔE to a few ulps; where ΔE is within ~1% of 100, ``1 - ΔE / 100``
    amplifies that to ~1e-11 relative in a degree below ~1e-4)."""
    rec = np.ascontiguousarray(rec, np.uint8)
    img = np.ascontiguousarray(img, np.uint8)
    n = rec.shape[0]
    out = np.empty(n, np.float64)
    denom, d30 = float(np.exp(gamma) - 1), float(np.deg2rad(30))
    if n and denom == 0.0:
        raise ZeroDivisionError("division by zero")  # as the kernels did before error_model="numpy"
    m = min(n, _CHUNK)
    scratch = np.empty(19 * m)  # one chunk's C-contiguous work arrays, reused
    for s in range(0, n, _CHUNK):
        k = min(n, s + _CHUNK) - s
        t, cb, cc, lt, yx = (scratch[o * m:o * m + r * k].reshape(r, k) for o, r in
                             ((0, 6), (6, 6), (12, 2), (14, 1), (15, 4)))
        _xyz_kernel(rec[s:s + k], img[s:s + k], _LIN, XYZ_FROM_RGB, WHITE_D65, t)
        np.cbrt(t, out=cb)
        _degrees_from_cube_roots(t, cb, cc, lt[0], yx, float(gamma), denom, d30, out[s:s + k])
    return out


#: pixels per pass of camouflage_weights (its scratch arrays stay in the cache)
_CHUNK = 4096
_LIN = srgb_linear_table()
_ANGLES = _angle_table()
