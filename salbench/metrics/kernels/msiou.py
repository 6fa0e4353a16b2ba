"""numba kernels of the MSIoU family (PySODMetrics 1.6.2 ``MSIoU``).

The reference's edge map of a bool mask is ``hypot(sobel_0, sobel_1) > 0``
computed by ``scipy.ndimage.sobel`` *in bool*: the intermediate bytes wrap
modulo 256, which (the true values lying in [-4, 4]) keeps exactly the
pixels where the integer Sobel response of the 0/1 mask with zero padding is
nonzero along either axis. That is what :func:`sobel_edges` computes.

For the 257 thresholds ``q >= t`` (t = 0..256) of a quantised map,
:func:`threshold_edge_bits` gives every pixel a 257-bit set (5 uint64 words)
of the thresholds at which it is an edge: its status depends only on which
of its 8 neighbours are ``>= t``, so it is constant between consecutive
neighbour levels. :func:`cell_counts_bits` ORs those sets over the grid
cells of each scale (grid anchored at the bottom-right, as the reference's
top-left zero padding makes it) and counts, per threshold, the cells that
hold both a map edge and a GT edge.

Serial, fixed-type, ``nogil=True, cache=True``; inputs trusted."""

from __future__ import annotations

import numpy as np
from numba import njit

_T = 257  # thresholds t = 0..256
_W = 5  # uint64 words per threshold set


@njit(cache=True, nogil=True)
def sobel_edges(m, out):
    """``out[i, j]`` = the integer Sobel response of the 0/1 mask ``m``
    (zero outside) is nonzero along axis 0 or axis 1 at (i, j)."""
    h, w = m.shape
    for i in range(h):
        for j in range(w):
            gx = 0
            gy = 0
            for d in range(-1, 2):
                wt = 2 if d == 0 else 1
                jj = j + d
                if 0 <= jj < w:
                    if i + 1 < h and m[i + 1, jj]:
                        gx += wt
                    if i - 1 >= 0 and m[i - 1, jj]:
                        gx -= wt
                ii = i + d
                if 0 <= ii < h:
                    if j + 1 < w and m[ii, j + 1]:
                        gy += wt
                    if j - 1 >= 0 and m[ii, j - 1]:
                        gy -= wt
            out[i, j] = gx != 0 or gy != 0


@njit(cache=True, nogil=True)
def _set_range(bits, i, j, a, b):
    """Set bits a..b (inclusive) of ``bits[i, j, :]``."""
    for wd in range(_W):
        lo = wd * 64
        hi = lo + 63
        s = a if a > lo else lo
        e = b if b < hi else hi
        if s > e:
            continue
        n = e - s + 1
        if n == 64:
            mask = np.uint64(0xFFFFFFFFFFFFFFFF)
        else:
            mask = np.uint64((1 << n) - 1)
        bits[i, j, wd] |= mask << np.uint64(s - lo)


@njit(cache=True, nogil=True)
def threshold_edge_bits(lev, bits):
    """``bits[i, j]`` (uint64 (h, w, 5), zeroed by the caller): bit t set
    iff (i, j) is an edge of the mask ``lev >= t`` (``lev`` int64 levels
    0..255)."""
    h, w = lev.shape
    di = (-1, -1, -1, 0, 0, 1, 1, 1)
    dj = (-1, 0, 1, -1, 1, -1, 0, 1)
    nb = np.empty(8, np.int64)
    srt = np.empty(8, np.int64)
    for i in range(h):
        inner_i = 0 < i < h - 1
        for j in range(w):
            if inner_i and 0 < j < w - 1:
                v0 = lev[i - 1, j - 1]
                if (lev[i - 1, j] == v0 and lev[i - 1, j + 1] == v0 and lev[i, j - 1] == v0
                        and lev[i, j + 1] == v0 and lev[i + 1, j - 1] == v0 and lev[i + 1, j] == v0
                        and lev[i + 1, j + 1] == v0):
                    continue  # 8 equal neighbours: all on or all off, never an edge
            k = 0
            for q in range(8):
                ii = i + di[q]
                jj = j + dj[q]
                v = lev[ii, jj] if (0 <= ii < h and 0 <= jj < w) else -1
                nb[q] = v
                if v < 0:
                    continue
                # insert v into the sorted distinct levels srt[:k]
                p = k
                dup = False
                while p > 0 and srt[p - 1] >= v:
                    if srt[p - 1] == v:
                        dup = True
                        break
                    p -= 1
                if dup:
                    continue
                for r in range(k, p, -1):
                    srt[r] = srt[r - 1]
                srt[p] = v
                k += 1
            prev = -1
            for p in range(k):
                v = srt[p]
                # on-set {nb >= v}, valid for t in (prev, v]
                o0 = 1 if nb[0] >= v else 0
                o1 = 1 if nb[1] >= v else 0
                o2 = 1 if nb[2] >= v else 0
                o3 = 1 if nb[3] >= v else 0
                o4 = 1 if nb[4] >= v else 0
                o5 = 1 if nb[5] >= v else 0
                o6 = 1 if nb[6] >= v else 0
                o7 = 1 if nb[7] >= v else 0
                gx = (o5 + 2 * o6 + o7) - (o0 + 2 * o1 + o2)
                gy = (o2 + 2 * o4 + o7) - (o0 + 2 * o3 + o5)
                if gx != 0 or gy != 0:
                    _set_range(bits, i, j, prev + 1, v)
                prev = v


