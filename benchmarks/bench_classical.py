"""Validation and speed of the classical methods (MR, wCtr*, BSCA).

    python benchmarks/bench_classical.py validate [--data-root ../shared/data] [--limit N] [--workers 2]
    python benchmarks/bench_classical.py segments [--limit N] [--methods wctr,bsca]
    python benchmarks/bench_classical.py speed [--images 20] [--methods mr,wctr,bsca]
    python benchmarks/bench_classical.py floor [--step 10]

``validate`` runs wCtr*, BSCA and MR on the SOD images, writes the maps to a
scratch folder (``--out``, default a temporary directory, never the data
folder), and compares with the authors' MATLAB maps
(``maps/SOD/RBD`` = wCtr*, ``maps/SOD/BSCA``): per-image mean absolute
difference of the two maps (both /255) averaged over the images, and maxF / MAE
under the ``pysodmetrics`` and ``r3net`` protocols of ``salbench.run.evaluate``
for our maps and for theirs.

``segments`` recovers the authors' superpixels from their maps (the maps are
piecewise constant over them) and scores each SLIC variant of
``salbench.classical.slic`` by the mean IoU of its superpixels with those
regions (``region_iou``), per image.

``floor`` asks how close *any* map can come to the authors' when its
superpixels differ from theirs as much as ours do: per method, our map made
with our default segmentation (A) against the same code on another plausible
segmentation (B: the released SLIC grid for wCtr*, the older SLIC source for
BSCA), with the region IoU of B's map against A's superpixels next to that of
the authors' map against A's superpixels, and the MAD of B and of the authors'
map against A. It does the same for the Geodesic Saliency maps of the same
authors' run (``maps/SOD/GS``, Zhu's ``GeodesicSaliency.m``: geodesic distance
to the background part of the boundary, no tunable step), written here as a
diagnostic only (not a registered method).

``speed`` times each method on SOD images resized to 400×300 (landscape) in one
process with one BLAS thread: CPU seconds per image (``time.process_time``,
unaffected by other users of the machine) and wall seconds; then the same image
set on a process pool of 1 and of 2 workers (wall time ratio = scaling over the
two cores). It prints the load average before and after, since the box is
shared.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import concurrent.futures as cf  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REFS = {"wctr": "RBD", "bsca": "BSCA"}


def default_root() -> Path:
    env = os.environ.get("SALBENCH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def read_grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def mean_abs_diff(method, root: Path, ref: str, stems) -> float:
    """Mean over ``stems`` of mean |ours - theirs| / 255 on SOD."""
    vals = []
    for s in stems:
        (ours,) = method.predict([read_rgb(root / "SOD" / "images" / f"{s}.jpg")], [s])
        theirs = read_grey(root / "maps" / "SOD" / ref / f"{s}.png")
        vals.append(np.abs(ours.astype(np.float64) - theirs).mean() / 255.0)
    return float(np.mean(vals))


# --- validation ----------------------------------------------------------------

def _run_one(args):
    name, img_path, out_path = args
    from salbench.plugins.registry import create

    (m,) = create(name).predict([read_rgb(Path(img_path))], [Path(img_path).stem])
    Image.fromarray(m).save(out_path)
    return out_path


def validate(root: Path, out: Path, limit: int | None, workers: int, methods: list[str]) -> dict:
    from salbench.run.evaluate import evaluate_pairs

    stems = sorted(p.stem for p in (root / "SOD" / "images").glob("*.jpg"))
    if limit:
        stems = stems[:limit]
    gt = root / "SOD" / "gt"
    results: dict = {"images": len(stems), "methods": {}}
    for name in methods:
        mdir = out / name
        mdir.mkdir(parents=True, exist_ok=True)
        jobs = [(name, str(root / "SOD" / "images" / f"{s}.jpg"), str(mdir / f"{s}.png")) for s in stems]
        t0 = time.perf_counter()
        with cf.ProcessPoolExecutor(max_workers=workers) as ex:
            list(ex.map(_run_one, jobs, chunksize=4))
        entry: dict = {"wall_s": round(time.perf_counter() - t0, 1)}
        pairs = [(s, mdir / f"{s}.png", gt / f"{s}.png") for s in stems]
        for proto in ("pysodmetrics", "r3net"):
            r = evaluate_pairs(pairs, protocol=proto, structural=False)
            entry[proto] = {"max_f": r["max_f"], "mae": r["mae"]}
        ref = REFS.get(name)
        if ref:
            rdir = root / "maps" / "SOD" / ref
            diffs = [np.abs(read_grey(mdir / f"{s}.png").astype(np.float64) - read_grey(rdir / f"{s}.png")).mean() / 255
                     for s in stems]
            entry["mad_mean"] = float(np.mean(diffs))
            entry["mad_median"] = float(np.median(diffs))
            entry["mad_p90"] = float(np.percentile(diffs, 90))
            rpairs = [(s, rdir / f"{s}.png", gt / f"{s}.png") for s in stems]
            entry["authors"] = {}
            for proto in ("pysodmetrics", "r3net"):
                r = evaluate_pairs(rpairs, protocol=proto, structural=False)
                entry["authors"][proto] = {"max_f": r["max_f"], "mae": r["mae"]}
        results["methods"][name] = entry
        print(name, json.dumps(entry), flush=True)
    return results


# --- segmentation: the authors' superpixels recovered from their maps ----------

#: SLIC variants compared per method: (frame rule, superpixel count, compactness, variants).
SEGMENT_SETUPS = {"wctr": ("zhu", None, 20, ("zhu", "zhu_floor")),
                  "bsca": ("yang", 300, 20, ("achanta", "achanta_exe"))}


def constant_regions(m: np.ndarray) -> np.ndarray:
    """Label image of the 4-connected regions of equal value of a map. The
    authors' maps are piecewise constant over their superpixels, so these are
    their superpixels (neighbours that got the same 8-bit value merge)."""
    from scipy import ndimage as ndi

    out = np.zeros(m.shape, np.int64)
    n = 0
    for v in np.unique(m):
        lab, k = ndi.label(m == v)
        out[lab > 0] = lab[lab > 0] + n
        n += k
    return out


def region_iou(ref_map: np.ndarray, labels: np.ndarray, lo: int = 250, hi: int = 1000) -> float:
    """Mean over the constant regions of ``ref_map`` of superpixel size
    (``lo``..``hi`` pixels) of their best IoU with a superpixel of ``labels``.
    1 = the same partition; two SLIC runs on the same image that differ only in
    JPEG re-encoding at quality 50 score about 0.85."""
    r = constant_regions(ref_map).ravel()
    lab = np.unique(labels, return_inverse=True)[1].ravel()
    nl = int(lab.max()) + 1
    rs, ls = np.bincount(r), np.bincount(lab)
    keys, inter = np.unique(r * nl + lab, return_counts=True)
    ri, li = keys // nl, keys % nl
    best = np.zeros(rs.size)
    np.maximum.at(best, ri, inter / (rs[ri] + ls[li] - inter))
    sel = (rs >= lo) & (rs <= hi)
    return float(best[sel].mean()) if sel.any() else float("nan")


def segments(root: Path, limit: int | None, methods: list[str]) -> dict:
    """For each method with reference maps: region IoU of each SLIC variant's
    superpixels with the regions of the authors' maps, per image."""
    from salbench.classical.frame import remove_frame
    from salbench.classical.slic import slic

    stems = sorted(p.stem for p in (root / "SOD" / "images").glob("*.jpg"))
    if limit:
        stems = stems[:limit]
    res: dict = {"images": len(stems), "methods": {}}
    for name in methods:
        if name not in SEGMENT_SETUPS:
            continue
        rule, k, m, variants = SEGMENT_SETUPS[name]
        ious: dict = {v: [] for v in variants}
        for s in stems:
            rgb = read_rgb(root / "SOD" / "images" / f"{s}.jpg")
            theirs = read_grey(root / "maps" / "SOD" / REFS[name] / f"{s}.png")
            frame = remove_frame(rgb, rule)
            inner = frame.crop(rgb)
            h, w = inner.shape[:2]
            kk = k or int(np.floor(h * w / 600 + 0.5))
            for v in variants:
                ious[v].append(region_iou(theirs, frame.paste(slic(inner, kk, m, variant=v) + 1)))
        a, b = (np.array(ious[v]) for v in variants)
        entry = {v: round(float(np.nanmean(ious[v])), 4) for v in variants}
        entry[f"images_{variants[1]}_better"] = int((b > a).sum())
        res["methods"][name] = entry
        print(name, json.dumps(entry), flush=True)
    return res


