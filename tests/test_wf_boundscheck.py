"""The weighted-F and S-measure kernels with numba's bounds checking on.

The compiled kernels index without checks (``near`` is padded with sentinel
columns so that the 9-column search and the sliding window never test bounds).
Compiled again with ``NUMBA_BOUNDSCHECK=1`` in a child process, any index
outside an array raises ``IndexError`` instead of reading or writing
neighbouring memory; the values must equal those of the unchecked kernels (up to summation order).
Shapes cover 1-pixel and 1-row images, foreground on every border, thin lines,
dense noise (every row takes the Voronoi path) and clean maps (the local
searches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import json
import numpy as np
from salbench.metrics.kernels import structure as ks

def cases():
    rng = np.random.default_rng(3)
    for h, w in ((1, 1), (1, 9), (9, 1), (2, 3), (7, 7), (13, 40), (40, 13), (64, 90)):
        yield rng.random((h, w)), rng.random((h, w)) > 0.7
        g = np.zeros((h, w), bool)
        g[0, 0] = g[-1, -1] = True
        yield rng.random((h, w)) * (rng.random((h, w)) > 0.8), g
    h, w = 50, 70
    yy, xx = np.mgrid[:h, :w]
    blob = (yy - 25) ** 2 + (xx - 35) ** 2 < 100
    smooth = np.clip(1.2 - np.sqrt((yy - 25) ** 2 + (xx - 35) ** 2) / 12, 0, 1)
    yield smooth, blob
    far = smooth.copy()
    far[0, :5] = far[-1, -5:] = 0.3  # non-zero pixels far from the foreground
    yield far, blob
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1], np.s_[::7, 3]):
        g = np.zeros((h, w), bool)
        g[edge] = True
        yield rng.random((h, w)), g
        yield smooth, g

out = []
for p, g in cases():
    out.append([ks.weighted_f(p, g), ks.s_measure(p, g)])
    u8 = (p * 255).astype(np.uint8)
    val = np.arange(256) / 255.0
    out.append([ks.weighted_f_u8(u8, val, g), ks.weighted_f(val[u8], g)])
print(json.dumps(out))
"""


def _run(env_extra: dict, tmp_path) -> list:
    env = {**os.environ, **env_extra}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_structure_kernels_stay_in_bounds(tmp_path):
    checked = _run({"NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    plain = _run({}, tmp_path)
    assert len(checked) == len(plain) > 40
    # bounds checks change what vectorises, hence the summation order: ~1e-16
    np.testing.assert_allclose(np.array(checked), np.array(plain), rtol=0, atol=1e-12)
    for wf_u8, wf_float in plain[1::2]:
        assert wf_u8 == wf_float
