"""Shared test helpers, one of each:

* :func:`cli` runs the real CLI (``python -m salbench.cli``) in a subprocess;
  :func:`cli_start` starts it without waiting (for signals and concurrency);
  :func:`cli_cmd` is the command line both use.
* :func:`write_pairs` / :func:`make_set` write small datasets of real JPEG / PNG
  files (demo samples, ellipses or noise with a box); :func:`write_map_pairs`
  writes prediction / GT folders for ``salbench eval``;
  :func:`small_real_dataset` copies real SOD images.
* :func:`random_pair` / :func:`random_pairs` make in-memory (map, GT) arrays.
* :func:`assert_parity` compares our values with a reference's.

Naive reference implementations live in ``tests/naive.py``.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np
from PIL import Image

from salbench.data import demo
from salbench.metrics import numeric

REPO = Path(__file__).resolve().parents[1]

#: absolute tolerance of the parity tests (1e-10)
PARITY_TOL = numeric.PARITY_TOL


# -- the CLI ------------------------------------------------------------------------

def cli_cmd(*args, installed: bool = False, prefix: Sequence[str] = ()) -> list[str]:
    """The command line of ``salbench ARGS``: ``python -m salbench.cli``, or with
    ``installed`` the ``salbench`` console script next to this Python (where
    there is one); ``prefix`` goes in front (``setpriv ...``)."""
    exe = shutil.which("salbench", path=str(Path(sys.executable).parent)) if installed else None
    return [*prefix, *([exe] if exe else [sys.executable, "-m", "salbench.cli"]), *map(str, args)]


def _env(env: Mapping[str, str] | None, extra_env: Mapping[str, str] | None) -> dict | None:
    if extra_env is None:
        return None if env is None else dict(env)
    return {**(os.environ if env is None else env), **{k: str(v) for k, v in extra_env.items()}}


def cli(*args, check_rc: int | None = None, timeout: float = 300, env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
        installed: bool = False, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """``python -m salbench.cli ARGS`` to completion, output captured as text.

    ``env`` replaces the environment, ``extra_env`` adds to it (to ``env`` when
    both are given); ``installed`` and ``prefix``: see :func:`cli_cmd`. Asserts
    the exit status when ``check_rc`` is given."""
    r = subprocess.run(cli_cmd(*args, installed=installed, prefix=prefix), capture_output=True, text=True,
                       timeout=timeout, env=_env(env, extra_env), cwd=cwd)
    if check_rc is not None:
        assert r.returncode == check_rc, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def cli_start(*args, env: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              text: bool = True) -> subprocess.Popen:
    """``python -m salbench.cli ARGS`` started and not waited for (the caller
    signals, kills or ``communicate``s it)."""
    return subprocess.Popen(cli_cmd(*args), stdout=stdout, stderr=stderr, text=text,
                            env=_env(env, extra_env), cwd=cwd)


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


# -- datasets of real image files -----------------------------------------------------

def _demo_sample(i: int, size, rng) -> tuple[np.ndarray, np.ndarray]:
    img, gt = demo.make_sample("test", i)
    if size is not None:
        img = np.asarray(Image.fromarray(img).resize(size))
        gt = np.asarray(Image.fromarray(gt).resize(size, Image.NEAREST))
    return img, gt


def _ellipse_sample(i: int, size, rng) -> tuple[np.ndarray, np.ndarray]:
    """A red ellipse on a blue background, with noise; GT is the ellipse."""
    w, h = size or (72, 60)
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    rx, ry = rng.uniform(0.15, 0.3) * w, rng.uniform(0.15, 0.3) * h
    fg = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 2] = 220
    img[fg] = (230, 20, 20)
    noise = rng.integers(0, 20, size=img.shape, dtype=np.uint8)
    img = np.clip(img.astype(int) + noise - 10, 0, 255).astype(np.uint8)
    return img, np.where(fg, 255, 0).astype(np.uint8)


def _noise_sample(i: int, size, rng) -> tuple[np.ndarray, np.ndarray]:
    """A noise image; GT a box over its middle."""
    w, h = size or (32, 24)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    gt = np.zeros((h, w), np.uint8)
    gt[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    return img, gt


SOURCES = {"demo": _demo_sample, "ellipse": _ellipse_sample, "noise": _noise_sample}


def write_pairs(img_dir: Path, gt_dir: Path, n: int, *, source: str = "demo", start: int = 0,
                prefix: str = "s", digits: int = 3, img_ext: str = ".jpg", gt_ext: str = ".png",
                size: tuple[int, int] | None = None, seed: int = 0, quality: int = 92,
                grey_gt: int | None = None, empty_gt: tuple[int, ...] = ()) -> list[str]:
    """``n`` image / GT pairs as real files, ``img_dir/<name><img_ext>`` and
    ``gt_dir/<name><gt_ext>`` (the two folders may be one), names
    ``f"{prefix}{i:0{digits}d}"`` for ``i`` from ``start``; returns the names.

    ``source``: ``"demo"`` (the demo dataset's test samples; ``size`` (W, H)
    resizes them), ``"ellipse"`` (a red ellipse on blue, default 72x60) or
    ``"noise"`` (noise with a box GT, default 32x24), the last two drawn from
    ``np.random.default_rng(seed)``. ``grey_gt`` writes that grey level instead
    of 255; indices in ``empty_gt`` get an all-background GT."""
    img_dir, gt_dir = Path(img_dir), Path(gt_dir)
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    make = SOURCES[source]
    rng = np.random.default_rng(seed)
    names = []
    for i in range(start, start + n):
        img, gt = make(i, size, rng)
        if grey_gt is not None:
            gt = np.where(gt > 127, grey_gt, 0).astype(np.uint8)
        if i in empty_gt:
            gt = np.zeros_like(gt)
        name = f"{prefix}{i:0{digits}d}"
        kw = {"quality": quality} if img_ext.lower() in (".jpg", ".jpeg") else {}
        Image.fromarray(img).save(img_dir / f"{name}{img_ext}", **kw)
        Image.fromarray(gt).save(gt_dir / f"{name}{gt_ext}")
        names.append(name)
    return names


def make_set(folder: Path, n: int, start: int = 0, size: tuple[int, int] | None = None, **kw) -> list[str]:
    """An ad-hoc dataset folder, ``folder/images/*.jpg`` + ``folder/gt/*.png``:
    :func:`write_pairs` into its two sub-folders (demo samples by default)."""
    return write_pairs(Path(folder) / "images", Path(folder) / "gt", n, start=start, size=size, **kw)


def write_map_pairs(folder: Path, n: int, size: int = 24, seed: int = 0, prefix: str = "im",
                    digits: int = 4) -> tuple[Path, Path]:
    """``folder/pred`` and ``folder/gt`` with ``n`` PNG pairs for ``salbench eval``:
    :func:`random_pair` ``"square"`` maps of ``size`` x ``size``. Returns the two folders."""
    import cv2

    rng = np.random.default_rng(seed)
    pred, gt = Path(folder) / "pred", Path(folder) / "gt"
    pred.mkdir(parents=True, exist_ok=True)
    gt.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p, g = random_pair(rng, size, size, "square")
        cv2.imwrite(str(pred / f"{prefix}{i:0{digits}d}.png"), p)
        cv2.imwrite(str(gt / f"{prefix}{i:0{digits}d}.png"), g)
    return pred, gt


def small_real_dataset(root: Path, n: int = 2, name: str = "small") -> str:
    """``root/<name>/{images,gt}`` with ``n`` real image files: SOD images from
    the shared data, else the demo dataset's test split. Returns the name."""
    shared = os.environ.get("SALBENCH_SHARED_DATA") or str(REPO.parent / "shared" / "data")
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


# -- in-memory random (map, GT) pairs ----------------------------------------------------

def _box_soft(rng, h, w):
    """uint8: a random box GT; the map 0.6 GT plus noise of random strength."""
    g = np.zeros((h, w), np.uint8)
    y, x = rng.integers(0, h - 5), rng.integers(0, w - 5)
    g[y:y + rng.integers(3, h - y + 1), x:x + rng.integers(3, w - x + 1)] = 255
    noise = rng.random((h, w)) * rng.uniform(0.2, 1)
    p = np.clip(0.6 * (g / 255.0) + noise * 0.5, 0, 1)
    return (p * 255).astype(np.uint8), g


def _grey_gt(rng, h, w):
    """uint8: a grey-level noise GT; the map 0.7 GT plus noise."""
    gt = (rng.random((h, w)) * 256).astype(np.uint8)
    return np.clip(gt * 0.7 + rng.random((h, w)) * 90, 0, 255).astype(np.uint8), gt


def _hard_grey_gt(rng, h, w):
    """:func:`_grey_gt` with the GT binarised at 100 (the map from the grey GT)."""
    gt = (rng.random((h, w)) * 256).astype(np.uint8)
    hard = np.where(gt > 100, 255, 0).astype(np.uint8)
    return np.clip(hard * 0.7 + rng.random((h, w)) * 90, 0, 255).astype(np.uint8), hard


def _square(rng, h, w):
    """uint8: a centred box GT; the map GT plus uniform noise in [-60, 60)."""
    g = np.zeros((h, w), np.uint8)
    g[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    return np.clip(g.astype(int) + rng.integers(-60, 60, g.shape), 0, 255).astype(np.uint8), g


def _blurred_box(rng, h, w):
    """uint8: a box GT; the map the GT blurred (sigma 3) plus noise up to 60."""
    import cv2

    g = np.zeros((h, w), np.uint8)
    y, x = h // 4, w // 5
    g[y:y + h // 2, x:x + w // 2] = 255
    p = cv2.GaussianBlur(g, (0, 0), 3).astype(np.float64) + rng.random((h, w)) * 60
    return np.clip(p, 0, 255).astype(np.uint8), g


def _zero_runs(rng, h, w, zero_frac=0.0, grey_gt=False):
    """uint8: a noise map with a fraction of zeros and a zero first third (long
    runs); a central box GT, with grey spots when ``grey_gt``."""
    shape = (h, w)
    pred = rng.integers(0, 256, size=shape).astype(np.uint8)
    pred[rng.random(shape) < zero_frac] = 0
    if w > 4:
        pred[:, : w // 3] = 0
    gt = np.zeros(shape, np.uint8)
    gt[h // 4: max(h // 4 + 1, 3 * h // 4), w // 3: max(w // 3 + 1, 2 * w // 3)] = 255
    if grey_gt:
        gt[rng.random(shape) < 0.2] = rng.integers(1, 255)
    return pred, gt


# float64 maps in [0, 1] and bool GTs (the S-measure / weighted-F kernels' inputs)

def _f_noise(rng, h, w):
    """float: noise map, noise GT of random density."""
    return rng.random((h, w)), rng.random((h, w)) < rng.random()


def _f_u8_sparse(rng, h, w):
    """float: an 8-bit map, sparse GT."""
    return rng.integers(0, 256, (h, w)) / 255, rng.random((h, w)) < 0.2


def _f_constant(rng, h, w):
    """float: a constant map (not min-max normalised), a corner-box GT."""
    g = np.zeros((h, w), bool)
    g[rng.integers(0, h):, rng.integers(0, w):] = True
    return np.full((h, w), rng.integers(0, 256) / 255), g


def _f_blob_minmax(rng, h, w):
    """float: blob GT with a noisy 8-bit map, through PySODMetrics' ``prepare_data``."""
    from py_sod_metrics.utils import prepare_data

    yy, xx = np.mgrid[:h, :w]
    g = (yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (min(h, w) / 3) ** 2
    u8 = np.clip((g + rng.normal(0, 0.3, (h, w))) * 255, 0, 255).astype(np.uint8)
    return prepare_data(u8, g.astype(np.uint8) * 255)


def _f_lines(rng, h, w):
    """float: thin structures (one row and one column), map zero on half the pixels."""
    g = np.zeros((h, w), bool)
    g[rng.integers(0, h), :] = True
    g[:, rng.integers(0, w)] = True
    return rng.random((h, w)) * (rng.random((h, w)) < 0.5), g


def _f_piecewise(rng, h, w):
    """float: a piecewise-constant map (constant quadrants), a box GT."""
    g = np.zeros((h, w), bool)
    r0, c0 = rng.integers(0, h), rng.integers(0, w)
    g[r0: r0 + max(1, h // 3), c0: c0 + max(1, w // 3)] = True
    p = np.full((h, w), rng.integers(0, 256) / 255)
    p[: h // 2] = rng.integers(0, 256) / 255
    return p, g


#: the kinds of :func:`random_pair`, by name
PAIR_KINDS = {
    "box-soft": _box_soft, "grey-gt": _grey_gt, "hard-grey-gt": _hard_grey_gt, "square": _square,
    "blurred-box": _blurred_box, "zero-runs": _zero_runs,
    "f-noise": _f_noise, "f-u8-sparse": _f_u8_sparse, "f-constant": _f_constant,
    "f-blob-minmax": _f_blob_minmax, "f-lines": _f_lines, "f-piecewise": _f_piecewise,
}
#: the float kinds in a fixed order (``structure_kinds[t % 6]`` cycles through them)
FLOAT_KINDS = ("f-noise", "f-u8-sparse", "f-constant", "f-blob-minmax", "f-lines", "f-piecewise")


def random_pair(rng: np.random.Generator, h: int, w: int, kind: str = "box-soft",
                **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """One random (map, GT) pair of shape (h, w), drawn from ``rng``.

    Kinds without the ``f-`` prefix give a uint8 map and a uint8 GT (0 / 255, or
    grey for ``grey-gt``); ``f-`` kinds give a float64 map in [0, 1] and a bool
    GT. See :data:`PAIR_KINDS`; ``options`` go to the kind (``zero-runs``:
    ``zero_frac``, ``grey_gt``)."""
    return PAIR_KINDS[kind](rng, int(h), int(w), **options)


def random_pairs(rng: np.random.Generator, n: int, kind: str | tuple[str, ...] = "box-soft",
                 sizes: tuple[int, int] = (20, 90), **options: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` :func:`random_pair` s with (h, w) drawn from ``rng.integers(*sizes)``;
    a tuple of kinds is cycled through."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    out = []
    for i in range(n):
        h, w = rng.integers(*sizes, size=2)
        out.append(random_pair(rng, h, w, kinds[i % len(kinds)], **options))
    return out


# -- parity ------------------------------------------------------------------------

def assert_parity(ours: Any, reference: Any, tol: float = PARITY_TOL, *, rel: float = 0.0,
                  skip_nonfinite: bool | Collection[str] = False, what: Any = "") -> None:
    """``ours`` equals ``reference`` within ``tol`` (absolute) or ``rel``
    (relative to the reference): scalars as ``pytest.approx(ref, abs=tol,
    rel=rel)``, arrays as ``np.testing.assert_allclose(ours, ref, rtol=rel,
    atol=tol)``.

    Both are scalars, arrays / sequences, or mappings; for a mapping every key
    of ``reference`` is compared (``ours`` may hold more). ``skip_nonfinite``
    (True, or the keys it applies to) leaves out scalar reference values that
    are NaN or infinite (PySODMetrics' NaN cases); elsewhere a NaN scalar
    reference fails (as ``pytest.approx`` without ``nan_ok``) and an infinite
    one must be matched exactly. In arrays a NaN is matched by a NaN
    (``assert_allclose``'s ``equal_nan``). ``what`` names the case in failures."""
    if isinstance(reference, Mapping):
        for k, v in reference.items():
            assert k in ours, (what, k, "missing")
            skip = skip_nonfinite if isinstance(skip_nonfinite, bool) else k in skip_nonfinite
            assert_parity(ours[k], v, tol, rel=rel, skip_nonfinite=skip, what=(what, k))
        return
    skip = bool(skip_nonfinite)
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim == 0:
        v = float(ref)
        assert ours is not None, (what, None, v)
        got = float(ours)
        if not math.isfinite(v):
            assert skip or got == v, (what, got, v)  # NaN != NaN: a NaN reference fails unless skipped
            return
        assert abs(got - v) <= max(tol, rel * abs(v)), (what, got, v, got - v)
        return
    got = np.asarray(ours, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    np.testing.assert_allclose(got, ref, rtol=rel, atol=tol, err_msg=str(what))


#: the published SOD map sets under ``$SALBENCH_SHARED_DATA/maps/SOD``
SOD_MAP_SETS = ("DSS", "Amulet", "PiCANet", "RBD", "BSCA", "GS")


def sod_triples(root: Path, n: int, step: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` (map, GT, RGB photo) triples of the shared SOD data: every
    ``step``-th image, the published map sets in turn, read as PySODMetrics'
    users read them (OpenCV grey, photo BGR -> RGB)."""
    import cv2

    out = []
    for i, gp in enumerate(sorted((root / "SOD" / "gt").glob("*.png"))[::step][:n]):
        meth = SOD_MAP_SETS[i % len(SOD_MAP_SETS)]
        p = cv2.imread(str(root / "maps" / "SOD" / meth / gp.name), cv2.IMREAD_GRAYSCALE)
        g = cv2.imread(str(gp), cv2.IMREAD_GRAYSCALE)
        im = cv2.cvtColor(cv2.imread(str(root / "SOD" / "images" / (gp.stem + ".jpg"))), cv2.COLOR_BGR2RGB)
        out.append((p, g, im))
    return out
