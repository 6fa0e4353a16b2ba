"""The dense CRF against a direct pydensecrf call written out here, on a real SOD
image and a real published saliency map."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from PIL import Image

from salbench.nn.crf import crf_unary, dense_crf
from salbench.errors import SalbenchError

from naive import direct_crf

pytest.importorskip("pydensecrf.densecrf")


def _pair(shared_data, stem: str, method: str = "DSS"):
    img = np.asarray(Image.open(shared_data / "SOD" / "images" / f"{stem}.jpg").convert("RGB"))
    smap = np.asarray(Image.open(shared_data / "maps" / "SOD" / method / f"{stem}.png").convert("L"))
    assert img.shape[:2] == smap.shape
    return np.array(img, order="C"), np.array(smap, order="C")


def _stems(shared_data, n=2):
    return sorted(p.stem for p in (shared_data / "maps" / "SOD" / "DSS").glob("*.png"))[:n]


@pytest.mark.realdata
def test_crf_matches_direct_pydensecrf_on_real_data(shared_data):
    for stem, method in zip(_stems(shared_data), ("DSS", "Amulet")):
        img, smap = _pair(shared_data, stem, method)
        out = dense_crf(img, smap)
        ref = direct_crf(img, smap)
        assert out.dtype == np.uint8 and out.shape == smap.shape
        np.testing.assert_array_equal(out, ref)
        ro = img.copy()
        ro.setflags(write=False)  # e.g. np.asarray of a PIL image
        np.testing.assert_array_equal(dense_crf(ro, smap), ref)
        # the CRF really changes the map, and keeps it a saliency map
        assert np.any(out != smap)
        assert np.corrcoef(out.ravel().astype(float), smap.ravel().astype(float))[0, 1] > 0.8


@pytest.mark.realdata
def test_crf_in_process_pool(shared_data):
    img, smap = _pair(shared_data, _stems(shared_data, 1)[0])
    pickle.dumps(dense_crf)
    with ProcessPoolExecutor(max_workers=1) as ex:
        out = ex.submit(dense_crf, img, smap).result(timeout=120)
    np.testing.assert_array_equal(out, dense_crf(img, smap))


def test_unary_formula_endpoints():
    u = crf_unary(np.array([[0, 255]], dtype=np.uint8))
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # a = 0: background energy -log(1 + eps)/(τσ(1)) ≈ 0, salient energy -log(eps)/(τσ(0)) large
    assert u.dtype == np.float32 and u.shape == (2, 2)
    assert abs(u[0, 0]) < 1e-6
    assert u[1, 0] == pytest.approx(-np.log(1e-8) / (1.05 * 0.5), rel=1e-6)
    assert u[0, 1] == pytest.approx(-np.log(1e-8) / (1.05 * sig(0.0)), rel=1e-6)


def test_crf_rejects_bad_input():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(SalbenchError, match="matching the image"):
        dense_crf(img, np.zeros((8, 9), np.uint8))
    with pytest.raises(SalbenchError, match="uint8"):
        dense_crf(img.astype(np.float32), np.zeros((8, 8), np.uint8))
