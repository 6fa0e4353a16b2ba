"""Numba kernels of the context measure and the camouflage context measure
(Wang, Ji, Shao, Cheng and Fan, "Context-measure: Contextualizing Metric for
Camouflage", arXiv:2512.07076, 2025), as PySODMetrics 1.6.2's
``context_measure.py`` computes them; the definitions are in
:mod:`salbench.metrics.families.context`.

* :func:`gt_moments` — the sums behind the GT pixel covariance (exact int64).
* :func:`nearest_patches` — the **exact** nearest background patch of every
  foreground patch under the reference's feature (147 Lab values of a 7x7 patch
  plus 2 scaled coordinates, all float32). The Lab part of each squared
  distance is an integer. From :data:`PRUNE_MIN_PAIRS` query-reference pairs
  on, a pruned search: 23 integer DCT-like projections of the patches
  (:func:`projection_basis`) and the coordinates give, through one float32
  product of 27 columns, a lower bound of every distance with a rigorous
  margin (:func:`bound_operands`); per query, the smallest bound's exact
  distance (an integer 147-term sum) is the first ``best``, and only the
  references whose bound does not exceed it get their exact distance, in index
  order (first index on exact ties, as the plain search; on real SOD pairs
  ~1% of the pairs). Below that size, the plain search: the dot products of
  the Lab parts are exact in float32 (every partial sum is an integer below
  2**24), so they come from one BLAS product; a kernel adds the two coordinate
  terms in float64 (a vectorisable row pass) and takes the first minimum
  through the bit patterns of the non-negative distances (an integer minimum,
  also vectorisable).
* :func:`reconstruct` — the foreground rebuilt from the matched background
  patches (sums of uint8 patches over the overlaps, divided by the overlap
  counts started at ``eps`` exactly as the reference accumulates them, rounded
  half to even).
* :func:`camouflage_weights` — the camouflage degree of (reconstructed, image)
  colour pairs from scikit-image's ``rgb2lab`` and ``deltaE_ciede2000``
  formulas, in chunks: numba passes around NumPy's vectorised ``cbrt`` and
  ``arctan2``.
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
def _argmin_kernel(dot, nq, nx, qs, x0, x1, out):
    """``out[i]``: the first j minimising ``(nq[i] + nx[j] - 2 dot[i, j]) + |qs[i] - (x0[j], x1[j])|²``
    (float64). The distances of a row go to a buffer in one vectorisable loop;
    being non-negative floats, they order as their bit patterns, whose minimum is
    an integer (vectorisable) reduction."""
    m, k = dot.shape
    buf = np.empty(k, np.float64)
    bits = buf.view(np.int64)
    for i in range(m):
        row = dot[i]
        a = nq[i]
        q0 = np.float64(qs[i, 0])
        q1 = np.float64(qs[i, 1])
        for j in range(k):
            d0 = q0 - x0[j]
            d1 = q1 - x1[j]
            buf[j] = (a + nx[j] - 2.0 * np.float64(row[j])) + (d0 * d0 + d1 * d1)
        best = bits[0]
        for j in range(1, k):
            v = bits[j]
            if v < best:
                best = v
        j = 0
        while bits[j] != best:
            j += 1
        out[i] = j


#: the largest query-by-reference distance block held at once (bytes; blocks that
#: fit the cache ran many times slower here, through BLAS's per-call costs)
_BLOCK_BYTES = 32 << 20


def _nearest_blas(q_lab, x_lab, q_xy, x_xy):
    """:func:`nearest_patches` from the full float32 BLAS product (no pruning)."""
    qf = np.ascontiguousarray(q_lab, dtype=np.float32)
    xf = np.ascontiguousarray(x_lab, dtype=np.float32)
    nq = np.einsum("ij,ij->i", qf, qf).astype(np.float64)
    nx = np.einsum("ij,ij->i", xf, xf).astype(np.float64)
    qxy = np.ascontiguousarray(q_xy, np.float32)
    xxy = np.asarray(x_xy, np.float32).astype(np.float64)
    x0, x1 = np.ascontiguousarray(xxy[:, 0]), np.ascontiguousarray(xxy[:, 1])
    out = np.empty(qf.shape[0], np.int64)
    # blocks of query rows keep the distance matrix at most ~_BLOCK_BYTES
    rows = max(1, _BLOCK_BYTES // (4 * max(1, xf.shape[0])))
    for s in range(0, qf.shape[0], rows):
        e = min(s + rows, qf.shape[0])
        # exact: every partial sum is an integer below 147 * 255**2 < 2**24
        dot = qf[s:e] @ xf.T
        _argmin_kernel(dot, nq[s:e], nx, qxy[s:e], x0, x1, out[s:e])
    return out


def projection_basis(w: int = 7, lmax: int = 5, scale: int = 1024) -> tuple[np.ndarray, float]:
    """``(W, σ)``: integer columns (float32) ``rint(scale · b)`` of the 2-D DCT-II
    functions ``b`` of the lightness channel of a ``w``x``w``x3 patch (row-major,
    channel last) with frequencies ``u + v <= lmax``, plus the constant
    functions of the a and b channels; ``σ`` bounds the largest singular value of
    ``W`` from above, so ``|Wᵀ(q - x)|² / σ² <= |q - x|²``. ``q @ W`` is exact in
    float32 for uint8 ``q`` (every partial sum is an integer below 2**24)."""
    u = np.arange(w)
    d = np.sqrt(np.where(u == 0, 1.0, 2.0) / w)[:, None] * np.cos(np.pi * (2 * u[None, :] + 1) * u[:, None] / (2 * w))
    cols = []
    for c, top in ((0, lmax), (1, 0), (2, 0)):
        for a, b in [(a, s - a) for s in range(top + 1) for a in range(s + 1) if a < w and s - a < w]:
            f = np.zeros((w, w, 3))
            f[:, :, c] = np.outer(d[a], d[b])
            cols.append(f.ravel())
    m = np.rint(scale * np.stack(cols, 1))
    assert 255 * np.abs(m).sum(axis=0).max() < 2 ** 24
    return m.astype(np.float32), float(np.linalg.norm(m, 2)) * (1 + 1e-9)


@njit(cache=True, nogil=True)
def _lab_sq(a, b):
    """The exact squared distance of two uint8 rows."""
    s = 0
    for t in range(a.shape[0]):
        d = np.int32(a[t]) - np.int32(b[t])
        s += d * d
    return s


@njit(cache=True, nogil=True)
def _visit(row, s, e, t32, j0, qi, x, q0, q1, x0, x1, best, bj, m):
    """Exact distances of the references ``s <= j < e`` (but ``j0``) whose bound
    ``row[j]`` is at most ``t32``; returns the updated ``(best, bj, t32)``."""
    for j in range(s, e):
        if row[j] <= t32 and j != j0:
            d0 = q0 - x0[j]
            d1 = q1 - x1[j]
            d = np.float64(_lab_sq(qi, x[j])) + (d0 * d0 + d1 * d1)
            if d < best or (d == best and j < bj):
                best = d
                bj = j
                t32 = np.float32((best + m) * (1.0 + 1e-6))
    return best, bj, t32


@njit(cache=True, nogil=True)
def _pruned_kernel(h, mq, q, x, qs, x0, x1, out):
    """``out[i]``: the first j minimising the exact distance ``|q[i] - x[j]|² +
    |qs[i] - (x0[j], x1[j])|²`` (float64), given bounds with ``h[i, j] - mq[i]``
    below every distance. The smallest bound's distance starts ``best``; blocks
    of 8 references with a bound at most ``best + mq[i]`` (rounded up to
    float32) are visited in index order, the others cannot hold the answer."""
    m, nx = h.shape
    buf = np.empty(nx, np.float32)
    ib = buf.view(np.int32)
    nb = nx // 8 * 8
    for i in range(m):
        row = h[i]
        for j in range(nx):
            v = row[j]
            buf[j] = v if v > np.float32(0.0) else np.float32(0.0)
        mn = ib[0]
        for j in range(1, nx):
            if ib[j] < mn:
                mn = ib[j]
        j0 = 0
        while ib[j0] != mn:
            j0 += 1
        qi = q[i]
        q0 = np.float64(qs[i, 0])
        q1 = np.float64(qs[i, 1])
        d0 = q0 - x0[j0]
        d1 = q1 - x1[j0]
        best = np.float64(_lab_sq(qi, x[j0])) + (d0 * d0 + d1 * d1)
        bj = j0
        t32 = np.float32((best + mq[i]) * (1.0 + 1e-6))
        for s in range(0, nb, 8):
            c = 0
            for j in range(s, s + 8):
                c += row[j] <= t32
            if c:
                best, bj, t32 = _visit(row, s, s + 8, t32, j0, qi, x, q0, q1, x0, x1, best, bj, mq[i])
        best, bj, t32 = _visit(row, nb, nx, t32, j0, qi, x, q0, q1, x0, x1, best, bj, mq[i])
        out[i] = bj


_W, _SIGMA = projection_basis()
#: relative and absolute margins of the float32 bounds (analysis in bound_operands)
_REL, _ABS = 1e-5, 1e-3
#: the pruned search's bound blocks (bytes; the float32 product has few columns)
_PRUNE_BLOCK_BYTES = 4 << 20
#: fewer query-reference pairs than this take the plain BLAS search (the pruned
#: one broke even at ~2e5 pairs here)
PRUNE_MIN_PAIRS = 1 << 18


def bound_operands(q: np.ndarray, x: np.ndarray, q_xy: np.ndarray, x_xy: np.ndarray):
    """``(a, b, mq)`` with ``(a @ b)[i, j] - mq[i]`` (float32 product, then
    float64) below the distance of :func:`nearest_patches` for every pair.
    ``P = Wᵀ(patch - mean) / σ`` (:func:`projection_basis`: 23 dims, exact
    integer products) and the coordinates form vectors ``A`` with ``|A_q -
    A_x|² <= lab + coord`` (projection); ``a = [A_q, |A_q|², 1]``, ``b = [-2 A_x,
    1, |A_x|² - ε|A_x|²]``. The product's error (27 terms, float32 rounding of
    ``A`` and the norms) is below ``4e-6 (|A_q|² + |A_x|²)``, so
    ``mq = ε|A_q|² + 1e-3`` (``ε = 1e-5``) also covers the float64 roundings."""
    k = _W.shape[1]
    px = (x.astype(np.float32) @ _W).astype(np.float64)
    mean = px.mean(axis=0)
    pq = ((q.astype(np.float32) @ _W).astype(np.float64) - mean) / _SIGMA
    px = (px - mean) / _SIGMA
    a = np.empty((q.shape[0], k + 4), np.float32)
    b = np.empty((k + 4, x.shape[0]), np.float32)
    a[:, :k], a[:, k:k + 2], a[:, k + 3] = pq, q_xy, 1.0
    b[:k], b[k:k + 2], b[k + 2] = -2.0 * px.T, -2.0 * np.asarray(x_xy, np.float32).T, 1.0
    aq, ax = a[:, :k + 2].astype(np.float64), b[:k + 2].T.astype(np.float64) * -0.5
    na = np.einsum("ij,ij->i", aq, aq)
    nb = np.einsum("ij,ij->i", ax, ax)
    a[:, k + 2] = na
    b[k + 3] = nb - _REL * nb
    return a, b, _REL * na + _ABS


def _nearest_pruned(q_lab, x_lab, q_xy, x_xy):
    """:func:`nearest_patches` by the exact pruned search of :func:`_pruned_kernel`
    on the bounds of :func:`bound_operands`, in blocks of query rows."""
    q = np.ascontiguousarray(q_lab, np.uint8)
    x = np.ascontiguousarray(x_lab, np.uint8)
    qs = np.ascontiguousarray(q_xy, np.float32)
    xs = np.asarray(x_xy, np.float32).astype(np.float64)
    a, b, mq = bound_operands(q, x, qs, xs)
    x0, x1 = np.ascontiguousarray(xs[:, 0]), np.ascontiguousarray(xs[:, 1])
    out = np.empty(q.shape[0], np.int64)
    rows = max(1, _PRUNE_BLOCK_BYTES // (4 * max(1, x.shape[0])))
    for s in range(0, q.shape[0], rows):
        e = min(s + rows, q.shape[0])
        _pruned_kernel(a[s:e] @ b, mq[s:e], q[s:e], x, qs[s:e], x0, x1, out[s:e])
    return out


def nearest_patches(q_lab: np.ndarray, x_lab: np.ndarray, q_xy: np.ndarray, x_xy: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``x`` for every row of ``q`` (first one on
    ties): the squared distance is the exact integer distance of the uint8 Lab
    parts (``q_lab``, ``x_lab``: (n, 147)) plus, in float64, the squared
    differences of the float32 coordinate parts (``q_xy``, ``x_xy``: (n, 2)).
    From :data:`PRUNE_MIN_PAIRS` pairs on, an exact pruned search; below, the
    full BLAS product."""
    if q_lab.shape[0] * x_lab.shape[0] >= PRUNE_MIN_PAIRS:
        return _nearest_pruned(q_lab, x_lab, q_xy, x_xy)
    return _nearest_blas(q_lab, x_lab, q_xy, x_xy)


