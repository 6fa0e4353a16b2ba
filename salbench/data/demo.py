"""The embedded ``demo`` dataset: procedurally generated, deterministic, exact GT.

So that a fresh machine can train, run and report end to end without any
download, :func:`ensure` draws a small salient-object dataset the first time it
is asked for (``salbench demo``, or any use of the ``demo`` / ``demo-train``
names) under ``<data root>/demo/{train,test}/{images,gt}``:

* each image (between 200×150 and 320×240) has a cluttered background - a
  smooth two-colour gradient, low-frequency shading, striped patches, a dozen
  low-contrast distractor shapes and strokes, two to six saturated ones (half of
  them in the object's own hue, so colour alone does not find it), sensor noise;
* one (sometimes two) salient objects - centred-ish, or (30 % of single
  objects) large and cut by the image frame - a blob, star or ellipse with a textured
  surface (stripes, checks or spots), often with holes (the background shows
  through, and the GT has the hole) and thin parts (limbs / antennae a few pixels
  wide) - the details the R3Net paper's residual refinement is about;
* the GT is the exact object mask (0 / 255 PNG); the image is a JPEG (quality 92).

Everything derives from ``np.random.default_rng((SEED, split, index))`` so two
machines generate identical files. Generation writes to a temporary folder and
renames it into place, so a killed or concurrent generation never leaves a
half-made dataset behind; a ``COMPLETE.json`` marker records the version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

#: bump when the generator changes: a stale demo folder is regenerated
DEMO_VERSION = 2
SEED = 20180713
COUNTS = {"train": 200, "test": 60}
JPEG_QUALITY = 92
MARKER = "COMPLETE.json"


def demo_dir(root: Path) -> Path:
    """``<root>/demo``."""
    return Path(root) / "demo"


def is_complete(root: Path) -> bool:
    """The demo data under ``root`` is complete and of the current :data:`DEMO_VERSION`."""
    marker = demo_dir(root) / MARKER
    try:
        return json.loads(marker.read_text()).get("version") == DEMO_VERSION
    except (OSError, ValueError):
        return False


def ensure(root: str | Path, force: bool = False) -> Path:
    """Generate the demo data under ``root/demo`` unless it is already there.
    Returns that folder. Idempotent; safe against concurrent callers."""
    root = Path(root)
    target = demo_dir(root)
    if is_complete(root) and not force:
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".demo-tmp-", dir=root))
    except OSError as exc:
        from salbench.errors import SalbenchError
        raise SalbenchError(f"cannot generate the demo dataset under {root}: {exc.strerror or exc}; "
                            f"choose a writable data root with --data-root or $SALBENCH_DATA") from None
    try:
        for split, n in COUNTS.items():
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "gt").mkdir(parents=True)
            for i in range(n):
                img, gt = make_sample(split, i)
                _save(tmp / split, f"{split}_{i:04d}", img, gt)
        (tmp / MARKER).write_text(json.dumps({"version": DEMO_VERSION, "seed": SEED,
                                              "counts": COUNTS}))
        if target.exists():
            if is_complete(root) and not force:  # someone else finished first
                return target
            old = root / f".demo-old-{os.getpid()}"
            os.rename(target, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(root):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _save(folder: Path, name: str, img: np.ndarray, gt: np.ndarray) -> None:
    from PIL import Image
    Image.fromarray(img, "RGB").save(folder / "images" / f"{name}.jpg", quality=JPEG_QUALITY)
    Image.fromarray(gt, "L").save(folder / "gt" / f"{name}.png")


# -- the generator ----------------------------------------------------------------

def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in 0..1) as float RGB 0..255."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb) * 255.0


def _segment_mask(yy, xx, p0, p1, width) -> np.ndarray:
    """Pixels within ``width/2`` of the segment p0-p1 (points as (x, y))."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    L2 = dx * dx + dy * dy + 1e-9
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / L2, 0.0, 1.0)
    d2 = (xx - (x0 + t * dx)) ** 2 + (yy - (y0 + t * dy)) ** 2
    return d2 <= (width / 2.0) ** 2


