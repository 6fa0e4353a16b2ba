"""One pass over many map sets and both protocols: the same numbers as
evaluating each set and protocol on its own, bit for bit; files decoded once
where the two protocols' readers agree."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from salbench.data.imageio import read_map
from salbench.metrics import Evaluator
from salbench.run.engine import decode_for_readers, evaluate_sets
from salbench.metrics.protocols import get_protocol


def evaluate_pairs(pairs, proto, workers=1, on_image=None):
    """The reference: each pair read by the protocol's own reader, one at a time,
    through Evaluator.update (no threads, no shared decoding)."""
    import cv2
    p = get_protocol(proto)
    ev = Evaluator(p)
    resized = []
    for name, mp, gp in pairs:
        pred, gt = read_map(mp, p.reader), read_map(gp, p.reader)
        if pred.shape != gt.shape:
            pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
            resized.append(name)
        scores = ev.update(pred, gt)
        if on_image is not None:
            on_image(name, dict(scores))
    out = ev.compute()
    out["resized"] = {"count": len(resized), "names": resized,
                      "method": "map resized to GT size, bilinear (cv2.INTER_LINEAR)"}
    return out

PROTOCOLS = ("pysodmetrics", "r3net")


def _same(a: dict, b: dict) -> None:
    for k, v in a.items():
        assert b[k] == v, k


@pytest.mark.slow
@pytest.mark.realdata
def test_shared_decode_equals_each_reader_on_all_real_files(shared_data):
    files = sorted((shared_data / "SOD" / "gt").glob("*.png"))
    files += sorted((shared_data / "PASCAL-S" / "gt").glob("*.png"))[:200]
    files += sorted((shared_data / "maps" / "SOD").glob("*/*.png"))
    for p in files:
        got = decode_for_readers(p, ["cv2", "pil"])
        for r in ("cv2", "pil"):
            np.testing.assert_array_equal(got[r], read_map(p, r), err_msg=str(p))


@pytest.mark.realdata
def test_sets_and_protocols_in_one_pass_equal_separate_passes(shared_data):
    gt_dir = shared_data / "SOD" / "gt"
    names = sorted(p.stem for p in gt_dir.glob("*.png"))[:40]
    gt = [(n, gt_dir / f"{n}.png") for n in names]
    sets = {m: {n: shared_data / "maps" / "SOD" / m / f"{n}.png" for n in names}
            for m in ("DSS", "Amulet", "RBD")}
    del sets["RBD"][names[3]]  # a set may lack a map
    rows = {}
    out = evaluate_sets(gt, sets, PROTOCOLS, workers=2,
                        on_image=lambda lab, pr, n, s: rows.setdefault((lab, pr), {}).__setitem__(n, s))
    for lab, maps in sets.items():
        for proto in PROTOCOLS:
            ref_rows = {}
            ref = evaluate_pairs([(n, maps[n], gt_dir / f"{n}.png") for n in names if n in maps], proto,
                                 workers=2, on_image=lambda n, s: ref_rows.__setitem__(n, dict(s)))
            _same(ref, out[lab][proto])
            assert rows[(lab, proto)] == ref_rows
    assert out["RBD"]["r3net"]["count"] == 39


def test_unreadable_files_and_sizes_are_per_set(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "gt").mkdir()
    for s in ("a", "b"):
        (tmp_path / s).mkdir()
    names = [f"i{k}" for k in range(4)]
    for n in names:
        Image.fromarray((rng.random((20, 30)) > 0.5).astype(np.uint8) * 255).save(tmp_path / "gt" / f"{n}.png")
        Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(tmp_path / "a" / f"{n}.png")
        Image.fromarray(rng.integers(0, 256, (10, 15, 3), dtype=np.uint8)).save(tmp_path / "b" / f"{n}.png")
    (tmp_path / "a" / "i1.png").write_bytes(b"not a png")
    gt = [(n, tmp_path / "gt" / f"{n}.png") for n in names]
    sets = {s: {n: tmp_path / s / f"{n}.png" for n in names} for s in ("a", "b")}
    out = evaluate_sets(gt, sets, PROTOCOLS, workers=1)
    assert out["a"]["pysodmetrics"]["count"] == 3
    assert [u["name"] for u in out["a"]["r3net"]["unreadable"]] == ["i1"]
    assert out["b"]["r3net"]["count"] == 4 and out["b"]["r3net"]["resized"]["count"] == 4
    # the RGB maps of set b are decoded by each protocol's own reader
    for proto in PROTOCOLS:
        ref = evaluate_pairs([(n, sets["b"][n], gt[i][1]) for i, n in enumerate(names)], proto, workers=1)
        _same(ref, out["b"][proto])


@pytest.mark.realdata
def test_weighted_f_shared_between_protocols_is_bit_identical(shared_data):
    """Where both protocols give the weighted F the same map values and the same
    binary GT, it is computed once; every field stays bit-identical to
    computing each protocol alone."""
    from salbench.metrics import image_stats
    shared = 0
    for m in ("DSS", "RBD"):
        for p in sorted((shared_data / "maps" / "SOD" / m).glob("*.png"))[:60]:
            pred = read_map(p, "cv2")
            gt = read_map(shared_data / "SOD" / "gt" / p.name, "cv2")
            share: list = []
            for proto in PROTOCOLS:
                a = image_stats(pred, gt, proto, share=share)
                b = image_stats(pred, gt, proto)
                np.testing.assert_array_equal(a.curves, b.curves)
                assert (a.mae, a.adp_f, a.adp_e, a.s_measure, a.weighted_f) == \
                       (b.mae, b.adp_f, b.adp_e, b.s_measure, b.weighted_f)
            shared += len(share) == 1
    assert shared > 0  # the published maps span 0..255: the r3net protocol reuses the value
