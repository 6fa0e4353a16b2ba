"""Regression tests for the shortcuts of the 8-bit path.

* The quadrant histogram counts groups of four pixels whose map and GT are all
  0 instead of incrementing one bin per pixel. Its counts must equal NumPy's
  for every width (tails of 1 to 3 pixels), every GT threshold (including 0 and
  1, where a GT of 0 is foreground or grey GT matters) and maps with long zero runs.
* The weighted F of an 8-bit map scans byte masks a 64-bit word at a time and
  takes its per-row counts of non-zero background pixels from the lookup. It
  must equal the float path, which counts them itself.

Both builds are checked: the compiled module when it is current, and the JIT kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

from salbench.metrics.kernels import build as FP
from salbench.metrics.kernels import host
from salbench.metrics.kernels import counts as K
from salbench.metrics.kernels.structure import weighted_f

from helpers import random_pair
from naive import numpy_quadrants

SHAPES = [(1, 1), (2, 3), (3, 5), (4, 7), (5, 8), (6, 9), (7, 15), (9, 16), (11, 17), (17, 23), (13, 64), (31, 45)]


def _builds():
    builds = [FP.load("jit")]
    active = FP.active()
    if active.backend == "aot":
        builds.append(active)
    return builds


def _pair(rng, shape, zero_frac, grey_gt=False):
    # long runs of zeros as well as scattered ones, a central box GT (grey spots when grey_gt)
    return random_pair(rng, *shape, "zero-runs", zero_frac=zero_frac, grey_gt=grey_gt)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("thr", [0, 1, 128])
def test_quadrant_histogram_equals_numpy(shape, thr):
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + thr)
    for zero_frac, grey in ((0.0, False), (0.5, False), (0.95, True), (1.0, False)):
        pred, gt = _pair(rng, shape, zero_frac, grey)
        for kern in _builds():
            qhist = np.empty((4, 2, 256), np.int64)
            hist = np.empty((2, 256), np.int64)
            info = np.empty(3, np.int64)
            absdiff = kern.quadrant_hist_u8(pred, gt, np.int64(thr), True, np.empty(16 * 256, np.int64),
                                            qhist, hist, info)
            cy, cx = int(info[0]), int(info[1])
            want = numpy_quadrants(pred, gt, thr, cy, cx)
            assert np.array_equal(qhist, want), (kern.backend, shape, thr, zero_frac)
            assert np.array_equal(hist, want.sum(axis=0))
            assert info[2] == int((gt >= thr).sum())
            assert absdiff == int(np.abs(pred.astype(np.int64) - gt.astype(np.int64)).sum())


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[0] >= 2 and s[1] >= 2])
def test_weighted_f_u8_path_equals_float_path(shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    for zero_frac in (0.0, 0.6, 0.97):
        pred, gt = _pair(rng, shape, zero_frac)
        g = gt >= 128
        lo, hi = int(pred.min()), int(pred.max())
        val = np.clip((np.arange(256) - lo) / max(hi - lo, 1), 0.0, 1.0)
        want = weighted_f(val[pred], g)
        for kern in _builds():
            got = host.weighted_f_u8(kern, pred, val, g)
            # the two builds may round the last bit differently (fastmath reassociation)
            assert got == pytest.approx(want, abs=1e-12), (kern.backend, shape, zero_frac)