def _shape_mask(rng, yy, xx, cx, cy, r, kind) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    ang = rng.uniform(0, np.pi)
    c, s = np.cos(ang), np.sin(ang)
    u, v = dx * c + dy * s, -dx * s + dy * c
    if kind == "ellipse":
        a, b = r, r * rng.uniform(0.45, 0.9)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    theta = np.arctan2(v, u)
    rad = np.hypot(u, v)
    if kind == "star":
        k = int(rng.integers(4, 8))
        depth = rng.uniform(0.3, 0.5)
        edge = r * (1 - depth * (0.5 + 0.5 * np.cos(k * theta)))
        return rad <= edge
    # blob: a few random harmonics of the radius
    edge = np.full_like(theta, r)
    for k in range(2, 5):
        edge = edge + r * rng.uniform(0.04, 0.16) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    return rad <= edge


def _texture(rng, yy, xx, base, accent) -> np.ndarray:
    kind = rng.choice(["stripes", "checks", "spots", "plain"], p=[0.35, 0.25, 0.3, 0.1])
    if kind == "stripes":
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(5, 14)
        w = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period)
    elif kind == "checks":
        p = rng.uniform(5, 12)
        w = ((np.floor(xx / p) + np.floor(yy / p)) % 2).astype(float)
    elif kind == "spots":
        p = rng.uniform(9, 16)
        fx, fy = (xx % p) - p / 2, (yy % p) - p / 2
        w = (fx * fx + fy * fy <= (p * 0.3) ** 2).astype(float)
    else:
        w = np.zeros_like(xx)
    amount = rng.uniform(0.25, 0.6)
    w = (w * amount)[..., None]
    return base[None, None, :] * (1 - w) + accent[None, None, :] * w


def _background(rng, yy, xx, H: int, W: int) -> tuple[np.ndarray, float]:
    """A gradient between two muted colours with low-frequency shading; and its hue."""
    bg_h = rng.uniform(0, 1)
    c0 = _hsv(bg_h, rng.uniform(0.1, 0.35), rng.uniform(0.45, 0.8))
    c1 = _hsv((bg_h + rng.uniform(-0.12, 0.12)) % 1, rng.uniform(0.1, 0.35), rng.uniform(0.4, 0.8))
    ang = rng.uniform(0, 2 * np.pi)
    g = (xx * np.cos(ang) + yy * np.sin(ang))
    g = (g - g.min()) / (np.ptp(g) + 1e-9)
    img = c0[None, None, :] * (1 - g[..., None]) + c1[None, None, :] * g[..., None]
    shade = np.zeros((H, W))
    for _ in range(3):
        fx, fy = rng.uniform(0.5, 3) * 2 * np.pi / W, rng.uniform(0.5, 3) * 2 * np.pi / H
        shade += np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * np.pi))
    img *= (1 + 0.06 * shade)[..., None]

    return img, bg_h


def _patches(rng, img, yy, xx, H: int, W: int, bg_h: float) -> np.ndarray:
    """Background texture: one or two large striped patches in muted colours."""
    for _ in range(int(rng.integers(1, 3))):
        x0, y0 = rng.uniform(-0.2, 0.8) * W, rng.uniform(-0.2, 0.8) * H
        pw, ph = rng.uniform(0.2, 0.5) * W, rng.uniform(0.2, 0.5) * H
        patch = (xx >= x0) & (xx < x0 + pw) & (yy >= y0) & (yy < y0 + ph)
        col = _hsv((bg_h + rng.uniform(-0.25, 0.25)) % 1, rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.9))
        ang = rng.uniform(0, np.pi)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / rng.uniform(6, 16))
        a = (patch * stripes * rng.uniform(0.3, 0.6))[..., None]
        img = img * (1 - a) + col[None, None, :] * a

    return img


def _clutter(rng, img, yy, xx, H: int, W: int, bg_h: float, obj_h: float) -> None:
    """Muted distractor shapes and strokes, plus saturated ones, some in the
    object's own hue (colour alone does not find the object); drawn in place."""
    n_sat = int(rng.integers(2, 7))
    for j in range(int(rng.integers(8, 16)) + n_sat):
        saturated = j < n_sat
        if saturated:
            hue = (obj_h + rng.uniform(-0.08, 0.08)) % 1 if j % 2 == 0 else rng.uniform(0, 1)
            col = _hsv(hue, rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.95))
        else:
            col = _hsv((bg_h + rng.uniform(-0.2, 0.2)) % 1, rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.95))
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        r = rng.uniform(5, 16) if saturated else rng.uniform(6, 26)
        if rng.uniform() < 0.3:
            m = _segment_mask(yy, xx, (cx, cy), (cx + rng.uniform(-60, 60), cy + rng.uniform(-60, 60)),
                              rng.uniform(1.5, 4))
        else:
            m = _shape_mask(rng, yy, xx, cx, cy, r, rng.choice(["ellipse", "blob"]))
        img[m] = img[m] * 0.3 + col * 0.7



