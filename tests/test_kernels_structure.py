"""S-measure and weighted F-measure kernels against PySODMetrics 1.6.2, per image, to 1e-10."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import salbench.metrics.kernels.structure as ks
from salbench.metrics.kernels import host
from salbench.metrics import numeric
from salbench.metrics.kernels.structure import s_measure, weighted_f

cv2 = pytest.importorskip("cv2")
psm = pytest.importorskip("py_sod_metrics")
from py_sod_metrics.utils import prepare_data  # noqa: E402

from helpers import FLOAT_KINDS, assert_parity, random_pair  # noqa: E402
from naive import ref_sm, ref_wfm  # noqa: E402

#: the kernels must build: a failure is an error here, not a skip
pytestmark = pytest.mark.usefixtures("structure_kernels")

TOL = numeric.PARITY_TOL  # 1e-10


def check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    rs, rw = ref_sm(pred, gt), ref_wfm(pred, gt)
    ms, mw = s_measure(pred, gt), weighted_f(pred, gt)
    if np.isnan(rs):
        # PySODMetrics' NaN case (empty quadrant); ours must be finite, see the module docstring
        assert np.isfinite(ms) and 0.0 <= ms <= 1.0
    else:
        assert_parity(ms, rs, TOL, what="s_measure")
    assert_parity(mw, rw, TOL, what="weighted_f")


def random_case(rng: np.random.Generator, kind: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Kind 0..5 of the float (map, bool GT) kinds of :func:`helpers.random_pair`."""
    return random_pair(rng, h, w, FLOAT_KINDS[kind])


