"""Protocols: the ``r3net`` protocol against a plain NumPy transcription of the
evaluation in R3Net's ``misc.py`` / ``infer.py`` (zijundeng/R3Net, itself Hou
et al. 2017's code), the registry of protocols, and what results record."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from salbench.metrics import numeric
from salbench.errors import SalbenchError
from salbench.metrics import Evaluator
from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

TOL = numeric.PARITY_TOL


# --- reference: what R3Net's evaluation does, step by step -------------------

def r3net_pr_mae(prediction: np.ndarray, gt: np.ndarray):
    """One image, uint8 map and uint8 GT (written from the description of
    ``cal_precision_recall_mae``: /255, hard GT at > 0.5, thresholds t/255
    with ``>``, eps 1e-4 on both terms of P and R, MAE on the soft GT)."""
    assert prediction.dtype == np.uint8 and gt.dtype == np.uint8
    eps = 1e-4
    pred = prediction / 255.0
    soft = gt / 255.0
    mae = np.mean(np.abs(pred - soft))
    hard_gt = (soft > 0.5).astype(np.float64)
    n_gt = hard_gt.sum()
    precision, recall = [], []
    for thr in range(256):
        binary = (pred > thr / 255.0).astype(np.float64)
        tp = (binary * hard_gt).sum()
        n_pred = binary.sum()
        precision.append((tp + eps) / (n_pred + eps))
        recall.append((tp + eps) / (n_gt + eps))
    return precision, recall, mae


def r3net_dataset(pairs):
    """``infer.py``: running means of each threshold's P and R and of the MAE
    (``AvgMeter``), then F (β² = 0.3) of the averaged curves, max over t."""
    p_sum = [0.0] * 256
    r_sum = [0.0] * 256
    mae_sum = 0.0
    for pred, gt in pairs:
        p, r, m = r3net_pr_mae(pred, gt)
        for i in range(256):
            p_sum[i] += p[i]
            r_sum[i] += r[i]
        mae_sum += m
    n = len(pairs)
    p_avg = [s / n for s in p_sum]
    r_avg = [s / n for s in r_sum]
    f = [(1 + 0.3) * p * r / (0.3 * p + r) for p, r in zip(p_avg, r_avg)]
    return {"max_f": max(f), "mae": mae_sum / n, "precision": p_avg, "recall": r_avg, "f": f}


def _pairs(rng, n=8):
    out = []
    for i in range(n):
        h, w = rng.integers(5, 60, size=2)
        gt = (rng.random((h, w)) * 256).astype(np.uint8)  # grey GT: soft MAE differs from hard
        if i % 3 == 0:
            gt = np.where(gt > 100, 255, 0).astype(np.uint8)
        pred = np.clip(gt * 0.7 + rng.random((h, w)) * 90, 0, 255).astype(np.uint8)
        out.append((pred, gt))
    h, w = 16, 16
    out += [
        (np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)),        # empty GT, empty map
        ((rng.random((h, w)) * 255).astype(np.uint8), np.zeros((h, w), np.uint8)),  # empty GT: R up to tp/1e-4
        (np.full((h, w), 255, np.uint8), np.full((h, w), 255, np.uint8)),
        (np.full((h, w), 127, np.uint8), np.full((h, w), 128, np.uint8)),  # 128 is foreground here
    ]
    return out


def assert_r3net_parity(pairs):
    ev = Evaluator("r3net", structural=False)
    for p, g in pairs:
        ev.update(p, g)
    got = ev.compute()
    want = r3net_dataset(pairs)
    assert got["protocol"] == "r3net"
    assert got["max_f"] == pytest.approx(want["max_f"], abs=TOL, rel=1e-12)
    assert got["mae"] == pytest.approx(want["mae"], abs=TOL, rel=0)
    np.testing.assert_allclose(got["precision"], want["precision"], rtol=1e-12, atol=TOL)
    np.testing.assert_allclose(got["recall"], want["recall"], rtol=1e-12, atol=TOL)
    np.testing.assert_allclose(got["f_curve"], want["f"], rtol=1e-12, atol=TOL)
    return got


def test_r3net_protocol_matches_reference_transcription():
    assert_r3net_parity(_pairs(np.random.default_rng(0)))


def test_r3net_per_image_curves_and_float_input():
    rng = np.random.default_rng(1)
    for pred, gt in _pairs(rng, 4):
        p, r, m = r3net_pr_mae(pred, gt)
        import salbench.metrics as metrics

        f = metrics.fmeasure(pred, gt, protocol="r3net")
        np.testing.assert_allclose(f["precision"], p, rtol=1e-12, atol=TOL)
        np.testing.assert_allclose(f["recall"], r, rtol=1e-12, atol=TOL)
        assert metrics.mae(pred, gt, protocol="r3net") == pytest.approx(m, abs=TOL)
        # a float map equal to v/255 is the same map; a float soft GT too
        f2 = metrics.fmeasure(pred / 255.0, gt / 255.0, protocol="r3net")
        np.testing.assert_allclose(f2["precision"], p, rtol=1e-12, atol=TOL)
        assert metrics.mae(pred / 255.0, gt / 255.0, protocol="r3net") == pytest.approx(m, abs=TOL)


@pytest.mark.realdata
def test_r3net_on_published_sod_maps(shared_data):
    """First 40 SOD images, DSS maps, read as R3Net's infer.py reads them."""
    from salbench.data.imageio import read_gt, read_map

    gts = sorted((shared_data / "SOD" / "gt").glob("*.png"))[:40]
    pairs = []
    for gp in gts:
        pp = shared_data / "maps" / "SOD" / "DSS" / gp.name
        pred, gt = read_map(pp, "pil"), read_gt(gp, "pil")
        np.testing.assert_array_equal(gt, np.array(Image.open(gp).convert("L")))
        pairs.append((pred, gt))
    got = assert_r3net_parity(pairs)
    assert 0.7 < got["max_f"] < 1.0