# --- floor: how far maps on other superpixels land ------------------------------

def geodesic_saliency(rgb: np.ndarray, slic_variant: str):
    """Zhu's ``GeodesicSaliency.m`` (Wei et al., ECCV 2012, as in the RBD package)
    on wCtr*'s superpixels and features, for ``floor`` only: boundary superpixels
    whose context-aware contrast (``colDist / (1 + 3·posDist)``, mean of the
    ``round(n/200·5)`` smallest, min-max scaled when the range exceeds 1) is at
    most 0.5 are the background; saliency = geodesic distance (edge cost
    ``max(0, d - clipVal)`` over the boundary-linked adjacency) to them, scaled
    by the value at the top 2 % and capped at 1. Returns (superpixels, values)."""
    from scipy import sparse
    from scipy.sparse import csgraph

    from salbench.classical.graph import link_clique
    from salbench.classical.matlab import MATLAB_EPS, minmax
    from salbench.classical.slic import is_degenerate
    from salbench_methods import wctr as W

    sp = W.zhu_superpixels(rgb, slic_variant)
    if is_degenerate(sp):
        return sp, np.zeros(sp.n)
    adj, bd, col, pos = W.zhu_features(sp, *rgb.shape[:2])
    clip = W.dynamic_params(adj, col)[0]
    n = sp.n
    cb = col[np.ix_(bd, bd)].copy()
    np.fill_diagonal(cb, np.inf)
    ctx = np.sort(cb / (1.0 + 3.0 * pos[np.ix_(bd, bd)]), axis=1)[:, :int(np.floor(n / 200 * 5 + 0.5))].mean(axis=1)
    bg = bd
    if ctx.max() - ctx.min() > 1:
        bg = bd[(ctx - ctx.min()) / (ctx.max() - ctx.min()) <= 0.5]
    a = sparse.tril(link_clique((sparse.csr_matrix(adj) > 0).astype(np.float64), bd), k=-1).tocoo()
    # a virtual node n joined to the background at zero cost (tiny costs: scipy drops zeros)
    cost = np.concatenate([np.maximum(0.0, col[a.row, a.col] - clip), np.zeros(bg.size)]) + W.ZERO_COST
    g = sparse.coo_matrix((cost, (np.concatenate([a.row, np.full(bg.size, n)]), np.concatenate([a.col, bg]))),
                          shape=(n + 1, n + 1)).tocsr()
    geo = csgraph.dijkstra(g, directed=False, indices=n)[:n]
    top = np.sort(geo)[::-1][max(int(np.floor(0.02 * n + 0.5)), 1) - 1]
    return sp, minmax(np.minimum(geo / top, 1.0), MATLAB_EPS)