@njit(cache=True, nogil=True)
def _reconstruct_kernel(im_bg, fx, fy, bx, by, w, eps, mask, out):
    h, wd, ch = im_bg.shape
    # the patches land in the box [r0, r1) x [c0, c1); integer sums and counts there
    r0, c0 = (fx.min(), fy.min()) if fx.shape[0] else (0, 0)
    r1, c1 = (fx.max() + w, fy.max() + w) if fx.shape[0] else (0, 0)
    acc = np.zeros((r1 - r0, c1 - c0, ch), np.int32)
    cnt = np.zeros((r1 - r0, c1 - c0), np.int32)
    for i in range(fx.shape[0]):
        for a in range(w):
            src = im_bg[bx[i] + a]
            dst = acc[fx[i] - r0 + a]
            crow = cnt[fx[i] - r0 + a]
            for b in range(w):
                for c in range(ch):
                    dst[fy[i] - c0 + b, c] += src[by[i] + b, c]
                crow[fy[i] - c0 + b] += 1
    # the reference's float count of a pixel under k patches: eps, then + 1.0 k times
    den = np.empty(fx.shape[0] + 1)
    den[0] = eps
    for k in range(1, den.shape[0]):
        den[k] = den[k - 1] + 1.0
    zero = np.uint8(np.int64(np.rint(0 / den[0])))
    n = 0
    for r in range(h):
        for c in range(wd):
            if mask[r, c]:
                if r0 <= r < r1 and c0 <= c < c1:
                    d = den[cnt[r - r0, c - c0]]
                    for k in range(ch):
                        out[n, k] = np.uint8(np.int64(np.rint(acc[r - r0, c - c0, k] / d)))
                else:
                    out[n, :] = zero
                n += 1


def reconstruct(im_bg: np.ndarray, fg_xy: np.ndarray, bg_xy: np.ndarray, w: int, eps: float,
                mask: np.ndarray) -> np.ndarray:
    """The pixels under ``mask`` (row-major, (n, 3) uint8) of the image rebuilt
    from the ``w``x``w`` patches of ``im_bg`` at ``bg_xy`` (top-left row,
    column) pasted at ``fg_xy`` (clipped to the image as the reference clips):
    the patch sums over the overlaps divided by the overlap counts, which start
    at ``eps`` and grow by 1 per patch as the reference accumulates them,
    rounded half to even; 0 where no patch lands. The sums are int32 on the box
    the patches cover; the float count of k patches comes from a table."""
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
