"""Shared test helpers: the real CLI in a subprocess, and small datasets of
real JPEG / PNG files (demo samples)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from salbench.data import demo


def cli(*args, check_rc=None, timeout=300, env=None) -> subprocess.CompletedProcess:
    """``python -m salbench.cli ARGS``; asserts the exit status when ``check_rc`` is given."""
    r = subprocess.run([sys.executable, "-m", "salbench.cli", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc is not None:
        assert r.returncode == check_rc, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def make_set(folder: Path, n: int, start: int = 0, size: tuple[int, int] | None = None) -> list[str]:
    """``n`` demo samples as an ad-hoc dataset folder (``images/*.jpg`` + ``gt/*.png``);
    ``size`` (W, H) resizes them."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(start, start + n):
        img, gt = demo.make_sample("test", i)
        im, g = Image.fromarray(img), Image.fromarray(gt)
        if size is not None:
            im, g = im.resize(size), g.resize(size, Image.NEAREST)
        name = f"s{i:03d}"
        im.save(folder / "images" / f"{name}.jpg", quality=92)
        g.save(folder / "gt" / f"{name}.png")
        names.append(name)
    return names


def one_line_error(r: subprocess.CompletedProcess, *fragments: str) -> str:
    """Assert exit 2 with a one-line ``error:`` message holding every fragment
    and no traceback; returns the line."""
    assert r.returncode == 2, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def small_real_dataset(root: Path, n: int = 2, name: str = "small") -> str:
    """``root/<name>/{images,gt}`` with ``n`` real image files: SOD images from
    the shared data, else the demo dataset's test split. Returns the name."""
    shared = os.environ.get("SALBENCH_SHARED_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data")
    sod = Path(shared) / "SOD"
    dst = root / name
    (dst / "images").mkdir(parents=True)
    (dst / "gt").mkdir()
    if (sod / "images").is_dir() and (sod / "gt").is_dir():
        for p in sorted((sod / "images").glob("*.jpg"))[:n]:
            shutil.copy(p, dst / "images" / p.name)
            shutil.copy(sod / "gt" / f"{p.stem}.png", dst / "gt" / f"{p.stem}.png")
    else:
        cli("demo", "--data-root", root / "d", check_rc=0)
        test = root / "d" / "demo" / "test"
        for p in sorted((test / "images").iterdir())[:n]:
            g = next((test / "gt").glob(f"{p.stem}.*"))
            shutil.copy(p, dst / "images" / p.name)
            shutil.copy(g, dst / "gt" / g.name)
    return name
