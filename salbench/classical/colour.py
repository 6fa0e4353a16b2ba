"""CIELab conversions: the four colour paths of the authors' code, which
differ in their gamma curve, matrix and linear segment (Lab values differ by
several units between them, enough to move the maps):

* Getreuer's ``colorspace.m`` v1.2 (sRGB companding): :func:`rgb_to_lab` on
  values in [0, 1] and :func:`image_lab`, the same formulas on a uint8 image
  through a 256-entry table (the Lab of ``slic(variant="achanta")``).
* Getreuer's ``colorspace.m`` v1.1, shipped with Zhu's RBD code and the MR
  family (Rec. 709 inverse gamma): :func:`rgb_to_lab_colorspace11`, the
  superpixel colour features of MR, wCtr* and BSCA.
* Ruzon's ``RGB2Lab.m`` (no gamma linearisation, ``L = 903.3·Y`` in the linear
  segment): :func:`rgb_to_lab_ruzon` (BSCA's pixel features) and
  :func:`image_lab_exe`, the Lab of ``SLICSuperpixelSegmentation.exe``
  (``slic(variant="achanta_exe")``).
* Zhu's ``Rgb2Lab.h`` in ``SLIC_mex`` (a 2.2 power, 4-digit matrix, XYZ clipped
  to the white point, results rounded to float32): :func:`image_lab_zhu`
  (``slic(variant="zhu")``).

All use the D65 white [0.950456, 1, 1.088754] (Zhu's: [0.9505, 1, 1.089]).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: sRGB → XYZ (6 digits) of Getreuer's ``colorspace.m`` v1.2 and Ruzon's ``RGB2Lab.m``.
_RGB2XYZ = np.array([[0.412453, 0.357580, 0.180423],
                     [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]])


#: Getreuer's ``colorspace.m`` v1.1 (2005-2006) converts linear RGB to XYZ with the
#: inverse of this XYZ -> RGB matrix.
_GETREUER11_XYZ2RGB = np.array([[3.240479, -1.53715, -0.498535],
                                [-0.969256, 1.875992, 0.041556],
                                [0.055648, -0.204043, 1.057311]])
_GETREUER11_RGB2XYZ = np.linalg.inv(_GETREUER11_XYZ2RGB)


def rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    """Pascal Getreuer's ``colorspace('Lab<-', rgb)`` (sRGB companding, D65
    white [0.950456, 1, 1.088754]) on values in [0, 1]; any leading shape."""
    c = np.asarray(rgb01, dtype=np.float64)
    lin = np.where(c <= 0.0404482362771076, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return _xyz_lab(lin)


def rgb_to_lab_colorspace11(rgb01: np.ndarray) -> np.ndarray:
    """``colorspace('Lab<-', rgb)`` of the copy of Getreuer's ``colorspace.m``
    (version 1.1, "Pascal Getreuer 2005-2006") shipped with Zhu's RBD code
    (``Funcs/colorspace.m``) and with the Dalian group's MR-family code
    (e.g. GR's ``others/colorspace.m``): the *Rec. 709* inverse gamma
    ``((c + 0.099)/1.099)^(1/0.45)``, replaced by ``c/4.5138`` where that result
    is below 0.018, then the inverse of Getreuer's 6-digit XYZ→RGB matrix and the
    D65 white [0.950456, 1, 1.088754]. (Version 1.2 and :func:`rgb_to_lab` use the
    sRGB curve instead; Lab values differ by up to about 6 L units in dark colours.)
    Values in [0, 1]; any leading shape."""
    c = np.asarray(rgb01, dtype=np.float64)
    lin = np.real(((c + 0.099) / 1.099) ** (1.0 / 0.45))
    lin = np.where(lin < 0.018, c / 4.5138, lin)
    return _xyz_lab(lin, _GETREUER11_RGB2XYZ)


def rgb_to_lab_ruzon(rgb01: np.ndarray) -> np.ndarray:
    """Mark Ruzon's ``RGB2Lab.m`` (used by the BSCA code for pixel features): the
    same matrix and white point but *no* gamma linearisation, and L = 903.3·Y in
    the linear segment."""
    c = np.asarray(rgb01, dtype=np.float64)
    xyz = c @ _RGB2XYZ.T
    x = xyz[..., 0] / 0.950456
    y = xyz[..., 1]
    z = xyz[..., 2] / 1.088754
    t = 0.008856

    def f(v: np.ndarray) -> np.ndarray:
        return np.where(v > t, np.cbrt(v), 7.787 * v + 16.0 / 116.0)

    fx, fy, fz = f(x), f(y), f(z)
    L = np.where(y > t, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)
    return np.stack([L, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _xyz_lab(lin: np.ndarray, rgb2xyz: np.ndarray = _RGB2XYZ) -> np.ndarray:
    """CIELab of linear RGB ``lin`` (any leading shape) through the matrix
    ``rgb2xyz``, with the CIE ``f`` (linear below 0.008856)."""
    xyz = lin @ rgb2xyz.T
    x = xyz[..., 0] / 0.950456
    y = xyz[..., 1]
    z = xyz[..., 2] / 1.088754

    def f(v: np.ndarray) -> np.ndarray:
        return np.where(v < 0.008856, v * (841.0 / 108.0) + 4.0 / 29.0, np.cbrt(v))

    fx, fy, fz = f(x), f(y), f(z)
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


_SRGB_LUT = None


def image_lab(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel CIELab (sRGB, D65) of a uint8 RGB image, through a 256-entry
    linearisation table (the same formulas as :func:`rgb_to_lab`)."""
    global _SRGB_LUT
    if _SRGB_LUT is None:
        c = np.arange(256) / 255.0
        _SRGB_LUT = np.where(c <= 0.0404482362771076, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return _lab_kernel(np.ascontiguousarray(rgb), _SRGB_LUT, _RGB2XYZ)


@njit(cache=True)
def _lab_f(v):  # pragma: no cover - numba
    if v < 0.008856:
        return v * (841.0 / 108.0) + 4.0 / 29.0
    return np.cbrt(v)


@njit(cache=True)
def _lab_kernel(rgb, lut, m):  # pragma: no cover - numba
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w, 3))
    for y in range(h):
        for x in range(w):
            r = lut[rgb[y, x, 0]]; g = lut[rgb[y, x, 1]]; b = lut[rgb[y, x, 2]]
            fx = _lab_f((m[0, 0] * r + m[0, 1] * g + m[0, 2] * b) / 0.950456)
            fy = _lab_f(m[1, 0] * r + m[1, 1] * g + m[1, 2] * b)
            fz = _lab_f((m[2, 0] * r + m[2, 1] * g + m[2, 2] * b) / 1.088754)
            out[y, x, 0] = 116.0 * fy - 16.0
            out[y, x, 1] = 500.0 * (fx - fy)
            out[y, x, 2] = 200.0 * (fy - fz)
    return out


