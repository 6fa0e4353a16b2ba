"""Shared fixtures. Real data comes from ``../shared/data`` (or
``$SALBENCH_SHARED_DATA``); tests that need it skip cleanly where it is absent."""

from __future__ import annotations

import os
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
