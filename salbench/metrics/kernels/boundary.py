"""Numba kernel of the relaxed boundary precision / recall of BASNet (Qin et al.,
CVPR 2019); the definitions are in :mod:`salbench.metrics.families.boundary`.

One pass marks the boundary pixels of both binary masks (a set pixel with an
unset pixel among its eight neighbours; pixels outside the image count as set,
so the image frame is no boundary); a second pass counts, for each boundary
pixel of one mask, whether a boundary pixel of the other lies within Euclidean
distance ``rho`` (the offsets of the disk ``dy² + dx² <= rho²``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _boundary(mask, out):
    """``out[r, c] = 1`` where ``mask`` is set and one of its 8 neighbours
    inside the image is unset; returns the number of such pixels."""
    h, w = mask.shape
    n = 0
    for r in range(h):
        for c in range(w):
            if not mask[r, c]:
                out[r, c] = 0
                continue
            edge = False
            for dr in range(-1, 2):
                rr = r + dr
                if rr < 0 or rr >= h:
                    continue
                for dc in range(-1, 2):
                    cc = c + dc
                    if cc < 0 or cc >= w:
                        continue
                    if not mask[rr, cc]:
                        edge = True
            out[r, c] = 1 if edge else 0
            n += 1 if edge else 0
    return n


@njit(cache=True, nogil=True)
def _matched(a, b, dys, dxs):
    """Number of set pixels of ``a`` with a set pixel of ``b`` at one of the offsets."""
    h, w = a.shape
    m = 0
    for r in range(h):
        for c in range(w):
            if not a[r, c]:
                continue
            for k in range(dys.shape[0]):
                rr = r + dys[k]
                cc = c + dxs[k]
                if rr >= 0 and rr < h and cc >= 0 and cc < w and b[rr, cc]:
                    m += 1
                    break
    return m


@njit(cache=True, nogil=True)
def _counts_kernel(pred, gt, dys, dxs):
    h, w = gt.shape
    pb = np.empty((h, w), np.uint8)
    gb = np.empty((h, w), np.uint8)
    n_p = _boundary(pred, pb)
    n_g = _boundary(gt, gb)
    return n_p, n_g, _matched(pb, gb, dys, dxs), _matched(gb, pb, dys, dxs)


def disk_offsets(rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(dy, dx)`` with ``dy² + dx² <= rho²``, nearest first."""
    r = int(np.floor(rho))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = dy * dy + dx * dx <= rho * rho
    d2 = (dy * dy + dx * dx)[keep]
    order = np.argsort(d2, kind="stable")
    return (np.ascontiguousarray(dy[keep][order], np.int64),
            np.ascontiguousarray(dx[keep][order], np.int64))


def boundary_counts(pred: np.ndarray, gt: np.ndarray, rho: float) -> tuple[int, int, int, int]:
    """``(n_pred_boundary, n_gt_boundary, n_pred_matched, n_gt_matched)`` of two
    bool masks: the boundary pixels of each, and how many of them have a
    boundary pixel of the other within Euclidean distance ``rho``."""
    dys, dxs = disk_offsets(rho)
    p = np.ascontiguousarray(pred, dtype=np.bool_)
    g = np.ascontiguousarray(gt, dtype=np.bool_)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError("boundary_counts: two 2-D masks of one shape expected")
    n_p, n_g, m_p, m_g = _counts_kernel(p, g, dys, dxs)
    return int(n_p), int(n_g), int(m_p), int(m_g)