@njit(cache=True, nogil=True, inline="always")
def _cell_grid(h, w, c):
    """Padding (top, left) that makes an h x w image a whole number of c x c
    cells, and the cell grid's size."""
    ph = (c - h % c) % c
    pw = (c - w % c) % c
    return ph, pw, (h + ph) // c, (w + pw) // c


@njit(cache=True, nogil=True)
def _gt_cells(gedge, c):
    h, w = gedge.shape
    ph, pw, nh, nw = _cell_grid(h, w, c)
    g = np.zeros((nh, nw), np.bool_)
    for i in range(h):
        for j in range(w):
            if gedge[i, j]:
                g[(i + ph) // c, (j + pw) // c] = True
    return g, ph, pw


@njit(cache=True, nogil=True)
def cell_counts_bits(bits, gedge, cells, counts, gcounts):
    """For each cell size ``cells[s]``: ``gcounts[s]`` = number of GT-edge
    cells, ``counts[t, s]`` = number of GT-edge cells holding a map edge at
    threshold t (``counts`` int64 (257, S) zeroed by the caller)."""
    h, w = gedge.shape
    gi = np.empty(h * w, np.int64)
    gj = np.empty(h * w, np.int64)
    pi = np.empty(h * w, np.int64)
    pj = np.empty(h * w, np.int64)
    ng = 0
    npx = 0
    for i in range(h):
        for j in range(w):
            if gedge[i, j]:
                gi[ng] = i
                gj[ng] = j
                ng += 1
            anyb = False
            for wd in range(_W):
                if bits[i, j, wd] != np.uint64(0):
                    anyb = True
            if anyb:
                pi[npx] = i
                pj[npx] = j
                npx += 1
    for s in range(cells.size):
        c = cells[s]
        ph, pw, nh, nw = _cell_grid(h, w, c)
        g = np.zeros((nh, nw), np.bool_)
        for q in range(ng):
            g[(gi[q] + ph) // c, (gj[q] + pw) // c] = True
        pc = np.zeros((nh, nw, _W), np.uint64)
        for q in range(npx):
            ci = (pi[q] + ph) // c
            cj = (pj[q] + pw) // c
            if g[ci, cj]:
                for wd in range(_W):
                    pc[ci, cj, wd] |= bits[pi[q], pj[q], wd]
        n = 0
        for ci in range(nh):
            for cj in range(nw):
                if not g[ci, cj]:
                    continue
                n += 1
                for wd in range(_W):
                    x = pc[ci, cj, wd]
                    t = wd * 64
                    while x != np.uint64(0):
                        if x & np.uint64(1):
                            counts[t, s] += 1
                        x = x >> np.uint64(1)
                        t += 1
        gcounts[s] = n


@njit(cache=True, nogil=True)
def cell_counts_mask(pedge, gedge, cells, counts):
    """``counts[s]`` = number of cells of size ``cells[s]`` holding both a
    map edge (``pedge``) and a GT edge."""
    h, w = gedge.shape
    for s in range(cells.size):
        c = cells[s]
        g, ph, pw = _gt_cells(gedge, c)
        nh, nw = g.shape
        p = np.zeros((nh, nw), np.bool_)
        for i in range(h):
            for j in range(w):
                if pedge[i, j]:
                    p[(i + ph) // c, (j + pw) // c] = True
        n = 0
        for ci in range(nh):
            for cj in range(nw):
                if p[ci, cj] and g[ci, cj]:
                    n += 1
        counts[s] = n
