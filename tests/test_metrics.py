"""Metrics core vs PySODMetrics 1.6.2 itself (pysodmetrics protocol), on random
maps with edge cases and on real data; API validation; Hypothesis properties."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import salbench.metrics as metrics
from salbench.metrics import numeric
from salbench.metrics import SCORE_KEYS, Evaluator

from helpers import assert_parity, random_pairs
from naive import PySODReference

py_sod_metrics = pytest.importorskip("py_sod_metrics")
#: the S-measure / weighted-F kernels must build: a failure is an error here, not a skip
pytestmark = pytest.mark.usefixtures("structure_kernels")

TOL = numeric.PARITY_TOL
#: relative slack only matters for 1-pixel images, whose E-measure divides by
#: (N - 1 + eps) = eps and reaches ~1e13 in PySODMetrics as here
REL = 1e-12


def check_pysod_parity(pairs, structural=True):
    """Per image and for the dataset, ``Evaluator("pysodmetrics")`` equals
    PySODMetrics run on the same pairs (S-measure NaN cases of PySODMetrics
    left out: ours is finite there, see the structure kernels)."""
    ref = PySODReference(structural)
    ev = Evaluator("pysodmetrics", structural=structural)
    for i, (pred, gt) in enumerate(pairs):
        ref.step(pred, gt)
        got = ev.update(pred, gt)
        assert_parity(got, ref.per_image(i), TOL, rel=REL, skip_nonfinite={"s_measure"}, what=(i, pred.shape))
    res = ev.compute()
    want = ref.results()
    for k in ("precision", "recall", "f_curve", "e_curve", "iou_curve", "dice_curve"):
        assert len(res[k]) == 256
    assert_parity(res, want, TOL, rel=REL, skip_nonfinite=True, what="dataset")
    assert res["protocol"] == "pysodmetrics"
    return res


def _edge_pairs(rng):
    pairs = []
    for h, w in [(1, 1), (1, 2), (2, 1), (3, 3), (37, 53), (64, 48), (5, 200)]:
        g = (rng.random((h, w)) > 0.6).astype(np.uint8) * 255
        pairs.append(((rng.random((h, w)) * 256).astype(np.uint8), g))
    h, w = 31, 43
    blob = np.zeros((h, w), np.uint8)
    blob[8:20, 10:30] = 255
    soft = cv2.GaussianBlur(blob, (9, 9), 3)
    pairs += [
        (soft, np.zeros((h, w), np.uint8)),                      # empty GT
        (soft, np.full((h, w), 255, np.uint8)),                  # all-foreground GT
        (np.zeros((h, w), np.uint8), blob),                      # constant 0 map
        (np.full((h, w), 255, np.uint8), blob),                  # constant 255 map
        (np.full((h, w), 77, np.uint8), blob),                   # constant mid map (v/255 kept)
        (np.full((h, w), 77, np.uint8), np.zeros((h, w), np.uint8)),
        (blob, blob),                                            # perfect binary map
        (255 - blob, blob),                                      # inverted
        (soft, (rng.random((h, w)) * 256).astype(np.uint8)),     # grey GT (binarised at > 128)
        (np.where(rng.random((h, w)) > 0.5, 200, 10).astype(np.uint8), blob),  # two levels
        (np.full((h, w), 128, np.uint8), np.full((h, w), 128, np.uint8)),      # gt == 128 is background
    ]
    # adaptive-threshold ties: half the pixels at max -> 2 * mean == 1 exactly
    half = np.zeros((8, 8), np.uint8)
    half[:4] = 255
    pairs.append((half, blob[:8, 8:16]))
    third = np.zeros((6, 6), np.uint8)
    third[:2] = 255
    third[2:4] = 170
    pairs.append((third, blob[6:12, 8:14]))
    return pairs


def test_parity_edge_cases():
    rng = np.random.default_rng(0)
    check_pysod_parity(_edge_pairs(rng))


def test_parity_random_maps():
    check_pysod_parity(random_pairs(np.random.default_rng(1), 12, "box-soft", sizes=(20, 90)))


def test_parity_constant_quadrants_u8():
    """8-bit maps whose S-measure quadrants are constant at levels whose normalised
    value is not 0 or 1: the quadrant-histogram S-measure must take SSIM's
    ``alpha == beta == 0`` branch exactly when PySODMetrics does (it depends on
    NumPy's summed mean of the quadrant), over many split positions and sizes."""
    rng = np.random.default_rng(5)
    pairs = []
    for _ in range(80):
        h, w = int(rng.integers(2, 120)), int(rng.integers(2, 120))
        g = np.zeros((h, w), np.uint8)
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        g[r0:r0 + int(rng.integers(1, h)), c0:c0 + int(rng.integers(1, w))] = 255
        a, b, c = (int(v) for v in rng.integers(0, 256, size=3))
        kind = int(rng.integers(0, 3))
        if kind == 0:  # constant map: not normalised, value a/255
            p = np.full((h, w), a, np.uint8)
        else:  # blocks of three levels: after min-max some blocks sit strictly inside (0, 1)
            p = np.full((h, w), a, np.uint8)
            cut_r, cut_c = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
            p[cut_r:, :] = b
            p[:, cut_c:] = c if kind == 1 else b
        pairs.append((p, g))
    check_pysod_parity(pairs)


@pytest.mark.realdata
def test_parity_reference_json(shared_data):
    """Against the values PySODMetrics 1.6.2 recorded for its own test data."""
    root = shared_data / "pysodmetrics-testdata"
    ref = json.loads((root / "reference_values_pysodmetrics_1.6.2.json").read_text())
    from salbench.data.imageio import read_gt, read_map

    ev = Evaluator(structural=True)
    names = {"mae": "mae", "sm": "s_measure", "wfm": "weighted_f", "adpF": "adp_f", "meanF": "mean_f",
             "maxF": "max_f", "adpE": "adp_e", "meanE": "mean_e", "maxE": "max_e"}
    for name in sorted(ref["per_image"]):
        pred = read_map(root / "preds" / name)
        gt = read_gt(root / "masks" / name)
        np.testing.assert_array_equal(pred, cv2.imread(str(root / "preds" / name), cv2.IMREAD_GRAYSCALE))
        st = metrics.image_stats(pred, gt, structural=True)
        ev.add_stats(st)
        got = st.scores()
        want = ref["per_image"][name]
        for k, k2 in names.items():
            assert got[k2] == pytest.approx(want[k], abs=TOL, rel=0), (name, k)
        np.testing.assert_allclose(st.curves[2], want["F_curve_thr255_to_0"][::-1], rtol=0, atol=TOL)
        np.testing.assert_allclose(st.curves[3], want["E_curve_thr255_to_0"][::-1], rtol=0, atol=TOL)
        np.testing.assert_allclose(st.curves[0], want["P_curve"][::-1], rtol=0, atol=TOL)
        np.testing.assert_allclose(st.curves[1], want["R_curve"][::-1], rtol=0, atol=TOL)
    res = ev.compute()
    dnames = {"MAE": "mae", "Smeasure": "s_measure", "wFmeasure": "weighted_f", "adpFm": "adp_f",
              "meanFm": "mean_f", "maxFm": "max_f", "adpEm": "adp_e", "meanEm": "mean_e", "maxEm": "max_e"}
    for k, k2 in dnames.items():
        assert res[k2] == pytest.approx(ref["dataset"][k], abs=TOL, rel=0), k


@pytest.mark.slow
@pytest.mark.realdata
def test_parity_sod_published_maps(shared_data):
    """All 300 SOD images, DSS maps, read as PySODMetrics reads them."""
    from salbench.data.imageio import read_gt, read_map

    gt_dir = shared_data / "SOD" / "gt"
    pairs = []
    for gp in sorted(gt_dir.glob("*.png")):
        pp = shared_data / "maps" / "SOD" / "DSS" / gp.name
        pred, gt = read_map(pp), read_gt(gp)
        pairs.append((pred, gt))
    assert len(pairs) == 300
    np.testing.assert_array_equal(pairs[0][1], cv2.imread(str(sorted(gt_dir.glob("*.png"))[0]), cv2.IMREAD_GRAYSCALE))
    # S / wF through PySODMetrics cost ~40 ms an image: all 300 for the cheap
    # metrics, every 5th image for the structure-aware ones
    check_pysod_parity(pairs, structural=False)
    check_pysod_parity(pairs[::5], structural=True)


# --- float inputs, pure functions -------------------------------------------

def test_float_input_equals_uint8_input():
    rng = np.random.default_rng(3)
    for proto in ("pysodmetrics", "r3net"):
        for pred, gt in _edge_pairs(rng)[:12]:
            a = metrics.image_stats(pred, gt, proto, structural=False)
            b = metrics.image_stats(pred / 255.0, gt, proto, structural=False)
            np.testing.assert_allclose(a.curves, b.curves, rtol=0, atol=TOL)
            assert a.mae == pytest.approx(b.mae, abs=TOL)
            assert a.adp_f == pytest.approx(b.adp_f, abs=TOL)
            assert a.adp_e == pytest.approx(b.adp_e, abs=TOL)


def test_pure_functions_match_evaluator():
    rng = np.random.default_rng(4)
    pred = (rng.random((30, 40)) * 255).astype(np.uint8)
    gt = ((rng.random((30, 40)) > 0.7) * 255).astype(np.uint8)
    ev = Evaluator(structural=False)
    scores = ev.update(pred, gt)
    assert metrics.mae(pred, gt) == scores["mae"]
    f = metrics.fmeasure(pred, gt)
    assert f["max"] == scores["max_f"] and f["adp"] == scores["adp_f"] and len(f["curve"]) == 256
    e = metrics.emeasure(pred, gt)
    assert e["max"] == scores["max_e"] and e["mean"] == scores["mean_e"]
    idc = metrics.iou_dice(pred, gt)
    np.testing.assert_allclose(idc["iou"], ev.compute()["iou_curve"])
    assert set(metrics.evaluate_pair(pred, gt)) == set(SCORE_KEYS)
    ref = py_sod_metrics.Smeasure()
    ref.step(pred=pred, gt=gt)
    assert metrics.smeasure(pred, gt) == pytest.approx(ref.sms[0], abs=TOL)


@pytest.mark.parametrize("pred, gt, msg", [
    (np.full((4, 4), np.nan), np.zeros((4, 4), np.uint8), "NaN"),
    (np.full((4, 4), np.inf), np.zeros((4, 4), np.uint8), "infinite"),
    (np.full((4, 4), 1.5), np.zeros((4, 4), np.uint8), r"\[0, 1\]"),
    (np.full((4, 4), -0.1), np.zeros((4, 4), np.uint8), r"\[0, 1\]"),
    (np.zeros((4, 4), np.uint8), np.full((4, 4), 2.0), r"\[0, 1\]"),
    (np.zeros((4, 4), np.uint16) + 300, np.zeros((4, 4), np.uint8), "0..255"),
    (np.zeros((4, 5), np.uint8), np.zeros((4, 4), np.uint8), "shape mismatch"),
    (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), "2-D"),
    (np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8), "empty"),
    (np.zeros((4, 4), complex), np.zeros((4, 4), np.uint8), "dtype"),
])
def test_bad_arrays_raise_value_error(pred, gt, msg):
    ev = Evaluator(structural=False)
    with pytest.raises(ValueError, match=msg):
        ev.update(pred, gt)
    assert ev.count == 0


