"""Curve-aggregated metrics (max F, max E, max IoU; mean F under r3net) in
the analysis: ``run --keep-curves`` stores each image's curves, and report
``--ci`` / ``--by`` / ``--significance`` and ``compare`` use them. Checked
against independent ``salbench eval`` runs on the same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import cli, make_set


def _maps(ds: Path, out: Path, blur: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for g in sorted((ds / "gt").glob("*.png")):
        gt = np.asarray(Image.open(g).convert("L"), np.float64)
        m = cv2.GaussianBlur(gt, (0, 0), blur) * 0.85 + rng.uniform(0, 60, gt.shape)
        Image.fromarray(np.clip(m, 0, 255).astype(np.uint8)).save(out / g.name)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("curves")
    make_set(root / "data" / "cv", 12, size=(96, 72))
    for meth, blur, seed in (("sharp", 1.5, 1), ("soft", 6.0, 2)):
        _maps(root / "data" / "cv", root / "maps" / meth / "cv", blur, seed)
    cli("run", "--method", "maps", "--maps", root / "maps", "--datasets", "cv", "--data-root", root / "data",
        "--results", root / "results", "--keep-curves", "-q", check_rc=0)
    return root


def _eval(root: Path, meth: str, names, tmp: Path, protocol: str) -> dict:
    """``salbench eval`` of ``meth``'s maps of ``names`` only (an independent computation)."""
    p, g = tmp / f"{meth}-p", tmp / f"{meth}-g"
    for d in (p, g):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    for n in names:
        shutil.copy(root / "maps" / meth / "cv" / f"{n}.png", p)
        shutil.copy(root / "data" / "cv" / "gt" / f"{n}.png", g)
    cli("eval", "--pred", p, "--gt", g, "--protocol", protocol, "--json", tmp / "e.json", check_rc=0)
    return json.loads((tmp / "e.json").read_text())


@pytest.mark.slow
def test_stored_curves_reproduce_the_summaries(store_root):
    from salbench.report import curves as C
    from salbench.store.results import ResultsStore

    with ResultsStore(store_root / "results" / "salbench.sqlite", read_only=True) as s:
        for proto in ("pysodmetrics", "r3net"):
            summ = {r["method"]: r for r in s.summaries(protocol=proto)}
            for meth in ("sharp", "soft"):
                names, arr = s.image_curves(meth, "cv", proto)
                assert len(names) == 12 and arr.shape == (12, 6, 256)
                for key in ("max_f", "mean_f", "max_e", "max_iou", "max_dice"):
                    assert abs(C.value(arr, key, proto) - summ[meth]["scores"][key]) < 1e-12, (proto, meth, key)


@pytest.mark.slow
def test_subset_values_of_curve_metrics_equal_eval_on_the_subset(store_root, tmp_path):
    r = cli("report", "--results", store_root / "results", "--by", "size", "--protocol", "r3net",
            "--metrics", "maxF,mae", "--data-root", store_root / "data", "--format", "json",
            "-o", tmp_path / "by.json", check_rc=0)
    assert r.returncode == 0
    tables = json.loads((tmp_path / "by.json").read_text())["tables"]
    from salbench.report.analysis import builtin_subsets, gt_attributes

    pairs = [(p.stem, p) for p in sorted((store_root / "data" / "cv" / "gt").glob("*.png"))]
    subsets = builtin_subsets(gt_attributes(pairs, 128), "size")
    checked = 0
    for lab, names in subsets.items():
        if len(names) < 2:
            continue
        ref = _eval(store_root, "sharp", names, tmp_path, "r3net")
        got = [x for tab in tables if tab["subset"] == lab for x in tab["rows"]
               if x["method"] == "sharp" and x["metric"] == "max_f"]
        assert got and abs(got[0]["value"] - ref["max_f"]) < 1e-12, (lab, got, ref["max_f"])
        checked += 1
    assert checked >= 1


@pytest.mark.slow
def test_ci_significance_and_compare_cover_max_f(store_root):
    r = cli("report", "--results", store_root / "results", "--protocol", "pysodmetrics", "--metrics",
            "maxF,maxE,mae", "--ci", "--significance", check_rc=0)
    assert "needs per-image curves" not in r.stdout
    assert "paired bootstrap of the dataset-level difference" in r.stdout
    assert r.stdout.count("±") >= 6  # 2 methods x 3 metrics
    c = cli("compare", "sharp", "soft", "--results", store_root / "results", "--metrics", "maxF,mae",
            check_rc=0)
    assert "needs per-image curves" not in c.stdout and "paired bootstrap of the dataset-level" in c.stdout


def test_bootstrap_of_curve_metric_covers_the_truth():
    """Coverage of the percentile interval of max F over repeated draws of a
    synthetic 'dataset' of per-image curves from a known population."""
    from salbench.report import analysis
    from salbench.report import curves as C

    rng = np.random.default_rng(7)
    t = np.linspace(0, 1, 256)
    pop = 400
    # per-image P / R / F curves of a known population; the truth is max F of its mean curves
    shift = rng.uniform(0.2, 0.8, pop)
    P = 1 / (1 + np.exp(-12 * (t[None, :] - shift[:, None] + 0.3)))
    R = 1 - t[None, :] ** (1 + 3 * rng.uniform(size=(pop, 1)))
    F = 1.3 * P * R / (0.3 * P + R + 1e-12)
    curves = np.stack([P, R, F, F, F, F], axis=1)
    truth = C.value(curves, "max_f", "pysodmetrics")
    hits, reps = 0, 120
    for i in range(reps):
        sample = curves[rng.integers(0, pop, 60)]
        lo, hi = analysis.percentile_interval(
            C.resampled(sample, analysis.resample_counts(60, 500, i), "max_f", "pysodmetrics"))
        hits += lo <= truth <= hi
    assert 0.85 <= hits / reps <= 1.0


@pytest.mark.slow
def test_a_run_without_keep_curves_drops_the_old_curves(store_root, tmp_path):
    from salbench.store.results import ResultsStore

    res = tmp_path / "results"
    shutil.copytree(store_root / "results", res)
    cli("run", "--method", "maps", "--maps", store_root / "maps", "--datasets", "cv", "--data-root",
        store_root / "data", "--results", res, "--recompute", "-q", check_rc=0)
    with ResultsStore(res / "salbench.sqlite", read_only=True) as s:
        assert s.image_curves("sharp", "cv", "pysodmetrics") is None and s.count("image_curves") == 0
    r = cli("report", "--results", res, "--protocol", "pysodmetrics", "--metrics", "maxF", "--ci", check_rc=0)
    assert "needs per-image curves" in r.stdout and "--keep-curves" in r.stdout