def _objects(rng, img, yy, xx, H: int, W: int, obj_h: float) -> np.ndarray:
    """The salient object(s), drawn in place: centred-ish, 18..32% of the
    short side in radius, sometimes cut by the frame, with thin parts and
    holes. Returns the exact mask."""
    gt = np.zeros((H, W), dtype=bool)
    n_obj = 1 if rng.uniform() < 0.8 else 2
    for o in range(n_obj):
        r = min(H, W) * rng.uniform(0.18, 0.32 if n_obj == 1 else 0.22)
        cx = W * (rng.uniform(0.3, 0.7) if n_obj == 1 else (0.3 + 0.4 * o + rng.uniform(-0.06, 0.06)))
        cy = H * rng.uniform(0.35, 0.65)
        if n_obj == 1 and rng.uniform() < 0.3:  # cut by the frame: border priors fail here
            side = int(rng.integers(0, 4))
            r = min(H, W) * rng.uniform(0.3, 0.42)
            if side < 2:
                cx = W * (rng.uniform(0.08, 0.2) if side == 0 else rng.uniform(0.8, 0.92))
            else:
                cy = H * (rng.uniform(0.1, 0.22) if side == 2 else rng.uniform(0.78, 0.9))
        m = _shape_mask(rng, yy, xx, cx, cy, r, rng.choice(["ellipse", "star", "blob"]))
        for _ in range(int(rng.integers(0, 4))):      # thin parts: limbs / antennae
            a = rng.uniform(0, 2 * np.pi)
            L = r * rng.uniform(0.9, 1.7)
            p0 = (cx + 0.5 * r * np.cos(a), cy + 0.5 * r * np.sin(a))
            p1 = (cx + L * np.cos(a), cy + L * np.sin(a))
            m |= _segment_mask(yy, xx, p0, p1, rng.uniform(2.0, 4.5))
        if rng.uniform() < 0.55:                       # holes
            for _ in range(int(rng.integers(1, 3))):
                hr = r * rng.uniform(0.14, 0.3)
                hx = cx + rng.uniform(-0.35, 0.35) * r
                hy = cy + rng.uniform(-0.35, 0.35) * r
                m &= ~_shape_mask(rng, yy, xx, hx, hy, hr, "ellipse")
        base = _hsv((obj_h + 0.08 * o) % 1, rng.uniform(0.4, 0.95), rng.uniform(0.4, 0.95))
        accent = _hsv((obj_h + rng.uniform(-0.15, 0.15)) % 1, rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.9))
        tex = _texture(rng, yy, xx, base, accent)
        light = 1 + 0.15 * ((xx - cx) * 0.6 - (yy - cy)) / (r + 1e-9)
        tex = tex * np.clip(light, 0.75, 1.25)[..., None]
        img[m] = tex[m]
        gt |= m

    return gt


def make_sample(split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (H×W×3 uint8) and exact GT (H×W uint8, 0/255) of one demo sample."""
    rng = np.random.default_rng([SEED, {"train": 1, "test": 2}[split], index])
    W = int(rng.integers(25, 41)) * 8          # 200..320
    H = int(np.clip(round(W * rng.uniform(0.65, 0.85) / 2) * 2, 150, 240))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    img, bg_h = _background(rng, yy, xx, H, W)
    obj_h = (bg_h + rng.uniform(0.2, 0.8)) % 1  # the object's hue: away from the background's
    img = _patches(rng, img, yy, xx, H, W, bg_h)
    _clutter(rng, img, yy, xx, H, W, bg_h, obj_h)
    gt = _objects(rng, img, yy, xx, H, W, obj_h)
    img += rng.normal(0, 4.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), (gt.astype(np.uint8) * 255)