def test_compute_without_images_and_protocol_mismatch():
    with pytest.raises(ValueError, match="no image"):
        Evaluator().compute()
    with pytest.raises(ValueError, match="merge"):
        Evaluator("pysodmetrics").merge(Evaluator("r3net"))


# --- properties ---------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24)


@st.composite
def pairs_strategy(draw):
    shape = draw(shapes)
    kind = draw(st.sampled_from(["random", "constant", "binary", "few"]))
    if kind == "constant":
        pred = np.full(shape, draw(st.integers(0, 255)), np.uint8)
    elif kind == "binary":
        pred = draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 255])))
    elif kind == "few":
        pred = draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 85, 128, 170, 255])))
    else:
        pred = draw(hnp.arrays(np.uint8, shape))
    gkind = draw(st.sampled_from(["random", "empty", "full", "grey"]))
    if gkind == "empty":
        gt = np.zeros(shape, np.uint8)
    elif gkind == "full":
        gt = np.full(shape, 255, np.uint8)
    elif gkind == "grey":
        gt = draw(hnp.arrays(np.uint8, shape))
    else:
        gt = draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 255])))
    return pred, gt


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pairs_strategy(), min_size=1, max_size=4))
def test_property_matches_reference_and_finite(pairs):
    """Equal to PySODMetrics on arbitrary small maps (incl. degenerate ones),
    and never NaN where it gives a number."""
    res = check_pysod_parity(pairs, structural=False)
    for k in ("mae", "max_f", "mean_f", "adp_f", "max_e", "mean_e", "adp_e"):
        assert math.isfinite(res[k])


