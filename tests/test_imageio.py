"""Image reading (same arrays as the references' readers) and atomic PNG writing,
on real files written into tmp dirs."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from salbench.errors import InputError
from salbench.data.datasets import IMAGE_EXTS
from salbench.data.imageio import read_gt, read_map, read_rgb, write_png_atomic


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    grey = (rng.random((23, 31)) * 255).astype(np.uint8)
    rgb = (rng.random((23, 31, 3)) * 255).astype(np.uint8)
    files = {}
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((23, 31), 90, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=90)
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=95)
    Image.fromarray(rgb).save(tmp_path / "rgb.bmp")
    g16 = (rng.random((23, 31)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "grey16.png"), g16)
    c16 = (rng.random((23, 31, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), c16)
    for p in tmp_path.iterdir():
        files[p.name] = p
    files["_g16"] = g16
    files["_c16"] = c16
    files["_grey"] = grey
    files["_rgb"] = rgb
    return files


@pytest.mark.parametrize("name", ["grey.png", "rgb.png", "rgba.png", "rgb.jpg", "grey.jpg", "rgb.bmp",
                                  "grey16.png", "rgb16.png"])
def test_cv2_reader_equals_cv2_imread_grayscale(images, name):
    """PySODMetrics reads with cv2.imread(path, IMREAD_GRAYSCALE): same arrays."""
    got = read_map(images[name])
    want = cv2.imread(str(images[name]), cv2.IMREAD_GRAYSCALE)
    assert got.dtype == np.uint8 and got.ndim == 2
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(read_gt(images[name]), want)


def test_16bit_is_shifted_to_8bit(images):
    np.testing.assert_array_equal(read_map(images["grey16.png"]), images["_g16"] >> 8)
    np.testing.assert_array_equal(read_map(images["grey16.png"], "pil"), images["_g16"] >> 8)
    rgb = read_rgb(images["rgb16.png"])
    np.testing.assert_array_equal(rgb, (images["_c16"] >> 8).astype(np.uint8)[..., ::-1])


@pytest.mark.parametrize("name", ["grey.png", "rgb.png", "rgba.png", "rgb.jpg", "rgb.bmp"])
def test_pil_reader_equals_pil_convert_L(images, name):
    np.testing.assert_array_equal(read_map(images[name], "pil"), np.array(Image.open(images[name]).convert("L")))


def test_read_rgb(images):
    np.testing.assert_array_equal(read_rgb(images["rgb.png"]), images["_rgb"])
    np.testing.assert_array_equal(read_rgb(images["rgba.png"]), images["_rgb"])  # alpha dropped
    g = read_rgb(images["grey.png"])
    assert g.shape == (23, 31, 3) and g.dtype == np.uint8
    np.testing.assert_array_equal(g[..., 0], images["_grey"])
    np.testing.assert_array_equal(g[..., 2], images["_grey"])
    assert read_rgb(images["rgb.jpg"]).shape == (23, 31, 3)


@pytest.mark.parametrize("reader", ["cv2", "pil"])
def test_bad_files_raise_input_error_naming_the_file(tmp_path, images, reader):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(images["grey.png"].read_bytes()[:60])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for bad in (corrupt, truncated, empty, text, tmp_path / "missing.png", tmp_path):
        with pytest.raises(InputError) as exc:
            read_map(bad, reader)
        assert str(bad) in str(exc.value) and exc.value.path == bad
    with pytest.raises(InputError, match="corrupt.png"):
        read_rgb(corrupt)
    with pytest.raises(ValueError, match="unknown reader"):
        read_map(images["grey.png"], "matlab")


def test_write_png_atomic_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    grey = (rng.random((17, 9)) * 255).astype(np.uint8)
    rgb = (rng.random((17, 9, 3)) * 255).astype(np.uint8)
    out = write_png_atomic(tmp_path / "sub" / "a.png", grey)
    np.testing.assert_array_equal(read_map(out), grey)
    write_png_atomic(tmp_path / "sub" / "b.png", rgb)
    np.testing.assert_array_equal(read_rgb(tmp_path / "sub" / "b.png"), rgb)
    write_png_atomic(out, 255 - grey)  # overwrite
    np.testing.assert_array_equal(read_map(out), 255 - grey)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.png", "b.png"]
    assert (out.stat().st_mode & 0o777) == 0o644
    with pytest.raises(ValueError, match="uint8"):
        write_png_atomic(tmp_path / "c.png", grey.astype(np.float32))
    assert not (tmp_path / "c.png").exists()


def test_write_png_atomic_never_leaves_a_partial_file(tmp_path, monkeypatch):
    """A run killed between writing and renaming leaves the old file (or none)
    under the final name, and no temporary file."""
    target = tmp_path / "m.png"
    old = np.zeros((5, 5), np.uint8)
    write_png_atomic(target, old)

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_png_atomic(target, np.full((5, 5), 200, np.uint8))
    with pytest.raises(KeyboardInterrupt):
        write_png_atomic(tmp_path / "new.png", np.full((5, 5), 200, np.uint8))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_map(target), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]


def test_image_exts():
    assert {".png", ".jpg", ".bmp"} <= set(IMAGE_EXTS)
