"""The run's process pool stops cleanly when the run fails inside it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from salbench.run.pools import process_pool


def test_a_failed_run_leaves_no_pool_manager_thread_running():
    # the pool's manager thread must have closed its wake-up pipe before the
    # error leaves the pool: left running, it races CPython 3.11's exit hook,
    # which then prints "OSError: Bad file descriptor" after the run's error
    with pytest.raises(ZeroDivisionError):
        with process_pool(2) as pool:
            pool.submit(os.getpid).result()
            manager = pool._executor_manager_thread
            wakeup = pool._executor_manager_thread_wakeup
            1 / 0
    assert not manager.is_alive()
    assert wakeup._closed


def test_a_failed_pool_exits_without_a_traceback():
    code = ("import os\nfrom salbench.run.pools import process_pool\n"
            "try:\n    with process_pool(2) as pool:\n        pool.submit(os.getpid).result()\n"
            "        raise SystemExit(3)\nexcept SystemExit:\n    raise\n")
    for _ in range(5):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 3 and r.stderr == "", r.stderr
