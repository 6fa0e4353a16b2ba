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
  codes are kept per pixel and updated as pixels go (unsigned indices, so
  numba adds no negative-index wraparound). The result is the same set of
  pixels. :func:`skeleton_u8` runs it on a uint8 crop.
* :func:`hce_inputs` — the crop of the binarised map and the GT to the box of
  their union grown by a margin (one branch-free pass for the box).
* :func:`relax_masks` — the relaxed FP / FN masks and the state map: the
  union eroded ``relax`` times by the 3x3 cross, then the FP and FN seeds grown
  ``relax`` times within ``~gt`` / ``~pred``, the two growths packed as bits 0
  and 1 of one padded array (OpenCV's erosion / dilation borders: outside set /
  unset), all in numba instead of ten OpenCV calls.
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
    border (an unset one is dropped in the next phase). Returns its new length.
    Indices are unsigned (``w`` a uint64), so numba adds no negative-index
    wraparound to the loads and stores."""
    one = np.uint64(1)
    for k in range(nr):
        p = np.uint64(removed[k])
        q = p - w - one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 16
        q = p - w
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 32
        q = p - w + one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 64
        q = p + one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 128
        q = p + w + one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 1
        q = p + w
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 2
        q = p + w - one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 4
        q = p - one
        if code[q] == 255:
            border[nb] = q
            nb += 1
        code[q] -= 8
    return nb


@njit(cache=True, nogil=True)
def _initial_border(img, code, border):
    """Write the set pixels with an unset neighbour (code != 255) of the flat
    padded image into ``border`` in raster order; returns their number. The
    flags are made in a vectorised pass and searched eight at a time (most
    8-pixel words are all background or all interior)."""
    n = img.shape[0]
    flag = np.zeros(n + (-n) % 8, np.uint8)
    for p in range(n):
        flag[p] = img[p] & np.uint8(code[p] != 255)
    words = flag.view(np.uint64)
    nb = 0
    for j in range(words.shape[0]):
        if words[j] == 0:
            continue
        for p in range(8 * j, 8 * j + 8):
            if flag[p]:
                border[nb] = p
                nb += 1
    return nb


@njit(cache=True, nogil=True)
def _skeleton_kernel(img, w, rm):
    """Thin the zero-padded uint8 image ``img`` (flattened, row length ``w``) in place.

    ``code[p]`` holds the 8-neighbourhood code of every pixel, updated as
    pixels are removed; ``rm`` is :data:`ZHANG_REMOVE`. Only set pixels with an
    unset neighbour (the border list) can be removed (LUT class of code 255 is
    0). Each phase decides on the codes as they were when it began, then
    removes. The border and removed lists hold uint32 indices (unsigned
    indexing skips numba's negative-index wraparound: ~25 % faster)."""
    n = img.shape[0]
    code = _neighbour_codes(img, w)
    # the border: set pixels with an unset neighbour; a pixel joins it once, when
    # its first neighbour goes, and only border pixels can be removed
    border = np.empty(n, np.uint32)
    nb = _initial_border(img, code, border)
    removed = np.empty(n, np.uint32)
    uw = np.uint64(w)
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
            nb = _drop(code, border, nb, removed, nr, uw)


def zhang_skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen skeleton of a 2-D bool mask, equal to
    ``skimage.morphology.skeletonize(mask)`` (bool array of the same shape).
    The thinning runs on the bounding box of the mask, padded by one pixel
    (:func:`skeleton_u8`)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError("zhang_skeleton: 2-D mask expected")
    return skeleton_u8(mask.view(np.uint8)).view(bool)


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
    # visited points are marked in bit 3 of `state` (the conditions read bits
    # 0-2) and unmarked before returning: no image-sized scratch array
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
            if (state[row, col] & 8) != 0 or not _condition(state, row, col, want_fn):
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
            state[row, col] |= 8
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
    for j in range(no):
        state[out_pts[j, 1], out_pts[j, 0]] &= 7
    indep = 0
    for i in range(m):
        indep += flags[i]
    return no, ns, indep


def filter_boundaries(contours, hierarchy, state: np.ndarray, want_fn: bool):
    """Kept boundary runs and the independent-region count of one relaxed mask.

    ``contours``, ``hierarchy``: OpenCV's ``findContours(mask, RETR_TREE,
    CHAIN_APPROX_NONE)`` of the relaxed FP (``want_fn`` False) or FN mask;
    ``state``: uint8 map, bit 1 = TP, bit 2 = relaxed FP, bit 4 = relaxed FN
    (:func:`relax_masks`; bit 8 marks the kept points during the call and is
    cleared again before it returns). A contour point is kept when it was not
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
def _span(flags):
    """``(first, last + 1)`` of the nonzero entries of a 1-D array, ``(0, 0)`` if none."""
    n = flags.shape[0]
    lo = 0
    while lo < n and flags[lo] == 0:
        lo += 1
    if lo == n:
        return 0, 0
    hi = n
    while flags[hi - 1] == 0:
        hi -= 1
    return lo, hi


@njit(cache=True, nogil=True)
def _box_of(a, b):
    """``(r0, r1, c0, c1)``: the bounding box of ``a | b`` (2-D uint8 0/1
    arrays of one shape; half-open, ``r0 == r1`` when it is empty), in one
    branch-free pass that ORs every row into a column accumulator and keeps a
    per-row flag."""
    h, w = a.shape
    rows = np.zeros(h, np.uint8)
    cols = np.zeros(w, np.uint8)
    for r in range(h):
        ar = a[r]
        br = b[r]
        acc = np.uint8(0)
        for c in range(w):
            v = ar[c] | br[c]
            acc |= v
            cols[c] |= v
        rows[r] = acc
    r0, r1 = _span(rows)
    c0, c1 = _span(cols)
    return r0, r1, c0, c1


@njit(cache=True, nogil=True)
def _copy_block(src, sr, sc, dst, dr, dc, h, w):
    """``dst[dr:dr + h, dc:dc + w] = src[sr:sr + h, sc:sc + w]``, row by row
    through 1-D row slices indexed from 0: numba's 2-D slice assignment, or an
    offset index it cannot prove non-negative (so it adds the negative-index
    wraparound), keeps LLVM from vectorising the copy."""
    for r in range(h):
        s = src[sr + r, sc:sc + w]
        d = dst[dr + r, dc:dc + w]
        for c in range(w):
            d[c] = s[c]


@njit(cache=True, nogil=True)
def hce_inputs(pb, gt, margin):
    """``(p8, g8)``: copies of the 2-D uint8 0/1 arrays ``pb`` (the binarised
    map) and ``gt`` cropped to the bounding box of their union grown by
    ``margin`` pixels and clipped to the image; ``(0, 0)`` arrays when the
    union is empty."""
    h, w = gt.shape
    r0, r1, c0, c1 = _box_of(pb, gt)
    if r0 == r1:
        return np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.uint8)
    r0 = max(r0 - margin, 0)
    r1 = min(r1 + margin, h)
    c0 = max(c0 - margin, 0)
    c1 = min(c1 + margin, w)
    bh = r1 - r0
    bw = c1 - c0
    p8 = np.empty((bh, bw), np.uint8)
    g8 = np.empty((bh, bw), np.uint8)
    _copy_block(pb, r0, c0, p8, 0, 0, bh, bw)
    _copy_block(gt, r0, c0, g8, 0, 0, bh, bw)
    return p8, g8


@njit(cache=True, nogil=True)
def skeleton_u8(g8):
    """Zhang-Suen skeleton (uint8 0/1) of the 2-D uint8 0/1 mask ``g8``: the
    thinning of :func:`_skeleton_kernel` on the mask's bounding box padded by
    one pixel, written back into an array of ``g8``'s shape."""
    h, w = g8.shape
    out = np.zeros((h, w), np.uint8)
    r0, r1, c0, c1 = _box_of(g8, g8)
    if r0 == r1:
        return out
    bh, bw = r1 - r0, c1 - c0
    pad = np.zeros((bh + 2, bw + 2), np.uint8)
    _copy_block(g8, r0, c0, pad, 1, 1, bh, bw)
    _skeleton_kernel(pad.reshape(-1), bw + 2, ZHANG_REMOVE)
    _copy_block(pad, 1, 1, out, r0, c0, bh, bw)
    return out


@njit(cache=True, nogil=True)
def _step(src, dst, allow, erode):
    """One 3x3-cross step on padded 2-D uint8 arrays, inner pixels only:
    erosion (AND of the cross) when ``erode``, else the dilation (OR of the
    cross, bitwise, so packed masks grow independently) cut back to ``allow``."""
    h = src.shape[0] - 2
    w = src.shape[1] - 2
    for r in range(1, h + 1):
        # 1-D row slices indexed from 0, so that the loops vectorise
        up = src[r - 1, 1:w + 1]
        mid = src[r, 1:w + 1]
        left = src[r, 0:w]
        right = src[r, 2:w + 2]
        dn = src[r + 1, 1:w + 1]
        out = dst[r, 1:w + 1]
        al = allow[r, 1:w + 1]
        if erode:
            for c in range(w):
                out[c] = mid[c] & left[c] & right[c] & up[c] & dn[c]
        else:
            for c in range(w):
                out[c] = (mid[c] | left[c] | right[c] | up[c] | dn[c]) & al[c]


@njit(cache=True, nogil=True)
def _frame(x, v):
    """Set the one-pixel frame of the 2-D array ``x`` to ``v``."""
    x[0, :] = v
    x[-1, :] = v
    x[:, 0] = v
    x[:, -1] = v


@njit(cache=True, nogil=True)
def relax_masks(p8, g8, skel, relax):
    """``(state, fp_mask, fn_mask)`` of 2-D uint8 0/1 ``pred``, ``gt`` and GT
    skeleton crops: the union eroded ``relax`` times by the 3x3 cross (outside
    the array counts as set, OpenCV's erosion border); the relaxed FP
    ``FP & eroded`` dilated ``relax`` times by the cross (outside = unset), each
    time cut back to ``~gt``, then ``& FP``; the relaxed FN likewise within
    ``~pred``, then ``& FN``, plus the skeleton pixels that are not TP; ``state
    = TP | relaxed FP << 1 | relaxed FN << 2``. The two growths share one
    padded array, FP in bit 0 and FN in bit 1."""
    h, w = p8.shape
    a = np.empty((h + 2, w + 2), np.uint8)
    b = np.empty((h + 2, w + 2), np.uint8)
    allow = np.empty((h + 2, w + 2), np.uint8)
    _frame(a, 1)
    _frame(b, 1)
    _frame(allow, 0)
    for r in range(h):
        pr = p8[r]
        gr = g8[r]
        ar = a[r + 1, 1:w + 1]
        al = allow[r + 1, 1:w + 1]
        for c in range(w):
            ar[c] = pr[c] | gr[c]
            al[c] = (gr[c] ^ np.uint8(1)) | ((pr[c] ^ np.uint8(1)) << np.uint8(1))
    for _ in range(relax):
        _step(a, b, allow, True)
        a, b = b, a
    # seeds: FP & eroded in bit 0, FN & eroded in bit 1; frame 0 from now on
    _frame(b, 0)
    for r in range(h):
        pr = p8[r]
        gr = g8[r]
        er = a[r + 1, 1:w + 1]
        br = b[r + 1, 1:w + 1]
        al = allow[r + 1, 1:w + 1]
        for c in range(w):
            br[c] = (er[c] * np.uint8(3)) & al[c] & (pr[c] | (gr[c] << np.uint8(1)))
    a, b = b, a
    _frame(b, 0)
    for _ in range(relax):
        _step(a, b, allow, False)
        a, b = b, a
    state = np.empty((h, w), np.uint8)
    fp_mask = np.empty((h, w), np.uint8)
    fn_mask = np.empty((h, w), np.uint8)
    for r in range(h):
        pr = p8[r]
        gr = g8[r]
        sr = skel[r]
        xr = a[r + 1, 1:w + 1]
        st = state[r]
        fpr = fp_mask[r]
        fnr = fn_mask[r]
        for c in range(w):
            p = pr[c]
            g = gr[c]
            tp = p & g
            fp = xr[c] & p & (g ^ np.uint8(1))
            fn = ((xr[c] >> np.uint8(1)) & g & (p ^ np.uint8(1))) | (sr[c] & (tp ^ np.uint8(1)))
            fpr[c] = fp
            fnr[c] = fn
            st[c] = tp | (fp << np.uint8(1)) | (fn << np.uint8(2))
    return state, fp_mask, fn_mask
