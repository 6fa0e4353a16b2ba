"""The embedded demo dataset: deterministic, real JPEG/PNG files, exact GT with
holes and thin parts, generated once and idempotently."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from salbench.data import demo
from salbench.data.datasets import resolve

from helpers import cli


@pytest.fixture(scope="session")
def demo_root():
    """One generation per machine and generator version, in the system temp
    folder (never in the repo); ``ensure`` is safe against concurrent sessions."""
    root = Path(tempfile.gettempdir()) / f"salbench-test-demo-v{demo.DEMO_VERSION}"
    demo.ensure(root)
    return root


def test_samples_are_deterministic_and_varied():
    a_img, a_gt = demo.make_sample("test", 3)
    b_img, b_gt = demo.make_sample("test", 3)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_gt, b_gt)
    c_img, _ = demo.make_sample("train", 3)
    assert a_img.shape != c_img.shape or not np.array_equal(a_img, c_img)


def test_samples_have_objects_holes_and_thin_parts():
    holes = thin = 0
    for i in range(30):
        img, gt = demo.make_sample("train", i)
        h, w = gt.shape
        assert img.shape == (h, w, 3) and img.dtype == np.uint8
        assert 150 <= h <= 240 and 200 <= w <= 320
        assert set(np.unique(gt)) == {0, 255}
        fg = gt > 0
        assert 0.02 < fg.mean() < 0.6
        if (ndimage.binary_fill_holes(fg) & ~fg).sum() > 10:
            holes += 1
        # thin parts vanish under an opening with a 7x7 square
        if (fg & ~ndimage.binary_opening(fg, np.ones((7, 7)))).sum() > 30:
            thin += 1
        # the object differs from its surroundings (it is salient, not invisible)
        ring = ndimage.binary_dilation(fg, iterations=6) & ~fg
        assert np.abs(img[fg].mean(0) - img[ring].mean(0)).sum() > 20
    assert holes >= 8 and thin >= 8


def test_ensure_writes_real_files_once(demo_root):
    d = demo.demo_dir(demo_root)
    for split, n in demo.COUNTS.items():
        imgs = sorted((d / split / "images").glob("*.jpg"))
        gts = sorted((d / split / "gt").glob("*.png"))
        assert len(imgs) == len(gts) == n
    with Image.open(imgs[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
    with Image.open(gts[0]) as g:
        assert g.format == "PNG" and g.mode == "L"
    # files equal a fresh draw of the same sample (GT exactly; JPEG decodes close)
    img, gt = demo.make_sample("test", 5)
    assert np.array_equal(np.asarray(Image.open(d / "test" / "gt" / "test_0005.png")), gt)
    dec = np.asarray(Image.open(d / "test" / "images" / "test_0005.jpg")).astype(int)
    assert np.abs(dec - img).mean() < 4
    mtime = (d / "COMPLETE.json").stat().st_mtime_ns
    assert demo.ensure(demo_root) == d
    assert (d / "COMPLETE.json").stat().st_mtime_ns == mtime  # idempotent: nothing rewritten


def test_names_resolve_case_insensitively(demo_root):
    test = resolve("DEMO", demo_root)
    train = resolve("demo-train", demo_root)
    assert len(test.pairs) == demo.COUNTS["test"] and len(train.pairs) == demo.COUNTS["train"]
    assert test.problems == [] and train.problems == []
    assert not {p.name for p in test.pairs} & {p.name for p in train.pairs}


def test_demo_command_is_idempotent(demo_root):
    out = cli("demo", "--data-root", demo_root, check_rc=0).stdout
    assert "already present" in out and "demo-train" in out
