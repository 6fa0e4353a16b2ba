"""Runs you can trust: every way the landed runner stored numbers that were not
the method's, each reproduced through the real CLI and now refused, recomputed
or named (options, resume identity, datasets, precomputed maps, the folder
lock, registry collisions), plus the Python API and the store schema."""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import cli, make_set, one_line_error
from salbench.store.results import ResultsStore
from salbench.store.schema import CURVE_KEYS

PLUGIN = textwrap.dedent('''
    import numpy as np
    from salbench.plugins.options import Option
    from salbench.plugins.registry import Method, register_method


    @register_method
    class Contrast(Method):
        """Colour distance to the mean border colour (a test plugin)."""
        name = "contrast-test"
        paper = "a test plugin"
        parallel = "none"
        batch_size = 2
        OPTIONS = (Option("gain", float, 1.0, "multiplies the map"),
                   Option("invert", bool, False, "255 - map"))

        def predict(self, images, names):
            out = []
            for im in images:
                f = im.astype(float)
                border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]]).mean(0)
                s = np.sqrt(((f - border) ** 2).sum(-1)) * self.options["gain"]
                m = np.clip(255 * s / (s.max() + 1e-9), 0, 255).astype(np.uint8)
                out.append(255 - m if self.options["invert"] else m)
            return out
''')


@pytest.fixture()
def plugin(tmp_path):
    p = tmp_path / "contrast_plugin.py"
    p.write_text(PLUGIN)
    return p


def _run_args(plugin: Path, dataset: Path, res: Path) -> tuple:
    """``salbench run`` of the test plugin on one dataset folder, quietly."""
    return ("run", "--plugin", plugin, "--method", "contrast-test", "--datasets", dataset,
            "--results", res, "-q")