def floor(root: Path, step: int) -> dict:
    """See the module docstring (``floor``)."""
    from salbench.classical.frame import remove_frame
    from salbench.classical.matlab import to_uint8_map
    from salbench_methods import bsca as B
    from salbench_methods import wctr as W

    setups = {  # name: (reference folder, frame rule, fn(inner, variant), A variant, B variant)
        "wctr": ("RBD", "zhu", lambda im, v: W.wctr_superpixel_saliency(im, slic_variant=v), "zhu_floor", "zhu"),
        "bsca": ("BSCA", "yang", lambda im, v: B.bsca_superpixel_saliency(im, slic_variant=v), "achanta_exe",
                 "achanta"),
        "gs": ("GS", "zhu", geodesic_saliency, "zhu_floor", "zhu"),
    }
    from salbench.data.imageio import read_gt
    from salbench.metrics import Evaluator

    stems = sorted(p.stem for p in (root / "SOD" / "images").glob("*.jpg"))[::step]
    res: dict = {"images": len(stems), "step": step, "methods": {}}
    protos = ("pysodmetrics", "r3net")
    for name, (ref, rule, fn, va, vb) in setups.items():
        rows = []
        # scores of our map (A) and of the authors' on the same images
        evs = {(who, pr): Evaluator(pr, structural=False) for who in ("ours", "authors") for pr in protos}
        for s in stems:
            rgb = read_rgb(root / "SOD" / "images" / f"{s}.jpg")
            theirs = read_grey(root / "maps" / "SOD" / ref / f"{s}.png")
            frame = remove_frame(rgb, rule)
            inner = frame.crop(rgb)
            if inner.size == 0:
                continue
            sp_a, val_a = fn(inner, va)
            sp_b, val_b = fn(inner, vb)
            map_a = frame.paste(to_uint8_map(sp_a.paint(val_a)))
            map_b = frame.paste(to_uint8_map(sp_b.paint(val_b)))
            labels_a = frame.paste(sp_a.labels + 1)
            for pr in protos:
                gt = read_gt(root / "SOD" / "gt" / f"{s}.png", "cv2" if pr == "pysodmetrics" else "pil")
                evs["ours", pr].update(map_a, gt)
                evs["authors", pr].update(theirs, gt)
            rows.append((region_iou(map_b, labels_a), region_iou(theirs, labels_a),
                         np.abs(map_a.astype(np.float64) - map_b).mean() / 255,
                         np.abs(map_a.astype(np.float64) - theirs).mean() / 255))
        r = np.array(rows)
        entry = {"A": va, "B": vb, "iou_B_vs_A": round(float(np.nanmean(r[:, 0])), 3),
                 "iou_authors_vs_A": round(float(np.nanmean(r[:, 1])), 3),
                 "mad_B_vs_A": round(float(r[:, 2].mean()), 4), "mad_authors_vs_A": round(float(r[:, 3].mean()), 4)}
        for (who, pr), ev in evs.items():
            sc = ev.compute()
            entry[f"{who}_{pr}"] = {"max_f": round(sc["max_f"], 4), "mae": round(sc["mae"], 4)}
        res["methods"][name] = entry
        print(name, json.dumps(entry), flush=True)
    return res