@pytest.mark.parametrize("seed", range(8))
def test_random_maps_match_pysodmetrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for t in range(60):
        h, w = int(rng.integers(1, 70)), int(rng.integers(1, 70))
        check_pair(*random_case(rng, t % 6, h, w))


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2), (1, 9), (9, 1), (7, 7)])
def test_tiny_images(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    n = shape[0] * shape[1]
    for bits in range(min(2**n, 64)):
        g = np.array([(bits >> i) & 1 for i in range(n)], bool).reshape(shape)
        for p in (rng.random(shape), np.zeros(shape), np.ones(shape), np.full(shape, 0.4)):
            check_pair(p, g)


def test_empty_and_full_gt() -> None:
    rng = np.random.default_rng(7)
    for h, w in [(1, 1), (5, 8), (37, 23), (120, 90)]:
        p = rng.random((h, w))
        for g in (np.zeros((h, w), bool), np.ones((h, w), bool)):
            check_pair(p, g)
            check_pair(np.zeros((h, w)), g)
            check_pair(np.full((h, w), 77 / 255), g)
    # all-background GT: wF is 0 by PySODMetrics' rule, S is 1 - mean(pred)
    assert weighted_f(np.ones((4, 5)), np.zeros((4, 5), bool)) == 0.0
    assert s_measure(np.zeros((4, 5)), np.zeros((4, 5), bool)) == 1.0


def test_constant_prediction_everywhere() -> None:
    # constant quadrants make SSIM take its alpha == beta == 0 branch only when the
    # quadrant mean is bit-exact: this covers many split positions and sizes
    rng = np.random.default_rng(11)
    for _ in range(150):
        h, w = int(rng.integers(2, 160)), int(rng.integers(2, 160))
        g = np.zeros((h, w), bool)
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        g[r0 : r0 + int(rng.integers(1, h)), c0 : c0 + int(rng.integers(1, w))] = True
        check_pair(np.full((h, w), int(rng.integers(1, 255)) / 255), g)


def test_larger_structured_images() -> None:
    # several blobs and lines: many equidistant nearest-foreground ties for the EDT
    rng = np.random.default_rng(21)
    for _ in range(6):
        h, w = int(rng.integers(120, 260)), int(rng.integers(120, 260))
        yy, xx = np.mgrid[:h, :w]
        g = np.zeros((h, w), bool)
        for _ in range(int(rng.integers(1, 5))):
            cy, cx, rad = rng.integers(0, h), rng.integers(0, w), rng.integers(3, 40)
            g |= (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2
        g[int(rng.integers(0, h)), :: int(rng.integers(2, 9))] = True
        u8 = np.clip((g * 0.7 + rng.normal(0.15, 0.25, (h, w))) * 255, 0, 255).astype(np.uint8)
        check_pair(*prepare_data(u8, g.astype(np.uint8) * 255))
        # mostly-zero map: the kernel looks up only non-zero pixels away from the foreground
        u8[rng.random((h, w)) < 0.9] = 0
        check_pair(*prepare_data(u8, g.astype(np.uint8) * 255))


def test_far_background_beyond_the_importance_table() -> None:
    # distances over ~266 px read the table's last entry (B == 2.0 exactly)
    rng = np.random.default_rng(4)
    g = np.zeros((330, 520), bool)
    g[2:9, 3:12] = True
    p = rng.random((330, 520))
    p[rng.random((330, 520)) < 0.3] = 0.0
    assert (329 - 8) ** 2 + (519 - 11) ** 2 > host.B_SAT_D2
    assert abs(weighted_f(p, g) - ref_wfm(p, g)) <= TOL


def test_sparse_far_background_pixels() -> None:
    # few non-zero background pixels per row, far from the foreground: the row pass
    # widens its search column by column (exact distance, ties irrelevant for FPw),
    # up to the image edges and beyond the importance table; a row with many such
    # pixels (under half the row) runs out of its search budget and takes the
    # Voronoi pass instead
    rng = np.random.default_rng(12)
    for h, w, box in ((330, 520, np.s_[2:9, 3:12]), (60, 400, np.s_[25:35, 190:200]), (40, 31, np.s_[0:2, 30:31])):
        g = np.zeros((h, w), bool)
        g[box] = True
        p = np.zeros((h, w))
        far = rng.random((h, w)) < 0.01
        p[far] = rng.random(int(far.sum()))
        p[0, ::3] = 0.4  # a third of a row: many far pixels
        p[-1, -1] = 0.9  # the corner farthest away
        p[g] = rng.random(int(g.sum()))
        assert abs(weighted_f(p, g) - ref_wfm(p, g)) <= TOL


def test_importance_saturates_to_two_in_numpy() -> None:
    # past _B_SAT_D2 the kernel uses B = 2.0 without a lookup: NumPy's own values agree
    d2 = np.arange(host.B_SAT_D2, host.B_SAT_D2 + 2_000_000, 7, dtype=np.float64)
    assert (2 - np.exp(np.log(0.5) / 5 * np.sqrt(d2)) == 2.0).all()
    table = host.importance_table(10**9)
    assert table.shape[0] == host.B_SAT_D2 + 1 and table[-1] == 2.0


def test_last_row_or_column_foreground_is_finite() -> None:
    # PySODMetrics returns NaN here (empty quadrant); we return the limit value
    rng = np.random.default_rng(5)
    p = rng.random((6, 9))
    g_col = np.zeros((6, 9), bool)
    g_col[:, -1] = True
    g_row = np.zeros((6, 9), bool)
    g_row[-1, :] = True
    for g in (g_col, g_row):
        assert np.isnan(ref_sm(p, g))
        v = s_measure(p, g)
        assert np.isfinite(v) and 0.0 <= v <= 1.0
        # equal to PySODMetrics' formula with the empty quadrants dropped
        m = psm.Smeasure()
        h, w = g.shape
        cy, cx = (np.argwhere(g).mean(axis=0).round() + 1).astype(int)
        parts = [
            (m.ssim(p[a:b, c:d], g[a:b, c:d]) * ((b - a) * (d - c)) / (h * w))
            for a, b, c, d in [(0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w)]
            if (b - a) * (d - c) > 0
        ]
        a_ = numeric.S_ALPHA
        expected = max(0.0, a_ * m.object(p, g) + (1 - a_) * sum(parts))
        assert abs(v - expected) <= TOL


def test_pysodmetrics_testdata(shared_data) -> None:
    root = shared_data / "pysodmetrics-testdata"
    ref = json.loads((root / "reference_values_pysodmetrics_1.6.2.json").read_text())["per_image"]
    assert len(ref) == 3
    for name, vals in ref.items():
        pred_u8 = cv2.imread(str(root / "preds" / name), cv2.IMREAD_GRAYSCALE)
        gt_u8 = cv2.imread(str(root / "masks" / name), cv2.IMREAD_GRAYSCALE)
        pred, gt = prepare_data(pred_u8, gt_u8)
        assert abs(s_measure(pred, gt) - vals["sm"]) <= TOL, name
        assert abs(weighted_f(pred, gt) - vals["wfm"]) <= TOL, name


def test_sod_dss_maps(shared_data) -> None:
    maps = sorted((shared_data / "maps" / "SOD" / "DSS").glob("*.png"))
    assert len(maps) >= 60
    for path in maps[::5][:60]:
        pred_u8 = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        gt_u8 = cv2.imread(str(shared_data / "SOD" / "gt" / path.name), cv2.IMREAD_GRAYSCALE)
        pred, gt = prepare_data(pred_u8, gt_u8)
        assert abs(s_measure(pred, gt) - ref_sm(pred, gt)) <= TOL, path.name
        assert abs(weighted_f(pred, gt) - ref_wfm(pred, gt)) <= TOL, path.name


def test_s_and_weighted_f_equals_the_two_functions() -> None:
    # the one-validation entry point that salbench.metrics.pair uses
    rng = np.random.default_rng(9)
    for _ in range(5):
        p, g = random_case(rng, int(rng.integers(0, 6)), int(rng.integers(2, 60)), int(rng.integers(2, 60)))
        p, g = np.ascontiguousarray(p, dtype=np.float64), np.ascontiguousarray(g, dtype=bool)
        want = (s_measure(p, g), weighted_f(p, g))
        assert ks.s_and_weighted_f(p, g) == want
        assert ks.s_and_weighted_f(p, g, prevalidated=True) == want
    with pytest.raises(ValueError, match=r"s_and_weighted_f: .*\[0, 1\]"):
        ks.s_and_weighted_f(np.full((4, 5), 1.5), np.zeros((4, 5), bool))


def test_invalid_inputs_raise_value_error() -> None:
    p = np.zeros((4, 5))
    g = np.zeros((4, 5), bool)
    for fn in (s_measure, weighted_f):
        with pytest.raises(ValueError, match="shape mismatch"):
            fn(p, np.zeros((5, 4), bool))
        with pytest.raises(ValueError, match="2-D"):
            fn(np.zeros(5), np.zeros(5, bool))
        with pytest.raises(ValueError, match="float64"):
            fn(p.astype(np.float32), g)
        with pytest.raises(ValueError, match="bool"):
            fn(p, g.astype(np.uint8))
        with pytest.raises(ValueError, match="NaN"):
            fn(np.full((4, 5), np.nan), g)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            fn(np.full((4, 5), 1.5), g)
        with pytest.raises(ValueError, match="empty"):
            fn(np.zeros((0, 3)), np.zeros((0, 3), bool))
        # non-contiguous views are accepted and give the same value as a copy
        big_p = np.random.default_rng(0).random((8, 10))
        big_g = big_p > 0.6
        assert fn(big_p[::2, 1::2], big_g[::2, 1::2]) == fn(big_p[::2, 1::2].copy(), big_g[::2, 1::2].copy())
        # so are read-only arrays (memory maps, broadcasts), which are left untouched
        ro_p, ro_g = big_p.copy(), big_g.copy()
        ro_p.flags.writeable = False
        ro_g.flags.writeable = False
        assert fn(ro_p, ro_g) == fn(big_p, big_g)
        assert (ro_p == big_p).all() and (ro_g == big_g).all()


shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))


@st.composite
def pairs(draw):
    shape = draw(shapes)
    pred = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0, allow_nan=False)))
    gt = draw(arrays(np.bool_, shape))
    return pred, gt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_property_finite_and_in_range(pair) -> None:
    pred, gt = pair
    sm, wfm = s_measure(pred, gt), weighted_f(pred, gt)
    assert np.isfinite(sm) and 0.0 <= sm <= 1.0
    assert np.isfinite(wfm) and 0.0 <= wfm <= 1.0 + 1e-12
    # and they are PySODMetrics' values wherever those are defined
    rs = ref_sm(pred, gt)
    if not np.isnan(rs):
        assert abs(sm - rs) <= TOL
    assert abs(wfm - ref_wfm(pred, gt)) <= TOL
    # a perfect binary prediction scores 1 on both (up to the eps in the formulas,
    # which matters for a single foreground pixel: SSIM's beta is then ~1/N^3)
    if gt.any() and not gt.all():
        perfect = gt.astype(np.float64)
        assert s_measure(perfect, gt) == pytest.approx(1.0, abs=1e-6)
        assert weighted_f(perfect, gt) == pytest.approx(1.0, abs=1e-12)
