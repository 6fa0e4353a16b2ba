"""The context-measure kernels (:mod:`salbench.metrics.kernels.context`) against
an oracle: the straightforward implementation they replaced (kept here only),
on random inputs (ties, chunk boundaries, extreme colours) and on the kernels'
real inputs from SOD pairs.

* ``nearest_patches`` (both its pruned search and the plain BLAS one) and
  ``reconstruct``: identical outputs; the pruned search's bounds lie below the
  exact distances of every pair (random, adversarial and real inputs);
* ``camouflage_weights``: relative 1e-13, except where ΔE is within 1% of
  100: there ``1 - ΔE / 100`` amplifies last-bit differences of ΔE (the oracle
  calls libm's cbrt / atan2 / hypot, the kernel NumPy's cbrt / arctan2 as
  scikit-image does), and the degrees (then tiny) agree as far as 1e-13 in ΔE allows."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from salbench.metrics.families import context as fam
from salbench.metrics.families.base import image_input
from salbench.metrics.kernels import ciede2000 as CK
from salbench.metrics.kernels import context as K

from helpers import sod_triples

# ------------------------------------------------------------------ the oracle


@njit(cache=True)
def _argmin_oracle(dot, nq, nx, qs, xs, out):
    for i in range(dot.shape[0]):
        best = np.inf
        arg = 0
        for j in range(dot.shape[1]):
            lab = nq[i] + nx[j] - 2.0 * np.float64(dot[i, j])
            d0 = np.float64(qs[i, 0]) - np.float64(xs[j, 0])
            d1 = np.float64(qs[i, 1]) - np.float64(xs[j, 1])
            d = lab + (d0 * d0 + d1 * d1)
            if d < best:
                best = d
                arg = j
        out[i] = arg


def nearest_oracle(q_lab, x_lab, q_xy, x_xy):
    qf, xf = q_lab.astype(np.float32), x_lab.astype(np.float32)
    nq = np.einsum("ij,ij->i", qf, qf).astype(np.float64)
    nx = np.einsum("ij,ij->i", xf, xf).astype(np.float64)
    out = np.empty(len(qf), np.int64)
    _argmin_oracle(qf @ xf.T, nq, nx, q_xy.astype(np.float32), x_xy.astype(np.float32), out)
    return out


@njit(cache=True)
def _reconstruct_oracle(im_bg, fx, fy, bx, by, w, eps, mask, out):
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


def reconstruct_oracle(im_bg, fg_xy, bg_xy, w, eps, mask):
    h, wd = im_bg.shape[:2]
    cl = [np.clip(v, 0, lim - w).astype(np.int64)
          for v, lim in ((fg_xy[:, 0], h), (fg_xy[:, 1], wd), (bg_xy[:, 0], h), (bg_xy[:, 1], wd))]
    out = np.empty((int(mask.sum()), im_bg.shape[2]), np.uint8)
    _reconstruct_oracle(np.ascontiguousarray(im_bg, np.uint8), *cl, int(w), float(eps),
                        np.ascontiguousarray(mask, np.bool_), out)
    return out


@njit(cache=True)
def _f(v):
    return np.cbrt(v) if v > 0.008856 else 7.787 * v + 16.0 / 116.0


@njit(cache=True)
def _lab(r, g, b, lin, m, white):
    cr, cg, cb = lin[r], lin[g], lin[b]
    fx = _f((cr * m[0, 0] + cg * m[0, 1] + cb * m[0, 2]) / white[0])
    fy = _f((cr * m[1, 0] + cg * m[1, 1] + cb * m[1, 2]) / white[1])
    fz = _f((cr * m[2, 0] + cg * m[2, 1] + cb * m[2, 2]) / white[2])
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@njit(cache=True)
def _polar(x, y):
    t = np.arctan2(y, x)
    if t < 0.0:
        t += 2 * np.pi
    return np.hypot(x, y), t


@njit(cache=True)
def _ciede2000(l1, a1, b1, l2, a2, b2, d30, d6, d63):
    cbar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = cbar ** 7.0
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 6103515625.0)))
    c1, h1 = _polar(a1 * (1 + g), b1)
    c2, h2 = _polar(a2 * (1 + g), b2)
    lbar = 0.5 * (l1 + l2)
    tmp = (lbar - 50) * (lbar - 50)
    l_term = (l2 - l1) / (1 + 0.015 * tmp / np.sqrt(20 + tmp))
    cbar = 0.5 * (c1 + c2)
    c_term = (c2 - c1) / (1 + 0.045 * cbar)
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
        hbar += 2 * np.pi if h_sum < 2 * np.pi else -2 * np.pi
    if cc == 0.0:
        hbar *= 2
    hbar *= 0.5
    t = (1 - 0.17 * np.cos(hbar - d30) + 0.24 * np.cos(2 * hbar)
         + 0.32 * np.cos(3 * hbar + d6) - 0.20 * np.cos(4 * hbar - d63))
    h_term = dh_term / (1 + 0.015 * cbar * t)
    c7 = cbar ** 7.0
    rc = 2 * np.sqrt(c7 / (c7 + 6103515625.0))
    z = (hbar * (180.0 / np.pi) - 275) / 25
    r_term = -np.sin(2 * (d30 * np.exp(-(z * z)))) * rc * c_term * h_term
    de2 = l_term * l_term
    de2 += c_term * c_term
    de2 += h_term * h_term
    de2 += r_term
    return np.sqrt(max(de2, 0.0))


@njit(cache=True)
def _degree_oracle(rec, img, lin, m, white, gamma, denom, d30, d6, d63, out):
    for i in range(rec.shape[0]):
        p = _lab(rec[i, 0], rec[i, 1], rec[i, 2], lin, m, white)
        q = _lab(img[i, 0], img[i, 1], img[i, 2], lin, m, white)
        de = _ciede2000(p[0], p[1], p[2], q[0], q[1], q[2], d30, d6, d63)
        out[i] = (np.exp(gamma * (1 - min(max(de / 100, 0.0), 1.0))) - 1) / denom


def weights_oracle(rec, img, gamma):
    out = np.empty(rec.shape[0], np.float64)
    _degree_oracle(np.ascontiguousarray(rec, np.uint8), np.ascontiguousarray(img, np.uint8),
                   CK.srgb_linear_table(), CK.XYZ_FROM_RGB, CK.WHITE_D65, float(gamma), float(np.exp(gamma) - 1),
                   *(float(np.deg2rad(a)) for a in (30, 6, 63)), out)
    return out


# ------------------------------------------------------------------ comparisons


def assert_weights_close(new, old, gamma):
    """Relative 1e-13 where ΔE <= 99; elsewhere within what 1e-13 more or less
    in ΔE (~7 ulps of 100) moves the degree (its derivative is γ (d + 1 / (e^γ - 1)) / 100)."""
    assert new.shape == old.shape
    denom = np.expm1(gamma)
    sim = np.log1p(old * denom) / gamma
    ok = sim >= 0.01
    np.testing.assert_allclose(new[ok], old[ok], rtol=1e-13, atol=0)
    tol = 1e-13 * np.abs(old) + 1e-13 * gamma * (old + 1 / denom) / 100
    assert np.all(np.abs(new - old) <= tol)


def _colour_pairs(rng, n, kind):
    x = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    if kind == "near":
        y = np.clip(x.astype(int) + rng.integers(-2, 3, (n, 3)), 0, 255).astype(np.uint8)
    elif kind == "extreme":
        v = rng.choice(np.array([0, 1, 2, 127, 128, 253, 254, 255]), (n, 1))
        x = np.repeat(v, 3, axis=1).astype(np.uint8)
        y = np.where(rng.random((n, 3)) < 0.5, rng.choice(np.array([0, 255]), (n, 3)), y).astype(np.uint8)
    elif kind == "equal":
        y = x.copy()
    return x, y


@pytest.mark.parametrize("kind", ["uniform", "near", "extreme", "equal"])
def test_camouflage_weights_random(kind):
    rng = np.random.default_rng(["uniform", "near", "extreme", "equal"].index(kind))
    for n in (0, 1, 5, 4096, 4097, 3 * 4096 + 17, 100_000):
        x, y = _colour_pairs(rng, n, kind)
        for gamma in (8.0, 1.5):
            new, old = CK.camouflage_weights(x, y, gamma), weights_oracle(x, y, gamma)
            assert_weights_close(new, old, gamma)
            if kind == "equal":
                assert np.array_equal(new, old)


def _patch_sets(rng, nq, nx, levels):
    x = rng.integers(0, levels, (nx, 147)).astype(np.uint8)
    q = rng.integers(0, levels, (nq, 147)).astype(np.uint8)
    x[: nx // 3] = x[nx // 3: 2 * (nx // 3)]  # duplicated rows: exact ties
    q[: nq // 4] = x[rng.integers(0, nx, nq // 4)]  # queries equal to references
    xs = rng.integers(-3, 4, (nx, 2)).astype(np.float32) * np.float32(rng.choice([1.0, 0.37]))
    qs = rng.integers(-3, 4, (nq, 2)).astype(np.float32) * np.float32(rng.choice([1.0, 0.37]))
    return q, x, qs, xs


def test_nearest_patches_random():
    rng = np.random.default_rng(10)
    for trial in range(60):
        nq, nx = (int(v) for v in rng.integers(1, 300, 2))
        levels = int(rng.choice([2, 3, 16, 256]))
        q, x, qs, xs = _patch_sets(rng, nq, nx, levels)
        assert np.array_equal(K.nearest_patches(q, x, qs, xs), nearest_oracle(q, x, qs, xs))


def _exact_distances(q, x, qs, xs):
    qf, xf = q.astype(np.float64), x.astype(np.float64)
    lab = (qf * qf).sum(1)[:, None] + (xf * xf).sum(1)[None] - 2 * qf @ xf.T
    d0 = qs[:, 0].astype(np.float64)[:, None] - xs[:, 0].astype(np.float64)[None]
    d1 = qs[:, 1].astype(np.float64)[:, None] - xs[:, 1].astype(np.float64)[None]
    return lab + (d0 * d0 + d1 * d1)


def _assert_bounds_below(q, x, qs, xs):
    a, b, mq = K.bound_operands(np.ascontiguousarray(q, np.uint8), np.ascontiguousarray(x, np.uint8),
                                np.ascontiguousarray(qs, np.float32), np.asarray(xs, np.float32).astype(np.float64))
    lb = (a @ b).astype(np.float64) - mq[:, None]
    assert np.all(lb <= _exact_distances(q, x, qs, xs))


def _tight_sets(rng, nq, nx):
    """References, and queries that differ from one of them in the projection's
    span (a constant shift of a channel, so the bound is nearly exact), at the
    extremes of the colour range, or equal; coordinates at several scales."""
    x = rng.integers(0, 256, (nx, 147)).astype(np.uint8)
    x[rng.random(nx) < 0.2] = rng.choice(np.array([0, 255], np.uint8))
    q = x[rng.integers(0, nx, nq)].astype(np.int64)
    shift = rng.integers(-40, 41, (nq, 3))
    q = np.clip(q.reshape(nq, 49, 3) + shift[:, None, :] * (rng.random((nq, 1, 1)) < 0.7), 0, 255)
    q = q.reshape(nq, 147).astype(np.uint8)
    scale = float(rng.choice([0.0, 1e-3, 1.0, 50.0]))
    xs = (rng.standard_normal((nx, 2)) * scale).astype(np.float32)
    qs = (rng.standard_normal((nq, 2)) * scale).astype(np.float32)
    if rng.random() < 0.5:
        qs[: nq // 2] = xs[rng.integers(0, nx, nq // 2)]
    return q, x, qs, xs


def test_nearest_pruned_random():
    """The pruned search itself (whatever the size) against the oracle: ties,
    duplicates, nq or nx = 1, queries a shift within the projection's span away."""
    rng = np.random.default_rng(12)
    sizes = [(1, 1), (1, 57), (40, 1), (9, 8), (300, 17)] + [tuple(int(v) for v in rng.integers(1, 400, 2)) for _ in range(40)]
    for trial, (nq, nx) in enumerate(sizes):
        if trial % 2:
            q, x, qs, xs = _tight_sets(rng, nq, nx)
        else:
            q, x, qs, xs = _patch_sets(rng, nq, nx, int(rng.choice([2, 3, 16, 256])))
        assert np.array_equal(K._nearest_pruned(q, x, qs, xs), nearest_oracle(q, x, qs, xs))
        assert np.array_equal(K._nearest_blas(q, x, qs, xs), nearest_oracle(q, x, qs, xs))
        _assert_bounds_below(q, x, qs, xs)


