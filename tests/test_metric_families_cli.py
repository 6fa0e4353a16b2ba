"""The metric families through the real CLI and the Python API: ``eval
--metrics`` (printed, JSON, per-image CSV), the protocol refusal, exact
Evaluator merges with families, ``run --metrics`` into the store and
``report`` / ``list metrics`` reading the metric table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import cli, make_set, one_line_error


def _maps_for(ds: Path, out: Path, seed: int = 0) -> None:
    """A grey PNG map per GT of ``ds``: the GT blurred, shifted and noised
    (so thresholds, components and boundaries all matter)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for g in sorted((ds / "gt").glob("*.png")):
        gt = np.asarray(Image.open(g).convert("L"), np.float64)
        m = cv2.GaussianBlur(np.roll(gt, 3, axis=1), (0, 0), 4) * 0.8 + rng.uniform(0, 50, gt.shape)
        Image.fromarray(np.clip(m, 0, 255).astype(np.uint8)).save(out / g.name)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fam")
    make_set(root / "ds", 6, size=(120, 90))
    _maps_for(root / "ds", root / "maps")
    return root


def _reference_fmv2(pairs_root: Path) -> dict:
    """PySODMetrics 1.6.2's FmeasureV2 on the same files (read as it reads them)."""
    psm = pytest.importorskip("py_sod_metrics")
    handlers = {
        "iou": psm.IOUHandler(with_dynamic=True, with_adaptive=True, with_binary=True),
        "kappa": psm.KappaHandler(with_dynamic=True, with_adaptive=True, with_binary=True),
        "fm_ds": psm.FmeasureHandler(with_dynamic=False, with_adaptive=False, with_binary=True,
                                     sample_based=False, beta=0.3),
    }
    fm = psm.FmeasureV2(metric_handlers=handlers)
    for g in sorted((pairs_root / "ds" / "gt").glob("*.png")):
        pred = cv2.imread(str(pairs_root / "maps" / g.name), cv2.IMREAD_GRAYSCALE)
        gt = cv2.imread(str(g), cv2.IMREAD_GRAYSCALE)
        fm.step(pred, gt)
    return fm.get_results()


def test_eval_metrics_json_csv_match_pysodmetrics(pairs, tmp_path):
    js, per = tmp_path / "r.json", tmp_path / "per.csv"
    r = cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--metrics", "fmv2,msiou,si",
            "--json", js, "--per-image", per, check_rc=0)
    assert "metric families fmv2, si, msiou" in r.stdout and "v2_iou_max" in r.stdout
    res = json.loads(js.read_text())
    ref = _reference_fmv2(pairs)
    assert res["metric_families"] == ["fmv2", "si", "msiou"]
    assert abs(res["v2_iou_max"] - float(ref["iou"]["dynamic"].max())) < 1e-10
    assert abs(res["v2_iou_mean"] - float(ref["iou"]["dynamic"].mean())) < 1e-10
    assert abs(res["v2_iou_adp"] - float(ref["iou"]["adaptive"])) < 1e-10
    assert abs(res["v2_kappa_bin"] - float(ref["kappa"]["binary"])) < 1e-10
    assert abs(res["v2_fm_ds_bin"] - float(ref["fm_ds"]["binary"])) < 1e-10
    assert len(res["v2_iou_curve"]) == 256 and len(res["msiou_curve"]) == 257
    # the classic set is unchanged by the families: the same as a plain eval
    plain = tmp_path / "plain.json"
    cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--json", plain, check_rc=0)
    base = json.loads(plain.read_text())
    for k in ("mae", "max_f", "mean_e", "s_measure", "weighted_f", "f_curve"):
        assert res[k] == base[k], k
    rows = list(csv.DictReader(per.open()))
    assert len(rows) == 6 and {"mae", "v2_iou_max", "v2_kappa_bin", "msiou", "si_mae"} <= set(rows[0])
    # the dataset's adaptive / binary values are the means of the per-image ones
    for key in ("v2_iou_adp", "v2_kappa_bin", "msiou"):
        vals = [float(row[key]) for row in rows]
        assert abs(np.mean(vals) - res[key]) < 1e-12, key


def test_metric_family_refused_under_r3net_and_unknown_names(pairs, tmp_path):
    js = tmp_path / "r.json"
    r = cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--protocol", "r3net",
            "--metrics", "fmv2", "--json", js)
    one_line_error(r, "'fmv2'", "not defined under protocol 'r3net'", "--protocol pysodmetrics")
    assert not js.exists()
    r = cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--metrics", "fmv2,nonsense")
    one_line_error(r, "'nonsense'", "fmv2")


