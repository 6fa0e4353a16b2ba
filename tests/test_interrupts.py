"""Interrupting ``salbench run`` through the real CLI: Ctrl-C and SIGTERM stop
the process pool at once (no image is predicted after the signal beyond those
in flight), the run is marked interrupted and resumes; after SIGKILL of the
parent no pool worker survives."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import cli, cli_start, make_set
from salbench.store.results import ResultsStore


def _procs_mentioning(text: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _run_args(tmp_path: Path, res: Path) -> tuple:
    return ("run", "--method", "bsca", "--datasets", tmp_path / "set", "--results", res, "--workers", "2", "-q")


def _wait_for_maps(out: Path, n: int, p: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while len(list(out.glob("*.png"))) < n:
        assert p.poll() is None, p.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_the_pool_and_the_run_resumes(tmp_path, sig):
    make_set(tmp_path / "set", 40, size=(400, 300))
    res = tmp_path / "res"
    out = res / "bsca" / "set"
    p = cli_start(*_run_args(tmp_path, res))
    _wait_for_maps(out, 4, p)
    n_at_signal = len(list(out.glob("*.png")))
    t0 = time.time()
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    stopped = time.time() - t0
    assert p.returncode == 130, err
    assert "Traceback" not in err and "marked interrupted" in err
    time.sleep(1.0)
    n_after = len(list(out.glob("*.png")))
    # at most the images in flight (two workers) finish; the old pool ran through all 40
    assert n_after <= n_at_signal + 2, (n_at_signal, n_after, stopped)
    assert n_after < 40
    assert not _procs_mentioning(str(res))  # no worker left behind
    with ResultsStore(res / "salbench.sqlite") as s:
        assert [r["status"] for r in s.runs("bsca", "set")] == ["interrupted"]
    r = cli(*_run_args(tmp_path, res), timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"resuming, {n_after} of 40 maps" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    make_set(tmp_path / "set", 40, size=(400, 300))
    res = tmp_path / "res"
    p = cli_start(*_run_args(tmp_path, res))
    _wait_for_maps(res / "bsca" / "set", 2, p)
    assert len(_procs_mentioning(str(res))) >= 2  # the parent and its workers
    p.kill()
    p.communicate(timeout=30)
    t0 = time.time()
    while _procs_mentioning(str(res)) and time.time() - t0 < 10:
        time.sleep(0.1)
    assert not _procs_mentioning(str(res))