def test_projection_basis():
    w, sigma = K.projection_basis()
    assert w.shape == (147, 23) and np.array_equal(w, np.rint(w))
    assert 255 * np.abs(w.astype(np.float64)).sum(0).max() < 2 ** 24
    # the bound |Wᵀd|² / σ² <= |d|² (σ at least the largest singular value)
    assert sigma >= np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]


def patches_oracle(lab, mask, w, d, origin):
    """The reference's ``_extract_patches`` on a crop at ``origin`` of the image:
    every window of the image's stride-``d`` grid tested pixel by pixel."""
    h, wd = mask.shape
    idx, feat = [], []
    for r in range(-origin[0] % d, h - w + 1, d):
        for c in range(-origin[1] % d, wd - w + 1, d):
            if mask[r:r + w, c:c + w].all():
                idx.append((r + origin[0], c + origin[1]))
                feat.append(lab[r:r + w, c:c + w].ravel())
    return (np.array(idx, np.int64).reshape(-1, 2),
            np.array(feat, lab.dtype).reshape(len(feat), w * w * lab.shape[2]))


def test_grid_patches_random():
    rng = np.random.default_rng(5)
    kept = 0
    for trial in range(300):
        h, wd = (int(v) for v in rng.integers(1, 40, 2))
        lab = rng.integers(0, 256, (h, wd, 3)).astype(np.uint8)
        mask = (rng.random((h, wd)) < rng.choice([0.5, 0.9, 0.97, 1.0])).astype(np.uint8)
        origin = (int(rng.integers(0, 9)), int(rng.integers(0, 9)))
        got, want = K.grid_patches(lab, mask, 7, 3, origin), patches_oracle(lab, mask, 7, 3, origin)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert got[0].dtype == np.int64 and got[1].dtype == np.uint8
        kept += len(want[0])
    assert kept > 1000  # the windows are not all rejected


