"""Parity of the fmv2, si and msiou metric families with PySODMetrics 1.6.2
(the oracle, installed), exact merging and state round trips."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import py_sod_metrics as ps
from salbench.metrics.families.base import Accumulator, image_input
from salbench.metrics.families.confusion import ALIASES, METRICS, FmeasureV2Family
from salbench.metrics.families.msiou import MSIoUFamily
from salbench.metrics.families.size_invariance import SizeInvarianceFamily
from salbench.metrics.numeric import PARITY_TOL

HANDLERS = {"precision": ps.PrecisionHandler, "recall": ps.RecallHandler, "fm": ps.FmeasureHandler,
            "f1": ps.FmeasureHandler, "iou": ps.IOUHandler, "dice": ps.DICEHandler, "ber": ps.BERHandler,
            "kappa": ps.KappaHandler, "oa": ps.OverallAccuracyHandler, "specificity": ps.SpecificityHandler,
            "fpr": ps.FPRHandler}


def _kw(m):
    """Handler keyword arguments of metric ``m`` (F1 is FmeasureHandler(beta=1))."""
    return {"beta": 1} if m == "f1" else {}


def cal_auc(y, x):
    """examples/test_metrics.py of PySODMetrics."""
    i = np.argsort(x, axis=-1, kind="stable")
    return np.trapezoid(y=np.take_along_axis(y, i, -1), x=np.take_along_axis(x, i, -1), axis=-1)


def ref_fmv2(pairs):
    """Every fmv2 key computed by PySODMetrics' FmeasureV2 over ``pairs``."""
    hs = {}
    for m, h in HANDLERS.items():
        hs[m] = h(with_dynamic=True, with_adaptive=True, with_binary=True, sample_based=True, **_kw(m))
        hs["ds_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=False, **_kw(m))
    ref = ps.FmeasureV2(metric_handlers=hs)
    for p, g in pairs:
        ref.step(p, g)
    r = ref.get_results()
    out = {}
    for m in METRICS:
        d, b = r[ALIASES.get(m, m)], ALIASES.get(m, m)
        out.update({f"v2_{m}_max": d["dynamic"].max(), f"v2_{m}_mean": d["dynamic"].mean(),
                    f"v2_{m}_adp": d["adaptive"], f"v2_{m}_bin": d["binary"],
                    f"v2_{m}_ds_bin": r["ds_" + b]["binary"], f"v2_{m}_curve": d["dynamic"]})
    pre, rec, fpr = (r[k]["dynamic"] for k in ("precision", "recall", "fpr"))
    out["v2_auc_pr"] = cal_auc(np.flip(pre), np.flip(rec))
    out["v2_auc_roc"] = cal_auc(np.flip(rec), np.flip(fpr))
    return out


def ref_si(pairs):
    """Every si key computed by PySODMetrics' SizeInvariance* classes over ``pairs``."""
    hs = {}
    for m, h in HANDLERS.items():
        hs["s_" + m] = h(with_dynamic=True, with_adaptive=True, **_kw(m))
        hs["sb_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=True, **_kw(m))
        hs["o_" + m] = h(with_dynamic=True, with_adaptive=False, sample_based=False, **_kw(m))
        hs["ob_" + m] = h(with_dynamic=False, with_adaptive=False, with_binary=True, sample_based=False, **_kw(m))
    fm, mae = ps.SizeInvarianceFmeasureV2(metric_handlers=hs), ps.SizeInvarianceMAE()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p, g in pairs:
            fm.step(p, g)
            mae.step(p, g)
    r = fm.get_results()
    out = {"si_mae": mae.get_results()["si_mae"]}
    for m in METRICS:
        b = ALIASES.get(m, m)
        dyn, od = r["s_" + b]["dynamic"], r["o_" + b]["dynamic"]
        out.update({f"si_{m}_max": np.mean([s.max(axis=-1).mean() for s in dyn]),
                    f"si_{m}_mean": np.mean([s.mean(axis=-1).mean() for s in dyn]),
                    f"si_{m}_adp": r["s_" + b]["adaptive"], f"si_{m}_bin": r["sb_" + b]["binary"],
                    f"si_{m}_curve": np.mean([s.mean(axis=0) for s in dyn], axis=0),
                    f"si_{m}_ds_curve": od, f"si_{m}_ds_max": od.max(), f"si_{m}_ds_mean": od.mean(),
                    f"si_{m}_ds_bin": r["ob_" + b]["binary"]})
    pre, rec, fpr = (r["s_" + k]["dynamic"] for k in ("precision", "recall", "fpr"))
    out["si_auc_pr"] = np.mean([cal_auc(np.flip(y, -1), np.flip(x, -1)).mean() for y, x in zip(pre, rec)])
    out["si_auc_roc"] = np.mean([cal_auc(np.flip(y, -1), np.flip(x, -1)).mean() for y, x in zip(rec, fpr)])
    pre, rec, fpr = (r["o_" + k]["dynamic"] for k in ("precision", "recall", "fpr"))
    out["si_ds_auc_pr"] = cal_auc(np.flip(pre), np.flip(rec))
    out["si_ds_auc_roc"] = cal_auc(np.flip(rec), np.flip(fpr))
    return out


def ref_msiou(pairs):
    """Every msiou key computed by PySODMetrics' MSIoU over ``pairs``."""
    ref = ps.MSIoU(with_dynamic=True, with_adaptive=True, with_binary=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for p, g in pairs:
            ref.step(p, g)
    r = ref.get_results()
    return {"msiou": r["binary"], "msiou_adp": r["adaptive"], "msiou_max": r["dynamic"].max(),
            "msiou_mean": r["dynamic"].mean(), "msiou_curve": r["dynamic"]}


REFS = {"fmv2": (FmeasureV2Family, ref_fmv2), "si": (SizeInvarianceFamily, ref_si),
        "msiou": (MSIoUFamily, ref_msiou)}


def run(family, pairs):
    """An Accumulator of ``family`` over ``pairs`` and the per-image scores."""
    acc = Accumulator(family)
    per_image = []
    for p, g in pairs:
        scores, contrib = family.image(image_input(p, g))
        per_image.append(scores)
        acc.add(contrib)
    return acc, per_image


def assert_parity(name, pairs):
    """Every key of family ``name`` over ``pairs`` within PARITY_TOL of the reference."""
    cls, ref = REFS[name]
    fam = cls()
    acc, _ = run(fam, pairs)
    got, exp = acc.compute(), ref(pairs)
    assert set(got) == set(fam.keys) | set(fam.curve_keys)
    assert set(exp) == set(got)
    for key, want in exp.items():
        g, w = np.asarray(got[key], np.float64), np.asarray(want, np.float64)
        assert g.shape == w.shape, key
        np.testing.assert_allclose(g, w, rtol=0, atol=PARITY_TOL, err_msg=key)


def random_pairs(seed, n=6, lo=8, hi=70):
    """Random maps (some with few levels) and box / speckle GTs (some grey)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(lo, hi, 2))
        p = rng.integers(0, 256, (h, w), dtype=np.uint8)
        if i % 3 == 1:
            p = (p // 85 * 85).astype(np.uint8)  # few levels: ties at the thresholds
        g = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            g[r0:r0 + int(rng.integers(1, h)), c0:c0 + int(rng.integers(1, w))] = 255
        if i % 2:
            g[rng.random((h, w)) < 0.05] = 200
        pairs.append((p, g))
    return pairs


def edge_pairs():
    """Empty GT, constant maps, one-pixel objects, many components, binary maps."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (32, 40), dtype=np.uint8)
    empty = np.zeros((32, 40), np.uint8)
    dots = empty.copy()
    dots[3, 5] = dots[20, 30] = dots[31, 0] = 255  # one-pixel objects
    many = empty.copy()
    for i in range(0, 32, 4):
        for j in range(0, 40, 8):
            many[i:i + 2, j:j + 3] = 255  # 40 small components, all of the largest area
    blocks = empty.copy()
    for i in range(0, 32, 11):
        for j in range(0, 40, 13):
            blocks[i:i + 8, j:j + 9] = 255  # 12 components of area 72
    return [(noise, empty), (np.full((32, 40), 9, np.uint8), empty), (np.zeros((32, 40), np.uint8), dots),
            (noise, dots), (noise, many), (np.full((32, 40), 200, np.uint8), blocks), (noise, blocks),
            (np.where(blocks > 0, 255, 0).astype(np.uint8), blocks)]


@pytest.mark.parametrize("name", ["fmv2", "si", "msiou"])
@pytest.mark.parametrize("seed", [0, 1])
def test_parity_random(name, seed):
    """Random pairs: every key matches the reference."""
    assert_parity(name, random_pairs(seed))


@pytest.mark.parametrize("name", ["fmv2", "si", "msiou"])
def test_parity_edge_cases(name):
    """Edge cases: every key matches the reference."""
    assert_parity(name, edge_pairs())


@pytest.mark.parametrize("name", ["fmv2", "msiou"])
def test_parity_full_gt(name):
    """An all-foreground GT among other images (defined for fmv2 and msiou)."""
    full = np.full((20, 30), 255, np.uint8)
    assert_parity(name, [(np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8), full)]
                  + edge_pairs()[:3])


def test_si_full_gt_is_undefined():
    """The reference raises on an all-foreground GT; the family gives NaN
    scores, no contribution, and the other images' values unchanged."""
    full = np.full((20, 30), 255, np.uint8)
    pred = np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8)
    with pytest.raises(AssertionError):
        ps.SizeInvarianceMAE().step(pred, full)
    fam = SizeInvarianceFamily()
    scores, contrib = fam.image(image_input(pred, full))
    assert contrib == {} and all(np.isnan(v) for v in scores.values())
    rest = edge_pairs()[:4]
    acc, _ = run(fam, [(pred, full)] + rest)
    got, exp = acc.compute(), ref_si(rest)
    for key in fam.keys:
        np.testing.assert_allclose(got[key], exp[key], rtol=0, atol=PARITY_TOL, err_msg=key)


def test_si_mae_nan_when_boxes_cover_image():
    """A diagonal object's box covers the image: the reference's si_mae is
    NaN for the image and for the dataset; so is ours."""
    g = np.zeros((20, 20), np.uint8)
    for i in range(20):
        g[i, max(0, i - 3):i + 1] = 255
    pred = np.random.default_rng(4).integers(0, 256, (20, 20), dtype=np.uint8)
    scores, contrib = SizeInvarianceFamily().image(image_input(pred, g))
    assert np.isnan(scores["si_mae"]) and "si_mae" not in contrib
    assert_parity("si", [(pred, g)] + edge_pairs()[:2])


def test_si_adaptive_ties():
    """The target's adaptive threshold lands on a map value (constant map,
    box = half the image) or is 0 (map 0 in the box): the reference's own
    float decides the ties, and the pixels outside the box count at 0."""
    g = np.zeros((20, 30), np.uint8)
    g[:, :15] = 255
    g[5, 5] = 0
    const = np.full((20, 30), 100, np.uint8)
    zero_box = np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)
    zero_box[:, :15] = 0
    assert_parity("si", [(const, g), (zero_box, g)])