def test_protocols_differ_where_conventions_differ():
    rng = np.random.default_rng(2)
    pairs = _pairs(rng, 6)
    a = Evaluator("pysodmetrics", structural=False)
    b = Evaluator("r3net", structural=False)
    for p, g in pairs:
        a.update(p, g)
        b.update(p, g)
    ra, rb = a.compute(), b.compute()
    assert ra["max_f"] != rb["max_f"] and ra["mae"] != rb["mae"]
    assert ra["protocol_details"]["threshold_cmp"] == ">=" and rb["protocol_details"]["threshold_cmp"] == ">"


def test_registry_and_unknown_protocol():
    assert DEFAULT_PROTOCOL == "pysodmetrics"
    assert set(PROTOCOLS) >= {"pysodmetrics", "r3net"}
    assert get_protocol("r3net") is PROTOCOLS["r3net"]
    with pytest.raises(SalbenchError, match="pysodmetrics.*r3net"):
        get_protocol("matlab")
    for p in PROTOCOLS.values():
        d = p.to_dict()
        assert d["name"] == p.name and "reference" in d and d["n_thresholds"] == 256


def test_new_protocol_is_a_local_change():
    """A variant is one dataclass: PySODMetrics' maps without min-max
    normalisation."""
    import dataclasses

    raw = dataclasses.replace(PROTOCOLS["pysodmetrics"], name="pysod-raw", minmax=False)
    pred = np.full((6, 6), 100, np.uint8)
    pred[0, 0] = 50
    gt = np.zeros((6, 6), np.uint8)
    gt[:3] = 255
    a = Evaluator("pysodmetrics", structural=False)
    b = Evaluator(raw, structural=False)
    assert a.update(pred, gt)["mae"] != b.update(pred, gt)["mae"]
    assert b.compute()["protocol"] == "pysod-raw"
    assert isinstance(raw, Protocol)
