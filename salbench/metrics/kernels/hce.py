"""Numba kernels of the Human Correction Effort (HCE, Qin et al., "Highly Accurate
Dichotomous Image Segmentation", ECCV 2022) as PySODMetrics 1.6.2's
``HumanCorrectionEffortMeasure`` computes it.

The slow parts of the reference are replaced here by exact equivalents:

* :func:`zhang_skeleton` — the GT skeleton. The reference calls
  ``skimage.morphology.skeletonize`` (Zhang & Suen 1984, scikit-image's
  ``_fast_skeletonize``), which rescans the whole image twice per thinning
  iteration. This kernel applies the same look-up table and the same parallel
  sub-iterations (phase 1 removes LUT classes 1 and 3, phase 2 classes 2 and 3,
  each phase deciding on the image as it was when the phase began, repeated
  until one full iteration removes nothing) but only visits the foreground
  pixels that touch the background (8-neighbourhood): a pixel whose eight
  neighbours are all set has LUT class 0 and is never removed. Neighbourhood
  codes are kept per pixel and updated as pixels go. The result is the same
  set of pixels.
* :func:`filter_boundaries` — the per-contour-point Python loop of
  ``filter_conditional_boundary``: walks the OpenCV contour points in order,
  keeps the runs of points where the (dilated) condition holds and that were not
  visited before, marks their components as not independent, joins the last
  run of a contour to the reversed first run when their ends are 8-adjacent,
  and counts the components none of whose contour points was kept. The
  dilated condition is evaluated at the contour points only, and the
  8-connected components (``skimage.measure.label`` in the reference) come from
  the contour tree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: scikit-image's Zhang-Suen look-up table (``_fast_skeletonize``): class of each
#: 8-neighbourhood code (bit 0 = north-west, clockwise to bit 7 = west); 1 and 3
#: are removed in the first phase, 2 and 3 in the second.
ZHANG_LUT = np.array([
    0, 0, 0, 1, 0, 0, 1, 3, 0, 0, 3, 1, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0,
    0, 0, 2, 0, 2, 0, 3, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 2, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0,
    0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 2, 0, 0, 0, 3, 1,
    0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 1, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 1, 3, 0, 0,
    1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 2, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3,
    0, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0], dtype=np.uint8)


#: per phase (row), whether a pixel of each neighbourhood code is removed:
#: phase 1 removes LUT classes 1 and 3, phase 2 classes 2 and 3.
ZHANG_REMOVE = np.stack([np.isin(ZHANG_LUT, (1, 3)), np.isin(ZHANG_LUT, (2, 3))]).astype(np.uint8)


@njit(cache=True, nogil=True)
def _neighbour_codes(img, w):
    """8-neighbourhood code of every inner pixel of the flat padded image
    (row length ``w``): NW = 1, N = 2, NE = 4, E = 8, SE = 16, S = 32, SW = 64,
    W = 128; 0 on the frame."""
    n = img.shape[0]
    code = np.zeros(n, np.uint8)
    # shifted views, so that the loop vectorises
    nw = img[0:n - 2 * w - 2]
    no = img[1:n - 2 * w - 1]
    ne = img[2:n - 2 * w]
    ea = img[w + 2:n - w]
    se = img[2 * w + 2:n]
    so = img[2 * w + 1:n - 1]
    sw = img[2 * w:n - 2]
    we = img[w:n - w - 2]
    inner = code[w + 1:n - w - 1]
    for i in range(inner.shape[0]):
        inner[i] = np.uint8(nw[i] | (no[i] << 1) | (ne[i] << 2) | (ea[i] << 3)
                            | (se[i] << 4) | (so[i] << 5) | (sw[i] << 6) | (we[i] << 7))
    return code


@njit(cache=True, nogil=True)
def _drop(code, border, nb, removed, nr, w):
    """Each neighbour q of the ``nr`` removed pixels loses the removed pixel's
    bit (as seen from q); the ones that had all eight neighbours join the
    border (an unset one is dropped in the next phase). Returns its new length."""
    for k in range(nr):
        p = removed[k]
        q = p - w - 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 16
        q = p - w
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 32
        q = p - w + 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 64
        q = p + 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 128
        q = p + w + 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 1
        q = p + w
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 2
        q = p + w - 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 4
        q = p - 1
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 8
    return nb


@njit(cache=True, nogil=True)
def _skeleton_kernel(img, w, rm):
    """Thin the zero-padded uint8 image ``img`` (flattened, row length ``w``) in place.

    ``code[p]`` holds the 8-neighbourhood code of every pixel, updated as
    pixels are removed; ``rm`` is :data:`ZHANG_REMOVE`. Only set pixels with an
    unset neighbour (the border list) can be removed (LUT class of code 255 is
    0). Each phase decides on the codes as they were when it began, then
    removes."""
    n = img.shape[0]
    code = _neighbour_codes(img, w)
    # the border: set pixels with an unset neighbour; a pixel joins it once, when
    # its first neighbour goes, and only border pixels can be removed
    border = np.empty(n, np.int32)
    nb = 0
    for p in range(w + 1, n - w - 1):
        if img[p] and code[p] != 255:
            border[nb] = p
            nb += 1
    removed = np.empty(n, np.int32)
    pixel_removed = True
    while pixel_removed:
        pixel_removed = False
        for phase in range(2):
            tab = rm[phase]
            # drop the pixels the last phase removed while deciding this one
            nr = 0
            m = 0
            for k in range(nb):
                p = border[k]
                if img[p] == 0:
                    continue
                border[m] = p
                m += 1
                if tab[code[p]]:
                    removed[nr] = p
                    nr += 1
            nb = m
            if nr == 0:
                continue
            pixel_removed = True
            for k in range(nr):
                img[removed[k]] = 0
            nb = _drop(code, border, nb, removed, nr, w)


def zhang_skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen skeleton of a 2-D bool mask, equal to
    ``skimage.morphology.skeletonize(mask)`` (bool array of the same shape).
    The thinning runs on the bounding box of the mask, padded by one pixel."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError("zhang_skeleton: 2-D mask expected")
    out = np.zeros(mask.shape, bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = r1 - r0, c1 - c0
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = mask[r0:r1, c0:c1]
    _skeleton_kernel(pad.reshape(-1), w + 2, ZHANG_REMOVE)
    out[r0:r1, c0:c1] = pad[1:-1, 1:-1].view(bool)
    return out


@njit(cache=True, nogil=True)
def _adjacent(x0, y0, x1, y1):
    dx = abs(x0 - x1)
    dy = abs(y0 - y1)
    return (dx == 1 and dy == 0) or (dx == 0 and dy == 1) or (dx == 1 and dy == 1)


@njit(cache=True, nogil=True)
def _condition(state, row, col, want_fn):
    """The 3x3-cross dilation of the condition at (row, col): FP mask
    ``TP | FN_``, FN mask ``~(TP | FP_ | FN_)``; outside the image counts as 0."""
    h, w = state.shape
    for dr, dc in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
        r = row + dr
        c = col + dc
        if r < 0 or r >= h or c < 0 or c >= w:
            continue
        s = state[r, c]
        if want_fn:
            if (s & 7) == 0:
                return True
        elif (s & 5) != 0:
            return True
    return False


@njit(cache=True, nogil=True)
def _component_of(parents):
    """Contour -> index of the outer contour of its 8-connected component
    (RETR_TREE: a hole's parent is the outer border of the component it bounds)."""
    m = parents.shape[0]
    comp = np.empty(m, np.int64)
    for i in range(m):
        depth = 0
        j = i
        while parents[j] >= 0:
            j = parents[j]
            depth += 1
        comp[i] = i if depth % 2 == 0 else parents[i]
    return comp


@njit(cache=True, nogil=True)
def _filter_kernel(pts, offsets, parents, state, want_fn, out_pts, out_off):
    """Runs of kept contour points (see :func:`filter_boundaries`); returns
    ``(n_out_points, n_segments, independent_count)``."""
    h, w = state.shape
    m = offsets.shape[0] - 1
    comp = _component_of(parents)
    flags = np.zeros(m, np.uint8)
    for i in range(m):
        if comp[i] == i:
            flags[i] = 1
    visited = np.zeros((h, w), np.uint8)
    # runs of one contour, as [start, end) into `acc`
    acc = np.empty((pts.shape[0], 2), np.int32)
    rs = np.empty(pts.shape[0] + 1, np.int64)
    re = np.empty(pts.shape[0] + 1, np.int64)
    no = 0
    ns = 0
    out_off[0] = 0
    for c in range(m):
        na = 0
        nrun = 0
        in_run = False
        for k in range(offsets[c], offsets[c + 1]):
            col = pts[k, 0]
            row = pts[k, 1]
            if visited[row, col] != 0 or not _condition(state, row, col, want_fn):
                if in_run:
                    re[nrun] = na
                    nrun += 1
                    in_run = False
                continue
            if not in_run:
                rs[nrun] = na
                in_run = True
            acc[na, 0] = col
            acc[na, 1] = row
            na += 1
            visited[row, col] = 1
            flags[comp[c]] = 0
        if in_run:
            re[nrun] = na
            nrun += 1
        first = 0
        merge = False
        if nrun > 1:
            if _adjacent(acc[rs[0], 0], acc[rs[0], 1], acc[re[nrun - 1] - 1, 0], acc[re[nrun - 1] - 1, 1]):
                merge = True
                first = 1
        for r in range(first, nrun):
            for j in range(rs[r], re[r]):
                out_pts[no, 0] = acc[j, 0]
                out_pts[no, 1] = acc[j, 1]
                no += 1
            if merge and r == nrun - 1:
                for j in range(re[0] - 1, rs[0] - 1, -1):
                    out_pts[no, 0] = acc[j, 0]
                    out_pts[no, 1] = acc[j, 1]
                    no += 1
            ns += 1
            out_off[ns] = no
    indep = 0
    for i in range(m):
        indep += flags[i]
    return no, ns, indep


def filter_boundaries(contours, hierarchy, state: np.ndarray, want_fn: bool):
    """Kept boundary runs and the independent-region count of one relaxed mask.

    ``contours``, ``hierarchy``: OpenCV's ``findContours(mask, RETR_TREE,
    CHAIN_APPROX_NONE)`` of the relaxed FP (``want_fn`` False) or FN mask;
    ``state``: uint8 map, bit 1 = TP, bit 2 = relaxed FP, bit 4 = relaxed FN
    (:func:`salbench.metrics.families.hce.relaxed_state`). A contour point is kept when it was not
    kept before (in any contour of this mask) and the condition dilated by the
    3x3 cross holds there (FP: ``TP | FN_``, FN: ``~(TP | FP_ | FN_)``).
    Returns ``(points, offsets, independent)``: int32 ``(n, 2)`` (x, y) points
    of the runs laid end to end, run ``i`` being
    ``points[offsets[i]:offsets[i + 1]]``, and the number of 8-connected
    components of the mask with no kept point — what PySODMetrics'
    ``filter_conditional_boundary`` returns as a list of arrays and an int
    (components are found from the contour tree: one outer border each)."""
    if len(contours):
        pts = np.concatenate(contours).reshape(-1, 2)
        offsets = np.zeros(len(contours) + 1, np.int64)
        np.cumsum([len(c) for c in contours], out=offsets[1:])
        parents = np.ascontiguousarray(hierarchy[0][:, 3], np.int64)
    else:
        pts = np.zeros((0, 2), np.int32)
        offsets = np.zeros(1, np.int64)
        parents = np.zeros(0, np.int64)
    out_pts = np.empty((pts.shape[0], 2), np.int32)
    out_off = np.empty(pts.shape[0] + 1, np.int64)
    no, ns, indep = _filter_kernel(pts, offsets, parents, state, bool(want_fn), out_pts, out_off)
    return out_pts[:no], out_off[:ns + 1], int(indep)


@njit(cache=True, nogil=True)
def relax_seeds(pred, gt, eroded, grow, allow):
    """Lay the FP and FN growths side by side, split by a zero column: for
    2-D uint8 0/1 ``pred``, ``gt``, ``eroded`` of width w, ``grow[:, :w] = FP &
    eroded``, ``grow[:, w + 1:] = FN & eroded``, ``allow[:, :w] = ~gt``,
    ``allow[:, w + 1:] = ~pred``, column w zero in both."""
    h, w = pred.shape
    for r in range(h):
        for c in range(w):
            ng = np.uint8(gt[r, c] ^ 1)
            npr = np.uint8(pred[r, c] ^ 1)
            allow[r, c] = ng
            allow[r, w + 1 + c] = npr
            grow[r, c] = pred[r, c] & ng & eroded[r, c]
            grow[r, w + 1 + c] = gt[r, c] & npr & eroded[r, c]
        allow[r, w] = 0
        grow[r, w] = 0


@njit(cache=True, nogil=True)
def relax_state(pred, gt, grow, skel, state, fp_mask, fn_mask):
    """From the grown halves of :func:`relax_seeds`: the relaxed FP
    ``grow[:, :w] & pred & ~gt`` and relaxed FN ``(grow[:, w + 1:] & gt & ~pred)
    | (skel & ~TP)`` masks, and ``state = TP | relaxed FP << 1 | relaxed FN << 2``."""
    h, w = pred.shape
    for r in range(h):
        for c in range(w):
            tp = pred[r, c] & gt[r, c]
            fp = grow[r, c] & pred[r, c] & np.uint8(gt[r, c] ^ 1)
            fn = (grow[r, w + 1 + c] & gt[r, c] & np.uint8(pred[r, c] ^ 1)) | (skel[r, c] & np.uint8(tp ^ 1))
            fp_mask[r, c] = fp
            fn_mask[r, c] = fn
            state[r, c] = np.uint8(tp | (fp << 1) | (fn << 2))
