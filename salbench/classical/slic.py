"""SLIC superpixels and the per-superpixel quantities the methods need.

:func:`slic` is a numba SLIC with the semantics of scikit-image's
``slic(compactness, sigma=0, enforce_connectivity=True, min_size_factor=0.25)``
and the seeding of the code each author called (Achanta's ``SLIC.cpp`` or the
``SLICSuperpixelSegmentation.exe`` it was compiled into for MR / BSCA, Zhu's
``SLIC_mex`` for wCtr*); it is not bit-identical to those binaries, and SLIC
differences alone move the final maps by a mean absolute difference of about
0.04 (see ``reports/classical_validation.md``). :func:`slic_lab` gives the Lab
image each seeding uses (from :mod:`salbench.classical.colour`).

:func:`slic_superpixels` wraps a segmentation in :class:`Superpixels` (labels
0..n-1, pixel counts, mean colour and position, boundary and side ids); the
actual label count is always used, as the MATLAB code does
(``max(sulabel(:))``). :func:`is_degenerate` tells when there is nothing to
rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from salbench.classical.colour import image_lab, image_lab_exe, image_lab_zhu

#: SLIC iterations (Achanta's code and scikit-image both use 10).
SLIC_ITERATIONS = 10
#: ``SLICSuperpixelSegmentation.exe``: the search window / compactness step is
#: ``int(sqrt(HW/K) + 2.0)`` ("adding a small value in the event the STEP size is too small").
SLIC_EXE_STEP_ADD = 2.0


@njit(cache=True)
def _slic_kernel(lab, centres, offset, step, compactness, n_iter, stop_early):  # pragma: no cover - numba
    h, w = lab.shape[0], lab.shape[1]
    k = centres.shape[0]
    labels = -np.ones((h, w), np.int64)
    last = np.zeros((h, w), np.int64)
    dist = np.empty((h, w))
    ratio = (compactness / step) ** 2
    sums = np.zeros((k, 6))
    for _ in range(n_iter):
        if stop_early:
            last[:, :] = labels
        dist[:, :] = np.inf
        for c in range(k):
            cy, cx = centres[c, 3], centres[c, 4]
            y0 = max(0, int(cy - offset)); y1 = min(h, int(cy + offset))
            x0 = max(0, int(cx - offset)); x1 = min(w, int(cx + offset))
            for y in range(y0, y1):
                dy = y - cy
                for x in range(x0, x1):
                    dx = x - cx
                    d0 = lab[y, x, 0] - centres[c, 0]
                    d1 = lab[y, x, 1] - centres[c, 1]
                    d2 = lab[y, x, 2] - centres[c, 2]
                    d = d0 * d0 + d1 * d1 + d2 * d2 + ratio * (dy * dy + dx * dx)
                    if d < dist[y, x]:
                        dist[y, x] = d
                        labels[y, x] = c
        sums[:, :] = 0.0
        for y in range(h):
            for x in range(w):
                c = labels[y, x]
                if c >= 0:
                    sums[c, 0] += lab[y, x, 0]
                    sums[c, 1] += lab[y, x, 1]
                    sums[c, 2] += lab[y, x, 2]
                    sums[c, 3] += y
                    sums[c, 4] += x
                    sums[c, 5] += 1.0
        for c in range(k):
            if sums[c, 5] > 0:
                for j in range(5):
                    centres[c, j] = sums[c, j] / sums[c, 5]
        if stop_early:
            same = True
            for y in range(h):
                for x in range(w):
                    if labels[y, x] != last[y, x]:
                        same = False
                        break
                if not same:
                    break
            if same:
                break
    # pixels no window reached (only possible on degenerate grids): nearest centre
    for y in range(h):
        for x in range(w):
            if labels[y, x] < 0:
                best = np.inf
                for c in range(k):
                    dy = y - centres[c, 3]
                    dx = x - centres[c, 4]
                    d = dy * dy + dx * dx
                    if d < best:
                        best = d
                        labels[y, x] = c
    return labels


@njit(cache=True)
def _enforce_connectivity(labels, merge_max):  # pragma: no cover - numba
    """Achanta's ``EnforceLabelConnectivity`` (and Zhu's copy of it): relabel
    4-connected components in scan order; a component of at most ``merge_max``
    pixels takes the label of a neighbour met before it (``adjlabel``, which
    starts at 0: as in the C++ code, a small *first* component therefore shares
    label 0 with the next component)."""
    h, w = labels.shape
    out = -np.ones((h, w), np.int64)
    qy = np.empty(h * w, np.int64)
    qx = np.empty(h * w, np.int64)
    dxs = np.array([-1, 0, 1, 0])  # left, up, right, down (SLIC.cpp's dx4 / dy4)
    dys = np.array([0, -1, 0, 1])
    nlab = 0
    adjlabel = 0
    for y0 in range(h):
        for x0 in range(w):
            if out[y0, x0] >= 0:
                continue
            out[y0, x0] = nlab
            for t in range(4):
                yy = y0 + dys[t]; xx = x0 + dxs[t]
                if 0 <= yy < h and 0 <= xx < w and out[yy, xx] >= 0:
                    adjlabel = out[yy, xx]
            qy[0] = y0; qx[0] = x0
            count = 1
            head = 0
            while head < count:
                y = qy[head]; x = qx[head]
                head += 1
                for t in range(4):
                    yy = y + dys[t]; xx = x + dxs[t]
                    if 0 <= yy < h and 0 <= xx < w and out[yy, xx] < 0 \
                            and labels[yy, xx] == labels[y0, x0]:
                        out[yy, xx] = nlab
                        qy[count] = yy; qx[count] = xx
                        count += 1
            if count <= merge_max:
                for i in range(count):
                    out[qy[i], qx[i]] = adjlabel
            else:
                nlab += 1
    return out, nlab


@njit(cache=True, inline="always")
def _put_seed(out, n, lab, y, x):  # pragma: no cover - numba
    """Row ``n`` of a seed table: the Lab colour at ``(y, x)``, then ``y``, ``x``."""
    out[n, 0] = lab[y, x, 0]
    out[n, 1] = lab[y, x, 1]
    out[n, 2] = lab[y, x, 2]
    out[n, 3] = y
    out[n, 4] = x


@njit(cache=True)
def _lab_edges(lab):  # pragma: no cover - numba
    """Squared Lab gradient of every inner pixel (``DetectLabEdges`` of SLIC.cpp:
    squared central differences along x plus along y, summed over L, a, b); 0 on
    the image border."""
    h, w = lab.shape[0], lab.shape[1]
    edges = np.zeros((h, w))
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            dx = 0.0
            dy = 0.0
            for c in range(3):
                t = lab[y, x - 1, c] - lab[y, x + 1, c]
                dx += t * t
                t = lab[y - 1, x, c] - lab[y + 1, x, c]
                dy += t * t
            edges[y, x] = dx + dy
    return edges


@njit(cache=True)
def _grid_seeds(lab, step):  # pragma: no cover - numba
    h, w = lab.shape[0], lab.shape[1]
    xstrips = int(0.5 + w / step)
    ystrips = int(0.5 + h / step)
    xerr = w - step * xstrips
    if xerr < 0:
        xstrips -= 1
        xerr = w - step * xstrips
    yerr = h - step * ystrips
    if yerr < 0:
        ystrips -= 1
        yerr = h - step * ystrips
    xstrips = max(xstrips, 1)
    ystrips = max(ystrips, 1)
    xeps = xerr / xstrips
    yeps = yerr / ystrips
    edges = _lab_edges(lab)  # for seed perturbation
    out = np.empty((xstrips * ystrips, 5))
    n = 0
    for yi in range(ystrips):
        ye = int(yi * yeps)
        for xi in range(xstrips):
            xe = int(xi * xeps)
            sx = min(w - 1, xi * step + step // 2 + xe)
            sy = min(h - 1, yi * step + step // 2 + ye)
            bx, by = sx, sy
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    yy = sy + dy
                    xx = sx + dx
                    if 0 <= yy < h and 0 <= xx < w and edges[yy, xx] < edges[by, bx]:
                        bx, by = xx, yy
            _put_seed(out, n, lab, by, bx)
            n += 1
    return out


@njit(cache=True)
def _grid_seeds_k(lab, k):  # pragma: no cover - numba
    """Seeds of ``GetLABXYSeeds_ForGivenK`` as compiled into the Dalian group's
    ``SLICSuperpixelSegmentation.exe``: a *real* step ``sqrt(HW/K)``, offset
    ``int(step/2)``, seed (x, y) at ``(int(i·step + off), int(j·step + off))``
    while inside the image (square grid), then moved to the lowest Lab gradient
    among its 8 neighbours (``PerturbSeeds``, neighbours in the C++ order:
    left, up-left, up, up-right, right, down-right, down, down-left)."""
    h, w = lab.shape[0], lab.shape[1]
    step = np.sqrt(h * w / k)
    off = int(step / 2.0)
    edges = _lab_edges(lab)
    nx = 0
    while int(nx * step + off) <= w - 1:
        nx += 1
    ny = 0
    while int(ny * step + off) <= h - 1:
        ny += 1
    nx = max(nx, 1)
    ny = max(ny, 1)
    dx8 = np.array([-1, -1, 0, 1, 1, 1, 0, -1])
    dy8 = np.array([0, -1, -1, -1, 0, 1, 1, 1])
    out = np.empty((nx * ny, 5))
    n = 0
    for yi in range(ny):
        sy = min(h - 1, int(yi * step + off))
        for xi in range(nx):
            sx = min(w - 1, int(xi * step + off))
            bx, by = sx, sy
            for t in range(8):
                xx = sx + dx8[t]
                yy = sy + dy8[t]
                if 0 <= yy < h and 0 <= xx < w and edges[yy, xx] < edges[by, bx]:
                    bx, by = xx, yy
            _put_seed(out, n, lab, by, bx)
            n += 1
    return out


def _seeding(rgb: np.ndarray, lab: np.ndarray | None, k: int, variant: str) -> tuple:
    """What :func:`slic` runs its kernel with for ``variant`` and ``k``
    requested superpixels: ``(lab, centres, step, offset, merge_max,
    stop_early)``, i.e. the Lab image (``lab`` when given), the seed table
    (L, a, b, y, x per row), the spatial normaliser S, the half-width of the
    search window, the largest component that connectivity enforcement merges
    and whether iterations stop once no label changes."""
    h, w = rgb.shape[:2]
    if variant in ("zhu", "zhu_floor"):
        lab = image_lab_zhu(rgb) if lab is None else lab
        # SLIC.cpp: STEP = UINT(sqrt(float(W*H) / K) + 0.5f); "zhu_floor" truncates
        step_i = max(3, int(np.sqrt(h * w / k) + (0.5 if variant == "zhu" else 0.0)))
        nx, ny = max(1, w // step_i), max(1, h // step_i)
        sx = (w / nx) * (np.arange(nx) + 0.5) + 0.5
        sy = (h / ny) * (np.arange(ny) + 0.5) + 0.5
        gy, gx = np.meshgrid(sy, sx, indexing="ij")
        iy = np.minimum(gy.astype(np.int64), h - 1).ravel()
        ix = np.minimum(gx.astype(np.int64), w - 1).ravel()
        centres = np.concatenate([lab[iy, ix], gy.reshape(-1, 1), gx.reshape(-1, 1)], axis=1)
        step = float(step_i)
        offset = step
        merge_max = step_i * step_i // 4  # Zhu's SLIC.cpp: count <= AreaThresh
        stop_early = True
    elif variant == "achanta":
        if lab is None:
            lab = image_lab(rgb)
        size = max(1, int(h * w / k + 0.5))
        step_i = max(1, int(np.sqrt(size) + 0.5))
        centres = _grid_seeds(lab, step_i)
        step = float(step_i)
        offset = step * 1.5 if step < 8 else step
        # Achanta's SLIC.cpp: K = int(sz / STEP²), SUPSZ = sz / K, count <= SUPSZ >> 2
        merge_max = (h * w // max(1, int(h * w / (step_i * step_i)))) >> 2
        stop_early = False
    elif variant == "achanta_exe":
        if lab is None:
            lab = image_lab_exe(rgb)
        centres = _grid_seeds_k(np.ascontiguousarray(lab), float(k))
        step_i = max(1, int(np.sqrt(h * w / k) + SLIC_EXE_STEP_ADD))
        step = float(step_i)
        offset = step
        # EnforceLabelConnectivity(..., K): SUPSZ = sz / K, count <= SUPSZ >> 2
        merge_max = (h * w // k) >> 2
        stop_early = False
    else:
        raise ValueError(f"unknown SLIC variant {variant!r}")
    return lab, centres, step, offset, merge_max, stop_early


def slic(rgb: np.ndarray, n_segments: int, compactness: float, lab: np.ndarray | None = None,
         variant: str = "achanta") -> np.ndarray:
    """SLIC (Achanta et al. 2012) on CIELab with the distance
    ``d_lab² + (m/S)²·d_xy²``, 10 iterations over ±S windows, then connectivity
    enforced (4-connected components scanned in raster order; one of at most
    about a quarter of S² pixels joins the neighbour met before it: ``count <=
    (HW / ⌊HW/S²⌋) >> 2`` in Achanta's code, ``count <= ⌊S²/4⌋`` in Zhu's).
    The seedings, after the code each author used:

    * ``"achanta"`` (Achanta's ``SLIC.cpp`` / ``SLICSuperpixelSegmentation``,
      used by MR and BSCA): S = round(√round(HW/K)), seeds on an S grid with the
      remainder spread over the strips, moved to the lowest Lab gradient of
      their 3×3 neighbourhood (±1.5 S windows below S = 8).
    * ``"achanta_exe"`` (the ``SLICSuperpixelSegmentation.exe`` that the MR /
      BSCA MATLAB code actually calls, as read from its machine code: it is a
      later revision than the ``SLIC.cpp`` copies above): seeds on a grid of
      *real* step √(HW/K) starting at ⌊step/2⌋ (``GetLABXYSeeds_ForGivenK``,
      perturbed to the lowest gradient of the 8 neighbours), search window and
      spatial normaliser S = ⌊√(HW/K) + 2⌋, merge threshold ``(HW // K) >> 2``,
      and CIELab computed *without* gamma linearisation (:func:`image_lab_exe`).
      On a 481×321 image with K = 300 this gives 21×14 seeds 22.7 px apart
      and S = 24, where ``"achanta"`` gives 20×13 seeds and S = 23.
    * ``"zhu"`` (Wangjiang Zhu's ``SLIC_mex``, used by wCtr*): S = round(√(HW/K)),
      ⌊W/S⌋×⌊H/S⌋ seeds evenly spaced, no perturbation, Lab computed with a
      2.2 power instead of the sRGB curve (``Rgb2Lab.h``), stops early when no
      label changes, merges components of at most S²/4 pixels. Checked against
      the released binary ``SLIC_mex.mexw64`` run under a CPU emulator: 99.7 %
      of the pixels of SOD ``183055`` get the same superpixel.
    * ``"zhu_floor"``: the same with S = ⌊√(HW/K)⌋. For Zhu's 600-pixel
      superpixels on 481×321 images √(HW/K) = 24.51, so the released code uses
      S = 25 (19×12 seeds) while the authors' published wCtr* maps on SOD show
      a 20×13 grid of superpixels, i.e. S = 24 (see ``methods/wctr.py``).

    Equivalent to scikit-image's ``slic(sigma=0, enforce_connectivity=True,
    min_size_factor=0.25)`` up to seeding, at a fraction of its cost; returns
    consecutive labels 0..n-1."""
    k = max(1, int(n_segments))
    lab, centres, step, offset, merge_max, stop_early = _seeding(rgb, lab, k, variant)
    labels = _slic_kernel(np.ascontiguousarray(lab), np.ascontiguousarray(centres),
                          offset, step, float(compactness), SLIC_ITERATIONS, stop_early)
    out, _ = _enforce_connectivity(labels, merge_max)
    return out


def slic_lab(rgb: np.ndarray, variant: str) -> np.ndarray:
    """The per-pixel Lab image that :func:`slic` uses for ``variant`` (compute it
    once and pass it as ``lab=`` when one image is segmented twice)."""
    if variant in ("zhu", "zhu_floor"):
        return image_lab_zhu(rgb)
    if variant == "achanta_exe":
        return image_lab_exe(rgb)
    return image_lab(rgb)


@dataclass
class Superpixels:
    """A SLIC segmentation with the per-superpixel quantities every method needs."""

    labels: np.ndarray      # H×W int, 0..n-1
    n: int
    counts: np.ndarray      # pixels per superpixel
    mean_rgb: np.ndarray    # n×3, 0..255
    mean_pos: np.ndarray    # n×2 (row, col), 1-based pixel coordinates as in MATLAB

    def boundary(self, thickness: int = 1) -> np.ndarray:
        """Sorted ids of superpixels touching a band of ``thickness`` pixels
        (``extract_bg_sp.m`` for 1, ``GetBndPatchIds.m`` for 8)."""
        L = self.labels
        t = max(1, min(thickness, L.shape[0], L.shape[1]))
        ids = np.concatenate([L[:t].ravel(), L[-t:].ravel(), L[:, :t].ravel(), L[:, -t:].ravel()])
        return np.unique(ids)

    def side(self, which: str) -> np.ndarray:
        """Superpixels on one 1-pixel image side: top, bottom, left, right."""
        L = self.labels
        line = {"top": L[0], "bottom": L[-1], "left": L[:, 0], "right": L[:, -1]}[which]
        return np.unique(line)

    def mean_of(self, values: np.ndarray) -> np.ndarray:
        """Per-superpixel mean of an H×W or H×W×C array."""
        lab = self.labels.ravel()
        v = values.reshape(lab.size, -1).astype(np.float64)
        out = np.stack([np.bincount(lab, weights=v[:, c], minlength=self.n) for c in range(v.shape[1])], 1)
        out /= self.counts[:, None]
        return out if values.ndim == 3 else out[:, 0]

    def paint(self, values: np.ndarray) -> np.ndarray:
        """Per-pixel image of per-superpixel values."""
        return np.asarray(values, dtype=np.float64)[self.labels]


def slic_superpixels(rgb: np.ndarray, n_segments: int, compactness: float,
                     lab: np.ndarray | None = None, variant: str = "achanta") -> Superpixels:
    """SLIC superpixels (:func:`slic`) with consecutive labels 0..n-1 and their
    mean colour and position. Images too small for SLIC get one superpixel.
    ``lab`` (from :func:`slic_lab`) saves its recomputation; ``variant`` picks
    the seeding of :func:`slic`."""
    h, w = rgb.shape[:2]
    n_segments = max(1, int(n_segments))
    if h * w >= 4 and n_segments > 1:
        labels = slic(rgb, n_segments, compactness, lab, variant)
    else:
        labels = np.zeros((h, w), dtype=np.int64)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    px = rgb.reshape(-1, 3).astype(np.float64)
    mean_rgb = np.stack([np.bincount(flat, weights=px[:, c], minlength=n) for c in range(3)], 1) / counts[:, None]
    rr, cc = np.divmod(np.arange(h * w), w)
    mean_pos = np.stack([np.bincount(flat, weights=rr + 1.0, minlength=n),
                         np.bincount(flat, weights=cc + 1.0, minlength=n)], 1) / counts[:, None]
    return Superpixels(labels, n, counts, mean_rgb, mean_pos)


def is_degenerate(sp: Superpixels) -> bool:
    """True when a graph method has nothing to rank: one superpixel, or all
    superpixels of the same colour."""
    return sp.n < 2 or np.ptp(sp.mean_rgb, axis=0).max() == 0
