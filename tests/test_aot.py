"""The ahead-of-time build of the 8-bit kernels (numba.pycc) against the JIT build.

One test compiles the extension into a temporary folder with ``python -m
salbench.metrics.kernels.aot_build`` (what ``pip install`` does through ``setup.py``), loads it
from there and requires every score and curve of both builds to agree, on
random pairs of every protocol and on the SOD maps; it also checks that the
compiled functions release the GIL (the evaluator runs pairs in threads). Other
tests cover the choice of build (stale sources, another CPU, the environment
variable) and that an installed, current module keeps numba out of ``salbench
eval`` altogether."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from salbench.metrics.kernels import build as FP
from salbench.metrics import image_stats
from salbench.metrics.protocols import PROTOCOLS

from conftest import shared_data_root


def _load_built(folder: Path):
    path = next(folder.glob(f"{FP.AOT_MODULE}*.so"), None) or next(folder.glob(f"{FP.AOT_MODULE}*.pyd"))
    spec = importlib.util.spec_from_file_location(f"salbench.{FP.AOT_MODULE}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The extension compiled from this checkout into a temporary folder."""
    out = tmp_path_factory.mktemp("aot")
    r = subprocess.run([sys.executable, "-m", "salbench.metrics.kernels.aot_build", "--output-dir", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    mod = _load_built(out)
    return mod, FP.Kernels("aot", "", {name: getattr(mod, name) for name in FP.KERNELS})


def _pairs():
    rng = np.random.default_rng(11)
    for h, w in ((1, 1), (3, 5), (17, 23), (60, 80), (121, 97)):
        gt = np.zeros((h, w), np.uint8)
        gt[h // 4: 3 * h // 4 + 1, w // 3: 2 * w // 3 + 1] = 255
        yield (rng.random((h, w)) * 255).astype(np.uint8), gt
        yield rng.integers(90, 140, (h, w)).astype(np.uint8), gt  # narrow range (min-max)
        yield np.full((h, w), 77, np.uint8), gt  # constant map (constant quadrants)
        yield (rng.random((h, w)) * 255).astype(np.uint8), np.zeros((h, w), np.uint8)  # empty GT
        yield (rng.random((h, w)) * 255).astype(np.uint8), np.full((h, w), 255, np.uint8)
    root = shared_data_root()
    if root is not None:
        from salbench.data.imageio import read_gt, read_map

        gts = sorted((root / "SOD" / "gt").glob("*.png"))[:40]
        for g in gts:
            yield read_map(root / "maps" / "SOD" / "DSS" / g.name), read_gt(g)


def _stats(kern, pred, gt, proto):
    prev = FP.use(kern)
    try:
        return image_stats(pred, gt, proto)
    finally:
        FP.use(prev)


@pytest.mark.slow
def test_built_module_equals_jit(built):
    mod, aot = built
    assert int(mod.source_hash()) == FP.source_hash() and int(mod.cpu_tag()) == FP.cpu_tag()
    jit = FP.jit_kernels()
    n = 0
    for pred, gt in _pairs():
        for proto in PROTOCOLS:
            a, b = _stats(aot, pred, gt, proto), _stats(jit, pred, gt, proto)
            for key, va in a.scores().items():
                vb = b.scores()[key]
                assert (va is None) == (vb is None), key
                if va is not None:
                    # same code; LLVM may vectorise a fastmath sum differently: ~1e-16
                    assert abs(va - vb) <= 1e-12, (key, proto, pred.shape, va, vb)
            np.testing.assert_allclose(a.curves, b.curves, rtol=0, atol=1e-12)
            n += 1
    assert n >= 25 * len(PROTOCOLS)


@pytest.mark.slow
def test_built_module_releases_the_gil(built):
    _, aot = built
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 256, (1500, 1500)).astype(np.uint8)
    gt = np.zeros_like(pred)
    gt[400:1100, 300:1200] = 255
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        before = count[0]
        _stats(aot, pred, gt, "pysodmetrics")  # tens of ms inside the compiled kernels
        during = count[0] - before
    finally:
        stop.set()
        th.join()
    # with the GIL held for the whole call the other thread could not count at all
    # while the kernels run; released, it counts on the other core (or between
    # switch intervals) many thousand times
    assert during > 1000, during


def test_stale_or_foreign_module_falls_back_to_jit(monkeypatch):
    monkeypatch.setattr(FP, "source_hash", lambda: -1)
    kern = FP.load("auto")
    assert kern.backend == "jit" and ("older than the sources" in kern.note or "not built" in kern.note)
    with pytest.raises(RuntimeError, match="SALBENCH_KERNELS=aot"):
        FP.load("aot")
    assert FP.load("jit").backend == "jit"
    with pytest.raises(ValueError, match="auto, aot or jit"):
        FP.load("fast")


def test_cpu_tag_is_stable():
    assert FP.cpu_tag() == FP.cpu_tag()
    assert FP.cpu_tag() >= 0


_INSTALLED = FP._aot_kernels()[0] is not None


@pytest.mark.skipif(not _INSTALLED, reason="no current salbench.metrics.kernels._aot installed (pip install builds it)")
def test_installed_module_keeps_numba_out_of_eval(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    import cv2

    rng = np.random.default_rng(5)
    for i in range(3):
        g = np.zeros((40, 60), np.uint8)
        g[10:30, 20:45] = 255
        cv2.imwrite(str(gt / f"im{i}.png"), g)
        cv2.imwrite(str(pred / f"im{i}.png"), (rng.random((40, 60)) * 255).astype(np.uint8))
    code = ("import sys, json; from salbench.cli import main; "
            f"sys.argv = ['salbench', 'eval', '--pred', {str(pred)!r}, '--gt', {str(gt)!r}, "
            f"'--json', {str(tmp_path / 'r.json')!r}, '--workers', '2']; rc = main(); "
            "print(json.dumps({'rc': rc, 'numba': 'numba' in sys.modules}))")
    env = {k: v for k, v in os.environ.items() if k != FP.ENV_VAR}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"rc": 0, "numba": False}
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["count"] == 3 and 0.0 <= res["weighted_f"] <= 1.0 and res["kernels"] == "aot"
