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

from helpers import assert_parity, random_pair
from naive import r3net_dataset, r3net_pr_mae

TOL = numeric.PARITY_TOL


# the reference, what R3Net's evaluation does step by step: naive.r3net_pr_mae / r3net_dataset

def _pairs(rng, n=8):
    out = []
    for i in range(n):
        h, w = rng.integers(5, 60, size=2)
        # grey GT (soft MAE differs from hard), every third binarised
        out.append(random_pair(rng, h, w, "hard-grey-gt" if i % 3 == 0 else "grey-gt"))
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
    assert_parity(got["max_f"], want["max_f"], TOL, rel=1e-12, what="max_f")
    assert_parity(got["mae"], want["mae"], TOL, what="mae")
    assert_parity({"precision": got["precision"], "recall": got["recall"], "f": got["f_curve"]},
                  {k: want[k] for k in ("precision", "recall", "f")}, TOL, rel=1e-12)
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