@settings(max_examples=60, deadline=None)
@given(st.lists(pairs_strategy(), min_size=2, max_size=6), st.integers(1, 5),
       st.sampled_from(["pysodmetrics", "r3net"]), st.randoms(use_true_random=False))
def test_property_merge_equals_single_pass(pairs, cut, proto, rnd):
    """Shards in any order, merged in any order, equal one pass bit for bit
    (exact sums, one rounding per mean)."""
    cut = min(cut, len(pairs) - 1)
    single = Evaluator(proto)
    for p, g in pairs:
        single.update(p, g)
    first, second = list(pairs[:cut]), list(pairs[cut:])
    rnd.shuffle(first)
    rnd.shuffle(second)
    a = Evaluator(proto)
    b = Evaluator(proto)
    for p, g in first:
        a.update(p, g)
    for p, g in second:
        b.update(p, g)
    # shards travel as JSON between processes; merged the other way round
    a = Evaluator.from_state_dict(json.loads(json.dumps(a.state_dict())))
    merged = b.merge(a).compute()
    assert merged == single.compute()


def test_state_dict_roundtrip_is_exact():
    rng = np.random.default_rng(5)
    ev = Evaluator(structural=False)
    for _ in range(5):
        ev.update((rng.random((9, 11)) * 255).astype(np.uint8), ((rng.random((9, 11)) > 0.5) * 255).astype(np.uint8))
    again = Evaluator.from_state_dict(json.loads(json.dumps(ev.state_dict())))
    assert again.compute() == ev.compute()
    ev.reset()
    assert ev.count == 0