def _maps(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def _summary(res: Path, method: str, dataset: str, protocol: str = "pysodmetrics") -> dict:
    with ResultsStore(res / "salbench.sqlite") as s:
        [row] = s.summaries(methods=[method], datasets=[dataset], protocol=protocol)
        return row


# -- options ---------------------------------------------------------------------

@pytest.mark.slow
def test_options_are_typed_and_bad_ones_are_one_line_errors(tmp_path, plugin):
    make_set(tmp_path / "set", 3)
    res = tmp_path / "res"
    base = _run_args(plugin, tmp_path / "set", res)
    one_line_error(cli(*base, "--option", "gian=2"), "no option 'gian'", "valid options: gain (float")
    one_line_error(cli(*base, "--option", "gain=abc"), "gain=abc is not a valid float")
    one_line_error(cli(*base, "--option", "invert=maybe"), "invert=maybe is not a valid bool")
    one_line_error(cli("run", "--method", "bsca", "--option", "foo=1", "--datasets", tmp_path / "set",
                       "--results", res), "method 'bsca' has no option 'foo'")
    # booleans: false / no / 0 are False (the JSON parser of old took 'no' for a string)
    cli(*base, "--option", "invert=no", "--name", "c-no", check_rc=0)
    cli(*base, "--option", "invert=yes", "--name", "c-yes", check_rc=0)
    no, yes = _maps(res / "c-no" / "set"), _maps(res / "c-yes" / "set")
    assert all(np.array_equal(255 - no[k], yes[k]) for k in no)
    with ResultsStore(res / "salbench.sqlite") as s:
        [run] = s.runs("c-no", "set")
        assert run["options"] == {"gain": 1.0, "invert": False}
    # the option schema is listed with types
    r = cli("list", "methods", "--json", "--no-cost", "--plugin", plugin, check_rc=0)
    row = next(x for x in json.loads(r.stdout) if x["name"] == "contrast-test")
    assert [(o["name"], o["type"], o["default"]) for o in row["options"]] == [
        ("gain", "float", 1.0), ("invert", "bool", False)]


# -- resume identity ------------------------------------------------------------------

@pytest.mark.slow
def test_resume_refuses_changed_code_or_batch_size_and_recompute_replaces(tmp_path, plugin):
    make_set(tmp_path / "set", 4)
    res = tmp_path / "res"
    base = _run_args(plugin, tmp_path / "set", res)
    cli(*base, check_rc=0)
    out = res / "contrast-test" / "set"
    before = _maps(out)
    # the same command resumes (nothing to predict)
    r = cli(*base, check_rc=0)
    assert "0 predicted now" in r.stderr
    # another batch size: refused, naming it
    one_line_error(cli(*base, "--batch-size", "3"), "batch_size: 2 -> 3", "--recompute")
    # the plugin's code changed (it now inverts): refused, naming the source hash
    plugin.write_text(PLUGIN.replace('Option("invert", bool, False,', 'Option("invert", bool, True,'))
    one_line_error(cli(*base), "source_sha256", "options.invert: false -> true")
    assert _maps(out).keys() == before.keys()  # nothing was touched
    # --recompute replaces the maps and the scores
    r = cli(*base, "--recompute", check_rc=0)
    assert "4 predicted now" in r.stderr and "--recompute: replacing" in r.stderr
    after = _maps(out)
    assert all(np.array_equal(255 - before[k], after[k]) for k in before)
    with ResultsStore(res / "salbench.sqlite") as s:
        runs = s.runs("contrast-test", "set")
        assert runs[-1]["identity"]["options"]["invert"] is True
        assert runs[-1]["source_sha256"] != runs[0]["source_sha256"]


@pytest.mark.slow
def test_changed_images_are_repredicted_not_mixed(tmp_path, plugin):
    names = make_set(tmp_path / "set", 4)
    res = tmp_path / "res"
    base = _run_args(plugin, tmp_path / "set", res)
    cli(*base, check_rc=0)
    out = res / "contrast-test" / "set"
    old = _maps(out)
    # one image replaced by another picture under the same name, one image added
    img = tmp_path / "set" / "images" / f"{names[0]}.jpg"
    Image.open(tmp_path / "set" / "images" / f"{names[1]}.jpg").transpose(
        Image.FLIP_LEFT_RIGHT).save(img, quality=92)
    make_set(tmp_path / "set", 1, start=4)
    r = cli(*base, check_rc=0)
    assert "1 map(s) of changed or removed images deleted" in r.stderr
    assert "2 predicted now" in r.stderr
    new = _maps(out)
    assert not np.array_equal(new[names[0]], old[names[0]])
    assert all(np.array_equal(new[n], old[n]) for n in names[1:])
    assert _summary(res, "contrast-test", "set")["count"] == 5


@pytest.mark.slow
def test_two_dataset_folders_with_one_basename_never_share_maps(tmp_path, plugin):
    make_set(tmp_path / "a" / "set", 3)
    make_set(tmp_path / "b" / "set", 3, start=10)
    res = tmp_path / "res"
    base = ("run", "--plugin", plugin, "--method", "contrast-test", "--results", res, "-q")
    cli(*base, "--datasets", tmp_path / "a" / "set", check_rc=0)
    one_line_error(cli(*base, "--datasets", tmp_path / "b" / "set"), "dataset.path")
    r = cli(*base, "--datasets", tmp_path / "b" / "set", "--recompute", check_rc=0)
    assert "3 predicted now" in r.stderr


@pytest.mark.slow
def test_a_run_folder_is_locked_while_written(tmp_path, plugin):
    from salbench.run.identity import FolderLock
    make_set(tmp_path / "set", 2)
    res = tmp_path / "res"
    with FolderLock(res / "contrast-test" / "set", what="a test holding the lock"):
        r = cli("run", "--plugin", plugin, "--method", "contrast-test", "--datasets",
                tmp_path / "set", "--results", res, "-q")
        one_line_error(r, "is being written by", f"pid {os.getpid()}", "a test holding the lock")
    cli("run", "--plugin", plugin, "--method", "contrast-test", "--datasets", tmp_path / "set",
        "--results", res, "-q", check_rc=0)


# -- precomputed maps --------------------------------------------------------------------

def _write_maps(folder: Path, names: list[str], value: int, size=(64, 48)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)).save(folder / f"{n}.png")