def test_evaluator_families_merge_and_state_round_trip(pairs):
    from salbench.metrics import Evaluator

    files = sorted((pairs / "ds" / "gt").glob("*.png"))
    data = [(cv2.imread(str(pairs / "maps" / g.name), 0), cv2.imread(str(g), 0)) for g in files]
    whole = Evaluator(metrics="fmv2,si,msiou")
    a, b = Evaluator(metrics=["fmv2", "si", "msiou"]), Evaluator(metrics="fmv2,si,msiou")
    for i, (p, g) in enumerate(data):
        whole.update(p, g)
        (a if i % 2 else b).update(p, g)
    merged = Evaluator.from_state_dict(json.loads(json.dumps(a.state_dict()))).merge(b)
    ra, rb = whole.compute(), merged.compute()
    assert set(ra) == set(rb)
    for k, v in ra.items():
        if k != "protocol_details":
            assert v == rb[k], k  # bit for bit, NaN-free (None where undefined)
    with pytest.raises(ValueError, match="metric families"):
        Evaluator().merge(Evaluator(metrics="fmv2"))


@pytest.mark.slow
def test_run_metrics_store_report_and_list(pairs, tmp_path):
    data = tmp_path / "data"
    (data / "fam").mkdir(parents=True)
    for sub in ("images", "gt"):
        (data / "fam" / sub).symlink_to(pairs / "ds" / sub)
    maps = tmp_path / "maps" / "fam"
    maps.parent.mkdir()
    maps.symlink_to(pairs / "maps")
    res = tmp_path / "results"
    cli("run", "--method", "maps", "--maps", tmp_path / "maps", "--name", "blurred", "--datasets", "fam",
        "--data-root", data, "--results", res, "--metrics", "fmv2", "-q", check_rc=0)
    import salbench

    df = salbench.results(res)
    got = df[(df.protocol == "pysodmetrics")]
    assert "v2_iou_max" in got.columns and got["v2_iou_max"].notna().all()
    cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--metrics", "fmv2",
        "--json", tmp_path / "e.json", check_rc=0)
    assert got["v2_iou_max"].iloc[0] == json.loads((tmp_path / "e.json").read_text())["v2_iou_max"]
    # under r3net the family is not computed (it is not defined there), never stored as another convention's
    r3 = df[df.protocol == "r3net"]
    assert r3.empty or "v2_iou_max" not in r3.columns or r3["v2_iou_max"].isna().all()
    rep = cli("report", "--results", res, "--protocol", "pysodmetrics", "--metrics", "maxF,v2_iou_max,v2_ber_bin",
              check_rc=0)
    assert "IoU_max" in rep.stdout and "BER_bin" in rep.stdout
    tex = cli("report", "--results", res, "--protocol", "pysodmetrics", "--metrics", "v2_iou_max",
              "--format", "latex", check_rc=0)
    assert r"\mathrm{IoU}_{max}" in tex.stdout
    lst = cli("list", "metrics", "--json", check_rc=0)
    rows = {row["key"]: row for row in json.loads(lst.stdout)}
    assert rows["mae"]["better"] == "lower" and rows["v2_ber_bin"]["better"] == "lower"
    assert rows["v2_iou_max"]["protocols"] == ["pysodmetrics"] and rows["max_f"]["family"] == "classic"


@pytest.mark.slow
def test_eval_context_measure_reads_the_photos(shared_data, tmp_path):
    """``eval --metrics context --images DIR``: cm and cm_w of real SOD pairs as
    PySODMetrics computes them from the same files (photo read by OpenCV, RGB)."""
    psm = pytest.importorskip("py_sod_metrics")
    sod, maps = shared_data / "SOD", shared_data / "maps" / "SOD" / "DSS"
    names = sorted(p.stem for p in maps.glob("*.png"))[:4]
    for sub in ("p", "g", "i"):
        (tmp_path / sub).mkdir()
    for n in names:
        (tmp_path / "p" / f"{n}.png").symlink_to(maps / f"{n}.png")
        (tmp_path / "g" / f"{n}.png").symlink_to(sod / "gt" / f"{n}.png")
        (tmp_path / "i" / f"{n}.jpg").symlink_to(sod / "images" / f"{n}.jpg")
    js = tmp_path / "r.json"
    cli("eval", "--pred", tmp_path / "p", "--gt", tmp_path / "g", "--images", tmp_path / "i",
        "--metrics", "context,hce,boundary", "--json", js, check_rc=0)
    res = json.loads(js.read_text())
    cm, ccm, hce = psm.ContextMeasure(), psm.CamouflageContextMeasure(), psm.HumanCorrectionEffortMeasure()
    for n in names:
        pred = cv2.imread(str(maps / f"{n}.png"), cv2.IMREAD_GRAYSCALE)
        gt = cv2.imread(str(sod / "gt" / f"{n}.png"), cv2.IMREAD_GRAYSCALE)
        img = cv2.cvtColor(cv2.imread(str(sod / "images" / f"{n}.jpg")), cv2.COLOR_BGR2RGB)
        cm.step(pred, gt)
        ccm.step(pred, gt, img=img)
        hce.step(pred, gt)
    assert abs(res["cm"] - float(cm.get_results()["cm"])) < 1e-10
    assert abs(res["cm_w"] - float(ccm.get_results()["ccm"])) < 1e-10
    assert abs(res["hce"] - float(hce.get_results()["hce"])) < 1e-10
    assert 0 <= res["relax_bf"] <= 1
    # without the photos cm_w is undefined (null), the rest is computed
    r = cli("eval", "--pred", tmp_path / "p", "--gt", tmp_path / "g", "--metrics", "context",
            "--json", js, check_rc=0)
    assert "cm_w needs the photos" in r.stderr
    res2 = json.loads(js.read_text())
    assert res2["cm_w"] is None and res2["cm"] == res["cm"]


