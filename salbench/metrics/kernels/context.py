"""Numba kernels of the context measure and the camouflage context measure
(Wang, Ji, Shao, Cheng and Fan, "Context-measure: Contextualizing Metric for
Camouflage", arXiv:2512.07076, 2025), as PySODMetrics 1.6.2's
``context_measure.py`` computes them; the definitions are in
:mod:`salbench.metrics.families.context`.

* :func:`gt_moments` — the sums behind the GT pixel covariance (exact int64);
  :func:`forward_sums` — the sums of the forward term.
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
* :func:`grid_patches` — the patches on the image's stride grid lying wholly
  in a mask, and their values (the reference's ``_extract_patches``).
* :func:`reconstruct` — the foreground rebuilt from the matched background
  patches (sums of uint8 patches over the overlaps, divided by the overlap
  counts started at ``eps`` exactly as the reference accumulates them, rounded
  half to even).

The camouflage degree of the colour pairs is in
:mod:`salbench.metrics.kernels.ciede2000`.
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
def _forward_kernel(pred, kg, r0, c0):
    # a partial sum per row, then the rows: as close to NumPy's pairwise sums as
    # its agreement with the reference needs (sequential sums lose ~10x)
    num = 0.0
    for i in range(kg.shape[0]):
        s = 0.0
        for j in range(kg.shape[1]):
            s += pred[r0 + i, c0 + j] * np.float64(kg[i, j])
        num += s
    total = 0.0
    for i in range(pred.shape[0]):
        s = 0.0
        for j in range(pred.shape[1]):
            s += pred[i, j]
        total += s
    return num, total


def forward_sums(pred: np.ndarray, kg: np.ndarray, r0: int, c0: int) -> tuple[float, float]:
    """``(Σ pred · (K ⋆ gt), Σ pred)`` of the context measure's forward term, with
    ``K ⋆ gt`` (float32) given on the box whose top-left pixel is ``(r0, c0)``
    (0 outside it); float64 sums, a partial sum per row."""
    return _forward_kernel(np.ascontiguousarray(pred, np.float64), kg, int(r0), int(c0))


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
def _pruned_kernel(h, mq, q, x, qs, x0, x1, out):
    """``out[i]``: the first j minimising the exact distance ``|q[i] - x[j]|² +
    |qs[i] - (x0[j], x1[j])|²`` (float64), given bounds with ``h[i, j] - mq[i]``
    below every distance. The smallest bound's distance starts ``best``; the
    references with a bound at most ``best + mq[i]`` (rounded up to float32)
    are listed, then visited in index order while the threshold shrinks; the
    others cannot hold the answer."""
    m, nx = h.shape
    cand = np.empty(nx + 1, np.int64)
    for i in range(m):
        row = h[i]
        # the smallest bound, negatives as 0: an integer minimum over the bit
        # patterns (non-negative floats order as their bits; vectorisable)
        bits = row.view(np.int32)
        mn = bits[0] if bits[0] > 0 else 0
        for j in range(1, nx):
            v = bits[j]
            v = v if v > 0 else 0
            mn = v if v < mn else mn
        j0 = 0
        while (bits[j0] if bits[j0] > 0 else 0) != mn:
            j0 += 1
        qi = q[i]
        q0 = np.float64(qs[i, 0])
        q1 = np.float64(qs[i, 1])
        d0 = q0 - x0[j0]
        d1 = q1 - x1[j0]
        best = np.float64(_lab_sq(qi, x[j0])) + (d0 * d0 + d1 * d1)
        bj = j0
        t32 = np.float32((best + mq[i]) * (1.0 + 1e-6))
        nc = 0
        for j in range(nx):  # branch-free list of the candidates
            cand[nc] = j
            nc += row[j] <= t32
        for k in range(nc):
            j = cand[k]
            if row[j] <= t32 and j != j0:
                d0 = q0 - x0[j]
                d1 = q1 - x1[j]
                d = np.float64(_lab_sq(qi, x[j])) + (d0 * d0 + d1 * d1)
                if d < best or (d == best and j < bj):
                    best = d
                    bj = j
                    t32 = np.float32((best + mq[i]) * (1.0 + 1e-6))
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
    px = (px - mean) / _SIGMA
    b = np.empty((k + 4, x.shape[0]), np.float32)
    b[:k], b[k:k + 2], b[k + 2] = -2.0 * px.T, -2.0 * np.asarray(x_xy, np.float32).T, 1.0
    ax = b[:k + 2].T.astype(np.float64) * -0.5
    nb = np.einsum("ij,ij->i", ax, ax)
    b[k + 3] = nb - _REL * nb
    a = np.empty((q.shape[0], k + 4), np.float32)
    mq = np.empty(q.shape[0], np.float64)
    _query_rows(q.astype(np.float32) @ _W, mean, _SIGMA, np.ascontiguousarray(q_xy, np.float32), _REL, _ABS, a, mq)
    return a, b, mq


@njit(cache=True, nogil=True, error_model="numpy")
def _query_rows(pw, mean, sigma, q_xy, rel, ab, a, mq):
    """The query side of :func:`bound_operands` in one pass: ``a[i] = [A_q,
    |A_q|², 1]`` (float32) from the projections ``pw`` (float32, exact) and the
    coordinates, and ``mq[i] = rel |A_q|² + ab``, the norm taken over the float32
    entries in float64."""
    m, k = pw.shape
    for i in range(m):
        s = 0.0
        for c in range(k):
            v = np.float32((np.float64(pw[i, c]) - mean[c]) / sigma)
            a[i, c] = v
            s += np.float64(v) * np.float64(v)
        for c in range(2):
            v = q_xy[i, c]
            a[i, k + c] = v
            s += np.float64(v) * np.float64(v)
        a[i, k + 2] = np.float32(s)
        a[i, k + 3] = np.float32(1.0)
        mq[i] = rel * s + ab


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
def _standardise_kernel(c, out):
    """scikit-learn's ``StandardScaler().fit_transform`` of the integer columns
    of ``c`` into ``out``, with its operations and NumPy's order of summation
    over the rows of an (n, 2) array (sequential): the mean, the population
    variance with its correction term, scale 1 for a constant column."""
    n, k = c.shape
    eps = np.finfo(np.float64).eps
    for j in range(k):
        s = 0.0
        for i in range(n):
            s += np.float64(c[i, j])
        mean = s / n
        corr = 0.0
        sq = 0.0
        for i in range(n):
            t = np.float64(c[i, j]) - mean
            corr += t
            sq += t ** 2
        var = (sq - corr ** 2 / n) / n
        scale = np.sqrt(var)
        if var <= n * eps * var + (n * mean * eps) ** 2:
            scale = 1.0
        for i in range(n):
            out[i, j] = (np.float64(c[i, j]) - mean) / scale


def standardise(coords: np.ndarray) -> np.ndarray:
    """scikit-learn's ``StandardScaler().fit_transform`` of integer coordinates
    ((n, k) -> float64), bit for bit (:func:`_standardise_kernel`)."""
    c = np.ascontiguousarray(coords, np.int64)
    out = np.empty(c.shape, np.float64)
    _standardise_kernel(c, out)
    return out


@njit(cache=True, nogil=True)
def _grid_kernel(mask, w, r0, c0, d, keep):
    """``keep[i, j]``: the ``w``x``w`` window at row ``r0 + i d``, column
    ``c0 + j d`` of ``mask`` lies wholly in it; returns their number. Per grid
    row, the set pixels of each column over the window's rows, then runs of
    ``w`` full columns."""
    h, wd = mask.shape
    col = np.zeros(wd, np.int32)
    n = 0
    for i in range(keep.shape[0]):
        r = r0 + i * d
        for c in range(wd):
            col[c] = 0
        for a in range(w):
            row = mask[r + a]
            for c in range(wd):
                col[c] += row[c] != 0
        for j in range(keep.shape[1]):
            c = c0 + j * d
            full = True
            for b in range(w):
                if col[c + b] != w:
                    full = False
                    break
            keep[i, j] = full
            n += full
    return n


@njit(cache=True, nogil=True)
def _gather_kernel(lab, keep, w, r0, c0, d, o0, o1, idx, feat):
    """Row-major over ``keep``: the image coordinates (origin ``o0, o1``) and
    the flattened ``w``x``w``x``ch`` values of each kept window."""
    ch = lab.shape[2]
    flat = lab.reshape(lab.shape[0], lab.shape[1] * ch)
    span = w * ch
    n = 0
    for i in range(keep.shape[0]):
        for j in range(keep.shape[1]):
            if keep[i, j]:
                r = r0 + i * d
                c = c0 + j * d
                idx[n, 0] = r + o0
                idx[n, 1] = c + o1
                for a in range(w):
                    src = flat[r + a, c * ch:c * ch + span]
                    dst = feat[n, a * span:(a + 1) * span]
                    for t in range(span):
                        dst[t] = src[t]
                n += 1


def grid_patches(lab: np.ndarray, mask: np.ndarray, w: int, d: int, origin: tuple[int, int] = (0, 0)):
    """``(corners, values)``: the top-left corners (row, col; (n, 2) int64) on
    the image's stride-``d`` grid of the ``w``x``w`` windows lying wholly in
    ``mask`` (row-major) and their values ((n, w·w·ch), ``lab``'s dtype).
    ``lab`` (h x w x ch) and ``mask`` may be a crop of the image whose top-left
    pixel is at ``origin``: the grid stays the image's (rows and columns
    multiple of ``d``) and the corners are the image's."""
    h, wd = mask.shape
    r0, c0 = -origin[0] % d, -origin[1] % d
    nr = max(0, (h - w - r0) // d + 1)
    nc = max(0, (wd - w - c0) // d + 1)
    lab = np.ascontiguousarray(lab)
    keep = np.zeros((nr, nc), np.bool_)
    n = _grid_kernel(np.ascontiguousarray(mask), int(w), r0, c0, int(d), keep) if nr and nc else 0
    idx = np.empty((n, 2), np.int64)
    feat = np.empty((n, w * w * lab.shape[2]), lab.dtype)
    if n:
        _gather_kernel(lab, keep, int(w), r0, c0, int(d), int(origin[0]), int(origin[1]), idx, feat)
    return idx, feat


@njit(cache=True, nogil=True)
def _reconstruct_kernel(im_bg, fx, fy, bx, by, w, eps, mask, out, seen):
    h, wd, ch = im_bg.shape
    # the patches land in the box [r0, r1) x [c0, c1); integer sums and counts there
    r0, c0 = (fx.min(), fy.min()) if fx.shape[0] else (0, 0)
    r1, c1 = (fx.max() + w, fy.max() + w) if fx.shape[0] else (0, 0)
    acc = np.zeros((r1 - r0, (c1 - c0) * ch), np.int32)
    cnt = np.zeros((r1 - r0, c1 - c0), np.int32)
    flat = im_bg.reshape(h, wd * ch)
    span = w * ch
    for i in range(fx.shape[0]):
        so = by[i] * ch
        do = (fy[i] - c0) * ch
        for a in range(w):
            # one patch row: w pixels of ch channels, contiguous on both sides
            src = flat[bx[i] + a, so:so + span]
            dst = acc[fx[i] - r0 + a, do:do + span]
            for t in range(span):
                dst[t] += src[t]
            crow = cnt[fx[i] - r0 + a, fy[i] - c0:fy[i] - c0 + w]
            for b in range(w):
                crow[b] += 1
    # the reference's float count of a pixel under k patches: eps, then + 1.0 k
    # times; every rounded quotient of a sum of k uint8 values by it, in a table
    kmax = 0
    for r in range(cnt.shape[0]):
        for c in range(cnt.shape[1]):
            kmax = max(kmax, cnt[r, c])
    off = np.empty(kmax + 2, np.int64)
    off[0] = 0
    for k in range(kmax + 1):
        off[k + 1] = off[k] + 255 * k + 1
    quot = np.empty(off[kmax + 1], np.uint8)
    d = eps
    for k in range(kmax + 1):
        for v in range(255 * k + 1):
            quot[off[k] + v] = np.uint8(np.int64(np.rint(v / d)))
        d += 1.0
    zero = quot[0]
    n = 0
    keep = seen.shape[0] > 0
    for r in range(h):
        for c in range(wd):
            if mask[r, c]:
                if r0 <= r < r1 and c0 <= c < c1:
                    o = off[cnt[r - r0, c - c0]]
                    for k in range(ch):
                        out[n, k] = quot[o + acc[r - r0, (c - c0) * ch + k]]
                else:
                    out[n, :] = zero
                if keep:
                    for k in range(ch):
                        seen[n, k] = im_bg[r, c, k]
                n += 1


def reconstruct(im_bg: np.ndarray, fg_xy: np.ndarray, bg_xy: np.ndarray, w: int, eps: float,
                mask: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
    """The pixels under ``mask`` (row-major, (n, 3) uint8) of the image rebuilt
    from the ``w``x``w`` patches of ``im_bg`` at ``bg_xy`` (top-left row,
    column) pasted at ``fg_xy`` (clipped to the image as the reference clips):
    the patch sums over the overlaps divided by the overlap counts, which start
    at ``eps`` and grow by 1 per patch as the reference accumulates them,
    rounded half to even; 0 where no patch lands. The sums are int32 on the box
    the patches cover; the float count of k patches comes from a table.
    ``seen``, if given ((n, 3) uint8), receives ``im_bg``'s own pixels under
    ``mask`` in the same order (one pass for both)."""
    h, wd = im_bg.shape[:2]
    fx = np.clip(fg_xy[:, 0], 0, h - w).astype(np.int64)
    fy = np.clip(fg_xy[:, 1], 0, wd - w).astype(np.int64)
    bx = np.clip(bg_xy[:, 0], 0, h - w).astype(np.int64)
    by = np.clip(bg_xy[:, 1], 0, wd - w).astype(np.int64)
    m = np.ascontiguousarray(mask, np.bool_)
    out = np.empty((int(m.sum()), im_bg.shape[2]), np.uint8)
    if seen is None:
        seen = np.empty((0, im_bg.shape[2]), np.uint8)
    elif seen.shape != out.shape or seen.dtype != np.uint8:
        raise ValueError(f"reconstruct: seen must be {out.shape} uint8, got {seen.shape} {seen.dtype}")
    _reconstruct_kernel(np.ascontiguousarray(im_bg, np.uint8), fx, fy, bx, by, int(w), float(eps), m, out, seen)
    return out