def image_lab_exe(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel Lab of ``SLICSuperpixelSegmentation.exe`` (read from its machine
    code): the 6-digit sRGB→XYZ matrix applied to ``c/255`` *without* gamma
    linearisation, D65 white [0.950456, 1, 1.088754], ``f(t) = t^(1/3)`` above
    0.008856 and ``7.787·t + 16/116`` below, ``L = 903.3·Y`` in the linear
    segment — the same formulas as Ruzon's ``RGB2Lab.m``
    (:func:`rgb_to_lab_ruzon`). The executable adds 128 to a and b, which
    leaves every distance unchanged and is omitted here."""
    return rgb_to_lab_ruzon(np.asarray(rgb, dtype=np.float64) / 255.0)


_ZHU_LUT = None


def image_lab_zhu(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel Lab of Zhu's ``Rgb2Lab.h``: ``((c+0.055)/1.055)^2.2`` above
    0.04045, 4-digit sRGB matrix, XYZ clipped to the white point."""
    global _ZHU_LUT
    if _ZHU_LUT is None:
        c = np.arange(256) / 255.0
        _ZHU_LUT = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.2, c / 12.92)
    return _lab_kernel_zhu(np.ascontiguousarray(rgb), _ZHU_LUT)


@njit(cache=True)
def _fxyz(t):  # pragma: no cover - numba
    if t > 0.008856:
        return t ** (1.0 / 3.0)
    return 7.787 * t + 16.0 / 116.0


@njit(cache=True)
def _lab_kernel_zhu(rgb, lut):  # pragma: no cover - numba
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w, 3))
    for yy in range(h):
        for xx in range(w):
            r = lut[rgb[yy, xx, 0]]; g = lut[rgb[yy, xx, 1]]; b = lut[rgb[yy, xx, 2]]
            x = min(max(r * 0.4124 + g * 0.3576 + b * 0.1805, 0.0), 0.9505)
            y = min(max(r * 0.2126 + g * 0.7152 + b * 0.0722, 0.0), 1.0)
            z = min(max(r * 0.0193 + g * 0.1192 + b * 0.9505, 0.0), 1.089)
            fy = _fxyz(y)
            out[yy, xx, 0] = np.float32(116.0 * fy - 16.0)
            out[yy, xx, 1] = np.float32(500.0 * (_fxyz(x / 0.9505) - fy))
            out[yy, xx, 2] = np.float32(200.0 * (fy - _fxyz(z / 1.089)))
    return out
