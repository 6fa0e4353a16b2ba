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


def nearest_patches(q_lab: np.ndarray, x_lab: np.ndarray, q_xy: np.ndarray, x_xy: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``x`` for every row of ``q`` (first one on
    ties): the squared distance is the exact integer distance of the uint8 Lab
    parts (``q_lab``, ``x_lab``: (n, 147)) plus, in float64, the squared
    differences of the float32 coordinate parts (``q_xy``, ``x_xy``: (n, 2))."""
    qf = np.ascontiguousarray(q_lab, dtype=np.float32)
    xf = np.ascontiguousarray(x_lab, dtype=np.float32)
    dot = qf @ xf.T  # exact: integer partial sums below 2**24
    nq = np.einsum("ij,ij->i", q_lab.astype(np.int64), q_lab.astype(np.int64)).astype(np.float64)
    nx = np.einsum("ij,ij->i", x_lab.astype(np.int64), x_lab.astype(np.int64)).astype(np.float64)
    out = np.empty(qf.shape[0], np.int64)
    _argmin_kernel(dot, nq, nx, np.ascontiguousarray(q_xy, np.float32),
                   np.ascontiguousarray(x_xy, np.float32), out)
    return out


@njit(cache=True, nogil=True)
def _reconstruct_kernel(im_bg, fx, fy, bx, by, w, eps, out):
    h, wd, ch = im_bg.shape
    acc = np.zeros((h, wd, ch), np.int64)
    cnt = np.full((h, wd), eps)
    for i in range(fx.shape[0]):
        for a in range(w):
            for b in range(w):
                for c in range(ch):
                    acc[fx[i] + a, fy[i] + b, c] += im_bg[bx[i] + a, by[i] + b, c]
                cnt[fx[i] + a, fy[i] + b] += 1.0
    for r in range(h):
        for c in range(wd):
            for k in range(ch):
                out[r, c, k] = np.uint8(np.int64(np.round(acc[r, c, k] / cnt[r, c])) & 255)


def reconstruct(im_bg: np.ndarray, fg_xy: np.ndarray, bg_xy: np.ndarray, w: int, eps: float) -> np.ndarray:
    """uint8 image rebuilt from the ``w``x``w`` patches of ``im_bg`` at ``bg_xy``
    (top-left row, column) pasted at ``fg_xy`` (clipped to the image as the
    reference clips), averaged over the overlaps (counts start at ``eps``),
    rounded half to even; zero where no patch lands."""
    h, wd = im_bg.shape[:2]
    fx = np.clip(fg_xy[:, 0], 0, h - w).astype(np.int64)
    fy = np.clip(fg_xy[:, 1], 0, wd - w).astype(np.int64)
    bx = np.clip(bg_xy[:, 0], 0, h - w).astype(np.int64)
    by = np.clip(bg_xy[:, 1], 0, wd - w).astype(np.int64)
    out = np.empty(im_bg.shape, np.uint8)
    _reconstruct_kernel(np.ascontiguousarray(im_bg, np.uint8), fx, fy, bx, by, int(w), float(eps), out)
    return out
