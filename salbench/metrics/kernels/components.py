"""numba kernels of the size-invariant family: 4-connected component
labelling of a GT mask (areas and bounding boxes only) and the per-box passes
(256-level histogram, fixed- and adaptive-threshold counts, sums of the map
and of ``|pred - gt|``).

Serial, fixed-type, ``nogil=True, cache=True``; inputs are trusted (C-contiguous
2-D ``pred`` float64 and ``gt`` bool of one shape). Boxes are half-open
``[r0, r1) x [c0, c1)``."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _find(parent, a):
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@njit(cache=True, nogil=True)
def label4(gt):
    """4-connected components of the foreground of ``gt`` (skimage's
    ``label(connectivity=1)``), numbered in raster order of their first
    pixel. Returns ``(n, area, r0, r1, c0, c1)``: int64 arrays of length n
    (area in pixels, half-open bounding box)."""
    h, w = gt.shape
    lab = np.zeros((h, w), np.int64)
    parent = np.zeros(h * w // 2 + 2, np.int64)
    nxt = 1
    for i in range(h):
        for j in range(w):
            if not gt[i, j]:
                continue
            up = lab[i - 1, j] if i > 0 else 0
            left = lab[i, j - 1] if j > 0 else 0
            if up == 0 and left == 0:
                if nxt >= parent.size:
                    bigger = np.zeros(parent.size * 2, np.int64)
                    bigger[:parent.size] = parent
                    parent = bigger
                parent[nxt] = nxt
                lab[i, j] = nxt
                nxt += 1
            elif up == 0:
                lab[i, j] = left
            elif left == 0:
                lab[i, j] = up
            else:
                ru = _find(parent, up)
                rl = _find(parent, left)
                if ru < rl:
                    parent[rl] = ru
                elif rl < ru:
                    parent[ru] = rl
                lab[i, j] = up
    final = np.zeros(nxt, np.int64)
    n = 0
    area = np.zeros(nxt, np.int64)
    r0 = np.zeros(nxt, np.int64)
    r1 = np.zeros(nxt, np.int64)
    c0 = np.zeros(nxt, np.int64)
    c1 = np.zeros(nxt, np.int64)
    for i in range(h):
        for j in range(w):
            if lab[i, j] == 0:
                continue
            root = _find(parent, lab[i, j])
            k = final[root]
            if k == 0:
                n += 1
                k = n
                final[root] = k
                r0[k - 1] = i
                r1[k - 1] = i + 1
                c0[k - 1] = j
                c1[k - 1] = j + 1
            k -= 1
            area[k] += 1
            if i + 1 > r1[k]:
                r1[k] = i + 1
            if j < c0[k]:
                c0[k] = j
            if j + 1 > c1[k]:
                c1[k] = j + 1
    return n, area[:n].copy(), r0[:n].copy(), r1[:n].copy(), c0[:n].copy(), c1[:n].copy()


@njit(cache=True, nogil=True)
def box_pass(pred, gt, r0, r1, c0, c1, thr_bin, hist, out_i, out_f):
    """One pass over a box: ``hist`` (2, 256, zeroed here) counts the levels
    ``int(pred * 255)`` of background (row 0) and foreground (row 1) pixels;
    ``out_i`` = [#gt, #(pred > thr_bin & gt), #(pred > thr_bin & ~gt)];
    ``out_f`` = [sum of pred (compensated), sum of |pred - gt|]."""
    for j in range(256):
        hist[0, j] = 0
        hist[1, j] = 0
    fg = 0
    tpb = 0
    fpb = 0
    s = 0.0
    comp = 0.0
    ad = 0.0
    for i in range(r0, r1):
        for j in range(c0, c1):
            v = pred[i, j]
            lev = np.int64(v * 255.0)
            b = 1 if v > thr_bin else 0
            y = v - comp
            t = s + y
            comp = (t - s) - y
            s = t
            if gt[i, j]:
                hist[1, lev] += 1
                fg += 1
                tpb += b
                ad += abs(v - 1.0)
            else:
                hist[0, lev] += 1
                fpb += b
                ad += v
    out_i[0] = fg
    out_i[1] = tpb
    out_i[2] = fpb
    out_f[0] = s
    out_f[1] = ad


@njit(cache=True, nogil=True)
def box_adaptive(pred, gt, r0, r1, c0, c1, thr, out_i):
    """``out_i`` = [#(pred >= thr & gt), #(pred >= thr & ~gt)] over a box;
    returns the smallest ``|pred - thr|`` there (the tie check)."""
    tp = 0
    fp = 0
    dmin = np.inf
    for i in range(r0, r1):
        for j in range(c0, c1):
            v = pred[i, j]
            d = abs(v - thr)
            if d < dmin:
                dmin = d
            if v >= thr:
                if gt[i, j]:
                    tp += 1
                else:
                    fp += 1
    out_i[0] = tp
    out_i[1] = fp
    return dmin


@njit(cache=True, nogil=True)
def outside_boxes(pred, gt, r0, r1, c0, c1):
    """Pixels in none of the boxes: ``(count, sum of |pred - gt|)``."""
    h, w = pred.shape
    cover = np.zeros((h, w), np.uint8)
    for k in range(r0.size):
        for i in range(r0[k], r1[k]):
            for j in range(c0[k], c1[k]):
                cover[i, j] = 1
    n = 0
    ad = 0.0
    for i in range(h):
        for j in range(w):
            if cover[i, j] == 0:
                n += 1
                v = pred[i, j]
                ad += abs(v - 1.0) if gt[i, j] else v
    return n, ad
