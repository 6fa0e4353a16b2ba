"""Bit-identity with the R3Net authors' inference (zijundeng/R3Net ``infer.py`` and
``misc.py``'s ``crf_refine``), end to end through ``salbench run``.

The reference below is a torch port of their script, written here without
salbench's code: PIL open → ``convert('RGB')`` → ``ToTensor`` (``from_numpy``,
``permute``, ``float``, ``div(255)``) → ``Normalize`` (``sub(mean)``, ``div(std)``
in float32) → ``unsqueeze(0)`` → network → sigmoid of the last output →
``squeeze(0)`` → ``ToPILImage``'s ``mul(255).byte()`` → uint8; with CRF, their
``crf_refine`` spelled out with pydensecrf directly.

The checkpoint is our R3Net (default ResNeXt-101 32x4d architecture, random
init, fixed seed) saved under the **authors'** key names as a plain state dict,
i.e. as their released ``6000.pth`` is laid out. The images are real SOD and
PASCAL-S images of four different sizes, so the default batch of 8 mixes sizes.

The reference and the CLI run each run in a fresh process with ``THREADS``
intra-op threads (``OMP_NUM_THREADS``): on the CPU a convolution's float sums
may round differently with another thread count or process state, which can
move a truncated map by one grey level at a rare pixel (seen: 1 pixel of
187,500 between 1 and 2 threads, and 1 pixel when the reference ran inside the
test process after other tests). salbench records the thread count in the run
identity for that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli
from naive import direct_crf  # misc.py's crf_refine, with pydensecrf directly
from test_r3net import _to_authors_key

pytest.importorskip("pydensecrf.densecrf")

pytestmark = [pytest.mark.realdata, pytest.mark.slow]  # the reference and the CLI run take ~1 min

REPO = Path(__file__).resolve().parents[1]
#: (dataset, stem): 481×321, 321×481 (SOD), 500×375, 500×333 (PASCAL-S) — four sizes
PICKS = (("SOD", "100075"), ("SOD", "100080"), ("SOD", "100098"),
         ("PASCAL-S", "1"), ("PASCAL-S", "107"))
#: intra-op threads of the reference, the API check and the CLI run.
THREADS = 2
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def _authors_transform(img: Image.Image) -> torch.Tensor:
    """torchvision ``ToTensor()`` then ``Normalize(MEAN, STD)`` (their img_transform)."""
    t = torch.from_numpy(np.array(img, copy=True)).view(img.size[1], img.size[0], 3)
    t = t.permute(2, 0, 1).contiguous().float().div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32)
    std = torch.as_tensor(STD, dtype=torch.float32)
    return t.sub(mean[:, None, None]).div(std[:, None, None])


def _reference_process(tmp: Path) -> None:
    """Run in a fresh process (see :func:`setup`), with ``THREADS`` threads as the
    CLI run: write the authors'-layout weights, the reference maps (their
    ``infer.py`` with and without ``crf_refine``) and, from the same process,
    salbench's API maps (all images in one ``predict`` call, and the first one
    alone), as PNG files under ``tmp``."""
    from salbench.plugins.registry import create
    torch.set_num_threads(THREADS)
    torch.manual_seed(2018)
    net = create("r3net").build_model().eval()
    theirs = {}
    for k, v in net.state_dict().items():
        ak = _to_authors_key(k)
        if ak is not None:
            theirs[ak] = v.clone()
    assert "predict6.6.bias" in theirs and "layer0.0.weight" in theirs
    torch.save(theirs, tmp / "6000.pth")
    paths = sorted((tmp / "data" / "mini" / "images").glob("*.jpg"))
    for sub in ("ref", "ref_crf", "api", "api_single"):
        (tmp / sub).mkdir(exist_ok=True)
    with torch.no_grad():
        for p in paths:
            img = Image.open(p).convert("RGB")
            x = _authors_transform(img).unsqueeze(0)
            prediction = torch.sigmoid(net(x)[-1])        # their eval forward
            pred = prediction.data.squeeze(0).cpu()       # (1, H, W)
            arr = pred.mul(255).byte().numpy()[0]         # ToPILImage → np.array
            Image.fromarray(arr).save(tmp / "ref" / f"{p.stem}.png")
            Image.fromarray(direct_crf(np.array(img), arr)).save(tmp / "ref_crf" / f"{p.stem}.png")
    del net
    from salbench.data.imageio import read_rgb
    m = create("r3net", weights=tmp / "6000.pth")
    m.prepare()
    assert m.checkpoint_info == {"method": None, "iteration": None, "options": None}
    images = [read_rgb(p) for p in paths]
    for p, got in zip(paths, m.predict(images, [p.stem for p in paths])):
        Image.fromarray(got).save(tmp / "api" / f"{p.stem}.png")
    Image.fromarray(m.predict(images[:1], ["x"])[0]).save(tmp / "api_single" / f"{paths[0].stem}.png")


def _env() -> dict:
    tests = str(Path(__file__).resolve().parent)
    # every thread knob, whatever the test process's environment holds
    # (MKL_NUM_THREADS=1 alone makes torch run on one thread)
    return {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS),
            "OPENBLAS_NUM_THREADS": str(THREADS),
            "PYTHONPATH": os.pathsep.join([str(REPO), tests, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def setup(shared_data, tmp_path_factory):
    """Authors'-layout weights, a small dataset folder, and the reference maps,
    made in a fresh process: the CPU convolutions' rounding can depend on the
    process's state (thread pools, allocations), so the reference is made in
    the same conditions as the CLI run it is compared with."""
    tmp = tmp_path_factory.mktemp("faithful")
    ds = tmp / "data" / "mini"
    (ds / "images").mkdir(parents=True)
    (ds / "gt").mkdir()
    for src, stem in PICKS:
        name = f"{src.lower().replace('-', '')}_{stem}"
        shutil.copy(shared_data / src / "images" / f"{stem}.jpg", ds / "images" / f"{name}.jpg")
        shutil.copy(shared_data / src / "gt" / f"{stem}.png", ds / "gt" / f"{name}.png")
    code = f"import test_faithful_inference as t; from pathlib import Path; t._reference_process(Path({str(tmp)!r}))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                       timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    load = lambda sub: {p.stem: _read(p) for p in sorted((tmp / sub).glob("*.png"))}  # noqa: E731
    ref = load("ref")
    assert len({a.shape for a in ref.values()}) >= 3
    return {"tmp": tmp, "weights": tmp / "6000.pth", "data": tmp / "data", "ref": ref,
            "ref_crf": load("ref_crf"), "api": load("api"), "api_single": load("api_single")}


def _read(p: Path) -> np.ndarray:
    im = Image.open(p)
    assert im.mode == "L", (p, im.mode)
    return np.asarray(im)


def test_cli_run_at_default_settings_is_bit_identical(setup):
    """``salbench run --method r3net`` at its defaults (batch 8, CRF on)."""
    results = setup["tmp"] / "results"
    r = cli("run", "--method", "r3net", "--weights", setup["weights"], "--datasets", "mini",
            "--data-root", setup["data"], "--results", results, "-q", cwd=setup["tmp"], env=_env(), timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    out = results / "r3net" / "mini"
    for stem, want in setup["ref"].items():
        raw = _read(out / ".raw" / f"{stem}.png")
        assert raw.shape == want.shape
        assert np.array_equal(raw, want), (stem, int(np.abs(raw.astype(int) - want).max()),
                                           int((raw != want).sum()))
        final = _read(out / f"{stem}.png")
        assert np.array_equal(final, setup["ref_crf"][stem]), stem
        assert not np.array_equal(final, raw)  # the CRF did something


def test_api_predict_and_crf_are_bit_identical(setup):
    """The same through the Python API: mixed sizes in one call, and one at a
    time (computed in the reference's process); the CRF in this process."""
    from salbench.nn.crf import dense_crf
    from salbench.data.imageio import read_rgb
    assert setup["api"].keys() == setup["ref"].keys()
    for stem, got in setup["api"].items():
        np.testing.assert_array_equal(got, setup["ref"][stem])
        img = read_rgb(setup["data"] / "mini" / "images" / f"{stem}.jpg")
        np.testing.assert_array_equal(dense_crf(img, got), setup["ref_crf"][stem])
    [(stem, single)] = setup["api_single"].items()
    np.testing.assert_array_equal(single, setup["ref"][stem])


def test_a_variant_refuses_the_authors_checkpoint_it_does_not_fit(setup):
    """``r3net-ws`` (one shared refinement block) given the authors' full R3Net
    file (six blocks) is refused in one line naming the file's keys, through
    the CLI, before any image is read (it used to drop five blocks silently)."""
    r = cli("run", "--method", "r3net-ws", "--weights", setup["weights"], "--datasets", "mini", "--data-root",
            setup["data"], "--results", setup["tmp"] / "results-ws", "-q", env=_env(), timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert "6000.pth" in line and "predict1..predict6" in line and "r3net-ws" in line
    assert not (setup["tmp"] / "results-ws" / "r3net-ws").exists() or not any(
        (setup["tmp"] / "results-ws").rglob("*.png"))