def test_msiou_float16_gt_sum():
    """7328 GT-edge pixels: the reference's float16 ``|G| + 1`` rounds to
    7328, which the family reproduces."""
    rng = np.random.default_rng(0)
    g = (rng.random((90, 90)) < 0.5).astype(np.uint8) * 255
    assert_parity("msiou", [(rng.integers(0, 256, (90, 90), dtype=np.uint8), g)])


def test_si_61_targets_float_encoding():
    """61 targets, the first (a frame) boxing the whole image: where a box of
    bit >= 53 overlaps it, the reference's float64 encoding drops the frame's
    bit; the family rebuilds that mask and matches."""
    g = np.zeros((90, 100), np.uint8)
    g[0, :] = 255
    g[:, 0] = 255
    k = 0
    for i in range(3, 90, 11):
        for j in range(3, 100, 11):
            if k < 60:
                g[i:i + 8, j:j + 8] = 255
                k += 1
    pred = np.random.default_rng(0).integers(0, 256, g.shape, dtype=np.uint8)
    assert_parity("si", [(pred, g)])


def test_si_64_targets_beyond_reference():
    """With 64 or more targets the reference overflows its bit encoding
    (OverflowError); the family still scores every target by its box."""
    g = np.zeros((40, 40), np.uint8)
    for i in range(0, 40, 5):
        for j in range(0, 40, 5):
            g[i:i + 2, j:j + 2] = 255  # 64 components of area 4
    pred = np.random.default_rng(8).integers(0, 256, (40, 40), dtype=np.uint8)
    with pytest.raises(OverflowError):
        ps.SizeInvarianceMAE().step(pred, g)
    scores, contrib = SizeInvarianceFamily().image(image_input(pred, g))
    assert int(contrib["si_targets"][0]) == 64 and all(np.isfinite(v) for v in scores.values())