def test_reconstruct_random():
    rng = np.random.default_rng(11)
    for trial in range(40):
        h, w = (int(v) for v in rng.integers(7, 60, 2))
        im = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        im[rng.random((h, w)) < 0.5] = 0
        n = int(rng.integers(0, 50))
        fg = np.stack([rng.integers(-2, h, n), rng.integers(-2, w, n)], 1) // 3 * 3
        bg = np.stack([rng.integers(0, h, n), rng.integers(0, w, n)], 1)
        mask = rng.random((h, w)) < 0.4
        for eps in (np.spacing(1.0), 1e-8, 0.5):
            assert np.array_equal(K.reconstruct(im, fg, bg, 7, eps, mask), reconstruct_oracle(im, fg, bg, 7, eps, mask))
        seen = np.empty((int(mask.sum()), 3), np.uint8)
        K.reconstruct(im, fg, bg, 7, 1e-16, mask, seen=seen)
        assert np.array_equal(seen, im[mask])
    with pytest.raises(ValueError, match="seen must be"):
        K.reconstruct(im, fg, bg, 7, 1e-16, mask, seen=np.empty((1, 3), np.uint8))


# ------------------------------------------------------------------ real inputs


def _real_kernel_inputs(root, n=40, step=7):
    """The arguments the family passes to each kernel, on ``n`` SOD pairs."""
    calls = []
    orig = fam.nearest_patches, fam.reconstruct, fam.camouflage_weights

    def rec(i):
        def call(*a, **kw):
            calls[-1][i] = a
            return orig[i](*a, **kw)
        return call

    fam.nearest_patches, fam.reconstruct, fam.camouflage_weights = rec(0), rec(1), rec(2)
    try:
        for p, g, im in sod_triples(root, n, step):
            x = image_input(p, g)
            calls.append({})
            fam.context_scores(x.pred, x.gt, im)
    finally:
        fam.nearest_patches, fam.reconstruct, fam.camouflage_weights = orig
    return [c for c in calls if len(c) == 3]


@pytest.mark.realdata
def test_kernels_on_real_sod_inputs(shared_data):
    calls = _real_kernel_inputs(shared_data)
    assert len(calls) >= 30
    for c in calls:
        assert np.array_equal(K.nearest_patches(*c[0]), nearest_oracle(*c[0]))
        assert np.array_equal(K._nearest_pruned(*c[0]), K._nearest_blas(*c[0]))
        _assert_bounds_below(*c[0])
        assert np.array_equal(K.reconstruct(*c[1]), reconstruct_oracle(*c[1]))
        assert_weights_close(CK.camouflage_weights(*c[2]), weights_oracle(*c[2]), c[2][2])