@settings(max_examples=60, deadline=None)
@given(pairs_strategy(), st.sampled_from(["float64", "float32", "bool", "int32"]),
       st.sampled_from(["uint8", "bool", "float64"]), st.sampled_from(["pysodmetrics", "r3net"]))
def test_property_dtypes_finite_and_consistent(pair, pdtype, gdtype, proto):
    """Every accepted dtype gives finite scores (no NaN where the reference has a
    number); a float map equal to v/255 gives the uint8 map's scores."""
    pred, gt = pair
    if pdtype == "bool":
        p = pred > 127
    elif pdtype == "int32":
        p = pred.astype(np.int32)
    else:
        p = (pred / 255.0).astype(pdtype)
    g = {"uint8": gt, "bool": gt >= 128, "float64": gt / 255.0}[gdtype]
    scores = metrics.evaluate_pair(p, g, proto)
    for k, v in scores.items():
        assert v is None or math.isfinite(v), k
    if pdtype in ("float64", "int32") and gdtype == "uint8":
        a = metrics.image_stats(pred, gt, proto, structural=False)
        b = metrics.image_stats(p, g, proto, structural=False)
        np.testing.assert_allclose(b.curves, a.curves, rtol=1e-12, atol=TOL)
        assert b.mae == pytest.approx(a.mae, abs=TOL) and b.adp_f == pytest.approx(a.adp_f, abs=TOL)