@pytest.mark.slow
def test_precomputed_maps_identity(tmp_path):
    names = make_set(tmp_path / "set", 3, size=(64, 48))
    make_set(tmp_path / "other", 3, size=(64, 48))
    res = tmp_path / "res"
    maps = tmp_path / "maps"
    _write_maps(maps, names, 1)
    base = ("run", "--method", "maps", "--maps", maps, "--name", "M", "--results", res, "-q")
    cli(*base, "--datasets", tmp_path / "set", check_rc=0)
    mae1 = _summary(res, "M", "set")["scores"]["mae"]
    # the maps changed on disk: re-scored, not the old numbers
    _write_maps(maps, names, 2)
    r = cli(*base, "--datasets", tmp_path / "set", check_rc=0)
    assert "precomputed maps changed" in r.stderr and "maps referenced in" in r.stderr
    assert _summary(res, "M", "set")["scores"]["mae"] != mae1
    # other maps under the same label: refused, not mixed (41 DSS + 259 Amulet maps, once)
    _write_maps(tmp_path / "maps2", names, 3)
    one_line_error(cli("run", "--method", "maps", "--maps", tmp_path / "maps2", "--name", "M",
                       "--results", res, "-q", "--datasets", tmp_path / "set"), "options.maps")
    # one stem with two files: an error naming both
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(maps / f"{names[0]}.jpg")
    one_line_error(cli(*base, "--datasets", tmp_path / "set"), f"{names[0]}.jpg", f"{names[0]}.png")
    (maps / f"{names[0]}.jpg").unlink()
    # a flat maps folder with several datasets is refused before any work
    line = one_line_error(cli(*base, "--datasets", f"{tmp_path / 'set'},{tmp_path / 'other'}"),
                          "DIR/<dataset>/")
    assert "no folder for" in line


# -- datasets ------------------------------------------------------------------------------

@pytest.mark.slow
def test_partial_dataset_is_scored_and_marked_strict_refuses(tmp_path, plugin):
    root = tmp_path / "data"
    make_set(root / "SOD", 3)
    res = tmp_path / "res"
    base = ("run", "--plugin", plugin, "--method", "contrast-test", "--datasets", "sod",
            "--data-root", root, "--results", res, "-q")
    r = cli(*base, check_rc=0)
    assert "3 of its 300 registered pairs" in r.stderr and "partial (3/300)" in r.stderr
    with ResultsStore(res / "salbench.sqlite") as s:
        [run] = s.runs("contrast-test", "SOD")
        assert run["n_images"] == 3 and run["n_expected"] == 300
        assert [p["kind"] for p in s.problems("contrast-test", "SOD")] == ["partial"]
    one_line_error(cli(*base, "--strict", "--name", "x"), "--strict refuses a partial dataset")
    # report (through the one resolver) finds it under any spelling
    r = cli("report", "--results", res, "--datasets", "Sod", check_rc=0)
    assert "contrast-test" in r.stdout and "3/300" in r.stdout


# -- registry ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_plugin_cannot_silently_replace_a_builtin(tmp_path):
    make_set(tmp_path / "set", 2)
    src = PLUGIN.replace('name = "contrast-test"', 'name = "bsca"')
    p = tmp_path / "fake_bsca.py"
    p.write_text(src)
    r = cli("run", "--plugin", p, "--method", "bsca", "--datasets", tmp_path / "set",
            "--results", tmp_path / "res")
    one_line_error(r, "'bsca' is registered twice", "salbench_methods.bsca", "fake_bsca.py",
                   "replace=True")
    p.write_text(src.replace("@register_method\n", "@register_method(replace=True)\n"))
    r = cli("run", "--plugin", p, "--method", "bsca", "--datasets", tmp_path / "set",
            "--results", tmp_path / "res", "-q", check_rc=0)
    with ResultsStore(tmp_path / "res" / "salbench.sqlite") as s:
        [run] = s.runs("bsca", "set")
        assert "contrast" not in json.dumps(run["options"])  # the plugin's class ran
        assert run["identity"]["options"] == {"gain": 1.0, "invert": False}


# -- Python API --------------------------------------------------------------------------------

