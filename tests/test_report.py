"""``salbench report``: Table 2 / Table 1 layouts in Markdown and LaTeX (compiled
with pdflatex where installed), top-three marks, protocol statements, paper
claims as marked rows, extra columns, and PR / F-measure figures - from a store
filled with real evaluations of real maps on demo images."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from salbench.data import demo
from salbench.run.evaluate import evaluate_pairs
from salbench.report.render import render_latex, render_markdown
from salbench.report.tables import build_table
from salbench.store.results import ResultsStore

from helpers import cli

METHODS = {  # label -> how its maps are made from the GT and the image
    "good": lambda gt, img, rng: ndimage.gaussian_filter(gt.astype(float), 1.5),
    "mid": lambda gt, img, rng: np.clip(ndimage.gaussian_filter(gt.astype(float), 6)
                                        + rng.normal(0, 30, gt.shape), 0, 255),
    "bad": lambda gt, img, rng: np.clip(img.mean(-1) * 0.5 + ndimage.gaussian_filter(gt.astype(float), 12) * 0.4, 0, 255),
    "noise": lambda gt, img, rng: rng.uniform(0, 255, gt.shape),
}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    data = {"demo": range(0, 5), "SOD": range(5, 10)}
    store = ResultsStore(root / "results" / "salbench.sqlite")
    for ds, idx in data.items():
        samples = {}
        for i in idx:
            img, gt = demo.make_sample("test", i)
            samples[f"t{i}"] = (img, gt)
            (root / ds / "gt").mkdir(parents=True, exist_ok=True)
            Image.fromarray(gt).save(root / ds / "gt" / f"t{i}.png")
        labels = dict(METHODS)
        labels["r3net-0"] = METHODS["mid"]
        labels["r3net-6"] = METHODS["good"]
        for label, fn in labels.items():
            out = root / "results" / label / ds
            out.mkdir(parents=True, exist_ok=True)
            for name, (img, gt) in samples.items():
                Image.fromarray(np.round(fn(gt, img, rng)).astype(np.uint8)).save(out / f"{name}.png")
            pairs = [(n, out / f"{n}.png", root / ds / "gt" / f"{n}.png") for n in samples]
            for proto in ("pysodmetrics", "r3net"):
                per: dict = {}
                summ = evaluate_pairs(pairs, protocol=proto, workers=1,
                                      on_image=lambda n, s, per=per: per.__setitem__(n, s))
                store.put_results(label, ds, proto, summ, per)
            store.start_run(f"{label}-{ds}", method=label, method_name=label, dataset=ds,
                            fps=10.0 + len(label), fps_crf=None, status="done", n_predicted=5,
                            predict_seconds=5 / (10.0 + len(label)), device="cpu", batch_size=1)
        store.put_method("good", "good", "learned", "a paper", 12_345_678, 4.5)
    store.close()
    return root


def _store(root: Path) -> ResultsStore:
    return ResultsStore(root / "results" / "salbench.sqlite")


def _column(store, ds, key, protocol, methods=("good", "mid", "bad", "noise")):
    rows = store.summaries(datasets=[ds], protocol=protocol)
    return {r["method"]: r["scores"][key] for r in rows if r["method"] in methods}


def test_markdown_table2_marks_the_best_three(store_dir):
    with _store(store_dir) as s:
        t = build_table(s, protocol="pysodmetrics", datasets=None, methods=None,
                        metrics=["maxf", "mae"], columns=[])
        md = render_markdown(t)
        assert "Protocol: pysodmetrics" in md and "Legend" in md
        assert "r3net-0" not in md  # ablation rows belong to Table 1
        lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
        assert "n/N: a partial dataset" in md  # the fixture's SOD holds 5 of its 300 images
        for ds in ("demo", "SOD"):
            head = {"demo": "demo", "SOD": "SOD (5/300)"}[ds]  # demo: no registered count
            assert [c.strip() for c in lines["Method"].split("|")].count(f"{head} Fβ") == 1
            col = list(t.datasets).index(ds) * 2 + 2  # cells: '', Method, F, MAE, F, MAE
            for key, lower in (("max_f", False), ("mae", True)):
                vals = _column(s, ds, key, "pysodmetrics")
                order = sorted(vals, key=lambda m: vals[m], reverse=not lower)
                idx = col + (1 if key == "mae" else 0)
                cell = {m: lines[m].split("|")[idx].strip() for m in vals}
                assert cell[order[0]] == f"**{vals[order[0]]:.3f}**¹"
                assert cell[order[1]] == f"_{vals[order[1]]:.3f}_²"
                assert cell[order[2]] == f"{vals[order[2]]:.3f}³"
                assert cell[order[3]] == f"{vals[order[3]]:.3f}"
        assert "†" not in md  # no paper claims under another protocol


def test_r3net_protocol_shows_paper_claims_as_marked_rows(store_dir):
    with _store(store_dir) as s:
        t = build_table(s, protocol="r3net", datasets=["SOD"], methods=None, metrics=["maxf", "mae"],
                        columns=[])
        md = render_markdown(t)
        assert "Protocol: r3net" in md and "† reported in Deng et al., IJCAI 2018" in md
        # tabulate pads the cells: compare the stripped first cell
        dss = next(ln for ln in md.splitlines() if ln.startswith("| ") and ln.split("|")[1].strip() == "† DSS")
        assert "0.842" in dss and "0.118" in dss
        measured = [r for r in t.rows if not r.claim]
        claims = [r for r in t.rows if r.claim]
        assert len(claims) == 21 and t.rows.index(claims[0]) == len(measured)  # a separate block
        # the paper's R3Net (0.847 F) outranks every measured toy method except perfect ones
        r3 = next(i for i, r in enumerate(t.rows) if r.claim and r.label == "R3Net")
        assert t.ranks.get((r3, "SOD", "max_f")) in (1, 2, 3)
        off = build_table(s, protocol="r3net", datasets=["SOD"], methods=None, metrics=["maxf"],
                          columns=[], claims=False)
        assert not any(r.claim for r in off.rows)


def test_extra_metrics_columns_and_filters(store_dir):
    with _store(store_dir) as s:
        t = build_table(s, protocol="pysodmetrics", datasets=["demo"], methods=["good", "bad"],
                        metrics=["maxf", "mae", "s", "wf"], columns=["params", "gmacs", "fps"])
        md = render_markdown(t)
    head = next(ln for ln in md.splitlines() if ln.startswith("| Method"))
    assert "demo Sα" in head and "demo wFβ" in head and "Params" in head and "FPS" in head
    assert "SOD" not in head
    good = next(ln for ln in md.splitlines() if ln.startswith("| good"))
    assert "12.35M" in good and "4.50" in good and "14.0 (cpu, batch 1)" in good
    assert [r.label for r in t.rows] == ["bad", "good"] or [r.label for r in t.rows] == ["good", "bad"]


def test_table1_rows_in_paper_order(store_dir):
    with _store(store_dir) as s:
        t = build_table(s, number=1, protocol="r3net", datasets=None, methods=None,
                        metrics=["maxf", "mae"], columns=[])
    labels = [r.label for r in t.rows]
    assert labels[:2] == ["r3net-0", "r3net-6"]
    assert [r.label for r in t.rows if r.claim][:3] == ["R3Net-0", "R3Net-1", "R3Net-2"]
    assert len([r for r in t.rows if r.claim]) == 14
    assert "Table 1" in render_markdown(t)


def test_latex_structure_and_compiles(store_dir, tmp_path):
    with _store(store_dir) as s:
        t = build_table(s, protocol="r3net", datasets=["demo", "SOD"], methods=None,
                        metrics=["maxf", "mae"], columns=["params", "fps"])
    tex = render_latex([t])
    assert tex.startswith("%") and r"\documentclass{article}" in tex and r"\usepackage{color}" in tex
    assert r"\begin{tabular}{l|cc|cc|rr}" in tex and "Protocol: r3net" in tex
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    # each ranked column has exactly one red, and ties aside one green and one blue
    for colour in ("red", "green", "blue"):
        assert body.count(r"\textcolor{%s}" % colour) >= 4
    rows = [ln for ln in body.splitlines() if ln.endswith(r"\\")]
    assert rows[0].startswith(r"Method & \multicolumn{2}{c|}{demo} & \multicolumn{2}{c|}{SOD (5/300)}")
    assert all(ln.count("&") == 6 for ln in rows[1:])  # 1 + 2×2 + 2 columns
    assert re.search(r"\$\^\\dagger\$DSS & -- & -- & (\\textcolor\{\w+\}\{)?0\.842\}? & "
                     r"(\\textcolor\{\w+\}\{)?0\.118", tex)
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base); structure checked")
    (tmp_path / "t.tex").write_text(tex)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


@pytest.mark.slow
def test_report_command_writes_markdown_and_figures(store_dir, tmp_path):
    out = tmp_path / "reports" / "demo.md"
    figs = tmp_path / "reports" / "fig"
    r = cli("report", "--results", store_dir / "results", "-o", out, "--figures", figs)
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    assert "Protocol: pysodmetrics" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 4 and all((out.parent / p).is_file() for p in links)
    for ds in ("demo", "SOD"):
        for kind in ("pr", "fmeasure"):
            png = figs / f"{kind}_{ds}_pysodmetrics.png"
            assert Image.open(png).size[0] > 300
            assert (figs / f"{kind}_{ds}_pysodmetrics.pdf").read_bytes()[:4] == b"%PDF"
    r = cli("report", "--results", store_dir / "results", "--format", "latex", "--protocol", "r3net")
    assert r.returncode == 0 and r"\textcolor{red}" in r.stdout
    r = cli("report", "--results", tmp_path / "none")
    assert r.returncode == 2 and "no results store" in r.stderr
    r = cli("report", "--results", store_dir / "results", "--metrics", "maxF,bogus")
    assert r.returncode == 2 and "unknown metric" in r.stderr


@pytest.fixture(scope="module")
def partial_store(tmp_path_factory):
    """Real evaluations of few images stored under registered names (partial:
    PASCAL-S 3/850 for both methods; SOD 3/300 and 4/300) and an ad-hoc one."""
    root = tmp_path_factory.mktemp("partial")
    rng = np.random.default_rng(1)
    store = ResultsStore(root / "results" / "salbench.sqlite")
    plan = {("good", "PASCAL-S"): 3, ("mid", "PASCAL-S"): 3, ("good", "SOD"): 3, ("mid", "SOD"): 4,
            ("good", "mine"): 3}
    for (label, ds), n in plan.items():
        d = root / label / ds
        d.mkdir(parents=True)
        pairs = []
        for i in range(n):
            img, gt = demo.make_sample("test", i)
            Image.fromarray(gt).save(d / f"g{i}.png")
            Image.fromarray(np.round(METHODS[label](gt, img, rng)).astype(np.uint8)).save(d / f"p{i}.png")
            pairs.append((f"t{i}", d / f"p{i}.png", d / f"g{i}.png"))
        per: dict = {}
        summ = evaluate_pairs(pairs, protocol="pysodmetrics", workers=1, structural=False,
                              on_image=lambda nm, sc, per=per: per.__setitem__(nm, sc))
        assert summ["count"] == n
        store.put_results(label, ds, "pysodmetrics", summ, per, f"run-{label}-{ds}")
    store.close()
    return root / "results"


def _head(md: str) -> list[str]:
    return [c.strip() for c in next(ln for ln in md.splitlines() if ln.startswith("| Method")).split("|")]


@pytest.mark.parametrize("spelling", ["pascal", "Pascal-S", "pascals"])
def test_report_datasets_any_spelling_selects_the_stored_name(partial_store, spelling):
    r = cli("report", "--results", partial_store, "--datasets", spelling)
    assert r.returncode == 0, r.stderr
    assert _head(r.stdout)[1:-1] == ["Method", "PASCAL-S (3/850) Fβ", "PASCAL-S (3/850) MAE"]
    rows = [ln.split("|")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("| ")][1:]
    assert sorted(rows) == ["good", "mid"]


@pytest.mark.slow
def test_report_figures_accept_any_spelling(partial_store, tmp_path):
    r = cli("report", "--results", partial_store, "--datasets", "pascals", "--figures", str(tmp_path / "fig"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "fmeasure_PASCAL-S_pysodmetrics.pdf", "fmeasure_PASCAL-S_pysodmetrics.png",
        "pr_PASCAL-S_pysodmetrics.pdf", "pr_PASCAL-S_pysodmetrics.png"]


def test_partial_marks_in_markdown_through_the_cli(partial_store):
    r = cli("report", "--results", partial_store, "--datasets", "sod,pascal,mine")
    assert r.returncode == 0, r.stderr
    md = r.stdout
    # SOD: rows differ in n -> per-cell marks; PASCAL-S: one n -> in the header; mine: never partial
    assert _head(md)[1:-1] == ["Method", "SOD Fβ", "SOD MAE", "PASCAL-S (3/850) Fβ", "PASCAL-S (3/850) MAE",
                               "mine Fβ", "mine MAE"]
    cells = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
             for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| Method")}
    assert all(c.endswith(" (3/300)") for c in cells["good"][:2])
    assert all(c.endswith(" (4/300)") for c in cells["mid"][:2])
    assert not any("/" in c for c in cells["good"][2:] + cells["mid"][2:])
    assert cells["mid"][4:] == ["–", "–"]
    assert "n/N: a partial dataset: scored on the n images found of its N registered images" in md
    full = cli("report", "--results", partial_store, "--datasets", "mine")
    assert full.returncode == 0 and "n/N" not in full.stdout and "/" not in "".join(_head(full.stdout))


def test_partial_marks_in_latex_through_the_cli(partial_store, tmp_path):
    out = tmp_path / "t.tex"
    r = cli("report", "--results", partial_store, "--datasets", "sod,pascal,mine", "-o", str(out))
    assert r.returncode == 0, r.stderr
    tex = out.read_text()
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    rows = [ln for ln in body.splitlines() if ln.endswith(r"\\")]
    assert rows[0] == (r"Method & \multicolumn{2}{c|}{SOD} & \multicolumn{2}{c|}{PASCAL-S (3/850)} & "
                       r"\multicolumn{2}{c}{mine} \\")
    good = next(ln for ln in rows if ln.startswith("good &"))
    mid = next(ln for ln in rows if ln.startswith("mid &"))
    assert good.count(r"\,{\scriptsize(3/300)}") == 2 and mid.count(r"\,{\scriptsize(4/300)}") == 2
    assert "scriptsize" not in good.split(" & ", 3)[3]  # PASCAL-S and mine cells: no per-cell mark
    caption = tex[tex.index(r"\caption{"):tex.index(r"\resizebox")]
    assert "n/N: a partial dataset" in caption


@pytest.mark.slow
def test_rows_in_the_users_order_or_sorted_by_a_metric(store_dir):
    res = store_dir / "results"
    r = cli("report", "--results", res, "--datasets", "SOD", "--methods", "noise,good,bad")
    assert r.returncode == 0, r.stderr
    rows = [ln.split("|")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("| ") and "Method" not in ln]
    assert rows == ["noise", "good", "bad"]
    for spec, first in (("maxF", "good"), ("mae:SOD", "good")):
        r = cli("report", "--results", res, "--datasets", "SOD", "--methods", "noise,bad,good,mid", "--sort", spec)
        rows = [ln.split("|")[1].strip() for ln in r.stdout.splitlines()
                if ln.startswith("| ") and "Method" not in ln]
        assert rows[0] == first and rows[-1] in ("noise", "bad"), (spec, rows)
    r = cli("report", "--results", res, "--sort", "nope")
    assert r.returncode == 2 and "unknown metric" in r.stderr
