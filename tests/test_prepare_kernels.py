"""First run on a cold numba cache: the weighted-F kernel compiles in a child
process while the parent compiles the histogram kernels; both land in the cache.

Run in a child with an empty ``NUMBA_CACHE_DIR`` (the repository's cache is not
touched): the first ``prepare_kernels`` reports the parallel compile, a second
process finds every kernel cached, and the scores equal those of this (warm)
process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from salbench.metrics import Evaluator

SCRIPT = r"""
import json
import numpy as np
from salbench.metrics import Evaluator, kernels_cached, prepare_kernels
cached_before = kernels_cached(True)
done = prepare_kernels(True)
assert kernels_cached(True)
rng = np.random.default_rng(4)
pred = (rng.random((40, 50)) * 255).astype(np.uint8)
gt = np.zeros((40, 50), np.uint8); gt[10:30, 15:40] = 255
ev = Evaluator("pysodmetrics"); ev.update(pred, gt)
r = ev.compute()
print(json.dumps({"cached_before": cached_before, "done": done,
                  "scores": [r["s_measure"], r["weighted_f"], r["max_f"], r["mae"]]}))
"""


def _child(cache_dir) -> dict:
    # the JIT build, whatever is installed (the AOT build compiles nothing at run time)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "SALBENCH_KERNELS": "jit"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_cold_cache_compiles_in_two_processes_then_loads(tmp_path):
    cold = _child(tmp_path / "numba")
    assert cold["cached_before"] is False and cold["done"] == {"backend": "jit", "parallel_compile": True}
    assert any((tmp_path / "numba").rglob("*_weighted_f_kernel*.nbi"))  # written by the child
    warm = _child(tmp_path / "numba")
    assert warm["cached_before"] is True and warm["done"] == {"backend": "jit", "parallel_compile": False}
    rng = np.random.default_rng(4)
    pred = (rng.random((40, 50)) * 255).astype(np.uint8)
    gt = np.zeros((40, 50), np.uint8)
    gt[10:30, 15:40] = 255
    ev = Evaluator("pysodmetrics")
    ev.update(pred, gt)
    r = ev.compute()
    want = [r["s_measure"], r["weighted_f"], r["max_f"], r["mae"]]
    assert cold["scores"] == want and warm["scores"] == want