def test_python_api_runs_and_returns_dataframes(tmp_path, plugin):
    import salbench
    make_set(tmp_path / "set", 3)
    lines: list[str] = []
    res = salbench.run("contrast-test", datasets=[str(tmp_path / "set")], plugins=[str(plugin)],
                       options={"gain": 2}, results=str(tmp_path / "res"), log=lines.append)
    assert res.exit_code == 0 and [r.status for r in res.runs] == ["done"]
    assert res.runs[0].n_evaluated == 3 and not res.runs[0].partial
    df = res.frame()
    assert sorted(df["protocol"]) == ["pysodmetrics", "r3net"]
    assert {"method", "dataset", "count", "mae", "max_f", "s_measure", "weighted_f"} <= set(df.columns)
    assert (df["count"] == 3).all() and df["mae"].between(0, 1).all()
    per = salbench.results(tmp_path / "res", per_image=True, protocol="r3net")
    assert len(per) == 3 and set(per["image"]) == {"s000", "s001", "s002"}
    # the stored per-image MAE averages to the stored dataset MAE
    row = df[df["protocol"] == "r3net"].iloc[0]
    assert per["mae"].mean() == pytest.approx(row["mae"], abs=1e-12)
    ev = salbench.evaluate_folder(tmp_path / "res" / "contrast-test" / "set", tmp_path / "set" / "gt",
                                  protocol="r3net", per_image=True)
    assert ev["protocol"] == "r3net" and ev["mae"] == row["mae"] and len(ev["per_image"]) == 3
    md = salbench.build_report(tmp_path / "res", datasets="set")
    assert "contrast-test" in md and "pysodmetrics" in md
    from salbench.plugins.options import OptionError
    with pytest.raises(OptionError, match="no option 'gian'"):
        salbench.run("contrast-test", datasets=[str(tmp_path / "set")], options={"gian": 2},
                     results=str(tmp_path / "res"))


# -- store ------------------------------------------------------------------------------------

_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, method TEXT NOT NULL, method_name TEXT NOT NULL,
    dataset TEXT NOT NULL, protocols TEXT, options TEXT, weights TEXT, weights_sha256 TEXT,
    crf INTEGER, device TEXT, versions TEXT, git_revision TEXT, started REAL, finished REAL,
    status TEXT, n_images INTEGER, n_predicted INTEGER, n_resumed INTEGER, n_problems INTEGER,
    problems TEXT, predict_seconds REAL, crf_seconds REAL, fps REAL, fps_crf REAL, host TEXT);
CREATE TABLE image_scores (method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
    image TEXT NOT NULL, scores TEXT NOT NULL, run_id TEXT, PRIMARY KEY (method, dataset, protocol, image));
CREATE TABLE summaries (method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
    count INTEGER, scores TEXT NOT NULL, curves TEXT, run_id TEXT, updated REAL,
    PRIMARY KEY (method, dataset, protocol));
CREATE TABLE methods (method TEXT PRIMARY KEY, method_name TEXT, kind TEXT, paper TEXT,
    params INTEGER, gmacs REAL, updated REAL);
