"""DistributedDataParallel on the CPU: ``torchrun --nproc_per_node=2`` with
gloo trains the same schedule as one process on the same global batch.

Batch norm is the subtle part: with per-process batch statistics (``--bn
train``) two processes normalise each half-batch separately, so their loss is
*not* the single-process loss on the whole batch. The equivalence check
therefore uses ``--bn frozen`` (BN layers use their running statistics; the
affine parameters still train), under which the data-parallel gradient is
exactly the full-batch gradient. On CUDA ``--bn sync`` (SyncBatchNorm) gives
the same property with batch statistics; gloo/CPU has no SyncBatchNorm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import cli, make_set

#: tiny learned methods (``tiny-train-test``, ``tiny-ddp-test``), loaded with --plugin
TINY_PLUGIN = Path(__file__).parent / "plugins" / "tiny_learned.py"


def _train_args(plugin: Path, data: Path, out: Path) -> list[str]:
    return ["train", "--plugin", str(plugin), "--method", "tiny-ddp-test", "--dataset", str(data),
            "--out", str(out), "--crop", "48", "--batch-size", "4", "--iterations", "4",
            "--lr", "0.05", "--bn", "frozen", "--log-every", "1", "--no-progress", "--device", "cpu"]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    plugin = TINY_PLUGIN
    data = tmp_path / "ds"
    make_set(data, 6, size=(80, 60), source="ellipse", seed=1, prefix="p", digits=1, quality=95)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    one = cli(*_train_args(plugin, data, tmp_path / "one"), cwd=tmp_path, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "salbench.cli", *_train_args(plugin, data, tmp_path / "two")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stdout + two.stderr
    # only rank 0 printed its summary and wrote the log (one line per iteration)
    assert two.stdout.count("done at iteration 4/4") == 1
    run1 = tmp_path / "one" / "tiny-ddp-test" / "ds"
    run2 = tmp_path / "two" / "tiny-ddp-test" / "ds"
    log1 = [json.loads(s) for s in (run1 / "train_log.jsonl").read_text().splitlines()]
    log2 = [json.loads(s) for s in (run2 / "train_log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log2] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in log2], [r["loss"] for r in log1], rtol=1e-5)
    np.testing.assert_allclose([r["losses"] for r in log2], [r["losses"] for r in log1], rtol=1e-5)
    assert log1[-1]["loss"] != log1[0]["loss"]  # it did train
    a = torch.load(run1 / "final.pt", weights_only=True)
    b = torch.load(run2 / "final.pt", weights_only=True)
    assert b["config"]["world_size"] == 2 and a["config"]["world_size"] == 1
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-4, atol=1e-6)
    # a DDP checkpoint resumes in a single process (the sample order does not
    # depend on the process count): extend nothing, just check it is accepted
    again = cli(*_train_args(plugin, data, tmp_path / "two"), cwd=tmp_path, env=env)
    assert again.returncode == 0 and "already complete" in again.stdout, again.stderr
