"""``camouflage_weights`` (:mod:`salbench.metrics.kernels.ciede2000`) against
scikit-image's ``rgb2lab`` / ``deltaE_ciede2000`` and the numba oracle of
``test_context_kernels``, with the tolerance of ``assert_weights_close``
(relative 1e-13, looser only where ΔE is within 1% of 100):

* on 8-bit colours: random, near, greys, black (chroma exactly 0), the corners
  of the RGB cube, equal colours;
* on Lab colours built to hit the hue cases of ΔE2000 (driven through the
  kernels from given cube roots): chroma 0 on one or both sides, hue
  differences of exactly ±π, hues just above 0 and just below 2π;
* the branch-free sine / cosine of the kernels within 1 ulp of libm's."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from skimage.color import deltaE_ciede2000, rgb2lab

from salbench.metrics.kernels import ciede2000 as CK

from test_context_kernels import _ciede2000, assert_weights_close, weights_oracle

GAMMAS = (8.0, 1.5)


def _degrees(de, gamma):
    return (np.exp(gamma * (1 - np.clip(de / 100, 0, 1))) - 1) / (np.exp(gamma) - 1)


def skimage_weights(rec, img, gamma):
    de = deltaE_ciede2000(rgb2lab(rec[:, None, :]), rgb2lab(img[:, None, :]))[:, 0]
    return _degrees(de, gamma)


def _rgb_pairs(rng, kind, n=20_000):
    x = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    if kind == "near":
        y = np.clip(x.astype(int) + rng.integers(-3, 4, (n, 3)), 0, 255).astype(np.uint8)
    elif kind == "grey":  # grey against grey, against near-grey and against anything
        g = rng.integers(0, 256, (n, 1))
        x = np.repeat(g, 3, axis=1).astype(np.uint8)
        h = np.repeat(rng.integers(0, 256, (n, 1)), 3, axis=1)
        y[: n // 3] = h[: n // 3]
        near = h[n // 3: 2 * n // 3] + rng.integers(-1, 2, (2 * n // 3 - n // 3, 3))
        y[n // 3: 2 * n // 3] = np.clip(near, 0, 255)
    elif kind == "black":  # a = b = 0 exactly: chroma 0 on one side or both
        x[:] = 0
        y[: n // 4] = 0
    elif kind == "corners":  # every pair of corners of the RGB cube, and near them
        c = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
        i, j = np.meshgrid(np.arange(8), np.arange(8))
        x = c[i.ravel()].repeat(n // 64 + 1, axis=0)[:n]
        y = c[j.ravel()].repeat(n // 64 + 1, axis=0)[:n]
        y = np.clip(y + np.where(rng.random((n, 1)) < 0.5, 0, rng.integers(-2, 3, (n, 3))), 0, 255)
        x, y = x.astype(np.uint8), y.astype(np.uint8)
    elif kind == "equal":
        y = x.copy()
    return x, y


@pytest.mark.parametrize("kind", ["uniform", "near", "grey", "black", "corners", "equal"])
def test_weights_match_skimage_and_oracle(kind):
    rng = np.random.default_rng(["uniform", "near", "grey", "black", "corners", "equal"].index(kind) + 100)
    x, y = _rgb_pairs(rng, kind)
    for gamma in GAMMAS:
        new = CK.camouflage_weights(x, y, gamma)
        assert np.all((new >= 0) & (new <= 1))
        assert_weights_close(new, skimage_weights(x, y, gamma), gamma)
        assert_weights_close(new, weights_oracle(x, y, gamma), gamma)
        if kind == "equal":
            assert np.all(new == 1.0)
        if kind == "black":
            assert np.all(new[: len(new) // 4] == 1.0)  # black against black


def test_weights_strided_input_and_empty():
    rng = np.random.default_rng(7)
    x, y = _rgb_pairs(rng, "uniform", 9000)
    wide = np.zeros((len(y), 6), np.uint8)
    wide[:, ::2] = y
    xs, ys = np.asfortranarray(x), wide[:, ::2]  # not C-contiguous
    assert np.array_equal(CK.camouflage_weights(xs, ys, 8.0), CK.camouflage_weights(x, y, 8.0))
    assert CK.camouflage_weights(x[:0], y[:0], 8.0).shape == (0,)
    with pytest.raises(ZeroDivisionError):
        CK.camouflage_weights(x[:3], y[:3], 0.0)


# ------------------------------------------------------- hue cases, from Lab


def _lab_edge_cube_roots():
    """Pairs of rgb2lab cube roots (f_x, f_y, f_z) whose Lab values are exact:
    L from f_y in {1/4, 1/2, 3/4, 1}, a = 500 (f_x - f_y) and b = 200 (f_y - f_z)
    over differences 0, ±2^-30 (hue next to 0 / 2π), ±2^-10, ±2^-6, ±2^-4, ±2^-3.
    Every pair of (a, b) meets every other, so opposite hues (Δh = ±π, some
    exactly) and chroma 0 on one or both sides occur."""
    d = np.array([0.0, 2.0**-30, 2.0**-10, 2.0**-6, 2.0**-4, 2.0**-3])
    d = np.concatenate([d, -d[1:]])
    da, db = (v.ravel() for v in np.meshgrid(d, d))
    fy = np.array([0.25, 0.5, 0.75, 1.0])
    i, j, p, q = (v.ravel() for v in np.meshgrid(np.arange(len(da)), np.arange(len(da)),
                                                  np.arange(len(fy)), np.arange(len(fy)), indexing="ij"))
    f1 = np.stack([fy[p] + da[i], fy[p], fy[p] - db[i]])
    f2 = np.stack([fy[q] + da[j], fy[q], fy[q] - db[j]])
    return f1, f2


def _lab(f):
    return np.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])], axis=-1)


def _kernel_weights_from_cube_roots(f1, f2, gamma):
    """The kernels' passes after the cube roots, in chunks as camouflage_weights
    runs them (XYZ / white set to 1, above rgb2lab's linear segment)."""
    n = f1.shape[1]
    out = np.empty(n)
    for s in range(0, n, CK._CHUNK):
        k = min(n, s + CK._CHUNK) - s
        t = np.ones((6, k))
        cb = np.ascontiguousarray(np.concatenate([f1[:, s:s + k], f2[:, s:s + k]]))
        cc, lt, yx = np.empty((2, k)), np.empty(k), np.empty((4, k))
        CK._degrees_from_cube_roots(t, cb, cc, lt, yx, gamma, float(np.exp(gamma) - 1),
                                    float(np.deg2rad(30)), out[s:s + k])
    return out


@njit
def _oracle_de(lab1, lab2):
    out = np.empty(lab1.shape[0])
    d30, d6, d63 = np.deg2rad(30.0), np.deg2rad(6.0), np.deg2rad(63.0)
    for i in range(lab1.shape[0]):
        out[i] = _ciede2000(lab1[i, 0], lab1[i, 1], lab1[i, 2], lab2[i, 0], lab2[i, 1], lab2[i, 2], d30, d6, d63)
    return out


def test_hue_edge_cases_from_lab():
    f1, f2 = _lab_edge_cube_roots()
    lab1, lab2 = _lab(f1), _lab(f2)
    # the cases are there: chroma 0 on one / both sides, hue differences of exactly ±π
    c1, c2 = np.hypot(lab1[:, 1], lab1[:, 2]), np.hypot(lab2[:, 1], lab2[:, 2])
    assert np.sum((c1 == 0) & (c2 == 0)) > 0 and np.sum((c1 == 0) != (c2 == 0)) > 0
    h1 = np.mod(np.arctan2(lab1[:, 2], lab1[:, 1]), 2 * np.pi)
    h2 = np.mod(np.arctan2(lab2[:, 2], lab2[:, 1]), 2 * np.pi)
    both = (c1 > 0) & (c2 > 0)
    assert np.sum(both & (h2 - h1 == np.pi)) > 0 and np.sum(both & (h2 - h1 == -np.pi)) > 0
    assert np.sum(both & (h1 > 0) & (h1 < 1e-6)) > 0 and np.sum(both & (h1 > 2 * np.pi - 1e-6)) > 0
    de_sk = deltaE_ciede2000(lab1, lab2)
    de_or = _oracle_de(lab1, lab2)
    np.testing.assert_allclose(de_or, de_sk, rtol=1e-13, atol=1e-13)
    for gamma in GAMMAS:
        new = _kernel_weights_from_cube_roots(f1, f2, gamma)
        assert_weights_close(new, _degrees(de_sk, gamma), gamma)
        assert_weights_close(new, _degrees(de_or, gamma), gamma)
        assert np.all(new[(lab1 == lab2).all(axis=1)] == 1.0)


# ------------------------------------------------------- sine / cosine


def test_sincos_within_one_ulp():
    rng = np.random.default_rng(11)
    half_pi, pi = np.pi / 2, np.pi
    special = np.array([0.0, -0.0, pi / 4, -pi / 4, half_pi, -half_pi, pi, 1.5 * pi, 2 * pi, pi / 3, pi / 6])
    special = np.concatenate([special, np.nextafter(special, np.inf), np.nextafter(special, -np.inf)])
    x = np.concatenate([special, rng.uniform(-half_pi, half_pi, 200_000), rng.uniform(0, 2 * pi, 200_000),
                        rng.uniform(0, pi / 3, 100_000), rng.uniform(-1e-8, 1e-8, 10_000)])
    s, c = np.empty_like(x), np.empty_like(x)
    _fill(x, s, c)
    for got, want in ((s, np.sin(x)), (c, np.cos(x))):
        assert np.all(np.abs(got - want) <= np.spacing(np.abs(want)))
    assert s[0] == 0.0 and not np.signbit(s[0]) and s[1] == 0.0 and np.signbit(s[1])  # sin(±0) = ±0
    assert c[0] == 1.0 and c[1] == 1.0


@njit
def _fill(x, s, c):
    for i in range(x.shape[0]):
        s[i], c[i] = CK._sincos(x[i])