def test_si_mae_value_without_nan():
    """A finite si_mae matches the reference."""
    pairs = [p for p in edge_pairs() if p[1].any()] + random_pairs(5, n=3)
    exp = ref_si(pairs)["si_mae"]
    assert np.isfinite(exp)
    acc, _ = run(SizeInvarianceFamily(), pairs)
    assert abs(acc.compute()["si_mae"] - exp) <= PARITY_TOL


@pytest.mark.parametrize("name", ["fmv2", "si", "msiou"])
def test_per_image_scores(name):
    """Per-image scores equal the reference run on that image alone (for
    the keys whose dataset value is the mean of per-image values)."""
    cls, ref = REFS[name]
    fam = cls()
    for p, g in random_pairs(11, n=3):
        scores, _ = fam.image(image_input(p, g))
        exp = ref([(p, g)])
        assert set(scores) == set(fam.image_keys)
        for key, v in scores.items():
            assert abs(v - exp[key]) <= PARITY_TOL or (np.isnan(v) and np.isnan(exp[key])), key


@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_parity_hypothesis(data):
    """Small generated pairs with values at the thresholds: all three families match."""
    h = data.draw(st.integers(3, 14))
    w = data.draw(st.integers(3, 14))
    pred = data.draw(hnp.arrays(np.uint8, (h, w), elements=st.sampled_from([0, 1, 64, 127, 128, 200, 255])))
    gt = data.draw(hnp.arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 129, 255])))
    pairs = [(pred, gt), (255 - pred, gt)]
    assert_parity("fmv2", pairs)
    assert_parity("msiou", pairs)
    if (gt > 128).all():
        assert all(np.isnan(v) for v in SizeInvarianceFamily().image(image_input(pred, gt))[0].values())
    else:
        assert_parity("si", pairs)


