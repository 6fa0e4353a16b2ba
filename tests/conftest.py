"""Shared fixtures. Real data comes from ``../shared/data`` (or
``$SALBENCH_SHARED_DATA``); tests that need it skip cleanly where it is absent.

Helpers (the CLI runner, dataset makers, random pairs, the parity assertion)
are in ``tests/helpers.py``; naive reference implementations in ``tests/naive.py``.

Markers: ``slow`` (long end-to-end tests; ``pytest -m "not slow"`` is the quick
loop, CI runs everything) and ``realdata``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    env = os.environ.get("SALBENCH_SHARED_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real data not available (set SALBENCH_SHARED_DATA to ../shared/data)")
    return root


_STRUCTURE_PROBE = ("import numpy as np; from salbench.metrics.kernels import structure as k; "
                    "p = np.linspace(0, 1, 20).reshape(4, 5); g = p > 0.4; "
                    "print(k.s_measure(p, g), k.weighted_f(p, g))")


@pytest.fixture(scope="session")
def structure_kernels() -> None:
    """The S-measure / weighted-F kernels build and run, probed in a child process
    (a crash there cannot take the session down). A failure is an error of every
    test that uses this fixture, never a skip: the parity tests must not quietly
    stop comparing S and weighted F."""
    try:
        r = subprocess.run([sys.executable, "-c", _STRUCTURE_PROBE], capture_output=True, text=True,
                           timeout=600)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the structure kernels did not build within {e.timeout} s", pytrace=False)
    if r.returncode != 0:
        pytest.fail(f"the structure kernels failed to build or run (exit {r.returncode}):\n{r.stderr[-4000:]}",
                    pytrace=False)
