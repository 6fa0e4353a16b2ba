"""``salbench run`` end to end through the real CLI: a third-party plugin file
(weight-free methods written here), real JPEG/PNG data (demo samples, real SOD
and published maps), a run killed with SIGKILL and resumed, two runs writing one
store at once, CRF, and each kind of bad input."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from helpers import cli, cli_start, make_set
from salbench.store.results import ResultsStore

PLUGIN = textwrap.dedent('''
    import time
    import numpy as np
    from salbench.plugins.registry import Method, MethodNotReady, register_method


    def centre_contrast(im, sigma):
        h, w = im.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        c = np.exp(-(((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2) / (2 * sigma ** 2))
        f = im.astype(float)
        border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]]).mean(0)
        s = c * np.sqrt(((f - border) ** 2).sum(-1))
        return (255 * s / (s.max() + 1e-9)).astype(np.uint8)


    @register_method
    class CentreTest(Method):
        """Centre prior times colour distance to the mean border colour."""
        name = "centre-test"
        paper = "a test plugin"
        parallel = "processes"
        default_options = {"sigma": 0.3}

        def predict(self, images, names):
            return [centre_contrast(im, self.options["sigma"]) for im in images]


    @register_method
    class SlowTest(CentreTest):
        """The same, slowly, in batches in the main process (like a model)."""
        name = "slow-test"
        parallel = "none"
        batch_size = 2
        default_options = {"sigma": 0.3, "delay": 0.0}

        def predict(self, images, names):
            time.sleep(self.options["delay"] * len(images))
            return super().predict(images, names)


    @register_method
    class ThreadTest(CentreTest):
        name = "thread-test"
        parallel = "threads"


    @register_method
    class CrfTest(CentreTest):
        name = "crf-test"
        supports_crf = True
        default_crf = True


    @register_method
    class NotReady(CentreTest):
        name = "notready-test"

        def prepare(self):
            raise MethodNotReady("notready-test needs its weights: pass --weights FILE")

        def predict(self, images, names):
            raise AssertionError("predict must not run when prepare failed")
''')


@pytest.fixture()
def plugin(tmp_path):
    p = tmp_path / "my_plugin.py"
    p.write_text(PLUGIN)
    return p


def test_plugin_run_writes_maps_scores_and_run_record(tmp_path, plugin):
    names = make_set(tmp_path / "set8", 8)
    res = tmp_path / "results"
    cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", tmp_path / "set8",
        "--results", res, "--workers", "2", "-q", check_rc=0)
    out = res / "centre-test" / "set8"
    for n in names:
        m = np.asarray(Image.open(out / f"{n}.png"))
        img = np.asarray(Image.open(tmp_path / "set8" / "images" / f"{n}.jpg"))
        assert m.dtype == np.uint8 and m.shape == img.shape[:2]
    from salbench.run.evaluate import evaluate_pairs
    with ResultsStore(res / "salbench.sqlite") as s:
        sums = {r["protocol"]: r for r in s.summaries(curves=True)}
        assert set(sums) == {"pysodmetrics", "r3net"}
        for proto, row in sums.items():
            assert row["count"] == 8 and row["method"] == "centre-test" and row["dataset"] == "set8"
            assert len(row["curves"]["precision"]) == 256
            assert len(s.image_scores("centre-test", "set8", proto)) == 8
            direct = evaluate_pairs([(n, out / f"{n}.png", tmp_path / "set8" / "gt" / f"{n}.png")
                                     for n in names], protocol=proto, workers=1)
            assert row["scores"]["mae"] == pytest.approx(direct["mae"], abs=1e-12)
            assert row["scores"]["max_f"] == pytest.approx(direct["max_f"], abs=1e-12)
        run = s.latest_run("centre-test", "set8")
        assert run["status"] == "done" and run["options"] == {"sigma": 0.3}
        assert run["weights_sha256"] is None and run["n_predicted"] == 8 and run["fps"] > 0
        assert {"salbench", "numpy", "numba"} <= set(run["versions"])
        assert run["git_revision"] and sorted(run["protocols"]) == ["pysodmetrics", "r3net"]


@pytest.mark.slow
def test_killed_run_resumes_with_same_scores(tmp_path, plugin):
    make_set(tmp_path / "set16", 16)
    res = tmp_path / "results"
    out = res / "slow-test" / "set16"
    p = cli_start("run", "--plugin", plugin, "--method", "slow-test", "--datasets", tmp_path / "set16",
                  "--results", res, "--option", "delay=0.3", "-q", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.png"))) < 4:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    done = sorted(out.glob("*.png"))
    assert 4 <= len(done) < 16, "the run should have been killed mid-way"
    for f in done:  # atomic writes: every final PNG is whole
        assert np.asarray(Image.open(f)).size > 0
    r = cli("run", "--plugin", plugin, "--method", "slow-test", "--datasets", tmp_path / "set16",
            "--results", res, "--option", "delay=0.3", "-q", check_rc=0)
    assert f"resuming, {len(done)} of 16 maps" in r.stderr
    # an uninterrupted run elsewhere gives the same maps and the same scores
    res2 = tmp_path / "results2"
    cli("run", "--plugin", plugin, "--method", "slow-test", "--datasets", tmp_path / "set16",
        "--results", res2, "--option", "delay=0.0", "-q", check_rc=0)
    for f in sorted(out.glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(f)),
                              np.asarray(Image.open(res2 / "slow-test" / "set16" / f.name)))
    with ResultsStore(res / "salbench.sqlite") as a, ResultsStore(res2 / "salbench.sqlite") as b:
        for proto in ("pysodmetrics", "r3net"):
            [sa] = a.summaries(protocol=proto)
            [sb] = b.summaries(protocol=proto)
            assert sa["count"] == sb["count"] == 16
            for k in ("mae", "max_f", "mean_f", "s_measure", "max_e", "weighted_f"):
                assert sa["scores"][k] == sb["scores"][k], k
            assert a.image_scores("slow-test", "set16", proto) == b.image_scores("slow-test", "set16", proto)
        assert a.count("image_scores") == 2 * 16 and a.count("summaries") == 2
        runs = a.runs("slow-test", "set16")
        # the killed one stays visible, marked interrupted by the next run
        assert [r["status"] for r in runs] == ["interrupted", "done"]
        assert runs[1]["n_resumed"] == len(done) and runs[1]["n_predicted"] == 16 - len(done)


@pytest.mark.slow
def test_corrupt_image_is_a_reported_problem(tmp_path, plugin):
    make_set(tmp_path / "set6", 6)
    bad = tmp_path / "set6" / "images" / "s002.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    res = tmp_path / "results"
    r = cli("run", "--plugin", plugin, "--method", "slow-test", "--datasets", tmp_path / "set6",
            "--results", res, "-q", check_rc=1)
    assert "s002.jpg" in r.stderr and "problem" in r.stderr
    assert len(list((res / "slow-test" / "set6").glob("*.png"))) == 5
    with ResultsStore(res / "salbench.sqlite") as s:
        assert all(row["count"] == 5 for row in s.summaries())
        run = s.runs("slow-test", "set6")[-1]
        assert run["status"] == "done-with-problems" and "s002.jpg" in run["problems"][0]
    # an unreadable GT: that image is left out of the scores, and said so
    (tmp_path / "set6" / "gt" / "s004.png").write_bytes(b"not a png")
    r = cli("run", "--plugin", plugin, "--method", "slow-test", "--datasets", tmp_path / "set6",
            "--results", res, "-q", check_rc=1)
    assert "s004.png" in r.stderr and "4/6 maps evaluated" in r.stderr
    # the same with the process pool, and with threads
    for method in ("centre-test", "thread-test"):
        r = cli("run", "--plugin", plugin, "--method", method, "--datasets", tmp_path / "set6",
                "--results", res, "--workers", "2", "-q", "--protocol", "r3net", check_rc=1)
        assert "s002.jpg" in r.stderr
        assert len(list((res / method / "set6").glob("*.png"))) == 5


@pytest.mark.slow
def test_two_runs_write_one_store_at_once(tmp_path, plugin):
    make_set(tmp_path / "set8", 8)
    res = tmp_path / "results"
    procs = [cli_start("run", "--plugin", plugin, "--method", "centre-test", "--name", label, "--option",
                       f"sigma={sig}", "--datasets", tmp_path / "set8", "--results", res, "--workers", "1", "-q",
                       stdout=None)
             for label, sig in (("A", 0.2), ("B", 0.5))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with ResultsStore(res / "salbench.sqlite") as s:
        rows = s.summaries()
        assert sorted((r["method"], r["protocol"]) for r in rows) == [
            ("A", "pysodmetrics"), ("A", "r3net"), ("B", "pysodmetrics"), ("B", "r3net")]
        assert rows[0]["scores"]["mae"] != rows[2]["scores"]["mae"]
        assert s.count("image_scores") == 4 * 8


@pytest.mark.slow
def test_crf_maps_and_fps_with_and_without_crf(tmp_path, plugin):
    make_set(tmp_path / "set3", 3)
    res = tmp_path / "results"
    cli("run", "--plugin", plugin, "--method", "crf-test", "--datasets", tmp_path / "set3",
        "--results", res, "--workers", "2", "--protocol", "pysodmetrics", "-q", check_rc=0)
    out = res / "crf-test" / "set3"
    raw = sorted((out / ".raw").glob("*.png"))
    final = sorted(out.glob("*.png"))
    assert len(raw) == len(final) == 3
    assert any(not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
               for a, b in zip(raw, final))
    cli("run", "--plugin", plugin, "--method", "crf-test", "--no-crf", "--datasets",
        tmp_path / "set3", "--results", res, "--protocol", "pysodmetrics", "-q", check_rc=0)
    with ResultsStore(res / "salbench.sqlite") as s:
        run = s.latest_run("crf-test", "set3")
        assert run["crf"] == 1 and run["fps"] > run["fps_crf"] > 0
        plain = s.latest_run("crf-test-nocrf", "set3")
        assert plain["crf"] == 0 and plain["fps_crf"] is None
    assert len(list((res / "crf-test-nocrf" / "set3").glob("*.png"))) == 3


@pytest.mark.slow
def test_bad_invocations_fail_cleanly(tmp_path, plugin):
    make_set(tmp_path / "set2", 2)
    res = tmp_path / "results"
    r = cli("run", "--method", "maps", "--datasets", "ECSSD", "--data-root", tmp_path, "--results",
            res, "--maps", tmp_path, check_rc=2)
    assert "ECSSD not found" in r.stderr and "cuhk" in r.stderr and "Traceback" not in r.stderr
    r = cli("run", "--method", "no-such-method", "--datasets", tmp_path / "set2", "--results", res,
            check_rc=2)
    assert "unknown method" in r.stderr
    r = cli("run", "--method", "maps", "--datasets", tmp_path / "set2", "--results", res, check_rc=2)
    assert "--maps DIR" in r.stderr
    r = cli("run", "--plugin", plugin, "--method", "notready-test", "--datasets", tmp_path / "set2",
            "--results", res, check_rc=2)
    assert "needs its weights" in r.stderr and "AssertionError" not in r.stderr
    assert not list(res.glob("notready-test/*/*.png"))
    # resuming into maps made with other options is refused
    cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", tmp_path / "set2",
        "--results", res, "-q", check_rc=0)
    r = cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", tmp_path / "set2",
            "--results", res, "--option", "sigma=0.5", "-q", check_rc=2)
    assert "other settings" in r.stderr and "--name" in r.stderr
    # --datasets all: missing test sets are one line each; a partial one is a warning
    shutil.copytree(tmp_path / "set2", tmp_path / "root" / "SOD")
    r = cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", "all", "--data-root",
            tmp_path / "root", "--results", res, "-q", check_rc=0)
    assert r.stderr.count("skipping ") == 4 and "2 of its 300 registered pairs" in r.stderr
    r = cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", "all", "--data-root",
            tmp_path / "empty", "--results", res, "-q", check_rc=2)
    assert "none of the test sets" in r.stderr


@pytest.mark.slow
@pytest.mark.realdata
def test_maps_method_missing_map_and_dataset_subfolders(tmp_path, shared_data):
    sod = shared_data / "SOD"
    names = sorted(p.stem for p in (sod / "gt").glob("*.png"))[:10]
    ds = tmp_path / "sod10"
    maps = tmp_path / "published" / "SOD10"  # DIR/<dataset>/ (matched case-insensitively)
    for sub in ("images", "gt"):
        (ds / sub).mkdir(parents=True)
    maps.mkdir(parents=True)
    for n in names:
        shutil.copy(sod / "images" / f"{n}.jpg", ds / "images")
        shutil.copy(sod / "gt" / f"{n}.png", ds / "gt")
        shutil.copy(shared_data / "maps" / "SOD" / "DSS" / f"{n}.png", maps)
    (maps / f"{names[4]}.png").unlink()
    res = tmp_path / "results"
    # default: the maps are evaluated where they are, nothing is copied
    r = cli("run", "--method", "maps", "--maps", tmp_path / "published", "--name", "DSS",
            "--datasets", ds, "--results", res, "-q", check_rc=1)
    assert f"{names[4]}.png" in r.stderr and "no precomputed map" in r.stderr
    out = res / "DSS" / "sod10"
    assert not list(out.glob("*.png"))
    with ResultsStore(res / "salbench.sqlite") as s:
        assert {row["count"] for row in s.summaries(methods=["DSS"])} == {9}
        [run] = s.runs("DSS", "sod10")
        assert run["identity"]["method_identity"]["maps_folder"] == str(maps.resolve())
    # --copy-maps: a self-contained results folder
    r = cli("run", "--method", "maps", "--maps", tmp_path / "published", "--name", "DSS",
            "--datasets", ds, "--results", res, "-q", "--copy-maps", check_rc=1)
    assert sorted(p.stem for p in out.glob("*.png")) == [n for n in names if n != names[4]]
    for n in names[:3]:
        assert np.array_equal(np.asarray(Image.open(out / f"{n}.png")),
                              np.asarray(Image.open(maps / f"{n}.png").convert("L")))
    with ResultsStore(res / "salbench.sqlite") as s:
        assert {row["count"] for row in s.summaries(methods=["DSS"])} == {9}


@pytest.mark.realdata
@pytest.mark.slow
def test_published_dss_maps_reproduce_the_paper_on_sod(tmp_path, shared_data):
    """DSS's released maps on SOD through the maps method, under protocol r3net,
    against the R3Net paper's Table 2 (0.842 / 0.118)."""
    res = tmp_path / "results"
    cli("run", "--method", "maps", "--maps", shared_data / "maps" / "SOD" / "DSS", "--name", "DSS",
        "--datasets", "SOD", "--data-root", shared_data, "--results", res, "--protocol", "r3net",
        "-q", check_rc=0)
    assert not list((res / "DSS" / "SOD").glob("*.png"))  # referenced, not copied
    with ResultsStore(res / "salbench.sqlite") as s:
        [row] = s.summaries(methods=["DSS"], protocol="r3net")
        assert row["count"] == 300
        assert row["scores"]["max_f"] == pytest.approx(0.842, abs=0.01)
        assert row["scores"]["mae"] == pytest.approx(0.118, abs=0.006)


@pytest.mark.realdata
@pytest.mark.slow
def test_plugin_on_real_pascal_s(tmp_path, shared_data, plugin):
    """PASCAL-S (850 images, grey-level GT) found under the shared data root by
    its registered name, predicted by the plugin in a process pool, evaluated."""
    res = tmp_path / "results"
    r = cli("run", "--plugin", plugin, "--method", "centre-test", "--datasets", "pascal-s",
            "--data-root", shared_data, "--results", res, "--workers", "2", "--protocol",
            "pysodmetrics", "-q", check_rc=0)
    assert "850/850 maps evaluated" in r.stderr
    assert len(list((res / "centre-test" / "PASCAL-S").glob("*.png"))) == 850
    with ResultsStore(res / "salbench.sqlite") as s:
        [row] = s.summaries(methods=["centre-test"])
        assert row["dataset"] == "PASCAL-S" and row["count"] == 850
        assert 0.3 < row["scores"]["max_f"] < 0.9 and 0.1 < row["scores"]["mae"] < 0.5
        assert len(s.image_scores("centre-test", "PASCAL-S", "pysodmetrics")) == 850
