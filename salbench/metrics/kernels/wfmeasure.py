"""Numba kernels of the weighted F-measure, per image as PySODMetrics 1.6.2
``WeightedFmeasure.step`` computes it (a port of the authors' MATLAB code).

Weighted F-measure (Margolin, Zelnik-Manor and Tal, "How to evaluate foreground
maps?", CVPR 2014), β = :data:`salbench.metrics.numeric.WFM_BETA`:

* all-background GT → 0, as PySODMetrics does;
* ``E = |pred - gt|``; every background pixel takes the error of its nearest
  foreground pixel (Euclidean feature transform); this ``Et`` is blurred by the
  normalised 7×7, σ = 5 Gaussian (``fspecial('gaussian', 7, 5)``) with **zero**
  padding: PySODMetrics uses ``scipy.ndimage.convolve(mode="constant", cval=0)``,
  matching the MATLAB original's ``imfilter(Et, K)`` whose default border is also
  zero ('replicate' is used by neither); on the foreground the error is ``min(E, EA)``; on the background
  it is multiplied by ``B = 2 - exp(log(0.5)/5 · d)``, d the distance to the
  foreground; then ``R = 1 - mean_fg(Ew)``, ``P = TPw / (TPw + FPw + eps)``,
  ``Q = (1+β) R P / (R + β P + eps)``.

  The feature transform is an exact port of the *algorithm* (not the code) used by
  ``scipy.ndimage.distance_transform_edt(..., return_indices=True)``: Maurer, Qi
  and Raghavan (PAMI 2003), first along columns, then along rows, with SciPy's
  tie rules (along a column the upper of two equidistant pixels wins; along a row
  the Voronoi stack keeps the earlier site on ties). The nearest-foreground index
  — and hence ``Et`` — is therefore identical to SciPy's, which matters because
  equidistant foreground pixels usually carry different errors. The Gaussian is
  applied separably (1-D weights ``g/Σg``; identical to the 2-D kernel up to
  rounding, ~1e-16 relative), and only where it is used (foreground pixels).
  ``B`` is read from a table indexed by the integer squared distance, computed
  with NumPy exactly as PySODMetrics computes it and cached; from d ≈ 266 px on, B
  is exactly 2.0 in float64 (``exp`` below half an ulp of 2), so the table stops
  there (~71 000 entries), its last entry 2.0 serving all larger distances.

Kernels are compiled lazily (on first use, then loaded from numba's on-disk
cache) for one set of types: the callers check the dtypes, make the arrays
contiguous and pass in every array a kernel writes, so no kernel allocates.
Small helpers are inlined into their caller (``inline="always"``): each
separately compiled function adds ~0.1 s to the first run's JIT.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from salbench.metrics import numeric
from salbench.metrics.kernels.host import PAD as _PAD

_EPS = numeric.EPS_PYSOD
_WFM_BETA = numeric.WFM_BETA
#: LLVM may reassociate the sums of these loops (so it can vectorise them)
_FAST = {"reassoc", "nsz"}



@njit(cache=True, nogil=True)
def _lookup(raw, val, gt, out, n_nz):
    """``out = val[raw]`` for a 2-D uint8 ``raw``: an 8-bit map's normalised
    values; and per row, the background pixels (``gt`` 0) with a non-zero
    value (``n_nz``, what :func:`_row_nonzero` gives the weighted-F kernel),
    row by row while the row is in cache."""
    h, w = raw.shape
    for r in range(h):
        src = raw[r]
        dst = out[r]
        g = gt[r]
        for c in range(w):
            dst[c] = val[src[c]]
        # a second loop over the row just written (in cache): in the same loop as
        # the table lookup the count made the pass ~2x slower
        n_nz[r] = _nonzero_background(g, dst)


@njit(cache=True, nogil=True, inline="always")
def _nonzero_background(g, p):
    """Pixels of one row with GT 0 (``g``, uint8) and a non-zero map value (``p``)."""
    count = 0
    for c in range(g.shape[0]):
        count += (g[c] == 0) & (p[c] != 0.0)
    return count


#: "no foreground in this column" in the column pass: far enough that its squared
#: distance (~1e13) exceeds any real one, small enough for int32 and exact int64.
_NONE_ABOVE = -(1 << 20)
_NONE_BELOW = 3 << 20
#: columns of sentinels on each side of ``near`` (see salbench.metrics.kernels.build.PAD)


@njit(cache=True, nogil=True, inline="always")
def _column_nearest(gt, near, last, nxt, fg_lo, fg_hi):
    """Per pixel, the row of the nearest foreground pixel in its column, written
    into ``near[:, _PAD:_PAD + w]`` (a sentinel far outside the image if the
    column has none; the ``_PAD`` columns either side are set to sentinels too).
    ``gt``: uint8 0 / 1; ``last`` / ``nxt``: int32 scratch of length ``w``.

    Ties (one above, one below at the same distance) go to the upper one, as in
    SciPy's first (axis 0) Voronoi pass. Both sweeps are branch-free bit selects
    on int32, so they vectorise across the row. The downward sweep also records,
    per row, its first and last foreground column (``fg_lo = w``, ``fg_hi = -1``
    if none; max-reductions, which vectorise unlike a search that stops at the
    first hit).

    The two sweeps (and :func:`_row_nonzero`) are functions of their own, not inlined into the weighted-F
    kernel: inlined there, LLVM left the upward sweep scalar and ran the
    downward one on 4 int64 lanes (numba widens int32 arithmetic to int64, and
    the float64 count in the same loop set the lane width); apart, each
    vectorises on its own lane type (DSS maps on SOD: the whole weighted F
    ~20 % faster)."""
    _sweep_down(gt, near, last, fg_lo, fg_hi)
    _sweep_up(gt, near, nxt)


@njit(cache=True, nogil=True)
def _sweep_down(gt, near, last, fg_lo, fg_hi):
    """The downward sweep of :func:`_column_nearest` (the foreground pixel at or
    above, into ``near``), its per-row foreground span, and the sentinel columns."""
    h, w = gt.shape
    w32 = np.int32(w)
    for c in range(w):
        last[c] = _NONE_ABOVE
    for r in range(h):
        g = gt[r]
        out = near[r, _PAD:_PAD + w]
        r32 = np.int32(r)
        from_left = np.int32(0)  # w - first foreground column
        from_right = np.int32(0)  # last foreground column + 1
        for c in range(w):
            # int32 throughout (the casts let LLVM narrow numba's int64 arithmetic)
            c32 = np.int32(c)
            m = -np.int32(g[c])  # all ones on foreground
            v = np.int32((r32 & m) | (last[c] & ~m))
            last[c] = v
            out[c] = v
            from_left = max(from_left, np.int32(m & (w32 - c32)))
            from_right = max(from_right, np.int32(m & (c32 + 1)))
        fg_lo[r] = w - from_left
        fg_hi[r] = from_right - 1
        for c in range(_PAD):
            near[r, c] = _NONE_BELOW
            near[r, _PAD + w + c] = _NONE_BELOW


@njit(cache=True, nogil=True)
def _row_nonzero(pred, gt, n_nz):
    """Per row, the number of background pixels with a non-zero map value."""
    for r in range(gt.shape[0]):
        n_nz[r] = _nonzero_background(gt[r], pred[r])


@njit(cache=True, nogil=True)
def _sweep_up(gt, near, nxt):
    """The upward sweep of :func:`_column_nearest`: the nearer of the foreground
    pixel above (in ``near``) and the one below. A function of its own: inside
    the weighted-F kernel LLVM left this loop scalar; on its own it vectorises."""
    h, w = gt.shape
    for c in range(w):
        nxt[c] = _NONE_BELOW
    for r in range(h - 1, -1, -1):
        g = gt[r]
        out = near[r, _PAD:_PAD + w]
        r32 = np.int32(r)
        r2 = np.int32(2 * r)
        for c in range(w):
            # everything in int32 (numba widens int32 arithmetic to int64; the
            # casts let LLVM narrow it back)
            m = -np.int32(g[c])
            dn = np.int32((r32 & m) | (nxt[c] & ~m))
            nxt[c] = dn
            up = out[c]
            # the lower one only when strictly nearer: dn - r < r - up
            t = -np.int32(np.int32(dn + up) < r2)
            out[c] = np.int32((dn & t) | (up & ~t))


@njit(cache=True, nogil=True, inline="always")
def _nearest9(nrow, r, j):
    """``(d², column)`` of the nearest foreground pixel of pixel ``(r, j)`` among
    the columns ``j - 4 .. j + 4`` (each column's own nearest; ``nrow`` = the
    padded row ``near[r]``). Equal distances keep the leftmost column: with the
    column pass's upper-on-ties this is the pixel SciPy's feature transform picks
    (see :func:`_weighted_f_kernel`). Exact for the whole image whenever
    ``d² <= 25`` (any other column is at least 5 away). Branch-free."""
    best = np.int64(1) << 62
    best_k = 0
    for k in range(2 * _PAD + 1):
        dr = np.int64(nrow[j + k]) - r
        dc = k - _PAD
        d2 = dr * dr + dc * dc
        better = d2 < best
        best = d2 if better else best
        best_k = k if better else best_k
    return best, j + best_k - _PAD


@njit(cache=True, nogil=True, inline="always")
def _nearest_wide(nrow, r, j, w, d2):
    """Exact squared distance from pixel ``(r, j)`` to the foreground, given
    ``d2``, the best over the columns ``j - 4 .. j + 4`` (:func:`_nearest9`):
    columns ``j ± k`` for k = 5, 6, ... while k² < the best so far (a column k
    away is at least k² away). Returns ``(d², columns visited)``."""
    best = d2
    k = _PAD + 1
    visited = 0
    while k * k < best:
        lo = j - k
        hi = j + k
        if lo < 0 and hi >= w:
            break
        if lo >= 0:
            dr = np.int64(nrow[_PAD + lo]) - r
            best = min(best, dr * dr + k * k)
        if hi < w:
            dr = np.int64(nrow[_PAD + hi]) - r
            best = min(best, dr * dr + k * k)
        visited += 2
        k += 1
    return best, visited


@njit(cache=True, nogil=True, fastmath=_FAST)
def _weighted_f_kernel(pred, gt, b_table, gauss, near, ibuf, cbuf, bbuf, fbuf, have_nz):
    """Weighted F in one sweep over the rows; see the module docstring.

    ``pred``: the float64 map; ``gt``: uint8 0 / 1. Scratch from the caller (no allocation here): ``near`` int32
    (h, w + 2·_PAD), ``ibuf`` int64 (5, max(h, w)), ``cbuf`` int32 (2, w), ``bbuf`` bool (2, w + 2·_PAD rounded up to a multiple of 8),
    ``fbuf`` float64 (taps + 2, w + taps - 1). ``have_nz``: ``ibuf[4]`` already holds,
    per row, the background pixels with a non-zero value (:func:`_lookup` counts
    them while it makes an 8-bit map's ``pred``); else the kernel counts them.

    Which nearest foreground pixel: SciPy's ``distance_transform_edt`` (Maurer et
    al.) takes, per column, the nearest foreground pixel (the upper one of two at
    equal distance), then along the row the Voronoi stack of those column sites,
    whose sweep keeps the earlier (left) site on equal distances; a site is only
    dropped from the stack when it is strictly farther than its neighbours
    everywhere. Hence the pixel it picks is: among the columns' nearest pixels,
    the one at the smallest distance, the leftmost column on ties — which a
    search over the columns within ``d`` of the pixel finds exactly.

    Only two things need a pixel's nearest foreground pixel:

    * ``FPw = Σ_bg |p| · B(d)``: only background pixels with ``p != 0``. Their
      distance comes from the 9-column search (exact when ``d² <= 25``); on rows
      where that fails, or where most pixels are non-zero (noisy maps), from the
      row's Voronoi stack, walked cell by cell (the pixels nearest to a site form
      a run whose end is an exact integer bound), as SciPy's second pass.
    * ``EA``, the 7×7 Gaussian of ``Et`` (the error at the nearest foreground
      pixel), only at foreground pixels: it reads ``Et`` within 3 pixels (in
      both directions) of a foreground pixel, where ``d² <= 18``, so the
      9-column search finds the very pixel SciPy picks.

    Per row r, top to bottom: ``FPw`` of the row; then, when foreground rows lie
    within ``half`` rows, ``Et`` over the columns the Gaussian will read for
    them (the span of their foreground, widened by ``half``), blurred along the
    row into a ring of ``taps`` rows; once row ``r - half`` has all its
    neighbours, its vertical blur gives ``EA`` on its foreground span and its
    foreground adds ``min(E, EA)``. Rows outside the image are the zero padding
    and are left out of the vertical sums (adding 0.0 changes no sum). The hot
    loops run over slices from index 0, which lets them vectorise."""
    h, w = pred.shape
    taps = gauss.shape[0]
    half = taps // 2
    n_table = b_table.shape[0]
    site = ibuf[0]  # Voronoi stack: columns
    site_d2 = ibuf[1]  # their squared row offset to the current row
    fg_lo = ibuf[2]  # per row: first foreground column (w: none)
    fg_hi = ibuf[3]  # per row: last foreground column (-1: none)
    row_nz = ibuf[4]  # per row: background pixels with p != 0
    zero = fbuf[0]  # zeros: the vertical blur's rows outside the image
    etrow = fbuf[1]  # Et of the current row, zero-padded by ``half`` both sides
    ring = fbuf[2:]  # horizontally blurred rows; image row r in ring[r % taps]
    flags = bbuf[0]
    near_fg_buf = bbuf[1]
    # the same bytes as 64-bit words: masks of mostly-false bytes are scanned a
    # word at a time (bbuf's width is a multiple of 8)
    flags64 = flags.view(np.uint64)
    mask64 = near_fg_buf.view(np.uint64)
    for c in range(etrow.shape[0]):
        etrow[c] = 0.0
        zero[c] = 0.0
    g0 = gauss[0]
    g1 = gauss[1 % taps]
    g2 = gauss[2 % taps]
    g3 = gauss[3 % taps]
    g4 = gauss[4 % taps]
    g5 = gauss[5 % taps]
    g6 = gauss[6 % taps]

    if not have_nz:  # else the caller filled row_nz (an 8-bit map's lookup does)
        _row_nonzero(pred, gt, row_nz)
    _column_nearest(gt, near, cbuf[0], cbuf[1], fg_lo, fg_hi)

    fp_w = 0.0
    fg_w = 0.0
    n_fg = 0
    for r in range(h + half):
        if r < h:
            nrow = near[r]
            grow = gt[r]
            # --- FPw of row r: background pixels with p != 0 ---
            n_nz = row_nz[r]
            if n_nz > 0:
                row_fp = 0.0
                local = 2 * n_nz < w  # few pixels: search around each one
                if local:
                    # the row's non-zero background pixels as a byte mask (vectorised),
                    # then visited a 64-bit word at a time
                    mask = near_fg_buf
                    p_row = pred[r]
                    for j in range(w):
                        mask[j] = (grow[j] == 0) & (p_row[j] != 0.0)
                    n_words = (w + 7) >> 3
                    for j in range(w, n_words * 8):
                        mask[j] = False
                    budget = w  # columns the wider searches of this row may visit (then at most
                    # about the cost of the Voronoi pass is lost: noisy maps need it)
                    for k in range(n_words):
                        if mask64[k] == 0:
                            continue
                        for j in range(8 * k, 8 * k + 8):
                            if not mask[j]:
                                continue
                            d2, _ = _nearest9(nrow, r, j)
                            if d2 > 25:
                                # farther than the 9 columns reach: widen the search
                                # column by column until no further column can be
                                # nearer (k² >= the best d²). FPw needs only the
                                # distance, not which pixel, so ties do not matter.
                                d2, visited = _nearest_wide(nrow, r, j, w, d2)
                                budget -= visited
                                if budget < 0:
                                    local = False  # many far pixels: the Voronoi pass is cheaper
                                    break
                            row_fp += abs(p_row[j]) * (b_table[d2] if d2 < n_table else b_table[n_table - 1])
                        if not local:
                            break
                if not local:
                    # SciPy's second (axis 1) pass: Maurer et al.'s Voronoi stack along
                    # the row, then cell by cell. A pixel j at site k moves on iff
                    # d_{k+1}(j) < d_k(j), i.e. iff j > e_k = floor(N_k / (2 (s_{k+1} - s_k))),
                    # N_k = d2_{k+1} - d2_k + s_{k+1}^2 - s_k^2
                    row_fp = 0.0
                    top = -1
                    for j in range(w):
                        fr = np.int64(nrow[_PAD + j])
                        if fr < 0 or fr >= h:
                            continue  # no foreground in this column
                        dr = fr - r
                        w_r = dr * dr
                        while top >= 1:
                            i1 = site[top]
                            i2 = site[top - 1]
                            a = i1 - i2
                            b = j - i1
                            c = a + b
                            if c * site_d2[top] - b * site_d2[top - 1] - a * w_r - a * b * c <= 0:
                                break
                            top -= 1
                        top += 1
                        site[top] = j
                        site_d2[top] = w_r
                    max_top = top
                    sparse = 8 * n_nz < w
                    j0 = 0
                    for k in range(max_top + 1):
                        sk = site[k]
                        end = w - 1
                        if k < max_top:
                            sn = site[k + 1]
                            # floor of the exact quotient: a float division cannot cross
                            # an integer (a non-integer quotient is >= 1/(2w) away from
                            # one; an integer one is exact) and is much cheaper than an
                            # int64 division
                            num = site_d2[k + 1] - site_d2[k] + sn * sn - sk * sk
                            e_k = int(np.floor(float(num) / float(2 * (sn - sk))))
                            if e_k < end:
                                end = e_k
                        if end < j0:
                            continue  # no pixel stops at this site
                        dk = site_d2[k]
                        if sparse:
                            for j in range(j0, end + 1):
                                if grow[j] == 0 and pred[r, j] != 0.0:
                                    dc = sk - j
                                    d1 = dk + dc * dc
                                    row_fp += abs(pred[r, j]) * (
                                        b_table[d1] if d1 < n_table else b_table[n_table - 1])
                        else:
                            for j in range(j0, end + 1):
                                dc = sk - j
                                d1 = dk + dc * dc
                                pv = 0.0 if grow[j] else abs(pred[r, j])
                                row_fp += pv * (b_table[d1] if d1 < n_table else b_table[n_table - 1])
                        j0 = end + 1
                        if j0 >= w:
                            break
                fp_w += row_fp
            # --- Et of row r where the Gaussian of a foreground pixel reads it ---
            span_lo = w
            span_hi = -1
            for rr in range(max(r - half, 0), min(r + half, h - 1) + 1):
                if fg_hi[rr] >= 0:
                    span_lo = min(span_lo, fg_lo[rr])
                    span_hi = max(span_hi, fg_hi[rr])
            if span_hi >= 0:
                e_lo = max(span_lo - half, 0)
                e_n = min(span_hi + half, w - 1) + 1 - e_lo
                # a background pixel needs its Et only within ``half`` pixels (both
                # directions) of a foreground pixel: some column within ``half`` has
                # foreground within ``half`` rows. Per column first (``near_fg``),
                # then OR-ed over the window of 2·half + 1 columns; both loops are
                # branch-free (the sentinel columns of ``near`` keep every index in
                # bounds: half <= _PAD).
                n_win = e_n + 2 * half
                near_fg = near_fg_buf[:n_win]
                base = _PAD + e_lo - half
                r32 = np.int32(r)
                half32 = np.int32(half)
                # a slice indexed from 0 (an index with a computed offset gets numba's
                # negative-index handling, which LLVM turns into a gather)
                src = nrow[base:base + n_win]
                for t in range(n_win):
                    # int32 (the casts let LLVM narrow numba's int64): 16 lanes
                    dr = np.int32(src[t] - r32)
                    near_fg[t] = (dr <= half32) & (np.int32(-dr) <= half32)
                need = flags[:e_n]
                g_seg = grow[e_lo:e_lo + e_n]
                for i in range(e_n):
                    need[i] = near_fg[i]
                for t in range(1, 2 * half + 1):
                    shifted = near_fg[t:t + e_n]
                    for i in range(e_n):
                        need[i] = need[i] | shifted[i]
                for i in range(e_n):
                    need[i] = need[i] & (g_seg[i] == 0)  # background pixels only
                n_words = (e_n + 7) >> 3
                for i in range(e_n, n_words * 8):
                    flags[i] = False
                # foreground: E itself; background: E at the nearest foreground pixel
                # where needed (then d² <= 2·half² = 18: the search is exact), else 0
                et_seg = etrow[e_lo + half:e_lo + half + e_n]
                p_seg = pred[r, e_lo:e_lo + e_n]
                for i in range(e_n):
                    et_seg[i] = abs(p_seg[i] - 1.0) if g_seg[i] else 0.0
                for k in range(n_words):  # the needed pixels, a 64-bit word of flags at a time
                    if flags64[k] == 0:
                        continue
                    for i in range(8 * k, 8 * k + 8):
                        if flags[i]:
                            _, c_near = _nearest9(nrow, r, e_lo + i)
                            et_seg[i] = abs(pred[nrow[_PAD + c_near], c_near] - 1.0)
                # horizontal blur (zero padding) of the span into the ring
                n = span_hi - span_lo + 1
                out = ring[r % taps, span_lo:span_lo + n]
                if taps == 7:
                    # one pass, the taps in registers (the same sum, term by term in
                    # tap order, as the generic loops below)
                    e0 = etrow[span_lo:span_lo + n]
                    e1 = etrow[span_lo + 1:span_lo + 1 + n]
                    e2 = etrow[span_lo + 2:span_lo + 2 + n]
                    e3 = etrow[span_lo + 3:span_lo + 3 + n]
                    e4 = etrow[span_lo + 4:span_lo + 4 + n]
                    e5 = etrow[span_lo + 5:span_lo + 5 + n]
                    e6 = etrow[span_lo + 6:span_lo + 6 + n]
                    for c in range(n):
                        out[c] = (g0 * e0[c] + g1 * e1[c] + g2 * e2[c] + g3 * e3[c]
                                  + g4 * e4[c] + g5 * e5[c] + g6 * e6[c])
                else:
                    for c in range(n):
                        out[c] = 0.0
                    for k in range(taps):
                        gk = gauss[k]
                        src = etrow[span_lo + k:span_lo + k + n]
                        for c in range(n):
                            out[c] += gk * src[c]
        # row ro = r - half now has its ``half`` rows below blurred (or is near the
        # bottom edge): vertical blur on its foreground span, Ew = min(E, EA) there
        ro = r - half
        if ro < 0 or fg_hi[ro] < 0:
            continue
        c_lo = fg_lo[ro]
        n = fg_hi[ro] - c_lo + 1
        p_row = pred[ro, c_lo:c_lo + n]
        g_row = gt[ro, c_lo:c_lo + n]
        row_fg = 0.0
        cnt = 0
        if taps == 7:
            # one pass: the rows outside the image read the zero row (a term
            # 0.0 leaves the non-negative sum unchanged, as skipping it does)
            r0 = ring[(ro - 3) % taps, c_lo:c_lo + n] if ro >= 3 else zero[c_lo:c_lo + n]
            r1 = ring[(ro - 2) % taps, c_lo:c_lo + n] if ro >= 2 else zero[c_lo:c_lo + n]
            r2 = ring[(ro - 1) % taps, c_lo:c_lo + n] if ro >= 1 else zero[c_lo:c_lo + n]
            r3 = ring[ro % taps, c_lo:c_lo + n]
            r4 = ring[(ro + 1) % taps, c_lo:c_lo + n] if ro + 1 < h else zero[c_lo:c_lo + n]
            r5 = ring[(ro + 2) % taps, c_lo:c_lo + n] if ro + 2 < h else zero[c_lo:c_lo + n]
            r6 = ring[(ro + 3) % taps, c_lo:c_lo + n] if ro + 3 < h else zero[c_lo:c_lo + n]
            for c in range(n):
                a = (g0 * r0[c] + g1 * r1[c] + g2 * r2[c] + g3 * r3[c]
                     + g4 * r4[c] + g5 * r5[c] + g6 * r6[c])
                e = abs(p_row[c] - 1.0)
                v = a if a < e else e
                isfg = g_row[c]
                row_fg += v if isfg else 0.0
                cnt += isfg
        else:
            acc = zero[:n]  # used as the accumulator here (the 7-tap path reads it as zeros)
            for c in range(n):
                acc[c] = 0.0
            for k in range(taps):
                src_r = ro - half + k
                if src_r < 0 or src_r >= h:
                    continue  # zero padding
                gk = gauss[k]
                src = ring[src_r % taps, c_lo:c_lo + n]
                for c in range(n):
                    acc[c] += gk * src[c]
            for c in range(n):
                e = abs(p_row[c] - 1.0)
                v = acc[c] if acc[c] < e else e
                isfg = g_row[c]
                row_fg += v if isfg else 0.0
                cnt += isfg
        fg_w += row_fg
        n_fg += cnt

    tp_w = n_fg - fg_w
    recall = 1.0 - fg_w / n_fg
    precision = tp_w / (tp_w + fp_w + _EPS)
    return (1.0 + _WFM_BETA) * recall * precision / (recall + _WFM_BETA * precision + _EPS)


