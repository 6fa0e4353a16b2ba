"""Analysis: bootstrap intervals (coverage on a known distribution), paired
tests (false-positive rate, power), Holm, subsets from GT and label files,
``salbench compare`` / ``worst`` / ``report --ci --significance --by
--subsets --claims --format csv|json|html --preset``, and escaping of odd names
(Markdown, LaTeX compiled by pdflatex where installed, matplotlib titles) -
on a store of real evaluations of maps made from demo images."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from salbench.report import analysis
from salbench.run.evaluate import evaluate_pairs
from salbench.store.results import ResultsStore

from helpers import cli, make_set

ODD = "Odd|name&50%_$\\frac{1}{2}$ é中"


# -- statistics -------------------------------------------------------------------

def test_resample_counts_rows_are_resamples():
    c = analysis.resample_counts(7, 50, seed=3)
    assert c.shape == (50, 7) and np.all(c.sum(1) == 7)
    assert np.array_equal(c, analysis.resample_counts(7, 50, seed=3))  # seeded


def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(1)
    true, reps, hit = 2 / 7, 300, 0  # Beta(2, 5)
    for s in range(reps):
        lo, hi = analysis.bootstrap_ci(rng.beta(2, 5, 80), n_boot=1000, seed=s)
        hit += lo <= true <= hi
    assert 0.91 <= hit / reps <= 0.98, hit / reps


def test_bootstrap_means_ignore_missing_values():
    v = np.array([[1.0, np.nan], [3.0, 2.0]])
    m = analysis.bootstrap_means(v, np.array([[1.0, 1.0], [2.0, 0.0]]))
    assert np.allclose(m, [[2.0, 2.0], [1.0, np.nan]], equal_nan=True)


@pytest.mark.parametrize("test,sims", [("wilcoxon", 400), ("permutation", 100)])
def test_paired_test_false_positive_rate_and_power(test, sims):
    rng = np.random.default_rng(1)
    fp = 0
    for s in range(sims):
        base = rng.uniform(0, 1, 60)  # two identical methods, independent per-image noise
        d = (base + rng.normal(0, 0.05, 60)) - (base + rng.normal(0, 0.05, 60))
        fp += analysis.paired_test(d, test, seed=s) < 0.05
    assert fp / sims <= 0.05, fp / sims
    base = rng.uniform(0, 1, 300)  # a planted difference of 0.02
    d = (base + 0.02 + rng.normal(0, 0.05, 300)) - (base + rng.normal(0, 0.05, 300))
    assert analysis.paired_test(d, test) < 1e-3
    assert analysis.paired_test(np.zeros(10), test) == 1.0


def test_holm():
    assert np.allclose(analysis.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(analysis.holm([np.nan, 0.01])[0])


def test_which_metrics_are_means():
    assert analysis.is_mean_metric("mae", "r3net") and analysis.is_mean_metric("mean_f", "pysodmetrics")
    assert not analysis.is_mean_metric("mean_f", "r3net")
    assert not analysis.is_mean_metric("max_f", "pysodmetrics") and not analysis.is_mean_metric("max_e", "r3net")


def test_compare_frame_planted_difference_and_na():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.3, 200)
    rows = [{"method": m, "dataset": "D", "image": f"i{i}", "mae": base[i] + (0.03 if m == "B" else 0)
             + rng.normal(0, 0.02), "max_f": 0.5} for m in ("A", "B") for i in range(200)]
    df = analysis.compare(pd.DataFrame(rows), "A", "B", ["mae", "max_f"], "pysodmetrics")
    mae = df[df.metric == "mae"].iloc[0]
    assert mae.better == "A" and mae.hi < 0 and mae.n == 200
    assert df[df.metric == "max_f"].iloc[0].note == analysis.NEEDS_CURVES


# -- subsets ------------------------------------------------------------------------

def test_gt_attributes_and_builtin_subsets(tmp_path):
    masks = {"empty": np.zeros((20, 20)), "small": np.zeros((20, 20)), "big": np.zeros((20, 20)),
             "two": np.zeros((20, 20))}
    masks["small"][8:10, 8:10] = 255
    masks["big"][0:15, 0:20] = 255
    masks["two"][2:5, 2:5] = masks["two"][12:16, 12:16] = 255
    pairs = []
    for k, m in masks.items():
        Image.fromarray(m.astype(np.uint8)).save(tmp_path / f"{k}.png")
        pairs.append((k, tmp_path / f"{k}.png"))
    a = analysis.gt_attributes(pairs)
    assert a.loc["empty", "empty"] and a.loc["two", "components"] == 2 and a.loc["big", "border"]
    assert not a.loc["small", "border"] and a.loc["small", "area"] == pytest.approx(0.01)
    size = analysis.builtin_subsets(a, "size")
    assert size["empty GT"] == ["empty"] and sorted(size["size small (<10%)"]) == ["small", "two"]
    assert size["size large (>=30%)"] == ["big"]
    assert analysis.builtin_subsets(a, "components")["2 components"] == ["two"]


def test_label_files(tmp_path):
    (tmp_path / "l.csv").write_text("image,clutter,kind\nt0.jpg,1,animal\nt1,0,person;animal\n")
    s = analysis.load_labels(tmp_path / "l.csv")
    assert s == {"clutter": ["t0"], "kind=animal": ["t0", "t1"], "kind=person": ["t1"]}
    (tmp_path / "l.json").write_text(json.dumps({"t0": ["MB", "OC"], "t1": ["OC"]}))
    assert analysis.load_labels(tmp_path / "l.json") == {"MB": ["t0"], "OC": ["t0", "t1"]}


# -- a store of real evaluations -----------------------------------------------------

MAPS = {
    "good": lambda gt, rng: ndimage.gaussian_filter(gt.astype(float), 1.5),
    "noisy": lambda gt, rng: np.clip(ndimage.gaussian_filter(gt.astype(float), 5) + rng.normal(0, 40, gt.shape), 0, 255),
    ODD: lambda gt, rng: np.clip(ndimage.gaussian_filter(gt.astype(float), 3) + rng.normal(0, 20, gt.shape), 0, 255),
}


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    ds_dir = root / "data" / "Mine"
    names = make_set(ds_dir, 10, prefix="t", digits=1, quality=75, empty_gt=(9,))  # t9: an empty GT
    rng = np.random.default_rng(0)
    results = root / "results"
    store = ResultsStore(results / "salbench.sqlite")
    for label, fn in MAPS.items():
        out = results / label / "Mine"
        out.mkdir(parents=True)
        for n in names:
            gt = np.asarray(Image.open(ds_dir / "gt" / f"{n}.png"))
            Image.fromarray(np.round(fn(gt, rng)).astype(np.uint8)).save(out / f"{n}.png")
        pairs = [(n, out / f"{n}.png", ds_dir / "gt" / f"{n}.png") for n in names]
        for proto in ("pysodmetrics", "r3net"):
            per: dict = {}
            summ = evaluate_pairs(pairs, protocol=proto, workers=1,
                                  on_image=lambda nm, s, per=per: per.__setitem__(nm, s))
            store.put_results(label, "Mine", proto, summ, per, f"run-{label}")
        store.start_run(f"run-{label}", method=label, method_name=label, dataset="Mine",
                        dataset_path=str(ds_dir), dataset_fingerprint="f" * 64,
                        weights_sha256="ab" * 32, status="done")
    store.close()
    return root


@pytest.mark.slow
def test_report_ci_and_significance(store_root):
    res = str(store_root / "results")
    r = cli("report", "--results", res, "--ci", "--significance", "--metrics", "mae,maxF,S")
    assert r.returncode == 0, r.stderr
    good = next(ln for ln in r.stdout.splitlines() if ln.startswith("| good"))
    cells = [c.strip() for c in good.split("|")[2:-1]]
    assert " ± " in cells[0] and cells[1].endswith("± n/a")
    assert "needs per-image curves" in r.stdout and "Wilcoxon signed-rank" in r.stdout
    r = cli("report", "--results", res, "--ci", "--ci-format", "interval", "--metrics", "mae")
    assert r.returncode == 0 and "[0." in r.stdout
    r = cli("report", "--results", res, "--ci", "-o", str(store_root / "t.tex"))
    assert r.returncode == 0 and r"$\pm$" in (store_root / "t.tex").read_text()


def test_intervals_match_the_dataset_value(store_root):
    import salbench
    pi = salbench.results(store_root / "results", per_image=True, protocol="pysodmetrics")
    df = salbench.results(store_root / "results", protocol="pysodmetrics")
    ivs = analysis.intervals(pi, "pysodmetrics", ["mae", "max_f"], n_boot=200)
    for m in MAPS:
        lo, hi = ivs[(m, "Mine", "mae")]
        v = float(df[(df.method == m)]["mae"].iloc[0])
        assert lo <= v <= hi
        assert ivs[(m, "Mine", "max_f")][2] == analysis.NEEDS_CURVES


@pytest.mark.slow
def test_report_by_size_and_label_subsets(store_root, tmp_path):
    res = str(store_root / "results")
    r = cli("report", "--results", res, "--by", "size", "--metrics", "mae,maxF")
    assert r.returncode == 0, r.stderr
    assert "Subset: empty GT (Mine: 1 images)" in r.stdout
    assert r.stdout.count("**Table 2.**") >= 2 and "| n/a" in r.stdout.replace("  ", " ") or " n/a |" in r.stdout
    (tmp_path / "l.csv").write_text("image,hard\n" + "".join(f"t{i},{int(i < 3)}\n" for i in range(10)))
    r = cli("report", "--results", res, "--subsets", str(tmp_path / "l.csv"), "--metrics", "mae")
    assert r.returncode == 0, r.stderr
    assert "Subset: hard (Mine: 3 images)" in r.stdout


@pytest.mark.slow
def test_compare_and_worst_commands(store_root, tmp_path):
    res = str(store_root / "results")
    r = cli("compare", "good", "noisy", "--results", res, "--show", "4", "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Wilcoxon signed-rank" in r.stdout and "Holm" in r.stdout and "n/a (needs per-image curves)" in r.stdout
    mae = next(ln for ln in r.stdout.splitlines() if "MAE" in ln and ln.startswith("|"))
    assert mae.split("|")[-2].strip() == "good"
    csv = pd.read_csv(tmp_path / "compare-good-noisy-mae.csv")
    assert len(csv) == 4 and (csv["advantage_a"].diff().dropna() <= 0).all()
    assert Image.open(tmp_path / "compare-good-noisy-mae.png").size[0] > 400
    r = cli("worst", "--method", "noisy", "--dataset", "Mine", "-n", "3", "--results", res,
             "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    w = pd.read_csv(tmp_path / "worst-noisy-Mine-mae.csv")
    assert len(w) == 3 and list(w["mae"]) == sorted(w["mae"], reverse=True)
    sheet = np.asarray(Image.open(tmp_path / "worst-noisy-Mine-mae.png").convert("L"))
    assert sheet.std() > 20  # images, not a blank page
    r = cli("compare", "good", "nobody", "--results", res)
    assert r.returncode == 2 and "nobody" in r.stderr


@pytest.mark.slow
def test_claims_file_and_delta_flags(store_root, tmp_path):
    from salbench.report.claims import load_claims, records
    shipped = Path(__file__).resolve().parents[1] / "reports" / "claims" / "r3net-ijcai2018.csv"
    assert load_claims(shipped) == records()  # the shipped R3Net claims, as a file
    (tmp_path / "c.json").write_text(json.dumps({"paper": "X et al. 2030", "protocol": "pysodmetrics", "claims": [
        {"method": "good", "display": "Good (paper)", "dataset": "Mine", "metric": "MAE", "value": 0.5},
        {"method": "other", "dataset": "Mine", "metric": "maxF", "value": 0.9}]}))
    r = cli("report", "--results", str(store_root / "results"), "--claims", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stderr
    assert "† Good (paper)" in r.stdout and "† other" in r.stdout and "reported in X et al. 2030" in r.stdout
    assert "Claims differing from the measurement by more than 0.010: Good (paper) Mine MAE: claimed 0.500" in r.stdout
    r = cli("report", "--results", str(store_root / "results"), "--no-claims", "--protocol", "r3net")
    assert r.returncode == 0 and "†" not in r.stdout


@pytest.mark.slow
def test_exports_carry_provenance(store_root, tmp_path):
    res = str(store_root / "results")
    r = cli("report", "--results", res, "--ci", "--format", "json", "--preset", "modern")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["provenance"]["protocol"] == "pysodmetrics" and d["provenance"]["salbench_version"]
    run = next(x for x in d["provenance"]["runs"] if x["method"] == "good")
    assert run["dataset_fingerprint"] == "f" * 64 and run["weights_sha256"] == "ab" * 32
    assert len(run["maps_sha256"]) == 64
    metrics = {x["metric"] for x in d["tables"][0]["rows"]}
    assert metrics == {"s_measure", "max_f", "mean_f", "weighted_f", "mean_e", "mae"}
    r = cli("report", "--results", res, "--ci", "-o", str(tmp_path / "t.csv"))
    assert r.returncode == 0, r.stderr
    c = pd.read_csv(tmp_path / "t.csv")
    assert {"salbench_version", "protocol", "dataset_fingerprint", "weights_sha256", "maps_sha256",
            "ci_lo", "ci_hi"} <= set(c.columns)
    r = cli("report", "--results", res, "--preset", "r3net")
    assert r.returncode == 0 and "Protocol: r3net" in r.stdout and "Preset r3net" in r.stdout


@pytest.mark.slow
def test_html_leaderboard_renders_and_sorts(store_root, tmp_path):
    out = tmp_path / "board.html"
    r = cli("report", "--results", str(store_root / "results"), "--ci", "--metrics", "mae,S", "-o", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "sortBy(" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page  # self-contained
    assert "ab" * 32 in page  # provenance footer
    chrome = shutil.which("chromium") or shutil.which("chromium-headless-shell")
    if chrome is None:
        pytest.skip("no Chromium installed (apt-get install chromium); page structure checked")
    # sort by the MAE column on load, then screenshot and dump the DOM
    (tmp_path / "sorted.html").write_text(page.replace("</body>", "<script>sortBy(0,1);</script></body>"))
    shot = tmp_path / "shot.png"
    subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,900", (tmp_path / "sorted.html").as_uri()], capture_output=True, timeout=120)
    assert np.asarray(Image.open(shot).convert("L")).std() > 5  # not blank
    dom = subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (tmp_path / "sorted.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-sorted="0:1:asc"' in dom
    body = dom[dom.index("<tbody>"):dom.index("</tbody>")]
    assert body.index(">good<") < body.index(">noisy<")  # ascending MAE: good first


def test_odd_names_markdown_latex_and_figures(store_root, tmp_path):
    from salbench.report.escape import md_escape, tex_escape
    from salbench.report.figures import figures
    from salbench.report.render import render_latex, render_markdown
    from salbench.report.tables import build_table
    with ResultsStore(store_root / "results" / "salbench.sqlite") as s:
        t = build_table(s, protocol="pysodmetrics", datasets=None, methods=None, metrics=["maxf", "mae"],
                        columns=[])
        md = render_markdown(t)
        tex = render_latex([t])
        written = figures(s, tmp_path / "fig", protocol="pysodmetrics", datasets=None, methods=None)
    assert md_escape(ODD) in md and "Odd\\|name&amp;50%\\_\\$\\\\frac{1}{2}\\$ é中" in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert all(ln.replace("\\|", "").count("|") == rows[0].count("|") for ln in rows)  # no extra columns
    assert tex_escape(ODD) in tex and r"\textbar{}" in tex and "{\\'{e}}" in tex and "U+4E2D" in tex
    assert any(p.suffix == ".png" for p in written)
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed; escaping checked")
    (tmp_path / "t.tex").write_text(tex)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