def _family_results_two_ways(pairs):
    """Every family's dataset values through the Evaluator's 8-bit path (value
    table, raw histogram, lazily made float map) and through the reference
    construction of the inputs (:func:`image_input`), for the same pairs."""
    from salbench.metrics import Evaluator, table
    from salbench.metrics.families.base import Accumulator, image_input

    names = [n for n in table.FAMILIES if n != "context"]  # context: covered with photos above
    ev = Evaluator(metrics=names)
    accs = [Accumulator(f) for f in table.make_families(names)]
    for pred, gt in pairs:
        ev.update(pred, gt)
        x = image_input(pred, gt)
        for acc in accs:
            acc.add(acc.family.image(x)[1])
    res = ev.compute()
    ref = {}
    for acc in accs:
        for k, v in acc.compute().items():
            ref[k] = np.asarray(v, np.float64)
    return res, ref


def test_fast_path_inputs_equal_the_reference_construction(shared_data):
    """Bit for bit, on real maps and on maps whose values sit exactly on the
    adaptive threshold (few grey levels: the histogram threshold's tie case)."""
    rng = np.random.default_rng(3)
    pairs = []
    for m in ("DSS", "GS"):
        for g in sorted((shared_data / "maps" / "SOD" / m).glob("*.png"))[:10]:
            pairs.append((cv2.imread(str(g), 0), cv2.imread(str(shared_data / "SOD" / "gt" / g.name), 0)))
    for _ in range(8):  # levels {0, 85, 170, 255}: 2 * mean often equals a level's value
        pred = (rng.integers(0, 4, (40, 50)) * 85).astype(np.uint8)
        gt = ((rng.random((40, 50)) > 0.6) * 255).astype(np.uint8)
        pairs.append((pred, gt))
    res, ref = _family_results_two_ways(pairs)
    assert ref
    for k, v in ref.items():
        got = np.asarray([np.nan if x is None else x for x in np.atleast_1d(res[k])], np.float64)
        assert np.array_equal(got, np.atleast_1d(v), equal_nan=True), k


def test_compiled_handler_rows_equal_the_numpy_handlers():
    """The FmeasureV2 handler kernel against the NumPy transcription of
    PySODMetrics' handlers, bit for bit, with empty and full GT among the cases."""
    from salbench.metrics.families.confusion import BASE, BETA2, F1_BETA, handler_table
    from salbench.metrics.kernels.confusion import handler_rows

    rng = np.random.default_rng(0)
    for trial in range(200):
        fg = 0 if trial % 7 == 0 else int(rng.integers(1, 200000))
        bg = 0 if trial % 11 == 0 else int(rng.integers(1, 200000))
        tp = np.sort(rng.integers(0, fg + 1, 258)).astype(np.int64)
        fp = np.sort(rng.integers(0, bg + 1, 258)).astype(np.int64)
        out = np.empty((len(BASE), 258))
        handler_rows(tp, fp, bg - fp, fg - tp, BETA2, float(F1_BETA), out)
        assert np.array_equal(out, handler_table(tp, fp, bg - fp, fg - tp)), trial


from salbench.metrics.families.base import Family, MetricSpec  # noqa: E402


class FailsOnEmptyGT(Family):
    """A family that raises on images without foreground (stands for any
    family meeting an input it cannot handle)."""

    name = "fails-on-empty"
    image_keys = keys = ("fg_share",)

    def specs(self):
        return (MetricSpec("fg_share", self.name, "foreground share of the map", "test", True,
                           "fg", "fg"),)

    def image(self, x):
        if not x.gt.any():
            raise ZeroDivisionError("no foreground")
        v = float(x.pred[x.gt].sum() / x.pred.sum())
        return {"fg_share": v}, {"fg_share": np.float64(v)}

    def finish(self, state, n_images):
        return {"fg_share": float(state["fg_share"])}