"""


def test_store_schema_2_keeps_problems_out_of_curves_and_migrates_version_1(tmp_path):
    path = tmp_path / "v1.sqlite"
    con = sqlite3.connect(path)
    con.executescript(_V1_SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    scores = {"protocol": "pysodmetrics", "count": 2, "mae": 0.25, "max_f": 0.5,
              "protocol_details": {"beta2": 0.3}}
    curves = {"precision": [0.5] * 256, "recall": [0.25] * 256,
              "resized": {"count": 1, "names": ["a"], "method": "bilinear"},
              "unreadable": [{"name": "b", "path": "/x/b.png", "problem": "truncated"}]}
    con.execute("INSERT INTO summaries VALUES ('M','SOD','pysodmetrics',2,?,?, 'r1', 0)",
                (json.dumps(scores), json.dumps(curves)))
    con.commit()
    con.close()
    with ResultsStore(path) as s:
        [row] = s.summaries(curves=True)
        assert set(row["curves"]) == {"precision", "recall"}
        assert row["scores"]["mae"] == 0.25 and "protocol_details" not in row["scores"]
        assert row["details"]["protocol_details"] == {"beta2": 0.3}
        probs = {(p["kind"], p["image"]) for p in s.problems("M", "SOD")}
        assert probs == {("resized", "a"), ("unreadable", "b")}
        assert s.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
        # new results: problem keys never land among the curves
        s.put_results("N", "SOD", "r3net", {**scores, **curves, "f_curve": [0.1] * 256,
                                            "kernels": "aot", "seconds": 0.1}, {"a": {"mae": 0.2}})
        [row] = s.summaries(methods=["N"], curves=True)
        assert set(row["curves"]) <= set(CURVE_KEYS) and row["details"]["kernels"] == "aot"
    # a store from a newer salbench is refused with a message, not mangled
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    from salbench.errors import SalbenchError
    with pytest.raises(SalbenchError, match="schema version 99"):
        ResultsStore(path)


# -- learned methods: the checkpoint found by itself is part of the identity ------------------

def _r3net_checkpoint(path: Path, seed: int) -> None:
    import torch

    from salbench.plugins import registry
    from salbench.nn.learned import CHECKPOINT_FORMAT
    torch.manual_seed(seed)
    model = registry.create("r3net", backbone="resnet18").build_model()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "method": "r3net",
                "options": {"backbone": "resnet18", "steps": 6, "residual": True, "shared": False,
                            "features": "LH", "aspp": True},
                "model": model.state_dict(), "iteration": seed}, path)


@pytest.mark.slow
def test_an_implicit_checkpoint_is_hashed_and_a_newer_one_never_mixes_in(tmp_path):
    make_set(tmp_path / "set", 3, size=(64, 48))
    ck = tmp_path / "ck"
    _r3net_checkpoint(ck / "r3net" / "A" / "final.pt", 1)
    env = {**os.environ, "SALBENCH_CHECKPOINTS": str(ck)}
    res = tmp_path / "res"
    base = ("run", "--method", "r3net", "--no-crf", "--datasets", tmp_path / "set", "--results", res,
            "-q")
    cli(*base, check_rc=0, env=env)
    with ResultsStore(res / "salbench.sqlite") as s:
        [run] = s.runs("r3net-nocrf", "set")
    from salbench.run.identity import sha256_file
    assert run["weights_sha256"] == sha256_file(ck / "r3net" / "A" / "final.pt")
    assert run["weights"].endswith("A/final.pt") and run["batch_size"] == 8 and run["dtype"] == "fp32"
    # a newer final.pt elsewhere would be picked up: refused, not mixed into the same folder
    _r3net_checkpoint(ck / "r3net" / "B" / "final.pt", 2)
    os.utime(ck / "r3net" / "B" / "final.pt", (2e9, 2e9))
    one_line_error(cli(*base, env=env), "method_identity.weights_sha256", "--recompute")
    r = cli(*base, "--recompute", check_rc=0, env=env)
    assert "3 predicted now" in r.stderr
    with ResultsStore(res / "salbench.sqlite") as s:
        runs = s.runs("r3net-nocrf", "set")
    assert runs[-1]["weights_sha256"] == sha256_file(ck / "r3net" / "B" / "final.pt")


# -- the paper-table workload: many published map sets in one command ---------------------------

@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("layout", ["dataset/method", "method/dataset"])
def test_many_map_sets_in_one_command(tmp_path, shared_data, layout):
    names = sorted(p.stem for p in (shared_data / "SOD" / "gt").glob("*.png"))[:12]
    data = tmp_path / "data" / "SOD"
    for sub in ("images", "gt"):
        (data / sub).mkdir(parents=True)
    root = tmp_path / "published"
    sets = ("DSS", "Amulet", "RBD")
    for n in names:
        os.symlink(shared_data / "SOD" / "images" / f"{n}.jpg", data / "images" / f"{n}.jpg")
        os.symlink(shared_data / "SOD" / "gt" / f"{n}.png", data / "gt" / f"{n}.png")
        for m in sets:
            d = root / ("SOD" if layout == "dataset/method" else m) / (m if layout == "dataset/method" else "SOD")
            d.mkdir(parents=True, exist_ok=True)
            os.symlink(shared_data / "maps" / "SOD" / m / f"{n}.png", d / f"{n}.png")
    res = tmp_path / "res"
    r = cli("run", "--method", "maps", "--maps", root, "--datasets", "SOD", "--data-root",
            tmp_path / "data", "--results", res, "-q", check_rc=0)
    want = "<dataset>/<method>/" if layout == "dataset/method" else "<method>/<dataset>/"
    assert want in r.stderr and "3 map sets (Amulet, DSS, RBD)" in r.stderr
    # each set equals its own single-set run, bit for bit, under both protocols
    single = tmp_path / "single"
    for m in sets:
        folder = root / "SOD" / m if layout == "dataset/method" else root / m / "SOD"
        cli("run", "--method", "maps", "--maps", folder, "--name", m, "--datasets", "SOD",
            "--data-root", tmp_path / "data", "--results", single, "-q", check_rc=0)
    with ResultsStore(res / "salbench.sqlite") as a, ResultsStore(single / "salbench.sqlite") as b:
        for m in sets:
            for proto in ("pysodmetrics", "r3net"):
                [x] = a.summaries(methods=[m], protocol=proto, curves=True)
                [y] = b.summaries(methods=[m], protocol=proto, curves=True)
                assert x["scores"] == y["scores"] and x["curves"] == y["curves"]
                assert a.image_scores(m, "SOD", proto) == b.image_scores(m, "SOD", proto)
            [run] = a.runs(m, "SOD")
            assert run["identity"]["options"]["set"] == m and run["status"] == "done"
    # the results folder holds no map copies
    assert not list(res.rglob("*.png"))
    one_line_error(cli("run", "--method", "maps", "--maps", root, "--name", "X", "--datasets", "SOD",
                       "--data-root", tmp_path / "data", "--results", res), "drop --name")


# -- bad plugins and bad places ------------------------------------------------------------------

BROKEN = textwrap.dedent('''
    import numpy as np
    from salbench.plugins.options import Option
    from salbench.plugins.registry import Method, register_method


    @register_method
    class Broken(Method):
        name = "broken-test"
        parallel = "processes"
        OPTIONS = (Option("mode", str, "raise", "how to break", choices=("raise", "float", "shape")),)

        def predict(self, images, names):
            if self.options["mode"] == "raise":
                raise ZeroDivisionError("the plugin divided by zero")
            if self.options["mode"] == "float":
                return [im[..., 0].astype(np.float32) for im in images]
            return [im[:-1, :, 0].copy() for im in images]
''')


@pytest.mark.parametrize("mode,workers,fragment", [
    ("raise", "2", "failed on image 's00"), ("raise", "1", "ZeroDivisionError: the plugin divided by zero"),
    ("float", "2", "returned float32"), ("shape", "1", "the contract is a uint8 map of the image's size")])
def test_a_broken_plugin_is_one_line_naming_it_and_the_image(tmp_path, mode, workers, fragment):
    make_set(tmp_path / "set", 3)
    p = tmp_path / "broken.py"
    p.write_text(BROKEN)
    r = cli("run", "--plugin", p, "--method", "broken-test", "--option", f"mode={mode}", "--datasets",
            tmp_path / "set", "--results", tmp_path / "res", "--workers", workers, "-q")
    line = one_line_error(r, "broken-test", fragment)
    assert "s00" in line and "broken.py" in line
    with ResultsStore(tmp_path / "res" / "salbench.sqlite") as s:
        assert [r["status"] for r in s.runs("broken-test", "set")] == ["failed"]


def test_a_dataset_named_dotdot_cannot_place_maps_outside_results(tmp_path, plugin):
    make_set(tmp_path / "a" / "set", 2)
    work = tmp_path / "a" / "set" / "images"
    # run from inside the dataset: '..' resolves to the folder 'set'
    r = cli("run", "--plugin", plugin, "--method", "contrast-test", "--datasets", "..", "--results",
            tmp_path / "res", "-q", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "res" / "contrast-test" / "set").is_dir()
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["contrast-test", "salbench.sqlite"]


def test_the_source_hash_covers_the_code_a_method_uses():
    """The code that shapes a method's maps enters its source hash: its module,
    its base classes' modules and the salbench modules it uses (R3Net's
    backbones and blocks, the classical helpers), not the registry plumbing."""
    from salbench.plugins import registry
    from salbench.run.identity import _module_files
    repo = Path(__file__).resolve().parents[1]
    files = {p.resolve().relative_to(repo).as_posix() for p in _module_files(registry.get_spec("r3net").cls)}
    assert {"methods/r3net.py", "salbench/nn/learned.py", "salbench/nn/backbones.py",
            "salbench/nn/modules.py"} <= files
    assert "salbench/plugins/registry.py" not in files and "salbench/plugins/options.py" not in files
    bsca = {p.name for p in _module_files(registry.get_spec("bsca").cls)}
    assert bsca == {"bsca.py", "base.py", "colour.py", "frame.py", "graph.py", "matlab.py", "slic.py"}
