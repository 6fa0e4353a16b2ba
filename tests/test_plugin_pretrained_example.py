"""The pretrained-network plugin example (examples/plugins/pretrained_net/) end
to end through the real CLI: weights written by its script, ``salbench run``
on the generated demo dataset, ``salbench report``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "plugins" / "pretrained_net"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1"}


def _script(args, cwd):
    """``python SCRIPT ARGS`` (the example's own scripts), exit 0."""
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=_env(),
                       timeout=600)
    assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr[-3000:])
    return r


@pytest.mark.slow
def test_plugin_example_runs_and_reports(tmp_path):
    weights = tmp_path / "tiny_net.pth"
    _script([str(EXAMPLE / "make_weights.py"), str(weights)], tmp_path)
    assert weights.is_file()
    # the weights are deterministic
    _script([str(EXAMPLE / "make_weights.py"), str(tmp_path / "again.pth")], tmp_path)
    import torch
    a = torch.load(weights, weights_only=True)
    b = torch.load(tmp_path / "again.pth", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert 50_000 < sum(v.numel() for k, v in a.items() if "running" not in k and "num_batches" not in k) < 150_000

    data, results = tmp_path / "data", tmp_path / "results"
    cli("demo", "--data-root", data, cwd=tmp_path, env=_env(), timeout=600, check_rc=0)  # the demo set, here
    cli("run", "--plugin", EXAMPLE / "tiny_net_plugin.py", "--method", "tinynet", "--weights", weights,
        "--datasets", "demo", "--data-root", data, "--results", results, "-q", cwd=tmp_path, env=_env(),
        timeout=600, check_rc=0)
    maps = sorted((results / "tinynet" / "demo").glob("*.png"))
    images = {p.stem: p for p in (data / "demo" / "test" / "images").glob("*.jpg")}
    assert maps and len(maps) == len(images)
    for mp in maps:
        m = np.asarray(Image.open(mp))
        w, h = Image.open(images[mp.stem]).size
        assert m.dtype == np.uint8 and m.shape == (h, w)

    rep = cli("report", "--results", results, "--columns", "params,gmacs", cwd=tmp_path, env=_env(), timeout=600,
              check_rc=0).stdout
    row = next(line for line in rep.splitlines() if "tinynet" in line)
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert cells[0] == "tinynet"
    fb, mae = (float(re.search(r"\d+\.\d+", c).group()) for c in cells[1:3])  # demo Fβ, MAE
    assert 0 < fb <= 1 and 0 <= mae <= 1, rep
    assert "0.09M" in row and "@224x224" in row, rep  # params, GMACs at the plugin's input_size