def test_a_failing_family_costs_only_its_own_scores(tmp_path, monkeypatch):
    from salbench.metrics import table
    from salbench.run.evaluate import evaluate_pairs
    from salbench.store.schema import problem_rows

    monkeypatch.setitem(table.FAMILIES, "fails-on-empty", __name__)
    table.family_class.cache_clear()
    rng = np.random.default_rng(1)
    pairs = []
    for i in range(4):
        gt = np.zeros((30, 40), np.uint8)
        if i != 2:
            gt[5:20, 8:30] = 255
        pred = rng.integers(0, 256, gt.shape).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"p{i}.png"), pred)
        cv2.imwrite(str(tmp_path / f"g{i}.png"), gt)
        pairs.append((f"im{i}", tmp_path / f"p{i}.png", tmp_path / f"g{i}.png"))
    rows = {}
    res = evaluate_pairs(pairs, metrics="fmv2,fails-on-empty", on_image=lambda n, s: rows.__setitem__(n, s))
    table.family_class.cache_clear()
    assert res["count"] == 4 and res["v2_iou_max"] is not None  # every image keeps its other metrics
    assert [f["name"] for f in res["metric_failed"]] == ["im2"] and "no foreground" in res["metric_failed"][0]["problem"]
    assert np.isnan(rows["im2"]["fg_share"]) and rows["im2"]["mae"] is not None
    assert res["fg_share"] == pytest.approx(np.mean([rows[f"im{i}"]["fg_share"] for i in (0, 1, 3)]), abs=1e-15)
    kinds = [r[0] for r in problem_rows({"metric_failed": res["metric_failed"]})]
    assert kinds == ["metric_failed"]


def test_missing_or_mismatched_photos_are_listed_not_silently_dropped(pairs, tmp_path):
    """cm_w over the photos given: an image without one, or with one of another
    size, has cm_w undefined and is named; cm and every other metric stay."""
    photos = tmp_path / "photos"
    photos.mkdir()
    names = sorted(p.stem for p in (pairs / "ds" / "images").glob("*.jpg"))
    for n in names[2:]:
        (photos / f"{n}.jpg").symlink_to(pairs / "ds" / "images" / f"{n}.jpg")
    Image.open(pairs / "ds" / "images" / f"{names[1]}.jpg").resize((60, 45)).save(photos / f"{names[1]}.jpg")
    js, per = tmp_path / "r.json", tmp_path / "per.csv"
    r = cli("eval", "--pred", pairs / "maps", "--gt", pairs / "ds" / "gt", "--images", photos,
            "--metrics", "context", "--json", js, "--per-image", per, check_rc=0)
    res = json.loads(js.read_text())
    failed = {f["name"]: f["problem"] for f in res["metric_failed"]}
    assert set(failed) == {names[0], names[1]}
    assert "no photo" in failed[names[0]] and "60x45" in failed[names[1]] and "120x90" in failed[names[1]]
    assert f"{names[1]}: metric family context: photo" in r.stderr
    rows = {row["name"]: row for row in csv.DictReader(per.open())}
    assert rows[names[0]]["cm_w"] in ("", "nan") and rows[names[0]]["cm"] not in ("", "nan")
    given = [float(rows[n]["cm_w"]) for n in names[2:]]
    assert abs(res["cm_w"] - float(np.mean(given))) < 1e-12
    assert res["count"] == len(names) and abs(res["cm"] - float(np.mean([float(rows[n]["cm"]) for n in names]))) < 1e-12


def test_declared_image_mean_keys_are_means_of_the_per_image_values(pairs):
    """Every key a family declares in ``image_mean_keys`` (which the report's
    intervals, tests and subsets then resample) has as dataset value the mean
    of its per-image values; and the analysis reads that declaration."""
    from salbench.metrics import Evaluator, table
    from salbench.report.analysis import is_mean_metric

    data = []
    for g in sorted((pairs / "ds" / "gt").glob("*.png")):
        im = cv2.cvtColor(cv2.imread(str(pairs / "ds" / "images" / f"{g.stem}.jpg")), cv2.COLOR_BGR2RGB)
        data.append((cv2.imread(str(pairs / "maps" / g.name), 0), cv2.imread(str(g), 0), im))
    ev = Evaluator(metrics="all")
    rows = [ev.update(p, g, image=im) for p, g, im in data]
    res = ev.compute()
    for fam in table.make_families(table.FAMILIES):
        assert fam.image_mean_keys and set(fam.image_mean_keys) <= set(fam.image_keys), fam.name
        for k in fam.image_mean_keys:
            v = np.array([np.nan if r[k] is None else r[k] for r in rows], np.float64)
            assert abs(np.nanmean(v) - res[k]) < 1e-12, k
            assert is_mean_metric(k, "pysodmetrics"), k
    assert not is_mean_metric("v2_iou_max", "pysodmetrics") and not is_mean_metric("si_mae", "pysodmetrics")