def _shared():
    """The shared data root, or skip."""
    root = os.environ.get("SALBENCH_SHARED_DATA")
    if not root or not (Path(root) / "maps" / "SOD").is_dir():
        pytest.skip("SALBENCH_SHARED_DATA with SOD maps not available")
    return Path(root)


def sod_pairs(n, methods=("DSS", "RBD", "Amulet", "GS")):
    """The first ``n`` (map, GT) pairs of SOD, cycling over ``methods``."""
    from PIL import Image

    root = _shared()
    ids = sorted(f.stem for f in (root / "SOD" / "gt").glob("*.png"))
    out = []
    for k, i in enumerate(ids[:n]):
        m = methods[k % len(methods)]
        p = np.asarray(Image.open(root / "maps" / "SOD" / m / f"{i}.png").convert("L"))
        g = np.asarray(Image.open(root / "SOD" / "gt" / f"{i}.png").convert("L"))
        out.append((p, g))
    return out


@pytest.mark.parametrize("name", ["fmv2", "si"])
def test_parity_real_sod(name):
    """20 published SOD maps (DSS, RBD, Amulet, GS) against their GT."""
    pairs = sod_pairs(20)
    pairs = [pg for pg in pairs if not (pg[1] > 128).all()]
    assert_parity(name, pairs)


def test_parity_real_sod_msiou():
    """3 published SOD maps (the reference MSIoU takes seconds per image)."""
    assert_parity("msiou", sod_pairs(3))


@pytest.mark.parametrize("name", ["fmv2", "si", "msiou"])
def test_merge_and_state_round_trip(name):
    """Two merged shards and a JSON state round trip equal one pass bit for bit."""
    cls, _ = REFS[name]
    pairs = random_pairs(21, n=5) + edge_pairs()[:3]
    one, _ = run(cls(), pairs)
    a, _ = run(cls(), pairs[:3])
    b, _ = run(cls(), pairs[3:])
    a.merge(b)
    c = Accumulator(cls())
    c.load_state_dict(json.loads(json.dumps(one.state_dict())))
    ref = one.compute()
    for other in (a.compute(), c.compute()):
        for key, v in ref.items():
            assert np.array_equal(np.asarray(v), np.asarray(other[key]), equal_nan=True), key


def test_label4_matches_skimage():
    """Components, areas and boxes in skimage's regionprops order (the
    reference's target order)."""
    from skimage import measure

    from salbench.metrics.kernels.components import label4

    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = rng.random((h, w)) < rng.random()
        n, area, r0, r1, c0, c1 = label4(m)
        ref = [(p.area,) + tuple(p.bbox) for p in measure.regionprops(measure.label(m, connectivity=1))]
        mine = [(area[k], r0[k], c0[k], r1[k], c1[k]) for k in range(n)]
        assert [tuple(int(v) for v in t) for t in mine] == [tuple(int(v) for v in t) for t in ref]


@pytest.mark.parametrize("name", ["fmv2", "si", "msiou"])
def test_specs_cover_keys(name):
    """One complete MetricSpec per key, flags consistent with the key lists."""
    fam = REFS[name][0]()
    specs = fam.specs()
    assert [s.key for s in specs if not s.curve] == list(fam.keys)
    assert [s.key for s in specs if s.curve] == list(fam.curve_keys)
    assert {s.key for s in specs if s.per_image} == set(fam.image_keys)
    assert all(s.family == fam.name and s.definition and s.header_md and s.header_tex for s in specs)
