"""Dataset registry and layout recognition, on real JPEG/PNG files laid out the
ways the public archives ship them, and on the real SOD / PASCAL-S folders."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salbench.data import datasets
from salbench.data.datasets import DATASETS, TEST_SETS, expand, resolve, root_folder
from salbench.errors import SalbenchError

from helpers import cli, write_pairs


#: noise images with box GTs named ``im000`` ... (the shared maker, bound)
_write_pairs = functools.partial(write_pairs, source="noise", prefix="im")


def test_registry_counts_and_sources():
    want = {"ECSSD": 1000, "HKU-IS": 4447, "PASCAL-S": 850, "SOD": 300, "DUT-OMRON": 5168,
            "MSRA10K": 10000, "DUTS-TR": 10553, "DUTS-TE": 5019}
    assert {d.name: d.count for d in DATASETS.values()} == want
    assert TEST_SETS == ("ECSSD", "HKU-IS", "PASCAL-S", "SOD", "DUT-OMRON")
    for d in DATASETS.values():
        assert d.source and d.layout and d.role in ("test", "train")
    assert DATASETS["msra10k"].role == "train" and DATASETS["duts-tr"].role == "train"


@pytest.mark.parametrize("folder,sub_img,sub_gt,name,img_ext", [
    ("ECSSD", "images", "ground_truth_mask", "ecssd", ".jpg"),
    ("HKUIS", "imgs", "gt", "HKU-IS", ".png"),
    ("pascal", "Imgs", "GT", "PASCAL-S", ".jpg"),
    ("DUT-OMRON", "DUT-OMRON-image", "pixelwiseGT-new-PNG", "dut-omron", ".jpg"),
    ("DUT-O", "Image", "Mask", "DUT-OMRON", ".jpg"),
    ("DUTS-TR", "DUTS-TR-Image", "DUTS-TR-Mask", "duts-tr", ".jpg"),
    ("SOD", "img", "masks", "sod", ".jpg"),
])
def test_split_layouts_and_spellings(tmp_path, folder, sub_img, sub_gt, name, img_ext):
    names = _write_pairs(tmp_path / folder / sub_img, tmp_path / folder / sub_gt, 5, img_ext=img_ext)
    ds = resolve(name, tmp_path)
    assert [p.name for p in ds.pairs] == names  # sorted by name
    assert ds.pairs[0].image.parent.name == sub_img and ds.pairs[0].gt.parent.name == sub_gt
    expected = datasets.info(name).count
    assert ds.problems == [] and ds.partial and ds.count_label == f"5/{expected}"


def test_flat_r3net_layout_and_wrapped_msra10k(tmp_path):
    names = _write_pairs(tmp_path / "SOD", tmp_path / "SOD", 4)  # name.jpg + name.png side by side
    ds = resolve("SOD", tmp_path)
    assert [p.name for p in ds.pairs] == names and ds.layout.startswith("flat")
    assert all(p.image.suffix == ".jpg" and p.gt.suffix == ".png" for p in ds.pairs)
    # MSRA10K_Imgs_GT/Imgs/{name.jpg,name.png}: the archive's own layout
    _write_pairs(tmp_path / "MSRA10K_Imgs_GT" / "Imgs", tmp_path / "MSRA10K_Imgs_GT" / "Imgs", 3)
    ms = resolve("msra10k", tmp_path)
    assert len(ms.pairs) == 3 and ms.name == "MSRA10K"
    # DUTS/DUTS-TE nested one level down
    _write_pairs(tmp_path / "DUTS" / "DUTS-TE" / "DUTS-TE-Image", tmp_path / "DUTS" / "DUTS-TE" / "DUTS-TE-Mask", 2)
    assert len(resolve("DUTS-TE", tmp_path).pairs) == 2


def test_unpaired_files_are_problems_naming_them(tmp_path):
    root = tmp_path / "ECSSD"
    _write_pairs(root / "images", root / "gt", 4)
    (root / "gt" / "im001.png").unlink()
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "gt" / "orphan.png")
    ds = resolve("ECSSD", tmp_path)
    assert [p.name for p in ds.pairs] == ["im000", "im002", "im003"]
    text = " | ".join(ds.problems)
    assert "1 image(s) without GT" in text and "im001.jpg" in text
    assert "1 GT file(s) without image" in text and "orphan.png" in text
    assert "expected 1000" not in text and ds.partial and ds.count_label == "3/1000"


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(SalbenchError) as e:
        resolve("HKU-IS", tmp_path)
    msg = str(e.value)
    assert "HKU-IS" in msg and "4447" in msg and "hku.hk" in msg and str(tmp_path) in msg
    with pytest.raises(SalbenchError, match="unknown dataset"):
        resolve("no-such-set", tmp_path)


def test_explicit_folder_is_an_adhoc_dataset(tmp_path):
    names = _write_pairs(tmp_path / "mine" / "images", tmp_path / "mine" / "gt", 3)
    ds = resolve(str(tmp_path / "mine"))
    assert ds.name == "mine" and [p.name for p in ds.pairs] == names and ds.problems == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(SalbenchError, match="no images/GT found"):
        resolve(str(tmp_path / "empty"))


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("SALBENCH_DATA", raising=False)
    repo = Path(datasets.__file__).resolve().parents[2]
    assert root_folder() == repo / "datasets"  # editable install: the checkout's datasets/
    monkeypatch.setenv("SALBENCH_DATA", str(tmp_path / "env"))
    assert root_folder() == tmp_path / "env"
    assert root_folder(tmp_path / "arg") == tmp_path / "arg"


def test_all_skips_missing_with_one_line_each(tmp_path):
    _write_pairs(tmp_path / "SOD" / "images", tmp_path / "SOD" / "gt", 3)
    lines: list[str] = []
    got = expand("all", tmp_path, warn=lines.append)
    assert [d.name for d in got] == ["SOD"]
    assert len(lines) == 4 and all(line.startswith("skipping ") for line in lines)
    assert {line.split()[1].rstrip(":") for line in lines} == {"ECSSD", "HKU-IS", "PASCAL-S", "DUT-OMRON"}
    with pytest.raises(SalbenchError, match="none of the test sets"):
        expand("all", tmp_path / "nothing", warn=lambda m: None)
    with pytest.raises(SalbenchError, match="ECSSD not found"):
        expand("SOD,ECSSD", tmp_path)


def test_datasets_command_lists_found_and_missing(tmp_path):
    root = tmp_path / "SOD"
    _write_pairs(root / "images", root / "gt", 3)
    (root / "gt" / "im002.png").unlink()
    out = cli("datasets", "--data-root", tmp_path, "--json", check_rc=0).stdout
    rows = {r["name"]: r for r in json.loads(out)["datasets"]}
    assert rows["SOD"]["status"] == "problems" and rows["SOD"]["count"] == 2
    assert any("without GT" in p for p in rows["SOD"]["problems"])
    assert not any("expected 300" in p for p in rows["SOD"]["problems"])  # partial, not a problem
    assert rows["ECSSD"]["status"] == "missing" and "cuhk" in rows["ECSSD"]["how_to_get"]
    assert rows["demo"]["status"] == "not generated"
    text = cli("datasets", "--data-root", tmp_path, check_rc=0).stdout
    assert "MISSING" in text and "problem:" in text


@pytest.mark.realdata
def test_real_sod_and_pascal_layouts(shared_data):
    sod = resolve("SOD", shared_data)
    assert len(sod.pairs) == 300 and sod.problems == []
    assert sod.pairs[0].image.suffix == ".jpg" and sod.pairs[0].gt.suffix == ".png"
    pas = resolve("pascal-s", shared_data)
    assert len(pas.pairs) == 850 and pas.problems == [] and pas.name == "PASCAL-S"
    lines: list[str] = []
    assert [d.name for d in expand("all", shared_data, warn=lines.append)] == ["PASCAL-S", "SOD"]
    assert len(lines) == 3


@pytest.mark.parametrize("spelling,canonical", [
    ("pascal", "PASCAL-S"), ("pascal-s", "PASCAL-S"), ("PASCALS", "PASCAL-S"), ("Pascal_S", "PASCAL-S"),
    ("duts-te", "DUTS-TE"), ("dutste", "DUTS-TE"), ("DUTS-TR", "DUTS-TR"), ("dut-omron", "DUT-OMRON"),
    ("dutomron", "DUT-OMRON"), ("DUT-O", "DUT-OMRON"), ("hkuis", "HKU-IS"), ("hku-is", "HKU-IS"),
    ("ecssd", "ECSSD"), ("msra10k", "MSRA10K"), ("sod", "SOD"), ("demo", "demo"), ("Demo-Train", "demo-train"),
    (" my_set ", "my_set"), ("./sod", "./sod"),
])
def test_canonical_name(spelling, canonical):
    assert datasets.canonical_name(spelling) == canonical
    assert datasets.same_dataset(spelling, canonical)


def test_resolve_and_expand_use_the_canonical_name(tmp_path):
    _write_pairs(tmp_path / "PASCAL-S" / "images", tmp_path / "PASCAL-S" / "gt", 3)
    for spelling in ("pascal", "Pascal-S", "pascals", "PASCAL_S"):
        assert resolve(spelling, tmp_path).name == "PASCAL-S"
    lines: list[str] = []
    got = expand("pascal, PASCAL-S,pascals", tmp_path, warn=lines.append)
    assert [d.name for d in got] == ["PASCAL-S"] and len(lines) == 2 and "once" in lines[0]


def test_partial_dataset_expected_and_partial(tmp_path):
    _write_pairs(tmp_path / "SOD" / "images", tmp_path / "SOD" / "gt", 4)
    ds = resolve("sod", tmp_path)
    assert ds.expected == 300 and ds.partial and ds.count_label == "4/300"
    assert datasets.count_label("sod", 4) == "4/300" and datasets.count_label("SOD", 300) is None
    mine = resolve(str(tmp_path / "SOD"))  # an explicit folder: no registered count
    assert mine.expected is None and not mine.partial and mine.count_label == "4"
    assert datasets.count_label("my-folder", 4) is None and datasets.expected_count("demo") is None


def test_datasets_command_shows_partial_n_of_N_and_filters_by_any_spelling(tmp_path):
    _write_pairs(tmp_path / "SOD" / "images", tmp_path / "SOD" / "gt", 3)
    _write_pairs(tmp_path / "pascal" / "images", tmp_path / "pascal" / "gt", 2)
    cmd = ("datasets", "--data-root", tmp_path)
    text = cli(*cmd, check_rc=0).stdout
    sod = next(ln for ln in text.splitlines() if ln.split()[:1] == ["SOD"])
    assert "3/300" in sod and "partial" in sod
    assert "partial: 3 of the 300 images" in text
    rows = {r["name"]: r for r in json.loads(cli(*cmd, "--json", check_rc=0).stdout)["datasets"]}
    assert rows["SOD"]["partial"] is True and rows["PASCAL-S"]["partial"] is True
    only = cli(*cmd, "Pascal", "sod", check_rc=0).stdout
    names = [ln.split()[0] for ln in only.splitlines()[1:] if ln.startswith("  ") and not ln.startswith("      ")]
    assert names == ["PASCAL-S", "SOD"] and "2/850" in only
    bad = cli(*cmd, "nosuchset")
    assert bad.returncode == 2 and "unknown dataset 'nosuchset'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("layout", ["split-images", "split-gt", "flat"])
def test_two_files_of_one_stem_is_an_error_naming_both(tmp_path, layout):
    if layout == "flat":
        _write_pairs(tmp_path / "ECSSD", tmp_path / "ECSSD", 3)
        Image.open(tmp_path / "ECSSD" / "im001.jpg").save(tmp_path / "ECSSD" / "im001.jpeg")
        a, b = tmp_path / "ECSSD" / "im001.jpeg", tmp_path / "ECSSD" / "im001.jpg"
    elif layout == "split-images":
        _write_pairs(tmp_path / "ECSSD" / "images", tmp_path / "ECSSD" / "gt", 3)
        Image.open(tmp_path / "ECSSD" / "images" / "im001.jpg").save(tmp_path / "ECSSD" / "images" / "im001.png")
        a, b = tmp_path / "ECSSD" / "images" / "im001.jpg", tmp_path / "ECSSD" / "images" / "im001.png"
    else:
        _write_pairs(tmp_path / "ECSSD" / "images", tmp_path / "ECSSD" / "gt", 3)
        Image.open(tmp_path / "ECSSD" / "gt" / "im002.png").save(tmp_path / "ECSSD" / "gt" / "im002.bmp")
        a, b = tmp_path / "ECSSD" / "gt" / "im002.bmp", tmp_path / "ECSSD" / "gt" / "im002.png"
    with pytest.raises(SalbenchError) as e:
        resolve("ecssd", tmp_path)
    msg = str(e.value)
    assert str(a) in msg and str(b) in msg and "keep one" in msg and "\n" not in msg
    r = cli("datasets", "ecssd", "--data-root", tmp_path)
    assert r.returncode == 0 and "unreadable" in r.stdout and str(a) in r.stdout and str(b) in r.stdout
