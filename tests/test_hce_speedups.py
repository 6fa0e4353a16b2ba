"""The HCE fast path piece by piece: each numba kernel of
:mod:`salbench.metrics.kernels.hce` against a plain NumPy / OpenCV /
scikit-image construction of the same step (random masks, edge cases), and the
whole value against PySODMetrics 1.6.2 on the benchmark's real SOD pairs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from salbench.metrics.families.base import image_input
from salbench.metrics.families.hce import hce_value
from salbench.metrics.kernels.hce import hce_inputs, relax_masks, skeleton_u8, zhang_skeleton

from helpers import sod_triples

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def _masks(rng, n):
    """Random 0/1 masks: noise, dilated noise (blobs), and the edge cases."""
    out = []
    for t in range(n):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        if t % 2:
            m = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 4)))
        out.append(m)
    out += [np.zeros((7, 9), np.uint8), np.ones((7, 9), np.uint8), np.ones((1, 5), np.uint8),
            np.ones((5, 1), np.uint8), np.ones((1, 1), np.uint8)]
    return out


def test_skeleton_u8_matches_skimage():
    from skimage.morphology import skeletonize

    for m in _masks(np.random.default_rng(5), 200):
        want = skeletonize(m.astype(bool))
        assert np.array_equal(skeleton_u8(m), want.view(np.uint8))
        assert np.array_equal(zhang_skeleton(m.astype(bool)), want)


def _crop_reference(pb, gt, margin):
    union = pb.astype(bool) | gt.astype(bool)
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    if rows.size == 0:
        return None
    h, w = union.shape
    box = (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)),
           slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))
    return pb[box], gt[box]


def test_hce_inputs_is_the_union_box():
    rng = np.random.default_rng(6)
    masks = _masks(rng, 120)
    for a, b in zip(masks, masks[1:] + masks[:1]):
        b = np.resize(b, a.shape) * (rng.random(a.shape) < 0.3)
        for margin in (0, 1, 7):
            p8, g8 = hce_inputs(a, b.astype(np.uint8), margin)
            want = _crop_reference(a, b.astype(np.uint8), margin)
            if want is None:
                assert p8.size == 0 and g8.size == 0
            else:
                assert np.array_equal(p8, want[0]) and np.array_equal(g8, want[1])


def _relax_reference(p8, g8, skel, relax):
    """The relaxed masks with OpenCV, as PySODMetrics builds them."""
    pred, gt = p8.astype(bool), g8.astype(bool)
    tp, fp, fn = pred & gt, pred & ~gt, gt & ~pred
    eroded = cv2.erode((pred | gt).astype(np.uint8), _CROSS, iterations=relax).astype(bool)
    fp_, fn_ = fp & eroded, fn & eroded
    for _ in range(relax):
        fp_ = cv2.dilate(fp_.astype(np.uint8), _CROSS).astype(bool) & ~gt
        fn_ = cv2.dilate(fn_.astype(np.uint8), _CROSS).astype(bool) & ~pred
    fp_ &= fp
    fn_ = (fn_ & fn) | (skel.astype(bool) & ~tp)
    state = tp.astype(np.uint8) | (fp_.astype(np.uint8) << 1) | (fn_.astype(np.uint8) << 2)
    return state, fp_.astype(np.uint8), fn_.astype(np.uint8)


def test_relax_masks_match_opencv():
    rng = np.random.default_rng(7)
    for g8 in _masks(rng, 120):
        h, w = g8.shape
        p8 = cv2.dilate((rng.random((h, w)) < 0.2).astype(np.uint8), np.ones((3, 3), np.uint8))
        skel = skeleton_u8(g8)
        for relax in (0, 1, 2, 5):
            got = relax_masks(p8, g8, skel, relax)
            for a, b in zip(got, _relax_reference(p8, g8, skel, relax)):
                assert np.array_equal(a, b), relax


def test_hce_value_equals_pysodmetrics_on_the_benchmark_pairs(shared_data):
    psm = pytest.importorskip("py_sod_metrics")
    gts = sorted((shared_data / "SOD" / "gt").glob("*.png"))
    items = sod_triples(shared_data, 30, max(1, len(gts) // 30))
    assert len(items) == 30
    for p, g, _ in items:
        ref = psm.HumanCorrectionEffortMeasure()
        ref.step(p, g)
        x = image_input(p, g)
        assert hce_value(x.pred, x.gt) == int(ref.hces[0])
