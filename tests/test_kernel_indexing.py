"""Regression: the histogram kernels index only occupied levels.

A map whose values span a narrow range (min > 0, max < 255) gives, under the
per-image min-max of the ``pysodmetrics`` protocol, quantised levels outside
0..255 for the *unoccupied* raw levels. The compiled kernels do not check
bounds, so using those as indices wrote outside the histogram (a silent
read-modify-write that crashed a run now and then). Running the kernels as
plain Python (``NUMBA_DISABLE_JIT=1``) turns any such access into an
``IndexError``; the scores must also equal the compiled ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np


#: the scores, as source: run once as plain Python in a child and once compiled here
SCORES = r"""
def scores():
    import numpy as np
    from salbench.metrics import Evaluator
    rng = np.random.default_rng(7)
    out = {}
    for proto in ("pysodmetrics", "r3net"):
        ev = Evaluator(proto)
        for lo, hi in ((100, 150), (0, 40), (230, 255), (128, 128)):
            pred = rng.integers(lo, hi + 1, size=(17, 23)).astype(np.uint8)
            gt = np.zeros((17, 23), np.uint8)
            gt[4:12, 6:15] = 255
            ev.update(pred, gt)
        r = ev.compute()
        out[proto] = [r["mae"], r["max_f"], r["mean_f"], r["adp_f"], r["max_e"], r["s_measure"], r["weighted_f"]]
    return out
"""
SCRIPT = SCORES + "\nimport json\nprint(json.dumps(scores()))\n"


def _scores_in_process() -> dict:
    namespace: dict = {}
    exec(SCORES, namespace)
    return namespace["scores"]()


def test_narrow_range_maps_index_only_valid_levels():
    # SALBENCH_KERNELS=jit: the numba functions (here run as Python), not the AOT build
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "SALBENCH_KERNELS": "jit"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    interpreted = json.loads(r.stdout.strip().splitlines()[-1])
    compiled = _scores_in_process()
    for proto in compiled:
        assert np.allclose(interpreted[proto], compiled[proto], rtol=0, atol=1e-12), proto