# --- speed ---------------------------------------------------------------------

def _images_400x300(root: Path, n: int) -> list[np.ndarray]:
    paths = sorted((root / "SOD" / "images").glob("*.jpg"))[:n]
    return [np.asarray(Image.open(p).convert("RGB").resize((400, 300), Image.BILINEAR)) for p in paths]


def _time_batch(args):
    name, imgs = args
    from salbench.plugins.registry import create

    m = create(name)
    t0, c0 = time.perf_counter(), time.process_time()
    for im in imgs:
        m.predict([im], ["x"])
    return time.perf_counter() - t0, time.process_time() - c0


def speed(root: Path, n: int, methods: list[str]) -> dict:
    from salbench.plugins.registry import create

    imgs = _images_400x300(root, n)
    res: dict = {"images": len(imgs), "size": "400x300", "load_before": os.getloadavg(), "methods": {}}
    for name in methods:
        m = create(name)
        m.predict([imgs[0]], ["warm-up"])  # numba compile / cache load
        c0, w0 = time.process_time(), time.perf_counter()
        for im in imgs:
            m.predict([im], ["x"])
        cpu = (time.process_time() - c0) / len(imgs)
        wall = (time.perf_counter() - w0) / len(imgs)
        # scaling: the same images in 2 chunks on pools of 1 and 2 processes
        halves = [(name, imgs[0::2]), (name, imgs[1::2])]
        scale, cpus = {}, {}
        for workers in (1, 2):
            with cf.ProcessPoolExecutor(max_workers=workers) as ex:
                list(ex.map(_time_batch, [(name, imgs[:2])] * workers))  # warm the workers
                t0 = time.perf_counter()
                parts = list(ex.map(_time_batch, halves))
                scale[workers] = time.perf_counter() - t0
                cpus[workers] = sum(c for _, c in parts)
        res["methods"][name] = {
            "cpu_s_per_image": round(cpu, 4), "wall_s_per_image": round(wall, 4),
            "pool1_wall_s": round(scale[1], 2), "pool2_wall_s": round(scale[2], 2),
            "speedup_2_vs_1": round(scale[1] / scale[2], 2),
            # CPU seconds per image inside the workers: equal for 1 and 2 workers means
            # no contention between them (the work itself scales linearly) ...
            "pool1_cpu_s_per_image": round(cpus[1] / len(imgs), 4),
            "pool2_cpu_s_per_image": round(cpus[2] / len(imgs), 4),
            # ... and CPU seconds / wall second = cores actually obtained on the shared box
            "pool1_cores_obtained": round(cpus[1] / scale[1], 2),
            "pool2_cores_obtained": round(cpus[2] / scale[2], 2)}
        print(name, json.dumps(res["methods"][name]), flush=True)
    res["load_after"] = os.getloadavg()
    return res


def main(argv=None) -> int:
    sys.path.insert(0, str(REPO))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate")
    v.add_argument("--data-root", type=Path, default=default_root())
    v.add_argument("--out", type=Path, default=None)
    v.add_argument("--limit", type=int, default=None)
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--methods", default="wctr,bsca,mr")
    v.add_argument("--json", type=Path, default=None)
    g = sub.add_parser("segments")
    g.add_argument("--data-root", type=Path, default=default_root())
    g.add_argument("--limit", type=int, default=None)
    g.add_argument("--methods", default="wctr,bsca")
    g.add_argument("--json", type=Path, default=None)
    s = sub.add_parser("speed")
    s.add_argument("--data-root", type=Path, default=default_root())
    s.add_argument("--images", type=int, default=20)
    s.add_argument("--methods", default="mr,wctr,bsca")
    s.add_argument("--json", type=Path, default=None)
    f = sub.add_parser("floor")
    f.add_argument("--data-root", type=Path, default=default_root())
    f.add_argument("--step", type=int, default=10, help="every STEP-th SOD image (default 10: 30 images)")
    f.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.cmd == "validate":
        out = a.out or Path(tempfile.mkdtemp(prefix="salbench-classical-"))
        res = validate(a.data_root, out, a.limit, a.workers, a.methods.split(","))
        res["maps_dir"] = str(out)
    elif a.cmd == "segments":
        res = segments(a.data_root, a.limit, a.methods.split(","))
    elif a.cmd == "floor":
        res = floor(a.data_root, a.step)
    else:
        res = speed(a.data_root, a.images, a.methods.split(","))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
