"""The example plugin ``examples/plugins/classical_example/center_contrast.py``
end to end through the real CLI (subprocesses): ``salbench run --plugin ...
--option ...`` on a few real image files, ``salbench report``, ``salbench list
methods --json --plugin ...``; bad options are one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import cli, small_real_dataset

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "examples" / "plugins" / "classical_example" / "center_contrast.py"
NAME = "center-contrast"


#: one OpenMP thread per process in the CLI runs (process-pool workers)
OMP1 = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def plugin_method():
    from salbench.plugins.registry import create, load_plugin
    assert NAME in load_plugin(PLUGIN)
    return create


@pytest.mark.slow
def test_plugin_run_report_list_through_cli(tmp_path, plugin_method):
    from salbench.data.imageio import read_rgb

    ds = small_real_dataset(tmp_path / "data", 3)  # a few real SOD images, else demo images
    results = tmp_path / "results"
    r = cli("run", "--plugin", PLUGIN, "--method", NAME, "--option", "sigma=0.4", "border=12",
            "--datasets", ds, "--data-root", tmp_path / "data", "--results", results,
            "--workers", "2", "-q", cwd=tmp_path, timeout=600, extra_env=OMP1)
    assert r.returncode == 0, r.stdout + r.stderr
    # the maps on disk are the method's with the options given (so the
    # options reached the worker processes), 8-bit at each image's size
    m = plugin_method(NAME, sigma=0.4, border=12)
    images = sorted((tmp_path / "data" / ds / "images").iterdir())
    for p in images:
        (f,) = [q for q in results.rglob(f"{p.stem}.png") if ds in q.parts and ".raw" not in q.parts]
        got = np.asarray(Image.open(f))
        rgb = read_rgb(p)
        assert got.dtype == np.uint8 and got.shape == rgb.shape[:2]
        np.testing.assert_array_equal(got, m.predict([rgb], [p.stem])[0])
        assert not np.array_equal(got, plugin_method(NAME).predict([rgb], [p.stem])[0])
    # the report has the method's row with numbers
    r = cli("report", "--results", results, cwd=tmp_path, timeout=600, extra_env=OMP1)
    assert r.returncode == 0, r.stdout + r.stderr
    row = next((ln for ln in r.stdout.splitlines() if ln.startswith(f"| {NAME} ")), None)
    assert row is not None, r.stdout
    nums = [float(x) for x in re.findall(r"\d+\.\d+", row)]
    assert len(nums) >= 2 and all(0 <= x <= 1 for x in nums), row
    # listed by 'salbench list methods --json --plugin'
    r = cli("list", "methods", "--json", "--no-cost", "--plugin", PLUGIN, cwd=tmp_path, timeout=600, extra_env=OMP1)
    assert r.returncode == 0, r.stderr
    rows = [x for x in json.loads(r.stdout) if x.get("name") == NAME]
    assert len(rows) == 1 and rows[0]["kind"] == "classical" and rows[0]["parallel"] == "processes"


@pytest.mark.slow
def test_plugin_bad_options_are_one_line(tmp_path):
    ds = small_real_dataset(tmp_path / "data", 1)
    base = ["run", "--plugin", str(PLUGIN), "--method", NAME, "--datasets", ds,
            "--data-root", str(tmp_path / "data"), "--results", str(tmp_path / "r"), "-q"]
    for bad, expect in (("sigma=wide", ["sigma=wide", "float"]),
                        ("sigma=-1", ["sigma=-1.0 must be > 0"]),
                        ("border=0", ["border=0 must be >= 1"]),
                        ("sigmaa=1", ["'sigmaa'", "valid options", "sigma (float", "border (int",
                                      "use_center_prior (bool"])):
        r = cli(*base, "--option", bad, cwd=tmp_path, timeout=600, extra_env=OMP1)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        # the runner may say which plugin it loaded; the error itself is one line
        assert "Traceback" not in r.stderr, r.stderr
        errors = [ln for ln in r.stderr.splitlines() if not ln.startswith("plugin ")]
        assert len(errors) == 1 and errors[0].startswith("salbench run: error:"), r.stderr
        for e in expect:
            assert e in errors[0], (bad, r.stderr)
    assert not list((tmp_path / "r").rglob("*.png"))  # refused before any work


def test_plugin_options_and_maps(plugin_method):
    """Typed options (strings parse as on the command line) and the map
    contract: uint8 at the image's size, the object brighter than the border,
    a constant image all zero."""
    from salbench.plugins.registry import get_spec

    cls = get_spec(NAME).cls
    assert cls.default_options == {"sigma": 0.25, "border": 8, "use_center_prior": True}
    assert plugin_method(NAME, use_center_prior="no").options["use_center_prior"] is False
    h, w = 90, 130
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = (40, 120, 60)
    disk = (yy - 50) ** 2 + (xx - 70) ** 2 < 18 ** 2
    img[disk] = (220, 40, 40)
    a, b = plugin_method(NAME).predict([img, np.full((20, 30, 3), 7, np.uint8)], ["a", "b"])
    assert a.dtype == np.uint8 and a.shape == (h, w) and a.max() == 255
    assert a[disk].mean() > 3 * a[~disk].mean()
    assert b.shape == (20, 30) and not b.any()
    (c,) = plugin_method(NAME, use_center_prior=False).predict([img], ["a"])
    assert not np.array_equal(a, c)
